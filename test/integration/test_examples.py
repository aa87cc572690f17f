# SPDX-License-Identifier: GPL-2.0-only
"""The shipped examples stay copyable: each loads cleanly and says what its README says.

A user copies examples/ into ~/.config/sr/ (README.rst tells how) and expects every
config to load without a warning, to mean what its comments promise, and never to see a
password from credentials.conf on the screen. Each test here copies the whole tree into
a private ~/.config/sr (the sr_env fixture), runs `sr show`, `sr show --json` and
`sr_<component> check` on one example, and asserts what that user would look at.
A new file under examples/ without an entry in EXPECTED fails
test_every_example_has_a_test, so no example goes untested.
"""
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Files in examples/ that are not configurations of a component; the tests below read
# credentials.conf and default.conf through every config.
NOT_CONFIGS = {"README.rst", "credentials.conf", "default.conf"}
# Folders of examples/ that are not a component's: plugins/ holds plugins and the configs
# that load them, tested by test_plugin_examples.py (they need the plugin built);
# cluster/ holds a configuration as two hosts have it, each host's folder laid out as
# its ~/.config/sr (test_cluster_example below); wis2/ holds a WIS2 node's configurations,
# laid out the same way, beside its broker's and web server's (test_wis2_example below;
# test_wis2.py runs the node).
NOT_COMPONENTS = {"plugins", "cluster", "wis2"}


def run(sr_bin, env, *args):
    return subprocess.run([sr_bin(args[0]), *args[1:]], env=env, capture_output=True,
                          text=True, timeout=30)


def secrets_of(credentials):
    """Every password and token written in a credentials.conf, as written and decoded."""
    found = set()
    for line in credentials.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        password = urlsplit(words[0]).password
        if password:
            found.update({password, unquote(password)})
        for detail in ",".join(words[1:]).split(","):
            name, _, value = detail.partition("=")
            if name in ("bearer_token", "bt") and value:
                found.add(value)
    return found


SECRETS = secrets_of(EXAMPLES / "credentials.conf")


@pytest.fixture
def user(sr_env):
    """A user who followed examples/README.rst: the tree copied, credentials.conf 0600."""
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    shutil.copytree(EXAMPLES, config_dir)
    (config_dir / "README.rst").unlink()
    (config_dir / "credentials.conf").chmod(0o600)
    return sr_env, config_dir


def load(sr_bin, env, config_dir, name):
    """Run the three commands on component/name; assert each is clean; return the JSON."""
    component, config = name.split("/")
    outputs = {
        "show": run(sr_bin, env, "sr", "show", name),
        "show --json": run(sr_bin, env, "sr", "show", "--json", name),
        "check": run(sr_bin, env, f"sr_{component}", "check", config),
    }
    for what, result in outputs.items():
        text = result.stdout + result.stderr
        assert result.returncode == 0, f"{what} {name}: exit {result.returncode}\n{text}"
        # [WARNING] from check, "warning:" from sr show; the JSON says it in "warnings".
        said = result.stderr if what == "show --json" else text
        assert not re.search(r"\bwarning\b", said, re.I), f"{what} {name} warns:\n{said}"
        for secret in SECRETS:
            assert secret not in text, f"{what} {name} shows a password from credentials.conf"
    assert "configuration OK" in outputs["check"].stderr
    doc = json.loads(outputs["show --json"].stdout)
    assert doc["component"] == component and doc["config"] == config
    assert doc["file"] == str(config_dir / f"{name}.conf")
    assert doc["warnings"] == []
    # The user's default.conf is read before every config.
    line = next(n for n, text in enumerate((config_dir / "default.conf").read_text()
                                           .splitlines(), 1)
                if text.startswith("logRotateCount "))
    assert doc["options"]["logRotateCount"] == {"value": 14,
                                                "origin": f"{config_dir}/default.conf:{line}"}
    return doc, outputs["show"].stdout


