#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Install the Debian packages sr's build, demo and tests need (`make deps`), and those
# the tests' sr3 peer (Python sr3 in ../shared/peers, test/integration/sr3peer.py) runs on.
#
# Fast and offline when everything is there: only dpkg-query, no apt-get update.
# As root, installs what is missing without letting the packages start their system
# services (the tests start private brokers on ports of their own); as another user,
# prints the command to run and fails.
set -eu

PACKAGES="build-essential pkg-config librabbitmq-dev libmosquitto-dev
libcurl4-openssl-dev libssh-dev libjansson-dev libyaml-dev libssl-dev libpcre2-dev
uthash-dev libxxhash-dev libcmocka-dev python3-pytest valgrind rabbitmq-server mosquitto
mosquitto-clients amqp-tools openssh-server openssh-client nginx-light python3-pyftpdlib
python3-openssl python3-pyflakes python3-jsonschema clang man-db
python3-amqp python3-appdirs python3-humanize python3-humanfriendly python3-jsonpickle
python3-psutil python3-watchdog python3-paramiko python3-xattr python3-magic
python3-netifaces python3-paho-mqtt python3-dateparser python3-tz
apache2"

# Daemons these packages would start, as `pgrep -x` names them.
DAEMONS="beam.smp epmd mosquitto nginx apache2"
POLICY=/usr/sbin/policy-rc.d
SAVED=$POLICY.sr-deps-saved

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found: tools/deps.sh knows Debian and its derivatives only" >&2
    exit 1
fi

total=0
missing=""
for pkg in $PACKAGES; do
    total=$((total + 1))
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
missing=${missing# }

if [ -z "$missing" ]; then
    echo "deps: all $total packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing: $missing" >&2
    echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends $missing" >&2
    exit 1
fi

running() {
    for d in $DAEMONS; do
        pgrep -x "$d" >/dev/null 2>&1 && printf '%s ' "$d"
    done
    return 0
}

restore_policy() {
    rm -f "$POLICY"
    [ -e "$SAVED" ] && mv "$SAVED" "$POLICY"
    return 0
}

echo "deps: installing: $missing"
before=$(running)

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d; 101 means "do not start".
[ -e "$POLICY" ] && mv "$POLICY" "$SAVED"
trap restore_policy EXIT
trap 'exit 130' INT TERM HUP
printf '#!/bin/sh\n# written by sr tools/deps.sh for the length of an install\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

apt-get update
# shellcheck disable=SC2086 # word splitting wanted
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing

restore_policy
trap - EXIT

# A daemon running now that was not before was started by this install: stop it, so no
# system-wide broker or web server sits on the standard ports.
for d in $(running); do
    case " $before " in *" $d "*) continue ;; esac
    case $d in
    beam.smp) svc=rabbitmq-server ;;
    *) svc=$d ;;
    esac
    echo "deps: stopping $svc, started by the install"
    # Only the system instances: private ones (tests) have their own ports and pid files.
    if [ "$d" = epmd ]; then
        ERL_EPMD_PORT=4369 epmd -kill >/dev/null 2>&1 || true
    else
        service "$svc" stop >/dev/null 2>&1 || true
    fi
done

echo "deps: all $total packages present"
