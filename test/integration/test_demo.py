# SPDX-License-Identifier: GPL-2.0-only
"""`make demo` is half of the README's contract: its script (tools/demo.py) runs here on
the build under test, so a change that breaks the demo fails `make check`."""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_files_flowing(build_dir, tmp_path):
    env = dict(os.environ, SR_BUILD=str(build_dir), TMPDIR=str(tmp_path))
    result = subprocess.run([sys.executable, str(REPO / "tools" / "demo.py")], env=env,
                            capture_output=True, text=True, timeout=400)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # every sample arrived, identical, and the user is told so
    arrived = re.findall(r"^outgoing/\S+ .* (yes|NO)$", out, re.MULTILINE)
    assert arrived == ["yes"] * 5, out
    assert "every file arrived, complete and identical" in out
    # the status table shows both configs running, then stop stops them
    assert re.search(r"^subscribe/demo\s+run\s+1/1", out, re.MULTILINE), out
    assert re.search(r"^watch/demo\s+run\s+1/1", out, re.MULTILINE), out
    assert "watch/demo: stopped 1 instance(s)" in out
    # nothing of the demo keeps running, and its files are where it said
    scratch = Path(re.search(r"everything lives under (\S+)", out).group(1))
    assert scratch.parent == tmp_path
    pids = list((scratch / "state").rglob("*.pid"))
    assert pids == [], pids
    assert (scratch / "incoming" / "outgoing" / "hello.txt").read_bytes() == b"hello, world!\n"
