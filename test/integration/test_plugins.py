# SPDX-License-Identifier: GPL-2.0-only
"""C plugins (sr-plugin(7)) in real components against a real RabbitMQ: every hook of the
flow as a site would use it.

The plugins are the small C files of test/integration/plugins/, built here with
`gcc -shared -fPIC -I<repo>/include` (they need sr/plugin.h and nothing else of sr) and
installed where a user puts them, ~/.config/sr/plugins/NAME.so, or named by path. Each
writes a line per call into a file of its state folder (api->state_dir), which the tests
read as the plugin's author would. Messages go in with test/tools/sr_broker_tool publish
(file: URLs to files the test writes) and what a component posts comes out through a
consumer of its own, so the components are seen the way their neighbours see them.

(The exec plugins, `flowcb exec:COMMAND`: test_plugins_exec.py, which takes its helpers
from here. destfn, poll, download and send plugins: test_plugins_xfer*.py.)
"""
import json
import os
import secrets
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import Component, run_sr, snapshot_tree, wait_until, write_config
from test_shovel import Consumer, publish

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = Path(__file__).resolve().parent / "plugins"
C_PLUGINS = ("pick", "later", "audit", "gen", "life", "noentry", "oldabi")


# ---- what the tests of both plugin kinds share ----

@pytest.fixture(scope="module")
def c_plugins(tmp_path_factory):
    """{name: path of NAME.so}, built once for the module from plugins/NAME.c."""
    out = tmp_path_factory.mktemp("cplugins")
    built = {}
    for name in C_PLUGINS:
        so = out / f"{name}.so"
        r = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-shared",
                            "-fPIC", f"-I{REPO / 'include'}", "-o", str(so),
                            str(PLUGIN_SRC / f"{name}.c")], capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, f"{name}.c does not build:\n{r.stderr}"
        built[name] = so
    return built


def install(env, c_plugins, *names):
    """Copy NAME.so into ~/.config/sr/plugins/, where `flowcb NAME` finds it."""
    d = Path(env["XDG_CONFIG_HOME"]) / "sr" / "plugins"
    d.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(c_plugins[name], d / f"{name}.so")
    return d


def tag():
    return secrets.token_hex(3)


def now_stamp():
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")


def file_message(src, rel, size=None):
    """The v03 message announcing src/rel by a file: URL (size: the file's, or as given)."""
    if size is None:
        size = (Path(src) / rel).stat().st_size
    return json.dumps({"pubTime": now_stamp(), "baseUrl": f"file:{src}/", "relPath": rel,
                       "size": size})


def write_files(src, names):
    """src/NAME for each name, its contents its own name and a newline; {name: bytes}."""
    out = {}
    for name in names:
        path = Path(src) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"{name}\n".encode()
        path.write_bytes(data)
        out[name] = data
    return out


def state_lines(env, file):
    """The lines a plugin wrote into `file` of its state folder (somewhere under
    ~/.cache/sr), [] while there is none."""
    found = sorted(Path(env["XDG_CACHE_HOME"]).rglob(file))
    return found[0].read_text().splitlines() if found else []


def queue_empty(rabbitmq, queue):
    """True once the broker holds no message of queue, ready or unacknowledged."""
    r = rabbitmq.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged",
                     check=False)
    for line in r.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == queue:
            return fields[1:] == ["0", "0"]
    return False


def declare(broker_tool, url, exchange):
    """The exchange exists before a component binds a queue to it."""
    publish(broker_tool, url, exchange, "v03.declare", [])


def bodies(got):
    return [json.loads(m["body"]) for m in got]


def subscribe_config(rabbitmq, env, name, ex, dest, queue, flowcb, extra="", post_ex=None):
    """A subscribe of file: URLs from ex into dest (mirrored), with the flowcb line and
    extra lines, announcing what it wrote on post_ex when given."""
    post = ""
    if post_ex:
        post = f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {post_ex}
        post_baseUrl file:{dest}/
        post_baseDir {dest}
        """
    return write_config(env, "subscribe", name, f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        queueName {queue}
        directory {dest}
        mirror on
        allowFileUrl on
        inflight .tmp
        logReject on
        retryDelay 1
        {flowcb}
        """ + extra + post)


