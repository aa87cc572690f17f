# SPDX-License-Identifier: GPL-2.0-only
"""User story 1 (issue 7): a hot directory feeding a cluster over sftp.

A user drops files in a hot directory. sr_watch announces them on RabbitMQ; sr_sender
with `instances 3` (three processes, `instance 1..3`, one shared queue) pushes each file
over sftp to the cluster, named by the `Host cluster` alias of the user's ~/.ssh/config,
writing it as NAME.tmp and renaming it when complete (inflight .tmp).

The sr processes' HOME is the ssh client HOME of fixtures_ssh (SshHome built in sr_env's
HOME), so ~/.ssh/config, known_hosts and the key are where a user has them. The cluster
side is a folder under the test sshd's login root.

What the user checks: every file arrives with the same sha256 and no .tmp is left; the
three senders share the work; a deletion in the hot dir reaches the cluster only when
fileEvents allows it; a cluster that refuses the key costs one error line per connection
attempt (not per file) and the files wait in the retry queue instead of being lost.
"""
import hashlib
import json
import os
import queue
import random
import re
import secrets
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fixtures_ssh import SshHome
from helpers import snapshot_tree, wait_until, write_config

# For a condition a working sr meets in seconds: a loaded machine (CI, one core busy
# elsewhere) may take many times longer, and waiting longer costs nothing when it comes.
TIMEOUT = 120
# The 1,000 files (up to 20 MiB each) of the three-sender story.
TIMEOUT_1000 = 300


