# SPDX-License-Identifier: GPL-2.0-only
"""Options of the flow an operator brings from sr3, each seen where the operator would see
it, over the test RabbitMQ: report (reports a source's consumer of the report exchange
receives), reset (what waited in the queue is gone), source / sourceFromExchange /
sourceFromMessage (the source field a shovel passes on), dry_run (nothing written, all
acknowledged), discard (the file is gone after it was written), inlineOnly (a post of a
file too big to inline is not announced) and exchangeSplit (each instance reads its own
split exchange). sr3 itself checks the report message's form where it can.
"""
import base64
import hashlib
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

from helpers import Component, wait_until, write_config
from sr3peer import needs_sr3

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


def tool():
    return str(Path(os.environ.get("SR_BUILD", "build")) / "test" / "tools" / "sr_broker_tool")


def now_v03():
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}"


def inline_message(rel, text, **extra):
    """A v03 message carrying its file inline: a subscriber writes it without a download."""
    m = {"pubTime": now_v03(), "baseUrl": "http://example.com/", "relPath": rel,
         "size": len(text.encode()), "content": {"encoding": "utf-8", "value": text}}
    m.update(extra)
    return m


def md5(text):
    return base64.b64encode(hashlib.md5(text.encode()).digest()).decode()


def publish(url, exchange, messages, topic="v03.d"):
    """Publishes the messages (dicts) with confirms; declares the exchange first."""
    lines = "".join(json.dumps(m) + "\n" for m in messages)
    r = subprocess.run([tool(), "publish", url, exchange, topic], input=lines, text=True,
                       capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


def declare_exchange(url, exchange):
    publish(url, exchange, [])


class Consumer:
    """sr_broker_tool consume on a queue of its own bound to exchange, started and
    subscribed; messages() waits for `count` and returns them decoded (body JSON) with
    their exchange and topic."""

    def __init__(self, url, exchange, count, key="#", timeout=TIMEOUT):
        self.count = count
        self.proc = subprocess.Popen(
            [tool(), "consume", url, "--queue", f"q_tsub.t.{secrets.token_hex(4)}",
             "--bind", f"{exchange}:{key}", "--max", str(count), "--timeout", str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "subscribed" in self.proc.stdout.readline(), self.proc.stderr.read()

    def messages(self):
        out, err = self.proc.communicate(timeout=2 * TIMEOUT)
        got = [json.loads(line) for line in out.splitlines() if line.strip()]
        for g in got:
            g["message"] = json.loads(g["body"])
        assert len(got) == self.count, (len(got), err)
        return got


def start(sr_bin, env, component, name, log, action=("foreground",)):
    """sr_<component> foreground NAME (or `instance N NAME`, with logStdout on), once it
    has logged "connected to" (its queue is declared and bound)."""
    return Component(sr_bin, env, component, name, log, action).wait_ready(TIMEOUT)


def stop(component):
    return component.stop()


def log_has(path, text):
    return text in Path(path).read_text()


# ---- report ----

def test_a_subscriber_with_report_on_reports_back_to_the_source(rabbitmq, sr_bin, sr_env,
                                                               tmp_path):
    """A source publishes three files inline; the subscriber (`report on`) writes one,
    rejects one (reject line) and already has the third. Whoever reads the report
    exchange xr_tsub (sr3's default for broker user tsub) gets three reports: each the
    message, without its content, with report {code, timeCompleted, message}: 201, 404,
    304. Without `report`, nothing goes there."""
    ex = f"xs_tsource_r{secrets.token_hex(2)}"
    dest = tmp_path / "dest"
    (dest / "d").mkdir(parents=True)
    (dest / "d" / "have.txt").write_text("have")
    declare_exchange(rabbitmq.url("tsource"), ex)
    declare_exchange(rabbitmq.url("tsub"), "xr_tsub")
    write_config(sr_env, "subscribe", "rep", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        report on
        reject .*/no\\.txt
        accept .*
        """)
    reports = Consumer(rabbitmq.url("tsub"), "xr_tsub", 3)
    sub = start(sr_bin, sr_env, "subscribe", "rep", tmp_path / "sub.log")
    publish(rabbitmq.url("tsource"), ex, [
        inline_message("d/yes.txt", "yes"),
        inline_message("d/no.txt", "no"),
        inline_message("d/have.txt", "have", mtime="20200101T000000"),
    ])
    got = reports.messages()
    assert stop(sub) == 0
    assert (dest / "d" / "yes.txt").read_text() == "yes"
    by_rel = {g["message"]["relPath"]: g for g in got}
    assert set(by_rel) == {"d/yes.txt", "d/no.txt", "d/have.txt"}, got
    codes = {rel: g["message"]["report"]["code"] for rel, g in by_rel.items()}
    assert codes == {"d/yes.txt": 201, "d/no.txt": 404, "d/have.txt": 304}, got
    for g in got:
        assert g["exchange"] == "xr_tsub"
        assert g["topic"] == "v03.d"
        assert g["content_type"] == "application/json"
        report = g["message"]["report"]
        assert set(report) == {"code", "timeCompleted", "message"}, report
        assert len(report["timeCompleted"]) >= 15 and report["timeCompleted"][8] == "T"
        assert "content" not in g["message"]
        assert g["message"]["source"] == "tsub"  # sr3: the consumer's broker user

    # report off (the default): the same traffic sends no report
    write_config(sr_env, "subscribe", "rep", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        """)
    quiet = Consumer(rabbitmq.url("tsub"), "xr_tsub", 0, timeout=5)
    sub = start(sr_bin, sr_env, "subscribe", "rep", tmp_path / "sub2.log")
    publish(rabbitmq.url("tsource"), ex, [inline_message("d/again.txt", "again")])
    assert wait_until(lambda: (dest / "d" / "again.txt").exists(), TIMEOUT)
    assert stop(sub) == 0
    assert quiet.messages() == []


@needs_sr3
def test_report_form_matches_sr3s_report_callback(rabbitmq, sr3, sr_bin, sr_env, tmp_path):
    """sr3's subscriber with its report callback and ours with `report on` each get the
    same inline message: both reports land in xr_<their broker user>, with the same
    topic, the same fields in the message and the same fields in `report`, code 201.
    (sr3 3.00.56's callback means xr_<user> as its default but, its report_broker left
    unset, falls back to the exchange it consumes from: its config names the exchange.)"""
    ex = f"xs_tsource_c{secrets.token_hex(2)}"
    declare_exchange(rabbitmq.url("tsource"), ex)
    declare_exchange(rabbitmq.url("tsub"), "xr_tsub")
    declare_exchange(rabbitmq.url("tsource"), "xr_tsource")
    sr3.write_config("subscribe", "rep", f"""
        broker {rabbitmq.url("tsource")}
        exchange {ex}
        subtopic #
        directory {tmp_path / "sr3dest"}
        callback report
        report_exchange xr_tsource
        """)
    write_config(sr_env, "subscribe", "rep", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {tmp_path / "srdest"}
        report on
        """)
    theirs = Consumer(rabbitmq.url("tsub"), "xr_tsource", 1)
    ours = Consumer(rabbitmq.url("tsub"), "xr_tsub", 1)
    proc = sr3.foreground("subscribe/rep")
    sr3.wait_log(proc, r"getSetup binding")  # not wait_ready: "subscriptions.json" matches it
    sub = start(sr_bin, sr_env, "subscribe", "rep", tmp_path / "sub.log")
    # with an identity: sr3 3.00.56 dies on inline content without one
    publish(rabbitmq.url("tsource"), ex, [inline_message(
        "d/both.txt", "both", identity={"method": "md5", "value": md5("both")})])
    a, b = theirs.messages()[0], ours.messages()[0]
    assert stop(sub) == 0
    ma, mb = a["message"], b["message"]
    assert a["topic"].startswith("v03.") and b["topic"] == "v03.d"
    assert ma["report"]["code"] == mb["report"]["code"] == 201
    assert set(ma["report"]) == set(mb["report"]) == {"code", "timeCompleted", "message"}
    assert ma["report"]["message"].startswith(mb["report"]["message"])  # Download successful
    for t in (ma["report"]["timeCompleted"], mb["report"]["timeCompleted"]):
        assert t[8] == "T" and t[15] == "." and t.replace("T", "").replace(".", "").isdigit()
    assert set(ma) == set(mb), (ma, mb)
    assert "content" not in ma and "content" not in mb
    # each sets source to its own broker user; sr keeps the relPath the source posted,
    # where sr3 writes its local path under the source's baseUrl (its topic too)
    assert ma["source"] == "tsource" and mb["source"] == "tsub"
    assert mb["relPath"] == "d/both.txt" and ma["relPath"].endswith("sr3dest/both.txt")
    for k in ("pubTime", "baseUrl", "size", "identity"):
        assert ma[k] == mb[k], k


# ---- reset ----

def test_reset_drops_what_waited_in_the_queue(rabbitmq, sr_bin, sr_env, tmp_path):
    """A subscriber is stopped; a file is announced meanwhile and waits in its queue: the
    next start gets it. With `reset on`, what waited while it was stopped is gone (the
    queue was deleted and declared anew) and only what comes after arrives."""
    ex = f"xs_tsource_q{secrets.token_hex(2)}"
    dest = tmp_path / "dest"
    declare_exchange(rabbitmq.url("tsource"), ex)
    base = f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        """
    write_config(sr_env, "subscribe", "rs", base)
    assert stop(start(sr_bin, sr_env, "subscribe", "rs", tmp_path / "a.log")) == 0
    publish(rabbitmq.url("tsource"), ex, [inline_message("d/waited.txt", "w")])
    sub = start(sr_bin, sr_env, "subscribe", "rs", tmp_path / "b.log")
    assert wait_until(lambda: (dest / "d" / "waited.txt").exists(), TIMEOUT)
    assert stop(sub) == 0

    publish(rabbitmq.url("tsource"), ex, [inline_message("d/stale.txt", "s")])
    write_config(sr_env, "subscribe", "rs", base + "reset on\n")
    sub = start(sr_bin, sr_env, "subscribe", "rs", tmp_path / "c.log")
    publish(rabbitmq.url("tsource"), ex, [inline_message("d/fresh.txt", "f")])
    assert wait_until(lambda: (dest / "d" / "fresh.txt").exists(), TIMEOUT)
    assert stop(sub) == 0
    assert not (dest / "d" / "stale.txt").exists()
    assert log_has(tmp_path / "c.log", "reset: queue")


# ---- source ----

def test_the_source_a_shovel_passes_on(rabbitmq, sr_bin, sr_env, tmp_path):
    """Messages with source "bob" come from exchange xs_alice_x through a shovel. As sr3
    does: by default the shovel writes its post_broker user (tfeed); `source carol` writes
    carol; sourceFromExchange writes alice (from the exchange's name); sourceFromMessage
    keeps bob."""
    ex_in = "xs_alice_" + secrets.token_hex(2)
    declare_exchange(rabbitmq.url("tfeed"), ex_in)
    cases = [("", "tfeed"), ("source carol", "carol"), ("sourceFromExchange on", "alice"),
             ("sourceFromMessage on", "bob")]
    for n, (line, want) in enumerate(cases):
        ex_out = f"xs_tfeed_o{secrets.token_hex(2)}"
        write_config(sr_env, "shovel", f"s{n}", f"""
            broker {rabbitmq.url("tfeed")}
            exchange {ex_in}
            subtopic #
            post_broker {rabbitmq.url("tfeed")}
            post_exchange {ex_out}
            {line}
            """)
        declare_exchange(rabbitmq.url("tfeed"), ex_out)
        out = Consumer(rabbitmq.url("tsub"), ex_out, 1)
        sh = start(sr_bin, sr_env, "shovel", f"s{n}", tmp_path / f"s{n}.log")
        publish(rabbitmq.url("tfeed"), ex_in, [inline_message("d/s.txt", "s", source="bob")])
        got = out.messages()
        assert stop(sh) == 0
        assert got[0]["message"].get("source") == want, (line, got[0]["message"])


def test_the_source_a_post_announces(rabbitmq, sr_bin, sr_env, tmp_path):
    """sr_post announces with its post_broker user as source, as sr3 does, or with the
    `source` option when the configuration sets one."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    ex = f"xs_tfeed_ps{secrets.token_hex(2)}"
    declare_exchange(rabbitmq.url("tfeed"), ex)
    for name, line, want in (("plain", "", "tfeed"), ("named", "source carol", "carol")):
        write_config(sr_env, "post", name, f"""
            post_broker {rabbitmq.url("tfeed")}
            post_exchange {ex}
            post_baseUrl file:{src}
            post_baseDir {src}
            {line}
            """)
        out = Consumer(rabbitmq.url("tsub"), ex, 1)
        r = subprocess.run([sr_bin("sr_post"), "-c", name, str(src / "a.txt")], env=sr_env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
        assert out.messages()[0]["message"]["source"] == want


# ---- dry_run, discard ----

def test_dry_run_transfers_nothing_and_acknowledges_everything(rabbitmq, sr_bin, sr_env,
                                                              tmp_path):
    """dry_run: files are announced, the subscriber logs each as not transferred, writes
    nothing, and leaves nothing in its queue (a restart without dry_run gets nothing)."""
    ex = f"xs_tsource_d{secrets.token_hex(2)}"
    dest = tmp_path / "dest"
    declare_exchange(rabbitmq.url("tsource"), ex)
    base = f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        """
    write_config(sr_env, "subscribe", "dry", base + "dry_run on\n")
    sub = start(sr_bin, sr_env, "subscribe", "dry", tmp_path / "a.log")
    publish(rabbitmq.url("tsource"), ex,
            [inline_message(f"d/f{i}.txt", f"{i}") for i in range(5)])
    assert wait_until(lambda: Path(tmp_path / "a.log").read_text().count("not transferred")
                      == 5, TIMEOUT), Path(tmp_path / "a.log").read_text()
    assert stop(sub) == 0
    assert not dest.exists() or not any(dest.rglob("*"))
    write_config(sr_env, "subscribe", "dry", base)
    sub = start(sr_bin, sr_env, "subscribe", "dry", tmp_path / "b.log")
    publish(rabbitmq.url("tsource"), ex, [inline_message("d/after.txt", "a")])
    assert wait_until(lambda: (dest / "d" / "after.txt").exists(), TIMEOUT)
    assert stop(sub) == 0
    assert sorted(p.name for p in dest.rglob("*.txt")) == ["after.txt"]


def test_discard_removes_the_file_once_written(rabbitmq, sr_bin, sr_env, tmp_path):
    """discard: each file is written (logged), then removed; a file that was there before
    and is not written again stays."""
    ex = f"xs_tsource_x{secrets.token_hex(2)}"
    dest = tmp_path / "dest"
    (dest / "d").mkdir(parents=True)
    (dest / "d" / "old.txt").write_text("old")
    declare_exchange(rabbitmq.url("tsource"), ex)
    write_config(sr_env, "subscribe", "disc", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        discard on
        logReject on
        """)
    sub = start(sr_bin, sr_env, "subscribe", "disc", tmp_path / "a.log")
    publish(rabbitmq.url("tsource"), ex, [
        inline_message("d/new.txt", "new"),
        inline_message("d/old.txt", "old", mtime="20200101T000000"),
    ])
    assert wait_until(lambda: log_has(tmp_path / "a.log", "discarded"), TIMEOUT)
    assert wait_until(lambda: log_has(tmp_path / "a.log", f"{dest}/d/old.txt: "), TIMEOUT)
    assert stop(sub) == 0
    log = Path(tmp_path / "a.log").read_text()
    assert "wrote " in log and f"discarded {dest}/d/new.txt" in log, log
    assert not (dest / "d" / "new.txt").exists()
    assert (dest / "d" / "old.txt").read_text() == "old"


# ---- inlineOnly ----

def test_inline_only_post_announces_only_what_it_can_inline(rabbitmq, sr_bin, sr_env,
                                                           tmp_path):
    """sr_post with inline on, inlineByteMax 100 and inlineOnly: of a small and a big file
    only the small one is announced (with its content)."""
    src = tmp_path / "src"
    src.mkdir()
    ex = f"xs_tfeed_i{secrets.token_hex(2)}"
    (src / "small.txt").write_text("small\n")
    (src / "big.txt").write_text("b" * 5000)
    declare_exchange(rabbitmq.url("tfeed"), ex)
    write_config(sr_env, "post", "io", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        inline on
        inlineByteMax 100
        inlineOnly on
        """)
    out = Consumer(rabbitmq.url("tsub"), ex, 1, timeout=10)
    r = subprocess.run([sr_bin("sr_post"), "-c", "io", str(src / "big.txt"),
                        str(src / "small.txt")], env=sr_env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    got = out.messages()
    assert [g["message"]["relPath"] for g in got] == ["small.txt"]
    assert got[0]["message"]["content"]["value"] == "small\n"


# ---- exchangeSplit ----

def test_exchange_split_instances_each_read_their_own_exchange(rabbitmq, sr_bin, sr_env,
                                                              tmp_path):
    """A shovel splits a feed over xsplit00 and xsplit01 (post_exchangeSplit 2); two
    instances of a subscriber with `exchange xsplit` and exchangeSplit 2 read one each:
    instance 1 xsplit00, instance 2 xsplit01. Every file arrives, and each instance
    wrote only files of its own exchange."""
    split = f"xsplit{secrets.token_hex(2)}"
    ex = f"xs_tfeed_p{secrets.token_hex(2)}"
    dest = tmp_path / "dest"
    declare_exchange(rabbitmq.url("tfeed"), ex)
    for i in range(2):
        declare_exchange(rabbitmq.url("tfeed"), f"{split}{i:02d}")
    write_config(sr_env, "shovel", "fan", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {split}
        post_exchangeSplit 2
        """)
    write_config(sr_env, "subscribe", "part", f"""
        broker {rabbitmq.url("tsub")}
        exchange {split}
        exchangeSplit 2
        instances 2
        logStdout on
        subtopic #
        directory {dest}
        mirror on
        """)
    logs = [tmp_path / f"part{n}.log" for n in (1, 2)]
    parts = [start(sr_bin, sr_env, "subscribe", "part", logs[n - 1], ("instance", str(n)))
             for n in (1, 2)]
    fan = start(sr_bin, sr_env, "shovel", "fan", tmp_path / "fan.log")
    names = [f"f{i:02d}.txt" for i in range(20)]
    publish(rabbitmq.url("tfeed"), ex,
            [inline_message(f"d/{n}", n, identity={"method": "md5", "value": md5(n)})
             for n in names])
    assert wait_until(lambda: all((dest / "d" / n).exists() for n in names), TIMEOUT)
    assert stop(fan) == 0
    for p in parts:
        assert stop(p) == 0
    texts = [log.read_text() for log in logs]
    # the split publisher picks the exchange from the identity: sum of its bytes mod 2
    for k, text in enumerate(texts):
        mine = sorted(n for n in names if sum(md5(n).encode()) % 2 == k)
        wrote = sorted(n for n in names if f"/d/{n} (" in text and "wrote " in text)
        assert mine and wrote == mine, (k, wrote, mine, text)
        assert f"exchange {split}{k:02d}" in text, text


def test_declare_and_cleanup_know_each_split_queue(rabbitmq, sr_bin, sr_env):
    """`sr declare` of a config with exchangeSplit and 3 instances makes the three queues,
    each bound to its own split exchange; `sr cleanup` deletes all three."""
    split = f"xsplit{secrets.token_hex(2)}"
    for i in range(3):
        declare_exchange(rabbitmq.url("tfeed"), f"{split}{i:02d}")
    write_config(sr_env, "winnow", "w", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {split}
        exchangeSplit 3
        instances 3
        post_broker {rabbitmq.url("tfeed")}
        post_exchange xs_tfeed_w{secrets.token_hex(2)}
        """)

    def sr(*args):
        r = subprocess.run([sr_bin("sr"), *args], env=sr_env, capture_output=True, text=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    sr("declare", "winnow/w")
    state = Path(sr_env["XDG_CACHE_HOME"]) / "sr" / "winnow" / "w"
    queues = {int(p.name[-8:-6]): p.read_text().strip() for p in state.glob("*.qname")}
    assert sorted(queues) == [1, 2, 3], list(state.iterdir())
    bindings = rabbitmq.ctl("list_bindings", "source_name", "destination_name").stdout
    for i, q in queues.items():
        assert [f"{split}{i - 1:02d}", q] in [l.split() for l in bindings.splitlines()], bindings
    r = sr("cleanup", "winnow/w")
    left = rabbitmq.ctl("list_queues", "name").stdout.split()
    for q in queues.values():
        assert f"deleted queue {q}" in r.stdout
        assert q not in left
