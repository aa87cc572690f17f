#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/soak.py: a whole pump kept busy for a long time under faults (make soak).

    SR_BUILD=build bench/soak.py      (make soak, mk/soak.mk; needs root for the tmpfs)

SR_SOAK_FILES (1000000) files, written at a steady rate over SR_SOAK_MINUTES (30) minutes
into a tree served by nginx, go through

    sr_watch -> RabbitMQ -> sr_winnow -> sr_sarra (x SR_SOAK_SARRA, 2) -> RabbitMQ
      -> sr_shovel -> Mosquitto -> sr_subscribe

the pump of the flow test (test/flow/, test/integration/test_flow.py) with one watch: the
sarra downloads over http from the source's nginx into its tree, served by a second nginx;
the shovel relays its announcements to Mosquitto; the subscriber, one instance on a plain
MQTT subscription, downloads over http from the pump's nginx into a tree on a tmpfs. The
files are tiny (one line). The soak deletes each file from the three trees SR_SOAK_HOLD
(60) seconds after the subscriber has it (so a message redelivered after a fault still
finds it), and the watch announces creations only (fileEvents create,modify): the
deletions are the soak's housekeeping, not the workload.

One fault a minute, from the flow test's list, in turn (SR_SOAK_FAULTS, default
"rabbitmq,kill,mosquitto,nginx503,diskfull"; "none" for none; the order shuffled by
SR_SOAK_SEED): RabbitMQ restarted; kill -9 of a random instance, then `sr sanity` as cron
would run it; Mosquitto restarted; both nginx answering 503 to 10% of requests for 20 s;
the subscriber's tmpfs filled for 20 s. The fault ends before the next minute's.

