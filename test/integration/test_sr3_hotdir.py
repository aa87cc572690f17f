# SPDX-License-Identifier: GPL-2.0-only
"""Issue 16's acceptance: the hot-directory guide's configurations, run by sr and by sr3.

The guide (../shared/spec/seeds/hot-directory-to-cluster.md) has a user write a
default.conf of `declare env` lines, a watch on the hot folder and a sender with 5
instances that pushes over sftp to the folder the cluster's absolute
CLUSTER_SSH_FOLDER names, into ~/.config/sr3, then run `sr3 declare` and start them.
An operator moving to sr keeps that tree, runs `sr import`, `sr declare`, `sr start`.

HotGuide writes those configurations as the guide gives them, with only the host names,
users and folders changed for the test servers: the ssh alias is fixtures_ssh's
`cluster` (its ~/.ssh/config gives HostName, Port, User, key), the broker is the test
RabbitMQ on 127.0.0.1 (plain amqp: the guide's amqps would need our throw-away CA in
sr3's Python), the folders are under the test's tmp folder. Two lines of the guide are
not as it prints them, each noted where it is written: its UPLOADING_EXCHANGE line is
wrapped in two in the document (a second line `to_${CLUSTER_SHORT_NAME}` that sr3
itself reports as an error), joined here; CLUSTER_SHORT_NAME is used and never
declared, which both sr and sr3 leave as written, so it stays.

The watch and sender files themselves are not in the seed copy of the guide (it points
at a loli_config tree beside it): they are written from what the guide and issue 16
say of them (post to UPLOADING_EXCHANGE from UPLOADING_HOST_FOLDER; `sendTo
sftp://<alias>/`, `directory ${CLUSTER_SSH_FOLDER}`, `instances 5`, `fileEvents
-delete,rmdir`, `accelThreshold 1M`, `inflight .tmp`, `nodupe_ttl on`, `reject
.*.tmp$`), the lines of the guide's earlier edition for the rest. The sender reads the
files beneath `baseDir ${UPLOADING_HOST_FOLDER}`: the watch announces paths relative to
the hot folder (post_baseUrl file:<hot folder>), and without baseDir sr3's sender reads
/<relPath> (it fails: "could not chdir to /a") while sr refuses to start a sender
without one (sr-security(7)).

The remote folder is deliberately outside the sshd's login folder: a sender that reads
an absolute `directory` as relative to the login folder lands the files under
<login>/<that path>, which the tests look for and name.
"""
import hashlib
import os
import random
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fixtures_ssh import SshHome
from helpers import snapshot_tree, wait_until
from sr3peer import Sr3, needs_sr3

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
TIMEOUT_1000 = 420  # the 1,000 files through five sr3 (Python) senders on 2 busy cores
SENDERS = 5


