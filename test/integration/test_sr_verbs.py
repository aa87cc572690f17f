# SPDX-License-Identifier: GPL-2.0-only
"""`sr convert`, `sr dump`, `sr overview`, `sr features`: sr3's remaining verbs, as an
operator moving from sr3 (or from v2) types them.

convert is checked against the real sr3 (../shared/peers): the same v2 files converted by
`sr3 convert` and by `sr convert` load to the same effective options (`sr3 show` against
`sr show --json`, option by option where both know the option).
"""
import json
import os
import textwrap
from pathlib import Path

import pytest

from helpers import wait_until, write_config, run_sr as sr
from sr3peer import Sr3, needs_sr3

TIMEOUT = 120


def dump_when(build_dir, env, ready):
    """The first `sr dump` document for which ready(doc) holds, or the last one read."""
    last = {}

    def check():
        last["doc"] = json.loads(sr(build_dir, env, "dump").stdout)
        return ready(last["doc"])
    wait_until(check, TIMEOUT)
    return last["doc"]


# ---- convert ----

# v2 configurations as v2 users wrote them: each exercises renames sr3's convert makes.
V2 = {
    "subscribe/dd": """
        # weather observations, v2 style
        broker amqps://anonymous@dd.weather.gc.ca/
        exchange xpublic
        subtopic observations.swob-ml.#
        mirror True
        directory /tmp/dd/${YYYYMMDD}
        sum d
        expire 1h
        on_message msg_log
        accept .*SWOB.*
        reject .*
        no_download
        """,
    "sender/tocluster": """
        broker amqp://bob@localhost/
        exchange xs_bob_hot
        subtopic #
        destination sftp://bob@cluster/
        directory /home/bob/on_cluster
        events create,modify
        sum s
        post_broker amqp://bob@localhost/
        post_exchange xs_bob_sent
        post_base_url sftp://bob@cluster
        accept .*\\.txt$
        plugin accel_scp
        """,
    "shovel/relay": """
        broker amqp://bob@localhost/
        exchange xs_bob_in
        subtopic v02.post.#
        topic_prefix v02.post
        post_broker amqp://bob@localhost/
        post_exchange xs_bob_out
        instances 3
        on_message msg_total
        cache_stat on
        """,
    "watch/hot": """
        path /tmp/hot
        post_broker amqp://bob@localhost/
        post_exchange xs_bob_hot
        post_base_url file:/tmp/hot
        events modify,create
        sum n
        """,
}

SR3_CREDENTIALS = "amqps://anonymous:anonymous@dd.weather.gc.ca/\namqp://bob:secret@localhost/\n"


def write_v2(config_root, spec, text):
    path = Path(config_root) / "sarra" / f"{spec}.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def norm_url(v):
    return None if v in (None, "None") else str(v).rstrip("/")


def sr3_masks(masks):
    """'accept PATTERN into DIR with mirror:X filename:Y' -> (kind, pattern, dir)."""
    out = []
    for m in masks:
        kind, rest = m.split(" ", 1)
        pattern, rest = rest.split(" into ", 1)
        directory = rest.split(" with ", 1)[0]
        out.append((kind, pattern, None if directory == "None" else directory))
    return out


# sr show's name -> (sr3 show's key, normaliser), for the options compared
SCALARS = {
    "broker": ("broker", norm_url),
    "post_broker": ("post_broker", norm_url),
    "sendTo": ("sendTo", norm_url),
    "post_baseUrl": ("post_baseUrl", lambda v: v),
    "exchange": ("exchange", lambda v: v),
    "directory": ("directory", lambda v: v),
    "identity": ("identity_method", lambda v: v),
    "acceptUnmatched": ("acceptUnmatched", bool),
    "download": ("download", bool),
    "mirror": ("mirror", bool),
    "expire": ("expire", lambda v: None if v is None else float(v)),
    "instances": ("instances", int),
    "topicPrefix": ("topicPrefix", lambda v: ".".join(v) if isinstance(v, list) else v),
}
SETS = ("fileEvents", "logEvents")
# compared even when the file does not set them: convert adds acceptUnmatched at the end
ALWAYS = ("acceptUnmatched", "download")


