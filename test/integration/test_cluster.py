# SPDX-License-Identifier: GPL-2.0-only
"""A pump on a three-node RabbitMQ cluster (issue 20): brokers lost and restarted under a
flow of files, with exact counts.

The flow: a source announces the files of a local tree (file: URLs) in chunks ->
sr_sarra (4 instances on quorum queues) downloads each into the pump's tree and announces
it again -> sr_shovel (a quorum queue too) relays it -> a quorum queue the test declared
first and drains at the end. Every broker URL of sr names all three nodes. The sarra and
the shovel run on pseudo-hosts of their own (cluster.PseudoHost: separate HOME, config,
state and logs), as the instances of a pump spread over machines would.

The source publishes each chunk once, with sr_broker_tool, to a node no fault is taking
down (a fault marks its node down under the source's lock first): what it announced is
known exactly, so

  lost        files announced that never came out of the shovel: 0
  partial     files in the pump's tree that differ from the source, or in-progress names
              left there: 0
  extra       messages out for no file announced: 0
  duplicates  messages out beyond one per file: at most, per fault, what the consumers
              connected to the node that went away may hold unacknowledged (prefetch, and
              postWindow for the shovel), counted from `rabbitmqctl list_consumers` just
              before the fault

are counted, printed in a table with the timings, and asserted. The kill test also checks
what an operator sees: `sr status --json` (brokerNodes) names the killed node before
(for the instances on it: all of them, unless one lost its connection on a loaded machine
and went on to the next node already), and a live node for every instance after.

A quorum queue whose leader dies refuses (nacks) what is published to it until a new
leader is elected, and RabbitMQ 3.10 goes on refusing on a channel that saw that happen;
the source sends what was refused again over a new connection and counts it (a refused
message may still have been enqueued: each one counts towards the duplicates allowed).
"""
import base64
import hashlib
import json
import random
import secrets
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime, timezone

from cluster import PseudoHost
from helpers import Feed, snapshot_tree, wait_until

TIMEOUT = 180  # for what takes seconds; a loaded machine may take many times longer
PREFETCH = 10  # of every consumer here: what one may hold unacked (+ postWindow)
POST_WINDOW = 10  # the shovel's: posts awaiting confirms, their messages unacked
CHUNK = 10  # files per announcement batch of the source
PAUSE = 0.25  # seconds between the source's chunks


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


class Source(threading.Thread):
    """Writes files under src and announces them, CHUNK at a time, with sr_broker_tool
    publish to a node that is up (rotating among them), until stop() then `tail` more
    chunks. down()/up() mark a node a fault takes away; the lock makes sure no chunk is
    being published to it when it goes, so every file is announced exactly once."""

    def __init__(self, cluster, tool, src, exchange, seed, tail=3):
        super().__init__(daemon=True)
        self.cluster, self.tool, self.src, self.exchange = cluster, tool, src, exchange
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.is_down = set()
        self.files = {}  # relPath -> sha256 of what was announced
        self.stopping = threading.Event()
        self.tail = tail
        self.error = None
        self.chunks = 0
        self.renacked = 0  # messages published again after the broker refused them

    def down(self, i):
        with self.lock:
            self.is_down.add(i)

    def up(self, i):
        with self.lock:
            self.is_down.discard(i)

    def stop(self):
        self.stopping.set()

    def _chunk(self):
        lines, made = [], {}
        for _ in range(CHUNK):
            rel = f"c{self.chunks:03d}/f{len(self.files) + len(made):05d}.bin"
            data = self.rng.randbytes(self.rng.choice([0, 1, 100, 3000, 20000]))
            path = self.src / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            made[rel] = hashlib.sha256(data).hexdigest()
            lines.append(json.dumps({
                "pubTime": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3],
                "baseUrl": f"file:{self.src}", "relPath": rel, "size": len(data),
                "identity": {"method": "sha512", "value": sha512_b64(data)}}))
        pending = lines
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while pending:
                if time.monotonic() > deadline:
                    raise AssertionError(f"source: {len(pending)} refused for {TIMEOUT} s")
                up = [i for i in range(self.cluster.size) if i not in self.is_down]
                node = up[self.chunks % len(up)]
                # --echo prints what the broker took (confirmed); what it refused (a
                # quorum queue electing a new leader nacks what comes in meanwhile) goes
                # again over a new connection: RabbitMQ 3.10 keeps refusing it on the
                # channel that saw the leader die, even once a new leader is in place.
                r = subprocess.run([self.tool, "publish", self.cluster.node_url(node, "tfeed"),
                                    self.exchange, "v03.src", "--no-declare", "--echo",
                                    "--batch", str(CHUNK)],
                                   input="".join(l + "\n" for l in pending),
                                   capture_output=True, text=True, timeout=TIMEOUT)
                taken = {json.loads(json.loads(l)["body"])["relPath"]
                         for l in r.stdout.splitlines() if l.startswith("{")}
                refused = [l for l in pending if json.loads(l)["relPath"] not in taken]
                if refused and "refused (nack)" not in r.stderr:
                    raise AssertionError(f"source: publish to node {node}: {r.stderr}")
                # A message the broker refused may yet have been enqueued (the leader took
                # it after the channel gave up waiting): each one sent again may come twice.
                self.renacked += len(refused)
                pending = refused
                if pending:
                    time.sleep(0.5)
        self.files.update(made)
        self.chunks += 1

    def run(self):
        try:
            while not self.stopping.is_set():
                self._chunk()
                time.sleep(PAUSE)  # the story: files keep coming while the faults happen
            for _ in range(self.tail):
                self._chunk()
        except Exception as err:  # reported by the test
            self.error = err


