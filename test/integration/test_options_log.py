# SPDX-License-Identifier: GPL-2.0-only
"""The logging options as an operator sees them in a subscriber's log and state folder:
logEvents (which per-message lines are written), logReject and logDuplicates (which add
the reject and nodupe events, as in sr3), messageDebugDump (each message as on the wire),
logMetrics (the history of the metrics files) and bufSize (the size of the reads that
copy a file)."""
import json
import re
import secrets
import subprocess
from pathlib import Path

from helpers import snapshot_tree, wait_until, write_config
from test_subscribe import run_component, stop

TIMEOUT = 120


class Feed:
    """An exchange of its own, a post config over file: URLs and sr_post to announce."""

    def __init__(self, rabbitmq, sr_bin, sr_env, tmp_path):
        self.sr_bin, self.env = sr_bin, sr_env
        self.src = tmp_path / "src"
        self.src.mkdir()
        self.exchange = f"xs_tfeed_l{secrets.token_hex(3)}"
        write_config(sr_env, "post", "src", f"""
            post_broker {rabbitmq.url("tfeed")}
            post_exchange {self.exchange}
            post_baseUrl file:{self.src}
            post_baseDir {self.src}
            """)
        # the exchange exists before a subscriber binds to it
        self.post({"first.txt": b"first\n"})

    def post(self, files):
        for rel, data in files.items():
            (self.src / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.src / rel).write_bytes(data)
        r = subprocess.run([self.sr_bin("sr_post"), "-c", "src",
                            *[str(self.src / rel) for rel in files]],
                           env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr


def subscriber(feed, rabbitmq, tmp_path, name, extra):
    dest = tmp_path / name
    write_config(feed.env, "subscribe", name, f"""
        broker {rabbitmq.url("tsub")}
        exchange {feed.exchange}
        subtopic #
        directory {dest}
        mirror on
        allowFileUrl on
        {extra}
        """)
    return dest


def run_until_landed(feed, rabbitmq, sr_bin, tmp_path, name, extra, files, more=None):
    """Starts subscriber NAME with the extra lines, posts files, waits until they landed
    (and until more(log) holds, when given), stops it; returns its log."""
    dest = subscriber(feed, rabbitmq, tmp_path, name, extra)
    log = tmp_path / f"{name}.log"
    proc, out = run_component(sr_bin, feed.env, "subscribe", name, log)
    try:
        feed.post(files)
        assert wait_until(lambda: all((dest / rel).is_file() and
                                      (dest / rel).read_bytes() == data
                                      for rel, data in files.items()), TIMEOUT), log.read_text()
        if more is not None:
            assert wait_until(lambda: more(log.read_text()), TIMEOUT), log.read_text()
    finally:
        assert stop(proc, out) == 0
    return log.read_text()


def test_log_events_choose_the_per_message_lines(rabbitmq, sr_bin, sr_env, tmp_path):
    feed = Feed(rabbitmq, sr_bin, sr_env, tmp_path)
    files = {f"a{i}.txt": f"a{i}\n".encode() for i in range(3)}
    # sr3's default: a line when each message is accepted and when each file is done
    text = run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "loud", "", files)
    for rel in files:
        assert re.search(r"accepted: \(lag: [0-9.]+\) baseUrl: file:\S+ relPath: " +
                         re.escape(rel) + r"$", text, re.M), text
        assert re.search(r"downloaded \S+/" + re.escape(rel) + r" \(", text), text

    # only the housekeeping summary: the files land, the per-file lines are gone
    files = {f"b{i}.txt": f"b{i}\n".encode() for i in range(3)}
    text = run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "quiet",
                            "logEvents on_housekeeping,on_stop", files)
    assert "accepted:" not in text and "downloaded " not in text, text
    # on_stop: the summary line when it stops
    assert re.search(r"at stop: \d+ received", text), text