def json_documents(text):
    """The JSON documents `sr show --json` prints one after the other, one per config."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return docs
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)


def value(doc, option):
    return doc["options"][option]["value"]


def masks(doc):
    return [(m["kind"], m["pattern"]) for m in doc["masks"]]


def decide(doc, url):
    """What the masks do with url: sr3's rule, first match (re.match) wins."""
    for kind, pattern in masks(doc):
        if re.match(pattern, url):
            return kind
    return "accept" if value(doc, "acceptUnmatched") else "reject"


def check_watch_hot(doc, text, home):
    """Announces ~/hot on the local broker, into the exchange the sender binds to."""
    assert value(doc, "post_broker") == "amqp://bob:***@localhost/"
    assert value(doc, "post_exchange") == "xs_bob_hot"
    assert value(doc, "path") == [f"{home}/hot"]
    assert value(doc, "post_baseUrl") == "file:"
    assert value(doc, "fileAgeMin") == 2
    assert decide(doc, f"file:{home}/hot/obs/a.csv") == "accept"
    assert decide(doc, f"file:{home}/hot/obs/a.csv.tmp") == "reject"
    assert decide(doc, f"file:{home}/hot/obs/.a.csv.swp") == "reject"


def check_sender_tocluster(doc, text, home):
    """Three instances push over sftp to the ssh alias `cluster`, .tmp then rename, 0644."""
    assert value(doc, "broker") == "amqp://bob:***@localhost/"
    assert value(doc, "exchange") == "xs_bob_hot"
    assert value(doc, "sendTo") == "sftp://cluster/"
    assert value(doc, "instances") == 3
    assert value(doc, "inflight") == ".tmp"
    assert value(doc, "permDefault") in (0o644, "0644")
    assert value(doc, "permDirDefault") in (0o755, "0755")
    assert value(doc, "directory") == "/scratch/bob/incoming"
    assert value(doc, "strip") == ".*/hot/"
    assert value(doc, "baseDir") == f"{home}/hot"
    # The config's own expire beats default.conf's 2d.
    assert value(doc, "expire") == 86400
    assert masks(doc) == [("accept", ".*")]


def check_post_once(doc, text, home):
    """Announces ~/hot once, exactly where watch/hot announces it."""
    assert value(doc, "post_broker") == "amqp://bob:***@localhost/"
    assert value(doc, "post_exchange") == "xs_bob_hot"
    assert value(doc, "path") == [f"{home}/hot"]
    assert value(doc, "sleep") < 0, "post runs one pass and exits"
    assert decide(doc, f"file:{home}/hot/late.csv.tmp") == "reject"


def check_shovel_amqp2mqtt(doc, text, home):
    """Reads xpublic on the AMQP pump and publishes it to the MQTT broker, as v03."""
    broker, post_broker = value(doc, "broker"), value(doc, "post_broker")
    assert urlsplit(broker).scheme == "amqps"
    assert urlsplit(post_broker).scheme == "mqtts"
    assert post_broker == "mqtts://feeder:***@mqtt.example.com"
    assert value(doc, "exchange") == "xpublic"
    assert value(doc, "post_exchange") == "xpublic"
    assert value(doc, "post_format") == "v03"
    assert value(doc, "download") is False
    assert value(doc, "instances") == 2
    assert [(s["pattern"], s["exchange"], s["topicPrefix"]) for s in doc["subtopics"]] == [
        ("#", "xpublic", "v03")]


def check_sarra_from_peerA(doc, text, home):
    """Downloads peerA's files into the web tree and re-announces them with our URL."""
    assert value(doc, "broker") == "amqps://mesh:***@peera.example.com/"
    assert value(doc, "post_broker") == "amqp://feeder:***@localhost/"
    assert value(doc, "download") is True and value(doc, "mirror") is True
    assert value(doc, "directory") == value(doc, "post_baseDir") == "/var/www/html/data"
    assert value(doc, "post_baseUrl") == "https://node1.example.com/data"
    assert value(doc, "nodupe_ttl") == 3600


