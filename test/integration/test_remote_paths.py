# SPDX-License-Identifier: GPL-2.0-only
"""Where files land on a remote server, and where downloads are read from, as sr3 does it
(issue 16): sr and Python sr3 run the same configurations (only their names differ)
against the same sshd and FTP server, and the files must land in the same remote folders,
byte-identical.

What running sr3 (3.00.56) showed, and what these tests hold sr to:
- A sender changes into `directory` from the login folder: an absolute `directory`
  ("/x", or "//x") is absolute on the server, a relative one is in the login folder,
  over sftp and ftp alike. The hot-directory guide's sender (`sendTo sftp://<alias>/`,
  `directory /home/<user>/on_<cluster>`) relies on it. The path of the sendTo URL plays
  no part. A configuration with no directory writes where post_baseDir (else baseDir)
  is, the same absolute folder as on this host. `directory ~/x` is expanded on the
  sending host, to its own HOME, before it connects.
- A download (sftp and ftp alike) from a baseUrl with a path, even just "/", reads an
  absolute path ("sftp://h/data" + "f" is /data/f, so is "sftp://h//data"); only a baseUrl
  that ends at the host, with a relative relPath, reads in the login folder. Over http
  the path is the URL's.

The login folder and an absolute folder outside it are told apart on both servers: the
sshd's sftp sessions start in its private `root` folder (fixtures_ssh), the absolute
folders are under the test's tmp_path; the FTP server (pyftpdlib, whose "/" is its
.root) starts each session in /in, so "/fabs" is .root/fabs and a relative "x" is
.root/in/x. A file planted at both candidate places, with different contents, shows which
one a download read.

The sr parts run without sr3 and check the same places; the parts marked needs_sr3 run sr3
and sr side by side.
"""
import base64
import hashlib
import json
import secrets
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from fixtures_ssh import SshHome
from fixtures_web import Ftpd, credentials_file
from helpers import wait_until, write_config
from sr3peer import needs_sr3

# For a condition a working sr (or sr3) meets in seconds: a loaded machine may take many
# times longer.
TIMEOUT = 120


@pytest.fixture(scope="module")
def ftpd_login(tmp_path_factory):
    """An FTP server whose sessions start in /in (.root/in), not at its root."""
    server = Ftpd(tmp_path_factory.mktemp("ftpd_login"), login="in")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def v03(base_url, rel, data=None):
    """A v03 message; without data it says neither size nor identity (a download test
    plants two different files and looks at which one came)."""
    m = {"pubTime": time.strftime("%Y%m%dT%H%M%S", time.gmtime()), "baseUrl": base_url,
         "relPath": rel}
    if data is not None:
        m.update(size=len(data), identity={"method": "sha512", "value": sha512_b64(data)})
    return m


