#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_faulty MODE: an exec plugin that fails once, on its first after_accept batch of
two or more messages, as MODE says, and behaves from then on (a marker file in its state
folder remembers it failed, across the restarts sr makes):

  crash    kills itself (SIGKILL) holding the batch
  garbage  answers the batch with a line that is not JSON
  hang     never answers the batch (sr's pluginTimeout must end it)
  hello    answers the handshake with garbage (every time: it never starts)

Each message it lets through is noted "keep relPath" in faulty.log."""
import os
import signal
import sys
import time

import srexec

MODE = sys.argv[1]


def after_accept(plugin, req):
    marker = plugin.path("faulty.failed")
    if len(req["messages"]) >= 2 and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(f"{os.getpid()} {len(req['messages'])}\n")
        if MODE == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if MODE == "garbage":
            sys.stdout.write("}{ this is not json\n")
            sys.stdout.flush()
            time.sleep(3600)
        if MODE == "hang":
            time.sleep(3600)
    for m in req["messages"]:
        plugin.note("faulty.log", f"keep {m['relPath']}")
    return {"results": [{"verdict": "keep"} for _ in req["messages"]]}


srexec.run("exec_faulty", {"after_accept": after_accept},
           hello_reply="hello? I speak no JSON" if MODE == "hello" else None)
