# SPDX-License-Identifier: GPL-2.0-only
"""Quorum queues (sr-config(5), Quorum queues): `queueType quorum`, `deliveryLimit` and
dead-lettering (`deadLetterExchange`) against the session's real RabbitMQ 3.10.

The stories: a message that kills its consumer each time it is delivered is parked in
the dead-letter exchange's queue after deliveryLimit redeliveries, and every other
message is delivered once; what RabbitMQ refuses to declare for a quorum queue (checked
here on the broker itself) sr refuses at its config line, `queueType stream` with its
reason; a queue that exists with other arguments gets an error naming the argument and
`sr cleanup`, which clears the way.
"""
import json
import subprocess
from pathlib import Path

import amqp
import pytest

from helpers import Component, run_sr, snapshot_tree, wait_until, write_config
from test_plugins import (PLUGIN_SRC, declare, file_message, publish, queue_empty, state_lines,
                          tag, write_files)

PYTHON = "/usr/bin/python3"
TIMEOUT = 120


def queue_info(rabbitmq, queue):
    """{messages, type, arguments} of queue as rabbitmqctl lists it, or None."""
    r = rabbitmq.ctl("list_queues", "name", "messages", "type", "arguments", check=False)
    for line in r.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == queue:
            return {"messages": int(fields[1]), "type": fields[2], "arguments": fields[3]}
    return None


def broker_declare(rabbitmq, queue, durable=True, auto_delete=False, exclusive=False,
                   arguments=None):
    """queue.declare by another AMQP client (py-amqp, as sr3 uses): None when RabbitMQ
    declared it, else its refusal's text."""
    conn = amqp.Connection(f"{rabbitmq.host}:{rabbitmq.port}", userid="tsub",
                           password=rabbitmq.users["tsub"])
    conn.connect()
    try:
        conn.channel().queue_declare(queue, durable=durable, auto_delete=auto_delete,
                                     exclusive=exclusive, arguments=arguments or {})
        return None
    except amqp.exceptions.AMQPError as err:
        return str(err)
    finally:
        try:
            conn.close()
        except (OSError, amqp.exceptions.AMQPError):
            pass


