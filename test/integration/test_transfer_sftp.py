# SPDX-License-Identifier: GPL-2.0-only
"""Transfers over sftp (lib/transfer_sftp.c) against a private sshd, driven by
test/tools/sr_transfer_tool: what a sender pushing a hot directory to a cluster sees, and
a subscriber pulling from an sftp server.

The client's HOME is private (ssh_home): ~/.ssh/config names the server `cluster`,
known_hosts holds its key, the key is ~/.ssh/id_ed25519; the tool gets it with --home,
which is neither root's passwd home nor anything libssh would find by itself. Remote
paths without "//" are relative to the login folder (the server's private `root` folder);
"//x" is the absolute /x. The tests check the files on the server and here (content,
sha512, names, modes), the error line of each failure (code, retryable flag, message) and
sshd's log (how many logins).
"""
import base64
import hashlib
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fixtures_ssh import SshHome
from servers import free_port

MIB = 1024 * 1024
BIG = 200 * MIB
SMALL_FILES = 2000

LINE = re.compile(r"^(ok|error) (\S+)(?: (.+?) retryable=([01]):)? ?(.*)$")


def tool_path(build_dir):
    path = Path(build_dir) / "test" / "tools" / "sr_transfer_tool"
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path}: not built (make BUILD=... {path})")
    return str(path)


