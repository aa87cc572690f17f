#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/flow.py: sr's real executables against private brokers, beside the broker's
ceiling and beside Python sr3 doing the same work, in the same run.

    SR_BUILD=build bench/flow.py      (make bench-flow)

post     sr_post of SR_BENCH_POST_FILES (10000) small files (0 to 2 KiB, in nested
         folders, their cached identities removed before each run so each is hashed as a
         new file would be): messages/s = the messages it says it posted over its wall time
         (start to exit), and its peak RSS. The messages are then counted in a queue bound
         before, so none is missing. Reference: the AMQP ceiling of bench/broker.c (rabbitmq-c
         basic.publish without confirms, timed until its queue holds them all) for as many
         messages of the same mean size, once a run. Goal (issue 19): sr_post at its
         defaults >= 0.8 of it. A second reference, bench/relay.c `publish`: rabbitmq-c
         publishing as many messages of that size with confirms, at most 500 (sr_post's
         postWindow) awaiting them, nothing read or hashed: the most any publisher that
         waits for the confirms gets, as sr_post must before it counts a message posted. Beside it, alternating, sr_post with other settings,
         SR_BENCH_POST_VARIANTS (default "batch 100,postWindow 1000"; ";" between variants,
         "," between config lines), and each one's CPU time per message (from wait4):
         whether sr_post or the broker sets the pace.
         sr3: Python sr3's sr3_post (../shared/peers/bin/sr3_post -c NAME TREE) of the first
         SR_BENCH_POST_SR3_FILES (2000) files of the same tree (the same files, made with
         the same seed), to the same broker, timed and checked the same way: sr3 commits
         an AMQP transaction per message, which waits for the broker's fsync on this disk,
         so it gets a subset.
