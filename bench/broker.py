#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/broker.py: drives bench/broker.c against private brokers.

Starts a RabbitMQ and a Mosquitto of the integration tests' harness
(test/integration/servers.py: free ports, own users, own data), with their data on the
disk under the build folder (not a tmpfs: a broker's fsync is part of what a confirm
costs), runs $SR_BUILD/bench/broker with both URLs, and stops them whatever happened.

    SR_BUILD=build bench/broker.py      (make bench-broker)

A second Mosquitto, with `set_tcp_nodelay true`, shows what mosquitto's default (Nagle's
algorithm on its PUBACKs) costs a publisher that waits for its confirms per batch.

SR_BENCH_BROKER_MSGS, SR_BENCH_RUNS, SR_BENCH_SIZE and SR_BENCH_SECONDS pass through to
bench/broker.c. Exit status: the benchmark's, or 1 when a broker does not start.

Then, on the same brokers in the same run, Python sr3 (../shared/peers/sarracenia, its
own messaging layer sarracenia.moth, run by /usr/bin/python3 as bin/sr3 is) publishes
and consumes the same message the same number of times: publish by Moth.pubFactory +
putNewMessage (a transaction per message on AMQP, as sr3 posts; a publish stops at the
first message past SR_BENCH_SECONDS, as the confirmed ones in broker.c do), consume by
Moth.subFactory + newMessages (batch 25, prefetch 25) + ack of each. Each figure is
printed beside sr's from broker.c's "figure" lines, with the ratio sr/sr3. Skipped with
one line when ../shared/peers is absent; sr3's MQTT needs paho-mqtt 2.1 or later, and
is skipped with one line saying so where Python has an older one (Debian 12: 1.6.1).

flow.py, http.py and move.py import their shared helpers from here (start_brokers,
PeakRss, env_int, median, tail ...).
"""
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "integration"))

from servers import Mosquitto, RabbitMQ, ServerError  # noqa: E402


PEERS = REPO.parent / "shared" / "peers"
SR3_LIB = PEERS / "sarracenia"
PYTHON3 = "/usr/bin/python3"  # the one sr3's own bin/sr3 runs
SR3_TIMEOUT = 600


class NodelayMosquitto(Mosquitto):
    """The harness's Mosquitto with `set_tcp_nodelay true`: the PUBACKs leave at once
    instead of waiting behind Nagle's algorithm (mosquitto's default is false)."""

    name = "mosquitto-nodelay"

    def _launch(self):
        conf = self.dir / "mosquitto.conf"
        text = conf.read_text()
        if "set_tcp_nodelay" not in text:
            conf.write_text(text + "set_tcp_nodelay true\n")
        return super()._launch()


def env_int(name, default, low=1):
    """The whole number in environment variable name (default when unset), at least low;
    exits with a message naming the script and the variable otherwise."""
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or int(text) < low:
        sys.exit(f"{Path(sys.argv[0]).name}: {name}={text}: expected a whole number >= {low}")
    return int(text)


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def tail(path, lines=20):
    """The last lines of a log, for a failure message."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path}: no log)"


def build_dir():
    """The build under test: $SR_BUILD, else <repo>/build."""
    return Path(os.environ.get("SR_BUILD") or REPO / "build").resolve()


def need(path):
    """path, or exit 2 saying it is not built."""
    if not os.access(path, os.X_OK):
        sys.exit(f"{path}: not built (see mk/bench.mk)")
    return str(path)