class Run:
    """One sr_transfer_tool run: .results holds (ok, verb, code, retryable, text) per verb."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.results = []
        for line in stdout.splitlines():
            m = LINE.match(line)
            if m and (m.group(1) == "ok" or m.group(4) is not None):
                ok, verb, code, retry, text = m.groups()
                self.results.append((ok == "ok", verb, code, retry == "1", text))

    def __repr__(self):
        return (f"sr_transfer_tool {' '.join(self.argv)}\nexit {self.rc}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")

    def _result(self, verb, index):
        found = [r for r in self.results if r[1] == verb]
        assert len(found) > index, f"no result line for {verb}:\n{self!r}"
        return found[index]

    def ok(self, verb, index=0):
        r = self._result(verb, index)
        assert r[0], f"{verb} failed:\n{self!r}"
        return r[4]

    def error(self, verb, index=0):
        r = self._result(verb, index)
        assert not r[0], f"{verb} should have failed:\n{self!r}"
        return r[2], r[3], r[4]


def tool(build_dir, home, *args, timeout=120):
    """Run the tool with --home HOME and args (options, URL, verbs with ";" between)."""
    argv = ["--home", str(home.path), *[str(a) for a in args]]
    proc = subprocess.run([tool_path(build_dir), *argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=home.env())
    return Run(argv, proc.returncode, proc.stdout, proc.stderr)


def sha512_file(path):
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()


def write_pattern(path, size):
    """size bytes: a random block of prime length repeated, so a byte at the wrong offset
    changes the checksum. Fast for hundreds of MiB."""
    block = os.urandom(1048573)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)
    return path


@pytest.fixture
def remote(sshd, request):
    """A fresh folder in the login folder for this test: (relative name, local path)."""
    name = f"t_{request.node.name}"
    path = sshd.root / name
    path.mkdir()
    return name, path


def test_files_of_every_size_go_and_come_back_identical(build_dir, ssh_home, remote, tmp_path):
    """A sender puts an empty file, a 1-byte file, 1 MiB and 200 MiB through the `cluster`
    alias; a subscriber gets them back: the server's copies and the ones fetched have the
    sha512 of the originals. 200 MiB takes well under 20 s each way."""
    rdir, rpath = remote
    src = tmp_path / "src"
    src.mkdir()
    (src / "empty.bin").write_bytes(b"")
    (src / "one.bin").write_bytes(b"x")
    (src / "mib.bin").write_bytes(os.urandom(MIB))
    write_pattern(src / "big.bin", BIG)
    names = ("empty.bin", "one.bin", "mib.bin", "big.bin")
    sums = {n: sha512_file(src / n) for n in names}
    args = []
    for n in names:
        args += ["put", src / n, f"{rdir}/{n}", ";"]
    start = time.monotonic()
    run = tool(build_dir, ssh_home, ssh_home.alias_url, *args)
    put_s = time.monotonic() - start
    for i, n in enumerate(names):
        assert run.ok("put", i) == f"{(src / n).stat().st_size} bytes"
        assert sha512_file(rpath / n) == sums[n], n

    back = tmp_path / "back"
    back.mkdir()
    args = []
    for n in names:
        args += ["get", f"{rdir}/{n}", back / n, ";"]
    start = time.monotonic()
    run = tool(build_dir, ssh_home, ssh_home.alias_url, *args)
    get_s = time.monotonic() - start
    for i, n in enumerate(names):
        size = (src / n).stat().st_size
        assert run.ok("get", i) == f"{size} bytes sha512 {sums[n]}", n
        assert sha512_file(back / n) == sums[n], n
    print(f"put 201 MiB in {put_s:.2f} s, get in {get_s:.2f} s (sha512 on the fly)")
    assert put_s < 20 and get_s < 20


def test_ranges_and_resume_offsets(build_dir, ssh_home, remote, tmp_path):
    """Part of a file comes at its offset (a block of a partitioned file, or the rest of an
    interrupted download), and a range past the end brings nothing."""
    rdir, rpath = remote
    data = os.urandom(3 * MIB + 17)
    (rpath / "f.bin").write_bytes(data)
    local = tmp_path / "f.bin"
    local.write_bytes(data[:MIB])  # what an interrupted download left
    run = tool(build_dir, ssh_home, ssh_home.url,
               "getrange", f"{rdir}/f.bin", local, MIB, 0, ";",
               "getrange", f"{rdir}/f.bin", tmp_path / "mid.bin", 100, 1000, ";",
               "getrange", f"{rdir}/f.bin", tmp_path / "past.bin", len(data) + 5, 0)
    run.ok("getrange", 0)
    assert local.read_bytes() == data
    run.ok("getrange", 1)
    assert (tmp_path / "mid.bin").read_bytes()[100:] == data[100:1100]
    assert run.ok("getrange", 2).startswith("0 bytes")


def test_two_thousand_files_share_one_login(build_dir, sshd, ssh_home, remote, tmp_path):
    """A sender with 2000 small files in its queue sends them all over one SSH connection:
    sshd logs a single login, and every file is there with its content."""
    rdir, rpath = remote
    src = tmp_path / "many"
    src.mkdir()
    for i in range(SMALL_FILES):
        (src / f"f{i}").write_bytes(b"small file %d\n" % i * (i % 7 + 1))
    before = sshd.accepted()
    start = time.monotonic()
    run = tool(build_dir, ssh_home, ssh_home.alias_url, "putmany", src, f"{rdir}/many")
    took = time.monotonic() - start
    assert run.ok("putmany") == (f"{SMALL_FILES} files "
                                 f"{sum(p.stat().st_size for p in src.iterdir())} bytes")
    assert sshd.accepted() - before == 1, "one login for all the files"
    got = {p.name: p.read_bytes() for p in (rpath / "many").iterdir()}
    assert got == {p.name: p.read_bytes() for p in src.iterdir()}
    print(f"{SMALL_FILES} files in {took:.2f} s ({SMALL_FILES / took:.0f} files/s)")


def test_host_alias_and_home_come_from_the_users_ssh_files(build_dir, sshd, ssh_home, remote,
                                                          tmp_path):
    """sftp://cluster/ works with nothing but ~/.ssh/config: HostName, Port, User and
    IdentityFile (~/ meaning the HOME given, not the passwd entry's). With a HOME whose
    config lacks the alias, the same URL is an unknown host name."""
    rdir, rpath = remote
    (tmp_path / "a.txt").write_text("via the alias\n")
    run = tool(build_dir, ssh_home, ssh_home.alias_url, "put", tmp_path / "a.txt",
               f"{rdir}/a.txt")
    run.ok("put")
    assert (rpath / "a.txt").read_text() == "via the alias\n"
    assert f"connected to {sshd.user}@127.0.0.1 port {sshd.port}" in run.stderr
    assert str(ssh_home.known_hosts) in run.stderr

    # The key is found through IdentityFile only: move it, and the default name is empty.
    moved = ssh_home.ssh / "cluster_key"
    ssh_home.key.rename(moved)
    ssh_home.config.write_text(ssh_home.config.read_text().replace("~/.ssh/id_ed25519",
                                                                   "~/.ssh/cluster_key"))
    run = tool(build_dir, ssh_home, ssh_home.alias_url, "stat", f"{rdir}/a.txt")
    assert run.ok("stat").startswith("size=14 ")

    other = SshHome(tmp_path / "other", sshd)
    other.config.write_text("")
    run = tool(build_dir, other, "--timeout", "10", "sftp://cluster", "stat", f"{rdir}/a.txt",
               timeout=60)
    code, retry, msg = run.error("stat")
    assert code == "connection error" and retry, run
    assert "cannot connect to cluster port 22" in msg


def test_sshd_killed_mid_transfer_leaves_a_temporary_name_then_retry_completes(
        build_dir, sshd, ssh_home, remote, tmp_path):
    """sshd dies while a big file is being sent with inflight .tmp: the server holds only
    big.bin.tmp (never big.bin), the send fails as retryable, and once sshd is back the
    next send on the same session reconnects and completes big.bin."""
    rdir, rpath = remote
    size = 64 * MIB
    write_pattern(tmp_path / "big.bin", size)
    want = sha512_file(tmp_path / "big.bin")
    go_on = tmp_path / "sshd-is-back"
    proc = subprocess.Popen(
        [tool_path(build_dir), "--home", str(ssh_home.path), "--inflight", ".tmp",
         "--rate", str(16 * MIB), ssh_home.url,
         "send", str(tmp_path / "big.bin"), f"{rdir}/big.bin", ";",
         "waitfile", str(go_on), ";",
         "send", str(tmp_path / "big.bin"), f"{rdir}/big.bin"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ssh_home.env())
    try:
        partial = rpath / "big.bin.tmp"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (partial.exists() and
                                                   partial.stat().st_size > 8 * MIB):
            time.sleep(0.05)
        assert partial.exists(), "the upload never started"
        sshd.kill()
        killed_at = partial.stat().st_size
        assert 0 < killed_at < size
        assert not (rpath / "big.bin").exists(), "a partial file under its final name"
        sshd.restart()
        go_on.write_text("")
        out, errs = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not sshd.started or sshd.proc.poll() is not None:
            sshd.restart()
    run = Run(proc.args, proc.returncode, out, errs)
    code, retry, msg = run.error("send", 0)
    assert code == "connection error" and retry, run
    assert "connection lost" in msg and f"{rdir}/big.bin.tmp" in msg
    run.ok("send", 1)
    assert sha512_file(rpath / "big.bin") == want
    assert not partial.exists()
    assert run.stderr.count("connected to") == 2, "the second send reconnected"


def test_unknown_host_key_is_refused_with_what_to_run(build_dir, sshd, ssh_home, remote,
                                                     tmp_path):
    """With an empty known_hosts the server is refused (sr never adds a key by itself,
    unlike sr3) and the message says how to add it; nothing reaches the server. A
    different key recorded for the host is refused loudly as a changed key."""
    rdir, rpath = remote
    (tmp_path / "a.txt").write_text("secret\n")
    ssh_home.known_hosts.write_text("")
    run = tool(build_dir, ssh_home, ssh_home.url, "put", tmp_path / "a.txt", f"{rdir}/a.txt")
    code, retry, msg = run.error("put")
    assert code == "permission denied" and retry
    assert "unknown host key" in msg and "ssh-ed25519 SHA256:" in msg
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {ssh_home.known_hosts}`" in msg
    assert not (rpath / "a.txt").exists()

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   capture_output=True, check=True, timeout=30)
    pub = (tmp_path / "other.pub").read_text().split()
    ssh_home.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    run = tool(build_dir, ssh_home, ssh_home.url, "put", tmp_path / "a.txt", f"{rdir}/a.txt")
    code, retry, msg = run.error("put")
    assert "HOST KEY CHANGED" in msg and "ssh-keygen -R" in msg and msg.endswith("new key")
    assert not (rpath / "a.txt").exists()


def test_wrong_key_is_refused_and_named(build_dir, sshd, ssh_home, remote, tmp_path):
    """credentials.conf's ssh_keyfile names a key the server does not know: the login is
    refused with that key's path, even though ~/.ssh holds a key that would work (the
    configured key is the one to use)."""
    rdir, rpath = remote
    creds = tmp_path / "credentials.conf"
    creds.write_text(f"sftp://{sshd.user}@127.0.0.1:{sshd.port} ssh_keyfile={sshd.wrong_key}\n")
    creds.chmod(0o600)
    (tmp_path / "a.txt").write_text("x\n")
    run = tool(build_dir, ssh_home, "--credentials", creds, ssh_home.url,
               "put", tmp_path / "a.txt", f"{rdir}/a.txt")
    code, retry, msg = run.error("put")
    assert code == "permission denied" and retry
    assert f"the server refused key {sshd.wrong_key} for {sshd.user}@127.0.0.1" in msg
    assert not (rpath / "a.txt").exists()

    missing = tmp_path / "no_such_key"
    creds.write_text(f"sftp://{sshd.user}@127.0.0.1:{sshd.port} ssh_keyfile={missing}\n")
    run = tool(build_dir, ssh_home, "--credentials", creds, ssh_home.url, "stat", rdir)
    code, retry, msg = run.error("stat")
    assert f"{missing} (No such file or directory)" in msg


def test_key_from_ssh_agent_when_home_has_none(build_dir, sshd, ssh_home, remote, tmp_path):
    """A user whose key lives only in ssh-agent (a key with a passphrase, say) logs in
    through the agent: no key file in ~/.ssh, no IdentityFile, SSH_AUTH_SOCK set."""
    rdir, rpath = remote
    ssh_home.config.write_text("")
    ssh_home.key.unlink()
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = ssh_home.env()
        env["SSH_AUTH_SOCK"] = str(sock)
        subprocess.run(["ssh-add", "-q", str(sshd.key)], env=env, check=True,
                       capture_output=True, timeout=30)
        (tmp_path / "a.txt").write_text("through the agent\n")
        proc = subprocess.run([tool_path(build_dir), "--home", str(ssh_home.path), ssh_home.url,
                               "put", str(tmp_path / "a.txt"), f"{rdir}/a.txt"],
                              capture_output=True, text=True, env=env, timeout=60)
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    Run(proc.args, proc.returncode, proc.stdout, proc.stderr).ok("put")
    assert (rpath / "a.txt").read_text() == "through the agent\n"


def test_connection_refused_and_timeout_are_retryable(build_dir, sshd, ssh_home, tmp_path):
    """Nothing listening: a clear, retryable error naming host and port. A server that
    accepts the connection and never speaks: the timeout option ends the wait."""
    port = free_port()
    run = tool(build_dir, ssh_home, f"sftp://{sshd.user}@127.0.0.1:{port}", "stat", "x")
    code, retry, msg = run.error("stat")
    assert code == "connection error" and retry
    assert f"cannot connect to 127.0.0.1 port {port}" in msg and "refused" in msg

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.monotonic()
        run = tool(build_dir, ssh_home, "--timeout", "2",
                   f"sftp://{sshd.user}@127.0.0.1:{silent.getsockname()[1]}", "stat", "x")
        took = time.monotonic() - start
    finally:
        silent.close()
    code, retry, msg = run.error("stat")
    assert code == "connection error" and retry, run
    assert took < 15, f"took {took:.1f} s with --timeout 2"


def test_folder_operations_round_trip(build_dir, sshd, ssh_home, remote, tmp_path):
    """mkdir -p, send with mode and mtime, rename over an existing file, symlink, chmod,
    stat, list, delete and rmdir, on relative and absolute ("//") paths, each checked on
    the server's disk."""
    rdir, rpath = remote
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "b.txt").write_text("second\n")
    absdir = f"/{rpath}/abs"  # "//tmp/..." : absolute
    run = tool(build_dir, ssh_home, "--mode", "640", "--mtime", "1600000000", ssh_home.url,
               "mkdir", f"{rdir}/x/y/z", ";",
               "send", tmp_path / "a.txt", f"{rdir}/x/y/z/a.txt", ";",
               "send", tmp_path / "b.txt", f"{rdir}/x/y/z/b.txt", ";",
               "rename", f"{rdir}/x/y/z/b.txt", f"{rdir}/x/y/z/a.txt", ";",
               "symlink", "a.txt", f"{rdir}/x/y/z/link", ";",
               "chmod", "600", f"{rdir}/x/y/z/a.txt", ";",
               "stat", f"{rdir}/x/y/z/a.txt", ";",
               "stat", f"{rdir}/x/y", ";",
               "list", f"{rdir}/x/y/z", ";",
               "mkdir", f"{absdir}/deep", ";",
               "delete", f"{rdir}/x/y/z/link", ";",
               "delete", f"{rdir}/x/y/z/a.txt", ";",
               "rmdir", f"{rdir}/x/y/z", ";",
               "stat", f"{rdir}/x/y/z", ";",
               "delete", f"{rdir}/x/nothing")
    z = rpath / "x" / "y" / "z"
    for verb, n in (("mkdir", 2), ("send", 2), ("rename", 1), ("symlink", 1), ("chmod", 1),
                    ("list", 1), ("rmdir", 1)):
        for i in range(n):
            run.ok(verb, i)
    assert run.ok("stat", 0) == "size=7 mtime=1600000000 mode=600 dir=0"
    assert run.ok("stat", 1).endswith("dir=1")
    assert sorted(listed(run)) == ["a.txt", "link"]
    assert (rpath / "abs" / "deep").is_dir()
    code, _, msg = run.error("stat", 2)
    assert code == "not found" and f"{rdir}/x/y/z" in msg
    code, retry, _ = run.error("delete", 2)
    assert code == "not found" and not retry
    assert not z.exists() and (rpath / "x" / "y").is_dir()


