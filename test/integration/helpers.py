"""What several integration test modules do the same way: find a test tool in the build,
write a config where sr looks for it, wait for a condition, checksum a file. (The servers: servers.py and the fixtures_* modules;
the fixtures every module shares: conftest.py.)"""
import hashlib
import os
import textwrap
import time
from pathlib import Path


def tool_path(build_dir, name):
    """The path of test/tools/<name> in the build under test; it must have been built."""
    path = Path(build_dir) / "test" / "tools" / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path}: not built (make {path})")
    return str(path)


def write_config(env, component, name, text):
    """~/.config/sr/<component>/<name>.conf of the sr_env `env`, from an indented block;
    returns its path."""
    d = Path(env["XDG_CONFIG_HOME"]) / "sr" / component
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.conf"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def wait_until(check, timeout, interval=0.2):
    """Polls check() every interval seconds until it is true or timeout seconds have
    passed; returns its last answer (checked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB pieces (the trees hold files of 200 MiB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
