# SPDX-License-Identifier: GPL-2.0-only
"""The flow test (issue 9): a whole pump on one machine, clean and under faults.

The pump is test/flow/ (its README.rst draws it): two sr_watch over one source tree (an
active/active pair) -> RabbitMQ -> sr_winnow -> sr_sarra x2 (downloads from the source's
nginx, announces again with its own nginx) -> sr_shovel to Mosquitto -> sr_subscribe
(one instance, downloads over http from the pump's nginx); sr_sender x2 consumes the
pump's announcements on RabbitMQ, reads the pump's tree and puts over sftp to the test
sshd, the "cluster". The configs are copied as they are into
SR_CONFIG_DIR; the test sets their ${FLOW_*} variables in the environment of `sr start`
and writes credentials.conf. `sr stop` ends it.

The work, in two phases so that what each tree must hold is known:
  1. N files of random sizes (most small, a few of MiB, up to 20 MiB) in a tree of
     folders, one in four written as NAME.tmp then renamed; wait until every hop has
     them all.
  2. Deletions, renames (in place and to another folder), a whole folder removed with
     what it holds, a new folder with new files; wait until every hop agrees again.
One fault scenario runs through both phases (class Fault), chosen by a seed printed in
the output: RabbitMQ restarted 3 times; Mosquitto restarted 3 times; kill -9 of a random
instance every 3 s with `sr sanity` every 6 s, as cron would run it; sshd stopped for
20 s (30 s in the long form); both nginx answering 503 to 10% of requests; the
subscriber's tree on an 8 MiB tmpfs that fills, grown 15 s later. SR_FLOW_SEED=<seed>
replays a run, SR_FLOW_FAULT=<name> picks the fault (or "none"), SR_FLOW_ALL=1 is the
long form, every fault in turn unless SR_FLOW_FAULT names one (`make flowtest`,
mk/flowtest.mk), SR_FLOW_N sets N (300; 3000 in the long form, with three files of
200 MiB). A failure prints the line that replays it. Root is needed for the tmpfs.

What passes: every tree (pump, subscriber, cluster) holds exactly the source's files
with identical sha256, no NAME.tmp left, no folder that was removed; the messages each
hop published (read back from observer queues the test binds before the start: the
watches' exchange, the winnow's, the pump's and the MQTT topic) hold every announcement
the workload calls for (file, mkdir, rename, remove, rmdir), each once downstream of
the winnow (no duplicate, but for what an instance killed or cut off by a broker
restart had published and not yet acknowledged: it comes again and is published again,
at most a prefetch per interruption), nothing else; the files each component moved,
from its log and its metrics files, match the announcements; no message dropped ("not
retried"); the retry queues empty at the end (`sr status --json`). A table hop /
expected / got / missing / extra / duplicated is printed either way, and the failure
names the hop and the files.
"""
import base64
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fixtures_ssh import SshHome
from fixtures_web import Nginx
from servers import port_open
from helpers import sha256_file, snapshot_tree, wait_until

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "test" / "flow"
CONFIGS = {  # config -> instances, as test/flow/ has them
    "watch/ha1": 1, "watch/ha2": 1, "winnow/ha": 1, "sarra/pump": 2, "shovel/tomqtt": 1,
    "subscribe/end": 1, "sender/tocluster": 2}
FAULTS = ("rabbitmq", "mosquitto", "kill", "sshd", "nginx503", "diskfull")
LONG = os.environ.get("SR_FLOW_ALL") == "1"
N = int(os.environ.get("SR_FLOW_N") or (3000 if LONG else 300))
SSHD_DOWN = float(os.environ.get("SR_FLOW_SSHD_DOWN") or (30 if LONG else 20))
PHASE_TIMEOUT = 900 if LONG else 300  # per phase; a loaded machine may take many times longer
# Phase 1 is written over this many seconds, so that the faults meet files on the move.
SPREAD = float(os.environ.get("SR_FLOW_SPREAD") or (120 if LONG else 30))