def reject_and_rename_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, flowcb, plugin,
                            extra="", before_stop=None):
    """after_accept in a subscribe that posts what it wrote: junk* rejected (never
    downloaded, acked: its queue empties), raw_X written as cooked_X and announced so,
    with the plugin's pick_note field (plugin's value: "renamed by <plugin>") in the post.
    before_stop(component) runs while it still runs. Returns the component's log text."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    ex, ex_out = f"xs_tfeed_p{tag()}", f"xs_tfeed_po{tag()}"
    queue = f"q_tsub.plugins.pick{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    subscribe_config(rabbitmq, sr_env, "pick", ex, dest, queue, flowcb, extra=extra,
                     post_ex=ex_out)
    sub = Component(sr_bin, sr_env, "subscribe", "pick", tmp_path / "pick.log")
    sub.wait_ready()
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    names = ["in/raw_a.txt", "in/raw_b.txt", "in/keep_c.txt", "in/junk_d.txt",
             "in/junk_e.txt"]
    data = write_files(src, names)
    publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.in",
            [file_message(src, n) for n in names])
    want = {"in/cooked_a.txt": data["in/raw_a.txt"], "in/cooked_b.txt": data["in/raw_b.txt"],
            "in/keep_c.txt": data["in/keep_c.txt"]}
    read = lambda p: p.read_bytes()  # noqa: E731
    assert wait_until(lambda: snapshot_tree(dest, read=read) == want, TIMEOUT), \
        (snapshot_tree(dest, read=read), sub.text())
    # rejected ones are acked, not held: nothing is left on the queue
    assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), sub.text()
    got, err = consumer.until(lambda got: len(got) >= 3)
    if before_stop is not None:
        before_stop(sub)
    assert sub.stop() == 0, sub.text()
    posted = {b["relPath"]: b for b in bodies(got)}
    assert sorted(posted) == sorted(want), (posted, err)
    note = f"renamed by {plugin}"
    assert posted["in/cooked_a.txt"].get("pick_note") == note, posted
    assert posted["in/cooked_b.txt"].get("pick_note") == note, posted
    assert "pick_note" not in posted["in/keep_c.txt"], posted
    assert snapshot_tree(dest, read=read) == want  # still: nothing came late
    log = sub.text()
    for junk in ("in/junk_d.txt", "in/junk_e.txt"):
        # the reason is the plugin's, after the plugin's name
        assert any(f"rejected {junk}: " in line and plugin in line.split(f"{junk}: ")[1]
                   and f"{plugin}: junk is not wanted" in line
                   for line in log.splitlines()), log
    # the plugin's own log line carries its name
    assert any(plugin in line and "renamed to cooked_a.txt" in line
               for line in log.splitlines()), log
    return log


# ---- after_accept ----

def test_after_accept_rejects_and_renames_in_a_subscribe(rabbitmq, broker_tool, c_plugins,
                                                         sr_bin, sr_env, tmp_path):
    """A site wants no junk* files and raw_X stored as cooked_X: a C plugin on after_accept
    (flowcb pick, found in ~/.config/sr/plugins) rejects the first (never downloaded, and
    acked: the queue empties) and renames the second; what the subscribe posts names the
    new file and carries the field the plugin added."""
    install(sr_env, c_plugins, "pick")
    reject_and_rename_story(rabbitmq, broker_tool, sr_bin, sr_env, tmp_path, "flowcb pick",
                            "pick")


def test_after_accept_retry_sends_to_the_retry_queue(rabbitmq, broker_tool, c_plugins, sr_bin,
                                                     sr_env, tmp_path):
    """A plugin that is not ready for a file yet (flowcb later: RETRY the first time it sees
    each) defers it: the file is not written then, but on a later pass, from the retry
    queue, once the plugin lets it through; nothing is left on the broker queue."""
    install(sr_env, c_plugins, "later")
    src, dest = tmp_path / "src", tmp_path / "dest"
    ex, queue = f"xs_tfeed_l{tag()}", f"q_tsub.plugins.later{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    subscribe_config(rabbitmq, sr_env, "later", ex, dest, queue, "flowcb later")
    sub = Component(sr_bin, sr_env, "subscribe", "later", tmp_path / "later.log")
    sub.wait_ready()
    names = ["r/one.txt", "r/two.txt", "r/three.txt"]
    data = write_files(src, names)
    publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.r", [file_message(src, n) for n in names])
    read = lambda p: p.read_bytes()  # noqa: E731
    assert wait_until(lambda: snapshot_tree(dest, read=read) == data, TIMEOUT), sub.text()
    assert wait_until(lambda: queue_empty(rabbitmq, queue), TIMEOUT), sub.text()
    assert sub.stop() == 0, sub.text()
    lines = state_lines(sr_env, "later.log")
    for n in names:
        base = n.split("/")[-1]
        # deferred first, written only once let through
        assert lines.count(f"retry {base}") == 1 and lines.count(f"keep {base}") == 1, lines
        assert lines.index(f"retry {base}") < lines.index(f"keep {base}"), lines
    assert sub.count("downloaded ") == len(names), sub.text()
    assert "later: not yet" in sub.text(), sub.text()


# ---- after_work, after_post ----

def test_after_work_sees_outcomes_and_after_post_each_post_once(rabbitmq, broker_tool, c_plugins,
                                                               sr_bin, sr_env, tmp_path):
    """flowcb audit in a subscribe that posts: after_work is told of each file done, and of
    one that failed (announced with a size it does not have yet: it goes to the retry
    queue and is done once the file is complete); a file after_work rejects is written but
    not posted; after_post sees each posted message exactly once, and each of those is on
    the post exchange."""
    install(sr_env, c_plugins, "audit")
    src, dest = tmp_path / "src", tmp_path / "dest"
    ex, ex_out = f"xs_tfeed_a{tag()}", f"xs_tfeed_ao{tag()}"
    queue = f"q_tsub.plugins.audit{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    subscribe_config(rabbitmq, sr_env, "audit", ex, dest, queue, "flowcb audit",
                     extra="attempts 1\n", post_ex=ex_out)
    sub = Component(sr_bin, sr_env, "subscribe", "audit", tmp_path / "audit.log")
    sub.wait_ready()
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    write_files(src, ["w/ok1.txt", "w/ok2.txt", "w/nopost.txt"])
    (src / "w" / "late.txt").write_text("x")  # 1 byte now; the message says 6
    publish(broker_tool, rabbitmq.url("tfeed"), ex, "v03.w",
            [file_message(src, n) for n in ("w/ok1.txt", "w/ok2.txt", "w/nopost.txt")] +
            [file_message(src, "w/late.txt", size=6)])
    assert wait_until(lambda: "work failed w/late.txt" in state_lines(sr_env, "audit.log"),
                      TIMEOUT), (state_lines(sr_env, "audit.log"), sub.text())
    (src / "w" / "late.txt").write_text("later\n")  # now whole: the retry succeeds
    assert wait_until(lambda: "work done w/late.txt" in state_lines(sr_env, "audit.log"),
                      TIMEOUT), (state_lines(sr_env, "audit.log"), sub.text())
    want = {"w/ok1.txt", "w/ok2.txt", "w/late.txt"}
    got, err = consumer.until(lambda got: {b["relPath"] for b in bodies(got)} >= want)
    assert wait_until(lambda: sum(l.startswith("post ") for l in state_lines(sr_env, "audit.log"))
                      >= 3, TIMEOUT), state_lines(sr_env, "audit.log")
    assert sub.stop() == 0, sub.text()
    lines = state_lines(sr_env, "audit.log")
    for rel in ("w/ok1.txt", "w/ok2.txt", "w/nopost.txt"):
        assert lines.count(f"work done {rel}") == 1, lines
    assert lines.index("work failed w/late.txt") < lines.index("work done w/late.txt")
    assert sorted(l for l in lines if l.startswith("post ")) == \
        ["post w/late.txt", "post w/ok1.txt", "post w/ok2.txt"], lines
    assert sorted(b["relPath"] for b in bodies(got)) == sorted(want), err
    # rejected by after_work: written, not announced
    assert (dest / "w" / "nopost.txt").read_text() == "w/nopost.txt\n"
    assert (dest / "w" / "late.txt").read_text() == "later\n"
    assert "audit: not to be posted" in sub.text(), sub.text()


# ---- gather ----

def test_gather_plugin_feeds_a_shovel(rabbitmq, broker_tool, c_plugins, sr_bin, sr_env,
                                      tmp_path):
    """A source of its own: flowcb gen (gather) makes genCount 7 messages in a shovel; a
    consumer of the shovel's post exchange receives exactly those 7, with the fields the
    plugin set."""
    install(sr_env, c_plugins, "gen")
    ex, ex_out = f"xs_tfeed_g{tag()}", f"xs_tfeed_go{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    declare(broker_tool, rabbitmq.url("tfeed"), ex_out)
    consumer = Consumer(broker_tool, rabbitmq.url("tsub"), ex_out, "v03.#", 0)
    write_config(sr_env, "shovel", "gen", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        flowcb gen
        genCount 7
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "gen", tmp_path / "gen.log")
    shovel.wait_for("made all 7 messages")
    got, err = consumer.until(lambda got: len(got) >= 7)
    # more would have come by now: the shovel posted (broker confirmed) 7 in all
    assert wait_until(lambda: shovel.count("posted gen/") >= 7, TIMEOUT), shovel.text()
    assert shovel.stop() == 0, shovel.text()
    assert shovel.count("posted gen/") == 7, shovel.text()
    msgs = bodies(got)
    assert sorted(b["relPath"] for b in msgs) == [f"gen/item_{i:03d}" for i in range(7)], err
    for b in msgs:
        assert b["baseUrl"] == "https://gen.example.com/"
        assert b["gen_tag"] == "made by gen"
        assert b["size"] == 42
        assert "pubTime" in b
    assert any("gen" in line and "will make 7 messages" in line
               for line in shovel.text().splitlines())


# ---- on_start, on_housekeeping, on_stop, metrics_report, plugin options ----

def find_number(doc, name, value):
    """Paths in a JSON document where key `name` holds `value`."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == name and v == value:
                    found.append(path + [k])
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [i])
    walk(doc, [])
    return found


