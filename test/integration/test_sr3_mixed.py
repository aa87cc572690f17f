# SPDX-License-Identifier: GPL-2.0-only
"""sr and Python sr3 (../shared/peers) working together over the same servers.

Issue 16: operators move one component at a time, so an sr component must take what an
sr3 one announces, and the other way round, over the same RabbitMQ (and Mosquitto), with
the same files arriving, each once:

1. sr3_post -> sr_subscribe and sr_post -> sr3 subscribe, over AMQP. Not over MQTT: this
   sr3 speaks MQTT only through paho-mqtt 2.1 or later and Debian 12, where the tests run,
   packages 1.6.1 (sr's own MQTT runs are in test_broker_mqtt.py and test_shovel.py);
2. sr_watch -> sr3 sender and sr3 watch -> sr_sender over sftp, with the hot-directory
   guide's configurations (test_sr3_hotdir.HotGuide) in one HOME: the sr3 tree as the
   guide has it, the sr tree from `sr import`; both land in the absolute remote folder;
3. sr3_post (v02 and v03) -> sr_shovel -> sr3 subscribe;
4. a ring of three sarra peers copying from each other (as test_story_mesh.py), one of
   them sr3's: every file in every tree, each downloaded once per peer, then quiet. Over
   AMQP (one exchange per peer on the session's RabbitMQ), sr3 having no MQTT here.

Files are compared by sha256; counts are taken from what each side logs ("downloaded ok:"
and "sent ok:" for sr3, "downloaded"/"sent"/"posted" for sr).
"""
import hashlib
import secrets
import subprocess
from pathlib import Path

import pytest

from fixtures_web import Nginx
from helpers import Component, sha256_file, snapshot_tree, wait_until, write_config
from sr3peer import needs_sr3
from test_sr3_hotdir import SENDERS, HotGuide, assert_landed_intact

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer


def declare_exchange(tool, url, exchange):
    """The exchange exists before anything binds to it (what `sr3 declare` does)."""
    r = subprocess.run([tool, "publish", url, exchange, "v03.declare"], input="",
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr


def wait_bound(rabbitmq, exchange):
    """Until a queue is bound to exchange on the broker. sr3 logs "binding ..." just
    before it binds: a fast publisher (sr_post) after that line can still find no queue."""
    def bound():
        r = rabbitmq.ctl("list_bindings", "source_name", "destination_kind", check=False)
        return any(line.split("\t")[:2] == [exchange, "queue"] for line in r.stdout.splitlines())
    assert wait_until(bound, TIMEOUT, 1), f"no queue bound to {exchange}"


def drained(rabbitmq, configs):
    """Do the sarra queues of these configs hold no message, ready or unacknowledged?"""
    r = rabbitmq.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged",
                     check=False)
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    mine = [row for row in rows
            if len(row) == 3 and any(f".sarra.{c}." in row[0] for c in configs)]
    return len(mine) >= len(configs) and all(row[1:] == ["0", "0"] for row in mine)


