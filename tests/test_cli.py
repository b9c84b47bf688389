"""Tests for the command line: every subcommand and option, through ``main([...])``.

Specs are written into ``tmp_path`` (the working folder of each test); the real
examples come from ``examples/``. Findings of known severity come from three
small specs: a budget line that is exceeded (NN501, error), an unused
suppression (NN021, warning) and, for notes, a rule registered only for a test.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import deny_read, fail_analysis
from helpers import run_cli as run

import nnlint.check
import nnlint.tables
from nnlint import __version__, cli
from nnlint.check import analyse_text, check_file, model_entry
from nnlint.diagnostics import Severity
from nnlint.files import display_path
from nnlint.rules import all_meta
from nnlint.rules.base import REGISTRY, Rule
from nnlint.targets import builtin_targets

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
CLEAN = (EXAMPLES / "xor.nn").read_text(encoding="utf-8")
MNIST = (EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8")

OVER_BUDGET = """\
model wide {
    input x: [784]
    h = x -> dense(256) -> relu
    y = h -> dense(10)
}
budget {
    params <= 1k
}
"""
UNUSED_SUPPRESSION = CLEAN + "# nnlint: ignore-file[NN501]\n"  # NN021 on line 22
SYNTAX_ERROR = "model m {\n    input x: [4]\n    y = x -> dense(2 ->\n}\n"

ERROR_LINE = "over.nn:7:5: NN501 [error] params is 203.53 k (203,530), over the budget"
WARNING_LINE = "warn.nn:22:1: NN021 [warning] unused suppression of NN501"
HINT = " (run with --show-traceback and report it)"


class NoteRule(Rule):
    """## What it does
    Exists only in these tests: one note per model, to test `--fail-on note`.
    """

    code = "NN198"
    name = "test-note"
    family = "training"
    severity = Severity.NOTE
    summary = "A test rule that always notes"
    options = ("label",)

    def check(self, ctx):
        yield self.diag(f"note {ctx.thresholds.get('label', 'plain')}", ctx.model_span, "none")


@pytest.fixture
def note_rule(monkeypatch):
    monkeypatch.setitem(REGISTRY, NoteRule.code, NoteRule())


@pytest.fixture(autouse=True)
def budget_rules_only(monkeypatch):
    """The CLI is under test here, not the rules: only the budget rules stay registered,
    so rules added later cannot change the findings these tests expect."""
    for code in [c for c in REGISTRY if not c.startswith("NN5")]:
        monkeypatch.delitem(REGISTRY, code)


@pytest.fixture(autouse=True)
def plain_env(tmp_path, monkeypatch):
    """Work in ``tmp_path``, with no color variables from the outer environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def write(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def feed_stdin(monkeypatch, text: str | bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.fixture
def three(tmp_path):
    """clean.nn, over.nn (an error) and warn.nn (a warning)."""
    write("clean.nn", CLEAN)
    write("over.nn", OVER_BUDGET)
    write("warn.nn", UNUSED_SUPPRESSION)
    return tmp_path


# --------------------------------------------------------------------------- basics


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == "" and "usage: nnlint" in err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"nnlint {__version__}"


def test_help_lists_subcommands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("check", "report", "rule", "rules", "targets"):
        assert command in out


def test_bad_option_is_a_usage_error(capsys):
    code, _, err = run(capsys, "check", "--fail-on", "fatal")
    assert code == 2 and "invalid choice: 'fatal'" in err


def test_format_choices_are_emit_formats():
    from nnlint.emit import FORMATS

    assert FORMATS == ("text", "concise", "json", "sarif", "github")


# --------------------------------------------------------------------------- check: paths


def test_check_clean_file(capsys):
    write("clean.nn", CLEAN)
    code, out, err = run(capsys, "check", "clean.nn")
    assert (code, out, err) == (0, "All checks passed (1 file).\n", "")


def test_check_text_output_is_emit_render(capsys, three):
    code, out, _ = run(capsys, "check", "over.nn")
    assert code == 1
    assert out.startswith(ERROR_LINE)
    assert " 7 |     params <= 1k\n   |     ^^^^^^^^^^^^\n" in out
    assert out.endswith("Found 1 error, 0 warnings and 0 notes in 1 file.\n")


def test_check_folder_recurses_sorted_and_only_nn(capsys, tmp_path):
    write("models/b.nn", OVER_BUDGET)
    write("models/a/z.nn", OVER_BUDGET)
    write("models/a.nn", OVER_BUDGET)
    write("models/notes.txt", "not a spec")
    write("models/.venv/lib/x.nn", OVER_BUDGET)  # never walked into
    code, out, _ = run(capsys, "check", "models", "--format", "concise")
    paths = [line.split(":")[0] for line in out.splitlines()[:-1]]
    assert paths == ["models/a.nn", "models/a/z.nn", "models/b.nn"]
    assert code == 1 and out.endswith("in 3 files.\n")


def test_check_defaults_to_the_current_folder(capsys, three):
    code, out, _ = run(capsys, "check", "--format", "concise")
    assert code == 1 and out.endswith("in 3 files.\n")


def test_check_deduplicates_paths(capsys, three):
    _code, out, _ = run(capsys, "check", "over.nn", "./over.nn", ".", "--format", "concise")
    assert out.count("over.nn:7:5") == 1 and out.endswith("in 3 files.\n")


def test_paths_outside_cwd_are_absolute(capsys, tmp_path, monkeypatch):
    write("inner/x.nn", OVER_BUDGET)
    monkeypatch.chdir(tmp_path / "inner")
    write(tmp_path / "outer.nn", OVER_BUDGET)
    _code, out, _ = run(capsys, "check", "../outer.nn", "--format", "concise")
    assert out.startswith(f"{(tmp_path / 'outer.nn').as_posix()}:7:5: NN501")


def test_explicit_file_of_any_name_is_checked(capsys):
    write("model.txt", OVER_BUDGET)
    code, out, _ = run(capsys, "check", "model.txt", "--format", "concise")
    assert code == 1 and out.startswith("model.txt:7:5: NN501")


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "check", "empty")
    assert code == 0
    assert out == "All checks passed (0 files).\n"
    assert err == "nnlint: warning: no .nn files found under the given paths\n"


def test_missing_path_is_one_line_and_others_are_still_checked(capsys, three):
    code, out, err = run(capsys, "check", "nope.nn", "over.nn", "--format", "concise")
    assert code == 2
    assert err == "nnlint: error: nope.nn: no such file or folder\n"
    assert out.startswith(ERROR_LINE)


def test_unreadable_file_is_one_line(capsys, three, monkeypatch):
    deny_read(monkeypatch, "over.nn")
    code, out, err = run(capsys, "check", ".", "--format", "concise")
    assert code == 2
    assert err == "nnlint: error: over.nn: cannot read: Permission denied\n"
    assert out.startswith(WARNING_LINE) and out.endswith("in 2 files.\n")


def test_internal_error_is_one_line_without_traceback(capsys, three, monkeypatch):
    fail_analysis(monkeypatch, RuntimeError("boom"), when="wide")
    code, out, err = run(capsys, "check", ".", "--format", "concise")
    assert code == 2
    assert err == "nnlint: error: over.nn: internal error: RuntimeError: boom" + HINT + "\n"
    assert out.startswith(WARNING_LINE) and out.endswith("in 2 files.\n")


def test_show_traceback_prints_the_stack_of_an_internal_error(capsys, three, monkeypatch):
    fail_analysis(monkeypatch, RuntimeError("boom"), when="wide")
    code, out, err = run(capsys, "check", ".", "--format", "concise", "--show-traceback")
    assert code == 2
    assert err.startswith("Traceback (most recent call last):\n")
    assert "raise error" in err and "in analyse" in err
    assert err.endswith(
        "nnlint: error: over.nn: internal error: RuntimeError: boom "
        "(a bug in nnlint: please report it with the traceback above)\n"
    )
    assert out.startswith(WARNING_LINE) and out.endswith("in 2 files.\n")
    # the environment variable does the same; 0 leaves the one line
    monkeypatch.setenv("NNLINT_SHOW_TRACEBACK", "1")
    code, _, env_err = run(capsys, "check", ".", "--format", "concise")
    assert code == 2 and env_err == err
    monkeypatch.setenv("NNLINT_SHOW_TRACEBACK", "0")
    code, _, err = run(capsys, "check", ".", "--format", "concise")
    assert err == "nnlint: error: over.nn: internal error: RuntimeError: boom" + HINT + "\n"


def test_show_traceback_on_report_and_on_a_bug_outside_a_file(capsys, monkeypatch):
    write("xor.nn", CLEAN)

    fail_analysis(monkeypatch, ValueError("broken"))
    code, out, err = run(capsys, "report", "xor.nn", "--show-traceback")
    assert (code, out) == (2, "")
    assert err.startswith("Traceback (most recent call last):\n") and "ValueError: broken" in err
    assert err.splitlines()[-1].startswith("nnlint: error: xor.nn: internal error: ValueError")

    def rules_text(metas):
        raise KeyError("nope")

    monkeypatch.setattr(nnlint.tables, "rules_text", rules_text)
    code, out, err = run(capsys, "rules")
    assert (code, out) == (2, "")
    assert err == "nnlint: error: internal error: KeyError: 'nope'" + HINT + "\n"
    code, out, err = run(capsys, "rules", "--show-traceback")
    assert code == 2 and "Traceback (most recent call last):" in err and "in rules_text" in err


def test_not_utf8_is_a_finding(capsys):
    Path("bin.nn").write_bytes(b"model \xff {}\n")
    code, out, _ = run(capsys, "check", "bin.nn", "--format", "concise")
    assert code == 1 and out.startswith("bin.nn:1:7: NN016 [error] not UTF-8 text")


# --------------------------------------------------------------------------- check: stdin


def test_stdin_with_filename(capsys, monkeypatch):
    feed_stdin(monkeypatch, OVER_BUDGET)
    code, out, _ = run(
        capsys, "check", "-", "--stdin-filename", "models/m.nn", "--format", "concise"
    )
    assert code == 1 and out.startswith("models/m.nn:7:5: NN501")


def test_stdin_without_filename_is_shown_as_dash(capsys, monkeypatch):
    feed_stdin(monkeypatch, OVER_BUDGET)
    _code, out, _ = run(capsys, "check", "-", "--format", "concise")
    assert out.startswith("-:7:5: NN501")


def test_stdin_filename_alone_reads_stdin(capsys, monkeypatch):
    feed_stdin(monkeypatch, OVER_BUDGET)
    code, out, _ = run(capsys, "check", "--stdin-filename", "m.nn", "--format", "concise")
    assert code == 1 and out.startswith("m.nn:7:5: NN501")


def test_stdin_config_is_looked_up_from_its_filename(capsys, monkeypatch):
    write("sub/nnlint.toml", 'ignore = ["NN501"]\n')
    feed_stdin(monkeypatch, OVER_BUDGET)
    code, out, _ = run(capsys, "check", "-", "--stdin-filename", "sub/m.nn")
    assert (code, out) == (0, "All checks passed (1 file).\n")
    feed_stdin(monkeypatch, OVER_BUDGET)
    assert run(capsys, "check", "-", "--stdin-filename", "m.nn")[0] == 1


def test_stdin_together_with_files(capsys, monkeypatch, three):
    feed_stdin(monkeypatch, OVER_BUDGET)
    _code, out, _ = run(
        capsys, "check", "over.nn", "-", "--stdin-filename", "in.nn", "--format", "concise"
    )
    assert "over.nn:7:5" in out and "in.nn:7:5" in out and out.endswith("in 2 files.\n")


def test_stdin_internal_error_and_bad_bytes(capsys, monkeypatch):
    fail_analysis(monkeypatch, KeyError("k"))
    feed_stdin(monkeypatch, CLEAN)
    code, out, err = run(capsys, "check", "-", "--stdin-filename", "s.nn")
    assert (code, err) == (2, "nnlint: error: s.nn: internal error: KeyError: 'k'" + HINT + "\n")
    feed_stdin(monkeypatch, b"\xfe\xff")
    code, out, err = run(capsys, "check", "-", "--format", "concise")
    assert code == 1 and out.startswith("-:1:1: NN016 [error] not UTF-8 text: byte 0xfe")


def test_stdin_excluded_with_force_exclude(capsys, monkeypatch):
    write("nnlint.toml", 'exclude = ["gen"]\n')
    feed_stdin(monkeypatch, OVER_BUDGET)
    code, out, _err = run(capsys, "check", "-", "--stdin-filename", "gen/m.nn", "--force-exclude")
    assert code == 0 and out == "All checks passed (0 files).\n"


# --------------------------------------------------------------------------- check: exclude


def test_exclude_applies_to_folder_walks(capsys):
    write("nnlint.toml", 'exclude = ["legacy", "**/gen_*.nn"]\n')
    write("legacy/a.nn", OVER_BUDGET)
    write("models/gen_b.nn", OVER_BUDGET)
    write("models/c.nn", OVER_BUDGET)
    _code, out, _ = run(capsys, "check", ".", "--format", "concise")
    assert out.splitlines()[0].startswith("models/c.nn:") and out.endswith("in 1 file.\n")


def test_explicit_files_need_force_exclude(capsys):
    write("nnlint.toml", 'exclude = ["legacy"]\n')
    write("legacy/a.nn", OVER_BUDGET)
    assert run(capsys, "check", "legacy/a.nn")[0] == 1  # named explicitly: checked
    code, out, _ = run(capsys, "check", "legacy/a.nn", "--force-exclude")
    assert (code, out) == (0, "All checks passed (0 files).\n")
    code, out, _ = run(capsys, "check", "legacy", "--force-exclude")
    assert (code, out) == (0, "All checks passed (0 files).\n")


def test_exclude_globs_are_relative_to_their_config(capsys):
    write("proj/nnlint.toml", 'exclude = ["models/old"]\n')
    write("proj/models/old/a.nn", OVER_BUDGET)
    write("proj/models/new/b.nn", OVER_BUDGET)
    _code, out, _ = run(capsys, "check", "proj", "--format", "concise")
    assert out.startswith("proj/models/new/b.nn") and out.endswith("in 1 file.\n")


# --------------------------------------------------------------------------- check: target


def test_target_option_reaches_the_rules_and_summary(capsys):
    write("lat.nn", CLEAN + "budget {\n    latency <= 2 ms\n}\n")
    code, out, _ = run(capsys, "check", "lat.nn", "--format", "concise")
    assert "NN502 [warning] cannot check `latency <= 2 ms`: no target is set" in out
    code, out, _ = run(capsys, "check", "lat.nn", "--target", "T4")  # case-insensitive
    assert (code, out) == (0, "All checks passed (1 file) (target: t4).\n")


def test_unknown_target_is_one_line_with_the_closest(capsys, three):
    code, out, err = run(capsys, "check", "clean.nn", "--target", "edge-tpux")
    known = ", ".join(sorted(builtin_targets()))
    assert code == 2 and out == ""
    assert err == (
        f"nnlint: error: --target: unknown target 'edge-tpux'; "
        f"did you mean 'edge-tpu'? known targets: {known}\n"
    )


def test_target_from_config_and_extra_profiles(capsys):
    write(
        "hw/board.toml",
        "\n".join(
            [
                'id = "my-board"',
                'name = "My board"',
                'kind = "cpu"',
                "memory_bytes = 1_000_000",
                "bandwidth = 1e9",
                "power_w = 5",
                'precisions = ["fp32"]',
                "[peak]",
                "fp32 = 1e10",
                "",
            ]
        ),
    )
    write("nnlint.toml", 'targets = ["hw/board.toml"]\ntarget = "my-board"\n')
    write("clean.nn", CLEAN)
    _code, out, _ = run(capsys, "check", "clean.nn")
    assert out == "All checks passed (1 file) (target: my-board).\n"
    _code, out, _ = run(capsys, "check", "clean.nn", "--target", "my-board", "--format", "json")
    assert json.loads(out)["models"][0]["target"] == "my-board"
    # the extra profile is unknown without the config
    assert run(capsys, "check", "clean.nn", "--target", "my-board", "--isolated")[0] == 2


# --------------------------------------------------------------------------- check: formats


def test_format_concise(capsys, three):
    _code, out, _ = run(capsys, "check", ".", "--format", "concise")
    lines = out.splitlines()
    assert lines[0].startswith(ERROR_LINE) and lines[1].startswith(WARNING_LINE)
    assert lines[2] == "Found 1 error, 1 warning and 0 notes in 3 files."


def test_format_json(capsys, three):
    _code, out, _ = run(capsys, "check", ".", "--format", "json")
    report = json.loads(out)
    assert report["version"] == 1
    assert [m["path"] for m in report["models"]] == ["clean.nn", "over.nn", "warn.nn"]
    assert [(d["path"], d["code"], d["line"]) for d in report["diagnostics"]] == [
        ("over.nn", "NN501", 7),
        ("warn.nn", "NN021", 22),
    ]
    assert report["summary"] == {"files": 3, "errors": 1, "warnings": 1, "notes": 0}
    assert "errors" not in report


def test_format_json_lists_run_errors(capsys, three):
    code, out, _ = run(capsys, "check", "nope.nn", "over.nn", "--format", "json")
    assert code == 2 and json.loads(out)["errors"] == ["nope.nn: no such file or folder"]


def test_format_sarif(capsys, three):
    _code, out, _ = run(capsys, "check", ".", "--format", "sarif", "--target", "t4")
    log = json.loads(out)
    run_ = log["runs"][0]
    assert run_["automationDetails"]["id"] == "nnlint/t4/"
    assert [r["ruleId"] for r in run_["results"]] == ["NN501", "NN021"]
    assert run_["invocations"] == [{"executionSuccessful": True}]


def test_format_github(capsys, three):
    code, out, _ = run(capsys, "check", ".", "--format", "github")
    lines = out.splitlines()
    assert lines[0].startswith(
        "::error file=over.nn,line=7,col=5,endLine=7,endColumn=17,"
        "title=NN501 [error]::params is 203.53 k"
    )
    assert lines[1].startswith("::warning file=warn.nn,line=22,col=1,")
    assert code == 1


def test_statistics(capsys, three):
    _code, out, _ = run(capsys, "check", ".", "--statistics")
    assert out.splitlines() == [
        "1\tNN021\tunused-suppression",
        "1\tNN501\tbudget-exceeded",
        "Found 1 error, 1 warning and 0 notes in 3 files.",
    ]


# --------------------------------------------------------------------------- check: selection


@pytest.mark.parametrize(
    ("options", "codes"),
    [
        ([], ["NN501", "NN021"]),
        (["--select", "NN5"], ["NN501"]),
        (["--select", "budget-exceeded,NN021"], ["NN501", "NN021"]),
        (["--select", "ALL", "--ignore", "NN0"], ["NN501"]),
        (["--ignore", "unused-suppression"], ["NN501"]),
        (["--select", "NN0", "--extend-select", "NN501"], ["NN501", "NN021"]),
        (["--select", "NN002"], []),
    ],
)
def test_select_ignore_extend_select(capsys, three, options, codes):
    _code, out, _ = run(capsys, "check", ".", "--format", "json", *options)
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == codes


def test_fatal_codes_are_always_reported(capsys):
    write("bad.nn", SYNTAX_ERROR)
    code, out, _ = run(capsys, "check", "bad.nn", "--select", "NN5", "--format", "concise")
    assert code == 1 and out.startswith("bad.nn:3:23: NN001 [error] syntax error")


@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_selector_is_a_usage_error(capsys, three, option):
    code, out, err = run(capsys, "check", ".", option, "NN5,budget-exceded")
    assert code == 2 and out == ""
    assert err == (
        f"nnlint: error: {option}: unknown rule selector 'budget-exceded'; "
        f"did you mean 'budget-exceeded'?\n"
    )


def test_command_line_select_replaces_config(capsys, three):
    write("nnlint.toml", 'select = ["NN0"]\nignore = ["NN501"]\n')
    _code, out, _ = run(capsys, "check", ".", "--format", "json")
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == ["NN021"]
    _code, out, _ = run(capsys, "check", ".", "--format", "json", "--select", "NN5")
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == ["NN501"]
    _code, out, _ = run(
        capsys, "check", ".", "--format", "json", "--extend-select", "NN5", "--ignore", "NN021"
    )
    assert [d["code"] for d in json.loads(out)["diagnostics"]] == []  # config ignore stays


def test_per_file_ignores(capsys, three):
    write("nnlint.toml", '[per-file-ignores]\n"over.nn" = ["NN5"]\n"w*.nn" = ["NN021"]\n')
    code, out, _ = run(capsys, "check", ".")
    assert (code, out) == (0, "All checks passed (3 files).\n")


def test_thresholds_from_config_reach_rules(capsys, note_rule):
    write("nnlint.toml", '[thresholds.NN198]\nlabel = "configured"\n')
    write("clean.nn", CLEAN)
    _code, out, _ = run(capsys, "check", "clean.nn", "--format", "concise")
    assert "NN198 [note] note configured" in out


# --------------------------------------------------------------------------- check: exit codes


def test_fail_on(capsys, three, note_rule):
    assert run(capsys, "check", "clean.nn")[0] == 0  # a note only
    assert run(capsys, "check", "clean.nn", "--fail-on", "note")[0] == 1
    assert run(capsys, "check", "warn.nn")[0] == 0
    assert run(capsys, "check", "warn.nn", "--fail-on", "warning")[0] == 1
    assert run(capsys, "check", "warn.nn", "--fail-on", "error")[0] == 0
    assert run(capsys, "check", "over.nn", "--fail-on", "error")[0] == 1


def test_fail_on_from_config_and_command_line_wins(capsys, three):
    write("nnlint.toml", 'fail-on = "warning"\n')
    assert run(capsys, "check", "warn.nn")[0] == 1
    assert run(capsys, "check", "warn.nn", "--fail-on", "error")[0] == 0
    assert run(capsys, "check", "warn.nn", "--isolated")[0] == 0


def test_exit_zero(capsys, three):
    code, out, _ = run(capsys, "check", ".", "--exit-zero", "--format", "concise")
    assert code == 0 and out.startswith(ERROR_LINE)
    # errors of the run itself still exit 2
    assert run(capsys, "check", "nope.nn", "--exit-zero")[0] == 2


# --------------------------------------------------------------------------- check: color


def test_no_color_when_not_a_terminal(capsys, three):
    assert "\x1b[" not in run(capsys, "check", "over.nn")[1]


def test_force_color_and_no_color(capsys, three, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[31m[error]\x1b[0m" in run(capsys, "check", "over.nn")[1]
    assert "\x1b[" not in run(capsys, "check", "over.nn", "--no-color")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(capsys, "check", "over.nn")[1]


def test_color_on_a_terminal(capsys, three, monkeypatch):
    monkeypatch.setattr(cli, "_use_color", lambda no_color: not no_color)
    assert "\x1b[" in run(capsys, "check", "over.nn")[1]
    monkeypatch.undo()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert cli._use_color(False) is True
    assert cli._use_color(True) is False


def test_output_file_is_never_colored(capsys, three, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    run(capsys, "check", "over.nn", "-o", "out.txt")
    assert "\x1b[" not in Path("out.txt").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- check: output file


def test_output_file(capsys, three):
    code, out, err = run(capsys, "check", ".", "--format", "json", "--output-file", "r.json")
    assert (code, out, err) == (1, "", "")
    assert json.loads(Path("r.json").read_text(encoding="utf-8"))["summary"]["files"] == 3


def test_output_file_is_written_atomically(capsys, three, monkeypatch):
    write("r.txt", "old contents")
    renames = []
    real_replace = os.replace

    def replace(src, dst):
        renames.append((Path(src), Path(dst)))
        assert Path(dst).read_text(encoding="utf-8") == "old contents"  # untouched until now
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    run(capsys, "check", "over.nn", "--output-file", "r.txt")
    [(src, dst)] = renames
    assert src.parent.resolve() == Path.cwd().resolve() and src.name != "r.txt"
    assert dst == Path("r.txt")
    assert Path("r.txt").read_text(encoding="utf-8").startswith(ERROR_LINE)
    assert sorted(p.name for p in Path.cwd().iterdir()) == [
        "clean.nn",
        "over.nn",
        "r.txt",
        "warn.nn",
    ]  # no temp file left behind
    assert Path("r.txt").stat().st_mode & 0o644 == 0o644


def test_output_file_failure_keeps_the_old_file(capsys, three, monkeypatch):
    write("r.txt", "old contents")

    def replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    code, _out, err = run(capsys, "check", "over.nn", "--output-file", "r.txt")
    assert code == 2 and err == "nnlint: error: r.txt: cannot write: No space left on device\n"
    assert Path("r.txt").read_text(encoding="utf-8") == "old contents"
    assert sorted(p.name for p in Path.cwd().iterdir()) == [
        "clean.nn",
        "over.nn",
        "r.txt",
        "warn.nn",
    ]


def test_output_file_that_is_a_folder(capsys, three):
    Path("out").mkdir()
    code, _out, err = run(capsys, "check", "over.nn", "-o", "out")
    assert code == 2 and err == "nnlint: error: out: is a folder; --output-file needs a file name\n"


def test_output_file_in_a_missing_folder(capsys, three):
    code, _, err = run(capsys, "check", "over.nn", "-o", "no/such/dir/r.txt")
    assert code == 2
    assert err == "nnlint: error: no/such/dir/r.txt: cannot write: No such file or directory\n"


def test_check_writes_nothing_else(capsys, three, tmp_path):
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for fmt in ("text", "json", "sarif"):
        run(capsys, "check", ".", "--format", fmt)
    run(capsys, "report", "over.nn")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------- check: config options


def test_config_option_uses_that_file_for_every_path(capsys, three):
    write("nnlint.toml", 'ignore = ["NN501"]\n')
    write("other/strict.toml", 'fail-on = "warning"\n')
    assert run(capsys, "check", ".")[0] == 0
    code, out, _ = run(capsys, "check", ".", "--config", "other/strict.toml")
    assert code == 1 and "NN501" in out


def test_isolated_ignores_config_files(capsys, three):
    write("nnlint.toml", 'ignore = ["NN501", "NN021"]\n')
    assert run(capsys, "check", ".")[0] == 0
    assert run(capsys, "check", ".", "--isolated")[0] == 1


def test_config_errors_exit_2_with_one_line(capsys, three):
    write("pyproject.toml", '[tool.nnlint]\nselec = ["NN0"]\n')
    code, out, err = run(capsys, "check", ".")
    assert (code, out) == (2, "")
    assert err == (
        "nnlint: error: pyproject.toml: tool.nnlint.selec: unknown key; did you mean 'select'?\n"
    )


def test_missing_config_file(capsys, three):
    code, _, err = run(capsys, "check", ".", "--config", "nope.toml")
    assert code == 2 and err == (
        "nnlint: error: nope.toml: cannot read: No such file or directory\n"
    )


def test_config_that_is_a_folder(capsys, three):
    Path("conf").mkdir()
    code, _, err = run(capsys, "check", ".", "--config", "conf")
    assert code == 2 and err == "nnlint: error: conf: is a folder, not a config file\n"


# --------------------------------------------------------------------------- check: parallel


def test_parallel_matches_serial(capsys, monkeypatch, tmp_path):
    for i in range(7):
        write(f"m{i}.nn", OVER_BUDGET if i % 2 else UNUSED_SUPPRESSION)
    write("m3.nn", SYNTAX_ERROR)
    serial = run(capsys, "check", ".", "--format", "json")

    import concurrent.futures

    pools = []

    class CountingPool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(cli, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    parallel = run(capsys, "check", ".", "--format", "json")
    assert pools == [{"max_workers": 3}]
    assert parallel == serial
    assert serial[0] == 1


def test_parallel_reports_read_errors(capsys, monkeypatch, tmp_path):
    for i in range(2):
        write(f"m{i}.nn", OVER_BUDGET)
    monkeypatch.setattr(cli, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    from nnlint.config import ConfigResolver, Overrides

    tasks = [
        cli._Task(str(tmp_path / name), name, None, Overrides())
        for name in ("m0.nn", "gone.nn", "m1.nn")
    ]
    outcomes = cli._run_tasks(tasks, ConfigResolver())
    assert [o.error for o in outcomes] == [
        None,
        "gone.nn: cannot read: No such file or directory",
        None,
    ]
    assert [o.result.path for o in outcomes if o.result] == ["m0.nn", "m1.nn"]


def test_results_are_picklable():
    result = check_file(EXAMPLES / "mnist_mlp.nn", "examples/mnist_mlp.nn")
    assert pickle.loads(pickle.dumps(result)) == result


# --------------------------------------------------------------------------- report


def test_report_text(capsys):
    write("mnist.nn", MNIST)
    code, out, err = run(capsys, "report", "mnist.nn")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "model mnist_mlp (mnist.nn)"
    assert lines[1] == (
        "conventions: train batch 32 at fp32 with adam; inference batch 1 at "
        "int8 on edge-tpu; 1 MAC = 2 FLOPs, backward counts every layer's "
        "input gradient (README § Counting conventions)"
    )
    header = lines[4].split()
    assert header[:3] == ["layer", "op", "output"]
    for column in ("params", "MACs", "FLOP/byte", "bound", "latency"):
        assert column in header
    dense = next(line for line in lines if line.startswith("h1/dense#1"))
    assert dense.split()[:9] == [
        "h1/dense#1",
        "dense",
        "[256]",
        "200,960",
        "200,704",
        "12,853,248",
        "25,698,304",
        "32,768",
        "512.7",
    ]
    for figure in (
        "235.15 k (235,146): trainable 235,146, frozen 0",
        "15.05 M (15,051,264)",
        "30.07 M (30,073,152)",
        "3.73 MiB (3,913,120 B)",
        "loss-gradient FLOPs",
        "optimizer FLOPs (adam)",
        "train-step FLOPs",
        "gradient memory",
        "optimizer state",
        "inference memory",
        "8,000.0 FLOP/byte at int8",
        "estimated latency (batch 1)",
    ):
        assert figure in out, figure


def test_report_without_target_has_no_roofline(capsys):
    write("xor.nn", CLEAN)
    code, out, _ = run(capsys, "report", "xor.nn")
    assert code == 0
    assert "FLOP/byte" not in out and "ridge point" not in out
    assert "inference batch 1 at fp32;" in out


def test_report_target_option(capsys):
    write("xor.nn", CLEAN)
    code, out, _ = run(capsys, "report", "xor.nn", "--target", "t4")
    assert "on t4;" in out and "ridge point (t4)" in out
    assert "25.3 FLOP/byte at fp32" in out  # 8.1e12 / 320e9
    code, _, err = run(capsys, "report", "xor.nn", "--target", "rtx4090")
    assert code == 2 and err.startswith(
        "nnlint: error: --target: unknown target 'rtx4090'; did you mean 'rtx-4090'?"
    )


def test_report_json_is_the_model_entry(capsys):
    write("mnist.nn", MNIST)
    code, out, _ = run(capsys, "report", "mnist.nn", "--format", "json")
    analysis, _ = analyse_text(MNIST)
    entry = model_entry(analysis, "mnist.nn")
    expected = json.loads(json.dumps(entry))
    assert code == 0 and json.loads(out) == expected
    assert expected["totals"]["train_memory_bytes"] == 3_913_120


def test_report_stdin(capsys, monkeypatch):
    feed_stdin(monkeypatch, CLEAN)
    code, out, _ = run(capsys, "report", "-")
    assert code == 0 and out.startswith("model xor (-)")


def test_report_of_a_spec_with_errors_prints_diagnostics(capsys):
    write("bad.nn", SYNTAX_ERROR)
    code, out, _ = run(capsys, "report", "bad.nn")
    assert code == 1
    assert out.startswith("bad.nn:3:23: NN001 [error] syntax error")
    assert out.endswith("Found 1 error, 0 warnings and 0 notes in 1 file.\n")


def test_report_of_a_folder_or_missing_file(capsys):
    Path("models").mkdir()
    code, out, err = run(capsys, "report", "models")
    assert (code, out) == (2, "")
    assert err == "nnlint: error: models: is a folder; `nnlint report` takes one .nn file\n"
    code, out, err = run(capsys, "report", "nope.nn")
    assert (code, err) == (2, "nnlint: error: nope.nn: no such file\n")


def test_report_internal_error(capsys, monkeypatch):
    write("xor.nn", CLEAN)

    fail_analysis(monkeypatch, ValueError("broken"))
    code, out, err = run(capsys, "report", "xor.nn")
    assert (code, out) == (2, "")
    assert err == "nnlint: error: xor.nn: internal error: ValueError: broken" + HINT + "\n"


def test_report_uses_config_target(capsys):
    write("nnlint.toml", 'target = "l4"\n')
    write("xor.nn", CLEAN)
    assert "ridge point (l4)" in run(capsys, "report", "xor.nn")[1]
    assert "ridge point" not in run(capsys, "report", "xor.nn", "--isolated")[1]


# --------------------------------------------------------------------------- rule, rules, targets


def test_rule_page(capsys):
    code, out, _ = run(capsys, "rule", "NN501")
    meta = all_meta()["NN501"]
    assert code == 0
    assert out == (
        f"# budget-exceeded (NN501)\n\nFamily: budget. Default severity: error.\n\n"
        f"{meta.doc.strip()}\n"
    )
    assert run(capsys, "rule", "budget-exceeded")[1] == out
    assert run(capsys, "rule", "nn501")[1] == out


def test_rule_page_shows_thresholds(capsys, note_rule, monkeypatch):
    from nnlint.rules import base

    monkeypatch.setattr(base, "default_thresholds", lambda: {"NN198": {"label": "x"}})
    _code, out, _ = run(capsys, "rule", "test-note")
    assert "Thresholds (config `thresholds.NN198`): label = 'x'." in out


def test_rule_json(capsys):
    _code, out, _ = run(capsys, "rule", "NN001", "--format", "json")
    page = json.loads(out)
    assert page["code"] == "NN001" and page["name"] == "syntax-error"
    assert page["family"] == "spec" and page["severity"] == "error"
    assert page["doc"] == all_meta()["NN001"].doc and page["options"] == {}


def test_unknown_rule(capsys):
    code, out, err = run(capsys, "rule", "NN5011")
    assert (code, out) == (2, "")
    assert err == (
        "nnlint: error: unknown rule 'NN5011'; did you mean 'NN501'? (`nnlint rules` lists them)\n"
    )
    assert "did you mean 'budget-exceeded'?" in run(capsys, "rule", "budget-exceded")[2]


def test_rules_lists_every_code(capsys):
    _code, out, _ = run(capsys, "rules")
    lines = out.splitlines()
    assert lines[0].split() == ["code", "name", "family", "severity", "summary"]
    metas = all_meta()
    assert len(lines) == 2 + len(metas)
    for line, meta in zip(lines[2:], metas.values()):
        assert line.split()[:4] == [meta.code, meta.name, meta.family, str(meta.severity)]
        assert line.endswith(meta.summary)


def test_targets_lists_every_profile(capsys):
    code, out, _ = run(capsys, "targets")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "id",
        "name",
        "memory",
        "bandwidth",
        "best",
        "dense",
        "peak",
        "power",
    ]
    rows = {line.split()[0]: line for line in lines[2 : 2 + len(builtin_targets())]}
    assert sorted(rows) == sorted(builtin_targets())
    # the headline figures; the card (`nnlint targets t4`) has the rest
    for part in ("NVIDIA T4", "16 GB ", "320 GB/s", "int4 260 TOP/s", "70 W"):
        assert part in rows["t4"], part
    assert "fp8 1,979 TFLOP/s" in rows["h100-sxm"]  # fp8 and int8 tie: the float one
    assert "int8 4 TOP/s" in rows["edge-tpu"]


def test_targets_table_fits_100_columns_and_marks_unified_memory(capsys):
    out = run(capsys, "targets")[1]
    assert max(len(line) for line in out.splitlines()) <= 100
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line}
    unified = {t.id for t in builtin_targets().values() if t.unified_memory}
    assert unified == {
        "cortex-m7",
        "edge-tpu",
        "jetson-agx-orin",
        "jetson-orin-nano",
        "rpi5",
        "x86-cpu",
    }
    for target_id in builtin_targets():
        assert ("GB*" in rows[target_id] or "MiB*" in rows[target_id]) == (target_id in unified)
    assert "* unified memory, shared with the host CPU and its OS or firmware" in out


def test_targets_table_shortens_a_long_user_name_to_keep_100_columns(capsys):
    write("b.toml", BOARD.replace('name = "My board"', f'name = "{"Very long name " * 12}"'))
    write("nnlint.toml", 'targets = ["b.toml"]\n')
    out = run(capsys, "targets")[1]
    assert max(len(line) for line in out.splitlines()) <= 100
    [row] = [line for line in out.splitlines() if line.startswith("my-board")]
    assert "Very long name Very long" in row and "…" in row
    # the card shows it whole
    card = run(capsys, "targets", "my-board")[1]
    assert " ".join(("Very long name " * 12).split()) in " ".join(card.split())


BOARD = "\n".join(
    [
        'id = "my-board"',
        'name = "My board"',
        'kind = "cpu"',
        "memory_bytes = 1_000_000",
        "bandwidth = 1e9",
        "power_w = 5",
        "unified_memory = true",
        'precisions = ["fp32", "tf32", "int8"]',
        'notes = """First paragraph,',
        "on two lines.",
        "",
        'Second paragraph."""',
        "[peak]",
        "fp32 = 1e10",
        "int8 = 4e10",
        "[peak_sparse]",
        "int8 = 8e10",
        "",
    ]
)


def test_targets_include_config_profiles(capsys):
    write("b.toml", BOARD)
    write("nnlint.toml", 'targets = ["b.toml"]\n')
    out = run(capsys, "targets")[1]
    assert "my-board" in out and "int8 40 GOP/s" in out
    assert "my-board" not in run(capsys, "targets", "--isolated")[1]


def test_target_card_of_a_user_target_shows_its_source_and_every_figure(capsys):
    write("hw/b.toml", BOARD)
    write("nnlint.toml", 'targets = ["hw/b.toml"]\n')
    code, out, err = run(capsys, "targets", "My-Board")  # ids match case-insensitively
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "my-board: My board"
    assert max(len(line) for line in lines) <= 100
    fields = {
        line[2:22].strip(): line[22:] for line in lines if line.startswith("  ") and line[2] != " "
    }
    assert fields["kind"] == "cpu (runs training jobs)"
    assert fields["memory"] == "976.56 KiB (1,000,000 B = 1.00 MB)"
    assert fields["memory kind"].startswith("unified: shared with the host CPU and its OS")
    assert fields["bandwidth"] == "1 GB/s (1,000,000,000 B/s)"
    assert fields["on-chip memory"] == "not modelled" and fields["flash"] == "none"
    assert fields["power"] == "5 W" and fields["launch overhead"] == "not modelled"
    assert fields["notes"] == "First paragraph, on two lines."
    assert fields["source"] == "hw/b.toml (from the config's `targets`)"
    # per precision: dense, 2:4 sparse, ridge point = dense / bandwidth
    peaks = {line.split()[0]: line for line in lines if line.startswith("    ")}
    assert peaks["fp32"].split()[1:] == ["10", "GFLOP/s", "-", "10.0", "FLOP/byte"]
    assert "(fp32's: the file gives no tf32 rate)" in peaks["tf32"]
    assert peaks["int8"].split()[1:] == ["40", "GOP/s", "80", "GOP/s", "40.0", "FLOP/byte"]
    assert "                      Second paragraph." in lines


def test_target_card_of_a_builtin_and_of_one_that_replaces_it(capsys):
    out = run(capsys, "targets", "t4", "jetson-orin-nano", "t4")[1]
    assert out.startswith("t4: NVIDIA T4\n") and out.count("t4: NVIDIA T4") == 1
    assert "\n\njetson-orin-nano: NVIDIA Jetson Orin Nano 8GB\n" in out
    source = display_path(REPO / "rules" / "targets" / "t4.toml")
    first = out.split("\n\njetson-orin-nano:")[0]
    assert f" source {source} (built in)" in " ".join(first.split())
    assert "discrete: the device's own, not shared with the host" in out
    write("t4.toml", BOARD.replace('id = "my-board"', 'id = "t4"'))
    write("nnlint.toml", 'targets = ["t4.toml"]\n')
    out = run(capsys, "targets", "t4")[1]
    assert out.endswith(
        "  source              t4.toml (from the config's `targets`, replacing the built-in t4)\n"
    )


def test_an_unknown_target_id_is_an_error_naming_the_closest(capsys):
    code, out, err = run(capsys, "targets", "t4", "jetson-nano")
    known = ", ".join(sorted(builtin_targets()))
    assert (code, out) == (2, "")
    assert err == (
        f"nnlint: error: unknown target 'jetson-nano'; did you mean 'jetson-orin-nano'? "
        f"known targets: {known}\n"
    )
    assert run(capsys, "targets", "--format", "json", "nope")[0] == 2


def test_targets_json_follows_the_documented_schema(capsys):
    import jsonschema

    from nnlint.precision import ARITHMETIC_PRECISIONS

    schema = json.loads((REPO / "docs" / "targets.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["definitions"]["precision"]["enum"] == list(ARITHMETIC_PRECISIONS)
    validator = jsonschema.Draft7Validator(schema)
    write("hw/b.toml", BOARD)
    write("nnlint.toml", 'targets = ["hw/b.toml"]\n')
    code, out, _ = run(capsys, "targets", "--format", "json")
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-finite number {c}"))
    validator.validate(doc)
    assert code == 0
    assert [t["id"] for t in doc["targets"]] == sorted([*builtin_targets(), "my-board"])
    by_id = {t["id"]: t for t in doc["targets"]}
    board = by_id["my-board"]
    assert board["source"] == "hw/b.toml" and board["builtin"] is False
    assert board["memory_kind"] == "unified" and board["memory_bytes"] == 1_000_000
    assert board["peak"] == {"fp32": 1e10, "tf32": 1e10, "int8": 4e10}
    assert board["peak_sparse"] == {"int8": 8e10}
    assert board["ridge_point"] == {"fp32": 10.0, "tf32": 10.0, "int8": 40.0}
    assert board["notes"] == "First paragraph,\non two lines.\n\nSecond paragraph."
    t4 = by_id["t4"]
    assert t4["builtin"] is True and t4["memory_kind"] == "discrete"
    assert t4["best_precision"] == "int4" and t4["ridge_point"]["int4"] == 260e12 / 320e9
    # named ids: the same shape, only those, in the order named
    out = run(capsys, "targets", "rpi5", "T4", "--format", "json")[1]
    assert [t["id"] for t in json.loads(out)["targets"]] == ["rpi5", "t4"]
    validator.validate(json.loads(out))


# --------------------------------------------------------------------------- processes


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run([*args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_python_dash_m_nnlint(tmp_path):
    write(tmp_path / "over.nn", OVER_BUDGET)
    done = _python(
        sys.executable,
        "-m",
        "nnlint",
        "check",
        "over.nn",
        "--format",
        "concise",
        "--select",
        "NN5",
        cwd=tmp_path,
    )
    assert done.returncode == 1 and done.stdout.startswith(ERROR_LINE)
    assert done.stderr == ""


def test_console_script(tmp_path):
    script = Path(sys.executable).parent / ("nnlint.exe" if os.name == "nt" else "nnlint")
    if not script.exists():
        pytest.skip("the nnlint console script is not installed next to this Python")
    write(tmp_path / "clean.nn", CLEAN)
    done = _python(str(script), "check", "clean.nn", "--select", "NN0,NN5", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "All checks passed (1 file).\n")
    done = _python(str(script), "check", "nope.nn", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "nnlint: error: nope.nn: no such file or folder\n"


@pytest.mark.parametrize("argv", [["rules"], ["targets"], ["rule", "NN501"], ["--help"]])
def test_listing_commands_do_not_load_the_parser(tmp_path, argv):
    code = (
        f"import sys\nfrom nnlint.cli import main\nmain({argv!r})\n"
        "print('lark' in sys.modules, 'nnlint.parse' in sys.modules, file=sys.stderr)"
    )
    done = _python(sys.executable, "-c", code, cwd=tmp_path)
    assert done.stderr.strip().splitlines()[-1] == "False False"


def test_check_in_a_subprocess_has_no_traceback_on_errors(tmp_path):
    write(tmp_path / "nnlint.toml", "[[broken\n")
    done = _python(sys.executable, "-m", "nnlint", "check", ".", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("nnlint: error: nnlint.toml: invalid TOML: ")
    assert len(done.stderr.splitlines()) == 1
