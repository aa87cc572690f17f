# SPDX-License-Identifier: GPL-2.0-only
"""Fixtures for the integration tests: private brokers, the built binaries, a private HOME.

rabbitmq / mosquitto (and rabbitmq_cluster, three nodes: cluster.py) start once per
session, only if a test asks for them, and are stopped at the end of the session
whatever happened (see servers.py). sr_bin finds the
executables of the build under test ($SR_BUILD, set by `make integration`, else
<repo>/build). sr_env is the environment for an sr process with its own config and
cache trees under the test's tmp_path.
"""
import os
from pathlib import Path

import pytest

from helpers import sr_home_env, tool_path
from cluster import RabbitMQCluster
from servers import Mosquitto, RabbitMQ
from tlsca import make_ca

# Fixtures for more servers, one module each (nginx and ftpd: fixtures_web.py; sshd:
# fixtures_ssh.py).
pytest_plugins = ["fixtures_web", "fixtures_ssh", "sr3peer"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A throw-away CA and a server certificate for localhost (tlsca.TestCA)."""
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory, test_ca):
    """A private RabbitMQ on 127.0.0.1 (servers.RabbitMQ), shared by the session; amqps on
    its tls_port with test_ca's certificate."""
    server = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"), ca=test_ca)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rabbitmq_cluster(tmp_path_factory):
    """A private three-node RabbitMQ cluster on 127.0.0.1 (cluster.RabbitMQCluster), shared
    by the session: one epmd and cookie, the users of servers.py on every node. A test
    that kills or restarts nodes leaves all three running and clustered when it ends."""
    cluster = RabbitMQCluster(tmp_path_factory.mktemp("rabbitmq_cluster"), size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory, test_ca):
    """A private Mosquitto on 127.0.0.1 (servers.Mosquitto), shared by the session; mqtts on
    its tls_port with test_ca's certificate."""
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"), ca=test_ca)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def build_dir():
    return Path(os.environ.get("SR_BUILD") or REPO / "build")


@pytest.fixture(scope="session")
def sr_bin(build_dir):
    """sr_bin("sr_subscribe") -> path of that executable in the build under test."""
    def find(name):
        path = build_dir / "bin" / name
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{path}: not built (run `make` first)")
        return str(path)
    return find


@pytest.fixture(scope="session")
def broker_tool(build_dir):
    """Path of test/tools/sr_broker_tool: publishes, consumes and counts for the tests."""
    return tool_path(build_dir, "sr_broker_tool")


@pytest.fixture
def sr_env(tmp_path):
    """Environment for sr processes: HOME, ~/.config/sr and ~/.cache/sr under tmp_path."""
    return sr_home_env(tmp_path / "home")
