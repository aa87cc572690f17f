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
            for line in proc.stdout.splitlines():
                if not line.startswith("machine:"):
                    print(line)
            return proc.returncode
    except ServerError as err:
        print(f"bench/broker.py: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
