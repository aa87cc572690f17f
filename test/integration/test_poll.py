# SPDX-License-Identifier: GPL-2.0-only
"""sr_poll against real servers on loopback (issue 17): what an operator polling an FTP
site, an SFTP drop box, a web server's index pages or a plain folder sees on the broker.

Each story writes files with known sizes and mtimes into a folder of a private server
(sshd with internal-sftp, pyftpdlib, nginx and Apache with autoindex, a folder polled as
file:), runs sr_poll every second over it, and counts the messages posted, read from a
queue of the test's own bound to the post exchange (polling.Announced). A poll is known to
have listed the folder when a file put in a second folder after the changes ("fence",
polling.py) has been announced: no sleeping. The mtimes and sizes are checked as precise
as the listing gives them (web pages: to the minute; Apache: no bytes).

SR_POLL_PEER=sr3 runs the same stories with Python sr3's poll (../shared/peers), to check a
story against the reference; the default, and `make check`, run sr_poll.
"""
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import wait_until
from polling import (TIMEOUT, Announced, Side, Story, check_message, make_sites,
                     v03_time, write_file)
from servers import HOST, free_port, port_open
from sr3peer import needs_sr3

KINDS = ["sftp", "ftp", "nginx", "apache", "file"]
PEER = os.environ.get("SR_POLL_PEER", "sr")


@pytest.fixture
def side(request, sr_bin, sr_env, tmp_path):
    """Who runs the polls (polling.Side), stopped after the test."""
    if PEER == "sr3":
        s = Side("sr3", tmp_path, sr3=request.getfixturevalue("sr3"))
    else:
        s = Side("sr", tmp_path, sr_bin=sr_bin, env=sr_env)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def consumers():
    started = []
    yield started
    for c in started:
        c.stop()


def site_for(request, kind, tok, side, tmp_path):
    """The Site of kind, its server started (session fixture), the poll's HOME able to
    log in to it."""
    servers = {}
    if kind == "sftp":
        servers["sshd"] = request.getfixturevalue("sshd")
        from fixtures_ssh import SshHome
        SshHome(side.home, servers["sshd"])
    elif kind == "ftp":
        servers["ftpd"] = request.getfixturevalue("ftpd")
    elif kind in ("nginx", "apache"):
        servers[kind] = request.getfixturevalue(kind)
    site = make_sites(kind, tok, tmp_path=tmp_path, **servers)
    side.credentials(site.credentials)
    return site


def story(request, kind, side, rabbitmq, broker_tool, consumers, tmp_path, extra="",
          paths=("data", "fence"), name="p"):
    """A Site of kind and the Announced of its poll's exchange (the poll not yet started);
    (site, Story, config name)."""
    tok = secrets.token_hex(3)
    site = site_for(request, kind, tok, side, tmp_path)
    exchange = f"xs_tfeed_poll{tok}"
    ann = Announced(broker_tool, rabbitmq, exchange, tmp_path / f"announced_{name}.jsonl")
    consumers.append(ann)
    side.config(name, site.config(rabbitmq.url("tfeed"), exchange, extra, paths))
    return site, Story(site, ann), name


