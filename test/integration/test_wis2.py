# SPDX-License-Identifier: GPL-2.0-only
"""User story of issue 21: a WIS2 node run by sr, as examples/wis2/ sets it up.

The example's three configurations, copied as its README says, with only the hosts,
ports, passwords and folders changed to the test's: sr_watch announces the files of a
dataset folder (served by nginx) as WIS2 Notification Messages on
origin/a/wis2/io-sr-example/data/core/weather/surface-based-observations/synop of a
Mosquitto; sr_sarra, a Global Cache, downloads them into its own folder (served by the
same nginx) and announces its copies on cache/a/wis2/...; sr_subscribe reads cache/ and
downloads. A plain MQTT client (paho) sees every message on the wire and publishes the
test's own notifications: duplicates, updates and malformed ones.

What a WIS2 operator checks: the files arrive whole at the cache and the subscriber;
every notification on either channel is a valid WNM (test/data/wis2/wnm-schema.json)
with the dataset's data_id and metadata_id, a pubtime, the file's sha512 and a link to
where the file is; the cache's have ids of their own and keep the data_id; a data_id
heard again with the same or an older pubtime is not fetched again, a newer one is; a
file removed from the dataset folder is removed from the cache and the subscriber; a
malformed notification is dropped, named, and the next one goes through.
"""
import base64
import hashlib
import json
import os
import secrets
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from helpers import Component, sr_home_env, wait_until

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "wis2"
SCHEMA = REPO / "test" / "data" / "wis2" / "wnm-schema.json"
TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
FILES = 5  # files of the end-to-end test

DATASET = "io-sr-example/data/core/weather/surface-based-observations/synop"
ORIGIN = f"origin/a/wis2/{DATASET}"
CACHE = f"cache/a/wis2/{DATASET}"
METADATA_ID = "urn:wmo:md:io-sr-example:synop"
CORE = "http://wis.wmo.int/spec/wnm/1/conf/core"
DELETION = "http://def.wmo.int/def/rel/wnm/-/deletion"
# The example's configurations the node runs (the Global Broker one needs the Internet).
CONFIGS = {"watch": "wis2_synop", "sarra": "wis2_cache", "subscribe": "wis2_fromcache"}


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


