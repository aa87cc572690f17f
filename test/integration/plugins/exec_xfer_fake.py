#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_xfer_fake: an exec plugin (sr-plugin(7), EXEC PLUGINS) that downloads and sends for
the made-up scheme fake://, for test_plugins_exec_transfer.py. Standard library only; it
speaks the protocol itself, line by line, as a plugin in any language would.

download: the bytes of fake://HOST/PATH are made up from PATH: the SHA-256 of
"PATH:0", "PATH:1", ... one after the other, cut at the message's size; a PATH holding
"greedy" hands 5000 bytes more than announced (sr must stop it and kill the plugin).
send: the bytes sr sends are written to <exec_xfer_root>/<remote path>, under a
temporary name renamed once complete; a remote path holding "refuse" is answered with an
error at once (the plugin then skips the data lines up to the end line).
"""
import base64
import hashlib
import json
import os
import sys

inp, out = sys.stdin.buffer, sys.stdout.buffer


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def answer(obj):
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def made_up(path, size):
    data, k = bytearray(), 0
    while len(data) < size:
        data += hashlib.sha256(f"{path}:{k}".encode()).digest()
        k += 1
    return bytes(data[:size])


def download(req):
    url = req["url"]
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    size = int(req["message"].get("size", 0))
    if "greedy" in path:
        size += 5000
    data = made_up(path, size)
    for at in range(0, len(data), 4096):
        out.write(b'{"id":%d,"data":"%s"}\n' % (req["id"], base64.b64encode(data[at:at + 4096])))
    answer({"id": req["id"]})
    log(f"made up {size} bytes for {url}")


def send(req, root):
    rid, remote = req["id"], req["remote_path"]
    refuse = "refuse" in remote
    if refuse:
        answer({"id": rid, "error": "the remote does not take " + remote})
    data = bytearray()
    for line in inp:
        msg = json.loads(line)
        if msg.get("end"):
            break
        if not refuse:
            data += base64.b64decode(msg["data"], validate=True)
    if refuse:
        return
    rel = os.path.normpath(remote.lstrip("/"))
    if rel.startswith(".."):
        answer({"id": rid, "error": "outside the root: " + remote})
        return
    target = os.path.join(root, rel)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".part", "wb") as f:
        f.write(data)
    os.rename(target + ".part", target)
    log(f"stored {remote} ({len(data)} bytes)")
    answer({"id": rid})


hello = json.loads(inp.readline())
root = (hello.get("options", {}).get("exec_xfer_root") or ["."])[0]
answer({"sr_exec": 1, "name": "exec_xfer_fake", "hooks": ["download", "send"],
        "schemes": ["fake"], "options": ["exec_xfer_root"]})
for line in inp:
    if not line.strip():
        continue
    req = json.loads(line)
    if req["hook"] == "download":
        download(req)
    elif req["hook"] == "send":
        send(req, root)
    else:
        answer({"id": req["id"]})