def minute_ago(k):
    """Whole seconds, k minutes and 17 s before the last full minute: distinct minutes, so
    that a listing to the minute tells the files' mtimes apart."""
    return (int(time.time()) // 60) * 60 - 60 * k - 17


def assert_announced(site, got, want):
    """got (messages) is one message per file of want ({name: local path}), each saying
    what the listing shows of it."""
    names = sorted(m.get("relPath", "").lstrip("/").rsplit("/", 1)[-1] for m in got)
    assert names == sorted(want), f"announced {names}, want {sorted(want)}"
    problems = []
    for m in got:
        name = m["relPath"].rsplit("/", 1)[-1]
        problems += check_message(site, m, "data", name, want[name])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", KINDS)
def test_new_changed_unchanged_and_removed_files_each_announced_once(
        kind, request, side, rabbitmq, broker_tool, consumers, tmp_path):
    """Poll 1 of a folder of 6 files announces 6 (relPath, size, mtime as listed, identity
    cod); with 2 files new, 1 changed (size and mtime), 1 removed and 2 unchanged, the next
    polls announce exactly 3; with nothing changed, none."""
    site, st, name = story(request, kind, side, rabbitmq, broker_tool, consumers, tmp_path)
    files = {f"f{i}.dat": write_file(site.data / f"f{i}.dat", 100 + 37 * i, minute_ago(10 + 2 * i))
             for i in range(6)}
    poll = side.start(name)
    st.settle()
    assert_announced(site, st.data(), files)

    mark = len(st.all())
    new = {f"n{i}.dat": write_file(site.data / f"n{i}.dat", 2000 + i, minute_ago(3 + i))
           for i in range(2)}
    changed = write_file(site.data / "f1.dat", 5555, minute_ago(1), seed=b"changed")
    (site.data / "f2.dat").unlink()
    st.settle()
    assert_announced(site, st.data(mark), {**new, "f1.dat": changed})

    mark = len(st.all())
    st.settle()
    assert st.data(mark) == [], st.data(mark)
    assert poll.proc.poll() is None, poll.text()[-3000:]


def test_restart_announces_nothing_twice_and_what_came_while_down_once(
        request, side, rabbitmq, broker_tool, consumers, tmp_path):
    """sr_poll stopped (SIGTERM) and started again: what it announced before is not
    announced again; a file added while it was down is announced once."""
    site, st, name = story(request, "sftp", side, rabbitmq, broker_tool, consumers, tmp_path)
    files = {f"r{i}.dat": write_file(site.data / f"r{i}.dat", 300 + i, minute_ago(5 + i))
             for i in range(5)}
    first = side.start(name)
    st.settle()
    assert_announced(site, st.data(), files)
    assert first.stop() == 0, first.text()[-3000:]

    mark = len(st.all())
    late = {"late.dat": write_file(site.data / "late.dat", 77, minute_ago(1))}
    second = side.start(name)
    st.settle()
    assert_announced(site, st.data(mark), late)
    assert second.proc.poll() is None, second.text()[-3000:]


# ---- high availability ----

@pytest.fixture
def vips():
    """Two loopback addresses no other test uses, removed from lo afterwards."""
    addrs = []
    while len(addrs) < 2:
        a = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(1, 250)}"
        if a not in addrs:
            addrs.append(a)
    yield addrs
    for a in addrs:
        subprocess.run(["ip", "addr", "del", f"{a}/32", "dev", "lo"], capture_output=True)


def ip(verb, addr):
    subprocess.run(["ip", "addr", verb, f"{addr}/32", "dev", "lo"], check=True,
                   capture_output=True)


def queue_drained(rabbitmq, needle):
    """The queues whose name holds needle exist and hold nothing, ready or unacked."""
    r = rabbitmq.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged",
                     check=False)
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    mine = [row for row in rows if len(row) == 3 and needle in row[0]]
    return bool(mine) and all(row[1:] == ["0", "0"] for row in mine)


