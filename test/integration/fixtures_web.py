# SPDX-License-Identifier: GPL-2.0-only
"""Private web and FTP servers for the transfer and poll tests: nginx, Apache and pyftpdlib
on 127.0.0.1.

nginx runs with its own config, pid file, logs and temp folders under a directory the
caller gives (a pytest tmp dir), listening on 127.0.0.1 on ports picked at run time:
plain http on .port and https on .tls_port with test_ca's certificate for localhost and
127.0.0.1. It serves the test tree .root (autoindex on), plus a few places that behave
badly on purpose:

  /e500/...       always 500                /e404/...    always 404
  /hang/...       never answers (proxied to a socket that accepts and says nothing)
  /norange/...    files from root/norange, Range ignored (200, never 206)
  /redirect/X     a 302 to /X
  /basic/...      files from root/basic behind basic auth (.user / .password)
  /bearer/...     files from root/bearer, only with "Authorization: Bearer <.token>"

Nginx(..., fail_percent=P) also answers 503 to P% of all requests, whatever the path
(split_clients on $request_id): a flaky server for the flow test. The default, 0, never.

The access log (.access_log) writes one line per request: "$connection
$connection_requests $status $request_uri", so a test can count the TCP connections a
client used.

The FTP servers are python3-pyftpdlib in a subprocess, one user (.user / .password) whose
home is .root: Ftpd(tls=None) plain, Ftpd(tls="explicit") requiring AUTH TLS on the
control connection and PROT P on the data connections, Ftpd(tls="implicit") speaking
TLS from the first byte (FTPD_PROGRAM carries two fixes pyftpdlib 1.5 needs to serve
libcurl over TLS).

Apache (Debian's /usr/sbin/apache2, for sr_poll's listings of its index pages) runs the
same way with mod_autoindex as Debian configures it, and under /fancy/ and /plain/ in its
two other index forms (see Apache).

Session fixtures: nginx, apache, ftpd, ftpd_tls (explicit) and ftpd_implicit, each started
on first use. Helpers for the transfer tests: run_tool (test/tools/sr_transfer_tool, its
output parsed into ToolRun), credentials_file, sha512_b64/sha512_file, write_pattern, and
for listings listing_tree (a tree of what a poll meets) and listed (what `list` printed).

A server that does not come up raises servers.ServerError with its log: the tests never
skip for want of one. Every process carries SR_TEST_SERVER=<tag> (see servers.py).
"""
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from servers import HOST, _Server, free_port, port_open

NGINX = "/usr/sbin/nginx"