shovel   AMQP -> AMQP: a backlog of SR_BENCH_SHOVEL (20000) persistent v03 messages queued
         for a stopped relay (an sr_shovel started once to declare and bind its queue, then
         stopped; sr_broker_tool publish fills it), then the relay started and timed until
         the far queue, durable, bound to the output exchange and consumed by NOBODY, holds
         all n (bench/relay.c `depth`: a passive queue.declare every 10 ms). RabbitMQ serves
         a queue being drained faster than one that only fills, and a shovel's far queue
         fills whenever its consumer is away or slower; this is that case. Relays, each on
         a fresh backlog and far queue:
           ceiling   bench/relay.c `relay`: rabbitmq-c alone, basic.consume (prefetch
                     1000) on one connection, basic.publish without confirms on another
                     (a shovel has one per broker), basic.ack each: a relay that waits
                     for nothing. A shovel must not ack before the far broker's
                     confirm, so this bounds it from above.
           confirms  the same rabbitmq-c relay with confirm.select on its out channel,
                     each message acked once its publish is confirmed, up to 1000 awaiting
                     their confirms: what the broker allows any relay that keeps the rule
                     (no ack before the far broker's confirm), printed with its ratio to
                     the ceiling; the gap between it and sr is sr's own.
           defaults  sr_shovel with no batch, prefetch or postWindow line.
                     Goal: >= 0.7 of the ceiling.
           settings  sr_shovel with other settings, SR_BENCH_SHOVEL_VARIANTS (default
                     "batch 100,prefetch 100;postWindow 1000;batch 100,prefetch 100,
                     postWindow 1000": variants split by ";", config lines by ","): each
                     printed with its ratio, the best of them against the goal >= 0.9.
           sr3       Python sr3's shovel (the instance process `sr3 foreground` starts) at
                     its defaults, on the first SR_BENCH_SHOVEL_SR3 (5000) messages of the
                     same backlog, SR_BENCH_SR3_RUNS (1) runs: it relays a few hundred a
                     second. The ratio sr/sr3 is sr's defaults over it.
         In each run the ceiling goes first and last, sr's variants between (their order
         reversed every other run), and each ratio is over the mean of the run's two
         ceilings; the ratio shown is the median of the runs'. Also the CPU time per
         message of each relay process, read from /proc when the last message is in:
         steadier than the wall clock on a busy machine, it tells sr's own cost from the
         broker's pace.
         AMQP -> MQTT: SR_BENCH_SHOVEL_MQTT (20000) messages, counted on the far side by a
         QoS 1 subscriber that takes them as they come (bench/broker.c `count`: an MQTT
         broker has no queue to poll for a topic), once against the harness's mosquitto and
         once against one with set_tcp_nodelay true. Reference: min(rabbitmq-c consume,
         libmosquitto QoS 0 publish) for as many messages of the same size (bench/broker.c
         `ceiling`): a relay cannot beat either. sr3's shovel on the first
         SR_BENCH_SHOVEL_SR3 messages beside it, when its Python has paho-mqtt >= 2.1.0 (sr3
         needs it for MQTT; Debian 12 has 1.6: then one line says the column is left out).
Peak RSS of each process: VmHWM from /proc/<pid>/status, polled until it exits (sr3's is
the Python interpreter's).

SR_BENCH_RUNS (3: each run is long) runs per figure, the median shown. SR_BENCH_FLOW
("post amqp mqtt") picks the sections. The brokers
(their data on the disk of the build folder) and the data live under a new folder of the
build folder, removed at the end. sr3's column is left out, with one line saying so, when
../shared/peers is absent. Exit status 1 when something fails.
"""
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import (REPO, PeakRss, ServerError, build_dir, describe, env_int,  # noqa: E402
                    machine, median, need, start_brokers, tail)

TIMEOUT = 120  # seconds any one step may take before the benchmark is called failed
SR3_TIMEOUT = 300  # sr3 takes minutes where sr takes seconds
PEERS = REPO.parent / "shared" / "peers"
SR3_LIB = PEERS / "sarracenia"
SR3_INSTANCE = SR3_LIB / "sarracenia" / "instance.py"
SR3_POST = PEERS / "bin" / "sr3_post"
PYTHON3 = "/usr/bin/python3"  # the one sr3's own bin/sr3 runs
GOAL_POST, GOAL_DEFAULTS, GOAL_BEST, GOAL_RSS_KIB = 0.8, 0.7, 0.9, 10240
POST_WINDOW = 500  # sr_post's postWindow by default (lib/options.def): the confirmed reference's
CONFIRMED, RELAY_WINDOW = "relay with confirms", 1000
DEFAULT_POST_VARIANTS = "batch 100,postWindow 1000"
DEFAULT_VARIANTS = "batch 100,prefetch 100;postWindow 1000;batch 100,prefetch 100,postWindow 1000"


class BenchError(RuntimeError):
    """A step failed: the message says which, with the tail of its log."""


class Bench:
    """The build's programs, a private HOME for sr (and one for sr3), and the brokers.
    bench/plugin.py builds on it too."""

    def __init__(self, work, rabbit, mosq):
        b = build_dir()
        self.bin = b / "bin"
        self.tool = need(b / "test" / "tools" / "sr_broker_tool")
        self.broker = need(b / "bench" / "broker")
        self.relay = str(b / "bench" / "relay")  # flow.py's main() checks it is built
        need(self.bin / "sr_post")
        need(self.bin / "sr_shovel")
        self.work = work
        self.rabbit, self.mosq = rabbit, mosq
        home = work / "home"
        env = dict(os.environ)
        for var in ("SR_CONFIG_DIR", "SR_STATE_DIR"):
            env.pop(var, None)
        env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "XDG_CACHE_HOME": str(home / ".cache"), "SR_CONFD": str(REPO / "conf.d")})
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            Path(env[var]).mkdir(parents=True, exist_ok=True)
        self.env = env
        self.sr3_env = None
        if SR3_INSTANCE.is_file():
            home3 = work / "home-sr3"
            (home3 / ".config" / "sr3").mkdir(parents=True, exist_ok=True)
            env3 = dict(os.environ)
            for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
                env3.pop(var, None)
            env3.update({"HOME": str(home3), "PYTHONPATH": str(SR3_LIB),
                         "PYTHONDONTWRITEBYTECODE": "1"})
            self.sr3_env = env3

    def config(self, component, name, text):
        d = Path(self.env["XDG_CONFIG_HOME"]) / "sr" / component
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.conf").write_text(text)

    def sr3_config(self, component, name, text):
        d = Path(self.sr3_env["HOME"]) / ".config" / "sr3" / component
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.conf").write_text(text)

    def run(self, argv, what, **kw):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)
        if r.returncode != 0:
            raise BenchError(f"{what}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r

    def declare_exchange(self, url, exchange):
        self.run([self.tool, "publish", url, exchange, "v03.declare"], f"declaring {exchange}",
                 input="")

    def bound_queue(self, url, queue, exchange):
        """A durable queue bound to exchange with #, declared and left empty."""
        self.run([self.tool, "consume", url, "--queue", queue, "--bind", f"{exchange}:#",
                  "--timeout", "0.1"], f"declaring queue {queue}")

    def delete_queue(self, url, queue):
        """Gone, with what it holds, so no run leaves the broker more to carry."""
        self.run([self.tool, "delete", url, queue], f"deleting queue {queue}")

    def _ready(self, argv, where):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        first = proc.stdout.readline()
        if first.strip() != "ready":
            raise BenchError(f"watching {where}: {first}{proc.stderr.read()}")
        return proc

    def counter(self, url, where, n):
        """bench/broker.c count (takes the messages): started and listening when this
        returns."""
        return self._ready([self.broker, "count", url, where, str(n), "30"], where)

    def depth(self, url, queue, n, timeout=30):
        """bench/relay.c depth (takes nothing: polls the queue's message count): started
        when this returns; Bench.counted reads its answer."""
        return self._ready([self.relay, "depth", url, queue, str(n), str(timeout)], queue)

    @staticmethod
    def counted(proc, n, timeout=TIMEOUT):
        """(count, CLOCK_MONOTONIC of the nth) from a counter or a depth watcher, which
        must have seen n."""
        out, err = proc.communicate(timeout=timeout)
        words = out.split()
        if proc.returncode != 0 or len(words) < 3 or words[0] != "done":
            raise BenchError(f"the far side got {words[1] if len(words) > 1 else '?'} of {n} "
                             f"messages\n{out}{err}")
        return int(words[1]), float(words[2])

    def publish_confirmed(self, url, exchange, n, size):
        """bench/relay.c publish: rabbitmq-c with confirms, POST_WINDOW awaiting at most,
        to an exchange and queue of its own (sr_post's queue keeps only sr_post's)."""
        r = self.run([self.relay, "publish", url, exchange, str(n), str(max(1, int(size))),
                      str(POST_WINDOW)], "the confirmed publish")
        return float(r.stdout.split()[2])

    def ceiling(self, url, n, size):
        r = self.run([self.broker, "ceiling", url, str(n), str(max(300, int(size)))],
                     "the ceiling")
        words = r.stdout.split()
        return {words[i]: float(words[i + 1]) for i in range(1, len(words) - 1, 2)}


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds of pid so far (a zombie keeps them), or 0.0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def stop_group(proc, log, what):
    """SIGTERM to proc's process group (sr3's children with it), SIGKILL after 30 s; an exit
    other than 0 or by that SIGTERM fails the benchmark."""
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
        raise BenchError(f"{what} stopped with {rc}\n{tail(log)}")


# ---- sr_post ----

def make_tree(root, count, seed=7):
    """count files; the first k of a larger tree are those of a tree of k."""
    rng = random.Random(seed)
    for i in range(count):
        folders = [f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 3))]
        path = root.joinpath(*folders, f"f{i:05d}.dat")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 2048)))