def check_sarra_from_peerB(doc, text, home):
    """The same node fed by its other neighbour: same tree, same local announcements."""
    assert value(doc, "broker") == "amqps://mesh:***@peerb.example.com/"
    assert value(doc, "post_broker") == "amqp://feeder:***@localhost/"
    assert value(doc, "download") is True and value(doc, "mirror") is True
    assert value(doc, "directory") == value(doc, "post_baseDir") == "/var/www/html/data"
    assert value(doc, "post_baseUrl") == "https://node1.example.com/data"
    assert value(doc, "post_exchange") == "xpublic"
    assert value(doc, "nodupe_ttl") == 3600


def check_subscribe_hpfx(doc, text, home):
    """Anonymous, v02 topics, Toronto's English city page only, into ~/citypage."""
    assert value(doc, "broker") == "amqps://anonymous:***@hpfx.collab.science.gc.ca/"
    assert value(doc, "exchange") == "xpublic"
    assert [(s["pattern"], s["topicPrefix"]) for s in doc["subtopics"]] == [
        ("*.WXO-DD.citypage_weather.xml.ON.#", "v02.post")]
    assert "subtopic *.WXO-DD.citypage_weather.xml.ON.# " in text
    assert value(doc, "directory") == f"{home}/citypage"
    assert value(doc, "mirror") is False
    assert ("accept", r".*/s0000458_e\.xml$") in masks(doc)
    base = "https://hpfx.collab.science.gc.ca/20240101/WXO-DD/citypage_weather/xml/ON/"
    assert decide(doc, base + "s0000458_e.xml") == "accept"
    assert decide(doc, base + "s0000458_f.xml") == "reject"
    assert decide(doc, base + "s0000430_e.xml") == "reject"


def check_winnow_dedupe(doc, text, home):
    """Two sources into xs_feeder_ha, each product once into xpublic."""
    assert value(doc, "exchange") == "xs_feeder_ha"
    assert value(doc, "post_exchange") == "xpublic"
    assert value(doc, "nodupe_ttl") == 900
    assert value(doc, "logDuplicates") is True


def check_poll_sftp(doc, text, home):
    """Lists the logger's drop box every 5 minutes; announces its .csv files with the
    server's URL (no password in it) on the local broker, in xs_bob_logger."""
    assert value(doc, "pollUrl") == "sftp://bob@logger.example.com/"
    assert value(doc, "path") == ["/data/outgoing"]
    assert value(doc, "post_broker") == "amqp://bob:***@localhost/"
    assert value(doc, "post_exchange") == "xs_bob_logger"
    assert value(doc, "post_baseUrl") == "sftp://bob@logger.example.com/"
    assert value(doc, "scheduled_interval") == 300
    assert value(doc, "fileAgeMin") == 60
    # what a poll announces: computed on download, whole files (conf.d/poll.conf)
    assert value(doc, "identity") == "cod,sha512"
    assert value(doc, "vip") is None and value(doc, "broker") is None
    base = "sftp://bob@logger.example.com/data/outgoing/"
    assert decide(doc, base + "2024/t1.csv") == "accept"
    assert decide(doc, base + "t1.csv.tmp") == "reject"
    assert decide(doc, base + "notes.txt") == "reject"


def check_poll_ftp(doc, text, home):
    """Today's folder of an FTP server with Toronto-time listings, at :15 and :45."""
    assert value(doc, "pollUrl") == "ftp://bob:***@ftp.example.com/"
    # the password stays out of the messages: subscribers find their own
    assert value(doc, "post_baseUrl") == "ftp://bob@ftp.example.com/"
    assert value(doc, "timezone") == "America/Toronto"
    assert value(doc, "path") == ["/bulletins/${YYYYMMDD}"]
    assert value(doc, "post_exchange") == "xs_bulletins"
    assert value(doc, "scheduled_minute") == ["15,45"]
    assert value(doc, "scheduled_interval") is None
    assert value(doc, "fileAgeMax") == 86400
    assert decide(doc, "ftp://bob@ftp.example.com/bulletins/20240101/fpcn11.txt") == "accept"
    assert decide(doc, "ftp://bob@ftp.example.com/bulletins/20240101/fpcn11.pdf") == "reject"


