#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/plugin.py: what plugins cost sr_shovel, each beside the same shovel without a
plugin in the same run, and beside Python sr3's shovel with a no-op flowcb.

    SR_BUILD=build bench/plugin.py      (make bench-plugin)

Each figure is sr_shovel relaying a backlog of SR_BENCH_PLUGIN_MSGS (30000) v03 messages
queued while it was stopped, AMQP -> AMQP on a private RabbitMQ, timed from its start
until a consumer bound to the output exchange has every message (bench/flow.py's
method, its messages and its counter, bench/broker.c `count`):

none     sr_shovel with no plugin: the reference.
c        the same with bench/plugin_noop.c (build/bench/plugin_noop.so) loaded by
         `flowcb`: every hook present, each doing nothing, so the shovel calls on_start,
         gather, after_accept, after_work and after_post for each pass and message, and
         on_housekeeping and metrics_report on their schedule. Goal (issue 18): the rate
         within 3% of none's (ratio c/none >= 0.97).
exec     the same with `flowcb exec:python3 bench/plugin_noop_exec.py`: a Python
         co-process answering after_accept for each batch, keeping every message. Goal
         (issue 18): at least 5,000 msg/s.
sr3      Python sr3's shovel (../shared/peers; the instance process `sr3 foreground`
         would start) with a no-op flowcb having after_accept, on the same backlog and
         broker: what sites run today. SR_BENCH_PLUGIN_SR3_RUNS (1) runs; 0 skips it.
         sr3 relays a few hundred messages a second, so it gets the first
         SR_BENCH_PLUGIN_SR3_MSGS (10000) of the backlog.

Besides the rate: the CPU time per message of sr_shovel (and of its co-process, for exec),
read from /proc when the last message is in: steadier than the wall clock on a busy
machine, and the better measure of the C plugin's cost, which is small beside the broker's
pace. The rate ratios are the median of each run's ratio to the none run beside it; sr
variants alternate within each run. Peak RSS of each sr process (VmHWM).

SR_BENCH_RUNS (3) runs. The brokers and the data live under a new folder of the build
folder, removed at the end. Exit status 1 when something fails.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import (REPO, PeakRss, ServerError, build_dir, describe, env_int,  # noqa: E402
                    machine, median, need, start_brokers, tail)
from flow import Bench, BenchError, shovel_lines  # noqa: E402

PEERS = REPO.parent / "shared" / "peers"
SR3_LIB = PEERS / "sarracenia"
SR3_INSTANCE = SR3_LIB / "sarracenia" / "instance.py"
PYTHON3 = "/usr/bin/python3"  # the one sr3's own bin/sr3 runs, and the exec plugin's
TIMEOUT = 300
GOAL_C, GOAL_EXEC = 0.97, 5000
VARIANTS = ("none", "c", "exec")
TICK = os.sysconf("SC_CLK_TCK")

# sr3's no-op flowcb, in ~/.config/sr3/plugins (on sr3's module path): `callback noop`
# loads class Noop of module noop.
SR3_NOOP = '''from sarracenia.flowcb import FlowCB


class Noop(FlowCB):
    def after_accept(self, worklist):
        pass
'''


def counted(proc, n):
    """Bench.counted with this benchmark's TIMEOUT (sr3 takes minutes where sr takes
    seconds): (count, CLOCK_MONOTONIC of the last)."""
    out, err = proc.communicate(timeout=TIMEOUT)
    words = out.split()
    if proc.returncode != 0 or len(words) < 3 or words[0] != "done":
        raise BenchError(f"the consumer got {words[1] if len(words) > 1 else '?'} of {n} "
                         f"messages\n{out}{err}")
    return int(words[1]), float(words[2])


