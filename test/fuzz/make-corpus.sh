#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# make-corpus.sh: write the seed corpora of the fuzz targets from test/data.
#
#   sh test/fuzz/make-corpus.sh        (from anywhere; paths are taken from this script's)
#
# The corpora are checked in, so CI runs `make fuzz-check` without this step; run it again
# when the golden messages or configs change. It rewrites only the files it owns (named
# data-*); regression seeds added by hand (regress-*, see README.rst) are kept, and a seed
# that is an open crash's reproducer (crashes/<target>/) is left out.
#
#   corpus/v03/     every v03 and bad JSON body, and every WIS2 notification message
#                   (test/data/wis2: the decoder takes both), as is
#   corpus/v02/     every .v02 file (v02/ and bad/) in fuzz_v02.c's scheme:
#                   body (with \n made a newline), a NUL byte, then NAME=VALUE lines
#                   (the file's content_type and topic lines are dropped)
#   corpus/config/  the good, bad and layers configs and conf.d, behind one byte naming
#                   the component (fuzz_config.c): the folder's (conf.d: the file's) component, or subscribe
#   corpus/headers/ AMQP header tables and MQTT 5 property lists in fuzz_headers.c's scheme,
#                   written here (python3): the headers sr3 sends, every AMQP field kind,
#                   nesting, long and NUL-holding values
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
msgs=$top/test/data/messages
confs=$top/test/data/config
out=$here/corpus

mkdir -p "$out/v03" "$out/v02" "$out/config" "$out/headers"
rm -f "$out"/v03/data-* "$out"/v02/data-* "$out"/config/data-* "$out"/headers/data-*