def seed_and_faults():
    seed = int(os.environ.get("SR_FLOW_SEED") or secrets.randbelow(1 << 31))
    fault = os.environ.get("SR_FLOW_FAULT")
    if LONG and not fault:
        return [(seed + i, f) for i, f in enumerate(FAULTS)]
    fault = fault or FAULTS[seed % len(FAULTS)]
    assert fault in FAULTS + ("none",), f"SR_FLOW_FAULT={fault}: one of {FAULTS} or none"
    return [(seed, fault)]


# ---- helpers ----

_SUMS = {}  # (path, size, mtime_ns) -> sha256: a tree is looked at every second


def cached_sha256(p):
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SUMS:
        _SUMS[key] = sha256_file(p)
    return _SUMS[key]


def tree(root, sums=True):
    """(files {relPath: sha256}, folders {relPath}) under root, as a running pump leaves it
    at this moment (helpers.snapshot_tree: what goes while we look is left out); the
    in-progress names are in (the test reports any left at the end). sums=False gives
    sizes instead of checksums (cheap)."""
    return snapshot_tree(root, read=cached_sha256 if sums else (lambda p: p.stat().st_size),
                         partial=True, folders=True)


def message_key(m):
    """What one announcement says: (op, relPath[, detail]); two messages with the same key
    announce the same thing (the pubTime and the baseUrl aside)."""
    op = m.get("fileOp") or {}
    rel = m.get("relPath", "?")
    if "rename" in op:
        return ("rename", rel, op["rename"])
    if "remove" in op:
        return ("rmdir" if "directory" in op else "remove", rel)
    if "directory" in op:
        return ("mkdir", rel)
    if "link" in op:
        return ("link", rel)
    ident = m.get("identity") or {}
    return ("file", rel, ident.get("value", m.get("size")))


