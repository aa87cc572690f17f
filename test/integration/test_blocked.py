# SPDX-License-Identifier: GPL-2.0-only
"""Flow control: RabbitMQ's memory alarm blocks publishers, and sr pauses, then resumes.

While one of its resource alarms is in effect, RabbitMQ blocks every connection that
publishes: it sends connection.blocked (sr asks for it at login) and stops reading the
socket until the alarm clears. An operator running sr_post and sr_watch against such a
broker sees, in each log, one warning saying the broker blocks publishing and why, `sr
status` saying "blocked" for both, and after the alarm one line saying how long it lasted;
every file is then announced, none lost, and no reconnect happened, however long the
alarm lasted beyond the 30 s a confirm may otherwise take (broker.c's DEFAULT_TIMEOUT).
A stop during the alarm ends the process at once, the posts the broker did not confirm in
the post retry queue, announced by the next start.

The alarm: `rabbitmqctl set_vm_memory_high_watermark absolute 1` (1 byte: RabbitMQ 3.10
raises the memory alarm at its next check), cleared by setting the default 0.4 back, in
a finally.
"""
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import wait_until, write_config

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
CONFIRM_TIMEOUT = 30  # broker.c's DEFAULT_TIMEOUT: a confirm not in by then is a loss
BLOCKED = "the broker blocks publishing"
UNBLOCKED = "the broker unblocked publishing after"
LOST = "connection lost"


@pytest.fixture(scope="module")
def sr_cmd(build_dir):
    sr = Path(build_dir) / "bin" / "sr"
    if not os.access(sr, os.X_OK):
        raise FileNotFoundError(f"{sr}: not built (run `make` first)")
    return str(sr)


