# SPDX-License-Identifier: GPL-2.0-only
"""What the poll tests (test_poll.py, test_poll_e2e.py) share: a poll configuration run as a
user runs it, the servers it lists as folders of files, and what it posted, read from the
broker.

- Announced: a queue of its own bound to the poll's post exchange, read by
  test/tools/sr_broker_tool into a file; .messages() gives the v03 messages posted so far,
  decoded, in order. The counts the tests assert are taken here, on the broker.
- Site: one server seen by a poll (sftp, ftp, http on nginx or Apache, a plain folder
  polled as file:): the local folder its files are written in, the pollUrl, the `path`
  line naming that folder on the server, the baseUrl and relPath a message must carry,
  and what the server's listing shows (mtime to the second or to the minute, size in bytes
  or rounded).
- Side: who runs the poll: sr_poll (the default), or Python sr3's poll when
  SR_POLL_PEER=sr3 is set, to check a story against the reference (never in `make check`:
  some stories are sr's own, such as the bad-line count).
- Fences: a poll lists its `path` lines in order, so a file put in a second, "fence",
  folder and announced shows that a listing of the data folder began after it was put
  there; two fences in a row show a whole listing of the data folder made after the
  changes before them ended. That is how a test knows a poll ran without sleeping.
"""
import calendar
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from helpers import Component, wait_until, write_config

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
IDENTITY_COD = {"method": "cod", "value": "sha512"}
STAGING = ".staging"


