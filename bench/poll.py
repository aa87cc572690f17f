#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/poll.py: listing and announcing a remote tree, sr_poll beside Python sr3's poll on
the same servers in the same run.

    SR_BUILD=build bench/poll.py      (make bench-poll)

The tree: SR_BENCH_POLL_FILES (100000) files of a few bytes in folders of 1000
(poll/d000/f000000 ...), served at once by three private servers on 127.0.0.1 whose roots
are the same folder: sshd with internal-sftp (test/integration/fixtures_ssh.py), pyftpdlib
(`ls -l` listings to LIST, as sr3's ftp poll asks) and nginx with autoindex
(test/integration/fixtures_web.py). A poll reads no file: each listing's names, sizes,
modes and dates make the messages.

Each poll, per protocol (sftp, ftp, http) and per run, has a config of its own (so a
fresh memory of what it saw), the same options on both sides: pollUrl the server, `path`
the tree's top folder, recursive (the default), `fileEvents create,modify` (a message per
file, none for the folders), `scheduled_interval 1h` (one listing, at start-up),
post_broker a private RabbitMQ and post_exchange an exchange of its own, to which a
durable queue was bound before the start. Everything else is each one's default: v03,
identity cod,sha512, a log line per message.

  sr      $SR_BUILD/bin/sr_poll foreground NAME
  sr3     the process `sr3 foreground poll/NAME` runs for the instance, started directly
          (python3 sarracenia/instance.py --no 0 foreground poll/NAME): the poll itself,
          without the 0.4 s of the sr3 command that would start it. sr3 is in ../shared/peers.

Rate: files announced per second, from the start of the process until the consumer of the
queue (bench/broker.c `count`, the clock of bench/flow.py) has the last message. Peak RSS:
VmHWM from /proc/PID/status once the last message is in, just before the process is
stopped (bench/broker.py PeakRss's last reading, polled, when it is already gone). CPU:
the user + system time the process had used by then (/proc/PID/stat): beside the wall
clock, it shows whether the poll or what it waits for (the server, the broker) sets the
pace. Once the poll is stopped its queue must be empty: n messages, no more, or the
benchmark fails. (No second queue keeps them to be read: a queue nobody reads makes the
broker store every message, which tripled sr's time here.)

The broker's data is on a tmpfs (/dev/shm) unless SR_BENCH_POLL_BROKER=disk (or there is
no tmpfs there): sr3 publishes each message in an AMQP transaction of its own, whose
commit waits for the broker's fsync; on a disk sr3's rate is the disk's fsync rate (about
300 a second on a virtual disk), whatever its poll does, and the ratio would measure the
disk. On a tmpfs both sides are bound by their own work. (bench-flow and bench-broker
measure what confirms cost on a disk.)

Goal (issue 17): sr_poll at least 10x sr3's rate with less than 20 MiB RSS, per protocol.

