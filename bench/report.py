#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench/report.py: runs every benchmark and writes bench/REPORT.md (make bench).

Each benchmark prints its own figures beside the reference measured in the same run, the
ratio, its peak RSS and its medians; this script adds nothing to them. It runs
`make -s bench-NAME` for each NAME given, keeps each one's output (stdout and stderr, as
printed) in bench/out/NAME.txt and the run's facts in bench/out/run.json, and assembles
bench/REPORT.md: the machine (CPU model,
cores, kernel, memory, load average before and after), then per benchmark the lines that
carry a ratio or a peak RSS, and the full output in a collapsible section. No figure is
computed or rewritten here: every number in the report is a copy of a benchmark's line.

    SR_BENCH_MAKE="make BUILD=build" bench/report.py identity codec ...
    bench/report.py --again     (REPORT.md again from bench/out/, running nothing)

SR_BENCH_RUNS is set to 5 for every benchmark unless it is already set (the issue asks for
medians of at least 5 runs; flow, broker and move default to 3 when run alone).
SR_BENCH_NOTE, when set, is printed in the report's header (e.g. that the machine was busy).
Exit status: 0 when every benchmark exited 0, else 1 (the report is written either way).
"""
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
REPORT = REPO / "bench" / "REPORT.md"

# A key line: one that carries a ratio (sr against the reference) or a peak RSS, and the
# headings and reference lines that say what those ratios compare.
KEY = re.compile(r"ratio|RSS|ceiling:|^\S.*[^.]$|^  \S.*(files/s|msg/s|MB/s)|^\s+\S.*:$")
NOT_KEY = re.compile(r"^[a-z]+:\s{2,}|^(machine|broker|server|curl|clients|data|figures|queues|make|"
                     r"bench/|cc |ar |rm |SR_BUILD=|PYTHON=|real\s|user\s|sys\s)|"
                     r"^\s+run \d|^\s*(broker|queues):|\bdone$")


def machine():
    """The machine the figures were taken on, as a few lines of markdown."""
    model, mem = "?", "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
                break
    except OSError:
        pass
    return model, os.cpu_count(), platform.release(), platform.machine(), mem


def loadavg():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def git_commit():
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run(make, name, env):
    """Runs one benchmark, echoing its output as it comes and keeping it in OUT/NAME.txt.
    Returns (exit status, seconds, output)."""
    cmd = make + ["-s", "--no-print-directory", f"bench-{name}"]
    print(f"== bench-{name}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    lines = []
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as p:
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    took = time.monotonic() - t0
    text = "".join(lines)
    (OUT / f"{name}.txt").write_text(text)
    return p.returncode, took, text


def key_lines(text):
    return [l.rstrip() for l in text.splitlines()
            if l.strip() and KEY.search(l) and not NOT_KEY.search(l)]


def cluster_tables(name):
    """The cluster benchmark's tables (bench/out/cluster.json, which bench/cluster.py writes
    when it succeeds and removes when it starts) as markdown, their figures copied; [] for
    any other benchmark."""
    path = OUT / "cluster.json"
    if name != "cluster" or not path.is_file():
        return []
    data = json.loads(path.read_text())
    md = [f"{data['nodes']} RabbitMQ node(s), medians of {data['runs']} runs; each cell: sr, "
          "the ceiling (as many rabbitmq-c processes as instances, same queue type) and "
          "sr/ceiling; last columns: quorum/classic of sr and of the ceiling (below 1: what "
          "replication costs).", ""]
    for sec in data["sections"].values():
        types = sec["types"]
        md += [f"**{sec['title']}** ({sec['unit']}; sr: {sec['sr']}; ceiling: {sec['ceiling']})",
               "", "| instances | " + " | ".join(f"{t}: sr | ceiling | sr/ceiling" for t in types)
               + (f" | {types[1]}/{types[0]}: sr | ceiling" if len(types) == 2 else "") + " |",
               "|---" * (1 + 3 * len(types) + (2 if len(types) == 2 else 0)) + "|"]
        for row in sec["rows"]:
            cells = [str(row["instances"])]
            for t in types:
                cells += [str(row[t]["sr"]), str(row[t]["ceiling"]), f"{row[t]['ratio']:.2f}"]
            if "replication" in row:
                cells += [f"{row['replication']['sr']:.2f}", f"{row['replication']['ceiling']:.2f}"]
            md.append("| " + " | ".join(cells) + " |")
        md.append("")
    return md


def write_report(meta, results):
    """REPORT.md from the run's facts (meta) and each benchmark's (name, rc, seconds, text)."""
    md = ["# sr benchmark report", "",
          "Written by `make bench` (bench/report.py) from the benchmarks' own output; see "
          "[bench/README.rst](README.rst) for what each one measures. Every figure below is "
          "copied from a benchmark's line: sr and the reference are measured in the same run, "
          "alternating, and the ratio is sr's figure over the reference's (above 1: sr is "
          "faster). Absolute rates depend on the machine; compare ratios.", "",
          "## Machine", "",
          f"- CPU: {meta['model']}, {meta['cores']} cores ({meta['arch']})",
          f"- kernel: Linux {meta['kernel']}",
          f"- memory: {meta['mem']}",
          f"- started {meta['started']}; load average (1, 5, 15 min) {meta['load_before']} "
          f"before, {meta['load_after']} after",
          f"- sr: commit {meta['commit']}",
          f"- runs: medians of SR_BENCH_RUNS={meta['runs']} runs per figure"
          + (f", SR_BENCH_MB={meta['mb']}" if meta.get("mb") else "")]
    if meta.get("note"):
        md.append(f"- note: {meta['note']}")
    md += ["", "## Summary", "",
           "| benchmark | exit | time | output |", "|---|---|---|---|"]
    for name, rc, took, _ in results:
        md.append(f"| {name} | {rc}{'' if rc == 0 else ' (FAILED)'} | {took / 60:.1f} min "
                  f"| [out/{name}.txt](out/{name}.txt) |")
    for name, rc, took, text in results:
        md += ["", f"## {name}", ""]
        if rc != 0:
            md += [f"**`make bench-{name}` exited {rc}**: its figures below are incomplete "
                   "or missing; see the end of its output.", ""]
        md += cluster_tables(name)
        keys = key_lines(text)
        md += ["Ratios, references and peak RSS:", "", "```"]
        md += keys if keys else ["(no ratio or RSS line in the output)"]
        md += ["```", "", "<details><summary>full output</summary>", "", "```"]
        md += [l.rstrip() for l in text.splitlines()]
        md += ["```", "", "</details>"]
    md += soak_section()
    REPORT.write_text("\n".join(md) + "\n")
    print(f"== wrote {REPORT.relative_to(REPO)} from {OUT.relative_to(REPO)}/*.txt")


def soak_section():
    """The last `make soak`'s table (bench/soak.py writes OUT/soak.txt), copied as it is:
    the soak runs on its own (30 minutes), not as one of `make bench`'s benchmarks."""
    path = OUT / "soak.txt"
    if not path.exists():
        return []
    return ["", "## soak", "",
            "`make soak` (bench/soak.py, run on its own; see [bench/README.rst](README.rst), "
            "Soak), its table as printed in [out/soak.txt](out/soak.txt):", "", "```",
            *[l.rstrip() for l in path.read_text().splitlines()], "```"]


