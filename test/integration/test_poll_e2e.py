# SPDX-License-Identifier: GPL-2.0-only
"""A pump fed by a server that announces nothing (issue 17): sr_poll lists an sftp drop box,
sr_sarra fetches what it announces into the pump's tree and announces that, sr_subscribe
copies the pump's tree. A remote tree of 500 files (sub-folders, sizes from 0 to 300 KB)
arrives intact at the subscriber (sha512 of every file equal to the source's), and the
poll's messages, which say the content is computed on download (identity cod,sha512),
come out of the sarra with the sha512 it computed while downloading.

SR_POLL_PEER=sr3 runs Python sr3's poll in place of sr_poll (see test_poll.py).
"""
import base64
import hashlib
import os
import secrets
import time

from fixtures_ssh import SshHome
from helpers import Component, snapshot_tree, wait_until, write_config
from polling import IDENTITY_COD, Announced, Side, make_sites, write_file

TIMEOUT = 180  # 500 files through three components; a loaded machine is many times slower
FILES = 500


def sha512_b64(path):
    return base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_poll_sarra_subscribe_copies_a_remote_tree_of_500_files_intact(
        request, sshd, rabbitmq, broker_tool, sr_bin, sr_env, tmp_path):
    tok = secrets.token_hex(3)
    SshHome(sr_env["HOME"], sshd)
    if os.environ.get("SR_POLL_PEER") == "sr3":
        side = Side("sr3", tmp_path, sr3=request.getfixturevalue("sr3"))
        SshHome(side.home, sshd)
    else:
        side = Side("sr", tmp_path, sr_bin=sr_bin, env=sr_env)
    site = make_sites("sftp", tok, sshd=sshd)
    sizes = [0, 1, 700, 5000, 70000, 300000, 12345]
    hour_ago = int(time.time()) - 3600  # (younger than the poll's fileAgeMax, 30 days)
    for i in range(FILES):
        sub = "" if i % 5 == 0 else f"g{i % 4}/" + ("" if i % 3 else f"h{i % 2}/")
        write_file(site.data / f"{sub}f{i:03d}.bin", sizes[i % len(sizes)],
                   hour_ago - i, seed=f"{tok}{i}".encode())
    for d in site.data.rglob("*"):
        if d.is_dir():
            d.chmod(0o755)
    want = snapshot_tree(site.data, read=sha512_b64)
    assert len(want) == FILES

    ex_poll, ex_pump = f"xs_tfeed_e2ep{tok}", f"xs_tfeed_e2es{tok}"
    pump, dest = tmp_path / "pump", tmp_path / "dest"
    polled = Announced(broker_tool, rabbitmq, ex_poll, tmp_path / "polled.jsonl")
    pumped = Announced(broker_tool, rabbitmq, ex_pump, tmp_path / "pumped.jsonl")
    side.config("drop", site.config(rabbitmq.url("tfeed"), ex_poll, paths=("data",)))
    write_config(sr_env, "sarra", "pump", f"""
        broker {rabbitmq.url("tfeed")}
        exchange {ex_poll}
        subtopic #
        directory {pump}
        mirror on
        inflight .tmp
        post_broker {rabbitmq.url("tfeed")}
        post_exchange {ex_pump}
        post_baseUrl file:{pump}
        post_baseDir {pump}
        """)
    write_config(sr_env, "subscribe", "copy", f"""
        broker {rabbitmq.url("tsub")}
        exchange {ex_pump}
        subtopic #
        directory {dest}
        mirror on
        inflight .tmp
        allowFileUrl on
        """)
    started = []
    try:
        for component, name in (("sarra", "pump"), ("subscribe", "copy")):
            c = Component(sr_bin, sr_env, component, name, tmp_path / f"{name}.log")
            started.append(c)
            c.wait_ready()
        started.append(side.start("drop"))
        # the relPaths keep the remote folder's path: dest/<that path>/<file>
        landed = dest / site.rel("data", "").rstrip("/")
        assert wait_until(lambda: snapshot_tree(landed, read=None).keys() >= want.keys(),
                          TIMEOUT, 1), \
            (len(snapshot_tree(landed, read=None)), started[0].text()[-3000:])
        assert wait_until(lambda: len(pumped.messages()) >= FILES, TIMEOUT)
    finally:
        for c in started:
            c.stop()
        polled.stop()
        pumped.stop()

    assert snapshot_tree(landed, read=sha512_b64) == want
    prefix = site.rel("data", "")
    files_polled = [m for m in polled.messages() if "fileOp" not in m]
    assert len(files_polled) == FILES
    assert all(m.get("identity") == IDENTITY_COD for m in files_polled), \
        [m.get("identity") for m in files_polled if m.get("identity") != IDENTITY_COD][:3]
    out = {m["relPath"].lstrip("/")[len(prefix):]: m for m in pumped.messages()
           if "fileOp" not in m}
    assert len(out) == FILES == len([m for m in pumped.messages() if "fileOp" not in m])
    wrong = [(rel, m.get("identity")) for rel, m in out.items()
             if m.get("identity") != {"method": "sha512", "value": want.get(rel)}]
    assert not wrong, wrong[:5]
    assert started[1].count("downloaded ") == FILES
