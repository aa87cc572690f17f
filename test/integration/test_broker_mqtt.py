# SPDX-License-Identifier: GPL-2.0-only
"""The MQTT backend of the broker layer (lib/broker_mqtt.c) against a real Mosquitto.

Every test drives test/tools/sr_broker_tool, which is lib/broker.h from the command line:
`publish` reads v03 messages (one JSON per line) and, with --echo, prints each one the
broker confirmed (PUBACK) as it went on the wire; `consume` prints each delivery as a JSON
line and acks it after printing (or after --hold seconds). Each test uses its own topic
root, shared-subscription group and client ids, so they do not see each other's messages
on the session's broker.
"""
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from helpers import Feed, wait_until
from servers import HOST, Mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "test" / "data" / "messages" / "v03"
# For what takes seconds; a loaded machine may take many times longer. A consumer's own
# --timeout (seconds without a message, 5 unless given) ends a wait only where a test
# wants to see that nothing more comes: elsewhere it is TIMEOUT, and --max or the test
# ends it.
TIMEOUT = 120


@pytest.fixture(scope="session")
def tool(broker_tool):
    return broker_tool


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def golden_lines():
    """Each golden v03 message as one JSON line, in file name order."""
    return [json.dumps(json.loads(p.read_text())) for p in sorted(GOLDEN.glob("*.json"))]


def numbered(tag, count):
    """count distinct v03 messages: relPath tag/00000.txt, tag/00001.txt ..."""
    base = json.loads((GOLDEN / "hello_sha512.json").read_text())
    return [json.dumps(dict(base, relPath=f"{tag}/{i:05d}.txt")) for i in range(count)]


def rel_path(line):
    return json.loads(line["body"])["relPath"]


def shared(group, root):
    """The subscription sr builds for queue `group` on exchange `root` (topic.h)."""
    return f"{root}:$share/{group}/{root}/v03/#"


def publish(tool, url, root, lines, *args, env=None, timeout=TIMEOUT):
    """Publish lines under <root>/v03/a; returns (CompletedProcess, echoed deliveries)."""
    result = subprocess.run([tool, "publish", url, root, f"{root}/v03/a", "--echo", *args],
                            input="".join(f"{line}\n" for line in lines), capture_output=True,
                            text=True, timeout=timeout, env=env)
    echoed = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    return result, echoed


