# SPDX-License-Identifier: GPL-2.0-only
"""The hooks of exec plugins (`flowcb exec:COMMAND`, sr-plugin(7), lib/plugin_exec.h) that
test_plugins_exec.py does not drive, each through a real component and a real RabbitMQ:

- on_start, on_housekeeping, on_stop in a shovel run by `sr start` and `sr stop`, and an
  on_start that answers an error, which keeps the component from running;
- after_post: told of each posted message once, once it is on the post exchange;
- poll: sr_poll announces what the co-process lists, each file once across its runs;
- destfn: a sender's `filename DESTFNSCRIPT=NAME` names the remote files through it.

The co-processes are the Python scripts plugins/exec_hook_*.py (standard library only,
speaking the protocol through plugins/srexec.py); each writes a line per call into a file
of its state folder, which the tests read as the plugin's author would. What a component
posts is read by a consumer of its post exchange (test/tools/sr_broker_tool).
"""
import json
import os
import subprocess
from pathlib import Path

from helpers import Component, run_sr, snapshot_tree, wait_until, write_config
from polling import Announced
from test_plugins import (PLUGIN_SRC, TIMEOUT, declare, instance_pids, now_stamp, publish,
                          queue_empty, state_lines, tag)

PYTHON = "/usr/bin/python3"


def exec_line(script):
    return f"flowcb exec:{PYTHON} {PLUGIN_SRC / script}"


def group_members(pgid):
    """pids of the live (not zombie) processes of process group pgid."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d.name))
    return out


def made_up(rel):
    """A v03 message for a file of a made-up server (a shovel does not fetch it)."""
    return json.dumps({"pubTime": now_stamp(), "baseUrl": "https://made.example.com/",
                       "relPath": rel, "size": 1})


# ---- on_start, on_housekeeping, on_stop ----

def shovel_config(rabbitmq, env, name, ex, extra):
    """A shovel from ex to ex_out, with the extra lines."""
    return write_config(env, "shovel", name, f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """ + extra)


