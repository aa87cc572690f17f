#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_hook_post: after_post, for test_plugins_exec_hooks.py.

For each message it is told was posted, "post RELPATH seen" (or "unseen") into
hook_post.log of its state folder: seen when the message is already in the file
`hookSeen PATH` names, where a consumer of the post exchange writes what it gets, within
hookWait seconds (default 20) while sr waits for this answer. sr does not post more
while it waits, so a message it posted only after after_post would never be seen."""
import json
import time

import srexec

LOG = "hook_post.log"


def received(path):
    """relPaths in the consumer's file (sr_broker_tool consume: one JSON record a line)."""
    out = set()
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            record = json.loads(line)
            out.add(json.loads(record["body"])["relPath"])
        except (ValueError, KeyError, TypeError):
            continue  # the subscribed line, or one being written
    return out


def after_post(plugin, req):
    path = plugin.option("hookSeen")
    deadline = time.monotonic() + float(plugin.option("hookWait", "20"))
    for m in req["messages"]:
        rel = m["relPath"]
        while path and rel not in received(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = path is not None and rel in received(path)
        plugin.note(LOG, f"post {rel} {'seen' if seen else 'unseen'}")
    return {}


srexec.run("exec_hook_post", {"after_post": after_post}, options=["hookSeen", "hookWait"])
