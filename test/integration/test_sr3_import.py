# SPDX-License-Identifier: GPL-2.0-only
"""`sr import`: an sr3 user's ~/.config/sr3 brought over as a whole.

Every configuration sr can run is imported (and then loads in sr); every one it cannot is
named with file and line and the reason, and the exit status says something was left.
The hot-directory guide's tree (../shared/spec/seeds/hot-directory-to-cluster.md: its
default.conf of `declare env` lines, the watch, the sender with 5 instances) imports
cleanly, and so does a poll of a plain server written the sr3 way; sr3's example polls,
which all read APIs through poll plugins, are each named with the line sr cannot run.
"""
import json
import re
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

from helpers import run_sr as sr
from sr3peer import PEERS, needs_sr3

TIMEOUT = 120
EXAMPLES = PEERS / "sarracenia" / "sarracenia" / "examples"
SR_COMPONENTS = {"post", "watch", "poll", "subscribe", "sarra", "shovel", "sender", "winnow"}


@needs_sr3
def test_every_sr3_example_is_imported_or_named_with_file_line_and_reason(
        tmp_path, build_dir, sr_env):
    tree = tmp_path / "sr3tree"
    files = sorted(EXAMPLES.glob("*/*.conf")) + sorted(EXAMPLES.glob("*/*.inc")) + \
        sorted(EXAMPLES.glob("*.inc"))
    assert len(files) > 40
    for f in files:
        dest = tree / f.relative_to(EXAMPLES)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    r = sr(build_dir, sr_env, "import", str(tree), check=False)
    out = r.stdout + r.stderr
    # flow configs cannot come, nor sr3's example polls (plugins): something was not imported
    assert r.returncode == 1, out
    cfg = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    imported, refused = [], []
    for src in sorted(tree.glob("*/*.conf")):
        component = src.parent.name
        if component not in SR_COMPONENTS:
            assert f"{src}: not imported: sr has no {component} component" in out, src
            continue
        dest = cfg / component / src.name
        if dest.exists():
            assert dest.read_bytes() == src.read_bytes()
            imported.append(f"{component}/{src.stem}")
        else:
            # named, with the line sr refuses and why
            assert f"not imported {src}: sr refuses it" in out, src
            assert re.search(rf"error: {re.escape(str(src))}:\d+: \S", out), f"{src}\n{out}"
            refused.append(src)
    assert imported, out
    # imported means sr can run it: each loads
    for spec in imported:
        sr(build_dir, sr_env, "show", spec)
    # each line sr does not honour in an imported config is named file:line
    for line in out.splitlines():
        if line.startswith(str(tree)) and "not imported" not in line and "becomes" not in line:
            assert re.match(rf"{re.escape(str(tree))}/\S+:\d+: ", line), line
    # the .inc files come too (includes of the configs that came)
    assert (cfg / "block_reassembly.inc").exists()
    assert (cfg / "shovel" / "no_trouble_f00.inc").exists()
    print(f"imported {len(imported)}, refused {len(refused)}")


# The hot-directory guide's configurations, as written there (hosts and users as in the
# guide). The guide's default.conf uses ${CLUSTER_SHORT_NAME} without declaring it and its
# UPLOADING_EXCHANGE line is wrapped in the page: declared here, and on one line.
HOT_DEFAULT = """
    # Upload Location Settings.
    declare env CLUSTER_SSH_HOSTNAME=hpfx
    declare env CLUSTER_SSH_USERNAME=pas037
    declare env CLUSTER_SSH_FOLDER=/home/${CLUSTER_SSH_USERNAME}/on_${CLUSTER_SSH_HOSTNAME}
    declare env CLUSTER_SHORT_NAME=hpfx

    # Local File Settings:
    declare env UPLOADING_HOST=loli
    declare env UPLOADING_HOST_USER=bob
    declare env UPLOADING_HOST_FOLDER=/home/${UPLOADING_HOST_USER}/to_${CLUSTER_SSH_HOSTNAME}

    # Transfer Management Settings
    declare env CLUSTER_AMQP_BROKER=hpfx.collab.science.gc.ca
    declare env CLUSTER_AMQP_USER=${CLUSTER_SSH_USERNAME}
    declare env UPLOADING_EXCHANGE=xs_${CLUSTER_AMQP_USER}_from_${UPLOADING_HOST}_${UPLOADING_HOST_USER}_to_${CLUSTER_SHORT_NAME}
    declare env CLUSTER_EXCHANGE=xs_${CLUSTER_AMQP_USER}_on_${CLUSTER_SHORT_NAME}
    """
