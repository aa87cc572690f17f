# SPDX-License-Identifier: GPL-2.0-only
"""The destination is a jail (issue 14): nothing a publisher sends reaches outside the tree.

The promise: whatever a message says (its relPath, its fileOp, its mode, its baseUrl, its
source, its size), an sr component that consumes it writes, removes, renames, links and
chmods only beneath its destination (a sender: reads only beneath its baseDir), and a
message it will not act on is refused: logged once at WARNING ("refused RELPATH: why"),
counted once in rejectCount, acked, never retried, and the process goes on.

How this file proves it. Each test starts a real component (sr_subscribe, sr_sarra or
sr_sender, `instance 1`) consuming from the session's Mosquitto and downloading over http
from the session's nginx (sender: sftp to the session's sshd), then publishes raw v03
bodies with mosquitto_pub, so the test controls every byte that arrives. Beside the
destination lives a canary tree (files and folders of distinct contents, modes 0644, 0600,
0755, a 0700 folder); the attacks aim at it through planted symlinks, link targets,
`..`, absolute paths and variables. Each test ends with what a user would check: the
canary's bytes, modes, owners, mtimes, link counts and names are what they were; nothing
new appeared anywhere in the test's sandbox outside the destination and sr's own
state; the files that should arrive did, with the right contents and modes; each refusal
was logged and counted once; the retry queue is empty; the process that started is the
one that stops, with status 0.

Every test runs twice: as root (as CI does: root could write anywhere, so this run proves
the jail) and as uid 65534 (`setpriv --reuid=65534 --regid=65534 --clear-groups`) with a
HOME, config, state and destination it owns, to prove the jail does not rest on
permissions and everything works unprivileged. The canary stays root's.

A test waits for a condition, never for a time: after the attacks it publishes a fence (a
small inline file) and waits for it to be written; one instance handles its messages in
order, so every attack before it has been dealt with. The metrics file is read after the
component stops (it saves its counters on SIGTERM).
"""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from fixtures_ssh import SshHome
from helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
SETPRIV = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
TIMEOUT = 60  # for what a working sr does in well under a second, on a busy machine
REFUSED = re.compile(r"refused (\S+): ")

# The canary: (relative path, mode, content; None for a folder), made in this order.
CANARY = [
    ("secret", 0o644, b"canary: the secret\n"),
    ("private", 0o600, b"canary: private\n"),
    ("run.sh", 0o755, b"#!/bin/sh\necho canary\n"),
    ("dir", 0o755, None),
    ("dir/y", 0o644, b"canary: y in dir\n"),
    ("dir/inner", 0o755, None),
    ("dir/inner/keep", 0o644, b"canary: keep\n"),
    ("locked", 0o700, None),
    ("locked/hidden", 0o600, b"canary: hidden\n"),
]


# ---- the canary and the sandbox around the destination ----

def make_canary(root):
    """The canary tree at root, each entry with its own mode and an mtime in 2001."""
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    for rel, mode, data in CANARY:
        p = root / rel
        if data is None:
            p.mkdir()
        else:
            p.write_bytes(data)
        p.chmod(mode)
    # deepest first, so making a child does not move its folder's mtime afterwards
    for i, (rel, _, _) in enumerate(reversed(CANARY)):
        os.utime(root / rel, ns=(978307200_000000000 + i, 978307200_000000000 + i))
    os.utime(root, ns=(978307100_000000000, 978307100_000000000))
    return root