def test_vip_failover_between_two_pollers_announces_each_file_once(
        request, side, rabbitmq, broker_tool, consumers, tmp_path, vips):
    """Two pollers of one sftp folder post to one exchange, each with a vip: A holds its
    address and announces, B does not and reads A's posts. The address "moves" (A's goes,
    B's comes): B takes over. Files added before, during and after the move are each
    announced exactly once in all, none missed."""
    assert os.geteuid() == 0, "adding an address to lo needs root"
    x, y = vips
    tok = secrets.token_hex(3)
    site = site_for(request, "sftp", tok, side, tmp_path)
    exchange = f"xs_tfeed_pollvip{tok}"
    ann = Announced(broker_tool, rabbitmq, exchange, tmp_path / "announced.jsonl")
    consumers.append(ann)
    st = Story(site, ann)
    a_name, b_name = f"vipa{tok}", f"vipb{tok}"
    side.config(a_name, site.config(rabbitmq.url("tfeed"), exchange, f"vip {x}\n"))
    side.config(b_name, site.config(rabbitmq.url("tfeed"), exchange, f"vip {y}\n"))
    ip("add", x)
    files = {f"before{i}.dat": write_file(site.data / f"before{i}.dat", 10 + i,
                                          minute_ago(20 + i)) for i in range(8)}
    a = side.start(a_name)
    b = side.start(b_name)
    st.settle()
    assert_announced(site, st.data(), files)
    # B read all A posted (its queue is empty): what it remembers is current
    if side.reading_line:
        b.wait_for(side.reading_line)
    assert wait_until(lambda: queue_drained(rabbitmq, b_name), TIMEOUT), \
        rabbitmq.ctl("list_queues", "name", "messages_ready", check=False).stdout
    more = {f"before_move{i}.dat": write_file(site.data / f"before_move{i}.dat", 30 + i,
                                              minute_ago(15 + i)) for i in range(3)}
    files.update(more)
    st.settle()
    assert wait_until(lambda: queue_drained(rabbitmq, b_name), TIMEOUT)

    ip("del", x)
    a.wait_for(side.passive_line)
    during = {f"during{i}.dat": write_file(site.data / f"during{i}.dat", 50 + i,
                                           minute_ago(10 + i)) for i in range(3)}
    files.update(during)
    ip("add", y)
    b.wait_for(side.active_line)
    after = {f"after{i}.dat": write_file(site.data / f"after{i}.dat", 70 + i,
                                         minute_ago(5 + i)) for i in range(3)}
    files.update(after)
    st.settle()
    got = st.data()
    names = [m["relPath"].rsplit("/", 1)[-1] for m in got]
    twice = sorted({n for n in names if names.count(n) > 1})
    missed = sorted(set(files) - set(names))
    assert not twice and not missed, f"announced twice: {twice}; never: {missed}"
    assert_announced(site, got, files)
    assert a.proc.poll() is None and b.proc.poll() is None


# ---- bad listings, servers that go away ----

JUNK = "sr-test: this line is no listing entry"

# A pyftpdlib server whose LIST and MLSD answers start with a line no listing has (JUNK),
# on a port the test picks, so that it can be stopped and started again on the same port.
JUNK_FTPD = r'''
import json, logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

cfg = json.loads(sys.argv[1])
logging.basicConfig(filename=cfg["log"], level=logging.INFO, format="%(asctime)s %(message)s")
junk = (cfg["junk"] + "\r\n").encode()


class FS(AbstractedFS):
    def format_list(self, basedir, listing, ignore_err=True):
        logging.info("sr-test listing LIST %s", basedir)
        yield junk
        yield from super().format_list(basedir, listing, ignore_err)

    def format_mlsx(self, basedir, listing, perms, facts, ignore_err=True):
        if ignore_err:  # MLSD (MLST, an answer on the control connection, passes False)
            logging.info("sr-test listing MLSD %s", basedir)
            yield junk
        yield from super().format_mlsx(basedir, listing, perms, facts, ignore_err)


authorizer = DummyAuthorizer()
authorizer.add_user(cfg["user"], cfg["password"], cfg["home"], perm="elr")
FTPHandler.authorizer = authorizer
FTPHandler.abstracted_fs = FS
server = FTPServer(("127.0.0.1", cfg["port"]), FTPHandler)
logging.info("junk ftpd listening on %d", cfg["port"])
server.serve_forever()
'''


