#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_pick: exec plugin twin of pick.c, with after_work and metrics_report besides.

after_accept: junk* rejected, raw_X renamed cooked_X with pick_note set. after_work:
"work done|failed relPath" into audit.log of its state folder, and files named *nopost*
rejected (not posted). metrics_report: picked (renamed so far) and junked (rejected)."""
import srexec

counts = {"picked": 0, "junked": 0}


def after_accept(plugin, req):
    results = []
    for m in req["messages"]:
        name = m.get("new_file") or m["relPath"].split("/")[-1]
        if name.startswith("junk"):
            counts["junked"] += 1
            results.append({"verdict": "reject", "why": "exec_pick: junk is not wanted"})
        elif name.startswith("raw_"):
            counts["picked"] += 1
            new = "cooked_" + name[4:]
            plugin.log(f"renamed to {new}")
            results.append({"verdict": "keep",
                            "set": {"new_file": new, "pick_note": "renamed by exec_pick"}})
        else:
            results.append({"verdict": "keep"})
    return {"results": results}


def after_work(plugin, req):
    results = []
    for m, outcome in zip(req["messages"], req["outcomes"]):
        plugin.note("audit.log", f"work {outcome} {m['relPath']}")
        if outcome == "done" and "nopost" in m["relPath"]:
            results.append({"verdict": "reject", "why": "exec_pick: not to be posted"})
        else:
            results.append({"verdict": "keep"})
    return {"results": results}


def metrics_report(plugin, req):
    return {"metrics": dict(counts)}


srexec.run("exec_pick", {"after_accept": after_accept, "after_work": after_work,
                         "metrics_report": metrics_report})