def check_poll_http(doc, text, home):
    """A directory index read every 10 minutes; the images it links to announced."""
    assert value(doc, "pollUrl") == "https://data.example.com/"
    assert value(doc, "post_baseUrl") == "https://data.example.com/"
    assert value(doc, "path") == ["/radar/composite/"]
    assert value(doc, "post_exchange") == "xs_radar"
    assert value(doc, "scheduled_interval") == 600
    base = "https://data.example.com/radar/composite/"
    assert decide(doc, base + "202401011200_CAN.gif") == "accept"
    assert decide(doc, base + "index.html") == "reject"
    assert decide(doc, base + "README.txt") == "reject"


def check_poll_ha(doc, text, home):
    """Active where 192.0.2.10 is; the standby reads the posts it would make, from the
    pump's exchange, to keep its memory current (broker and exchange derived)."""
    assert value(doc, "vip") == ["192.0.2.10"]
    assert value(doc, "post_broker") == "amqps://feeder:***@pump.example.com/"
    assert value(doc, "post_exchange") == "xs_feeder_logger"
    assert value(doc, "broker") == value(doc, "post_broker")
    assert value(doc, "exchange") == value(doc, "post_exchange")
    assert doc["options"]["broker"]["origin"] == "derived"
    assert [(s["pattern"], s["exchange"]) for s in doc["subtopics"]] == [
        ("#", "xs_feeder_logger")]
    assert value(doc, "pollUrl") == "sftp://bob@logger.example.com/"
    assert value(doc, "scheduled_interval") == 120


EXPECTED = {
    "watch/hot": check_watch_hot,
    "sender/tocluster": check_sender_tocluster,
    "post/once": check_post_once,
    "shovel/amqp2mqtt": check_shovel_amqp2mqtt,
    "sarra/from_peerA": check_sarra_from_peerA,
    "sarra/from_peerB": check_sarra_from_peerB,
    "subscribe/hpfx": check_subscribe_hpfx,
    "winnow/dedupe": check_winnow_dedupe,
    "poll/sftp": check_poll_sftp,
    "poll/ftp": check_poll_ftp,
    "poll/http": check_poll_http,
    "poll/ha": check_poll_ha,
}


def test_every_example_has_a_test():
    """Each config under examples/ is in EXPECTED, and each entry in EXPECTED exists."""
    files = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*")
                   if p.is_file() and p.name not in NOT_CONFIGS
                   and p.relative_to(EXAMPLES).parts[0] not in NOT_COMPONENTS)
    assert files, "examples/ is empty"
    names = {f[:-len(".conf")] for f in files if f.endswith(".conf")}
    untested = [f for f in files if not f.endswith(".conf") or f[:-5] not in EXPECTED]
    assert untested == [], f"examples without a test in {Path(__file__).name}: {untested}"
    assert set(EXPECTED) == names, f"tests without an example: {set(EXPECTED) - names}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_loads_clean_and_means_what_it_says(sr_bin, user, name):
    """Copied as the README says, the example loads with no warning, means what its
    comments say, and no password from credentials.conf appears anywhere."""
    env, config_dir = user
    doc, text = load(sr_bin, env, config_dir, name)
    EXPECTED[name](doc, text, env["HOME"])