def write_tree(root, names, seed):
    """Files of a few sizes (0 B to 300 KB) under root; {relPath: sha256}."""
    out = {}
    for i, name in enumerate(names):
        size = [0, 1, 700, 5000, 70000, 300000][i % 6]
        data = (hashlib.sha512(f"{seed}{i}".encode()).digest() * (size // 64 + 1))[:size]
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[name] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture
def components():
    """The sr components a test starts, stopped after it, pass or fail."""
    started = []
    yield started
    for c in started:
        c.stop()


def sr3_log(proc):
    return proc.log_path.read_text(errors="replace")


# ---- 1. post and subscribe ----

@needs_sr3
def test_sr3_post_to_sr_subscribe(rabbitmq, nginx, broker_tool, sr_bin, sr_env, sr3,
                                  components, tmp_path):
    """Files announced by sr3_post are downloaded by sr_subscribe, identical, each once."""
    server = rabbitmq
    tok = secrets.token_hex(3)
    exchange = f"xs_tfeed_p3{tok}"
    src, dest = nginx.root / f"p3_{tok}", tmp_path / "dest"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), exchange)
    sr3.write_config("post", "src", f"""
        post_broker {server.url("tfeed")}
        post_exchange {exchange}
        post_baseUrl {nginx.url(f"/p3_{tok}/")}
        post_baseDir {src}
        """)
    write_config(sr_env, "subscribe", "get", f"""
        broker {server.url("tsub")}
        exchange {exchange}
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        """)
    sub = Component(sr_bin, sr_env, "subscribe", "get", tmp_path / "get.log").wait_ready()
    components.append(sub)
    names = [f"obs/{i % 3}/f{i:02d}.bin" for i in range(24)]
    want = write_tree(src, names, tok)
    sr3.post("-c", "src", *[str(src / n) for n in names])
    assert wait_until(lambda: snapshot_tree(dest, read=None).keys() >= want.keys(), TIMEOUT), \
        (sorted(set(want) - set(snapshot_tree(dest, read=None))), sub.text()[-3000:])
    assert sub.stop() == 0
    assert snapshot_tree(dest) == want
    assert sub.count("downloaded ") == len(names), sub.text()[-3000:]


