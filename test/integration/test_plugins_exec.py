# SPDX-License-Identifier: GPL-2.0-only
"""Exec plugins (`flowcb exec:COMMAND`, sr-plugin(7), lib/plugin_exec.h) in real components
against a real RabbitMQ: the same stories as the C plugins', told by Python co-processes
(test/integration/plugins/exec_*.py, standard library only), and what happens when a
co-process crashes, speaks garbage or hangs: it is restarted, and the messages it held
are retried, never lost, never acked before they are done or in the retry queue.

The helpers and the broker fixtures are test_plugins.py's.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers import Component, snapshot_tree, wait_until, write_config
from test_plugins import (PLUGIN_SRC, TIMEOUT, Consumer, bodies, declare, file_message,
                          find_number, publish, queue_empty, reject_and_rename_story,
                          state_lines, subscribe_config, tag, write_files)

PYTHON = "/usr/bin/python3"


def exec_line(script, *args):
    return f"flowcb exec:{PYTHON} {PLUGIN_SRC / script}" + "".join(f" {a}" for a in args)


def metrics_doc(env, component, config):
    """The newest metrics file of the config's instances, decoded, or None."""
    files = sorted((Path(env["XDG_CACHE_HOME"]) / "sr" / "metrics").glob(
        f"{component}_{config}_*.json"), key=lambda p: p.stat().st_mtime)
    for f in reversed(files):
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError):
            continue
    return None


def test_exec_after_accept_rejects_renames_after_work_and_metrics(rabbitmq, broker_tool, sr_bin,
                                                                 sr_env, tmp_path):
    """The pick story with a Python co-process (exec_pick.py): junk* rejected and acked,
    raw_X written and announced as cooked_X with the field the plugin set; after_work is
    told of each file done; the plugin's figures (picked 2, junked 2) are in the instance's
    metrics; what it writes to stderr is in the log under its name."""
    seen = {}

    def before_stop(sub):
        # metrics_writeInterval 1: the figures of the whole run are there within seconds
        assert wait_until(lambda: find_number(metrics_doc(sr_env, "subscribe", "pick") or {},
                                              "picked", 2), TIMEOUT), \
            metrics_doc(sr_env, "subscribe", "pick")
        seen["metrics"] = metrics_doc(sr_env, "subscribe", "pick")

    log = reject_and_rename_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path,
                                  exec_line("exec_pick.py"), "exec_pick",
                                  extra="metrics_writeInterval 1\n", before_stop=before_stop)
    assert find_number(seen["metrics"], "junked", 2), seen["metrics"]
    work = [l for l in state_lines(sr_env, "audit.log") if l.startswith("work ")]
    assert len(work) == 3 and all(l.startswith("work done ") for l in work), work
    assert "ERROR" not in log, log


def test_exec_gather_feeds_a_shovel(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    """A gather co-process (exec_gen.py, genCount 7: an option it declares in its
    handshake) feeding a shovel: the post exchange gets exactly its 7 messages."""
    ex, ex_out = f"xs_tfeed_eg{tag()}", f"xs_tfeed_ego{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    declare(broker_tool, rabbitmq.url("tfeed"), ex_out)
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    write_config(sr_env, "shovel", "egen", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        {exec_line("exec_gen.py")}
        genCount 7
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "egen", tmp_path / "egen.log")
    shovel.wait_for("made all 7 messages")
    got, err = consumer.until(lambda got: len(got) >= 7)
    assert wait_until(lambda: shovel.count("posted gen/") >= 7, TIMEOUT), shovel.text()
    assert shovel.stop() == 0, shovel.text()
    assert shovel.count("posted gen/") == 7, shovel.text()
    msgs = bodies(got)
    assert sorted(b["relPath"] for b in msgs) == [f"gen/item_{i:03d}" for i in range(7)], err
    for b in msgs:
        assert b["baseUrl"] == "https://gen.example.com/"
        assert b["gen_tag"] == "made by exec_gen" and b["size"] == 42
    line = next(l for l in shovel.text().splitlines() if "made all 7 messages" in l)
    assert "exec_gen" in line, line


# ---- co-processes that fail ----

def faulty_subscribe(rabbitmq, broker_tool, sr_env, tmp_path, mode, name, extra=""):
    """A subscribe of 12 files in batches of 5 through exec_faulty.py MODE; the files are
    announced once it runs (the caller starts it). (src, dest, queue, files, publish)."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    ex, queue = f"xs_tfeed_f{tag()}", f"q_tsub.plugins.{name}{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    subscribe_config(rabbitmq, sr_env, name, ex, dest, queue, exec_line("exec_faulty.py", mode),
                     extra="batch 5\n" + extra)
    names = [f"f/file_{i:02d}.txt" for i in range(12)]
    files = write_files(src, names)

    def announce():
        publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.f",
                [file_message(src, n) for n in names])
    return src, dest, queue, files, announce


def failed_pid(env):
    """The pid of the co-process that failed (exec_faulty's marker), or None."""
    found = list(Path(env["XDG_CACHE_HOME"]).rglob("faulty.failed"))
    if not found:
        return None
    text = found[0].read_text().split()
    return int(text[0]) if text else None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    st = Path(f"/proc/{pid}/stat")
    return st.exists() and st.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def assert_restart_logged(log):
    """An error line naming the plugin, and a line saying it is started again."""
    lines = [l for l in log.splitlines() if "exec_faulty" in l]
    assert any("ERROR" in l for l in lines), log
    assert any("restart" in l.lower() or "started again" in l.lower() for l in lines), log


def run_faulty_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, mode, extra=""):
    """The co-process fails once as MODE says, holding a batch: every file still lands,
    the queue empties, and the log names the plugin and its restart."""
    src, dest, queue, files, announce = faulty_subscribe(rabbitmq, broker_tool, sr_env,
                                                         tmp_path, mode, mode, extra)
    sub = Component(sr_bin, sr_env, "subscribe", mode, tmp_path / f"{mode}.log")
    sub.wait_ready()
    announce()
    read = lambda p: p.read_bytes()  # noqa: E731
    assert wait_until(lambda: snapshot_tree(dest, read=read) == files, TIMEOUT), \
        (sorted(snapshot_tree(dest)), sub.text())
    assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), sub.text()
    assert sub.stop() == 0, sub.text()
    pid = failed_pid(sr_env)
    assert pid is not None, "the plugin never failed: " + sub.text()
    assert not alive(pid), f"the failed co-process {pid} still runs"
    kept = {l.split(" ", 1)[1] for l in state_lines(sr_env, "faulty.log")}
    assert kept == set(files), kept
    assert_restart_logged(sub.text())
    return sub.text()