def test_credentials_fill_in_passwords_shown_hidden(sr_bin, user):
    """A broker URL written without its password gets it from credentials.conf, and
    `sr show` shows that there is one (user:***@) without showing it."""
    env, config_dir = user
    result = run(sr_bin, env, "sr", "show", "--json")
    assert result.returncode == 0, result.stderr
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)
    shown = {f"{d['component']}/{d['config']}": d["options"]
             for d in json_documents(result.stdout)}
    assert set(shown) == set(EXPECTED)
    assert shown["sender/tocluster"]["broker"]["value"] == "amqp://bob:***@localhost/"
    assert shown["shovel/amqp2mqtt"]["broker"]["value"] == "amqps://feeder:***@pump.example.com/"
    assert shown["sarra/from_peerA"]["broker"]["value"] == "amqps://mesh:***@peera.example.com/"
    assert shown["sarra/from_peerB"]["broker"]["value"] == "amqps://mesh:***@peerb.example.com/"
    # a poll's server too: its password is found, shown hidden, and kept out of messages
    assert shown["poll/ftp"]["pollUrl"]["value"] == "ftp://bob:***@ftp.example.com/"
    assert shown["poll/ftp"]["post_baseUrl"]["value"] == "ftp://bob@ftp.example.com/"
    # A password written in the config itself is hidden the same way.
    assert shown["subscribe/hpfx"]["broker"]["value"] == \
        "amqps://anonymous:***@hpfx.collab.science.gc.ca/"


def test_credentials_file_readable_by_others_is_a_warning(sr_bin, user):
    """Skipping the README's chmod 600 is not silent: check warns and still loads."""
    env, config_dir = user
    (config_dir / "credentials.conf").chmod(0o644)
    result = run(sr_bin, env, "sr_sender", "check", "tocluster")
    assert result.returncode == 0, result.stderr
    assert "[WARNING]" in result.stderr and "credentials.conf" in result.stderr
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)


CLUSTER = EXAMPLES / "cluster"
CLUSTER_NODES = ["rabbit1.example.com", "rabbit2.example.com", "rabbit3.example.com"]


@pytest.mark.parametrize("host,first", [("hostA", 0), ("hostB", 1)])
def test_cluster_example(sr_bin, sr_env, host, first):
    """examples/cluster/: each host's copy, as its README says to make it, loads clean:
    the same sarra/pump on both, sharing one quorum queue, every node of the cluster on
    its broker lines (this host's first node first), the password found for the list in
    credentials.conf and never shown."""
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    shutil.copytree(CLUSTER / host, config_dir)
    shutil.copy(CLUSTER / "credentials.conf", config_dir / "credentials.conf")
    (config_dir / "credentials.conf").chmod(0o600)
    secrets = secrets_of(CLUSTER / "credentials.conf")
    assert secrets
    outputs = {
        "show --json": run(sr_bin, sr_env, "sr", "show", "--json", "sarra/pump"),
        "check": run(sr_bin, sr_env, "sr_sarra", "check", "pump"),
    }
    for what, result in outputs.items():
        text = result.stdout + result.stderr
        assert result.returncode == 0, f"{what}: exit {result.returncode}\n{text}"
        said = result.stderr if what == "show --json" else text
        assert not re.search(r"\bwarning\b", said, re.I), f"{what} warns:\n{said}"
        assert not any(secret in text for secret in secrets), f"{what} shows a password"
    assert "configuration OK" in outputs["check"].stderr
    doc = json.loads(outputs["show --json"].stdout)
    assert doc["warnings"] == []
    nodes = CLUSTER_NODES[first:] + CLUSTER_NODES[:first]
    url = f"amqps://feeder:***@{','.join(nodes)}/"
    assert value(doc, "broker") == url
    assert value(doc, "post_broker") == url
    assert value(doc, "queueType") == "quorum"
    assert value(doc, "queueShare") == "pump"
    assert value(doc, "instances") == 2
    assert value(doc, "prefetch") == 25
    assert value(doc, "exchange") == "xs_feeder_in"
    assert value(doc, "post_exchange") == "xpublic"
    assert value(doc, "directory") == value(doc, "post_baseDir") == "/var/www/html/data"
    assert value(doc, "inflight") == ".tmp"
    assert value(doc, "mirror") is True


