# SPDX-License-Identifier: GPL-2.0-only
"""Downloads over http and https (lib/transfer_curl.c) against a private nginx, driven by
test/tools/sr_transfer_tool: what a subscriber fetching from a web server sees.

Every download goes through sr_transfer_download (inflight name, identity and size
checked); the tests check the files themselves (content, checksum, no temporary name
left), the error line a failure gives (code, retryable flag, the URL and the HTTP
status) and, for many files, how many connections nginx saw.
"""
import os
import signal
import subprocess
import time

import pytest

from fixtures_web import (credentials_file, run_tool, sha512_b64, sha512_file, transfer_tool,
                          write_pattern)
from servers import HOST, _Server, free_port, port_open

BIG = 200 * 1024 * 1024
SMALL_FILES = 2000


@pytest.fixture(scope="module")
def tree(nginx):
    """The files the tests fetch, under nginx's root: t/ (every size), norange/t/ (the
    same big file where nginx ignores Range), basic/ and bearer/ (one file each), t/many/
    (2000 small files). Returns {name: sha512}."""
    t = nginx.root / "t"
    (t / "many").mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, data in (("empty.bin", b""), ("one.bin", b"x"), ("mib.bin", os.urandom(1 << 20)),
                       ("a b&c%.txt", b"an awkward name\n")):
        (t / name).write_bytes(data)
        sums[name] = sha512_b64(data)
    write_pattern(t / "big.bin", BIG)
    sums["big.bin"] = sha512_file(t / "big.bin")
    (nginx.root / "norange" / "t").mkdir(parents=True, exist_ok=True)
    mid = 8 * 1024 * 1024 + 3
    write_pattern(nginx.root / "norange" / "t" / "mid.bin", mid)
    sums["mid.bin"] = sha512_file(nginx.root / "norange" / "t" / "mid.bin")
    for i in range(SMALL_FILES):
        (t / "many" / f"f{i}").write_bytes(b"small file %d\n" % i)
    (nginx.root / "basic" / "secret.txt").write_text("behind basic auth\n")
    (nginx.root / "bearer" / "token.txt").write_text("behind a bearer token\n")
    return sums


def no_temporary_left(folder):
    left = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert not left, f"temporary files left: {left}"


def test_files_of_every_size_arrive_with_their_identity(build_dir, nginx, tree, tmp_path):
    """A subscriber downloads an empty file, a 1-byte file, 1 MiB and 200 MiB: each ends
    up under its final name with the announced checksum, nothing left under .tmp."""
    for name in ("empty.bin", "one.bin", "mib.bin", "big.bin"):
        size = (nginx.root / "t" / name).stat().st_size
        start = time.monotonic()
        run = run_tool(build_dir, "--inflight", ".tmp", "--identity", f"sha512,{tree[name]}",
                       "--size", size, nginx.url(), "download", f"/t/{name}", tmp_path / name)
        took = time.monotonic() - start
        text = run.ok("download")
        assert text.startswith(f"{size} bytes resumed=0 sha512 {tree[name]}"), run
        assert sha512_file(tmp_path / name) == tree[name]
        if name == "big.bin":
            print(f"200 MiB over http in {took:.2f} s ({BIG / took / 1e6:.0f} MB/s)")
            assert took < 20, f"200 MiB took {took:.1f} s"
    no_temporary_left(tmp_path)


