#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make demo: sr moving files on this machine, from a watched folder to a subscriber.

What it starts, all on 127.0.0.1 ports that were free, under one scratch folder:
  - a private Mosquitto (the MQTT broker the announcements go through),
  - a private nginx serving the source tree (where the subscriber downloads from),
  - `sr start` of two configs kept in the scratch folder (SR_CONFIG_DIR):
      watch/demo      watches <scratch>/www/outgoing, announces each file on Mosquitto
      subscribe/demo  consumes those announcements, downloads each file over http into
                      <scratch>/incoming
Then it drops sample files into the watched folder, prints each one as it arrives (size,
sha512, lag from the moment it was written), shows `sr status`, and stops all it started.
The scratch folder stays, with the configs, logs and both trees, for a look afterwards.

Environment: SR_BUILD, the build whose binaries run (default <repo>/build).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "integration"))

from fixtures_web import Nginx  # noqa: E402
from servers import Mosquitto, ServerError  # noqa: E402

# name -> size in bytes: text, a small binary, one that needs several reads, one empty
SAMPLES = {"hello.txt": 14, "obs/station-071.csv": 2_500, "radar/composite.png": 300_000,
           "models/run-00z.grib2": 8 * 1024 * 1024, "empty.flag": 0}
ARRIVAL_TIMEOUT = 120  # seconds for all samples to arrive before the demo says it failed
READY_TIMEOUT = 60  # seconds for the two configs to be ready (a busy machine is slow)


def say(text=""):
    print(text, flush=True)


def sha512_of(path):
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


