# SPDX-License-Identifier: GPL-2.0-only
"""sr_post -> RabbitMQ -> sr_subscribe / sr_sarra over file: URLs: files arrive whole,
identical, under their final names only, and a sarra re-announces them.
"""
import hashlib
import json
import os
import random
import secrets
import signal
import subprocess
import time
from pathlib import Path

from helpers import snapshot_tree, wait_until, write_config

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


def tree_of(root, count, seed):
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        rel = "/".join([f"d{rng.randint(0, 3)}"] * rng.randint(0, 2) + [f"f{i:03d}.bin"])
        data = rng.randbytes(rng.choice([0, 1, 100, 5000, 70000]))
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    return files


def run_component(sr_bin, env, component, name, log):
    """sr_<component> foreground, once it has logged "connected to" (written once its
    queue is declared and bound: what is announced from then on reaches it)."""
    out = open(log, "w")
    proc = subprocess.Popen([sr_bin(f"sr_{component}"), "foreground", name], env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT
    while "connected to" not in Path(log).read_text():
        assert proc.poll() is None and time.monotonic() < deadline, Path(log).read_text()
        time.sleep(0.1)
    return proc, out


def stop(proc, out):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    out.close()
    return rc


def test_post_then_subscribe_over_file_urls(rabbitmq, sr_bin, sr_env, tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    ex = f"xs_tfeed_s{secrets.token_hex(2)}"
    write_config(sr_env, "post", "src", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        """)
    write_config(sr_env, "subscribe", "copy", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        allowFileUrl on
        """)
    # the exchange exists before the subscriber binds: post one file first
    (src / "first.txt").write_text("first\n")
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", str(src / "first.txt")], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    sub, out = run_component(sr_bin, sr_env, "subscribe", "copy", tmp_path / "sub.log")
    files = tree_of(src, 60, seed=7)
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", *[str(src / f) for f in files]],
                       env=sr_env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    # the subscriber writes NAME.tmp and renames it while we look (snapshot_tree)
    assert wait_until(lambda: snapshot_tree(dest) == files, TIMEOUT), \
        (sorted(set(files) - set(snapshot_tree(dest)))[:5], Path(tmp_path / "sub.log").read_text())
    assert stop(sub, out) == 0
    assert not list(dest.rglob("*.tmp"))
    log = Path(tmp_path / "sub.log").read_text()
    assert log.count("downloaded ") == len(files), log


def test_sarra_reannounces_and_skips_what_it_has(rabbitmq, sr_bin, sr_env, tmp_path):
    src, pump = tmp_path / "src", tmp_path / "pump"
    src.mkdir()
    ex_in, ex_out = f"xs_tfeed_a{secrets.token_hex(2)}", f"xs_tfeed_ao{secrets.token_hex(2)}"
    write_config(sr_env, "post", "src", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_in}
        post_baseUrl file:{src}
        post_baseDir {src}
        """)
    write_config(sr_env, "sarra", "pump", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        subtopic #
        directory {pump}
        allowFileUrl on
        logReject on
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        post_baseUrl file:{pump}
        post_baseDir {pump}
        """)
    (src / "a.txt").write_text("hello world\n")
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", str(src / "a.txt")], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    tool = str(Path(os.environ.get("SR_BUILD", "build")) / "test" / "tools" / "sr_broker_tool")
    sarra, out = run_component(sr_bin, sr_env, "sarra", "pump", tmp_path / "sarra.log")
    consumer = subprocess.Popen(
        [tool, "consume", rabbitmq.url("tsub"), "--queue", f"q_tsub.t.{secrets.token_hex(3)}",
         "--bind", f"{ex_out}:v03.#", "--max", "1", "--timeout", str(TIMEOUT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "subscribed" in consumer.stdout.readline()
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", str(src / "a.txt")], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0
    stdout, _ = consumer.communicate(timeout=TIMEOUT + 30)
    announced = [json.loads(json.loads(l)["body"]) for l in stdout.splitlines() if l.strip()]
    assert len(announced) == 1
    assert announced[0]["baseUrl"] == f"file:{pump}"
    assert announced[0]["relPath"] == "a.txt"
    assert (pump / "a.txt").read_text() == "hello world\n"
    # the same file announced again: the sarra already has it and stays quiet (logReject
    # on: it says so, and that line is what we wait for)
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", str(src / "a.txt")], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    def skipped():
        return any(line.endswith(", not downloaded") and f"{pump}/a.txt: " in line
                   for line in Path(tmp_path / "sarra.log").read_text().splitlines())
    assert wait_until(skipped, TIMEOUT), Path(tmp_path / "sarra.log").read_text()
    assert stop(sarra, out) == 0
    log = Path(tmp_path / "sarra.log").read_text()
    assert log.count("downloaded ") == 1, log


def test_sender_pushes_posted_files(rabbitmq, sr_bin, sr_env, tmp_path):
    """post -> RabbitMQ -> sender over a file: destination (sftp is tested with the sftp
    backend): every file arrives identical under its final name, and the sender announces
    what it sent when it has a post_broker."""
    src, cluster = tmp_path / "hot", tmp_path / "cluster"
    src.mkdir()
    ex, ex_sent = f"xs_tfeed_h{secrets.token_hex(2)}", f"xs_tfeed_hs{secrets.token_hex(2)}"
    write_config(sr_env, "post", "hot", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        """)
    write_config(sr_env, "sender", "tocluster", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        baseDir {src}
        sendTo file:/
        directory {cluster}/incoming
        mirror on
        inflight .tmp
        permCopy off
        chmod 0640
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_sent}
        post_baseUrl sftp://cluster/
        post_baseDir {cluster}
        """)
    (src / "first").write_text("1\n")
    subprocess.run([sr_bin("sr_post"), "-c", "hot", str(src / "first")], env=sr_env,
                   capture_output=True, timeout=TIMEOUT)
    sender, out = run_component(sr_bin, sr_env, "sender", "tocluster", tmp_path / "sender.log")
    files = tree_of(src / "batch", 40, seed=11)
    files = {f"batch/{k}": v for k, v in files.items()}
    r = subprocess.run([sr_bin("sr_post"), "-c", "hot", str(src / "batch")], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    dest = cluster / "incoming"
    assert wait_until(lambda: snapshot_tree(dest) == files, TIMEOUT), \
        (sorted(set(files) - set(snapshot_tree(dest)))[:5],
         Path(tmp_path / "sender.log").read_text())
    assert stop(sender, out) == 0
    assert not list(dest.rglob("*.tmp"))
    for rel in files:
        assert (dest / rel).stat().st_mode & 0o777 == 0o640
    log = Path(tmp_path / "sender.log").read_text()
    assert log.count("sent ") == len(files)
    assert "posted incoming/batch/" in log  # announced relative to post_baseDir


def test_inline_content_in_each_encoding_is_written_byte_for_byte(rabbitmq, sr_bin, sr_env,
                                                                 build_dir, tmp_path):
    """A message carrying its file inline is written without a download, as the bytes the
    sender had: utf-8 text as is, base64 decoded, iso-8859-1 one byte per character (so
    "café" is 4 bytes, not UTF-8's 5); one that cannot be those bytes is dropped with a
    reason, and the subscriber goes on."""
    dest = tmp_path / "dest"
    ex = f"xs_tfeed_i{secrets.token_hex(2)}"
    write_config(sr_env, "subscribe", "inl", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        """)
    tool = str(build_dir / "test" / "tools" / "sr_broker_tool")
    # the exchange first, so the subscriber can bind
    r = subprocess.run([tool, "publish", rabbitmq.url("tfeed"), ex, "v03.x"], input="",
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    sub, out = run_component(sr_bin, sr_env, "subscribe", "inl", tmp_path / "sub.log")

    def msg(rel, encoding, value, size):
        return json.dumps({"pubTime": "20261125T000000", "baseUrl": "http://127.0.0.1:9/",
                           "relPath": rel, "size": size,
                           "content": {"encoding": encoding, "value": value}})
    lines = [msg("in/utf8.txt", "utf-8", "café\n", 6),
             msg("in/b64.bin", "base64", "AAEC/w==", 4),
             msg("in/latin1.txt", "iso-8859-1", "café\n", 5),
             msg("in/wide.txt", "iso-8859-1", "€\n", 2)]
    r = subprocess.run([tool, "publish", rabbitmq.url("tfeed"), ex, "v03.in"],
                       input="".join(line + "\n" for line in lines), capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    want = {"in/utf8.txt": "café\n".encode(), "in/b64.bin": b"\x00\x01\x02\xff",
            "in/latin1.txt": b"caf\xe9\n"}
    assert wait_until(lambda: all((dest / k).is_file() and (dest / k).read_bytes() == v
                                  for k, v in want.items()), TIMEOUT), Path(tmp_path / "sub.log").read_text()
    assert wait_until(lambda: "beyond U+00FF" in Path(tmp_path / "sub.log").read_text(), TIMEOUT)
    assert stop(sub, out) == 0
    assert not (dest / "in" / "wide.txt").exists()