def test_log_reject_and_log_duplicates_add_their_events(rabbitmq, sr_bin, sr_env, tmp_path):
    feed = Feed(rabbitmq, sr_bin, sr_env, tmp_path)
    files = {"skip.txt": b"skip\n", "keep.txt": b"keep\n"}
    # logReject: a rejected message says why (skip.txt never lands: wait on its line);
    # without it, the same rejection leaves no line
    for name, extra in (("told", "logReject on\n"), ("silent", "")):
        dest = subscriber(feed, rabbitmq, tmp_path, name, extra + "reject .*skip.*\naccept .*")
        log = tmp_path / f"{name}.log"
        proc, out = run_component(sr_bin, sr_env, "subscribe", name, log)
        try:
            feed.post(files)
            if extra:
                assert wait_until(lambda: "rejected skip.txt: matched a reject line"
                                  in log.read_text(), TIMEOUT), log.read_text()
            # keep.txt was posted after skip.txt: once it is here, skip.txt was handled
            assert wait_until(lambda: (dest / "keep.txt").is_file(), TIMEOUT), log.read_text()
        finally:
            assert stop(proc, out) == 0
        assert not (dest / "skip.txt").exists()
        assert ("rejected skip.txt" in log.read_text()) == bool(extra), log.read_text()

    # logDuplicates: the second announcement of the same file says it was a duplicate
    dest = subscriber(feed, rabbitmq, tmp_path, "dups", "nodupe_ttl 300\nlogDuplicates on")
    log = tmp_path / "dups.log"
    proc, out = run_component(sr_bin, sr_env, "subscribe", "dups", log)
    try:
        feed.post({"twice.txt": b"twice\n"})
        assert wait_until(lambda: (dest / "twice.txt").is_file(), TIMEOUT), log.read_text()
        feed.post({"twice.txt": b"twice\n"})
        assert wait_until(lambda: "rejected twice.txt: duplicate" in log.read_text(),
                          TIMEOUT), log.read_text()
    finally:
        assert stop(proc, out) == 0


def test_message_debug_dump_logs_each_message_as_received(rabbitmq, sr_bin, sr_env, tmp_path):
    feed = Feed(rabbitmq, sr_bin, sr_env, tmp_path)
    files = {"dumped.txt": b"dumped\n"}
    text = run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "dump", "messageDebugDump on",
                            files)
    lines = [line for line in text.splitlines() if "raw message received:" in line]
    bodies = [json.loads(line.split(" bytes): ", 1)[1]) for line in lines
              if '"relPath"' in line]
    assert any(b["relPath"] == "dumped.txt" for b in bodies), text
    # without it, no such line
    text = run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "nodump", "",
                            {"plain.txt": b"plain\n"})
    assert "raw message" not in text, text


def test_log_metrics_keeps_a_history_of_the_metrics(rabbitmq, sr_bin, sr_env, tmp_path):
    feed = Feed(rabbitmq, sr_bin, sr_env, tmp_path)
    metrics = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "metrics"

    def history():
        # the dated files only: the metrics file's own .tmp comes and goes beside them
        return sorted(metrics.glob("subscribe_hist_00.json.[0-9]*"))

    def lines():
        return [line for h in history() for line in h.read_text().splitlines()]

    run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "hist", "logMetrics on",
                     {"m.txt": b"m\n"}, more=lambda _: len(lines()) >= 1)
    (path,) = history()
    assert re.fullmatch(r"subscribe_hist_00\.json\.\d{8}", path.name), path.name
    stamp, snapshot = lines()[0].split(" : ", 1)
    assert re.fullmatch(r'"\d{8}-\d{6}"', stamp)
    assert json.loads(snapshot.rstrip(","))["config"] == "hist"
    # without logMetrics: the metrics file only
    run_until_landed(feed, rabbitmq, sr_bin, tmp_path, "nohist", "", {"n.txt": b"n\n"})
    assert (metrics / "subscribe_nohist_00.json").is_file()
    assert not list(metrics.glob("subscribe_nohist_00.json.[0-9]*"))


def reads_of(pid):
    """read(2)-like calls the process has made (/proc/PID/io syscr)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/io has no syscr")


def test_buf_size_is_the_size_of_each_copy(rabbitmq, sr_bin, sr_env, tmp_path):
    feed = Feed(rabbitmq, sr_bin, sr_env, tmp_path)
    size = 4 << 20
    data = bytes(range(256)) * (size // 256)
    calls = {}
    for name, buf in (("small", "4096"), ("big", "1Mi")):
        dest = subscriber(feed, rabbitmq, tmp_path, name, f"bufSize {buf}")
        log = tmp_path / f"{name}.log"
        proc, out = run_component(sr_bin, sr_env, "subscribe", name, log)
        try:
            before = reads_of(proc.pid)
            feed.post({f"{name}.bin": data})
            assert wait_until(lambda: (dest / f"{name}.bin").is_file(), TIMEOUT), log.read_text()
            calls[name] = reads_of(proc.pid) - before
        finally:
            assert stop(proc, out) == 0
        assert snapshot_tree(dest)[f"{name}.bin"]
        assert (dest / f"{name}.bin").read_bytes() == data
    # 4 MiB in 4 KiB reads is at least 1024 reads; in 1 MiB reads, a handful
    assert calls["small"] >= size // 4096, calls
    assert calls["big"] < size // 4096 // 4, calls