def test_exec_lifecycle_under_sr_start_and_stop(rabbitmq, broker_tool, build_dir, sr_env):
    """An operator runs a shovel whose co-process (exec_hook_life.py) has on_start,
    on_housekeeping and on_stop, with `housekeeping 1`: after `sr start`, on_start comes
    first, then on_housekeeping every second; `sr stop` ends with on_stop, and once it
    returns neither the co-process nor what it started in its process group runs."""
    ex = f"xs_tfeed_xl{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    shovel_config(rabbitmq, sr_env, "elife", ex,
                  f"housekeeping 1\n{exec_line('exec_hook_life.py')}\n")
    lines = lambda: state_lines(sr_env, "hook_life.log")  # noqa: E731
    try:
        r = run_sr(build_dir, sr_env, "start", "shovel/elife", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert wait_until(lambda: lines().count("housekeeping") >= 2, TIMEOUT), \
            (lines(), r.stdout, r.stderr)
        assert instance_pids(sr_env), "the instance is not running"
        # what the co-process started runs in its group until the end
        pid, child = (int(w) for w in lines()[0].split()[1:3])
        assert child in group_members(pid), (lines(), group_members(pid))
    finally:
        stopped = run_sr(build_dir, sr_env, "stop", check=False)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    got = lines()
    assert got[0] == f"start {pid} {child}", got
    assert sum(l.startswith("start ") for l in got) == 1, got
    assert got.count("housekeeping") >= 2, got
    # nothing after on_stop, and on_stop went to the process on_start went to
    assert got[-1] == f"stop {pid}" and sum(l.startswith("stop") for l in got) == 1, got
    assert group_members(pid) == [], \
        f"left running in the co-process's group {pid} (its child {child}): {group_members(pid)}"
    assert not instance_pids(sr_env), instance_pids(sr_env)
    log = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "log" / "shovel_elife_01.log"
    assert "ERROR" not in log.read_text(), log.read_text()


def test_exec_on_start_error_keeps_the_component_from_running(rabbitmq, broker_tool, sr_bin,
                                                              sr_env):
    """A co-process whose on_start answers an error (`hookLife fail`): the shovel exits
    non-zero with an error naming the plugin and giving its reason, and the co-process
    does not outlive it."""
    ex = f"xs_tfeed_xf{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    shovel_config(rabbitmq, sr_env, "efail", ex,
                  f"{exec_line('exec_hook_life.py')}\nhookLife fail\n")
    r = subprocess.run([sr_bin("sr_shovel"), "foreground", "efail"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert any("exec_hook_life" in l and "hookLife fail: refusing to start" in l
               for l in out.splitlines()), out
    got = state_lines(sr_env, "hook_life.log")
    assert len(got) == 1 and got[0].startswith("refused "), got
    assert group_members(int(got[0].split()[1])) == [], got


# ---- after_post ----

def test_exec_after_post_sees_each_post_once_on_the_exchange(rabbitmq, broker_tool, sr_bin,
                                                             sr_env, tmp_path):
    """A shovel posting to an exchange with a co-process on after_post (exec_hook_post.py):
    it is told of each posted message exactly once, and each is already in the hands of a
    consumer of the post exchange while the plugin looks (sr waits for its answer); what
    a reject line keeps from being posted it never sees."""
    ex = f"xs_tfeed_xp{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    announced = Announced(broker_tool, rabbitmq, f"{ex}_out", tmp_path / "posted.jsonl")
    shovel_config(rabbitmq, sr_env, "epost", ex, f"""
        reject .*skip.*
        accept .*
        {exec_line('exec_hook_post.py')}
        hookSeen {announced.path}
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "epost", tmp_path / "epost.log")
    want = [f"p/item_{i}.txt" for i in range(6)]
    posts = lambda: state_lines(sr_env, "hook_post.log")  # noqa: E731
    try:
        shovel.wait_ready()
        publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.p",
                [made_up(r) for r in want[:3] + ["p/skip_a.txt"] + want[3:] +
                 ["p/skip_b.txt"]])
        assert wait_until(lambda: len(posts()) >= len(want), TIMEOUT), (posts(), shovel.text())
        assert wait_until(lambda: len(announced.messages()) >= len(want), TIMEOUT), \
            shovel.text()
    finally:
        status = shovel.stop()
        announced.stop()
    assert status == 0, shovel.text()
    assert sorted(posts()) == sorted(f"post {r} seen" for r in want), posts()
    assert sorted(m["relPath"] for m in announced.messages()) == sorted(want)
    assert "ERROR" not in shovel.text(), shovel.text()


# ---- poll ----

def test_exec_poll_hook_announces_each_file_once(rabbitmq, broker_tool, sr_bin, sr_env,
                                                 tmp_path):
    """sr_poll whose co-process (exec_hook_poll.py) lists a made-up server at each
    scheduled run (every second), a file more at each run up to 4: over five runs and
    more, a consumer of the poll's post exchange gets each file once, with the size the
    plugin gave, and never the one a reject line names."""
    ex = f"xs_tfeed_xq{tag()}"
    announced = Announced(broker_tool, rabbitmq, ex, tmp_path / "polled.jsonl")
    write_config(sr_env, "poll", "epoll", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl https://exec.example.com/
        pollUrl https://exec.example.com/
        scheduled_interval 1
        {exec_line('exec_hook_poll.py')}
        hookFiles 4
        reject .*skip.*
        accept .*
        """)
    poll = Component(sr_bin, sr_env, "poll", "epoll", tmp_path / "epoll.log")
    runs = lambda: state_lines(sr_env, "hook_poll.log")  # noqa: E731
    try:
        # the fifth run lists no new file: all four were there at the fourth
        assert wait_until(lambda: len(runs()) >= 6, TIMEOUT), (runs(), poll.text())
        assert wait_until(lambda: len(announced.messages()) >= 4, TIMEOUT), poll.text()
        assert wait_until(lambda: poll.count("poll by plugin done") >= 6, TIMEOUT), poll.text()
    finally:
        status = poll.stop()
        announced.stop()
    assert status == 0, poll.text()
    msgs = announced.messages()
    assert sorted(m["relPath"] for m in msgs) == [f"pollex/f{i:03d}.txt" for i in range(4)], \
        (msgs, runs())
    assert {m["relPath"]: m["size"] for m in msgs}["pollex/f003.txt"] == 103
    assert all(m["baseUrl"] == "https://exec.example.com/" for m in msgs), msgs
    assert "ERROR" not in poll.text(), poll.text()


# ---- destfn ----

def test_exec_destfn_names_the_files_a_sender_sends(rabbitmq, broker_tool, sr_bin, sr_env,
                                                    tmp_path):
    """A sender with `filename DESTFNSCRIPT=upper` and a co-process whose handshake name is
    hooks.Upper (exec_hook_upper.py) writes each file under the plugin's name for it
    (upper case), or its own when the plugin answers null; a file the plugin names with a
    '/' is not sent, with the reason in the log, and the others go on: the queue empties."""
    src, remote = tmp_path / "src", tmp_path / "remote"
    src.mkdir()
    names = ["alpha.txt", "beta.dat", "slash.txt", "same.txt", "gamma.txt"]
    for n in names:
        (src / n).write_bytes(n.encode())
    ex, queue = f"xs_tfeed_xd{tag()}", f"q_tsub.plugins.destfn{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    write_config(sr_env, "sender", "eupper", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        queueName {queue}
        baseDir {src}
        sendTo file:/
        directory {remote}
        {exec_line('exec_hook_upper.py')}
        filename DESTFNSCRIPT=upper
        """)
    sender = Component(sr_bin, sr_env, "sender", "eupper", tmp_path / "eupper.log")
    want = {"ALPHA.TXT": b"alpha.txt", "BETA.DAT": b"beta.dat", "same.txt": b"same.txt",
            "GAMMA.TXT": b"gamma.txt"}
    read = lambda p: p.read_bytes()  # noqa: E731
    try:
        sender.wait_ready()
        publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.d",
                [json.dumps({"pubTime": now_stamp(), "baseUrl": f"file:{src}", "relPath": n,
                             "size": len(n)}) for n in names])
        assert wait_until(lambda: snapshot_tree(remote, read=read) == want, TIMEOUT), \
            (snapshot_tree(remote, read=None), sender.text())
        assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), sender.text()
        assert wait_until(lambda: "slash.txt" in sender.text(), TIMEOUT), sender.text()
    finally:
        status = sender.stop()
    assert status == 0, sender.text()
    assert snapshot_tree(remote, read=read) == want
    assert not (remote / "sub").exists() and not os.path.exists(remote / "SLASH.TXT")
    refused = [l for l in sender.text().splitlines() if "slash.txt" in l]
    assert any("not one file name" in l and "Upper" in l for l in refused), sender.text()
    seen = state_lines(sr_env, "hook_upper.log")
    assert {l.split(" ", 1)[1] for l in seen} == set(names), seen