Printed, and written to bench/out/soak.txt (and soak.json) for bench/REPORT.md:
  - per instance, its RSS (VmRSS) and open descriptors (/proc/PID/fd) at the start, the
    middle and the end (once every file is in and the pump idle), and whether they stayed
    flat: within 1 MiB and no more descriptors, from the start to the end and from the
    middle to the end (a working set that follows a backlog grows and then levels off; a
    leak grows in the second half too). Each process is judged from SR_SOAK_WARMUP seconds
    after it began (360; a fifth of the run when shorter), the winnow from 600 s (its
    duplicate cache of 5 minutes is trimmed at housekeeping, every 300 s); an instance
    killed and restarted is judged on its process with the longest stretch after that,
    and says which. Every sample is in soak.json; `soak.py --again` judges the last
    run's samples anew and rewrites its table.
  - files written, delivered, lost (written, never downloaded by the subscriber: the
    exit status is 1 when any is), duplicated (downloads of a file after its first, from
    the subscriber's log), and the lag from the file written to the subscriber's
    "downloaded" line: p50, p99 and the largest.
  - the rate asked and achieved, and the faults with their times.

SR_SOAK_DRAIN (900): seconds to wait, once the writing ends, for the last files. The work
folder (brokers' data, trees, configs, logs) is under the build folder, removed at the end
unless something was lost or SR_SOAK_KEEP=1.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import REPO, build_dir, describe, env_int, machine, need  # noqa: E402
from fixtures_web import Nginx  # noqa: E402  (broker.py put test/integration on the path)
from servers import Mosquitto, RabbitMQ, ServerError  # noqa: E402

OUT = REPO / "bench" / "out"
FAULTS = ("rabbitmq", "kill", "mosquitto", "nginx503", "diskfull")
FOLDER_FILES = 10000  # files per folder of the source tree
SAMPLE_EVERY = 15  # seconds between samples of each instance's RSS and descriptors
FLAT_KIB, FLAT_FDS = 1024, 0
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \[(\w+)\] (\S+) (.*)$")
DOWNLOADED = re.compile(r"^downloaded (\S*/f(\d{7})) \(")


class SwitchedNginx(Nginx):
    """The harness's nginx with its 503s (fail_percent) switched on and off while it runs:
    the line that answers 503 is commented out or in, and nginx reloads (SIGHUP: same
    ports, the workers replaced)."""

    FAIL_LINE = "if ($sr_fail) { return 503; }"

    def __init__(self, basedir, fail_percent=10):
        super().__init__(basedir, fail_percent=fail_percent)

    def failing(self, on):
        conf = self.dir / "nginx.conf"
        text = conf.read_text()
        off_line = "# " + self.FAIL_LINE
        text = text.replace(off_line, self.FAIL_LINE)
        if not on:
            text = text.replace(self.FAIL_LINE, off_line)
        conf.write_text(text)
        os.kill(self.proc.pid, signal.SIGHUP)


class SoakError(RuntimeError):
    """A step of the soak failed: the message says which."""


def configs(run, rabbit, mosq, src, src_url, pump, pump_url, dest, sarra_n):
    """{component/name: text}: test/flow/'s pump with one watch, creations announced only,
    and the per-message log lines off but for the subscriber's downloads (what the soak
    reads)."""
    quiet = "logEvents on_housekeeping\n"
    # batches of 100 (sr's default is 25): one confirm awaited per 100 messages rather than
    # per 25 (bench/flow.py's best shovel settings); the winnow, one instance, keeps up then
    batch = "batch 100\nprefetch 100\n"
    ra = f"{rabbit.host}:{rabbit.port}"
    mq = f"{mosq.host}:{mosq.port}"
    return {
        "watch/soak": (
            f"post_broker amqp://tsource@{ra}/\npost_exchange xs_tsource_soak{run}\n"
            f"path {src}\npost_baseDir {src}\npost_baseUrl {src_url}\n"
            "sleep 1\npost_on_start on\n"
            # what failed to post (RabbitMQ restarted) is posted again batch/2 a pass, one
            # pass a second (lib/flow.c post_retries): 12 a second at the default batch 25,
            # minutes for the backlog of a restart; 500 makes it 250 a second
            "batch 500\n"
            # the soak deletes what was delivered: not part of the workload
            "fileEvents create,modify\n"
            "reject .*\\.tmp$\naccept .*\n" + quiet),
        "winnow/soak": (
            f"broker amqp://tfeed@{ra}/\nexchange xs_tsource_soak{run}\nsubtopic #\n"
            f"post_broker amqp://tfeed@{ra}/\npost_exchange xsoak{run}_winnowed\n"
            # 5 minutes: a restarted watch posts again what the soak has not yet deleted
            # (SR_SOAK_HOLD after delivery), seconds or a minute old
            "nodupe_ttl 5m\nnodupe_basis path\nretryDelay 3\n" + batch + quiet),
        "sarra/soak": (
            f"broker amqp://tfeed@{ra}/\nexchange xsoak{run}_winnowed\nsubtopic #\n"
            f"instances {sarra_n}\ndirectory {pump}\nmirror on\ninflight .tmp\nretryDelay 3\n"
            + batch +
            f"post_broker amqp://tfeed@{ra}/\npost_exchange xsoak{run}_public\n"
            f"post_baseUrl {pump_url}\npost_baseDir {pump}\n" + quiet),
        "shovel/soak": (
            f"broker amqp://tfeed@{ra}/\nexchange xsoak{run}_public\nsubtopic #\n"
            f"post_broker mqtt://tfeed@{mq}\npost_exchange xsoak{run}\nretryDelay 3\n" + batch
            + quiet),
        "subscribe/soak": (
            # a plain subscription, as test/flow/subscribe/end.conf says why
            f"broker mqtt://tsub@{mq}\nexchange xsoak{run}\ntopic xsoak{run}/v03/#\n"
            f"instances 1\ndirectory {dest}\nmirror on\ninflight .tmp\nretryDelay 3\n"
            "logEvents after_work,on_housekeeping\n"),
    }


class Pump:
    def __init__(self, work, rabbit, mosq, sarra_n, root):
        self.work, self.rabbit, self.mosq = work, rabbit, mosq
        self.bin = build_dir() / "bin"
        self.tool = need(build_dir() / "test" / "tools" / "sr_broker_tool")
        need(self.bin / "sr")
        self.run = f"{os.getpid()}"
        self.web_src = SwitchedNginx(work / "web_src")
        self.web_pump = SwitchedNginx(work / "web_pump")
        self.src, self.pump = self.web_src.root, self.web_pump.root
        for web in (self.web_src, self.web_pump):
            for sub in ("basic", "bearer", "norange"):  # the fixture's, not the workload's
                (web.root / sub).rmdir()
        self.dest = work / "dest"
        self.dest.mkdir()
        self.mounted = []
        self.root = root
        self.config, self.state = work / "config", work / "state"
        self.sarra_n = sarra_n
        self.instances = {"watch/soak": 1, "winnow/soak": 1, "sarra/soak": sarra_n,
                          "shovel/soak": 1, "subscribe/soak": 1}

    def start_servers(self):
        if self.root:
            # Each tree on a tmpfs of its own: the subscriber's is the one the diskfull fault
            # fills; the other two because deleting a file that has xattrs (sr caches
            # identities in them) on an ext4 mounted with `discard` waits for the disk, a
            # few ms per file: more than the 1,700 files/s the soak deletes.
            for tree in (self.src, self.pump, self.dest):
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "soaktmp", str(tree)],
                               check=True, capture_output=True, timeout=30)
                self.mounted.append(tree)
        for web in (self.web_src, self.web_pump):
            web.start()
            web.failing(False)

    def env(self):
        env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            env.pop(var, None)
        env.update({"HOME": str(self.work / "home"), "SR_CONFIG_DIR": str(self.config),
                    "SR_STATE_DIR": str(self.state), "SR_CONFD": str(REPO / "conf.d")})
        return env

    def sr(self, *args, timeout=180):
        return subprocess.run([str(self.bin / "sr"), *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def write_configs(self):
        texts = configs(self.run, self.rabbit, self.mosq, self.src, self.web_src.url("/"),
                        self.pump, self.web_pump.url("/"), self.dest, self.sarra_n)
        for name, text in texts.items():
            p = self.config / f"{name}.conf"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        creds = self.config / "credentials.conf"
        creds.write_text("".join(f"{u}\n" for u in (
            self.rabbit.url("tsource"), self.rabbit.url("tfeed"), self.mosq.url("tfeed"),
            self.mosq.url("tsub"))))
        creds.chmod(0o600)
        (self.work / "home").mkdir(exist_ok=True)

    def declare(self):
        for ex in (f"xs_tsource_soak{self.run}", f"xsoak{self.run}_winnowed",
                   f"xsoak{self.run}_public"):
            r = subprocess.run([self.tool, "publish", self.rabbit.url("tfeed"), ex,
                                "v03.declare"], input="", capture_output=True, text=True,
                               timeout=60)
            if r.returncode != 0:
                raise SoakError(f"declaring {ex}: {r.stderr}")

    def log_path(self, config, n):
        component, name = config.split("/")
        return self.state / "log" / f"{component}_{name}_{n:02d}.log"

    def log(self, config, n):
        p = self.log_path(config, n)
        return p.read_text(errors="replace") if p.exists() else ""

    def start(self):
        r = self.sr("start")
        if r.returncode != 0:
            raise SoakError(f"sr start: exit {r.returncode}\n{r.stdout}{r.stderr}")
        consumers = [(c, n) for c, k in self.instances.items() if not c.startswith("watch/")
                     for n in range(1, k + 1)]
        deadline = time.monotonic() + 180
        while not all("connected to" in self.log(c, n) for c, n in consumers):
            if time.monotonic() > deadline:
                raise SoakError("not connected: " + ", ".join(
                    f"{c}#{n}" for c, n in consumers if "connected to" not in self.log(c, n)))
            time.sleep(0.2)

    def pids(self):
        """{(config, instance): pid} from the pid files sr keeps."""
        out = {}
        for p in self.state.glob("*/*/i*.pid"):
            try:
                out[(f"{p.parent.parent.name}/{p.parent.name}", int(p.stem[1:]))] = \
                    int(p.read_text())
            except (OSError, ValueError):
                pass
        return out

    def stop(self):
        return self.sr("stop", "--wait", "15")

    def cleanup(self):
        try:
            self.stop()
        finally:
            for web in (self.web_src, self.web_pump):
                web.stop()
            for tree in self.mounted:
                subprocess.run(["umount", "-l", str(tree)], capture_output=True, timeout=30)


TICK = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    """(VmRSS KiB, open descriptors, CPU seconds so far) of pid, or None when it is gone."""
    try:
        rss = None
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / TICK
    except (OSError, ValueError, IndexError):
        return None
    return None if rss is None else (rss, fds, cpu)


class Depths(threading.Thread):
    """The messages waiting in each RabbitMQ queue of the pump (rabbitmqctl list_queues,
    an Erlang VM start: in a thread of its own, every 30 s), for the progress lines: where
    a backlog builds up."""

    def __init__(self, rabbit):
        super().__init__(daemon=True)
        self.rabbit, self.latest, self.stop_flag = rabbit, "", threading.Event()

    def run(self):
        while not self.stop_flag.wait(30):
            try:
                r = self.rabbit.ctl("list_queues", "name", "messages", timeout=25, check=False)
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                depths = []
                for line in r.stdout.splitlines():
                    w = line.split()
                    if len(w) == 2 and w[1].isdigit() and "." in w[0]:
                        depths.append(f"{w[0].split('.')[1]} {w[1]}")
                self.latest = "queued: " + ", ".join(depths)


class Faults(threading.Thread):
    """One fault a minute, in turn, until told to stop. Each as the flow test does it:
    the brokers' restart() of the harness, kill -9 of a pid sr keeps then `sr sanity`, the
    nginx's 503s (fail_percent) switched on, the subscriber's tmpfs filled."""

    def __init__(self, pump, rabbit, mosq, order, rng, t0, until):
        super().__init__(daemon=True)
        self.until = until  # no fault begins this many seconds after t0 or later
        self.pump, self.rabbit, self.mosq = pump, rabbit, mosq
        self.order, self.rng, self.t0 = order, rng, t0
        self.stop_flag = threading.Event()
        self.events = []  # (seconds since the start, text)
        self.errors = []
        self.killed = {}

    def note(self, text):
        t = time.monotonic() - self.t0
        self.events.append((round(t, 1), text))
        print(f"  [{t:7.1f}s] {text}", flush=True)

    def run(self):
        k = 0
        while not self.order or not self.stop_flag.wait(
                max(0.0, self.t0 + 60 * (k + 1) - time.monotonic())):
            if not self.order or time.monotonic() - self.t0 >= self.until - 1:
                return
            fault = self.order[k % len(self.order)]
            k += 1
            try:
                getattr(self, "fault_" + fault)()
            except Exception as err:  # reported at the end
                self.errors.append(f"{fault}: {err!r}")
                self.note(f"{fault} FAILED: {err!r}")

    def fault_rabbitmq(self):
        self.note("RabbitMQ restart")
        self.rabbit.restart()
        self.note("RabbitMQ back")

    def fault_mosquitto(self):
        self.note("Mosquitto restart")
        self.mosq.restart()
        self.note("Mosquitto back")

    def fault_kill(self):
        pids = sorted(self.pump.pids().items())
        if not pids:
            raise SoakError("no instance to kill")
        (config, n), pid = self.rng.choice(pids)
        os.kill(pid, signal.SIGKILL)
        self.killed[(config, n)] = self.killed.get((config, n), 0) + 1
        self.note(f"kill -9 {config} #{n} (pid {pid})")
        self.stop_flag.wait(3)
        r = self.pump.sr("sanity")
        self.note("sr sanity: " + ("; ".join(
            line.strip() for line in r.stdout.splitlines() if "restart" in line) or
            r.stdout.strip()[:200]))

    def fault_nginx503(self):
        for web in (self.pump.web_src, self.pump.web_pump):
            web.failing(True)
        self.note("both nginx answer 503 to 10% of requests")
        self.stop_flag.wait(20)
        for web in (self.pump.web_src, self.pump.web_pump):
            web.failing(False)
        self.note("nginx 503s off")

    def fault_diskfull(self):
        if self.pump.dest not in self.pump.mounted:
            self.note("diskfull skipped: not root, no tmpfs")
            return
        filler = self.pump.dest / "soak-filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for block in (b"\0" * (1 << 20), b"\0" * 4096):
                try:
                    while os.write(fd, block) == len(block):
                        pass
                except OSError:  # ENOSPC: full, as wanted
                    pass
        finally:
            os.close(fd)
        self.note(f"subscriber's tmpfs full ({shutil.disk_usage(self.pump.dest).free} "
                  "bytes free)")
        self.stop_flag.wait(20)
        filler.unlink()
        self.note("subscriber's tmpfs freed")


class Tracker:
    """Reads the subscriber's log as it grows: the first download of each file (its
    time), and the downloads after the first; deletes each delivered file from the three
    trees `hold` seconds after it arrived."""

    def __init__(self, pump, total, hold):
        self.pump, self.total, self.hold = pump, total, hold
        self.written = [0.0] * total  # time.time() once renamed into place, 0: not yet
        self.arrived = [0.0] * total
        self.downloads = [0] * total
        self.offset = 0
        self.partial = b""
        self.pending = []  # (arrival time, index) to delete, in arrival order
        self.pending_at = 0
        self.left_in_folder = {}
        self.delivered = 0
        self.unlogged = []  # in the subscriber's tree, no "downloaded" line in its log
        self.log_path = pump.log_path("subscribe/soak", 1)
        self.problems = {}  # warning/error lines of the subscriber, by their first words

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            m = LOG_LINE.match(raw.decode(errors="replace"))
            if not m:
                continue
            stamp, ms, level, _, rest = m.groups()
            d = DOWNLOADED.match(rest)
            if d:
                i = int(d.group(2))
                if 0 <= i < self.total:
                    self.downloads[i] += 1
                    if not self.arrived[i]:
                        t = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000
                        self.arrived[i] = t
                        self.delivered += 1
                        self.pending.append((time.time(), i))
            elif level in ("WARNING", "ERROR", "CRITICAL"):
                key = re.sub(r"\d+", "N", rest)[:90]
                self.problems[key] = self.problems.get(key, 0) + 1

    def look_in_tree(self, written):
        """The files written and not yet seen in the subscriber's log that are in its tree,
        whole (their one line names them), taken as delivered when they got there (the
        ctime of the rename from NAME.tmp). sr holds its INFO lines and writes them a pass
        at a time: an instance killed with -9 loses the lines of its last pass, not the
        files it placed and acknowledged."""
        for i in range(written):
            if self.arrived[i] or not self.written[i]:
                continue
            p = self.pump.dest / self.rel(i)
            try:
                st = p.stat()
                whole = p.read_text().startswith(f"{i} ")
            except OSError:
                continue
            if whole:
                self.arrived[i] = st.st_ctime
                self.unlogged.append(i)
                self.delivered += 1
                self.pending.append((time.time(), i))

    def count_written(self):
        return self.total - self.written.count(0.0)

    def rel(self, i):
        return f"d{i // FOLDER_FILES:03d}/f{i:07d}"

    def delete_due(self, now, everything=False):
        p = self.pending
        while self.pending_at < len(p) and (everything or p[self.pending_at][0] + self.hold <= now):
            i = p[self.pending_at][1]
            rel = self.rel(i)
            for root in (self.pump.src, self.pump.pump, self.pump.dest):
                try:
                    os.unlink(root / rel)
                except OSError:
                    pass
            folder = i // FOLDER_FILES
            left = self.left_in_folder.get(folder, min(FOLDER_FILES, self.total - folder * FOLDER_FILES)) - 1
            self.left_in_folder[folder] = left
            if left == 0:
                for root in (self.pump.src, self.pump.pump, self.pump.dest):
                    try:
                        os.rmdir(root / f"d{folder:03d}")
                    except OSError:
                        pass
            self.pending_at += 1
        if self.pending_at > 100000:
            del p[:self.pending_at]
            self.pending_at = 0


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def sample_all(pump, samples, t):
    for key, pid in pump.pids().items():
        s = proc_sample(pid)
        if s is not None:
            samples.setdefault(key, []).append((t, pid) + s)


# The winnow's duplicate cache holds what it saw in the last nodupe_ttl (5 min in its
# config) and drops older entries only at housekeeping (every 300 s), so it levels off
# nodupe_ttl + housekeeping after its process starts (or reloads the cache from disk).
WINNOW_WARMUP = 300 + 300


def warmup_of(config, warmup):
    return max(warmup, WINNOW_WARMUP) if config.startswith("winnow/") else warmup


# A sample taken this soon after a fault event (a broker going or coming back, a kill, a
# disk filled or freed) shows the fault: connections down, a backlog being drained.
QUIET_AFTER = 30


def memory_rows(samples, warmup, killed, events=()):
    """Per instance: (config, n, [start, middle, end] samples, flat, note).

    Each process is judged after its own warm-up (from when it began, so a restart
    starts the count again): a restarted process refills its working set, which is
    not a leak. Of an instance's processes the one with the longest stretch after its
    warm-up is judged; when none lived past its warm-up, the last one from a minute
    after it began, and the note says so. Only samples taken in a quiet moment, no
    fault event in the QUIET_AFTER seconds before, are judged (the end sample, taken
    once the pump is idle, always is)."""
    times = sorted(t for t, _ in events)

    def quiet(s):
        return not any(s[0] - QUIET_AFTER < t <= s[0] for t in times)

    rows = []
    for key in sorted(samples):
        seq = samples[key]
        lives = {}
        for s in seq:
            lives.setdefault(s[1], []).append(s)
        wait = warmup_of(key[0], warmup)
        best, best_span = None, -1.0
        for life in lives.values():
            began = 0.0 if life[0] is seq[0] else life[0][0]
            kept = [s for s in life if s[0] >= began + wait and quiet(s)]
            if len(kept) >= 2 and kept[-1][0] - kept[0][0] > best_span:
                best, best_span = kept, kept[-1][0] - kept[0][0]
        note = []
        if best is None:
            life = lives[seq[-1][1]]
            best = [s for s in life if s[0] >= life[0][0] + 60 and quiet(s)] or life
            best = best if len(best) >= 2 else life[-2:]
            note.append(f"no process lived {wait / 60:.0f} min: the last one")
        start, middle, end = best[0], best[len(best) // 2], best[-1]
        # flat: from start to end, and from the middle to the end (a working set that
        # follows a backlog grows while it builds and levels off; a leak goes on growing
        # in the second half too). Both verdicts are printed.
        flat = (end[2] - start[2] <= FLAT_KIB and end[3] - start[3] <= FLAT_FDS
                and len(best) >= 2,
                end[2] - middle[2] <= FLAT_KIB and end[3] - middle[3] <= FLAT_FDS
                and len(best) >= 2)
        if len(lives) > 1:
            note.append(f"killed {killed.get(key, 0)}x; judged: pid {start[1]}, "
                        f"{len(lives)} processes")
        if wait != warmup:
            note.append(f"warm-up {wait / 60:.0f} min: its duplicate cache")
        rows.append((key, (start, middle, end), flat, "; ".join(note)))
    return rows


def table_lines(rows):
    out = [f"  {'instance':<18} {'RSS KiB start':>13} {'middle':>8} {'end':>8} "
           f"{'fds start':>9} {'mid':>4} {'end':>4} {'CPU s':>6}  flat (1 MiB, 0 fds): "
           f"start->end, middle->end"]
    for (config, n), (s, m, e), flat, note in rows:
        out.append(f"  {config + ' #' + str(n):<18} {s[2]:>13} {m[2]:>8} {e[2]:>8} "
                   f"{s[3]:>9} {m[3]:>4} {e[3]:>4} {e[4]:>6.0f}  "
                   f"{'met' if flat[0] else 'MISSED'}, {'met' if flat[1] else 'MISSED'} "
                   f"({s[0] / 60:.1f}, {m[0] / 60:.1f}, {e[0] / 60:.1f} min"
                   f"{'; ' + note if note else ''})")
    return out


def verdict_line(rows, lost):
    def verdict(which):
        missed = [f"{c} #{n}" for (c, n), _, f, _ in rows if not f[which]]
        return "met" if not missed else "MISSED for " + ", ".join(missed)
    return (f"result: {'FAILED: files lost' if lost else 'nothing lost'}; memory and "
            f"descriptors flat from start to end: {verdict(0)}; from the middle to "
            f"the end: {verdict(1)}")


def settings_line(warmup):
    return (f"settings: batch 100, prefetch 100 (winnow, sarra, shovel), batch 500 (watch), "
            f"RSS and descriptors every {SAMPLE_EVERY} s, judged from {warmup} s after each "
            f"process began ({WINNOW_WARMUP} s for the winnow), on samples with no fault "
            f"event in the {QUIET_AFTER} s before")


def again():
    """Judge the last run's samples (out/soak.json) anew and rewrite its table in
    out/soak.txt, saying so: for a change of the rule without a 40-minute re-run."""
    data = json.loads((OUT / "soak.json").read_text())
    warmup = data.get("warmup", 360)
    samples = {}
    for key, seq in data["samples"].items():
        config, n = key.rsplit("#", 1)
        samples[(config, int(n))] = [tuple(s) for s in seq]
    killed = {}
    for _, what in data["faults"]:
        m = re.match(r"kill -9 (\S+) #(\d+) ", what)
        if m:
            k = (m.group(1), int(m.group(2)))
            killed[k] = killed.get(k, 0) + 1
    rows = memory_rows(samples, warmup, killed, data["faults"])
    lines = (OUT / "soak.txt").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("instance "))
    last = next(i for i in range(first, len(lines)) if not lines[i].strip())
    lines[first:last] = table_lines(rows)
    lines = [settings_line(warmup) if line.startswith("settings: ") else line
             for line in lines if not line.startswith("re-judged: ")]
    # the verdict the run printed stays, below the new one
    first_result = next((line for line in lines if line.startswith("result: ")), None)
    printed = next((line for line in lines if line.startswith("as printed by the run: ")),
                   None) or (first_result and "as printed by the run: " + first_result[8:])
    lines = [line for line in lines if not line.startswith("as printed by the run: ")]
    lines = [verdict_line(rows, data["lost"]) if line.startswith("result: ") else line
             for line in lines]
    if printed:
        lines.append(printed)
    lines.insert(first - 1, f"re-judged: the table by soak.py --again on "
                 f"{time.strftime('%Y-%m-%d')} from this run's samples (soak.json)")
    (OUT / "soak.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main():
    total = env_int("SR_SOAK_FILES", 1000000)
    minutes = float(os.environ.get("SR_SOAK_MINUTES") or 30)
    hold = env_int("SR_SOAK_HOLD", 60, 0)
    drain = env_int("SR_SOAK_DRAIN", 900)
    warmup = env_int("SR_SOAK_WARMUP", int(min(360, minutes * 12)), 0)
    sarra_n = env_int("SR_SOAK_SARRA", 2)
    seed = int(os.environ.get("SR_SOAK_SEED") or random.randrange(1 << 31))
    names = os.environ.get("SR_SOAK_FAULTS", ",".join(FAULTS))
    order = [] if names == "none" else [f.strip() for f in names.split(",") if f.strip()]
    for f in order:
        if f not in FAULTS:
            sys.exit(f"soak.py: SR_SOAK_FAULTS: {f}: one of {', '.join(FAULTS)} or none")
    rng = random.Random(seed)
    rng.shuffle(order)
    root = os.geteuid() == 0
    if total > FOLDER_FILES * 1000:
        sys.exit(f"soak.py: SR_SOAK_FILES={total}: at most {FOLDER_FILES * 1000}")
    seconds = minutes * 60
    rate = total / seconds
    head = [machine(),
            f"soak: {total} files over {minutes:g} min ({rate:.0f} files/s asked), "
            f"SR_SOAK_SEED={seed}, faults in turn, one a minute: {', '.join(order) or 'none'}"
            + ("" if root else " (not root: no tmpfs, diskfull skipped)"),
            f"pump: sr_watch -> RabbitMQ -> sr_winnow -> sr_sarra x{sarra_n} -> RabbitMQ -> "
            f"sr_shovel -> Mosquitto -> sr_subscribe (http from nginx at both hops), "
            f"load average before {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
            settings_line(warmup) + f", files deleted {hold} s after delivery"]
    for line in head:
        print(line, flush=True)
    work = Path(tempfile.mkdtemp(prefix="soak.", dir=build_dir()))
    rabbit, mosq = RabbitMQ(work / "rabbitmq"), Mosquitto(work / "mosquitto")
    started, pump, faults, keep = [], None, None, os.environ.get("SR_SOAK_KEEP") == "1"
    try:
        for s in (rabbit, mosq):
            s.start()
            started.append(s)
        head.append(describe(rabbit, mosq))
        print(head[-1], flush=True)
        pump = Pump(work, rabbit, mosq, sarra_n, root)
        pump.start_servers()
        pump.write_configs()
        pump.declare()
        pump.start()
        tracker = Tracker(pump, total, hold)
        t0 = time.monotonic()
        wall0 = time.time()
        samples = {}
        faults = Faults(pump, rabbit, mosq, order, rng, t0, seconds)
        faults.start()
        depths = Depths(rabbit)
        depths.start()
        stop_writing = threading.Event()

        def write_all():
            data_tmp = pump.src
            made = set()
            for i in range(total):
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0.002:
                    if stop_writing.wait(delay):
                        return
                folder = i // FOLDER_FILES
                d = data_tmp / f"d{folder:03d}"
                if folder not in made:
                    d.mkdir(exist_ok=True)
                    made.add(folder)
                final = d / f"f{i:07d}"
                tmp = d / f"f{i:07d}.tmp"
                with open(tmp, "w") as f:
                    f.write(f"{i} {time.time():.6f}\n")
                os.rename(tmp, final)
                tracker.written[i] = time.time()

        writer = threading.Thread(target=write_all, daemon=True)
        writer.start()
        next_sample, next_print = t0 + warmup % SAMPLE_EVERY, t0 + 30
        while True:
            now = time.monotonic()
            tracker.read_log()
            tracker.delete_due(time.time())
            if now >= next_sample:
                sample_all(pump, samples, now - t0)
                next_sample += SAMPLE_EVERY
            if now >= next_print:
                print(f"  [{now - t0:7.1f}s] written {tracker.count_written()}, delivered "
                      f"{tracker.delivered}; {depths.latest}", flush=True)
                next_print += 30
            if not writer.is_alive():
                break
            time.sleep(0.5)
        write_end = time.monotonic() - t0
        written_by_end = tracker.count_written()
        print(f"  [{write_end:7.1f}s] writing done: {written_by_end} files "
              f"({written_by_end / write_end:.0f} files/s); faults stop; waiting for the rest",
              flush=True)
        faults.stop_flag.set()
        faults.join(timeout=300)
        deadline = time.monotonic() + drain
        while tracker.delivered < written_by_end and time.monotonic() < deadline:
            tracker.read_log()
            tracker.delete_due(time.time())
            now = time.monotonic()
            if now >= next_sample:
                sample_all(pump, samples, now - t0)
                next_sample += SAMPLE_EVERY
            if now >= next_print:
                tracker.look_in_tree(written_by_end)
                print(f"  [{now - t0:7.1f}s] delivered {tracker.delivered} of "
                      f"{written_by_end}; {depths.latest}", flush=True)
                next_print += 30
            time.sleep(0.5)
        # the end sample: every file in, the pump idle for a few seconds
        time.sleep(10)
        tracker.read_log()
        sample_all(pump, samples, time.monotonic() - t0)
        status = pump.sr("status", "--json")
        r = pump.stop()
        tracker.read_log()
        tracker.look_in_tree(written_by_end)
        tracker.delete_due(time.time(), everything=True)
        # ---- the table ----
        lost = [i for i in range(written_by_end) if not tracker.arrived[i]]
        # the last arrival (the subscriber's log stamp), not the end of the wait for it
        all_in = max(tracker.arrived[:written_by_end], default=wall0) - wall0
        dups = sum(max(0, c - 1) for c in tracker.downloads)
        dup_files = sum(1 for c in tracker.downloads if c > 1)
        lags = sorted(tracker.arrived[i] - tracker.written[i] for i in range(written_by_end)
                      if tracker.arrived[i])
        dropped = {}
        for config, k in pump.instances.items():
            for n in range(1, k + 1):
                dropped[f"{config}#{n}"] = pump.log(config, n).count("not retried")
        rows = memory_rows(samples, warmup, faults.killed, faults.events)
        out = []
        out += head
        out.append(f"written {written_by_end} files in {write_end / 60:.1f} min "
                   f"({written_by_end / write_end:.0f} files/s); the last delivered "
                   f"{all_in - write_end:.0f} s after the writing ended; started "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(wall0))}")
        out.append("")
        out += table_lines(rows)
        out.append("")
        out.append(f"  files written {written_by_end}, delivered {written_by_end - len(lost)}, "
                   f"lost {len(lost)}, duplicated {dups} (downloads after the first, of "
                   f"{dup_files} files)" + (
                       f"; {len(tracker.unlogged)} of the delivered found in the subscriber's "
                       f"tree with no line in its log (killed with -9 before it wrote its held "
                       f"lines; lag from the file's ctime)" if tracker.unlogged else ""))
        out.append(f"  lag written -> subscriber's download: p50 {percentile(lags, 0.5):.2f} s, "
                   f"p99 {percentile(lags, 0.99):.2f} s, max {lags[-1] if lags else 0:.2f} s")
        out.append(f"  achieved: {written_by_end / max(all_in, 1):.0f} files/s end to end "
                   f"(written over {write_end:.0f} s, all in after {all_in:.0f} s); "
                   f"asked {rate:.0f} files/s")
        out.append("  messages dropped ('not retried' in the logs): "
                   + (", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "none"))
        out.append(f"  faults ({len(faults.events)} events): " + "; ".join(
            f"{t / 60:.1f} min {what}" for t, what in faults.events))
        if faults.errors:
            out.append("  faults that failed: " + "; ".join(faults.errors))
        if tracker.problems:
            top = sorted(tracker.problems.items(), key=lambda kv: -kv[1])[:8]
            out.append("  subscriber's warnings/errors (count, text with digits as N): "
                       + "; ".join(f"{c}x {t}" for t, c in top))
        out.append(f"  sr stop: exit {r.returncode}; load average after "
                   f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        if lost:
            out.append(f"  LOST (first 20): {[tracker.rel(i) for i in lost[:20]]}")
        out.append(verdict_line(rows, lost))
        text = "\n".join(out) + "\n"
        print("\n" + "\n".join(out[len(head):]), flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "soak.txt").write_text(text)
        (OUT / "soak.json").write_text(json.dumps({
            "files": total, "minutes": minutes, "seed": seed, "warmup": warmup,
            "faults": faults.events,
            "written": written_by_end, "lost": len(lost), "duplicated": dups,
            "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99),
            "status": status.stdout,
            "samples": {f"{c}#{n}": v for (c, n), v in samples.items()}}, indent=1) + "\n")
        print(f"wrote {OUT / 'soak.txt'} and soak.json", flush=True)
        if lost:
            keep = True
        return 1 if lost else 0
    except (ServerError, SoakError, subprocess.TimeoutExpired) as err:
        keep = True
        print(f"soak.py: {err}", file=sys.stderr)
        return 1
    finally:
        if faults is not None:
            faults.stop_flag.set()
            faults.join(timeout=300)
        if pump is not None:
            pump.cleanup()
        for s in reversed(started):
            s.stop()
        if keep:
            print(f"soak.py: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(again() if sys.argv[1:] == ["--again"] else main())
