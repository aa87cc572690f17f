# SPDX-License-Identifier: GPL-2.0-only
"""Options that change what is announced or where a file lands, seen as their users see them.

- `rename` on sr_post: every message says where subscribers write the file (the `rename`
  field); its relPath stays the file's own, so it is still fetched from there.
- `filename` (Sundew naming) and `baseUrl_relPath` on a subscriber: the name and folder the
  file is written under.
- `retryEmptyBeforeExit` on sr_post: a post whose broker is away waits for it instead of
  leaving its messages in the retry queue.
- `v2compatRenameDoublePost` on sr_watch: a rename goes as the removal of the old name
  (with `newname`) and the new file, as v2 posted it.
- `follow_symlinks` on sr_post and sr_watch: the files of a linked folder are announced
  under the link's name, once each even when links make a loop.

Where sr3 is beside the project (../shared/peers) the same subscriber configurations run
under sr3 too and must land the same files at the same places.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
from pathlib import Path

from helpers import wait_until, write_config
from sr3peer import PEERS
from test_subscribe import run_component, stop
import test_watch
from test_watch import INTERVAL

hot = test_watch.hot  # the fixture of test_watch: a watched tree and a consumer of it

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


def post(sr_bin, env, config, *paths, check=True):
    r = subprocess.run([sr_bin("sr_post"), "-c", config, *map(str, paths)], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def consumer(broker_tool, url, exchange, expected, timeout=TIMEOUT):
    """sr_broker_tool consuming exchange (bound before this returns); the function it
    returns collects up to `expected` messages as (topic, body) pairs."""
    queue = f"q_tsub.optpost.{secrets.token_hex(4)}"
    proc = subprocess.Popen([broker_tool, "consume", url, "--queue", queue, "--bind",
                             f"{exchange}:#", "--max", str(expected), "--timeout", str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "subscribed" in first, proc.stderr.read() if proc.poll() is not None else first

    def collect():
        out, err = proc.communicate(timeout=timeout + 30)
        msgs = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [(m["topic"], json.loads(m["body"])) for m in msgs], err
    return collect


def declare_exchange(broker_tool, url, exchange):
    r = subprocess.run([broker_tool, "publish", url, exchange, "v03.declare"], input="",
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


# ---- consumer side: rename, filename, baseUrl_relPath, sr beside sr3 ----

def subscriber_configs(rabbitmq, ex, dest):
    """The subscriber configurations of the placement test, by name, for a destination
    root; the same text is run by sr and by sr3."""
    head = f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        topicPrefix v03
        subtopic #
        mirror on
        """
    return {
        # Sundew naming: a keyword after one accept, the filename option for the next
        "names": head + f"""
        directory {dest}/names
        accept .*/keep/.* DESTFN=fixed.txt
        filename NONE
        accept .*/px/.*
        filename WHATFN:TIME
        accept .*/stamped/.*
        filename None
        accept .*
        """,
        # the baseUrl's path is part of where the files go
        "bur": head + f"""
        directory {dest}/bur
        baseUrl_relPath on
        accept .*/plain\\.txt$
        reject .*
        """,
    }


