#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""exec_gen: exec plugin twin of gen.c: gather makes genCount messages in all (an option it
declares), gen/item_NNN under https://gen.example.com/, size 42, gen_tag set, three a call
at most."""
import srexec

made = [0]


def gather(plugin, req):
    count = int(plugin.option("genCount", "5"))
    out = []
    while made[0] < count and len(out) < min(3, req.get("max", 3)):
        out.append({"baseUrl": "https://gen.example.com/",
                    "relPath": f"gen/item_{made[0]:03d}", "size": 42,
                    "gen_tag": "made by exec_gen"})
        made[0] += 1
    if out and made[0] == count:
        plugin.log(f"made all {count} messages")
    return {"messages": out}


srexec.run("exec_gen", {"gather": gather}, options=["genCount"])
