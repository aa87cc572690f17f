# SPDX-License-Identifier: GPL-2.0-only
"""Exec plugins that move bytes (sr-plugin(7), EXEC PLUGINS: download and send), driven
through real components and a real RabbitMQ, with a Python co-process
(plugins/exec_xfer_fake.py, standard library only) for the made-up scheme fake://:

- download: a subscriber fetches fake://fakehost/... files through the plugin; they land
  whole with the announced sha512; a file whose plugin hands more bytes than announced is
  stopped, leaves nothing behind, and the plugin (killed, out of step) is started again
  for the next file;
- send: a sender with `sendTo fake://x` hands each file to the plugin, which stores what
  it is given in a folder the test reads; a file the plugin refuses is not stored, with
  the plugin's reason in the log.

The stories are test_plugin_transfer.py's, told by an exec plugin instead of a C one.
"""
import base64
import hashlib
import json
import secrets
import subprocess
import time
from pathlib import Path

from helpers import Component, wait_until, write_config
from polling import declare_exchange

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
PYTHON = "/usr/bin/python3"
PLUGIN = Path(__file__).resolve().parent / "plugins" / "exec_xfer_fake.py"
FLOWCB = f"flowcb exec:{PYTHON} {PLUGIN}"


def made_up(path, size):
    """The bytes exec_xfer_fake's download makes up for fake://HOST/PATH."""
    data, k = bytearray(), 0
    while len(data) < size:
        data += hashlib.sha256(f"{path}:{k}".encode()).digest()
        k += 1
    return bytes(data[:size])


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def now_v03():
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"


def publish(broker_tool, rabbitmq, exchange, messages):
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    r = subprocess.run([broker_tool, "publish", rabbitmq.url("tfeed"), exchange, "v03.x"],
                       input=lines, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and f"published {len(messages)}" in r.stdout, r.stdout + r.stderr


def fake_message(rel, size):
    return {"pubTime": now_v03(), "baseUrl": "fake://fakehost/", "relPath": rel, "size": size,
            "identity": {"method": "sha512", "value": sha512_b64(made_up("/" + rel, size))}}


def test_subscribe_downloads_through_an_exec_plugin(rabbitmq, broker_tool, sr_bin, sr_env,
                                                    tmp_path):
    """fake:// files land whole with the announced sha512 (one of several MiB, one empty);
    one whose plugin hands more bytes than announced is stopped, leaves nothing behind, and
    the next file comes through a plugin started again."""
    dest = tmp_path / "dest"
    ex = f"xs_tfeed_execdl{secrets.token_hex(2)}"
    write_config(sr_env, "subscribe", "execdl", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        {FLOWCB}
        """)
    sizes = {"a/b.txt": 5000, "a/empty.txt": 0, "a/c/big.bin": 3 * 1024 * 1024 + 17}
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    sub = Component(sr_bin, sr_env, "subscribe", "execdl", tmp_path / "sub.log")
    try:
        sub.wait_ready()
        publish(broker_tool, rabbitmq, ex,
                [fake_message(rel, size) for rel, size in sizes.items()] +
                [fake_message("a/greedy.txt", 100)])
        assert wait_until(lambda: all((dest / rel).exists() for rel in sizes), TIMEOUT), \
            sub.text()
        assert wait_until(lambda: "sent more than the 100 bytes announced" in sub.text(),
                          TIMEOUT), sub.text()
        # the plugin was killed, out of step: the next file starts it again
        publish(broker_tool, rabbitmq, ex, [fake_message("a/after.txt", 777)])
        assert wait_until(lambda: (dest / "a" / "after.txt").exists(), TIMEOUT), sub.text()
    finally:
        sub.stop()
    sizes["a/after.txt"] = 777
    for rel, size in sizes.items():
        data = (dest / rel).read_bytes()
        assert data == made_up("/" + rel, size), rel
        assert sha512_b64(data) == fake_message(rel, size)["identity"]["value"], rel
    # stopped at the announced size: nothing under the final name, no partial file
    assert sorted(p.name for p in (dest / "a").iterdir()) == \
        ["after.txt", "b.txt", "c", "empty.txt"]
    log = sub.text()
    assert sub.count("downloaded ") == len(sizes), log
    assert "killed, as it is out of step" in log, log
    assert "started again (process" in log, log
    assert "made up 3145745 bytes for fake://fakehost/a/c/big.bin" in log, log


def test_sender_sends_through_an_exec_plugin(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    """sendTo fake://x: each file goes to the plugin's send, which stores it; the remote
    holds the same bytes under the final names; a file the plugin refuses at once is not
    stored, and its reason is in the log."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    (src / "d").mkdir(parents=True)
    remote.mkdir()
    files = {"one.txt": b"one\n", "d/two.bin": bytes(range(256)) * 4000, "d/zero": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    (src / "refuse.txt").write_bytes(b"x" * 300000)
    ex = f"xs_tfeed_execsend{secrets.token_hex(2)}"
    write_config(sr_env, "sender", "execsend", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        baseDir {src}
        sendTo fake://x
        directory /out
        mirror on
        {FLOWCB}
        exec_xfer_root {remote}
        """)
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    sender = Component(sr_bin, sr_env, "sender", "execsend", tmp_path / "sender.log")
    try:
        sender.wait_ready()
        publish(broker_tool, rabbitmq, ex,
                [{"pubTime": now_v03(), "baseUrl": f"file:{src}", "relPath": rel,
                  "size": len(data)} for rel, data in files.items()] +
                [{"pubTime": now_v03(), "baseUrl": f"file:{src}", "relPath": "refuse.txt",
                  "size": 300000}])
        assert wait_until(lambda: sender.count("sent ") >= len(files), TIMEOUT), sender.text()
        sender.wait_for("send to /out/refuse.txt failed: the remote does not take "
                        "/out/refuse.txt")
    finally:
        sender.stop()
    got = {str(p.relative_to(remote / "out")): p.read_bytes()
           for p in (remote / "out").rglob("*") if p.is_file()}
    assert got == files
    log = sender.text()
    assert sender.count("stored ") == len(files), log
    assert "killed" not in log, log  # a refusal is the plugin's word: it stays in step
