#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# bench/transfer.sh BUILD: sftp transfers by sr (test/tools/sr_transfer_tool, one session)
# against OpenSSH's own clients, in the same run, against a private sshd on 127.0.0.1
# started through the integration tests' fixture (test/integration/fixtures_ssh.py):
#
#   small files: SR_BENCH_FILES (2000) files of 4 KiB put by sr (putmany: one connection)
#                vs one `sftp -b` batch (one connection) vs `scp` once per file (a login
#                per file; timed on the first SR_BENCH_SCP_FILES (100) files, as files/s);
#   large file:  one file of SR_BENCH_MB (1024) MiB put and got by sr vs `scp` (sr's get
#                without its on-the-fly sha512 to compare like with like, then with it).
#
# Every figure is the median of SR_BENCH_RUNS (5) runs, sr and the reference alternating.
# The data and the server's copies live on a tmpfs (/dev/shm) when it has room, so the
# disk's write-back does not drown the transfer in noise; SR_BENCH_DIR chooses another
# folder. Goals (issue 5): large file >= 0.9x scp; small files >= 1.0x the sftp -b batch.
set -eu
build=${1:?usage: bench/transfer.sh BUILD}
python=${PYTHON:-/usr/bin/python3}
top=$(pwd)
tool=$top/$build/test/tools/sr_transfer_tool
runs=${SR_BENCH_RUNS:-5}
mb=${SR_BENCH_MB:-1024}
nfiles=${SR_BENCH_FILES:-2000}
nscp=${SR_BENCH_SCP_FILES:-100}
[ "$nscp" -le "$nfiles" ] || nscp=$nfiles
[ -x "$tool" ] || { echo "bench/transfer.sh: $tool: not built" >&2; exit 2; }

need_kb=$(( (mb * 3 + 64) * 1024 ))
if [ -n "${SR_BENCH_DIR:-}" ]; then
    base=$SR_BENCH_DIR/sr-bench-transfer.$$
elif [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt "$need_kb" ] 2>/dev/null
then
    base=/dev/shm/sr-bench-transfer.$$
else
    base=$top/$build/bench-transfer.$$
fi
mkdir -p "$base"
driver=

cleanup() {
    if [ -n "$driver" ]; then
        kill -TERM "$driver" 2>/dev/null || true
        wait "$driver" 2>/dev/null || true
    fi
    rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server: the fixture's Sshd and a client HOME (ssh_home), kept up until TERM.
"$python" - "$top/test/integration" "$base/srv" <<'EOF' &
import signal, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from fixtures_ssh import Sshd, SshHome
base = Path(sys.argv[2])
base.mkdir(parents=True, exist_ok=True)
server = Sshd(base)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    server.start()
    home = SshHome(base / "home", server)
    (base / "env.tmp").write_text(f"port={server.port}\nuser={server.user}\n"
                                  f"home={home.path}\nroot={server.root}\n")
    (base / "env.tmp").rename(base / "env")
    while True:
        time.sleep(3600)
finally:
    server.stop()
EOF
driver=$!
i=0
while [ ! -f "$base/srv/env" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$driver" 2>/dev/null; then
        echo "bench/transfer.sh: the test sshd did not start" >&2
        exit 1
    fi
    sleep 0.1
done
. "$base/srv/env"
unset SSH_AUTH_SOCK
export HOME="$home"
# (OpenSSH expands ~ in IdentityFile from the passwd entry, not $HOME: name the key)
ssh_opts="-F $home/.ssh/config -o UserKnownHostsFile=$home/.ssh/known_hosts -o BatchMode=yes
          -o IdentityFile=$home/.ssh/id_ed25519 -o IdentitiesOnly=yes"
dest=$base/dest
mkdir -p "$dest"

now() { date +%s.%N; }
# elapsed START: seconds since START
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }'; }
# median of the numbers on standard input
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }'; }
sr() { "$tool" --home "$home" "sftp://cluster" "$@"; }
check_ok() { grep -q "^ok $1" "$base/out" || { echo "bench/transfer.sh: sr $1 failed:" >&2; cat "$base/out" >&2; exit 1; }; }

echo "transfer (sftp): $(nproc) cores, Linux $(uname -r), $(ssh -V 2>&1 | cut -d, -f1), sshd on 127.0.0.1:$port"
echo "  data in $base; medians of $runs runs"

# ---- small files ----
small=$base/small
mkdir -p "$small"
k=0
while [ $k -lt "$nfiles" ]; do
    head -c 4096 /dev/urandom > "$small/f$k"
    k=$((k + 1))