@needs_sr3
def test_sr_post_to_sr3_subscribe(rabbitmq, nginx, broker_tool, sr_bin, sr_env, sr3,
                                  tmp_path):
    """Files announced by sr_post are downloaded by sr3's subscribe, identical, each once."""
    server = rabbitmq
    tok = secrets.token_hex(3)
    exchange = f"xs_tfeed_p{tok}"
    src, dest = nginx.root / f"p_{tok}", tmp_path / "dest3"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), exchange)
    write_config(sr_env, "post", "src", f"""
        post_broker {server.url("tfeed")}
        post_exchange {exchange}
        post_baseUrl {nginx.url(f"/p_{tok}/")}
        post_baseDir {src}
        """)
    sr3.write_config("subscribe", "get", f"""
        broker {server.url("tsub")}
        exchange {exchange}
        subtopic #
        directory {dest}
        mirror on
        accept .*
        """)
    sub = sr3.foreground("subscribe/get")
    sr3.wait_ready(sub)
    wait_bound(rabbitmq, exchange)
    names = [f"obs/{i % 3}/f{i:02d}.bin" for i in range(24)]
    want = write_tree(src, names, tok)
    r = subprocess.run([sr_bin("sr_post"), "-c", "src", *[str(src / n) for n in names]],
                       env=sr_env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_until(lambda: snapshot_tree(dest, read=None).keys() >= want.keys(), TIMEOUT), \
        (sorted(set(want) - set(snapshot_tree(dest, read=None))), sr3_log(sub)[-3000:])
    assert wait_until(lambda: sr3_log(sub).count("downloaded ok: ") >= len(names), TIMEOUT)
    sr3.stop_all()
    assert snapshot_tree(dest) == want
    assert sr3_log(sub).count("downloaded ok: ") == len(names), sr3_log(sub)[-3000:]


# ---- 2. watch and sender, the guide's configurations ----

def sr(sr_bin, env, *args):
    r = subprocess.run([sr_bin("sr"), *args], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, f"sr {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


@pytest.fixture
def guide_home(rabbitmq, sshd, sr_bin, sr_env, tmp_path):
    """One HOME with the guide's sr3 tree, imported into sr's (`sr import`), both
    declared; yields (guide, Sr3 of that HOME, env); stops what either started."""
    sr_env.pop("SSH_AUTH_SOCK", None)
    guide = HotGuide(sr_env["HOME"], rabbitmq, sshd, tmp_path, f"loli{secrets.token_hex(2)}")
    peer = guide.write()
    try:
        sr(sr_bin, sr_env, "import")
        peer.run("declare")
        sr(sr_bin, sr_env, "declare")
        yield guide, peer, sr_env
    finally:
        peer.stop_all()
        subprocess.run([sr_bin("sr"), "stop", "--wait", "10"], env=sr_env,
                       capture_output=True, timeout=60)


def drop_small(hot, count):
    """count files written in place in the hot folder and two folders below it."""
    names = [f"{['', 'a/', 'b/c/'][i % 3]}h{i:03d}.txt" for i in range(count)]
    return write_tree(hot, names, "hot")


def sr_log(env, component, n):
    path = Path(env["XDG_CACHE_HOME"]) / "sr" / "log" / f"{component}_to_hpfx_{n:02d}.log"
    return path.read_text(errors="replace") if path.exists() else ""


@needs_sr3
def test_sr_watch_to_sr3_sender_guide(guide_home, sr_bin):
    """The guide's watch run by sr (`sr start watch/to_hpfx`), its sender by sr3 (`sr3
    start sender/to_hpfx`, 5 instances): the files land in the absolute remote folder."""
    guide, peer, env = guide_home
    peer.start("sender/to_hpfx", expected=SENDERS)
    assert wait_until(lambda: "binding" in peer.log("sender", "to_hpfx", 1), TIMEOUT), \
        peer.log("sender", "to_hpfx", 1)[-3000:]
    wait_bound(guide.rabbitmq, guide.exchange)
    sr(sr_bin, env, "start", "watch/to_hpfx")
    assert wait_until(lambda: "entries known" in sr_log(env, "watch", 1), TIMEOUT), \
        sr_log(env, "watch", 1)[-3000:]
    files = drop_small(guide.hot, 60)
    wait_until(lambda: guide.arrived(files), TIMEOUT)

    def sent():
        return sum(peer.log("sender", "to_hpfx", n).count("sent ok: ")
                   for n in range(1, SENDERS + 1))
    wait_until(lambda: sent() >= len(files), TIMEOUT)
    sr(sr_bin, env, "stop", "--wait", "10")
    peer.stop_all()
    logs = "".join(peer.log("sender", "to_hpfx", n)[-1000:] for n in range(1, SENDERS + 1))
    assert_landed_intact(guide, files, "sr_watch -> sr3 sender", logs)
    assert sent() == len(files), sent()


@needs_sr3
def test_sr3_watch_to_sr_sender_guide(guide_home, sr_bin):
    """The guide's watch run by sr3 (`sr3 start watch/to_hpfx`), its sender by sr (`sr
    start sender/to_hpfx`, 5 instances): the files land in the absolute remote folder."""
    guide, peer, env = guide_home
    r = sr(sr_bin, env, "start", "sender/to_hpfx")
    for n in range(1, SENDERS + 1):
        assert wait_until(lambda: "connected to" in sr_log(env, "sender", n), TIMEOUT), \
            (n, sr_log(env, "sender", n)[-3000:], r.stdout)
    peer.start("watch/to_hpfx", expected=1)
    assert wait_until(lambda: "now active on" in peer.log("watch", "to_hpfx", 1), TIMEOUT), \
        peer.log("watch", "to_hpfx", 1)[-3000:]
    files = drop_small(guide.hot, 60)
    wait_until(lambda: guide.arrived(files), TIMEOUT)

    def sent():
        return sum(sr_log(env, "sender", n).count(f"sender/to_hpfx_{n:02d} sent ")
                   for n in range(1, SENDERS + 1))
    wait_until(lambda: sent() >= len(files), TIMEOUT)
    peer.stop_all()
    sr(sr_bin, env, "stop", "--wait", "10")
    logs = "".join(sr_log(env, "sender", n)[-1000:] for n in range(1, SENDERS + 1))
    assert_landed_intact(guide, files, "sr3 watch -> sr_sender", logs)
    assert sent() == len(files), sent()


# ---- 3. v02 and v03 through an sr shovel between sr3 components ----

@needs_sr3
@pytest.mark.parametrize("version", ["v02", "v03"])
def test_sr3_post_through_sr_shovel_to_sr3_subscribe(version, rabbitmq, nginx, broker_tool,
                                                     sr_bin, sr_env, sr3, components,
                                                     tmp_path):
    """sr3_post announces in `version`, sr_shovel relays in the same version, sr3's
    subscribe downloads: identical files, each relayed and downloaded once."""
    prefix = "v02.post" if version == "v02" else "v03"
    tok = secrets.token_hex(3)
    ex_in, ex_out = f"xs_tfeed_si{tok}", f"xs_tfeed_so{tok}"
    src, dest = nginx.root / f"s_{tok}", tmp_path / "dest3"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex_in)
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), ex_out)
    sr3.write_config("post", "src", f"""
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_in}
        post_topicPrefix {prefix}
        post_baseUrl {nginx.url(f"/s_{tok}/")}
        post_baseDir {src}
        """)
    write_config(sr_env, "shovel", "relay", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_in}
        topicPrefix {prefix}
        subtopic #
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_out}
        post_topicPrefix {prefix}
        """)
    sr3.write_config("subscribe", "get", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex_out}
        topicPrefix {prefix}
        subtopic #
        directory {dest}
        mirror on
        accept .*
        """)
    shovel = Component(sr_bin, sr_env, "shovel", "relay", tmp_path / "relay.log").wait_ready()
    components.append(shovel)
    sub = sr3.foreground("subscribe/get")
    sr3.wait_ready(sub)
    wait_bound(rabbitmq, ex_out)
    names = [f"wx/{i % 4}/f{i:02d}.bin" for i in range(30)]
    want = write_tree(src, names, tok)
    sr3.post("-c", "src", *[str(src / n) for n in names])
    assert wait_until(lambda: sr3_log(sub).count("downloaded ok: ") >= len(names), TIMEOUT), \
        (shovel.text()[-3000:], sr3_log(sub)[-3000:])
    assert shovel.stop() == 0
    sr3.stop_all()
    assert snapshot_tree(dest) == want
    assert shovel.count("posted ") == len(names), shovel.text()[-3000:]
    assert sr3_log(sub).count("downloaded ok: ") == len(names), sr3_log(sub)[-3000:]