def test_wrong_identity_is_refused_and_removed(build_dir, nginx, tree, tmp_path):
    """A file whose checksum is not the announced one is an error naming both values,
    worth a retry; neither the final nor the temporary name stays."""
    announced = sha512_b64(b"something else")
    run = run_tool(build_dir, "--inflight", ".tmp", "--identity", f"sha512,{announced}",
                   nginx.url(), "download", "/t/mib.bin", tmp_path / "mib.bin")
    code, retry, msg = run.error("download")
    assert code == "invalid" and retry
    assert announced in msg and tree["mib.bin"] in msg and "/t/mib.bin" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path, code, retryable, status", [
    ("/e404/x.bin", "not found", False, "HTTP 404"),
    ("/t/nothing-here.bin", "not found", False, "HTTP 404"),
    ("/e500/x.bin", "i/o error", True, "HTTP 500"),
])
def test_http_errors_say_what_and_whether_to_retry(build_dir, nginx, tree, tmp_path, path, code,
                                                   retryable, status):
    """404 is final (the message is rejected), 500 goes to the retry queue; the line names
    the URL and the status, and no file is left behind (not even the error page)."""
    run = run_tool(build_dir, "--inflight", ".tmp", nginx.url(), "download", path,
                   tmp_path / "x.bin")
    got_code, got_retry, msg = run.error("download")
    assert (got_code, got_retry) == (code, retryable), run
    assert status in msg and nginx.url(path) in msg, msg
    assert list(tmp_path.iterdir()) == []


