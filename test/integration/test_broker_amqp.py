# SPDX-License-Identifier: GPL-2.0-only
"""The AMQP backend of the broker layer (lib/broker_amqp.c) against a real RabbitMQ.

Each test drives test/tools/sr_broker_tool (publish: v03 lines on stdin, confirms;
consume: one JSON line per message) the way a flow would use lib/broker.h, and checks
what a user of a pump would check: the messages that arrive, the broker's own counters
(rabbitmqctl), the exit status and the one error line.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import Feed
from servers import free_port

REPO = Path(__file__).resolve().parents[2]
GOLDEN = sorted((REPO / "test" / "data" / "messages" / "v03").glob("*.json"))
TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
EXCHANGE = "xs_tfeed"


@pytest.fixture(scope="module")
def tool(broker_tool):
    return broker_tool


@pytest.fixture(scope="module")
def exchange(rabbitmq, tool):
    """The feeder's exchange, declared as a poster declares it (subscribers bind to it)."""
    declared = publish(tool, rabbitmq.url("tfeed"), "v03.declare", [message("declare")])
    assert declared.returncode == 0, declared.stderr
    return EXCHANGE


def qname(what):
    """A queue name of sr3's shape, new for each test run."""
    return f"q_tsub.sr_test.{what}.{secrets.token_hex(4)}"


def message(rel_path):
    return json.dumps({"pubTime": "20250101T000000.5", "baseUrl": "https://example.com/data",
                       "relPath": rel_path, "size": 12, "source": "tfeed"})


def publish(tool, url, topic, lines, *options, env=None, exchange=EXCHANGE, timeout=TIMEOUT):
    """Run `sr_broker_tool publish`; returns the CompletedProcess."""
    return subprocess.run([tool, "publish", url, exchange, topic, *options],
                          input="".join(line + "\n" for line in lines), capture_output=True,
                          text=True, timeout=timeout, env=env)


def error_lines(stderr):
    """The tool's own error lines (broker events are the "[LEVEL] ..." lines)."""
    return [line for line in stderr.splitlines() if line.startswith("sr_broker_tool:")]


class Consumer:
    """`sr_broker_tool consume` in the background, its JSON lines collected as they come."""

    def __init__(self, tool, url, queue, *options, env=None):
        self.messages = []
        self.subscribed = threading.Event()
        self.proc = subprocess.Popen([tool, "consume", url, "--queue", queue, *options],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.stderr = ""
        self._out = threading.Thread(target=self._read, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read(self):
        for line in self.proc.stdout:
            record = json.loads(line)
            if record == {"subscribed": True}:
                self.subscribed.set()
            else:
                self.messages.append(record)

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def wait_subscribed(self):
        deadline = time.monotonic() + TIMEOUT
        while not self.subscribed.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"consumer never subscribed:\n{self.stderr}")
        return self

    def wait_for(self, count, timeout=TIMEOUT):
        """Until count messages came (or the consumer ended, or timeout)."""
        deadline = time.monotonic() + timeout
        while (len(self.messages) < count and self.proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.05)
        return self.messages

    def finish(self, timeout=TIMEOUT):
        """Wait for the consumer to end by itself (its --timeout without a message)."""
        self.proc.wait(timeout=timeout)
        self._out.join(5)
        self._err.join(5)
        return self.messages

    def drain(self, rabbitmq, queue, count, timeout=TIMEOUT):
        """Once count messages came and the broker holds none for queue (none ready, none
        unacked: every message routed to it was taken and acked, so printed), the
        consumer is stopped; its messages. Call it once what is posted is confirmed:
        what the bindings let through is in the queue by then, what they do not never
        will be, so no wait "to see if more comes" is needed."""
        self.wait_for(count, timeout)
        deadline = time.monotonic() + timeout
        while queue_counts(rabbitmq, queue) != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.kill(signal.SIGTERM)
        return self.messages

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=TIMEOUT)
        self._out.join(5)
        self._err.join(5)


