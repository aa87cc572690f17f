# SPDX-License-Identifier: GPL-2.0-only
"""sr_watch against a real RabbitMQ: what a user does in a hot directory becomes messages.

Each test writes a watch config in the private HOME (sleep 1, so a wake-up every second),
runs `sr_watch foreground` in the background, acts on the watched tree as a user or a
program would, and reads what a subscriber of the pump receives with a plain consumer
(test/tools/sr_broker_tool, the broker layer alone). At the end sr_watch gets SIGTERM and
must exit 0 within a few seconds.
"""
import base64
import hashlib
import json
import os
import queue
import secrets
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
INTERVAL = 1.0  # `sleep` of the test configs: the watch's wake-up interval


def sha512(data):
    return {"method": "sha512", "value": base64.b64encode(hashlib.sha512(data).digest()).decode()}


class Consumer:
    """A subscriber bound to exchange, reading in the background; get() returns the
    decoded bodies of the messages in the order they came."""

    def __init__(self, tool, url, exchange):
        # the exchange exists before the watch declares it: a pump has it already
        declare = subprocess.run([tool, "publish", url, exchange, "v03.declare"], input="",
                                 capture_output=True, text=True, timeout=TIMEOUT)
        assert declare.returncode == 0, declare.stderr
        self.proc = subprocess.Popen(
            [tool, "consume", url, "--queue", f"q_tsub.sr_test.watch.{secrets.token_hex(4)}",
             "--bind", f"{exchange}:#", "--timeout", "600", "--expire", "120",
             "--prefetch", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()
        assert "subscribed" in first, first
        self.messages = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.messages.put(json.loads(json.loads(line)["body"]))

    def get(self, count, timeout=TIMEOUT):
        """count messages, or fewer when timeout seconds pass first."""
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                got.append(self.messages.get(timeout=0.2))
            except queue.Empty:
                pass
        return got

    def quiet(self, seconds):
        """What comes in the next seconds (a test expects nothing)."""
        return self.get(10**9, timeout=seconds)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Watch:
    """sr_watch foreground CONFIG in the background, its log in a file."""

    def __init__(self, sr_bin, sr_env, tmp_path, name, config):
        config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "watch"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / f"{name}.conf").write_text(textwrap.dedent(config))
        self.log = tmp_path / f"{name}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sr_bin("sr_watch"), "foreground", name], env=sr_env,
                                         stdout=subprocess.DEVNULL, stderr=log)
        # the trees are walked and watched when the log says what is known
        self.wait_log("entries known")

    def text(self):
        return self.log.read_text()

    def wait_log(self, text, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while text not in self.text():
            assert self.proc.poll() is None, f"sr_watch exited:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.text()}"
            time.sleep(0.05)

    def stop(self):
        """SIGTERM: sr_watch finishes the pass in hand and exits 0, promptly."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"sr_watch ignored SIGTERM:\n{self.text()}")
        assert rc == 0, self.text()
        assert time.monotonic() - start < 3, "sr_watch took more than 3 s to stop"


def watch_config(rabbitmq, exchange, tree, extra=""):
    return textwrap.dedent(f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {exchange}
        post_baseUrl sftp://tfeed@files.example.com
        post_baseDir {tree}
        path {tree}
        sleep {INTERVAL}
        """) + textwrap.dedent(extra)