def cpu_seconds(pid):
    """User + system CPU seconds of pid so far, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid):
    """The pids of pid's children (its exec plugin)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class PluginBench(Bench):
    def __init__(self, work, rabbit):
        super().__init__(work, rabbit, None)
        b = build_dir()
        so = Path(need(b / "bench" / "plugin_noop.so"))
        # where a user puts a plugin: the file and its folder writable by us alone
        plugins = Path(self.env["XDG_CONFIG_HOME"]) / "sr" / "plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        plugins.chmod(0o755)
        shutil.copy(so, plugins / "plugin_noop.so")
        (plugins / "plugin_noop.so").chmod(0o755)
        self.exec_plugin = REPO / "bench" / "plugin_noop_exec.py"
        self.url = rabbit.url("tfeed")
        # sr3: a HOME of its own
        self.sr3_env = None
        if SR3_INSTANCE.is_file():
            home = work / "home-sr3"
            d = home / ".config" / "sr3"
            (d / "plugins").mkdir(parents=True)
            (d / "plugins" / "noop.py").write_text(SR3_NOOP)
            env = dict(os.environ)
            for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
                env.pop(var, None)
            env.update({"HOME": str(home), "PYTHONPATH": str(SR3_LIB),
                        "PYTHONDONTWRITEBYTECODE": "1"})
            self.sr3_env = env
            self.sr3_conf = d

    def shovel_config(self, variant, tag, ex_in, ex_out):
        lines = [f"broker {self.url}", f"exchange {ex_in}", "subtopic #",
                 f"queueName q_tfeed.bench.plugin.{tag}", f"post_broker {self.url}",
                 f"post_exchange {ex_out}", "post_topicPrefix v03"]
        if variant == "c":
            lines.append("flowcb plugin_noop")
        elif variant == "exec":
            lines.append(f"flowcb exec:{PYTHON3} {self.exec_plugin}")
        elif variant == "sr3":
            lines.append("callback noop")
        text = "\n".join(lines) + "\n"
        if variant == "sr3":
            d = self.sr3_conf / "shovel"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{tag}.conf").write_text(text)
        else:
            self.config("shovel", tag, text)

    def start(self, variant, tag, log):
        if variant == "sr3":
            argv = [PYTHON3, str(SR3_INSTANCE), "--no", "0", "foreground", f"shovel/{tag}"]
            env = self.sr3_env
        else:
            argv = [str(self.bin / "sr_shovel"), "foreground", tag]
            env = self.env
        out = open(log, "w")
        try:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        return proc

    @staticmethod
    def stop(proc, log):
        """SIGTERM to its process group (sr3's and the exec plugin with it), SIGKILL after
        30 s; a non-zero exit fails the benchmark."""
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "killed after 30 s"
        if rc not in (0, -signal.SIGTERM):
            raise BenchError(f"{' '.join(map(str, proc.args[:3]))} stopped with {rc}\n{tail(log)}")

    def declared(self, variant, tag, log):
        """Started once to declare and bind its queue, then stopped."""
        ready = "binding" if variant == "sr3" else "connected to"
        proc = self.start(variant, tag, log)
        deadline = time.monotonic() + 60
        while ready not in Path(log).read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(proc, log)
                raise BenchError(f"{variant}: the shovel did not connect\n{tail(log)}")
            time.sleep(0.1)
        time.sleep(0.5)
        self.stop(proc, log)

    def one(self, variant, r, feed, n):
        """One timed relay of the backlog: (msg/s, CPU s per message, peak RSS KiB)."""
        tag = f"{variant}_{r}"
        ex_in, ex_out = f"xs_bench_pin_{tag}", f"xs_bench_pout_{tag}"
        self.declare_exchange(self.url, ex_in)
        self.declare_exchange(self.url, ex_out)
        self.shovel_config(variant, tag, ex_in, ex_out)
        self.declared(variant, tag, self.work / f"{tag}.declare.log")
        self.run([self.tool, "publish", self.url, ex_in, "v03.bench", "--batch", "500"],
                 "the backlog", input=feed)
        self.bound_queue(self.url, f"q_bench.pout.{tag}", ex_out)
        counter = self.counter(self.url, f"q_bench.pout.{tag}", n)
        log = self.work / f"{tag}.log"
        t0 = time.monotonic()
        proc = self.start(variant, tag, log)
        peak = PeakRss(proc.pid)
        try:
            _, last = counted(counter, n)
            cpu = cpu_seconds(proc.pid) or 0.0
            if variant == "exec":
                cpu_child = sum(cpu_seconds(c) or 0.0 for c in children(proc.pid))
            else:
                cpu_child = 0.0
        except BenchError as err:
            raise BenchError(f"{err}\n{variant} shovel's log:\n{tail(log)}") from None
        finally:
            if proc.poll() is None:
                self.stop(proc, log)
        peak.join()
        text = log.read_text(errors="replace")
        if variant != "sr3" and re.search(r"\b(ERROR|CRITICAL)\b", text):
            raise BenchError(f"{variant}: errors in the shovel's log\n{tail(log)}")
        return n / (last - t0), cpu / n, cpu_child / n, peak.kib


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    n = env_int("SR_BENCH_PLUGIN_MSGS", 30000, 100)
    sr3_runs = env_int("SR_BENCH_PLUGIN_SR3_RUNS", 1, 0)
    n_sr3 = min(n, env_int("SR_BENCH_PLUGIN_SR3_MSGS", 10000, 100))
    print(machine(), flush=True)
    try:
        with start_brokers(mqtt=False) as (rabbit, _, _):
            work = Path(rabbit.basedir).parent
            print(describe(rabbit))
            b = PluginBench(work, rabbit)
            if b.sr3_env is None and sr3_runs:
                print(f"peer:    no sr3 at {SR3_LIB}: its figure is left out")
                sr3_runs = 0
            elif sr3_runs:
                print(f"peer:    sr3 from {SR3_LIB}, {PYTHON3}")
            print(f"figures: median of {runs} runs ({sr3_runs} for sr3), none, c and exec "
                  f"alternating in each; data in {work}", flush=True)
            lines = shovel_lines(n)
            feed = "".join(line + "\n" for line in lines)
            size = sum(len(line) for line in lines) / n
            rate = {v: [] for v in (*VARIANTS, "sr3")}
            cpu = {v: [] for v in (*VARIANTS, "sr3")}
            child = {v: [] for v in VARIANTS}
            rss = {v: [] for v in (*VARIANTS, "sr3")}
            ratio = {"c": [], "exec": []}
            for r in range(runs):
                order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
                got = {}
                for v in order:
                    got[v] = b.one(v, r, feed, n)
                    rate[v].append(got[v][0])
                    cpu[v].append(got[v][1])
                    child[v].append(got[v][2])
                    rss[v].append(got[v][3])
                for v in ("c", "exec"):
                    ratio[v].append(got[v][0] / got["none"][0])
                print(f"  run {r + 1}: " + ", ".join(
                    f"{v} {got[v][0]:.0f} msg/s {got[v][1] * 1e6:.1f} us/msg" for v in VARIANTS),
                    file=sys.stderr, flush=True)
                if r < sr3_runs:
                    s = b.one("sr3", r, "".join(line + "\n" for line in lines[:n_sr3]), n_sr3)
                    rate["sr3"].append(s[0])
                    cpu["sr3"].append(s[1])
                    rss["sr3"].append(s[3])
                    print(f"  run {r + 1}: sr3 {s[0]:.0f} msg/s {s[1] * 1e6:.1f} us/msg",
                          file=sys.stderr, flush=True)
            report(n, size, rate, cpu, child, rss, ratio, n_sr3)
        return 0
    except (ServerError, BenchError, subprocess.TimeoutExpired) as err:
        print(f"bench/plugin.py: {err}", file=sys.stderr)
        return 1


