# SPDX-License-Identifier: GPL-2.0-only
"""Differential test: every configuration read by Python sr3 and by sr gives the same options.

The configurations are sr3's own examples (sarracenia/examples/<component>/*.conf and the
.inc files they include) and ours (test/data/config, test/data/sr3import, examples/). Each
set is copied, as it is, into ~/.config/sr3 and ~/.config/sr of one HOME under tmp_path,
beside a credentials.conf naming every broker the set uses, so that neither side drops a
URL for want of a password. `sr3 show` gives sr3's option dict (sr3peer.py); `sr show
--json` gives ours. Both are brought to one form: what each prints differently from what
it runs with is made the value it runs with (sr3_effective, sr_effective), then each value
is written the same way (canon, sr3_value, sr3_lines, sr_lines): sr3's internal names
(masks, bindings, post_exchange as a list, identity_method, topicPrefix as a list...),
durations in seconds, sizes in bytes, octal modes as numbers, sets, None for unset, URLs
without their password. Then the effective value of every option both know is compared.

A difference is a bug in sr, or an intended difference listed with its reason in
test/sr3-differences.txt (and in the COMPATIBILITY section of sr(1)). The test prints the
table of all differences found, the intended ones marked, and fails on one the file does not
list, and on an entry of the file that no longer occurs. A configuration sr refuses is a row
too: allowed, when sr says why on its standard error and exits non-zero.
"""
import fnmatch
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

from sr3peer import PEERS, Sr3, needs_sr3, parse_show_dict

REPO = Path(__file__).resolve().parents[2]
SR3_EXAMPLES = PEERS / "sarracenia" / "sarracenia" / "examples"
DIFFERENCES = REPO / "test" / "sr3-differences.txt"
SR_MAN = REPO / "man" / "sr.1"

# The components sr has; sr3's others (flow, report, cpump, cpost...) are skipped.
SR_COMPONENTS = ("watch", "post", "poll", "subscribe", "sarra", "shovel", "sender", "winnow")

# The configuration sets: (label, folder). Each folder holds <component>/NAME.conf, and may
# hold default.conf, credentials.conf, admin.conf and .inc files, as ~/.config/sr3 does.
SOURCES = [
    ("sr3-examples", SR3_EXAMPLES),
    ("test-data-good", REPO / "test" / "data" / "config" / "good"),
    ("test-data-layers", REPO / "test" / "data" / "config" / "layers"),
    ("test-data-bad", REPO / "test" / "data" / "config" / "bad"),
    ("test-data-sr3import", REPO / "test" / "data" / "sr3import" / "tree"),
    ("examples", REPO / "examples"),
]

# Variables the examples expect from the operator's environment (their comments say so);
# both sides get the same values. ${SOURCE}, ${BUPL} and ${UNDEFINED_THING} stay unset on
# purpose: sr3 substitutes those, or leaves them, when a message is handled.
ENV = {
    "FLOWBROKER": "localhost",
    "SCIUSER": "sciuser",
    "COLLABUSER": "collabuser",
    "COLLABDIR": "/data/collab",
    "HYDRO_DATA": "/data/hydro",
    "EMAIL_INGEST": "/data/email",
    "DATAROOT": "/data/root",
    "PITCHERBROKER": "amqps://pbuser@hpfx1.science.gc.ca",
    "PITCHERURL": "sftp://pu@hpfx1.science.gc.ca",
    "PITCHERUSERHOME": "/home/pu",
}

URL_RE = re.compile(r"\b(amqps?|mqtts?|sftp|ftps?|https?)://([^\s/@:]+)(?::[^\s/@]*)?@([^\s/:]+)"
                    r"(:\d+)?(/[^\s#]*)?")


def substitute(text, env):
    return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), text)


def credentials_for(folder, env):
    """credentials.conf lines for every user@host URL the set names (comments and declared
    variables included), so that sr3 keeps each broker; plus the set's own file."""
    lines = []
    own = folder / "credentials.conf"
    if own.is_file():
        lines.append(own.read_text())
    seen = set()
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".conf", ".inc") or path.name == "credentials.conf":
            continue
        for m in URL_RE.finditer(substitute(path.read_text(errors="replace"), env)):
            scheme, user, host = m.group(1), m.group(2), m.group(3)
            port, vhost = m.group(4) or "", m.group(5) or "/"
            key = (scheme, user, host, port, vhost)
            if "$" in user + host + vhost or key in seen or (port and int(port[1:]) > 65535):
                continue
            seen.add(key)
            lines.append(f"{scheme}://{user}:pw-{user}@{host}{port}{vhost}\n")
    return "".join(lines)


