# SPDX-License-Identifier: GPL-2.0-only
"""Messages from the other implementations, read by sr_subscribe as Python sr3 reads them.

An operator moving a subscriber from sr3 to sr keeps the producers it listens to: sr3_post,
sarrac's sr3_cpost, old Sarracenia 2 pumps. Each test here runs the real sr3 subscriber
(../shared/peers, marker needs_sr3) beside sr_subscribe on the same exchange of the test
RabbitMQ, each with its own queue and folder, and checks that the two folders end up the
same: the same files with the same bytes, the same folders, the same links. Where sr
refuses on purpose what sr3 takes (sr-message(7), FROM OTHER IMPLEMENTATIONS), the test
says which message and checks each side's result.
"""
import base64
import hashlib
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import amqp
import pytest

from helpers import snapshot_tree, wait_until, write_config
from sr3peer import needs_sr3

pytestmark = needs_sr3

TIMEOUT = 180  # sr3 and sr side by side on two shared cores: be generous


def run_sr(sr_bin, env, component, name, log):
    """sr_<component> foreground, once it has logged "connected to" (its queue is bound)."""
    out = open(log, "w")
    proc = subprocess.Popen([sr_bin(f"sr_{component}"), "foreground", name], env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    ok = wait_until(lambda: "connected to" in Path(log).read_text() or proc.poll() is not None,
                    TIMEOUT)
    assert ok and proc.poll() is None, Path(log).read_text()
    return proc, out


def stop_sr(proc, out):
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    out.close()
    return rc


def tree_of(root):
    """(files {relPath: sha256}, folders {relPath}, links {relPath: target}) under root."""
    files, dirs = snapshot_tree(root, folders=True)
    links = {}
    for top, subdirs, names in os.walk(root):
        for name in subdirs + names:
            path = os.path.join(top, name)
            if os.path.islink(path):
                links[os.path.relpath(path, root)] = os.readlink(path)
    for rel in links:
        files.pop(rel, None)
        dirs.discard(rel)
    return files, dirs, links


class Pair:
    """An sr3 subscriber and an sr_subscribe on one exchange, each into its own folder."""

    def __init__(self, rabbitmq, sr3, sr_bin, sr_env, tmp_path, topic_prefix):
        self.ex = f"xs_tfeed_m{secrets.token_hex(3)}"
        self.rabbitmq = rabbitmq
        self.sr3_dest, self.sr_dest = tmp_path / "by_sr3", tmp_path / "by_sr"
        self.sr_log = tmp_path / "sr_subscribe.log"
        self.closed = False
        self.conn = amqp.Connection(host=f"{rabbitmq.host}:{rabbitmq.port}", userid="tfeed",
                                    password=rabbitmq.users["tfeed"], virtual_host="/")
        self.conn.connect()
        self.channel = self.conn.channel()
        self.channel.exchange_declare(self.ex, "topic", durable=True, auto_delete=False)
        def config(dest, extra=""):
            # directory and mirror before accept: they apply to the accepts after them
            return (f"broker {rabbitmq.url('tsub')}\nexchange {self.ex}\n"
                    f"topicPrefix {topic_prefix}\nsubtopic #\ndirectory {dest}\nmirror on\n"
                    f"{extra}accept .*\n")
        sr3.write_config("subscribe", "peer", config(self.sr3_dest))
        write_config(sr_env, "subscribe", "peer", config(self.sr_dest, "allowFileUrl on\n"))
        self.sr3_proc = sr3.foreground("subscribe/peer")
        # "binding" itself: sr3peer's wait_ready also takes the "subscriptions.json" error
        # line sr3 writes before it has bound anything
        sr3.wait_log(self.sr3_proc, r"getSetup binding")
        self.sr3 = sr3
        self.sr, self.sr_out = run_sr(sr_bin, sr_env, "subscribe", "peer", self.sr_log)

    def publish_v03(self, body, key):
        text = body if isinstance(body, str) else json.dumps(body)
        self.channel.basic_publish(amqp.Message(text, content_type="application/json",
                                                application_headers={}),
                                   exchange=self.ex, routing_key=key)

    def publish_v02(self, body, headers, key):
        self.channel.basic_publish(amqp.Message(body, content_type="text/plain",
                                                application_headers=headers),
                                   exchange=self.ex, routing_key=key)

    def logs(self):
        return (f"--- sr_subscribe:\n{self.sr_log.read_text()[-4000:]}\n--- sr3:\n"
                f"{self.sr3_proc.log_path.read_text(errors='replace')[-6000:]}")

    def close(self):
        """Stops both subscribers; sr_subscribe's exit status (None when closed before)."""
        if self.closed:
            return None
        self.closed = True
        rc = stop_sr(self.sr, self.sr_out)
        self.sr3.stop_all()
        self.conn.close()
        return rc


@pytest.fixture
def pair_factory(rabbitmq, sr3, sr_bin, sr_env, tmp_path):
    made = []

    def make(topic_prefix):
        made.append(Pair(rabbitmq, sr3, sr_bin, sr_env, tmp_path, topic_prefix))
        return made[-1]
    yield make
    for p in made:
        p.close()


def test_sr3_post_of_a_file_and_a_folder_lands_alike(pair_factory, sr3, rabbitmq, tmp_path):
    """sr3_post FILE FOLDER: sr3 announces the folder and each folder under it (fileOp
    directory), then each file. sr_subscribe makes the same tree as sr3's subscriber,
    empty folders included."""
    src = tmp_path / "src"
    (src / "folder" / "sub").mkdir(parents=True)
    (src / "folder" / "empty").mkdir()
    (src / "top.txt").write_text("top\n")
    (src / "folder" / "a.txt").write_text("a\n")
    (src / "folder" / "sub" / "b.bin").write_bytes(os.urandom(70000))
    pair = pair_factory("v03")
    sr3.write_config("post", "src", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {pair.ex}
        post_baseUrl file:{src}
        post_baseDir {src}
        """)
    sr3.post("-c", "src", str(src / "top.txt"), str(src / "folder"))
    want = tree_of(src)
    assert want[1] == {"folder", "folder/sub", "folder/empty"}
    assert wait_until(lambda: tree_of(pair.sr3_dest) == want and tree_of(pair.sr_dest) == want,
                      TIMEOUT), (tree_of(pair.sr3_dest), tree_of(pair.sr_dest), pair.logs())
    assert pair.close() == 0
    assert "malformed" not in pair.sr_log.read_text()


def sha512_b64(data, wrap=None):
    value = base64.b64encode(hashlib.sha512(data).digest()).decode()
    return value if wrap is None else value[:wrap] + "\n" + value[wrap:]


def test_messages_of_sarrac_sr2_and_sr3_land_as_in_sr3(pair_factory, tmp_path):
    """The forms other producers write, each published as they write it, v03 and v02 on one
    v02.post binding (sr3 and sr both pick the format by content type): sarrac's v03
    (integrity, base64 broken after 78 characters, size as a string, a relPath from /),
    sr3's own base64 broken after 76, Sarracenia 2's parts in v03, times without T or
    fraction, a folder as sr3 announces it, sarrac's folder announced as relPath "", and
    v02's z, m, r, R (on a folder), L and s sums. Then the messages sr refuses on purpose
    and sr3 takes, and the one sr reads and sr3 cannot."""
    src = tmp_path / "src"
    (src / "sarrac").mkdir(parents=True)
    names = ["sarrac/s.txt", "py76.txt", "parts.txt", "times.txt", "cod.txt", "hex.txt",
             "md5.txt", "neg.txt", "words.txt", "badsum.txt", "a b#1.txt", "zz_fence.txt"]
    data = {}
    for n in names:
        data[n] = f"the bytes of {n}\n".encode() * 3
        (src / n).write_bytes(data[n])
    pair = pair_factory("v02.post")
    for dest in (pair.sr3_dest, pair.sr_dest):
        for d in ("gone_r", "gone_R"):
            (dest / d).mkdir(parents=True)
    base = f"file:{src}"
    v03, v02 = pair.publish_v03, pair.publish_v02
    size = {n: len(data[n]) for n in names}

    # sarrac's sr3_cpost: its own JSON spacing, "integrity", a newline inside the base64
    v03('{ "pubTime" : "20261206T090000.5", "baseUrl" : "%s", "relPath" : "/sarrac/s.txt", '
        '"topic" : "v02.post.sarrac", "integrity" : { "method" : "sha512", "value" : %s }, '
        '"source" : "tfeed", "to_clusters" : "ALL", "size" : "%d", "mode" : "0644", '
        '"mtime" : "20261206T085959.25", "atime" : "20261206T085959.25"}  \n'
        % (base, json.dumps(sha512_b64(data["sarrac/s.txt"], 78)), size["sarrac/s.txt"]),
        "v02.post.sarrac")
    v03({"pubTime": "20261206T090000.5", "baseUrl": base, "relPath": "py76.txt",
         "size": size["py76.txt"],
         "identity": {"method": "sha512", "value": sha512_b64(data["py76.txt"], 76)}},
        "v02.post")
    v03({"pubTime": "20201206T090000.5", "baseUrl": base, "relPath": "parts.txt",
         "parts": f"1,{size['parts.txt']},1,0,0"}, "v02.post")
    v03({"pubTime": "20261206090000", "baseUrl": base, "relPath": "times.txt",
         "size": str(size["times.txt"]), "mtime": "20261206085959"}, "v02.post")
    # a folder as sr3_post announces it; a folder as sarrac announces its post_baseDir
    v03({"pubTime": "20261206T090000.5", "baseUrl": base, "relPath": "made3", "mode": "755",
         "fileOp": {"directory": ""}, "contentType": "text/directory"}, "v02.post")
    v03({"pubTime": "20261206T090000.5", "baseUrl": base + "/sarrac", "relPath": "",
         "mode": "0755", "fileOp": {"directory": ""}}, "v02.post")
    # v02, as Sarracenia 2 and sarrac write it
    t2 = "20261206090000.5"
    v02(f"{t2} {base} cod.txt \n", {"sum": "z,d", "parts": f"1,{size['cod.txt']},1,0,0",
                                   "mtime": "20261206085959", "atime": "20261206085959.5"},
        "v02.post")
    v02(f"{t2} {base} hex.txt", {"sum": "s," + hashlib.sha512(data["hex.txt"]).hexdigest(),
                                "parts": f"1,{size['hex.txt']},1,0,0"}, "v02.post")
    v02(f"{t2} {base} md5.txt", {"sum": "d," + hashlib.md5(data["md5.txt"]).hexdigest().upper(),
                                "parts": f"1,{size['md5.txt']},1,0,0"}, "v02.post")
    v02(f"{t2} {base} made2", {"sum": "m," + hashlib.sha512(b"made2").hexdigest(),
                              "mode": "755"}, "v02.post")
    v02(f"{t2} {base} gone_r", {"sum": "r," + hashlib.sha512(b"gone_r").hexdigest()},
        "v02.post")
    v02(f"{t2} {base} gone_R", {"sum": "R," + hashlib.sha512(b"gone_R").hexdigest()},
        "v02.post")
    v02(f"{t2} {base} lnk", {"sum": "L," + hashlib.sha512(b"hex.txt").hexdigest(),
                            "link": "hex.txt"}, "v02.post")
    # sr refuses these, naming the field; sr3 takes them
    v03({"pubTime": "20261206T090000.5", "baseUrl": base, "relPath": "neg.txt", "size": "-5"},
        "v02.post")
    v02(f"{t2} {base} words.txt extra", {"sum": "d," + hashlib.md5(data["words.txt"]).hexdigest()},
        "v02.post")
    v02(f"{t2} {base} badsum.txt", {"sum": "s,zz"}, "v02.post")
    # sr reads v02's %20 and %23 in relPath; sr3 looks for a file named a%20b%231.txt
    v02(f"{t2} {base} a%20b%231.txt", {"sum": "d," + hashlib.md5(data["a b#1.txt"]).hexdigest()},
        "v02.post")
    # last: once it is there, every message before it has been dealt with
    v03({"pubTime": "20261206T090001.5", "baseUrl": base, "relPath": "zz_fence.txt",
         "size": size["zz_fence.txt"]}, "v02.post")

    digest = {n: hashlib.sha256(data[n]).hexdigest() for n in names}
    both = {n: digest[n] for n in ["sarrac/s.txt", "py76.txt", "parts.txt", "times.txt",
                                   "cod.txt", "hex.txt", "md5.txt", "zz_fence.txt"]}
    folders = {"sarrac", "made3", "made2"}
    links = {"lnk": "hex.txt"}
    want_sr3 = (dict(both, **{n: digest[n] for n in ["neg.txt", "words.txt", "badsum.txt"]}),
                folders, links)
    want_sr = (dict(both, **{"a b#1.txt": digest["a b#1.txt"]}), folders, links)
    assert wait_until(lambda: tree_of(pair.sr3_dest) == want_sr3
                      and tree_of(pair.sr_dest) == want_sr, TIMEOUT), \
        (tree_of(pair.sr3_dest), tree_of(pair.sr_dest), pair.logs())
    # the times the producers gave, on both sides
    for n in ["times.txt", "cod.txt"]:
        assert (pair.sr_dest / n).stat().st_mtime == (pair.sr3_dest / n).stat().st_mtime, n
    assert pair.close() == 0
    log = pair.sr_log.read_text()
    for reason in ['message field relPath "": names no file',
                   "message field size: not a number of bytes",
                   'not "pubTime baseUrl relPath"',  # the body, cut at 64 bytes, before
                   'v02 sum "s,zz": sha512 needs 128 hex digits']:
        assert reason in log, (reason, log)
    assert log.count("malformed message") == 4, log
