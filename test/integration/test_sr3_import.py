# SPDX-License-Identifier: GPL-2.0-only
"""`sr import`: an sr3 user's ~/.config/sr3 brought over as a whole.

Every configuration sr can run is imported (and then loads in sr); every one it cannot is
named with file and line and the reason, and the exit status says something was left.
The hot-directory guide's tree (../shared/spec/seeds/hot-directory-to-cluster.md: its
default.conf of `declare env` lines, the watch, the sender with 5 instances) imports
cleanly.
"""
import json
import re
import shutil
import stat
import textwrap
from pathlib import Path

from helpers import run_sr as sr
from sr3peer import PEERS, needs_sr3

TIMEOUT = 120
EXAMPLES = PEERS / "sarracenia" / "sarracenia" / "examples"
SR_COMPONENTS = {"post", "watch", "subscribe", "sarra", "shovel", "sender", "winnow"}


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
    # poll and flow configs cannot come: something was not imported
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
