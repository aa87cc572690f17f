# SPDX-License-Identifier: GPL-2.0-only
"""Partitioned files (blockSize: sr-config(5); the blocks field: sr-message(7)): sr_post
announces a large file as one message per block; two instances of one sr_subscribe share
the blocks, fetch each one's byte range from nginx (a Range request), and put the file
together under its temporary name: it appears under its final name whole, with the
source's checksum, and nothing temporary is left behind.
"""
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from helpers import wait_until, write_config

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
BIG = 5 * 1024 * 1024 + 1  # 5 MiB + 1 byte: six blocks of 1M (1,000,000 bytes)
BLOCK = 1000 * 1000


def sha512(path):
    return hashlib.sha512(Path(path).read_bytes()).hexdigest()


def post(sr_bin, env, config, *paths):
    r = subprocess.run([sr_bin("sr_post"), "-c", config, *map(str, paths)], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r


def start_instances(sr_bin, env, component, name, count):
    """Start instances 1..count and wait until each has logged "connected to" (written once
    its queue is declared and bound: what is announced from then on reaches it). A log is
    appended to across runs: only what this process wrote counts."""
    logs = Path(env["XDG_CACHE_HOME"]) / "sr" / "log"
    procs = []
    for n in range(1, count + 1):
        log = logs / f"{component}_{name}_{n:02d}.log"
        offset = len(log.read_text()) if log.exists() else 0
        procs.append(subprocess.Popen([sr_bin(f"sr_{component}"), "instance", str(n), name],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + TIMEOUT
        while not (log.exists() and "connected to" in log.read_text()[offset:]):
            assert procs[-1].poll() is None and time.monotonic() < deadline, \
                procs[-1].stderr.read()
            time.sleep(0.1)
    return procs, [logs / f"{component}_{name}_{n:02d}.log" for n in range(1, count + 1)]


def stop_all(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    return [p.wait(timeout=30) for p in procs]


def test_big_file_in_blocks_over_http_to_two_instances(rabbitmq, nginx, sr_bin, sr_env,
                                                       tmp_path):
    top = f"blk-{secrets.token_hex(3)}"
    src = nginx.root / top
    src.mkdir()
    dest = tmp_path / "dest"
    ex = f"xs_tfeed_b{secrets.token_hex(2)}"
    write_config(sr_env, "post", "blk", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl {nginx.url()}
        post_baseDir {nginx.root}
        blockSize 1M
        """)
    write_config(sr_env, "subscribe", "blk", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        instances 2
        batch 1
        prefetch 1
        """)
    # the exchange exists before the subscribers bind: post one small file first
    (src / "first.txt").write_text("first\n")
    post(sr_bin, sr_env, "blk", src / "first.txt")
    procs, logs = start_instances(sr_bin, sr_env, "subscribe", "blk", 2)
    try:
        big = src / "big.bin"
        with open(big, "wb") as f:
            f.write(os.urandom(BIG))
        (src / "small.txt").write_text("small and whole\n")
        post(sr_bin, sr_env, "blk", big, src / "small.txt")
        got_big, got_small = dest / top / "big.bin", dest / top / "small.txt"
        seen = []

        def arrived():
            # never under its final name until it is whole
            if got_big.exists():
                seen.append(got_big.stat().st_size)
            return got_big.exists() and got_small.exists()

        assert wait_until(arrived, TIMEOUT), "\n".join(l.read_text() for l in logs)
        assert all(s == BIG for s in seen), seen
        assert sha512(got_big) == sha512(big)
        assert got_small.read_text() == "small and whole\n"
    finally:
        codes = stop_all(procs)
    assert codes == [0, 0]
    text = [l.read_text() for l in logs]
    blocks = sum(t.count("downloaded block ") for t in text)
    assert blocks == 6, text
    assert sum(t.count(f"downloaded {got_big} (") for t in text) == 1, text
    # left behind: no temporary file, no record of the blocks
    assert sorted(p.name for p in (dest / top).iterdir()) == ["big.bin", "small.txt"]
    # each block was a Range request (206) on the file, not a whole download
    access = [l.split() for l in nginx.access_log.read_text().splitlines()
              if f"/{top}/big.bin" in l]
    assert len(access) == 6 and all(a[2] == "206" for a in access), access


def test_blocks_survive_a_restart_and_finish_the_file(rabbitmq, nginx, sr_bin, sr_env,
                                                       tmp_path):
    """The record of which blocks are in lives beside the temporary file: a subscriber
    stopped after some blocks picks up the rest from its queue after a restart and
    finishes the file; a block already in is not fetched again."""
    top = f"blr-{secrets.token_hex(3)}"
    src = nginx.root / top
    src.mkdir()
    dest = tmp_path / "dest"
    ex = f"xs_tfeed_r{secrets.token_hex(2)}"
    write_config(sr_env, "post", "blr", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl {nginx.url()}
        post_baseDir {nginx.root}
        blockSize 1M
        """)
    write_config(sr_env, "subscribe", "blr", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        batch 1
        prefetch 1
        byteRateMax 2000000
        logReject on
        """)
    (src / "first.txt").write_text("first\n")
    post(sr_bin, sr_env, "blr", src / "first.txt")
    procs, logs = start_instances(sr_bin, sr_env, "subscribe", "blr", 1)
    big = src / "big.bin"
    with open(big, "wb") as f:
        f.write(os.urandom(BIG))
    # the first blocks go through the subscriber, then it stops
    post(sr_bin, sr_env, "blr", big)
    assert wait_until(lambda: logs[0].read_text().count("downloaded block ") >= 2, TIMEOUT), \
        logs[0].read_text()
    assert stop_all(procs) == [0]
    done_before = logs[0].read_text().count("downloaded block ")
    got_big = dest / top / "big.bin"
    if done_before < 6:
        assert not got_big.exists()
        assert (dest / top / "big.bin.sr-partial.blocks").exists()
    # a block recorded but spoiled in the temporary file (as a late block of an older
    # version would): found when the file is put together, and fetched again
    with open(dest / top / "big.bin.sr-partial", "r+b") as f:
        f.write(b"\0" * 1000)
    procs, logs = start_instances(sr_bin, sr_env, "subscribe", "blr", 1)
    try:
        assert wait_until(got_big.exists, TIMEOUT), logs[0].read_text()
        assert sha512(got_big) == sha512(big)
        # the same blocks announced again: the file there is this version, not newer
        # (logReject on: each block skipped is a line)
        offset = len(logs[0].read_text())
        post(sr_bin, sr_env, "blr", big)
        assert wait_until(lambda: logs[0].read_text()[offset:].count(", not downloaded")
                          >= 6, TIMEOUT), logs[0].read_text()[offset:]
    finally:
        assert stop_all(procs) == [0]
    # every block fetched once, and the spoiled one again: none fetched again after the
    # restart, nor when announced again
    access = [l for l in nginx.access_log.read_text().splitlines() if f"/{top}/big.bin" in l]
    assert len(access) == 7, access
    assert "block 1/6: not what the manifest says" in logs[0].read_text()
    assert sorted(p.name for p in (dest / top).iterdir()) == ["big.bin"]


def test_block_messages_are_sr3s(rabbitmq, nginx, sr_bin, sr_env, tmp_path):
    """What sr_post puts on the wire for a file in blocks, as sr3 writes it: one message
    per block, blocks.{method, size, number, manifest}, size and identity of the block."""
    tool = str(Path(os.environ.get("SR_BUILD", "build")) / "test" / "tools" / "sr_broker_tool")
    src = tmp_path / "src"
    src.mkdir()
    ex = f"xs_tfeed_m{secrets.token_hex(2)}"
    write_config(sr_env, "post", "blm", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        blockSize 1M
        """)
    (src / "first").write_text("1\n")
    post(sr_bin, sr_env, "blm", src / "first")
    consumer = subprocess.Popen(
        [tool, "consume", rabbitmq.url("tsub"), "--queue", f"q_tsub.b.{secrets.token_hex(3)}",
         "--bind", f"{ex}:v03.#", "--max", "6", "--timeout", str(TIMEOUT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "subscribed" in consumer.stdout.readline()
    data = os.urandom(BIG)
    (src / "big.bin").write_bytes(data)
    post(sr_bin, sr_env, "blm", src / "big.bin")
    stdout, _ = consumer.communicate(timeout=TIMEOUT + 30)
    msgs = [json.loads(json.loads(l)["body"]) for l in stdout.splitlines() if l.strip()]
    assert len(msgs) == 6
    import base64
    for i, m in enumerate(sorted(msgs, key=lambda m: m["blocks"]["number"])):
        b = m["blocks"]
        assert b["method"] == "inplace" and b["size"] == BLOCK and b["number"] == i
        assert sorted(b["manifest"]) == [str(n) for n in range(6)]
        chunk = data[i * BLOCK:(i + 1) * BLOCK]
        assert m["size"] == len(chunk)
        want = base64.b64encode(hashlib.sha512(chunk).digest()).decode()
        assert m["identity"] == {"method": "sha512", "value": want}
        assert b["manifest"][str(i)] == {"size": len(chunk), "identity": want}


def test_sender_puts_blocks_over_sftp_with_two_instances(rabbitmq, sshd, sr_bin, sr_env,
                                                          tmp_path):
    """sr_post in blocks -> two sr_sender instances -> sftp: each block is written at its
    offset into the remote temporary name (opened without truncation), the file renamed
    once every block is there, with the source's checksum and nothing temporary left."""
    from fixtures_ssh import SshHome
    home = SshHome(sr_env["HOME"], sshd)
    sr_env.pop("SSH_AUTH_SOCK", None)
    src = tmp_path / "hot"
    src.mkdir()
    remote = sshd.root / f"blk_{secrets.token_hex(4)}"
    remote.mkdir()
    ex = f"xs_tfeed_bs{secrets.token_hex(2)}"
    write_config(sr_env, "post", "bls", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl sftp://hotsource
        post_baseDir {src}
        blockSize 1M
        """)
    write_config(sr_env, "sender", "bls", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        instances 2
        batch 1
        prefetch 1
        baseDir {src}
        sendTo {home.alias_url}
        directory {remote.name}
        mirror on
        inflight .tmp
        """)
    (src / "first.txt").write_text("first\n")
    post(sr_bin, sr_env, "bls", src / "first.txt")
    procs, logs = start_instances(sr_bin, sr_env, "sender", "bls", 2)
    try:
        big = src / "big.bin"
        with open(big, "wb") as f:
            f.write(os.urandom(BIG))
        (src / "small.txt").write_text("small and whole\n")
        post(sr_bin, sr_env, "bls", big, src / "small.txt")
        got_big, got_small = remote / "big.bin", remote / "small.txt"
        seen = []

        def arrived():
            if got_big.exists():
                seen.append(got_big.stat().st_size)
            return got_big.exists() and got_small.exists()

        assert wait_until(arrived, TIMEOUT), "\n".join(l.read_text() for l in logs)
        assert all(s == BIG for s in seen), seen
        assert sha512(got_big) == sha512(big)
        assert got_small.read_text() == "small and whole\n"
    finally:
        codes = stop_all(procs)
    assert codes == [0, 0]
    text = [l.read_text() for l in logs]
    assert sum(t.count("sent block ") for t in text) == 6, text
    assert sum(t.count(f"sent {big} to ") for t in text) == 1, text
    assert sorted(p.name for p in remote.iterdir()) == ["big.bin", "small.txt"]
    # the record of the blocks sent is gone with its lock
    assert not list((Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "sender" / "bls" / "blocks").iterdir())


def test_sarra_announces_the_whole_file_once(rabbitmq, nginx, sr_bin, sr_env, tmp_path):
    """A sarra receiving a file in blocks announces it once, whole, when the last block is
    in: no blocks field, the whole size and the sha512 it computed (a block announced
    before the file is complete would send its subscribers to a name not there yet)."""
    import base64
    tool = str(Path(os.environ.get("SR_BUILD", "build")) / "test" / "tools" / "sr_broker_tool")
    top = f"bla-{secrets.token_hex(3)}"
    src = nginx.root / top
    src.mkdir()
    pump = tmp_path / "pump"
    ex_in, ex_out = f"xs_tfeed_ba{secrets.token_hex(2)}", f"xs_tfeed_bo{secrets.token_hex(2)}"
    write_config(sr_env, "post", "bla", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_in}
        post_baseUrl {nginx.url()}
        post_baseDir {nginx.root}
        blockSize 1M
        """)
    write_config(sr_env, "sarra", "bla", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        directory {pump}
        mirror on
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        post_baseUrl http://pump.example.com/
        post_baseDir {pump}
        """)
    (src / "first.txt").write_text("first\n")
    post(sr_bin, sr_env, "bla", src / "first.txt")
    procs, logs = start_instances(sr_bin, sr_env, "sarra", "bla", 1)
    queue = f"q_tsub.a.{secrets.token_hex(3)}"

    def consume(*options):
        return subprocess.Popen([tool, "consume", rabbitmq.url("tsub"), "--queue", queue,
                                 "--bind", f"{ex_out}:v03.#", *options],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    consumer = consume("--max", "1", "--timeout", str(TIMEOUT))
    try:
        assert "subscribed" in consumer.stdout.readline()
        data = os.urandom(BIG)
        (src / "big.bin").write_bytes(data)
        post(sr_bin, sr_env, "bla", src / "big.bin")
        first, _ = consumer.communicate(timeout=TIMEOUT + 30)
        # every block handled: whatever the sarra announces for them is published by the
        # time it has stopped
        assert wait_until(lambda: logs[0].read_text().count("downloaded block ") >= 6,
                          TIMEOUT), logs[0].read_text()
    finally:
        assert stop_all(procs) == [0]
    # what else it announced waits in the queue: a second reader of it gets it at once
    rest, _ = consume("--timeout", "5").communicate(timeout=TIMEOUT)
    lines = [json.loads(l) for l in (first + rest).splitlines() if l.strip()]
    msgs = [json.loads(l["body"]) for l in lines if "body" in l]
    assert len(msgs) == 1, msgs
    m = msgs[0]
    assert "blocks" not in m
    assert m["relPath"] == f"{top}/big.bin" and m["size"] == BIG
    want = base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert m["identity"] == {"method": "sha512", "value": want}
    assert (pump / top / "big.bin").read_bytes() == data