done
: > "$base/t_sr"; : > "$base/t_batch"; : > "$base/t_scp"
r=0
while [ $r -lt "$runs" ]; do
    rm -rf "$dest/small_sr" "$dest/small_b" "$dest/small_scp"
    t0=$(now)
    sr putmany "$small" "/$dest/small_sr" > "$base/out" 2>&1
    elapsed "$t0" >> "$base/t_sr"; echo >> "$base/t_sr"
    check_ok putmany
    [ "$(ls "$dest/small_sr" | wc -l)" -eq "$nfiles" ]

    { echo "-mkdir $dest/small_b"; echo "cd $dest/small_b"; echo "lcd $small"
      k=0; while [ $k -lt "$nfiles" ]; do echo "put f$k"; k=$((k + 1)); done; } > "$base/batch"
    t0=$(now)
    # shellcheck disable=SC2086
    sftp -q $ssh_opts -b "$base/batch" cluster > /dev/null
    elapsed "$t0" >> "$base/t_batch"; echo >> "$base/t_batch"
    [ "$(ls "$dest/small_b" | wc -l)" -eq "$nfiles" ]

    mkdir -p "$dest/small_scp"
    t0=$(now)
    k=0
    while [ $k -lt "$nscp" ]; do
        # shellcheck disable=SC2086
        scp -q $ssh_opts "$small/f$k" "cluster:$dest/small_scp/f$k"
        k=$((k + 1))
    done
    elapsed "$t0" >> "$base/t_scp"; echo >> "$base/t_scp"
    r=$((r + 1))
done
s_sr=$(grep . "$base/t_sr" | median); s_b=$(grep . "$base/t_batch" | median)
s_scp=$(grep . "$base/t_scp" | median)
f_sr=$(rate "$nfiles" "$s_sr"); f_b=$(rate "$nfiles" "$s_b"); f_scp=$(rate "$nscp" "$s_scp")
mbs() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.2f", (s > 0) ? n * 4096 / s / 1e6 : 0 }'; }
echo "  $nfiles files of 4 KiB, put:"
echo "    sr putmany (one session)  $(printf '%8s' "$f_sr") files/s  $(mbs "$nfiles" "$s_sr") MB/s  (${s_sr} s)"
echo "    sftp -b (one batch)       $(printf '%8s' "$f_b") files/s  $(mbs "$nfiles" "$s_b") MB/s  (${s_b} s)"
echo "    scp, one per file         $(printf '%8s' "$f_scp") files/s  $(mbs "$nscp" "$s_scp") MB/s  ($nscp files in ${s_scp} s)"
echo "    ratio sr/sftp-b $(ratio "$f_sr" "$f_b") (goal >= 1.0), sr/scp $(ratio "$f_sr" "$f_scp")"
rm -rf "$small" "$dest"/small_*

# ---- one large file ----
big=$base/big.bin
head -c $((mb * 1024 * 1024)) /dev/urandom > "$big"
bytes=$((mb * 1024 * 1024))
for f in put_sr put_scp get_sr get_scp get_sr_sum; do : > "$base/t_$f"; done
: > "$base/rss"
r=0
while [ $r -lt "$runs" ]; do
    rm -f "$dest/big.sr" "$dest/big.scp"
    t0=$(now)
    /usr/bin/time -f %M -a -o "$base/rss" "$tool" --home "$home" sftp://cluster \
        put "$big" "/$dest/big.sr" > "$base/out" 2>&1
    elapsed "$t0" >> "$base/t_put_sr"; echo >> "$base/t_put_sr"
    check_ok put
    t0=$(now)
    # shellcheck disable=SC2086
    scp -q $ssh_opts "$big" "cluster:$dest/big.scp"
    elapsed "$t0" >> "$base/t_put_scp"; echo >> "$base/t_put_scp"
    rm -f "$dest/big.scp"

    rm -f "$base/got"
    t0=$(now)
    /usr/bin/time -f %M -a -o "$base/rss" "$tool" --no-digest --home "$home" sftp://cluster \
        get "/$dest/big.sr" "$base/got" > "$base/out" 2>&1
    elapsed "$t0" >> "$base/t_get_sr"; echo >> "$base/t_get_sr"
    check_ok get
    rm -f "$base/got"
    t0=$(now)
    # shellcheck disable=SC2086
    scp -q $ssh_opts "cluster:$dest/big.sr" "$base/got"
    elapsed "$t0" >> "$base/t_get_scp"; echo >> "$base/t_get_scp"
    rm -f "$base/got"
    t0=$(now)
    sr get "/$dest/big.sr" "$base/got" > "$base/out" 2>&1
    elapsed "$t0" >> "$base/t_get_sr_sum"; echo >> "$base/t_get_sr_sum"
    check_ok get
    rm -f "$base/got"
    r=$((r + 1))
done
cmp -s "$big" "$dest/big.sr" || { echo "bench/transfer.sh: the file put differs" >&2; exit 1; }
m() { grep . "$base/t_$1" | median; }
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", (s > 0) ? b / s / 1e6 : 0 }'; }
p_sr=$(mbps "$(m put_sr)"); p_scp=$(mbps "$(m put_scp)")
g_sr=$(mbps "$(m get_sr)"); g_scp=$(mbps "$(m get_scp)"); g_sum=$(mbps "$(m get_sr_sum)")
echo "  one file of $mb MiB:"
echo "    put: sr $p_sr MB/s, scp $p_scp MB/s, ratio $(ratio "$p_sr" "$p_scp") (goal >= 0.9)"
echo "    get: sr $g_sr MB/s, scp $g_scp MB/s, ratio $(ratio "$g_sr" "$g_scp");" \
     "sr with its on-the-fly sha512 $g_sum MB/s"
echo "    sr peak RSS $(sort -n "$base/rss" | tail -1) KiB"