def find_values(doc, name):
    """Every value of key `name` anywhere in a JSON document."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == name:
                out.append(v)
            out.extend(find_values(v, name))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(find_values(v, name))
    return out


def test_lifecycle_hooks_metrics_and_a_plugin_option(rabbitmq, broker_tool, build_dir, c_plugins,
                                                     sr_env, tmp_path):
    """An operator starts a shovel whose plugin (flowcb life) has hooks on start,
    housekeeping and stop, reads its own option (myOption, a line sr alone would refuse)
    and reports figures: `sr start` runs it, the plugin sees its option, on_housekeeping
    comes every `housekeeping` seconds, the figures show in the instance's metrics (what
    `sr status` reads), and `sr stop` calls on_stop."""
    install(sr_env, c_plugins, "life")
    ex = f"xs_tfeed_lf{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    write_config(sr_env, "shovel", "life", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        housekeeping 1
        metrics_writeInterval 1
        flowcb life
        myOption hello world
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """)
    try:
        r = run_sr(build_dir, sr_env, "start", "shovel/life", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert wait_until(lambda: state_lines(sr_env, "life.log").count("housekeeping") >= 2,
                          TIMEOUT), (state_lines(sr_env, "life.log"), r.stdout, r.stderr)
        assert state_lines(sr_env, "life.log")[0] == "start myOption=hello world"
        metrics = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "metrics" / "shovel_life_01.json"

        def reported():
            try:
                doc = json.loads(metrics.read_text())
            except (OSError, ValueError):
                return False
            return find_number(doc, "answer", 42)
        assert wait_until(reported, TIMEOUT), \
            (metrics.read_text() if metrics.exists() else "no metrics file")
        # under the plugin's name, and from the running plugin (its count of housekeepings)
        assert any("life" in str(p) for p in reported()), reported()
        assert wait_until(lambda: any(isinstance(v, (int, float)) and v >= 1 for v in
                                      find_values(json.loads(metrics.read_text()),
                                                  "housekeepings")), TIMEOUT), \
            metrics.read_text()
    finally:
        run_sr(build_dir, sr_env, "stop", check=False)
    lines = state_lines(sr_env, "life.log")
    # no hook after on_stop (a plugin frees its state there)
    assert lines[-1] == "stop", lines
    assert lines.count("start myOption=hello world") == 1, lines
    assert lines.count("stop") == 1, lines


def test_metrics_report_figures_show_in_sr_status(rabbitmq, broker_tool, build_dir, c_plugins,
                                                  sr_env):
    """What a plugin reports with metrics_report is for the operator: `sr status --json`
    shows it (life reports answer 42)."""
    install(sr_env, c_plugins, "life")
    ex = f"xs_tfeed_ls{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    write_config(sr_env, "shovel", "figures", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        metrics_writeInterval 1
        flowcb life
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """)
    metrics = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "metrics" / "shovel_figures_01.json"

    def written():
        try:
            return find_number(json.loads(metrics.read_text()), "answer", 42)
        except (OSError, ValueError):
            return False
    try:
        r = run_sr(build_dir, sr_env, "start", "shovel/figures", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert wait_until(written, TIMEOUT), "no figures in the metrics file"
        status = run_sr(build_dir, sr_env, "status", "--json", "shovel/figures")
        assert find_number(json.loads(status.stdout), "answer", 42), \
            f"the plugin's figures are not in sr status --json:\n{status.stdout}"
    finally:
        run_sr(build_dir, sr_env, "stop", check=False)


def test_on_start_failing_stops_the_component(rabbitmq, broker_tool, build_dir, c_plugins, sr_bin,
                                              sr_env, tmp_path):
    """A plugin whose on_start fails (life with lifeMode fail) keeps the component from
    running: in the foreground it exits non-zero with an error naming the plugin; `sr
    start` reports the instance did not start and nothing is left running."""
    install(sr_env, c_plugins, "life")
    ex = f"xs_tfeed_lx{tag()}"
    write_config(sr_env, "shovel", "nostart", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        flowcb life
        lifeMode fail
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """)
    r = subprocess.run([sr_bin("sr_shovel"), "foreground", "nostart"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "lifeMode fail: refusing to start" in out, out
    # and sr says which plugin kept it from starting, besides the plugin's own line
    assert any("life" in line for line in out.splitlines() if "refusing" not in line), out
    assert state_lines(sr_env, "life.log") == ["start myOption=(unset)"]
    try:
        # `sr start` reports an instance started once it wrote its pid file, before its
        # plugins start: the instance then ends, its log naming the plugin
        run_sr(build_dir, sr_env, "start", "shovel/nostart", check=False)
        log = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "log" / "shovel_nostart_01.log"
        assert wait_until(lambda: not instance_pids(sr_env), TIMEOUT), instance_pids(sr_env)
        text = log.read_text()
        assert "lifeMode fail: refusing to start" in text, text
        assert any("life" in line for line in text.splitlines() if "refusing" not in line), text
    finally:
        run_sr(build_dir, sr_env, "stop", check=False)


def test_plugin_option_is_accepted_only_with_its_plugin(c_plugins, sr_bin, sr_env):
    """`myOption x` is not an sr option: a config may set it only because a plugin it loads
    declares it. With flowcb life the check passes; without, the line is refused with
    its file and line."""
    install(sr_env, c_plugins, "life")
    broker = "amqp://tfeed:x@127.0.0.1:1/"
    with_plugin = write_config(sr_env, "shovel", "opt", f"""
        broker {broker}
        exchange xs_tfeed_x
        flowcb life
        myOption x
        post_broker {broker}
        """)
    r = subprocess.run([sr_bin("sr_shovel"), "check", "opt"], env=sr_env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    # the plugin declares it wherever the line is (before the flowcb line too)
    write_config(sr_env, "shovel", "opt", f"""
        broker {broker}
        exchange xs_tfeed_x
        myOption x
        flowcb life
        post_broker {broker}
        """)
    r = subprocess.run([sr_bin("sr_shovel"), "check", "opt"], env=sr_env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    write_config(sr_env, "shovel", "opt", f"""
        broker {broker}
        exchange xs_tfeed_x
        myOption x
        post_broker {broker}
        """)
    r = subprocess.run([sr_bin("sr_shovel"), "check", "opt"], env=sr_env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"{with_plugin}:3:" in r.stdout + r.stderr and "myOption" in r.stdout + r.stderr, \
        r.stdout + r.stderr


# ---- plugins that cannot load ----

def instance_pids(env):
    """pids of live sr_* processes of this test's HOME."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            words = (d / "cmdline").read_bytes().split(b"\0")
            environ = (d / "environ").read_bytes().split(b"\0")
            st = (d / "stat").read_text()
        except OSError:
            continue
        if st.rsplit(")", 1)[1].split()[0] == "Z" or not words[0]:
            continue
        if f"HOME={env['HOME']}".encode() in environ and \
                os.path.basename(words[0].decode()).startswith("sr_"):
            out.append(int(d.name))
    return out


def bad_plugin(case, env, c_plugins, tmp_path):
    """Set up the bad plugin of `case`: (the flowcb word, what the error must name)."""
    if case == "missing-symbol":
        install(env, c_plugins, "noentry")
        return "noentry", ["noentry", "sr_plugin_entry"]
    if case == "wrong-abi":
        install(env, c_plugins, "oldabi")
        return "oldabi", ["oldabi", "ABI"]
    if case == "file-writable-by-others":
        d = install(env, c_plugins, "life")
        os.chmod(d / "life.so", 0o666)
        return "life", ["life.so", "writable"]
    if case == "folder-writable-by-others":
        d = tmp_path / "open"
        d.mkdir()
        shutil.copy(c_plugins["life"], d / "life.so")
        os.chmod(d, 0o777)
        return str(d / "life.so"), ["life.so", "writable"]
    if case == "not-found":
        return "nosuch", ["no sr plugin named nosuch", "sr-plugin(7)"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing-symbol", "wrong-abi", "file-writable-by-others",
                                  "folder-writable-by-others", "not-found"])
def test_bad_plugin_refused_by_check_start_and_foreground(case, rabbitmq, build_dir, c_plugins,
                                                         sr_bin, sr_env, tmp_path):
    """A config needing a plugin that cannot load (no sr_plugin_entry, built for another
    ABI, a file or folder others may write, no such plugin) does not start: `sr_subscribe
    check`, `sr start` and the foreground each fail with an error naming the plugin and
    the flowcb line, and no instance is left running."""
    word, names = bad_plugin(case, sr_env, c_plugins, tmp_path)
    conf = write_config(sr_env, "subscribe", "bad", f"""
        broker {rabbitmq.url("tsub")}
        exchange xs_tfeed_bad{tag()}
        subtopic #
        directory {tmp_path / "dest"}
        flowcb {word}
        """)
    where = f"{conf}:5"

    def names_it(text):
        return all(n.lower() in text.lower() for n in names) and where in text

    r = subprocess.run([sr_bin("sr_subscribe"), "check", "bad"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and names_it(r.stdout + r.stderr), \
        f"check: exit {r.returncode}\n{r.stdout}{r.stderr}"
    r = subprocess.run([sr_bin("sr_subscribe"), "foreground", "bad"], env=sr_env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and names_it(r.stdout + r.stderr), \
        f"foreground: exit {r.returncode}\n{r.stdout}{r.stderr}"
    try:
        r = run_sr(build_dir, sr_env, "start", "subscribe/bad", check=False)
        out = r.stdout + r.stderr
        assert r.returncode != 0 and names_it(out), f"sr start: exit {r.returncode}\n{out}"
        assert not instance_pids(sr_env), instance_pids(sr_env)
    finally:
        run_sr(build_dir, sr_env, "stop", check=False)
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_plugin_log_lines_name_the_plugin(rabbitmq, broker_tool, c_plugins, sr_bin, sr_env,
                                          tmp_path):
    """A plugin found by path (a flowcb NAME with a '/') loads as well as one found by name,
    and what it logs through api->log is in the instance's log under its name."""
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copy(c_plugins["gen"], d / "gen.so")
    os.chmod(d, 0o755)
    ex = f"xs_tfeed_pp{tag()}"
    declare(broker_tool, rabbitmq.url("tfeed"), ex)
    write_config(sr_env, "shovel", "bypath", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        flowcb {d / "gen.so"}
        genCount 2
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}_out
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "bypath", tmp_path / "bypath.log")
    shovel.wait_for("made all 2 messages")
    assert shovel.stop() == 0, shovel.text()
    line = next(l for l in shovel.text().splitlines() if "made all 2 messages" in l)
    assert "gen" in line.split("made all")[0] and "bypath" in line, line
