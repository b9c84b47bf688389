"""Tests for ``nnlint.emit``: every output format, on hand-built results.

No parser or rule is involved: the FileResults below are written by hand, so a
failure here is the emitter's alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from nnlint import __version__
from nnlint.diagnostics import Diagnostic, FileResult, RuleMeta, Severity, Span
from nnlint.emit import FORMATS, render

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

RULES = {
    "NN009": RuleMeta(
        code="NN009",
        name="shape-mismatch",
        family="spec",
        severity=Severity.ERROR,
        summary="Tensors merged by add/concat/matmul have incompatible shapes",
        doc=(
            "## What it does\n"
            "Checks that the inputs of a merge have compatible shapes.\n\n"
            "## Example\n"
            "```\n"
            "out = add(x, y)\n"
            "```\n\n"
            "See [the op catalog](https://github.com/nnlint/nnlint/blob/main/docs/ops.md)"
            " and use `concat`."
        ),
    ),
    "NN101": RuleMeta(
        code="NN101",
        name="vanishing-gradient",
        family="training",
        severity=Severity.WARNING,
        summary="Gradient attenuation through saturating activations",
        doc="## What it does\nFlags **sigmoid** chains without a skip.",
    ),
    "NN401": RuleMeta(
        code="NN401",
        name="memory-bound",
        family="performance",
        severity=Severity.NOTE,
        summary="Layer is memory-bound on the target",
        doc="## What it does\nCompares arithmetic intensity with the ridge point.",
    ),
    # Known but never fired: must not appear in SARIF's rules array.
    "NN501": RuleMeta(
        code="NN501",
        name="budget-exceeded",
        family="budget",
        severity=Severity.ERROR,
        summary="A budget line is exceeded",
        doc="## What it does\nChecks budgets.",
    ),
}

TWO_PATH = "models/two.nn"
TWO = "input x: [784]\nh = x -> dense(10) -> sigmoid"

MULTI_PATH = "my models/multi.nn"  # a space: must be percent-encoded in SARIF
MULTI = (
    "model multi {\n"
    "\th = x -> dense(8)\n"  # a tab before the span
    "    🚀 = h -> gelu\n"  # an astral-plane emoji (two UTF-16 code units) before the span
    "    z = concat(\n"
    "        h, y)\n"
    "}\n"
)

CLEAN_MODEL = {
    "path": "clean.nn",
    "name": "clean",
    "target": None,
    "totals": {"params": 235146, "forward_flops": 15051264},
    "layers": [],
}


def diag(code, severity, message, span, path, fix=None, **data):
    return Diagnostic(code, severity, message, span, path=path, fix=fix, data=data)


NO_MODEL = diag(
    "NN009",
    Severity.ERROR,
    "no model block around the layers",
    Span(1, 1, 1, 6),
    TWO_PATH,
    fix="wrap the layers in `model NAME { … }`",
)
MEMORY_BOUND = diag(
    "NN401",
    Severity.NOTE,
    "dense(10) is memory-bound: 0.5 FLOP/byte below the ridge point",
    Span(2, 10, 2, 19),
    TWO_PATH,
    intensity=0.5,
    ridge=float("inf"),
    bytes=3913120,
)
SIGMOID = diag(
    "NN101",
    Severity.WARNING,
    "sigmoid bounds the gradient factor at 0.25 per layer",
    Span(2, 23, 2, 30),
    TWO_PATH,
    factor=0.25,
    depth=1,
)
TAB_DENSE = diag(
    "NN101",
    Severity.WARNING,
    "dense(8) feeds a saturating activation",
    Span(2, 11, 2, 19),
    MULTI_PATH,
)
UNKNOWN = diag(
    "NN777",
    Severity.NOTE,
    "gelu is not in the op catalog",
    Span(3, 14, 3, 18),
    MULTI_PATH,
)
CONCAT = diag(
    "NN009",
    Severity.ERROR,
    "concat of [8] and [4]: ranks differ",
    Span(4, 9, 5, 14),
    MULTI_PATH,
    fix="reshape y to [8]\nor drop it",
    nan=float("nan"),
    shapes=[[8], [4]],
)

RESULTS = (
    FileResult(TWO_PATH, TWO, (NO_MODEL, MEMORY_BOUND, SIGMOID)),
    FileResult(MULTI_PATH, MULTI, (TAB_DENSE, UNKNOWN, CONCAT)),
    FileResult("clean.nn", "model clean {}\n", (), model=CLEAN_MODEL),
)

SUMMARY = "Found 2 errors, 2 warnings and 2 notes in 3 files."

TEXT_GOLDEN = """\
models/two.nn:1:1: NN009 [error] no model block around the layers
   |
 1 | input x: [784]
   | ^^^^^
   = help: wrap the layers in `model NAME { … }`

