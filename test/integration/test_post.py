# SPDX-License-Identifier: GPL-2.0-only
"""sr_post against a real RabbitMQ: a tree posted once, read back by a plain consumer.

The consumer is test/tools/sr_broker_tool (the broker layer alone, no sr component), so
what is checked is what any subscriber of the pump would receive: one message per file,
its relPath, its sha512 identity as sr3 writes it, its size and its topic.
"""
import base64
import hashlib
import json
import random
import secrets
import subprocess
import textwrap
from pathlib import Path


TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


def make_tree(root, count, seed=42):
    """count files of random small sizes in nested folders; returns {relPath: bytes}."""
    rng = random.Random(seed)
    files = {}
    for i in range(count):
        depth = rng.randint(0, 3)
        folders = [f"d{rng.randint(0, 4)}" for _ in range(depth)]
        rel = "/".join(folders + [f"f{i:04d}.dat"])
        data = rng.randbytes(rng.randint(0, 3000))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = data
    return files


def consume_all(tool, url, exchange, key, expected, ready_file, timeout=TIMEOUT):
    """Start a consumer, wait until it is bound, then let the caller post; returns a
    function that collects up to `expected` messages."""
    queue = f"q_tfeed.sr_test.post.{secrets.token_hex(4)}"
    proc = subprocess.Popen([tool, "consume", url, "--queue", queue, "--bind",
                             f"{exchange}:{key}", "--max", str(expected), "--timeout",
                             str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # {"subscribed": true}
    assert "subscribed" in first, proc.stderr.read() if proc.poll() is not None else first

    def collect():
        out, err = proc.communicate(timeout=timeout + 30)
        return [json.loads(line) for line in out.splitlines() if line.strip()], err
    return collect


def test_post_a_tree(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    tree = tmp_path / "tree"
    files = make_tree(tree, 500)
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "post"
    config_dir.mkdir(parents=True)
    (config_dir / "tree.conf").write_text(textwrap.dedent(f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange xs_tfeed
        post_baseUrl sftp://tfeed@files.example.com
        post_baseDir {tree}
        """))
    # the exchange exists once sr_post has declared it; a first post of nothing would do,
    # but a subscriber normally binds to an exchange the pump already has: declare it
    declare = subprocess.run([broker_tool, "publish", rabbitmq.url("tfeed"), "xs_tfeed",
                              "v03.declare"], input="", capture_output=True, text=True,
                             timeout=TIMEOUT)
    assert declare.returncode == 0, declare.stderr
    collect = consume_all(broker_tool, rabbitmq.url("tsub"), "xs_tfeed", "v03.#", len(files),
                          None)

    posted = subprocess.run([sr_bin("sr_post"), "-c", "tree", str(tree)], env=sr_env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert posted.returncode == 0, posted.stderr
    messages, err = collect()
    assert len(messages) == len(files), err

    seen = {}
    for m in messages:
        assert m["content_type"] == "application/json"
        body = json.loads(m["body"])
        rel = body["relPath"]
        assert rel not in seen, f"{rel} posted twice"
        seen[rel] = body
        data = files[rel]
        assert body["baseUrl"] == "sftp://tfeed@files.example.com"
        assert body["size"] == len(data)
        assert body["identity"] == {
            "method": "sha512",
            "value": base64.b64encode(hashlib.sha512(data).digest()).decode()}
        folders = rel.split("/")[:-1]
        assert m["topic"] == ".".join(["v03", *folders])
        assert body["source"] == "tfeed"
        assert "T" in body["pubTime"] and "mtime" in body and "mode" in body
    assert set(seen) == set(files)
    # the log says what was posted, one line per file
    assert posted.stderr.count("posted ") == len(files)


def test_post_reports_what_it_could_not_post(rabbitmq, sr_bin, sr_env, tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "ok.txt").write_text("fine\n")
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "post"
    config_dir.mkdir(parents=True)
    (config_dir / "p.conf").write_text(
        f"post_broker {rabbitmq.url('tfeed')}\npost_exchange xs_tfeed\n"
        f"post_baseUrl file:/\npost_baseDir {tree}\n")
    result = subprocess.run([sr_bin("sr_post"), "-c", "p", str(tree / "ok.txt"),
                             str(tree / "missing.txt"), "/etc/hostname"],
                            env=sr_env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert f"{tree}/missing.txt" in result.stderr
    assert f"/etc/hostname is not under post_baseDir {tree}" in result.stderr
    assert "2 path(s) could not be posted" in result.stderr
    assert "posted ok.txt" in result.stderr


def test_trigger_runs_after_each_file(rabbitmq, sr_bin, sr_env, tmp_path):
    """trigger: the command runs once per posted file with the message in its environment
    (and the config's `declare env` variables); a failing one is logged (triggerFailure
    log) and the post still happens."""
    tree = tmp_path / "t"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("hello world\n")
    (tree / "b.txt").write_text("x")
    record = tmp_path / "record"
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "post"
    config_dir.mkdir(parents=True)
    (config_dir / "trig.conf").write_text(
        f"post_broker {rabbitmq.url('tfeed')}\npost_exchange xs_tfeed\n"
        f"post_baseUrl file:/\npost_baseDir {tree}\ndeclare env SITE=ops-3\n"
        f"trigger echo \"$SR_RELPATH|$SR_LOCALPATH|$SR_IDENTITY|$SR_SIZE|$SR_COMPONENT|$SITE\" "
        f">> {record}; test \"$SR_SIZE\" != 1\n")
    result = subprocess.run([sr_bin("sr_post"), "-c", "trig", str(tree)], env=sr_env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    lines = sorted(record.read_text().splitlines())
    digest = base64.b64encode(hashlib.sha512(b"hello world\n").digest()).decode()
    assert lines == sorted([
        f"b.txt|{tree}/b.txt|sha512,{base64.b64encode(hashlib.sha512(b'x').digest()).decode()}"
        "|1|post|ops-3",
        f"sub/a.txt|{tree}/sub/a.txt|sha512,{digest}|12|post|ops-3"])
    # b.txt's trigger exits 1: logged, and posted anyway
    assert 'b.txt: trigger "echo' in result.stderr and "exited with 1" in result.stderr
    assert "posted b.txt" in result.stderr and "posted sub/a.txt" in result.stderr