def test_rename_filename_and_baseUrl_relPath_place_files_as_sr3_does(
        rabbitmq, sr_bin, sr_env, broker_tool, sr3, tmp_path):
    """A poster renames one file (rename /renamed/); subscribers name files by Sundew rules
    and place them under the baseUrl's path: each lands where the options say, and sr3
    running the same subscriber configurations lands the same files at the same places."""
    src, dest, dest3 = tmp_path / "src", tmp_path / "dest", tmp_path / "dest3"
    files = {"plain.txt": "plain\n",
             "keep/k.txt": "kept under a fixed name\n",
             "px/obs.xml:CWAO:SA:3:D:20261125101010:extra": "a PX name\n",
             "stamped/s.txt": "stamped\n",
             "r.txt": "renamed by the poster\n"}
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    ex = f"xs_tfeed_op{secrets.token_hex(2)}"
    common = f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{src}/
        post_baseDir {src}
        """
    write_config(sr_env, "post", "plain", common)
    write_config(sr_env, "post", "renamed", common + "rename /renamed/\n")
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)

    with_sr3 = PEERS.is_dir()
    procs = []
    try:
        for name, text in subscriber_configs(rabbitmq, ex, dest).items():
            write_config(sr_env, "subscribe", name, text + "allowFileUrl on\n")
            procs.append(run_component(sr_bin, sr_env, "subscribe", name,
                                       tmp_path / f"sub_{name}.log"))
        if with_sr3:
            for name, text in subscriber_configs(rabbitmq, ex, dest3).items():
                sr3.write_config("subscribe", name, text)
                # not sr3.wait_ready: its pattern also matches sr3's log line about
                # "sarracenia.config.subscription", written before the queue is bound
                sr3.wait_log(sr3.foreground(f"subscribe/{name}"), r"getSetup binding")
        collect = consumer(broker_tool, rabbitmq.url("tsub"), ex, len(files))

        post(sr_bin, sr_env, "plain", *[src / r for r in files if r != "r.txt"])
        post(sr_bin, sr_env, "renamed", src / "r.txt")

        # what the poster announced: the renamed file keeps its relPath, says where to go
        msgs, err = collect()
        by_rel = {body["relPath"]: body for _, body in msgs}
        assert set(by_rel) == set(files), err
        assert by_rel["r.txt"]["rename"] == "/renamed/r.txt"
        assert all("rename" not in b for r, b in by_rel.items() if r != "r.txt")

        stamp = None
        want = {
            "names/plain.txt": "plain\n",
            "names/keep/fixed.txt": "kept under a fixed name\n",
            "names/px/obs.xml:CWAO:SA:3:D:20261125101010": "a PX name\n",
            "names/renamed/r.txt": "renamed by the poster\n",
            f"bur/{str(src).lstrip('/')}/plain.txt": "plain\n",
        }

        def landed(root):
            got = {str(p.relative_to(root)): p.read_text()
                   for p in root.rglob("*") if p.is_file()}
            stamped = [k for k in got if k.startswith("names/stamped/s.txt:")]
            return got, stamped

        def complete(root):
            got, stamped = landed(root)
            return len(stamped) == 1 and all(got.get(k) == v for k, v in want.items())
        ok = wait_until(lambda: complete(dest), TIMEOUT)
        got, stamped = landed(dest)
        logs = "".join((tmp_path / f"sub_{n}.log").read_text() for n in ("names", "bur"))
        assert ok, (sorted(got), logs[-3000:])
        # TIME appends the message's pubTime, without its fraction and its T
        stamp = stamped[0].split(":", 1)[1]
        assert len(stamp) == 14 and stamp.isdigit(), stamped
        assert set(got) == set(want) | set(stamped), sorted(got)

        if with_sr3:
            ok3 = wait_until(lambda: complete(dest3), TIMEOUT)
            got3, _ = landed(dest3)
            assert ok3 and got3 == got, ("sr3 only:", sorted(set(got3.items()) - set(got.items())),
                                         "sr only:", sorted(set(got.items()) - set(got3.items())))
    finally:
        for proc, out in procs:
            stop(proc, out)


# ---- retryEmptyBeforeExit: a one-shot post waits for its broker ----

class Forwarder:
    """A TCP port that, once opened, forwards each connection to (host, port): a broker
    that is away until the test brings it back."""

    def __init__(self, host, port):
        self.target = (host, port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens there until open()
        self.server = None

    def open(self):
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        if self.server is not None:
            self.server.close()


def test_retryEmptyBeforeExit_waits_for_the_broker(rabbitmq, sr_bin, sr_env, broker_tool,
                                                   tmp_path):
    """sr_post with its broker away: without retryEmptyBeforeExit it exits at once (1),
    its message kept for the next run; with it, it waits, and once the broker is back the
    message is posted and sr_post exits 0."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello\n")
    away = Forwarder(rabbitmq.host, rabbitmq.port)
    url = rabbitmq.url("tfeed").replace(f":{rabbitmq.port}", f":{away.port}")
    ex = f"xs_tfeed_re{secrets.token_hex(2)}"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    for name, extra in (("quick", ""), ("patient", "retryEmptyBeforeExit on\n")):
        write_config(sr_env, "post", name, f"""
            post_broker {url}
            post_exchange {ex}
            post_baseUrl file:{src}/
            post_baseDir {src}
            retryDelay 1
            """ + extra)
    try:
        r = post(sr_bin, sr_env, "quick", src / "a.txt", check=False)
        assert r.returncode == 1 and "kept in the post retry queue" in r.stderr, r.stderr

        collect = consumer(broker_tool, rabbitmq.url("tsub"), ex, 1)
        log = tmp_path / "patient.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sr_bin("sr_post"), "-c", "patient", str(src / "a.txt")],
                                    env=sr_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            assert wait_until(lambda: "retrying until they are posted" in log.read_text()
                              or proc.poll() is not None, TIMEOUT), log.read_text()
            assert proc.poll() is None, log.read_text()  # still waiting for its broker
            away.open()
            assert proc.wait(timeout=TIMEOUT) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        msgs, err = collect()
        assert [b["relPath"] for _, b in msgs] == ["a.txt"], err
        assert "not posted" not in log.read_text()
    finally:
        away.close()


