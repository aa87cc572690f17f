# SPDX-License-Identifier: GPL-2.0-only
"""The test harness gives real, private brokers: what a user checks with the stock clients.

amqp-tools and mosquitto-clients talk to the session's RabbitMQ and Mosquitto with the
users servers.py creates; the last tests start and stop extra instances and check that
nothing of them is left.
"""
import subprocess
import time
from pathlib import Path

import pytest

from servers import Mosquitto, RabbitMQ, port_open

TIMEOUT = 60  # for what takes a moment; a loaded machine may take many times longer


def run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def amqp_url(broker, user, password=None):
    """The broker URL as amqp-tools need it.

    librabbitmq reads the path of amqp://host/ as vhost "" (the AMQP URI spec), where sr
    configs mean "/"; without a path it uses "/".
    """
    url = broker.url(user).rstrip("/")
    if password is not None:
        url = url.replace(f":{broker.users[user]}@", f":{password}@")
    return url


def mqtt_args(broker, user=None, password=None):
    args = ["-h", broker.host, "-p", str(broker.port)]
    if user is not None:
        args += ["-u", user, "-P", password if password is not None else broker.users[user]]
    return args


def alive(pid):
    """True if pid is a running process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_binding(rabbitmq, queue, key):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        out = rabbitmq.ctl("list_bindings", "source_name", "destination_name",
                           "routing_key").stdout
        if f"amq.topic\t{queue}\t{key}" in out.splitlines():
            return
        time.sleep(0.2)
    raise AssertionError(f"queue {queue} never bound to amq.topic with {key}:\n{out}")


def test_amqp_subscriber_gets_what_the_feeder_posts(rabbitmq):
    """A subscriber binds its queue to a topic exchange; the feeder posts two messages;
    the subscriber gets the one matching its binding, body intact."""
    queue, key = "q_tsub.sr_test.topic", "v02.post.observations.#"
    consumer = subprocess.Popen(
        ["amqp-consume", "-u", amqp_url(rabbitmq, "tsub"), "-q", queue, "-e", "amq.topic",
         "-r", key, "-c", "1", "cat"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_binding(rabbitmq, queue, key)
        for routing_key, body in (("v02.post.forecasts.x", "not for tsub"),
                                  ("v02.post.observations.swob", "20240101 obs/a.xml")):
            pub = run("amqp-publish", "-u", amqp_url(rabbitmq, "tfeed"), "-e", "amq.topic",
                      "-r", routing_key, "-b", body)
            assert pub.returncode == 0, pub.stderr
        out, err = consumer.communicate(timeout=TIMEOUT)
    finally:
        consumer.kill()
        consumer.wait()
    assert consumer.returncode == 0, err
    assert out == "20240101 obs/a.xml"


def test_amqp_queue_keeps_messages_until_read(rabbitmq):
    """A durable queue holds a posted message while nobody reads; amqp-get then fetches it
    once, and the queue is empty afterwards."""
    queue = "q_tsub.sr_test.durable"
    declare = run("amqp-declare-queue", "-d", "-u", amqp_url(rabbitmq, "tsub"), "-q", queue)
    assert declare.returncode == 0, declare.stderr
    pub = run("amqp-publish", "-u", amqp_url(rabbitmq, "tfeed"), "-r", queue, "-p",
              "-b", "kept for later")
    assert pub.returncode == 0, pub.stderr
    got = run("amqp-get", "-u", amqp_url(rabbitmq, "tsub"), "-q", queue)
    assert (got.returncode, got.stdout) == (0, "kept for later"), got.stderr
    again = run("amqp-get", "-u", amqp_url(rabbitmq, "tsub"), "-q", queue)
    assert again.returncode != 0 and again.stdout == ""


def test_amqp_refuses_wrong_password_and_guest(rabbitmq):
    """A wrong password, an unknown user and RabbitMQ's default guest are all refused."""
    for url in (amqp_url(rabbitmq, "tfeed", password="wrong"),
                f"amqp://nobody:x@{rabbitmq.host}:{rabbitmq.port}",
                f"amqp://guest:guest@{rabbitmq.host}:{rabbitmq.port}"):
        result = run("amqp-publish", "-u", url, "-r", "x", "-b", "should not go")
        assert result.returncode != 0, url
        assert "ACCESS_REFUSED" in result.stderr


def test_mqtt_subscriber_gets_what_the_feeder_publishes(mosquitto):
    """tsub subscribes to v02/post/#; tfeed publishes at QoS 1; tsub gets topic and payload."""
    sub = subprocess.Popen(
        ["mosquitto_sub", *mqtt_args(mosquitto, "tsub"), "-t", "v02/post/#", "-q", "1",
         "-C", "1", "-v", "-W", str(TIMEOUT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # mosquitto_sub gives no sign it has subscribed: publish until it has got one.
        deadline = time.monotonic() + TIMEOUT
        while sub.poll() is None and time.monotonic() < deadline:
            pub = run("mosquitto_pub", *mqtt_args(mosquitto, "tfeed"), "-q", "1",
                      "-t", "v02/post/obs/a.xml", "-m", "hello from tfeed")
            assert pub.returncode == 0, pub.stderr
            time.sleep(0.2)
        out, err = sub.communicate(timeout=TIMEOUT)
    finally:
        sub.kill()
        sub.wait()
    assert sub.returncode == 0, err
    assert out == "v02/post/obs/a.xml hello from tfeed\n"


def test_mqtt_refuses_anonymous_and_wrong_password(mosquitto):
    """No user, or a known user with a wrong password: the broker refuses the connection."""
    for args in (mqtt_args(mosquitto), mqtt_args(mosquitto, "tfeed", password="wrong")):
        result = run("mosquitto_pub", *args, "-t", "v02/post/x", "-m", "should not go")
        assert result.returncode != 0, args
        assert "not authorised" in result.stderr.lower()


@pytest.mark.parametrize("cls", [RabbitMQ, Mosquitto], ids=["rabbitmq", "mosquitto"])
def test_second_instance_runs_beside_and_leaves_nothing(cls, request, tmp_path):
    """Two test runs at once: a second private broker starts beside the session's on other
    ports; once stopped, none of its processes is alive and none of its ports answers,
    and the session's broker still serves."""
    session_broker = request.getfixturevalue(cls.name)
    server = cls(tmp_path).start()
    try:
        ports = [server.port]
        if cls is RabbitMQ:
            ports += [server.dist_port, server.epmd_port]
            assert server.node != session_broker.node
        assert server.port != session_broker.port
        pids = server.pids()
        assert server.proc.pid in pids
        assert all(port_open(p) for p in ports), ports
    finally:
        server.stop()
    assert server.pids() == []
    assert [p for p in pids if alive(p)] == []
    assert [p for p in ports if port_open(p)] == []
    assert port_open(session_broker.port)
