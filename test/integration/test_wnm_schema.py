# SPDX-License-Identifier: GPL-2.0-only
"""A WIS2 centre checks sr's WIS2 Notification Messages with a JSON Schema validator.

Every message of test/data/wis2/cases.tsv (the examples of WNM 1.0 and their variants) is
judged twice: by python3-jsonschema against test/data/wis2/wnm-schema.json (WNM 1.0's
rules written as a JSON Schema), and by sr's own decoder (test/tools/sr_wnm_tool). The two
verdicts must be the ones the table gives, and they agree except where the table notes
that sr is stricter (what a stranger may not make sr do) or reads a short link relation.
Then what sr writes, from every message it reads and from posts of its own, must be valid
under the schema and read back by sr the same.
"""
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from helpers import tool_path

DATA = Path(__file__).resolve().parents[1] / "data" / "wis2"


def read_cases():
    rows = []
    for line in (DATA / "cases.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        file, sr, schema, what = line.split("\t")
        rows.append((file, sr, schema, what))
    return rows


CASES = read_cases()
READABLE = [c for c in CASES if c[1] == "ok"]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((DATA / "wnm-schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    assert cls.__name__ == "Draft202012Validator", cls.__name__
    return cls(schema)


@pytest.fixture(scope="module")
def wnm_tool(build_dir):
    return tool_path(build_dir, "sr_wnm_tool")


def sr_says(tool, verb, path):
    """(True, output) when sr reads the file (and, for roundtrip, writes it again)."""
    r = subprocess.run([tool, verb, str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 1), f"sr_wnm_tool {verb} {path}: exit {r.returncode}\n{r.stderr}"
    return r.returncode == 0, r.stdout.strip()


def schema_errors(validator, body):
    return "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body))


def test_the_table_covers_what_it_should():
    """The variants cover every required member missing, every kind of refusal the
    specification names, and sr's own; the table's verdicts differ only on purpose."""
    files = {c[0] for c in CASES}
    for member in ("id", "conformsTo", "type", "geometry", "properties", "links", "pubtime",
                   "data_id", "metadata_id"):
        assert f"bad/missing-{member}.json" in files
    differ = [c for c in CASES if (c[1] == "ok") != (c[2] == "valid")]
    stricter = [c for c in differ if c[1] != "ok"]
    lenient = [c for c in differ if c[1] == "ok"]
    assert len(stricter) >= 8 and [c[0] for c in lenient] == ["good/link-deletion-short.json"]


@pytest.mark.parametrize("file,sr,schema,what", CASES, ids=[c[0] for c in CASES])
def test_sr_and_the_schema_judge_each_message(validator, wnm_tool, file, sr, schema, what):
    body = json.loads((DATA / file).read_text())
    valid = validator.is_valid(body)
    assert valid == (schema == "valid"), f"{what}: the schema says {schema_errors(validator, body)}"
    read, said = sr_says(wnm_tool, "check", DATA / file)
    if sr == "ok":
        assert read and said == "OK", f"{what}: sr refuses it: {said}"
    else:
        assert not read and said.startswith(f"WNM {sr}: "), \
            f"{what}: sr should refuse it naming {sr}, says: {said}"
    if (sr == "ok") == (schema == "valid"):
        assert read == valid


@pytest.mark.parametrize("file", [c[0] for c in READABLE], ids=[c[0] for c in READABLE])
def test_what_sr_writes_is_valid_and_reads_back(validator, wnm_tool, tmp_path, file):
    ok, out = sr_says(wnm_tool, "roundtrip", DATA / file)
    assert ok, out
    written = json.loads(out)
    assert validator.is_valid(written), schema_errors(validator, written)
    original = json.loads((DATA / file).read_text())
    # a relay: the same notification, id included
    assert written["id"] == original["id"]
    assert written["properties"]["data_id"] == original["properties"]["data_id"]
    assert [link["href"] for link in written["links"]] == \
        [link["href"] for link in original["links"]]
    again = tmp_path / "written.json"
    again.write_text(out)
    ok, out2 = sr_says(wnm_tool, "roundtrip", again)
    assert ok, out2
    assert json.loads(out2) == written


SHA256_OF_HELLO = "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc="


@pytest.mark.parametrize("extra", [
    {},
    {"fileOp": {"remove": ""}},
    {"fileOp": {"rename": "obs/old.txt"}},
    {"content": {"encoding": "utf-8", "value": "hello world\n"}},
    {"geometry": {"type": "Point", "coordinates": [-75.69, 45.42, 70.0]},
     "start_datetime": "2026-12-06T22:00:00Z", "end_datetime": "2026-12-06T23:00:00Z"},
    {"retrievePath": "/api/obs?station=42&f=csv", "contentType": "text/csv"},
], ids=["file", "removal", "rename", "inline", "point-and-span", "query"])
def test_sr_posts_valid_wnms(validator, wnm_tool, tmp_path, extra):
    """What sr posts from a file of its own (a v03 message, as sr_post builds it, with the
    data_id and metadata_id the flow fills in) is a WNM the schema accepts, with a new id."""
    message = {"pubTime": "20261206T230001.25", "baseUrl": "https://node.example.net/data",
               "relPath": "obs/a b#1.txt", "size": 12, "mtime": "20261206T225959.5",
               "identity": {"method": "sha256", "value": SHA256_OF_HELLO},
               "data_id": "xy-nmhs/data/core/weather/obs/a b#1.txt",
               "metadata_id": "urn:wmo:md:xy-nmhs:obs", "source": "bob", "mode": "644"}
    message.update(extra)
    path = tmp_path / "post.json"
    path.write_text(json.dumps(message))
    ok, out = sr_says(wnm_tool, "roundtrip", path)
    assert ok, out
    written = json.loads(out)
    assert validator.is_valid(written), schema_errors(validator, written)
    assert written["id"][14] == "4"  # a new UUID, version 4
    link = written["links"][0]
    if "retrievePath" in extra:
        assert link["href"] == "https://node.example.net/data/api/obs?station=42&f=csv"
    else:
        assert link["href"] == "https://node.example.net/data/obs/a%20b%231.txt"
    assert "source" not in written["properties"] and "mode" not in written["properties"]
    if "fileOp" in extra and "remove" in extra["fileOp"]:
        assert link["rel"] == "http://def.wmo.int/def/rel/wnm/-/deletion"
    else:
        assert link["rel"] == "canonical"
    assert written["properties"]["integrity"] == {"method": "sha256", "value": SHA256_OF_HELLO}


def test_what_sr_cannot_post_is_refused_named(wnm_tool, tmp_path):
    """A folder has no WNM, and a message without metadata_id makes none."""
    base = {"pubTime": "20261206T230001", "baseUrl": "https://h/", "relPath": "a/b",
            "data_id": "x/a/b", "metadata_id": "urn:wmo:md:x:y"}
    for extra, drop, named in (({"fileOp": {"directory": ""}}, None, "message field fileOp"),
                               ({}, "metadata_id", "message field metadata_id")):
        message = dict(base, **extra)
        if drop:
            del message[drop]
        path = tmp_path / "post.json"
        path.write_text(json.dumps(message))
        ok, out = sr_says(wnm_tool, "roundtrip", path)
        assert not ok and out.startswith(f"post_format wis: {named}: "), out
