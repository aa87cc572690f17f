#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin that dies mid-batch (test_plugin_exec): it keeps every message, but a
batch holding a relPath with "crash" in it kills it (exit 3) after it said why on
stderr."""
import json
import os
import sys

sys.stdin.readline()
print(json.dumps({"sr_exec": 1, "name": "crash", "hooks": ["on_start", "after_accept"]}),
      flush=True)
sys.stderr.write("started pid %d\n" % os.getpid())
sys.stderr.flush()
for line in sys.stdin:
    req = json.loads(line)
    out = {"id": req["id"]}
    if req["hook"] == "after_accept":
        if any("crash" in m["relPath"] for m in req["messages"]):
            sys.stderr.write("Traceback: dying on purpose\n")
            sys.stderr.flush()
            os._exit(3)
        out["results"] = [{"verdict": "keep"}] * len(req["messages"])
    print(json.dumps(out), flush=True)
