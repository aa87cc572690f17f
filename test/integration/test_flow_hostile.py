# SPDX-License-Identifier: GPL-2.0-only
"""Hostile input (issue 9): a subscriber's queue fed with bad messages among good ones.

An sr_subscribe (under `sr start`, mirror on, downloading over http from the session's
nginx) consumes an MQTT topic on the session's Mosquitto. The test publishes there, raw
with mosquitto_pub (so the bytes are exactly ours: sr_broker_tool would refuse to send
what does not decode), good announcements interleaved with:
  - bodies that are not a message: garbage and NUL bytes, truncated JSON, empty, JSON that
    is not an object, a v03 message without relPath or baseUrl, sizes that are not sizes;
  - path traversal: relPath ../x, ../../x, a/../../x, an absolute path, a relPath holding a
    NUL (escaped, and raw), a remove and a rename whose paths leave the tree;
  - oversized: a 10 MiB relPath, a 10 MiB header value, a 10 MiB identity;
  - fuzzed: good messages with random bytes changed, cut or repeated (seeded; the seed is
    printed, SR_FLOW_SEED replays it).
What passes: every good file arrives identical; each message that is not a message is
logged (rxBadCount counts it) and dropped; each traversal is logged and dropped;
nothing is written, removed or renamed outside the destination tree (the files the
traversals aim at are canaries checked at the end); the subscriber is the same process
at the end (no crash, no restart) and `sr stop` stops it with status 0.
"""
import base64
import hashlib
import json
import os
import random
import secrets
import subprocess
import textwrap
import time
from pathlib import Path
from helpers import snapshot_tree, wait_until

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # for what takes seconds; a loaded machine may take many times longer


