#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/flow.py: sr's real executables against private brokers, beside the broker's
ceiling measured in the same run.

    SR_BUILD=build bench/flow.py      (make bench-flow)

post     sr_post of SR_BENCH_POST_FILES (10000) small files (0 to 2 KiB, in nested
         folders, their cached identities removed before each run so each is hashed as a
         new file would be): messages/s = the messages it says it posted over its wall time
         (start to exit), and its peak RSS. The messages are then counted in a queue bound
         before, so none is missing. Reference: the AMQP ceiling of bench/broker.c (rabbitmq-c
         basic.publish without confirms) for as many messages of the same mean size.
shovel   a backlog queued for a stopped sr_shovel (started once to declare and bind its
         queue, stopped, then fed with sr_broker_tool publish), then `sr_shovel foreground`
         started and timed until the consumer on the far side has every message:
         AMQP -> AMQP, SR_BENCH_SHOVEL (20000) messages, counted by draining a queue bound
         to the output exchange before the start; AMQP -> MQTT, SR_BENCH_SHOVEL_MQTT (20000),
         counted by a QoS 1 subscriber, once against the harness's mosquitto and once
         against one with set_tcp_nodelay true. The consumers are bench/broker.c's `count`
         mode, which does no more than take the messages.
         Reference: the ceiling for as many messages of the same mean size, in the same run:
         min(rabbitmq-c consume, raw publish on the output: rabbitmq-c without confirms, or
         libmosquitto QoS 0). A relay cannot beat either; it is still an upper bound, since
         the broker then does both at once on the same cores.
Peak RSS of each sr process: VmHWM from /proc/<pid>/status, polled until it exits.

Goals (the issue): shovel >= 0.5x the ceiling; < 10 MiB RSS per process.

SR_BENCH_RUNS (3: each run is long) runs per figure, the median shown, sr and the
reference alternating; a ratio is the median of the runs' ratios. The brokers and the
data live under a new folder of the build folder, removed at the end. Exit status 1 when
something fails.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import (REPO, PeakRss, ServerError, build_dir, describe, env_int,  # noqa: E402
                    machine, median, need, start_brokers, tail)

TIMEOUT = 120  # seconds any one step may take before the benchmark is called failed


class BenchError(RuntimeError):
    """A step failed: the message says which, with the tail of its log."""


class Bench:
    """The build's programs, a private HOME for sr, and the brokers."""

    def __init__(self, work, rabbit, mosq):
        b = build_dir()
        self.bin = b / "bin"
        self.tool = need(b / "test" / "tools" / "sr_broker_tool")
        self.broker = need(b / "bench" / "broker")
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

    def config(self, component, name, text):
        d = Path(self.env["XDG_CONFIG_HOME"]) / "sr" / component
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

    def counter(self, url, where, n):
        """bench/broker.c count: started and listening when this returns."""
        proc = subprocess.Popen([self.broker, "count", url, where, str(n), "30"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        if first.strip() != "ready":
            raise BenchError(f"counter on {where}: {first}{proc.stderr.read()}")
        return proc

    @staticmethod
    def counted(proc, n):
        """(count, CLOCK_MONOTONIC of the last) from a counter, which must have got n."""
        out, err = proc.communicate(timeout=TIMEOUT)
        words = out.split()
        if proc.returncode != 0 or len(words) < 3 or words[0] != "done":
            raise BenchError(f"the consumer got {words[1] if len(words) > 1 else '?'} of {n} "
                             f"messages\n{out}{err}")
        return int(words[1]), float(words[2])

    def ceiling(self, url, n, size):
        r = self.run([self.broker, "ceiling", url, str(n), str(max(300, int(size)))],
                     "the ceiling")
        words = r.stdout.split()
        return {words[i]: float(words[i + 1]) for i in range(1, len(words) - 1, 2)}


# ---- sr_post ----

def make_tree(root, count, seed=7):
    rng = random.Random(seed)
    for i in range(count):
        folders = [f"d{rng.randint(0, 9)}" for _ in range(rng.randint(0, 3))]
        path = root.joinpath(*folders, f"f{i:05d}.dat")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(0, 2048)))


def forget_identities(root):
    """Drop the identity sr_post cached in each file's xattrs, so every run reads and
    hashes every file, as for files never posted before."""
    for folder, _, names in os.walk(root):
        for name in names:
            for attr in ("user.sr_identity", "user.sr_mtime"):
                try:
                    os.removexattr(os.path.join(folder, name), attr)
                except OSError:
                    pass


