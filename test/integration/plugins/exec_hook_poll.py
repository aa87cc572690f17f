#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_hook_poll: a poll hook, for test_plugins_exec_hooks.py, listing a made-up server
https://exec.example.com/ whose folder grows: at its Nth run (counting from 1) it lists
pollex/f000.txt .. one more file at each run, up to hookFiles (default 4), each with the
same size and mtime at every run (as a server's), and pollex/skip.txt, which the test's
reject line names. "poll N COUNT" into hook_poll.log of its state folder at each run."""
import time

import srexec

LOG = "hook_poll.log"
runs = [0]
MTIME = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() - 3600))


def poll(plugin, req):
    runs[0] += 1
    count = min(runs[0], int(plugin.option("hookFiles", "4")))
    names = [f"pollex/f{i:03d}.txt" for i in range(count)] + ["pollex/skip.txt"]
    plugin.note(LOG, f"poll {runs[0]} {len(names)}")
    return {"messages": [{"baseUrl": "https://exec.example.com/", "relPath": n,
                          "size": 100 + i, "mtime": MTIME}
                         for i, n in enumerate(names)]}


srexec.run("exec_hook_poll", {"poll": poll}, options=["hookFiles"])