class Consumer:
    """sr_broker_tool consume in the background; its stdout lines parsed as they come."""

    def __init__(self, tool, url, group, client_id, *args, env=None):
        self.proc = subprocess.Popen(
            [tool, "consume", url, "--queue", group, "--client-id", client_id, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines = queue.Queue()
        self.messages = []
        self.stderr = []
        self.subscribed = False
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines.put, True),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append, False),
                         daemon=True).start()

    @staticmethod
    def _read(stream, put, mark_end):
        for line in stream:
            put(line.rstrip("\n"))
        if mark_end:
            put(None)

    def _next(self, deadline):
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line is None:
            self.lines.put(None)
            return False
        item = json.loads(line)
        if item.get("subscribed"):
            self.subscribed = True
        else:
            self.messages.append(item)
        return True

    def wait_subscribed(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.subscribed and self._next(deadline):
            pass
        assert self.subscribed, f"consumer never subscribed: {self.err()}"

    def poll(self):
        """Take in what has come so far, without waiting."""
        while self._next(time.monotonic()):
            pass

    def wait_messages(self, count, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and self._next(deadline):
            pass
        assert len(self.messages) >= count, (
            f"{len(self.messages)} of {count} messages: {self.err()}")

    def finish(self, timeout=TIMEOUT):
        """Wait for the exit (--max or --timeout); the return code."""
        rc = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 5
        while self._next(deadline):
            pass
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def err(self):
        time.sleep(0.1)
        return "\n".join(self.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def test_every_golden_v03_message_crosses_mqtt_unchanged(mosquitto, tool):
    """A feeder posts every golden v03 message; a subscriber of <root>/v03/# gets each one,
    in order, byte for byte as the broker took it, with content type application/json,
    the MQTT topic and the exchange (its first level); a message posted outside the
    subscription never arrives."""
    root, group = unique("gold"), unique("q_gold")
    lines = golden_lines()
    with Consumer(tool, mosquitto.url("tsub"), group, f"{group}_i01", "--bind",
                  shared(group, root), "--max", str(len(lines)), "--timeout", str(TIMEOUT),
                  "--decode") as sub:
        sub.wait_subscribed()
        other, _ = publish(tool, mosquitto.url("tfeed"), f"{root}x", lines[:1])
        assert other.returncode == 0, other.stderr
        result, echoed = publish(tool, mosquitto.url("tfeed"), root, lines)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == f"published {len(lines)}"
        assert sub.finish() == 0, sub.err()
    got = sub.messages
    assert [m["body"] for m in got] == [m["body"] for m in echoed]
    for m in got:
        assert m["topic"] == f"{root}/v03/a"
        assert m["exchange"] == root
        assert m["content_type"] == "application/json"
        assert m["headers"] == {}
        assert "message" in m, m.get("decode_error")
    expected = [json.loads(x)["relPath"] for x in lines]
    assert [rel_path(m) for m in got] == expected


def test_persistent_session_keeps_messages_while_the_consumer_is_away(mosquitto, tool):
    """A subscriber stops; 20 messages are posted meanwhile; started again with the same
    client id it gets all 20 (its session, one day by default, held them). After
    `sr cleanup` (delete) ends the session, what is posted is no longer kept for it."""
    root, group = unique("sess"), unique("q_sess")
    cid, url = f"{group}_i01", mosquitto.url("tsub")
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout", "0.5") as first:
        first.wait_subscribed()
        assert first.finish() == 0, first.err()
    assert first.messages == []
    lines = numbered(root, 20)
    result, _ = publish(tool, mosquitto.url("tfeed"), root, lines)
    assert result.returncode == 0, result.stderr
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--max", "20",
                  "--timeout", str(TIMEOUT)) as again:
        assert again.finish() == 0, again.err()
    assert sorted(rel_path(m) for m in again.messages) == [json.loads(x)["relPath"] for x in lines]

    deleted = subprocess.run([tool, "delete", url, group, "--client-id", cid],
                             capture_output=True, text=True, timeout=TIMEOUT)
    assert deleted.returncode == 0, deleted.stderr
    result, _ = publish(tool, mosquitto.url("tfeed"), root, numbered(f"{root}/late", 5))
    assert result.returncode == 0, result.stderr
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout", "1") as fresh:
        assert fresh.finish() == 0, fresh.err()
    assert fresh.messages == []


def test_consumer_killed_holding_a_message_gets_it_again(mosquitto, tool):
    """A subscriber is SIGKILLed while it holds a message it has not acked (the work was
    not done); restarted with the same client id it receives that message again, and the
    two posted after it: none is lost, because the PUBACK leaves only after the ack."""
    root, group = unique("kill"), unique("q_kill")
    cid, url = f"{group}_i01", mosquitto.url("tsub")
    lines = numbered(root, 3)
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--hold", "60") as first:
        first.wait_subscribed()
        result, _ = publish(tool, mosquitto.url("tfeed"), root, lines[:1])
        assert result.returncode == 0, result.stderr
        first.wait_messages(1)
        # The story: time enough for a client that acks on receipt to have sent its PUBACK.
        time.sleep(0.5)
        result, _ = publish(tool, mosquitto.url("tfeed"), root, lines[1:])
        assert result.returncode == 0, result.stderr
        time.sleep(0.2)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=TIMEOUT)
    held = rel_path(first.messages[0])
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--max", "3",
                  "--timeout", str(TIMEOUT)) as second:
        assert second.finish() == 0, second.err()
    got = [rel_path(m) for m in second.messages]
    assert held in got
    assert sorted(got) == [json.loads(x)["relPath"] for x in lines]


def test_consumer_killed_holding_several_gets_them_all_and_not_the_acked_ones(mosquitto, tool):
    """Several messages in flight at once: a subscriber that acks nothing (prefetch 10)
    receives all 6 posted for it before any ack, is SIGKILLed, and its restart gets all 6
    again; the 3 a first run of it had acked (and closed) before do not come back."""
    root, group = unique("several"), unique("q_several")
    cid, url = f"{group}_i01", mosquitto.url("tsub")
    lines = numbered(root, 9)
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--max", "3",
                  "--timeout", str(TIMEOUT)) as acking:
        acking.wait_subscribed()
        result, _ = publish(tool, mosquitto.url("tfeed"), root, lines[:3])
        assert result.returncode == 0, result.stderr
        assert acking.finish() == 0, acking.err()
    result, _ = publish(tool, mosquitto.url("tfeed"), root, lines[3:])
    assert result.returncode == 0, result.stderr
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--no-ack",
                  "--prefetch", "10", "--timeout", str(TIMEOUT)) as holding:
        holding.wait_messages(6)  # all of them, none acked
        holding.proc.send_signal(signal.SIGKILL)
        holding.proc.wait(timeout=TIMEOUT)
    expected = [json.loads(x)["relPath"] for x in lines[3:]]
    assert sorted(rel_path(m) for m in holding.messages) == expected
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout",
                  "2") as again:
        assert again.finish() == 0, again.err()
    assert sorted(rel_path(m) for m in again.messages) == expected


