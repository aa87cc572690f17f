#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Build the Debian packages from a copy of the working tree and check what they hold
# (`make package-check`, see mk/package.mk).
#
# dpkg-buildpackage wants debian/ at the top of the source tree; sr keeps it in
# packaging/debian, so the tree (the files git tracks plus the new ones it does not
# ignore) is copied to a temporary folder with packaging/debian put there as debian/.
# The .debs and the build log are left in OUTDIR. Exits non-zero if anything is missing.
#
# usage: packaging/check-deb.sh OUTDIR
set -eu

OUTDIR=${1:?usage: packaging/check-deb.sh OUTDIR}
SRC=$(git rev-parse --show-toplevel)

for tool in dpkg-buildpackage dh dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "package-check: $tool not found; as root:" >&2
        echo "  apt-get install -y --no-install-recommends dpkg-dev debhelper" >&2
        exit 1
    fi
done

VERSION=$(dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sr-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM HUP
TREE=$WORK/sr-$VERSION
mkdir -p "$TREE"

# Tracked and untracked-but-not-ignored files, minus those deleted in the work tree.
# shellcheck disable=SC2016 # $f is for the inner sh
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$SRC" && xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done; true' sh) |
    (cd "$SRC" && tar --null -T - -cf -) | tar -C "$TREE" -xf -
cp -R "$TREE/packaging/debian" "$TREE/debian"

echo "package-check: building sr $VERSION in $TREE"
(cd "$TREE" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log" >&2
    mkdir -p "$OUTDIR"
    cp "$WORK/build.log" "$OUTDIR/build.log"
    echo "package-check: dpkg-buildpackage failed (last lines above; all of it in $OUTDIR/build.log)" >&2
    exit 1
}
mkdir -p "$OUTDIR"
cp "$WORK/build.log" "$OUTDIR/build.log"
grep -E '^(unit: |dpkg-deb: building|dh_missing|dpkg-shlibdeps: warning)' "$WORK/build.log" || true

# What the packages must hold is listed from the copy that was built, not from the
# working tree, which may have changed meanwhile.
fail=0
# contents PACKAGE: the file list of its .deb, one path a line, without the leading ./
contents() {
    dpkg-deb -c "$WORK/$1_${VERSION}_"*.deb | awk '{ print $6 }' | sed 's|^\./|/|'
}
# expect PACKAGE PATH...: each PATH is in PACKAGE
expect() {
    pkg=$1
    shift
    list=$(contents "$pkg")
    for path in "$@"; do
        if printf '%s\n' "$list" | grep -qxF "$path"; then
            echo "  ok   $pkg: $path"
        else
            echo "  MISSING from $pkg: $path" >&2
            fail=1
        fi
    done
}

for deb in "$WORK"/*.deb; do
    echo "== $(basename "$deb")"
    dpkg-deb -f "$deb" Package Version Architecture Depends | sed 's/^/   /'
done

bins=""
for b in sr sr_post sr_watch sr_poll sr_subscribe sr_sarra sr_shovel sr_sender sr_winnow sr_sanity; do
    bins="$bins /usr/bin/$b"
done
confd=""
for f in "$TREE"/conf.d/*.conf; do
    confd="$confd /usr/share/sr/conf.d/$(basename "$f")"
done
examples=""
for f in $(cd "$TREE/examples" && find . -type f | sed 's|^\./||' | sort); do
    examples="$examples /usr/share/sr/examples/$f"
done
# Man pages, compressed by dh_compress.
man=""
for f in "$TREE"/man/*.[157]; do
    [ -f "$f" ] || continue
    man="$man /usr/share/man/man${f##*.}/$(basename "$f").gz"
done
man="$man /usr/share/man/man7/sr-options.7.gz" # generated from the option table
# shellcheck disable=SC2086 # the lists are words
expect sr $bins $confd $examples $man /usr/lib/sr/plugins/ \
    /usr/share/bash-completion/completions/sr \
    /usr/lib/systemd/user/sr.service \
    /usr/lib/systemd/user/sr-sanity.service \
    /usr/lib/systemd/user/sr-sanity.timer
expect libsr0 "/usr/lib/libsr.so.$VERSION"
# Every header `make install` installs (PUBLIC_HDRS: lib/*.h but the *_impl.h a module
# shares with its backends), so a new module's header cannot go missing from libsr-dev.
hdrs=""
for f in "$TREE"/lib/*.h; do
    case "$f" in *_impl.h) continue ;; esac
    hdrs="$hdrs /usr/include/sr/$(basename "$f")"
done
# shellcheck disable=SC2086 # the list is words
expect libsr-dev /usr/lib/libsr.a /usr/lib/libsr.so /usr/lib/pkgconfig/sr.pc \
    /usr/include/sr/options.def /usr/include/sr/plugin.h $hdrs

# The packaged sr runs, finds the packaged conf.d (<bin>/../share/sr/conf.d) and loads
# the packaged examples.
ROOT=$WORK/root
dpkg-deb -x "$WORK"/sr_"$VERSION"_*.deb "$ROOT"
if env -u SR_CONFD HOME="$WORK" SR_CONFIG_DIR="$ROOT/usr/share/sr/examples" \
    "$ROOT/usr/bin/sr" show sender/tocluster >"$WORK/show.out" 2>&1 &&
    grep -q '^sendTo  *sftp://cluster/' "$WORK/show.out"; then
    echo "  ok   sr: packaged sr show sender/tocluster"
else
    cat "$WORK/show.out" >&2
    echo "  FAILED: the packaged sr cannot show its own example" >&2
    fail=1
fi

cp "$WORK"/*.deb "$OUTDIR"/
if [ "$fail" -ne 0 ]; then
    echo "package-check: FAILED" >&2
    exit 1
fi
echo "package-check: OK, packages in $OUTDIR"