HOT_BROKER_INC = """
    broker amqps://${CLUSTER_AMQP_USER}@${CLUSTER_AMQP_BROKER}/
    """
HOT_WATCH = """
    post_broker amqps://${CLUSTER_AMQP_USER}@${CLUSTER_AMQP_BROKER}/
    post_exchange ${UPLOADING_EXCHANGE}
    post_baseUrl sftp://${UPLOADING_HOST_USER}@${UPLOADING_HOST}/
    post_baseDir ${UPLOADING_HOST_FOLDER}
    path ${UPLOADING_HOST_FOLDER}
    fileEvents -delete,rmdir
    """
HOT_SENDER = """
    include to_hpfx_broker.inc
    exchange ${UPLOADING_EXCHANGE}
    instances 5
    sendTo sftp://${CLUSTER_SSH_HOSTNAME}/
    directory ${CLUSTER_SSH_FOLDER}
    mirror off
    fileEvents -delete,rmdir
    accept .*
    """


def test_the_hot_directory_tree_imports_cleanly(tmp_path, build_dir, sr_env):
    """default.conf with its declare env lines, admin.conf, credentials.conf (kept
    private), an .inc, the watch and the 5-instance sender: all copied, byte for byte,
    nothing reported, exit 0; sr then resolves them as the guide means."""
    tree = tmp_path / "sr3"
    files = {
        "default.conf": HOT_DEFAULT,
        "admin.conf": "admin amqps://pas037@hpfx.collab.science.gc.ca/\n",
        "credentials.conf": "amqps://pas037:pas037_password@hpfx.collab.science.gc.ca\n",
        "sender/to_hpfx_broker.inc": HOT_BROKER_INC,
        "watch/to_hpfx.conf": HOT_WATCH,
        "sender/to_hpfx.conf": HOT_SENDER,
    }
    for rel, text in files.items():
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip())
    r = sr(build_dir, sr_env, "import", str(tree), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problem(s) reported" in r.stdout, r.stdout
    cfg = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    for rel in files:
        assert (cfg / rel).read_bytes() == (tree / rel).read_bytes(), rel
    assert stat.S_IMODE((cfg / "credentials.conf").stat().st_mode) == 0o600
    sender = json.loads(sr(build_dir, sr_env, "show", "--json", "sender/to_hpfx").stdout)
    opts = sender["options"]
    assert opts["instances"]["value"] == 5
    assert opts["directory"]["value"] == "/home/pas037/on_hpfx"
    assert opts["sendTo"]["value"].rstrip("/") == "sftp://hpfx"
    assert opts["exchange"]["value"] == "xs_pas037_from_loli_bob_to_hpfx"
    # the password is found in the imported credentials.conf (shown hidden)
    assert opts["broker"]["value"] == "amqps://pas037:***@hpfx.collab.science.gc.ca/"
    watch = json.loads(sr(build_dir, sr_env, "show", "--json", "watch/to_hpfx").stdout)
    assert watch["options"]["post_exchange"]["value"] == "xs_pas037_from_loli_bob_to_hpfx"
    assert "/home/bob/to_hpfx" in json.dumps(watch["options"]["path"]["value"])
    # again: everything exists, nothing is overwritten without --force, and it says so
    r = sr(build_dir, sr_env, "import", str(tree), check=False)
    assert r.returncode == 1 and "--force" in r.stdout


def problems_of(out, src):
    """The lines sr import printed about src that are not warnings: refused lines
    (src:N: ...) and errors (error: src:N: ...)."""
    return [line for line in out.splitlines()
            if re.match(rf"(error: )?{re.escape(str(src))}:\d+: ", line)]


@needs_sr3
def test_sr3_example_polls_that_need_a_plugin_are_named_with_the_plugin_line(
        tmp_path, build_dir, sr_env):
    """Every poll among sr3's examples reads an API through a poll plugin (poll.airnow,
    poll.nasa_cmr, gather.usgs...), which sr does not have: none is imported to run, and
    each is named with file and line, the plugin's line wherever sr read that far."""
    tree = tmp_path / "sr3tree"
    shutil.copytree(EXAMPLES / "poll", tree / "poll")
    polls = sorted((tree / "poll").glob("*.conf"))
    assert len(polls) >= 10
    # the variable the examples expect from the operator (their comments say so)
    env = dict(sr_env, FLOWBROKER="localhost")
    r = sr(build_dir, env, "import", str(tree), check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    cfg = Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "poll"
    plugin_lines = 0
    for src in polls:
        problems = problems_of(out, src)
        assert problems, f"{src}: imported as if it could run\n{out}"
        if not (cfg / src.name).exists():
            # sr cannot read it at all (a value it refuses): not copied, the line named
            assert f"not imported {src}: sr refuses it" in out, src
            assert any(p.startswith("error: ") for p in problems), problems
            continue
        # copied for its owner to mend; `sr start` refuses it until then, naming each
        # line; the plugin's among them
        for n, line in enumerate(src.read_text().splitlines(), 1):
            words = line.split()
            if words[:1] == ["callback"] and not words[1].startswith(("log", "nodupe")):
                assert any(p.startswith(f"{src}:{n}: callback {words[1]}: no sr plugin named")
                           for p in problems), f"{src}:{n}\n{out}"
                plugin_lines += 1
        sr(build_dir, env, "show", f"poll/{src.stem}")  # sr reads it
        run = subprocess.run([str(build_dir / "bin" / "sr_poll"), "check", src.stem],
                             env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert run.returncode == 1 and "refused" in run.stderr, run.stderr
    assert plugin_lines >= 5, out


SR3_POLL = """
    # a data logger's sftp drop box, as sr3 users write a poll: in a poll, broker is
    # where it posts and destination the server it lists; sleep is its interval
    broker amqps://bob@broker.example.com/
    post_exchange xs_bob_logger
    destination sftp://bob@logger.example.com/
    path /data/outgoing
    sleep 300
    accept .*\\.csv$
    reject .*
    """


def test_a_plain_sr3_poll_imports_cleanly_and_means_the_same(tmp_path, build_dir, sr_env):
    """A poll of an sftp server with no plugin comes over as it is, nothing reported, and
    sr reads sr3's poll spellings as sr3 does."""
    tree = tmp_path / "sr3"
    (tree / "poll").mkdir(parents=True)
    (tree / "poll" / "logger.conf").write_text(textwrap.dedent(SR3_POLL).lstrip())
    (tree / "credentials.conf").write_text(
        "amqps://bob:pw@broker.example.com/\nsftp://bob@logger.example.com ssh_keyfile=~/k\n")
    r = sr(build_dir, sr_env, "import", str(tree), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problem(s) reported" in r.stdout, r.stdout
    doc = json.loads(sr(build_dir, sr_env, "show", "--json", "poll/logger").stdout)
    opts = doc["options"]
    assert opts["pollUrl"]["value"] == "sftp://bob@logger.example.com/"
    assert opts["post_broker"]["value"] == "amqps://bob:***@broker.example.com/"
    assert opts["broker"]["value"] is None  # no vip: it reads nothing
    assert opts["post_baseUrl"]["value"] == "sftp://bob@logger.example.com/"
    assert opts["scheduled_interval"]["value"] == 300
    assert opts["identity"]["value"] == "cod,sha512"
    run = subprocess.run([str(build_dir / "bin" / "sr_poll"), "check", "logger"], env=sr_env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0 and "configuration OK" in run.stderr, run.stderr