def test_cluster_example_hosts_differ_only_in_node_order():
    """The two hosts run one configuration: their files differ in the order of the nodes
    (and the comments saying which host is which), nothing else."""
    def options(host):
        lines = (CLUSTER / host / "sarra" / "pump.conf").read_text().splitlines()
        return [l for l in lines if l.strip() and not l.startswith("#")]
    a, b = options("hostA"), options("hostB")
    for node in CLUSTER_NODES:
        assert node in "".join(a)
    assert a != b, "both hosts would connect to the same node first"
    swapped = [l.replace(",".join(CLUSTER_NODES[1:] + CLUSTER_NODES[:1]), ",".join(CLUSTER_NODES))
               for l in b]
    assert swapped == a
    assert sorted(p.relative_to(CLUSTER).as_posix() for p in CLUSTER.rglob("*")
                  if p.is_file()) == ["README.rst", "credentials.conf", "hostA/sarra/pump.conf",
                                      "hostB/sarra/pump.conf"]


WIS2 = EXAMPLES / "wis2"
WIS2_DATASET = "io-sr-example/data/core/weather/surface-based-observations/synop"


def check_wis2_watch(doc, home):
    """Announces /srv/wis2/data as WNMs on the synop topic of centre io-sr-example."""
    assert value(doc, "post_broker") == "mqtt://node:***@localhost"
    assert value(doc, "post_exchange") == "origin"
    assert value(doc, "post_topicPrefix") == f"a/wis2/{WIS2_DATASET}"
    assert value(doc, "post_format") == "wis"
    assert value(doc, "wisCentreId") == "io-sr-example"
    assert value(doc, "wisMetadataId") == "urn:wmo:md:io-sr-example:synop"
    assert value(doc, "path") == ["/srv/wis2/data"]
    assert value(doc, "post_baseDir") == "/srv/wis2/data"
    assert value(doc, "post_baseUrl") == "http://localhost:8080/data/"
    assert decide(doc, "file:/srv/wis2/data/obs.txt") == "accept"
    assert decide(doc, "file:/srv/wis2/data/obs.txt.tmp") == "reject"


def check_wis2_cache(doc, home):
    """Every origin/a/wis2/# WNM fetched into /srv/wis2/cache, announced on cache/."""
    assert value(doc, "broker") == value(doc, "post_broker") == "mqtt://node:***@localhost"
    assert [(s["pattern"], s["exchange"], s["topicPrefix"]) for s in doc["subtopics"]] == [
        ("#", "origin", "a/wis2")]
    assert value(doc, "download") is True and value(doc, "mirror") is True
    assert value(doc, "directory") == value(doc, "post_baseDir") == "/srv/wis2/cache"
    assert value(doc, "inflight") == ".tmp"
    assert value(doc, "nodupe_ttl") == 86400
    assert value(doc, "post_exchange") == "cache"
    assert value(doc, "post_topicPrefix") == "a/wis2"
    assert value(doc, "post_format") == "wis"
    assert value(doc, "post_baseUrl") == "http://localhost:8080/cache/"
    assert not value(doc, "wisCentreId") and not value(doc, "wisMetadataId")  # a relay's


def check_wis2_fromcache(doc, home):
    """The cache's synop WNMs, read as everyone, fetched into ~/wis2/received."""
    assert value(doc, "broker") == "mqtt://everyone:***@localhost"
    assert [(s["pattern"], s["exchange"], s["topicPrefix"]) for s in doc["subtopics"]] == [
        (f"{WIS2_DATASET}/#", "cache", "a/wis2")]
    assert value(doc, "directory") == f"{home}/wis2/received"
    assert value(doc, "mirror") is False
    assert value(doc, "nodupe_ttl") == 3600


