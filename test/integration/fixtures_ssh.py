# SPDX-License-Identifier: GPL-2.0-only
"""A private sshd for the sftp tests and benchmarks, and a private HOME for its clients.

Sshd runs /usr/sbin/sshd -D with its own sshd_config, host key, authorized_keys, pid file
and log under a directory the caller gives (a pytest tmp dir), on 127.0.0.1 and a port
picked at run time. It lets in the current user (root in CI, by key only) with the test
key, and serves sftp in-process (internal-sftp) starting in a private login folder
(`root`), so paths relative to the login folder stay under the test's tmp dir.

ssh_home gives a client HOME the way a user's looks: ~/.ssh/config with `Host cluster`
pointing at the server (HostName, Port, User, IdentityFile), known_hosts holding the
server's key as ssh-keyscan reports it, and the test key as ~/.ssh/id_ed25519.

A server that does not come up raises servers.ServerError with its log: the tests never
skip for want of an sshd. sshd overwrites its environment with its process title and puts
each connection in a session of its own, so neither the SR_TEST_SERVER tag of servers.py
nor the process group reaches the per-connection processes: kill() and stop() find them
as descendants of the listener, before the listener goes.
"""
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from servers import HOST, ServerError, _Server, free_port, port_open

SSHD = "/usr/sbin/sshd"
# Where a root sshd chroots its unprivileged pre-authentication child (compiled in). The
# Debian service creates it at boot (RuntimeDirectory); a container has none.
PRIVSEP_DIR = Path("/run/sshd")


def _descendants(pid):
    """Every live process below pid (children, their children...)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _keygen(path, comment):
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


class Sshd(_Server):
    """A private sshd. .user logs in with .key (its public half in authorized_keys);
    .wrong_key is a key the server does not know. .root is the login folder."""

    scheme = "sftp"
    name = "sshd"
    START_TIMEOUT = 60  # a loaded machine may take many times longer than usual

    def __init__(self, basedir):
        super().__init__(basedir)
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        keys = self.basedir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        self.host_key = _keygen(keys / "ssh_host_ed25519_key", "sr test host")
        self.key = _keygen(keys / "id_ed25519", "sr test user")
        self.wrong_key = _keygen(keys / "id_wrong", "sr test stranger")
        self.authorized_keys = keys / "authorized_keys"
        shutil.copyfile(f"{self.key}.pub", self.authorized_keys)
        self.root = self.basedir / "root"
        self.root.mkdir(exist_ok=True)
        self._known_line = None

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "sshd.log"]

    def _start_once(self, attempt):
        self.port = free_port()
        self.dir = self.basedir / f"sshd-{attempt}"
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        (self.dir / "sshd_config").write_text("\n".join([
            "# written by test/integration/fixtures_ssh.py",
            f"ListenAddress {HOST}",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            # The key files live in pytest's tmp dirs, whatever their owners and modes.
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            # The benchmark's scp runs open one connection after another.
            "MaxStartups 200",
            "LogLevel INFO",
            f"Subsystem sftp internal-sftp -d {self.root}",
            "",
        ]))
        self._launch()

    @property
    def log(self):
        return self.dir / "sshd.log"

    def _launch(self):
        log = self.log
        offset = log.stat().st_size if log.exists() else 0
        self._spawn([SSHD, "-D", "-f", str(self.dir / "sshd_config"), "-E", str(log)],
                    self.dir / "server.log")
        needle = f"Server listening on {HOST} port {self.port}"

        def listening():
            try:
                with open(log, "rb") as f:
                    f.seek(offset)
                    new = f.read().decode(errors="replace")
            except OSError:
                return False
            return needle in new and port_open(self.port)

        self._wait(listening, self.START_TIMEOUT, f"port {self.port}")

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def _kill_connections(self):
        if self.proc is not None and self.proc.poll() is None:
            for pid in _descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def kill(self):
        """SIGKILL the server and every connection it serves, as a crash would."""
        self._kill_connections()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        self._kill_connections()
        super().stop()

    def restart(self):
        """Start again on the same port with the same keys (after kill or stop)."""
        self.kill()
        try:
            self._launch()
        except ServerError as err:
            raise ServerError(f"{err}\n{self.logs()}") from None
        return self

    def accepted(self):
        """How many logins the server has accepted so far ("Accepted publickey" lines)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Accepted publickey")

    def known_hosts_line(self):
        """The server's key as ssh-keyscan reports it ("[127.0.0.1]:PORT ssh-ed25519 ...")."""
        if self._known_line is None:
            result = subprocess.run(["ssh-keyscan", "-T", "10", "-t", "ed25519", "-p",
                                     str(self.port), HOST], capture_output=True, text=True,
                                    timeout=30)
            lines = [l for l in result.stdout.splitlines() if l and not l.startswith("#")]
            if result.returncode != 0 or not lines:
                raise ServerError(f"ssh-keyscan -p {self.port} {HOST}: exit "
                                  f"{result.returncode}: {result.stderr}\n{self.logs()}")
            self._known_line = lines[0]
        return self._known_line


class SshHome:
    """A client HOME: .path, its ssh files, and the URLs that reach the server."""

    ALIAS = "cluster"

    def __init__(self, path, sshd):
        self.path = Path(path)
        self.sshd = sshd
        self.ssh = self.path / ".ssh"
        self.ssh.mkdir(parents=True, exist_ok=True)
        self.ssh.chmod(0o700)
        self.key = self.ssh / "id_ed25519"
        shutil.copyfile(sshd.key, self.key)
        self.key.chmod(0o600)
        shutil.copyfile(f"{sshd.key}.pub", f"{self.key}.pub")
        self.config = self.ssh / "config"
        self.config.write_text("\n".join([
            f"Host {self.ALIAS}",
            f"    HostName {HOST}",
            f"    Port {sshd.port}",
            f"    User {sshd.user}",
            "    IdentityFile ~/.ssh/id_ed25519",
            "",
        ]))
        self.known_hosts = self.ssh / "known_hosts"
        self.known_hosts.write_text(sshd.known_hosts_line() + "\n")

    @property
    def alias_url(self):
        """sftp://cluster: everything else comes from ~/.ssh/config."""
        return f"sftp://{self.ALIAS}"

    @property
    def url(self):
        """The server named in full, no ssh config needed (keys from ~/.ssh)."""
        return f"sftp://{self.sshd.user}@{HOST}:{self.sshd.port}"

    def env(self):
        """Environment for ssh, scp and sftp using this HOME's files (-F, known_hosts)."""
        env = dict(os.environ)
        env["HOME"] = str(self.path)
        env.pop("SSH_AUTH_SOCK", None)
        return env

    def ssh_options(self):
        """Options that make OpenSSH's clients use this HOME rather than the passwd one."""
        return ["-F", str(self.config), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", f"IdentityFile={self.key}", "-o", "BatchMode=yes"]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A private sshd on 127.0.0.1 (Sshd), shared by the session."""
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_home(sshd, tmp_path):
    """A private client HOME for sshd (SshHome): ~/.ssh/config with `Host cluster`,
    known_hosts with the server's key, the test key."""
    return SshHome(tmp_path / "sshhome", sshd)