class Consumer:
    """A subscriber of exchange (its own queue, bound to #), reading in the background:
    rel_paths() lists the relPath of every message received, in order, duplicates kept."""

    def __init__(self, tool, url, exchange):
        declare = subprocess.run([tool, "publish", url, exchange, "v03.declare"], input="",
                                 capture_output=True, text=True, timeout=TIMEOUT)
        assert declare.returncode == 0, declare.stderr
        self.proc = subprocess.Popen(
            [tool, "consume", url, "--queue", f"q_tsub.sr_test.blocked.{secrets.token_hex(4)}",
             "--bind", f"{exchange}:#", "--timeout", "900", "--expire", "300",
             "--prefetch", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()
        assert "subscribed" in first, first
        self.lock = threading.Lock()
        self.paths = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                rel = json.loads(json.loads(line)["body"])["relPath"]
                with self.lock:
                    self.paths.append(rel)

    def rel_paths(self):
        with self.lock:
            return list(self.paths)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Instance:
    """sr_<component> instance 1 CONFIG in the background, as `sr start` runs it (a pid
    file, so `sr status` counts it); its log under ~/.cache/sr/log."""

    def __init__(self, sr_bin, env, component, config):
        self.component, self.config = component, config
        self.log = (Path(env["XDG_CACHE_HOME"]) / "sr" / "log" /
                    f"{component}_{config}_01.log")
        self.proc = subprocess.Popen([sr_bin(f"sr_{component}"), "instance", "1", config],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def text(self):
        return self.log.read_text() if self.log.exists() else ""

    def count(self, what):
        return self.text().count(what)

    def stop(self, within=None):
        """SIGTERM; the exit code. within: seconds the stop may take at most."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"sr_{self.component} ignored SIGTERM:\n{self.text()}")
        if within is not None:
            took = time.monotonic() - start
            assert took < within, f"sr_{self.component} took {took:.1f} s to stop"
        return rc


def alarm_on(rabbitmq):
    rabbitmq.ctl("set_vm_memory_high_watermark", "absolute", "1")
    assert wait_until(lambda: "memory" in rabbitmq.ctl(
        "eval", "rabbit_alarm:get_alarms().").stdout, TIMEOUT), "no memory alarm"


def alarm_off(rabbitmq):
    rabbitmq.ctl("set_vm_memory_high_watermark", "0.4")
    assert wait_until(lambda: "memory" not in rabbitmq.ctl(
        "eval", "rabbit_alarm:get_alarms().").stdout, TIMEOUT), "the memory alarm stays"


def status(sr_cmd, env):
    r = subprocess.run([sr_cmd, "status", "--json"], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return {c["config"]: c for c in json.loads(r.stdout)["configs"]}


def write_files(tree, names):
    for name in names:
        path = tree / name
        path.write_bytes(f"{name} {secrets.token_hex(8)}\n".encode())


def publisher_lines(rabbitmq, exchange, tree):
    return f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {exchange}
        post_baseUrl sftp://tfeed@files.example.com
        post_baseDir {tree}
        path {tree}
        metrics_writeInterval 1
        """


def alarm_story(server, alarmed, broker_tool, sr_bin, sr_cmd, sr_env, tmp_path):
    """A memory alarm raised on node alarmed while sr_post announces 300 files and while
    files land in sr_watch's folder, both publishing to server.url("tfeed"): both pause
    with one warning naming the reason, `sr status` says blocked, the alarm outlasts the
    confirm timeout without a reconnect, and once it clears each file reaches the
    subscriber: none lost, duplicates counted (none expected: nothing was published
    twice)."""
    rabbitmq = server
    exchange = f"xs_tfeed_blocked_{secrets.token_hex(3)}"
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), exchange)
    post_tree, watch_tree = tmp_path / "post", tmp_path / "watch"
    post_tree.mkdir()
    watch_tree.mkdir()
    post_names = [f"p{i:03d}.txt" for i in range(300)]
    write_files(post_tree, post_names)
    write_config(sr_env, "watch", "w", publisher_lines(rabbitmq, exchange, watch_tree) +
                 "sleep 1\n")
    # one pass per batch of 10: the post goes on over many passes while the alarm holds
    write_config(sr_env, "post", "p", publisher_lines(rabbitmq, exchange, post_tree) +
                 "sleep -1\nbatch 10\n")
    watch = Instance(sr_bin, sr_env, "watch", "w")
    post = None
    alarm = False
    try:
        # the watch publishes before the alarm: its connection is up and taken
        assert wait_until(lambda: "entries known" in watch.text(), TIMEOUT), watch.text()
        write_files(watch_tree, ["before.txt"])
        assert wait_until(lambda: "before.txt" in consumer.rel_paths(), TIMEOUT), watch.text()

        alarm_on(alarmed)
        alarm = True
        post = Instance(sr_bin, sr_env, "post", "p")
        watch_names = [f"w{i:02d}.txt" for i in range(20)]
        write_files(watch_tree, watch_names[:10])
        assert wait_until(lambda: watch.count(BLOCKED) and post.count(BLOCKED), TIMEOUT), \
            f"watch:\n{watch.text()}\npost:\n{post.text()}"
        blocked_at = time.monotonic()
        write_files(watch_tree, watch_names[10:])  # while the watch is blocked

        rows = {}

        def both_blocked():
            rows.update(status(sr_cmd, sr_env))
            return all(rows.get(c, {}).get("state") == "blocked" for c in ("watch/w", "post/p"))
        assert wait_until(both_blocked, TIMEOUT), rows
        assert rows["watch/w"]["blocked"] == 1 and rows["post/p"]["blocked"] == 1

        # time passing is the story: the alarm outlasts the confirm timeout
        left = CONFIRM_TIMEOUT + 5 - (time.monotonic() - blocked_at)
        if left > 0:
            time.sleep(left)
        assert post.proc.poll() is None, f"sr_post ended while blocked:\n{post.text()}"
        for inst in (watch, post):
            assert inst.count(BLOCKED) == 1, inst.text()
            assert inst.count(LOST) == 0, inst.text()
        assert "low on memory" in watch.text()

        alarm_off(alarmed)
        alarm = False
        expected = set(["before.txt"] + watch_names + post_names)
        assert wait_until(lambda: expected <= set(consumer.rel_paths()), TIMEOUT), \
            sorted(expected - set(consumer.rel_paths()))[:20]
        assert post.proc.wait(timeout=TIMEOUT) == 0, post.text()
        assert wait_until(lambda: status(sr_cmd, sr_env)["watch/w"]["state"] != "blocked",
                          TIMEOUT)
        assert watch.stop(within=10) == 0, watch.text()
        got = consumer.rel_paths()
        assert set(got) == expected, sorted(set(got) - expected)
        duplicates = len(got) - len(set(got))
        print(f"{len(expected)} files announced, {duplicates} duplicates")
        assert duplicates == 0, sorted(p for p in set(got) if got.count(p) > 1)
        for inst in (watch, post):
            assert inst.count(BLOCKED) == 1, inst.text()
            assert inst.count(UNBLOCKED) == 1, inst.text()
            assert inst.count(LOST) == 0, inst.text()
    finally:
        if alarm:
            alarm_off(alarmed)
        for inst in (watch, post):
            if inst is not None:
                inst.stop()
        consumer.close()


# The story runs on the three-node cluster below (the acceptance of issue 20), not again
# on the single test broker: the same code meets the same notifications there (an alarm
# holds the whole cluster, and the publishers' node says so), and the story takes over
# a minute. The single broker's alarm is met by the stop test at the end.


class ClusterFromNode:
    """A cluster's URLs naming its nodes from node first: sr connects to that one."""

    def __init__(self, cluster, first):
        self.cluster = cluster
        self.order = [first] + [i for i in range(cluster.size) if i != first]

    def url(self, user):
        return self.cluster.url(user, nodes=self.order)


def test_memory_alarm_on_one_cluster_node_pauses_publishers_on_another(
        rabbitmq_cluster, broker_tool, sr_bin, sr_cmd, sr_env, tmp_path):
    """On a three-node cluster, sr_post and sr_watch publish through node 1 and the memory
    alarm is raised on node 0: RabbitMQ's alarms hold for the whole cluster, so both are
    blocked all the same and resume when it clears, every file once (alarm_story)."""
    cluster = rabbitmq_cluster
    cluster.wait_clustered()
    alarm_story(ClusterFromNode(cluster, 1), cluster.nodes[0], broker_tool, sr_bin, sr_cmd,
                sr_env, tmp_path)
    # on node 1 indeed, not on the alarmed one
    log = (Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "log" / "watch_w_01.log").read_text()
    assert f"node 127.0.0.1:{cluster.nodes[1].port}" in log, log


def test_stop_during_an_alarm_is_prompt_and_the_next_start_announces_the_rest(
        rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    """sr_watch is stopped (SIGTERM, as `sr stop` does) while the broker blocks it: it exits
    0 at once instead of waiting for the alarm, the files it could not announce in its post
    retry queue; started again after the alarm, it announces them: each file arrives,
    duplicates (what the broker read from the closed connection once it read again)
    counted and at most the files written."""
    exchange = f"xs_tfeed_blocked_{secrets.token_hex(3)}"
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), exchange)
    tree = tmp_path / "watch"
    tree.mkdir()
    write_config(sr_env, "watch", "s", publisher_lines(rabbitmq, exchange, tree) +
                 "sleep 1\nretryDelay 1\n")
    watch = Instance(sr_bin, sr_env, "watch", "s")
    again = None
    alarm = False
    try:
        assert wait_until(lambda: "entries known" in watch.text(), TIMEOUT), watch.text()
        write_files(tree, ["before.txt"])
        assert wait_until(lambda: "before.txt" in consumer.rel_paths(), TIMEOUT), watch.text()
        alarm_on(rabbitmq)
        alarm = True
        names = [f"s{i:02d}.txt" for i in range(20)]
        write_files(tree, names)
        assert wait_until(lambda: watch.count(BLOCKED), TIMEOUT), watch.text()
        assert watch.stop(within=5) == 0, watch.text()
        assert watch.count("20 of 20 messages not taken"), watch.text()
        alarm_off(rabbitmq)
        alarm = False
        # the posts not confirmed are on disk, in the post retry queue
        state = Path(sr_env["XDG_CACHE_HOME"]) / "sr"
        queued = (state / "watch" / "s" / "retry_post_01.jsonl").read_text()
        assert all(n in queued for n in names), queued
        first_run = len(watch.text())
        restarted = time.time()
        again = Instance(sr_bin, sr_env, "watch", "s")
        expected = set(["before.txt"] + names)
        assert wait_until(lambda: expected <= set(consumer.rel_paths()), TIMEOUT), \
            (sorted(expected - set(consumer.rel_paths())), again.text())

        def retry_queue_sent():
            try:
                m = json.loads((state / "metrics" / "watch_s_01.json").read_text())
            except (OSError, ValueError):
                return False
            return m["time"] > restarted and m["retry"]["post"] == 0
        assert wait_until(retry_queue_sent, TIMEOUT), again.text()[first_run:]
        assert again.stop(within=10) == 0, again.text()[first_run:]
        got = consumer.rel_paths()
        duplicates = len(got) - len(set(got))
        print(f"{len(expected)} files announced, {duplicates} duplicates")
        assert set(got) == expected
        assert duplicates <= len(names)
    finally:
        if alarm:
            alarm_off(rabbitmq)
        for inst in (watch, again):
            if inst is not None:
                inst.stop()
        consumer.close()
