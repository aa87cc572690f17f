#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""An exec plugin with a bad handshake (test_plugin_exec), as argv[1] says:
  version   another protocol version       unknown   a hook sr does not know
  download  a download hook, no schemes    scheme    a download hook, a bad scheme
  exit      exits without answering
  silent    never answers (waits for its input to close)
"""
import json
import sys

mode = sys.argv[1]
sys.stdin.readline()
hello = {"sr_exec": 1, "name": "bad", "hooks": ["after_accept"]}
if mode == "version":
    hello["sr_exec"] = 2
elif mode == "unknown":
    hello["hooks"] = ["after_accept", "on_message"]
elif mode == "download":
    hello["hooks"] = ["download"]
elif mode == "scheme":
    hello["hooks"] = ["send"]
    hello["schemes"] = ["fake", "fa ke"]
elif mode == "exit":
    sys.stderr.write("cannot read my settings\n")
    sys.exit(2)
elif mode == "silent":
    sys.stdin.read()
    sys.exit(0)
print(json.dumps(hello), flush=True)
for line in sys.stdin:
    pass
