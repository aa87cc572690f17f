#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin with every hook (lib/plugin_exec.h, protocol 1), for test_plugin_exec.

after_accept decides by the relPath: "reject" in it -> reject, "retry" -> retry,
"rename" -> new_file becomes "renamed-" + new_file, "escape" -> relPath set to "../x"
(which sr must refuse), "source" -> source set to "plugin"; the rest is kept.
after_work: a failed outcome -> retry. gather gives `max` messages, the second of them
bad (its relPath climbs out). destfn names the file "dest-" + its last relPath element,
or leaves it (null) for a relPath holding "keep". Each hook it gets is written to stderr
("hook NAME"), so the test reads them in sr's log.
"""
import json
import sys


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


hello = json.loads(sys.stdin.readline())
opts = hello.get("options", {})
log("hello component=%s config=%s myOption=%s" % (
    hello.get("component"), hello.get("config"), ",".join(opts.get("myOption", []))))
reply({"sr_exec": 1, "name": "good",
       "hooks": ["on_start", "on_stop", "on_housekeeping", "after_accept", "after_work",
                 "after_post", "gather", "poll", "destfn", "metrics_report"],
       "options": ["myOption"]})

calls = 0
for line in sys.stdin:
    req = json.loads(line)
    hook = req["hook"]
    calls += 1
    log("hook %s" % hook)
    out = {"id": req["id"]}
    if hook == "after_accept":
        results = []
        for m in req["messages"]:
            rel = m["relPath"]
            if "reject" in rel:
                results.append({"verdict": "reject", "why": "not wanted"})
            elif "retry" in rel:
                results.append({"verdict": "retry", "why": "later"})
            elif "rename" in rel:
                results.append({"verdict": "keep",
                                "set": {"new_file": "renamed-" + m["new_file"]}})
            elif "escape" in rel:
                results.append({"verdict": "keep", "set": {"relPath": "../x"}})
            elif "source" in rel:
                results.append({"verdict": "keep", "set": {"source": "plugin"}})
            else:
                results.append({"verdict": "keep"})
        out["results"] = results
    elif hook == "after_work":
        out["results"] = [{"verdict": "retry", "why": "work failed"} if o == "failed"
                          else {"verdict": "keep"} for o in req["outcomes"]]
    elif hook == "after_post":
        log("posted %s" % " ".join(m["relPath"] for m in req["messages"]))
    elif hook == "gather":
        msgs = []
        for i in range(req["max"]):
            rel = "../bad" if i == 1 else "gathered/%d.txt" % i
            msgs.append({"baseUrl": "file:/", "relPath": rel, "size": i})
        out["messages"] = msgs
    elif hook == "poll":
        out["messages"] = [{"baseUrl": "sftp://h/", "relPath": "polled.txt",
                            "pubTime": "20260101T000000"}]
    elif hook == "destfn":
        rel = req["message"]["relPath"]
        out["name"] = None if "keep" in rel else "dest-" + rel.split("/")[-1]
    elif hook == "metrics_report":
        out["metrics"] = {"calls": calls, "label": "not a number"}
    reply(out)
log("end of input")
