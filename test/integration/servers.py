# SPDX-License-Identifier: GPL-2.0-only
"""Private brokers for the integration tests: RabbitMQ and Mosquitto on 127.0.0.1.

Each instance gets ports picked at run time, its own data, log and config files under a
directory the caller gives (a pytest tmp dir), and its own users with random passwords.
Nothing is shared with a system-wide broker: RabbitMQ has its own node name, Erlang
cookie (HOME), epmd port and distribution port; Mosquitto its own config and password
file. A broker that does not come up raises ServerError with the tail of its logs; the
tests never skip for want of a broker.

Every process an instance starts (and their children, e.g. RabbitMQ's epmd, which
daemonizes out of the process group) carries a unique SR_TEST_SERVER=<tag> in its
environment; stop() kills whatever still carries it, so nothing is left behind.

Users, all with full permissions on vhost /, as in sr3's flow tests:
  bunnymaster  administrator
  tfeed        feeder
  tsource      source
  tsub         subscriber
  anonymous    what a public pump gives its readers (still with a password here)
RabbitMQ's default `guest` user is never created: the node's first boot creates
bunnymaster instead (default_user in rabbitmq.conf).

RabbitMQ's management HTTP API (the rabbitmq_management plugin, which `sr declare
--users` talks to) is off at boot, since it makes every start and stop of the node
seconds slower; enable_management() turns it on, plain http on 127.0.0.1:management_port.
"""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

HOST = "127.0.0.1"
USERS = ("bunnymaster", "tfeed", "tsource", "tsub", "anonymous")
ADMIN = "bunnymaster"
LOG_TAIL_LINES = 50
# Text in a log that means one of our ports was taken between picking it and binding it.
PORT_CLASH = re.compile(r"eaddrinuse|address already in use", re.IGNORECASE)


class ServerError(RuntimeError):
    """A private server failed to start or to answer; the message holds its log tail."""


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port, host=HOST):
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path, lines=LOG_TAIL_LINES):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"({path}: no log)"
    return "\n".join(text.splitlines()[-lines:])


def tagged_pids(tag):
    """Live pids whose environment holds SR_TEST_SERVER=tag (zombies have no environ)."""
    needle = f"SR_TEST_SERVER={tag}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read() + b"\0":
                    found.append(int(entry))
        except OSError:
            continue
    return found


def kill_tagged(tag, grace=5.0):
    """TERM, then KILL after grace seconds, every process carrying the tag."""
    pids = tagged_pids(tag)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = tagged_pids(tag)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while tagged_pids(tag) and time.monotonic() < deadline:
        time.sleep(0.1)