# ---- v2compatRenameDoublePost: a rename as v2 posted it ----

def watch_exchange(sr_env, name="hot"):
    """The post_exchange of the watch config test_watch's `hot` fixture wrote."""
    conf = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "watch" / f"{name}.conf"
    return re.search(r"^post_exchange (\S+)$", conf.read_text(), re.M).group(1)


def test_v2compatRenameDoublePost_posts_a_removal_then_the_rename(hot, rabbitmq, sr_bin, sr_env,
                                                                   tmp_path):
    """A watched file renamed: with v2compatRenameDoublePost the watch posts the removal of
    the old name carrying `newname`, then the new file with fileOp.rename (sr3 posts the
    pair so). A subscriber that gets both moves its copy once: it takes the removal half
    as done (sr3 does) instead of deleting the file and fetching it again."""
    dest = tmp_path / "dest"
    tree, consumer, watch = hot(f"v2compatRenameDoublePost on\npost_baseUrl file:{tmp_path}/tree/\n")
    ex = watch_exchange(sr_env)
    write_config(sr_env, "subscribe", "mirror", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex}
        subtopic #
        directory {dest}
        mirror on
        allowFileUrl on
        """)
    sub = run_component(sr_bin, sr_env, "subscribe", "mirror", tmp_path / "sub.log")
    try:
        (tree / "sub").mkdir()
        (tree / "sub" / "a.txt").write_text("moved, not fetched again\n")
        got = consumer.get(2)
        assert sorted(m["relPath"] for m in got) == ["sub", "sub/a.txt"], got
        assert wait_until(lambda: (dest / "sub" / "a.txt").is_file(), TIMEOUT)
        (tree / "sub" / "a.txt").rename(tree / "sub" / "b.txt")
        first, second = consumer.get(2)
        assert first["relPath"] == "sub/a.txt"
        assert first["fileOp"] == {"remove": ""} and first["newname"] == "/sub/b.txt"
        assert second["relPath"] == "sub/b.txt"
        assert second["fileOp"] == {"rename": "sub/a.txt"}
        assert consumer.quiet(2 * INTERVAL) == []
        assert wait_until(lambda: (dest / "sub" / "b.txt").is_file()
                          and not (dest / "sub" / "a.txt").exists(), TIMEOUT)
        log = (tmp_path / "sub.log").read_text()
        assert log.count("downloaded ") == 1 and "renamed " in log, log
        assert "removed " not in log, log
        watch.stop()
    finally:
        stop(*sub)


# ---- follow_symlinks ----

def linked_tree(tmp_path):
    """tree/real/f.txt; tree/lnk -> real; tree/out -> a folder outside the tree; tree/loop
    -> the tree itself; tree/flink -> real/f.txt. Returns (tree, outside)."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "real").mkdir(parents=True)
    (tree / "real" / "f.txt").write_text("f\n")
    outside.mkdir()
    (outside / "o.txt").write_text("outside\n")
    os.symlink("real", tree / "lnk")
    os.symlink(str(outside), tree / "out")
    os.symlink("..", tree / "real" / "loop")
    os.symlink("real/f.txt", tree / "flink")
    return tree, outside