def rfc3339(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pubtime_key(text):
    """An RFC 3339 UTC time as WNMs write it (any number of fraction digits), as a value
    that compares in time order."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S"), float(f"0.{fraction or 0}")


def wnm(href, data_id, pubtime, data=None, rel="canonical"):
    """A WNM as a WIS2 node publishes it: new id, the dataset's metadata_id, the file's
    sha512 and length when data is given."""
    doc = {"id": str(uuid.uuid4()), "conformsTo": [CORE], "type": "Feature",
           "geometry": None,
           "properties": {"pubtime": rfc3339(pubtime), "data_id": data_id,
                          "metadata_id": METADATA_ID, "datetime": rfc3339(pubtime)},
           "links": [{"href": href, "rel": rel}]}
    if data is not None:
        doc["properties"]["integrity"] = {"method": "sha512", "value": sha512_b64(data)}
        doc["links"][0]["length"] = len(data)
    return doc


class Wire:
    """A plain MQTT 5 client on the node's broker: records every message on origin/a/wis2/#
    and cache/a/wis2/# (topic, JSON body, content type) and publishes the test's own."""

    def __init__(self, mosquitto):
        self.seen = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(client_id=f"sr_test_wis2_{secrets.token_hex(4)}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set("tfeed", mosquitto.users["tfeed"])
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        assert self.subscribed.wait(TIMEOUT), "the test's MQTT client never subscribed"

    def _connected(self, client, userdata, flags, rc, properties=None):
        client.subscribe([("origin/a/wis2/#", SubscribeOptions(qos=1)),
                          ("cache/a/wis2/#", SubscribeOptions(qos=1))])

    def _message(self, client, userdata, msg):
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = None
        with self.lock:
            self.seen.append((msg.topic, body, getattr(msg.properties, "ContentType", None)))

    def publish(self, topic, doc):
        """Publish doc (a dict, or text as it is) with QoS 1 and wait for the PUBACK."""
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/geo+json"
        payload = doc if isinstance(doc, str) else json.dumps(doc)
        info = self.client.publish(topic, payload, qos=1, properties=props)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"not published on {topic}"

    def about(self, data_id, channel):
        """The messages seen on channel ("origin" or "cache") whose data_id is data_id."""
        with self.lock:
            return [(t, b, ct) for t, b, ct in self.seen
                    if t.split("/")[0] == channel and isinstance(b, dict)
                    and isinstance(b.get("properties"), dict)
                    and b["properties"].get("data_id") == data_id]

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def logged(component, needle, times):
    """component's log holds needle exactly `times` times, once it has written what it did:
    a flow writes its log out at the end of each pass, after it posted, so what the next
    hop did may be seen before this one's lines."""
    wait_until(lambda: component.count(needle) >= times, TIMEOUT)
    assert component.count(needle) == times, (needle, times, component.text())


def read_or_none(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


class Node:
    """The example node: its folders, its three running components, the wire."""

    def __init__(self, tok, root, nginx, env, wire):
        self.tok = tok
        self.root = root  # nginx serves it as nginx.url(f"/{tok}/")
        self.nginx = nginx
        self.env = env
        self.wire = wire
        self.data = root / "data"  # the dataset folder (the example's /srv/wis2/data)
        self.cache = root / "cache"
        self.upstream = root / "upstream"  # files the test's own notifications name
        self.received = Path(env["HOME"]) / "wis2" / "received"
        self.components = {}

    def url(self, path):
        return self.nginx.url(f"/{self.tok}/{path}")

    def produce(self, name, data):
        """As a producer does it (the example's README): NAME.tmp, then renamed."""
        tmp = self.data / f"{name}.tmp"
        tmp.write_bytes(data)
        os.rename(tmp, self.data / name)

    def upstream_file(self, name, data):
        path = self.upstream / name
        path.write_bytes(data)
        return self.url(f"upstream/{name}")

    @property
    def watch(self):
        return self.components["watch"]

    @property
    def sarra(self):
        return self.components["sarra"]

    @property
    def sub(self):
        return self.components["subscribe"]

    def logs(self):
        return "\n".join(f"=== {c} ===\n{p.text()[-8000:]}" for c, p in self.components.items())


def example_config(name, subs):
    """The example's config text with the test's hosts and folders in place of its own;
    every host and folder of the example must have been replaced."""
    text = (EXAMPLE / f"{name}.conf").read_text()
    for old, new in subs.items():
        text = text.replace(old, new)
    assert "localhost" not in text and "/srv/wis2" not in text, \
        f"examples/wis2/{name}.conf names a host or folder the test does not replace:\n{text}"
    return text


@pytest.fixture(scope="module")
def node(tmp_path_factory, mosquitto, nginx, sr_bin):
    base = tmp_path_factory.mktemp("wis2")
    tok = f"wis2_{secrets.token_hex(3)}"
    root = nginx.root / tok
    env = sr_home_env(base / "home")
    wire = Wire(mosquitto)
    n = Node(tok, root, nginx, env, wire)
    for d in (n.data, n.cache, n.upstream):
        d.mkdir(parents=True)
    subs = {
        "mqtt://node@localhost": mosquitto.url("tfeed"),
        "mqtt://everyone:everyone@localhost": mosquitto.url("tsub"),
        "http://localhost:8080/": n.url(""),
        "/srv/wis2/": f"{root}/",
    }
    for component, config in CONFIGS.items():
        d = Path(env["XDG_CONFIG_HOME"]) / "sr" / component
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{config}.conf").write_text(example_config(f"{component}/{config}", subs))
    try:
        for component in ("sarra", "subscribe", "watch"):
            n.components[component] = Component(sr_bin, env, component, CONFIGS[component],
                                                 base / f"{component}.log")
        n.sarra.wait_ready()
        n.sub.wait_ready()
        # the tree is walked and watched when the log says what is known
        n.watch.wait_for("entries known")
        yield n
    finally:
        codes = {c: p.stop() for c, p in n.components.items()}
        wire.close()
    assert codes == {c: 0 for c in codes}, (codes, n.logs())
    errors = [line for p in n.components.values() for line in p.text().splitlines()
              if "[ERROR]" in line]
    assert errors == [], errors


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def check_wnm(validator, seen, topic, href, data_id, data=None, rel="canonical"):
    """One message as recorded by Wire: on topic, valid by the schema, announcing href
    (rel) for data_id, with data's sha512 and length when given. Its body."""
    t, body, content_type = seen
    assert t == topic, seen
    errors = sorted(e.message for e in validator.iter_errors(body))
    assert errors == [], (errors, body)
    assert content_type == "application/geo+json", seen
    props = body["properties"]
    assert props["data_id"] == data_id and props["metadata_id"] == METADATA_ID, body
    assert props["pubtime"].endswith("Z") and pubtime_key(props["pubtime"]), body
    links = [link for link in body["links"] if link["rel"] == rel]
    assert [link["href"] for link in links] == [href], body
    if data is not None:
        assert props["integrity"] == {"method": "sha512", "value": sha512_b64(data)}, body
        assert links[0]["length"] == len(data), body
    return body


def test_files_cross_the_node_whole_announced_by_valid_wnms(node, validator):
    """FILES files written into the dataset folder arrive identical in the cache's folder
    and the subscriber's; each is announced once on origin/ (link to the dataset's URL)
    and once on cache/ (link to the cache's URL, an id of its own, the same data_id and
    pubtime), every message a valid WNM; the cache and the subscriber each download each
    file once."""
    files = {f"obs_{i}.txt": os.urandom(100 + 7000 * i) for i in range(FILES)}
    for name, data in files.items():
        node.produce(name, data)

    def arrived():
        return all(read_or_none(node.received / name) == data and
                   read_or_none(node.cache / node.tok / "data" / name) == data
                   for name, data in files.items())

    assert wait_until(arrived, TIMEOUT), node.logs()
    for name in files:
        data_id = f"{DATASET}/{name}"
        assert wait_until(lambda: len(node.wire.about(data_id, "cache")) >= 1, TIMEOUT), \
            node.wire.seen
        origin, cache = node.wire.about(data_id, "origin"), node.wire.about(data_id, "cache")
        assert len(origin) == 1 and len(cache) == 1, (origin, cache)
        o = check_wnm(validator, origin[0], ORIGIN, node.url(f"data/{name}"), data_id,
                      files[name])
        c = check_wnm(validator, cache[0], CACHE,
                      node.url(f"cache/{node.tok}/data/{name}"), data_id, files[name])
        assert o["id"] != c["id"], (o, c)
        assert c["properties"]["pubtime"] == o["properties"]["pubtime"], (o, c)
        cached = node.cache / node.tok / "data" / name
        logged(node.sarra, f"downloaded {cached} ", 1)
        logged(node.sub, f"downloaded {node.received / name} ", 1)
    # the files being written were never announced
    assert not [s for s in node.wire.seen if ".tmp" in json.dumps(s[1])], node.wire.seen


def test_a_file_written_again_is_an_update_fetched_again(node, validator):
    """A file of the dataset written again with new contents is announced again, same
    data_id, later pubtime: an update, which the cache and the subscriber fetch, each a
    second time; the new contents replace the old everywhere."""
    name, old, new = "twice.txt", os.urandom(1500), os.urandom(1600)
    data_id = f"{DATASET}/{name}"
    cached, received = node.cache / node.tok / "data" / name, node.received / name
    node.produce(name, old)
    assert wait_until(lambda: read_or_none(received) == old and
                      read_or_none(cached) == old, TIMEOUT), node.logs()
    node.produce(name, new)
    assert wait_until(lambda: read_or_none(received) == new and
                      read_or_none(cached) == new, TIMEOUT), node.logs()
    assert wait_until(lambda: len(node.wire.about(data_id, "cache")) == 2, TIMEOUT), \
        node.wire.about(data_id, "cache")
    origin = node.wire.about(data_id, "origin")
    assert len(origin) == 2, origin
    for seen, data in zip(origin, (old, new)):
        check_wnm(validator, seen, ORIGIN, node.url(f"data/{name}"), data_id, data)
    first, second = (pubtime_key(o[1]["properties"]["pubtime"]) for o in origin)
    assert second > first, (first, second)
    logged(node.sarra, f"downloaded {cached} ", 2)
    logged(node.sub, f"downloaded {received} ", 2)


@pytest.mark.parametrize("channel", ["origin", "cache"])
def test_a_data_id_heard_again_is_not_fetched_again_an_update_is(node, validator, channel):
    """The same notification twice, a copy with another id and the same pubtime, and an
    older one, published on `channel`: whoever reads that channel (the cache for origin/,
    the subscriber for cache/) fetches the file once. Its copy is removed after the first
    fetch, so a duplicate let through would bring it back; it stays away while a later
    notification of another data_id arrives, and each duplicate is logged. A newer
    pubtime is an update: fetched, the new contents replace the old."""
    name, fence = f"dup_{channel}.txt", f"fence_{channel}.txt"
    data_id = f"{DATASET}/{name}"
    first, second = os.urandom(3000), os.urandom(3100)
    href = node.upstream_file(name, first)
    # a minute ago: the update a second later is not from the future
    now = datetime.now(timezone.utc) - timedelta(seconds=60)
    rel = f"{node.tok}/upstream/{name}"
    if channel == "origin":
        reader, topic = node.sarra, ORIGIN
        copy = node.cache / node.tok / "upstream" / name
    else:
        reader, topic = node.sub, CACHE
        copy = node.received / name

    original = wnm(href, data_id, now, first)
    for doc in (original, wnm(href, data_id, now + timedelta(seconds=1), second)):
        assert not list(validator.iter_errors(doc)), doc
    node.wire.publish(topic, original)
    assert wait_until(lambda: read_or_none(copy) == first and
                      read_or_none(node.received / name) == first, TIMEOUT), node.logs()
    logged(reader, f"downloaded {copy} ", 1)
    copy.unlink()

    node.wire.publish(topic, original)
    node.wire.publish(topic, wnm(href, data_id, now, first))
    node.wire.publish(topic, wnm(href, data_id, now - timedelta(seconds=60), first))
    fence_data = os.urandom(10)
    node.wire.publish(topic, wnm(node.upstream_file(fence, fence_data), f"{DATASET}/{fence}",
                                 now, fence_data))
    assert wait_until(lambda: read_or_none(node.received / fence) == fence_data, TIMEOUT), \
        node.logs()

    def duplicates():
        return [line for line in reader.text().splitlines()
                if rel in line and "duplicate" in line]

    assert wait_until(lambda: len(duplicates()) == 3, TIMEOUT), reader.text()
    assert not copy.exists(), reader.text()
    logged(reader, f"downloaded {copy} ", 1)
    if channel == "origin":
        # the cache announced the file once: the subscriber heard of it once
        assert len(node.wire.about(data_id, "cache")) == 1, node.wire.about(data_id, "cache")

    (node.upstream / name).write_bytes(second)
    node.wire.publish(topic, wnm(href, data_id, now + timedelta(seconds=1), second))
    assert wait_until(lambda: read_or_none(copy) == second and
                      read_or_none(node.received / name) == second, TIMEOUT), node.logs()
    logged(reader, f"downloaded {copy} ", 2)
    assert len(duplicates()) == 3, reader.text()


def test_a_file_removed_from_the_dataset_is_removed_everywhere(node, validator):
    """A file removed from the dataset folder: the watch announces a deletion (the WNM
    deletion link, to the dataset's URL), the cache removes its copy and announces the
    deletion with its own URL, the subscriber removes its copy; each removes it once."""
    name, data = "gone.txt", os.urandom(2000)
    data_id = f"{DATASET}/{name}"
    cached, received = node.cache / node.tok / "data" / name, node.received / name
    node.produce(name, data)
    assert wait_until(lambda: read_or_none(received) == data and
                      read_or_none(cached) == data, TIMEOUT), node.logs()
    (node.data / name).unlink()
    assert wait_until(lambda: not cached.exists() and not received.exists(), TIMEOUT), \
        node.logs()

    def deletions(channel):
        return [s for s in node.wire.about(data_id, channel)
                if any(link.get("rel") == DELETION for link in s[1].get("links", []))]

    assert wait_until(lambda: len(deletions("cache")) == 1, TIMEOUT), node.wire.seen
    assert len(deletions("origin")) == 1, node.wire.about(data_id, "origin")
    check_wnm(validator, deletions("origin")[0], ORIGIN, node.url(f"data/{name}"), data_id,
              rel=DELETION)
    check_wnm(validator, deletions("cache")[0], CACHE,
              node.url(f"cache/{node.tok}/data/{name}"), data_id, rel=DELETION)
    logged(node.sarra, f"removed {cached}", 1)
    logged(node.sub, f"removed {received}", 1)


def test_a_malformed_wnm_is_dropped_named_and_the_next_goes_through(node, validator):
    """Notifications without properties.pubtime, with a link climbing out of the tree
    with '..', and with a property that would set one of sr's own fields (relPath),
    published on origin/ and on cache/: the cache and the subscriber each drop the three
    with a warning naming what is wrong, fetch nothing for them, and the good notification
    published after them reaches the subscriber through the cache."""
    bad = {}
    name = "bad.txt"
    href = node.upstream_file(name, b"must not be fetched\n")
    now = datetime.now(timezone.utc)
    no_pubtime = wnm(href, f"{DATASET}/{name}", now)
    del no_pubtime["properties"]["pubtime"]
    assert list(validator.iter_errors(no_pubtime)), "the schema should refuse it"
    bad["pubtime"] = no_pubtime
    # (a '..' that stays inside the tree, sub/../bad.txt, is a path like any other)
    bad[".."] = wnm(node.url("upstream/../../../etc/passwd"), f"{DATASET}/{name}", now)
    steering = wnm(href, f"{DATASET}/{name}", now)
    steering["properties"]["relPath"] = "elsewhere/bad.txt"
    bad["relPath"] = steering

    def dropped(component, channel):
        return [line for line in component.text().splitlines()
                if f"malformed message on topic {channel}/a/wis2/" in line]

    before = (len(dropped(node.sarra, "origin")), len(dropped(node.sub, "cache")))
    for doc in bad.values():
        node.wire.publish(ORIGIN, doc)
        node.wire.publish(CACHE, doc)
    good, data = "good_after_bad.txt", os.urandom(500)
    node.wire.publish(ORIGIN, wnm(node.upstream_file(good, data), f"{DATASET}/{good}", now,
                                  data))
    assert wait_until(lambda: read_or_none(node.received / good) == data, TIMEOUT), \
        node.logs()
    assert wait_until(lambda: (len(dropped(node.sarra, "origin")),
                               len(dropped(node.sub, "cache"))) ==
                      (before[0] + 3, before[1] + 3), TIMEOUT), node.logs()
    for component, channel, at in ((node.sarra, "origin", before[0]),
                                   (node.sub, "cache", before[1])):
        # one publisher, one topic: they come, and are logged, in the order sent
        lines = dropped(component, channel)[at:]
        assert [field in line for field, line in zip(bad, lines)] == [True] * 3, lines
        assert all("[WARNING]" in line for line in lines), lines
    # nothing was fetched for them, anywhere
    found = [p for p in node.root.rglob(name) if p.parent != node.upstream]
    found += list(node.root.rglob("passwd")) + list(node.received.glob("*passwd*"))
    assert found == [] and not (node.received / name).exists(), found


def test_a_file_that_does_not_match_its_integrity_is_not_cached(node, validator):
    """A notification whose integrity is not the file's: the cache fetches the file,
    finds another sha512, says so, keeps no copy and announces nothing (the retry queue
    has it); the subscriber never hears of it."""
    name = "tampered.txt"
    data_id = f"{DATASET}/{name}"
    href = node.upstream_file(name, b"what the server has\n")
    doc = wnm(href, data_id, datetime.now(timezone.utc), b"what the producer announced\n")
    doc["links"][0]["length"] = len(b"what the server has\n")
    assert not list(validator.iter_errors(doc)), doc
    node.wire.publish(ORIGIN, doc)
    fence, data = "after_tampered.txt", os.urandom(300)
    node.wire.publish(ORIGIN, wnm(node.upstream_file(fence, data), f"{DATASET}/{fence}",
                                  datetime.now(timezone.utc), data))
    assert wait_until(lambda: read_or_none(node.received / fence) == data, TIMEOUT), \
        node.logs()

    def said():
        return [line for line in node.sarra.text().splitlines()
                if f"upstream/{name}" in line and "will retry" in line]

    wait_until(said, TIMEOUT)
    lines = said()
    assert len(lines) == 1 and "sha512" in lines[0] and "[WARNING]" in lines[0], \
        node.sarra.text()
    assert [p for p in node.cache.rglob(f"{name}*")] == []
    assert node.wire.about(data_id, "cache") == [] and not (node.received / name).exists()
