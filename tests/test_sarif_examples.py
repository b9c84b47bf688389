"""SARIF and GitHub output of real runs, as code review sees them.

``nnlint check … --format sarif`` is run through ``main([...])`` on the shipped
examples, on a spec with a syntax error, on an empty folder and on a run with an
internal error; every log must validate against the OASIS SARIF 2.1.0 schema
(draft 4) and carry what GitHub code scanning needs: relative URIs under
``%SRCROOT%``, 1-based regions and fingerprints that do not change between runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
from helpers import fail_analysis

from nnlint.cli import main

REPO = Path(__file__).resolve().parent.parent
HINT = " (run with --show-traceback and report it)"
SCHEMA = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
VALIDATOR = jsonschema.Draft4Validator(SCHEMA)

SYNTAX_ERROR = "model m {\n    input x: [4]\n    y = x -> dense(2 ->\n}\n"
OVER_BUDGET = (
    "model wide {\n    input x: [784]\n    h = x -> dense(256) -> relu\n"
    "    y = h -> dense(10)\n}\nbudget {\n    params <= 1k\n}\n"
)


def sarif(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["check", *argv, "--format", "sarif"])
    out, _ = capsys.readouterr()
    log = json.loads(out)
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    return code, log


def check_locations(log: dict, root: Path) -> None:
    """Relative URIs that name real files under ``root``; 1-based, ordered regions."""
    run = log["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        [location] = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        parts = urlsplit(artifact["uri"])
        assert not parts.scheme and not parts.netloc and not artifact["uri"].startswith("/")
        assert artifact["uriBaseId"] == "%SRCROOT%"
        assert (root / unquote(artifact["uri"])).is_file()
        region = location["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert (region["endLine"], region["endColumn"]) >= (
            region["startLine"],
            region["startColumn"],
        )
        assert result["partialFingerprints"]


def fingerprints(log: dict) -> list[str]:
    return [r["partialFingerprints"]["nnlintFingerprint/v1"] for r in log["runs"][0]["results"]]


def test_examples(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, log = sarif(capsys, "examples")
    assert code in (0, 1)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "nnlint"
    assert run["invocations"] == [{"executionSuccessful": True}]
    check_locations(log, REPO)
    assert fingerprints(sarif(capsys, "examples")[1]) == fingerprints(log)


def test_examples_with_findings(capsys, monkeypatch, tmp_path):
    """The examples plus specs that certainly have findings, in a nested folder."""
    shutil.copytree(REPO / "examples", tmp_path / "models" / "examples")
    (tmp_path / "models" / "over budget.nn").write_text(OVER_BUDGET, encoding="utf-8")
    (tmp_path / "models" / "bad.nn").write_text(SYNTAX_ERROR, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, log = sarif(capsys, "models", "--target", "edge-tpu")
    assert code == 1
    results = log["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert {"models/bad.nn", "models/over%20budget.nn"} <= uris
    assert log["runs"][0]["automationDetails"]["id"] == "nnlint/edge-tpu/"
    check_locations(log, tmp_path)
    again = sarif(capsys, "models", "--target", "edge-tpu")[1]
    assert fingerprints(again) == fingerprints(log)
    assert len(set(fingerprints(log))) == len(results)


def test_syntax_error_is_a_result(capsys, monkeypatch, tmp_path):
    (tmp_path / "bad.nn").write_text(SYNTAX_ERROR, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, log = sarif(capsys, "bad.nn")
    assert code == 1
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "NN001" and result["level"] == "error"
    assert result["message"]["text"].startswith("syntax error: unexpected '>'")
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 3,
        "startColumn": 23,
        "endLine": 3,
        "endColumn": 24,
    }
    [rule] = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "NN001" and rule["name"] == "syntax-error"
    check_locations(log, tmp_path)
    assert fingerprints(sarif(capsys, "bad.nn")[1]) == fingerprints(log)


def test_empty_folder(capsys, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    code, log = sarif(capsys, "empty")
    assert code == 0
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_internal_error_still_gives_a_valid_log(capsys, monkeypatch, tmp_path):
    (tmp_path / "a.nn").write_text(OVER_BUDGET, encoding="utf-8")
    (tmp_path / "b.nn").write_text(OVER_BUDGET.replace("wide", "boom"), encoding="utf-8")
    fail_analysis(monkeypatch, RuntimeError("kaboom"), when="boom")
    monkeypatch.chdir(tmp_path)
    code = main(
        ["check", ".", "--format", "sarif", "--select", "NN5", "--output-file", "out.sarif"]
    )
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == "nnlint: error: b.nn: internal error: RuntimeError: kaboom" + HINT + "\n"
    log = json.loads((tmp_path / "out.sarif").read_text(encoding="utf-8"))
    assert not list(VALIDATOR.iter_errors(log))
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
    assert invocation["toolExecutionNotifications"] == [
        {
            "level": "error",
            "message": {"text": "nnlint: error: b.nn: internal error: RuntimeError: kaboom" + HINT},
        }
    ]
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["NN501"]  # a.nn still checked


def test_missing_file_is_recorded_in_the_log(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code = main(["check", "nope.nn", "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    assert code == 2 and not list(VALIDATOR.iter_errors(log))
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False


@pytest.mark.parametrize("name", ["bad.nn", "dir/with space/bad.nn"])
def test_github_workflow_commands(capsys, monkeypatch, tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SYNTAX_ERROR, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = main(["check", name, "--format", "github"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == (
        f"::error file={name},line=3,col=23,endLine=3,endColumn=24,"
        "title=NN001 [error]::syntax error: unexpected '>'; expected '(', '-', '[', "
        "a name, a number"
    )
    assert lines[-1] == "Found 1 error, 0 warnings and 0 notes in 1 file."