def forget_identities(root):
    """Drop the identity sr_post (and sr3, under the same names) cached in each file's
    xattrs, so every run reads and hashes every file, as for files never posted before."""
    for folder, _, names in os.walk(root):
        for name in names:
            for attr in ("user.sr_identity", "user.sr_mtime"):
                try:
                    os.removexattr(os.path.join(folder, name), attr)
                except OSError:
                    pass


def timed_post(argv, env, log, timeout):
    """(exit status, seconds from start to exit, peak RSS KiB, CPU seconds) of one post
    process (its CPU: what the children reaped meanwhile used, and it is the only one)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        peak = PeakRss(proc.pid)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BenchError(f"{argv[0]} took over {timeout} s\n{tail(log)}") from None
        took = time.monotonic() - t0
        peak.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return rc, took, peak.kib, cpu


def post_sr3(b, url, n3):
    """sr3_post of the first n3 files of the tree: (msg/s, peak RSS KiB)."""
    tree = b.work / "tree-sr3"
    if not tree.exists():
        make_tree(tree, n3)
    forget_identities(tree)
    exchange, queue = "xs_bench_post_sr3", "q_bench.post_sr3"
    b.declare_exchange(url, exchange)
    b.bound_queue(url, queue, exchange)
    b.sr3_config("post", "bench", f"post_broker {url}\npost_exchange {exchange}\n"
                 f"post_baseUrl sftp://tfeed@files.example.com\npost_baseDir {tree}\n")
    log = b.work / "post_sr3.log"
    rc, took, kib, cpu = timed_post([str(SR3_POST), "-c", "bench", str(tree)], b.sr3_env, log,
                                    SR3_TIMEOUT)
    if rc != 0:
        raise BenchError(f"sr3_post: exit {rc}\n{tail(log)}")
    # all of them in the queue (sr3_post has exited: its commits are done), and one
    # message per folder: sr3's walk posts each folder below the top too
    folders = sum(len(dirs) for _, dirs, _ in os.walk(tree))
    got, _ = Bench.counted(b.depth(url, queue, n3 + folders, 5), n3 + folders)
    if got != n3 + folders:
        raise BenchError(f"sr3_post: {got} messages in the queue for {n3} files and "
                         f"{folders} folders")
    b.delete_queue(url, queue)
    return n3 / took, kib, folders, cpu / n3


def bench_post(b, runs, sr3_runs):
    n = env_int("SR_BENCH_POST_FILES", 10000)
    n3 = min(n, env_int("SR_BENCH_POST_SR3_FILES", 2000, 100))
    url = b.rabbit.url("tfeed")
    tree = b.work / "tree"
    make_tree(tree, n)
    exchange, queue = "xs_bench_post", "q_bench.post"
    b.declare_exchange(url, exchange)
    b.bound_queue(url, queue, exchange)
    variants = variants_env("SR_BENCH_POST_VARIANTS", DEFAULT_POST_VARIANTS)
    names = ["defaults", *(name for name, _ in variants)]
    for i, name in enumerate(names):
        b.config("post", f"bench{i}", "\n".join(
            [f"post_broker {url}", f"post_exchange {exchange}",
             "post_baseUrl sftp://tfeed@files.example.com", f"post_baseDir {tree}",
             *(variants[i - 1][1] if i else [])]) + "\n")
    rate = {name: [] for name in names}
    cpu = {name: [] for name in names}
    ratio = {name: [] for name in names}
    rss, size, sr3, rss3, cpu3, folders = [], None, [], [], [], 0
    for r in range(runs):
        order = list(enumerate(names)) if r % 2 == 0 else list(reversed(list(enumerate(names))))
        got = {}
        for i, name in order:
            forget_identities(tree)
            log = b.work / f"post{r}_{i}.log"
            rc, took, kib, secs = timed_post([str(b.bin / "sr_post"), "-c", f"bench{i}",
                                              str(tree)], b.env, log, TIMEOUT)
            posted = log.read_text(errors="replace").count("posted ")
            if rc != 0 or posted != n:
                raise BenchError(f"sr_post ({name}): exit {rc}, {posted} of {n} posted\n"
                                 f"{tail(log)}")
            # what reached the queue: all of them (the first time, their sizes too)
            if size is None:
                out = b.run([b.tool, "consume", url, "--queue", queue, "--max", str(n),
                             "--timeout", "10"], "reading the posted messages")
                bodies = [json.loads(line)["body"] for line in out.stdout.splitlines()[1:]
                          if line.startswith("{\"topic")]
                if len(bodies) != n:
                    raise BenchError(f"{len(bodies)} of {n} posted messages in the queue")
                size = sum(len(x.encode()) for x in bodies) / n
            else:
                Bench.counted(b.counter(url, queue, n), n)
            got[name] = posted / took
            rate[name].append(got[name])
            cpu[name].append(secs / n)
            if name == "defaults":
                rss.append(kib)
        ceiling = b.ceiling(url, n, size)["publish"]
        confirmed = b.publish_confirmed(url, f"{exchange}_confirmed", n, size)
        rate.setdefault("confirmed", []).append(confirmed)
        for name in names:
            ratio[name].append(got[name] / ceiling)
        line = (f"  run {r + 1}: " + ", ".join(f"sr_post {name} {got[name]:.0f}" for name in names)
                + f", ceiling {ceiling:.0f} msg/s")
        rate.setdefault("ceiling", []).append(ceiling)
        if r < sr3_runs:
            rate3, kib3, folders, c3 = post_sr3(b, url, n3)
            sr3.append(rate3)
            rss3.append(kib3)
            cpu3.append(c3)
            line += f"; sr3_post {rate3:.0f} files/s ({n3} files)"
        print(line, file=sys.stderr, flush=True)
    o = median(rate["defaults"])
    us = {name: f"{median(cpu[name]) * 1e6:5.1f} us CPU/msg" for name in names}
    print(f"post: sr_post of {n} files (0-2 KiB, each read and hashed: no identity cached), "
          f"wall clock from start to exit, messages of {size:.0f} bytes")
    rd = median(ratio["defaults"])
    row("sr_post, defaults", o, f"{us['defaults']}   ratio sr/ceiling {rd:.2f} (goal >= "
        f"{GOAL_POST}: {met(rd >= GOAL_POST)})")
    for name in names[1:]:
        row(f"sr_post, {name}", median(rate[name]),
            f"{us[name]}   ratio sr/ceiling {median(ratio[name]):.2f}")
    row("ceiling: rabbitmq-c publish, no confirms", median(rate["ceiling"]), "")
    rc = median([x / y for x, y in zip(rate["confirmed"], rate["ceiling"])])
    row(f"rabbitmq-c publish, confirms, window {POST_WINDOW}", median(rate["confirmed"]),
        f"   ratio to the ceiling {rc:.2f}: the most a publisher that waits for the confirms "
        f"gets (nothing read, nothing hashed)")
    if sr3:
        s3 = median(sr3)
        row("sr3_post (Python sr3)", s3,
            f"{median(cpu3) * 1e6:5.0f} us CPU/file  ratio sr/sr3 {o / s3:.1f} (sr3: the first "
            f"{n3} files, {len(sr3)} run(s); it also posted their {folders} folders, not "
            f"counted)", "files/s")
    print(f"  {rss_line(rss)}" + (f"; sr3_post {max(rss3)} KiB" if rss3 else ""))
    print("  (sr_post publishes in confirmed batches of `batch`, up to `postWindow` messages "
          "awaiting confirms; sr3_post commits a transaction per message; the ceiling once a "
          "run, after the sr_post variants; CPU from wait4)", flush=True)


# ---- sr_shovel, AMQP -> AMQP, far queue not consumed ----

def shovel_lines(n, seed=11):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        body = {"pubTime": f"20260301T12{i // 6000 % 60:02d}{i // 100 % 60:02d}.{i % 1000:03d}",
                "baseUrl": "https://dd.example.com/",
                "relPath": f"bench/{i % 24:02d}/obs/f{i:06d}.grib2",
                "identity": {"method": "sha512",
                             "value": rng.randbytes(64).hex()[:86] + "=="},
                "size": rng.randint(1, 1 << 20), "mtime": "20260301T120000.5",
                "mode": "644"}
        lines.append(json.dumps(body, separators=(",", ":")))
    return lines


def variants_env(var, default):
    """[(name, config lines)] from environment variable var (default when unset):
    variants split by ";", config lines by ","."""
    out = []
    for part in os.environ.get(var, default).split(";"):
        lines = [x.strip() for x in part.split(",") if x.strip()]
        for line in lines:
            if not re.fullmatch(r"[A-Za-z_]+ \S.*", line):
                sys.exit(f"flow.py: {var}: {line!r} is not a config line")
        if lines:
            out.append((", ".join(lines), lines))
    return out


def shovel_variants():
    """[(name, config lines)]: the ceiling, sr's defaults, then SR_BENCH_SHOVEL_VARIANTS."""
    return [("ceiling", []), ("defaults", []), (CONFIRMED, []),
            *variants_env("SR_BENCH_SHOVEL_VARIANTS", DEFAULT_VARIANTS)]


