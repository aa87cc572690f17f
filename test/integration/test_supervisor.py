# SPDX-License-Identifier: GPL-2.0-only
"""The sr supervisor: start, stop, sanity, run and vip, with real instance processes.

An operator's view: the configs in ~/.config/sr, the pid files in ~/.cache/sr, the
processes the kernel lists (/proc), what `sr status --json` counts. The configs are shovels
whose broker is down (a closed port): they run, retry their connection and write their
metrics like any instance, so no broker is needed and `sr status` is seen answering with
brokers down.
"""
import json
import os
import random
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from helpers import write_config

DOWN = "amqp://u:p@127.0.0.1:1/"  # nothing listens on port 1: the broker is down


def shovel(env, name, instances=1, extra=""):
    return write_config(env, "shovel", name, f"""
        broker {DOWN}
        exchange xs_in
        subtopic #
        post_broker {DOWN}
        post_exchange xs_out
        instances {instances}
        housekeeping 2
        """ + textwrap.dedent(extra))


def state(env):
    return Path(env["XDG_CACHE_HOME"]) / "sr"


def sr(sr_bin, env, *args, check=None, timeout=120):
    r = subprocess.run([sr_bin("sr"), *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    if check is not None:
        assert r.returncode == check, f"sr {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def pid_files(env):
    """{"shovel/b/i002.pid": pid} for every pid file under the state folder; one removed
    between the listing and the reading (an instance stopping) is left out."""
    out = {}
    for p in state(env).glob("*/*/i*.pid"):
        try:
            out[str(p.relative_to(state(env)))] = int(p.read_text())
        except FileNotFoundError:
            continue
    return out


def instance_processes(env):
    """{pid: "shovel instance 2 b"} for the live sr_* instance processes of this test's
    HOME (other tests run instances too: told apart by their environment)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            words = (d / "cmdline").read_bytes().split(b"\0")[:-1]
            environ = (d / "environ").read_bytes().split(b"\0")
            st = (d / "stat").read_text()
        except OSError:
            continue
        if st.rsplit(")", 1)[1].split()[0] == "Z" or not words:
            continue
        if f"HOME={env['HOME']}".encode() not in environ:
            continue
        name = os.path.basename(words[0].decode())
        if name.startswith("sr_") and b"instance" in words:
            out[int(d.name)] = " ".join([name[3:]] + [w.decode() for w in words[-3:]])
    return out


def wait_until(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status(sr_bin, env, *patterns):
    r = sr(sr_bin, env, "status", "--json", *patterns)
    doc = json.loads(r.stdout)
    return {c["config"]: c for c in doc["configs"]}, doc["totals"]


@pytest.fixture
def env(sr_env, sr_bin):
    """sr_env, and whatever a test started is stopped at the end, pass or fail."""
    yield sr_env
    subprocess.run([sr_bin("sr"), "stop", "--wait", "2"], env=sr_env, capture_output=True,
                   timeout=30)
    for pid in instance_processes(sr_env):
        os.kill(pid, signal.SIGKILL)


def test_three_configs_start_sanity_disable_stop(sr_bin, env):
    """Configs with 1, 2 and 3 instances: all start; starting again doubles nothing; a
    killed instance is restarted by sanity; a disabled config's instances are stopped by
    sanity; stop leaves no process and no pid file."""
    for name, n in (("a", 1), ("b", 2), ("c", 3)):
        shovel(env, name, n)
    r = sr(sr_bin, env, "start", check=0)
    assert "shovel/c: started 3 instance(s)" in r.stdout, r.stdout
    pids = pid_files(env)
    assert sorted(pids) == ["shovel/a/i001.pid", "shovel/b/i001.pid", "shovel/b/i002.pid",
                            "shovel/c/i001.pid", "shovel/c/i002.pid", "shovel/c/i003.pid"]
    procs = instance_processes(env)
    assert {procs.get(pid) for pid in pids.values()} == {
        "shovel instance 1 a", "shovel instance 1 b", "shovel instance 2 b",
        "shovel instance 1 c", "shovel instance 2 c", "shovel instance 3 c"}
    assert len(procs) == 6

    configs, totals = status(sr_bin, env)
    assert [(c["running"], c["expected"], c["state"]) for c in configs.values()] == \
        [(1, 1, "run"), (2, 2, "run"), (3, 3, "run")]
    assert totals["processes"] == 6 and totals["missing"] == 0

    # start twice: nothing more runs
    r = sr(sr_bin, env, "start", check=0)
    assert "shovel/b: already running (2/2 instances)" in r.stdout
    assert pid_files(env) == pids and len(instance_processes(env)) == 6

    # kill -9 one instance: status says partial, sanity restarts exactly that one
    victim = pids["shovel/c/i002.pid"]
    os.kill(victim, signal.SIGKILL)
    wait_until("the kill", lambda: victim not in instance_processes(env))
    configs, _ = status(sr_bin, env, "shovel/c")
    assert (configs["shovel/c"]["running"], configs["shovel/c"]["state"]) == (2, "part")
    r = sr(sr_bin, env, "sanity", check=0)
    assert f"shovel/c: restarting missing instance 2 (pid {victim} is gone)" in r.stdout
    assert "no stray processes found" in r.stdout and "no hung processes found" in r.stdout
    after = pid_files(env)
    assert after["shovel/c/i002.pid"] != victim
    assert instance_processes(env)[after["shovel/c/i002.pid"]] == "shovel instance 2 c"
    assert {k: v for k, v in after.items() if k != "shovel/c/i002.pid"} == \
        {k: v for k, v in pids.items() if k != "shovel/c/i002.pid"}
    r = sr(sr_bin, env, "sanity", check=0)
    assert "no missing processes found" in r.stdout

    # a disabled config: sanity stops its instances, start leaves it stopped
    sr(sr_bin, env, "disable", "shovel/b", check=0)
    r = sr(sr_bin, env, "sanity", check=0)
    assert r.stdout.count("shovel/b: stopping stray instance") == 2, r.stdout
    assert not any(p.endswith(" b") for p in instance_processes(env).values())
    assert not any(k.startswith("shovel/b/") for k in pid_files(env))
    r = sr(sr_bin, env, "start", "shovel/b", check=0)
    assert "disabled, not started" in r.stdout
    configs, _ = status(sr_bin, env, "shovel/b")
    assert configs["shovel/b"]["state"] == "disa"

    # stop: nothing of ours is left, no pid file
    r = sr(sr_bin, env, "stop", check=0)
    assert "shovel/c: stopped 3 instance(s)" in r.stdout
    assert instance_processes(env) == {}
    assert pid_files(env) == {}
    configs, totals = status(sr_bin, env)
    assert totals["processes"] == 0
    assert configs["shovel/a"]["state"] == "stop"


def test_a_config_with_an_error_does_not_stop_the_others(sr_bin, env):
    """A config that does not load is named with file:line and the others still start."""
    shovel(env, "good")
    bad = write_config(env, "shovel", "bad", f"""
        broker {DOWN}
        exchange xs_in
        instances lots
        """)
    r = sr(sr_bin, env, "start", check=1)
    assert f"{bad}:3:" in r.stderr, r.stderr
    assert "shovel/good: started 1 instance(s)" in r.stdout
    assert list(instance_processes(env).values()) == ["shovel instance 1 good"]
    assert list(pid_files(env)) == ["shovel/good/i001.pid"]


def test_an_instance_that_cannot_run_is_reported_with_its_log(sr_bin, env):
    """An instance that dies as it starts: start says which, why, and shows its log."""
    shovel(env, "blocked")
    # its state folder is a file: the instance cannot write its pid file and exits
    (state(env) / "shovel").mkdir(parents=True)
    (state(env) / "shovel" / "blocked").write_text("in the way\n")
    r = sr(sr_bin, env, "start", check=1)
    assert "shovel/blocked instance 1 did not start (exit status 1)" in r.stderr, r.stderr
    assert "last lines of" in r.stderr and "is not a folder" in r.stderr, r.stderr
    assert instance_processes(env) == {}


def test_stop_touches_only_our_instances(sr_bin, env, sr_env_other):
    """Two users of one uid (two HOMEs): stopping one's configs leaves the other's running."""
    shovel(env, "mine")
    shovel(sr_env_other, "mine")
    sr(sr_bin, env, "start", check=0)
    sr(sr_bin, sr_env_other, "start", check=0)
    theirs = instance_processes(sr_env_other)
    assert len(theirs) == 1
    sr(sr_bin, env, "stop", check=0)
    assert instance_processes(env) == {}
    assert instance_processes(sr_env_other) == theirs
    r = sr(sr_bin, env, "sanity", check=0)
    assert "no stray processes found" in r.stdout
    assert instance_processes(sr_env_other) == theirs


@pytest.fixture
def sr_env_other(tmp_path, sr_bin):
    env = dict(os.environ)
    home = tmp_path / "other"
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_CACHE_HOME": str(home / ".cache"),
                "SR_CONFD": str(Path(__file__).resolve().parents[2] / "conf.d")})
    for var in ("SR_CONFIG_DIR", "SR_STATE_DIR"):
        env.pop(var, None)
    (home / ".config").mkdir(parents=True)
    yield env
    subprocess.run([sr_bin("sr"), "stop", "--wait", "2"], env=env, capture_output=True,
                   timeout=30)


def test_sanity_restarts_a_hung_instance(sr_bin, env):
    """An instance that stops writing its metrics (SIGSTOP) for runStateThreshold_hung is
    killed and started again by sanity."""
    shovel(env, "h", extra="runStateThreshold_hung 6\n")
    sr(sr_bin, env, "start", check=0)
    pid = pid_files(env)["shovel/h/i001.pid"]
    metrics = state(env) / "metrics" / "shovel_h_01.json"
    wait_until("the first metrics", metrics.exists)
    r = sr(sr_bin, env, "sanity", check=0)
    assert "no hung processes found" in r.stdout
    os.kill(pid, signal.SIGSTOP)
    wait_until("the metrics to age", lambda: time.time() - metrics.stat().st_mtime > 6.5)
    r = sr(sr_bin, env, "sanity", check=0)
    assert f"shovel/h: restarting hung instance 1 (pid {pid} wrote no metrics" in r.stdout
    new = pid_files(env)["shovel/h/i001.pid"]
    assert new != pid
    assert list(instance_processes(env)) == [new]


def test_run_restarts_a_killed_instance_and_stops_all_on_sigterm(sr_bin, env):
    """`sr run` (containers, Type=simple) keeps its instances up and takes them down with
    it."""
    shovel(env, "r", 2)
    run = subprocess.Popen([sr_bin("sr"), "run", "--wait", "5"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pids = wait_until("two pid files", lambda: len(pid_files(env)) == 2 and pid_files(env))
        victim = pids["shovel/r/i001.pid"]
        os.kill(victim, signal.SIGKILL)
        wait_until("a new instance 1", lambda: pid_files(env).get("shovel/r/i001.pid")
                   not in (None, victim) and len(instance_processes(env)) == 2)
        procs = instance_processes(env)
        assert sorted(procs.values()) == ["shovel instance 1 r", "shovel instance 2 r"]
        for pid in procs:  # the instances are children of sr run, not daemons
            assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) \
                == run.pid
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err
    assert "died (killed by signal 9); restarting" in err
    assert "stopped 2 instance(s)" in out
    assert instance_processes(env) == {}
    assert pid_files(env) == {}


@pytest.fixture
def vip():
    """A loopback address no other test uses; removed afterwards."""
    addr = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(1, 250)}"
    yield addr
    subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], capture_output=True)


def test_vip_passive_until_the_address_appears(sr_bin, env, vip):
    """An instance whose vip this host does not hold connects to nothing; it becomes active
    within seconds of the address being added, and passive again when it goes."""
    if os.geteuid() != 0:
        pytest.skip("adding an address needs root")
    shovel(env, "v", extra=f"vip {vip}\n")
    sr(sr_bin, env, "start", check=0)
    log = state(env) / "log" / "shovel_v_01.log"
    wait_until("passive", lambda: "passive: this host holds no vip" in log.read_text())
    time.sleep(1.5)  # the story: a while passive, in which no connection may be tried
    text = log.read_text()
    assert "cannot connect" not in text, text  # passive: not even a connection attempt
    configs, _ = status(sr_bin, env, "shovel/v")
    assert configs["shovel/v"]["state"] == "wVip"

    subprocess.run(["ip", "addr", "add", f"{vip}/32", "dev", "lo"], check=True)
    added = time.monotonic()
    wait_until("active", lambda: f"active: this host now holds vip {vip}" in log.read_text())
    assert time.monotonic() - added < 3
    wait_until("a connection attempt", lambda: "cannot connect" in log.read_text())

    subprocess.run(["ip", "addr", "del", f"{vip}/32", "dev", "lo"], check=True)
    wait_until("passive again", lambda: "no longer holds a vip" in log.read_text())


def test_add_reload_foreground_remove_and_usage(sr_bin, env):
    """An operator's day: add an example, reload a running config's logs, be refused
    foreground and remove while it runs, remove it once stopped; usage errors exit 2."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    r = sr(sr_bin, env, "add", "subscribe/hpfx", check=0)
    added = Path(env["XDG_CONFIG_HOME"]) / "sr" / "subscribe" / "hpfx.conf"
    assert added.read_text() == (examples / "subscribe" / "hpfx.conf").read_text()
    added.write_text(added.read_text() + "# mine\n")
    sr(sr_bin, env, "add", "subscribe/hpfx", check=1)  # never overwritten
    assert added.read_text().endswith("# mine\n")
    r = sr(sr_bin, env, "add", "subscribe/nothing_like_it", check=1)
    assert "sr list examples" in r.stderr

    conf = shovel(env, "f")
    sr(sr_bin, env, "start", "shovel/f", check=0)
    r = sr(sr_bin, env, "reload", "f", check=0)
    assert "shovel/f: 1 instance(s) reopen their logs" in r.stdout
    log = state(env) / "log" / "shovel_f_01.log"
    wait_until("the log reopened", lambda: "log reopened" in log.read_text())
    r = sr(sr_bin, env, "foreground", "shovel/f", check=1)
    assert "has running instances" in r.stderr
    r = sr(sr_bin, env, "remove", "shovel/f", check=1)
    assert "is running" in r.stderr and conf.exists()
    sr(sr_bin, env, "stop", "shovel/f", check=0)
    sr(sr_bin, env, "remove", "shovel/f", check=0)
    assert not conf.exists() and not (state(env) / "shovel" / "f").exists()

    assert sr(sr_bin, env, "--version", check=0).stdout.startswith("sr ")
    assert "usage: sr" in sr(sr_bin, env, "stop", "--help", check=0).stdout
    sr(sr_bin, env, "frobnicate", check=2)
    sr(sr_bin, env, check=2)
    sr(sr_bin, env, "foreground", check=2)
    sr(sr_bin, env, "stop", "--wait", check=2)
