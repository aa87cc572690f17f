# SPDX-License-Identifier: GPL-2.0-only
"""`sr declare --users`: a pump operator lists the pump's users in admin.conf (admin,
feeder, `declare source|subscriber USER`, `declare exchange NAME`) and their passwords in
credentials.conf, and has sr create them on the broker with sr3's permissions, through
RabbitMQ's management API.

The session's RabbitMQ (conftest.py) is shared: each test makes users with names of its
own, and turns the management plugin on (servers.RabbitMQ.enable_management).
"""
import re
import secrets
import socket
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

TIMEOUT = 60


@pytest.fixture(scope="module")
def sr_exe(sr_bin):
    return sr_bin("sr")


@pytest.fixture(scope="module")
def management(rabbitmq):
    rabbitmq.enable_management()
    return rabbitmq


def config_dir(env):
    d = Path(env["XDG_CONFIG_HOME"]) / "sr"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write(path, text, mode=0o644):
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(mode)


def amqp(rabbitmq, user, password=None):
    pw = f":{quote(password, safe='')}" if password is not None else ""
    return f"amqp://{quote(user, safe='')}{pw}@127.0.0.1:{rabbitmq.port}/"


def sr(exe, env, *args):
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def users_of(rabbitmq):
    """{user: tags text} from rabbitmqctl list_users."""
    out = rabbitmq.ctl("list_users").stdout
    return {l.split("\t")[0]: l.split("\t")[1] for l in out.splitlines() if "\t" in l}


def permissions_of(rabbitmq):
    """{user: (configure, write, read)} on vhost / from rabbitmqctl list_permissions."""
    out = rabbitmq.ctl("list_permissions", "-p", "/").stdout
    perms = {}
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) == 4:
            perms[f[0]] = (f[1], f[2], f[3])
    return perms


def consume(tool, url, queue, exchange):
    """Declare queue (bound to exchange) as the URL's user; the tool's result."""
    return subprocess.run([tool, "consume", url, "--queue", queue, "--bind", f"{exchange}:#",
                           "--max", "1", "--timeout", "1"],
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_declare_users_creates_the_pumps_users_with_sr3_permissions(
        management, broker_tool, sr_exe, sr_env):
    """The operator declares a source, a subscriber, a feeder and an exchange in
    admin.conf with the passwords in credentials.conf: `sr declare --users` creates each
    user with sr3's permissions on vhost /, and the exchange; the subscriber can then log
    in and make its own q_<user> queue, and is refused any other queue name. A declared
    user with no password is reported and not created, and the exit status says so."""
    rabbitmq = management
    tag = secrets.token_hex(3)
    src, sub, feed, nopw = (f"src{tag}", f"sub{tag}", f"feed{tag}", f"nopw{tag}")
    exchange = f"x{tag}_public"
    # a password that needs percent-encoding in credentials.conf
    pw = {u: f"pw:{u}/{secrets.token_hex(4)}@" for u in (src, sub, feed)}
    admin = "bunnymaster"
    cfg = config_dir(sr_env)
    write(cfg / "admin.conf", f"""
        admin {amqp(rabbitmq, admin)}
        feeder {amqp(rabbitmq, feed)}
        managementPort {rabbitmq.management_port}
        declare source {src}
        declare subscriber {sub}
        declare subscriber {nopw}
        declare exchange {exchange}
        """)
    write(cfg / "credentials.conf",
          "".join(amqp(rabbitmq, u, p) + "\n" for u, p in
                  [(admin, rabbitmq.users[admin]), *pw.items()]), mode=0o600)

    r = sr(sr_exe, sr_env, "declare", "--users")
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr}"
    assert re.search(rf"subscriber user {nopw}: no password .*not created", r.stderr), r.stderr
    for user, role in ((admin, "admin"), (feed, "feeder"), (src, "source"),
                       (sub, "subscriber")):
        assert f"declared user {user} ({role})" in r.stdout, r.stdout
        assert f"set permissions of {user} on vhost /" in r.stdout, r.stdout
    assert f"declared exchange {exchange}" in r.stdout, r.stdout
    # secrets stay out of what sr prints
    assert not any(p in r.stdout + r.stderr for p in [*pw.values(), rabbitmq.users[admin]])

    users = users_of(rabbitmq)
    assert {src, sub, feed} <= users.keys()
    assert nopw not in users
    assert "administrator" in users[admin]
    assert "administrator" not in users[feed]
    perms = permissions_of(rabbitmq)
    assert perms[feed] == (".*", ".*", ".*")
    assert perms[admin] == (".*", ".*", ".*")
    assert perms[src] == (f"^q_{src}.*|^xs_{src}.*", f"^q_{src}.*|^xs_{src}.*",
                          f"^q_{src}.*|^x[lrs]_{src}.*|^x.*public$")
    assert perms[sub] == (f"^q_{sub}.*", f"^q_{sub}.*|^xs_{sub}$",
                          f"^q_{sub}.*|^x[lrs]_{sub}.*|^x.*public$")
    exchanges = rabbitmq.ctl("list_exchanges", "name", "type", "durable").stdout
    assert re.search(rf"^{exchange}\ttopic\ttrue$", exchanges, re.M), exchanges

    # The subscriber logs in with its password and makes its own queue on the exchange...
    ok = consume(broker_tool, amqp(rabbitmq, sub, pw[sub]), f"q_{sub}.subscribe.t", exchange)
    assert ok.returncode == 0, ok.stderr
    assert f"q_{sub}.subscribe.t" in rabbitmq.ctl("list_queues", "name").stdout
    # ...and no queue under another name.
    refused = consume(broker_tool, amqp(rabbitmq, sub, pw[sub]), f"q_{src}.stolen", exchange)
    assert refused.returncode != 0
    assert re.search(r"ACCESS_REFUSED|access refused|403", refused.stderr, re.I), \
        refused.stderr

    # A second run changes nothing and fails again only for the user without a password.
    again = sr(sr_exe, sr_env, "declare", "--users")
    assert again.returncode == 1
    assert again.stderr.count("not created") == 1, again.stderr
    assert permissions_of(rabbitmq)[sub] == perms[sub]