def start_process(argv, env, log):
    with open(log, "w") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def declared_shovel(b, kind, config, log):
    """sr_shovel (kind "sr") or sr3's (kind "sr3") started once to declare and bind its
    queue, then stopped: what it logs once subscribed, "connected to" or "binding"."""
    if kind == "sr3":
        argv, env, ready = ([PYTHON3, str(SR3_INSTANCE), "--no", "0", "foreground",
                             f"shovel/{config}"], b.sr3_env, "binding")
    else:
        argv, env, ready = [str(b.bin / "sr_shovel"), "foreground", config], b.env, "connected to"
    proc = start_process(argv, env, log)
    deadline = time.monotonic() + 60
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc, log, kind)
            raise BenchError(f"{kind}: the shovel did not subscribe\n{tail(log)}")
        time.sleep(0.1)
    time.sleep(0.5)
    stop_group(proc, log, kind)
    return argv, env


def relay_once(b, name, lines, tag, feed, n):
    """One relay of a fresh backlog of n messages to a far queue nobody consumes, timed
    from the relay's start until that queue holds them all: (msg/s, peak RSS KiB)."""
    url = b.rabbit.url("tfeed")
    ex_in, ex_out = f"xs_bench_in_{tag}", f"xs_bench_out_{tag}"
    q_in, q_out = f"q_tfeed.bench.shovel.{tag}", f"q_bench.out.{tag}"
    b.declare_exchange(url, ex_in)
    b.declare_exchange(url, ex_out)
    if name in ("ceiling", CONFIRMED):
        b.bound_queue(url, q_in, ex_in)
        argv, env = [b.relay, "relay", url, q_in, ex_out, str(n)], None
        if name == CONFIRMED:
            env = dict(os.environ, SR_BENCH_RELAY_WINDOW=str(RELAY_WINDOW))
    else:
        kind = "sr3" if name == "sr3" else "sr"
        text = "\n".join([f"broker {url}", f"exchange {ex_in}", "subtopic #",
                          f"queueName {q_in}", f"post_broker {url}",
                          f"post_exchange {ex_out}", "post_topicPrefix v03", *lines]) + "\n"
        if kind == "sr3":
            b.sr3_config("shovel", tag, text)
        else:
            b.config("shovel", tag, text)
        argv, env = declared_shovel(b, kind, tag, b.work / f"shovel_{tag}.declare.log")
    b.run([b.tool, "publish", url, ex_in, "v03.bench", "--batch", "500"], "the backlog",
          input=feed)
    b.bound_queue(url, q_out, ex_out)
    watch = b.depth(url, q_out, n, 30 if name != "sr3" else 60)
    log = b.work / f"shovel_{tag}.log"
    t0 = time.monotonic()
    proc = start_process(argv, env, log)
    peak = PeakRss(proc.pid)
    try:
        got, last = Bench.counted(watch, n, SR3_TIMEOUT if name == "sr3" else TIMEOUT)
        cpu = cpu_seconds(proc.pid)
    except BenchError as err:
        raise BenchError(f"{err}\n{name}: the relay's log:\n{tail(log)}") from None
    finally:
        if name in ("ceiling", CONFIRMED):
            if proc.wait(timeout=TIMEOUT) != 0:
                raise BenchError(f"bench/relay relay failed\n{tail(log)}")
        elif proc.poll() is None:
            stop_group(proc, log, name)
    peak.join()
    if got != n:
        print(f"  ({name}: {got} messages in the far queue for {n})", file=sys.stderr)
    if name != "sr3" and re.search(r"\b(ERROR|CRITICAL)\b", log.read_text(errors="replace")):
        raise BenchError(f"{name}: errors in the shovel's log\n{tail(log)}")
    b.delete_queue(url, q_out)
    b.delete_queue(url, q_in)
    return n / (last - t0), peak.kib, cpu / n