class Nginx(_Server):
    """A private nginx; .url(path) and .tls_url(path) build URLs on it."""

    scheme = "http"
    name = "nginx"
    START_TIMEOUT = 60  # a loaded machine may take many times longer than usual

    def __init__(self, basedir, ca=None, fail_percent=0):
        super().__init__(basedir, ca)
        # fail_percent > 0: that share of requests (any path) answered 503, picked by
        # split_clients on $request_id (the flow test's "flaky server"); 0: never.
        self.fail_percent = fail_percent
        self.root = self.basedir / "www"
        for sub in ("", "norange", "basic", "bearer"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.user = "webuser"
        self.password = f"pw-{secrets.token_hex(6)}"
        self.token = secrets.token_hex(16)
        self._hang = None

    def url(self, path=""):
        return f"http://{HOST}:{self.port}{path}"

    def tls_url(self, path="", host=HOST):
        return f"https://{host}:{self.tls_port}{path}"

    @property
    def access_log(self):
        return self.dir / "access.log"

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "error.log"]

    def _start_once(self, attempt):
        self.port = free_port()
        self.tls_port = free_port() if self.ca is not None else None
        self.dir = self.basedir / f"nginx-{attempt}"
        d = self.dir
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        # /hang/: a socket that the kernel accepts connections for and nobody reads.
        if self._hang is None:
            self._hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._hang.bind((HOST, 0))
            self._hang.listen(128)
        hang_port = self._hang.getsockname()[1]
        sha = base64.b64encode(hashlib.sha1(self.password.encode()).digest()).decode()
        (d / "htpasswd").write_text(f"{self.user}:{{SHA}}{sha}\n")
        tls = ""
        if self.ca is not None:
            tls = (f"        listen {HOST}:{self.tls_port} ssl;\n"
                   f"        ssl_certificate {self.ca.server_cert};\n"
                   f"        ssl_certificate_key {self.ca.server_key};\n")
        user = "user root;\n" if os.geteuid() == 0 else ""
        fail_map = fail_if = ""
        if self.fail_percent:
            fail_map = (f'    split_clients "${{request_id}}" $sr_fail '
                        f'{{ {self.fail_percent}% 1; * ""; }}\n')
            fail_if = '        if ($sr_fail) { return 503; }\n'
        (d / "nginx.conf").write_text(f"""# written by test/integration/fixtures_web.py
daemon off;
worker_processes 1;
{user}pid {d / 'nginx.pid'};
error_log {d / 'error.log'} info;
events {{ worker_connections 512; }}
http {{
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    log_format sr '$connection $connection_requests $status $request_uri';
    access_log {d / 'access.log'} sr;
    client_body_temp_path {d / 'tmp/body'};
    proxy_temp_path {d / 'tmp/proxy'};
    fastcgi_temp_path {d / 'tmp/fastcgi'};
    uwsgi_temp_path {d / 'tmp/uwsgi'};
    scgi_temp_path {d / 'tmp/scgi'};
    sendfile on;
    # one connection for thousands of files (nginx closes after 1000 by default)
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    absolute_redirect off;
{fail_map}    server {{
        listen {HOST}:{self.port};
{tls}{fail_if}        root {self.root};
        autoindex on;
        location /e500/ {{ return 500; }}
        location /e404/ {{ return 404; }}
        location /hang/ {{
            proxy_pass http://{HOST}:{hang_port};
            proxy_read_timeout 600s;
        }}
        location /norange/ {{ max_ranges 0; }}
        location /redirect/ {{ rewrite ^/redirect/(.*)$ /$1 redirect; }}
        location /basic/ {{
            auth_basic "sr test";
            auth_basic_user_file {d / 'htpasswd'};
        }}
        location /bearer/ {{
            if ($http_authorization != "Bearer {self.token}") {{ return 401; }}
        }}
    }}
}}
""")
        self._spawn([NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c",
                     str(d / "nginx.conf")], d / "server.log")
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        self._wait(lambda: (d / "nginx.pid").exists() and all(port_open(p) for p in ports),
                   self.START_TIMEOUT, f"ports {ports}")

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # nginx: fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        try:
            super().stop()
        finally:
            if self._hang is not None:
                self._hang.close()
                self._hang = None

    def connections(self, uri_prefix):
        """The nginx connection serials that served requests whose URI starts with
        uri_prefix, from the access log (a set)."""
        found = set()
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return found
        for line in lines:
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[3].startswith(uri_prefix):
                found.add(parts[0])
        return found


APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")