class HotGuide:
    """The guide's tree for one user: ~/.config/sr3 of `home` (which is also the HOME of
    the sr processes, and an ssh client HOME for the test sshd), the hot folder, the
    absolute remote folder, and the names the configurations resolve to."""

    def __init__(self, home, rabbitmq, sshd, base, host):
        self.home = Path(home)
        self.sshd = sshd
        self.rabbitmq = rabbitmq
        self.ssh = SshHome(self.home, sshd)  # Host cluster in ~/.ssh/config
        url = urlparse(rabbitmq.url("tfeed"))
        self.amqp_user, self.amqp_password = url.username, url.password
        self.broker_hostport = f"{url.hostname}:{url.port}"
        self.host = host  # UPLOADING_HOST: one per run, so each run has its exchange
        self.local_root = Path(base) / "loli"
        self.remote_root = Path(base) / "hpfx"
        self.hot = self.local_root / "home" / "bob" / f"to_{SshHome.ALIAS}"
        self.remote = self.remote_root / "home" / sshd.user / f"on_{SshHome.ALIAS}"
        # where a sender that takes the absolute folder as relative to the login folder
        # puts the files (the known sr bug of issue 16)
        self.misplaced = sshd.root / str(self.remote).lstrip("/")
        self.exchange = (f"xs_{self.amqp_user}_from_{host}_bob_to_"
                         "${CLUSTER_SHORT_NAME}")
        self.sr3_tree = self.home / ".config" / "sr3"

    def write(self):
        """The guide's steps: mkdir of the hot folder and of the remote one, the broker
        credentials in credentials.conf, default.conf, watch/to_hpfx, sender/to_hpfx.
        Returns the Sr3 of this HOME."""
        self.hot.mkdir(parents=True, exist_ok=True)
        self.remote.mkdir(parents=True, exist_ok=True)
        peer = Sr3(self.home)
        peer.write_file("credentials.conf", f"""
            amqp://{self.amqp_user}:{self.amqp_password}@{self.broker_hostport}
            """)
        # Host names, users and folders are the test's; every line else is the guide's
        # (its UPLOADING_EXCHANGE line joined: the document wraps it in two).
        peer.write_file("default.conf", f"""
            # Upload Location Settings.
            declare env CLUSTER_SSH_HOSTNAME={SshHome.ALIAS}
            declare env CLUSTER_SSH_USERNAME={self.sshd.user}

            # the absolute folder on the cluster the files go to
            declare env CLUSTER_SSH_FOLDER={self.remote_root}/home/${{CLUSTER_SSH_USERNAME}}/on_${{CLUSTER_SSH_HOSTNAME}}

            # Local File Settings:
            declare env UPLOADING_HOST={self.host}
            declare env UPLOADING_HOST_USER=bob
            declare env UPLOADING_HOST_FOLDER={self.local_root}/home/${{UPLOADING_HOST_USER}}/to_${{CLUSTER_SSH_HOSTNAME}}

            # Transfer Management Settings
            declare env CLUSTER_AMQP_BROKER={self.broker_hostport}
            declare env CLUSTER_AMQP_USER={self.amqp_user}
            declare env UPLOADING_EXCHANGE=xs_${{CLUSTER_AMQP_USER}}_from_${{UPLOADING_HOST}}_${{UPLOADING_HOST_USER}}_to_${{CLUSTER_SHORT_NAME}}
            declare env CLUSTER_EXCHANGE=xs_${{CLUSTER_AMQP_USER}}_on_${{CLUSTER_SHORT_NAME}}
            """)
        peer.write_config("watch", "to_hpfx", """
            post_broker amqp://${CLUSTER_AMQP_USER}@${CLUSTER_AMQP_BROKER}
            post_exchange ${UPLOADING_EXCHANGE}

            post_baseUrl file:${UPLOADING_HOST_FOLDER}
            path ${UPLOADING_HOST_FOLDER}

            fileEvents -delete,rmdir

            nodupe_ttl on

            reject .*.tmp$
            accept .*
            """)
        peer.write_config("sender", "to_hpfx", f"""
            broker amqp://${{CLUSTER_AMQP_USER}}@${{CLUSTER_AMQP_BROKER}}
            exchange ${{UPLOADING_EXCHANGE}}

            # the Host alias of ~/.ssh/config
            sendTo sftp://${{CLUSTER_SSH_HOSTNAME}}/
            directory ${{CLUSTER_SSH_FOLDER}}

            # the files are read beneath the hot folder
            baseDir ${{UPLOADING_HOST_FOLDER}}

            instances {SENDERS}

            fileEvents -delete,rmdir

            accelThreshold 1M

            inflight .tmp

            nodupe_ttl on

            reject .*.tmp$
            accept .*
            """)
        return peer

    def remote_tree(self, read=None):
        return snapshot_tree(self.remote, read=read)

    def arrived(self, files):
        """True once every file is in the remote folder, or in the misplaced one (then
        waiting longer changes nothing)."""
        there = set(self.remote_tree())
        if self.misplaced.exists():
            there |= set(snapshot_tree(self.misplaced, read=None))
        return set(files) <= there

    def misplaced_files(self):
        return sorted(snapshot_tree(self.misplaced, read=None, partial=True)) \
            if self.misplaced.exists() else []


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def drop_files(hot, count, seed, renames=True):
    """count files dropped in the hot folder as users drop them, while the watch runs:
    most small and written in place, one in ten moved in from beside the hot folder
    (mv), one in ten written as NAME.tmp and renamed (the guide's `reject .*.tmp$`),
    some in folders made on the way. None reaches accelThreshold (1M): above it sr3 runs
    /usr/bin/scp, and OpenSSH reads ~/.ssh/config from the passwd entry's home, not
    $HOME, so the test's `cluster` alias is unknown to it ("Connection closed"), while
    paramiko (sr3's sftp) and sr read it from $HOME. renames=False writes the NAME.tmp
    ones in place instead. Returns {relPath: sha256}."""
    rng = random.Random(seed)
    staging = hot.parent / f"staging_{hot.name}"
    staging.mkdir(exist_ok=True)
    sizes = ([0] * 10 + [rng.randint(1, 8192) for _ in range(count - 110)]
             + [rng.randint(8193, 256 << 10) for _ in range(90)]
             + [rng.randint(512 << 10, 999_999) for _ in range(10)])
    rng.shuffle(sizes)
    block = rng.randbytes(4 << 20)
    files = {}
    for i, size in enumerate(sizes):
        folder = rng.choice(["", "", "", "a/", "b/", "b/c/"])
        rel = f"{folder}f{i:04d}.dat"
        (hot / folder).mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(min(size, 32)) + block[i:i + max(size - 32, 0)]
        assert len(data) == size
        if i % 10 == 1:
            moved = staging / f"m{i:04d}"
            moved.write_bytes(data)
            os.rename(moved, hot / rel)
        elif i % 10 == 2 and renames:
            tmp = hot / f"{rel}.tmp"
            tmp.write_bytes(data)
            os.rename(tmp, hot / rel)
        else:
            (hot / rel).write_bytes(data)
        files[rel] = sha256(data)
    return files