def bench_shovel_amqp(b, runs, sr3_runs):
    n = env_int("SR_BENCH_SHOVEL", 20000, 100)
    n3 = min(n, env_int("SR_BENCH_SHOVEL_SR3", 5000, 100))
    lines = shovel_lines(n)
    feed = "".join(line + "\n" for line in lines)
    feed3 = "".join(line + "\n" for line in lines[:n3])
    size = sum(len(line) for line in lines) / n
    variants = shovel_variants()
    rate = {name: [] for name, _ in variants}
    rss = {name: [] for name, _ in variants}
    cpu = {name: [] for name, _ in variants}
    ratio = {name: [] for name, _ in variants[1:]}
    rate3, rss3 = [], []
    for r in range(runs):
        # the ceiling first and last, sr's variants between (their order reversed every
        # other run): each ratio is over the mean of the two, which brackets it in time
        middle = variants[1:] if r % 2 == 0 else list(reversed(variants[1:]))
        order = [variants[0], *middle, variants[0]]
        got, ceil = {}, []
        for i, (name, conf) in enumerate(order):
            one = relay_once(b, name, conf, f"{r}_{i}", feed, n)
            rate[name].append(one[0])
            rss[name].append(one[1])
            cpu[name].append(one[2])
            if name == "ceiling":
                ceil.append(one[0])
            got[name] = one[0]
        for name in ratio:
            ratio[name].append(got[name] / (sum(ceil) / len(ceil)))
        line = (f"  run {r + 1}: ceiling {ceil[0]:.0f} and {ceil[-1]:.0f}, "
                + ", ".join(f"{name} {got[name]:.0f}" for name, _ in variants[1:]))
        if r < sr3_runs:
            s3 = relay_once(b, "sr3", [], f"{r}_sr3", feed3, n3)
            rate3.append(s3[0])
            rss3.append(s3[1])
            cpu.setdefault("sr3", []).append(s3[2])
            line += f", sr3 {s3[0]:.0f} ({n3} messages)"
        print(line + " msg/s", file=sys.stderr, flush=True)
    print(f"shovel AMQP -> AMQP: {n} persistent messages of {size:.0f} bytes queued before the "
          f"start; the far queue, bound to the output exchange, consumed by nobody; timed "
          f"from the start until it holds them all")
    rd = median(ratio["defaults"])
    us = {name: f"{median(v) * 1e6:5.1f} us CPU/msg" for name, v in cpu.items()}
    row("sr_shovel, defaults", median(rate["defaults"]),
        f"{us['defaults']}   ratio sr/ceiling {rd:.2f} (goal >= {GOAL_DEFAULTS}: "
        f"{met(rd >= GOAL_DEFAULTS)})")
    others = [name for name, _ in variants[3:]]
    for name in others:
        row(f"sr_shovel, {name}", median(rate[name]),
            f"{us[name]}   ratio sr/ceiling {median(ratio[name]):.2f}")
    if others:
        best = max(others, key=lambda x: median(ratio[x]))
        rb = median(ratio[best])
        print(f"  best settings ({best}): ratio sr/ceiling {rb:.2f} (goal >= {GOAL_BEST}: "
              f"{met(rb >= GOAL_BEST)})")
    row("ceiling: rabbitmq-c relay, no confirms", median(rate["ceiling"]),
        f"{us['ceiling']}   (prefetch 1000, basic.ack each, publish on a 2nd connection)")
    row(f"rabbitmq-c relay, confirms, window {RELAY_WINDOW}", median(rate[CONFIRMED]),
        f"{us[CONFIRMED]}   ratio to the ceiling {median(ratio[CONFIRMED]):.2f}: the most a "
        f"relay acking only confirmed messages does on this broker")
    if rate3:
        s3 = median(rate3)
        row("sr3 shovel (Python sr3), defaults", s3,
            f"{us['sr3']}   ratio sr/sr3 {median(rate['defaults']) / s3:.1f} (sr's defaults; "
            f"sr3: the first "
            f"{n3} messages, {len(rate3)} run(s))")
    shovels = [name for name, _ in variants if name not in ("ceiling", CONFIRMED)]
    worst = max(max(rss[name]) for name in shovels)
    print("  peak RSS: " + ", ".join(f"{name} {max(rss[name])} KiB" for name in shovels)
          + (f"; sr3 {max(rss3)} KiB" if rss3 else "")
          + f" (sr_shovel goal < 10 MiB: {met(worst < GOAL_RSS_KIB)})")
    print("  (each relay on a fresh backlog put in by sr_broker_tool publish, batch 500, "
          "confirms; the far queue's depth polled every 10 ms; the ceiling measured first and "
          "last in each run, a ratio over the mean of the two; CPU: the relay process's own, "
          "from /proc when the last message is in)", flush=True)