def bench_post(b, runs):
    n = env_int("SR_BENCH_POST_FILES", 10000)
    url = b.rabbit.url("tfeed")
    tree = b.work / "tree"
    make_tree(tree, n)
    exchange, queue = "xs_bench_post", "q_bench.post"
    b.declare_exchange(url, exchange)
    b.bound_queue(url, queue, exchange)
    b.config("post", "bench", f"post_broker {url}\npost_exchange {exchange}\n"
             f"post_baseUrl sftp://tfeed@files.example.com\npost_baseDir {tree}\n")
    ours, refs, rss, size = [], [], [], None
    for r in range(runs):
        forget_identities(tree)
        log = b.work / f"post{r}.log"
        with open(log, "w") as out:
            t0 = time.monotonic()
            proc = subprocess.Popen([str(b.bin / "sr_post"), "-c", "bench", str(tree)],
                                    env=b.env, stdout=out, stderr=subprocess.STDOUT)
            peak = PeakRss(proc.pid)
            rc = proc.wait(timeout=TIMEOUT)
            took = time.monotonic() - t0
            peak.join()
        text = log.read_text(errors="replace")
        posted = text.count("posted ")
        if rc != 0 or posted != n:
            raise BenchError(f"sr_post: exit {rc}, {posted} of {n} posted\n{tail(log)}")
        # what reached the queue: all of them (the first run also reads their sizes)
        if size is None:
            got = b.run([b.tool, "consume", url, "--queue", queue, "--max", str(n),
                         "--timeout", "10"], "reading the posted messages")
            bodies = [json.loads(line)["body"] for line in got.stdout.splitlines()[1:]
                      if line.startswith("{\"topic")]
            if len(bodies) != n:
                raise BenchError(f"{len(bodies)} of {n} posted messages in the queue")
            size = sum(len(x.encode()) for x in bodies) / n
        else:
            Bench.counted(b.counter(url, queue, n), n)
        ours.append(posted / took)
        rss.append(peak.kib)
        refs.append(b.ceiling(url, n, size)["publish"])
        print(f"  run {r + 1}: sr_post {posted / took:.0f} msg/s ({took:.2f} s), ceiling "
              f"{refs[-1]:.0f} msg/s, peak RSS {peak.kib} KiB", file=sys.stderr, flush=True)
    o, c = median(ours), median(refs)
    ratio = median([x / y for x, y in zip(ours, refs)])
    print(f"post: sr_post of {n} files (0-2 KiB, each read and hashed: no identity cached), "
          f"wall clock from start to exit, messages of {size:.0f} bytes")
    print(f"  sr_post                                   {o:8.0f} msg/s   ratio sr/ceiling "
          f"{ratio:.2f}")
    print(f"  ceiling: rabbitmq-c publish, no confirms  {c:8.0f} msg/s")
    print(f"  {rss_line(rss)}")
    print("  (sr_post publishes in confirmed batches of `batch` (25): see bench-broker for "
          "what confirms cost)", flush=True)


# ---- sr_shovel ----

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


def start_shovel(b, config, log):
    out = open(log, "w")
    proc = subprocess.Popen([str(b.bin / "sr_shovel"), "foreground", config], env=b.env,
                            stdout=out, stderr=subprocess.STDOUT)
    return proc, out, PeakRss(proc.pid)


def stop_shovel(proc, out, log):
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = "killed after 30 s"
    out.close()
    if rc != 0:
        raise BenchError(f"sr_shovel stopped with {rc}\n{tail(log)}")