def check(sr_bin, env, name):
    """`sr_subscribe check NAME`: (exit status, what it printed)."""
    r = subprocess.run([sr_bin("sr_subscribe"), "check", name], env=env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    return r.returncode, r.stdout + r.stderr


def quorum_config(rabbitmq, env, name, ex, extra=""):
    return write_config(env, "subscribe", name, f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        queueType quorum
        """ + extra)


def test_sr_refuses_what_rabbitmq_refuses_for_a_quorum_queue(rabbitmq, sr_bin, sr_env):
    """What RabbitMQ 3.10 refuses to declare as a quorum queue (non-durable, auto-delete)
    sr refuses at the config line that asks for it; what it declares (x-expires,
    x-message-ttl, x-delivery-limit, at-least-once dead-lettering) sr lets through; a
    classic queue with a delivery limit is refused by both."""
    t = tag()
    quorum = {"x-queue-type": "quorum"}
    # the config line, and how sr's error quotes it
    refused = {
        "durable no": broker_declare(rabbitmq, f"q_tsub.qq{t}.nd", durable=False,
                                     arguments=quorum),
        "auto_delete on": broker_declare(rabbitmq, f"q_tsub.qq{t}.ad", auto_delete=True,
                                         arguments=quorum),
    }
    for option, why in refused.items():
        assert why is not None and "PRECONDITION_FAILED" in why, (option, why)
    # an exclusive queue is not something sr declares; the broker refuses it too
    assert "PRECONDITION_FAILED" in (broker_declare(rabbitmq, f"q_tsub.qq{t}.ex",
                                                    exclusive=True, arguments=quorum) or "")
    accepted = {"x-expires": 86400000, "x-message-ttl": 3600000, "x-delivery-limit": 3,
                "x-dead-letter-exchange": "xs_tsub_dead",
                "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    assert broker_declare(rabbitmq, f"q_tsub.qq{t}.ok", arguments={**quorum, **accepted}) is None
    classic_limit = broker_declare(rabbitmq, f"q_tsub.qq{t}.cl",
                                   arguments={"x-delivery-limit": 3})
    assert "invalid arg 'x-delivery-limit'" in (classic_limit or ""), classic_limit

    ex = f"xs_tsub_qq{t}"
    for option in refused:
        name = "q_" + option.split()[0]
        path = quorum_config(rabbitmq, sr_env, name, ex, f"{option}\n")
        rc, out = check(sr_bin, sr_env, name)
        assert rc != 0, out
        shown = {"durable no": "durable off"}.get(option, option)
        assert f"{path}:5: {shown}: refused with queueType quorum " \
               f"({path}:4)" in out, out
    path = quorum_config(rabbitmq, sr_env, "q_ok", ex, """
        expire 1d
        messageAgeMax 1h
        deliveryLimit 3
        deadLetterExchange xs_tsub_dead
        """)
    rc, out = check(sr_bin, sr_env, "q_ok")
    assert rc == 0 and "configuration OK" in out, out
    write_config(sr_env, "subscribe", "c_limit", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        deliveryLimit 3
        """)
    rc, out = check(sr_bin, sr_env, "c_limit")
    assert rc != 0 and ":3: deliveryLimit: refused: only a quorum queue counts" in out, out


@pytest.mark.parametrize("verb", ["check", "foreground"])
def test_stream_queue_refused_with_its_reason(rabbitmq, sr_bin, sr_env, tmp_path, verb):
    """`queueType stream` stops check and foreground at its line, saying why (a stream
    keeps what is acked; sr acks to remove), and nothing is declared on the broker."""
    t = tag()
    path = write_config(sr_env, "subscribe", "streamed", f"""
        broker {rabbitmq.url("tsub")}
        exchange xs_tsub_st{t}
        queueName q_tsub.stream{t}
        subtopic #
        queueType stream
        """)
    r = subprocess.run([sr_bin("sr_subscribe"), verb, "streamed"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"{path}:5: queueType stream: refused: a stream keeps every message after it is " \
           "acknowledged" in out, out
    assert "connected to" not in out, out
    assert queue_info(rabbitmq, f"q_tsub.stream{t}") is None


def test_poison_message_parked_after_delivery_limit(rabbitmq, broker_tool, sr_bin, sr_env,
                                                    tmp_path):
    """A subscribe on a quorum queue with deliveryLimit 2 and a dead-letter exchange; one
    of 11 announced files is a poison message that kills the instance (SIGKILL from its
    exec plugin) each time it gets it. The instance is started again after each death
    (what sr_sanity does): it dies exactly 3 times (the first delivery and 2 more), then
    RabbitMQ dead-letters the message and the instance delivers the 10 other files, each
    once. The poison message waits in the operator's queue bound to the dead-letter
    exchange, exactly once, with RabbitMQ's x-death saying why; the quorum queue is
    empty."""
    t = tag()
    ex, dlx = f"xs_tfeed_qp{t}", f"xs_tsub_dead{t}"
    queue, parked = f"q_tsub.poison{t}", f"q_tsub.parked{t}"
    src, dest = tmp_path / "src", tmp_path / "dest"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    # the operator's parking queue, bound before anything is dead-lettered
    declare(broker_tool, rabbitmq.url("tsub"), dlx)
    subprocess.run([broker_tool, "consume", rabbitmq.url("tsub"), "--queue", parked, "--bind",
                    f"{dlx}:#", "--max", "1", "--timeout", "0.2"], check=True,
                   capture_output=True, timeout=TIMEOUT)
    # prefetch 1: the instance holds only the message it works on when it dies, so only
    # that one counts a delivery (sr-config(5): each holds up to prefetch)
    write_config(sr_env, "subscribe", "poisoned", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        queueName {queue}
        queueType quorum
        deliveryLimit 2
        deadLetterExchange {dlx}
        prefetch 1
        batch 1
        directory {dest}
        mirror on
        allowFileUrl on
        inflight .tmp
        flowcb exec:{PYTHON} {PLUGIN_SRC / "exec_poison.py"}
        """)
    names = [f"f/file_{i:02d}.txt" for i in range(5)] + ["f/poison.txt"] + \
            [f"f/file_{i:02d}.txt" for i in range(5, 10)]
    files = write_files(src, names)
    good = {n: data for n, data in files.items() if "poison" not in n}

    runs = []

    def start():
        sub = Component(sr_bin, sr_env, "subscribe", "poisoned",
                        tmp_path / f"poisoned_{len(runs)}.log")
        runs.append(sub)
        return sub

    sub = start().wait_ready()
    info = queue_info(rabbitmq, queue)
    assert info and info["type"] == "quorum", info
    for arg in ('{"x-delivery-limit",2}', f'{{"x-dead-letter-exchange","{dlx}"}}',
                '{"x-dead-letter-strategy","at-least-once"}'):
        assert arg in info["arguments"], info
    publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.f",
            [file_message(src, n) for n in names])

    def killed():
        return [l for l in state_lines(sr_env, "poison.log") if l.startswith("killed ")]

    # every death is followed by a new start, until one instance outlives the poison
    # (without the limit, it would loop for ever: stop after 10)
    read = lambda p: p.read_bytes()  # noqa: E731
    while len(runs) <= 10:
        assert wait_until(lambda: sub.proc.poll() is not None or
                          snapshot_tree(dest, read=read) == good, TIMEOUT), \
            (sorted(snapshot_tree(dest)), killed(), sub.text())
        if sub.proc.poll() is None:
            break
        sub.out.close()
        assert sub.proc.returncode == -9, (sub.proc.returncode, sub.text())
        sub = start().wait_ready()
    assert sub.proc.poll() is None, f"still killed after {len(runs)} starts: {killed()}"
    assert wait_until(lambda: snapshot_tree(dest, read=read) == good, TIMEOUT), \
        (sorted(snapshot_tree(dest)), sub.text())
    assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), sub.text()
    assert sub.stop() == 0, sub.text()

    # deliveryLimit 2: delivered 3 times, 3 deaths, 4 starts
    assert [l.split()[2] for l in killed()] == ["f/poison.txt"] * 3, killed()
    assert len(runs) == 4, [r.text() for r in runs]
    kept = [l.split(" ", 1)[1] for l in state_lines(sr_env, "poison.log")
            if l.startswith("keep ")]
    assert sorted(kept) == sorted(good), kept  # each other file once
    assert "poison" not in json.dumps(sorted(snapshot_tree(dest)))

    r = subprocess.run([broker_tool, "consume", rabbitmq.url("tsub"), "--queue", parked,
                        "--max", "2", "--timeout", "3"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    got = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{\"topic")]
    assert len(got) == 1, r.stdout + r.stderr
    assert json.loads(got[0]["body"])["relPath"] == "f/poison.txt", got
    death = json.dumps(got[0].get("headers"))
    assert "delivery_limit" in death and queue in death, got[0]


def test_queue_with_other_arguments_named_and_cleaned_up(rabbitmq, broker_tool, build_dir, sr_bin,
                                                         sr_env, tmp_path):
    """The queue of a config exists as a classic queue, and the config now says queueType
    quorum: the instance's log names the queue and the argument that differs and points
    to `sr cleanup`; after `sr cleanup` the next start declares the quorum queue."""
    t = tag()
    queue = f"q_tsub.moved{t}"
    assert broker_declare(rabbitmq, queue, arguments={"x-expires": 86400000}) is None
    write_config(sr_env, "subscribe", "moved", f"""
        broker {rabbitmq.url("tsub")}
        exchange xs_tsub_mv{t}
        queueName {queue}
        subtopic #
        queueType quorum
        """)
    declare(broker_tool, rabbitmq.url("tfeed"), f"xs_tsub_mv{t}")
    sub = Component(sr_bin, sr_env, "subscribe", "moved", tmp_path / "moved.log")
    assert wait_until(lambda: "inequivalent arg" in sub.text(), TIMEOUT), sub.text()
    line = next(l for l in sub.text().splitlines() if "inequivalent arg" in l)
    assert f"declaring queue {queue}" in line, line
    assert "another x-queue-type than the config declares: `sr cleanup` deletes it (and what " \
           "waits in it) for the next start to declare it anew, or queueName names another" \
           in line, line
    assert sub.stop() == 0, sub.text()
    assert queue_info(rabbitmq, queue)["type"] == "classic"

    run_sr(build_dir, sr_env, "cleanup", "subscribe/moved")
    assert queue_info(rabbitmq, queue) is None
    sub = Component(sr_bin, sr_env, "subscribe", "moved", tmp_path / "moved2.log")
    sub.wait_ready()
    assert sub.stop() == 0, sub.text()
    assert queue_info(rabbitmq, queue)["type"] == "quorum"
    assert "inequivalent" not in Path(tmp_path / "moved2.log").read_text()