# ---- sr_shovel, AMQP -> MQTT (far side consumed) ----

def mqtt_once(b, kind, tag, feed, n, post_server):
    """sr_shovel (kind "sr") or sr3's relaying a fresh backlog of n messages from RabbitMQ
    to a Mosquitto, timed from its start until a QoS 1 subscriber has taken them all:
    (msg/s, peak RSS KiB, the backlog's publish rate)."""
    url = b.rabbit.url("tfeed")
    ex_in, ex_out = f"xs_bench_in_{tag}", f"xs_bench_out_{tag}"
    q_in = f"q_tfeed.bench.shovel.{tag}"
    b.declare_exchange(url, ex_in)
    text = (f"broker {url}\nexchange {ex_in}\nsubtopic #\nqueueName {q_in}\n"
            f"post_broker {post_server.url('tfeed')}\npost_exchange {ex_out}\n"
            "post_topicPrefix v03\n")
    if kind == "sr3":
        b.sr3_config("shovel", tag, text)
    else:
        b.config("shovel", tag, text)
    argv, env = declared_shovel(b, kind, tag, b.work / f"shovel_{tag}.declare.log")
    t0 = time.monotonic()
    b.run([b.tool, "publish", url, ex_in, "v03.bench", "--batch", "500"], "the backlog",
          input=feed)
    fed = n / (time.monotonic() - t0)
    counter = b.counter(post_server.url("tfeed"), f"{ex_out}/v03/#", n)
    log = b.work / f"shovel_{tag}.log"
    t0 = time.monotonic()
    proc = start_process(argv, env, log)
    peak = PeakRss(proc.pid)
    try:
        _, last = Bench.counted(counter, n, SR3_TIMEOUT if kind == "sr3" else TIMEOUT)
    except BenchError as err:
        raise BenchError(f"{err}\n{kind}: the shovel's log:\n{tail(log)}") from None
    finally:
        if proc.poll() is None:
            stop_group(proc, log, kind)
    peak.join()
    if kind == "sr" and re.search(r"\b(ERROR|CRITICAL)\b", log.read_text(errors="replace")):
        raise BenchError(f"sr_shovel: errors in its log\n{tail(log)}")
    b.delete_queue(url, q_in)
    return n / (last - t0), peak.kib, fed


