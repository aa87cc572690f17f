# SPDX-License-Identifier: GPL-2.0-only
"""User story 2 of issue 7: sr_sarra as a mesh peer and as a pump, over real servers.

1. A mesh of three peers in a ring over MQTT (as sr3's MESH demo has it). Peer i has its
   own Mosquitto (where it announces), its own nginx serving its tree at
   http://127.0.0.1:<port>/, and one sr_sarra subscribed to the NEXT peer's Mosquitto,
   downloading over http from the next peer's nginx into its own tree and announcing there
   with its own nginx as baseUrl. Files posted on any peer reach every tree with the same
   checksum, each peer downloads each file once (the peer that posted it: never), and the
   ring goes quiet: when a file comes back to a peer that already has the announced
   identity, the sarra neither downloads nor announces it again (sr_sarra(1)).
   Two peers posting different versions of one relPath converge on the newer one (a
   message whose mtime is not newer than the file already there is not downloaded), and
   a file travelling as inline content goes round once like a downloaded one.
2. An AMQP pump: sr_sarra from RabbitMQ vhost "/" (exchange xs_tfeed_...) to a second
   vhost of the same node (exchange xpublic), serving its tree over nginx, and an
   sr_subscribe on the second vhost receiving identical files.
3. A download that fails goes to the retry queue and succeeds later: the source's nginx
   is down when the file is announced and back a few seconds later; the file arrives
   with the first retry (retryDelay 5 here; 60 s by default).
"""
import hashlib
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

import fixtures_web
from fixtures_web import Nginx
from servers import Mosquitto
from helpers import (Component, sha256_file, snapshot_tree, sr_home_env, tool_path, wait_until,
                     write_config)

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
QUIET = 5  # seconds without a message or a download that make a ring "quiet"
PEERS = 3


# ---- helpers ----

