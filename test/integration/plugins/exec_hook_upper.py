#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_hook_upper: a destfn, for test_plugins_exec_hooks.py. Its handshake name is
"hooks.Upper": `filename DESTFNSCRIPT=upper` names it (the last dot-separated part, the
first letter in either case). The destination file is the last name of relPath in upper
case; for a name holding "slash" it answers "sub/NAME", which is not one file name; for
one holding "same" it answers null (the name stays). "destfn RELPATH" into
hook_upper.log of its state folder at each call."""
import srexec

LOG = "hook_upper.log"


def destfn(plugin, req):
    rel = req["message"]["relPath"]
    plugin.note(LOG, f"destfn {rel}")
    base = rel.split("/")[-1]
    if "slash" in base:
        return {"name": "sub/" + base.upper()}
    if "same" in base:
        return {"name": None}
    return {"name": base.upper()}


srexec.run("hooks.Upper", {"destfn": destfn})
