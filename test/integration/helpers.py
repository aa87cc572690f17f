# SPDX-License-Identifier: GPL-2.0-only
"""What several integration test modules do the same way: find a test tool in the build,
write a config where sr looks for it, wait for a condition, checksum a file, look at a
tree that a running process writes. (The servers: servers.py and the fixtures_* modules;
the fixtures every module shares: conftest.py.)"""
import hashlib
import os
import re
import signal
import stat
import subprocess
import textwrap
import time
from pathlib import Path


def tool_path(build_dir, name):
    """The path of test/tools/<name> in the build under test; it must have been built."""
    path = Path(build_dir) / "test" / "tools" / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path}: not built (make {path})")
    return str(path)


def sr_home_env(home):
    """The environment sr's processes run with in a test: HOME, ~/.config/sr and
    ~/.cache/sr under home (created), the repository's conf.d, and none of the variables
    that would point sr at the user's own folders."""
    env = dict(os.environ)
    for var in ("SR_CONFIG_DIR", "SR_STATE_DIR"):
        env.pop(var, None)
    home = Path(home)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "SR_CONFD": str(Path(__file__).resolve().parents[2] / "conf.d"),
    })
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    return env


def write_config(env, component, name, text):
    """~/.config/sr/<component>/<name>.conf of the sr_env `env`, from an indented block;
    returns its path."""
    d = Path(env["XDG_CONFIG_HOME"]) / "sr" / component
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.conf"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_sr(build_dir, env, *args, check=True, timeout=120):
    """`sr ARGS...` of the build under test; the CompletedProcess (text), failing the test
    on a non-zero exit when check is true."""
    r = subprocess.run([str(Path(build_dir) / "bin" / "sr"), *args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, \
            f"sr {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def wait_until(check, timeout, interval=0.2):
    """Polls check() every interval seconds until it is true or timeout seconds have
    passed; returns its last answer (checked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB pieces (the trees hold files of 200 MiB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# The names sr writes a file under until it is whole, beside its final name: NAME.tmp
# (`inflight .tmp`, what the tests configure), NAME.sr-partial (a download with inflight
# unset), and the record of a file's blocks kept beside either, TEMPORARY.blocks, which is
# rewritten through TEMPORARY.blocks.new. (lib/transfer.c: sr_inflight_path,
# sr_transfer_download_temp; lib/blocks.c; sr-config(5), inflight and blockSize.)
IN_PROGRESS = re.compile(r"\.(tmp|sr-partial)(\.blocks(\.new)?)?$")


def in_progress(name):
    """True for a file name sr writes under until the file is whole (IN_PROGRESS)."""
    return IN_PROGRESS.search(name) is not None


def snapshot_tree(root, read=sha256_file, partial=False, folders=False):
    """{relPath: read(Path)} of the regular files under root (symbolic links followed, as
    Path.is_file does), for a tree a running sr process or server may be writing.

    An entry that goes between the listing and the reading (NAME.tmp renamed to NAME, a
    file or a folder removed) is left out rather than raising, and so are the names sr
    writes under until a file is whole (in_progress) unless partial=True. read=None gives
    None for each file (the names alone). folders=True returns (files, {relPath of each
    folder}).

    A snapshot of a tree being written is only a moment: compare it inside wait_until, so
    that one taken half-way is simply taken again, and assert on one only once the writer
    is done (stopped, or a fence it writes last has arrived)."""
    root = str(root)
    files, dirs = {}, set()
    # os.walk passes over a folder that goes before it is listed (Path.rglob may raise)
    for top, subdirs, names in os.walk(root):
        dirs.update(os.path.relpath(os.path.join(top, d), root) for d in subdirs)
        for name in names:
            if not partial and in_progress(name):
                continue
            path = os.path.join(top, name)
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    continue
                value = None if read is None else read(Path(path))
            except (FileNotFoundError, NotADirectoryError):
                continue  # it went while we looked
            files[os.path.relpath(path, root)] = value
    return (files, dirs) if folders else files


class Feed:
    """Feeds a publishing process's stdin from a thread while a broker is restarted: chunks
    of `step` messages (lines(i, n) gives the text of messages i .. i+n-1), `pause` seconds
    apart, until `extra` more have gone in after `restarted` is set, so the process is
    surely publishing while the broker goes away however long the restart takes. Its
    stdout and stderr are read whole by threads of their own, so neither pipe fills."""

    def __init__(self, proc, lines, step, extra, pause):
        import threading
        self.proc = proc
        self.restarted = threading.Event()
        self.fed = None  # messages written, once the feeding ended
        self.output = {}
        for name, stream in (("out", proc.stdout), ("err", proc.stderr)):
            threading.Thread(target=lambda n=name, f=stream: self.output.update({n: f.read()}),
                             daemon=True).start()
        self.writer = threading.Thread(target=self._feed, args=(lines, step, extra, pause))
        self.writer.start()

    def _feed(self, lines, step, extra, pause):
        i, until = 0, None
        try:
            while until is None or i < until:
                self.proc.stdin.write(lines(i, step))
                self.proc.stdin.flush()
                i += step
                if until is None and self.restarted.is_set():
                    until = i + extra
                time.sleep(pause)
        finally:
            self.fed = i
            self.proc.stdin.close()

    def finish(self, timeout):
        """Wait for the feeding and the process to end; (exit status, stdout, stderr)."""
        self.writer.join(timeout)
        status = self.proc.wait(timeout=timeout)
        wait_until(lambda: "out" in self.output and "err" in self.output, 10, 0.05)
        return status, self.output["out"], self.output["err"]


class Component:
    """sr_<component> foreground <config>, its log (stdout and stderr) in a file; stopped
    with SIGTERM (stop) or SIGKILL (kill)."""

    def __init__(self, sr_bin, env, component, config, log, action=("foreground",)):
        """action: the verb and its words before the config (`instance N` runs one
        instance as `sr start` would, logging here when the config has logStdout on)."""
        self.log = Path(log)
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen([sr_bin(f"sr_{component}"), *action, config], env=env,
                                     stdout=self.out, stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text(errors="replace")

    def count(self, needle):
        return self.text().count(needle)

    def wait_for(self, needle, timeout=120):
        """Until the log holds needle; fails with the log if the process ends first."""
        assert wait_until(lambda: needle in self.text() or self.proc.poll() is not None,
                          timeout), f"no {needle!r} in the log:\n{self.text()}"
        assert needle in self.text(), f"exit {self.proc.poll()}, no {needle!r}:\n{self.text()}"
        return self

    def wait_ready(self, timeout=120):
        """"connected to" is logged once the queue is declared and bound (AMQP) or the SUBACK
        came (MQTT): what is announced from then on reaches it."""
        return self.wait_for("connected to", timeout)

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.out.close()
