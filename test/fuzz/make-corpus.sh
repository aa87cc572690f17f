#!/bin/sh
# make-corpus.sh: write the seed corpora of the fuzz targets from test/data.
#
#   sh test/fuzz/make-corpus.sh        (from anywhere; paths are taken from this script's)
#
# The corpora are checked in, so CI runs `make fuzz-check` without this step; run it again
# when the golden messages or configs change. It rewrites only the files it owns (named
# data-*); regression seeds added by hand (regress-*, see README.rst) are kept, and a seed
# that is an open crash's reproducer (crashes/<target>/) is left out.
#
#   corpus/v03/     every v03 and bad JSON body, as is
#   corpus/v02/     every .v02 file (v02/ and bad/) in fuzz_v02.c's scheme:
#                   body (with \n made a newline), a NUL byte, then NAME=VALUE lines
#                   (the file's content_type and topic lines are dropped)
#   corpus/config/  the good, bad and layers configs and conf.d, behind one byte naming
#                   the component (fuzz_config.c): the folder's (conf.d: the file's) component, or subscribe
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
msgs=$top/test/data/messages
confs=$top/test/data/config
out=$here/corpus

mkdir -p "$out/v03" "$out/v02" "$out/config"
rm -f "$out"/v03/data-* "$out"/v02/data-* "$out"/config/data-*

# ---- v03: copies ----
for f in "$msgs"/v03/*.json "$msgs"/bad/*.json; do
    kind=$(basename "$(dirname "$f")")
    cp "$f" "$out/v03/data-$kind-$(basename "$f" .json)"
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

# A seed that reproduces an open crash (the same bytes as a file in crashes/<target>/) is
# held back, so fuzz-check stays a test of what is fixed; README.rst says how it comes back.
held=0
for t in v03 v02 config; do
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
total=$(cat "$out"/v03/* "$out"/v02/* "$out"/config/* | wc -c)
echo "make-corpus: $(ls "$out/v03" | wc -l) v03, $(ls "$out/v02" | wc -l) v02," \
     "$(ls "$out/config" | wc -l) config inputs, $total bytes in all, $held held back"