class _Server:
    """What both brokers share: users, a tagged process tree, start with one retry."""

    scheme = None
    name = None

    def __init__(self, basedir, ca=None):
        self.basedir = Path(basedir)
        self.host = HOST
        self.port = None
        # tlsca.TestCA: when given, the server also listens with TLS on tls_port, with a
        # certificate for localhost/127.0.0.1 signed by ca.ca (see tls_url).
        self.ca = ca
        self.tls_port = None
        self.proc = None
        self.tag = f"{self.name}-{os.getpid()}-{secrets.token_hex(4)}"
        self.users = {u: f"{u}-{secrets.token_hex(6)}" for u in USERS}
        self.started = False

    def url(self, user):
        """Broker URL with this user's credentials, as an sr config would write it."""
        return (f"{self.scheme}://{quote(user, safe='')}:{quote(self.users[user], safe='')}"
                f"@{self.host}:{self.port}{self._url_suffix}")

    _url_suffix = ""

    def tls_url(self, user, host="localhost"):
        """The TLS URL (amqps/mqtts) for user; host "localhost" matches the certificate."""
        return (f"{self.scheme}s://{quote(user, safe='')}:{quote(self.users[user], safe='')}"
                f"@{host}:{self.tls_port}{self._url_suffix}")

    def pids(self):
        """Every live process this instance started (server, helpers, epmd)."""
        return tagged_pids(self.tag)

    def _env(self):
        env = dict(os.environ)
        env["SR_TEST_SERVER"] = self.tag
        return env

    def logs(self):
        """The tail of every log this instance writes, for failure messages."""
        return "\n".join(f"--- {p} ---\n{tail(p)}" for p in self._log_files())

    def start(self):
        """Start the server and wait until it serves; one retry with fresh ports on a clash."""
        for attempt in (1, 2):
            try:
                self._start_once(attempt)
                self.started = True
                return self
            except ServerError as err:
                logs = self.logs()
                self.stop()
                if attempt == 1 and PORT_CLASH.search(logs):
                    continue
                raise ServerError(f"{err}\n{logs}") from None
        return self

    def stop(self):
        """Stop the server and every process it started; safe to call twice."""
        try:
            self._stop_gracefully()
        finally:
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                    self.proc.wait(timeout=5)
            kill_tagged(self.tag)
            self.started = False

    def _spawn(self, argv, log):
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=self._env(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=self.dir)

    def _wait(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name}: {what}: server exited with "
                                  f"{self.proc.returncode}")
            if ready():
                return
            time.sleep(0.2)
        raise ServerError(f"{self.name}: {what}: not ready after {timeout}s")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class RabbitMQ(_Server):
    """A private RabbitMQ node; its users are in .users, its URLs from .url(user)."""

    scheme = "amqp"
    name = "rabbitmq"
    _url_suffix = "/"
    START_TIMEOUT = 180  # an Erlang VM start; a loaded machine may take many times longer
    BIN = Path("/usr/lib/rabbitmq/bin")

    def __init__(self, basedir, ca=None):
        super().__init__(basedir, ca)
        self.node = f"sr_test_{os.getpid()}_{secrets.token_hex(3)}@localhost"
        self.management_port = None

    def _tool(self, name):
        # Debian's /usr/sbin wrappers `su rabbitmq` when run as root, dropping our
        # environment (HOME, ports): call the real scripts.
        path = self.BIN / name
        return str(path) if path.exists() else (shutil.which(name) or name)

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "log" / f"{self.node}.log"]

    def _env(self):
        env = super()._env()
        d = self.dir
        env.update({
            "HOME": str(d),  # the Erlang cookie lives here, shared by rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
            # rabbitmqctl's own distribution port: any free one (default is a fixed range).
            "RABBITMQ_CTL_DIST_PORT_MIN": "0",
            "RABBITMQ_CTL_DIST_PORT_MAX": "0",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
        })
        for var in ("RABBITMQ_PID_FILE", "RABBITMQ_USE_LONGNAME", "RABBITMQ_PLUGINS_DIR",
                    "RABBITMQ_PLUGINS_EXPAND_DIR", "RABBITMQ_FEATURE_FLAGS_FILE",
                    "RABBITMQ_ENABLED_PLUGINS", "RABBITMQ_SERVER_START_ARGS"):
            env.pop(var, None)
        return env

    def ctl(self, *args, timeout=60, check=True):
        """Run rabbitmqctl against this node; returns the CompletedProcess."""
        result = subprocess.run([self._tool("rabbitmqctl"), "-q", "-n", self.node, *args],
                                env=self._env(), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise ServerError(f"rabbitmqctl {' '.join(args)}: exit {result.returncode}\n"
                              f"{result.stdout}{result.stderr}")
        return result

    # Hooks for nodes of a cluster (cluster.py), which share one epmd and one cookie,
    # find their peers through extra rabbitmq.conf lines, and get their users from the
    # cluster rather than adding them.
    def _pick_epmd_port(self):
        return free_port()

    def _cookie(self):
        return secrets.token_hex(16)

    def _extra_conf(self):
        return ""

    def _start_once(self, attempt):
        self.port, self.dist_port = free_port(), free_port()
        self.epmd_port = self._pick_epmd_port()
        self.management_port = free_port()
        if self.ca is not None:
            self.tls_port = free_port()
        self.dir = self.basedir / f"rabbitmq-{attempt}"
        d = self.dir
        (d / "mnesia").mkdir(parents=True, exist_ok=True)
        (d / "log").mkdir(exist_ok=True)
        cookie = d / ".erlang.cookie"
        cookie.write_text(self._cookie())
        cookie.chmod(0o400)
        (d / "enabled_plugins").write_text("[].\n")
        # Where the management API listens once enable_management() turns it on: in
        # advanced.config, as application settings, which hold whether the plugin is on
        # at boot or not.
        (d / "advanced.config").write_text(
            "[{rabbitmq_management, [{tcp_config, "
            f"[{{ip, \"{HOST}\"}}, {{port, {self.management_port}}}]}}]}},\n"
            # no statistics: nothing here reads them
            " {rabbitmq_management_agent, [{disable_metrics_collector, true}]}].\n")
        (d / "rabbitmq-env.conf").write_text("")
        admin_pw = self.users[ADMIN]
        (d / "rabbitmq.conf").write_text(
            "# written by test/integration/servers.py\n"
            # No guest: the first boot creates the admin instead.
            f"default_user = {ADMIN}\n"
            f"default_pass = {admin_pw}\n"
            "default_user_tags.administrator = true\n"
            "default_permissions.configure = .*\n"
            "default_permissions.read = .*\n"
            "default_permissions.write = .*\n"
            # A small tmp filesystem must not block publishers with a disk alarm.
            "disk_free_limit.absolute = 1MB\n"
            "log.console = false\n"
            "log.file.level = info\n"
            + self._tls_config() + self._extra_conf())
        self._boot()
        self._add_users()

    def enable_management(self, timeout=60):
        """Turn on the management HTTP API (rabbitmq_management) and wait until it
        listens on 127.0.0.1:management_port; at once when it is on already. It stays on
        across restart()."""
        if port_open(self.management_port):
            return
        result = subprocess.run([self._tool("rabbitmq-plugins"), "-q", "-n", self.node,
                                 "enable", "--online", "rabbitmq_management"],
                                env=self._env(), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ServerError(f"rabbitmq-plugins enable rabbitmq_management: exit "
                              f"{result.returncode}\n{result.stdout}{result.stderr}\n"
                              f"{self.logs()}")
        self._wait(lambda: port_open(self.management_port), timeout,
                   f"management API on port {self.management_port}")

    def _tls_config(self):
        """The amqps listener on tls_port with the test CA's server certificate."""
        if self.ca is None:
            return ""
        return (f"listeners.ssl.1 = {HOST}:{self.tls_port}\n"
                f"ssl_options.cacertfile = {self.ca.ca}\n"
                f"ssl_options.certfile = {self.ca.server_cert}\n"
                f"ssl_options.keyfile = {self.ca.server_key}\n"
                "ssl_options.verify = verify_none\n"
                "ssl_options.fail_if_no_peer_cert = false\n")

    def _boot(self):
        self._spawn([self._tool("rabbitmq-server")], self.dir / "server.log")

        def node_up():
            if not port_open(self.port):
                return False
            if self.tls_port is not None and not port_open(self.tls_port):
                return False
            return self.ctl("await_startup", "--timeout", "30", check=False).returncode == 0

        self._wait(node_up, self.START_TIMEOUT, f"node {self.node} on port {self.port}")

    def restart(self):
        """Stop the node and start it again on the same ports with the same data: durable
        queues and their persistent messages survive, clients see their connections
        dropped and refused until the node is back."""
        self._stop_gracefully()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        try:
            self._boot()
        except ServerError as err:
            raise ServerError(f"{err}\n{self.logs()}") from None

    def _add_users(self):
        # One import instead of three rabbitmqctl calls per user: each call is an Erlang
        # VM start (~0.7 s).
        defs = {"users": [], "permissions": []}
        for user, password in self.users.items():
            if user != ADMIN:
                defs["users"].append({
                    "name": user, "password_hash": _rabbit_hash(password),
                    "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""})
            defs["permissions"].append({"user": user, "vhost": "/", "configure": ".*",
                                        "write": ".*", "read": ".*"})
        path = self.dir / "users.json"
        path.write_text(json.dumps(defs))
        self.ctl("import_definitions", str(path))

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.ctl("stop", timeout=30, check=False)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass


def _rabbit_hash(password):
    """RabbitMQ's password_hash: base64(salt + sha256(salt + password)), 4-byte salt."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


class Mosquitto(_Server):
    """A private Mosquitto broker; anonymous clients are refused.

    With a ca (tlsca.TestCA), a second listener on tls_port speaks MQTT over TLS with the
    CA's certificate for localhost. Persistence is on (data/ under the instance's dir), so
    restart() keeps the sessions and their queued QoS 1 messages, as a real broker does.
    """

    scheme = "mqtt"
    name = "mosquitto"
    START_TIMEOUT = 60  # a loaded machine may take many times longer than usual
    # Queued QoS 1 messages kept per offline session (mosquitto's default is 1000): the
    # tests queue a few thousand for sessions that are away.
    MAX_QUEUED = 100000

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "mosquitto.log"]

    def _start_once(self, attempt):
        self.port = free_port()
        self.tls_port = free_port() if self.ca is not None else None
        self.dir = self.basedir / f"mosquitto-{attempt}"
        d = self.dir
        (d / "data").mkdir(parents=True, exist_ok=True)
        passwd = d / "passwd"
        passwd.write_text("")
        passwd.chmod(0o600)
        for user, password in self.users.items():
            result = subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password],
                                    capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise ServerError(f"mosquitto_passwd {user}: {result.stderr}")
        conf = d / "mosquitto.conf"
        lines = [
            "# written by test/integration/servers.py",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwd}",
            "persistence true",
            f"persistence_location {d / 'data'}/",
            f"max_queued_messages {self.MAX_QUEUED}",
            f"log_dest file {d / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root mosquitto drops to user `mosquitto`, who cannot read our 0700 tmp dir.
            lines.append("user root")
        # Listener settings follow their `listener` line.
        lines.append(f"listener {self.port} {HOST}")
        if self.ca is not None:
            lines += [
                f"listener {self.tls_port} {HOST}",
                f"cafile {self.ca.ca}",
                f"certfile {self.ca.server_cert}",
                f"keyfile {self.ca.server_key}",
                "require_certificate false",
            ]
        conf.write_text("\n".join(lines) + "\n")
        self._launch()

    def _launch(self):
        d = self.dir
        log = d / "mosquitto.log"
        # Where this run's lines begin: a restart appends to the same log.
        offset = log.stat().st_size if log.exists() else 0
        self._spawn([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                     str(d / "mosquitto.conf")], d / "server.log")

        def serving():
            # The port alone could be someone else's: mosquitto says when its listeners
            # are up.
            try:
                with open(log, "rb") as f:
                    f.seek(offset)
                    new = f.read().decode(errors="replace")
            except OSError:
                return False
            ports = [self.port] + ([self.tls_port] if self.tls_port else [])
            return " running" in new and all(port_open(p) for p in ports)

        self._wait(serving, self.START_TIMEOUT, f"port {self.port}")

    def restart(self):
        """Stop the broker (cleanly: it saves its sessions and queued messages) and start
        it again on the same ports with the same data, users and config."""
        self._stop_gracefully()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        kill_tagged(self.tag)
        self._launch()
        return self

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