def queue_counts(rabbitmq, queue):
    """(messages_ready, messages_unacknowledged) of queue, from the broker itself."""
    out = rabbitmq.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged").stdout
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0] == queue:
            return int(fields[1]), int(fields[2])
    raise AssertionError(f"queue {queue} not on the broker:\n{out}")


def wire(record):
    """What went over the wire, without the consumer's own additions."""
    return {k: v for k, v in record.items() if k not in ("redelivered", "message")}


# ---- round trips ----

# What v02 carries of a v03 message, and so must come back the same from a v02 round trip.
V02_FIELDS = ("pubTime", "baseUrl", "relPath", "retrievePath", "size", "mtime", "atime", "mode",
              "source", "fileOp")


def test_golden_messages_cross_unchanged_in_v03_and_v02(rabbitmq, tool, exchange):
    """Every golden message, posted in v03 then in v02, reaches the subscriber byte for byte
    as the poster sent it (body, content type, topic, headers), and decodes to the same
    fields: what sr3 would read from either format."""
    queue = qname("golden")
    lines = [json.dumps(json.loads(p.read_text())) for p in GOLDEN]
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.golden.#",
                        "--bind", f"{EXCHANGE}:v02.post.golden.#", "--decode", "--timeout",
                        str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        sent3 = publish(tool, rabbitmq.url("tfeed"), "v03.golden.sub", lines, "--echo")
        sent2 = publish(tool, rabbitmq.url("tfeed"), "v02.post.golden.sub", lines, "--v02",
                        "--echo")
        got = consumer.wait_for(2 * len(lines))
    finally:
        consumer.kill()
    for sent in (sent3, sent2):
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.splitlines()[-1] == f"published {len(lines)}"
    echoed3 = [json.loads(line) for line in sent3.stdout.splitlines()[:-1]]
    echoed2 = [json.loads(line) for line in sent2.stdout.splitlines()[:-1]]
    assert len(got) == 2 * len(lines), consumer.stderr
    got3, got2 = got[:len(lines)], got[len(lines):]

    assert [wire(r) for r in got3] == echoed3
    assert [wire(r) for r in got2] == echoed2
    for r in got3:
        assert r["content_type"] == "application/json" and r["headers"] == {}
        assert r["message"] == json.loads(r["body"])
    for path, v03, v02 in zip(GOLDEN, got3, got2):
        assert v02["content_type"] == "text/plain" and v02["headers"], path.name
        m3, m2 = v03["message"], v02["message"]
        for field in V02_FIELDS:
            assert m2.get(field) == m3.get(field), (path.name, field)
        if "identity" in m3:
            assert m2["identity"]["method"] == m3["identity"]["method"], path.name
            assert "".join(m2["identity"]["value"].split()) == \
                "".join(m3["identity"]["value"].split()), path.name


def test_prefetch_bounds_what_a_consumer_holds(rabbitmq, tool, exchange):
    """A subscriber with prefetch 5 that does not ack holds at most 5 messages: the broker
    keeps the other 15 ready for other instances."""
    queue = qname("prefetch")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.prefetch",
                        "--prefetch", "5", "--no-ack", "--hold", "600", "--timeout", str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        sent = publish(tool, rabbitmq.url("tfeed"), "v03.prefetch",
                       [message(f"p/{i}") for i in range(20)])
        assert sent.returncode == 0, sent.stderr
        consumer.wait_for(1)
        deadline = time.monotonic() + TIMEOUT
        while queue_counts(rabbitmq, queue) != (15, 5) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the story: long enough for more to be sent, were prefetch not honoured
        assert queue_counts(rabbitmq, queue) == (15, 5)
        consumers = rabbitmq.ctl("list_consumers", "queue_name", "prefetch_count").stdout
        assert f"{queue}\t5" in consumers.splitlines()
        assert len(consumer.messages) <= 5
    finally:
        consumer.kill()


