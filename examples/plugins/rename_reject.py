#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""rename_reject.py: an sr exec plugin (sr-plugin(7), EXEC PLUGINS) that renames
products and rejects some; rename_reject.c does the same inside the process.

In after_accept, for each message of a batch:
  - a file whose name ends in rejectSuffix (".tmp" unless set) is rejected: it is not
    downloaded, and the log says why;
  - a file whose name matches renamePattern (a Python regular expression) is written
    under the name renameTo gives, where \\1 to \\9 are the pattern's groups. By default
    CYYZ_20240101.txt becomes 20240101_CYYZ.txt.
Every other message goes on unchanged.

sr starts it once per instance with `flowcb exec:python3 /path/to/rename_reject.py`
and speaks JSON lines with it on its standard input and output: one request, one reply,
in order. What it writes to standard error goes to sr's log. Python 3 standard library
only.
"""
import json
import re
import sys

PROTOCOL = 1
OPTIONS = ("renamePattern", "renameTo", "rejectSuffix")
DEFAULTS = {"renamePattern": r"^([A-Z]{4})_([0-9]{8})\.txt$", "renameTo": r"\2_\1.txt",
            "rejectSuffix": ".tmp"}


def log(text):
    """One line in sr's log (sr reads our standard error a line at a time)."""
    print(text, file=sys.stderr, flush=True)


def reply(obj):
    """One line of JSON on standard output, flushed at once: sr waits for it."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class RenameReject:
    def __init__(self, options):
        def option(name):
            values = options.get(name) or [DEFAULTS[name]]
            return values[-1]  # the last line given wins, as for sr's own options
        self.pattern = re.compile(option("renamePattern"))
        self.to = option("renameTo")
        self.suffix = option("rejectSuffix")
        self.renamed = self.rejected = 0

    def after_accept(self, msg):
        """The result for one message: its verdict and the fields to change."""
        name = msg.get("new_file")
        if name is None:  # not placed (a shovel): nothing to name
            return {"verdict": "keep"}
        if self.suffix and name.endswith(self.suffix):
            self.rejected += 1
            return {"verdict": "reject", "why": "a temporary file"}
        m = self.pattern.search(name)
        if m is None:
            return {"verdict": "keep"}
        self.renamed += 1
        # sr checks the new name as it checks a message's: no '/', inside the destination
        return {"verdict": "keep", "set": {"new_file": m.expand(self.to)}}


def main():
    hello = json.loads(sys.stdin.readline() or "null")
    if not isinstance(hello, dict) or hello.get("sr_exec") != PROTOCOL:
        log(f"rename_reject.py: not an sr exec handshake of version {PROTOCOL}: {hello!r}")
        return 1
    plugin = RenameReject(hello.get("options", {}))
    reply({"sr_exec": PROTOCOL, "name": "rename_reject",
           "hooks": ["after_accept", "metrics_report"], "options": list(OPTIONS)})
    log(f"renaming {plugin.pattern.pattern} to {plugin.to}, rejecting *{plugin.suffix} "
        f"({hello.get('component')}/{hello.get('config')}, instance {hello.get('instance')})")
    for line in sys.stdin:
        req = json.loads(line)
        hook = req.get("hook")
        if hook == "after_accept":
            reply({"id": req["id"],
                   "results": [plugin.after_accept(msg) for msg in req["messages"]]})
        elif hook == "metrics_report":
            reply({"id": req["id"],
                   "metrics": {"renamed": plugin.renamed, "rejected": plugin.rejected}})
        else:  # hooks we did not ask for are not sent; answer anyway, without error
            reply({"id": req["id"]})
    return 0  # sr closed our input: it is stopping


if __name__ == "__main__":
    sys.exit(main())