def bench_shovel(b, runs, n, post_server, label):
    """n messages relayed from RabbitMQ to post_server (RabbitMQ or a Mosquitto)."""
    url = b.rabbit.url("tfeed")
    to_mqtt = post_server is not b.rabbit
    post_url = post_server.url("tfeed")
    lines = shovel_lines(n)
    feed = "".join(line + "\n" for line in lines)
    size = sum(len(line) for line in lines) / n
    ours, ratios, rss, feeds = [], [], [], []
    ceil_pub, ceil_con = [], []
    for r in range(runs):
        tag = f"{post_server.name[:1]}{post_server.port}_{r}"
        ex_in, ex_out = f"xs_bench_in_{tag}", f"xs_bench_out_{tag}"
        config = f"relay_{tag}"
        b.declare_exchange(url, ex_in)
        b.config("shovel", config, f"broker {url}\nexchange {ex_in}\nsubtopic #\n"
                 f"queueName q_tfeed.bench.shovel.{tag}\n"
                 f"post_broker {post_url}\npost_exchange {ex_out}\npost_topicPrefix v03\n")
        # once, to declare and bind its queue ("connected to" comes after the subscription)
        log = b.work / f"shovel_{tag}.declare.log"
        proc, out, _ = start_shovel(b, config, log)
        deadline = time.monotonic() + 30
        while "connected to" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"sr_shovel did not connect\n{tail(log)}")
            time.sleep(0.1)
        time.sleep(0.5)
        stop_shovel(proc, out, log)
        # the backlog
        t0 = time.monotonic()
        b.run([b.tool, "publish", url, ex_in, "v03.bench", "--batch", "500"], "the backlog",
              input=feed)
        feeds.append(n / (time.monotonic() - t0))
        # the consumer on the far side, then the shovel
        if to_mqtt:
            counter = b.counter(post_url, f"{ex_out}/v03/#", n)
        else:
            b.declare_exchange(url, ex_out)
            b.bound_queue(url, f"q_bench.out.{tag}", ex_out)
            counter = b.counter(url, f"q_bench.out.{tag}", n)
        log = b.work / f"shovel_{tag}.log"
        t0 = time.monotonic()
        proc, out, peak = start_shovel(b, config, log)
        try:
            _, last = Bench.counted(counter, n)
        except BenchError as err:
            raise BenchError(f"{err}\nsr_shovel's log:\n{tail(log)}") from None
        finally:
            if proc.poll() is None:
                stop_shovel(proc, out, log)
        peak.join()
        ours.append(n / (last - t0))
        rss.append(peak.kib)
        if "ERROR" in log.read_text(errors="replace"):
            print(f"  (errors in {log})", file=sys.stderr)
        # the ceiling, same messages, same run
        ref = b.ceiling(url, n, size)
        con = ref["consume"]
        pub = b.ceiling(post_url, n, size)["publish"] if to_mqtt else ref["publish"]
        ceil_pub.append(pub)
        ceil_con.append(con)
        ratios.append(ours[-1] / min(pub, con))
        print(f"  run {r + 1}: {label} sr_shovel {ours[-1]:.0f} msg/s, ceiling "
              f"{min(pub, con):.0f} msg/s (publish {pub:.0f}, consume {con:.0f}), peak RSS "
              f"{peak.kib} KiB", file=sys.stderr, flush=True)
    o, ratio = median(ours), median(ratios)
    c = min(median(ceil_pub), median(ceil_con))
    out_pub = "libmosquitto QoS 0" if to_mqtt else "rabbitmq-c publish, no confirms"
    print(f"shovel {label}: {n} messages of {size:.0f} bytes queued before the start, timed "
          f"from the start until the far side has them all")
    print(f"  sr_shovel                                 {o:8.0f} msg/s   ratio sr/ceiling "
          f"{ratio:.2f} (goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(f"  ceiling: min(rabbitmq-c consume {median(ceil_con):.0f}, {out_pub} "
          f"{median(ceil_pub):.0f})  {c:8.0f} msg/s")
    print(f"  {rss_line(rss)}")
    print(f"  (the backlog went in with sr_broker_tool publish, batch 500, confirms: "
          f"{median(feeds):.0f} msg/s)", flush=True)


def rss_line(rss):
    worst = max(rss)
    return (f"peak RSS of the sr process {worst} KiB = {worst / 1024:.1f} MiB (runs: "
            f"{', '.join(str(k) for k in rss)} KiB; goal < 10 MiB: "
            f"{'met' if worst < 10240 else 'MISSED'})")


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    print(machine(), flush=True)
    work = None
    try:
        with start_brokers(nodelay=True) as (rabbit, mosq, mosq_nodelay):
            work = Path(rabbit.basedir).parent
            print(describe(rabbit, mosq))
            print(f"broker:  and a second mosquitto with set_tcp_nodelay true on "
                  f"127.0.0.1:{mosq_nodelay.port}")
            print(f"figures: median of {runs} runs, sr and the reference alternating; "
                  f"data in {work}", flush=True)
            b = Bench(work, rabbit, mosq)
            bench_post(b, runs)
            n = env_int("SR_BENCH_SHOVEL", 20000, 100)
            n_mqtt = env_int("SR_BENCH_SHOVEL_MQTT", 20000, 100)
            bench_shovel(b, runs, n, rabbit, "AMQP -> AMQP")
            bench_shovel(b, runs, n_mqtt, mosq, "AMQP -> MQTT")
            bench_shovel(b, runs, n_mqtt, mosq_nodelay,
                         "AMQP -> MQTT, mosquitto with set_tcp_nodelay true")
        return 0
    except (ServerError, BenchError, subprocess.TimeoutExpired) as err:
        print(f"bench/flow.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