# ---- v03: copies ----
for f in "$msgs"/v03/*.json "$msgs"/bad/*.json; do
    kind=$(basename "$(dirname "$f")")
    cp "$f" "$out/v03/data-$kind-$(basename "$f" .json)"
done
for f in "$top"/test/data/wis2/example*.json "$top"/test/data/wis2/good/*.json \
         "$top"/test/data/wis2/bad/*.json; do
    kind=$(basename "$(dirname "$f")")
    cp "$f" "$out/v03/data-wis-$kind-$(basename "$f" .json)"
done

# ---- v02: body NUL headers ----
for f in "$msgs"/v02/*.v02 "$msgs"/bad/*.v02; do
    kind=$(basename "$(dirname "$f")")
    {
        # the body line's text, "\n" standing for a newline, without a newline after it
        awk 'sub(/^body /, "") { gsub(/\\n/, "\n"); printf "%s", $0; exit }' "$f"
        printf '\000'
        sed -n 's/^header //p' "$f"
    } > "$out/v02/data-$kind-$(basename "$f" .v02)"
done

# ---- config: component digit, newline, file ----
component_byte() {
    case $1 in
        post) echo 0 ;; watch) echo 1 ;; subscribe) echo 2 ;; sarra) echo 3 ;;
        shovel) echo 4 ;; sender) echo 5 ;; winnow) echo 6 ;; *) echo 2 ;;
    esac
}
for f in "$confs"/good/*/* "$confs"/bad/*/* "$confs"/layers/* "$confs"/layers/*/* \
         "$top"/conf.d/*.conf; do
    [ -f "$f" ] || continue
    rel=${f#"$top"/}
    dir=$(basename "$(dirname "$f")")
    [ "$dir" != conf.d ] || dir=$(basename "$f" .conf)
    name=$(echo "$rel" | sed -e 's|^test/data/config/||' -e 's|/|-|g' -e 's|\.[a-z]*$||')
    {
        component_byte "$dir"
        cat "$f"
    } > "$out/config/data-$name"
done

# ---- headers: a protocol byte (0 AMQP, 1 MQTT), then a table or a property list ----
python3 - "$out/headers" <<'PY'
import struct, sys
out = sys.argv[1]

# AMQP 0-9-1 field values with rabbitmq-c's kind letters
def longstr(b): return b"S" + struct.pack(">I", len(b)) + b
def raw(b): return b"x" + struct.pack(">I", len(b)) + b
def entries(pairs): return b"".join(bytes([len(k)]) + k + v for k, v in pairs)
def table(pairs):
    e = entries(pairs)
    return b"F" + struct.pack(">I", len(e)) + e
def array(values):
    e = b"".join(values)
    return b"A" + struct.pack(">I", len(e)) + e
def decimal(scale, value): return b"D" + struct.pack(">BI", scale, value)

def write(name, data):
    with open(f"{out}/data-{name}", "wb") as f:
        f.write(data)

sr3 = [(b"sum", longstr(b"d,6f5902ac237024bdd0c176cb93063dc4")),
       (b"parts", longstr(b"1,1024,1,0,0")),
       (b"mtime", longstr(b"20261125210405.123")),
       (b"atime", longstr(b"20261125210405.123")),
       (b"source", longstr(b"bob")),
       (b"to_clusters", longstr(b"ALL"))]
write("amqp-sr3", b"\0" + entries(sr3))
write("amqp-kinds", b"\0" + entries([
    (b"t", b"t\x01"), (b"b", b"b\x80"), (b"B", b"B\xff"),
    (b"s", b"s" + struct.pack(">h", -32768)), (b"u", b"u" + struct.pack(">H", 65535)),
    (b"I", b"I" + struct.pack(">i", -2**31)), (b"i", b"i" + struct.pack(">I", 2**32 - 1)),
    (b"l", b"l" + struct.pack(">q", -2**63)), (b"L", b"L" + struct.pack(">Q", 2**64 - 1)),
    (b"f", b"f" + struct.pack(">f", 1.5)), (b"d", b"d" + struct.pack(">d", 0.1)),
    (b"D", decimal(2, 12345)), (b"T", b"T" + struct.pack(">Q", 1795564800)),
    (b"V", b"V"), (b"x", raw(b"bytes")), (b"S", longstr("été".encode()))]))
write("amqp-decimals", b"\0" + entries([
    (b"station", decimal(255, 2**32 - 1)),
    (b"many", array([decimal(s, 2**32 - 1) for s in (0, 9, 10, 11, 64, 128, 200, 255)]))]))
deep_array = longstr(b"bottom")
deep_table = longstr(b"bottom")
for _ in range(12):
    deep_array = array([deep_array, b"V"])
    deep_table = table([(b"a", deep_table)])
write("amqp-nested", b"\0" + entries([(b"deep_array", deep_array), (b"deep_table", deep_table),
                                      (b"mixed", table([(b"l", array([table([]), array([])]))]))]))
write("amqp-long", b"\0" + entries([(b"station", longstr(b"x" * 1500)), (b"k" * 255, longstr(b"v"))]))
write("amqp-nul", b"\0" + entries([(b"sum", raw(b"d,6f5902ac237024bdd0c176cb93063dc4\0junk")),
                                   (b"to\0clusters", longstr(b"ALL"))]))
write("amqp-many", b"\0" + entries([(b"voids", array([b"V"] * 1200)), (b"v", b"V")] * 2))

# MQTT 5 properties, fuzz_headers.c's ops
def user(name, value): return b"\0" + bytes([len(name)]) + name + struct.pack(">H", len(value)) + value
def content_type(t): return b"\1" + struct.pack(">H", len(t)) + t
write("mqtt-sr3", b"\1" + content_type(b"text/plain") + b"".join(user(k, v[5:]) for k, v in sr3))
write("mqtt-long", b"\1" + user(b"n" * 255, b"v") + user(b"station", b"y" * 1500) +
      content_type(b"t" * 400))
write("mqtt-others", b"\1" + content_type(b"application/json") + b"\2\1" + b"\3\0\0\0\x3c" +
      b"\4\0\4abcd" + b"\5\0\5reply" + user("lieu".encode(), "Montréal".encode()))
PY

# A seed that reproduces an open crash (the same bytes as a file in crashes/<target>/) is
# held back, so fuzz-check stays a test of what is fixed; README.rst says how it comes back.
held=0
for t in v03 v02 config headers; do
    for c in "$here/crashes/$t"/*; do
        [ -f "$c" ] || continue
        case $c in *.txt) continue ;; esac
        for f in "$out/$t"/data-*; do
            if cmp -s "$c" "$f"; then
                echo "make-corpus: $t/$(basename "$f") held back: it is crashes/$t/$(basename "$c")"
                rm -f "$f"
                held=$((held + 1))
            fi
        done
    done
done

# The corpora go into git: keep them small.
total=$(cat "$out"/v03/* "$out"/v02/* "$out"/config/* "$out"/headers/* | wc -c)
echo "make-corpus: $(ls "$out/v03" | wc -l) v03, $(ls "$out/v02" | wc -l) v02," \
     "$(ls "$out/config" | wc -l) config, $(ls "$out/headers" | wc -l) headers inputs," \
     "$total bytes in all, $held held back"