def sha256_or_none(path):
    """sha256 of path, None while there is no file there (not arrived yet)."""
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def sr_post(sr_bin, env, config, *paths):
    r = subprocess.run([sr_bin("sr_post"), "-c", config, *[str(p) for p in paths]], env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def write_file(path, size, mtime=None, seed=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size) if seed is None else \
        (hashlib.sha512(seed.encode()).digest() * (size // 64 + 1))[:size]
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# ---- the mesh ----

class Peer:
    def __init__(self, index, mosquitto, nginx):
        self.index = index
        self.name = f"peer{index}"
        self.mosquitto = mosquitto
        self.nginx = nginx
        self.tree = nginx.root
        self.sarra = None

    # what the sarra logged (lib/download.c, lib/flow.c)
    def downloads(self):
        return self.sarra.count("downloaded ")

    def posts(self):
        return self.sarra.count("posted ")

    def skips(self):
        return self.sarra.count("already here, not downloaded") + \
            self.sarra.count("not newer, not downloaded")


class Mesh:
    def __init__(self, env, peers, sr_bin, tool):
        self.env = env
        self.peers = peers
        self.sr_bin = sr_bin
        self.tool = tool

    def post(self, i, *paths):
        return sr_post(self.sr_bin, self.env, self.peers[i].name, *paths)

    def counts(self):
        return [(p.downloads(), p.posts(), p.skips()) for p in self.peers]

    def logs(self):
        return "\n".join(f"=== {p.name} ===\n{p.sarra.text()}" for p in self.peers)

    def trees(self):
        # the sarras write NAME.tmp and rename it while we look (snapshot_tree)
        return [snapshot_tree(p.tree) for p in self.peers]

    def assert_quiet(self, seconds=QUIET):
        """No message on any peer's Mosquitto for `seconds`, and no sarra downloaded,
        announced or skipped anything meanwhile: the ring has stopped. A first window
        may see the last skips of announcements already delivered when the trees
        converged (a skip publishes nothing); then a second window must be silent."""
        heard, before, after = self._quiet_window(seconds)
        if not heard and before != after:
            heard, before, after = self._quiet_window(seconds)
        assert not heard and before == after, \
            (f"the ring is not quiet: messages {heard[:10]}, counts {before} -> {after}\n"
             + self.logs()[-20000:])

    def _quiet_window(self, seconds):
        """(messages heard on the peers' brokers in `seconds`, counts before, after)."""
        before = self.counts()
        consumers = []
        for p in self.peers:
            proc = subprocess.Popen(
                [self.tool, "consume", p.mosquitto.url("tsub"),
                 "--queue", f"q_tsub.sr_test.quiet{secrets.token_hex(3)}",
                 "--client-id", f"sr_test_quiet_{secrets.token_hex(4)}",
                 "--bind", "xpublic:xpublic/#", "--max", "100", "--timeout", str(seconds)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = proc.stdout.readline()
            assert "subscribed" in first, proc.stderr.read()
            consumers.append(proc)
        heard = []
        for p, proc in zip(self.peers, consumers):
            out, _ = proc.communicate(timeout=seconds + 30)
            heard += [(p.name, json.loads(json.loads(l)["body"])["relPath"])
                      for l in out.splitlines() if l.strip()]
        return heard, before, self.counts()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, sr_bin, build_dir):
    base = tmp_path_factory.mktemp("mesh")
    env = sr_home_env(base / "home")
    servers, peers = [], []
    try:
        for i in range(PEERS):
            m = Mosquitto(base / f"mosquitto{i}")
            servers.append(m)
            m.start()
            w = Nginx(base / f"nginx{i}")
            servers.append(w)
            w.start()
            peers.append(Peer(i, m, w))
        for p in peers:
            upstream = peers[(p.index + 1) % PEERS]
            # as sr3's mesh demo has it: each peer subscribes to one upstream peer
            write_config(env, "sarra", p.name, f"""
                broker {upstream.mosquitto.url("tsub")}
                exchange xpublic
                subtopic #
                directory {p.tree}
                mirror on
                inflight .tmp
                logReject on
                post_broker {p.mosquitto.url("tfeed")}
                post_exchange xpublic
                post_baseUrl {p.nginx.url("/")}
                post_baseDir {p.tree}
                """)
            write_config(env, "post", p.name, f"""
                post_broker {p.mosquitto.url("tfeed")}
                post_exchange xpublic
                post_baseUrl {p.nginx.url("/")}
                post_baseDir {p.tree}
                """)
        for p in peers:
            p.sarra = Component(sr_bin, env, "sarra", p.name, base / f"sarra_{p.name}.log")
        for p in peers:
            p.sarra.wait_ready()
        yield Mesh(env, peers, sr_bin, tool_path(build_dir, "sr_broker_tool"))
    finally:
        for p in peers:
            if p.sarra is not None:
                p.sarra.stop()
        for s in reversed(servers):
            s.stop()


def test_mesh_ring_delivers_every_file_once_and_goes_quiet(mesh):
    """Files posted on each of the three peers reach every tree, identical; each peer
    downloads each file it did not post exactly once and announces it once; each file
    comes back to the peer that posted it, which already has it and stays silent; then
    nothing moves for QUIET seconds."""
    posted = {}  # relPath -> index of the peer that posted it
    for origin in range(PEERS):
        tree = mesh.peers[origin].tree
        names = [f"from{origin}/a.bin", f"from{origin}/deep/er/b.bin", f"top{origin}.bin"]
        for n, name in enumerate(names):
            write_file(tree / name, [5000, 70000, 300000][n])
            posted[name] = origin
        mesh.post(origin, *[tree / name for name in names])
    origin_tree = {rel: sha256_file(mesh.peers[o].tree / rel) for rel, o in posted.items()}

    assert wait_until(lambda: all(t == origin_tree for t in mesh.trees()), TIMEOUT), \
        ([sorted(set(origin_tree) - set(t)) for t in mesh.trees()], mesh.logs()[-20000:])
    # every file goes once around: downloaded and announced by the two other peers, then
    # skipped by the one that posted it
    expected = [(sum(1 for o in posted.values() if o != p.index),) * 2 +
                (sum(1 for o in posted.values() if o == p.index),) for p in mesh.peers]
    assert wait_until(lambda: mesh.counts() == expected, TIMEOUT), \
        (mesh.counts(), expected, mesh.logs()[-20000:])
    mesh.assert_quiet()
    for p in mesh.peers:
        for rel, o in posted.items():
            if o != p.index:
                assert p.sarra.count(f"downloaded {p.tree}/{rel} ") == 1, p.sarra.text()


def test_mesh_same_relpath_from_two_peers_converges_on_the_newer(mesh):
    """Peer 0 and peer 1 post different contents (same size) under one relPath, peer 1's
    newer: every tree ends with peer 1's version and the ring goes quiet. What decides is
    sr3's rule: a message whose mtime is not newer than the local file's is not
    downloaded; without it the two versions chase each other round the
    ring for ever (each peer overwrites, announces, and is overwritten again)."""
    rel = "clash/same.bin"
    now = time.time()
    older = write_file(mesh.peers[0].tree / rel, 20000, mtime=now - 100, seed="older")
    newer = write_file(mesh.peers[1].tree / rel, 20000, mtime=now - 10, seed="newer")
    want = sha256_file(newer)
    assert sha256_file(older) != want
    mesh.post(0, older)
    mesh.post(1, newer)
    # a peer may not have the file yet (sha256_or_none)
    assert wait_until(lambda: all(sha256_or_none(p.tree / rel) == want for p in mesh.peers),
                      TIMEOUT), \
        ([sha256_or_none(p.tree / rel) == want for p in mesh.peers], mesh.logs()[-20000:])
    mesh.assert_quiet()
    for p in mesh.peers:
        assert sha256_file(p.tree / rel) == want
        assert abs((p.tree / rel).stat().st_mtime - (now - 10)) < 0.01


def test_mesh_inline_content_goes_round_once(mesh):
    """A small file posted with its content inline (inline on) is written by every peer
    from the message, without a download, and the ring goes quiet: the mesh rule applies
    to inline content as to a download (sr3 decides before writing either)."""
    p0 = mesh.peers[0]
    write_config(mesh.env, "post", "peer0_inline", f"""
        post_broker {p0.mosquitto.url("tfeed")}
        post_exchange xpublic
        post_baseUrl {p0.nginx.url("/")}
        post_baseDir {p0.tree}
        inline on
        """)
    rel = "inline/small.txt"
    (p0.tree / rel).parent.mkdir(parents=True, exist_ok=True)
    (p0.tree / rel).write_text("small enough to travel inside the message\n")
    want = sha256_file(p0.tree / rel)
    downloads = [p.downloads() for p in mesh.peers]
    sr_post(mesh.sr_bin, mesh.env, "peer0_inline", p0.tree / rel)
    assert wait_until(lambda: all(sha256_or_none(p.tree / rel) == want for p in mesh.peers),
                      TIMEOUT), mesh.logs()[-20000:]
    assert wait_until(lambda: p0.sarra.count(f"{p0.tree}/{rel}: ") == 1, TIMEOUT), \
        mesh.logs()[-20000:]
    mesh.assert_quiet()
    assert [p.downloads() for p in mesh.peers] == downloads
    for p in mesh.peers[1:]:
        assert p.sarra.count(f"wrote {p.tree}/{rel} ") == 1, p.sarra.text()


# ---- the AMQP pump ----

def test_amqp_pump_between_vhosts_then_subscriber(rabbitmq, nginx, sr_bin, sr_env,
                                                  build_dir, tmp_path):
    """sr_post (vhost /, exchange xs_tfeed_...) -> sr_sarra -> a second vhost (exchange
    xpublic), the pump serving its copy over nginx -> sr_subscribe on the second vhost:
    the subscriber's tree is identical to the source's, each file downloaded once by the
    pump and once by the subscriber."""
    tool = tool_path(build_dir, "sr_broker_tool")
    tok = secrets.token_hex(3)
    vhost = f"sr_down_{tok}"
    # one rabbitmqctl run (an Erlang VM start each) for the vhost and its permissions
    defs = tmp_path / "vhost.json"
    defs.write_text(json.dumps({
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": u, "vhost": vhost, "configure": ".*", "write": ".*",
                         "read": ".*"} for u in ("tfeed", "tsub")]}))
    rabbitmq.ctl("import_definitions", str(defs))
    up = {u: rabbitmq.url(u) for u in ("tfeed", "tsub")}
    down = {u: rabbitmq.url(u).rstrip("/") + "/" + vhost for u in ("tfeed", "tsub")}
    src, pump, dest = nginx.root / f"src_{tok}", nginx.root / f"pump_{tok}", tmp_path / "dest"
    ex_in = f"xs_tfeed_pump{tok}"
    # both exchanges exist before anything binds to them
    for url, ex in ((up["tfeed"], ex_in), (down["tfeed"], "xpublic")):
        r = subprocess.run([tool, "publish", url, ex, "v03.declare"], input="",
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr
    write_config(sr_env, "post", "src", f"""
        post_broker {up["tfeed"]}
        post_exchange {ex_in}
        post_baseUrl {nginx.url(f"/src_{tok}/")}
        post_baseDir {src}
        """)
    write_config(sr_env, "sarra", "pump", f"""
        broker {up["tfeed"]}
        exchange {ex_in}
        subtopic #
        directory {pump}
        mirror on
        inflight .tmp
        post_broker {down["tfeed"]}
        post_exchange xpublic
        post_baseUrl {nginx.url(f"/pump_{tok}/")}
        post_baseDir {pump}
        """)
    write_config(sr_env, "subscribe", "end", f"""
        broker {down["tsub"]}
        exchange xpublic
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        """)
    sarra = Component(sr_bin, sr_env, "sarra", "pump", tmp_path / "pump.log").wait_ready()
    sub = Component(sr_bin, sr_env, "subscribe", "end", tmp_path / "end.log").wait_ready()
    try:
        names = [f"obs/{i % 3}/f{i:02d}.bin" for i in range(12)]
        for i, name in enumerate(names):
            write_file(src / name, [0, 1, 5000, 100000][i % 4])
        sr_post(sr_bin, sr_env, "src", *[src / n for n in names])
        want = snapshot_tree(src)
        assert wait_until(lambda: snapshot_tree(dest) == want, TIMEOUT), \
            (sorted(set(want) - set(snapshot_tree(dest))), sarra.text(), sub.text())
        # the pump announced each file once it was whole: all are there
        assert snapshot_tree(pump) == want
    finally:
        rc_sub, rc_sarra = sub.stop(), sarra.stop()
    assert (rc_sub, rc_sarra) == (0, 0)
    assert sarra.count("downloaded ") == len(names), sarra.text()
    assert sarra.count("posted ") == len(names), sarra.text()
    assert sub.count("downloaded ") == len(names), sub.text()
    # the subscriber fetched from the pump's nginx, not from the source
    assert all(f"/pump_{tok}/" in line for line in nginx.access_log.read_text().splitlines()
               if f"_{tok}/obs/" in line and f"/src_{tok}/" not in line)


# ---- retry ----

def test_download_that_fails_is_retried_and_arrives(mosquitto, sr_bin, sr_env, tmp_path,
                                                    monkeypatch):
    """The source's nginx is down when the file is announced: the subscriber tries
    `attempts` times, queues it for retry (a warning, not an error), and once nginx is back
    the retry (retryDelay later) downloads it: the file arrives whole, once."""
    web = Nginx(tmp_path / "web")
    web.start()
    try:
        port = web.port
        src, dest = web.root / "src", tmp_path / "dest"
        ex = f"xs_tfeed_r{secrets.token_hex(2)}"
        write_config(sr_env, "post", "src", f"""
            post_broker {mosquitto.url("tfeed")}
            post_exchange {ex}
            post_baseUrl {web.url("/src/")}
            post_baseDir {src}
            """)
        write_config(sr_env, "subscribe", "get", f"""
            broker {mosquitto.url("tsub")}
            exchange {ex}
            subtopic #
            directory {dest}
            mirror on
            inflight .tmp
            retryDelay 5
            """)
        sub = Component(sr_bin, sr_env, "subscribe", "get", tmp_path / "get.log").wait_ready()
        try:
            web.stop()  # connections to its port are now refused
            f = write_file(src / "late/file.bin", 50000)
            want = sha256_file(f)
            sr_post(sr_bin, sr_env, "src", f)
            assert wait_until(lambda: "will retry" in sub.text(), TIMEOUT), sub.text()
            failed_at = time.monotonic()
            assert not (dest / "late/file.bin").exists()
            # the same port again: the message's baseUrl names it
            monkeypatch.setattr(fixtures_web, "free_port", lambda: port)
            time.sleep(2)  # the story: the server comes back a while after the failure
            web.start()
            assert web.port == port
            assert wait_until(lambda: (dest / "late/file.bin").exists(), TIMEOUT), sub.text()
            waited = time.monotonic() - failed_at
        finally:
            rc = sub.stop()
        assert rc == 0
        assert sha256_file(dest / "late/file.bin") == want
        log = sub.text()
        assert log.count("will retry") == 1, log
        assert log.count("downloaded ") == 1, log
        assert "[ERROR]" not in log and " ERROR " not in log, log
        assert waited > 4, waited  # it came from the retry queue after retryDelay
    finally:
        web.stop()
