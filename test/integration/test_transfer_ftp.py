# SPDX-License-Identifier: GPL-2.0-only
"""Sending and fetching over ftp and ftps (lib/transfer_curl.c) against private pyftpdlib
servers, driven by test/tools/sr_transfer_tool: what a sender delivering to an FTP drop
box, and a subscriber fetching from one, see.

Credentials come from a credentials.conf, as sr3 writes them: `ftp://user:pw@host:port`
with the details passive/active, tls, prot_p, implicit_ftps. The tests check the files on
the server and back, the listings, and the error lines (code, retryable flag, the
server's own words).
"""
import os
import time

import pytest

import fixtures_web
from fixtures_web import (Ftpd, credentials_file, run_tool, sha512_b64, sha512_file,
                          write_pattern)

BIG = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Local files to send: empty, 1 byte, 1 MiB."""
    d = tmp_path_factory.mktemp("ftp_files")
    for name, data in (("empty.bin", b""), ("one.bin", b"1"), ("mib.bin", os.urandom(1 << 20))):
        (d / name).write_bytes(data)
    return d


def round_trip(build_dir, server, files, tmp_path, details, env=None, folder="drop"):
    """Send every file with inflight .tmp into a new folder, list it, stat, rename,
    fetch each back with its identity checked, delete, remove the folder."""
    creds = credentials_file(tmp_path / "credentials.conf", server.credentials_line(details))
    back = tmp_path / "back"
    back.mkdir()
    names = sorted(p.name for p in files.iterdir())
    verbs = ["mkdir", f"/{folder}/in"]
    for name in names:
        verbs += [";", "send", files / name, f"/{folder}/in/{name}"]
    verbs += [";", "list", f"/{folder}/in", ";", "stat", f"/{folder}/in/mib.bin", ";",
              "stat", f"/{folder}/in", ";", "rename", f"/{folder}/in/one.bin",
              f"/{folder}/one-renamed.bin"]
    run = run_tool(build_dir, "--credentials", creds, "--inflight", ".tmp", server.url(),
                   *verbs, env=env)
    run.ok("mkdir")
    for i, name in enumerate(names):
        size = (files / name).stat().st_size
        assert run.ok("send", i) == f"{size} bytes"
        where = "one-renamed.bin" if name == "one.bin" else f"in/{name}"  # (renamed after)
        on_server = server.root / folder / where
        assert on_server.read_bytes() == (files / name).read_bytes()
    assert not list((server.root / folder / "in").glob("*.tmp"))
    assert run.ok("list") == f"{len(names)} entries 0 bad"  # (before the rename)
    assert {name: e[0] for name, e in listed(run).items()} == {
        name: (files / name).stat().st_size for name in names}
    assert run.ok("stat", 0).startswith(f"size={1 << 20} ")
    assert run.ok("stat", 1).endswith("dir=1")
    run.ok("rename")
    assert (server.root / folder / "one-renamed.bin").read_bytes() == b"1"

    for name, remote in (("empty.bin", f"/{folder}/in/empty.bin"),
                         ("mib.bin", f"/{folder}/in/mib.bin"),
                         ("one.bin", f"/{folder}/one-renamed.bin")):
        want = sha512_b64((files / name).read_bytes())
        run = run_tool(build_dir, "--credentials", creds, "--inflight", ".tmp", "--identity",
                       f"sha512,{want}", server.url(), "download", remote, back / name,
                       env=env)
        assert want in run.ok("download")
        assert sha512_file(back / name) == want

    run = run_tool(build_dir, "--credentials", creds, server.url(),
                   "delete", f"/{folder}/in/empty.bin", ";", "delete", f"/{folder}/in/mib.bin",
                   ";", "delete", f"/{folder}/one-renamed.bin", ";", "rmdir", f"/{folder}/in",
                   ";", "delete", f"/{folder}/in", env=env)
    for i in range(3):
        run.ok("delete", i)
    run.ok("rmdir")
    code, retry, msg = run.error("delete", 3)
    assert code == "not found" and not retry and "550" in msg
    assert os.listdir(server.root / folder) == []
    assert run.stderr.count("connected to") == 1, "one session for every command"
    return creds


def test_ftp_passive_round_trip(build_dir, ftpd, files, tmp_path):
    """The default (passive, binary): folders made, files sent under .tmp then renamed,
    listed, fetched back identical, removed."""
    round_trip(build_dir, ftpd, files, tmp_path, "", folder="passive")


def test_ftp_active_round_trip(build_dir, ftpd, files, tmp_path):
    """`active` in the credentials: the server connects back for the data."""
    round_trip(build_dir, ftpd, files, tmp_path, "active,binary", folder="active")


def test_ftps_explicit_tls_with_prot_p(build_dir, ftpd_tls, files, tmp_path):
    """`tls,prot_p` (sr3's FTPS): AUTH TLS on the control connection, PROT P on the data
    connections, the server's certificate checked against SSL_CERT_FILE."""
    env = dict(os.environ, SSL_CERT_FILE=str(ftpd_tls.ca.ca))
    round_trip(build_dir, ftpd_tls, files, tmp_path, "tls,prot_p", env=env, folder="tls")


def test_ftps_uploads_arrive_whole(build_dir, ftpd_tls, tmp_path):
    """Six 1 MiB uploads in a row over one FTPS session each arrive whole (libcurl before
    8.9 loses the end of some under TLS 1.3: sr keeps such a libcurl at TLS 1.2)."""
    env = dict(os.environ, SSL_CERT_FILE=str(ftpd_tls.ca.ca))
    creds = credentials_file(tmp_path / "credentials.conf",
                             ftpd_tls.credentials_line("tls,prot_p"))
    src = tmp_path / "mib.bin"
    src.write_bytes(os.urandom(1 << 20))
    verbs = []
    for i in range(6):
        verbs += ["put", src, f"/whole{i}.bin", ";"]
    run = run_tool(build_dir, "--credentials", creds, ftpd_tls.url(), *verbs, env=env)
    for i in range(6):
        assert run.ok("put", i) == f"{1 << 20} bytes"
        assert (ftpd_tls.root / f"whole{i}.bin").read_bytes() == src.read_bytes(), i
        (ftpd_tls.root / f"whole{i}.bin").unlink()


def test_ftps_refusals_are_clear(build_dir, ftpd_tls, files, tmp_path):
    """Against a server that wants TLS everywhere: no tls detail, tls without prot_p and a
    certificate from an unknown CA each fail with the reason, not worth a retry."""
    env = dict(os.environ, SSL_CERT_FILE=str(ftpd_tls.ca.ca))
    (ftpd_tls.root / "x.txt").write_text("x\n")
    cases = [("", "SSL/TLS required on the control channel", env),
             ("tls", "SSL/TLS required on the data channel", env),
             ("tls,prot_p", "certificate",
              dict(os.environ, SSL_CERT_FILE=str(ftpd_tls.ca.wrong_ca)))]
    for details, reason, case_env in cases:
        creds = credentials_file(tmp_path / "credentials.conf",
                                 ftpd_tls.credentials_line(details))
        run = run_tool(build_dir, "--credentials", creds, ftpd_tls.url(), "download", "/x.txt",
                       tmp_path / "x.txt", env=case_env)
        code, retry, msg = run.error("download")
        # retryable: refusals of the session wait in the retry queue for the config fix
        assert retry and reason in msg, (details, run)
        assert not (tmp_path / "x.txt").exists()


def test_ftps_implicit_tls(build_dir, ftpd_implicit, files, tmp_path):
    """`implicit_ftps,prot_p`: TLS from the first byte (the usual port would be 990)."""
    env = dict(os.environ, SSL_CERT_FILE=str(ftpd_implicit.ca.ca))
    round_trip(build_dir, ftpd_implicit, files, tmp_path, "implicit_ftps,prot_p", env=env,
               folder="implicit")


def test_ftp_errors_and_resume(build_dir, ftpd, tmp_path):
    """A missing file is final (not found); a wrong password is final (login refused); a
    download interrupted after half the file continues where it stopped (REST)."""
    creds = credentials_file(tmp_path / "credentials.conf", ftpd.credentials_line())
    run = run_tool(build_dir, "--credentials", creds, "--inflight", ".tmp", ftpd.url(),
                   "download", "/no/such.bin", tmp_path / "a", ";", "download", "/none.bin",
                   tmp_path / "b")
    for i in range(2):
        code, retry, msg = run.error("download", i)
        assert code == "not found" and not retry and "550" in msg
    assert list(tmp_path.iterdir()) == [creds]

    bad = credentials_file(tmp_path / "bad.conf",
                           f"ftp://{ftpd.user}:wrong@127.0.0.1:{ftpd.port}")
    run = run_tool(build_dir, "--credentials", bad, ftpd.url(), "stat", "/")
    code, retry, msg = run.error("stat")
    # retryable: the files wait in the retry queue while the operator fixes the password
    assert code == "permission denied" and retry and "login" in msg

    src = write_pattern(ftpd.root / "half.bin", 8 * 1024 * 1024 + 11)
    want = sha512_file(src)
    have = 3 * 1024 * 1024 + 5
    (tmp_path / "half.bin.tmp").write_bytes(src.read_bytes()[:have])
    run = run_tool(build_dir, "--credentials", creds, "--inflight", ".tmp", "--resume",
                   "--identity", f"sha512,{want}", ftpd.url(), "download", "/half.bin",
                   tmp_path / "half.bin")
    size = src.stat().st_size
    assert run.ok("download").startswith(f"{size - have} bytes resumed=1 sha512 {want}")
    assert sha512_file(tmp_path / "half.bin") == want


def test_ftp_big_file_and_absolute_paths(build_dir, ftpd, tmp_path):
    """200 MiB fetched with its identity checked; "//" starts a path at the server's root
    rather than the login folder (here both are the same folder)."""
    src = write_pattern(ftpd.root / "big.bin", BIG)
    want = sha512_file(src)
    creds = credentials_file(tmp_path / "credentials.conf", ftpd.credentials_line())
    start = time.monotonic()
    run = run_tool(build_dir, "--credentials", creds, "--inflight", ".tmp", "--identity",
                   f"sha512,{want}", "--size", BIG, ftpd.url(), "download", "//big.bin",
                   tmp_path / "big.bin")
    took = time.monotonic() - start
    assert run.ok("download").startswith(f"{BIG} bytes resumed=0 sha512 {want}")
    print(f"200 MiB over ftp in {took:.2f} s ({BIG / took / 1e6:.0f} MB/s)")
    assert took < 20
    src.unlink()


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


def test_poll_lists_a_folder_with_mlsd(build_dir, ftpd, tmp_path):
    """What sr_poll reads of an FTP folder on a server with MLSD: exact sizes and UTC
    times to the second, folders as folders, names with spaces, '&' and UTF-8 as they
    are (pyftpdlib's MLSD shows a link as the file it points to); a missing folder is
    "not found"."""
    tree = listing_tree(ftpd.root / "poll_mlsd")
    creds = credentials_file(tmp_path / "credentials.conf", ftpd.credentials_line())
    run = run_tool(build_dir, "--credentials", creds, ftpd.url(), "list", "/poll_mlsd", ";",
                   "list", "/poll_mlsd/none")
    assert run.ok("list", 0) == "9 entries 0 bad"
    got = listed(run)
    want = {}
    for p in tree.iterdir():
        st = p.stat()  # (followed)
        kind = "d" if p.is_dir() else "f"
        want[p.name] = (-1 if kind == "d" else st.st_size, kind, int(st.st_mtime), "-", "")
    got["sub"] = (-1, *got["sub"][1:])  # a folder's size is the file system's
    assert got == want
    assert got["old.txt"][2] == OLD
    code, retry, msg = run.error("list", 1)
    assert code == "not found" and not retry


class NoMlsdFtpd(Ftpd):
    """pyftpdlib without MLSD (as vsftpd and many older servers): it answers 500."""

    def _start_once(self, attempt):
        plain = "class Handler(FTPHandler):\n        pass\n"
        assert plain in fixtures_web.FTPD_PROGRAM
        saved = fixtures_web.FTPD_PROGRAM
        fixtures_web.FTPD_PROGRAM = saved.replace(plain, (
            "class Handler(FTPHandler):\n"
            "        proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items()\n"
            "                      if k != 'MLSD'}\n"))
        try:
            super()._start_once(attempt)
        finally:
            fixtures_web.FTPD_PROGRAM = saved


@pytest.fixture(scope="module")
def ftpd_no_mlsd(tmp_path_factory):
    server = NoMlsdFtpd(tmp_path_factory.mktemp("ftpd_no_mlsd"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_poll_lists_with_list_where_mlsd_is_refused(build_dir, ftpd_no_mlsd, tmp_path):
    """A server that refuses MLSD is listed with LIST (Unix `ls -l` lines): sizes exact,
    times to the minute (a year and no time for the file over six months old), modes, a
    link with its target; the refusal is noted once and LIST used from then on in the
    session."""
    server = ftpd_no_mlsd
    tree = listing_tree(server.root / "poll_list")
    creds = credentials_file(tmp_path / "credentials.conf", server.credentials_line())
    run = run_tool(build_dir, "--credentials", creds, server.url(), "list", "/poll_list", ";",
                   "list", "/poll_list")
    assert run.ok("list", 0) == "9 entries 0 bad"
    assert run.ok("list", 1) == "9 entries 0 bad"
    assert run.stderr.count("does not know MLSD") == 1, run.stderr
    got = listed(run)
    want = {}
    for p in tree.iterdir():
        st = p.lstat()
        kind = "l" if p.is_symlink() else "d" if p.is_dir() else "f"
        want[p.name] = (st.st_size, kind, int(st.st_mtime) // 60 * 60,
                        f"{st.st_mode & 0o777:o}", os.readlink(p) if kind == "l" else "")
    # LIST shows the old file's day only (Mar 05  2024), in UTC as pyftpdlib writes it
    want["old.txt"] = (*want["old.txt"][:2], OLD - OLD % 86400, *want["old.txt"][3:])
    assert got == want
    assert listed(run, 1) == got
