# SPDX-License-Identifier: GPL-2.0-only
"""sr_shovel and sr_winnow against real brokers: relays compared message for message.

Messages go in with test/tools/sr_broker_tool publish and come out through another
sr_broker_tool consumer, so the components are seen the way a pump's neighbours see them.
"""
import json
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import Component, wait_until, write_config

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


@pytest.fixture(scope="module")
def tool(broker_tool):
    return broker_tool


def message(rel, identity=None):
    body = {"pubTime": "20261125T101010.5", "baseUrl": "https://dd.example.com/",
            "relPath": rel, "size": 12}
    if identity:
        body["identity"] = {"method": "md5", "value": identity}
    return json.dumps(body)


def publish(tool, url, exchange, topic, lines, *options):
    r = subprocess.run([tool, "publish", url, exchange, topic, *options],
                       input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r


class Consumer:
    """A plain subscriber on a queue of its own, bound before it returns; its messages are
    gathered as they come. expected: it ends after that many (0: never by itself); its
    --timeout (seconds without a message) only ends a wait for messages that never come."""

    def __init__(self, tool, url, exchange, key, expected, timeout=TIMEOUT):
        self.proc = subprocess.Popen(
            [tool, "consume", url, "--queue", f"q_tsub.sr_test.out.{secrets.token_hex(4)}",
             "--bind", f"{exchange}:{key}", "--max", str(expected), "--timeout", str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()
        assert "subscribed" in first, self.proc.stderr.read()
        self.messages = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.messages.append(json.loads(line))

    def collect(self):
        """Once it has ended (expected messages, or its --timeout): (messages, stderr)."""
        self.proc.wait(timeout=TIMEOUT + 30)
        return self._finish()

    def until(self, done, timeout=TIMEOUT):
        """Once done(messages) holds (or timeout seconds passed), stopped: (messages,
        stderr)."""
        wait_until(lambda: done(list(self.messages)), timeout)
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return self._finish()

    def _finish(self):
        self.reader.join(30)
        return list(self.messages), self.proc.stderr.read()


def test_shovel_v02_in_v03_out_with_a_filter(rabbitmq, tool, sr_bin, sr_env, tmp_path):
    ex_in, ex_out = f"xs_tfeed_in{secrets.token_hex(2)}", f"xs_tfeed_out{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v02.post.declare", [])
    write_config(sr_env, "shovel", "relay", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        topicPrefix v02.post
        subtopic #
        reject .*\\.tmp$
        accept .*
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        post_topicPrefix v03
        post_format v03
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "relay", tmp_path / "shovel.log")
    # "connected to" is logged once its queue is declared and bound (lib/broker.c): what
    # is published from then on reaches it
    shovel.wait_for("connected to")
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 200)
    names = [f"obs/{i % 7}/f{i:03d}.txt" for i in range(200)] + \
            [f"obs/tmp/t{i:03d}.tmp" for i in range(20)]
    # v02 in: sr_broker_tool converts the v03 lines to v02 (body line + headers)
    for name in names:
        publish(tool, rabbitmq.url("tfeed"), ex_in, "v02.post." + ".".join(name.split("/")[:-1]),
                [message(name, "b1kCrCNwJL3QwXbLkwY9xA==")], "--v02")
    got, err = consumer.collect()
    assert shovel.stop() == 0
    rels = sorted(json.loads(m["body"])["relPath"] for m in got)
    assert rels == sorted(n for n in names if not n.endswith(".tmp")), err
    for m in got:
        body = json.loads(m["body"])
        assert m["content_type"] == "application/json"  # v03 out
        assert body["identity"] == {"method": "md5", "value": "b1kCrCNwJL3QwXbLkwY9xA=="}
        assert m["topic"] == "v03." + ".".join(body["relPath"].split("/")[:-1])
        assert body["to_clusters"] == "ALL"  # what sr3's v02 conversion adds


def test_winnow_two_copies_in_one_out(rabbitmq, tool, sr_bin, sr_env, tmp_path):
    ex_in, ex_out = f"xs_tfeed_w{secrets.token_hex(2)}", f"xs_tfeed_wo{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "winnow", "ha", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        logReject on
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    winnow = Component(sr_bin, sr_env, "winnow", "ha", tmp_path / "winnow.log")
    winnow.wait_for("connected to")
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    lines = [message(f"prod/p{i:04d}", f"{i:04d}AAAAAAAAAAAAAAAAAA==") for i in range(1000)]
    # an HA pair: the same 1,000 products announced twice
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.prod", lines)
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.prod", lines)
    log = Path(tmp_path / "winnow.log")

    def logged(verb):  # one line per message: posted, or rejected (logReject on)
        return log.read_text().count(f"{verb} prod/")
    # all 2,000 handled, and each one it posted (confirmed: on the queue) received
    assert wait_until(lambda: logged("posted") + logged("rejected") >= 2000, TIMEOUT), \
        log.read_text()[-3000:]
    got, err = consumer.until(lambda got: len(got) >= logged("posted"))
    assert winnow.stop() == 0
    rels = [json.loads(m["body"])["relPath"] for m in got]
    assert logged("posted") == 1000, log.read_text()[-3000:]
    assert len(rels) == 1000, f"{len(rels)} posted\n{err}"
    assert len(set(rels)) == 1000
    assert "ERROR" not in log.read_text(), log.read_text()


def test_shovel_killed_and_restarted_loses_nothing(rabbitmq, tool, sr_bin, sr_env, tmp_path):
    ex_in, ex_out = f"xs_tfeed_k{secrets.token_hex(2)}", f"xs_tfeed_ko{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "k", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    first = Component(sr_bin, sr_env, "shovel", "k", tmp_path / "k1.log")
    first.wait_for("connected to")
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    n = 3000
    feeder = subprocess.Popen([tool, "publish", rabbitmq.url("tfeed"), ex_in, "v03.k"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    feeder.stdin.write("".join(message(f"k/m{i:05d}") + "\n" for i in range(n)))
    feeder.stdin.close()
    time.sleep(0.5)  # the story: killed while the messages stream through it
    first.kill()  # kill -9 mid-stream
    assert feeder.wait(timeout=TIMEOUT) == 0, feeder.stderr.read()
    second = Component(sr_bin, sr_env, "shovel", "k", tmp_path / "k2.log")
    # running before it is stopped: the first may have posted all before its kill, and a
    # SIGTERM that comes before the handlers are set kills it (-15) instead of stopping it
    second.wait_for("connected to")
    want = {f"k/m{i:05d}" for i in range(n)}

    def relpaths(got):
        return {json.loads(m["body"])["relPath"] for m in got}
    # at least once: duplicates of what the first had not acked are allowed
    got, err = consumer.until(lambda got: relpaths(got) >= want)
    assert second.stop() == 0
    missing = want - relpaths(got)
    assert not missing, f"{len(missing)} lost, e.g. {sorted(missing)[:5]}"
    # duplicates: at most what the killed one held unacked, one window (sr(1), Brokers):
    # prefetch + postWindow at their defaults, 25 + 500
    duplicates = len(got) - len(relpaths(got))
    assert duplicates <= 25 + 500, f"{duplicates} duplicates after one kill"


def test_malformed_message_is_logged_acked_and_the_flow_goes_on(rabbitmq, tool, sr_bin, sr_env,
                                                                tmp_path):
    ex_in, ex_out = f"xs_tfeed_b{secrets.token_hex(2)}", f"xs_tfeed_bo{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "b", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "b", tmp_path / "b.log")
    shovel.wait_for("connected to")
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 2)
    # a path climbing out of the tree: refused by sr_broker_tool's own decoder, so it is sent
    # raw with amqp-publish (amqp-tools), as a hostile or broken producer would
    url = rabbitmq.url("tfeed")
    evil = json.dumps({"pubTime": "20261125T101010", "baseUrl": "https://e/",
                       "relPath": "../../etc/passwd"})
    raw = subprocess.run(["amqp-publish", "--url", url.rstrip("/"), "-e", ex_in, "-r", "v03.x",
                          "-C", "application/json", "-b", evil], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert raw.returncode == 0, raw.stderr
    publish(tool, url, ex_in, "v03.ok", [message("ok/1"), message("ok/2")])
    got, err = consumer.collect()
    assert sorted(json.loads(m["body"])["relPath"] for m in got) == ["ok/1", "ok/2"]
    assert shovel.stop() == 0
    log = Path(tmp_path / "b.log").read_text()
    assert ('malformed message on topic v03.x dropped: message field relPath '
            '"../../etc/passwd": climbs out of the tree with ..') in log


def test_bad_option_refuses_to_start(sr_bin, sr_env):
    write_config(sr_env, "shovel", "bad", """
        broker amqp://tfeed@localhost/
        post_broker amqp://tfeed@localhost/
        batch many
        """)
    r = subprocess.run([sr_bin("sr_shovel"), "foreground", "bad"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1
    conf = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "shovel" / "bad.conf"
    assert f"{conf}:3:" in r.stderr and "batch" in r.stderr


def mqtt_consumer(tool, url, filter_, expected, timeout=TIMEOUT):
    proc = subprocess.Popen(
        [tool, "consume", url, "--queue", f"q_tsub.sr_test.m{secrets.token_hex(3)}",
         "--client-id", f"sr_test_{secrets.token_hex(4)}", "--bind", f"x:{filter_}",
         "--max", str(expected), "--timeout", str(timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "subscribed" in first, proc.stderr.read()
    return proc


def collect(proc):
    out, err = proc.communicate(timeout=TIMEOUT + 30)
    return [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_shovel_amqp_to_mqtt(rabbitmq, mosquitto, tool, sr_bin, sr_env, tmp_path):
    """The admin pump: AMQP (v02 in) relayed to MQTT (v03 out), with a filter."""
    ex_in = f"xs_tfeed_q{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v02.post.declare", [])
    write_config(sr_env, "shovel", "a2m", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        topicPrefix v02.post
        subtopic #
        reject .*/secret/.*
        post_broker {mosquitto.url("tfeed")}
        post_exchange xs_tfeed
        post_topicPrefix v03
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "a2m", tmp_path / "a2m.log")
    shovel.wait_for("connected to")
    consumer = mqtt_consumer(tool, mosquitto.url("tsub"), "xs_tfeed/v03/#", 100)
    names = [f"wx/{i % 3}/f{i:03d}.txt" for i in range(100)] + ["wx/secret/x.txt"]
    for name in names:
        publish(tool, rabbitmq.url("tfeed"), ex_in, "v02.post." + ".".join(name.split("/")[:-1]),
                [message(name)], "--v02")
    got, err = collect(consumer)
    assert shovel.stop() == 0
    assert sorted(json.loads(m["body"])["relPath"] for m in got) == sorted(names[:-1]), err
    for m in got:
        body = json.loads(m["body"])
        assert m["topic"] == "xs_tfeed/v03/" + "/".join(body["relPath"].split("/")[:-1])
        assert m["content_type"] == "application/json"


def test_shovel_mqtt_to_amqp(rabbitmq, mosquitto, tool, sr_bin, sr_env, tmp_path):
    ex_out = f"xs_tfeed_mo{secrets.token_hex(2)}"
    write_config(sr_env, "shovel", "m2a", f"""
        broker {mosquitto.url("tfeed")}
        exchange xs_tfeed
        subtopic #
        accept .*/keep/.*
        acceptUnmatched off
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "m2a", tmp_path / "m2a.log")
    shovel.wait_for("connected to")
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 50)
    names = [f"keep/{i % 2}/f{i:03d}" for i in range(50)] + [f"drop/g{i}" for i in range(10)]
    for name in names:
        publish(tool, mosquitto.url("tfeed"), "xs_tfeed",
                "xs_tfeed/v03/" + "/".join(name.split("/")[:-1]), [message(name)])
    got, err = consumer.collect()
    assert shovel.stop() == 0
    assert sorted(json.loads(m["body"])["relPath"] for m in got) == sorted(names[:50]), err
    for m in got:
        body = json.loads(m["body"])
        assert m["topic"] == "v03." + ".".join(body["relPath"].split("/")[:-1])


def test_instances_share_one_queue(rabbitmq, tool, sr_bin, sr_env, tmp_path):
    """instances: two processes of one config consume one queue, each message once, both
    working; each logs to its own file as <component>_<config>_NN.log."""
    ex_in, ex_out = f"xs_tfeed_i{secrets.token_hex(2)}", f"xs_tfeed_io{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "pair", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        instances 2
        batch 5
        prefetch 5
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    logs = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "log"
    procs = []
    for n in (1, 2):
        procs.append(subprocess.Popen([sr_bin("sr_shovel"), "instance", str(n), "pair"],
                                      env=sr_env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
        log = logs / f"shovel_pair_{n:02d}.log"
        deadline = time.monotonic() + TIMEOUT
        while not (log.exists() and "connected to" in log.read_text()):
            assert procs[-1].poll() is None and time.monotonic() < deadline, \
                procs[-1].stderr.read()
            time.sleep(0.1)
    consumer = Consumer(tool, rabbitmq.url("tsub"), ex_out, "v03.#", 1000)
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.p",
            [message(f"p/m{i:04d}") for i in range(1000)], "--pause", "0.002")
    got, err = consumer.collect()
    for p in procs:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    rels = [json.loads(m["body"])["relPath"] for m in got]
    assert len(rels) == 1000 and len(set(rels)) == 1000, err
    counts = [(logs / f"shovel_pair_{n:02d}.log").read_text().count("posted ") for n in (1, 2)]
    assert sum(counts) == 1000 and min(counts) >= 100, counts
    assert "shovel/pair_01" in (logs / "shovel_pair_01.log").read_text()
    assert "shovel/pair_02" in (logs / "shovel_pair_02.log").read_text()


def test_housekeeping_metrics_and_log_reopen(rabbitmq, tool, sr_bin, sr_env, tmp_path):
    """What an operator reads: a housekeeping line with the counts, the metrics file sr
    status will read, and the log reopened on SIGHUP after logrotate moved it."""
    ex_in, ex_out = f"xs_tfeed_hk{secrets.token_hex(2)}", f"xs_tfeed_hko{secrets.token_hex(2)}"
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "hk", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        reject .*/no/.*
        housekeeping 3
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    cache = Path(sr_env["XDG_CACHE_HOME"]) / "sr"
    log = cache / "log" / "shovel_hk_01.log"
    proc = subprocess.Popen([sr_bin("sr_shovel"), "instance", "1", "hk"], env=sr_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while not (log.exists() and "connected to" in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.x",
            [message(f"yes/{i}") for i in range(30)] + [message(f"no/{i}") for i in range(10)])
    deadline = time.monotonic() + TIMEOUT
    while "housekeeping: 40 received" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    line = next(l for l in log.read_text().splitlines() if "housekeeping: 40 received" in l)
    assert "30 accepted, 10 rejected, 30 posted" in line, line
    metrics_file = cache / "metrics" / "shovel_hk_01.json"
    metrics = json.loads(metrics_file.read_text())
    assert metrics["component"] == "shovel" and metrics["config"] == "hk"
    assert metrics["instance"] == 1 and metrics["pid"] == proc.pid
    assert metrics["broker"]["connected"] is True
    # logrotate moves the file; SIGHUP makes the instance write to a new one
    rotated = log.with_name(log.name + ".1")
    log.rename(rotated)
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    while not (log.exists() and "log reopened" in log.read_text()):
        assert time.monotonic() < deadline, "no new log after SIGHUP"
        time.sleep(0.1)
    publish(tool, rabbitmq.url("tfeed"), ex_in, "v03.x", [message("yes/after")])
    deadline = time.monotonic() + TIMEOUT
    while not (log.exists() and "posted yes/after" in log.read_text()):
        assert time.monotonic() < deadline, rotated.read_text()[-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "stopping" in log.read_text()
