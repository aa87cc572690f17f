# SPDX-License-Identifier: GPL-2.0-only
"""sr show and the components' check: what an operator sees when reading configs.

Each test writes configs into a private ~/.config/sr (the sr_env fixture) and runs the
real binaries, asserting what a user would look for in the output.
"""
import json
import subprocess
import textwrap

import pytest


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run(sr_bin, env, *args):
    return subprocess.run([sr_bin(args[0]), *args[1:]], env=env, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def config_dir(sr_env):
    return __import__("pathlib").Path(sr_env["XDG_CONFIG_HOME"]) / "sr"


def options_by_name(stdout):
    """Parse `sr show` text output into {name: (value, origin)}."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("#") or " # " not in line:
            continue
        left, origin = line.rsplit(" # ", 1)
        parts = left.split(None, 1)
        found.setdefault(parts[0], (parts[1].strip() if len(parts) > 1 else "", origin))
    return found


def test_show_tells_value_and_origin_of_every_option(sr_bin, sr_env, config_dir):
    """A subscriber's config: sr show gives each option's value and the file:line it came from."""
    conf = write(config_dir / "subscribe" / "hpfx.conf", """
        broker amqps://anonymous@hpfx.collab.science.gc.ca/
        subtopic *.WXO-DD.observations.#
        directory /data/obs
        accept .*\\.xml$
        """)
    result = run(sr_bin, sr_env, "sr", "show", "subscribe/hpfx")
    assert result.returncode == 0, result.stderr
    opts = options_by_name(result.stdout)
    assert opts["broker"] == ("amqps://anonymous@hpfx.collab.science.gc.ca/",
                              f"{conf}:1; no password: credentials.conf has no line for this URL")
    assert opts["directory"] == ("/data/obs", f"{conf}:3")
    assert opts["exchange"] == ("xpublic", "derived")
    assert opts["mirror"] == ("off", "conf.d/subscribe.conf:6")
    # the option table's default (lib/options.def), listed in conf.d/default.conf
    assert opts["batch"] == ("25", "default")
    assert opts["tlsRigour"] == ("normal", "default")
    assert opts["post_broker"] == ("None", "unset")
    assert "accept .*\\.xml$ directory=/data/obs mirror=off" in result.stdout
    assert "subtopic *.WXO-DD.observations.#" in result.stdout


def test_show_json_for_scripts(sr_bin, sr_env, config_dir):
    """--json gives typed values a script can read: numbers, booleans, lists."""
    write(config_dir / "sender" / "tocluster.conf", """
        broker amqps://bob@pump.example.com/
        exchangeSuffix hot
        sendTo sftp://bob@cluster.example.com/
        expire 1d
        instances 4
        fileEvents -delete
        """)
    result = run(sr_bin, sr_env, "sr", "show", "--json", "sender/tocluster")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["component"] == "sender" and doc["config"] == "tocluster"
    opts = doc["options"]
    assert opts["exchange"] == {"value": "xs_bob_hot", "origin": "derived"}
    assert opts["expire"]["value"] == 86400
    assert opts["instances"]["value"] == 4
    assert opts["mirror"]["value"] is True
    assert opts["fileEvents"]["value"] == ["create", "link", "modify", "mkdir", "rmdir"]
    assert doc["warnings"] == []


def test_passwords_never_shown(sr_bin, sr_env, config_dir):
    """A password written in a config's URL is replaced by *** in every output."""
    write(config_dir / "shovel" / "relay.conf", """
        broker amqps://feeder:Sup3rS3cret@pump.example.com/
        post_broker mqtts://feeder:M0reS3cret@mqtt.example.com
        """)
    for args in (["show"], ["show", "--json"]):
        result = run(sr_bin, sr_env, "sr", *args, "shovel/relay")
        assert result.returncode == 0, result.stderr
        assert "Sup3rS3cret" not in result.stdout + result.stderr
        assert "M0reS3cret" not in result.stdout + result.stderr
        assert "amqps://feeder:***@pump.example.com/" in result.stdout


def test_command_line_overrides_the_file(sr_bin, sr_env, config_dir):
    """--option value beats the file, and show says it came from the command line."""
    write(config_dir / "subscribe" / "x.conf", "broker amqp://bob@localhost/\nbatch 10\n")
    result = run(sr_bin, sr_env, "sr", "--batch", "7", "show", "subscribe/x")
    assert result.returncode == 0, result.stderr
    assert options_by_name(result.stdout)["batch"] == ("7", "command line")


def test_user_default_conf_applies_to_every_config(sr_bin, sr_env, config_dir):
    """~/.config/sr/default.conf is read before each config; the config still wins."""
    default = write(config_dir / "default.conf", "logLevel debug\nbatch 50\n")
    conf = write(config_dir / "subscribe" / "y.conf", "broker amqp://bob@localhost/\nbatch 5\n")
    opts = options_by_name(run(sr_bin, sr_env, "sr", "show", "subscribe/y").stdout)
    assert opts["logLevel"] == ("debug", f"{default}:1")
    assert opts["batch"] == ("5", f"{conf}:2")


def test_bad_value_names_file_and_line(sr_bin, sr_env, config_dir):
    """A typo in a value: the config refuses to load, with file:line and what is wrong."""
    conf = write(config_dir / "subscribe" / "typo.conf",
                 "broker amqp://bob@localhost/\n\nmirror onn\n")
    result = run(sr_bin, sr_env, "sr", "show", "subscribe/typo")
    assert result.returncode == 1
    assert (f'{conf}:3: mirror: "onn" is not a flag (use on/off, true/false, yes/no, 1/0)'
            in result.stderr)
    check = run(sr_bin, sr_env, "sr_subscribe", "check", "typo")
    assert check.returncode == 1
    assert f"{conf}:3: mirror:" in check.stderr
    assert "[ERROR]" in check.stderr


def test_unknown_option_is_refused_with_a_suggestion(sr_bin, sr_env, config_dir):
    """A line sr would not act on stops the config out loud: check, foreground and sr start
    fail naming the file, the line and the likely option; sr show still shows it."""
    conf = write(config_dir / "subscribe" / "w.conf",
                 "broker amqp://bob@localhost/\npostbroker amqp://bob@elsewhere/\ndirectory /d\n")
    refused = f'{conf}:2: unknown option "postbroker" (did you mean "post_broker"?)'
    result = run(sr_bin, sr_env, "sr_subscribe", "check", "w")
    assert result.returncode == 1, result.stderr
    assert f"[ERROR] {refused}" in result.stderr
    assert "configuration OK" not in result.stderr
    fg = run(sr_bin, sr_env, "sr_subscribe", "foreground", "w")
    assert fg.returncode == 1 and refused in fg.stderr
    start = run(sr_bin, sr_env, "sr", "start", "subscribe/w")
    assert start.returncode != 0
    assert refused in start.stderr + start.stdout
    show = run(sr_bin, sr_env, "sr", "show", "subscribe/w")
    assert show.returncode == 0, show.stderr
    assert f"# refused: {refused}" in show.stdout
    doc = json.loads(run(sr_bin, sr_env, "sr", "show", "--json", "subscribe/w").stdout)
    assert doc["refused"] == [refused]


def test_lines_sr3_ignores_or_sr_does_built_in_still_check_ok(sr_bin, sr_env, config_dir):
    """sr3's `callback log` is built into sr (a note), `timezone` outside a poll does nothing
    in sr3 either (a warning): the config checks OK; the hot-directory guide's
    `fileEvents -delete,rmdir` takes both events away, as sr3 reads it."""
    conf = write(config_dir / "watch" / "hot.conf", """\
        post_broker amqp://bob@localhost/
        post_exchange xs_bob_hot
        post_baseUrl sftp://bob@host/
        path /tmp
        fileEvents -delete,rmdir
        callback log
        timezone EST
        """)
    result = run(sr_bin, sr_env, "sr_watch", "check", "hot")
    assert result.returncode == 0, result.stderr
    assert f"[INFO] {conf}:6: callback log: built into sr" in result.stderr
    assert (f'[WARNING] {conf}:7: option "timezone" has no effect in a watch config (only in: '
            'poll)') in result.stderr
    assert "watch/hot: configuration OK, but for the 1 warning(s) above" in result.stderr
    show = run(sr_bin, sr_env, "sr", "show", "watch/hot")
    assert options_by_name(show.stdout)["fileEvents"][0] == "create,link,modify,mkdir"


def test_check_says_what_a_component_needs(sr_bin, sr_env, config_dir):
    """A sender without sendTo cannot run: check says so and exits 1."""
    conf = write(config_dir / "sender" / "nowhere.conf", "broker amqp://bob@localhost/\n")
    result = run(sr_bin, sr_env, "sr_sender", "check", "nowhere")
    assert result.returncode == 1
    assert f"{conf}: a sender needs sendTo" in result.stderr


def test_foreground_waits_for_an_unreachable_broker(sr_bin, sr_env, config_dir, tmp_path):
    """A broker that is down: foreground says why, retries with growing delays instead of
    exiting, and stops promptly on SIGTERM (exit 0)."""
    import signal
    import time
    from helpers import wait_until
    port = __import__("servers").free_port()
    write(config_dir / "shovel" / "s.conf",
          f"broker amqp://bob:pw@127.0.0.1:{port}/\npost_broker amqp://bob:pw@127.0.0.1:{port}/\n")
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as out:
        proc = subprocess.Popen([sr_bin("sr_shovel"), "foreground", "s"], env=sr_env,
                                stdout=subprocess.DEVNULL, stderr=out)
    # attempts announced past the first of each of its two brokers: it retries rather
    # than exits
    wait_until(lambda: stderr.read_text().count("next attempt in") >= 3
               or proc.poll() is not None, 120)
    assert proc.poll() is None, stderr.read_text()
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    proc.wait(timeout=15)
    err = stderr.read_text()
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 5
    assert f"cannot connect to 127.0.0.1 port {port}: Connection refused" in err
    assert err.count("next attempt in") >= 3, err
    assert "pw" not in err.replace("password", "")


def test_list_and_usage(sr_bin, sr_env, config_dir):
    """sr list shows every config and the folders; a bad verb is a usage error (exit 2)."""
    write(config_dir / "watch" / "hot.conf", "path /tmp\n")
    write(config_dir / "sender" / "tocluster.conf", "broker amqp://b@h/\n")
    result = run(sr_bin, sr_env, "sr", "list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert "sender/tocluster" in lines and "watch/hot" in lines
    assert f"configs: {config_dir}" in lines
    assert run(sr_bin, sr_env, "sr", "frobnicate").returncode == 2
    assert run(sr_bin, sr_env, "sr", "show", "nothing/here").returncode == 1
    version = run(sr_bin, sr_env, "sr", "--version")
    assert version.returncode == 0 and version.stdout.startswith("sr ")


def test_component_help_lists_its_options(sr_bin, sr_env):
    """sr_sender --help lists sender options (sendTo) and not watch-only ones (force_polling)."""
    result = run(sr_bin, sr_env, "sr_sender", "--help")
    assert result.returncode == 0
    assert "sendTo" in result.stdout
    assert "force_polling" not in result.stdout


def test_sr_config_dir_override(sr_bin, sr_env, tmp_path):
    """SR_CONFIG_DIR points sr at another config tree (tests, containers)."""
    other = tmp_path / "elsewhere"
    write(other / "winnow" / "ha.conf",
          "broker amqp://f@localhost/\npost_broker amqp://f@localhost/\n")
    env = dict(sr_env, SR_CONFIG_DIR=str(other))
    result = run(sr_bin, env, "sr", "show", "winnow/ha")
    assert result.returncode == 0, result.stderr
    assert options_by_name(result.stdout)["nodupe_ttl"] == ("300", "conf.d/winnow.conf:6")


def test_show_completes_broker_password_from_credentials(sr_bin, sr_env, config_dir):
    """A broker written without its password: sr show says which credentials line fills it
    in (and never prints it), or that none does, and warns about a too-open file."""
    conf = write(config_dir / "subscribe" / "c.conf", """
        broker amqps://bob@pump.example.com/
        post_broker mqtts://carol@mqtt.example.com
        """)
    creds = write(config_dir / "credentials.conf", """
        # the pump
        amqps://bob:Hunter2Secret@pump.example.com/
        sftp://alice@cluster ssh_keyfile=~/.ssh/id_ed25519
        """)
    creds.chmod(0o640)
    result = run(sr_bin, sr_env, "sr", "show", "subscribe/c")
    assert result.returncode == 0, result.stderr
    opts = options_by_name(result.stdout)
    assert opts["broker"] == ("amqps://bob:***@pump.example.com/",
                              f"{conf}:1; password from {creds}:2")
    assert opts["post_broker"] == ("mqtts://carol@mqtt.example.com",
                                   f"{conf}:2; no password: credentials.conf has no line for "
                                   "this URL")
    assert (f"sr show: warning: {creds}: credentials file is readable by group or others "
            "(mode 0640); chmod 600 it" in result.stderr)
    shown = json.loads(run(sr_bin, sr_env, "sr", "show", "--json", "subscribe/c").stdout)
    assert shown["options"]["broker"]["value"] == "amqps://bob:***@pump.example.com/"
    assert shown["options"]["broker"]["note"] == f"password from {creds}:2"
    check = run(sr_bin, sr_env, "sr_subscribe", "check", "c")
    assert check.returncode == 0, check.stderr
    assert ("[WARNING] post_broker mqtts://carol@mqtt.example.com: no password in the URL and "
            "no matching line in credentials.conf" in check.stderr)
    assert "[WARNING] broker" not in check.stderr
    for out in (result, check):
        assert "Hunter2Secret" not in out.stdout + out.stderr
    assert "Hunter2Secret" not in json.dumps(shown)


def test_malformed_credentials_stop_a_component(sr_bin, sr_env, config_dir):
    """A credentials line that cannot be read is an error naming file:line, not a guess."""
    write(config_dir / "subscribe" / "d.conf", "broker amqps://bob@pump.example.com/\n")
    creds = write(config_dir / "credentials.conf", "amqps://bob:pw@pump.example.com:port/\n")
    creds.chmod(0o600)
    result = run(sr_bin, sr_env, "sr_subscribe", "check", "d")
    assert result.returncode == 1
    assert f"{creds}:1:" in result.stderr
    assert "pw@" not in result.stderr
