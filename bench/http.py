#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/http.py: small files fetched over http by sr, next to curl in the same run.

    SR_BUILD=build bench/http.py      (make bench-http)

SR_BENCH_FILES (2000) files of 4 KiB on a private nginx on 127.0.0.1 (the integration
tests' fixture, test/integration/fixtures_web.py), fetched

  by sr    $SR_BUILD/test/tools/sr_transfer_tool getmany: one session (one kept-alive
           connection), each file through sr_transfer_download as a flow downloads it:
           written under its inflight name, sha512 computed on the fly and kept in the
           file's xattr, renamed when complete
  by curl  one `curl -sf -o FILE URL` per file, the way a script without sr would, all
           from one sh: a process, a connection and a request each; timed on the first
           SR_BENCH_CURL_FILES (200) files only, as files/s, since a curl process costs
           tens of milliseconds to start here (set it to SR_BENCH_FILES for all of them)

Figures: files/s and MB/s of each, the ratio sr/curl (the median of the runs' ratios), sr's
peak RSS (VmHWM, polled); the median of SR_BENCH_RUNS (5) runs, sr and curl alternating.
The files and the copies live under a new folder of the build folder, removed at the end.
Exit status 1 when something fails.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from broker import PeakRss, build_dir, env_int, machine, median, need  # noqa: E402

# fixtures_web is a pytest plugin; its Nginx class needs nothing of pytest but the
# decorator, so a stand-in does when pytest is not installed.
if importlib.util.find_spec("pytest") is None:
    sys.modules["pytest"] = types.SimpleNamespace(
        fixture=lambda *a, **k: (lambda f: f) if not a or not callable(a[0]) else a[0])

from fixtures_web import NGINX, Nginx  # noqa: E402  (test/integration is on sys.path)
from servers import ServerError  # noqa: E402

SIZE = 4096


def timed(argv):
    """(seconds, peak RSS KiB, exit code, output) of one program run to its end."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = PeakRss(proc.pid)
    out, _ = proc.communicate()
    took = time.monotonic() - t0
    peak.join()
    return took, peak.kib, proc.returncode, out.decode(errors="replace")


def first_line(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    text = (r.stdout or r.stderr).strip()
    return text.splitlines()[0] if text else "?"


def main():
    n = env_int("SR_BENCH_FILES", 2000)
    runs = env_int("SR_BENCH_RUNS", 5)
    m = min(env_int("SR_BENCH_CURL_FILES", 200), n)
    tool = need(build_dir() / "test" / "tools" / "sr_transfer_tool")
    curl = shutil.which("curl")
    if curl is None:
        sys.exit("bench/http.py: curl not found")
    base = Path(tempfile.mkdtemp(prefix="bench-http.", dir=build_dir()))
    server = Nginx(base / "server")
    try:
        server.start()
        src = server.root / "bench"
        src.mkdir()
        for i in range(n):
            (src / f"f{i}").write_bytes(os.urandom(SIZE))
        print(machine())
        print(f"server:  {first_line([NGINX, '-v'])} on 127.0.0.1:{server.port}, "
              f"keepalive_requests 1000000")
        print(f"curl:    {first_line([curl, '--version'])}")
        print(f"data:    {n} files of {SIZE} bytes; copies in {base}")
        print(f"figures: median of {runs} runs, wall clock, sr and curl alternating", flush=True)
        dest = base / "dest"
        script = base / "curl.sh"
        script.write_text("set -e\n" + "".join(
            f"{curl} -sf -o {dest}/curl/f{i} {server.url(f'/bench/f{i}')}\n" for i in range(m)))
        t_sr, t_curl, rss = [], [], []
        for r in range(runs):
            shutil.rmtree(dest, ignore_errors=True)
            (dest / "sr").mkdir(parents=True)
            (dest / "curl").mkdir()
            took, peak, rc, out = timed([tool, server.url(), "getmany", "/bench",
                                         str(dest / "sr"), str(n), "f"])
            if rc != 0 or f"ok getmany {n} files" not in out:
                raise RuntimeError(f"sr_transfer_tool getmany failed:\n{out[-3000:]}")
            t_sr.append(took)
            rss.append(peak)
            took, _, rc, out = timed(["sh", str(script)])
            if rc != 0:
                raise RuntimeError(f"curl failed:\n{out[-3000:]}")
            t_curl.append(took)
            for side, want in (("sr", n), ("curl", m)):
                got = len(os.listdir(dest / side))
                if got != want:
                    raise RuntimeError(f"{side}: {got} of {want} files arrived")
            if (dest / "sr" / f"f{n - 1}").read_bytes() != (src / f"f{n - 1}").read_bytes():
                raise RuntimeError("sr's copy differs from the original")
            print(f"  run {r + 1}: sr {n / t_sr[-1]:.0f} files/s, curl "
                  f"{m / t_curl[-1]:.0f} files/s", file=sys.stderr, flush=True)
        s, c = median(t_sr), median(t_curl)
        ratio = median([(n / x) / (m / y) for x, y in zip(t_sr, t_curl)])
        print("http get, files of 4 KiB")
        print(f"  sr, one session            {n / s:8.1f} files/s  {n * SIZE / 1e6 / s:6.2f} MB/s"
              f"  ({n} files in {s:.2f} s)")
        print(f"  curl, one per invocation   {m / c:8.1f} files/s  {m * SIZE / 1e6 / c:6.2f} MB/s"
              f"  ({m} files in {c:.2f} s)")
        print(f"  ratio sr/curl {ratio:.1f}")
        print(f"peak RSS of sr_transfer_tool {max(rss)} KiB")
        return 0
    except (ServerError, RuntimeError, OSError) as err:
        print(f"bench/http.py: {err}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
