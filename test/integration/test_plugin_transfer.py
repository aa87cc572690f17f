# SPDX-License-Identifier: GPL-2.0-only
"""The plugin hooks that work outside the flow's loop (sr-plugin(7)), each driven through a
real component and a real RabbitMQ:

- download: a subscriber fetches fake://fakehost/... files through a C plugin that makes
  their bytes up; they land whole, with the announced checksum, and a plugin handing more
  bytes than announced is stopped (nothing is left under any name);
- send: a sender with `sendTo fake://x` hands each file to a C plugin that stores what it
  is given in a folder the test reads;
- destfn: a sender's `filename DESTFNSCRIPT=upper` names the remote files through a C
  plugin; a name that is not one file name is refused;
- poll: sr_poll announces what a C plugin's poll hook lists, on its schedule, filtered by
  the accept/reject lines, fileAgeMax and its memory (announced once);
- a DESTFNSCRIPT= that no loaded plugin answers stops the config at start, `show` still
  works.

The plugins are the C sources in plugins/xfer_*.c, compiled by the test with gcc into
~/.config/sr/plugins, where `flowcb NAME` finds them.
"""
import base64
import hashlib
import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from helpers import Component, wait_until, write_config
from polling import Announced, declare_exchange

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
REPO = Path(__file__).resolve().parents[2]
PLUGINS = Path(__file__).resolve().parent / "plugins"


def made_up(size):
    """The bytes xfer_fake's download makes up for a file of size bytes."""
    return bytes(((i * 31 + 7) & 0xFF) for i in range(size))


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def plugins(sr_env):
    """~/.config/sr/plugins/NAME.so for each test plugin (xfer_fake, upper, xfer_poll)."""
    folder = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for source, name in (("xfer_fake.c", "xfer_fake"), ("xfer_upper.c", "upper"),
                         ("xfer_poll.c", "xfer_poll")):
        out = folder / f"{name}.so"
        subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                        f"-I{REPO / 'include'}", "-o", str(out), str(PLUGINS / source)],
                       check=True)
        out.chmod(0o755)
    return folder


