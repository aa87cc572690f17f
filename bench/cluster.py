#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/cluster.py: what replication costs sr on a RabbitMQ cluster (issue 20), as
sr_shovel and sr_subscribe throughput with 1, 2, 4 and 8 instances sharing a classic queue
and a quorum queue, each beside rabbitmq-c alone doing the same with as many processes on
the same queue type, in the same run.

    SR_BUILD=build bench/cluster.py      (make bench-cluster)

The broker: a private three-node RabbitMQ cluster on loopback
(test/integration/cluster.py, RabbitMQCluster), or one private node
(test/integration/servers.py) when that file is absent or SR_BENCH_CLUSTER_SIZE=1; the
header says which. Every queue is declared through node 1, so a classic queue lives there
and a quorum queue has its leader there, with its followers on the other nodes. Instance
k (1-based) of a configuration, and process k of a reference, connects to node
((k - 1) mod size) + 1, as instances of one configuration spread over several hosts each
near its own node would: the config says `broker ${SR_BENCH_BROKER}` and each instance
process is given that node's URL in its environment. Consumers on nodes other than the
queue's reach it through the node they are connected to, as on a real cluster.

shovel     AMQP -> AMQP, bench/flow.py's method: SR_BENCH_CLUSTER_MSGS (10000, rounded up
           to a multiple of 8) persistent v03 messages queued before the start in the input
           queue of the queue type under test (sr_broker_tool publish, confirmed, while
           nothing consumes), then relayed to an exchange whose bound far queue, of the same
           type, nobody consumes; timed from the start of the relays until the far queue
           holds them all (bench/relay.c `depth`: its message count polled every 10 ms).
           sr_shovel: one config (queueType, instances N, its defaults otherwise: batch,
           prefetch and postWindow not set), its queue declared before by `sr declare`,
           `sr_shovel instance k NAME` for k = 1..N, post_broker the same node as broker.
           Ceiling: N processes of bench/relay.c `relay` (rabbitmq-c alone: consume with
           prefetch 1000, publish on a second connection with confirms, each message acked
           once its publish is confirmed, up to SR_BENCH_CLUSTER_WINDOW (1000) awaiting
           them), each taking n/N of the messages: the most any relay that keeps sr's rule
           (no ack before the far broker's confirm) gets from this cluster. Waiting for the
           confirms is where a quorum queue's replication shows (a confirm leaves once a
           majority of the nodes has the message), so a ceiling that did not wait would hide
           the cost measured here; SR_BENCH_CLUSTER_WINDOW=0 gives bench/flow.py's ceiling
           without confirms instead (here, once, its far queue stopped at 1827 of 2000
           messages: nothing confirms them).