def declare_exchange(tool, url, exchange):
    """The exchange exists before anything binds to it (what `sr declare` does)."""
    r = subprocess.run([tool, "publish", url, exchange, "v03.declare"], input="",
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


def v03_time(text):
    """Seconds since the epoch of a v03 time, "20261206T112233" or with ".fff" after it."""
    whole, _, frac = text.partition(".")
    t = calendar.timegm(time.strptime(whole, "%Y%m%dT%H%M%S"))
    return t + (float(f"0.{frac}") if frac else 0.0)


class Announced:
    """The messages posted to an exchange, from a queue of our own bound to it with #."""

    def __init__(self, broker_tool, rabbitmq, exchange, path):
        declare_exchange(broker_tool, rabbitmq.url("tfeed"), exchange)
        self.path = Path(path)
        self.exchange = exchange
        self._out = open(self.path, "w")
        self._err = open(self.path.with_suffix(".err"), "w")
        self.proc = subprocess.Popen(
            [broker_tool, "consume", rabbitmq.url("tsub"), "--queue",
             f"q_tsub.polltest.{secrets.token_hex(4)}", "--bind", f"{exchange}:#",
             "--timeout", "3600", "--expire", "600"],
            stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        assert wait_until(lambda: '"subscribed"' in self.path.read_text()
                          or self.proc.poll() is not None, TIMEOUT), "consumer never subscribed"
        assert self.proc.poll() is None, self.path.with_suffix(".err").read_text()

    def messages(self):
        """The v03 messages received so far (dicts), in order."""
        out = []
        for line in self.path.read_text().splitlines():
            if not line.strip() or '"subscribed"' in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line being written
            out.append(json.loads(record["body"]))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()


class Site:
    """One server a poll lists, with a folder `base` of the test's on it holding `data` (the
    files of the story) and `fence` (see the module's docstring).

    kind: sftp, ftp, nginx, apache or file. local: the folder `base` is in on this host;
    remote: the same folder as the poll's `path` names it. mtime_step: 1 when the listing
    gives mtimes to the second, 60 to the minute. exact_size: the listing gives sizes in
    bytes."""

    def __init__(self, kind, local, remote, poll_url, base_url, credentials=(),
                 mtime_step=1, exact_size=True, server=None):
        self.kind = kind
        self.base = Path(local)
        self.remote = remote.rstrip("/")
        self.poll_url = poll_url
        self.base_url = base_url
        self.credentials = list(credentials)
        self.mtime_step = mtime_step
        self.exact_size = exact_size
        self.server = server
        self.data = self.base / "data"
        self.fence_dir = self.base / "fence"
        self.data.mkdir(parents=True, exist_ok=True)
        self.fence_dir.mkdir(parents=True, exist_ok=True)
        (self.base / STAGING).mkdir(exist_ok=True)  # see write_file
        for d in (self.base, self.data, self.fence_dir):
            d.chmod(0o755)  # Apache's workers (nobody) read them
        self.fences = 0

    def path_line(self, sub):
        """What a `path` line names for the folder base/sub."""
        return f"{self.remote}/{sub}"

    def rel(self, sub, name):
        """The relPath of base/sub/name in a message (a leading / left out: the tests
        compare relPaths without it, as a subscriber places them)."""
        return f"{self.remote}/{sub}/{name}".lstrip("/")

    def config(self, broker_url, exchange, extra="", paths=("data", "fence")):
        """The poll configuration of a story: this server, every 1 s, the folders named."""
        lines = [f"pollUrl {self.poll_url}", f"post_broker {broker_url}",
                 f"post_exchange {exchange}", "scheduled_interval 1"]
        lines += [f"path {self.path_line(p)}" for p in paths]
        return "\n".join(lines) + "\n" + extra


def make_sites(kind, tok, sshd=None, ftpd=None, nginx=None, apache=None, tmp_path=None):
    """The Site of kind for a test whose token is tok, on the session's server of that kind."""
    name = f"poll_{tok}"
    if kind == "sftp":
        local = sshd.root / name
        url = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}/"
        return Site(kind, local, str(local), url, url, server=sshd)
    if kind == "ftp":
        return Site(kind, ftpd.root / name, f"/{name}", ftpd.url("/"), ftpd.url("/"),
                    credentials=[ftpd.credentials_line()], mtime_step=60, server=ftpd)
    if kind in ("nginx", "apache"):
        server = nginx if kind == "nginx" else apache
        return Site(kind, server.root / name, f"/{name}", server.url("/"), server.url("/"),
                    mtime_step=60, exact_size=(kind == "nginx"), server=server)
    if kind == "file":
        local = tmp_path / name
        return Site(kind, local, str(local), "file:", "file:")
    raise ValueError(kind)


class Running:
    """A poll instance that runs (sr_poll foreground, or sr3 foreground), its log in a file."""

    def __init__(self, side, name, log):
        self.side = side
        self.name = name
        self.log = Path(log)
        if side.kind == "sr":
            self.comp = Component(side.sr_bin, side.env, "poll", name, log)
            self.proc = self.comp.proc
        else:
            self.proc = side.sr3.foreground(f"poll/{name}")
            self.log = self.proc.log_path

    def text(self):
        return self.log.read_text(errors="replace")

    def wait_for(self, needle, timeout=TIMEOUT):
        assert wait_until(lambda: needle in self.text() or self.proc.poll() is not None,
                          timeout), f"no {needle!r} in {self.log}:\n{self.text()[-4000:]}"
        assert needle in self.text(), f"exit {self.proc.poll()}, no {needle!r}:\n" \
                                      f"{self.text()[-4000:]}"

    def stop(self):
        """SIGTERM; the exit status (KILL after 30 s)."""
        if self.side.kind == "sr":
            return self.comp.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


class Side:
    """Who runs the polls of a test: sr_poll, or sr3's poll (SR_POLL_PEER=sr3). .home is
    the HOME the poll runs with (its ~/.ssh is where sftp finds its key and known_hosts)."""

    def __init__(self, kind, tmp_path, sr_bin=None, env=None, sr3=None):
        self.kind = kind
        self.tmp_path = Path(tmp_path)
        self.sr_bin, self.env, self.sr3 = sr_bin, env, sr3
        self.home = Path(env["HOME"]) if kind == "sr" else sr3.home
        self.running = []
        self.starts = 0

    def credentials(self, lines):
        if not lines:
            return
        if self.kind == "sr":
            path = Path(self.env["XDG_CONFIG_HOME"]) / "sr" / "credentials.conf"
        else:
            path = self.sr3.config / "credentials.conf"
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if path.exists() else ""
        path.write_text(old + "".join(f"{line}\n" for line in lines))
        path.chmod(0o600)

    def config(self, name, text, component="poll"):
        if self.kind == "sr":
            return write_config(self.env, component, name, text)
        return self.sr3.write_config(component, name, text)

    def start(self, name):
        self.starts += 1
        run = Running(self, name, self.tmp_path / f"{name}.{self.starts}.log")
        self.running.append(run)
        return run

    def stop_all(self):
        for run in self.running:
            run.stop()

    @property
    def active_line(self):
        return "active: this host now holds vip" if self.kind == "sr" else "now active on vip"

    @property
    def reading_line(self):
        """What a passive poll logs of reading the active one's posts (sr3 says nothing)."""
        return "reading what the active node posts" if self.kind == "sr" else None

    @property
    def passive_line(self):
        return "no longer holds a vip" if self.kind == "sr" else "now passive on vips"


class Story:
    """One poll of a Site into an exchange read by an Announced: the fences, and the
    messages of the data folder."""

    def __init__(self, site, announced):
        self.site = site
        self.announced = announced

    def all(self):
        return self.announced.messages()

    def data(self, since=0):
        """Messages about files of the data folder (a fileOp, such as a folder's, left
        out), from the index since on."""
        prefix = self.site.rel("data", "")
        return [m for m in self.all()[since:]
                if m.get("relPath", "").lstrip("/").startswith(prefix) and "fileOp" not in m]

    def fence(self, timeout=TIMEOUT):
        """A new file in the fence folder, once a poll has announced it."""
        self.site.fences += 1
        name = f"f{self.site.fences:03d}"
        path = self.site.fence_dir / name
        path.write_text(f"{name}\n")
        path.chmod(0o644)
        rel = self.site.rel("fence", name)
        ok = wait_until(lambda: any(m.get("relPath", "").lstrip("/") == rel
                                    for m in self.all()), timeout)
        assert ok, f"fence {rel} never announced; got {[m.get('relPath') for m in self.all()]}"

    def settle(self):
        """Two fences: every change made before the call has been seen by a whole listing
        of the data folder, and what it announced is on the broker."""
        self.fence()
        self.fence()


def write_file(path, size, mtime, mode=0o644, seed=b""):
    """A file of size bytes with mtime (whole seconds) and mode. Under a Site's folder it is
    made whole in the Site's .staging folder (which no poll lists) and renamed into place,
    so that a poll running meanwhile never lists it half-made (another size, or the mtime
    of now before the one given), which would be a change to announce."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = next((d / STAGING for d in path.parents if (d / STAGING).is_dir()), None)
    tmp = path if stage is None else stage / f"{secrets.token_hex(4)}.{path.name}"
    block = (seed + path.name.encode() + b"\n") * (size // (len(path.name) + 1 + len(seed)) + 1)
    tmp.write_bytes(block[:size])
    tmp.chmod(mode)
    os.utime(tmp, (mtime, mtime))
    if tmp != path:
        os.rename(tmp, path)
    return path


def check_message(site, m, sub, name, local):
    """A message says what the listing shows of the file local: relPath, baseUrl, size (in
    bytes when the listing gives bytes, else the right one or none), mtime (to the second or the minute) and the cod
    identity. Returns the problems found (empty when none)."""
    problems = []
    st = os.stat(local)
    want_rel = site.rel(sub, name)
    if m.get("relPath", "").lstrip("/") != want_rel:
        problems.append(f"relPath {m.get('relPath')!r}, want {want_rel!r}")
    if m.get("baseUrl") != site.base_url:
        problems.append(f"{want_rel}: baseUrl {m.get('baseUrl')!r}, want {site.base_url!r}")
    if site.exact_size and m.get("size") != st.st_size:
        problems.append(f"{want_rel}: size {m.get('size')!r}, want {st.st_size}")
    elif m.get("size") not in (None, st.st_size):  # a size the page rounds is no size
        problems.append(f"{want_rel}: size {m.get('size')!r}, want {st.st_size} or none")
    if "mtime" not in m:
        problems.append(f"{want_rel}: no mtime")
    else:
        got = int(v03_time(m["mtime"]))
        want = int(st.st_mtime)
        if got // site.mtime_step != want // site.mtime_step:
            problems.append(f"{want_rel}: mtime {m['mtime']} ({got}), want {want} "
                            f"(to {site.mtime_step} s)")
    if m.get("identity") != IDENTITY_COD:
        problems.append(f"{want_rel}: identity {m.get('identity')!r}, want {IDENTITY_COD}")
    return problems
