#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_poison: an exec plugin whose after_accept kills the sr instance that runs it
(SIGKILL to its parent) whenever a batch holds a message whose relPath contains
"poison": a message that kills its consumer every time it is delivered.

Its state folder's poison.log gets "killed PID relPath" before each kill, and
"keep relPath" for each message it lets through."""
import os
import signal

import srexec


def after_accept(plugin, req):
    for m in req["messages"]:
        if "poison" in m["relPath"]:
            plugin.note("poison.log", f"killed {os.getppid()} {m['relPath']}")
            os.kill(os.getppid(), signal.SIGKILL)
            # the instance is gone: its pipe closes and run() ends with it
            return {"results": [{"verdict": "keep"} for _ in req["messages"]]}
    for m in req["messages"]:
        plugin.note("poison.log", f"keep {m['relPath']}")
    return {"results": [{"verdict": "keep"} for _ in req["messages"]]}


srexec.run("exec_poison", {"after_accept": after_accept})