subscribe  SR_BENCH_CLUSTER_FILES (2000) files of 0 to 4 KiB (bench/move.py's tree)
           announced once a run by sr_post with a file: baseUrl into every queue of the
           run, declared and bound before (`sr declare`); then sr_subscribe with N
           instances (allowFileUrl on, mirror, inflight .tmp; its defaults otherwise),
           timed from their start until every file is in the destination under its final
           name, every copy then compared with its original.
           Ceiling: N processes of bench/relay.c `consume` (rabbitmq-c alone: prefetch 25,
           as sr's default, basic.ack each, nothing done with the messages), each taking
           n/N of the same announcements from a queue of the same type filled by the same
           post, timed until the last ack. sr_subscribe also copies, hashes and writes each
           file, which the ceiling does not, so its ratio to the ceiling is far below 1 by
           design; what compares replication's cost is the quorum/classic ratio of each.

Per cell, msg/s (files/s for subscribe) and the ratio to the ceiling of its queue type
(the median of the runs' ratios, each run's sr over the same run's ceiling), and per
instance count the ratio quorum/classic of sr and of the ceiling: what replication costs.
Also sr's CPU time per message (all its instances, from wait4), steadier than the wall
clock on a busy machine. In each run the ceiling and sr alternate (which goes first
swaps every other run). The table is also written to bench/out/cluster.json for
bench/report.py.

SR_BENCH_RUNS (3) runs, the median shown; SR_BENCH_CLUSTER_COUNTS ("1 2 4 8"),
SR_BENCH_CLUSTER_TYPES ("classic quorum"), SR_BENCH_CLUSTER_PARTS ("shovel subscribe")
run a part; SR_BENCH_CLUSTER_SIZE (3) the nodes. The brokers and the data live under a new
folder of the build folder, removed at the end. Exit status 1 when something fails, with
the queues and their message counts when SR_BENCH_CLUSTER_DEBUG is set.
"""
import contextlib
import filecmp
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import REPO, build_dir, env_int, machine, median, need, tail  # noqa: E402
from flow import Bench, BenchError, cpu_seconds, shovel_lines, start_process  # noqa: E402
from move import Instances, make_tree, reap, tree_files  # noqa: E402
from servers import RabbitMQ, ServerError  # noqa: E402

TIMEOUT = 180  # seconds one step may take before the benchmark is called failed
STALL = 30     # seconds without progress before the processes are called stuck
POLL = 0.05
CLUSTER_PY = REPO / "test" / "integration" / "cluster.py"
OUT = REPO / "bench" / "out" / "cluster.json"
USER = "tfeed"
RELAY_WINDOW = env_int("SR_BENCH_CLUSTER_WINDOW", 1000, 0)


def cluster_class():
    """test/integration/cluster.py's RabbitMQCluster, or None where it is absent (loaded
    by its path: this file is named cluster.py too)."""
    if not CLUSTER_PY.is_file():
        return None
    spec = importlib.util.spec_from_file_location("sr_test_cluster", CLUSTER_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, "RabbitMQCluster", None)


class OneNode:
    """One private RabbitMQ dressed as a cluster of one: .nodes, .node_url(i, user)."""

    def __init__(self, basedir):
        self.rabbit = RabbitMQ(basedir)
        self.nodes = [self.rabbit]

    def start(self):
        self.rabbit.start()
        return self

    def stop(self):
        self.rabbit.stop()

    def node_url(self, i, user):
        return self.rabbit.url(user)


class ClusterBench(Bench):
    """bench/flow.py's Bench (programs, private HOME, configs) on node 1 of the cluster,
    with the per-instance environments that put instance k on its node."""

    def __init__(self, work, cluster):
        self.cluster = cluster
        super().__init__(work, cluster.nodes[0], None)
        for exe in ("sr", "sr_subscribe"):
            need(self.bin / exe)
        self.size = len(cluster.nodes)
        self.spread = {}  # (part, instances): {node number: instances connected there}

    def url(self, k=1, user=USER):
        """The URL of the node process k (1-based) connects to."""
        return self.cluster.node_url((k - 1) % self.size, user)

    def env_for(self, k):
        return dict(self.env, SR_BENCH_BROKER=self.url(k))

    def log_path(self, component, name, n):
        return Path(self.env["XDG_CACHE_HOME"]) / "sr" / "log" / f"{component}_{name}_{n:02d}.log"

    def declare(self, component, name):
        """`sr declare` of the config, through node 1: its queue made and bound."""
        self.run([str(self.bin / "sr"), "declare", f"{component}/{name}"],
                 f"sr declare {component}/{name}", env=self.env_for(1))

    def queue(self, queue, exchange, qtype):
        """A durable queue of type qtype bound to exchange with #, empty."""
        self.run([self.tool, "consume", self.url(), "--queue", queue, "--bind",
                  f"{exchange}:#", "--queue-type", qtype, "--timeout", "0.1"],
                 f"declaring {qtype} queue {queue}")


def spread(b, inst):
    """{node number: instances whose log says they connected there}, from the port in each
    log's first `connected to` line."""
    ports = {node.port: i + 1 for i, node in enumerate(b.cluster.nodes)}
    where = {}
    for log in inst.logs:
        m = re.search(r"connected to \S*:(\d+)/", Path(log).read_text(errors="replace"))
        k = ports.get(int(m.group(1))) if m else None
        where[k] = where.get(k, 0) + 1
    return where


class SpreadInstances(Instances):
    """bench/move.py's Instances (`sr_COMPONENT instance k NAME`, k = 1..count, logs
    counted, stopped by SIGTERM), each instance given its node's URL; no RSS polled."""

    def __init__(self, bench, component, name, count, word):
        super().__init__(bench, component, name, count, word, env_for=bench.env_for,
                         peak_rss=False)


def references(b, mode, queue, target, n, count, tag):
    """count processes of bench/relay.c `mode` (relay or consume) on queue, each taking
    n/count, process k on its node: [Popen], started now."""
    procs = []
    env = dict(os.environ, SR_BENCH_RELAY_WINDOW=str(RELAY_WINDOW))
    for k in range(1, count + 1):
        argv = [b.relay, mode, b.url(k), queue, *([target] if target else []), str(n // count)]
        procs.append(start_process(argv, env, b.work / f"ref_{tag}_{k}.log"))
    return procs


def reap_references(b, procs, tag):
    """Wait for each; (the CLOCK_MONOTONIC of the last one's last ack, CPU seconds)."""
    last, cpu = 0.0, 0.0
    for k, proc in enumerate(procs, 1):
        log = b.work / f"ref_{tag}_{k}.log"
        try:
            rc, used = reap(proc, TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BenchError(f"bench/relay ({tag}, process {k}) took over {TIMEOUT} s\n"
                             f"{tail(log)}") from None
        words = Path(log).read_text(errors="replace").split()
        if rc != 0 or len(words) < 3:
            raise BenchError(f"bench/relay ({tag}, process {k}): exit {rc}\n{tail(log)}")
        last, cpu = max(last, float(words[2])), cpu + (used or 0.0)
    return last, cpu


# ---- shovel ----

def shovel_once(b, kind, qtype, count, feed, n, tag):
    """One relay of a fresh backlog of n messages by count processes, kind "ceiling" or
    "sr": (msg/s, CPU seconds per message of all of them)."""
    ex_in, ex_out = f"xs_cl_in_{tag}", f"xs_cl_out_{tag}"
    q_in, q_out = f"q_{USER}.cl.shovel.{tag}", f"q_{USER}.cl.out.{tag}"
    b.declare_exchange(b.url(), ex_in)
    b.declare_exchange(b.url(), ex_out)
    if kind == "ceiling":
        b.queue(q_in, ex_in, qtype)
    else:
        b.config("shovel", tag, "broker ${SR_BENCH_BROKER}\n"
                 f"exchange {ex_in}\nsubtopic #\nqueueName {q_in}\nqueueType {qtype}\n"
                 f"instances {count}\npost_broker ${{SR_BENCH_BROKER}}\n"
                 f"post_exchange {ex_out}\npost_topicPrefix v03\n")
        b.declare("shovel", tag)
    b.run([b.tool, "publish", b.url(), ex_in, "v03.bench", "--batch", "500"], "the backlog",
          input=feed)
    b.queue(q_out, ex_out, qtype)
    watch = b.depth(b.url(), q_out, n, STALL)
    t0 = time.monotonic()
    if kind == "ceiling":
        procs = references(b, "relay", q_in, ex_out, n, count, tag)
        try:
            _, last = Bench.counted(watch, n, TIMEOUT)
        finally:
            done, cpu = reap_references(b, procs, tag)
    else:
        inst = SpreadInstances(b, "shovel", tag, count, "published")
        try:
            _, last = Bench.counted(watch, n, TIMEOUT)
            cpu = sum(cpu_seconds(p.pid) for p in inst.procs)
        except BaseException as err:
            with contextlib.suppress(BenchError):
                inst.stop()
            raise BenchError(f"sr_shovel {tag}: {err}\n{inst.tails()}") from None
        inst.stop()
        b.spread[("shovel", count)] = spread(b, inst)
        if inst.errors():
            raise BenchError(f"sr_shovel {tag}: errors in its logs\n{inst.tails()}")
    b.delete_queue(b.url(), q_out)
    b.delete_queue(b.url(), q_in)
    return n / (last - t0), cpu / n


def bench_shovel(b, runs, qtypes, counts):
    n = env_int("SR_BENCH_CLUSTER_MSGS", 10000, 8)
    n += -n % 8
    lines = shovel_lines(n)
    feed = "".join(line + "\n" for line in lines)
    size = sum(len(line) for line in lines) / n
    cells = measure(runs, qtypes, counts,
                    lambda kind, qt, c, r: shovel_once(b, kind, qt, c, feed, n,
                                                       f"{qt[0]}{c}_{kind[0]}{r}"),
                    "msg/s")
    return table(b, "shovel", f"shovel AMQP -> AMQP: {n} persistent messages of {size:.0f} bytes queued "
                 f"before the start; the far queue, of the same type, bound to the output "
                 f"exchange, consumed by nobody; timed from the start until it holds them all",
                 "sr_shovel", "rabbitmq-c relay, prefetch 1000, " +
                 (f"confirms (window {RELAY_WINDOW}, ack once confirmed)" if RELAY_WINDOW
                  else "no confirms"), "msg/s",
                 qtypes, counts, cells)


# ---- subscribe ----

def subscribe_once(b, kind, qtype, count, name, n, src, dest, rels):
    """One drain of a queue filled before by count processes: (files/s, CPU s per file)."""
    t0 = time.monotonic()
    if kind == "ceiling":
        procs = references(b, "consume", f"q_{USER}.cl.{name}", None, n, count, name)
        last, cpu = reap_references(b, procs, name)
        return n / (last - t0), cpu / n
    inst = SpreadInstances(b, "subscribe", name, count, "downloaded ")
    try:
        last_move, seen = t0, 0
        while True:
            have = tree_files(dest) if dest.exists() else set()
            if have >= rels:
                took = time.monotonic() - t0
                break
            now = time.monotonic()
            if len(have) > seen:
                last_move, seen = now, len(have)
            inst.check_alive()
            if now - t0 > TIMEOUT or now - last_move > STALL:
                raise BenchError(f"sr_subscribe {name}: {len(rels - have)} of {n} files "
                                 f"missing after {now - t0:.0f} s\n{inst.tails()}")
            time.sleep(POLL)
    except BaseException:
        with contextlib.suppress(BenchError):
            inst.stop()
        raise
    inst.stop()
    b.spread[("subscribe", count)] = spread(b, inst)
    if inst.errors():
        raise BenchError(f"sr_subscribe {name}: errors in its logs\n{inst.tails()}")
    left = [p for p in tree_files(dest) if p.endswith(".tmp")]
    if left:
        raise BenchError(f"sr_subscribe {name}: {len(left)} inflight files left, e.g. {left[0]}")
    for rel in sorted(rels):
        if not filecmp.cmp(src / rel, dest / rel, shallow=False):
            raise BenchError(f"sr_subscribe {name}: {dest / rel} differs from {src / rel}")
    return n / took, inst.cpu / n


def bench_subscribe(b, runs, qtypes, counts):
    n = env_int("SR_BENCH_CLUSTER_FILES", 2000, 8)
    n += -n % 8
    hot = b.work / "hot"
    rels = set(make_tree(hot, n, seed=7))
    mean = sum((hot / r).stat().st_size for r in rels) / n
    exchange = "xs_cl_subscribe"
    b.declare_exchange(b.url(), exchange)
    b.config("post", "cluster", f"post_broker {b.url()}\npost_exchange {exchange}\n"
             f"post_baseUrl file:{hot}\npost_baseDir {hot}\n")

    def fill(r):
        """Every queue of run r declared and bound, then one sr_post of the tree."""
        for qt in qtypes:
            for c in counts:
                name = f"{qt[0]}{c}_r{r}"
                b.config("subscribe", name, "broker ${SR_BENCH_BROKER}\n"
                         f"exchange {exchange}\nsubtopic #\nqueueName q_{USER}.cl.sub_{name}\n"
                         f"queueType {qt}\ninstances {c}\nallowFileUrl on\n"
                         f"directory {b.work / 'sub' / name}\nmirror on\ninflight .tmp\n")
                b.declare("subscribe", name)
                b.queue(f"q_{USER}.cl.ref_{name}", exchange, qt)
        out = b.run([str(b.bin / "sr_post"), "-c", "cluster", str(hot)], "sr_post",
                    env=b.env_for(1))
        posted = (out.stdout + out.stderr).count("posted ")
        if posted != n:
            raise BenchError(f"sr_post posted {posted} of {n} files\n{out.stderr[-2000:]}")

    filled = set()

    def once(kind, qt, c, r):
        if r not in filled:
            fill(r)
            filled.add(r)
        name = f"{qt[0]}{c}_r{r}"
        got = subscribe_once(b, kind, qt, c, f"ref_{name}" if kind == "ceiling" else name,
                             n, hot, b.work / "sub" / name, rels)
        b.delete_queue(b.url(), f"q_{USER}.cl.{'ref' if kind == 'ceiling' else 'sub'}_{name}")
        return got

    cells = measure(runs, qtypes, counts, once, "files/s")
    return table(b, "subscribe", f"subscribe from file: URLs: {n} files of 0-4 KiB (mean {mean:.0f} bytes) "
                 f"announced before the start, timed until all are in the destination under "
                 f"their final names", "sr_subscribe",
                 "rabbitmq-c consume, prefetch 25, ack each, nothing fetched", "files/s",
                 qtypes, counts, cells)


# ---- the table ----

def measure(runs, qtypes, counts, once, unit):
    """{(qtype, count): {"ceiling": [rates], "sr": [rates], "ratio": [sr/ceiling per run],
    "cpu": [sr's CPU s per message]}}, the ceiling and sr alternating."""
    cells = {(qt, c): {"ceiling": [], "sr": [], "ratio": [], "cpu": []}
             for qt in qtypes for c in counts}
    for r in range(runs):
        line = []
        for qt in qtypes:
            for c in counts:
                cell, got = cells[(qt, c)], {}
                for kind in (("ceiling", "sr") if r % 2 == 0 else ("sr", "ceiling")):
                    got[kind] = once(kind, qt, c, r)
                cell["ceiling"].append(got["ceiling"][0])
                cell["sr"].append(got["sr"][0])
                cell["cpu"].append(got["sr"][1])
                cell["ratio"].append(got["sr"][0] / got["ceiling"][0])
                line.append(f"{qt} x{c} {got['sr'][0]:.0f}/{got['ceiling'][0]:.0f}")
        print(f"  run {r + 1} (sr/ceiling {unit}): " + ", ".join(line), file=sys.stderr,
              flush=True)
    return cells


def table(b, part, title, sr_name, ref_name, unit, qtypes, counts, cells):
    """Print the section and return it as data for bench/out/cluster.json."""
    print(title)
    print(f"  sr: {sr_name}, its defaults; ceiling: {ref_name}, as many processes as "
          f"instances; {unit}, medians")
    head = f"  {'instances':>9}"
    for qt in qtypes:
        head += f" | {qt + ' ' + sr_name:>22} {'ceiling':>8} {'sr/ceil':>7} {'us CPU/msg':>10}"
    if len(qtypes) == 2:
        head += f" | {qtypes[1] + '/' + qtypes[0]:>15}: {'sr':>5} {'ceil':>5}"
    print(head)
    rows = []
    for c in counts:
        row = {"instances": c}
        text = f"  {c:9d}"
        for qt in qtypes:
            cell = cells[(qt, c)]
            s, ce, ra = median(cell["sr"]), median(cell["ceiling"]), median(cell["ratio"])
            us = median(cell["cpu"]) * 1e6
            row[qt] = {"sr": round(s), "ceiling": round(ce), "ratio": round(ra, 2),
                       "us_cpu": round(us, 1)}
            text += f" | {s:22.0f} {ce:8.0f} {ra:7.2f} {us:10.1f}"
        if len(qtypes) == 2:
            a, q = cells[(qtypes[0], c)], cells[(qtypes[1], c)]
            rs = median([y / x for x, y in zip(a["sr"], q["sr"])])
            rc = median([y / x for x, y in zip(a["ceiling"], q["ceiling"])])
            row["replication"] = {"sr": round(rs, 2), "ceiling": round(rc, 2)}
            text += f" | {'':>15}  {rs:5.2f} {rc:5.2f}"
        print(text)
        rows.append(row)
    if len(qtypes) == 2:
        print(f"  ratio {qtypes[1]}/{qtypes[0]}: the median of the runs' ratios, each of the "
              f"same run; below 1 is what replication costs")
    print("  sr's instances per node, from their logs: " + "; ".join(
        f"{c}: " + ", ".join(f"node {k} {v}" for k, v in sorted(
            b.spread.get((part, c), {}).items(), key=lambda kv: str(kv[0])))
        for c in counts))
    print("  (sr/ceil: the median of the runs' sr over the same run's ceiling; CPU: all of "
          "sr's instances, from wait4, per message)", flush=True)
    return {"title": title, "sr": sr_name, "ceiling": ref_name, "unit": unit,
            "types": list(qtypes), "rows": rows}


def main():
    runs = env_int("SR_BENCH_RUNS", 3)
    counts = [int(x) for x in os.environ.get("SR_BENCH_CLUSTER_COUNTS", "1 2 4 8").split()]
    qtypes = os.environ.get("SR_BENCH_CLUSTER_TYPES", "classic quorum").split()
    parts = os.environ.get("SR_BENCH_CLUSTER_PARTS", "shovel subscribe").split()
    size = env_int("SR_BENCH_CLUSTER_SIZE", 3)
    if not counts or any(c < 1 or 8 % c for c in counts) or \
            not set(qtypes) <= {"classic", "quorum"}:
        sys.exit("cluster.py: SR_BENCH_CLUSTER_COUNTS takes 1, 2, 4 or 8, "
                 "SR_BENCH_CLUSTER_TYPES classic and quorum")
    print(machine(), flush=True)
    need(build_dir() / "bench" / "relay")
    OUT.unlink(missing_ok=True)  # no table from an earlier run stands for this one
    base = Path(tempfile.mkdtemp(prefix="bench-cluster.", dir=build_dir()))
    make = cluster_class() if size > 1 else None
    cluster = make(base / "rabbitmq", size=size) if make else OneNode(base / "rabbitmq")
    t_start = time.monotonic()
    try:
        cluster.start()
        b = ClusterBench(base, cluster)
        version = cluster.nodes[0].ctl("version", check=False).stdout.strip() or "?"
        where = ", ".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)
        print(f"broker:  RabbitMQ {version}, {len(cluster.nodes)} node(s) "
              + ("in one cluster" if len(cluster.nodes) > 1 else
                 "(no test/integration/cluster.py here, or SR_BENCH_CLUSTER_SIZE=1)")
              + f", on {where}; queues declared through the first, process k of a config "
              f"(or of a reference) on node ((k - 1) mod {len(cluster.nodes)}) + 1")
        print(f"figures: median of {runs} runs, sr and the ceiling alternating; data in {base}",
              flush=True)
        sections = {}
        if "shovel" in parts:
            sections["shovel"] = bench_shovel(b, runs, qtypes, counts)
        if "subscribe" in parts:
            sections["subscribe"] = bench_subscribe(b, runs, qtypes, counts)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"nodes": len(cluster.nodes), "runs": runs,
                                   "machine": machine(), "sections": sections},
                                  indent=1) + "\n")
        print(f"(took {(time.monotonic() - t_start) / 60:.1f} min; the table also in "
              f"{OUT.relative_to(REPO)})")
        return 0
    except (ServerError, BenchError, OSError, subprocess.TimeoutExpired) as err:
        print(f"bench/cluster.py: {err}", file=sys.stderr)
        if os.environ.get("SR_BENCH_CLUSTER_DEBUG"):
            print(cluster.nodes[0].ctl("list_queues", "name", "messages", "consumers",
                                       check=False).stdout, file=sys.stderr)
        return 1
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