def sr3_mqtt_missing():
    """Why sr3 cannot speak MQTT here, or None: it needs paho-mqtt >= 2.1.0 (its
    featuredetection), and Debian 12's python3-paho-mqtt is 1.6."""
    r = subprocess.run([PYTHON3, "-c", "import paho.mqtt; print(paho.mqtt.__version__)"],
                       capture_output=True, text=True)
    version = r.stdout.strip() if r.returncode == 0 else None
    if version is None:
        return f"no paho-mqtt for {PYTHON3}"
    if tuple(int(x) for x in re.findall(r"\d+", version)[:2]) < (2, 1):
        return f"{PYTHON3} has paho-mqtt {version}, sr3 needs >= 2.1.0 for MQTT"
    return None


def bench_shovel_mqtt(b, runs, sr3_runs, post_server, label):
    """Relayed from RabbitMQ to a Mosquitto, counted by a subscriber taking the messages
    (an MQTT broker has no queue whose depth could be polled)."""
    n = env_int("SR_BENCH_SHOVEL_MQTT", 20000, 100)
    n3 = min(n, env_int("SR_BENCH_SHOVEL_SR3", 5000, 100))
    url = b.rabbit.url("tfeed")
    post_url = post_server.url("tfeed")
    lines = shovel_lines(n)
    feed = "".join(line + "\n" for line in lines)
    feed3 = "".join(line + "\n" for line in lines[:n3])
    size = sum(len(line) for line in lines) / n
    ours, ratios, rss, feeds, rate3, rss3 = [], [], [], [], [], []
    ceil_pub, ceil_con = [], []
    for r in range(runs):
        tag = f"{post_server.name[:1]}{post_server.port}_{r}"
        rate, kib, fed = mqtt_once(b, "sr", tag, feed, n, post_server)
        ours.append(rate)
        rss.append(kib)
        feeds.append(fed)
        # the ceiling, same messages, same run
        con = b.ceiling(url, n, size)["consume"]
        pub = b.ceiling(post_url, n, size)["publish"]
        ceil_pub.append(pub)
        ceil_con.append(con)
        ratios.append(rate / min(pub, con))
        line = (f"  run {r + 1}: {label} sr_shovel {rate:.0f} msg/s, ceiling "
                f"{min(pub, con):.0f} msg/s (publish {pub:.0f}, consume {con:.0f}), peak RSS "
                f"{kib} KiB")
        if r < sr3_runs:
            s3 = mqtt_once(b, "sr3", f"{tag}_sr3", feed3, n3, post_server)
            rate3.append(s3[0])
            rss3.append(s3[1])
            line += f"; sr3 {s3[0]:.0f} msg/s ({n3} messages), peak RSS {s3[1]} KiB"
        print(line, file=sys.stderr, flush=True)
    o, ratio = median(ours), median(ratios)
    c = min(median(ceil_pub), median(ceil_con))
    print(f"shovel {label}: {n} messages of {size:.0f} bytes queued before the start, timed "
          f"from the start until a QoS 1 subscriber on the far side has taken them all")
    row("sr_shovel, defaults", o, f"ratio sr/ceiling {ratio:.2f}")
    row(f"ceiling: min(rabbitmq-c consume {median(ceil_con):.0f}, libmosquitto QoS 0 "
        f"{median(ceil_pub):.0f})", c, "")
    if rate3:
        s3 = median(rate3)
        row("sr3 shovel (Python sr3), defaults", s3,
            f"ratio sr/sr3 {o / s3:.1f} (sr3: the first {n3} messages, {len(rate3)} run(s))")
    print(f"  {rss_line(rss)}" + (f"; sr3 {max(rss3)} KiB" if rss3 else ""))
    print(f"  (the backlog went in with sr_broker_tool publish, batch 500, confirms: "
          f"{median(feeds):.0f} msg/s)", flush=True)