class JunkFtpd:
    """The JUNK_FTPD program: start(), stop(), start() again on the same port."""

    def __init__(self, d):
        self.dir = Path(d)
        self.root = self.dir / "home"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.user, self.password = "junkuser", f"pw-{secrets.token_hex(6)}"
        self.program = self.dir / "junk_ftpd.py"
        self.program.write_text(JUNK_FTPD)
        self.log = self.dir / "ftpd.log"
        self.proc = None

    def start(self):
        cfg = {"port": self.port, "user": self.user, "password": self.password,
               "home": str(self.root), "log": str(self.log), "junk": JUNK}
        with open(self.dir / "server.log", "ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(self.program), json.dumps(cfg)],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        assert wait_until(lambda: port_open(self.port) or self.proc.poll() is not None,
                          TIMEOUT), "junk ftpd never listened"
        assert self.proc.poll() is None, (self.dir / "server.log").read_text()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        assert wait_until(lambda: not port_open(self.port), 30)

    def listings(self):
        """How many LIST and MLSD answers the server has sent (pyftpdlib logs no listing:
        FS logs each)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count("sr-test listing ")


@pytest.fixture
def junk_ftpd(tmp_path):
    server = JunkFtpd(tmp_path / "junkftpd")
    server.start()
    yield server
    server.stop()


def test_unreadable_listing_line_logged_once_per_listing_and_server_outage_survived(
        side, rabbitmq, broker_tool, consumers, tmp_path, junk_ftpd):
    """An FTP server whose listings carry a line that is no entry: the poll logs it once
    per listing, naming the server and the line, and announces the other files. The server
    stopped between polls: an error is logged; once it is back, the next poll announces
    only what is new."""
    from polling import Site
    tok = secrets.token_hex(3)
    srv = junk_ftpd
    url = f"ftp://{srv.user}@{HOST}:{srv.port}/"
    site = Site("ftp", srv.root / f"poll_{tok}", f"/poll_{tok}", url, url,
                credentials=[f"ftp://{srv.user}:{srv.password}@{HOST}:{srv.port}"],
                mtime_step=60)
    side.credentials(site.credentials)
    exchange = f"xs_tfeed_polljunk{tok}"
    ann = Announced(broker_tool, rabbitmq, exchange, tmp_path / "announced.jsonl")
    consumers.append(ann)
    st = Story(site, ann)
    side.config("junk", site.config(rabbitmq.url("tfeed"), exchange))
    files = {f"j{i}.dat": write_file(site.data / f"j{i}.dat", 40 + i, minute_ago(4 + i))
             for i in range(4)}
    poll = side.start("junk")
    st.settle()
    assert_announced(site, st.data(), files)
    lines = [l for l in poll.text().splitlines() if JUNK in l]
    assert lines, f"the junk line is never logged:\n{poll.text()[-3000:]}"
    assert len(lines) <= srv.listings(), \
        f"{len(lines)} log lines for {srv.listings()} listings:\n" + "\n".join(lines)
    server_named = [l for l in lines if f"{HOST}:{srv.port}" in l or "ftp://" in l]
    assert server_named == lines, "a line without the server:\n" + "\n".join(lines)

    mark_log = len(poll.text())
    srv.stop()
    assert wait_until(lambda: any(("ERROR" in l or "WARNING" in l or "error" in l)
                                  and str(srv.port) in l
                                  for l in poll.text()[mark_log:].splitlines())
                      or poll.proc.poll() is not None, TIMEOUT), \
        f"nothing logged while the server is down:\n{poll.text()[mark_log:][-3000:]}"
    assert poll.proc.poll() is None, poll.text()[-3000:]
    mark = len(st.all())
    new = {"back.dat": write_file(site.data / "back.dat", 99, minute_ago(1))}
    srv.start()
    st.settle()
    assert_announced(site, st.data(mark), new)


# ---- options ----

def test_accept_reject_age_and_permissions_choose_what_is_announced(
        request, side, rabbitmq, broker_tool, consumers, tmp_path):
    """Over sftp: accept/reject match the remote names (`acceptUnmatched off`: only what
    an accept takes); a file touched 40 days ago is not announced (fileAgeMax 30d, the
    default); nor one of mode 0200 (permDefault 0400, the default)."""
    site, st, name = story(request, "sftp", side, rabbitmq, broker_tool, consumers, tmp_path,
                           extra="reject .*/data/.*\\.tmp$\naccept .*/data/.*\\.dat$\n"
                                 "accept .*/fence/.*\nacceptUnmatched off\n")
    want = {f"ok{i}.dat": write_file(site.data / f"ok{i}.dat", 10 + i, minute_ago(2 + i))
            for i in range(3)}
    write_file(site.data / "x.tmp", 5, minute_ago(2))
    write_file(site.data / "other.txt", 5, minute_ago(2))
    write_file(site.data / "old.dat", 5, int(time.time()) - 40 * 86400)
    write_file(site.data / "secret.dat", 5, minute_ago(2), mode=0o200)
    side.start(name)
    st.settle()
    assert_announced(site, st.data(), want)


def test_recursion_into_sub_folders_and_recursive_off(
        request, side, rabbitmq, broker_tool, consumers, tmp_path):
    """With recursive (the default) the files of sub-folders are announced with their
    relPaths (and each folder with a fileOp directory, as sr3 does); with `recursive off`
    only the folder's own files."""
    site, st, name = story(request, "sftp", side, rabbitmq, broker_tool, consumers, tmp_path)
    flat_ex = f"xs_tfeed_pollflat{secrets.token_hex(3)}"
    flat = Story(site, Announced(broker_tool, rabbitmq, flat_ex, tmp_path / "flat.jsonl"))
    consumers.append(flat.announced)
    side.config("flat", site.config(rabbitmq.url("tfeed"), flat_ex, "recursive off\n"))
    top = {"top.dat": write_file(site.data / "top.dat", 11, minute_ago(3))}
    deep = {"a/one.dat": write_file(site.data / "a" / "one.dat", 12, minute_ago(3)),
            "a/b/two.dat": write_file(site.data / "a" / "b" / "two.dat", 13, minute_ago(3))}
    for d in (site.data / "a", site.data / "a" / "b"):
        d.chmod(0o755)
    side.start(name)
    side.start("flat")
    st.settle()
    flat.settle()

    prefix = site.rel("data", "")
    got = {m["relPath"].lstrip("/")[len(prefix):]: m for m in st.data()}
    assert sorted(got) == sorted({**top, **deep}), sorted(got)
    for rel, m in got.items():
        sub, _, fname = f"data/{rel}".rpartition("/")
        problems = check_message(site, m, sub, fname, {**top, **deep}[rel])
        assert not problems, problems
    folders = [m["relPath"].lstrip("/")[len(prefix):] for m in st.all()
               if "directory" in (m.get("fileOp") or {})]
    assert sorted(folders) == ["a", "a/b"], folders
    flat_got = [m["relPath"].lstrip("/")[len(prefix):] for m in flat.data()]
    assert flat_got == ["top.dat"], flat_got
    flat_ops = [(m["relPath"], m["fileOp"]) for m in flat.all() if "fileOp" in m]
    assert not flat_ops, f"recursive off, yet announced: {flat_ops}"


