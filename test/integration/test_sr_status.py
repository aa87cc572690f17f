# SPDX-License-Identifier: GPL-2.0-only
"""`sr status`, `sr declare`, `sr cleanup`, `sr import`: what an operator types to see,
set up, take down and bring over configurations.

Instances are started the way the supervisor starts them (`sr_<component> instance N
CONFIG`, in the background), so these tests do not depend on `sr start`. The verbs run
through `sr` when it is built, else through test/tools/sr_status_tool, which calls the same
library entry points cmd/sr.c dispatches to.
"""
import json
import os
import secrets
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from helpers import write_config
from servers import free_port

TIMEOUT = 60


@pytest.fixture(scope="module")
def sr_cmd(build_dir):
    """The command line prefix that runs an sr verb: [sr] or [sr_status_tool]."""
    sr = build_dir / "bin" / "sr"
    if os.access(sr, os.X_OK):
        return [str(sr)]
    tool = build_dir / "test" / "tools" / "sr_status_tool"
    if not os.access(tool, os.X_OK):
        raise FileNotFoundError(f"{tool}: not built")
    return [str(tool)]


def sr(sr_cmd, env, *args, check=True):
    r = subprocess.run([*sr_cmd, *args], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    if check:
        assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def status_json(sr_cmd, env, *patterns):
    r = sr(sr_cmd, env, "status", "--json", *patterns)
    doc = json.loads(r.stdout)
    return {c["config"]: c for c in doc["configs"]}, doc["totals"]


def state_dir(env, component, name):
    return Path(env["XDG_CACHE_HOME"]) / "sr" / component / name


def message(rel):
    # published now: the lag status shows is small
    now = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return json.dumps({"pubTime": now + ".0", "baseUrl": "https://dd.example.com/",
                       "relPath": rel, "size": 12})


def publish(tool, url, exchange, topic, lines):
    r = subprocess.run([tool, "publish", url, exchange, topic],
                       input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


class Instance:
    """sr_<component> instance N CONFIG in the background, as `sr start` runs it."""

    def __init__(self, sr_bin, env, component, config, n=1):
        self.proc = subprocess.Popen([sr_bin(f"sr_{component}"), "instance", str(n), config],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_until(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {what}")


def row_of(table, name):
    for line in table.splitlines():
        if line.split() and line.split()[0] == name:
            return line.split()
    raise AssertionError(f"no row for {name}:\n{table}")


def test_status_of_a_running_shovel_shows_run_1_of_1_and_counts_that_move(
        rabbitmq, broker_tool, sr_bin, sr_cmd, sr_env):
    """An operator starts a shovel, sends it traffic, and watches `sr status` show it
    running with its one instance, connected, and messages flowing; after a stop the row
    says stop 0/1."""
    ex_in, ex_out = f"xs_tfeed_st{secrets.token_hex(2)}", f"xs_tfeed_so{secrets.token_hex(2)}"
    publish(broker_tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "relay", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    inst = Instance(sr_bin, sr_env, "shovel", "relay")
    try:
        rows, _ = wait_until("shovel/relay running and connected", lambda: (
            lambda r: r if r[0]["shovel/relay"]["running"] == 1 and
            (r[0]["shovel/relay"]["msgConnectedPercent"] or 0) > 0 else None)(
                status_json(sr_cmd, sr_env)))
        row = rows["shovel/relay"]
        assert row["state"] == "run" and row["expected"] == 1
        publish(broker_tool, rabbitmq.url("tfeed"), ex_in, "v03.a",
                [message(f"a/f{i:03d}.txt") for i in range(50)])
        # The instance rewrites its metrics every 5 s: the rates move within that.
        rows, totals = wait_until("messages counted", lambda: (
            lambda r: r if r[0]["shovel/relay"]["messagesPerSecond"] > 0 and
            r[0]["shovel/relay"]["postedPerSecond"] > 0 else None)(status_json(sr_cmd, sr_env)))
        row = rows["shovel/relay"]
        assert row["pubsubBytesPerSecond"] > 0
        assert row["rejectPercent"] == 0
        assert row["lastSeconds"] is not None and row["lastSeconds"] < 30
        assert row["lagAvgSeconds"] is not None and row["lagAvgSeconds"] < 30
        assert totals["processes"] == 1 and totals["runningConfigs"] == 1
        table = sr(sr_cmd, sr_env, "status").stdout
        cols = row_of(table, "shovel/relay")
        assert cols[1:3] == ["run", "1/1"], table
        assert "Total Running Configs: 1 of 1" in table
    finally:
        inst.stop()
    rows, _ = status_json(sr_cmd, sr_env)
    assert rows["shovel/relay"]["state"] == "stop"
    assert rows["shovel/relay"]["running"] == 0


def test_status_and_show_name_the_node_of_each_instance_on_a_cluster(
        rabbitmq, broker_tool, sr_bin, sr_cmd, sr_env):
    """A shovel of two instances whose broker URL names two nodes, the first of them down:
    each instance goes on to the second, and `sr status` (table and --json) and `sr show`
    say that both instances are on it."""
    dead = free_port()
    nodes_url = rabbitmq.url("tfeed").replace("@127.0.0.1:", f"@127.0.0.1:{dead},127.0.0.1:", 1)
    ex_in = f"xs_tfeed_nd{secrets.token_hex(2)}"
    publish(broker_tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "onnodes", f"""
        broker {nodes_url}
        exchange {ex_in}
        subtopic #
        instances 2
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_in}_out
        """)
    live = f"127.0.0.1:{rabbitmq.port}"
    insts = [Instance(sr_bin, sr_env, "shovel", "onnodes", n) for n in (1, 2)]
    try:
        rows, _ = wait_until("both instances connected and their node known", lambda: (
            lambda r: r if (r[0]["shovel/onnodes"]["brokerNodes"] or {}) == {"1": live, "2": live}
            else None)(status_json(sr_cmd, sr_env)))
        table = sr(sr_cmd, sr_env, "status").stdout
        assert f"Broker nodes:\n  shovel/onnodes: i1 {live}, i2 {live}\n" in table, table
        shown = sr(sr_cmd, sr_env, "show", "shovel/onnodes").stdout
        assert f"# brokerNodes i1 {live}, i2 {live} " in shown, shown
        assert f"127.0.0.1:{dead},127.0.0.1:{rabbitmq.port}/" in shown  # the broker option
        doc = json.loads(sr(sr_cmd, sr_env, "show", "--json", "shovel/onnodes").stdout)
        assert doc["brokerNodes"] == {"1": live, "2": live}
    finally:
        for inst in insts:
            inst.stop()


def test_status_answers_with_the_broker_down(sr_bin, sr_cmd, sr_env):
    """With its broker unreachable, a running instance shows in `sr status` as running but
    not connected, a stopped one as stopped, and status itself answers at once."""
    write_config(sr_env, "subscribe", "down", """
        broker amqp://nobody:secret@127.0.0.1:9/
        exchange xpublic
        subtopic #
        directory /tmp
        """)
    write_config(sr_env, "subscribe", "idle", """
        broker amqp://nobody:secret@127.0.0.1:9/
        exchange xpublic
        instances 3
        directory /tmp
        """)
    inst = Instance(sr_bin, sr_env, "subscribe", "down")
    try:
        rows, _ = wait_until("subscribe/down has metrics", lambda: (
            lambda r: r if r[0]["subscribe/down"]["metricsFiles"] == 1 else None)(
                status_json(sr_cmd, sr_env)))
        started = time.monotonic()
        rows, totals = status_json(sr_cmd, sr_env)
        assert time.monotonic() - started < 2
        down = rows["subscribe/down"]
        assert (down["state"], down["running"], down["expected"]) == ("run", 1, 1)
        assert down["msgConnectedPercent"] == 0
        assert rows["subscribe/idle"]["state"] == "stop"
        assert rows["subscribe/idle"]["expected"] == 3
        assert totals["missing"] == 0  # a stopped config misses nothing
    finally:
        inst.stop()


def test_status_of_a_disabled_and_a_crashed_config(sr_bin, sr_cmd, sr_env):
    """A config with a `disabled` marker shows disa; one whose pid file names a dead
    process shows miss, and the footer counts it missing."""
    for name in ("off", "crashed"):
        write_config(sr_env, "subscribe", name, """
            broker amqp://nobody:secret@127.0.0.1:9/
            directory /tmp
            """)
    state_dir(sr_env, "subscribe", "off").mkdir(parents=True)
    (state_dir(sr_env, "subscribe", "off") / "disabled").touch()
    inst = Instance(sr_bin, sr_env, "subscribe", "crashed")
    wait_until("pid file", lambda: list(state_dir(sr_env, "subscribe", "crashed").glob("*.pid")))
    inst.proc.kill()  # kill -9: the pid file stays behind
    inst.proc.wait(timeout=10)
    rows, totals = status_json(sr_cmd, sr_env)
    assert rows["subscribe/off"]["state"] == "disa"
    assert rows["subscribe/crashed"]["state"] == "miss"
    assert rows["subscribe/crashed"]["dead"] == 1
    assert totals["missing"] == 1


def test_status_shows_a_foreground_run_as_fore(sr_bin, sr_cmd, sr_env):
    """`sr_<component> foreground CONFIG` (instance 0, no pid file) shows as fore, not stop."""
    write_config(sr_env, "subscribe", "fg", """
        broker amqp://nobody:secret@127.0.0.1:9/
        directory /tmp
        """)
    proc = subprocess.Popen([sr_bin("sr_subscribe"), "foreground", "fg"], env=sr_env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        rows, _ = wait_until("subscribe/fg in the foreground", lambda: (
            lambda r: r if r[0]["subscribe/fg"]["state"] == "fore" else None)(
                status_json(sr_cmd, sr_env)))
        assert rows["subscribe/fg"]["running"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    rows, _ = status_json(sr_cmd, sr_env)
    assert rows["subscribe/fg"]["state"] == "stop"


def test_status_of_50_configs_answers_in_under_100_ms(sr_cmd, sr_env):
    """`sr status` over 50 configs returns in under 100 ms (best of 3 wall times: the
    test machine is shared)."""
    for i in range(50):
        write_config(sr_env, "subscribe" if i % 2 else "sender", f"c{i:02d}", f"""
            broker amqp://nobody@127.0.0.1:9/
            exchange xpublic
            subtopic a.#
            accept .*\\.txt$
            reject .*
            instances {1 + i % 3}
            directory /tmp/x
            baseDir /tmp/x
            sendTo sftp://nobody@127.0.0.1/
            """)
    best = None
    for _ in range(3):
        started = time.monotonic()
        r = sr(sr_cmd, sr_env, "status")
        took = time.monotonic() - started
        best = took if best is None else min(best, took)
    assert len([l for l in r.stdout.splitlines() if l.startswith(("subscribe/", "sender/"))]) == 50
    assert best < 0.1, f"best of 3: {best * 1000:.0f} ms"


def test_declare_makes_the_queue_and_exchange_and_cleanup_removes_the_queue(
        rabbitmq, broker_tool, sr_cmd, sr_env):
    """Before the first start, `sr declare` creates the config's queue bound to its
    exchange and the exchange it posts to; the instances later use that queue. `sr cleanup`
    deletes the queue and the state, but keeps `disabled`."""
    ex_in, ex_out = f"xs_tfeed_d{secrets.token_hex(2)}", f"xs_tfeed_do{secrets.token_hex(2)}"
    publish(broker_tool, rabbitmq.url("tfeed"), ex_in, "v03.declare", [])
    write_config(sr_env, "shovel", "pump", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic a.#
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    r = sr(sr_cmd, sr_env, "declare", "shovel/pump")
    qfiles = list(state_dir(sr_env, "shovel", "pump").glob("*.qname"))
    assert len(qfiles) == 1
    queue = qfiles[0].read_text().strip()
    assert f"declared exchange {ex_out}" in r.stdout
    assert f"declared queue {queue}" in r.stdout
    assert "password" not in r.stdout and rabbitmq.users["tfeed"] not in r.stdout
    queues = rabbitmq.ctl("list_queues", "name").stdout.split()
    assert queue in queues
    exchanges = rabbitmq.ctl("list_exchanges", "name").stdout.split()
    assert ex_out in exchanges
    bindings = rabbitmq.ctl("list_bindings", "source_name", "destination_name",
                            "routing_key").stdout
    assert any(l.split() == [ex_in, queue, "v03.a.#"] for l in bindings.splitlines()), bindings

    (state_dir(sr_env, "shovel", "pump") / "disabled").touch()
    r = sr(sr_cmd, sr_env, "cleanup", "shovel/pump")
    assert f"deleted queue {queue}" in r.stdout
    assert queue not in rabbitmq.ctl("list_queues", "name").stdout.split()
    left = sorted(p.name for p in state_dir(sr_env, "shovel", "pump").iterdir())
    assert left == ["disabled"]


def test_declare_names_the_config_and_broker_when_it_fails(sr_cmd, sr_env):
    write_config(sr_env, "shovel", "nowhere", """
        broker amqp://nobody:secret@127.0.0.1:9/
        post_broker amqp://nobody:secret@127.0.0.1:9/
        """)
    r = sr(sr_cmd, sr_env, "declare", "shovel/nowhere", check=False)
    assert r.returncode == 1
    assert "shovel/nowhere" in r.stderr and "127.0.0.1:9" in r.stderr
    assert "secret" not in r.stderr


def test_cleanup_refuses_a_running_config(rabbitmq, broker_tool, sr_bin, sr_cmd, sr_env):
    """cleanup of a config with a running instance removes nothing and says to stop it."""
    ex = f"xs_tfeed_r{secrets.token_hex(2)}"
    publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.declare", [])
    write_config(sr_env, "shovel", "busy", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """)
    inst = Instance(sr_bin, sr_env, "shovel", "busy")
    try:
        qfile = wait_until("queue name saved", lambda: list(
            state_dir(sr_env, "shovel", "busy").glob("*.qname")))[0]
        wait_until("pid file", lambda: list(state_dir(sr_env, "shovel", "busy").glob("*.pid")))
        r = sr(sr_cmd, sr_env, "cleanup", "shovel/busy", check=False)
        assert r.returncode == 1
        assert "running" in r.stderr and "shovel/busy" in r.stderr
        assert qfile.exists()
        assert qfile.read_text().strip() in rabbitmq.ctl("list_queues", "name").stdout.split()
    finally:
        inst.stop()


def test_cleanup_of_an_mqtt_config_ends_its_session(mosquitto, sr_cmd, sr_env):
    """On MQTT the messages wait in the instances' persistent sessions: declare creates
    instance 1's, cleanup ends it."""
    write_config(sr_env, "subscribe", "m", f"""
        broker {mosquitto.url("tsub")}
        exchange xpublic
        subtopic #
        directory /tmp
        """)
    r = sr(sr_cmd, sr_env, "declare", "subscribe/m")
    assert "declared MQTT session" in r.stdout and "_i01" in r.stdout
    r = sr(sr_cmd, sr_env, "cleanup", "subscribe/m")
    assert "ended MQTT session" in r.stdout and "_i01" in r.stdout
    assert not list(state_dir(sr_env, "subscribe", "m").glob("*.qname"))


def test_import_of_an_sr3_tree_reports_what_sr_does_not_support(sr_cmd, sr_env, tmp_path):
    """An sr3 user brings ~/.config/sr3 over: configs and credentials are copied
    (credentials private), flow configs are skipped with a reason, a poll's plugin is named,
    and each option sr does not honour is reported as file:line."""
    sr3 = tmp_path / "sr3"
    (sr3 / "subscribe").mkdir(parents=True)
    (sr3 / "poll").mkdir()
    (sr3 / "flow").mkdir()
    (sr3 / "cpump").mkdir()
    (sr3 / "default.conf").write_text("logLevel info\n")
    (sr3 / "credentials.conf").write_text("amqp://bob:pw@broker.example.com/\n")
    (sr3 / "subscribe" / "dd.conf").write_text(
        "broker amqps://anonymous@dd.weather.gc.ca/\n"
        "subtopic observations.#\n"
        "callback accept.save\n"  # a plugin sr lacks (log, accept.printlag are built in)
        "directory /tmp/dd\n"
        "frobnicate 3\n")
    (sr3 / "poll" / "p.conf").write_text("post_broker amqp://u@h/\npollUrl ftp://x/\n")
    (sr3 / "poll" / "n.conf").write_text("post_broker amqp://u@h/\ncallback poll.nexrad\n")
    (sr3 / "flow" / "f.conf").write_text("broker amqp://u@h/\n")
    (sr3 / "cpump" / "c.conf").write_text("broker amqp://u@h/\npost_broker amqp://u@h/\n")
    r = sr(sr_cmd, sr_env, "import", str(sr3), check=False)
    assert r.returncode in (0, 1), r.stderr
    out = r.stdout + r.stderr
    cfg = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    assert (cfg / "subscribe" / "dd.conf").read_text() == (sr3 / "subscribe" / "dd.conf").read_text()
    assert (cfg / "shovel" / "c.conf").exists()  # sr3's C pump is sr's shovel
    assert (cfg / "poll" / "p.conf").exists()  # a poll sr lists itself comes over
    assert not (cfg / "flow").exists()
    assert stat.S_IMODE((cfg / "credentials.conf").stat().st_mode) == 0o600
    assert f"{sr3 / 'subscribe' / 'dd.conf'}:3" in out and "accept.save" in out
    assert f"{sr3 / 'subscribe' / 'dd.conf'}:5" in out and "frobnicate" in out
    assert f"{sr3 / 'poll' / 'n.conf'}:2" in out and "poll.nexrad" in out
    assert "flow" in out
    # again: the files exist, nothing is overwritten without --force
    (cfg / "subscribe" / "dd.conf").write_text("# mine\n")
    r = sr(sr_cmd, sr_env, "import", str(sr3), check=False)
    assert r.returncode == 1
    assert (cfg / "subscribe" / "dd.conf").read_text() == "# mine\n"
    assert "--force" in r.stdout + r.stderr
    sr(sr_cmd, sr_env, "import", "--force", str(sr3), check=False)
    assert (cfg / "subscribe" / "dd.conf").read_text() == (sr3 / "subscribe" / "dd.conf").read_text()