def test_consumer_stopped_holding_some_acks_only_those_it_acked(mosquitto, tool):
    """A subscriber that takes 4 of 6 messages and acks them closes normally with the
    other 2 read but not acked (nor handed over): a restart gets those 2 again, not the 4."""
    root, group = unique("stop"), unique("q_stop")
    cid, url = f"{group}_i01", mosquitto.url("tsub")
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout", "0.5") as first:
        first.wait_subscribed()
        assert first.finish() == 0, first.err()
    lines = numbered(root, 6)
    result, _ = publish(tool, mosquitto.url("tfeed"), root, lines)
    assert result.returncode == 0, result.stderr
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--max", "4",
                  "--timeout", str(TIMEOUT)) as some:
        assert some.finish() == 0, some.err()
    taken = sorted(rel_path(m) for m in some.messages)
    assert len(taken) == 4
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout",
                  "2") as again:
        assert again.finish() == 0, again.err()
    rest = sorted(rel_path(m) for m in again.messages)
    assert sorted(taken + rest) == [json.loads(x)["relPath"] for x in lines]


def test_work_longer_than_the_keepalive_is_acked_once(mosquitto, tool):
    """A subscriber with a 5 s keepalive works 14 s on a message before acking it (a long
    download): the broker does not drop it meanwhile (Mosquitto drops a silent client
    after about 1.5 to 2.5 keepalives), the message is acked once, and a restart of the
    subscriber does not get it again."""
    root, group = unique("long"), unique("q_long")
    cid, url = f"{group}_i01", mosquitto.url("tsub")
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--heartbeat", "5",
                  "--hold", "14", "--max", "1", "--timeout", str(TIMEOUT)) as sub:
        sub.wait_subscribed()
        result, _ = publish(tool, mosquitto.url("tfeed"), root, numbered(root, 1))
        assert result.returncode == 0, result.stderr
        assert sub.finish(timeout=TIMEOUT + 30) == 0, sub.err()
    assert len(sub.messages) == 1
    assert "lost" not in sub.err(), sub.err()
    with Consumer(tool, url, group, cid, "--bind", shared(group, root), "--timeout", "1") as again:
        assert again.finish() == 0, again.err()
    assert again.messages == []


def test_v02_headers_travel_as_user_properties(mosquitto, tool):
    """A v02 message over MQTT 5: the body is the v02 text (content type text/plain), its
    headers are user properties, and the subscriber decodes the same message."""
    root, group = unique("v02"), unique("q_v02")
    lines = golden_lines()[:3]
    with Consumer(tool, mosquitto.url("tsub"), group, f"{group}_i01", "--bind",
                  shared(group, root), "--max", "3", "--timeout", str(TIMEOUT),
                  "--decode") as sub:
        sub.wait_subscribed()
        result, echoed = publish(tool, mosquitto.url("tfeed"), root, lines, "--v02")
        assert result.returncode == 0, result.stderr
        assert sub.finish() == 0, sub.err()
    assert len(sub.messages) == 3
    for got, sent, line in zip(sub.messages, echoed, lines):
        assert got["content_type"] == "text/plain"
        assert got["body"] == sent["body"]
        assert got["headers"] == sent["headers"] and got["headers"] != {}
        assert got["message"]["relPath"] == json.loads(line)["relPath"]