def test_follow_symlinks_on_post_walks_linked_folders_once_and_a_sender_stays_in_baseDir(
        rabbitmq, sr_bin, sr_env, broker_tool, tmp_path):
    """sr_post of a tree with links to folders: without follow_symlinks the links are
    announced as links; with it the files of the folders they lead to are announced too,
    under the link's name, and a link back up the tree (a loop) is not followed. A sender
    whose baseDir is the tree sends what is in it but reads nothing through a link, so
    the file outside the tree stays where it is."""
    tree, outside = linked_tree(tmp_path)
    ex = f"xs_tfeed_fl{secrets.token_hex(2)}"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex)
    common = f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex}
        post_baseUrl file:{tree}/
        post_baseDir {tree}
        """
    write_config(sr_env, "post", "nofollow", common)
    write_config(sr_env, "post", "follow", common + "follow_symlinks on\n")
    links = {"lnk": "real", "out": str(outside), "real/loop": "..", "flink": "real/f.txt"}

    collect = consumer(broker_tool, rabbitmq.url("tsub"), ex, 5, timeout=30)
    post(sr_bin, sr_env, "nofollow", tree)
    msgs, err = collect()
    got = {b["relPath"]: b.get("fileOp", {}).get("link") for _, b in msgs}
    assert got == {"real/f.txt": None, **links}, err

    dest = tmp_path / "dest"
    write_config(sr_env, "sender", "push", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex}
        subtopic #
        baseDir {tree}
        sendTo file:/
        directory {dest}
        mirror on
        fileEvents -link
        """)
    sender = run_component(sr_bin, sr_env, "sender", "push", tmp_path / "sender.log")
    try:
        collect = consumer(broker_tool, rabbitmq.url("tsub"), ex, 8, timeout=30)
        r = post(sr_bin, sr_env, "follow", tree)
        assert "real/loop leads back to a folder it is in" in r.stderr, r.stderr
        assert "lnk/loop leads back to a folder it is in" in r.stderr, r.stderr
        msgs, err = collect()
        got = {b["relPath"]: b.get("fileOp", {}).get("link") for _, b in msgs}
        # lnk/loop: the folder's own link, seen through lnk too
        assert got == {"real/f.txt": None, "lnk/f.txt": None, "out/o.txt": None,
                       "lnk/loop": "..", **links}, err
        assert len(msgs) == 8, err

        # the sender: the tree's own file sent; none read through a link
        log = tmp_path / "sender.log"
        assert wait_until(lambda: (dest / "real" / "f.txt").is_file()
                          and log.read_text().count("refused") >= 2, TIMEOUT), log.read_text()
        assert not (dest / "out").exists() and not (dest / "lnk").exists()
    finally:
        stop(*sender)


def test_follow_symlinks_on_watch_sees_into_linked_folders(hot, tmp_path):
    """sr_watch with follow_symlinks: a file written in a folder the tree links to is
    announced under the link's name (the link is watched); a loop is not followed; when
    the link goes, what was announced beneath it is announced removed."""
    outside = tmp_path / "outside"
    outside.mkdir()

    def prepare(tree):
        (tree / "real").mkdir()
        os.symlink(str(outside), tree / "out")
        os.symlink("..", tree / "real" / "loop")
    tree, consumer, watch = hot("follow_symlinks on\n", prepare)
    (outside / "o.txt").write_text("written outside, seen through the link\n")
    (tree / "real" / "r.txt").write_text("in the tree\n")
    got = {m["relPath"]: m for m in consumer.get(2)}
    assert set(got) == {"out/o.txt", "real/r.txt"}, got
    # a link made while watching is followed at once
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    os.symlink(str(other), tree / "late")
    got = {m["relPath"]: m for m in consumer.get(2)}
    assert set(got) == {"late", "late/sub"}, got
    (other / "sub" / "s.txt").write_text("s\n")
    got = [m["relPath"] for m in consumer.get(1)]
    assert got == ["late/sub/s.txt"], got
    # the link removed: what was seen through it is gone for subscribers
    (tree / "late").unlink()
    got = {m["relPath"]: m.get("fileOp") for m in consumer.get(3)}
    assert got == {"late": {"remove": ""}, "late/sub/s.txt": {"remove": ""},
                   "late/sub": {"remove": "", "directory": ""}}, got
    # and changes there are no longer seen
    (other / "sub" / "t.txt").write_text("t\n")
    assert consumer.quiet(2 * INTERVAL) == []
    watch.stop()


def test_check_refuses_the_filename_forms_sr_cannot_do(sr_bin, sr_env):
    """`filename DESTFNSCRIPT=...` (a Python plugin in sr3) or a word Sundew does not know
    is refused by check, naming the line; the forms sr does are accepted."""
    for text, refused in (("filename NONE:TIME\naccept .* DESTFN=x.txt\n", None),
                          ("accept .*/a/.* DESTFNSCRIPT=mine.Name\n", "plugin"),
                          ("filename WHATFN:SOMETIMES\naccept .*\n", "SOMETIMES")):
        write_config(sr_env, "subscribe", "named", "broker amqp://u@localhost/\n"
                     "subtopic #\ndirectory /tmp/x\n" + text)
        r = subprocess.run([sr_bin("sr_subscribe"), "check", "named"], env=sr_env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        out = r.stdout + r.stderr
        if refused is None:
            assert r.returncode == 0, out
        else:
            assert r.returncode != 0 and refused in out, out