def test_bindings_filter_as_the_subtopics_say(rabbitmq, tool, exchange):
    """Two bindings (v03.obs.# and v03.fcst.*): messages on those topics arrive, messages on
    other topics (another tree, a deeper level than * allows) do not."""
    queue = qname("bindings")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.obs.#",
                        "--bind", f"{EXCHANGE}:v03.fcst.*", "--timeout", str(TIMEOUT))
    consumer.wait_subscribed()
    topics = {"v03.obs.swob.ca": True, "v03.obs": True, "v03.fcst.gem": True,
              "v03.fcst.gem.deep": False, "v03.radar.x": False, "v02.post.obs.x": False}
    for topic in topics:
        sent = publish(tool, rabbitmq.url("tfeed"), topic, [message(f"{topic}/file")])
        assert sent.returncode == 0, sent.stderr
    got = consumer.drain(rabbitmq, queue, sum(topics.values()))
    assert sorted(r["topic"] for r in got) == sorted(t for t, wanted in topics.items() if wanted)


def test_quorum_queue_carries_messages(rabbitmq, tool, exchange):
    """queue_type quorum: the queue is declared as a quorum queue and carries messages like
    a classic one."""
    queue = qname("quorum")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.quorum",
                        "--queue-type", "quorum", "--timeout", str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        sent = publish(tool, rabbitmq.url("tfeed"), "v03.quorum",
                       [message(f"q/{i}") for i in range(3)])
        assert sent.returncode == 0, sent.stderr
        got = consumer.wait_for(3)
    finally:
        consumer.kill()
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == ["q/0", "q/1", "q/2"]
    types = rabbitmq.ctl("list_queues", "name", "type").stdout.splitlines()
    assert f"{queue}\tquorum" in types


def with_dead_node_first(url, dead_port):
    """url (one node) naming first a node where nothing listens, then the real one."""
    return url.replace("@127.0.0.1:", f"@127.0.0.1:{dead_port},127.0.0.1:", 1)


def test_a_url_naming_several_nodes_connects_to_one_that_answers(rabbitmq, tool, exchange):
    """A broker URL naming several nodes (a cluster's): the publisher and the subscriber
    both find the first node dead, say so once each, go on to the next and carry every
    message there."""
    dead = free_port()
    queue = qname("nodes")
    consumer = Consumer(tool, with_dead_node_first(rabbitmq.url("tsub"), dead), queue,
                        "--bind", f"{EXCHANGE}:v03.nodes", "--timeout", str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        sent = publish(tool, with_dead_node_first(rabbitmq.url("tfeed"), dead), "v03.nodes",
                       [message(f"n/{i}") for i in range(5)])
        got = consumer.drain(rabbitmq, queue, 5)
    finally:
        consumer.kill()
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines()[-1] == "published 5"
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == [f"n/{i}" for i in range(5)]
    for stderr in (sent.stderr, consumer.stderr):
        tried = [line for line in stderr.splitlines() if "cannot connect to node" in line]
        assert len(tried) == 1, stderr
        assert f"node 127.0.0.1:{dead}" in tried[0]
        assert f"trying node 127.0.0.1:{rabbitmq.port}" in tried[0]
        assert f"node 127.0.0.1:{rabbitmq.port}" in stderr.split(tried[0])[1], stderr


# ---- failures ----

def test_killed_consumer_messages_go_to_the_next(rabbitmq, tool, exchange):
    """A subscriber is SIGKILLed while it holds 20 unacked messages: the next subscriber of
    the queue gets all 20, marked redelivered; none is lost."""
    queue = qname("killed")
    first = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.killed",
                     "--prefetch", "50", "--hold", "600", "--timeout", str(TIMEOUT))
    sent_bodies = [message(f"k/{i}") for i in range(20)]
    try:
        first.wait_subscribed()
        sent = publish(tool, rabbitmq.url("tfeed"), "v03.killed", sent_bodies)
        assert sent.returncode == 0, sent.stderr
        first.wait_for(1)
        deadline = time.monotonic() + TIMEOUT
        while queue_counts(rabbitmq, queue) != (0, 20) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queue_counts(rabbitmq, queue) == (0, 20)
        assert first.messages, "the first subscriber got nothing before being killed"
    finally:
        first.kill(signal.SIGKILL)
    second = Consumer(tool, rabbitmq.url("tsub"), queue, "--timeout", str(TIMEOUT))
    got = second.drain(rabbitmq, queue, len(sent_bodies))
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == \
        sorted(json.loads(body)["relPath"] for body in sent_bodies)
    assert all(r["redelivered"] for r in got)
    assert queue_counts(rabbitmq, queue) == (0, 0)