def install(folder, config_dir, creds):
    """Copies the set into config_dir (as ~/.config/sr3 or ~/.config/sr holds it)."""
    shutil.copytree(folder, config_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.py", "*.md", "*.rst", "__pycache__"))
    (config_dir / "credentials.conf").write_text(creds)
    (config_dir / "credentials.conf").chmod(0o600)


def configs_of(folder):
    """[(component, name)] of the set, sorted; the skipped components separately."""
    kept, skipped = [], []
    for path in sorted(folder.glob("*/*.conf")):
        entry = (path.parent.name, path.stem)
        (kept if path.parent.name in SR_COMPONENTS else skipped).append(entry)
    return kept, skipped


# ---- sr3's side -------------------------------------------------------------------------

def sr3_show_all(peer, specs):
    """{spec: option dict} from one `sr3 show SPEC...` (one Python start for the set)."""
    done = peer.run("show", *specs, check=False, env=ENV)
    found = {}
    parts = re.split(r"^Config of (\S+?): .*$", done.stdout, flags=re.M)
    for spec, body in zip(parts[1::2], parts[2::2]):
        start = body.find("{")
        found[spec] = parse_show_dict(PARSED_URL_RE.sub(url_of, body[start:])) \
            if start >= 0 else None
    return found, done.stderr


# urllib's ParseResult, as sr3 keeps some URL options (feeder), printed by its repr.
PARSED_URL_RE = re.compile(r"ParseResult\(scheme='([^']*)', netloc='([^']*)', path='([^']*)',"
                           r" params='[^']*', query='[^']*', fragment='[^']*'\)")


def url_of(m):
    return repr(f"{m.group(1)}://{m.group(2)}{m.group(3)}")


def sr3_show_group(home, folder, creds, group):
    """{spec: dict, or why sr3 shows nothing} for the configs of group, [(component, name)].
    sr3 reads every config of every component at start, and one it cannot parse stops it
    for all: so a group is shown in a HOME holding only its configs, and a group sr3 fails
    on is split in two until the config it fails on stands alone."""
    peer = Sr3(home)
    install(folder, peer.config, creds)
    for other in peer.config.glob("*/*.conf"):
        if (other.parent.name, other.stem) not in group:
            other.unlink()
    specs = [f"{c}/{n}" for c, n in group]
    found, errors = sr3_show_all(peer, specs)
    for d in found.values():
        if d is not None:
            d["__home"] = str(peer.home)
    if all(found.get(spec) is not None for spec in specs):
        return found
    if len(group) == 1:
        last = [line for line in errors.splitlines() if line.strip()]
        return {specs[0]: last[-1] if last else "shows nothing"}
    half = len(group) // 2
    return {**sr3_show_group(Path(f"{home}a"), folder, creds, group[:half]),
            **sr3_show_group(Path(f"{home}b"), folder, creds, group[half:])}


MASK_RE = re.compile(r"^(accept|reject) (.*) into (.*?) (?:with )?mirror:(True|False)"
                     r"(?: strip:(.*?))?(?: flatten:(.*?))?(?: filename:(.*))?$")


def sr3_mask(text):
    """sr3 show prints each mask as a sentence (Config.mask_ppstr): back to its fields."""
    m = MASK_RE.match(text)
    if m is None:
        return ("unparsed", text)
    kind, pattern, directory, mirror, strip, flatten, filename = m.groups()
    return {"kind": kind, "pattern": pattern, "directory": none_if(directory),
            "mirror": mirror == "True", "strip": strip_value(strip),
            "flatten": flatten or "/", "filename": none_if(filename)}


def none_if(text):
    return None if text in (None, "", "None") else text


def strip_value(v):
    """strip as a number of path elements or a regex; 0 and unset alike."""
    if v in (None, "", "None", False, 0, "0"):
        return 0
    if isinstance(v, int) or (isinstance(v, str) and v.isdigit()):
        return int(v)
    return str(v)


# ---- sr's side --------------------------------------------------------------------------

def sr_option_types():
    """{name: (SR_T_* type, choices)} of every option of lib/options.def, the one table of
    options (choices: of a SET or ENUM, else empty)."""
    text = (REPO / "lib" / "options.def").read_text()
    return {name: (kind, set(extra.split(",")) if extra else set())
            for name, kind, extra in re.findall(
                r'^SR_OPTION\((\w+), SR_T_(\w+), [^,]+, "([^"]*)",', text, flags=re.M)}


def sr_show(sr_bin, env, component, name):
    """(document of `sr show --json`, None) or (None, what sr says on refusing)."""
    done = subprocess.run([sr_bin("sr"), "show", "--json", f"{component}/{name}"], env=env,
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        # "" when sr says nothing: a silent refusal, which the test fails on
        return None, " ".join(line for line in done.stderr.splitlines() if line.strip())
    return json.loads(done.stdout), None


# ---- one form for both ------------------------------------------------------------------

BROKER_SCHEMES = ("amqp", "amqps", "mqtt", "mqtts")


def url_value(v):
    """A URL without its password; a broker URL without a user is anonymous (both connect
    so); the vhost / alone and no path at all are the same."""
    if v in (None, "", "None"):
        return None
    v = str(v)
    m = re.match(r"^(\w+)://(?:([^:@/]*)(?::[^@/]*)?@)?(.*)$", v)
    if m is None:
        return v
    scheme, user, rest = m.groups()
    if not user and scheme in BROKER_SCHEMES:
        user = "anonymous"
    if scheme in BROKER_SCHEMES and rest.endswith("/") and rest.count("/") == 1:
        rest = rest[:-1]
    return f"{scheme}://{user + '@' if user else ''}{rest}"


def canon(kind, v):
    """The value v of an option of type kind (SR_T_*), the same from either side."""
    if kind == "FLAG":
        return bool(v) if v not in (None, "None") else False
    if kind in ("DURATION", "FLOAT"):
        return float(v) if v not in (None, "None", "") else 0.0
    if kind in ("COUNT", "SIZE"):
        return int(float(v)) if v not in (None, "None", "") else 0
    if kind == "OCTAL":
        if v in (None, "None", ""):
            return 0
        return int(v, 8) if isinstance(v, str) else int(v)
    if kind == "URL":
        return url_value(v)
    if kind == "LIST":
        return list(v) if v else []
    if kind == "SET":
        return sorted(v) if v else []
    if kind == "STRIP":
        return strip_value(v)
    if kind == "TOPIC":
        if v in (None, "None", "", []):
            return None
        return ".".join(v) if isinstance(v, (list, tuple)) else str(v)
    return None if v in (None, "None", "") else str(v)


# Options whose sr3 name or form differs from sr's: sr name -> (sr3 key, kind).
SR3_KEY = {
    "identity": ("identity_method", "STR"),
    "topicPrefix": ("topicPrefix", "TOPIC"),
    "post_topicPrefix": ("post_topicPrefix", "TOPIC"),
}


def sr3_value(d, name, kind):
    """(known, value) of option name in sr3's dict d, in the one form."""
    key, kind = SR3_KEY.get(name, (name, kind))
    if name == "strip":
        return True, strip_value(d.get("pstrip") or d.get("strip"))
    if name == "identity" and d.get("identity_method") == "arbitrary":
        return True, f"arbitrary,{d.get('identity_arbitrary_value')}"
    if key not in d:
        return False, None
    return True, canon(kind, d[key])


def sr_value(doc, name, kind):
    kind = SR3_KEY.get(name, (name, kind))[1]
    return canon(kind, doc["options"][name]["value"])


def sr3_lines(d):
    """The options given once per line, from sr3's dict: masks, bindings, headers."""
    # one binding per subtopic line: (exchange, prefix words, subtopic words); a subtopic
    # written with / comes split into its words.
    bindings = [f"{ex} {'.'.join(prefix)} {'.'.join(subs)}"
                for ex, prefix, subs in d.get("bindings", [])]
    return {
        "masks": [sr3_mask(m) for m in d.get("masks", [])],
        "subtopic": bindings,
        "header": sorted(f"{k}={v}" for k, v in (d.get("fixed_headers") or {}).items()),
        # sr3 counts the feeder option among its declared users; sr keeps it an option
        # (compared as such)
        "declare": sorted([f"{role} {user}" for user, role in
                           (d.get("declared_users") or {}).items() if role != "feeder"] +
                          [f"exchange {x}" for x in d.get("declared_exchanges") or []]),
        "declare env": sorted(d.get("env_declared") or []),
        "set": sorted(f"{cls}.{k} {v}" for cls, kv in (d.get("settings") or {}).items()
                      for k, v in kv.items()),
    }


def sr_lines(doc):
    masks = [{"kind": m["kind"], "pattern": m["pattern"], "directory": none_if(m["directory"]),
              "mirror": m["mirror"], "strip": strip_value(m["strip"]),
              "flatten": m["flatten"] or "/", "filename": none_if(m["filename"])}
             for m in doc["masks"]]
    bindings = [f"{s['exchange']} {s['topicPrefix']} {subtopic_words(s['pattern'])}"
                for s in doc["subtopics"]]
    return {"masks": masks, "subtopic": bindings, "header": sorted(doc["headers"]),
            "declare": sorted(doc["declare"]),
            "declare env": sorted(e.split("=", 1)[0] for e in doc["env"]),
            "set": sorted(doc["set"])}


def subtopic_words(pattern):
    """A subtopic as sr binds it (topic.c): written with / it is split into its words, a
    final / (an empty last word) dropped."""
    if "/" not in pattern:
        return pattern
    if len(pattern) > 1 and pattern.endswith("/"):
        pattern = pattern[:-1]
    return pattern.replace("/", ".")


def sr3_effective(d, cwd):
    """sr3's dict, with what `sr3 show` prints differently from what sr3 then runs made
    the value it runs with."""
    # No directory: sr3 writes its cwd (HOME here), sr "." (its cwd): the same folder.
    cwd = d.pop("__home", cwd)
    d["__cwd"] = cwd
    if d.get("directory") == cwd:
        d["directory"] = None
    for i, m in enumerate(d.get("masks", [])):
        d["masks"][i] = m.replace(f" into {cwd} ", " into None ")
    # `sr3 show` finalizes the options twice: post_exchangeSuffix is added again, letter by
    # letter, to the list the first pass made (['xs_bob_hot', '_', 'h', 'o', 't']).
    pe, suffix = d.get("post_exchange"), d.get("post_exchangeSuffix")
    if isinstance(pe, list) and suffix and "".join(pe[1:]) == "_" + suffix:
        d["post_exchange"] = pe[:1]
    if isinstance(d.get("post_exchange"), list):
        d["post_exchange"] = ",".join(d["post_exchange"])
    # A poll's schedule options are declared by sr3's scheduled callback when the poll
    # starts, not when `sr3 show` reads the file: the show keeps one line's text as it is
    # (several lines as a list), which the declaration then makes a one-item list (each
    # item is split at its commas when the schedule is made).
    for key in ("scheduled_hour", "scheduled_minute", "scheduled_time"):
        if isinstance(d.get(key), str):
            d[key] = [d[key]]
    # logLevel is kept as written (WARNING) and read without case by Python's logging.
    if isinstance(d.get("logLevel"), str):
        d["logLevel"] = d["logLevel"].lower()
    # inflight as a number of seconds: sr3 keeps a float (10.0), sr the word (10).
    if isinstance(d.get("inflight"), (int, float)) and not isinstance(d["inflight"], bool):
        d["inflight"] = f"{d['inflight']:g}"
    # The queue name sr3 makes when none is given (q_<user>.<component>.<config>.<share>,
    # the share ${USER}_${HOSTNAME}_${RAND8}): sr makes its own at the first start, random
    # too, and `sr show` does not show it. Compared only when the config names the queue.
    if d.get("queueShare") == "${USER}_${HOSTNAME}_${RAND8}":
        d["queueShare"] = None
        if re.search(r"_\d{8}$", str(d.get("queueName"))):
            d["queueName"] = None
    # Options of the credentials.conf line (+login_method=PLAIN) come with sr3's URL.
    for key in ("broker", "post_broker", "admin", "feeder"):
        if isinstance(d.get(key), str):
            d[key] = d[key].split("+", 1)[0]


def sr_effective(doc, sr3_hostname):
    """sr's document, with the values it runs with where `sr show` prints a placeholder."""
    opts = doc["options"]
    # The queue name sr makes at start from a queueShare the config gives (brokerconf.c).
    broker = url_value(opts["broker"]["value"])
    if opts["queueName"]["value"] is None and opts["queueShare"]["value"] and broker:
        user = re.match(r"^\w+://([^@]*)@", broker).group(1)
        opts["queueName"]["value"] = (f"q_{user}.{doc['component']}.{doc['config']}."
                                      f"{opts['queueShare']['value']}")
    # source unset: sr writes the post_broker's user in the messages it posts that have
    # none (flow.c); with no post_broker it posts nothing, and the default is documented
    # as the broker user (sr-options(7)), as sr3 derives it.
    if opts["source"]["value"] is None:
        for key in ("post_broker", "broker"):
            url = url_value(opts[key]["value"])
            if url and re.match(r"^\w+://([^@]*)@", url):
                opts["source"]["value"] = re.match(r"^\w+://([^@]*)@", url).group(1)
                break
    # inflight given as a number of seconds, fileAgeMin unset: sr_watch waits that long
    # (watch.c), as sr3 does by setting fileAgeMin.
    inflight = opts["inflight"]["value"]
    if doc["component"] == "watch" and opts["fileAgeMin"]["value"] is None and \
            re.fullmatch(r"\d+(\.\d*)?", inflight or ""):
        opts["fileAgeMin"]["value"] = float(inflight)
    # post_exchangeSplit N: sr publishes to post_exchange00..N-1 (sr-options(7)).
    split = opts["post_exchangeSplit"]["value"] or 0
    if split > 1 and opts["post_exchange"]["value"]:
        opts["post_exchange"]["value"] = ",".join(
            f"{opts['post_exchange']['value']}{i:02d}" for i in range(split))
    # retry_ttl 0 (unset) means the value of expire (sr-options(7)).
    if not opts["retry_ttl"]["value"]:
        opts["retry_ttl"]["value"] = opts["expire"]["value"]
    # ${HOSTNAME}: sr3 takes the fully qualified name (socket.getfqdn()), sr gethostname();
    # on a test machine the two may differ without either being wrong.
    host = socket.gethostname()
    if sr3_hostname and host != sr3_hostname:
        rx = re.compile(rf"(?<![A-Za-z0-9.-]){re.escape(host)}(?![A-Za-z0-9-])")
        for o in opts.values():
            if isinstance(o["value"], str):
                o["value"] = rx.sub(sr3_hostname, o["value"])
        for m in doc["masks"]:
            if m["directory"]:
                m["directory"] = rx.sub(sr3_hostname, m["directory"])
        for b in doc["subtopics"]:
            b["exchange"] = rx.sub(sr3_hostname, b["exchange"] or "")


def shown(v):
    """A value as the table and the differences file write it."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def compare(d3, doc, types):
    """[(option, sr3 value, sr value)] for each option both know and set differently."""
    rows = []
    for name, (kind, choices) in types.items():
        if name not in doc["options"]:
            continue
        known, v3 = sr3_value(d3, name, kind)
        if not known:
            continue
        v = sr_value(doc, name, kind)
        if kind == "SET":
            # sr3 knows events sr has no use for (logEvents all: gather, poll...)
            v3 = sorted(set(v3) & choices)
        if v3 != v:
            rows.append((name, shown(v3), shown(v)))
    l3, lsr = sr3_lines(d3), sr_lines(doc)
    # Bindings matter to a consumer with a broker; sr3 drops a subtopic read before any
    # broker, sr keeps it for a broker given later (on the command line).
    if doc["component"] in ("watch", "post") or d3.get("broker") in (None, "None"):
        del l3["subtopic"]
    for name in l3:
        if l3[name] != lsr[name]:
            rows.append((name, shown(l3[name]), shown(lsr[name])))
    return rows


# ---- the file of intended differences ---------------------------------------------------

def read_differences():
    """[(config, option, sr3 value, sr value, reason)] from test/sr3-differences.txt: one
    entry a line, fields separated by ' | ', config a pattern ('*' for every config)."""
    entries = []
    for n, line in enumerate(DIFFERENCES.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(" | ")]
        assert len(fields) == 5 and all(fields), \
            f"{DIFFERENCES}:{n}: want 'config | option | sr3 value | sr value | reason'"
        entries.append(tuple(fields))
    return entries


def matches(entry, row):
    """config is a shell pattern (fnmatch: `*`, `*:poll/*`), the values exact or *."""
    config, option, v3, v = entry[:4]
    return (fnmatch.fnmatchcase(row[0], config) and option == row[1] and v3 in ("*", row[2])
            and v in ("*", row[3]))


# ---- the test ---------------------------------------------------------------------------

def collect(tmp_path, sr_bin, sr_env):
    """All rows: (config, option, sr3 value, sr value); the refusals; the skipped configs."""
    types = sr_option_types()
    rows, refused, skipped, sr3_failed = [], [], [], []
    for label, folder in SOURCES:
        kept, skip = configs_of(folder)
        skipped += [f"{label}:{c}/{n}" for c, n in skip]
        if not kept:
            continue
        creds = credentials_for(folder, ENV)
        # One HOME for both: sr3 reads ~/.config/sr3, sr ~/.config/sr, and the values
        # that depend on HOME (${HOME}, sr3's directory default: its cwd, HOME) agree.
        home = tmp_path / label / "h"
        env = dict(sr_env, **ENV)
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_CACHE_HOME=str(home / ".cache"))
        install(folder, home / ".config" / "sr", creds)
        (home / ".cache").mkdir(parents=True, exist_ok=True)
        docs = {}
        for component, name in kept:
            doc, reason = sr_show(sr_bin, env, component, name)
            if doc is None:
                refused.append((f"{label}:{component}/{name}", reason.replace(str(home), "~")))
            else:
                docs[(component, name)] = doc
        # sr3 is asked only about the configs sr loads: the others are rows already.
        found = sr3_show_group(home, folder, creds, list(docs)) if docs else {}
        for (component, name), doc in docs.items():
            config = f"{label}:{component}/{name}"
            d3 = found.get(f"{component}/{name}")
            if isinstance(d3, str):
                sr3_failed.append((config, d3))
                continue
            sr3_effective(d3, str(home))
            sr_effective(doc, d3.get("hostname"))
            homes = (d3.pop("__cwd"), str(home))  # the HOME sr3 ran in, ours: both "~"
            for r in compare(d3, doc, types):
                for h in homes:
                    r = tuple(v.replace(h, "~") for v in r)
                rows.append((config, *r))
    return rows, refused, skipped, sr3_failed


def table(rows, refused, skipped, sr3_failed, entries):
    out = [f"{'config':44} {'option':22} {'sr3':28} {'sr':28} status"]
    for row in rows:
        status = "intended" if any(matches(e, row) for e in entries) else "NOT LISTED"
        out.append(f"{row[0]:44} {row[1]:22} {row[2]:28} {row[3]:28} {status}")
    for config, reason in refused:
        out.append(f"{config:44} {'*':22} {'':28} {'sr refuses: ' + reason}")
    for config, reason in sr3_failed:
        out.append(f"{config:44} {'*':22} {'sr3 fails: ' + reason}")
    for config in skipped:
        out.append(f"{config:44} skipped: sr has no such component")
    return "\n".join(out)


@needs_sr3
def test_sr3_and_sr_read_every_configuration_alike(tmp_path, sr_bin, sr_env):
    entries = read_differences()
    rows, refused, skipped, sr3_failed = collect(tmp_path, sr_bin, sr_env)
    print("\n" + table(rows, refused, skipped, sr3_failed, entries))
    unlisted = [r for r in rows if not any(matches(e, r) for e in entries)]
    stale = [e for e in entries if not any(matches(e, r) for r in rows)]
    silent = [c for c, reason in refused if not reason.strip()]
    assert not silent, f"sr refuses without saying why: {silent}"
    problems = []
    if unlisted:
        problems.append("differences from sr3 not in test/sr3-differences.txt (bugs of sr, "
                        "or intended and to be listed there and in sr(1)):\n" +
                        "\n".join(" | ".join(r) for r in unlisted))
    if stale:
        problems.append("entries of test/sr3-differences.txt that no longer occur:\n" +
                        "\n".join(" | ".join(e[:4]) for e in stale))
    assert not problems, "\n".join(problems)


def test_every_intended_difference_is_in_the_man_page():
    """Each option of the file of intended differences is named in sr(1) COMPATIBILITY
    (needs no sr3: the file and the page are ours)."""
    man = SR_MAN.read_text()
    start = man.find(".SH COMPATIBILITY")
    assert start >= 0, "sr.1 has no COMPATIBILITY section"
    end = man.find("\n.SH ", start + 1)
    section = man[start:end if end > 0 else len(man)].replace("\\", "")
    missing = sorted({e[1] for e in read_differences() if e[1] not in section})
    assert not missing, f"sr.1 COMPATIBILITY does not mention: {missing}"