def again():
    """Rewrite REPORT.md from the last run's saved outputs (bench/out/), running nothing:
    for a change to the report's layout."""
    meta = json.loads((OUT / "run.json").read_text())
    results = [(r["name"], r["rc"], r["seconds"], (OUT / f"{r['name']}.txt").read_text())
               for r in meta["results"]]
    write_report(meta, results)
    return 0 if all(r[1] == 0 for r in results) else 1


def main(argv):
    if argv[1:] == ["--again"]:
        return again()
    names = argv[1:]
    if not names:
        print("usage: bench/report.py NAME...  (runs make bench-NAME for each)\n"
              "       bench/report.py --again  (rewrites REPORT.md from bench/out/)",
              file=sys.stderr)
        return 2
    make = shlex.split(os.environ.get("SR_BENCH_MAKE", "make"))
    env = dict(os.environ)
    env.setdefault("SR_BENCH_RUNS", "5")
    # The benchmarks run one after the other, each alone: the outer make's job server
    # (whose pipe this process does not pass on) is no business of theirs. Its variables
    # (BUILD=..., SR_BENCH_MB=...) stay in MAKEFLAGS and reach them.
    env["MAKEFLAGS"] = " ".join(w for w in env.get("MAKEFLAGS", "").split()
                                if not w.startswith("--jobserver") and not re.fullmatch(r"-j\d*", w))
    OUT.mkdir(parents=True, exist_ok=True)
    model, cores, kernel, arch, mem = machine()
    meta = {"model": model, "cores": cores, "kernel": kernel, "arch": arch, "mem": mem,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_before": loadavg(),
            "commit": git_commit(), "runs": env["SR_BENCH_RUNS"],
            "mb": env.get("SR_BENCH_MB"), "note": env.get("SR_BENCH_NOTE")}
    results = []
    for name in names:
        results.append((name,) + run(make, name, env))
    meta["load_after"] = loadavg()
    meta["results"] = [{"name": n, "rc": rc, "seconds": took} for n, rc, took, _ in results]
    (OUT / "run.json").write_text(json.dumps(meta, indent=1) + "\n")
    write_report(meta, results)
    return 0 if all(rc == 0 for _, rc, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
