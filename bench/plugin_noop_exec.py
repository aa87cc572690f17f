#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/plugin_noop_exec.py: an exec plugin (sr-plugin(7)) with after_accept only, which
keeps every message unchanged, for bench/plugin.py: what a co-process in Python costs a
shovel, batch by batch. Each batch is still read and parsed, and its answer written, as
any exec plugin must."""
import json
import sys


def main():
    out = sys.stdout
    hello = json.loads(sys.stdin.readline() or "null")
    if not isinstance(hello, dict) or hello.get("sr_exec") != 1:
        print(f"not an sr exec handshake: {hello!r}", file=sys.stderr)
        return 1
    out.write('{"sr_exec":1,"name":"noop","hooks":["after_accept"],"options":[]}\n')
    out.flush()
    keep = '{"verdict":"keep"}'
    for line in sys.stdin:
        req = json.loads(line)
        n = len(req.get("messages", ()))
        results = ",".join([keep] * n)
        if req.get("hook") == "after_accept":
            out.write(f'{{"id":{req["id"]},"results":[{results}]}}\n')
        else:
            out.write(f'{{"id":{req["id"]}}}\n')
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