def test_exec_plugin_killed_mid_batch_loses_nothing(rabbitmq, broker_tool, sr_bin, sr_env,
                                                    tmp_path):
    """The co-process dies (SIGKILL) while it holds a batch of after_accept: it is
    restarted, the batch is retried, every file lands and the queue empties."""
    run_faulty_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, "crash")


@pytest.mark.parametrize("when", ["plugin-dead", "batch-sent-to-retry"])
def test_exec_plugin_killed_then_component_killed_loses_nothing(when, rabbitmq, broker_tool,
                                                                sr_bin, sr_env, tmp_path):
    """Worse: the co-process dies holding a batch and the component is killed -9 too,
    right after the plugin died (before the component noticed: the batch is still unacked
    on the broker) or right after it sent the batch to the retry queue (on disk). Nothing
    was acked before it was done or safe in the retry queue: once the config is run
    again, every file lands and the queue empties."""
    src, dest, queue, files, announce = faulty_subscribe(rabbitmq, broker_tool, sr_env,
                                                         tmp_path, "crash", "crash2")
    first = Component(sr_bin, sr_env, "subscribe", "crash2", tmp_path / "first.log")
    first.wait_ready()
    announce()
    if when == "plugin-dead":
        assert wait_until(lambda: failed_pid(sr_env) is not None, TIMEOUT, interval=0.01), \
            first.text()
    else:
        assert wait_until(lambda: "will retry" in first.text(), TIMEOUT, interval=0.01), \
            first.text()
    first.kill()
    # what the first one left (for the failure message)
    before = snapshot_tree(dest, read=None)
    second = Component(sr_bin, sr_env, "subscribe", "crash2", tmp_path / "second.log")
    read = lambda p: p.read_bytes()  # noqa: E731
    assert wait_until(lambda: snapshot_tree(dest, read=read) == files, TIMEOUT), \
        (sorted(before), sorted(snapshot_tree(dest)), first.text(), second.text())
    assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), second.text()
    assert second.stop() == 0, second.text()


def test_exec_plugin_garbage_mid_run_is_restarted(rabbitmq, broker_tool, sr_bin, sr_env,
                                                  tmp_path):
    """A co-process that answers a batch with a line that is not JSON is killed at once
    (not after pluginTimeout, 30 s by default) and restarted; the batch is retried."""
    start = time.monotonic()
    run_faulty_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, "garbage")
    assert time.monotonic() - start < 30, "the garbage was noticed only by pluginTimeout"


def test_exec_plugin_past_plugin_timeout_is_restarted(rabbitmq, broker_tool, sr_bin, sr_env,
                                                      tmp_path):
    """A co-process that hangs on a batch longer than pluginTimeout (2 s here) is killed
    and restarted; the batch is retried and every file lands."""
    log = run_faulty_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, "hang",
                           extra="pluginTimeout 2\n")
    assert any("exec_faulty" in l and ("timeout" in l.lower() or "2 s" in l or "2s" in l)
               for l in log.splitlines()), log


def test_exec_plugin_garbage_handshake_refused(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    """A co-process that answers the handshake with garbage: `sr_subscribe check` fails
    naming it, and the component does not start."""
    faulty_subscribe(rabbitmq, broker_tool, sr_env, tmp_path, "hello", "hello")
    r = subprocess.run([sr_bin("sr_subscribe"), "check", "hello"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "exec_faulty" in out, f"check: exit {r.returncode}\n{out}"
    r = subprocess.run([sr_bin("sr_subscribe"), "foreground", "hello"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "exec_faulty" in out, f"foreground: exit {r.returncode}\n{out}"
    assert not (tmp_path / "dest").exists()