@pytest.mark.parametrize("window", [False, True], ids=["batch", "window"])
def test_broker_restart_mid_stream_loses_nothing(mosquitto, tool, window):
    """Mosquitto is restarted while a feeder posts messages in batches (kept busy from
    before the restart until well after it): the feeder reconnects by itself and posts
    again what was not confirmed; a subscriber with a plain subscription (sr's `topic`
    option) reconnects to its persistent session and gets every message the feeder
    reported as published (duplicates allowed: at least once). With a window, the next
    batch is sent before the PUBACKs of the one before: a batch outstanding when the
    connection goes is reported unconfirmed, never as published.

    Mosquitto 2.0.11 saves sessions but not their shared ($share) subscriptions, so what
    is posted between the restart and a shared subscriber's return has nowhere to go: for
    the shared subscriber the test checks only that it subscribes again by itself and gets
    what comes after."""
    root = unique("boot")
    plain, group = unique("q_boot"), unique("q_boot")
    url = mosquitto.url("tsub")
    base = json.loads(numbered(root, 1)[0])
    with Consumer(tool, url, plain, f"{plain}_i01", "--bind", f"{root}:{root}/v03/#",
                  "--timeout", str(TIMEOUT)) as sub, \
            Consumer(tool, url, group, f"{group}_i01", "--bind", shared(group, root),
                     "--timeout", str(TIMEOUT)) as shared_sub:
        sub.wait_subscribed()
        shared_sub.wait_subscribed()
        feeder = subprocess.Popen(
            [tool, "publish", mosquitto.url("tfeed"), root, f"{root}/v03/a", "--echo",
             "--batch", "10", "--pause", "0.03", "--retry"] + (["--window"] if window else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # It reads its messages as they come: fed until 100 more have gone in after the
        # restart.
        feed = Feed(feeder, lambda i, n: "".join(
            json.dumps(dict(base, relPath=f"{root}/{j:05d}.txt")) + "\n" for j in range(i, i + n)),
            10, 100, 0.03)
        sub.wait_messages(40)
        mosquitto.restart()
        feed.restarted.set()
        status, out, err = feed.finish(TIMEOUT)
        # The shared subscriber announces "connected ... again" once it has subscribed
        # again; what is posted after that reaches it.
        deadline = time.monotonic() + TIMEOUT
        while "again" not in shared_sub.err() and time.monotonic() < deadline:
            time.sleep(0.2)
        tail, _ = publish(tool, mosquitto.url("tfeed"), root, numbered(f"{root}/tail", 1))
        assert tail.returncode == 0, tail.stderr
        echoed = [rel_path(json.loads(x)) for x in out.splitlines() if x.startswith("{")]

        def arrived():  # at least once: duplicates are allowed, nothing more to wait for
            sub.poll()
            shared_sub.poll()
            return (set(echoed) <= {rel_path(m) for m in sub.messages}
                    and f"{root}/tail/00000.txt" in {rel_path(m) for m in shared_sub.messages})
        wait_until(arrived, TIMEOUT)
    count = feed.fed
    assert status == 0, err
    assert out.splitlines()[-1] == f"published {count}"
    assert "lost" in err and "again" in err, err  # it did lose the broker and come back
    assert len(set(echoed)) == count
    got = {rel_path(m) for m in sub.messages}
    assert set(echoed) - got == set()
    assert "again" in sub.err()
    assert f"{root}/tail/00000.txt" in {rel_path(m) for m in shared_sub.messages}


def test_publisher_naming_two_brokers_moves_to_the_second_when_the_first_stops(
        mosquitto, tool, tmp_path):
    """A feeder's URL names two brokers (mqtt://u@h1:p1,h2:p2). It publishes to the first
    until that one is stopped, then says which node it lost, reconnects to the second by
    itself and posts there what was not confirmed: a subscriber of the second gets every
    message the feeder reported as published after the first went away."""
    first = Mosquitto(tmp_path)
    first.users = dict(mosquitto.users)  # one account on both, as on a cluster
    first.start()
    try:
        root = unique("nodes")
        group = unique("q_nodes")
        base = json.loads(numbered(root, 1)[0])
        url = mosquitto.url("tfeed").replace(
            "@127.0.0.1:", f"@127.0.0.1:{first.port},127.0.0.1:", 1)
        with Consumer(tool, first.url("tsub"), group, f"{group}_i01", "--bind",
                      f"{root}:{root}/v03/#", "--timeout", str(TIMEOUT)) as on_first, \
                Consumer(tool, mosquitto.url("tsub"), group, f"{group}_i01", "--bind",
                         f"{root}:{root}/v03/#", "--timeout", str(TIMEOUT)) as on_second:
            on_first.wait_subscribed()
            on_second.wait_subscribed()
            feeder = subprocess.Popen(
                [tool, "publish", url, root, f"{root}/v03/a", "--echo", "--batch", "5",
                 "--pause", "0.03", "--retry"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            feed = Feed(feeder, lambda i, n: "".join(
                json.dumps(dict(base, relPath=f"{root}/{j:05d}.txt")) + "\n"
                for j in range(i, i + n)), 5, 50, 0.03)
            on_first.wait_messages(20)
            first.stop()
            feed.restarted.set()
            status, out, err = feed.finish(TIMEOUT)
            echoed = [rel_path(json.loads(x)) for x in out.splitlines() if x.startswith("{")]
            on_first.poll()  # all it read before its broker stopped
            early = {rel_path(m) for m in on_first.messages}
            later = [p for p in echoed if p not in early]

            def arrived():
                on_second.poll()
                return set(later) <= {rel_path(m) for m in on_second.messages}
            wait_until(arrived, TIMEOUT)
    finally:
        first.stop()
    assert status == 0, err
    assert out.splitlines()[-1] == f"published {feed.fed}"
    assert len(set(echoed)) == feed.fed
    assert len(later) >= 50
    assert f"connection lost to node 127.0.0.1:{first.port}" in err, err
    assert f"node 127.0.0.1:{mosquitto.port}" in err.split("connection lost to node")[1], err
    got = [rel_path(m) for m in on_second.messages]
    assert set(later) - set(got) == set()
    # the second broker got only what the feeder posted once the first had gone
    assert set(got) <= set(later)


def test_four_consumers_share_one_subscription(mosquitto, tool):
    """Four instances subscribe to one shared subscription ($share/<queue>/...); 2,000
    messages are posted: each goes to exactly one instance, and each instance gets at
    least 10% of them."""
    root, group = unique("share"), unique("q_share")
    url, count = mosquitto.url("tsub"), 2000
    consumers = [Consumer(tool, url, group, f"{group}_i{i:02d}", "--bind", shared(group, root),
                          "--timeout", str(TIMEOUT)) for i in range(1, 5)]
    try:
        for c in consumers:
            c.wait_subscribed()
        result, _ = publish(tool, mosquitto.url("tfeed"), root, numbered(root, count),
                            "--batch", "100")
        assert result.returncode == 0, result.stderr

        def received():
            for c in consumers:
                c.poll()
            return sum(len(c.messages) for c in consumers)
        wait_until(lambda: received() >= count, TIMEOUT)
    finally:
        for c in consumers:
            c.kill()
    each = [[rel_path(m) for m in c.messages] for c in consumers]
    everything = [p for got in each for p in got]
    assert len(everything) == count, [len(got) for got in each]
    assert len(set(everything)) == count
    assert min(len(got) for got in each) >= count // 10, [len(got) for got in each]


def test_mqtts_verifies_the_broker_certificate(mosquitto, tool, test_ca):
    """Over mqtts: trusting the test CA (SSL_CERT_FILE), messages go through, with normal
    and strict rigour; trusting another CA, the connection is refused with a certificate
    error; with tlsRigour lax it goes through and a warning says nothing was verified."""
    root, group = unique("tls"), unique("q_tls")
    good = dict(os.environ, SSL_CERT_FILE=str(test_ca.ca))
    wrong = dict(os.environ, SSL_CERT_FILE=str(test_ca.wrong_ca))
    with Consumer(tool, mosquitto.tls_url("tsub"), group, f"{group}_i01", "--bind",
                  shared(group, root), "--max", "3", env=good) as sub:
        sub.wait_subscribed()
        for rigour, env in (("normal", good), ("strict", good), ("lax", wrong)):
            result, echoed = publish(tool, mosquitto.tls_url("tfeed"), root,
                                     numbered(f"{root}/{rigour}", 1), "--tls", rigour, env=env)
            assert result.returncode == 0, result.stderr
            assert len(echoed) == 1
            warned = "NOT verified" in result.stderr
            assert warned == (rigour == "lax"), result.stderr
        assert sub.finish() == 0, sub.err()
    assert sorted(rel_path(m) for m in sub.messages) == [
        f"{root}/{r}/00000.txt" for r in ("lax", "normal", "strict")]

    refused, echoed = publish(tool, mosquitto.tls_url("tfeed"), root, numbered(root, 1),
                              env=wrong)
    assert refused.returncode == 1 and echoed == []
    errors = [x for x in refused.stderr.splitlines() if x.startswith("sr_broker_tool:")]
    assert len(errors) == 1, refused.stderr
    assert "TLS handshake failed" in errors[0] and "certificate verify failed" in errors[0]
    assert str(test_ca.wrong_ca) in errors[0]


@pytest.mark.parametrize("case", ["wrong password", "unknown host", "refused port", "no host"])
def test_connection_errors_say_what_is_wrong(mosquitto, tool, case):
    """A wrong password, an unknown host, a port nobody listens on, a URL without a host:
    the publisher fails with one error line that says which, and never shows the
    password."""
    secret = mosquitto.users["tfeed"]
    url, expected = {
        "wrong password": (f"mqtt://tfeed:wrong-{secret}@{HOST}:{mosquitto.port}",
                           "login refused (Not authorized): check the user name and password"),
        "unknown host": (f"mqtt://tfeed:{secret}@no-such-host.invalid:{mosquitto.port}",
                         'cannot resolve host "no-such-host.invalid"'),
        "refused port": (f"mqtt://tfeed:{secret}@{HOST}:{free_port()}",
                         "Connection refused"),
        "no host": (f"mqtt://tfeed:{secret}@:{mosquitto.port}", "no host"),
    }[case]
    result, echoed = publish(tool, url, "x", numbered("x", 1))
    assert result.returncode == 1 and echoed == []
    errors = [x for x in result.stderr.splitlines() if x.startswith("sr_broker_tool:")]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert secret not in result.stderr


class MQTT311Only:
    """A stand-in for an MQTT 3.1.1-only broker (RabbitMQ's MQTT plugin before 3.13, old
    Mosquitto): a proxy in front of the real Mosquitto that answers an MQTT 5 CONNECT as
    the 3.1.1 spec says (a v3 CONNACK with return code 1, "unacceptable protocol level",
    then close) and passes 3.1.1 connections through. Records the levels it saw."""

    def __init__(self, target_port):
        self.target = target_port
        self.levels = []
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    @staticmethod
    def _read(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _serve(self, client):
        try:
            header = self._read(client, 1)
            length, shift, raw = 0, 0, b""
            while True:
                byte = self._read(client, 1)
                raw += byte
                length |= (byte[0] & 0x7F) << shift
                shift += 7
                if not byte[0] & 0x80:
                    break
            body = self._read(client, length)
            level = body[2 + body[1]]  # after the protocol name "MQTT"
            self.levels.append(level)
            if level == 5:
                client.sendall(b"\x20\x02\x00\x01")
                client.close()
                return
            upstream = socket.create_connection((HOST, self.target))
            upstream.sendall(header + raw + body)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
        except (OSError, ConnectionError, IndexError):
            client.close()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def url(self, broker, user):
        return broker.url(user).replace(f":{broker.port}", f":{self.port}")

    def close(self):
        self.closed = True
        self.listener.close()


def test_falls_back_to_mqtt_311_when_the_broker_refuses_5(mosquitto, tool):
    """Against a broker that speaks only MQTT 3.1.1, publisher and subscriber try 5, are
    refused, say so, and work in 3.1.1: the shared subscription delivers, the JSON body
    decodes without a content type (3.1.1 has none), and a v02 message, whose headers
    3.1.1 cannot carry, is refused with a clear error."""
    old = MQTT311Only(mosquitto.port)
    try:
        root, group = unique("v311"), unique("q_v311")
        with Consumer(tool, old.url(mosquitto, "tsub"), group, f"{group}_i01", "--bind",
                      shared(group, root), "--max", "2", "--decode") as sub:
            sub.wait_subscribed()
            result, echoed = publish(tool, old.url(mosquitto, "tfeed"), root, numbered(root, 2))
            assert result.returncode == 0, result.stderr
            assert "refuses MQTT 5: using MQTT 3.1.1" in result.stderr
            assert sub.finish() == 0, sub.err()
        assert "refuses MQTT 5: using MQTT 3.1.1" in sub.err()
        assert [m["body"] for m in sub.messages] == [m["body"] for m in echoed]
        for m in sub.messages:
            assert m["content_type"] is None
            assert m["message"]["relPath"].startswith(root)
        assert old.levels[:4] == [5, 4, 5, 4]

        v02, echoed = publish(tool, old.url(mosquitto, "tfeed"), root, numbered(root, 1),
                              "--v02")
        assert v02.returncode == 1 and echoed == []
        assert "MQTT 3.1.1 cannot carry v02 headers" in v02.stderr
    finally:
        old.close()