@pytest.mark.parametrize("held", [3, 9])
def test_a_pass_acked_at_once_gives_back_only_the_held_one(rabbitmq, tool, exchange, held):
    """A flow acks a pass's messages together (sr_broker_ack_many: one basic.ack with
    `multiple` when they are the oldest unacked on the channel). Of 10 taken, all are
    acked at once but one, held: only that one comes back to the next consumer, held in
    the middle (3: the others acked one by one) or last (9: one multiple ack covers the 9
    before it, and must not cover it)."""
    queue = qname(f"ackmany{held}")
    topic = f"v03.ackmany{held}"
    first = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:{topic}",
                     "--prefetch", "20", "--max", "10", "--ack-all-but", str(held),
                     "--timeout", str(TIMEOUT))
    try:
        first.wait_subscribed()
        sent = publish(tool, rabbitmq.url("tfeed"), topic, [message(f"m/{i}") for i in range(10)])
        assert sent.returncode == 0, sent.stderr
        first.finish()
    finally:
        first.kill()
    assert first.proc.returncode == 0, first.stderr
    assert len(first.messages) == 10
    second = Consumer(tool, rabbitmq.url("tsub"), queue, "--timeout", str(TIMEOUT))
    got = second.drain(rabbitmq, queue, 1)
    assert [json.loads(r["body"])["relPath"] for r in got] == [f"m/{held}"]


def test_deleted_queue_is_declared_again(rabbitmq, tool, exchange):
    """An operator deletes the queue under a running subscriber: the broker cancels the
    subscription, the subscriber declares and binds the queue again by itself, and gets what
    is posted afterwards."""
    queue = qname("deleted")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.deleted",
                        "--timeout", str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        rabbitmq.ctl("delete_queue", queue)
        deadline = time.monotonic() + TIMEOUT
        while queue not in rabbitmq.ctl("list_queues", "name").stdout.splitlines():
            assert time.monotonic() < deadline, "the queue was never declared again"
            time.sleep(0.2)
        sent = publish(tool, rabbitmq.url("tfeed"), "v03.deleted",
                       [message(f"d/{i}") for i in range(3)])
        assert sent.returncode == 0, sent.stderr
        got = consumer.wait_for(3)
    finally:
        consumer.kill()
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == ["d/0", "d/1", "d/2"]
    assert "cancelled the subscription" in consumer.stderr


