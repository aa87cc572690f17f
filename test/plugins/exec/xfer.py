#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin that downloads and sends for the scheme fake (lib/plugin_exec.h, protocol
1), for test_plugin_exec.

download: the URL's path says what to hand sr:
  /bytes/N/C   N made-up bytes (byte i is (i * 31 + 7) & 0xFF) in data lines of C bytes
  /error       a few bytes, then {"error": "no such file"}
  /slow/K      K data lines of 1000 bytes, 0.4 s apart (a slow but moving download)
  /stall       nothing at all (sr gives up after pluginTimeout)
  /big/N       N made-up bytes in data lines of 1 MiB, encoded once (a speed test of sr)
  /escaped/N   N made-up bytes in lines of another shape: '/' escaped as '\\/', the id
               last, a key holding an object (sr parses these whole)
  /bad/KIND    a data line that breaks the protocol: pad (bad padding), big (more than
               1 MiB), both (data and an error)
send: the bytes go to STATE_DIR/sent/REMOTE_PATH (the test reads them), then {"id": N};
  a remote path holding "refuse" reads everything and answers an error; one holding
  "early" answers an error at once, writes 4 MiB to stderr (sr must read it while it
  writes), and skips what follows up to the end line.
Each download and send is written to stderr ("download URL", "send PATH N bytes").
"""
import base64
import json
import os
import sys
import time

out = sys.stdout.buffer
inp = sys.stdin.buffer


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def reply(obj):
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def made_up(start, n):
    return bytes(((i * 31 + 7) & 0xFF) for i in range(start, start + n))


def data_line(rid, chunk):
    return b'{"id":%d,"data":"%s"}\n' % (rid, base64.b64encode(chunk))


hello = json.loads(inp.readline())
state = hello.get("state_dir") or "."
reply({"sr_exec": 1, "name": "xfer", "hooks": ["download", "send"], "schemes": ["fake"]})


def download(req):
    rid, url = req["id"], req["url"]
    log("download %s" % url)
    parts = url.split("/")[3:]  # fake://h/what/...
    what = parts[0]
    if what == "bytes":
        size, chunk = int(parts[1]), int(parts[2])
        for at in range(0, size, chunk):
            out.write(data_line(rid, made_up(at, min(chunk, size - at))))
        reply({"id": rid})
    elif what == "error":
        out.write(data_line(rid, b"abc"))
        reply({"id": rid, "error": "no such file"})
    elif what == "slow":
        for k in range(int(parts[1])):
            out.write(data_line(rid, made_up(k * 1000, 1000)))
            out.flush()
            time.sleep(0.4)
        reply({"id": rid})
    elif what == "stall":
        time.sleep(30)
    elif what == "big":
        size, mib = int(parts[1]), 1 << 20
        line = data_line(rid, made_up(0, mib))  # 1 MiB is a whole number of periods
        for at in range(0, size - size % mib, mib):
            out.write(line)
        if size % mib:
            out.write(data_line(rid, made_up(0, size % mib)))
        reply({"id": rid})
    elif what == "escaped":
        size = int(parts[1])
        for at in range(0, size, 3000):
            b64 = base64.b64encode(made_up(at, min(3000, size - at))).decode()
            out.write(('{"data": "%s", "more": {"x": [1]}, "id": %d}\n'
                       % (b64.replace("/", "\\/"), rid)).encode())
        reply({"id": rid})
    elif what == "bad":
        kind = parts[1]
        if kind == "pad":
            out.write(b'{"id":%d,"data":"QUFB===="}\n' % rid)
        elif kind == "big":
            out.write(data_line(rid, bytes((1 << 20) + 1)))
        elif kind == "both":
            out.write(b'{"id":%d,"data":"QUFB","error":"x"}\n' % rid)
        reply({"id": rid})
    out.flush()


def send(req):
    rid, path = req["id"], req["remote_path"]
    early = "early" in path
    if early:
        reply({"id": rid, "error": "the remote refused it at once"})
        sys.stderr.write(("noise " * 170 + "\n") * 4096)  # about 4 MiB
        sys.stderr.flush()
    data = bytearray()
    for line in inp:
        msg = json.loads(line)
        if msg["id"] != rid:
            log("out of step: id %d in send %d" % (msg["id"], rid))
            sys.exit(4)
        if msg.get("end"):
            break
        if not early:
            data += base64.b64decode(msg["data"], validate=True)
    log("send %s %d bytes" % (path, len(data)))
    if early:
        return
    if "refuse" in path:
        reply({"id": rid, "error": "the remote is full"})
        return
    target = os.path.join(state, "sent", path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".tmp", "wb") as f:
        f.write(data)
    os.rename(target + ".tmp", target)
    reply({"id": rid})


for line in inp:
    if not line.strip():
        continue
    req = json.loads(line)
    if req["hook"] == "download":
        download(req)
    elif req["hook"] == "send":
        send(req)
    else:
        reply({"id": req["id"]})
