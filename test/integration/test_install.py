# SPDX-License-Identifier: GPL-2.0-only
"""make install: what a packager or an admin gets under PREFIX, and that it works from there.

Installs into a private DESTDIR with PREFIX=/usr/local, then runs the installed sr (which
finds its conf.d beside itself), and builds a small program against the installed headers
and libsr.so through the installed sr.pc, as a library user would.
"""
import os
import pathlib
import re
import subprocess
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[2]
COMMANDS = ["sr", "sr_post", "sr_watch", "sr_poll", "sr_subscribe", "sr_sarra", "sr_shovel",
            "sr_sender", "sr_winnow", "sr_sanity"]


def test_make_install_into_destdir(tmp_path, sr_env):
    dest = tmp_path / "dest"
    build = os.environ.get("SR_BUILD", str(REPO / "build"))
    result = subprocess.run(["make", "-s", "-C", str(REPO), f"BUILD={build}", "install",
                             f"DESTDIR={dest}", "PREFIX=/usr/local"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    root = dest / "usr/local"
    for name in COMMANDS:
        assert os.access(root / "bin" / name, os.X_OK), name
    lib = root / "lib"
    assert (lib / "libsr.a").is_file()
    assert (lib / "libsr.so").resolve().name.startswith("libsr.so.0.")
    soname = subprocess.run(["objdump", "-p", str(lib / "libsr.so")], capture_output=True,
                            text=True).stdout
    assert re.search(r"SONAME\s+libsr\.so\.0\n", soname), soname
    assert (root / "include/sr/config.h").is_file()
    assert (root / "share/sr/conf.d/default.conf").is_file()
    assert (root / "share/sr/conf.d/sender.conf").is_file()
    assert (root / "share/sr/conf.d/poll.conf").is_file()
    assert (root / "share/man/man1/sr.1").is_file()
    assert (root / "share/man/man1/sr_poll.1").is_file()
    assert (root / "share/man/man5/sr-credentials.5").is_file()
    assert (root / "share/man/man7/sr-options.7").is_file()
    assert (root / "share/sr/examples/sender/tocluster.conf").is_file()
    assert (root / "share/sr/examples/poll/sftp.conf").is_file()

    # The installed sr, relocated under DESTDIR, reads the installed defaults.
    env = dict(sr_env)
    env.pop("SR_CONFD", None)
    cfg = pathlib.Path(env["XDG_CONFIG_HOME"]) / "sr" / "subscribe"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "x.conf").write_text("broker amqp://bob@localhost/\n")
    listing = subprocess.run([str(root / "bin/sr"), "list"], env=env, capture_output=True,
                             text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert "subscribe/x" in listing.stdout.splitlines()
    shown = subprocess.run([str(root / "bin/sr"), "show", "subscribe/x"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert any(line.startswith("batch ") and line.endswith("# default")
               for line in shown.stdout.splitlines())
    assert any(line.startswith("mirror ") and "conf.d/subscribe.conf:" in line
               for line in shown.stdout.splitlines())
    # ... and the installed sr_poll its own (a poll announces cod: it reads no file).
    polls = pathlib.Path(env["XDG_CONFIG_HOME"]) / "sr" / "poll"
    polls.mkdir(parents=True, exist_ok=True)
    (polls / "p.conf").write_text("pollUrl sftp://bob@host/\npath /data\n"
                                  "post_broker amqp://bob@localhost/\n")
    shown = subprocess.run([str(root / "bin/sr"), "show", "poll/p"], env=env,
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert any(line.startswith("identity ") and "cod,sha512" in line and
               "conf.d/poll.conf:" in line for line in shown.stdout.splitlines())
    checked = subprocess.run([str(root / "bin/sr_poll"), "check", "p"], env=env,
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and "configuration OK" in checked.stderr, checked.stderr

    # A library user: pkg-config --cflags --libs sr, then link and run.
    pc_env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"),
                  PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sr"], env=pc_env,
                           capture_output=True, text=True)
    assert flags.returncode == 0, flags.stderr
    src = tmp_path / "use.c"
    src.write_text(textwrap.dedent("""
        #include <stdio.h>
        #include "units.h"
        int main(void)
        {
            double s = 0;
            if (sr_parse_duration("1h30m", &s) != 0)
                return 1;
            printf("%g\\n", s);
            return 0;
        }
        """))
    exe = tmp_path / "use"
    cc = subprocess.run(["cc", str(src), "-o", str(exe), *flags.stdout.split(),
                         f"-Wl,-rpath,{lib}"], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.stdout.strip() == "5400"