def test_a_refused_connection_leaves_nothing_to_resume(build_dir, nginx, tree, tmp_path):
    """Resume asked, and the server's port refuses: a retryable connection error, and no
    empty temporary name left behind (nothing came, so there is nothing to resume; a
    retry that finds the file brought by another message never comes back for it)."""
    refused = nginx.url().replace(f":{nginx.port}", ":1")
    run = run_tool(build_dir, "--inflight", ".tmp", "--resume", refused, "download",
                   "/t/mib.bin", tmp_path / "mib.bin")
    code, retry, msg = run.error("download")
    assert code == "connection error" and retry, run
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_never_answers_times_out(build_dir, nginx, tree, tmp_path):
    """With `timeout 2`, a server that accepts and then says nothing gives a retryable
    "timed out" error after about 2 s, not a hang."""
    start = time.monotonic()
    run = run_tool(build_dir, "--timeout", "2", "--inflight", ".tmp", nginx.url(), "download",
                   "/hang/x.bin", tmp_path / "x.bin", timeout=30)
    took = time.monotonic() - start
    code, retry, msg = run.error("download")
    assert code == "connection error" and retry
    assert "timed out" in msg and nginx.url("/hang/x.bin") in msg
    assert 1.5 < took < 10, took
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_resumes(build_dir, nginx, tree, tmp_path):
    """A download of 200 MiB killed half-way leaves only its temporary name; the next
    attempt (with resume) fetches just the rest, and the file is the server's, byte for
    byte."""
    dest = tmp_path / "big.bin"
    partial = tmp_path / "big.bin.tmp"
    args = ["--inflight", ".tmp", "--identity", f"sha512,{tree['big.bin']}", "--size", BIG,
            "--resume"]
    # slowed down to 50 MB/s so it can be caught in the middle
    proc = subprocess.Popen([transfer_tool(build_dir), "--rate", "50000000", *map(str, args),
                             nginx.url(), "download", "/t/big.bin", str(dest)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if partial.exists() and partial.stat().st_size > 30 * 1024 * 1024:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert not dest.exists(), "a partial file is visible under its final name"
    have = partial.stat().st_size
    assert 0 < have < BIG

    run = run_tool(build_dir, *args, nginx.url(), "download", "/t/big.bin", dest)
    text = run.ok("download")
    assert text.startswith(f"{BIG - have} bytes resumed=1 sha512 {tree['big.bin']}"), run
    assert sha512_file(dest) == tree["big.bin"]
    assert not partial.exists()


def test_a_server_ignoring_ranges_is_caught(build_dir, nginx, tree, tmp_path):
    """nginx with max_ranges 0 answers a range with the whole file (200, not 206): a
    range get says so (protocol error), and a resumed download starts over instead of
    appending the whole file to the part it has."""
    run = run_tool(build_dir, nginx.url(), "getrange", "/norange/t/mid.bin", tmp_path / "r",
                   1000, 0)
    code, retry, msg = run.error("getrange")
    assert code == "protocol error" and not retry
    assert "HTTP 200" in msg and "206" in msg

    src = nginx.root / "norange" / "t" / "mid.bin"
    size = src.stat().st_size
    (tmp_path / "mid.bin.tmp").write_bytes(src.read_bytes()[:size // 2])
    run = run_tool(build_dir, "--inflight", ".tmp", "--resume", "--identity",
                   f"sha512,{tree['mid.bin']}", nginx.url(), "download", "/norange/t/mid.bin",
                   tmp_path / "mid.bin")
    assert run.ok("download").startswith(f"{size} bytes resumed=0 sha512 {tree['mid.bin']}")
    assert sha512_file(tmp_path / "mid.bin") == tree["mid.bin"]

    # where ranges work, a range is exactly those bytes
    run = run_tool(build_dir, nginx.url(), "getrange", "/t/mib.bin", tmp_path / "r2", 1000, 500)
    data = (nginx.root / "t" / "mib.bin").read_bytes()
    assert run.ok("getrange") == f"500 bytes sha512 {sha512_b64(data[1000:1500])}"


def test_https_checks_the_server_certificate(build_dir, nginx, tree, tmp_path):
    """https with the test CA in SSL_CERT_FILE works (by IP and by name); with another CA
    the server is refused with a clear error, not retried; tlsRigour lax fetches anyway
    and says loudly that nothing was checked."""
    env = dict(os.environ, SSL_CERT_FILE=str(nginx.ca.ca))
    for host in ("127.0.0.1", "localhost"):
        run = run_tool(build_dir, "--identity", f"sha512,{tree['mib.bin']}", "--tls", "strict",
                       nginx.tls_url(host=host), "download", "/t/mib.bin", tmp_path / host,
                       env=env)
        assert tree["mib.bin"] in run.ok("download")

    env["SSL_CERT_FILE"] = str(nginx.ca.wrong_ca)
    run = run_tool(build_dir, nginx.tls_url(), "download", "/t/mib.bin", tmp_path / "wrong",
                   env=env)
    code, retry, msg = run.error("download")
    # retryable: the files wait in the retry queue while the operator fixes the CA
    assert code == "connection error" and retry
    assert "certificate" in msg and nginx.tls_url("/t/mib.bin") in msg
    assert not (tmp_path / "wrong").exists()

    run = run_tool(build_dir, "--tls", "lax", nginx.tls_url(), "download", "/t/mib.bin",
                   tmp_path / "lax", env=env)
    assert tree["mib.bin"] in run.ok("download")
    assert "[WARNING]" in run.stderr and "NOT checked" in run.stderr


def test_basic_auth_and_bearer_token_from_credentials(build_dir, nginx, tree, tmp_path):
    """The password for basic auth and the bearer token come from credentials.conf; without
    them the server says 401, a permission error not worth retrying."""
    # (one line per remote: a URL without a user takes the first line for its host)
    creds = credentials_file(
        tmp_path / "credentials.conf",
        f"http://{nginx.user}:{nginx.password}@127.0.0.1:{nginx.port}/",
        f"http://localhost:{nginx.port} bearer_token={nginx.token}")
    user_url = f"http://{nginx.user}@127.0.0.1:{nginx.port}"
    run = run_tool(build_dir, "--credentials", creds, user_url, "get", "/basic/secret.txt",
                   tmp_path / "secret.txt")
    run.ok("get")
    assert (tmp_path / "secret.txt").read_text() == "behind basic auth\n"
    assert nginx.password not in run.stdout + run.stderr

    run = run_tool(build_dir, "--credentials", creds, f"http://localhost:{nginx.port}", "get",
                   "/bearer/token.txt", tmp_path / "token.txt")
    run.ok("get")
    assert (tmp_path / "token.txt").read_text() == "behind a bearer token\n"

    for path in ("/basic/secret.txt", "/bearer/token.txt"):
        run = run_tool(build_dir, nginx.url(), "download", path, tmp_path / "denied")
        code, retry, msg = run.error("download")
        assert code == "permission denied" and not retry and "HTTP 401" in msg
    assert not (tmp_path / "denied").exists()


def test_2000_small_files_share_one_connection(build_dir, nginx, tree, tmp_path):
    """2000 files fetched one after another by one session go over one kept-alive
    connection (nginx's connection serial is the same on every request)."""
    out = tmp_path / "many"
    out.mkdir()
    start = time.monotonic()
    run = run_tool(build_dir, "--inflight", ".tmp", nginx.url(), "getmany", "/t/many", out,
                   SMALL_FILES, "f")
    took = time.monotonic() - start
    assert run.ok("getmany").startswith(f"{SMALL_FILES} files"), run
    print(f"{SMALL_FILES} files over http in {took:.2f} s ({SMALL_FILES / took:.0f} files/s)")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"f{i}" for i in range(SMALL_FILES))
    assert (out / "f1234").read_bytes() == b"small file 1234\n"
    assert len(nginx.connections("/t/many/")) == 1
    assert run.stderr.count("connected to") == 1


def test_stat_list_and_redirects(build_dir, nginx, tree, tmp_path):
    """stat is a HEAD (size, Last-Modified; a folder when the server redirects to its
    index); list reads the index page, names decoded; redirects are followed."""
    mib = nginx.root / "t" / "mib.bin"
    run = run_tool(build_dir, nginx.url(), "stat", "/t/mib.bin", ";", "stat", "/t", ";",
                   "stat", "/t/none", ";", "list", "/t/", ";", "get", "/redirect/t/one.bin",
                   tmp_path / "one.bin", ";", "get", "/t/a b&c%.txt", tmp_path / "awkward")
    assert run.ok("stat", 0) == f"size={1 << 20} mtime={int(mib.stat().st_mtime)} mode=0 dir=0"
    assert run.ok("stat", 1).endswith("dir=1")
    assert run.error("stat", 2)[0] == "not found"
    assert run.ok("list") == "6 entries 0 bad"
    entries = listed(run)
    assert set(entries) == {"empty.bin", "one.bin", "mib.bin", "big.bin", "many", "a b&c%.txt"}
    mib_time = int(mib.stat().st_mtime) // 60 * 60  # nginx shows the minute
    assert entries["mib.bin"] == (1 << 20, "f", mib_time, "-", "")
    assert entries["many"][:2] == (-1, "d")
    assert entries["a b&c%.txt"][0] == len(b"an awkward name\n")
    run.ok("get", 0)
    assert (tmp_path / "one.bin").read_bytes() == b"x"
    run.ok("get", 1)  # the name is percent-encoded in the URL
    assert (tmp_path / "awkward").read_bytes() == b"an awkward name\n"


def test_http_cannot_send(build_dir, nginx, tree, tmp_path):
    """sr3 never sends over http: put, mkdir, rename and delete say so."""
    (tmp_path / "f").write_text("x")
    run = run_tool(build_dir, nginx.url(), "put", tmp_path / "f", "/t/f", ";", "mkdir", "/t/d",
                   ";", "rename", "/t/one.bin", "/t/two.bin", ";", "delete", "/t/one.bin")
    for verb in ("put", "mkdir", "rename", "delete"):
        code, retry, msg = run.error(verb)
        assert code == "invalid" and not retry and "http cannot" in msg
    assert (nginx.root / "t" / "one.bin").exists()


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


def index_entries(tree, exact=lambda size: True):
    """What an index page of tree shows: links followed, folders without a size, times to
    the minute; a size the page rounds is unknown (-1)."""
    want = {}
    for p in tree.iterdir():
        st = p.stat()
        kind = "d" if p.is_dir() else "f"
        size = -1 if kind == "d" or not exact(st.st_size) else st.st_size
        want[p.name] = (size, kind, int(st.st_mtime) // 60 * 60, "-", "")
    return want


def test_poll_lists_an_nginx_index(build_dir, nginx, tmp_path):
    """What sr_poll reads of an nginx autoindex page: every entry with its exact size and
    its time (to the minute, GMT as nginx writes it), folders as folders, names with
    spaces, '&' and UTF-8 decoded; `timezone` moves the dates; a missing folder is "not
    found" (404)."""
    tree = listing_tree(nginx.root / "poll")
    run = run_tool(build_dir, nginx.url(), "list", "/poll/", ";", "list", "/poll", ";",
                   "list", "/poll/none/")
    assert run.ok("list", 0) == "9 entries 0 bad"
    assert listed(run, 0) == index_entries(tree)
    assert listed(run, 0)["old.txt"][2] == OLD
    assert listed(run, 1) == listed(run, 0)  # without the trailing '/' too
    code, retry, msg = run.error("list", 2)
    assert code == "not found" and not retry and "404" in msg
    # the same page read as if nginx wrote the times of Montreal (EST in winter)
    run = run_tool(build_dir, "--timezone", "America/Montreal", nginx.url(), "list", "/poll/")
    assert listed(run)["old.txt"][2] == OLD + 5 * 3600


class Apache(_Server):
    """A private Apache (Debian's apache2) serving root with mod_autoindex: /debian/
    with Debian's default IndexOptions (FancyIndexing, HTMLTable), /fancy/ without the
    table (<pre>), /plain/ without FancyIndexing (a list of links)."""

    scheme = "http"
    name = "apache"
    START_TIMEOUT = 60

    def __init__(self, basedir, root):
        super().__init__(basedir)
        self.root = root

    def url(self, path=""):
        return f"http://{HOST}:{self.port}{path}"

    def _log_files(self):
        return [self.dir / "server.log", self.dir / "error.log"]

    def _env(self):
        return dict(super()._env(), TZ="UTC")  # the times the pages show

    def _start_once(self, attempt):
        self.port = free_port()
        self.dir = self.basedir / f"apache-{attempt}"
        self.dir.mkdir(parents=True, exist_ok=True)
        d = self.dir
        (d / "httpd.conf").write_text(f"""# written by test/integration/test_transfer_http.py
ServerRoot /usr/lib/apache2
ServerName localhost
Listen {HOST}:{self.port}
PidFile {d / 'httpd.pid'}
ErrorLog {d / 'error.log'}
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule alias_module modules/mod_alias.so
LoadModule mime_module modules/mod_mime.so
LoadModule autoindex_module modules/mod_autoindex.so
TypesConfig /etc/mime.types
Include /etc/apache2/mods-available/autoindex.conf
Alias /debian/ {self.root}/
Alias /fancy/ {self.root}/
Alias /plain/ {self.root}/
<Directory {self.root}>
    Options +Indexes
    Require all granted
</Directory>
<Location /fancy/>
    IndexOptions -HTMLTable
</Location>
<Location /plain/>
    IndexOptions -FancyIndexing -HTMLTable
</Location>
""")
        self._spawn(["/usr/sbin/apache2", "-X", "-f", str(d / "httpd.conf")], d / "server.log")
        self._wait(lambda: port_open(self.port), self.START_TIMEOUT, f"port {self.port}")

    def _stop_gracefully(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture(scope="module")
def apache(tmp_path_factory):
    base = tmp_path_factory.mktemp("apache")
    tree = listing_tree(base / "tree")
    # apache (not root) must be able to read the tree
    for p in (base, tree, tree / "sub"):
        p.chmod(0o755)
    server = Apache(base, tree)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_poll_lists_apache_indexes(build_dir, apache):
    """Apache's three index forms: the table and the fancy <pre> show times (to the
    minute, in the server's zone: UTC here) and sizes, exact under 1 KiB and rounded
    ("1.2K", "2.9M") above, so unknown; the plain list shows names only."""
    run = run_tool(build_dir, apache.url(), "list", "/debian/", ";", "list", "/fancy/", ";",
                   "list", "/plain/")
    for i in range(3):
        assert run.ok("list", i) == "9 entries 0 bad"
    want = index_entries(apache.root, exact=lambda size: size < 1024)
    assert listed(run, 0) == want
    assert listed(run, 1) == want
    assert listed(run, 2) == {name: (-1, e[1], -1, "-", "") for name, e in want.items()}