# ---- 4. a ring of three sarra peers, one of them sr3's ----

class MeshPeer:
    """Peer i: its nginx serving its tree, its exchange xs_tfeed_mesh<i>_<tok> where it
    announces, and a sarra (sr's, or sr3's for the sr3 peer) subscribed to the next peer's
    exchange, downloading from the next peer's nginx into its tree."""

    def __init__(self, index, tok, nginx, is_sr3):
        self.index, self.nginx, self.is_sr3 = index, nginx, is_sr3
        self.name = f"peer{index}"
        self.tree = nginx.root
        self.exchange = f"xs_tfeed_mesh{index}_{tok}"
        self.sarra = None  # Component, or the sr3 foreground Popen

    def log(self):
        return sr3_log(self.sarra) if self.is_sr3 else self.sarra.text()

    def downloads(self):
        return self.log().count("downloaded ok: " if self.is_sr3 else "downloaded ")

    def posts(self):
        return self.log().count("after_post posted " if self.is_sr3 else "posted ")


@needs_sr3
def test_mesh_of_three_with_one_sr3_peer(rabbitmq, broker_tool, sr_bin, sr_env, sr3,
                                         components, tmp_path):
    """Files posted on each peer of a ring (peer0 -> peer1's sarra -> ...; peer2's sarra is
    sr3's) reach every tree identical; each peer downloads and announces each file it did
    not post exactly once; the file that comes back to the peer that posted it is not
    downloaded again (same checksum); then every queue drains with nothing more moving."""
    tok = secrets.token_hex(2)
    servers, peers = [], []
    try:
        for i in range(3):
            web = Nginx(tmp_path / f"nginx{i}")
            servers.append(web)
            web.start()
            peers.append(MeshPeer(i, tok, web, is_sr3=(i == 2)))
        for p in peers:
            declare_exchange(broker_tool, rabbitmq.url("tfeed"), p.exchange)
        for p in peers:
            up = peers[(p.index + 1) % 3]
            conf = f"""
                broker {rabbitmq.url("tsub")}
                exchange {up.exchange}
                subtopic #
                directory {p.tree}
                mirror on
                post_broker {rabbitmq.url("tfeed")}
                post_exchange {p.exchange}
                post_baseUrl {p.nginx.url("/")}
                post_baseDir {p.tree}
                accept .*
                """
            if p.is_sr3:
                sr3.write_config("sarra", p.name, conf)
                sr3.write_config("post", p.name, f"""
                    post_broker {rabbitmq.url("tfeed")}
                    post_exchange {p.exchange}
                    post_baseUrl {p.nginx.url("/")}
                    post_baseDir {p.tree}
                    """)
            else:
                write_config(sr_env, "sarra", p.name, conf + "inflight .tmp\n")
                write_config(sr_env, "post", p.name, f"""
                    post_broker {rabbitmq.url("tfeed")}
                    post_exchange {p.exchange}
                    post_baseUrl {p.nginx.url("/")}
                    post_baseDir {p.tree}
                    """)
        for p in peers:
            if p.is_sr3:
                p.sarra = sr3.foreground(f"sarra/{p.name}")
                sr3.wait_ready(p.sarra)
            else:
                p.sarra = Component(sr_bin, sr_env, "sarra", p.name,
                                    tmp_path / f"sarra_{p.name}.log").wait_ready()
                components.append(p.sarra)
        for p in peers:
            wait_bound(rabbitmq, peers[(p.index + 1) % 3].exchange)

        posted = {}
        for p in peers:
            names = [f"from{p.index}/a.bin", f"from{p.index}/deep/b.bin", f"top{p.index}.bin"]
            write_tree(p.tree, names, f"{tok}{p.index}")
            posted.update({n: p.index for n in names})
            if p.is_sr3:
                sr3.post("-c", p.name, *[str(p.tree / n) for n in names])
            else:
                r = subprocess.run([sr_bin("sr_post"), "-c", p.name,
                                    *[str(p.tree / n) for n in names]], env=sr_env,
                                   capture_output=True, text=True, timeout=TIMEOUT)
                assert r.returncode == 0, r.stdout + r.stderr
        want = {rel: sha256_file(peers[o].tree / rel) for rel, o in posted.items()}

        def logs():
            return "\n".join(f"=== {p.name} ===\n{p.log()[-6000:]}" for p in peers)
        assert wait_until(lambda: all(snapshot_tree(p.tree) == want for p in peers),
                          TIMEOUT), ([sorted(set(want) - set(snapshot_tree(p.tree)))
                                      for p in peers], logs())
        others = [sum(1 for o in posted.values() if o != p.index) for p in peers]
        assert wait_until(lambda: [p.downloads() for p in peers] == others
                          and [p.posts() for p in peers] == others, TIMEOUT), \
            ([p.downloads() for p in peers], [p.posts() for p in peers], others, logs())
        # quiet: every peer's queue drained and acknowledged (a peer acks a message once
        # its download and post are done), twice over, and still nothing more downloaded
        # or announced anywhere
        before = [(p.downloads(), p.posts()) for p in peers]
        for _ in range(2):
            assert wait_until(lambda: drained(rabbitmq, [p.name for p in peers]), TIMEOUT,
                              1), logs()
            assert [(p.downloads(), p.posts()) for p in peers] == before, logs()
    finally:
        for p in peers:
            if p.sarra is not None and not p.is_sr3:
                p.sarra.stop()
        sr3.stop_all()
        for s in servers:
            s.stop()
    for p in peers:
        assert snapshot_tree(p.tree) == want
