#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/move.py: the components that move data, sr_subscribe over http and sr_sender over
sftp, as real executables against private servers, beside curl and scp in the same run.

    SR_BUILD=build bench/move.py      (make bench-move)

subscribe  SR_BENCH_MOVE_FILES (5000) files of 0 to 4 KiB in nested folders, in the tree of
           a private nginx (test/integration/fixtures_web.py), announced once by sr_post
           (post_baseUrl the nginx, post_baseDir its root) to a private RabbitMQ, before
           any run: each run has a config of its own whose queue was declared and bound
           before the post (`sr declare`, which saves the queue name the instances share,
           as instance 1 would), so nothing is lost. Then sr_subscribe with 1 instance,
           and in a run of its own with 4 (`sr_subscribe instance N CONFIG`, N = 1..4, one
           queue), timed from the start of the subscribers until every file is in the
           destination tree under its final name (inflight .tmp, mirror on).
           Reference: one curl process fetching the same URLs one after the other over one
           kept-alive connection (`curl -sf -K FILE`, a `url =` / `output =` pair a file).
           Peer: Python sr3's subscribe (../shared/peers, the instance process `sr3
           foreground` would start, a HOME of its own), SR_BENCH_MOVE_SR3_RUNS (1) runs, 0
           skips it; being slow it gets the files of the first SR_BENCH_MOVE_SR3_FOLDERS (2)
           top folders (move/d0, move/d1: its subtopics), from a queue of its own filled by
           the same post; timed until those files are in its destination.
sender     SR_BENCH_SEND_FILES (2000) files of 0 to 4 KiB in nested folders, announced once
           by sr_post (post_baseUrl file:) into queues declared and bound before, then
           sent by sr_sender with 1 instance, and 4, to a private sshd
           (test/integration/fixtures_ssh.py) named by the `Host cluster` alias of a
           private ~/.ssh/config, timed from the start of the senders until every file is
           on the remote side under its final name.
           Reference: `scp -r` of the same folder, one connection (OpenSSH 9 speaks the sftp
           protocol for scp).

Figures: files/s of each (the queue is full before the start, so the post is not timed),
the ratios sr/curl and sr/scp (the median of the runs' ratios), the client side's CPU per
file (user + system of the instances, or of curl, or of scp and its ssh, from wait4: less
at the mercy of a busy machine than the wall clock; sr_subscribe's includes the sha512 it
computes of each file, and both take messages from the broker and ack them), each
instance's peak RSS (VmHWM, polled) and the largest private part of it (RssAnon: the rest
is mostly shared libraries, mapped once for all instances), the files each of 4 instances
moved, and the connections used (nginx's access log, sshd's logins). Every copy is
compared with its original. The median of SR_BENCH_RUNS (3) runs, sr and the reference
alternating. Each run writes a tree of its own, none removed before the end: on ext4 a
tree removed makes the next minutes' file creations dearer (the allocator steps over each
inode freed recently), which would charge one run for another's clean-up. The data and
the servers live under a new folder of the build folder, removed at the end.
SR_BENCH_MOVE_PARTS ("subscribe sender") runs a part; SR_BENCH_MOVE_DEST puts the
subscribers' and curl's trees in a new folder there (a tmpfs: without the file system's
own noise, which a busy shared disk adds to both sides). Exit status 1 when something fails (a file missing or differing, a
process dying), with the tail of the log concerned.

A build whose `sr` has no `declare` verb gets each queue from its instance 1 run alone
until it has connected, then stopped, before the post (the header says which).
"""
import contextlib
import filecmp
import importlib.util
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import (REPO, PeakRss, build_dir, describe, env_int, machine,  # noqa: E402
                    median, need, start_brokers, tail)

# fixtures_web and fixtures_ssh are pytest plugins; their server classes need nothing of
# pytest but the decorator, so a stand-in does when pytest is not installed.
if importlib.util.find_spec("pytest") is None:
    sys.modules["pytest"] = types.SimpleNamespace(
        fixture=lambda *a, **k: (lambda f: f) if not a or not callable(a[0]) else a[0])

from fixtures_ssh import SshHome, Sshd  # noqa: E402  (test/integration is on sys.path)
from fixtures_web import NGINX, Nginx  # noqa: E402
from servers import ServerError  # noqa: E402

PEERS = REPO.parent / "shared" / "peers"
SR3_LIB = PEERS / "sarracenia"
SR3_INSTANCE = SR3_LIB / "sarracenia" / "instance.py"
PYTHON3 = "/usr/bin/python3"  # the one sr3's own bin/sr3 runs
TIMEOUT = 120  # seconds one step may take before the benchmark is called failed
STALL = 30     # seconds without a file moved before the components are called stuck
POLL = 0.05    # seconds between two looks at the logs while the files move


class BenchError(RuntimeError):
    """A step failed: the message says which, with the tail of its log."""


def machine_ticks():
    """(busy, all) clock ticks of every CPU so far (/proc/stat): the machine's load over
    a run, whoever caused it."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_since(mark):
    """The fraction of the machine's CPU time busy since mark (machine_ticks())."""
    busy, total = machine_ticks()
    return (busy - mark[0]) / max(1, total - mark[1])


def first_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text else "?"


def make_tree(root, count, seed):
    """count files of 0 to 4 KiB in folders up to three deep (d0..d9), as bench/flow.py
    makes them; returns their paths relative to root."""
    rng = random.Random(seed)
    rels = []
    for i in range(count):
        folders = [f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 3))]
        rel = "/".join(folders + [f"f{i:05d}.dat"])
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 4096)))
        rels.append(rel)
    return rels


def tree_files(root):
    """Every file below root, as paths relative to it (a set)."""
    found = set()
    for folder, _, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        for name in names:
            found.add(name if rel == "." else f"{rel}/{name}")
    return found


def reap(proc, timeout):
    """(exit status, CPU seconds) of proc once it ends: Popen.wait with the rusage of
    wait4, which Popen throws away (the process's own time and that of the children it
    waited for: scp's ssh). The seconds are None when proc was reaped elsewhere."""
    deadline = time.monotonic() + timeout
    while proc.returncode is None:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.005)
    return proc.poll(), None


class Instances:
    """The processes of one config (`sr_COMPONENT instance N NAME`, N = 1..count), each
    with its peak RSS polled, and what their logs say: .done() counts the lines holding
    `word` (a file moved) by reading only what each log gained since the last look."""

    def __init__(self, bench, component, name, count, word, env_for=None, peak_rss=True):
        # env_for(n): instance n's environment (default bench.env for all); peak_rss:
        # poll each one's peak RSS
        self.bench, self.component, self.name = bench, component, name
        self.word = word
        self.logs = [bench.log_path(component, name, n) for n in range(1, count + 1)]
        self.offsets = [0] * count
        self.partial = [""] * count
        self.counts = [0] * count
        self.procs, self.peaks, self.errs = [], [], []
        exe = str(bench.bin / f"sr_{component}")
        for n in range(1, count + 1):
            err = open(bench.work / f"{component}_{name}_{n}.stderr", "w")
            proc = subprocess.Popen([exe, "instance", str(n), name],
                                    env=env_for(n) if env_for else bench.env,
                                    stdout=subprocess.DEVNULL, stderr=err)
            self.procs.append(proc)
            self.errs.append(err)
            if peak_rss:
                self.peaks.append(PeakRss(proc.pid))

    def done(self):
        for i, log in enumerate(self.logs):
            try:
                with open(log, "r", errors="replace") as f:
                    f.seek(self.offsets[i])
                    text = f.read()
                    self.offsets[i] = f.tell()
            except OSError:
                continue
            lines = (self.partial[i] + text).split("\n")
            self.partial[i] = lines.pop()  # a line not yet finished
            self.counts[i] += sum(1 for line in lines if self.word in line)
        return sum(self.counts)

    def check_alive(self):
        for n, proc in enumerate(self.procs, 1):
            if proc.poll() is not None:
                raise BenchError(f"sr_{self.component} {self.name} instance {n} died (exit "
                                 f"{proc.returncode})\n{self.tails(n)}")

    def tails(self, n=None):
        which = range(1, len(self.procs) + 1) if n is None else [n]
        out = []
        for k in which:
            log = self.logs[k - 1]
            # a failed file's ERROR is often far above the last lines: those first
            try:
                bad = [line for line in Path(log).read_text(errors="replace").splitlines()
                       if "[ERROR]" in line or "[WARNING]" in line or "[CRITICAL]" in line]
            except OSError:
                bad = []
            if bad:
                out.append(f"--- {log}: its last errors and warnings\n" + "\n".join(bad[-5:]))
            out.append(f"--- {log}\n{tail(log)}")
            err = self.bench.work / f"{self.component}_{self.name}_{k}.stderr"
            if err.exists() and err.stat().st_size:
                out.append(f"--- its stderr\n{tail(err)}")
        return "\n".join(out)

    def stop(self):
        """SIGTERM each, wait; an instance that ignores it is killed and called failed."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        bad = []
        self.cpu = 0.0
        for n, proc in enumerate(self.procs, 1):
            try:
                rc, cpu = reap(proc, 30)
                self.cpu += cpu or 0.0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = "killed: SIGTERM ignored for 30 s"
            if rc != 0:
                bad.append(f"instance {n}: exit {rc}")
        for err in self.errs:
            err.close()
        for peak in self.peaks:
            peak.join()
        if bad:
            raise BenchError(f"sr_{self.component} {self.name} stopped badly: "
                             f"{', '.join(bad)}\n{self.tails()}")

    def errors(self):
        n = 0
        for log in self.logs:
            try:
                n += sum(1 for line in Path(log).read_text(errors="replace").splitlines()
                         if "ERROR" in line)
            except OSError:
                pass
        return n


class Bench:
    """The build's programs, a private HOME for sr (its ~/.ssh holding the `cluster`
    alias of the sshd), and the servers."""

    def __init__(self, work, rabbit, nginx, sshd):
        b = build_dir()
        self.bin = b / "bin"
        self.tool = need(b / "test" / "tools" / "sr_broker_tool")
        for exe in ("sr", "sr_post", "sr_subscribe", "sr_sender"):
            need(self.bin / exe)
        self.work, self.rabbit, self.nginx, self.sshd = work, rabbit, nginx, sshd
        home = work / "home"
        env = dict(os.environ)
        for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "SSH_AUTH_SOCK"):
            env.pop(var, None)
        env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "SR_CONFD": str(REPO / "conf.d")})
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            Path(env[var]).mkdir(parents=True, exist_ok=True)
        self.env = env
        self.ssh_home = SshHome(home, sshd)
        # `sr declare` makes each config's queue as its instance 1 would; a build without
        # it has instance 1 run alone first (Bench.first_instance)
        r = subprocess.run([str(self.bin / "sr"), "--help"], capture_output=True, text=True)
        self.has_declare = re.search(r"^\s+declare\s", r.stdout + r.stderr, re.M) is not None

    def config(self, component, name, text):
        d = Path(self.env["XDG_CONFIG_HOME"]) / "sr" / component
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.conf").write_text(text)

    def log_path(self, component, name, n):
        return Path(self.env["XDG_CACHE_HOME"]) / "sr" / "log" / f"{component}_{name}_{n:02d}.log"

    def run(self, argv, what, **kw):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)
        if r.returncode != 0:
            raise BenchError(f"{what}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r

    def announce(self, component, names, post_url, post_dir, tree, n, before_post=None):
        """One exchange, and each config's queue declared and bound to it (`sr declare`,
        which also saves the queue name every instance of the config reads), then
        before_post() when given (sr3's queue), then one sr_post of the tree: n messages
        wait in each queue when this returns."""
        url = self.rabbit.url("tfeed")
        exchange = f"xs_bench_{component}"
        self.run([self.tool, "publish", url, exchange, "v03.declare"],
                 f"declaring {exchange}", input="")
        for name in names:
            if self.has_declare:
                self.run([str(self.bin / "sr"), "declare", f"{component}/{name}"],
                         env=self.env, what=f"sr declare {component}/{name}")
            else:
                self.first_instance(component, name)
        if before_post is not None:
            before_post()
        self.config("post", component, f"post_broker {url}\npost_exchange {exchange}\n"
                    f"post_baseUrl {post_url}\npost_baseDir {post_dir}\n")
        r = self.run([str(self.bin / "sr_post"), "-c", component, str(tree)], env=self.env,
                     what=f"sr_post of {tree}")
        posted = (r.stdout + r.stderr).count("posted ")
        if posted != n:
            raise BenchError(f"sr_post posted {posted} of {n} files\n{r.stderr[-2000:]}")
        return exchange

    def first_instance(self, component, name):
        """Without `sr declare`: instance 1 alone, started until it has connected (its
        queue then declared, bound and its name saved for the others) and stopped."""
        log = self.log_path(component, name, 1)
        inst = Instances(self, component, name, 1, "connected to")
        deadline = time.monotonic() + 30
        try:
            while inst.done() == 0:
                inst.check_alive()
                if time.monotonic() > deadline:
                    raise BenchError(f"sr_{component} {name} did not connect\n{tail(log)}")
                time.sleep(POLL)
            time.sleep(0.5)  # the queue is bound right after connecting
        finally:
            inst.stop()
        log.rename(log.with_suffix(".declare"))

    def move(self, component, name, count, word, src, dest, rels):
        """Start `count` instances and wait until every file of rels is under dest with
        its final name, then compare each with its original under src. (seconds from the
        start, [peak RSS KiB per instance], [files per instance], CPU seconds of all the
        instances, ERROR lines in the logs)."""
        want = len(rels)
        t0 = time.monotonic()
        ticks = machine_ticks()
        inst = Instances(self, component, name, count, word)
        try:
            deadline = t0 + TIMEOUT
            last_walk = 0.0
            moved, last_move = 0, t0
            while True:
                now = time.monotonic()
                before, moved = moved, inst.done()
                if moved > before:
                    last_move = now
                # the logs say when to look at the tree; a full look now and then in
                # case a log line is late
                if moved >= want or now - last_walk > 2:
                    last_walk = now
                    if tree_files(dest) >= rels:
                        took = time.monotonic() - t0
                        self.busy = busy_since(ticks)
                        break
                inst.check_alive()
                if now > deadline or now - last_move > STALL:
                    have = tree_files(dest)
                    missing = sorted(rels - have)
                    why = (f"after {TIMEOUT} s" if now > deadline else
                           f"and none moved in the last {STALL} s")
                    raise BenchError(
                        f"sr_{component} {name}: {len(missing)} of {want} files missing "
                        f"{why} (e.g. {', '.join(missing[:3])}; the logs say {moved} moved)"
                        f"\n{inst.tails()}")
                time.sleep(POLL)
        except BaseException:
            with contextlib.suppress(BenchError):
                inst.stop()
            raise
        inst.stop()
        inst.done()
        left = [p for p in tree_files(dest) if p.endswith(".tmp")]
        if left:
            raise BenchError(f"sr_{component} {name}: {len(left)} inflight files left, e.g. "
                             f"{left[0]}\n{inst.tails()}")
        for rel in sorted(rels):
            if not filecmp.cmp(src / rel, dest / rel, shallow=False):
                raise BenchError(f"sr_{component} {name}: {dest / rel} differs from "
                                 f"{src / rel}\n{inst.tails()}")
        return (took, [(p.kib, p.anon) for p in inst.peaks], list(inst.counts), inst.cpu,
                inst.errors())


class Sr3:
    """Python sr3's subscribe (../shared/peers), the instance process `sr3 foreground`
    would start, with a HOME of its own; None when the folder is absent."""

    @classmethod
    def make(cls, work):
        return cls(work) if SR3_INSTANCE.is_file() else None

    def __init__(self, work):
        self.work = work
        home = work / "home-sr3"
        self.conf = home / ".config" / "sr3"
        env = dict(os.environ)
        for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env.pop(var, None)
        env.update({"HOME": str(home), "PYTHONPATH": str(SR3_LIB),
                    "PYTHONDONTWRITEBYTECODE": "1"})
        self.env = env

    def config(self, component, name, text):
        d = self.conf / component
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.conf").write_text(text)

    def start(self, component, name, log):
        with open(log, "a") as out:
            return subprocess.Popen([PYTHON3, str(SR3_INSTANCE), "--no", "1", "foreground",
                                     f"{component}/{name}"], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    @staticmethod
    def stop(proc, log):
        """SIGTERM to its process group, SIGKILL after 30 s: (exit status, CPU seconds)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return reap(proc, 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise BenchError(f"sr3 ignored SIGTERM for 30 s\n{tail(log)}")

    def declare(self, component, name):
        """Started until its log says "binding" (its queue declared and bound, its name
        saved for the next start), then stopped."""
        log = self.work / f"sr3_{name}.declare.log"
        proc = self.start(component, name, log)
        deadline = time.monotonic() + 60
        while "binding" not in Path(log).read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(proc, log)
                raise BenchError(f"sr3 {component}/{name} did not bind its queue\n{tail(log)}")
            time.sleep(0.1)
        time.sleep(0.5)
        self.stop(proc, log)

    def move(self, component, name, src, dest, rels):
        """Start it, wait until every file of rels is under dest, stop it, compare:
        (seconds, CPU seconds, peak RSS KiB)."""
        log = self.work / f"sr3_{name}.log"
        t0 = time.monotonic()
        proc = self.start(component, name, log)
        peak = PeakRss(proc.pid)
        try:
            last, count = t0, 0
            while True:
                have = tree_files(dest)
                if have >= rels:
                    took = time.monotonic() - t0
                    break
                now = time.monotonic()
                if len(have) > count:
                    last, count = now, len(have)
                if proc.poll() is not None or now - last > STALL or now - t0 > 10 * TIMEOUT:
                    raise BenchError(f"sr3 {component}/{name}: {len(rels - have)} of "
                                     f"{len(rels)} files missing\n{tail(log)}")
                time.sleep(0.2)
        except BaseException:
            with contextlib.suppress(BenchError):
                self.stop(proc, log)
            raise
        rc, cpu = self.stop(proc, log)
        peak.join()
        if rc not in (0, -signal.SIGTERM):
            raise BenchError(f"sr3 {component}/{name} stopped with {rc}\n{tail(log)}")
        for rel in sorted(rels):
            if not filecmp.cmp(src / rel, dest / rel, shallow=False):
                raise BenchError(f"sr3 {component}/{name}: {dest / rel} differs from "
                                 f"{src / rel}\n{tail(log)}")
        return took, cpu or 0.0, peak.kib


def run_reference(argv, cpus, b, **kw):
    """Run the reference program to its end: (exit status, the end of its stderr); its
    CPU seconds go to cpus["ref"]."""
    with open(b.work / "reference.stderr", "w+") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, **kw)
        try:
            rc, cpu = reap(proc, TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        cpus["ref"].append(cpu or 0.0)
        err.seek(0)
        return rc, err.read()[-2000:]


def http_mark(nginx):
    """Where nginx's access log ends now."""
    try:
        return nginx.access_log.stat().st_size
    except OSError:
        return 0


def http_connections(nginx, mark):
    """The connections nginx served requests on since mark (its log's $connection)."""
    try:
        with open(nginx.access_log, "rb") as f:
            f.seek(mark)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return set()
    return {line.split(" ", 1)[0] for line in lines if line}


def rss_lines(rss):
    """rss: {instances: [[(VmHWM, RssAnon) KiB per instance] per run]} -> lines, the max
    over the runs."""
    out = []
    for count, runs in rss.items():
        worst = [max(run[i][0] for run in runs) for i in range(count)]
        anon = [max(run[i][1] for run in runs) for i in range(count)]
        each = ", ".join(f"#{i + 1} {k}" for i, k in enumerate(worst))
        out.append(f"  peak RSS, {count} instance{'s' if count > 1 else ''} (KiB, max of the "
                   f"runs): {each}; largest {max(worst) / 1024:.1f} MiB; private (RssAnon) "
                   f"at most {max(anon) / 1024:.1f} MiB")
    return out


def figures(label, exe, n, counts, t_sr, t_ref, ref_name, rss, shares, conns, cpus, errors):
    ref = [n / t for t in t_ref]
    print(label)
    for count in counts:
        ours = [n / t for t in t_sr[count]]
        ratio = median([x / y for x, y in zip(ours, ref)])
        name = f"{exe}, {count} instance{'s' if count > 1 else ''}"
        print(f"  {name:<46} {median(ours):8.1f} files/s  ratio sr/{ref_name.split()[0]} "
              f"{ratio:.2f}  ({median(t_sr[count]):.2f} s, CPU "
              f"{median(cpus[count]) * 1000 / n:.2f} ms/file)")
    print(f"  {ref_name:<46} {median(ref):8.1f} files/s  ({median(t_ref):.2f} s, CPU "
          f"{median(cpus['ref']) * 1000 / n:.2f} ms/file)")
    for line in rss_lines(rss):
        print(line)
    for count in counts:
        if count > 1:
            print(f"  files per instance with {count} (last run): "
                  f"{', '.join(str(k) for k in shares[count])}")
    print(f"  {conns.pop('what')} (last run): " +
          ", ".join(f"{k} instance{'s' if k > 1 else ''} {conns[k]}" for k in counts) +
          f", {ref_name.split(',')[0]} {conns['ref']}")
    if errors:
        print(f"  (ERROR lines in the sr logs: {errors}; see the logs)")
    sys.stdout.flush()


# ---- subscribe over http ----

def bench_subscribe(b, runs, counts):
    """The subscribe part; the destination trees under SR_BENCH_MOVE_DEST when set (a
    tmpfs takes the file system's own noise out of both sides), else the data folder."""
    where = os.environ.get("SR_BENCH_MOVE_DEST")
    if not where:
        return subscribe_into(b, runs, counts, b.work / "sub")
    dest_root = Path(tempfile.mkdtemp(prefix="bench-move-sub.", dir=where))
    try:
        return subscribe_into(b, runs, counts, dest_root)
    finally:
        shutil.rmtree(dest_root, ignore_errors=True)


def subscribe_into(b, runs, counts, dest_root):
    n = env_int("SR_BENCH_MOVE_FILES", 5000)
    sr3_runs = env_int("SR_BENCH_MOVE_SR3_RUNS", 1, 0)
    sr3_folders = env_int("SR_BENCH_MOVE_SR3_FOLDERS", 2, 1)
    curl = shutil.which("curl")
    if curl is None:
        raise BenchError("curl not found")
    tree = b.nginx.root / "move"
    rels = set(f"move/{r}" for r in make_tree(tree, n, seed=7))
    mean = sum((b.nginx.root / r).stat().st_size for r in rels) / n
    dest_root.mkdir(parents=True, exist_ok=True)
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(dest_root)], capture_output=True,
                        text=True).stdout.strip() or "?"
    print(f"dest:    {dest_root} ({fs})", flush=True)
    # Every run writes a tree of its own, all removed at the end: removing one between
    # runs makes the next run's file creations slower (ext4 steps over the inodes freed in
    # the last minutes, for each new one), and by how much depends on which run came after
    # which: no figure here pays for another's clean-up.
    # One curl, sequential, one kept-alive connection: a url/output pair per file.
    for r in range(runs):
        kfile = b.work / f"curl_r{r}.conf"
        kfile.write_text("".join(f'url = "{b.nginx.url("/" + p)}"\n'
                                 f'output = "{dest_root}/curl_r{r}/{p}"\n' for p in sorted(rels)))
    t_sr = {c: [] for c in counts}
    rss = {c: [] for c in counts}
    cpus = {c: [] for c in counts}
    cpus["ref"] = []
    shares, t_ref, errors = {}, [], 0
    conns = {}
    busy = {c: [] for c in (*counts, "ref")}
    # a config (and queue) for each run of each, all filled by one sr_post
    for r in range(runs):
        for count in counts:
            name = f"sub{count}_r{r}"
            b.config("subscribe", name, f"broker {b.rabbit.url('tsub')}\n"
                     f"exchange xs_bench_subscribe\nsubtopic #\ninstances {count}\n"
                     f"directory {dest_root / name}\nmirror on\ninflight .tmp\n")
    # sr3: the files of the first sr3_folders top folders (d0, d1...), by its subtopics
    sr3 = Sr3.make(b.work) if sr3_runs else None
    sr3_rels = set()
    if sr3 is not None:
        tops = [f"d{k}" for k in range(sr3_folders)]
        sr3_rels = {p for p in rels if p.count("/") > 1 and p.split("/")[1] in tops}
        for r in range(sr3_runs):
            sr3.config("subscribe", f"sr3_r{r}", f"broker {b.rabbit.url('tsub')}\n"
                       f"exchange xs_bench_subscribe\n"
                       + "".join(f"subtopic move.{t}.#\n" for t in tops) +
                       f"directory {dest_root / f'sr3_r{r}'}\nmirror on\ninflight .tmp\n")

    def sr3_queues():
        for r in range(sr3_runs if sr3 is not None else 0):
            sr3.declare("subscribe", f"sr3_r{r}")

    b.announce("subscribe", [f"sub{c}_r{r}" for r in range(runs) for c in counts],
               b.nginx.url("/"), b.nginx.root, tree, n, before_post=sr3_queues)
    s3 = []
    for r in range(runs):
        for count in counts:
            name = f"sub{count}_r{r}"
            dest = dest_root / name
            mark = http_mark(b.nginx)
            took, peaks, share, cpu, errs = b.move("subscribe", name, count, "downloaded ",
                                              b.nginx.root, dest, rels)
            busy[count].append(b.busy)
            conns[count] = len(http_connections(b.nginx, mark))
            t_sr[count].append(took)
            cpus[count].append(cpu)
            rss[count].append(peaks)
            shares[count] = share
            errors += errs
        dest = dest_root / f"curl_r{r}"
        mark = http_mark(b.nginx)
        t0 = time.monotonic()
        ticks = machine_ticks()
        rc, err = run_reference([curl, "-sf", "--create-dirs", "-K", str(b.work / f"curl_r{r}.conf")],
                                cpus, b)
        t_ref.append(time.monotonic() - t0)
        busy["ref"].append(busy_since(ticks))
        conns["ref"] = len(http_connections(b.nginx, mark))
        got = tree_files(dest)
        if rc != 0 or got != rels:
            raise BenchError(f"curl: exit {rc}, {len(got & rels)} of {n} files\n{err}")
        line = (f"  run {r + 1}: " + ", ".join(f"{k} instance(s) {n / t_sr[k][-1]:.0f} files/s "
                                              f"{cpus[k][-1] * 1000 / n:.2f} ms/file"
                                              for k in counts) +
                f", curl {n / t_ref[-1]:.0f} files/s {cpus['ref'][-1] * 1000 / n:.2f} ms/file")
        if sr3 is not None and r < sr3_runs:
            s3.append(sr3.move("subscribe", f"sr3_r{r}", b.nginx.root, dest_root / f"sr3_r{r}",
                               sr3_rels))
            line += f", sr3 {len(sr3_rels) / s3[-1][0]:.0f} files/s"
        print(line, file=sys.stderr, flush=True)
    figures(f"subscribe over http: {n} files of 0-4 KiB (mean {mean:.0f} bytes) queued before "
            f"the start, timed until all are in the destination under their final names",
            "sr_subscribe", n, counts, t_sr, t_ref,
            "curl -K, one process, one kept-alive connection", rss, shares,
            dict(conns, what="http connections nginx served"), cpus, errors)
    # what bounds more instances: a machine already busy with one has little left
    print("  machine CPU busy during the runs (all processes, all cores; median): " +
          ", ".join(f"{k} instance{'s' if k > 1 else ''} {median(busy[k]) * 100:.0f}%"
                    for k in counts) + f", curl -K {median(busy['ref']) * 100:.0f}%")
    if sr3 is None:
        print(f"  sr3: no sr3 at {SR3_LIB}: its figure is left out" if sr3_runs else
              "  sr3: left out (SR_BENCH_MOVE_SR3_RUNS=0)")
    else:
        m = len(sr3_rels)
        rate = median([m / t for t, _, _ in s3])
        one = median([n / t for t in t_sr[1]])
        print(f"  {'sr3 subscribe (Python), 1 instance':<46} {rate:8.1f} files/s  ratio sr/sr3 "
              f"{one / rate:.1f}  ({median([t for t, _, _ in s3]):.2f} s, CPU "
              f"{median([c for _, c, _ in s3]) * 1000 / m:.2f} ms/file; peak RSS "
              f"{max(k for _, _, k in s3)} KiB; {len(s3)} run(s) of the {m} files in "
              f"{', '.join(f'move/d{k}' for k in range(sr3_folders))}, being slow)")
        print(f"  ratio sr/sr3: sr_subscribe's 1-instance files/s over sr3's; CPU per file "
              f"sr/sr3 {median(cpus[1]) / n / (median([c for _, c, _ in s3]) / m):.2f}")
    sys.stdout.flush()


# ---- sender over sftp ----

def bench_sender(b, runs, counts):
    n = env_int("SR_BENCH_SEND_FILES", 2000)
    scp = shutil.which("scp")
    if scp is None:
        raise BenchError("scp not found")
    hot = b.work / "hot"
    rels = set(make_tree(hot, n, seed=11))
    mean = sum((hot / r).stat().st_size for r in rels) / n
    home = b.ssh_home
    t_sr = {c: [] for c in counts}
    rss = {c: [] for c in counts}
    cpus = {c: [] for c in counts}
    cpus["ref"] = []
    shares, t_ref, errors = {}, [], 0
    conns = {}
    for r in range(runs):
        for count in counts:
            # sftp paths are relative to the login folder, as in sr3; the cluster's
            # incoming folder exists, its subfolders are the sender's to make
            name = f"send{count}_r{r}"
            (b.sshd.root / name).mkdir()
            b.config("sender", name, f"broker {b.rabbit.url('tfeed')}\n"
                     f"exchange xs_bench_sender\nsubtopic #\ninstances {count}\n"
                     f"baseDir {hot}\nsendTo {home.alias_url}\ndirectory {name}\n"
                     f"mirror on\ninflight .tmp\n")
    b.announce("sender", [f"send{c}_r{r}" for r in range(runs) for c in counts],
               f"file:{hot}", hot, hot, n)
    for r in range(runs):
        for count in counts:
            name = f"send{count}_r{r}"
            remote = b.sshd.root / name
            logins = b.sshd.accepted()
            took, peaks, share, cpu, errs = b.move("sender", name, count, "sent ", hot, remote,
                                              rels)
            conns[count] = b.sshd.accepted() - logins
            t_sr[count].append(took)
            cpus[count].append(cpu)
            rss[count].append(peaks)
            shares[count] = share
            errors += errs
        # kept to the end, as the subscriber's trees (bench_subscribe says why)
        remote = b.sshd.root / f"scp_r{r}"
        logins = b.sshd.accepted()
        t0 = time.monotonic()
        rc, err = run_reference([scp, "-q", "-r", *home.ssh_options(), "-o",
                                 "IdentitiesOnly=yes", str(hot), f"{home.ALIAS}:{remote}"],
                                cpus, b, env=home.env())
        t_ref.append(time.monotonic() - t0)
        conns["ref"] = b.sshd.accepted() - logins
        got = tree_files(remote)
        if rc != 0 or got != rels:
            raise BenchError(f"scp: exit {rc}, {len(got & rels)} of {n} files\n{err}")
        print(f"  run {r + 1}: " + ", ".join(f"{k} instance(s) {n / t_sr[k][-1]:.0f} files/s"
                                              for k in counts) +
              f", scp -r {n / t_ref[-1]:.0f} files/s", file=sys.stderr, flush=True)
    figures(f"sender over sftp: {n} files of 0-4 KiB (mean {mean:.0f} bytes) queued before the "
            f"start, timed until all are on the remote side under their final names",
            "sr_sender", n, counts, t_sr, t_ref, "scp -r, one connection (sftp protocol)",
            rss, shares, dict(conns, what="ssh logins sshd accepted"), cpus, errors)


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    counts = (1, 4)
    print(machine(), flush=True)
    base = Path(tempfile.mkdtemp(prefix="bench-move.", dir=build_dir()))
    nginx, sshd = Nginx(base / "nginx"), Sshd(base / "sshd")
    try:
        with start_brokers(amqp=True, mqtt=False) as (rabbit, _, _):
            nginx.start()
            sshd.start()
            print(describe(rabbit))
            print(f"server:  {first_line([NGINX, '-v'])} on 127.0.0.1:{nginx.port}, "
                  f"keepalive_requests 1000000")
            print(f"server:  {first_line(['ssh', '-V'])} sshd on 127.0.0.1:{sshd.port}, "
                  f"internal-sftp")
            print(f"curl:    {first_line(['curl', '--version'])}")
            print(f"figures: median of {runs} runs, sr and the reference alternating; data "
                  f"in {base}", flush=True)
            b = Bench(base, rabbit, nginx, sshd)
            print("queues:  one per config and run, declared and bound before the post by "
                  + ("`sr declare`" if b.has_declare else "its instance 1 run alone until "
                     "connected (this `sr` has no declare)"), flush=True)
            parts = os.environ.get("SR_BENCH_MOVE_PARTS", "subscribe sender").split()
            if "subscribe" in parts:
                bench_subscribe(b, runs, counts)
            if "sender" in parts:
                bench_sender(b, runs, counts)
        return 0
    except (ServerError, BenchError, OSError, subprocess.TimeoutExpired) as err:
        print(f"bench/move.py: {err}", file=sys.stderr)
        return 1
    finally:
        sshd.stop()
        nginx.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
