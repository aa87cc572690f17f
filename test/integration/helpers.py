"""What several integration test modules do the same way: find a test tool in the build,
write a config where sr looks for it. (The servers: servers.py and the fixtures_* modules;
the fixtures every module shares: conftest.py.)"""
import os
import textwrap
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
