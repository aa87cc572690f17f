# SPDX-License-Identifier: GPL-2.0-only
"""WIS2 notification messages from Python sr3 (../shared/peers) to sr, over RabbitMQ.

sr3 (3.00.56) reads WNMs "in part" and writes them its own way: its `post_format wis`
writes messages that WNM 1.0 does not accept (no conformsTo, metadata_id or temporal
description; a `version` member instead), with an empty routing key. sr refuses each of
them out loud, naming the member WNM 1.0 requires, downloads nothing for them, and goes
on with the next message (a v03 one, downloaded).

The other way does not work in this sr3, and is not tested: it files a WNM under the MQTT
topic the message came with, so over AMQP it acknowledges and discards every WNM
("missing key: relPath"), sr's included; and its MQTT needs a paho-mqtt newer than
Debian 12's (see test_sr3_mixed.py).
"""
from helpers import Component, wait_until, write_config
from sr3peer import needs_sr3
from test_sr3_mixed import declare_exchange, write_tree

TIMEOUT = 120  # for what takes seconds; a loaded machine may take many times longer
CENTRE = "io-sr-test"
KEY = f"a.wis2.{CENTRE}.data.core.weather.surface-based-observations"


@needs_sr3
def test_sr3_wis_post_refused_by_sr_subscribe(rabbitmq, nginx, broker_tool, sr_bin, sr_env,
                                              sr3, tmp_path):
    """sr3's WNMs are refused, the missing member named; a v03 message after them is
    downloaded: the subscriber runs on."""
    src, dest = nginx.root / "wis3r", tmp_path / "dest"
    declare_exchange(broker_tool, rabbitmq.url("tfeed"), "origin")
    for fmt, prefix in (("wis", KEY), ("v03", "v03")):
        sr3.write_config("post", fmt, f"""
            post_broker {rabbitmq.url("tfeed")}
            post_exchange origin
            post_topicPrefix {prefix}
            post_format {fmt}
            post_baseUrl {nginx.url("/wis3r/")}
            post_baseDir {src}
            """)
    # sr3's WNMs go out with an empty routing key (its wis format writes no topic), so
    # the subscriber binds to everything on the exchange
    write_config(sr_env, "subscribe", "get", f"""
        broker {rabbitmq.url("tsub")}
        exchange origin
        topic #
        directory {dest}
        mirror off
        """)
    sub = Component(sr_bin, sr_env, "subscribe", "get", tmp_path / "get.log").wait_ready()
    try:
        wis_names = [f"a{i}.bufr4" for i in range(3)]
        write_tree(src, wis_names + ["after.txt"], "wis3r")
        sr3.post("-c", "wis", *[str(src / n) for n in wis_names])
        sr3.post("-c", "v03", str(src / "after.txt"))
        assert wait_until(lambda: (dest / "after.txt").exists(), TIMEOUT), sub.text()[-3000:]
        refused = [line for line in sub.text().splitlines() if "WNM" in line]
        assert len(refused) == len(wis_names), sub.text()[-3000:]
        # WNM 1.0's first requirement sr3's message misses, named as a JSON path
        assert all("conformsTo" in line or "properties." in line for line in refused), refused
        assert sorted(p.name for p in dest.iterdir()) == ["after.txt"]
    finally:
        assert sub.stop() == 0

