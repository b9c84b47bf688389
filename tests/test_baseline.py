"""Baselines: ``--write-baseline`` records today's findings, ``--baseline`` (or the
``baseline`` config key) reports only the new ones and the stale entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli as run

from nnlint.baseline import BASELINE_VERSION, Key, key_of, load_baseline
from nnlint.check import check_text
from nnlint.diagnostics import FileResult

# Two NN103 findings (log of a softmax, lines 5 and 6) and a budget line that is
# exceeded (NN501, line 9) whose message quotes the parameter count.
SPEC = """\
model m {
    input x: [16]
    logits = x -> dense(4)
    probs  = logits -> softmax
    a      = probs -> log
    b      = probs -> log
}
budget {
    params <= 10
}
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "m.nn").write_text(SPEC, encoding="utf-8")
    return tmp_path


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def codes(out: str) -> list[str]:
    return [(d["code"], d["line"]) for d in json.loads(out)["diagnostics"]]


def test_write_baseline_records_every_finding(repo, capsys):
    code, out, err = run(capsys, "check", "specs", "--write-baseline", "nnlint-baseline.json")
    assert code == 0 and out == ""
    assert "wrote 3 findings in 1 file to the baseline nnlint-baseline.json" in err
    document = json.loads((repo / "nnlint-baseline.json").read_text(encoding="utf-8"))
    assert document["version"] == BASELINE_VERSION
    entries = document["entries"]
    assert [(e["path"], e["code"], e["layer"]) for e in entries] == [
        ("specs/m.nn", "NN103", "a/log#1"),
        ("specs/m.nn", "NN103", "b/log#1"),
        ("specs/m.nn", "NN501", None),
    ]
    assert all(len(e["fingerprint"]) == 16 and "line" not in e for e in entries)

    code, out, err = run(
        capsys, "check", "specs", "--baseline", "nnlint-baseline.json", "--fail-on", "note"
    )
    assert code == 0, out
    assert "All checks passed (1 file)." in out
    assert "Baseline nnlint-baseline.json: 3 findings recorded there not shown." in out
    assert err == ""


def test_only_a_new_finding_fails(repo, capsys):
    run(capsys, "check", "specs", "--write-baseline", "base.json")
    spec = repo / "specs" / "m.nn"
    write(
        spec,
        SPEC.replace(
            "    b      = probs -> log\n", "    b      = probs -> log\n    c      = probs -> log\n"
        ),
    )
    code, out, _ = run(
        capsys,
        "check",
        "specs",
        "--baseline",
        "base.json",
        "--format",
        "json",
        "--fail-on",
        "warning",
    )
    assert code == 1
    assert codes(out) == [("NN103", 7)]
    report = json.loads(out)
    assert report["diagnostics"][0]["layer"] == "c/log#1"
    assert report["baseline"] == [{"path": "base.json", "suppressed": 3, "stale": []}]


def test_moved_lines_and_changed_figures_stay_suppressed(repo, capsys):
    run(capsys, "check", "specs", "--write-baseline", "base.json")
    moved = "# a header comment\n\n# and a blank line: every finding moves down\n" + SPEC.replace(
        "dense(4)", "dense(5)"
    ).replace(  # NN501's message quotes other figures now
        "    a      = probs -> log\n    b      = probs -> log\n",
        "    b      = probs -> log\n\n    a      = probs -> log\n",
    )
    write(repo / "specs" / "m.nn", moved)
    code, out, err = run(capsys, "check", "specs", "--baseline", "base.json", "--fail-on", "note")
    assert code == 0, out
    assert "3 findings recorded there not shown" in out
    assert "stale" not in out + err


def test_fixed_finding_is_a_stale_entry(repo, capsys):
    run(capsys, "check", "specs", "--write-baseline", "base.json")
    write(repo / "specs" / "m.nn", SPEC.replace("    b      = probs -> log\n", ""))
    code, out, err = run(capsys, "check", "specs", "--baseline", "base.json")
    assert code == 0
    assert (
        "nnlint: note: base.json: stale baseline entry, the finding is gone: "
        "specs/m.nn: NN103 at layer `b/log#1`" in err
    )
    assert "2 findings recorded there not shown; 1 stale entry (fixed findings" in out

    code, out, _ = run(capsys, "check", "specs", "--baseline", "base.json", "--format", "json")
    (report,) = json.loads(out)["baseline"]
    assert report["suppressed"] == 2
    assert [(e["path"], e["code"], e["layer"]) for e in report["stale"]] == [
        ("specs/m.nn", "NN103", "b/log#1")
    ]


