# SPDX-License-Identifier: GPL-2.0-only
"""srexec: the exec plugin protocol of sr, version 1 (lib/plugin_exec.h, sr-plugin(7)), for
the test exec plugins of test_plugins_exec.py: standard library only.

A plugin calls run(name, handlers, options): the handshake, then one reply per request,
handlers[hook](plugin, request) giving the reply's fields (the id is added here). A
plugin's record of what it saw goes to a file of its state folder (note)."""
import json
import os
import sys


class Plugin:
    def __init__(self, hello):
        self.hello = hello
        self.state_dir = hello.get("state_dir") or "."
        self.options = hello.get("options") or {}

    def option(self, name, default=None):
        values = self.options.get(name)
        return values[0] if values else default

    def path(self, file):
        return os.path.join(self.state_dir, file)

    def note(self, file, line):
        with open(self.path(file), "a") as f:
            f.write(line + "\n")

    def log(self, text):
        """A line on standard error: sr logs it under the plugin's name."""
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run(name, handlers, options=(), hello_reply=None):
    """Serve sr until it closes our input. hello_reply: what to answer the handshake
    with instead of the right answer (a test of a plugin speaking garbage)."""
    line = sys.stdin.readline()
    if not line:
        return
    plugin = Plugin(json.loads(line))
    if hello_reply is not None:
        sys.stdout.write(hello_reply + "\n")
        sys.stdout.flush()
    else:
        send({"sr_exec": 1, "name": name, "hooks": sorted(handlers), "options": list(options)})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        handler = handlers.get(req.get("hook"))
        out = dict(handler(plugin, req) or {}) if handler else {}
        out["id"] = req["id"]
        send(out)