@pytest.mark.parametrize("window", [False, True], ids=["batch", "window"])
def test_publisher_and_consumer_ride_through_a_broker_restart(rabbitmq, tool, exchange, window):
    """RabbitMQ is restarted while messages are being posted (a feeder keeps the poster
    busy from before the restart until well after it): the poster reconnects by itself
    and posts again what was not confirmed; every message it reported as posted reaches
    the subscriber, which reconnects and resumes on its own too. With a window (the next
    batch sent before the confirms of the one before), a batch outstanding when the
    connection goes is reported unconfirmed, never as posted."""
    queue = qname("restart-window" if window else "restart")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.restart",
                        "--timeout", str(TIMEOUT))
    poster = None
    posted, received = set(), set()
    try:
        consumer.wait_subscribed()
        poster = subprocess.Popen(
            [tool, "publish", rabbitmq.url("tfeed"), EXCHANGE, "v03.restart", "--retry",
             "--echo", "--pause", "0.1"] + (["--window"] if window else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The poster reads its messages as they come: fed until 500 more have gone in
        # after the restart.
        feed = Feed(poster, lambda i, n: "".join(message(f"r/{j:05d}") + "\n"
                                                 for j in range(i, i + n)), 25, 500, 0.05)
        consumer.wait_for(200)
        rabbitmq.restart()
        feed.restarted.set()
        status, out, err = feed.finish(TIMEOUT)
        result = {"out": out, "err": err}
        assert status == 0, err
        count = feed.fed
        out = out.splitlines()
        assert out[-1] == f"published {count}"
        posted = {json.loads(line)["body"] for line in out[:-1]}
        assert len(posted) == count
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            received = {r["body"] for r in consumer.messages}
            if posted <= received:
                break
            time.sleep(0.2)
    finally:
        if poster is not None and poster.poll() is None:
            poster.kill()
        consumer.kill(signal.SIGTERM)
    missing = posted - received
    assert not missing, f"{len(missing)} posted messages never arrived, e.g. {sorted(missing)[:3]}"
    # Both really lost the broker and came back by themselves.
    assert re.search(r"connected to amqp://\S+ again", result["err"]), result["err"]
    assert re.search(r"connected to amqp://\S+ again", consumer.stderr), consumer.stderr


def test_four_consumers_share_one_queue(rabbitmq, tool, exchange):
    """Four instances consume one queue: each of 2,000 messages goes to exactly one of them,
    and each gets at least a tenth of the load."""
    queue = qname("shared")
    count = 2000
    consumers = [Consumer(tool, rabbitmq.url("tsub"), queue, "--bind",
                          f"{EXCHANGE}:v03.shared", "--timeout", str(TIMEOUT)) for _ in range(4)]
    for c in consumers:
        c.wait_subscribed()
    sent = publish(tool, rabbitmq.url("tfeed"), "v03.shared",
                   [message(f"s/{i:05d}") for i in range(count)], "--batch", "100")
    assert sent.returncode == 0, sent.stderr
    # all posted (confirmed): once the four hold count between them and the queue is
    # empty, nothing more comes
    deadline = time.monotonic() + TIMEOUT
    while sum(len(c.messages) for c in consumers) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    while queue_counts(rabbitmq, queue) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    for c in consumers:
        c.kill(signal.SIGTERM)
    got = [[r["body"] for r in c.messages] for c in consumers]
    everything = [body for bodies in got for body in bodies]
    assert len(everything) == count and len(set(everything)) == count
    assert all(len(bodies) >= count // 10 for bodies in got), [len(b) for b in got]


# ---- TLS ----

def test_amqps_trusts_only_the_right_ca(rabbitmq, tool, exchange, test_ca):
    """amqps with the test CA in SSL_CERT_FILE works both ways; with another CA the broker is
    refused with a certificate error that says what to do; tlsRigour lax connects anyway
    and warns loudly."""
    queue = qname("tls")
    good = dict(os.environ, SSL_CERT_FILE=str(test_ca.ca))
    wrong = dict(os.environ, SSL_CERT_FILE=str(test_ca.wrong_ca))
    consumer = Consumer(tool, rabbitmq.tls_url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.tls",
                        "--timeout", str(TIMEOUT), env=good)
    consumer.wait_subscribed()
    ok = publish(tool, rabbitmq.tls_url("tfeed"), "v03.tls", [message("t/good")], env=good)
    refused = publish(tool, rabbitmq.tls_url("tfeed"), "v03.tls", [message("t/wrong")],
                      env=wrong)
    lax = publish(tool, rabbitmq.tls_url("tfeed"), "v03.tls", [message("t/lax")], "--tls", "lax",
                  env=wrong)
    got = consumer.drain(rabbitmq, queue, 2)

    assert ok.returncode == 0, ok.stderr
    assert refused.returncode == 1
    [error] = error_lines(refused.stderr)
    assert f"amqps://tfeed:***@localhost:{rabbitmq.tls_port}/" in error
    assert "certificate is not signed by a trusted CA" in error
    assert "SSL_CERT_FILE" in error and "tlsRigour lax" in error
    assert lax.returncode == 0, lax.stderr
    assert re.search(r"WARNING.*tlsRigour lax: the broker's certificate and host name are NOT "
                     r"checked", lax.stderr), lax.stderr
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == ["t/good", "t/lax"]


# ---- errors a user makes ----

@pytest.mark.parametrize("case", ["bad scheme", "wrong password", "unknown host",
                                  "refused port", "unknown vhost"])
def test_connection_errors_say_what_is_wrong_in_one_line(rabbitmq, tool, case):
    """A bad URL scheme, a wrong password, an unknown host, a port nobody listens on and a
    vhost that does not exist: exit status 1 and one error line naming the broker (never
    its password) and the cause."""
    password = rabbitmq.users["tfeed"]
    port = rabbitmq.port
    url, expected = {
        "bad scheme": (f"amqpx://tfeed:{password}@127.0.0.1:{port}/",
                       f"broker amqpx://tfeed:***@127.0.0.1:{port}/: the scheme must be amqp, "
                       "amqps, mqtt or mqtts"),
        "wrong password": (f"amqp://tfeed:wrong-{password}@127.0.0.1:{port}/",
                           f"amqp://tfeed:***@127.0.0.1:{port}/: login refused for user tfeed "
                           "(wrong user or password?): ACCESS_REFUSED"),
        "unknown host": (f"amqp://tfeed:{password}@nosuchhost.invalid:{port}/",
                         f"amqp://tfeed:***@nosuchhost.invalid:{port}/: unknown host "
                         "nosuchhost.invalid"),
        "refused port": (f"amqp://tfeed:{password}@127.0.0.1:{free_port()}/",
                         "cannot connect to 127.0.0.1 port {port}: Connection refused"),
        "unknown vhost": (f"amqp://tfeed:{password}@127.0.0.1:{port}/nosuch",
                          f"amqp://tfeed:***@127.0.0.1:{port}/nosuch: vhost \"nosuch\" refused"),
    }[case]
    if case == "refused port":
        expected = expected.format(port=url.rsplit(":", 1)[1].strip("/"))
    result = publish(tool, url, "v03.error", [message("e/x")])
    assert result.returncode == 1
    assert password not in result.stderr + result.stdout
    [error] = error_lines(result.stderr)
    assert expected in error, error


def test_unknown_exchange_fails_the_messages_not_the_connection(rabbitmq, tool):
    """Posting to an exchange that does not exist: each message is reported failed with the
    broker's reason (404), and the connection stays up for the next batch (one connect)."""
    result = publish(tool, rabbitmq.url("tfeed"), "v03.x", [message(f"x/{i}") for i in range(3)],
                     "--no-declare", "--batch", "1", exchange=f"nosuch_{secrets.token_hex(3)}")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["published 0", "failed 3"]
    errors = error_lines(result.stderr)
    assert len(errors) == 3 and all("404 NOT_FOUND - no exchange" in e for e in errors), errors
    assert len(re.findall(r"connected to ", result.stderr)) == 1, result.stderr


def test_an_idle_publisher_keeps_its_connection(rabbitmq, tool, exchange):
    """A publisher that posts nothing for longer than two heartbeats (a hot directory on a
    quiet night) keeps its connection: between batches it services it as a flow's idle
    loop does, so the broker does not drop it and the next post does not fail first."""
    queue = qname("idle")
    consumer = Consumer(tool, rabbitmq.url("tsub"), queue, "--bind", f"{EXCHANGE}:v03.idle",
                        "--timeout", str(TIMEOUT))
    try:
        consumer.wait_subscribed()
        sent = publish(tool, rabbitmq.url("tfeed"), "v03.idle",
                       [message(f"idle/{i}") for i in range(3)], "--batch", "1",
                       "--heartbeat", "1", "--pause", "4")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.splitlines()[-1] == "published 3"
        assert "connection lost" not in sent.stderr, sent.stderr
        got = consumer.wait_for(3)
    finally:
        consumer.kill()
    assert sorted(json.loads(r["body"])["relPath"] for r in got) == ["idle/0", "idle/1", "idle/2"]
