#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin that hangs (test_plugin_exec): a good handshake, then it never answers
after_accept. It ignores SIGTERM and leaves a child in its process group (whose pid it
writes to stderr), so only a SIGKILL of the whole group ends them both."""
import json
import signal
import subprocess
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.readline()
print(json.dumps({"sr_exec": 1, "name": "hang", "hooks": ["after_accept"]}), flush=True)
child = subprocess.Popen(["sleep", "600"])
sys.stderr.write("child %d\n" % child.pid)
sys.stderr.flush()
for line in sys.stdin:
    time.sleep(3600)
