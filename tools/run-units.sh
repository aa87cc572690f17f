#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Run cmocka test programs from the source tree (they read test/data and conf.d) and end
# with one summary line (a failing program's whole output is shown): `make unit` and `make unit-asan` use it.
#   tools/run-units.sh LABEL TOPDIR PROGRAM...
set -u
label=$1 top=$2
shift 2
programs=0 tests=0 failed=""
for t in "$@"; do
    programs=$((programs + 1))
    out=$(SR_CONFD="$top/conf.d" SR_TEST_DATA="$top/test/data" "$t" 2>&1)
    rc=$?
    n=$(printf '%s\n' "$out" | sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' | tail -1)
    tests=$((tests + ${n:-0}))
    if [ "$rc" -eq 0 ]; then
        echo "  ok   $(basename "$t"): ${n:-0} tests"
    else
        # the whole output of a failing program: which test, which assertion, which line
        printf '%s\n' "$out"
        echo "  FAIL $(basename "$t")"
        failed="$failed $(basename "$t")"
    fi
done
if [ -n "$failed" ]; then
    echo "$label: FAILED in$failed ($programs programs, $tests tests run)"
    exit 1
fi
echo "$label: $tests tests passed in $programs programs"