def sr(sr_bin, env, *args, timeout=TIMEOUT):
    return subprocess.run([sr_bin("sr"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def sr_logs(env):
    return Path(env["XDG_CACHE_HOME"]) / "sr" / "log"


def sr_log(env, component, n):
    path = sr_logs(env) / f"{component}_to_hpfx_{n:02d}.log"
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def sr_run(sr_bin, sr_env):
    """sr_env, and `sr stop` of whatever the test started, pass or fail."""
    sr_env.pop("SSH_AUTH_SOCK", None)
    yield sr_env
    sr(sr_bin, sr_env, "stop", "--wait", "10", timeout=60)


def assert_landed_intact(guide, files, who, logs):
    """Every file in the absolute remote folder, under its final name and intact; nothing
    else there, nothing under the login folder; the folders the hot folder had."""
    got, dirs = snapshot_tree(guide.remote, partial=True, folders=True)
    assert not guide.misplaced_files(), \
        (who, f"files under the login folder ({guide.misplaced}), not in {guide.remote}",
         len(guide.misplaced_files()), guide.misplaced_files()[:5])
    assert len(set(files) & set(got)) == len(files), \
        (who, len(set(files) & set(got)), "of", len(files), "landed", logs[-3000:])
    leftovers = sorted(r for r in got if r.endswith(".tmp"))
    assert not leftovers, (who, "left under a temporary name", leftovers[:10])
    wrong = sorted(r for r in set(got) | set(files) if got.get(r) != files.get(r))
    assert not wrong, (who, len(wrong), wrong[:10], logs[-3000:])
    # the same layout as the hot folder: its folders, and no other
    assert dirs == {"a", "b", "b/c"}, (who, sorted(dirs))


@needs_sr3
def test_guide_imported_and_started_by_sr(rabbitmq, sshd, sr_bin, sr_run, tmp_path):
    """The guide's tree, `sr import`ed, `sr declare`d, `sr start`ed: the watch and five
    sender instances run; 1,000 files dropped in the hot folder land in the absolute
    remote folder the sender's `directory` names, intact, none under a temporary name,
    each sent once, the five senders sharing the work."""
    env = sr_run
    started = time.monotonic()
    guide = HotGuide(env["HOME"], rabbitmq, sshd, tmp_path, f"loli{secrets.token_hex(2)}")
    guide.write()

    # the operator's steps, with sr
    r = sr(sr_bin, env, "import")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("default.conf", "credentials.conf", "watch/to_hpfx.conf",
                 "sender/to_hpfx.conf"):
        assert (Path(env["XDG_CONFIG_HOME"]) / "sr" / name).is_file(), (name, r.stdout)
    # `sr3 declare` makes the exchange the sender binds to: so does `sr declare`
    r = sr(sr_bin, env, "declare")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sr(sr_bin, env, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sender/to_hpfx: started 5 instance(s)" in r.stdout, r.stdout
    # ready: each sender has bound the queue, the watch has looked at the hot folder
    for n in range(1, SENDERS + 1):
        assert wait_until(lambda: "connected to" in sr_log(env, "sender", n), TIMEOUT), \
            (n, sr_log(env, "sender", n)[-3000:], r.stdout)
    assert wait_until(lambda: "entries known" in sr_log(env, "watch", 1), TIMEOUT), \
        sr_log(env, "watch", 1)[-3000:]

    files = drop_files(guide.hot, 1000, seed=16)
    wait_until(lambda: guide.arrived(files), TIMEOUT_1000)

    def sent():
        return [sr_log(env, "sender", n).count(f"sender/to_hpfx_{n:02d} sent ")
                for n in range(1, SENDERS + 1)]
    # each file sent once (a file sent twice shows in the count once it has settled)
    wait_until(lambda: sum(sent()) >= len(files), TIMEOUT)
    r = sr(sr_bin, env, "stop", "--wait", "30", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    logs = "".join(sr_log(env, "sender", n)[-1000:] for n in range(1, SENDERS + 1))
    assert_landed_intact(guide, files, "sr", logs)
    assert sum(sent()) == len(files), sent()
    assert min(sent()) >= 20, ("the five senders share the work", sent())
    for n in range(1, SENDERS + 1):
        assert " ERROR " not in sr_log(env, "sender", n), sr_log(env, "sender", n)[-3000:]
    print(f"\n1000 files through sr: {time.monotonic() - started:.1f} s from import to stop, "
          f"sent {sent()}")


@needs_sr3
def test_guide_run_by_sr3_lands_the_same_layout(rabbitmq, sshd, tmp_path):
    """sr3 given the same tree (`sr3 declare`, `sr3 start`) lands the same 1,000 files in
    the absolute remote folder, the same way: the layout sr must reproduce (the expected
    tree of both tests is the same: same seed, same folders)."""
    started = time.monotonic()
    guide = HotGuide(tmp_path / "sr3home", rabbitmq, sshd, tmp_path,
                     f"loli{secrets.token_hex(2)}")
    peer = guide.write()
    try:
        peer.run("declare")
        peer.start(expected=SENDERS + 1)
        # instance 1 declares and binds the queue the five share (the others log nothing
        # of it): from then on what the watch posts waits there for them
        assert wait_until(lambda: "binding" in peer.log("sender", "to_hpfx", 1), TIMEOUT), \
            peer.log("sender", "to_hpfx", 1)[-3000:]
        assert wait_until(lambda: "now active on" in peer.log("watch", "to_hpfx", 1),
                          TIMEOUT), peer.log("watch", "to_hpfx", 1)[-3000:]
        # NAME.tmp renamed in the hot folder makes sr3's watch announce a rename, sent by
        # one sender instance while another sends the file: the rename deletes the final
        # name before failing on the missing remote NAME.tmp, and the file is lost (seen:
        # 999 of 1000). sr3's race, not the layout under test: its run has no renames.
        files = drop_files(guide.hot, 1000, seed=16, renames=False)
        wait_until(lambda: guide.arrived(files), TIMEOUT_1000)

        def sent():
            return [peer.log("sender", "to_hpfx", n).count("sent ok: ")
                    for n in range(1, SENDERS + 1)]
        wait_until(lambda: sum(sent()) >= len(files), TIMEOUT)
    finally:
        peer.stop_all()
    logs = "".join(peer.log("sender", "to_hpfx", n)[-1000:] for n in range(1, SENDERS + 1))
    assert_landed_intact(guide, files, "sr3", logs)
    assert sum(sent()) == len(files), sent()
    print(f"\n1000 files through sr3: {time.monotonic() - started:.1f} s, sent {sent()}")