class Flow:
    """The pump of one test: exchanges, pseudo-hosts, the output queue, the counts."""

    def __init__(self, cluster, tool, build_dir, root, name):
        self.cluster, self.tool, self.build_dir, self.root = cluster, tool, build_dir, root
        self.run = f"{name}{secrets.token_hex(2)}"
        self.ex_in = f"xs_tfeed_{self.run}_in"
        self.ex_mid = f"xs_tfeed_{self.run}_mid"
        self.ex_out = f"xs_tfeed_{self.run}_out"
        self.out_queue = f"q_tsub.{self.run}.out"
        self.src, self.pump = root / "src", root / "pump"
        self.src.mkdir()
        self.hosts = []
        self.t0 = time.monotonic()
        self.timings = []
        self.faults = []  # (what, consumers on that node: {queue: count})
        for ex in (self.ex_in, self.ex_mid, self.ex_out):
            r = subprocess.run([tool, "publish", cluster.node_url(0, "tfeed"), ex,
                                "v03.declare"], input="", capture_output=True, text=True,
                               timeout=TIMEOUT)
            assert r.returncode == 0, r.stderr
        # the output: a quorum queue of its own, bound before anything flows, drained at
        # the end (it outlives the faults)
        r = subprocess.run([tool, "consume", cluster.node_url(0, "tsub"), "--queue",
                            self.out_queue, "--queue-type", "quorum", "--bind",
                            f"{self.ex_out}:#", "--max", "1", "--timeout", "0.5"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        self.source = Source(cluster, tool, self.src, self.ex_in, seed=self.run)
        print(f"\n  the cluster took {cluster.start_seconds:.1f} s to start (once a session)")

    def mark(self, what):
        self.timings.append((what, time.monotonic() - self.t0))
        print(f"  {time.monotonic() - self.t0:7.1f} s  {what}", flush=True)

    def host(self, name):
        h = PseudoHost(self.root / "hosts", name, self.build_dir)
        self.hosts.append(h)
        return h

    def sarra(self, host, order, instances):
        host.write_config("sarra", "pump", f"""
            # one configuration on every host: the same queueShare, so one queue
            broker {self.cluster.url("tfeed", order)}
            exchange {self.ex_in}
            subtopic #
            queueType quorum
            queueShare cluster
            instances {instances}
            prefetch {PREFETCH}
            batch {PREFETCH}
            directory {self.pump}
            mirror on
            inflight .tmp
            allowFileUrl on
            post_broker {self.cluster.url("tfeed", order)}
            post_exchange {self.ex_mid}
            post_baseUrl file:{self.pump}
            post_baseDir {self.pump}
            """, instances=instances)

    def shovel(self, host, order):
        host.write_config("shovel", "relay", f"""
            broker {self.cluster.url("tfeed", order)}
            exchange {self.ex_mid}
            subtopic #
            queueType quorum
            queueShare cluster
            prefetch {PREFETCH}
            batch {PREFETCH}
            postWindow {POST_WINDOW}
            post_broker {self.cluster.url("tfeed", order)}
            post_exchange {self.ex_out}
            """)

    def start(self):
        for h in self.hosts:
            h.sr("start")
        assert wait_until(lambda: all(h.connected() for h in self.hosts), TIMEOUT), \
            "\n".join(h.name + ": " + h.logs(c)[-2000:] for h in self.hosts for c in h.configs)
        self.mark("sr started on every pseudo-host, every instance connected")

    @property
    def sarra_queue(self):
        return "q_tfeed.sarra.pump.cluster"

    @property
    def shovel_queue(self):
        return "q_tfeed.shovel.relay.cluster"

    def nodes_of(self, host, config):
        """What `sr status --json` on host says of config's instances: {instance: the
        host:port of the node it is on}."""
        for row in host.status().get("configs", []):
            if row.get("config") == config:
                return row.get("brokerNodes") or {}
        return {}

    def count(self, config, verb):
        return sum(h.count(config, verb) for h in self.hosts if config in h.configs)

    def consumers_on(self, i):
        """{queue: [prefetch of each consumer whose channel is on node i]} for the sarra's
        and the shovel's queues. (The table form: its pids name their node, the JSON
        form's do not.)"""
        out = self.cluster.ctl("list_consumers", "queue_name", "channel_pid",
                               "prefetch_count", "--no-table-headers", timeout=60)
        found = {}
        for line in out.stdout.splitlines():
            words = line.split("\t")
            if len(words) == 3 and words[0] in (self.sarra_queue, self.shovel_queue) and \
                    words[1].startswith(f"<{self.cluster.nodes[i].node}."):
                found.setdefault(words[0], []).append(int(words[2]))
        return found

    def fault(self, what, i, act, back=True):
        """Marks node i down for the source, counts the consumers on it, act(); marks it
        up again when back (else the caller does, once the node is back)."""
        self.source.down(i)
        on_node = self.consumers_on(i)
        self.faults.append((what, on_node))
        self.mark(f"{what} (consumers on it: {on_node or 'none'})")
        act()
        if back:
            self.source.up(i)

    def redo_allowed(self):
        """Duplicates the faults may cause: per consumer on the node that went away, what
        the broker lets it hold unacked, its channel's prefetch (a sarra instance:
        prefetch; the shovel asks for prefetch + postWindow, its posts awaiting confirms);
        the sarra's repeats go on through the shovel, so each counts once at the end."""
        total = self.source.renacked
        for _, on_node in self.faults:
            total += sum(sum(prefetches) for prefetches in on_node.values())
        return total

    def out_count(self):
        q = self.cluster.queues().get(self.out_queue)
        return q["messages"] if q else 0

    def drained(self):
        """The source done, nothing left in the sarra's or the shovel's queue (ready or
        unacked), no retry queue holding anything, and the output holding at least one
        message per file."""
        if self.source.is_alive():
            return False
        qs = self.cluster.queues()
        if any(qs.get(q, {}).get("messages", 1) for q in (self.sarra_queue, self.shovel_queue)):
            return False
        if (qs.get(self.out_queue) or {}).get("messages", 0) < len(self.source.files):
            return False
        return not any(h.retry_left() for h in self.hosts)

    def stop(self):
        self.source.stop()  # a test that failed leaves it running otherwise
        for h in self.hosts:
            h.sr("stop", "--wait", "15", check=False)

    def drain_output(self):
        """Every message the shovel put out, consumed from the output queue."""
        n = self.out_count()
        r = subprocess.run([self.tool, "consume", self.cluster.url("tsub"), "--queue",
                            self.out_queue, "--queue-type", "quorum", "--max", str(n),
                            "--timeout", "30"], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        return [json.loads(m["body"]) for m in lines if "body" in m]

    def check(self, title):
        """Counts what came out and what is on disk; prints the table; asserts."""
        want = dict(self.source.files)
        out = self.drain_output()
        rels = Counter(m.get("relPath") for m in out)
        lost = sorted(set(want) - set(rels))
        extra = sorted(set(rels) - set(want))
        duplicates = sum(n - 1 for n in rels.values())
        files, _ = snapshot_tree(self.pump, partial=True, folders=True)
        in_progress = sorted(r for r in files if r not in want)
        partial = sorted(r for r in want if r in files and files[r] != want[r])
        missing_on_disk = sorted(r for r in want if r not in files)
        downloads = self.count("sarra/pump", "downloaded")
        posted_shovel = self.count("shovel/relay", "posted")
        bad_base = [m for m in out if m.get("baseUrl") != f"file:{self.pump}"]
        allowed = self.redo_allowed()
        rows = [("files announced", len(want)), ("messages out", len(out)),
                ("lost", len(lost)), ("extra", len(extra)),
                ("duplicates", duplicates), ("duplicates allowed", allowed),
                ("  of which refused by the broker, sent again", self.source.renacked),
                ("on disk", len(files)), ("partial", len(partial)),
                ("in-progress or unknown names on disk", len(in_progress)),
                ("missing on disk", len(missing_on_disk)),
                ("sarra downloads (logs)", downloads),
                ("shovel posts (logs)", posted_shovel)]
        print(f"\n{title}")
        for name, value in rows:
            print(f"  {name:40s} {value:6d}")
        print("  timings:")
        for what, t in self.timings:
            print(f"  {t:7.1f} s  {what}")
        assert not lost, f"{len(lost)} lost, e.g. {lost[:5]}"
        assert not extra, f"{len(extra)} messages for no file, e.g. {extra[:5]}"
        assert not partial, f"{len(partial)} partial, e.g. {partial[:5]}"
        assert not in_progress, f"left on disk: {in_progress[:5]}"
        assert not missing_on_disk, f"not on disk: {missing_on_disk[:5]}"
        assert not bad_base, bad_base[:3]
        assert duplicates <= allowed, \
            f"{duplicates} duplicates, at most {allowed} allowed by {self.faults}"
        assert downloads >= len(want) and posted_shovel >= len(want)


def wait_progress(flow, before, step, what):
    """Until the sarra has downloaded `step` more files than `before` (the flow goes on)."""
    ok = wait_until(lambda: flow.source.error is not None or
                    flow.count("sarra/pump", "downloaded") >= before + step, TIMEOUT, 0.3)
    assert flow.source.error is None, flow.source.error
    flow.mark(f"{what}: {flow.count('sarra/pump', 'downloaded')} downloaded"
              + ("" if ok else f" (NOT {step} more within {TIMEOUT} s)"))
    return ok


def finish(flow, title):
    flow.source.stop()
    flow.source.join(TIMEOUT)
    assert flow.source.error is None, flow.source.error
    flow.mark(f"source done: {len(flow.source.files)} files announced")
    ok = wait_until(flow.drained, TIMEOUT, 1)
    flow.mark("flow drained" if ok else "flow NOT drained")
    flow.stop()
    flow.mark("sr stopped")
    flow.check(title)
    assert ok, {q: v for q, v in flow.cluster.queues().items()
                if q in (flow.sarra_queue, flow.shovel_queue, flow.out_queue)}


def test_node_killed_under_sarra_and_shovel_on_quorum_queues(rabbitmq_cluster, broker_tool,
                                                             build_dir, tmp_path):
    """A node dies (kill -9) mid-flow: it leads the quorum queues of a sarra of 4
    instances and of a shovel, and the instances connect to it first (it comes first in
    their URL). They go on through the other two nodes; the node comes back and rejoins;
    every file arrives once, whole, with at most what was unacked on it redone."""
    cluster = rabbitmq_cluster
    k = 1  # the node to kill: first in every URL, so the queues' leader
    order = [k, (k + 1) % 3, (k + 2) % 3]
    flow = Flow(cluster, broker_tool, build_dir, tmp_path, "kill")
    try:
        a, b = flow.host("hostA"), flow.host("hostB")
        flow.sarra(a, order, instances=4)
        flow.shovel(b, order)
        flow.start()
        qs = cluster.queues()
        leaders = {q: qs[q]["leader"] for q in (flow.sarra_queue, flow.shovel_queue)}
        assert set(leaders.values()) == {cluster.nodes[k].node}, leaders
        assert {qs[q]["type"] for q in leaders} == {"quorum"}
        # what the user sees: sr status names each instance's node; they start on node k,
        # first in their URLs (one that lost its connection meanwhile, on a loaded machine,
        # has gone on to the next node: that is the rule too)
        on_k = f"127.0.0.1:{cluster.nodes[k].port}"

        def all_known():
            seen = (flow.nodes_of(a, "sarra/pump"), flow.nodes_of(b, "shovel/relay"))
            return len(seen[0]) == 4 and len(seen[1]) == 1
        assert wait_until(all_known, TIMEOUT, 1), \
            (flow.nodes_of(a, "sarra/pump"), flow.nodes_of(b, "shovel/relay"))
        first_seen = (flow.nodes_of(a, "sarra/pump"), flow.nodes_of(b, "shovel/relay"))
        on_killed = [n for n, node in first_seen[0].items() if node == on_k]
        assert on_killed, first_seen
        flow.mark(f"sr status before the kill: {first_seen}")
        flow.source.start()
        wait_progress(flow, 0, 60, "flowing")
        flow.fault(f"kill -9 node {k}", k, lambda: cluster.kill(k), back=False)
        before = flow.count("sarra/pump", "downloaded")
        # more than the 4 instances held (4 x prefetch): only a flow that moved on gets there
        moved_on = wait_progress(flow, before, 60, f"node {k} down")
        # the queues elected a leader among the two nodes left
        qs = cluster.queues()
        moved_leaders = {q: qs[q]["leader"] for q in (flow.sarra_queue, flow.shovel_queue)}
        flow.mark(f"leaders while node {k} is down: {moved_leaders}")
        # and now says they all moved to the other nodes
        def moved():
            seen = (flow.nodes_of(a, "sarra/pump"), flow.nodes_of(b, "shovel/relay"))
            return len(seen[0]) == 4 and len(seen[1]) == 1 and \
                on_k not in list(seen[0].values()) + list(seen[1].values())
        assert wait_until(moved, TIMEOUT, 1), \
            (flow.nodes_of(a, "sarra/pump"), flow.nodes_of(b, "shovel/relay"))
        flow.mark(f"sr status: every instance off node {k}: {flow.nodes_of(a, 'sarra/pump')}")
        cluster.start_node(k)
        flow.source.up(k)
        flow.mark(f"node {k} back and clustered")
        wait_progress(flow, flow.count("sarra/pump", "downloaded"), 30, "flowing")
        finish(flow, f"kill -9 of node {k} (leader of both queues)")
        assert moved_on, "the flow stopped while the node was down"
        assert cluster.nodes[k].node not in moved_leaders.values(), moved_leaders
    finally:
        flow.stop()
        for i, node in enumerate(cluster.nodes):
            if not node.running:
                cluster.start_node(i)


def test_rolling_restart_of_all_three_nodes(rabbitmq_cluster, broker_tool, build_dir,
                                            tmp_path):
    """Every node restarted in turn (stopped, started, rejoined) while files flow: a sarra
    spread over two hosts (one configuration, one quorum queue, 2 instances each, the
    nodes listed in a different order on each) and a shovel on a third go on through the
    nodes that are up; every file arrives once, whole."""
    cluster = rabbitmq_cluster
    flow = Flow(cluster, broker_tool, build_dir, tmp_path, "roll")
    try:
        a, b, c = flow.host("hostA"), flow.host("hostB"), flow.host("hostC")
        flow.sarra(a, [0, 1, 2], instances=2)
        flow.sarra(b, [1, 2, 0], instances=2)
        flow.shovel(c, [2, 0, 1])
        flow.start()
        flow.source.start()
        moved = []
        wait_progress(flow, 0, 40, "flowing")
        for i in range(cluster.size):
            flow.fault(f"restart node {i}", i, lambda i=i: cluster.restart(i))
            flow.mark(f"node {i} back and clustered")
            moved.append(wait_progress(flow, flow.count("sarra/pump", "downloaded"), 30,
                                       "flowing"))
        finish(flow, "rolling restart of the three nodes")
        assert all(moved), f"the flow stalled after a restart: {moved}"
    finally:
        flow.stop()
        for i, node in enumerate(cluster.nodes):
            if not node.running:
                cluster.start_node(i)


def test_publisher_on_a_surviving_node_goes_on_when_the_queue_leader_dies(
        rabbitmq_cluster, broker_tool, tmp_path):
    """A feeder publishes through node 1 to a quorum queue led by node 0, and node 0 is
    killed. RabbitMQ nacks what comes in until a new leader is elected, and goes on
    nacking on that channel after; sr connects anew after a nack and posts the refused
    messages again, so the feeder goes on: every message it reported published is in the
    queue (duplicates allowed: a nacked message may have been enqueued), and it finished
    within the test's time instead of retrying on a dead channel."""
    cluster = rabbitmq_cluster
    t = secrets.token_hex(3)
    exchange, queue = f"xs_tfeed_nk{t}", f"q_tfeed.nk{t}"
    made = subprocess.run([broker_tool, "publish", cluster.node_url(0, "tfeed"), exchange,
                           "v03.declare"], input="", capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert made.returncode == 0, made.stderr
    declared = subprocess.run(
        [broker_tool, "consume", cluster.node_url(0, "tfeed"), "--queue", queue,
         "--queue-type", "quorum", "--bind", f"{exchange}:v03.nk.#", "--timeout", "1"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert declared.returncode == 0, declared.stderr
    assert cluster.queue_leader(queue) == cluster.nodes[0].node
    base = {"pubTime": "20250101T000000.5", "baseUrl": "https://example.com/", "size": 1}
    feeder = subprocess.Popen(
        [broker_tool, "publish", cluster.node_url(1, "tfeed"), exchange, "v03.nk.a", "--echo",
         "--batch", "10", "--pause", "0.05", "--retry"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    feed = Feed(feeder, lambda i, n: "".join(
        json.dumps(dict(base, relPath=f"nk/{j:05d}")) + "\n" for j in range(i, i + n)),
        10, 200, 0.05)
    try:
        assert wait_until(lambda: cluster.queues().get(queue, {}).get("messages", 0) >= 50,
                          TIMEOUT, 0.5), "the feeder did not get going"

        cluster.kill(0)
        feed.restarted.set()
        # a second feeder connects while the queue has no leader yet
        late = subprocess.run(
            [broker_tool, "publish", cluster.node_url(2, "tfeed"), exchange, "v03.nk.b",
             "--echo", "--batch", "10", "--retry"],
            input="".join(json.dumps(dict(base, relPath=f"nk/late{j:03d}")) + "\n"
                          for j in range(100)),
            capture_output=True, text=True, timeout=TIMEOUT)
        status, out, err = feed.finish(TIMEOUT)
    finally:
        if feeder.poll() is None:
            feeder.kill()
        cluster.start_node(0)
    echoed = [json.loads(json.loads(x)["body"])["relPath"] for x in out.splitlines()
              if x.startswith("{")]
    assert late.returncode == 0, late.stderr
    assert late.stdout.splitlines()[-1] == "published 100", late.stderr
    echoed += [json.loads(json.loads(x)["body"])["relPath"] for x in late.stdout.splitlines()
               if x.startswith("{")]
    err += late.stderr
    assert status == 0, err
    assert out.splitlines()[-1] == f"published {feed.fed}", err
    assert len(set(echoed)) == feed.fed + 100
    drained = subprocess.run(
        [broker_tool, "consume", cluster.node_url(2, "tfeed"), "--queue", queue,
         "--queue-type", "quorum", "--timeout", "5"],
        capture_output=True, text=True, timeout=TIMEOUT)
    got = Counter(json.loads(json.loads(x)["body"])["relPath"]
                  for x in drained.stdout.splitlines() if x.startswith('{"') and "body" in x)
    assert set(echoed) - set(got) == set(), drained.stderr
    nacked = "refused (nack)" in err
    print(f"\nfeeder: {feed.fed} published, nacks seen: {nacked}, "
          f"duplicates in the queue: {sum(got.values()) - len(got)}")