class Apache(_Server):
    """A private Apache (Debian's /usr/sbin/apache2) serving .root with mod_autoindex, as
    Debian's apache2 does out of the box (FancyIndexing in an HTML table: dates to the
    minute, sizes rounded as "1.2K"), on 127.0.0.1 and a port picked at run time; .url(path)
    builds URLs on it.

    Its config, ServerRoot, pid file and logs are under the directory the caller gives. The
    pages are served by Apache's workers, which never run as root (Apache refuses to): run
    by root, they run as nobody, and the served tree is then a folder of /tmp that others
    may pass through (pytest's tmp dirs are 0700), removed by stop(). Dates in the index
    pages are UTC (TZ=UTC in the server's environment)."""

    scheme = "http"
    name = "apache"
    START_TIMEOUT = 60  # a loaded machine may take many times longer than usual

    def __init__(self, basedir, ca=None):
        super().__init__(basedir, ca)
        if os.geteuid() == 0:
            self._www = Path(tempfile.mkdtemp(prefix="sr_apache_"))
            self._www.chmod(0o755)
            self.root = self._www / "www"
        else:
            self._www = None
            self.root = self.basedir / "www"
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)

    def url(self, path=""):
        return f"http://{HOST}:{self.port}{path}"

    @property
    def access_log(self):
        return self.dir / "access.log"

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "error.log"]

    def _env(self):
        env = super()._env()
        env["TZ"] = "UTC"
        return env

    def _start_once(self, attempt):
        self.port = free_port()
        self.dir = self.basedir / f"apache-{attempt}"
        d = self.dir
        (d / "run").mkdir(parents=True, exist_ok=True)
        mods = ["mpm_event", "authz_core", "alias", "dir", "mime", "autoindex"]
        load = "".join(f"LoadModule {m}_module {APACHE_MODULES / f'mod_{m}.so'}\n"
                       for m in mods)
        user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
        (d / "apache2.conf").write_text(f"""# written by test/integration/fixtures_web.py
ServerRoot {d}
ServerName {HOST}
Listen {HOST}:{self.port}
PidFile {d / 'apache2.pid'}
DefaultRuntimeDir {d / 'run'}
ErrorLog {d / 'error.log'}
LogLevel warn
LogFormat "%h %>s %U" sr
CustomLog {d / 'access.log'} sr
{load}{user}StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
TypesConfig /etc/mime.types
DocumentRoot {self.root}
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>
<Directory {self.root}>
    # as Debian's apache2.conf has it for /var/www
    Options Indexes FollowSymLinks
    Require all granted
</Directory>
# Debian's mods-available/autoindex.conf
IndexOptions FancyIndexing VersionSort HTMLTable NameWidth=* DescriptionWidth=* Charset=UTF-8
# the same tree in Apache's two other index forms: without the table (<pre>) and without
# FancyIndexing (a list of links)
Alias /fancy/ {self.root}/
Alias /plain/ {self.root}/
<Location /fancy/>
    IndexOptions -HTMLTable
</Location>
<Location /plain/>
    IndexOptions -FancyIndexing -HTMLTable
</Location>
""")
        self._spawn([APACHE, "-d", str(d), "-f", str(d / "apache2.conf"), "-DFOREGROUND"],
                    d / "server.log")
        self._wait(lambda: (d / "apache2.pid").exists() and port_open(self.port),
                   self.START_TIMEOUT, f"port {self.port}")

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # apache2: stop
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        try:
            super().stop()
        finally:
            if self._www is not None:
                shutil.rmtree(self._www, ignore_errors=True)


# The FTP server: a small pyftpdlib program run by the same python as the tests.
FTPD_PROGRAM = r'''
import json, logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

cfg = json.loads(sys.argv[1])
logging.basicConfig(filename=cfg["log"], level=logging.INFO,
                    format="%(asctime)s %(message)s")
authorizer = DummyAuthorizer()
authorizer.add_user(cfg["user"], cfg["password"], cfg["home"], perm="elradfmwMT")

if cfg["tls"]:
    from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler

    class DTPHandler(TLS_DTPHandler):
        """libcurl starts TLS on a data connection as soon as it is up, before RETR or
        STOR; pyftpdlib 1.5 takes that early read for a hang-up and closes. Let the
        handshake go on."""
        def readable(self):
            if self._ssl_accepting or self._ssl_want_read:
                return True
            return super().readable()

    class Handler(TLS_FTPHandler):
        dtp_handler = DTPHandler
        certfile = cfg["cert"]
        keyfile = cfg["key"]
        tls_control_required = True
        tls_data_required = True

        @classmethod
        def get_ssl_context(cls):
            # Clients resume the control connection's TLS session on the data
            # connections; OpenSSL refuses that without a session id context.
            if cls.ssl_context is None:
                super().get_ssl_context().set_session_id(b"sr-test-ftpd")
            return cls.ssl_context

    if cfg["tls"] == "implicit":
        class Handler(Handler):
            """TLS from the first byte: the banner only once the handshake is done."""
            def handle(self):
                self.secure_connection(self.ssl_context)

            def handle_ssl_established(self):
                FTPHandler.handle(self)
else:
    class Handler(FTPHandler):
        pass

if cfg.get("login"):
    # A session that starts in a folder of its own (PWD at login), as a real server's user
    # whose home is not the root of what the server shows.
    Handler.on_login = lambda self, username: setattr(self.fs, "cwd", cfg["login"])
Handler.authorizer = authorizer
Handler.banner = "sr test ftpd ready"
Handler.auth_failed_timeout = 0.1  # (3 s by default: the wrong-password test waits)
server = FTPServer((cfg["host"], cfg["port"]), Handler)
logging.info("sr test ftpd listening on %s:%d", cfg["host"], cfg["port"])
server.serve_forever()
'''