@pytest.fixture
def hot(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    """start(extra, prepare): a consumer, then a watch of tmp_path/tree (prepared first by
    prepare(tree)) with the extra config lines; returns (tree, consumer, watch). Both are
    stopped at the end."""
    started = []

    def start(extra="", prepare=None):
        tree = tmp_path / "tree"
        tree.mkdir(exist_ok=True)
        if prepare:
            prepare(tree)
        exchange = f"xs_tfeed_watch_{secrets.token_hex(3)}"
        consumer = Consumer(broker_tool, rabbitmq.url("tsub"), exchange)
        watch = Watch(sr_bin, sr_env, tmp_path, "hot",
                      watch_config(rabbitmq, exchange, tree, extra))
        started.append((consumer, watch))
        return tree, consumer, watch

    yield start
    for consumer, watch in started:
        if watch.proc.poll() is None:
            watch.proc.kill()
        consumer.close()


def by_path(messages):
    out = {}
    for m in messages:
        assert m["relPath"] not in out, f"{m['relPath']} posted twice: {messages}"
        out[m["relPath"]] = m
    return out


def test_a_hot_directory_announces_what_its_user_does(hot, tmp_path):
    """A user works in a watched folder: new files, a file written slowly, renames, a hard
    and a symbolic link, a removal, folders made and removed, a folder moved in then
    renamed, a file moved out, a program writing x.tmp then renaming it. Subscribers get
    exactly one message for each, with the final size and checksum, and nothing about a
    file still being written."""

    def prepare(tree):
        (tree / "old.txt").write_text("there before the watch\n")
    tree, consumer, watch = hot("reject .*\\.tmp$\n", prepare)

    # files made: one message each, with their checksum (the file there before: none)
    a, b = b"hello\n", os.urandom(5000)
    (tree / "a.txt").write_bytes(a)
    (tree / "b.bin").write_bytes(b)
    got = by_path(consumer.get(2))
    assert set(got) == {"a.txt", "b.bin"}
    assert got["a.txt"]["identity"] == sha512(a) and got["a.txt"]["size"] == len(a)
    assert got["b.bin"]["identity"] == sha512(b) and got["b.bin"]["size"] == len(b)
    assert "fileOp" not in got["a.txt"] and "mtime" in got["a.txt"]

    # a file written slowly over 3 s: nothing while it is written, then one message
    parts = [os.urandom(1000) for _ in range(4)]
    with open(tree / "slow.dat", "wb") as f:
        for i, part in enumerate(parts):
            f.write(part)
            f.flush()
            if i < len(parts) - 1:
                assert consumer.quiet(1.0) == [], "posted while still being written"
    got = consumer.get(1)
    assert [m["relPath"] for m in got] == ["slow.dat"]
    assert got[0]["size"] == 4000 and got[0]["identity"] == sha512(b"".join(parts))

    # renames: one message with the new name, the old one in fileOp.rename
    (tree / "a.txt").rename(tree / "renamed.txt")
    (tree / "old.txt").rename(tree / "old2.txt")  # known from the walk at start
    got = by_path(consumer.get(2))
    assert got["renamed.txt"]["fileOp"] == {"rename": "a.txt"}
    assert got["renamed.txt"]["identity"] == sha512(a)
    assert got["old2.txt"]["fileOp"] == {"rename": "old.txt"}

    # a hard link: no write, no close, only its creation; posted once it is seen unchanged
    os.link(tree / "slow.dat", tree / "hard.dat")
    got = consumer.get(1)
    assert [m["relPath"] for m in got] == ["hard.dat"]
    assert got[0]["identity"] == sha512(b"".join(parts)) and "fileOp" not in got[0]

    # a symbolic link, then a removal
    os.symlink("b.bin", tree / "link.lnk")
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [("link.lnk", {"link": "b.bin"})]
    (tree / "b.bin").unlink()
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [("b.bin", {"remove": ""})]

    # a folder made, then removed
    (tree / "newdir").mkdir()
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [("newdir", {"directory": ""})]
    (tree / "newdir").rmdir()
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [
        ("newdir", {"remove": "", "directory": ""})]

    # a folder filled elsewhere and moved in: the folders and every file in it
    outside = tmp_path / "outside" / "incoming"
    (outside / "sub").mkdir(parents=True)
    contents = {"incoming/x.txt": b"x\n", "incoming/y.txt": os.urandom(300),
                "incoming/sub/z.txt": b"z" * 10}
    for rel, data in contents.items():
        (tmp_path / "outside" / rel).write_bytes(data)
    outside.rename(tree / "incoming")
    got = by_path(consumer.get(5))
    assert set(got) == {"incoming", "incoming/sub", *contents}
    assert got["incoming"]["fileOp"] == {"directory": ""}
    assert got["incoming/sub"]["fileOp"] == {"directory": ""}
    for rel, data in contents.items():
        assert got[rel]["identity"] == sha512(data) and "fileOp" not in got[rel]
    # the new folder is watched: a file written in it later is posted too
    (tree / "incoming" / "sub" / "later.txt").write_bytes(b"later\n")
    got = consumer.get(1)
    assert [m["relPath"] for m in got] == ["incoming/sub/later.txt"]

    # a folder renamed: one message for it (subscribers rename theirs, contents and all);
    # it is still watched under its new name
    (tree / "incoming").rename(tree / "arrived")
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [
        ("arrived", {"rename": "incoming", "directory": ""})]
    (tree / "arrived" / "sub" / "z.txt").write_bytes(b"zz\n")
    got = consumer.get(1)
    assert [(m["relPath"], m.get("fileOp")) for m in got] == [("arrived/sub/z.txt", None)]

    # a file moved out of the tree: a removal
    (tree / "renamed.txt").rename(tmp_path / "outside" / "renamed.txt")
    got = consumer.get(1)
    assert [(m["relPath"], m["fileOp"]) for m in got] == [("renamed.txt", {"remove": ""})]

    # a program writes x.tmp and renames it when done: only the final name, as a new file
    with open(tree / "report.csv.tmp", "wb") as f:
        f.write(b"a,b\n1,2\n")
    (tree / "report.csv.tmp").rename(tree / "report.csv")
    got = consumer.get(1)
    assert [m["relPath"] for m in got] == ["report.csv"]
    assert "fileOp" not in got[0] and got[0]["identity"] == sha512(b"a,b\n1,2\n")

    # and nothing else, ever
    assert consumer.quiet(3 * INTERVAL) == []
    watch.stop()


def test_ten_thousand_files_dropped_at_once_are_all_posted_once(hot):
    """A program drops 10,000 files into the hot folder as fast as it can: each is posted
    exactly once, with its checksum."""
    tree, consumer, watch = hot("batch 100\n")
    count = 10_000
    start = time.monotonic()
    for i in range(count):
        (tree / f"f{i:05d}.dat").write_bytes(b"%d\n" % i)
    written = time.monotonic() - start
    got = consumer.get(count, timeout=300)
    elapsed = time.monotonic() - start
    names = [m["relPath"] for m in got]
    assert len(names) == count, f"{len(names)} of {count} posted in {elapsed:.1f} s"
    assert len(set(names)) == count, "some posted twice"
    assert set(names) == {f"f{i:05d}.dat" for i in range(count)}
    for m in got[:: count // 50]:
        i = int(m["relPath"][1:6])
        assert m["identity"] == sha512(b"%d\n" % i)
    assert consumer.quiet(2 * INTERVAL) == [], "posted twice"
    # the reader thread drains the kernel's queue as events come: normally no overflow
    # (one would not fail the test: the rescan that follows loses nothing either)
    overflowed = "overflowed" in watch.text()
    print(f"\n10,000 files written in {written:.1f} s, all posted after {elapsed:.1f} s"
          f"{' (the kernel queue overflowed)' if overflowed else ''}")
    watch.stop()


def test_fileEvents_minus_delete_posts_no_removals(hot):
    """`fileEvents -delete`: files are announced, their removal is not (folders are)."""
    tree, consumer, watch = hot("fileEvents -delete\n")
    (tree / "one.txt").write_text("1\n")
    assert [m["relPath"] for m in consumer.get(1)] == ["one.txt"]
    (tree / "one.txt").unlink()
    (tree / "d").mkdir()
    got = consumer.get(1)
    assert [(m["relPath"], m.get("fileOp")) for m in got] == [("d", {"directory": ""})]
    (tree / "d").rmdir()
    (tree / "two.txt").write_text("2\n")
    got = by_path(consumer.get(2))
    assert got["d"]["fileOp"] == {"remove": "", "directory": ""}
    assert "fileOp" not in got["two.txt"]
    assert consumer.quiet(2 * INTERVAL) == []
    watch.stop()


def test_fileEvents_minus_a_list_removes_every_event_of_it(hot):
    """The hot-directory guide's `fileEvents -delete,rmdir` (sr3 applies the sign to the
    whole list): new files and folders are announced, no removal of either is."""
    tree, consumer, watch = hot("fileEvents -delete,rmdir\n")
    (tree / "one.txt").write_text("1\n")
    (tree / "d").mkdir()
    got = by_path(consumer.get(2))
    assert set(got) == {"one.txt", "d"}
    (tree / "one.txt").unlink()
    (tree / "d").rmdir()
    (tree / "two.txt").write_text("2\n")
    assert [m["relPath"] for m in consumer.get(1)] == ["two.txt"]
    assert consumer.quiet(2 * INTERVAL) == []
    watch.stop()


def test_metrics_writeInterval_paces_the_metrics_file(hot, sr_env):
    """metrics_writeInterval 1h: the metrics file written at start-up is not rewritten while
    the watch posts (sr status would show the start-up counts), only when it stops."""
    from helpers import wait_until
    metrics = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "metrics" / "watch_hot_00.json"

    def posted():
        return json.loads(metrics.read_text())["counters"]["txGoodCount"]

    tree, consumer, watch = hot("metrics_writeInterval 1h\n")
    assert wait_until(metrics.exists, TIMEOUT), watch.text()
    # keep posting for longer than the default interval (5 s), which would have rewritten it
    start, n = time.monotonic(), 0
    while n < 2 or time.monotonic() - start < 7:
        n += 1
        (tree / f"f{n}.txt").write_text(f"{n}\n")
        assert [m["relPath"] for m in consumer.get(1)] == [f"f{n}.txt"]
    assert posted() == 0
    watch.stop()
    assert posted() == n


def test_force_polling_finds_new_changed_and_removed_files(hot):
    """force_polling (a file system without inotify): scans every `sleep` find new,
    changed and removed files and folders; a rename is a removal plus a new file."""
    def prepare(tree):
        (tree / "before.txt").write_text("before\n")
    tree, consumer, watch = hot("force_polling on\n", prepare)
    assert "by scanning it every 1 s" in watch.text()
    (tree / "sub").mkdir()
    (tree / "sub" / "new.txt").write_text("new\n")
    (tree / "before.txt").write_text("changed, and longer\n")
    got = by_path(consumer.get(3))
    assert set(got) == {"sub", "sub/new.txt", "before.txt"}
    assert got["sub"]["fileOp"] == {"directory": ""}
    assert got["sub/new.txt"]["identity"] == sha512(b"new\n")
    assert got["before.txt"]["identity"] == sha512(b"changed, and longer\n")
    (tree / "sub" / "new.txt").unlink()
    (tree / "before.txt").rename(tree / "after.txt")
    got = by_path(consumer.get(3))
    assert got["sub/new.txt"]["fileOp"] == {"remove": ""}
    assert got["before.txt"]["fileOp"] == {"remove": ""}
    assert "fileOp" not in got["after.txt"]
    assert consumer.quiet(2 * INTERVAL) == []
    watch.stop()


def test_a_stalled_watch_loses_nothing_when_the_kernel_queue_overflows(hot):
    """The watch is stopped (SIGSTOP) while 8,000 files arrive and known files are removed
    or renamed: the kernel's queue of events overflows. Running again, the watch scans the
    tree and compares it with what it knew: every change is posted exactly once (a rename
    whose events were lost is a removal plus a new file)."""
    def prepare(tree):
        for i in range(20):
            (tree / f"k{i:02d}.txt").write_text(f"{i}\n")
    tree, consumer, watch = hot("batch 100\n", prepare)
    count = 8000
    watch.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(count):
            (tree / f"f{i:05d}.dat").write_bytes(b"%d\n" % i)
        for i in range(10):
            (tree / f"k{i:02d}.txt").unlink()
        for i in range(10, 15):
            (tree / f"k{i:02d}.txt").rename(tree / f"r{i:02d}.txt")
    finally:
        watch.proc.send_signal(signal.SIGCONT)
    expected = count + 10 + 5 + 5
    got = consumer.get(expected, timeout=300)
    kinds = {}
    for m in got:
        key = (m["relPath"], "remove" if "remove" in m.get("fileOp", {}) else "file")
        assert key not in kinds, f"{key} posted twice"
        kinds[key] = m
    assert len(got) == expected, f"{len(got)} of {expected} changes posted"
    assert {k for k in kinds if k[1] == "remove"} == {
        (f"k{i:02d}.txt", "remove") for i in range(15)}
    assert {k[0] for k in kinds if k[1] == "file"} == {
        *(f"f{i:05d}.dat" for i in range(count)), *(f"r{i:02d}.txt" for i in range(10, 15))}
    assert consumer.quiet(2 * INTERVAL) == []
    assert "overflowed" in watch.text()
    watch.stop()


def test_fileAgeMin_holds_a_file_until_it_is_old_enough(hot):
    """fileAgeMin 3: a file is posted once its last change is 3 s old, not before."""
    tree, consumer, watch = hot("fileAgeMin 3\n")
    start = time.monotonic()
    (tree / "young.txt").write_text("young\n")
    # nothing until 2.5 s after the write (counted from the write, not from whenever
    # this line runs: a busy machine may be slow to get here)
    assert consumer.quiet(max(0.0, start + 2.5 - time.monotonic())) == []
    got = consumer.get(1)
    assert [m["relPath"] for m in got] == ["young.txt"]
    assert time.monotonic() - start >= 3
    watch.stop()


def test_post_on_start_announces_what_is_already_there(hot):
    """post_on_start: the files and folders already in the tree are posted at start."""
    def prepare(tree):
        (tree / "sub").mkdir()
        (tree / "a.txt").write_text("a\n")
        (tree / "sub" / "b.txt").write_text("b\n")
    tree, consumer, watch = hot("post_on_start on\n", prepare)
    got = by_path(consumer.get(3))
    assert set(got) == {"a.txt", "sub", "sub/b.txt"}
    assert got["sub"]["fileOp"] == {"directory": ""}
    assert got["sub/b.txt"]["identity"] == sha512(b"b\n")
    assert consumer.quiet(2 * INTERVAL) == []
    watch.stop()