class Bench:
    """The servers, the broker and the local folders one test shares between sr and sr3."""

    def __init__(self, rabbitmq, sshd, ftpd, nginx, tool, tmp_path):
        self.rabbitmq, self.sshd, self.ftpd, self.tool = rabbitmq, sshd, ftpd, tool
        self.nginx = nginx
        self.tmp = tmp_path
        self.tok = secrets.token_hex(3)
        self.url = rabbitmq.url("tfeed")
        # an absolute folder on the sftp server, outside its login folder
        self.sftp_abs = tmp_path / "absolute"
        self.sftp_abs.mkdir()
        assert not self.sftp_abs.is_relative_to(sshd.root)
        self.sftp_rel = f"rel_{self.tok}"  # in sshd.root
        self.ftp_login = ftpd.root / ftpd.login
        self.ftp_abs = f"fabs_{self.tok}"  # /fabs_X: ftpd.root/fabs_X
        self.ftp_rel = f"frel_{self.tok}"  # frel_X: ftpd.root/in/frel_X
        self.http_dir = f"hdl_{self.tok}"  # nginx.root/hdl_X
        self.src = tmp_path / "src"
        (self.src / "sub").mkdir(parents=True)
        self.procs = []

    def exchange(self, who):
        ex = f"xs_tfeed_rp_{who}_{self.tok}"
        r = subprocess.run([self.tool, "publish", self.url, ex, "v03.declare"], input="",
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return ex

    def publish(self, ex, messages):
        lines = "".join(json.dumps(m) + "\n" for m in messages)
        r = subprocess.run([self.tool, "publish", self.url, ex, "v03.sub"], input=lines,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    def stop(self):
        for proc, out in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, out in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
        self.procs = []


@pytest.fixture
def bench(rabbitmq, sshd, ftpd_login, nginx, broker_tool, tmp_path):
    b = Bench(rabbitmq, sshd, ftpd_login, nginx, broker_tool, tmp_path)
    try:
        yield b
    finally:
        b.stop()


class SrRunner:
    """sr's side: configs in sr_env's ~/.config/sr, whose HOME is an ssh client HOME."""

    name = "sr"

    def __init__(self, bench, sr_bin, sr_env):
        self.bench, self.sr_bin, self.env = bench, sr_bin, sr_env
        SshHome(sr_env["HOME"], bench.sshd)
        self.env.pop("SSH_AUTH_SOCK", None)
        conf = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
        conf.mkdir(parents=True, exist_ok=True)
        credentials_file(conf / "credentials.conf", bench.ftpd.credentials_line())

    def start(self, component, name, text):
        write_config(self.env, component, name, text)
        log = self.bench.tmp / f"sr_{component}_{name}.log"
        out = open(log, "w")
        proc = subprocess.Popen([self.sr_bin(f"sr_{component}"), "foreground", name],
                                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.bench.procs.append((proc, out))
        # "connected to": its queue is declared and bound
        assert wait_until(lambda: "connected to" in log.read_text(errors="replace")
                          or proc.poll() is not None, TIMEOUT), log.read_text()
        assert proc.poll() is None, f"sr_{component} exited:\n{log.read_text()}"
        return log


class Sr3Runner:
    """sr3's side: the sr3 fixture's HOME, made an ssh client HOME too."""

    name = "sr3"

    def __init__(self, bench, sr3):
        self.bench, self.sr3 = bench, sr3
        SshHome(sr3.home, bench.sshd)
        sr3.write_file("credentials.conf", bench.ftpd.credentials_line() + "\n")

    def start(self, component, name, text):
        self.sr3.write_config(component, name, text)
        proc = self.sr3.foreground(f"{component}/{name}", env={"SSH_AUTH_SOCK": ""})
        self.sr3.wait_log(proc, r"binding", TIMEOUT)  # (its queue is bound)
        return proc.log_path


# ---- senders ----

# The sender configurations: sendTo, mirror (sr3 applies the last `mirror` line to every
# accept, sr the one in force at each: one value per configuration here) and one accept
# line per case with its directory.
SENDER_VARIANTS = ["sftp", "sftp_mirror", "sftp_nodir", "ftp", "ftp_mirror"]


def sender_variant(b, variant):
    """(sendTo, mirror, {case: (directory or None, folder where the file sub/<who>-<case>.dat
    must land, folder where it must not)})."""
    login, a = b.sshd.root, str(b.sftp_abs).lstrip("/")
    sftp = f"sftp://{SshHome.ALIAS}/"  # as the hot-directory guide writes it
    # the ftp sendTo's path is there to show that it is not where files go
    ftp, froot, flogin = b.ftpd.url("/ignored"), b.ftpd.root, b.ftp_login
    return {
        "sftp": (sftp, "off", {
            "abs": (b.sftp_abs, b.sftp_abs, login / a),
            "dbl": (f"/{b.sftp_abs}/dbl", b.sftp_abs / "dbl", login / a / "dbl"),
            "rel": (b.sftp_rel, login / b.sftp_rel, Path("/") / b.sftp_rel),
        }),
        "sftp_mirror": (sftp, "on", {
            "absmirror": (b.sftp_abs, b.sftp_abs / "sub", login / a / "sub"),
            "relmirror": (b.sftp_rel, login / b.sftp_rel / "sub", Path("/") / b.sftp_rel / "sub"),
        }),
        # no directory: where baseDir is, absolute (sr3's post_baseDir, from baseDir)
        "sftp_nodir": (sftp, "off", {
            "nodir": (None, b.src, login / str(b.src).lstrip("/")),
        }),
        "ftp": (ftp, "off", {
            "fabs": (f"/{b.ftp_abs}", froot / b.ftp_abs, flogin / b.ftp_abs),
            "frel": (b.ftp_rel, flogin / b.ftp_rel, froot / b.ftp_rel),
        }),
        "ftp_mirror": (ftp, "on", {
            "fabsmirror": (f"/{b.ftp_abs}", froot / b.ftp_abs / "sub", flogin / b.ftp_abs / "sub"),
        }),
    }[variant]


def sender_config(b, variant, ex):
    """The sender configuration, the same for sr and sr3 but for the exchange."""
    send_to, mirror, cases = sender_variant(b, variant)
    lines = [f"broker {b.url}", f"exchange {ex}", "subtopic #", f"baseDir {b.src}",
             f"sendTo {send_to}", f"mirror {mirror}"]
    for case, (directory, _, _) in cases.items():
        if directory is not None:
            lines.append(f"directory {directory}")
        lines.append(f"accept .*-{case}\\.dat")
    return "\n".join(lines) + "\n"


def payload(case):
    """The bytes of case's file: the same for sr and sr3, different per case."""
    seed = hashlib.sha512(case.encode()).digest()
    return f"{case}\n".encode() + seed * 60


def run_sender(b, runner, variant):
    """Runs runner's sender with one file per case; returns {case: path where it landed},
    having checked that each landed where sr3 puts it, whole, and not where it must not."""
    who = runner.name
    ex = b.exchange(who)
    _, _, cases = sender_variant(b, variant)
    for case in cases:
        (b.src / "sub" / f"{who}-{case}.dat").write_bytes(payload(case))
    log = runner.start("sender", f"rp_{variant}", sender_config(b, variant, ex))
    b.publish(ex, [v03("file:/", f"sub/{who}-{case}.dat", payload(case)) for case in cases])

    def landed(case):
        path = cases[case][1] / f"{who}-{case}.dat"
        return path.exists() and path.read_bytes() == payload(case)

    done = wait_until(lambda: all(landed(c) for c in cases), TIMEOUT)
    problems = []
    for case, (_, want, wrong) in cases.items():
        name = f"{who}-{case}.dat"
        if not landed(case):
            problems.append(f"{case}: not in {want} (or not whole)")
        if (wrong / name).exists():
            problems.append(f"{case}: also (or instead) in {wrong}")
            if wrong.is_relative_to("/" + b.sftp_rel) or wrong.is_relative_to("/" + b.ftp_rel):
                (wrong / name).unlink()  # a relative folder read as absolute: undo it
    if variant.startswith("ftp") and (b.ftp_login / "ignored").exists():
        problems.append("ftp: files under the sendTo path /ignored")
    assert done and not problems, "\n".join(problems) + "\n" + log.read_text(errors="replace")[-4000:]
    return {case: cases[case][1] / f"{who}-{case}.dat" for case in cases}


@pytest.mark.parametrize("variant", SENDER_VARIANTS)
def test_sr_sender_lands_in_sr3s_remote_folders(bench, sr_bin, sr_env, variant):
    """sr alone: an absolute directory is absolute on the server ("/x" and "//x"), a
    relative one in the login folder, mirror adds the announced folders, a sender with no
    directory writes where baseDir is; the sendTo path plays no part."""
    run_sender(bench, SrRunner(bench, sr_bin, sr_env), variant)


@needs_sr3
@pytest.mark.parametrize("variant", SENDER_VARIANTS)
def test_sender_sr_and_sr3_land_in_the_same_folders(bench, sr_bin, sr_env, sr3, variant):
    """The same sender configuration run by sr3 and by sr: every file in the same remote
    folder, byte-identical to the other's."""
    theirs = run_sender(bench, Sr3Runner(bench, sr3), variant)
    ours = run_sender(bench, SrRunner(bench, sr_bin, sr_env), variant)
    assert theirs.keys() == ours.keys()
    for case in theirs:
        assert theirs[case].parent == ours[case].parent, case
        assert theirs[case].read_bytes() == ours[case].read_bytes(), case


def run_tilde_sender(b, runner, home):
    """`directory ~/tdir_X`: sr3 expands ~ to its own HOME before it connects, so the file
    lands at that absolute path on the server (here the same host), not in the login
    folder. Returns where it landed."""
    who = runner.name
    ex = b.exchange(who)
    name = f"{who}-tilde.dat"
    (b.src / "sub" / name).write_bytes(payload("tilde"))
    tdir = f"tdir_{b.tok}"
    log = runner.start("sender", "rp_tilde", "\n".join([
        f"broker {b.url}", f"exchange {ex}", "subtopic #", f"baseDir {b.src}",
        f"sendTo sftp://{SshHome.ALIAS}/", "mirror off", f"directory ~/{tdir}", "accept .*",
        ""]))
    b.publish(ex, [v03("file:/", f"sub/{name}", payload("tilde"))])
    want = Path(home) / tdir / name
    assert wait_until(lambda: want.exists() and want.read_bytes() == payload("tilde"),
                      TIMEOUT), log.read_text(errors="replace")[-4000:]
    assert not list(b.sshd.root.glob(f"~/{tdir}/*")), "also in a folder named ~"
    return want


def test_sr_sender_expands_tilde_here(bench, sr_bin, sr_env):
    """sr alone: `directory ~/x` is x in the sender's own home, an absolute path."""
    run_tilde_sender(bench, SrRunner(bench, sr_bin, sr_env), sr_env["HOME"])


@needs_sr3
def test_sender_tilde_as_sr3(bench, sr_bin, sr_env, sr3):
    """sr3 and sr both put `directory ~/x` at x under their own HOME (each has its own
    here), the same folder name, byte-identical."""
    theirs = run_tilde_sender(bench, Sr3Runner(bench, sr3), sr3.home)
    ours = run_tilde_sender(bench, SrRunner(bench, sr_bin, sr_env), sr_env["HOME"])
    assert theirs.relative_to(sr3.home).parent == ours.relative_to(sr_env["HOME"]).parent
    assert theirs.read_bytes() == ours.read_bytes()


def publish_raw(url, ex, messages):
    """Publishes v03 messages as they are, whatever they say, with Python's amqp (which
    tools/deps.sh installs for sr3)."""
    amqp = pytest.importorskip("amqp")
    u = urlsplit(url)
    conn = amqp.Connection(f"{u.hostname}:{u.port}", userid=unquote(u.username),
                           password=unquote(u.password), virtual_host="/")
    conn.connect()
    try:
        ch = conn.channel()
        for m in messages:
            ch.basic_publish(amqp.Message(json.dumps(m), content_type="application/json"),
                             exchange=ex, routing_key="v03.sub")
    finally:
        conn.close()


def test_sender_keeps_a_message_inside_the_remote_directory(bench, sr_bin, sr_env):
    """Whatever relPath a message gives, the file stays beneath the remote `directory`: a
    relPath climbing out with ".." is refused, nothing is written outside."""
    runner = SrRunner(bench, sr_bin, sr_env)
    ex = bench.exchange("sr")
    (bench.src / "sub" / "good.dat").write_bytes(b"good\n")
    (bench.src / "escape.dat").write_bytes(b"bad\n")
    inside = bench.sftp_abs / "inside"
    log = runner.start("sender", "jail", f"""
        broker {bench.url}
        exchange {ex}
        subtopic #
        baseDir {bench.src}
        sendTo sftp://{SshHome.ALIAS}/
        directory {inside}
        mirror on
        accept .*
        """)
    # first the one that must be refused: once good.dat is there, it has been dealt with
    # (published raw: sr_broker_tool refuses to publish such a relPath)
    publish_raw(bench.url, ex, [v03("file:/", "sub/../../absolute/escape.dat", b"bad\n"),
                                v03("file:/", "sub/good.dat", b"good\n")])
    assert wait_until(lambda: (inside / "sub" / "good.dat").exists(), TIMEOUT), log.read_text()
    assert (inside / "sub" / "good.dat").read_bytes() == b"good\n"
    landed = sorted(str(p.relative_to(bench.tmp)) for p in bench.tmp.rglob("escape.dat"))
    assert landed == ["src/escape.dat"], landed
    refused = [line for line in log.read_text().splitlines() if "escape.dat" in line]
    assert refused and all("climbs out" in line for line in refused), refused


# ---- downloads ----

def download_cases(b, proto):
    """{case: (baseUrl, relPath (NAME for the file's name), the folder holding the file it
    must read, the folder of the one it must not, or None)}."""
    if proto == "http":  # the URL's path, no login folder
        folder = b.nginx.root / b.http_dir
        return {
            "hpath": (b.nginx.url(f"/{b.http_dir}"), "NAME", folder, None),
            "hslash": (b.nginx.url("/"), f"{b.http_dir}/NAME", folder, None),
            "hhost": (b.nginx.url(), f"{b.http_dir}/NAME", folder, None),
        }
    if proto == "sftp":
        login, a = b.sshd.root, str(b.sftp_abs).lstrip("/")
        host = f"sftp://{SshHome.ALIAS}"
        absolute, in_login = b.sftp_abs, login / a
        return {
            "path": (f"{host}/{a}", "NAME", absolute, in_login),
            "dbl": (f"{host}//{a}", "NAME", absolute, in_login),
            "slash": (f"{host}/", f"{a}/NAME", absolute, in_login),
            "host": (host, f"{a}/NAME", in_login, absolute),
            "hostabs": (host, f"/{a}/NAME", absolute, in_login),
        }
    host = b.ftpd.url()
    absolute, in_login = b.ftpd.root / b.ftp_abs, b.ftp_login / b.ftp_abs
    return {
        "path": (f"{host}/{b.ftp_abs}", "NAME", absolute, in_login),
        "dbl": (f"{host}//{b.ftp_abs}", "NAME", absolute, in_login),
        "slash": (f"{host}/", f"{b.ftp_abs}/NAME", absolute, in_login),
        "host": (host, f"{b.ftp_abs}/NAME", in_login, absolute),
    }


def run_download(b, runner, proto):
    """Plants, per case, a file at the place sr3 reads and another at the place it does
    not; runs runner's subscriber; returns {case: bytes downloaded}, having checked that
    each is the right one."""
    who = runner.name
    ex = b.exchange(who)
    out = b.tmp / f"out_{who}_{proto}"
    cases = download_cases(b, proto)
    right = {}
    messages = []
    for case, (base, rel, good, bad) in cases.items():
        name = f"{who}-{case}.dat"
        right[case] = f"right {case} ".encode() + secrets.token_bytes(3000)
        for folder, content in ((good, right[case]), (bad, f"wrong {case}\n".encode())):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(content)
        messages.append(v03(base, rel.replace("NAME", name)))
    log = runner.start("subscribe", f"rp_{proto}", f"""
        broker {b.url}
        exchange {ex}
        subtopic #
        directory {out}
        mirror off
        accept .*
        """)
    b.publish(ex, messages)
    done = wait_until(lambda: all((out / f"{who}-{c}.dat").exists() for c in cases), TIMEOUT)
    got = {c: (out / f"{who}-{c}.dat").read_bytes() if (out / f"{who}-{c}.dat").exists()
           else None for c in cases}
    wrong = [f"{c} ({cases[c][0]} + {cases[c][1]}): got {got[c][:12] if got[c] else None}"
             for c in cases if got[c] != right[c]]
    assert done and not wrong, "\n".join(wrong) + "\n" + log.read_text(errors="replace")[-4000:]
    return got


@pytest.mark.parametrize("proto", ["sftp", "ftp", "http"])
def test_sr_download_reads_where_sr3_reads(bench, sr_bin, sr_env, proto):
    """sr alone: a baseUrl with a path (even "/") names an absolute path on the server; a
    baseUrl ending at the host, with a relative relPath, a path in the login folder."""
    run_download(bench, SrRunner(bench, sr_bin, sr_env), proto)


@needs_sr3
@pytest.mark.parametrize("proto", ["sftp", "ftp", "http"])
def test_download_sr_and_sr3_read_the_same_files(bench, sr_bin, sr_env, sr3, proto):
    """The same messages fetched by sr3 and by sr: the same remote file each time."""
    theirs = run_download(bench, Sr3Runner(bench, sr3), proto)
    ours = run_download(bench, SrRunner(bench, sr_bin, sr_env), proto)
    assert theirs.keys() == ours.keys()
    for case in theirs:
        assert theirs[case].split(b" ")[:2] == ours[case].split(b" ")[:2] == \
            [b"right", case.encode()], case