class Ftpd(_Server):
    """A private FTP server (pyftpdlib). tls: None, "explicit" (AUTH TLS, PROT P
    required) or "implicit" (TLS from the first byte). .url() is the URL without the
    password; .credentials_line(details) the credentials.conf line for it."""

    scheme = "ftp"
    name = "ftpd"
    START_TIMEOUT = 60  # a loaded machine may take many times longer than usual

    def __init__(self, basedir, ca=None, tls=None, login=None):
        super().__init__(basedir, ca)
        if tls is not None and ca is None:
            raise ValueError("an FTPS server needs a test CA")
        self.tls = tls
        self.root = self.basedir / "home"
        self.root.mkdir(parents=True, exist_ok=True)
        self.user = "ftpuser"
        self.password = f"pw-{secrets.token_hex(6)}"
        # login: a folder under .root (made here) where a session starts, "/" + its name
        # in the server's paths; None: sessions start at .root itself.
        self.login = login
        if login is not None:
            (self.root / login).mkdir(parents=True, exist_ok=True)

    def url(self, path=""):
        return f"ftp://{self.user}@{HOST}:{self.port}{path}"

    def credentials_line(self, details=""):
        line = f"ftp://{self.user}:{self.password}@{HOST}:{self.port}"
        return f"{line} {details}".rstrip()

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "ftpd.log"]

    def _start_once(self, attempt):
        self.port = free_port()
        self.dir = self.basedir / f"ftpd-{attempt}"
        self.dir.mkdir(parents=True, exist_ok=True)
        program = self.dir / "ftpd.py"
        program.write_text(FTPD_PROGRAM)
        cfg = {"host": HOST, "port": self.port, "user": self.user, "password": self.password,
               "home": str(self.root), "log": str(self.dir / "ftpd.log"), "tls": self.tls,
               "login": f"/{self.login}" if self.login else None,
               "cert": str(self.ca.server_cert) if self.ca else None,
               "key": str(self.ca.server_key) if self.ca else None}
        self._spawn([sys.executable, str(program), json.dumps(cfg)], self.dir / "server.log")
        log = self.dir / "ftpd.log"

        def listening():
            try:
                text = log.read_text(errors="replace")
            except OSError:
                return False
            return "sr test ftpd listening" in text and port_open(self.port)

        self._wait(listening, self.START_TIMEOUT, f"port {self.port}")

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def _serve(server):
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nginx(tmp_path_factory, test_ca):
    """A private nginx on 127.0.0.1 (Nginx), http and https, shared by the session."""
    yield from _serve(Nginx(tmp_path_factory.mktemp("nginx"), ca=test_ca))


@pytest.fixture(scope="session")
def apache(tmp_path_factory):
    """A private Apache on 127.0.0.1 (Apache), autoindex as Debian has it, shared by the
    session."""
    yield from _serve(Apache(tmp_path_factory.mktemp("apache")))


@pytest.fixture(scope="session")
def ftpd(tmp_path_factory):
    """A private plain FTP server on 127.0.0.1 (Ftpd), shared by the session."""
    yield from _serve(Ftpd(tmp_path_factory.mktemp("ftpd")))


@pytest.fixture(scope="session")
def ftpd_tls(tmp_path_factory, test_ca):
    """A private FTPS server, explicit TLS (AUTH TLS) with PROT P required."""
    yield from _serve(Ftpd(tmp_path_factory.mktemp("ftpd_tls"), ca=test_ca, tls="explicit"))