def row(label, rate, rest, unit="msg/s"):
    """One figure line: the columns every section of this benchmark prints."""
    print(f"  {label:52s} {rate:7.0f} {unit:7s} {rest}".rstrip())


def met(ok):
    return "met" if ok else "MISSED"


def rss_line(rss):
    worst = max(rss)
    return (f"peak RSS of the sr process {worst} KiB = {worst / 1024:.1f} MiB (runs: "
            f"{', '.join(str(k) for k in rss)} KiB; goal < 10 MiB: "
            f"{met(worst < GOAL_RSS_KIB)})")


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    sr3_runs = env_int("SR_BENCH_SR3_RUNS", 1, 0)
    sides = os.environ.get("SR_BENCH_FLOW", "post amqp mqtt").split()
    print(machine(), flush=True)
    need(build_dir() / "bench" / "relay")
    work = None
    try:
        with start_brokers(nodelay=True) as (rabbit, mosq, mosq_nodelay):
            work = Path(rabbit.basedir).parent
            print(describe(rabbit, mosq))
            print(f"broker:  and a second mosquitto with set_tcp_nodelay true on "
                  f"127.0.0.1:{mosq_nodelay.port}")
            b = Bench(work, rabbit, mosq)
            if b.sr3_env is None:
                print(f"peer:    no sr3 at {SR3_LIB}: its column is left out")
                sr3_runs = 0
            elif sr3_runs:
                print(f"peer:    sr3 from {SR3_LIB}, {PYTHON3}")
            print(f"figures: median of {runs} runs ({sr3_runs} for sr3), sr and the reference "
                  f"alternating; data in {work}", flush=True)
            if "post" in sides:
                bench_post(b, runs, sr3_runs)
            if "amqp" in sides:
                bench_shovel_amqp(b, runs, sr3_runs)
            if "mqtt" in sides:
                why = sr3_mqtt_missing() if sr3_runs else None
                if why:
                    print(f"peer:    {why}: no sr3 column on the MQTT shovels", flush=True)
                    sr3_runs = 0
                bench_shovel_mqtt(b, runs, sr3_runs, mosq, "AMQP -> MQTT")
                bench_shovel_mqtt(b, runs, sr3_runs, mosq_nodelay,
                                  "AMQP -> MQTT, mosquitto with set_tcp_nodelay true")
        return 0
    except (ServerError, BenchError, subprocess.TimeoutExpired) as err:
        print(f"bench/flow.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
