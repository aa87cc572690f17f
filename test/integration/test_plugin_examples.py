# SPDX-License-Identifier: GPL-2.0-only
"""The plugin examples do what examples/plugins/README.rst says, through a real broker.

A user builds examples/plugins/rename_reject.c (make puts it in
build/examples/plugins/rename_reject.so), puts it, or rename_reject.py, in
~/.config/sr/plugins/, copies subscribe_c.conf or subscribe_exec.conf to
~/.config/sr/subscribe/ and edits the broker, the exchange and the directory. Then
`sr_subscribe check` says the configuration is OK, and files posted with sr_post land in
the directory renamed by the pattern (CYYZ_20240101.txt as 20240101_CYYZ.txt), the
others under their own names, and the .tmp ones not at all.
"""
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import Component, snapshot_tree, wait_until, write_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "plugins"
TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer

CONFIGS = ("subscribe_c", "subscribe_exec")

# name posted -> name it must land under (None: rejected, never written)
POSTED = {
    "CYYZ_20240101.txt": "20240101_CYYZ.txt",
    "WXYZ_20231231.txt": "20231231_WXYZ.txt",
    "cyyz_20240101.txt": "cyyz_20240101.txt",    # lower case: no match, name kept
    "CYYZ_2024.txt": "CYYZ_2024.txt",            # too few digits: name kept
    "CYYZ_20240101.txt.bak": "CYYZ_20240101.txt.bak",
    "notes.tmp": None,
    "CYYZ_20240102.txt.tmp": None,               # rejected before it could be renamed
    "readme.txt": "readme.txt",
}
# Posted last: once it is in, every message before it was decided (one instance takes
# the queue's messages in order).
FENCE = "zz_fence.txt"


def test_every_plugin_example_is_tested():
    """What examples/plugins/ holds is what these tests use, so none goes untested."""
    files = sorted(p.name for p in EXAMPLES.iterdir())
    assert files == sorted(["README.rst", "rename_reject.c", "rename_reject.py",
                            *(f"{c}.conf" for c in CONFIGS)])


@pytest.fixture
def plugin_home(sr_env, build_dir):
    """sr_env with the examples installed as the README says: both plugins in
    ~/.config/sr/plugins (mode 0755, not writable by others, as sr requires)."""
    so = build_dir / "examples" / "plugins" / "rename_reject.so"
    assert so.is_file(), f"{so}: not built (make {so.relative_to(build_dir.parent)})"
    plugins = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "plugins"
    plugins.mkdir(parents=True)
    plugins.chmod(0o755)
    for f in (so, EXAMPLES / "rename_reject.py"):
        shutil.copy(f, plugins / f.name)
        (plugins / f.name).chmod(0o755)
    return sr_env


def as_user_edits(text, broker, exchange, directory):
    """The example with the lines a user edits replaced: broker, exchange, directory; and
    allowFileUrl on, since the test posts file: URLs."""
    out = []
    for line in text.splitlines():
        word = line.split(" ", 1)[0]
        if word == "broker":
            line = f"broker {broker}"
        elif word == "exchange":
            line = f"exchange {exchange}"
        elif word == "directory":
            line = f"directory {directory}"
        out.append(line)
    out.append("allowFileUrl on")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("config", CONFIGS)
def test_example_renames_and_rejects(rabbitmq, broker_tool, sr_bin, plugin_home, tmp_path,
                                     config):
    """sr_post -> RabbitMQ -> sr_subscribe with the example plugin: products renamed by
    the pattern, others kept as they are, .tmp files never downloaded."""
    env = plugin_home
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    ex = f"xs_tfeed_plug{secrets.token_hex(2)}"
    write_config(env, "post", "src", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        """)
    text = (EXAMPLES / f"{config}.conf").read_text()
    write_config(env, "subscribe", config,
                 as_user_edits(text, rabbitmq.url("tsub"), ex, dest))

    # the example is accepted as it is, the plugin's own options with it
    r = subprocess.run([sr_bin("sr_subscribe"), "check", config], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stderr, r.stderr
    assert not re.search(r"\bwarning\b", r.stderr, re.I), r.stderr

    r = subprocess.run([broker_tool, "publish", rabbitmq.url("tfeed"), ex, "v03.declare"],
                       input="", capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    sub = Component(sr_bin, env, "subscribe", config, tmp_path / "sub.log").wait_ready()
    try:
        contents = {}
        for i, name in enumerate([*POSTED, FENCE]):
            contents[name] = f"{name} {i}\n"
            (src / name).write_text(contents[name])
        for names in (list(POSTED), [FENCE]):
            r = subprocess.run([sr_bin("sr_post"), "-c", "src", *[str(src / n) for n in names]],
                               env=env, capture_output=True, text=True, timeout=TIMEOUT)
            assert r.returncode == 0, r.stderr
        expected = {new: contents[old] for old, new in POSTED.items() if new is not None}
        expected[FENCE] = contents[FENCE]

        def landed():
            return snapshot_tree(dest, read=lambda p: p.read_text())
        assert wait_until(lambda: FENCE in landed(), TIMEOUT), sub.text()
        assert sub.proc.poll() is None, sub.text()
    finally:
        rc = sub.stop()
    log = sub.text()
    assert landed() == expected, log
    assert rc == 0, log
    # nothing of the rejected ones, not even a partial file
    assert not [p for p in dest.rglob("*") if p.name.startswith(("notes", "CYYZ_20240102"))]
    # the reason the plugin gave is in the log, with each rejected file
    for name in ("notes.tmp", "CYYZ_20240102.txt.tmp"):
        assert any(name in line and "a temporary file" in line for line in log.splitlines()), log
    assert "Traceback" not in log and "ERROR" not in log, log