class Observer:
    """A queue of our own bound to one hop's output before the flow starts; read out at
    the end (it survives broker restarts: a durable AMQP queue, a persistent MQTT
    session)."""

    def __init__(self, tool, url, name, bind, mqtt=False):
        self.tool, self.url, self.name = tool, url, name
        self.args = ["--queue", name, "--bind", bind, "--expire", "7200", "--prefetch", "1000"]
        if mqtt:
            self.args += ["--client-id", name]
        r = subprocess.run([tool, "consume", url, *self.args, "--timeout", "0.2"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "subscribed" in r.stdout, (name, r.stdout, r.stderr)
        self.messages = []

    def drain(self):
        r = subprocess.run([self.tool, "consume", self.url, *self.args, "--timeout", "3"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (self.name, r.stderr)
        for line in r.stdout.splitlines():
            doc = json.loads(line) if line.strip() else {}
            if "body" in doc:
                self.messages.append(json.loads(doc["body"]))
        return self.messages

    def keys(self):
        counts = {}
        for m in self.messages:
            k = message_key(m)
            counts[k] = counts.get(k, 0) + 1
        return counts


# ---- the workload ----

def make_data(rng, size, salt, block):
    head = rng.randbytes(min(size, 64))
    if size <= 64:
        return head
    start = salt % (len(block) - 1)
    body = (block * (size // len(block) + 2))[start:start + size - len(head)]
    return head + body


def put(path, data, via_tmp):
    path.parent.mkdir(parents=True, exist_ok=True)
    if via_tmp:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.rename(tmp, path)
    else:
        path.write_bytes(data)


def sizes(rng, n, long):
    """Mostly small, some of hundreds of KiB, a few of MiB, 3 of 10-20 MiB (and 3 of
    200 MiB in the long form)."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.05:
            out.append(0)
        elif r < 0.85:
            out.append(rng.randint(1, 16 << 10))
        elif r < 0.97:
            out.append(rng.randint(16 << 10, 512 << 10))
        else:
            out.append(rng.randint(512 << 10, 3 << 20))
    for i in range(3):
        out[rng.randrange(n)] = rng.randint(10 << 20, 20 << 20)
    if long:
        for i in range(3):
            out[rng.randrange(n)] = 200 << 20
    return out


FOLDERS = ["", "a", "a/b", "a/b/c", "obs", "obs/1", "obs/2", "gone", "gone/deep", "radar"]


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def phase1(src, rng, n, long):
    """Writes the files; returns the announcements the watches must make (message_key)."""
    block = rng.randbytes(1048573)
    start = time.monotonic()
    want = {("mkdir", f) for f in FOLDERS if f}
    for i, size in enumerate(sizes(rng, n, long)):
        # paced: file i is written SPREAD * i / n seconds after the first
        time.sleep(max(0.0, start + SPREAD * i / n - time.monotonic()))
        folder = rng.choice(FOLDERS)
        rel = f"{folder}/f{i:05d}.dat" if folder else f"f{i:05d}.dat"
        data = make_data(rng, size, i * 7919, block)
        put(src / rel, data, via_tmp=(i % 4 == 0))
        want.add(("file", rel, sha512_b64(data)))
    return want


def phase2(src, rng, n):
    """Deletions, renames, a folder tree removed, a new folder: returns what it did and
    the announcements the watches must make for it."""
    block = rng.randbytes(65521)
    files = sorted(str(p.relative_to(src)) for p in src.rglob("*.dat")
                   if not str(p.relative_to(src)).startswith("gone"))
    rng.shuffle(files)
    k = max(3, n // 20)
    deleted, renamed = files[:k], files[k:2 * k]
    want = {("mkdir", "later"), ("mkdir", "later/x"), ("rmdir", "gone"), ("rmdir", "gone/deep")}
    for rel in deleted:
        (src / rel).unlink()
        want.add(("remove", rel))
    for j, rel in enumerate(renamed):
        if j % 2:
            to = rel[:-4] + ".renamed.dat"       # in place
        else:
            to = f"obs/moved_{Path(rel).name}"   # to another folder
        os.rename(src / rel, src / to)
        want.add(("rename", to, rel))
    want |= {("remove", str(p.relative_to(src))) for p in (src / "gone").rglob("*.dat")}
    shutil.rmtree(src / "gone")
    for i in range(max(3, n // 30)):
        rel = f"later/x/new{i:03d}.dat"
        data = make_data(rng, rng.randint(0, 40000), i, block)
        put(src / rel, data, via_tmp=bool(i % 2))
        want.add(("file", rel, sha512_b64(data)))
    return {"deleted": len(deleted), "renamed": len(renamed), "want": want}


# ---- the pump ----

class Pump:
    def __init__(self, tmp, rabbitmq, mosquitto, sshd, sr_bin, tool, fault):
        self.tmp, self.rabbitmq, self.mosquitto, self.sshd = tmp, rabbitmq, mosquitto, sshd
        self.sr_bin, self.tool, self.fault = sr_bin, tool, fault
        self.run = secrets.token_hex(3)
        fail = 10 if fault == "nginx503" else 0
        self.web_src = Nginx(tmp / "web_src", fail_percent=fail)
        self.web_pump = Nginx(tmp / "web_pump", fail_percent=fail)
        self.src = self.web_src.root
        self.pump = self.web_pump.root
        # The fixture's own folders (basic/, bearer/, norange/ for the transfer tests) are
        # not the workload's: a watch that posts what is there at start would announce them.
        for web in (self.web_src, self.web_pump):
            for sub in ("basic", "bearer", "norange"):
                (web.root / sub).rmdir()
        self.dest = tmp / "dest"
        self.dest.mkdir()
        self.mounted = False
        self.cluster = sshd.root / f"cluster_{self.run}"
        self.cluster.mkdir()
        self.config = tmp / "config"
        self.state = tmp / "state"
        self.home = SshHome(tmp / "home", sshd)
        self.events = []  # (seconds since start, what a fault did)
        self.t0 = time.monotonic()

    def note(self, text):
        self.events.append((time.monotonic() - self.t0, text))
        print(f"  [{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def start_servers(self):
        self.web_src.start()
        self.web_pump.start()
        if self.fault == "diskfull":
            # the subscriber's tree on a tmpfs smaller than the largest file
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "flowtmp", str(self.dest)],
                           check=True, capture_output=True, timeout=30)
            self.mounted = True

    def env(self):
        env = self.home.env()
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env.pop(var, None)
        env.update({
            "SR_CONFIG_DIR": str(self.config), "SR_STATE_DIR": str(self.state),
            "SR_CONFD": str(REPO / "conf.d"),
            "FLOW_RABBIT": f"{self.rabbitmq.host}:{self.rabbitmq.port}",
            "FLOW_MQTT": f"{self.mosquitto.host}:{self.mosquitto.port}",
            "FLOW_RUN": self.run,
            "FLOW_SRC": str(self.src), "FLOW_SRC_URL": self.web_src.url("/"),
            "FLOW_PUMP": str(self.pump), "FLOW_PUMP_URL": self.web_pump.url("/"),
            "FLOW_DEST": str(self.dest), "FLOW_CLUSTER": self.cluster.name,
        })
        return env

    def sr(self, *args, timeout=120):
        return subprocess.run([self.sr_bin("sr"), *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def write_configs(self):
        shutil.copytree(FLOW, self.config, ignore=shutil.ignore_patterns("*.rst"))
        creds = self.config / "credentials.conf"
        creds.write_text("".join(f"{url}\n" for url in (
            self.rabbitmq.url("tsource"), self.rabbitmq.url("tfeed"),
            self.mosquitto.url("tfeed"), self.mosquitto.url("tsub"))))
        creds.chmod(0o600)

    def exchanges(self):
        return {"watch": f"xs_tsource_flow{self.run}", "winnow": f"xflow{self.run}_winnowed",
                "sarra": f"xflow{self.run}_public"}

    def declare(self):
        """The exchanges before any queue binds to them, and the observers' queues."""
        for ex in self.exchanges().values():
            r = subprocess.run([self.tool, "publish", self.rabbitmq.url("tfeed"), ex,
                                "v03.declare"], input="", capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
        self.observers = {
            hop: Observer(self.tool, self.rabbitmq.url("tsub"),
                          f"q_tsub.flowobs.{hop}.{self.run}", f"{ex}:#")
            for hop, ex in self.exchanges().items()}
        self.observers["mqtt"] = Observer(
            self.tool, self.mosquitto.url("tsub"), f"flowobs_mqtt_{self.run}",
            f"xflow{self.run}:xflow{self.run}/#", mqtt=True)

    def log(self, config, n):
        component, name = config.split("/")
        p = self.state / "log" / f"{component}_{name}_{n:02d}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def logs(self, config):
        return "".join(self.log(config, n) for n in range(1, CONFIGS[config] + 1))

    def count(self, config, verb):
        """Lines "<config>_NN <verb> ..." in the instances' logs (kept across restarts)."""
        return len(re.findall(rf"\] {re.escape(config)}_\d\d {verb} ", self.logs(config)))

    def start(self):
        r = self.sr("start")
        assert r.returncode == 0, f"sr start: {r.returncode}\n{r.stdout}{r.stderr}"
        consumers = [c for c in CONFIGS if not c.startswith("watch/")]
        # "connected to" is logged once the queue is declared and bound (AMQP) or the
        # SUBACK came (MQTT): what is announced from then on reaches every hop
        ok = wait_until(lambda: all("connected to" in self.log(c, n) for c in consumers
                                    for n in range(1, CONFIGS[c] + 1)), 180, 0.2)
        assert ok, "not connected: " + ", ".join(
            f"{c}#{n}" for c in consumers for n in range(1, CONFIGS[c] + 1)
            if "connected to" not in self.log(c, n))

    def stop(self):
        return self.sr("stop", "--wait", "15", timeout=180)

    def cleanup(self):
        try:
            self.stop()
        finally:
            for web in (self.web_src, self.web_pump):
                web.stop()
            if self.mounted:
                subprocess.run(["umount", "-l", str(self.dest)], capture_output=True, timeout=30)

    # what each hop holds
    def trees(self):
        return {"pump (sarra)": tree(self.pump), "subscribe": tree(self.dest),
                "cluster (sender)": tree(self.cluster)}

    def converged(self, want):
        """Every tree holds exactly want's files (names and sizes first: cheap)."""
        sizes = {r: (self.src / r).stat().st_size for r in want if (self.src / r).exists()}
        for root in (self.pump, self.dest, self.cluster):
            if tree(root, sums=False)[0] != sizes:
                return False
        return all(files == want for files, _ in self.trees().values())

    def status(self):
        r = self.sr("status", "--json")
        return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}


# ---- faults: each runs in a thread from the first file until it is done ----

class Fault(threading.Thread):
    def __init__(self, pump, rng, long):
        super().__init__(daemon=True)
        self.pump, self.rng, self.long = pump, rng, long
        self.stop_flag = threading.Event()
        self.error = None
        self.killed = {}  # config: how many times one of its instances was killed
        # config: how many times one of its instances lost its connection in the middle of
        # a pass (killed, or its broker restarted under it)
        self.interrupted = {}

    def interrupt(self, configs, times=1):
        for c in configs:
            self.interrupted[c] = self.interrupted.get(c, 0) + times

    def run(self):
        try:
            getattr(self, "fault_" + self.pump.fault)()
        except Exception as err:  # reported by the test
            self.error = err

    def pause(self, seconds):
        return self.stop_flag.wait(seconds)

    def fault_rabbitmq(self):
        for i in range(3):
            if self.pause(6 if i else 3):
                return
            self.pump.note(f"RabbitMQ restart {i + 1}/3")
            self.pump.rabbitmq.restart()
            self.pump.note("RabbitMQ back")
            # every instance that consumes from RabbitMQ, and publishes what we observe
            for c in ("winnow/ha", "sarra/pump", "shovel/tomqtt"):
                self.interrupt([c], CONFIGS[c])

    def fault_mosquitto(self):
        for i in range(3):
            if self.pause(5 if i else 4):
                return
            self.pump.note(f"Mosquitto restart {i + 1}/3")
            self.pump.mosquitto.restart()
            self.pump.note("Mosquitto back")
            self.interrupt(["shovel/tomqtt"])  # its PUBACKs may be lost: it publishes again

    def fault_kill(self):
        """kill -9 of a random instance every 3 s, `sr sanity` every 6 s as cron would,
        for 60 s (long form: until told to stop)."""
        end = time.monotonic() + (10 ** 6 if self.long else 60)
        i = 0
        while time.monotonic() < end and not self.pause(3):
            pids = sorted(self.pump.state.glob("*/*/i*.pid"))
            if pids:
                victim = self.rng.choice(pids)
                config = f"{victim.parent.parent.name}/{victim.parent.name}"
                try:
                    pid = int(victim.read_text())
                    os.kill(pid, signal.SIGKILL)
                    self.killed[config] = self.killed.get(config, 0) + 1
                    self.interrupt([config])
                    self.pump.note(f"kill -9 {config} {victim.stem} (pid {pid})")
                except (OSError, ValueError):
                    pass
            i += 1
            if i % 2 == 0:
                r = self.pump.sr("sanity")
                self.pump.note("sr sanity: " + "; ".join(
                    l for l in r.stdout.splitlines() if "restarting" in l))
        self.pump.sr("sanity")
        self.pump.note("sr sanity (last)")

    def fault_sshd(self):
        if self.pause(3):
            return
        self.pump.note(f"sshd stopped for {SSHD_DOWN:.0f} s")
        self.pump.sshd.kill()
        self.pause(SSHD_DOWN)
        self.pump.sshd.restart()
        self.pump.note("sshd back")

    def fault_none(self):
        self.pump.note("no fault (SR_FLOW_FAULT=none)")

    def fault_nginx503(self):
        self.pump.note("both nginx answer 503 to 10% of requests, all along")

    def fault_diskfull(self):
        d = self.pump.dest
        full = wait_until(lambda: shutil.disk_usage(d).free < (1 << 20) or self.stop_flag.is_set(),
                          120, 0.2)
        self.pump.note(f"subscriber's tmpfs {'full' if full else 'never full'}: "
                       f"{shutil.disk_usage(d).free} bytes free")
        self.pause(15)
        subprocess.run(["mount", "-o", "remount,size=2g", str(d)], check=True,
                       capture_output=True, timeout=30)
        self.pump.note("tmpfs grown to 2 GiB: space freed")


# ---- the report ----

def hop_row(hop, expected, got_counts, dup_ok=False, may_extra=frozenset(), may_redo=0):
    """One hop's messages against what it should have published once each. dup_ok: any
    repeat is fine (two watches); may_redo: at most that many repeats are (what a killed
    publisher had published but not acknowledged, published again by its successor)."""
    got = set(got_counts)
    missing = sorted(expected - got)
    extra = sorted(got - expected - may_extra)
    dups = sorted(k for k, c in got_counts.items() if c > 1)
    repeats = sum(c - 1 for c in got_counts.values())
    return {"hop": hop, "expected": len(expected), "got": sum(got_counts.values()),
            "missing": missing, "extra": extra,
            "duplicated": [] if dup_ok or repeats <= may_redo else dups, "dups_seen": dups}


def tree_row(hop, want, files, dirs, gone_dirs):
    missing = sorted(set(want) - set(files))
    extra = sorted(set(files) - set(want)) + sorted(d + "/" for d in dirs & gone_dirs)
    differ = sorted(r for r in set(want) & set(files) if want[r] != files[r])
    return {"hop": hop, "expected": len(want), "got": len(files), "missing": missing,
            "extra": extra, "duplicated": [], "differ": differ}


def print_table(title, rows):
    print(f"\n{title}")
    print(f"  {'hop':<28} {'expected':>8} {'got':>8} {'missing':>8} {'extra':>8} "
          f"{'duplicated':>10}  differ")
    for r in rows:
        print(f"  {r['hop']:<28} {r['expected']:>8} {r['got']:>8} {len(r['missing']):>8} "
              f"{len(r['extra']):>8} {len(r['duplicated']):>10}  {len(r.get('differ', []))}")


def metric_sums(state):
    """{config: summed counters} over the instances' metrics files."""
    out = {}
    for p in (state / "metrics").glob("*.json"):
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        c = out.setdefault(f"{doc['component']}/{doc['config']}", {})
        for k, v in doc.get("counters", {}).items():
            c[k] = c.get(k, 0) + v
    return out


# ---- the test ----

@pytest.mark.parametrize("seed, fault", seed_and_faults(),
                         ids=lambda v: v if isinstance(v, str) else f"seed{v}")
def test_flow(seed, fault, rabbitmq, mosquitto, sshd, sr_bin, broker_tool, tmp_path):
    """The whole pump under one fault: every tree identical to the source, every hop's
    messages once each, the counts of the components consistent."""
    started = time.monotonic()
    replay = (f"SR_FLOW_SEED={seed} SR_FLOW_FAULT={fault}"
              + (f" SR_FLOW_ALL=1 SR_FLOW_N={N}" if LONG else ""))
    print(f"\nflow: seed {seed} ({replay} replays it), fault {fault}, "
          f"N={N}{' (long form)' if LONG else ''}")
    rng = random.Random(seed)
    pump = Pump(tmp_path, rabbitmq, mosquitto, sshd, sr_bin, broker_tool, fault)
    fault_thread = None
    try:
        pump.start_servers()
        pump.write_configs()
        pump.declare()
        pump.start()
        pump.note("pump started")
        fault_thread = Fault(pump, rng, LONG)
        fault_thread.start()

        announced = phase1(pump.src, rng, N, LONG)
        want1, _ = tree(pump.src)
        pump.note(f"phase 1: {len(want1)} files, "
                  f"{sum((pump.src / r).stat().st_size for r in want1) >> 20} MiB written")
        ok1 = wait_until(lambda: pump.converged(want1), PHASE_TIMEOUT, 1)
        pump.note(f"phase 1 {'arrived everywhere' if ok1 else 'NOT complete'}")
        if ok1:
            did = phase2(pump.src, rng, N)
            pump.note(f"phase 2: {did['deleted']} deleted, {did['renamed']} renamed, "
                      "gone/ removed, later/x/ made")
            announced |= did["want"]
        want, src_dirs = tree(pump.src)
        gone_dirs = {"gone", "gone/deep"} if ok1 else set()
        ok = ok1 and wait_until(lambda: pump.converged(want) and not any(
            dirs & gone_dirs for _, dirs in pump.trees().values()), PHASE_TIMEOUT, 1)
        pump.note(f"phase 2 {'arrived everywhere' if ok else 'NOT complete'}")
        fault_thread.stop_flag.set()
        fault_thread.join(timeout=120)
        if fault == "kill":
            # anything sanity restarted late catches up
            ok = wait_until(lambda: pump.converged(want), 120, 1)
        # Not a wait for a condition (the trees have converged, and what is checked below
        # is read after `sr stop`): a grace period in which a late duplicate, which would
        # be a failure, lands where the observers see it.
        time.sleep(3)

        def retry_queues():
            return {c["config"]: c["retry"] for c in pump.status().get("configs", [])
                    if c.get("retry")}
        # what a post retry queue holds (a broker that was away) goes out within seconds
        wait_until(lambda: not retry_queues(), 120, 1)
        status = pump.status()
        left_in_retry = retry_queues()
        r = pump.stop()
        pump.note(f"sr stop: exit {r.returncode}")
        assert r.returncode == 0, f"sr stop: {r.stdout}{r.stderr}"

        # ---- what each hop holds and published ----
        for hop, obs in pump.observers.items():
            obs.drain()
            # kept beside the logs for a look afterwards
            with open(tmp_path / f"observed_{hop}.jsonl", "w") as f:
                for m in obs.messages:
                    f.write(json.dumps(m) + "\n")
        keys = {hop: obs.keys() for hop, obs in pump.observers.items()}
        # what the watches announced, each from both (a killed one may miss some, the
        # other covers): set against what the workload did
        # At least once, not more: an instance killed, or cut off by a broker restart,
        # between publishing a pass and acknowledging its messages has them redelivered
        # (to its successor or to itself once reconnected), and publishes them again: at
        # most what the broker lets it hold unacked per interruption (sr(1), Brokers):
        # prefetch (25) for the winnow and the sarra, prefetch + postWindow (25 + 500)
        # for the shovel, which holds its posts awaiting confirms beyond prefetch;
        # otherwise exactly once. A hop relays the repeats of the hops before it.
        window = {"shovel/tomqtt": 25 + 500}

        def redo_allowed(*configs):
            return sum(window.get(c, 25) * fault_thread.interrupted.get(c, 0) for c in configs)

        # A watch restarted after a kill announces what it finds (post_on_start): a file
        # renamed before it came back is announced as the file it now is, not as a rename
        # (the winnow takes it as the rename's duplicate: both are keyed by the file).
        restarted_watch = any(c.startswith("watch/") for c in fault_thread.killed)
        may_extra = frozenset(
            ("file", k[1], sha512_b64((pump.src / k[1]).read_bytes()))
            for k in announced if restarted_watch and k[0] == "rename"
            and (pump.src / k[1]).is_file())
        rows = [hop_row("watch x2 -> RabbitMQ", announced, keys["watch"], dup_ok=True,
                        may_extra=may_extra),
                hop_row("winnow -> RabbitMQ", announced, keys["winnow"],
                        may_redo=redo_allowed("winnow/ha")),
                hop_row("sarra -> RabbitMQ", announced, keys["sarra"],
                        may_redo=redo_allowed("winnow/ha", "sarra/pump")),
                hop_row("shovel -> Mosquitto", announced, keys["mqtt"],
                        may_redo=redo_allowed("winnow/ha", "sarra/pump", "shovel/tomqtt"))]
        trees = pump.trees()
        tmp_left = {hop: sorted(r for r in files if r.endswith(".tmp"))
                    for hop, (files, _) in trees.items()}
        rows += [tree_row(hop, want, {r: s for r, s in files.items()}, dirs, gone_dirs)
                 for hop, (files, dirs) in trees.items()]

        # files moved, from the logs (across restarts) and the metrics files
        file_msgs = [k for k in keys["sarra"] if k[0] == "file"]
        nfiles = len(file_msgs)
        counted = {
            "sarra downloads": pump.count("sarra/pump", "downloaded"),
            "subscribe downloads": pump.count("subscribe/end", "downloaded"),
            "sender sends": pump.count("sender/tocluster", "sent"),
        }
        metrics = metric_sums(pump.state)
        killed = fault_thread.killed
        redone = {r["hop"]: len(r["dups_seen"]) for r in rows[1:4] if r["dups_seen"]}
        print_table(f"flow, fault {fault}, seed {seed}: messages by hop "
                    f"(the workload made {len(announced)} announcements, each from both "
                    "watches)", rows)
        if redone and not any(r["duplicated"] for r in rows[1:4]):
            print(f"\n  published again after an interruption (allowed): {redone}")
        print(f"\n  files moved (logs): {counted}, file announcements: {nfiles}")
        print("  metrics (summed over instances): " + "; ".join(
            f"{c}: rx {m.get('rxGoodCount')} tx {m.get('txGoodCount')} "
            f"files rx {m.get('transferRxFiles')} tx {m.get('transferTxFiles')}"
            for c, m in sorted(metrics.items())))
        print("  sr status --json: " + ", ".join(
            f"{c['config']} {c['state']} {c['running']}/{c['expected']} retry {c['retry']}"
            for c in status.get("configs", [])))
        elapsed = time.monotonic() - started
        print(f"  {elapsed:.0f} s in all")

        def by_op(keys):
            ops = {}
            for k in keys:
                op = k[0] if isinstance(k, tuple) else "file"
                ops[op] = ops.get(op, 0) + 1
            return ops

        def detail(row):
            return (f"{row['hop']}: missing {by_op(row['missing'])} {row['missing'][:5]}, "
                    f"extra {by_op(row['extra'])} {row['extra'][:5]}, duplicated "
                    f"{by_op(row['duplicated'])} {row['duplicated'][:5]}, "
                    f"differ {row.get('differ', [])[:5]}")

        bad = [r for r in rows if r["missing"] or r["extra"] or r["duplicated"]
               or r.get("differ")]
        problems = [detail(r) for r in bad]
        problems += [f"{hop}: inflight names left {names[:10]}"
                     for hop, names in tmp_left.items() if names]
        if not ok1:
            problems.append("phase 1 never arrived everywhere")
        if fault == "nginx503":
            # the fault happened: 503s in the access logs ("$connection $requests $status
            # $uri"), and every file still arrived
            answered = [l.split(" ")[2] for web in (pump.web_src, pump.web_pump)
                        for l in web.access_log.read_text().splitlines() if l.count(" ") >= 3]
            print(f"  nginx: {answered.count('503')} of {len(answered)} requests answered 503")
            if not answered.count("503"):
                problems.append("nginx never answered 503: the fault did not happen")
        if fault_thread.error is not None:
            problems.append(f"the fault itself failed: {fault_thread.error!r}")
        # each file announced by the pump is moved once by each of its consumers; a
        # killed instance may redo what it did not acknowledge
        if left_in_retry:
            problems.append(f"retry queues not empty at the end (sr status): {left_in_retry}")
        # a broker restart or a kill may have a few transfers redone (their acks lost)
        redo_ok = fault in ("kill", "rabbitmq", "mosquitto")
        for what, got in counted.items():
            if got != nfiles and not (redo_ok and got > nfiles):
                problems.append(f"{what}: {got} in the logs, {nfiles} file announcements")
        # the metrics of instances never killed count the same (housekeeping resets
        # them every 300 s: the short form is shorter than that)
        if not LONG:
            for config, counter, want_n in (
                    ("winnow/ha", "txGoodCount", sum(keys["winnow"].values())),
                    ("sarra/pump", "transferRxFiles", nfiles),
                    ("subscribe/end", "transferRxFiles", nfiles),
                    ("sender/tocluster", "transferTxFiles", nfiles)):
                if config in killed or redo_ok and counter != "txGoodCount":
                    continue
                got_n = metrics.get(config, {}).get(counter)
                if got_n != want_n:
                    problems.append(f"{config} metrics {counter}: {got_n}, expected {want_n}")
        for config in CONFIGS:
            for n in range(1, CONFIGS[config] + 1):
                for line in pump.log(config, n).splitlines():
                    if "not retried" in line:
                        problems.append(f"{config} #{n} dropped: {line}")
        if problems:
            print("\n  FAILED:\n  " + "\n  ".join(problems[:40]))
            logs = "\n".join(f"=== {c} ===\n{pump.logs(c)[-3000:]}" for c in CONFIGS)
            pytest.fail(f"flow, fault {fault}, seed {seed} ({replay} to replay):\n  "
                        + "\n  ".join(problems[:40])
                        + f"\n--- faults: {pump.events}\n--- logs (tails):\n{logs}")
    finally:
        if fault_thread is not None:
            fault_thread.stop_flag.set()
            fault_thread.join(timeout=120)
        if fault == "sshd" and not port_open(sshd.port):
            sshd.restart()
        pump.cleanup()
