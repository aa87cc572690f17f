#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Every source file says its license in its first lines (an SPDX line, as the kernel and
# curl do). `tools/spdx.sh check` lists the files without one and fails; `tools/spdx.sh add`
# adds it to them (after a #! line). Run from the top of the tree.
set -eu
TAG='SPDX-License-Identifier: GPL-2.0-only'
files() {
    git ls-files -- '*.c' '*.h' '*.def' '*.py' '*.sh' '*.mk' Makefile .ci/run 2>/dev/null
}
missing() {
    files | while read -r f; do
        head -n 3 "$f" | grep -q 'SPDX-License-Identifier:' || echo "$f"
    done
}
case "${1:-check}" in
check)
    bad=$(missing)
    if [ -n "$bad" ]; then
        echo "no SPDX line in:" >&2
        echo "$bad" >&2
        echo "(tools/spdx.sh add puts one in)" >&2
        exit 1
    fi
    echo "spdx: every source file says its license"
    ;;
add)
    missing | while read -r f; do
        case "$f" in
        *.c | *.h | *.def) line="/* $TAG */" ;;
        *) line="# $TAG" ;;
        esac
        tmp="$f.spdx.$$"
        if head -n 1 "$f" | grep -q '^#!'; then
            { head -n 1 "$f"; echo "$line"; tail -n +2 "$f"; } > "$tmp"
        else
            { echo "$line"; cat "$f"; } > "$tmp"
        fi
        chmod --reference="$f" "$tmp"
        mv "$tmp" "$f"
    done
    ;;
*)
    echo "usage: tools/spdx.sh check|add" >&2
    exit 2
    ;;
esac