def test_declare_users_on_a_cluster_goes_on_to_a_node_that_answers(
        management, sr_exe, sr_env):
    """The admin URL names the nodes of a cluster and the first does not answer (nothing
    listens on 127.0.0.2): the users and the exchange are declared through the next."""
    rabbitmq = management
    tag = secrets.token_hex(3)
    sub, exchange = f"csub{tag}", f"x{tag}_public"
    admin = "bunnymaster"
    nodes = f"127.0.0.2:{rabbitmq.port},127.0.0.1:{rabbitmq.port}"
    cfg = config_dir(sr_env)
    write(cfg / "admin.conf", f"""
        admin amqp://{admin}@{nodes}/
        managementPort {rabbitmq.management_port}
        declare subscriber {sub}
        declare exchange {exchange}
        """)
    write(cfg / "credentials.conf",
          f"amqp://{admin}:{quote(rabbitmq.users[admin], safe='')}@{nodes}/\n"
          f"amqp://{sub}:pw{tag}@{nodes}/\n", mode=0o600)
    r = sr(sr_exe, sr_env, "declare", "--users")
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert f"declared user {sub} (subscriber)" in r.stdout, r.stdout
    assert sub in users_of(rabbitmq)
    assert exchange in rabbitmq.ctl("list_exchanges", "name").stdout


def test_declare_users_without_an_admin_url_says_what_to_set(sr_exe, sr_env):
    """Without `admin` in admin.conf there is no broker to create users on: the error says
    which setting is missing and where, and the exit status is 1."""
    config_dir(sr_env)
    r = sr(sr_exe, sr_env, "declare", "--users")
    assert r.returncode == 1
    assert "no admin broker" in r.stderr and "admin.conf" in r.stderr, r.stderr


def test_declare_users_names_the_endpoint_when_the_management_api_is_not_there(
        sr_exe, sr_env):
    """An admin broker whose management API does not answer (plugin off, wrong port):
    the error names the user being created and the URL tried, once, and exit is 1."""
    cfg = config_dir(sr_env)
    port = _closed_port()
    write(cfg / "admin.conf", f"""
        admin amqp://boss@127.0.0.1/
        managementPort {port}
        declare subscriber someone
        """)
    write(cfg / "credentials.conf", "amqp://boss:x@127.0.0.1/\namqp://someone:y@127.0.0.1/\n",
          mode=0o600)
    r = sr(sr_exe, sr_env, "declare", "--users")
    assert r.returncode == 1
    assert f"user boss: PUT http://127.0.0.1:{port}/api/users/boss" in r.stderr, r.stderr
    assert "someone" not in r.stderr  # stopped after the first: the rest would fail alike


def _closed_port():
    """A port nothing listens on (free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
