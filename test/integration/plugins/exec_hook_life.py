#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_hook_life: the lifecycle hooks of an exec plugin, for test_plugins_exec_hooks.py.

on_start: "start PID CHILD" into hook_life.log of its state folder, PID its own, CHILD a
helper process it starts in its process group (a plugin that leaves work running: sr
must end it with the plugin); with `hookLife fail` it answers an error instead.
on_housekeeping: "housekeeping". on_stop: "stop PID"."""
import os
import subprocess

import srexec

LOG = "hook_life.log"


def on_start(plugin, req):
    if plugin.option("hookLife") == "fail":
        plugin.note(LOG, f"refused {os.getpid()}")
        return {"error": "hookLife fail: refusing to start"}
    child = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plugin.note(LOG, f"start {os.getpid()} {child.pid}")
    return {}


def on_housekeeping(plugin, req):
    plugin.note(LOG, "housekeeping")
    return {}


def on_stop(plugin, req):
    plugin.note(LOG, f"stop {os.getpid()}")
    return {}


srexec.run("exec_hook_life", {"on_start": on_start, "on_housekeeping": on_housekeeping,
                              "on_stop": on_stop}, options=["hookLife"])