def effective_differences(sr_doc, sr3_opts):
    """The options the converted file sets whose effective values differ, as (name, sr's,
    sr3's). Defaults are left to the differential test: convert writes lines, and where
    sr's default differs from sr3's on purpose (expire) no line is involved."""
    diffs = []
    opts = sr_doc["options"]
    for name, (key, norm) in SCALARS.items():
        if name not in opts or key not in sr3_opts:
            continue
        if name not in ALWAYS and not str(opts[name].get("origin", "")).startswith(sr_doc["file"]):
            continue
        ours, theirs = opts[name]["value"], sr3_opts[key]
        if name in ("post_baseUrl",) and isinstance(theirs, list):
            theirs = theirs[0] if theirs else None
        if name == "identity" and ours == "none":
            ours = None  # sr3 shows the method none as None
        a = norm(ours) if ours is not None else None
        b = norm(theirs) if theirs is not None else None
        if name in ("acceptUnmatched", "download", "mirror"):
            a, b = bool(ours), bool(theirs)
        if a != b:
            diffs.append((name, ours, theirs))
    for name in SETS:
        if name in opts and name in sr3_opts:
            ours, theirs = set(opts[name]["value"] or []), set(sr3_opts[name] or [])
            if ours != theirs:
                diffs.append((name, sorted(ours), sorted(theirs)))
    if "masks" in sr3_opts:
        ours = [(m["kind"], m["pattern"], m["directory"]) for m in sr_doc["masks"]]
        if ours != sr3_masks(sr3_opts["masks"]):
            diffs.append(("masks", ours, sr3_opts["masks"]))
    if "bindings" in sr3_opts and sr_doc["component"] not in ("post", "watch"):
        ours = sorted((s["exchange"], s["pattern"]) for s in sr_doc["subtopics"])
        theirs = sorted((x, t) for x, _, topics in sr3_opts["bindings"] for t in topics)
        if ours != theirs:
            diffs.append(("subtopic", ours, theirs))
    return diffs


@pytest.fixture
def v2peer(tmp_path):
    """Python sr3 with a HOME whose path holds no "sr3": sr3 convert finds the v2 folder
    by replacing every "sr3" in its config folder's path with "sarra"."""
    peer = Sr3(tmp_path / "v2peer")
    try:
        yield peer
    finally:
        peer.stop_all()


@needs_sr3
def test_convert_gives_the_effective_options_of_the_reference(v2peer, build_dir, sr_env):
    """The same v2 configs converted by sr3 and by sr: every option both know has the same
    effective value; lines sr cannot carry are named; the clean ones exit 0."""
    sr3 = v2peer
    (sr3.home / ".config").mkdir(parents=True, exist_ok=True)
    sr3.write_file("credentials.conf", SR3_CREDENTIALS)
    for spec, text in V2.items():
        write_v2(sr3.home / ".config", spec, text)
        write_v2(sr_env["XDG_CONFIG_HOME"], spec, text)
    table = []
    for spec in V2:
        sr3.run("convert", spec)
        r = sr(build_dir, sr_env, "convert", spec, check=False)
        assert f"{spec}: converted to" in r.stdout, r.stdout + r.stderr
        assert r.returncode == 0, f"{spec}: every line has an sr form:\n{r.stdout}{r.stderr}"
        ours = json.loads(sr(build_dir, sr_env, "show", "--json", spec).stdout)
        theirs = sr3.show(spec)
        for name, a, b in effective_differences(ours, theirs):
            table.append(f"{spec:18} {name:16} sr: {a!r:40} sr3: {b!r}")
    print("\n".join(table))
    assert not table, "sr convert and sr3 convert differ:\n" + "\n".join(table)
    # what was dropped is said in the file
    sender = (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "sender" / "tocluster.conf").read_text()
    assert "sendTo sftp://bob@cluster/" in sender
    assert "post_baseUrl sftp://bob@cluster/" in sender
    assert "dropped" in sender and "accel_scp" in sender