def publish(broker_tool, rabbitmq, exchange, messages):
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    r = subprocess.run([broker_tool, "publish", rabbitmq.url("tfeed"), exchange, "v03.x"],
                       input=lines, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and f"published {len(messages)}" in r.stdout, r.stdout + r.stderr


def now_v03():
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"


def test_subscribe_downloads_a_made_up_scheme_through_a_plugin(
        rabbitmq, broker_tool, sr_bin, sr_env, plugins, tmp_path):
    """fake:// files land whole with the announced sha512; one whose plugin hands more
    bytes than announced is stopped and leaves nothing behind."""
    dest = tmp_path / "dest"
    ex = f"xs_tfeed_xferdl{secrets.token_hex(2)}"
    write_config(sr_env, "subscribe", "fakedl", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        flowcb xfer_fake
        """)
    sizes = {"a/b.txt": 5000, "a/empty.txt": 0, "a/c/big.bin": 300001}
    msgs = [{"pubTime": now_v03(), "baseUrl": "fake://fakehost/", "relPath": rel,
             "size": size, "identity": {"method": "sha512", "value": sha512_b64(made_up(size))}}
            for rel, size in sizes.items()]
    msgs.append({"pubTime": now_v03(), "baseUrl": "fake://fakehost/", "relPath": "a/greedy.txt",
                 "size": 100, "identity": {"method": "sha512",
                                            "value": sha512_b64(made_up(100))}})
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    sub = Component(sr_bin, sr_env, "subscribe", "fakedl", tmp_path / "sub.log")
    try:
        sub.wait_ready()
        publish(broker_tool, rabbitmq, ex, msgs)
        assert wait_until(lambda: all((dest / rel).exists() for rel in sizes), TIMEOUT), \
            sub.text()
        sub.wait_for("greedy.txt")
        assert wait_until(lambda: "sent more than the 100 bytes announced" in sub.text(),
                          TIMEOUT), sub.text()
    finally:
        sub.stop()
    for rel, size in sizes.items():
        data = (dest / rel).read_bytes()
        assert data == made_up(size), rel
        assert sha512_b64(data) == msgs[list(sizes).index(rel)]["identity"]["value"]
    # stopped at the announced size: nothing under the final name, no partial file
    assert sorted(p.name for p in (dest / "a").iterdir()) == ["b.txt", "c", "empty.txt"]
    assert sub.count("downloaded ") == len(sizes)


def test_sender_sends_to_a_made_up_scheme_through_a_plugin(
        rabbitmq, broker_tool, sr_bin, sr_env, plugins, tmp_path):
    """sendTo fake://x: each file goes to the plugin's send, which stores it; the remote
    holds the same bytes under the final names only (no inflight name: the plugin's write
    is atomic, and it cannot rename); a removal it cannot do is refused with the reason."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    (src / "d").mkdir(parents=True)
    remote.mkdir()
    files = {"one.txt": b"one\n", "d/two.bin": bytes(range(256)) * 400, "d/zero": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    ex = f"xs_tfeed_xfersend{secrets.token_hex(2)}"
    write_config(sr_env, "sender", "fakesend", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        baseDir {src}
        sendTo fake://x
        directory /out
        mirror on
        inflight .tmp
        flowcb xfer_fake
        xfer_fake_root {remote}
        """)
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    sender = Component(sr_bin, sr_env, "sender", "fakesend", tmp_path / "sender.log")
    try:
        sender.wait_ready()
        publish(broker_tool, rabbitmq, ex,
                [{"pubTime": now_v03(), "baseUrl": f"file:{src}", "relPath": rel,
                  "size": len(data)} for rel, data in files.items()] +
                [{"pubTime": now_v03(), "baseUrl": f"file:{src}", "relPath": "gone.txt",
                  "fileOp": {"remove": ""}}])
        assert wait_until(lambda: sender.count("sent ") >= len(files), TIMEOUT), sender.text()
        # a removal the plugin has no hook for: refused, naming the plugin and what
        sender.wait_for("plugin xfer_fake transfers scheme fake by download and send only: "
                        "it cannot remove")
    finally:
        sender.stop()
    got = {str(p.relative_to(remote / "out")): p.read_bytes()
           for p in (remote / "out").rglob("*") if p.is_file()}
    assert got == files
    assert sender.count("stored ") == len(files)


def test_sender_names_remote_files_with_a_destfn_plugin(
        rabbitmq, broker_tool, sr_bin, sr_env, plugins, tmp_path):
    """filename DESTFNSCRIPT=upper: the remote names are the plugin's (upper case); a name
    the plugin makes ".." is refused, and a plugin failing keeps the file from being
    sent, each with its reason in the log."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    src.mkdir()
    remote.mkdir()
    names = ["alpha.txt", "beta.dat", "climb.txt", "refuse.txt"]
    for n in names:
        (src / n).write_bytes(n.encode())
    ex = f"xs_tfeed_xferfn{secrets.token_hex(2)}"
    write_config(sr_env, "sender", "upper", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        baseDir {src}
        sendTo fake://x
        directory /out
        flowcb upper
        flowcb xfer_fake
        xfer_fake_root {remote}
        filename DESTFNSCRIPT=upper
        """)
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    sender = Component(sr_bin, sr_env, "sender", "upper", tmp_path / "sender.log")
    try:
        sender.wait_ready()
        publish(broker_tool, rabbitmq, ex,
                [{"pubTime": now_v03(), "baseUrl": f"file:{src}", "relPath": n,
                  "size": len(n)} for n in names])
        assert wait_until(lambda: sender.count("sent ") >= 2 and "climb.txt" in sender.text()
                          and "refuse.txt" in sender.text(), TIMEOUT), sender.text()
    finally:
        sender.stop()
    assert sorted(p.name for p in (remote / "out").iterdir()) == ["ALPHA.TXT", "BETA.DAT"]
    assert (remote / "out" / "ALPHA.TXT").read_bytes() == b"alpha.txt"
    log = sender.text()
    assert "not one file name" in log, log
    assert "destfn failed" in log, log


def test_poll_announces_what_a_poll_plugin_lists(
        rabbitmq, broker_tool, sr_bin, sr_env, plugins, tmp_path):
    """A poll whose plugin lists 6 made-up files at every run (every 2 s): announced once
    each, less the one a reject line names and the one older than fileAgeMax."""
    ex = f"xs_tfeed_xferpoll{secrets.token_hex(2)}"
    announced = Announced(broker_tool, rabbitmq, ex, tmp_path / "polled.jsonl")
    write_config(sr_env, "poll", "fakepoll", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl fake://fakehost/
        pollUrl fake://fakehost/
        scheduled_interval 2
        flowcb xfer_poll
        xfer_poll_count 5
        reject .*f003.*
        accept .*
        """)
    poll = Component(sr_bin, sr_env, "poll", "fakepoll", tmp_path / "poll.log")
    try:
        assert wait_until(lambda: poll.count("poll by plugin done") >= 3, TIMEOUT), poll.text()
        assert wait_until(lambda: len(announced.messages()) >= 4, TIMEOUT), poll.text()
    finally:
        poll.stop()
        announced.stop()
    rels = sorted(m["relPath"] for m in announced.messages())
    assert rels == ["poll/f000.txt", "poll/f001.txt", "poll/f002.txt", "poll/f004.txt"], rels
    sizes = {m["relPath"]: m["size"] for m in announced.messages()}
    assert sizes["poll/f004.txt"] == 104
    assert all(m["baseUrl"] == "fake://fakehost/" for m in announced.messages())


def test_destfnscript_without_its_plugin_does_not_start(sr_bin, sr_env, plugins, tmp_path):
    """DESTFNSCRIPT=nosuch with no plugin of that name: the sender refuses to start, naming
    it; `show` still prints the config."""
    src = tmp_path / "src"
    src.mkdir()
    write_config(sr_env, "sender", "nofn", f"""
        broker amqp://tsub:x@127.0.0.1:1/
        exchange xs_nowhere
        baseDir {src}
        sendTo fake://x
        flowcb xfer_fake
        filename DESTFNSCRIPT=nosuch
        """)
    r = subprocess.run([sr_bin("sr_sender"), "foreground", "nofn"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "no sr plugin named nosuch with destfn" in r.stdout + r.stderr, r.stdout + r.stderr
    r = subprocess.run([sr_bin("sr_sender"), "show", "nofn"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and "DESTFNSCRIPT=nosuch" in r.stdout, r.stdout + r.stderr
