#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin that breaks the protocol (test_plugin_exec), as argv[1] says:
  hello     not JSON in answer to the handshake
  reply     a good handshake, then not JSON in answer to a request
  id        answers with another id
  count     one result fewer than messages
  verdict   a verdict the protocol does not know
  flood     not garbage: before it reads each request it writes 1 MiB to stderr, so a
            sr that waits to write the whole request before reading would deadlock
"""
import json
import sys

mode = sys.argv[1]
sys.stdin.readline()
if mode == "hello":
    print("hello there", flush=True)
    sys.exit(0)
print(json.dumps({"sr_exec": 1, "name": "garbage", "hooks": ["after_accept"]}), flush=True)


def flood():
    for i in range(16384):
        sys.stderr.write("noise %d %s\n" % (i, "x" * 50))
    sys.stderr.flush()


while True:
    if mode == "flood":
        flood()
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    n = len(req.get("messages", []))
    if mode == "reply":
        print("<html>oops</html>", flush=True)
    elif mode == "id":
        print(json.dumps({"id": req["id"] + 7, "results": [{"verdict": "keep"}] * n}), flush=True)
    elif mode == "count":
        print(json.dumps({"id": req["id"], "results": [{"verdict": "keep"}] * (n - 1)}),
              flush=True)
    elif mode == "verdict":
        print(json.dumps({"id": req["id"], "results": [{"verdict": "maybe"}] * n}), flush=True)
    elif mode == "flood":
        print(json.dumps({"id": req["id"], "results": [{"verdict": "keep"}] * n}), flush=True)
