# SPDX-License-Identifier: GPL-2.0-only
"""Python sr3, the reference implementation, run as a peer of sr in the tests.

It lives beside the project, in ../shared/peers (its README says how to run it and that its
code is never copied). A test that needs it is marked `needs_sr3`: it skips with one line
when that folder is absent, and only then. Each Sr3 has a HOME of its own, so its configs
(~/.config/sr3), state and logs (~/.cache/sr3) stay under the test's tmp_path.
"""
import ast
import os
import re
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO.parent / "shared" / "peers"
SR3 = PEERS / "bin" / "sr3"
SR3_POST = PEERS / "bin" / "sr3_post"

needs_sr3 = pytest.mark.skipif(not PEERS.is_dir(),
                               reason=f"{PEERS} absent: no sr3 to test against")

# Python's start-up alone costs about 0.35 s a call; a loaded CI machine takes far longer.
CALL_TIMEOUT = 120


class Sr3:
    """One sr3 installation: a HOME under `home`, configs written into it, its CLI run with
    that HOME, and `foreground` processes that are stopped by stop_all()."""

    def __init__(self, home):
        self.home = Path(home)
        self.config = self.home / ".config" / "sr3"
        self.cache = self.home / ".cache" / "sr3"
        self.config.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self.started = {}  # pid -> pid file, of the instances start() took in charge

    def env(self, extra=None):
        env = dict(os.environ)
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "SR_CONFIG_DIR", "SR_STATE_DIR"):
            env.pop(var, None)
        env.update({"HOME": str(self.home), "TZ": "UTC", "PYTHONDONTWRITEBYTECODE": "1"})
        env.update(extra or {})
        return env

    def write_config(self, component, name, text):
        """~/.config/sr3/<component>/<name>.conf from an indented block; returns its path."""
        d = self.config / component
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name}.conf"
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def write_file(self, relpath, text):
        """A file under ~/.config/sr3 (default.conf, credentials.conf, an .inc)."""
        path = self.config / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        if path.name == "credentials.conf":
            path.chmod(0o600)
        return path

    def run(self, *args, check=True, timeout=CALL_TIMEOUT, env=None):
        """`sr3 ARGS...`; returns the CompletedProcess (text), raising on a non-zero exit
        when check is true."""
        return self._run([str(SR3), *args], check, timeout, env)

    def post(self, *args, check=True, timeout=CALL_TIMEOUT, env=None):
        """`sr3_post ARGS...` (sr3_post -c NAME FILE... reads post/NAME.conf)."""
        return self._run([str(SR3_POST), *args], check, timeout, env)

    def _run(self, argv, check, timeout, env):
        done = subprocess.run(argv, env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, cwd=self.home)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}\n"
                                 f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
        return done

    def show(self, spec):
        """The options of `sr3 show COMPONENT/NAME`, as the dict sr3 prints."""
        out = self.run("show", spec).stdout
        start = out.find("\n{")
        if start < 0:
            raise AssertionError(f"sr3 show {spec}: no option dict in its output:\n{out[-2000:]}")
        return parse_show_dict(out[start + 1:])

    def foreground(self, spec, env=None):
        """Starts `sr3 foreground COMPONENT/NAME`, its log (stderr and stdout) in a file
        under HOME; returns the Popen. stop_all() ends it."""
        log = self.home / f"{spec.replace('/', '_')}.foreground.log"
        out = open(log, "ab")
        proc = subprocess.Popen([str(SR3), "foreground", spec], env=self.env(env),
                                stdout=out, stderr=subprocess.STDOUT, cwd=self.home,
                                start_new_session=True)
        out.close()
        proc.log_path = log
        self.procs.append(proc)
        return proc

    def wait_log(self, proc, pattern, timeout=120):
        """Waits until the foreground proc's log matches the regex; fails with its tail."""
        rx = re.compile(pattern)
        ok = wait_until(lambda: rx.search(proc.log_path.read_text(errors="replace"))
                        is not None or proc.poll() is not None, timeout)
        text = proc.log_path.read_text(errors="replace")
        if not ok or rx.search(text) is None:
            raise AssertionError(f"sr3 never logged /{pattern}/ (exit {proc.poll()}):\n"
                                 f"{text[-4000:]}")

    def wait_ready(self, proc, timeout=120):
        """A consumer is ready once it has bound its queue (the peers README): AMQP logs
        "binding QUEUE with KEY to EXCHANGE", MQTT "subscribe completed". (Not any line with
        "subscri" in it: sr3 complains about its subscriptions.json before it binds.)"""
        self.wait_log(proc, r"binding \S+ with \S+ to |subscribe completed", timeout)

    def start(self, spec=None, expected=1, timeout=CALL_TIMEOUT):
        """`sr3 start [SPEC]`: its instances are forked and outlive the call. Waits until
        `expected` instances of this HOME have written their pid file, and takes those pids
        in charge: stop_all() ends them by pid. (Never `sr3 stop`: it also signals every
        sr3 process of the user that is no instance of this HOME, other tests' included.)"""
        self.run(*(["start", spec] if spec else ["start"]), timeout=timeout)
        ok = wait_until(lambda: len(self._pid_files()) >= expected, timeout)
        found = self._pid_files()
        for path, pid in found.items():
            if self._ours(pid):
                self.started[pid] = path
        if not ok:
            raise AssertionError(f"sr3 start {spec or ''}: {len(found)} of {expected} "
                                 f"instances wrote a pid file: {sorted(found)}")
        return sorted(self.started)

    def _pid_files(self):
        """{pid file: pid} of the instances under this HOME's ~/.cache/sr3."""
        out = {}
        for path in self.cache.glob("*/*/*.pid"):
            try:
                out[path] = int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return out

    def _ours(self, pid):
        """pid is alive and runs with this HOME (a pid file may outlive its process, and
        the pid be reused by someone else's)."""
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return False
        return f"HOME={self.home}".encode() in environ

    def log_path(self, component, config, n):
        """The log of instance n of a started config (~/.cache/sr3/log)."""
        return self.cache / "log" / f"{component}_{config}_{n:02d}.log"

    def log(self, component, config, n):
        path = self.log_path(component, config, n)
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self):
        """SIGTERM to each foreground process group and to each started instance, SIGKILL
        to what is left after 15 s."""
        for pid in list(self.started):
            if self._ours(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self.started:
            wait_until(lambda: not any(self._ours(pid) for pid in self.started), 15)
            for pid in self.started:
                if self._ours(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self.started = {}
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=15)
        self.procs = []


def parse_show_dict(text):
    """sr3 show prints its options with pprint; Python's literal syntax reads it back, once
    the few values that are not literals (objects shown by their repr) are made strings."""
    end = text.find("\n}") if not text.rstrip().endswith("}") else len(text.rstrip()) - 1
    body = text[:end + 1] if end >= 0 else text
    if not body.rstrip().endswith("}"):
        body = body.rstrip() + "}"
    try:
        return ast.literal_eval(body)
    except (SyntaxError, ValueError):
        # <sarracenia.X object at 0x...> and the like: quote them.
        body = re.sub(r"<[^<>]*>", lambda m: repr(m.group(0)), body)
        body = re.sub(r"\b(re\.compile\([^)]*\))", lambda m: repr(m.group(1)), body)
        return ast.literal_eval(body)


@pytest.fixture
def sr3(tmp_path):
    """An Sr3 whose HOME is tmp_path/sr3home; its foreground processes are stopped after
    the test."""
    peer = Sr3(tmp_path / "sr3home")
    try:
        yield peer
    finally:
        peer.stop_all()