def machine():
    """The machine line every benchmark prints."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: {model}, {os.cpu_count()} cores, Linux {platform.release()} "
            f"{platform.machine()}")


def describe(rabbit=None, mosq=None):
    """One line per broker: its version and where it listens."""
    lines = []
    if rabbit is not None:
        v = rabbit.ctl("version", check=False).stdout.strip() or "?"
        lines.append(f"broker:  RabbitMQ {v} on 127.0.0.1:{rabbit.port}, data in {rabbit.dir}")
    if mosq is not None:
        out = subprocess.run([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"],
                             capture_output=True, text=True).stdout
        v = out.splitlines()[0].split("version")[-1].strip() if out else "?"
        lines.append(f"broker:  mosquitto {v} on 127.0.0.1:{mosq.port}, persistence on")
    return "\n".join(lines)


class PeakRss(threading.Thread):
    """Polls VmHWM of a pid every 20 ms until the process is gone; .kib is the last value
    read. The high-water mark only grows, a zombie has none left to read, and a value read
    before the exec (a vforked child shows its parent's) is overwritten by the next one.
    (Not wait4's ru_maxrss: that counts the child's life before the exec, as big as
    Python itself.) .anon is the largest RssAnon seen: the part of the memory that is the
    process's own; the rest of VmHWM is mostly shared libraries' pages (libcurl, libssh,
    OpenSSL...), mapped once for all the processes on the machine."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.kib = 0
        self.anon = 0
        self.start()

    def run(self):
        path = f"/proc/{self.pid}/status"
        while True:
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                return
            found = False
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = int(line.split()[1])
                    found = True
                elif line.startswith("RssAnon:"):
                    self.anon = max(self.anon, int(line.split()[1]))
            if not found:  # exited, not yet reaped
                return
            time.sleep(0.02)


@contextlib.contextmanager
def start_brokers(amqp=True, mqtt=True, nodelay=False):
    """[rabbitmq, mosquitto, mosquitto with set_tcp_nodelay], each None when not asked
    for, started under a new folder of the build folder and stopped (and the folder
    removed) on the way out."""
    base = Path(tempfile.mkdtemp(prefix="bench-brokers.", dir=build_dir()))
    started = []
    try:
        servers = [RabbitMQ(base / "rabbitmq") if amqp else None,
                   Mosquitto(base / "mosquitto") if mqtt else None,
                   NodelayMosquitto(base / "mosquitto-nodelay") if nodelay else None]
        for server in servers:
            if server is not None:
                started.append(server)
                server.start()
        yield servers
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---- Python sr3 on the same work: this file run again by PYTHON3 with sr3 on its path ----

def sr3_message(size):
    """The v03 message broker.c sends (its fields, padded to size bytes of JSON), as the
    dict sr3's messaging layer takes."""
    import json

    import sarracenia
    fields = {
        "pubTime": "20260301T120000.123456789", "baseUrl": "https://dd.example.com/",
        "relPath": "bench/20260301/WXO/12/CMC_glb_TMP_TGL_2_latlon.15x.15_2026030112_P000.grib2",
        "identity": {"method": "sha512", "value": "z4PhNX7vuL3xVChQ1m2AB8Yc0q5aZyfG+3H4Jk2LmNoP"
                     "qRsTuVwXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS=="},
        "size": 1048576, "mtime": "20260301T115959.5", "atime": "20260301T115959.5",
        "mode": "644", "source": "tfeed", "pad": ""}
    fields["pad"] = "x" * max(0, size - len(json.dumps(fields)))
    m = sarracenia.Message()  # it comes with sr3's own internal fields
    m.update(fields)
    m["_format"] = "v03"
    return m


def sr3_worker(proto, url, n, size, seconds, runs):
    """Publish then consume n messages with sr3's Moth, runs times; prints
    "sr3 publish R consume R" per run (messages/s)."""
    import logging
    logging.basicConfig(level=getattr(logging, os.environ.get("SR3_BENCH_LOG", "CRITICAL")))
    import sarracenia.moth
    from sarracenia.config.credentials import Credential
    mqtt = proto == "mqtt"
    exchange, queue = "xs_bench_sr3", "q_bench.sr3"
    opts = {"broker": Credential(url), "exchange": exchange, "topicPrefix": ["v03"],
            "queueName": queue, "bindings": [(exchange, ["v03"], ["#"])], "batch": 25,
            "prefetch": 25, "expire": 3600, "durable": True, "auto_delete": False,
            "queueDeclare": True, "queueBind": True, "exchangeDeclare": True,
            "persistent": True, "timeout": 30, "messageAgeMax": 0, "dry_run": False,
            "messageDebugDump": False, "inline": False, "post_format": "v03",
            "message_strategy": {"reset": True, "stubborn": False, "failure_duration": "5m"}}
    if mqtt:
        opts.update({"no": 1, "receiveMaximum": 25, "qos": 1})
    msg = sr3_message(size)

    # sr3 connects on first use: getSetup / putSetup connect (and declare) now
    def sub():
        s = sarracenia.moth.Moth.subFactory(dict(opts))
        if s is None:
            raise SystemExit("sr3: no subscriber")
        s.getSetup()
        return s

    def publisher():
        p = sarracenia.moth.Moth.pubFactory(dict(opts))
        if p is None:
            raise SystemExit("sr3: no publisher")
        p.putSetup()  # connected (and the exchange declared) before the clock starts
        return p

    publisher().close()  # the exchange (AMQP) ...
    sub().close()  # ... and the queue or session, bound before anything is sent
    for _ in range(runs):
        pub = publisher()
        t0 = time.monotonic()
        sent = 0
        while sent < n and time.monotonic() - t0 < seconds:
            if not pub.putNewMessage(msg):
                raise SystemExit("sr3: a publish failed")
            sent += 1
        if mqtt:  # paho sends in its thread: wait for the last PUBACK
            while pub.client.want_write() or pub.pending_publishes:
                time.sleep(0.001)
        rate_pub = sent / (time.monotonic() - t0)
        pub.close()
        t0 = time.monotonic()  # as sr's consumer, subscribing is on the clock
        s = sub()
        got, last = 0, time.monotonic()
        while got < sent:
            batch = s.newMessages()
            for m in batch:
                s.ack(m)
            got += len(batch)
            if batch:
                last = time.monotonic()
            elif time.monotonic() - last > 30:
                raise SystemExit(f"sr3: consumed {got} of {sent}, then none for 30 s")
        rate_con = got / (time.monotonic() - t0)
        s.close()
        print(f"sr3 publish {rate_pub:.0f} consume {rate_con:.0f}", flush=True)


def sr3_column(figures, rabbit_url, mosq_url):
    """Python sr3 on the same work; its figures beside sr's with the ratio."""
    print("Python sr3 (sarracenia.moth), the same messages on the same brokers")
    if not (SR3_LIB / "sarracenia" / "moth" / "__init__.py").is_file():
        print(f"  skipped: {PEERS} is absent")
        return
    n = env_int("SR_BENCH_BROKER_MSGS", 10000, 100)
    runs = env_int("SR_BENCH_RUNS", 5)
    size = env_int("SR_BENCH_SIZE", 1024, 300)
    seconds = env_int("SR_BENCH_SECONDS", 2)
    home = Path(tempfile.mkdtemp(prefix="sr3-home.", dir=build_dir()))
    env = dict(os.environ)
    for var in ("SR_CONFIG_DIR", "SR_STATE_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env.pop(var, None)
    env.update({"HOME": str(home), "PYTHONPATH": str(SR3_LIB), "PYTHONDONTWRITEBYTECODE": "1"})
    paho = subprocess.run([PYTHON3, "-c", "import paho.mqtt; print(paho.mqtt.__version__)"],
                          capture_output=True, text=True, env=env).stdout.strip()
    version = tuple(int(x) for x in paho.split(".")[:2] if x.isdigit()) if paho else ()
    for proto, url, names in (("amqp", rabbit_url, ("amqp_publish", "amqp_consume")),
                              ("mqtt", mosq_url, ("mqtt_publish", "mqtt_consume"))):
        label = proto.upper()
        if proto == "mqtt" and version < (2, 1):
            print(f"  {label}: skipped: sr3 speaks MQTT through paho-mqtt 2.1 or later, and "
                  f"{PYTHON3} has {paho or 'none'}")
            continue
        try:
            # -P: not bench/ first on the path (its http.py would hide the standard one)
            proc = subprocess.run([PYTHON3, "-P", __file__, "--sr3", proto, url, str(n), str(size),
                                   str(seconds), str(runs)], capture_output=True, text=True,
                                  env=env, timeout=SR3_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  {label}: sr3 did not finish within {SR3_TIMEOUT} s")
            continue
        pubs, cons = [], []
        for line in proc.stdout.splitlines():
            w = line.split()
            if len(w) == 5 and w[0] == "sr3":
                pubs.append(float(w[2]))
                cons.append(float(w[4]))
        if proc.returncode != 0 or not pubs:
            print(f"  {label}: sr3 failed: {tail_text(proc.stderr)}")
            continue
        what = ("publish (sr: confirmed batches of 25; sr3: a transaction per message)"
                if proto == "amqp" else "publish QoS 1 (sr: batches of 25)")
        for kind, values, name in ((what, pubs, names[0]),
                                   ("consume + ack (prefetch 25)", cons, names[1])):
            sr3 = median(values)
            sr = figures.get(name)
            ratio = f"   ratio sr/sr3 {sr / sr3:.1f}" if sr and sr3 else ""
            print(f"  {label} {kind}: sr3 {sr3:.0f} msg/s, sr {sr or 0:.0f} msg/s{ratio}")
    shutil.rmtree(home, ignore_errors=True)


def tail_text(text, lines=5):
    return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing on stderr)"


def main():
    program = need(build_dir() / "bench" / "broker")
    print(machine(), flush=True)
    try:
        with start_brokers(nodelay=True) as (rabbit, mosq, mosq_nodelay):
            print(describe(rabbit, mosq), flush=True)
            print(f"broker:  and a second mosquitto with set_tcp_nodelay true on "
                  f"127.0.0.1:{mosq_nodelay.port}", flush=True)
            # the C program prints its own machine line too: keep one
            proc = subprocess.run([program, rabbit.url("tfeed"), mosq.url("tfeed"),
                                   mosq_nodelay.url("tfeed")],
                                  stdout=subprocess.PIPE, text=True)
            figures, peak = {}, []
            for line in proc.stdout.splitlines():
                if line.startswith("figure "):
                    _, name, value = line.split()
                    figures[name] = float(value)
                elif line.startswith("peak RSS"):
                    peak.append(line)  # after the sr3 column: it is broker.c's
                elif not line.startswith("machine:"):
                    print(line, flush=True)
            if proc.returncode == 0:
                sr3_column(figures, rabbit.url("tfeed"), mosq.url("tfeed"))
            print("\n".join(peak))
            return proc.returncode
    except ServerError as err:
        print(f"bench/broker.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--sr3":
        sr3_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                   float(sys.argv[6]), int(sys.argv[7]))
        sys.exit(0)
    sys.exit(main())
