"""Review on the changed lines: ``--format github`` within GitHub's annotation limits,
the rest in the job summary, SARIF complete, and the README's workflow file."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest
from helpers import ROOT
from helpers import run_cli as run

from nnlint.github import ANNOTATIONS_PER_TYPE, split_annotations, step_summary

# m.nn: 13 NN103 warnings (lines 5-17); e00.nn … e11.nn: one NN501 error each (line 5).
WARNINGS = 13
ERRORS = 12
SPEC = (
    "model m {\n    input x: [16]\n    logits = x -> dense(4)\n    probs  = logits -> softmax\n"
    + "".join(f"    l{i:02d}    = probs -> log\n" for i in range(WARNINGS))
    + "}\n"
)
OVER_BUDGET = "model e {\n    input x: [16]\n    y = x -> dense(4)\n}\nbudget { params <= 1 }\n"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (tmp_path / "m.nn").write_text(SPEC, encoding="utf-8")
    for i in range(ERRORS):
        (tmp_path / f"e{i:02d}.nn").write_text(OVER_BUDGET, encoding="utf-8")
    return tmp_path / "m.nn"


def test_at_most_ten_annotations_per_type(spec, capsys):
    code, out, _ = run(capsys, "check", ".", "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert sum(line.startswith("::error ") for line in lines) == ANNOTATIONS_PER_TYPE
    assert sum(line.startswith("::warning ") for line in lines) == ANNOTATIONS_PER_TYPE
    rest = WARNINGS + ERRORS - 2 * ANNOTATIONS_PER_TYPE
    assert f"{rest} more findings not annotated (GitHub shows 10 per type per step)" in out
    # the first ten of each severity, in output order
    warned = [int(m) for m in re.findall(r"^::warning file=m\.nn,line=(\d+)", out, re.M)]
    assert warned == list(range(5, 5 + ANNOTATIONS_PER_TYPE))
    assert lines[-1] == f"Found {ERRORS} errors, {WARNINGS} warnings and 0 notes in 13 files."


def test_the_rest_goes_to_the_step_summary(spec, capsys, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("# an earlier step's summary\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, err = run(capsys, "check", ".", "--format", "github")
    assert code == 1 and err == ""
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# an earlier step's summary\n")  # appended, never truncated
    rows = [line for line in text.splitlines() if line.startswith("| ") and ".nn:" in line]
    rest = WARNINGS + ERRORS - 2 * ANNOTATIONS_PER_TYPE
    assert len(rows) == rest
    assert "### nnlint: 5 more findings" in text
    # exactly the findings that were not annotated: e10, e11 and m.nn's lines 15-17
    located = [re.match(r"\| (\S+):(\d+):\d+ \| (NN\d+) \|", r).groups() for r in rows]
    assert located == [
        ("e10.nn", "5", "NN501"),
        ("e11.nn", "5", "NN501"),
        ("m.nn", "15", "NN103"),
        ("m.nn", "16", "NN103"),
        ("m.nn", "17", "NN103"),
    ]
    annotated = set(re.findall(r"^::\w+ file=(\S+?),line=(\d+)", out, re.M))
    assert len(annotated) == 2 * ANNOTATIONS_PER_TYPE
    assert annotated.isdisjoint((path, line) for path, line, _ in located)
    # a second step appends again
    run(capsys, "check", ".", "--format", "github")
    assert summary.read_text(encoding="utf-8").count("### nnlint:") == 2


def test_nothing_written_when_everything_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ten = "".join(f"    l{i:02d}    = probs -> log\n" for i in range(10, WARNINGS))
    (tmp_path / "m.nn").write_text(SPEC.replace(ten, ""), encoding="utf-8")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = run(capsys, "check", ".", "--format", "github", "--fail-on", "warning")
    assert code == 1 and out.count("::warning ") == 10 and "not annotated" not in out
    assert not summary.exists()


def test_step_summary_must_be_a_regular_file(spec, capsys, monkeypatch, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(folder))
    code, out, err = run(capsys, "check", ".", "--format", "github")
    assert code == 1 and "::error" in out
    assert err.startswith(f"nnlint: warning: $GITHUB_STEP_SUMMARY {folder}: not written")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(fifo))
    code, _, err = run(capsys, "check", ".", "--format", "github")  # must not hang
    assert code == 1 and "not written" in err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_sarif_stays_complete(spec, capsys):
    _, out, _ = run(capsys, "check", ".", "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert len(results) == WARNINGS + ERRORS


def test_summary_table_cells_cannot_break_the_table():
    from nnlint.diagnostics import Diagnostic, Severity, Span

    d = Diagnostic("NN999", Severity.NOTE, "a | b\n<script> & c", Span(1, 1, 1, 2), path="x|y.nn")
    text = step_summary([d])
    row = text.rstrip("\n").splitlines()[-1]
    assert row == "| x\\|y.nn:1:1 | NN999 | note | a \\| b &lt;script&gt; &amp; c |"


def test_step_summary_stays_under_its_limit():
    from nnlint.diagnostics import Diagnostic, Severity, Span

    many = [
        Diagnostic("NN103", Severity.WARNING, "x" * 500, Span(i, 1, i, 2), path="m.nn")
        for i in range(1, 101)
    ]
    text = step_summary(many, limit=10_000)
    assert len(text.encode("utf-8")) <= 10_000
    listed = sum(line.startswith("| m.nn:") for line in text.splitlines())
    assert 0 < listed < 100
    assert f"{100 - listed} more not listed" in text


def test_split_keeps_order_and_counts_per_type():
    items = ["e"] * 12 + ["w"] * 3 + ["e"] * 2 + ["n"] * 11
    shown, rest = split_annotations(items, lambda s: s)
    assert shown == ["e"] * 10 + ["w"] * 3 + ["n"] * 10
    assert rest == ["e"] * 4 + ["n"]


def _readme_workflow() -> dict:
    import yaml  # comes with pre-commit, a test dependency

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)
        if b.startswith("# .github/workflows/")
    ]
    assert len(blocks) == 1
    return yaml.safe_load(blocks[0])


def test_readme_workflow_parses_and_has_the_required_steps():
    workflow = _readme_workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) >= {"push", "pull_request"}
    assert workflow["permissions"]["security-events"] == "write"
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = [s.get("run", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(r.startswith("pip install") and "nnlint" in r for r in runs)
    (sarif_run,) = [r for r in runs if "--format sarif" in r]
    assert sarif_run.startswith("nnlint check")
    output = re.search(r"(?:-o|--output-file) (\S+)", sarif_run).group(1)
    (upload,) = [
        s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")
    ]
    assert upload["with"]["sarif_file"] == output
    assert uses.index(upload["uses"]) > runs.index(sarif_run)
    assert any(r.startswith("nnlint check") and "--format github" in r for r in runs)
    # every nnlint command in the workflow is one the command line accepts
    from nnlint.cli import build_parser

    for command in (r for r in runs if r.startswith("nnlint ")):
        build_parser().parse_args(command.split()[1:])