def snapshot(root, skip):
    """{path: (size, mtime_ns)} of everything under root but the skipped folders (never
    entered: the subscriber writes there while we look); an entry that goes between the
    listing and the lstat is left out."""
    out = {}
    for top, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if Path(top, d) not in skip]
        for name in subdirs + names:
            p = Path(top, name)
            if p in skip:
                continue
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_hostile_messages_dropped_good_ones_arrive(mosquitto, nginx, sr_bin, tmp_path):
    seed = int(os.environ.get("SR_FLOW_SEED") or secrets.randbelow(1 << 31))
    print(f"\nhostile: seed {seed} (SR_FLOW_SEED={seed} replays it)")
    rng = random.Random(seed)
    tok = secrets.token_hex(3)
    exchange = f"xhostile{tok}"
    top = tmp_path / "sandbox"       # everything the traversals could reach lives here
    dest = top / "a" / "b" / "dest"  # so ../ and ../../ land in the sandbox, not elsewhere
    dest.mkdir(parents=True)
    config, state = tmp_path / "config", tmp_path / "state"
    (config / "subscribe").mkdir(parents=True)
    (config / "credentials.conf").write_text(mosquitto.url("tsub") + "\n")
    (config / "credentials.conf").chmod(0o600)
    (config / "subscribe" / "hostile.conf").write_text(textwrap.dedent(f"""\
        broker mqtt://tsub@{mosquitto.host}:{mosquitto.port}
        exchange {exchange}
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        retryDelay 2
        logReject on
        """))
    env = dict(os.environ)
    env.update({"SR_CONFIG_DIR": str(config), "SR_STATE_DIR": str(state),
                "SR_CONFD": str(REPO / "conf.d"), "HOME": str(tmp_path)})

    # what the server has: good files, and the canaries the traversals name
    served = nginx.root / f"hostile_{tok}"
    good = {}
    for i in range(20):
        data = os.urandom(rng.randint(0, 50000))
        rel = f"hostile_{tok}/good/g{i:02d}.bin"
        (nginx.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (nginx.root / rel).write_bytes(data)
        good[rel] = data
    for name in ("escape.txt", "abs.txt"):
        (served / name).write_bytes(b"should never be copied\n")
    victim = top / "a" / "victim.txt"          # dest/../../victim.txt
    victim.write_text("do not remove me\n")
    abs_target = Path("/tmp") / f"sr_hostile_abs_{tok}.txt"

    def sha512(data):
        return base64.b64encode(hashlib.sha512(data).digest()).decode()

    def msg(rel, data=b"", **more):
        m = {"pubTime": time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + ".0",
             "baseUrl": nginx.url("/"), "relPath": rel,
             "identity": {"method": "sha512", "value": sha512(data)}, "size": len(data)}
        m.update(more)
        return m

    def enc(m):
        return json.dumps(m).encode()

    good_msgs = [enc(msg(rel, data)) for rel, data in good.items()]
    template = good_msgs[0]
    big = "x" * (10 << 20)
    # (what, body): not messages, traversals, oversized
    bad = [
        ("garbage", b"\x00\xff\xfe garbage \x00 not json"),
        ("nul bytes", b"\x00" * 100),
        ("truncated", template[:len(template) // 2]),
        ("empty", b""),
        ("array", b"[1, 2, 3]"),
        ("number", b"42"),
        ("no relPath", enc({k: v for k, v in json.loads(template).items() if k != "relPath"})),
        ("no baseUrl", enc({k: v for k, v in json.loads(template).items() if k != "baseUrl"})),
        ("size not a size", enc(msg(f"hostile_{tok}/good/g00.bin",
                                    good[f"hostile_{tok}/good/g00.bin"], size="lots"))),
        ("../", enc(msg(f"../hostile_{tok}/escape.txt"))),
        ("../../", enc(msg(f"../../hostile_{tok}/escape.txt"))),
        ("a/../../..", enc(msg(f"a/../../../hostile_{tok}/escape.txt"))),
        ("absolute", enc(msg(str(abs_target)))),
        ("escaped NUL", enc(msg(f"hostile_{tok}/good/g01.bin\u0000../../escape.txt"))),
        ("raw NUL", enc(msg(f"hostile_{tok}/good/g01.binXX")).replace(b"XX", b"\x00x")),
        ("remove ../../victim", enc(msg("../../victim.txt", fileOp={"remove": ""}))),
        ("rename from ../../victim", enc(msg("stolen.txt", fileOp={"rename": "../../victim.txt"}))),
        ("10 MiB relPath", enc(msg(big))),
        ("10 MiB header", enc(msg(f"hostile_{tok}/good/g02.bin",
                                  good[f"hostile_{tok}/good/g02.bin"], huge=big))),
        ("10 MiB identity", enc(msg(f"hostile_{tok}/x.bin", identity={"method": "sha512",
                                                                       "value": big}))),
    ]
    fuzzed = []
    for i in range(30):
        b = bytearray(rng.choice(good_msgs))
        for _ in range(rng.randint(1, 8)):
            what, pos = rng.random(), rng.randrange(len(b))
            if what < 0.5:
                b[pos] = rng.randrange(256)
            elif what < 0.75:
                del b[pos:pos + rng.randint(1, 20)]
            else:
                b[pos:pos] = b[pos:pos + rng.randint(1, 40)] * rng.randint(1, 50)
        fuzzed.append(("fuzzed", bytes(b)))

    r = subprocess.run([sr_bin("sr"), "start"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    log = state / "log" / "subscribe_hostile_01.log"
    pid_file = state / "subscribe" / "hostile" / "i001.pid"
    try:
        def text():
            return log.read_text(errors="replace") if log.exists() else ""
        # "connected to" is logged once the SUBACK came: what is published from then on
        # reaches the subscriber
        assert wait_until(lambda: "connected to" in text(), TIMEOUT), text()
        pid = int(pid_file.read_text())
        before = snapshot(tmp_path, skip=[dest, state, tmp_path / "config"])

        # interleave: every bad or fuzzed one between two good ones, and a good one last:
        # one instance handles its messages in order, so once every good file is there,
        # every hostile message has been dealt with
        stream = []
        hostile = bad + fuzzed
        rng.shuffle(hostile)
        goods = list(good_msgs[:-1])
        while goods or hostile:
            if goods:
                stream.append(("good", goods.pop(0)))
            for _ in range(3):
                if hostile:
                    stream.append(hostile.pop(0))
        stream.append(("good", good_msgs[-1]))
        pub = tmp_path / "body"
        for what, body in stream:
            pub.write_bytes(body)
            r = subprocess.run(["mosquitto_pub", "-h", mosquitto.host, "-p", str(mosquitto.port),
                                "-u", "tfeed", "-P", mosquitto.users["tfeed"], "-q", "1",
                                "-t", f"{exchange}/v03/hostile", "-f", str(pub)],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (what, r.stderr)

        def arrived():
            return all((dest / rel).is_file() and (dest / rel).read_bytes() == data
                       for rel, data in good.items())
        ok = wait_until(arrived, TIMEOUT)
        missing = sorted(rel for rel, data in good.items()
                         if not (dest / rel).is_file() or (dest / rel).read_bytes() != data)
        alive = True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            alive = False
        same = pid_file.exists() and int(pid_file.read_text()) == pid
    finally:
        r = subprocess.run([sr_bin("sr"), "stop"], env=env, capture_output=True, text=True,
                           timeout=120)
    # once it has stopped, nothing more is written: what it did outside is all there
    after = snapshot(tmp_path, skip=[dest, state, tmp_path / "config", pub])
    logtext = text()
    metrics = json.loads((state / "metrics" / "subscribe_hostile_01.json").read_text())
    counters = metrics["counters"]
    print(f"  published {len(good_msgs)} good, {len(bad)} bad, {len(fuzzed)} fuzzed; "
          f"counters {counters}")
    problems = []
    if not ok:
        problems.append(f"good files missing or different: {missing}")
    if not alive or not same:
        problems.append(f"the subscriber died or was replaced (pid {pid}, alive {alive})")
    if r.returncode != 0:
        problems.append(f"sr stop: {r.returncode} {r.stdout}{r.stderr}")
    changed = sorted(set(before.items()) ^ set(after.items()))
    if changed:
        problems.append(f"written outside the destination tree: {changed[:10]}")
    if abs_target.exists():
        abs_target.unlink()
        problems.append(f"{abs_target} written (absolute relPath)")
    if not victim.exists():
        problems.append(f"{victim} removed or renamed by a message")
    inside = sorted(snapshot_tree(dest, read=None, partial=True))
    strays = [p for p in inside if p not in good]
    if strays:
        problems.append(f"files in the destination no good message named: {strays[:10]}")
    # each body that is not a message counts in rxBadCount and is logged
    not_messages = [w for w, _ in bad[:8]]
    if counters.get("rxBadCount", 0) < len(not_messages):
        problems.append(f"rxBadCount {counters.get('rxBadCount')} < {len(not_messages)} "
                        f"bodies that are not messages ({not_messages})")
    # each traversal is named in the log with why it was dropped (the NUL ones do not
    # decode: rxBadCount above)
    for what, needle in (("../", f'"../hostile_{tok}/escape.txt"'),
                         ("../../", f'"../../hostile_{tok}/escape.txt"'),
                         ("a/../../..", f'"a/../../../hostile_{tok}/escape.txt"'),
                         ("remove ../../victim", 'relPath "../../victim.txt"'),
                         ("rename from ../../victim", 'rename "../../victim.txt"')):
        lines = [l for l in logtext.splitlines() if needle in l and "dropped" in l]
        if len(lines) != 1:
            problems.append(f"{what}: {len(lines)} lines say {needle} was dropped")
    if logtext.count("downloaded ") - len(good) > 0:
        extra = [l for l in logtext.splitlines() if "downloaded " in l
                 and not any(rel in l for rel in good)]
        if extra:
            problems.append(f"downloads no good message asked for: {extra[:5]}")
    assert not problems, "\n".join(problems) + "\n--- log tail:\n" + logtext[-6000:]