class Announcements:
    """A plain subscriber on the watch's exchange (its own queue), counting what the watch
    announces; bodies() returns the decoded messages received so far."""

    def __init__(self, tool, url, exchange):
        self.proc = subprocess.Popen(
            [tool, "consume", url, "--queue", f"q_tsub.sr_test.hot.{secrets.token_hex(4)}",
             "--bind", f"{exchange}:#", "--timeout", "600", "--expire", "120",
             "--prefetch", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()
        assert "subscribed" in first, first
        self.messages = queue.Queue()
        self.received = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.messages.put(json.loads(json.loads(line)["body"]))

    def bodies(self):
        """Every message received so far (kept: each call returns the whole list)."""
        while True:
            try:
                self.received.append(self.messages.get_nowait())
            except queue.Empty:
                return list(self.received)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Story:
    """The pieces of the story for one test: the hot dir, the cluster folder, the sr
    environment whose HOME is an ssh client HOME for the test sshd, and the processes."""

    def __init__(self, rabbitmq, sshd, tool, sr_bin, sr_env, tmp_path):
        self.rabbitmq, self.sshd, self.tool, self.sr_bin = rabbitmq, sshd, tool, sr_bin
        self.env, self.tmp = sr_env, tmp_path
        self.home = SshHome(sr_env["HOME"], sshd)
        self.env.pop("SSH_AUTH_SOCK", None)
        self.hot = tmp_path / "hot"
        self.hot.mkdir()
        # sftp paths follow sr3: relative to the login folder (sshd.root)
        self.remote = sshd.root / f"cluster_{secrets.token_hex(4)}"
        self.remote.mkdir()
        self.exchange = f"xs_tfeed_hot{secrets.token_hex(3)}"
        self.logs = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "log"
        self.procs = []
        r = subprocess.run([tool, "publish", rabbitmq.url("tfeed"), self.exchange,
                            "v03.declare"], input="", capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr

    def log(self, component, config, n):
        path = self.logs / f"{component}_{config}_{n:02d}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def watch(self, name="hot"):
        write_config(self.env, "watch", name, f"""
            post_broker {self.rabbitmq.url("tfeed")}
            post_exchange {self.exchange}
            post_baseUrl sftp://hotsource
            post_baseDir {self.hot}
            path {self.hot}
            sleep 1
            reject .*\\.tmp$
            """)
        self._start("watch", name, 1, "entries known")

    def sender(self, name, instances=1, extra=""):
        write_config(self.env, "sender", name, f"""
            broker {self.rabbitmq.url("tfeed")}
            exchange {self.exchange}
            subtopic #
            instances {instances}
            baseDir {self.hot}
            sendTo {self.home.alias_url}
            directory {self.remote.name}
            mirror on
            inflight .tmp
            retryDelay 3
            """ + textwrap.dedent(extra))
        # "connected to" is logged once the queue is declared and bound (lib/broker.c):
        # what is announced from then on reaches the senders
        for n in range(1, instances + 1):
            self._start("sender", name, n, "connected to")

    def _start(self, component, name, n, ready):
        """Start instance n and wait for `ready` in what it logs (a log is appended to
        across runs: only what this process wrote counts)."""
        err = open(self.tmp / f"{component}_{name}_{n}.stderr", "w")
        offset = len(self.log(component, name, n))
        proc = subprocess.Popen([self.sr_bin(f"sr_{component}"), "instance", str(n), name],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append((proc, err, component, name, n))
        assert wait_until(lambda: ready in self.log(component, name, n)[offset:]
                          or proc.poll() is not None, TIMEOUT, 0.05), self.log(component, name, n)
        assert proc.poll() is None, f"sr_{component} exited:\n{self.log(component, name, n)}"

    def stop_one(self, component):
        """SIGTERM to the instances of component (the others keep running); their exit
        codes."""
        codes = []
        for entry in [e for e in self.procs if e[2] == component]:
            proc, err = entry[0], entry[1]
            proc.send_signal(signal.SIGTERM)
            codes.append(proc.wait(timeout=30))
            err.close()
            self.procs.remove(entry)
        return codes

    def stop(self):
        codes = []
        for proc, err, component, name, n in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, err, component, name, n in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes.append(f"sr_{component} {name} {n} ignored SIGTERM")
            err.close()
        self.procs = []
        return codes


@pytest.fixture
def story(rabbitmq, sshd, broker_tool, sr_bin, sr_env, tmp_path):
    s = Story(rabbitmq, sshd, broker_tool, sr_bin, sr_env, tmp_path)
    try:
        yield s
    finally:
        s.stop()


def drop_files(hot, count, seed):
    """count files of mixed sizes, as users drop them: most written in place, one in four
    written as NAME.tmp then renamed; some in subfolders. Returns {relPath: sha256}."""
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    sizes = ([0] * 20 + [rng.randint(1, 4096) for _ in range(600)]
             + [rng.randint(4097, 256 << 10) for _ in range(300)]
             + [rng.randint(256 << 10, 3 << 20) for _ in range(count - 930)]
             + [rng.randint(12 << 20, 20 << 20) for _ in range(10)])
    rng.shuffle(sizes)
    for d in ("a", "b", "b/c"):
        (hot / d).mkdir(parents=True, exist_ok=True)
    files = {}
    for i, size in enumerate(sizes):
        rel = f"{rng.choice(['', '', 'a/', 'b/', 'b/c/'])}f{i:04d}.dat"
        # the content: a slice of the random block, rotated per file so no two are alike
        head = rng.randbytes(min(size, 64))
        body = (block * (size // len(block) + 2))[i:i + size - len(head)] if size > 64 else b""
        data = head + body
        assert len(data) == size
        if i % 4 == 0:
            tmp = hot / f"{rel}.tmp"
            tmp.write_bytes(data)
            os.rename(tmp, hot / rel)
        else:
            (hot / rel).write_bytes(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    return files


def test_hot_directory_to_cluster_with_three_senders(story):
    """1,000 files of mixed sizes (0 B to 20 MiB) dropped in the hot dir reach the cluster
    over sftp identical (sha256), no .tmp left; the three sender instances each send a
    share, each file announced once and sent once per announcement."""
    started = time.monotonic()
    story.sender("tocluster", instances=3)
    announced = Announcements(story.tool, story.rabbitmq.url("tsub"), story.exchange)
    try:
        story.watch()
        files = drop_files(story.hot, 1000, seed=7)
        dropped = time.monotonic()

        # the senders write NAME.tmp and rename it: the names under their final names
        ok = wait_until(lambda: set(files) <= set(snapshot_tree(story.remote, read=None)),
                        TIMEOUT_1000)
        got_names = set(snapshot_tree(story.remote, read=None))
        logs = "".join(story.log("sender", "tocluster", n)[-3000:] for n in (1, 2, 3))
        assert ok, (len(files), len(set(files) & got_names),
                    sorted(set(files) - got_names)[:10], logs)
        arrival = time.monotonic()
        # The counts below are taken once nothing more can come: the watch stopped (it
        # announces nothing more), our subscriber holding every message it posted, the
        # senders having sent as many files as there are file announcements (a file sent
        # twice meanwhile is in their logs once they have stopped, and counted below).
        assert story.stop_one("watch") == [0]
        posted = len(re.findall(r"\] watch/hot_01 posted ", story.log("watch", "hot", 1)))
        assert wait_until(lambda: len(announced.bodies()) >= posted, TIMEOUT), \
            (len(announced.bodies()), posted)
        messages = announced.bodies()
        file_messages = [m for m in messages if "directory" not in m.get("fileOp", {})]

        def sent_count():
            return sum(story.log("sender", "tocluster", n).count("sent ") for n in (1, 2, 3))
        assert wait_until(lambda: sent_count() >= len(file_messages), TIMEOUT), \
            (sent_count(), len(file_messages))
    finally:
        announced.close()
    codes = story.stop()
    assert codes == [0, 0, 0], codes

    got = snapshot_tree(story.remote, partial=True)
    leftovers = [r for r in got if r.endswith(".tmp")]
    assert not leftovers, leftovers
    assert got == files, sorted(r for r in set(got) | set(files) if got.get(r) != files.get(r))[:10]

    # announcements: every file at least once; a duplicate only when the file changed
    # (another identity), which never happens here: each file is written once
    # (the folders a, b, b/c made after the watch started are announced as mkdir fileOps)
    folders = [m for m in messages if "directory" in m.get("fileOp", {})]
    assert sorted(m["relPath"] for m in folders) == ["a", "b", "b/c"], folders
    messages = [m for m in messages if m not in folders]
    per_file = {}
    for m in messages:
        per_file.setdefault(m["relPath"], []).append(m)
    assert set(per_file) == set(files), sorted(set(per_file) ^ set(files))[:10]
    twice = {r: len(ms) for r, ms in per_file.items() if len(ms) > 1}
    assert not twice, (len(twice), list(twice.items())[:10])

    sent = [story.log("sender", "tocluster", n).count("sent ") for n in (1, 2, 3)]
    assert sum(sent) == len(messages), (sent, len(messages))
    assert min(sent) >= 50, sent
    for n in (1, 2, 3):
        text = story.log("sender", "tocluster", n)
        assert f"sender/tocluster_{n:02d}" in text
        assert " ERROR " not in text and "will retry" not in text, text[-3000:]
    print(f"\n1000 files, {sum(os.path.getsize(story.hot / r) for r in files) >> 20} MiB: "
          f"{arrival - dropped:.1f} s from the drop to the last arrival, sent {sent}, "
          f"{time.monotonic() - started:.1f} s in all")


@pytest.mark.parametrize("events, forwarded", [("", True), ("fileEvents -delete", False)])
def test_hot_directory_deletion_forwarded_when_allowed(story, events, forwarded):
    """A file removed from the hot dir is removed on the cluster too, unless the sender
    says `fileEvents -delete`; either way the other files stay."""
    story.sender("del", extra=events)
    story.watch()
    for i in range(5):
        (story.hot / f"k{i}.txt").write_text(f"keep or not {i}\n")
    remote = [story.remote / f"k{i}.txt" for i in range(5)]
    assert wait_until(lambda: all(p.exists() for p in remote), TIMEOUT), \
        story.log("sender", "del", 1)
    (story.hot / "k0.txt").unlink()
    (story.hot / "k1.txt").unlink()
    # a fence: a file made after the removals is announced after them (the watch posts
    # in the order things happened) and sent after them (one sender takes its messages
    # in order): once it is on the cluster, the sender has dealt with both removals
    (story.hot / "fence.txt").write_text("after the removals\n")
    assert wait_until(lambda: (story.remote / "fence.txt").exists(), TIMEOUT), \
        story.log("sender", "del", 1)
    if forwarded:
        assert not remote[0].exists() and not remote[1].exists(), story.log("sender", "del", 1)
    else:
        assert remote[0].exists() and remote[1].exists(), story.log("sender", "del", 1)
    assert all(p.exists() for p in remote[2:])
    assert story.stop() == [0, 0]


def test_refused_key_one_error_per_connection_and_files_kept_for_retry(story):
    """The cluster refuses the key (credentials.conf's ssh_keyfile names a key it does not
    know): 20 files queued give one clear error per connection attempt, not one per file,
    and all 20 wait in the retry queue (metrics) rather than being dropped: once the key
    is right again they all arrive."""
    creds = Path(story.env["XDG_CONFIG_HOME"]) / "sr" / "credentials.conf"
    creds.parent.mkdir(parents=True, exist_ok=True)
    creds.write_text(f"sftp://cluster ssh_keyfile={story.sshd.wrong_key}\n")
    creds.chmod(0o600)
    def refusals():  # logins the server turned down (a failed key ends the connection)
        return story.sshd.log.read_text(errors="replace").count(
            "Disconnected from authenticating user")
    before = refusals()
    story.sender("refused", extra="housekeeping 2\nbatch 20\n")
    story.watch()
    for i in range(20):
        (story.hot / f"r{i:02d}.txt").write_text(f"retry me {i}\n")
    metrics_file = Path(story.env["XDG_CACHE_HOME"]) / "sr" / "metrics" / "sender_refused_01.json"

    def queued():
        try:
            return json.loads(metrics_file.read_text())["retry"]["work"]
        except (OSError, ValueError, KeyError):
            return -1
    ok = wait_until(lambda: queued() == 20, TIMEOUT)
    # the log is read once the processes are stopped: no attempt is made after it
    assert story.stop() == [0, 0]
    log = story.log("sender", "refused", 1)
    assert ok, (queued(), log[-4000:])
    assert not list(story.remote.iterdir())
    key = str(story.sshd.wrong_key)
    refused = [l for l in log.splitlines() if f"refused key {key}" in l]
    dropped = [l for l in log.splitlines() if "not retried" in l]
    assert not dropped, dropped
    # one line with the reason per connection attempt, and a few attempts for 20 files:
    # the files behind a refused attempt wait without another try (sshd writes its line
    # as the connection closes: it may come a moment after sr's)
    wait_until(lambda: refusals() - before >= len(refused), TIMEOUT)
    attempts = refusals() - before
    assert len(refused) == attempts, (len(refused), attempts, log[-4000:])
    assert 1 <= attempts <= 6, (attempts, log[-4000:])
    waiting = {l.split(" ")[4].rstrip(":") for l in log.splitlines() if "will retry" in l}
    assert waiting == {f"r{i:02d}.txt" for i in range(20)}, sorted(waiting)

    # the key fixed and the sender restarted: the queued files go out from the retry queue
    creds.unlink()
    story.sender("refused", extra="housekeeping 2\nbatch 20\n")
    want = {f"r{i:02d}.txt": f"retry me {i}\n" for i in range(20)}
    # the sender writes rNN.txt.tmp and renames it while we look: snapshot_tree leaves
    # out what goes, and the in-progress names
    assert wait_until(lambda: snapshot_tree(story.remote, read=Path.read_text) == want,
                      TIMEOUT), story.log("sender", "refused", 1)[-4000:]
    assert story.stop() == [0]