@pytest.fixture(scope="session")
def ftpd_implicit(tmp_path_factory, test_ca):
    """A private FTPS server with implicit TLS (TLS from the first byte)."""
    yield from _serve(Ftpd(tmp_path_factory.mktemp("ftpd_implicit"), ca=test_ca,
                           tls="implicit"))


# ---- driving test/tools/sr_transfer_tool ----

def sha512_b64(data):
    """A v03 sha512 identity value of bytes."""
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def sha512_file(path):
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()


def write_pattern(path, size, block=None):
    """size bytes of a random block repeated; the block's length is prime, so a byte put
    at the wrong offset changes the checksum. Fast for hundreds of MiB."""
    block = block or os.urandom(1048573)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)
    return path


LINE = re.compile(r"^(ok|error) (\S+)(?: (.+?) retryable=([01]):)? ?(.*)$")


class ToolRun:
    """What one sr_transfer_tool run printed: .results is one (ok, verb, code, retryable,
    text) per verb line ("ok get 6 bytes ..." / "error get not found retryable=0: ...")."""

    def __init__(self, argv, proc):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = []
        for line in self.stdout.splitlines():
            m = LINE.match(line)
            # (putmany and getmany also print "error send|download NAME: why" per file)
            if m and (m.group(1) == "ok" or m.group(4) is not None):
                ok, verb, code, retry, text = m.groups()
                self.results.append((ok == "ok", verb, code, retry == "1", text))

    def __repr__(self):
        return (f"sr_transfer_tool {' '.join(self.argv)}\nexit {self.rc}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")

    def result(self, verb, index=0):
        found = [r for r in self.results if r[1] == verb]
        assert len(found) > index, f"no result line for {verb}:\n{self!r}"
        return found[index]

    def ok(self, verb, index=0):
        """The text after "ok VERB", asserting it succeeded."""
        r = self.result(verb, index)
        assert r[0], f"{verb} failed:\n{self!r}"
        return r[4]

    def error(self, verb, index=0):
        """(code, retryable, message) of a verb that failed, asserting it did."""
        r = self.result(verb, index)
        assert not r[0], f"{verb} should have failed:\n{self!r}"
        return r[2], r[3], r[4]



OLD = 1709633460  # 2024-03-05 10:11:00 UTC


def listing_tree(folder):
    """What a poll finds on a server: plain files, names with a space, '&' and UTF-8, an
    empty file, one of a few MB, a file over a year old, a link and a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("alpha.txt", b"hello\n"), ("with space.txt", b"spaces\n"),
                       ("a&b.txt", b"amp\n"), ("café.txt", b"utf8\n"), ("empty.dat", b""),
                       ("old.txt", b"old\n")):
        (folder / name).write_bytes(data)
    write_pattern(folder / "big.bin", 3000000 + 7)
    os.utime(folder / "old.txt", (OLD, OLD))
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.txt").write_text("in sub\n")
    os.symlink("alpha.txt", folder / "link")
    return folder


def listed(run, index=0):
    """The entries the tool's `list` printed (the index-th list of the run):
    {name: (size, type, mtime, perms, link)}."""
    out, seen = {}, -1
    for line in run.stdout.splitlines():
        if line.startswith("ok list") or line.startswith("error list"):
            seen += 1
            if seen == index:
                return out
            out = {}
        elif line.startswith("entry\t"):
            _, name, size, kind, mtime, perms, link = line.split("\t")
            out[name] = (int(size), kind, int(mtime), perms, link)
    return out

def transfer_tool(build_dir):
    path = Path(build_dir) / "test" / "tools" / "sr_transfer_tool"
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path}: not built (make BUILD=... {path})")
    return str(path)


def run_tool(build_dir, *args, env=None, timeout=120):
    """Run sr_transfer_tool with args (options, URL, verbs; ";" between verbs)."""
    argv = [str(a) for a in args]
    proc = subprocess.run([transfer_tool(build_dir), *argv], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    return ToolRun(argv, proc)


def credentials_file(path, *lines):
    """A credentials.conf with these lines, private as sr wants it."""
    path = Path(path)
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o600)
    return path