Runs: sr SR_BENCH_RUNS (3) times and sr3 SR_BENCH_POLL_SR3_RUNS (1) times per protocol,
alternating (sr3 after sr's first), the medians shown; the ratio is sr's median over
sr3's. sr3 is measured once by default because it is slow: 100000 files take it about a
minute over sftp or http and 4 over ftp (`ls -l` dates read by dateparser) on 2 cores,
and a whole run (3 protocols) about 8 minutes.
SR_BENCH_POLL_FILES=10000 makes a quick run; SR_BENCH_POLL_PROTOCOLS ("sftp ftp http")
picks protocols and SR_BENCH_POLL_SIDES ("sr sr3") the sides (one side alone prints no
ratio). The servers, the tree and the broker live under new folders, removed at the end.
Exit status 1 when something fails, with the tail of the log concerned.
"""
import contextlib
import importlib.util
import json
import os
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
                    median, need, tail)

# fixtures_web and fixtures_ssh are pytest plugins; their server classes need nothing of
# pytest but the decorator, so a stand-in does when pytest is not installed.
if importlib.util.find_spec("pytest") is None:
    sys.modules["pytest"] = types.SimpleNamespace(
        fixture=lambda *a, **k: (lambda f: f) if not a or not callable(a[0]) else a[0])

from fixtures_ssh import SshHome, Sshd  # noqa: E402  (test/integration is on sys.path)
from fixtures_web import NGINX, Ftpd, Nginx  # noqa: E402
from servers import RabbitMQ, ServerError  # noqa: E402

PEERS = REPO.parent / "shared" / "peers"
SR3_LIB = PEERS / "sarracenia"
SR3_INSTANCE = SR3_LIB / "sarracenia" / "instance.py"
PYTHON3 = "/usr/bin/python3"  # the one sr3's own bin/sr3 runs

PER_FOLDER = 1000
TOP = "poll"          # the tree's top folder under the servers' common root
PROTOCOLS = ("sftp", "ftp", "http")
SIDES = ("sr", "sr3")
TIMEOUT = 900         # seconds one poll may take, or stay silent, before it is called failed
GOAL_RATIO, GOAL_KIB = 10, 20 * 1024


class BenchError(RuntimeError):
    """A step failed: the message says which, with the tail of its log."""


def first_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text else "?"


def sr3_version():
    try:
        text = (SR3_LIB / "sarracenia" / "_version.py").read_text()
    except OSError:
        return "sr3 ?"
    m = re.search(r"__version__\s*=\s*[\"']([^\"']+)", text)
    return f"sr3 {m.group(1) if m else '?'}"


def words_env(name, allowed):
    """The words of environment variable name (all of allowed when unset), each one of
    allowed, in allowed's order; exits with a message naming the variable otherwise."""
    text = os.environ.get(name)
    if not text:
        return allowed
    words = text.replace(",", " ").split()
    bad = [w for w in words if w not in allowed]
    if bad or not words:
        sys.exit(f"{Path(sys.argv[0]).name}: {name}={text}: expected some of "
                 f"{' '.join(allowed)}")
    return tuple(w for w in allowed if w in words)


def make_tree(root, n):
    """n files of a few bytes (their own number) in folders of PER_FOLDER under root/TOP;
    returns the number of folders."""
    folders = (n + PER_FOLDER - 1) // PER_FOLDER
    for d in range(folders):
        folder = root / TOP / f"d{d:03d}"
        folder.mkdir(parents=True)
        for i in range(d * PER_FOLDER, min(n, (d + 1) * PER_FOLDER)):
            fd = os.open(folder / f"f{i:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"%d\n" % i)
            os.close(fd)
    return folders


def tmpfs(path):
    """path is the mount point of a tmpfs (/proc/mounts)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(m.split()[1:3] == [str(path), "tmpfs"] for m in mounts if len(m.split()) > 2)


@contextlib.contextmanager
def private_rabbit(where):
    """The harness's RabbitMQ (test/integration/servers.py) with its data in a new folder
    of where, stopped and the folder removed on the way out."""
    base = Path(tempfile.mkdtemp(prefix="bench-poll-broker.", dir=where))
    server = RabbitMQ(base / "rabbitmq")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def vmhwm(pid):
    """VmHWM of pid in KiB, or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_seconds(pid):
    """User + system CPU seconds pid has used so far (/proc/PID/stat), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def stop(proc, grace=30):
    """SIGTERM, then SIGKILL after grace seconds; the exit status, or a string saying it
    had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return f"killed: SIGTERM ignored for {grace} s"


class Bench:
    """The build's programs, a private HOME for each side (its ~/.ssh holding the sshd's
    key and known_hosts entry), the servers and the broker."""

    def __init__(self, work, rabbit, servers, sides):
        b = build_dir()
        self.tool = need(b / "test" / "tools" / "sr_broker_tool")
        self.counter_exe = need(b / "bench" / "broker")
        self.sr_poll = need(b / "bin" / "sr_poll") if "sr" in sides else None
        if "sr3" in sides and not SR3_INSTANCE.is_file():
            raise BenchError(f"{SR3_INSTANCE}: no sr3 to compare with (../shared/peers)")
        self.work, self.rabbit, self.servers = work, rabbit, servers
        self.url = rabbit.url("tfeed")
        sshd, ftpd = servers["sftp"], servers["ftp"]
        creds = f"{ftpd.credentials_line()}\n" if ftpd.started else ""
        self.homes, self.envs = {}, {}
        # a poll's v03 message is 300 to 350 bytes (baseUrl, relPath, times, size, mode,
        # identity); bench/flow.py's ceiling takes 300 at least too
        self.message_size = 300
        for side in sides:
            home = work / f"home-{side}"
            ssh_home = SshHome(home, sshd)
            env = dict(os.environ)
            for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "SSH_AUTH_SOCK", "XDG_CONFIG_HOME",
                        "XDG_CACHE_HOME"):
                env.pop(var, None)
            env.update({"HOME": str(home), "TZ": "UTC"})
            if side == "sr":
                env.update({"XDG_CONFIG_HOME": str(home / ".config"),
                            "XDG_CACHE_HOME": str(home / ".cache"),
                            "SR_CONFD": str(REPO / "conf.d")})
                confdir = home / ".config" / "sr"
            else:
                env.update({"PYTHONPATH": str(SR3_LIB), "PYTHONDONTWRITEBYTECODE": "1"})
                confdir = home / ".config" / "sr3"
            confdir.mkdir(parents=True, exist_ok=True)
            (confdir / "credentials.conf").write_text(creds)
            (confdir / "credentials.conf").chmod(0o600)
            self.homes[side] = (confdir, ssh_home)
            self.envs[side] = env

    def run(self, argv, what, **kw):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
        if r.returncode != 0:
            raise BenchError(f"{what}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r

    def poll_url(self, side, proto):
        """(pollUrl, path) of the tree. An sftp path is relative to the login folder
        (the servers' common root), as in sr3; ftp and http paths start at their root."""
        if proto == "sftp":
            return f"{self.homes[side][1].url}/", TOP
        return f"{self.servers[proto].url()}/", f"/{TOP}"

    def config(self, side, proto, name, exchange):
        """The poll's config: the same options on both sides."""
        url, path = self.poll_url(side, proto)
        text = (f"post_broker {self.url}\npost_exchange {exchange}\n"
                f"pollUrl {url}\npath {path}\n"
                f"fileEvents create,modify\nscheduled_interval 1h\n")
        d = self.homes[side][0] / "poll"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.conf").write_text(text)

    def declare(self, exchange, queues):
        """The exchange, and each queue durable, bound to it with # and empty."""
        self.run([self.tool, "publish", self.url, exchange, "v03.declare"],
                 f"declaring {exchange}", input="")
        for q in queues:
            self.run([self.tool, "consume", self.url, "--queue", q, "--bind",
                      f"{exchange}:#", "--timeout", "0.1"], f"declaring queue {q}")

    def start_counter(self, queue, n):
        proc = subprocess.Popen([self.counter_exe, "count", self.url, queue, str(n),
                                 str(TIMEOUT)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        if first.strip() != "ready":
            raise BenchError(f"counter on {queue}: {first}{proc.stderr.read()}")
        return proc

    def start_poll(self, side, name, log):
        if side == "sr":
            argv = [self.sr_poll, "foreground", name]
        else:
            argv = [PYTHON3, str(SR3_INSTANCE), "--no", "0", "foreground", f"poll/{name}"]
        out = open(log, "w")
        try:
            proc = subprocess.Popen(argv, env=self.envs[side], cwd=self.homes[side][1].path,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        return proc

    def log_text(self, side, name, log):
        """What the poll logged: its output, and its log file when it keeps one."""
        parts = [tail(log, 30)]
        cache = self.homes[side][1].path / ".cache" / ("sr" if side == "sr" else "sr3") / "log"
        for f in sorted(cache.glob(f"poll_{name}_*.log")):
            parts.append(f"--- {f}\n{tail(f, 30)}")
        return "\n".join(parts)

    def ceiling(self, n, size):
        """The broker's pace for n messages of size bytes (bench/broker.c ceiling: rabbitmq-c
        publish without confirms, then consume), as bench/flow.py measures it."""
        r = self.run([self.counter_exe, "ceiling", self.url, str(n), str(size)], "the ceiling")
        words = r.stdout.split()
        return {"publish": float(words[2]), "consume": float(words[4]), "size": size}

    def one(self, side, proto, r, n):
        """One poll of the tree: (files/s, peak RSS KiB, seconds, CPU seconds by then)."""
        tag = f"{proto}_{side}_{r}"
        name = f"bench_{tag}"
        exchange = f"xs_bench_poll_{tag}"
        queue = f"q_bench.poll.{tag}"
        self.declare(exchange, [queue])
        self.config(side, proto, name, exchange)
        counter = self.start_counter(queue, n)
        log = self.work / f"poll_{tag}.log"
        t0 = time.monotonic()
        proc = self.start_poll(side, name, log)
        peak = PeakRss(proc.pid)
        failed = None
        try:
            while counter.poll() is None:
                if proc.poll() is not None:
                    failed = f"the poll exited ({proc.returncode}) before announcing every file"
                    break
                if time.monotonic() - t0 > TIMEOUT:
                    failed = f"not every file announced after {TIMEOUT} s"
                    break
                time.sleep(0.05)
        finally:
            # the peak as the process reports it once the last message is in, before it
            # is asked to stop (PeakRss's last reading when it is already gone)
            kib = vmhwm(proc.pid) if proc.poll() is None else None
            cpu = cpu_seconds(proc.pid) if proc.poll() is None else None
            rc = stop(proc)
            peak.join()
            if counter.poll() is None:
                counter.terminate()
            out, err = counter.communicate()
        words = out.split()
        if failed is None and (counter.returncode != 0 or len(words) < 3 or words[0] != "done"):
            failed = f"the queue got {words[1] if len(words) > 1 else '?'} of {n} messages"
        if failed is None and rc != 0:
            failed = f"the poll stopped with {rc}"
        if failed:
            raise BenchError(f"{side} poll over {proto}: {failed}\n{err}"
                             f"{self.log_text(side, name, log)}")
        took = float(words[2]) - t0
        # n messages came; the poll, stopped, must have posted no more
        left = self.run([self.tool, "consume", self.url, "--queue", queue, "--max", "1000",
                         "--timeout", "0.5"], f"reading {queue}")
        extra = [json.loads(line) for line in left.stdout.splitlines()
                 if line.startswith("{\"topic")]
        if extra:
            raise BenchError(f"{side} poll over {proto}: more than {n} messages for {n} "
                             f"files (one more: {extra[0].get('body', '')[:300]})")
        return n / took, kib or peak.kib, took, cpu


def rss_text(kib):
    return f"{kib} KiB = {kib / 1024:.1f} MiB"


def figures(proto, n, folders, sides, rate, rss, took, cpu, ceiling):
    print(f"poll over {proto}: {n} files in {folders} folders listed and announced once, "
          f"timed from the start until the queue has the last message")
    ratio = None
    if len(sides) == 2:
        ratio = median(rate["sr"]) / median(rate["sr3"])
    label = {"sr": "sr_poll", "sr3": "sr3 poll (Python)"}
    for side in sides:
        extra = f"   ratio sr/sr3 {ratio:.1f}" if side == "sr" and ratio is not None else ""
        used = [c for c in cpu[side] if c is not None]
        busy = f", CPU {median(used):.1f} s" if used else ""
        print(f"  {label[side]:<20} {median(rate[side]):9.0f} files/s  ({median(took[side]):.1f} "
              f"s{busy}){extra}")
    # the broker's own pace for as many messages of the size of the poll's, in the same
    # run: what no poll can pass, whatever it does
    top = min(ceiling["publish"], ceiling["consume"])
    print(f"  ceiling: rabbitmq-c, {n} messages of {ceiling['size']} bytes, publish (no "
          f"confirms) {ceiling['publish']:.0f} msg/s, consume {ceiling['consume']:.0f} msg/s")
    if "sr" in sides:
        print(f"  sr_poll / ceiling {median(rate['sr']) / top:.2f}")
    if "sr3" in sides:
        print(f"  ceiling / sr3 poll {top / median(rate['sr3']):.1f}: the most any poll could "
              f"be over sr3's on this broker")
    for side in sides:
        print(f"  peak RSS of {label[side]:<20} {rss_text(max(rss[side]))} (runs: "
              f"{', '.join(str(k) for k in rss[side])} KiB)")
    if ratio is not None:
        kib = max(rss["sr"])
        met = ratio >= GOAL_RATIO and kib < GOAL_KIB
        print(f"  goal >= {GOAL_RATIO}x sr3's rate with < 20 MiB RSS: "
              f"{'met' if met else 'not met'} (rate {ratio:.1f}x: "
              f"{'met' if ratio >= GOAL_RATIO else 'not met'}; RSS {kib / 1024:.1f} MiB: "
              f"{'met' if kib < GOAL_KIB else 'not met'})", flush=True)


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    count = {"sr": runs, "sr3": env_int("SR_BENCH_POLL_SR3_RUNS", 1)}
    n = env_int("SR_BENCH_POLL_FILES", 100000)
    protocols = words_env("SR_BENCH_POLL_PROTOCOLS", PROTOCOLS)
    sides = words_env("SR_BENCH_POLL_SIDES", SIDES)
    disk = words_env("SR_BENCH_POLL_BROKER", ("tmpfs", "disk")) == ("disk",)
    shm = Path("/dev/shm")
    broker_dir = build_dir() if disk or not tmpfs(shm) else shm
    print(machine(), flush=True)
    base = Path(tempfile.mkdtemp(prefix="bench-poll.", dir=build_dir()))
    tree = base / "tree"
    tree.mkdir()
    sshd, ftpd, nginx = Sshd(base / "sshd"), Ftpd(base / "ftpd"), Nginx(base / "nginx")
    # one tree, three servers: each one's root is the same folder
    sshd.root = ftpd.root = nginx.root = tree
    servers = {"sftp": sshd, "ftp": ftpd, "http": nginx}
    try:
        t0 = time.monotonic()
        folders = make_tree(tree, n)
        made = time.monotonic() - t0
        with private_rabbit(broker_dir) as rabbit:
            for proto in protocols:
                servers[proto].start()
            if "sftp" not in protocols:
                sshd.start()  # the HOMEs' known_hosts want its key
            print(describe(rabbit))
            print("broker:  data on " + ("a tmpfs: no fsync to wait for, so each poll is bound "
                                         "by its own work" if broker_dir == shm else
                                         "the disk: a confirm or commit waits for its fsync"))
            for proto, what in (("sftp", f"{first_line(['ssh', '-V'])} sshd, internal-sftp"),
                                ("ftp", "pyftpdlib " + first_line(
                                    [sys.executable, "-c",
                                     "import pyftpdlib; print(pyftpdlib.__ver__)"])),
                                ("http", f"{first_line([NGINX, '-v'])}, autoindex")):
                if proto in protocols:
                    print(f"server:  {what} on 127.0.0.1:{servers[proto].port}")
            if "sr3" in sides:
                print(f"peer:    {sr3_version()} from {SR3_LIB}, "
                      f"{first_line([PYTHON3, '--version'])}")
            print(f"data:    {n} files of a few bytes in {folders} folders of {PER_FOLDER} "
                  f"(made in {made:.1f} s), in {tree}")
            print(f"figures: median of {' and '.join(f'{count[s]} run(s) of {s}' for s in sides)}"
                  f", alternating; ratio sr/sr3 = the ratio of the medians", flush=True)
            b = Bench(base, rabbit, servers, sides)
            for proto in protocols:
                rate = {s: [] for s in sides}
                rss = {s: [] for s in sides}
                took = {s: [] for s in sides}
                cpu = {s: [] for s in sides}
                for r in range(max(count[s] for s in sides)):
                    done = [s for s in sides if r < count[s]]
                    for side in done:
                        x, kib, t, c = b.one(side, proto, r, n)
                        cpu[side].append(c)
                        rate[side].append(x)
                        rss[side].append(kib)
                        took[side].append(t)
                    print(f"  run {r + 1}: {proto} " + ", ".join(
                        f"{s} {rate[s][-1]:.0f} files/s ({took[s][-1]:.1f} s, CPU "
                        f"{cpu[s][-1] or 0:.1f} s, {rss[s][-1]} KiB)" for s in done),
                        file=sys.stderr, flush=True)
                figures(proto, n, folders, sides, rate, rss, took, cpu,
                        b.ceiling(n, b.message_size))
        return 0
    except (ServerError, BenchError, OSError, subprocess.TimeoutExpired) as err:
        print(f"bench/poll.py: {err}", file=sys.stderr)
        return 1
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
