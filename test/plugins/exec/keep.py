#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""The least an exec plugin on after_accept does: keep every message (test_plugin_exec
measures how many messages a second pass through it)."""
import json
import sys

sys.stdin.readline()
print(json.dumps({"sr_exec": 1, "name": "keep", "hooks": ["after_accept"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    out = {"id": req["id"]}
    if req["hook"] == "after_accept":
        out["results"] = [{"verdict": "keep"}] * len(req["messages"])
    print(json.dumps(out), flush=True)