models/two.nn:2:10: NN401 [note] dense(10) is memory-bound: 0.5 FLOP/byte below the ridge point
   |
 1 | input x: [784]
 2 | h = x -> dense(10) -> sigmoid
   |          ^^^^^^^^^

models/two.nn:2:23: NN101 [warning] sigmoid bounds the gradient factor at 0.25 per layer
   |
 1 | input x: [784]
 2 | h = x -> dense(10) -> sigmoid
   |                       ^^^^^^^

my models/multi.nn:2:11: NN101 [warning] dense(8) feeds a saturating activation
   |
 1 | model multi {
 2 |     h = x -> dense(8)
   |              ^^^^^^^^

my models/multi.nn:3:14: NN777 [note] gelu is not in the op catalog
   |
 2 |     h = x -> dense(8)
 3 |     🚀 = h -> gelu
   |               ^^^^

my models/multi.nn:4:9: NN009 [error] concat of [8] and [4]: ranks differ
   |
 3 |     🚀 = h -> gelu
 4 |     z = concat(
   |         ^^^^^^^
   = help: reshape y to [8]
           or drop it

Found 2 errors, 2 warnings and 2 notes in 3 files."""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sarif(results=RESULTS, **kwargs):
    return json.loads(render("sarif", results, RULES, **kwargs))


def by_message(log, message):
    (hit,) = [r for r in log["runs"][0]["results"] if r["message"]["text"] == message]
    return hit


# --------------------------------------------------------------------------- text / concise


def test_formats_and_unknown_format():
    assert FORMATS == ("text", "concise", "json", "sarif", "github")
    with pytest.raises(ValueError, match="unknown output format"):
        render("xml", RESULTS, RULES)


def test_text_golden():
    assert render("text", RESULTS, RULES) == TEXT_GOLDEN


def test_text_frame_gutter_widens_for_two_digit_lines():
    source = "\n".join(f"    layer{i} = dense(8)" for i in range(1, 11))
    d = diag("NN101", Severity.WARNING, "w", Span(10, 5, 10, 12), "wide.nn")
    out = render("text", [FileResult("wide.nn", source, (d,))], RULES)
    assert out.splitlines()[:5] == [
        "wide.nn:10:5: NN101 [warning] w",
        "    |",
        "  9 |     layer9 = dense(8)",
        " 10 |     layer10 = dense(8)",
        "    |     ^^^^^^^",
    ]


def test_text_without_source_and_point_past_line_end():
    no_source = diag("NN009", Severity.ERROR, "unreadable", Span(1, 1, 1, 2), "gone.nn", fix="f")
    past_end = diag("NN101", Severity.WARNING, "at end", Span(1, 4, 1, 4), "short.nn")
    out = render(
        "text",
        [FileResult("gone.nn", None, (no_source,)), FileResult("short.nn", "abc", (past_end,))],
        RULES,
    )
    assert out == (
        "gone.nn:1:1: NN009 [error] unreadable\n"
        "   = help: f\n"
        "\n"
        "short.nn:1:4: NN101 [warning] at end\n"
        "   |\n"
        " 1 | abc\n"
        "   |    ^\n"
        "\n"
        "Found 1 error, 1 warning and 0 notes in 2 files."
    )


def test_concise_lines():
    assert render("concise", RESULTS, RULES).splitlines() == [
        "models/two.nn:1:1: NN009 [error] no model block around the layers",
        "models/two.nn:2:10: NN401 [note] dense(10) is memory-bound: "
        "0.5 FLOP/byte below the ridge point",
        "models/two.nn:2:23: NN101 [warning] sigmoid bounds the gradient factor at 0.25 per layer",
        "my models/multi.nn:2:11: NN101 [warning] dense(8) feeds a saturating activation",
        "my models/multi.nn:3:14: NN777 [note] gelu is not in the op catalog",
        "my models/multi.nn:4:9: NN009 [error] concat of [8] and [4]: ranks differ",
        SUMMARY,
    ]


def test_emitter_keeps_the_given_order():
    reversed_results = [FileResult(TWO_PATH, TWO, (SIGMOID, NO_MODEL))]
    lines = render("concise", reversed_results, RULES).splitlines()
    assert [line.split()[1] for line in lines[:2]] == ["NN101", "NN009"]


def test_summary_lines():
    assert render("text", [], RULES) == "All checks passed (0 files)."
    assert render("concise", RESULTS[2:], RULES) == "All checks passed (1 file)."
    assert render("text", RESULTS[2:], RULES, target="edge-tpu") == (
        "All checks passed (1 file) (target: edge-tpu)."
    )
    one = [FileResult(TWO_PATH, TWO, (NO_MODEL, MEMORY_BOUND))]
    assert render("concise", one, RULES, target="edge-tpu").splitlines()[-1] == (
        "Found 1 error, 0 warnings and 1 note in 1 file (target: edge-tpu)."
    )


@pytest.mark.parametrize("fmt", ["text", "concise"])
def test_statistics(fmt):
    assert render(fmt, RESULTS, RULES, statistics=True) == "\n".join(
        [
            "2\tNN009\tshape-mismatch",
            "2\tNN101\tvanishing-gradient",
            "1\tNN401\tmemory-bound",
            "1\tNN777\tunknown",
            SUMMARY,
        ]
    )
    assert render(fmt, [], RULES, statistics=True) == "All checks passed (0 files)."


@pytest.mark.parametrize("fmt", ["text", "concise"])
def test_color_only_when_asked(fmt):
    plain = render(fmt, RESULTS, RULES)
    colored = render(fmt, RESULTS, RULES, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1mmodels/two.nn\x1b[0m" in colored  # bold path
    assert "\x1b[31m[error]\x1b[0m" in colored  # red error
    assert "\x1b[33m[warning]\x1b[0m" in colored  # yellow warning
    assert "\x1b[36m[note]\x1b[0m" in colored  # cyan note
    assert ANSI.sub("", colored) == plain
    if fmt == "text":
        assert "\x1b[34m 1 |\x1b[0m" in colored  # blue gutter
    for other in ("json", "sarif", "github"):
        assert "\x1b[" not in render(other, RESULTS, RULES, color=True)


# --------------------------------------------------------------------------- json


def test_json_contract():
    text = render("json", RESULTS, RULES)
    doc = json.loads(text)
    assert list(doc) == ["version", "models", "diagnostics", "summary"]
    assert doc["version"] == 1
    assert doc["models"] == [CLEAN_MODEL]
    assert doc["summary"] == {"files": 3, "errors": 2, "warnings": 2, "notes": 2}
    assert list(doc["summary"]) == ["files", "errors", "warnings", "notes"]
    assert len(doc["diagnostics"]) == 6
    for entry in doc["diagnostics"]:
        assert list(entry) == [
            "path",
            "line",
            "column",
            "end_line",
            "end_column",
            "code",
            "severity",
            "message",
            "fix",
            "data",
            "layer",
            "autofix",
            "related",
        ]
    first, memory = doc["diagnostics"][:2]
    assert first == {
        "path": "models/two.nn",
        "line": 1,
        "column": 1,
        "end_line": 1,
        "end_column": 6,
        "code": "NN009",
        "severity": "error",
        "message": "no model block around the layers",
        "fix": "wrap the layers in `model NAME { … }`",
        "data": {},
        "layer": None,
        "autofix": None,
        "related": [],
    }
    assert memory["fix"] is None
    assert memory["data"] == {"intensity": 0.5, "ridge": "inf", "bytes": 3913120}
    assert isinstance(memory["data"]["bytes"], int)
    assert doc["diagnostics"][-1]["data"] == {"nan": "nan", "shapes": [[8], [4]]}
    assert doc["diagnostics"][3]["path"] == "my models/multi.nn"
    assert "Infinity" not in text and "NaN" not in text
    assert text.startswith('{\n  "version": 1,')  # indent=2


def test_json_empty():
    assert json.loads(render("json", [], RULES)) == {
        "version": 1,
        "models": [],
        "diagnostics": [],
        "summary": {"files": 0, "errors": 0, "warnings": 0, "notes": 0},
    }


# --------------------------------------------------------------------------- sarif


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$")


@pytest.mark.parametrize("results", [RESULTS, (), RESULTS[2:]], ids=["findings", "empty", "clean"])
def test_sarif_validates(validator, results):
    log = sarif(results)
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    run = log["runs"][0]
    assert "results" in run  # GitHub rejects a run without it, even when empty
    if not results or results == RESULTS[2:]:
        assert run["results"] == [] and run["tool"]["driver"]["rules"] == []


def test_sarif_run_shape():
    log = sarif(target="edge-tpu", tool_version="9.8.7")
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nnlint"
    assert driver["semanticVersion"] == "9.8.7"
    assert driver["informationUri"] == "https://github.com/nnlint/nnlint"
    assert run["automationDetails"] == {"id": "nnlint/edge-tpu/"}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"description": {"text": "Repository root"}}}
    assert run["columnKind"] == "utf16CodeUnits"
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert sarif()["runs"][0]["automationDetails"]["id"] == "nnlint/default/"
    assert sarif()["runs"][0]["tool"]["driver"]["semanticVersion"] == __version__


def test_sarif_rules_only_for_fired_codes_and_index_consistent():
    run = sarif()["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert sorted(ids) == ["NN009", "NN101", "NN401", "NN777"]
    assert len(set(ids)) == len(ids)
    assert len(run["results"]) == 6
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_rule_descriptors():
    rules = {r["id"]: r for r in sarif()["runs"][0]["tool"]["driver"]["rules"]}
    shape = rules["NN009"]
    assert shape["name"] == "shape-mismatch"
    assert shape["shortDescription"]["text"] == RULES["NN009"].summary
    assert shape["fullDescription"]["text"] == RULES["NN009"].summary
    assert shape["help"]["markdown"] == RULES["NN009"].doc
    help_text = shape["help"]["text"]
    assert "What it does" in help_text and "out = add(x, y)" in help_text
    assert "#" not in help_text and "`" not in help_text and "](" not in help_text
    assert "the op catalog (https://github.com/nnlint/nnlint/blob/main/docs/ops.md)" in help_text
    assert shape["defaultConfiguration"] == {"level": "error"}
    assert shape["properties"] == {
        "tags": ["spec"],
        "precision": "very-high",
        "problem.severity": "error",
    }
    assert "**" not in rules["NN101"]["help"]["text"]
    assert rules["NN101"]["properties"]["problem.severity"] == "warning"
    assert rules["NN401"]["properties"]["problem.severity"] == "recommendation"
    assert rules["NN401"]["defaultConfiguration"] == {"level": "note"}
    for rule in rules.values():
        assert 0 < len(rule["shortDescription"]["text"]) <= 1024
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"]
        assert "security-severity" not in rule.get("properties", {})
    # A code missing from the rule table still gets a (minimal) descriptor.
    assert rules["NN777"]["id"] == "NN777"
    assert rules["NN777"]["shortDescription"]["text"]


def test_sarif_long_summary_is_clipped():
    long = RuleMeta("NN101", "x" * 300, "training", Severity.WARNING, "s" * 2000, "")
    d = diag("NN101", Severity.WARNING, "m", Span(1, 1, 1, 2), "a.nn")
    log = json.loads(render("sarif", [FileResult("a.nn", "a", (d,))], {"NN101": long}))
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert len(rule["fullDescription"]["text"]) == 1024
    assert len(rule["name"]) == 255
    assert rule["help"]["text"] == rule["fullDescription"]["text"]


def test_sarif_results():
    log = sarif()
    memory = by_message(log, MEMORY_BOUND.message)
    assert memory["ruleId"] == "NN401"
    assert memory["level"] == "note"
    assert memory["properties"]["data"] == {"intensity": 0.5, "ridge": "inf", "bytes": 3913120}
    (location,) = memory["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "models/two.nn", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 2, "startColumn": 10, "endLine": 2, "endColumn": 19},
    }
    levels = [r["level"] for r in log["runs"][0]["results"]]
    assert levels == ["error", "note", "warning", "warning", "note", "error"]
    concat = by_message(log, CONCAT.message)
    assert concat["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4,
        "startColumn": 9,
        "endLine": 5,
        "endColumn": 14,
    }
    assert "Infinity" not in render("sarif", RESULTS, RULES)


def test_sarif_uri_is_a_relative_percent_encoded_reference():
    log = sarif()
    for result in log["runs"][0]["results"]:
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert URI_REFERENCE.match(artifact["uri"]), artifact["uri"]
        assert urlsplit(artifact["uri"]).scheme == ""
        assert artifact["uriBaseId"] == "%SRCROOT%"
    tab = by_message(log, TAB_DENSE.message)
    assert tab["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "my%20models/multi.nn"
    )
    odd = diag("NN101", Severity.WARNING, "m", Span(1, 1, 1, 2), r"a:b\ü #1.nn")
    (result,) = sarif([FileResult(odd.path, "x", (odd,))])["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "a%3Ab/%C3%BC%20%231.nn"
    assert URI_REFERENCE.match(uri) and urlsplit(uri).scheme == ""


def test_sarif_utf16_columns():
    log = sarif()
    unknown = by_message(log, UNKNOWN.message)
    # "    🚀 = h -> gelu": gelu is code point 14, but the emoji takes two UTF-16 units.
    assert unknown["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 15,
        "endLine": 3,
        "endColumn": 19,
    }
    # A tab is one code unit, like one code point.
    tab = by_message(log, TAB_DENSE.message)
    region = tab["locations"][0]["physicalLocation"]["region"]
    assert (region["startColumn"], region["endColumn"]) == (11, 19)
    # A span over the emoji itself is two code units wide.
    rocket = diag("NN101", Severity.WARNING, "rocket", Span(3, 5, 3, 6), MULTI_PATH)
    (result,) = sarif([FileResult(MULTI_PATH, MULTI, (rocket,))])["runs"][0]["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startColumn"], region["endColumn"]) == (5, 7)


def test_sarif_fingerprints_stable_and_distinct():
    def prints(log):
        return [r["partialFingerprints"]["nnlintFingerprint/v1"] for r in log["runs"][0]["results"]]

    first, second = prints(sarif()), prints(sarif())
    assert first == second
    assert len(set(first)) == len(first)
    assert all(re.fullmatch(r"[0-9a-f]{64}:\d+", value) for value in first)
    # MEMORY_BOUND (index 1) and SIGMOID (index 2) sit on the same line.
    assert first[1] != first[2]
    # Inserting a line above moves the finding but keeps its fingerprint.
    moved = diag("NN101", Severity.WARNING, SIGMOID.message, Span(3, 23, 3, 30), TWO_PATH)
    shifted = sarif([FileResult(TWO_PATH, "# header\n" + TWO, (moved,))])
    assert prints(shifted) == [first[2]]
    # Exact duplicates still get distinct values.
    twice = sarif([FileResult(TWO_PATH, TWO, (SIGMOID, SIGMOID))])
    assert len(set(prints(twice))) == 2


# --------------------------------------------------------------------------- github


def test_github_commands():
    lines = render("github", RESULTS, RULES, target="edge-tpu").splitlines()
    assert lines[0] == (
        "::error file=models/two.nn,line=1,col=1,endLine=1,endColumn=6,"
        "title=NN009 [error]::no model block around the layers"
    )
    assert lines[1].startswith("::notice file=models/two.nn,line=2,col=10,endLine=2,endColumn=19,")
    assert lines[2].startswith("::warning file=models/two.nn,line=2,col=23,")
    assert lines[3].startswith("::warning file=my models/multi.nn,line=2,col=11,")
    assert lines[5].startswith(
        "::error file=my models/multi.nn,line=4,col=9,endLine=5,endColumn=14,"
    )
    assert lines[-1] == "Found 2 errors, 2 warnings and 2 notes in 3 files (target: edge-tpu)."
    assert len(lines) == 7


def test_github_escaping():
    d = diag("NN101", Severity.WARNING, "50% of\r\nbudget: a, b", Span(1, 1, 1, 2), "dir,x/a:b.nn")
    first = render("github", [FileResult(d.path, "x", (d,))], RULES).splitlines()[0]
    assert first == (
        "::warning file=dir%2Cx/a%3Ab.nn,line=1,col=1,endLine=1,endColumn=2,"
        "title=NN101 [warning]::50%25 of%0D%0Abudget: a, b"
    )


def test_github_empty():
    assert render("github", [], RULES) == "All checks passed (0 files)."