def test_entries_of_unchecked_files_are_not_stale(repo, capsys):
    write(repo / "specs" / "other.nn", SPEC)
    run(capsys, "check", "specs", "--write-baseline", "base.json")
    code, out, err = run(capsys, "check", "specs/m.nn", "--baseline", "base.json")
    assert code == 0 and "stale" not in out + err
    assert "3 findings recorded there not shown" in out


def test_count_aware_matching():
    """Two identical findings need two entries: a third identical one is new."""
    result = check_text(SPEC, "m.nn")
    finding = next(d for d in result.diagnostics if d.code == "NN501")
    twice = FileResult("m.nn", SPEC, (finding, finding))
    key = key_of(twice, finding, Path.cwd())
    assert key == Key("m.nn", "NN501", None, key.fingerprint)

    from collections import Counter

    from nnlint.baseline import Baseline

    baseline = Baseline(Path.cwd() / "b.json", Counter({key: 1}))
    outcome = baseline.apply([twice])
    assert outcome.suppressed == 1 and len(outcome.results[0].diagnostics) == 1
    thrice = FileResult("m.nn", SPEC, (finding, finding, finding))
    outcome = Baseline(Path.cwd() / "b.json", Counter({key: 2})).apply([thrice])
    assert outcome.suppressed == 2 and len(outcome.results[0].diagnostics) == 1
    assert outcome.stale == []
    outcome = Baseline(Path.cwd() / "b.json", Counter({key: 3})).apply([twice])
    assert outcome.suppressed == 2 and outcome.stale == [key]


def test_baseline_from_config_relative_to_its_folder(repo, capsys):
    (repo / "ci").mkdir()
    assert run(capsys, "check", "specs", "--write-baseline", "ci/base.json")[0] == 0
    write(repo / "pyproject.toml", '[tool.nnlint]\nbaseline = "ci/base.json"\nfail-on = "note"\n')
    code, out, _ = run(capsys, "check", "specs")
    assert code == 0
    assert "Baseline ci/base.json: 3 findings recorded there not shown." in out
    # --baseline wins over the config
    write(repo / "empty.json", json.dumps({"version": 1, "entries": []}))
    code, out, _ = run(capsys, "check", "specs", "--baseline", "empty.json")
    assert code == 1 and "NN501" in out


def test_paths_are_relative_to_the_baseline_file(repo, capsys, monkeypatch):
    (repo / "ci").mkdir()
    run(capsys, "check", "specs", "--write-baseline", "ci/base.json")
    entries = json.loads((repo / "ci" / "base.json").read_text(encoding="utf-8"))["entries"]
    assert {e["path"] for e in entries} == {"../specs/m.nn"}
    monkeypatch.chdir(repo / "specs")  # another working folder: same keys
    code, out, _ = run(
        capsys, "check", "m.nn", "--baseline", "../ci/base.json", "--fail-on", "note"
    )
    assert code == 0 and "3 findings recorded there not shown" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "the baseline is not valid JSON"),
        ('{"version": 2, "entries": []}', "baseline version 2 is not supported"),
        ('{"version": 1, "entries": {}}', "`entries` must be a list"),
        ('{"version": 1, "entries": [{"path": "a.nn"}]}', "entries[0].code must be"),
        (
            '{"version": 1, "entries": [{"path": "a", "code": "NN1", "fingerprint": "f", '
            '"layer": 3}]}',
            "entries[0].layer must be a string or null",
        ),
    ],
)
def test_bad_baseline_is_one_line_exit_2(repo, capsys, content, message):
    write(repo / "bad.json", content)
    code, out, err = run(capsys, "check", "specs", "--baseline", "bad.json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("nnlint: error: ") and message in err


def test_missing_baseline_and_folder(repo, capsys):
    code, _, err = run(capsys, "check", "specs", "--baseline", "nope.json")
    assert code == 2 and "no such baseline file (create it with --write-baseline)" in err
    code, _, err = run(capsys, "check", "specs", "--write-baseline", "specs")
    assert code == 2 and "is a folder" in err


def test_write_baseline_refuses_when_a_file_failed(repo, capsys):
    code, _, err = run(capsys, "check", "specs", "missing.nn", "--write-baseline", "base.json")
    assert code == 2 and "baseline not written" in err
    assert not (repo / "base.json").exists()


def test_load_round_trip(repo, capsys):
    run(capsys, "check", "specs", "--write-baseline", "base.json")
    baseline = load_baseline("base.json")
    assert sum(baseline.entries.values()) == 3
    assert baseline.root == repo