def report(n, size, rate, cpu, child, rss, ratio, n_sr3):
    none, c, ex = (median(rate[v]) for v in VARIANTS)
    cpu_none, cpu_c, cpu_ex = (median(cpu[v]) * 1e6 for v in VARIANTS)
    cpu_ex_child = median(child["exec"]) * 1e6
    rc, re_ = median(ratio["c"]), median(ratio["exec"])
    print(f"plugin: sr_shovel relaying {n} messages of {size:.0f} bytes AMQP -> AMQP, queued "
          f"before the start, timed until the far side has them all")
    print(f"  sr_shovel, no plugin (reference)          {none:8.0f} msg/s   "
          f"{cpu_none:6.1f} us CPU/msg")
    print(f"  sr_shovel, no-op C plugin, every hook     {c:8.0f} msg/s   "
          f"{cpu_c:6.1f} us CPU/msg   ratio c/none {rc:.3f} (goal >= {GOAL_C}: "
          f"{'met' if rc >= GOAL_C else 'MISSED'}); CPU {cpu_c / cpu_none:.3f}x")
    print(f"  sr_shovel, no-op exec plugin (Python)     {ex:8.0f} msg/s   "
          f"{cpu_ex:6.1f} us CPU/msg + {cpu_ex_child:.1f} in the plugin   ratio exec/none "
          f"{re_:.2f} (goal >= {GOAL_EXEC} msg/s: {'met' if ex >= GOAL_EXEC else 'MISSED'}"
          + (f"; the shovel alone did {none:.0f} here, so this run cannot show it"
             if none < GOAL_EXEC else "") + ")")
    if rate["sr3"]:
        s3 = median(rate["sr3"])
        print(f"  sr3 shovel, no-op flowcb after_accept     {s3:8.0f} msg/s   "
              f"{median(cpu['sr3']) * 1e6:6.1f} us CPU/msg   ratio c/sr3 {c / s3:.1f}, "
              f"exec/sr3 {ex / s3:.1f} (sr3: the first {n_sr3} messages)")
    worst = {v: max(rss[v]) for v in VARIANTS}
    print("  peak RSS of sr_shovel: " + ", ".join(f"{v} {worst[v]} KiB" for v in VARIANTS)
          + (f"; sr3 {max(rss['sr3'])} KiB" if rss["sr3"] else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