def test_convert_keeps_plugins_commented_out_and_says_so(build_dir, sr_env):
    """A v2 plugin with no sr equivalent: the line is kept commented out with the reason,
    the report names file and line, and the exit status is 1."""
    src = write_v2(sr_env["XDG_CONFIG_HOME"], "subscribe/plug", """
        broker amqps://anonymous@dd.weather.gc.ca/
        subtopic #
        on_message msg_skip_old
        on_file my_own_plugin.py
        """)
    r = sr(build_dir, sr_env, "convert", "subscribe/plug", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{src}:3: on_message msg_skip_old" in r.stdout
    assert f"{src}:4: on_file my_own_plugin.py" in r.stdout
    assert "NOT fully converted" in r.stdout
    out = (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "subscribe" / "plug.conf").read_text()
    assert "#callback accept.skipold.SkipOld" in out
    assert "#on_file my_own_plugin.py" in out
    # the result loads: the commented lines are comments
    sr(build_dir, sr_env, "show", "subscribe/plug")
    # an existing config is kept without --force
    (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "subscribe" / "plug.conf").write_text("# mine\n")
    r = sr(build_dir, sr_env, "convert", "subscribe/plug", check=False)
    assert r.returncode == 1 and "--force" in r.stderr
    assert (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "subscribe" / "plug.conf").read_text() == "# mine\n"
    r = sr(build_dir, sr_env, "convert", "--force", "subscribe/plug", check=False)
    assert "broker" in (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "subscribe" / "plug.conf").read_text()


def test_convert_brings_v2_default_conf_that_every_config_reads(build_dir, sr_env):
    """v2's default.conf (which sr3 convert cannot convert) becomes sr's, in sr3 form, and
    a converted config reads it."""
    root = Path(sr_env["XDG_CONFIG_HOME"])
    (root / "sarra").mkdir(parents=True, exist_ok=True)
    (root / "sarra" / "default.conf").write_text("sum d\nloglevel debug\nchmod_log 600\n")
    write_v2(root, "subscribe/s", "broker amqps://anonymous@dd.weather.gc.ca/\nsubtopic #\n")
    sr(build_dir, sr_env, "convert", "default.conf")
    text = (root / "sr" / "default.conf").read_text()
    assert "identity md5" in text and "permLog 600" in text and "logLevel debug" in text
    sr(build_dir, sr_env, "convert", "subscribe/s")
    doc = json.loads(sr(build_dir, sr_env, "show", "--json", "subscribe/s").stdout)
    assert doc["options"]["identity"]["value"] == "md5"
    assert doc["options"]["identity"]["origin"].startswith(str(root / "sr" / "default.conf"))
    r = sr(build_dir, sr_env, "convert", "default.conf", check=False)
    assert r.returncode == 1 and "--force" in r.stderr


def test_convert_refuses_a_component_sr_lacks(build_dir, sr_env):
    write_v2(sr_env["XDG_CONFIG_HOME"], "report/r", "broker amqp://h/\n")
    r = sr(build_dir, sr_env, "convert", "report/r", check=False)
    assert r.returncode == 1 and "sr has no report component" in r.stderr
    assert not (Path(sr_env["XDG_CONFIG_HOME"]) / "sr" / "report").exists()
    r = sr(build_dir, sr_env, "convert", "subscribe/absent", check=False)
    assert r.returncode == 1 and "no v2 configuration" in r.stderr


# ---- features ----

def test_features_lists_protocols_formats_and_the_unsupported_options(build_dir, sr_env):
    """features --json: every protocol sr speaks is there and present in this build; the
    formats and components; each unsupported option it lists is one the loader names with
    that same reason."""
    doc = json.loads(sr(build_dir, sr_env, "features", "--json").stdout)
    for proto in ("amqp", "amqps", "mqtt", "mqtts", "sftp", "ftp", "ftps", "http", "https", "file"):
        assert doc["protocols"][proto]["present"] is True, proto
    assert doc["formats"] == ["v03", "v02", "wis"]
    assert {"sha512", "md5", "cod", "arbitrary", "random", "none"} <= set(doc["identityMethods"])
    assert doc["components"] == ["post", "watch", "subscribe", "sarra", "shovel", "sender",
                                 "winnow", "poll"]
    assert "poll" not in doc["absentComponents"] and "report" in doc["absentComponents"]
    unsupported = doc["unsupportedOptions"]
    assert "MemoryMax" in unsupported
    # the loader says the same of each (one config per option: whether the loader warns
    # or refuses, it names the first line it stops at)
    for name, reason in unsupported.items():
        write_config(sr_env, "subscribe", "unsupported",
                     f"broker amqp://anonymous@localhost/\nsubtopic #\n{name} x\n")
        r = sr(build_dir, sr_env, "show", "subscribe/unsupported", check=False)
        said = r.stdout + r.stderr
        assert f'"{name}"' in said and reason in said, f"{name}: {said[-2000:]}"
    text = sr(build_dir, sr_env, "features").stdout
    assert "Installed  amqp" in text and "Absent     report" in text


# ---- dump and overview ----

def test_dump_and_overview_follow_a_config_from_stopped_to_running_to_missing(
        rabbitmq, build_dir, sr_env):
    """Two configs, one disabled: dump and overview say stopped; started, the running one
    shows its process, its queue and -i1/1; killed, its instance is missing."""
    write_config(sr_env, "subscribe", "a", f"""
        broker {rabbitmq.url("tsub")}
        exchange xpublic
        subtopic #
        download off
        """)
    write_config(sr_env, "subscribe", "b", f"""
        broker {rabbitmq.url("tsub")}
        subtopic #
        """)
    sr(build_dir, sr_env, "disable", "subscribe/b")
    doc = json.loads(sr(build_dir, sr_env, "dump").stdout)
    assert set(doc) == {"Processes", "Configs", "States", "Bindings", "Missing instances"}
    assert doc["Configs"]["subscribe"]["a"]["status"] == "stopped"
    assert doc["Configs"]["subscribe"]["b"]["status"] == "disabled"
    assert doc["States"]["subscribe"]["a"]["instance_pids"] == {}
    assert "subscribe/a" in doc["Bindings"][rabbitmq.host]["exchanges"]["xpublic"]
    ov = sr(build_dir, sr_env, "overview")
    assert ov.returncode == 0
    line = next(l for l in ov.stdout.splitlines() if l.startswith("subscribe"))
    assert line.split()[:4] == ["subscribe", "stopped", "OK", "2"], ov.stdout
    try:
        sr(build_dir, sr_env, "start", "subscribe/a")
        doc = dump_when(build_dir, sr_env, lambda d: d["States"]["subscribe"]["a"]["queueName"]
                        and d["Configs"]["subscribe"]["a"]["status"] == "running")
        assert doc["States"]["subscribe"]["a"]["queueName"], "instance 1 never saved its queue"
        pid = doc["States"]["subscribe"]["a"]["instance_pids"]["1"]
        proc = doc["Processes"][str(pid)]
        assert proc["component"] == "subscribe" and proc["config"] == "a" and proc["claimed"]
        assert doc["Configs"]["subscribe"]["a"]["status"] == "running"
        queue = doc["States"]["subscribe"]["a"]["queueName"]
        assert doc["Bindings"][rabbitmq.host]["queues"][queue] == ["subscribe/a"]
        ov = sr(build_dir, sr_env, "overview")
        line = next(l for l in ov.stdout.splitlines() if l.startswith("subscribe"))
        # one running, the other disabled: "most" of them, as sr3 says
        assert line.split()[:5] == ["subscribe", "most", "OKd", "1", "a-i1/1"], ov.stdout
        assert "total running configs:   1 ( processes: 1 missing: 0 stray: 0 )" in ov.stdout
        assert ov.returncode == 0
        ovj = json.loads(sr(build_dir, sr_env, "overview", "--json").stdout)
        assert ovj["components"]["subscribe"]["state"] == "most"
        assert ovj["totals"]["runningConfigs"] == 1
        # killed: its instance is missing
        os.kill(pid, 9)
        doc = dump_when(build_dir, sr_env, lambda d: d["Missing instances"])
        assert doc["Missing instances"] == ["subscribe/a_1"]
        assert doc["Configs"]["subscribe"]["a"]["status"] == "missing"
        ov = sr(build_dir, sr_env, "overview", check=False)
        assert "missing: 1" in ov.stdout and ov.returncode == 1, ov.stdout
        assert "subscribe  mixed" in ov.stdout and "missing: a" in ov.stdout, ov.stdout
    finally:
        sr(build_dir, sr_env, "stop", check=False)