class Demo:
    def __init__(self, scratch, build):
        self.scratch = scratch
        self.bin = build / "bin"
        self.source = scratch / "www" / "outgoing"   # what nginx serves, what watch watches
        self.dest = scratch / "incoming"
        self.env = dict(os.environ)
        self.env.update({"SR_CONFIG_DIR": str(scratch / "config"),
                         "SR_STATE_DIR": str(scratch / "state"),
                         "SR_CONFD": str(REPO / "conf.d")})
        self.mosquitto = Mosquitto(scratch / "mosquitto")
        self.nginx = Nginx(scratch / "www-server")
        self.nginx.root = scratch / "www"

    def sr(self, *args, check=True):
        result = subprocess.run([str(self.bin / "sr"), *args], env=self.env, text=True,
                                capture_output=True, timeout=120)
        if check and result.returncode != 0:
            raise SystemExit(f"demo: sr {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}{result.stderr}")
        return result

    def write_configs(self):
        config = self.scratch / "config"
        for sub in ("watch", "subscribe"):
            (config / sub).mkdir(parents=True, exist_ok=True)
        # Passwords live in credentials.conf, never in a config (sr-credentials(5)).
        creds = config / "credentials.conf"
        creds.write_text(f"{self.mosquitto.url('tfeed')}\n{self.mosquitto.url('tsub')}\n")
        creds.chmod(0o600)
        broker = f"mqtt://{{}}@127.0.0.1:{self.mosquitto.port}"
        (config / "watch" / "demo.conf").write_text(textwrap.dedent(f"""\
            # Announce every file written under {self.source}.
            post_broker {broker.format('tfeed')}
            post_exchange xpublic
            path {self.source}
            # the nginx of the demo serves {self.source.parent} as /
            post_baseDir {self.source.parent}
            post_baseUrl {self.nginx.url('/')}
            # look every second (sr3's default is 5): a demo should not keep you waiting
            sleep 1
            """))
        (config / "subscribe" / "demo.conf").write_text(textwrap.dedent(f"""\
            # Download every file announced on the demo's Mosquitto into {self.dest}.
            broker {broker.format('tsub')}
            exchange xpublic
            subtopic #
            directory {self.dest}
            mirror on
            """))

    def start(self):
        say(f"demo: everything lives under {self.scratch}")
        self.mosquitto.start()
        say(f"demo: Mosquitto on 127.0.0.1:{self.mosquitto.port} "
            f"(log {self.mosquitto.dir / 'mosquitto.log'})")
        self.source.mkdir(parents=True, exist_ok=True)
        self.dest.mkdir(parents=True, exist_ok=True)
        self.nginx.start()
        say(f"demo: nginx on {self.nginx.url('/')} serving {self.nginx.root}")
        self.write_configs()
        say(f"demo: configs in {self.scratch / 'config'}: watch/demo.conf, subscribe/demo.conf")
        say("\n$ sr start")
        say(self.sr("start").stdout.rstrip())

    def wait_ready(self):
        """Until the subscriber has subscribed (its persistent MQTT session must exist
        before the first announcement, or the announcement goes to nobody: sr logs
        "connected to" once the broker has acknowledged the subscription) and the watch
        watches the folder (it logs what it knows once the tree is walked)."""
        logs = self.scratch / "state" / "log"
        want = {"subscribe_demo_01.log": "connected to", "watch_demo_01.log": "entries known"}

        def ready():
            for name, text in want.items():
                try:
                    if text not in (logs / name).read_text(errors="replace"):
                        return False
                except FileNotFoundError:
                    return False
            return True
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"demo: not ready after {READY_TIMEOUT} s: see the logs "
                                 f"in {logs}")
            time.sleep(0.1)

    def drop_and_follow(self):
        self.wait_ready()
        say(f"\ndemo: writing {len(SAMPLES)} files into {self.source}")
        written = {}
        for rel, size in SAMPLES.items():
            path = self.source / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(size) if size > 100 else b"hello, world!\n"[:size])
            written[rel] = (time.time(), sha512_of(path), size)
        say(f"\n{'arrived in ' + str(self.dest):<44} {'size':>10}  {'sha512':<18} {'lag':>6}  same")
        pending = dict(written)
        deadline = time.monotonic() + ARRIVAL_TIMEOUT
        bad = 0
        while pending and time.monotonic() < deadline:
            for rel in list(pending):
                got = self.dest / "outgoing" / rel
                # A download is written under a temporary name and renamed when whole, so
                # a file under its final name is complete.
                if not got.exists():
                    continue
                t0, digest, size = pending.pop(rel)
                lag = time.time() - t0
                same = sha512_of(got) == digest and got.stat().st_size == size
                bad += not same
                say(f"{'outgoing/' + rel:<44} {human(size):>10}  {digest[:16]}.. {lag:5.2f}s  "
                    f"{'yes' if same else 'NO'}")
            time.sleep(0.1)
        for rel in pending:
            say(f"{'outgoing/' + rel:<44} did not arrive within {ARRIVAL_TIMEOUT}s")
        return not pending and bad == 0

    def status(self):
        time.sleep(1)  # a pause for the reader before the table; nothing waits on it
        say("\n$ sr status")
        say(self.sr("status", check=False).stdout.rstrip())

    def stop(self):
        say("\n$ sr stop")
        result = self.sr("stop", check=False)
        say(result.stdout.rstrip())
        self.nginx.stop()
        self.mosquitto.stop()

    def where(self):
        state = self.scratch / "state"
        say("\ndemo: to look around")
        say(f"  source tree       {self.source}")
        say(f"  downloaded files  {self.dest}")
        say(f"  configs           {self.scratch / 'config'}")
        say(f"  logs              {state / 'log'}")
        say(f"  metrics           {state / 'metrics'}")
        say(f"  sr itself         SR_CONFIG_DIR={self.scratch / 'config'} "
            f"SR_STATE_DIR={state} {self.bin / 'sr'} status")


def main():
    build = Path(os.environ.get("SR_BUILD") or REPO / "build")
    for name in ("sr", "sr_watch", "sr_subscribe"):
        if not os.access(build / "bin" / name, os.X_OK):
            sys.exit(f"demo: {build / 'bin' / name} is not built (run `make`)")
    for tool in ("mosquitto", "nginx"):
        if not (shutil.which(tool) or os.access(f"/usr/sbin/{tool}", os.X_OK)):
            sys.exit(f"demo: {tool} is not installed (run `make deps`)")
    scratch = Path(tempfile.mkdtemp(prefix="sr-demo."))
    demo = Demo(scratch, build)
    ok = False
    try:
        demo.start()
        ok = demo.drop_and_follow()
        demo.status()
    except ServerError as err:
        say(f"demo: a server did not start: {err}")
    finally:
        demo.stop()
        demo.where()
    if not ok:
        logs = scratch / "state" / "log"
        say(f"\ndemo: FAILED: not every file arrived intact; the logs in {logs} say why")
        return 1
    say("\ndemo: every file arrived, complete and identical.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