def test_symlink_chmod_and_rename_are_seen_on_disk(build_dir, ssh_home, remote, tmp_path):
    """The operations leave what `ls -l` would show: the link's text, the new mode, the
    renamed file replacing the old one."""
    rdir, rpath = remote
    (rpath / "old").write_text("old\n")
    (rpath / "new").write_text("new\n")
    run = tool(build_dir, ssh_home, ssh_home.url,
               "symlink", "new", f"{rdir}/ln", ";",
               "chmod", "604", f"{rdir}/new", ";",
               "rename", f"{rdir}/new", f"{rdir}/old")
    for verb in ("symlink", "chmod", "rename"):
        run.ok(verb)
    assert os.readlink(rpath / "ln") == "new"
    assert (rpath / "old").read_text() == "new\n"
    assert (rpath / "old").stat().st_mode & 0o777 == 0o604
    assert not (rpath / "new").exists()


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


def test_poll_lists_a_folder_over_sftp(build_dir, ssh_home, remote, tmp_path):
    """What sr_poll reads of an sftp folder: every entry with its exact size, time to the
    second (UTC) and mode, a link as a link with its target, names with spaces, '&' and
    UTF-8 as they are; a missing folder is "not found"."""
    rdir, rpath = remote
    tree = listing_tree(rpath / "poll")
    run = tool(build_dir, ssh_home, ssh_home.url, "list", f"{rdir}/poll", ";",
               "list", f"{rdir}/none")
    assert run.ok("list", 0) == "9 entries 0 bad"
    got = listed(run)
    want = {}
    for p in tree.iterdir():
        st = p.lstat()
        kind = "l" if p.is_symlink() else "d" if p.is_dir() else "f"
        want[p.name] = (st.st_size, kind, int(st.st_mtime), f"{st.st_mode & 0o7777:o}",
                        os.readlink(p) if kind == "l" else "")
    assert got == want
    assert got["old.txt"][2] == OLD and got["link"][4] == "alpha.txt"
    assert got["big.bin"][0] == 3000007
    code, retry, msg = run.error("list", 1)
    assert code == "not found" and not retry and f"{rdir}/none" in msg