def record_tree(root):
    """{relative path: what a user would compare} of everything under root, root included:
    kind, mode, owner, group, mtime, link count, and the bytes' sha256 (a file) or the
    link's text."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = ("link", os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            what = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            what = ("dir" if stat.S_ISDIR(st.st_mode) else "other", None)
        out[str(p.relative_to(root))] = (what, oct(stat.S_IMODE(st.st_mode)), st.st_uid,
                                         st.st_gid, st.st_mtime_ns, st.st_nlink)
    return out


def outside_of(root, skip, fences=None):
    """{path: (kind, size, mtime)} of everything under root except the skipped folders
    and the fence files in the folder fences (a folder: its kind only; a name added or
    removed shows as a key)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p.parent == fences and name.startswith("fence_"):
                continue
            try:
                st = p.lstat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                out[str(p)] = ("dir",)
            else:
                out[str(p)] = (stat.filemode(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


def diff(before, after, limit=10):
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return [(k, before.get(k), after.get(k)) for k in keys[:limit]]


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture(params=["root", "nobody"])
def user(request):
    """Who runs the sr processes: root (the test's own uid) or uid 65534."""
    if request.param == "nobody":
        assert os.geteuid() == 0, "running sr as uid 65534 needs the tests to run as root"
    return request.param


@pytest.fixture
def sb(user, mosquitto, nginx, sr_bin):
    """The sandbox of one test (Sandbox), in a folder of its own in /tmp that others may
    pass through: pytest's tmp_path lies in /tmp/pytest-of-root (0700), which every pytest
    session on the machine resets to 0700 when it starts, cutting uid 65534 off mid-test.
    Removed at the end (kept when SR_KEEP_SANDBOX is set)."""
    root = Path(tempfile.mkdtemp(prefix="sr_jail_"))
    root.chmod(0o755)
    box = Sandbox(root, user, mosquitto, nginx, sr_bin)
    try:
        yield box
    finally:
        box.stop_all()
        if not os.environ.get("SR_KEEP_SANDBOX"):
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(box.www, ignore_errors=True)


class Sandbox:
    """The sandbox folder of one test, laid out:
         canary/             root's, the tree the attacks aim at
         jail/in/dest/       the destination (owned by the user that runs sr), deep enough
                             that ../.. from it stays in the sandbox
         home/               the user's HOME, config (credentials.conf) and state
         src/                a sender's baseDir
    and a folder of its own on nginx (www, served at base_url)."""

    def __init__(self, root, user, mosquitto, nginx, sr_bin):
        self.root = root
        self.user = user
        self.uid = 0 if user == "root" else NOBODY
        self.mosquitto, self.nginx, self.sr_bin = mosquitto, nginx, sr_bin
        self.tok = secrets.token_hex(3)
        self.exchange = f"xjail{self.tok}"
        self.canary = make_canary(root / "canary")
        self.dest = root / "jail" / "in" / "dest"
        self.dest.mkdir(parents=True)
        self.home = root / "home"
        self.config = self.home / "config"
        self.state = self.home / "state"
        self.config.mkdir(parents=True)
        self.state.mkdir()
        self.src = root / "src"
        self.www = nginx.root / f"jail_{self.tok}"
        self.www.mkdir()
        self.base_url = nginx.url(f"/jail_{self.tok}/")
        creds = self.config / "credentials.conf"
        creds.write_text(f"{mosquitto.url('tsub')}\n{mosquitto.url('tfeed')}\n")
        creds.chmod(0o600)
        self.running = []
        self.fences = 0
        self.canary_before = None
        self.outside_before = None

    # -- who owns what, and how sr is run --
    def own(self, *paths):
        """Give paths (and everything beneath, links themselves) to the user that runs sr."""
        if self.uid == 0:
            return
        for top in paths:
            for p in [top, *Path(top).rglob("*")]:
                os.lchown(p, self.uid, self.uid)

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SR_", "XDG_")) and k != "SSH_AUTH_SOCK"}
        env.update({"HOME": str(self.home), "SR_CONFIG_DIR": str(self.config),
                    "SR_STATE_DIR": str(self.state), "SR_CONFD": str(REPO / "conf.d")})
        return env

    def argv(self, program, *args):
        prefix = SETPRIV if self.uid else []
        return [*prefix, self.sr_bin(program), *args]

    def config_file(self, component, name, text):
        d = self.config / component
        d.mkdir(exist_ok=True)
        path = d / f"{name}.conf"
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def broker(self, user="tsub"):
        return f"mqtt://{user}@{self.mosquitto.host}:{self.mosquitto.port}"

    # -- what the server has, what the broker carries --
    def serve(self, rel, data):
        """Put data at rel on nginx (under base_url); returns data."""
        p = self.www / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return data

    def message(self, rel, data=None, **fields):
        """A v03 message for rel under base_url; with data, its size and sha512. A field
        given as None is left out."""
        m = {"pubTime": time.strftime("%Y%m%dT%H%M%S", time.gmtime()),
             "baseUrl": self.base_url, "relPath": rel}
        if data is not None:
            m["size"] = len(data)
            m["identity"] = {"method": "sha512", "value": sha512_b64(data)}
        m.update(fields)
        return {k: v for k, v in m.items() if v is not None}

    def publish(self, *messages):
        """Publish raw bodies (dicts are written as JSON), in order, QoS 1, on one
        connection (mosquitto_pub -l: one message a line)."""
        lines = [json.dumps(m) if isinstance(m, dict) else m for m in messages]
        assert all("\n" not in line for line in lines)
        r = subprocess.run(["mosquitto_pub", "-h", self.mosquitto.host, "-p",
                            str(self.mosquitto.port), "-u", "tfeed", "-P",
                            self.mosquitto.users["tfeed"], "-q", "1",
                            "-t", f"{self.exchange}/v03/jail", "-l"],
                           input="".join(line + "\n" for line in lines), text=True,
                           capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr

    # -- the components --
    def start(self, component, name, config, fence=None):
        """Write the config, give the tree to the user, start `sr_COMPONENT instance 1
        NAME` as the user, and wait until it takes messages (a fence written)."""
        self.config_file(component, name, config)
        self.own(self.home, self.dest, *([self.src] if self.src.exists() else []))
        run = Running(self, component, name, fence or InlineFence(self))
        self.running.append(run)
        run.start()
        return run

    def stop_all(self):
        for run in self.running:
            run.stop()

    def record(self):
        """What must not change: the canary, and everything outside dest and home (called
        once the test has made what it makes)."""
        self.canary_before = record_tree(self.canary)
        self.outside_before = outside_of(self.root, {self.dest, self.home}, self.src)

    def jail_problems(self):
        """What a user would find wrong outside the destination, as a list of lines."""
        problems = []
        canary = record_tree(self.canary)
        if canary != self.canary_before:
            problems.append(f"the canary changed (path, before, after): "
                            f"{diff(self.canary_before, canary)}")
        outside = outside_of(self.root, {self.dest, self.home}, self.src)
        if outside != self.outside_before:
            problems.append(f"written outside the destination (path, before, after): "
                            f"{diff(self.outside_before, outside)}")
        return problems


class InlineFence:
    """A fence for a subscriber or sarra: fence_NNN.txt carried inline in the message,
    written in the destination's top folder."""

    def __init__(self, sb):
        self.sb = sb

    def publish(self, n):
        text = f"fence {n}\n"
        self.sb.publish(self.sb.message(f"fence_{n:03d}.txt", size=len(text.encode()),
                                        content={"encoding": "utf-8", "value": text}))

    def arrived(self, n):
        return (self.sb.dest / f"fence_{n:03d}.txt").is_file()


class Running:
    """Instance 1 of one configuration, run as the sandbox's user until stop()."""

    def __init__(self, sb, component, name, fence):
        self.sb, self.component, self.name, self.fence = sb, component, name, fence
        self.log_path = sb.state / "log" / f"{component}_{name}_01.log"
        self.metrics_path = sb.state / "metrics" / f"{component}_{name}_01.json"
        self.out_path = sb.home / f"{component}_{name}.out"
        self.proc = None
        self.out = None
        self.alive_at_end = None
        self.rc = None

    def start(self):
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(self.sb.argv(f"sr_{self.component}", "instance", "1",
                                                  self.name),
                                     env=self.sb.env(), stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        assert wait_until(lambda: "connected to" in self.log() or self.proc.poll() is not None,
                          TIMEOUT), self.diagnosis()
        assert self.proc.poll() is None, f"sr_{self.component} exited\n{self.diagnosis()}"
        uids = Path(f"/proc/{self.pid}/status").read_text().split("\nUid:")[1].split()[:4]
        assert uids == [str(self.sb.uid)] * 4, f"sr_{self.component} runs as uid {uids}"
        self.sync(again=1.0)

    def sync(self, timeout=TIMEOUT, again=None):
        """Publish a fence and wait until it is written. Once it is, every message
        published before it has been handled. again: publish another fence after that
        many seconds without one (at the start: the first ones may go before the
        subscription is in place)."""
        deadline = time.monotonic() + timeout
        while True:
            self.sb.fences += 1
            n = self.sb.fences
            self.fence.publish(n)
            if wait_until(lambda: self.fence.arrived(n), again or timeout, 0.05):
                return
            assert self.proc.poll() is None, f"sr_{self.component} exited\n{self.diagnosis()}"
            assert time.monotonic() < deadline, f"no fence arrived\n{self.diagnosis()}"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def diagnosis(self):
        out = self.out_path.read_text(errors="replace")
        return f"--- stdout/stderr\n{out[-3000:]}--- log\n{self.log()[-6000:]}"

    def stop(self):
        """SIGTERM; records whether the process started was still running, and its status."""
        if self.proc is None or self.rc is not None:
            return self.rc
        self.alive_at_end = self.proc.poll() is None and Path(f"/proc/{self.pid}").exists()
        if self.alive_at_end:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.rc = f"ignored SIGTERM: {self.proc.wait()}"
        self.out.close()
        return self.rc

    def metrics(self):
        try:
            return json.loads(self.metrics_path.read_text())
        except (OSError, ValueError):
            return {}

    def refusals(self):
        """{relPath: [log lines that refuse it]}."""
        found = {}
        for line in self.log().splitlines():
            m = REFUSED.search(line)
            if m:
                found.setdefault(m.group(1), []).append(line)
        return found

    def retried(self):
        """relPaths that went to the retry queue ("RELPATH: why; will retry")."""
        return {line.split("] ", 1)[-1].split(" ", 1)[1].split(": ", 1)[0]
                for line in self.log().splitlines() if line.endswith("; will retry")}

    def problems(self, refused, maybe=(), must_not=(), may_wait=(), undecodable=()):
        """After stop(): what a user would find wrong with how the process ran and
        refused. refused: {relPath: a word its reason names (None: any reason)}, each to
        be refused exactly once, at WARNING; maybe: relPaths that may be refused, or may
        fail and be retried; must_not: relPaths that must not be refused; may_wait: those
        that may still be in the retry queue at the end; undecodable: relPaths of
        messages that do not decode, each logged at WARNING and counted in rxBadCount.
        Also: rejectCount counts the refusals, the retry queue is empty (but for
        may_wait), the process was the same at the end and exited 0."""
        p = []
        if not self.alive_at_end:
            p.append(f"sr_{self.component} (pid {self.pid}) was not running at the end")
        if self.rc != 0:
            p.append(f"sr_{self.component} exited {self.rc}")
        got = self.refusals()
        for rel, word in refused.items():
            lines = got.get(rel, [])
            if len(lines) != 1:
                p.append(f"{rel}: {len(lines)} lines refuse it (want 1)")
            elif "[WARNING]" not in lines[0]:
                p.append(f"{rel}: refused, but not at WARNING: {lines[0]}")
            elif word and word.lower() not in lines[0].lower():
                p.append(f"{rel}: the refusal does not name {word!r}: {lines[0]}")
        for rel in sorted(set(got) - set(refused) - set(maybe)):
            p.append(f"{rel}: refused, unexpectedly: {got[rel]}")
        for rel in must_not:
            if rel in got:
                p.append(f"{rel}: must not be refused: {got[rel]}")
        counters = self.metrics().get("counters", {})
        refusals = sum(len(lines) for lines in got.values())
        if counters.get("rejectCount") != refusals:
            p.append(f"rejectCount {counters.get('rejectCount')}, want {refusals} "
                     f"(the refusals logged)")
        if counters.get("rxBadCount", 0) != len(undecodable):
            p.append(f"rxBadCount {counters.get('rxBadCount')}, want {len(undecodable)}")
        for rel in undecodable:
            if not any("[WARNING]" in line and f'"{rel}"' in line
                       for line in self.log().splitlines()):
                p.append(f"{rel}: no WARNING line names it (it does not decode)")
        retried = self.retried() - set(maybe)
        if retried:
            p.append(f"went to the retry queue: {sorted(retried)}")
        work = self.metrics().get("retry", {}).get("work")
        if work is None or work > len(self.retried() & set(may_wait)):
            p.append(f"the retry queue holds {work} messages")
        return p


def verdict(sb, runs, problems):
    """Assert no problems, the jail's own first; the logs' tails when there are."""
    for run in runs:
        run.stop()
    all_problems = sb.jail_problems() + problems
    logs = "".join(f"\n--- {r.component}/{r.name} log tail:\n{r.log()[-5000:]}" for r in runs)
    assert not all_problems, "\n".join(all_problems) + logs


def regular_with(path, data):
    """None when path is a regular file (not a link) holding data; else why not."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return f"{path.name}: missing"
    if not stat.S_ISREG(st.st_mode):
        return f"{path.name}: not a regular file ({stat.filemode(st.st_mode)})"
    if path.read_bytes() != data:
        return f"{path.name}: other content ({st.st_size} bytes)"
    return None


def expect(problems, why):
    if why:
        problems.append(why)


def subscriber_config(sb, mirror=True, inflight=".tmp", extra=""):
    return f"""
        broker {sb.broker()}
        exchange {sb.exchange}
        subtopic #
        directory {sb.dest}
        mirror {"on" if mirror else "off"}
        inflight {inflight}
        retryDelay 1
        """ + textwrap.dedent(extra)


def sarra_config(sb, extra=""):
    return f"""
        broker {sb.broker()}
        exchange {sb.exchange}
        subtopic #
        directory {sb.dest}
        mirror on
        inflight .tmp
        retryDelay 1
        post_broker {sb.broker("tfeed")}
        post_exchange {sb.exchange}_out
        post_baseUrl http://127.0.0.1/pump/
        post_baseDir {sb.dest}
        """ + textwrap.dedent(extra)


WRITES = [  # (mirror, inflight) for the classes that write files
    pytest.param(True, ".tmp", id="mirror-tmp"),
    pytest.param(True, "None", id="mirror-noinflight"),
    pytest.param(False, ".tmp", id="flat-tmp"),
    pytest.param(False, "None", id="flat-noinflight"),
]


# ---- 1. symbolic links planted in the destination ----

@pytest.mark.parametrize("component, mirror, inflight", [
    *[pytest.param("subscribe", *p.values, id=f"subscribe-{p.id}") for p in WRITES],
    pytest.param("sarra", True, ".tmp", id="sarra-mirror-tmp"),
])
def test_symlinks_planted_in_the_destination_are_never_followed(sb, component, mirror,
                                                                inflight):
    """Someone with a foot in the destination plants symlinks to a canary tree beside it:
    a folder `sub -> canary/dir`, the temporary name `f.txt.tmp -> canary/secret`, the
    final name `g.txt -> canary/secret`. Messages then write through sub, write f.txt and
    g.txt, remove and rmdir beneath sub, and rename a file out of sub. The user finds the
    canary untouched: the writes through sub and through the temporary link are refused
    (with the mirror off sub/x.txt is x.txt, and lands), g.txt is a regular file with the
    served bytes in place of the link, the removals beneath sub are refused, and the
    rename is refused or fetches the new file (nothing in the canary moves)."""
    d, c = sb.dest, sb.canary
    (d / "sub").symlink_to(c / "dir")
    (d / "f.txt.tmp").symlink_to(c / "secret")
    (d / "g.txt").symlink_to(c / "secret")
    files = {rel: sb.serve(rel, f"served {rel} {sb.tok}\n".encode())
             for rel in ("sub/x.txt", "f.txt", "g.txt", "moved.txt")}
    config = (subscriber_config(sb, mirror, inflight) if component == "subscribe"
              else sarra_config(sb))
    sb.record()
    run = sb.start(component, "links", config)
    sb.publish(sb.message("sub/x.txt", files["sub/x.txt"]),
               sb.message("f.txt", files["f.txt"]),
               sb.message("g.txt", files["g.txt"]),
               sb.message("sub/y", fileOp={"remove": ""}),
               sb.message("sub/inner", fileOp={"remove": "", "directory": ""}),
               sb.message("moved.txt", files["moved.txt"], fileOp={"rename": "sub/y"}))
    run.sync()
    run.stop()

    problems = []
    refused = {}
    if mirror:
        refused.update({"sub/x.txt": "symbolic link", "sub/y": "symbolic link",
                        "sub/inner": "symbolic link"})
    else:
        expect(problems, regular_with(d / "x.txt", files["sub/x.txt"]))
    if inflight == ".tmp":
        refused["f.txt"] = "symbolic link"
        if (d / "f.txt").exists():
            problems.append("f.txt written although its temporary name is a symlink")
    else:
        expect(problems, regular_with(d / "f.txt", files["f.txt"]))
    expect(problems, regular_with(d / "g.txt", files["g.txt"]))
    # the rename: refused, or the new file fetched in place (the old one not found)
    if "moved.txt" not in run.refusals():
        expect(problems, regular_with(d / "moved.txt", files["moved.txt"]))
    problems += run.problems(refused, maybe={"moved.txt"}, must_not={"g.txt"})
    verdict(sb, [run], problems)


# ---- 2. link fileOps ----

@pytest.mark.parametrize("component", ["subscribe", "sarra"])
@pytest.mark.parametrize("outside", [False, True], ids=["default", "allowLinkOutside"])
def test_link_fileops_stay_in_the_tree(sb, component, outside):
    """A publisher announces links: to an absolute path in the canary, to one that climbs
    out of the tree with ../, to a neighbour in the tree, a hard link to a file sr
    downloaded, and a hard link naming the canary's absolute path. The user finds: the
    links that leave the tree refused and absent (with allowLinkOutside on: made, with
    their text, never followed: a file announced beneath one is refused); the link
    inside made with its text; the hard link sharing the downloaded file's inode; the
    canary untouched, its link counts too (the absolute hlink is read beneath the tree,
    where there is nothing: it fails or is refused)."""
    d, c = sb.dest, sb.canary
    existing = sb.serve("a/existing.txt", f"existing {sb.tok}\n".encode())
    beneath = sb.serve("a/dirlink/x.txt", b"through the link\n")
    climb = os.path.relpath(c / "secret", d / "a")
    extra = "allowLinkOutside on\n" if outside else ""
    config = (subscriber_config(sb, extra=extra) if component == "subscribe"
              else sarra_config(sb, extra=extra))
    sb.record()
    run = sb.start(component, "lnk", config)
    sb.publish(sb.message("a/existing.txt", existing))
    assert wait_until(lambda: (d / "a" / "existing.txt").is_file(), TIMEOUT), run.diagnosis()
    sb.publish(sb.message("a/abs_link", fileOp={"link": str(c / "secret")}),
               sb.message("a/climb_link", fileOp={"link": climb}),
               sb.message("a/good_link", fileOp={"link": "other.txt"}),
               sb.message("a/dirlink", fileOp={"link": str(c / "dir")}),
               sb.message("a/dirlink/x.txt", beneath),
               sb.message("a/hard.txt", fileOp={"hlink": "a/existing.txt"}),
               sb.message("a/hard_out.txt", fileOp={"hlink": str(c / "secret")}))
    run.sync()
    run.stop()

    problems = []
    a = d / "a"
    if outside:
        refused = {"a/dirlink/x.txt": "symbolic link"}
        for name, text in (("abs_link", str(c / "secret")), ("climb_link", climb),
                           ("dirlink", str(c / "dir"))):
            if not (a / name).is_symlink() or os.readlink(a / name) != text:
                problems.append(f"a/{name}: not a symlink to {text}")
    else:
        refused = {"a/abs_link": "outside", "a/climb_link": "outside",
                   "a/dirlink": "outside"}
        for name in ("abs_link", "climb_link", "dirlink"):
            if (a / name).is_symlink():
                problems.append(f"a/{name}: made -> {os.readlink(a / name)}")
    if not (a / "good_link").is_symlink() or os.readlink(a / "good_link") != "other.txt":
        problems.append("a/good_link: not a symlink to other.txt")
    try:
        if (a / "hard.txt").lstat().st_ino != (a / "existing.txt").lstat().st_ino:
            problems.append("a/hard.txt: not a hard link to a/existing.txt")
    except FileNotFoundError as e:
        problems.append(f"hard link: {e}")
    hard_out = a / "hard_out.txt"
    if hard_out.exists() and hard_out.stat().st_ino == (c / "secret").stat().st_ino:
        problems.append("a/hard_out.txt is the canary's secret")
    problems += run.problems(refused, maybe={"a/hard_out.txt"}, may_wait={"a/hard_out.txt"},
                             must_not={"a/good_link", "a/hard.txt", "a/existing.txt"})
    verdict(sb, [run], problems)


# ---- 3. variables the message fills ----

@pytest.mark.parametrize("mirror, inflight", WRITES)
def test_variables_from_the_message_cannot_climb_out(sb, mirror, inflight):
    """An operator files downloads by ${SOURCE}, by a regex group ${1} and by ${BUP} (the
    base URL's path). A publisher sends source "../../x" and "a/b", a relPath a/../b/f.txt
    whose group is "..", and a baseUrl whose path is /../../x. The user finds each of
    those refused and nothing outside the destination, while source alice's file lands
    in dest/alice and a plain base URL's in dest/<its path>. A relPath ../x, which
    climbs out by itself, does not even decode: logged, counted in rxBadCount."""
    d = sb.dest
    files = {rel: sb.serve(rel, f"{rel} {sb.tok}\n".encode())
             for rel in ("src/s1.txt", "src/s2.txt", "src/s3.txt", "b/f.txt", "bup/b1.txt",
                         "bup/b2.txt")}
    config = f"""
        broker {sb.broker()}
        exchange {sb.exchange}
        subtopic #
        mirror {"on" if mirror else "off"}
        inflight {inflight}
        retryDelay 1
        directory {d}
        accept .*/fence_.*
        sourceFromMessage on
        directory {d}/${{SOURCE}}
        accept .*/src/.*
        directory {d}/${{1}}
        accept .*/([^/]*)/b/f\\.txt
        directory {d}/${{BUP}}
        accept .*/bup/.*
        """
    sb.record()
    run = sb.start("subscribe", "vars", config)
    climbing = f"http://{sb.nginx.host}:{sb.nginx.port}/../../x"
    sb.publish(sb.message("src/s1.txt", files["src/s1.txt"], source="../../x"),
               sb.message("src/s2.txt", files["src/s2.txt"], source="a/b"),
               sb.message("src/s3.txt", files["src/s3.txt"], source="alice"),
               sb.message("a/../b/f.txt", files["b/f.txt"]),
               sb.message("bup/b1.txt", files["bup/b1.txt"], baseUrl=climbing),
               sb.message("bup/b2.txt", files["bup/b2.txt"]),
               sb.message("../x", files["src/s3.txt"]))
    run.sync()
    run.stop()

    problems = []
    alice = d / "alice" / ("src/s3.txt" if mirror else "s3.txt")
    expect(problems, regular_with(alice, files["src/s3.txt"]))
    b2 = d / f"jail_{sb.tok}" / ("bup/b2.txt" if mirror else "b2.txt")
    expect(problems, regular_with(b2, files["bup/b2.txt"]))
    problems += run.problems({"src/s1.txt": "SOURCE", "src/s2.txt": "SOURCE",
                              "a/../b/f.txt": None, "bup/b1.txt": None},
                             must_not={"src/s3.txt", "bup/b2.txt"}, undecodable=["../x"])
    verdict(sb, [run], problems)


# ---- 4. modes ----

@pytest.mark.parametrize("mirror, inflight, umask", [
    *[pytest.param(*p.values, None, id=p.id) for p in WRITES],
    pytest.param(True, ".tmp", 0, id="mirror-tmp-permUmask0"),
])
def test_modes_from_a_message_never_bring_setuid_setgid_or_sticky(sb, mirror, inflight,
                                                                  umask):
    """Messages announce files of mode 4777, 6755, 1777, 7777 and a folder of mode 7777.
    The user finds them at 0775, 0755, 0775, 0775 and the folder at 0775 (the mode
    masked to 0777, then permUmask 002 cleared); with `permUmask 0`, 4777 gives 0777.
    No setuid, setgid or sticky bit ever, even when sr runs as root; every file owned by
    the user running sr."""
    modes = {"modes/m4777.bin": "4777", "modes/m6755.bin": "6755",
             "modes/m1777.bin": "1777", "modes/m7777.bin": "7777"}
    files = {rel: sb.serve(rel, f"{rel} {sb.tok}\n".encode()) for rel in modes}
    mask = 0o002 if umask is None else umask
    extra = "" if umask is None else f"permUmask {umask}\n"
    sb.record()
    run = sb.start("subscribe", "modes", subscriber_config(sb, mirror, inflight, extra))
    sb.publish(*[sb.message(rel, files[rel], mode=m) for rel, m in modes.items()],
               sb.message("modes/d7777", fileOp={"directory": ""}, mode="7777"))
    run.sync()
    run.stop()

    def local(rel):
        return sb.dest / (rel if mirror else Path(rel).name)
    problems = []
    for rel, m in {**modes, "modes/d7777": "7777"}.items():
        p = local(rel)
        if rel in files:
            expect(problems, regular_with(p, files[rel]))
        elif not p.is_dir():
            problems.append(f"{rel}: no folder made")
        if not p.exists():
            continue
        st = p.lstat()
        want = int(m, 8) & 0o777 & ~mask
        if stat.S_IMODE(st.st_mode) != want:
            problems.append(f"{rel}: mode {stat.S_IMODE(st.st_mode):04o}, want {want:04o} "
                            f"(announced {m})")
        if st.st_uid != sb.uid:
            problems.append(f"{rel}: owned by uid {st.st_uid}, not {sb.uid}")
    problems += run.problems({}, must_not=set(modes) | {"modes/d7777"})
    verdict(sb, [run], problems)


# ---- 5. file: URLs ----

@pytest.mark.parametrize("mirror, inflight", WRITES)
@pytest.mark.parametrize("allow", [False, True], ids=["default", "allowFileUrl"])
def test_file_urls_are_copied_only_when_allowed(sb, allow, mirror, inflight):
    """A publisher announces the canary's secret as file://<sandbox>/ canary/secret,
    asking the subscriber to copy a file of its own host's disk. By default the user finds
    it refused (the reason names file: URLs) and no copy in the destination; with
    allowFileUrl on, the copy is there, byte for byte. The canary is untouched."""
    secret = (sb.canary / "secret").read_bytes()
    extra = "allowFileUrl on\n" if allow else ""
    sb.record()
    run = sb.start("subscribe", "fileurl", subscriber_config(sb, mirror, inflight, extra))
    sb.publish(sb.message("canary/secret", secret, baseUrl=f"file://{sb.root}"))
    run.sync()
    run.stop()

    problems = []
    copy = sb.dest / ("canary/secret" if mirror else "secret")
    if allow:
        expect(problems, regular_with(copy, secret))
        problems += run.problems({}, must_not={"canary/secret"})
    else:
        if copy.exists():
            problems.append(f"{copy.relative_to(sb.dest)} copied from a file: URL")
        problems += run.problems({"canary/secret": "file:"})
    verdict(sb, [run], problems)


# ---- 6. sizes ----

@pytest.mark.parametrize("mirror, inflight", WRITES)
def test_sizes_announced_bound_what_is_written(sb, mirror, inflight):
    """The server holds a 4 MiB file a message announces as 1000 bytes (no checksum): the
    user finds the download stopped and refused, nothing under the final name and no
    temporary file larger than 1000 bytes plus one read buffer (1 MiB). With fileSizeMax
    1000, a file announced at 5000 bytes, and a block of a file whose manifest adds up to
    5000, are refused before any transfer: nginx's access log has no request for them."""
    sb.serve("sizes/big.bin", os.urandom(4 << 20))
    limit = sb.serve("sizes/limit.bin", os.urandom(5000))
    blocks = sb.serve("sizes/blocks.bin", os.urandom(5000))
    manifest = {str(i): {"size": 1000, "identity": sha512_b64(blocks[i * 1000:(i + 1) * 1000])}
                for i in range(5)}
    sb.record()
    run = sb.start("subscribe", "sizes", subscriber_config(sb, mirror, inflight,
                                                           "fileSizeMax 1000\n"))
    sb.publish(sb.message("sizes/big.bin", size=1000),
               sb.message("sizes/limit.bin", limit),
               sb.message("sizes/blocks.bin", blocks[:1000],
                          blocks={"method": "inplace", "size": 1000, "number": 0,
                                  "manifest": manifest}))
    run.sync()
    run.stop()

    problems = []
    final = sb.dest / ("sizes/big.bin" if mirror else "big.bin")
    if final.exists():
        problems.append(f"{final.name} under its final name ({final.stat().st_size} bytes)")
    for p in sb.dest.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.stat().st_size > 1000 + (1 << 20):
            problems.append(f"{p.relative_to(sb.dest)} left, {p.stat().st_size} bytes")
    served = sb.nginx.access_log.read_text(errors="replace").splitlines()
    for name in ("limit.bin", "blocks.bin"):
        uri = f"/jail_{sb.tok}/sizes/{name}"
        asked = [line for line in served if line.split(" ", 3)[-1].startswith(uri)]
        if asked:
            problems.append(f"nginx was asked for {uri}: {asked}")
    problems += run.problems({"sizes/big.bin": "size", "sizes/limit.bin": "size",
                              "sizes/blocks.bin": "size"})
    verdict(sb, [run], problems)


# ---- 7. senders ----

class SentFence:
    """A fence for a sender: src/fence_NNN.txt announced, arrived once on the remote."""

    def __init__(self, sb, remote):
        self.sb, self.remote = sb, remote

    def publish(self, n):
        data = f"fence {n}\n".encode()
        p = self.sb.src / f"fence_{n:03d}.txt"
        p.write_bytes(data)
        self.sb.own(p)
        self.sb.publish(self.sb.message(f"fence_{n:03d}.txt", data,
                                        baseUrl="sftp://hotsource/"))

    def arrived(self, n):
        return (self.remote / f"fence_{n:03d}.txt").is_file()


def test_sender_sends_only_what_lies_in_its_base_dir(sb, sshd):
    """A sender over sftp with baseDir src/. In src someone planted evil.txt ->
    canary/secret and a folder link sub -> canary/dir; messages name evil.txt, sub/y, and
    links whose targets are the canary's absolute path or climb out of src. The user
    finds on the cluster only good.txt (identical) and the fences: the files through
    symlinks refused, the links refused, not forwarded."""
    src, c = sb.src, sb.canary
    src.mkdir()
    good = f"good {sb.tok}\n".encode()
    (src / "good.txt").write_bytes(good)
    (src / "evil.txt").symlink_to(c / "secret")
    (src / "sub").symlink_to(c / "dir")
    SshHome(sb.home, sshd)
    remote = sshd.root / f"jail_{sb.tok}"
    remote.mkdir()
    climb = os.path.relpath(c / "secret", src)
    config = f"""
        broker {sb.broker()}
        exchange {sb.exchange}
        subtopic #
        baseDir {src}
        sendTo sftp://{SshHome.ALIAS}
        directory {remote.name}
        mirror on
        inflight .tmp
        retryDelay 1
        """
    sb.record()
    run = sb.start("sender", "tocluster", config, fence=SentFence(sb, remote))
    sent = "sftp://hotsource/"
    sb.publish(sb.message("evil.txt", (c / "secret").read_bytes(), baseUrl=sent),
               sb.message("sub/y", (c / "dir" / "y").read_bytes(), baseUrl=sent),
               sb.message("abs_link", baseUrl=sent, fileOp={"link": str(c / "secret")}),
               sb.message("climb_link", baseUrl=sent, fileOp={"link": climb}),
               sb.message("good.txt", good, baseUrl=sent))
    run.sync()
    run.stop()

    problems = []
    expect(problems, regular_with(remote / "good.txt", good))
    on_remote = sorted(str(p.relative_to(remote)) for p in remote.rglob("*")
                       if not p.name.startswith("fence_"))
    if on_remote != ["good.txt"]:
        problems.append(f"on the cluster: {on_remote}, want only good.txt")
    problems += run.problems({"evil.txt": "symbolic link", "sub/y": "symbolic link",
                              "abs_link": "outside", "climb_link": "outside"},
                             must_not={"good.txt"})
    verdict(sb, [run], problems)


def test_sender_without_base_dir_does_not_start(sb):
    """A sender configuration without baseDir would read any path a message names: `sr_sender
    check` says so (its output names baseDir) and exits non-zero."""
    sb.config_file("sender", "nobase", f"""
        broker {sb.broker()}
        exchange {sb.exchange}
        sendTo sftp://{SshHome.ALIAS}
        directory somewhere
        """)
    sb.own(sb.home)
    r = subprocess.run(sb.argv("sr_sender", "check", "nobase"), env=sb.env(),
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and "baseDir" in r.stdout + r.stderr, \
        f"exit {r.returncode}\n{r.stdout}{r.stderr}"


# ---- 8. a race against the destination's folders ----

# Swaps DIR for a symlink to TARGET as fast as it can until SIGTERM: DIR -> DIR.real,
# DIR a symlink, then the link removed and the folder put back. When sr has made DIR
# anew meanwhile (the name was free for an instant), the next swap moves it aside under a
# new name (DIR.real1, ...). Prints the number of swaps.
SWAPPER = r"""
import os, signal, sys
d, target = sys.argv[1], sys.argv[2]
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
n = spare = 0
real = d + ".real"
while not stop:
    try:
        os.rename(d, real)
    except OSError:
        if os.path.lexists(d) and os.path.lexists(real):
            spare += 1
            real = f"{d}.real{spare}"
        continue
    try:
        os.symlink(target, d)
        os.unlink(d)
    except OSError:
        pass
    try:
        os.rename(real, d)
    except OSError:
        pass
    n += 1
print(n, flush=True)
"""


@pytest.mark.parametrize("inflight", [".tmp", "None"], ids=["tmp", "noinflight"])
def test_folder_swapped_for_a_symlink_while_files_arrive(sb, inflight):
    """While 1,000 small files download into d/ (with and without a temporary name),
    another process swaps d for a symlink to a canary folder and back, as fast as it can. The user finds the canary untouched
    and nothing outside the destination; each file is either in d (or a d.real* folder
    the swaps left) with its bytes, or was refused; with the retries done, the two
    account for all 1,000."""
    d = sb.dest / "d"
    d.mkdir()
    count = 1000
    files = {f"d/f{i:04d}.txt": sb.serve(f"d/f{i:04d}.txt", f"file {i} {sb.tok}\n".encode())
             for i in range(count)}
    sb.record()
    run = sb.start("subscribe", "race", subscriber_config(sb, True, inflight, "batch 100\n"))
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(d), str(sb.canary / "dir")],
                               stdout=subprocess.PIPE, text=True)
    try:
        sb.publish(*[sb.message(rel, data) for rel, data in files.items()])
        run.sync(timeout=300)
    finally:
        swapper.send_signal(signal.SIGTERM)
        swaps = int(swapper.communicate(timeout=30)[0] or 0)
    stopped = time.time()

    def arrived():
        got = {}
        for folder in sb.dest.glob("d*"):
            if folder.is_dir() and not folder.is_symlink():
                for p in folder.glob("f*.txt"):
                    got.setdefault(f"d/{p.name}", []).append(p)
        return got

    def settled():
        """Every file arrived or refused; or the retry queue empty in a metrics file
        written after the swaps stopped (what is missing then will not come)."""
        if set(arrived()) | set(run.refusals()) >= set(files):
            return True
        m = run.metrics()
        return m.get("time", 0) > stopped + 1 and m.get("retry", {}).get("work") == 0
    wait_until(settled, 300, 1.0)
    run.stop()

    problems = []
    got, refused = arrived(), set(run.refusals())
    retried = run.retried()
    bad = [str(p) for rel, paths in got.items() for p in paths
           if p.read_bytes() != files[rel]]
    if bad:
        problems.append(f"{len(bad)} files with other bytes: {bad[:5]}")
    twice = {rel for rel, paths in got.items() if len(paths) > 1}
    missing = set(files) - set(got) - refused
    both = set(got) & refused
    print(f"\nrace: {swaps} swaps; {len(got)} arrived, {len(refused)} refused, "
          f"{len(retried)} went to the retry queue")
    if missing:
        problems.append(f"{len(missing)} files neither arrived nor refused: {sorted(missing)[:5]}")
    if both:
        problems.append(f"{len(both)} files both arrived and refused: {sorted(both)[:5]}")
    if twice:
        problems.append(f"{len(twice)} files arrived twice: {sorted(twice)[:5]}")
    if swaps < 10:
        problems.append(f"only {swaps} swaps: the race did not run")
    problems += run.problems({}, maybe=set(files))
    verdict(sb, [run], problems)
