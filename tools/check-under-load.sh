#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run `make check` N times in a row on a fresh clone of HEAD while another process keeps
# one core busy: the machine CI gives the tests (see test/README.rst). Prints pass or fail
# and the time of each run, and a summary; exits 1 when a run failed.
#
#   tools/check-under-load.sh [-n N] [-k] [--no-load] [--clone-only]
#     -n N          runs of `make check` (default 5)
#     -k            keep the clone (kept anyway when a run failed: its logs are there)
#     --no-load     no busy core (to compare)
#     --clone-only  clone HEAD, say what would run, remove the clone: a dry run
#
# What is tested is HEAD as committed: uncommitted changes are not in the clone, and each
# run starts from the clean clone (git clean -xdf: no build left from the run before). The busy
# core is `stress-ng --cpu 1` when stress-ng is installed, else a shell loop; either is
# stopped when the script ends, however it ends.
set -u

runs=5 keep=0 load=1 clone_only=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) runs=${2:?-n needs a number}; shift ;;
    -k) keep=1 ;;
    --no-load) load=0 ;;
    --clone-only) clone_only=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-under-load: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
case $runs in
''|*[!0-9]*|0) echo "check-under-load: -n wants a number of runs, 1 or more" >&2; exit 2 ;;
esac

top=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel) || exit 2
rev=$(git -C "$top" rev-parse HEAD) || exit 2
dir=$(mktemp -d "${TMPDIR:-/tmp}/sr-check.XXXXXX") || exit 2
# mktemp makes it 0700; test_hostile_fs runs sr as uid nobody too, which must reach the
# build and conf.d as it can in any checkout
chmod 0755 "$dir"
busy=""
failed=0

finish() {
    if [ -n "$busy" ]; then
        kill "$busy" 2>/dev/null
        wait "$busy" 2>/dev/null
    fi
    if [ "$keep" = 1 ] || [ "$failed" -gt 0 ]; then
        echo "check-under-load: the clone and its logs stay in $dir"
    else
        rm -rf "$dir"
    fi
}
trap finish EXIT
trap 'exit 130' INT TERM

echo "check-under-load: cloning $top at ${rev:0:12} into $dir"
if ! git clone --quiet "$top" "$dir/sr" || ! git -C "$dir/sr" checkout --quiet --detach "$rev"
then
    echo "check-under-load: cannot clone $rev (a commit on no branch?)" >&2
    failed=1
    exit 2
fi

# The tests that run Python sr3 beside sr find it at ../shared/peers from the checkout:
# the clone gets the same neighbour, or those tests would skip.
if [ -d "$top/../shared" ]; then
    ln -s "$(cd "$top/../shared" && pwd)" "$dir/shared"
fi

if [ "$load" = 1 ]; then
    if command -v stress-ng >/dev/null 2>&1; then
        how="stress-ng --cpu 1 --timeout 0"
    else
        how="sh -c 'while :; do :; done'"
    fi
else
    how="nothing (--no-load)"
fi

if [ "$clone_only" = 1 ]; then
    echo "check-under-load: dry run: would keep one core busy with $how and run"
    echo "  (cd $dir/sr && make check) $runs time(s); the clone holds:"
    git -C "$dir/sr" log --oneline -1 | sed 's/^/  /'
    exit 0
fi

if [ "$load" = 1 ]; then
    if command -v stress-ng >/dev/null 2>&1; then
        stress-ng --cpu 1 --timeout 0 --quiet &
    else
        sh -c 'while :; do :; done' &
    fi
    busy=$!
fi
echo "check-under-load: one core kept busy by $how${busy:+ (pid $busy)}; $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"

for i in $(seq 1 "$runs"); do
    log="$dir/check-$i.log"
    # every run starts from the clone as committed, as a CI run does: the build and
    # whatever the run before left are removed
    git -C "$dir/sr" clean -xdfq
    start=$(date +%s)
    if (cd "$dir/sr" && make check) >"$log" 2>&1; then
        result=pass
    else
        result=FAIL
        failed=$((failed + 1))
    fi
    took=$(($(date +%s) - start))
    printf 'run %d/%d: %s in %dm%02ds (log %s)\n' "$i" "$runs" "$result" $((took / 60)) \
        $((took % 60)) "$log"
    if [ "$result" = FAIL ]; then
        # what pytest or make said last: the failing test's name is there
        grep -E '^(FAILED|ERROR) |^make.*Error|passed|failed' "$log" | tail -5 | sed 's/^/    /'
    fi
done

echo "check-under-load: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