def test_path_with_date_pattern_lists_todays_folder(
        request, side, rabbitmq, broker_tool, consumers, tmp_path):
    """`path .../${YYYYMMDD}` lists the folder named with today's date (UTC), not the
    others."""
    today = time.strftime("%Y%m%d", time.gmtime())
    site, st, name = story(request, "sftp", side, rabbitmq, broker_tool, consumers, tmp_path,
                           paths=("${YYYYMMDD}", "fence"))
    write_file(site.base / "20000101" / "old.dat", 5, minute_ago(2))
    want = write_file(site.base / today / "today.dat", 6, minute_ago(2))
    for d in (site.base / today, site.base / "20000101"):
        d.chmod(0o755)
    side.start(name)
    st.settle()
    got = [m for m in st.all() if "fence" not in m["relPath"] and "fileOp" not in m]
    assert [m["relPath"].lstrip("/") for m in got] == [site.rel(today, "today.dat")], got
    assert not check_message(site, got[0], today, "today.dat", want)


# ---- beside sr3 ----

@needs_sr3
def test_same_messages_as_sr3_poll_over_one_sftp_tree(
        sshd, sr3, sr_bin, sr_env, rabbitmq, broker_tool, consumers, tmp_path):
    """sr3's poll and sr_poll list the same sftp tree (files in sub-folders, several sizes
    and mtimes) into exchanges of their own: each posts one message per file and folder,
    and the two say the same of each: baseUrl, relPath, size, mtime, identity, fileOp.
    Every difference is listed; any that test/sr3-differences.txt does not list as intended
    ("poll-messages:sftp | FIELD | sr3 value | sr value | reason") fails the test."""
    from fixtures_ssh import SshHome
    from test_sr3_show import matches, read_differences
    tok = secrets.token_hex(3)
    sides = {"sr": Side("sr", tmp_path / "sr", sr_bin=sr_bin, env=sr_env),
             "sr3": Side("sr3", tmp_path / "sr3", sr3=sr3)}
    site = make_sites("sftp", tok, sshd=sshd)
    stories, runs = {}, []
    try:
        for who, s in sides.items():
            s.tmp_path.mkdir()
            SshHome(s.home, sshd)
            exchange = f"xs_tfeed_poll{who}{tok}"
            ann = Announced(broker_tool, rabbitmq, exchange, tmp_path / f"{who}.jsonl")
            consumers.append(ann)
            stories[who] = Story(site, ann)
            s.config("same", site.config(rabbitmq.url("tfeed"), exchange))
        names = ["a.dat", "empty.dat", "sub/b.bin", "sub/deeper/c.txt", "sub2/d.dat"]
        for i, name in enumerate(names):
            write_file(site.data / name, [10, 0, 4096, 70000, 3][i], minute_ago(3 + i) + i)
        for d in site.data.rglob("*"):
            if d.is_dir():
                d.chmod(0o755)
        runs = [sides["sr"].start("same"), sides["sr3"].start("same")]
        for st in stories.values():
            st.settle()
    finally:
        for r in runs:
            r.stop()

    def by_rel(st):
        out = {}
        for m in st.all():
            rel = m.get("relPath", "")
            if "/fence/" not in f"/{rel}":
                assert rel not in out, f"{rel} announced twice"
                out[rel] = m
        return out

    got = {who: by_rel(st) for who, st in stories.items()}
    rows = []
    for rel in sorted(set(got["sr"]) | set(got["sr3"])):
        a, b = got["sr3"].get(rel), got["sr"].get(rel)
        if a is None or b is None:
            rows.append((rel, "(message)", "absent" if a is None else "present",
                         "absent" if b is None else "present"))
            continue
        for field in ("baseUrl", "relPath", "size", "mtime", "identity", "fileOp"):
            va, vb = a.get(field), b.get(field)
            if field == "mtime" and va and vb and v03_time(va) == v03_time(vb):
                continue
            if va != vb:
                rows.append((rel, field, json.dumps(va), json.dumps(vb)))
    intended = [e for e in read_differences() if e[0].startswith("poll-messages:")]
    unexpected = [r for r in rows
                  if not any(matches(e, ("poll-messages:sftp", r[1], r[2], r[3]))
                             for e in intended)]
    table = "\n".join(" | ".join(r) for r in rows) or "(none)"
    print(f"\nsr3 poll vs sr_poll over sftp, differences (relPath | field | sr3 | sr):\n{table}")
    assert len(got["sr"]) == len(names) + 3, sorted(got["sr"])  # + sub, sub/deeper, sub2
    assert not unexpected, "differences from sr3's poll not in test/sr3-differences.txt:\n" + \
        "\n".join(" | ".join(r) for r in unexpected)