def check_wis2_globalbroker(doc, home):
    """Every centre's synop WNMs from a Global Broker's public account, over TLS."""
    assert value(doc, "broker") == "mqtts://everyone:***@globalbroker.meteo.fr:8883"
    assert [(s["pattern"], s["exchange"], s["topicPrefix"]) for s in doc["subtopics"]] == [
        ("+/data/core/weather/surface-based-observations/synop/#", "cache", "a/wis2")]
    assert value(doc, "directory") == f"{home}/wis2/globalbroker"
    assert value(doc, "expire") == 3600
    assert value(doc, "nodupe_ttl") == 86400
    assert value(doc, "fileSizeMax") == 10 * 1024 * 1024


WIS2_EXPECTED = {
    "watch/wis2_synop": check_wis2_watch,
    "sarra/wis2_cache": check_wis2_cache,
    "subscribe/wis2_fromcache": check_wis2_fromcache,
    "subscribe/wis2_globalbroker": check_wis2_globalbroker,
}


@pytest.mark.parametrize("name", sorted(WIS2_EXPECTED))
def test_wis2_example(sr_bin, sr_env, name):
    """examples/wis2/: each configuration, copied as its README says with the node's
    password in credentials.conf, loads clean, means what the README says, and never
    shows the password."""
    config_dir = Path(sr_env["XDG_CONFIG_HOME"]) / "sr"
    for component in ("watch", "sarra", "subscribe"):
        shutil.copytree(WIS2 / component, config_dir / component)
    shutil.copy(WIS2 / "credentials.conf", config_dir / "credentials.conf")
    (config_dir / "credentials.conf").chmod(0o600)
    secrets = secrets_of(WIS2 / "credentials.conf")
    assert secrets
    component, config = name.split("/")
    outputs = {
        "show --json": run(sr_bin, sr_env, "sr", "show", "--json", name),
        "check": run(sr_bin, sr_env, f"sr_{component}", "check", config),
    }
    for what, result in outputs.items():
        text = result.stdout + result.stderr
        assert result.returncode == 0, f"{what}: exit {result.returncode}\n{text}"
        said = result.stderr if what == "show --json" else text
        assert not re.search(r"\bwarning\b", said, re.I), f"{what} warns:\n{said}"
        assert not any(secret in text for secret in secrets), f"{what} shows a password"
    assert "configuration OK" in outputs["check"].stderr
    doc = json.loads(outputs["show --json"].stdout)
    assert doc["warnings"] == []
    WIS2_EXPECTED[name](doc, sr_env["HOME"])


def test_wis2_example_files():
    """The folder holds what its README describes, each file named there."""
    names = ["README.rst", "credentials.conf", "mosquitto.conf", "mosquitto.acl",
             "nginx.conf"] + [f"{name}.conf" for name in WIS2_EXPECTED]
    assert sorted(p.relative_to(WIS2).as_posix() for p in WIS2.rglob("*") if p.is_file()) == \
        sorted(names)
    readme = (WIS2 / "README.rst").read_text()
    for name in names[1:]:
        assert f"``{name}``" in readme, f"examples/wis2/README.rst does not describe {name}"


def test_wis2_example_nginx_conf(tmp_path):
    """examples/wis2/nginx.conf is a server block nginx takes (`nginx -t`), inside an
    http block as sites-enabled/ is."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'error.log'};
events {{ }}
http {{
    access_log off;
    client_body_temp_path {tmp_path / 'body'};
    proxy_temp_path {tmp_path / 'proxy'};
    fastcgi_temp_path {tmp_path / 'fastcgi'};
    uwsgi_temp_path {tmp_path / 'uwsgi'};
    scgi_temp_path {tmp_path / 'scgi'};
    include {WIS2 / 'nginx.conf'};
}}
""")
    result = subprocess.run(["/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-e",
                             str(tmp_path / "error.log"), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
