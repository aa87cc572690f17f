#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# test/data/listings/capture.sh: how the listings in this folder were captured (README).
# Not run by the tests: it needs the servers installed (nginx, apache2, lighttpd, vsftpd,
# python3-pyftpdlib) and writes into this folder. Run as root from the top of the tree:
#   bash test/data/listings/capture.sh
# Every server runs privately on 127.0.0.1 with its own config under a temporary folder,
# in UTC, over the same tree (made below with fixed times), and is stopped at the end.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/sr-listings.XXXXXX)
chmod 755 "$work"
root=$work/tree
export TZ=UTC
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# ---- the tree ----
mkdir -p "$root/sub"
printf 'hello\n' > "$root/alpha.txt"
head -c 1234 /dev/zero | tr '\0' 'b' > "$root/beta.bin"
printf 'spaces\n' > "$root/with space.txt"
printf 'amp\n' > "$root/a&b.txt"
printf 'utf8\n' > "$root/café.txt"
: > "$root/empty.dat"
head -c 3000000 /dev/zero > "$root/big.bin"
printf 'old\n' > "$root/old.txt"
printf 'in sub\n' > "$root/sub/inner.txt"
ln -s alpha.txt "$root/link"
for f in alpha.txt beta.bin "with space.txt" "a&b.txt" café.txt empty.dat big.bin sub/inner.txt sub; do
    touch -d "2026-12-06 09:30:00 UTC" "$root/$f"
done
touch -d "2026-11-20 14:05:00 UTC" "$root/big.bin"
touch -d "2024-03-05 10:11:00 UTC" "$root/old.txt"
touch -h -d "2026-12-06 09:31:00 UTC" "$root/link"
chmod -R a+rX "$root"

wait_port() { # port
    i=0
    while ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "port $1 never opened" >&2; exit 1; }
        sleep 0.1
    done
}

# ---- nginx: autoindex, exact sizes (the default) and rounded ----
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:18431;
        location /exact/ { alias $root/; autoindex on; }
        location /rounded/ { alias $root/; autoindex on; autoindex_exact_size off; }
    }
}
CONF
nginx -c "$work/nginx/nginx.conf" & pids="$pids $!"
wait_port 18431
curl -sS http://127.0.0.1:18431/exact/ > "$out/nginx-exact.html"
curl -sS http://127.0.0.1:18431/rounded/ > "$out/nginx-rounded.html"

# ---- apache2: Debian's default (FancyIndexing HTMLTable), fancy <pre>, plain list ----
mkdir -p "$work/apache"
cat > "$work/apache/httpd.conf" <<CONF
ServerRoot /usr/lib/apache2
ServerName localhost
Listen 127.0.0.1:18432
PidFile $work/apache/httpd.pid
ErrorLog $work/apache/error.log
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule alias_module modules/mod_alias.so
LoadModule mime_module modules/mod_mime.so
LoadModule autoindex_module modules/mod_autoindex.so
TypesConfig /etc/mime.types
Include /etc/apache2/mods-available/autoindex.conf
Alias /debian/ $root/
Alias /fancy/ $root/
Alias /plain/ $root/
<Directory $root>
    Options +Indexes
    Require all granted
</Directory>
<Location /fancy/>
    IndexOptions -HTMLTable
</Location>
<Location /plain/>
    IndexOptions -FancyIndexing -HTMLTable
</Location>
CONF
apache2 -X -f "$work/apache/httpd.conf" & pids="$pids $!"
wait_port 18432
curl -sS http://127.0.0.1:18432/debian/ > "$out/apache-debian.html"
curl -sS http://127.0.0.1:18432/fancy/ > "$out/apache-fancy.html"
curl -sS http://127.0.0.1:18432/plain/ > "$out/apache-plain.html"

# ---- lighttpd: mod_dirlisting ----
mkdir -p "$work/lighttpd"
cat > "$work/lighttpd/lighttpd.conf" <<CONF
server.modules = ("mod_dirlisting")
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = 18433
server.pid-file = "$work/lighttpd/lighttpd.pid"
server.errorlog = "$work/lighttpd/error.log"
dir-listing.activate = "enable"
dir-listing.encoding = "utf-8"
CONF
lighttpd -D -f "$work/lighttpd/lighttpd.conf" & pids="$pids $!"
wait_port 18433
curl -sS http://127.0.0.1:18433/ > "$out/lighttpd.html"

# ---- pyftpdlib: LIST and MLSD ----
/usr/bin/python3 - "$root" <<'PY' & pids="$pids $!"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_user("sr", "secret", sys.argv[1], perm="elr")
FTPHandler.authorizer = a
FTPServer(("127.0.0.1", 18434), FTPHandler).serve_forever()
PY
wait_port 18434
curl -sS ftp://sr:secret@127.0.0.1:18434/ > "$out/pyftpdlib-list.txt"
curl -sS -X MLSD ftp://sr:secret@127.0.0.1:18434/ > "$out/pyftpdlib-mlsd.txt"

# ---- vsftpd: LIST (it has no MLSD) ----
mkdir -p "$work/vsftpd" /var/run/vsftpd/empty
cat > "$work/vsftpd/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=18435
anonymous_enable=YES
local_enable=NO
anon_root=$root
no_anon_password=YES
pasv_enable=YES
seccomp_sandbox=NO
background=NO
vsftpd_log_file=$work/vsftpd/vsftpd.log
CONF
vsftpd "$work/vsftpd/vsftpd.conf" & pids="$pids $!"
wait_port 18435
curl -sS ftp://127.0.0.1:18435/ > "$out/vsftpd-list.txt"
curl -sS -X MLSD ftp://127.0.0.1:18435/ > /dev/null 2>"$work/vsftpd/mlsd.err" || true
cat "$work/vsftpd/mlsd.err"
echo "captured into $out at $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
rm -rf "$work"
