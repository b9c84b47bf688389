"""Hostile file names, special files and output files (issue 9's reproductions).

Each test is one of the attacks the adversarial review found: a name that tries
to start a GitHub Actions workflow command or drive the terminal, a FIFO or a
device where a spec, config or target file should be, an ``--output-file`` that
is an input, a symlink, a device or a FIFO. Anything that could hang runs in a
subprocess with a timeout, so a regression fails instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from helpers import run_cli as run

from nnlint.check import Settings, check_text
from nnlint.files import SPEC_LIMIT
from nnlint.sanitize import BIDI_CONTROLS, visible

GOOD = "model m {\n    input x: [4]\n    h = x -> dense(2)\n}\n"
BROKEN = "model m {\n    input x: [4]\n    h = x -> dense(2 ->\n}\n"
ESC = "\x1b"
FORMATS = ("text", "concise", "github")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file types")
#: A check that should take well under a second; a hang fails the test after this.
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run_process(*argv: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnlint", *argv],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def no_injection(output: str, *, own_commands: int = 0) -> None:
    """No ESC, and no line a file's data begins reads as a workflow command.

    ``own_commands``: the ``::error``/``::warning`` lines nnlint writes itself in the
    github format (each of those is followed by nnlint's own ``file=`` property).
    """
    assert ESC not in output
    for separator in ("\u2028", "\u2029", "\x85", "\r"):
        assert separator not in output
    # the runner's legacy form runs from anywhere in a line (actions/runner ActionCommand)
    assert "##[" not in output
    commands = [line for line in output.split("\n") if line.lstrip().startswith("::")]
    assert len(commands) == own_commands, commands
    for line in commands:
        assert line.split(" ", 1)[0] in ("::error", "::warning", "::notice"), line
        assert line.split(" ", 1)[1].startswith("file="), line


# --------------------------------------------------------------------------- finding 1


def test_visible_escapes_every_hidden_character():
    assert visible("plain name.nn") == "plain name.nn"
    assert visible("a\n::error::x") == "a\\n::error::x"
    assert visible("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert visible("\t\r\x00\x7f\x85\x9b") == "\\t\\r\\x00\\x7f\\x85\\x9b"
    assert visible("a\u2028b\u2029c") == "a\\u2028b\\u2029c"
    assert visible("abc\u202edcba") == "abc\\u202edcba"  # a bidi override
    assert visible("ünïcødé ✓ 日本") == "ünïcødé ✓ 日本"
    # the GitHub runner's legacy command prefix, anywhere in a line
    assert visible("a##[error]b ##[add-mask]c") == "a#\\x23[error]b #\\x23[add-mask]c"
    assert visible("# [x] ## [y] #[z]") == "# [x] ## [y] #[z]"


@posix_only
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_legacy_runner_command_in_a_file_name_or_a_comment(capsys, fmt):
    # `##[error]` runs from anywhere in a line: in the file name and in the source frame
    Path("##[warning]a.nn").write_text(BROKEN.replace("\n}", "  # ##[error]x\n}", 1))
    code, out, err = run(capsys, "check", ".", "--format", fmt)
    assert code == 1
    no_injection(out, own_commands=1 if fmt == "github" else 0)
    no_injection(err)
    if fmt != "github":
        assert out.startswith("#\\x23[warning]a.nn:")


@posix_only
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_name_cannot_inject_a_workflow_command(capsys, fmt):
    name = "a\n::error file=x,line=1::INJECTED\x1b[2J.nn"
    Path(name).write_text(BROKEN, encoding="utf-8")
    code, out, err = run(capsys, "check", ".", "--format", fmt)
    assert code == 1
    no_injection(out, own_commands=1 if fmt == "github" else 0)
    no_injection(err)
    assert "INJECTED" in out  # shown, escaped, not dropped
    if fmt != "github":
        assert out.startswith("a\\n::error file=x,line=1::INJECTED\\x1b[2J.nn:3:")


@posix_only
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_name_that_starts_with_two_colons(capsys, fmt):
    Path("::error file=x::INJECTED.nn").write_text(BROKEN, encoding="utf-8")
    code, out, _err = run(capsys, "check", ".", "--format", fmt)
    assert code == 1
    no_injection(out, own_commands=1 if fmt == "github" else 0)
    if fmt != "github":
        assert out.startswith("./::error file=x::INJECTED.nn:3:")


@posix_only
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dangling_symlink_name_on_stderr(capsys, fmt):
    os.symlink("nowhere.nn", "dangling\n::error::X\x1b[31m.nn")
    code, out, err = run(capsys, "check", ".", "--format", fmt)
    assert code == 2
    no_injection(err)
    no_injection(out)
    [line] = err.splitlines()
    assert line.startswith("nnlint: error: dangling\\n::error::X\\x1b[31m.nn: ")


def test_a_user_target_name_in_the_targets_table(capsys):
    Path("board.toml").write_text(
        'id = "evil-board"\n'
        'name = "Evil\\n::error::INJECTED\\u001b[2J\\u2028"\n'
        'kind = "cpu"\nmemory_bytes = 1000000\nbandwidth = 1e9\npower_w = 5\n'
        'precisions = ["fp32"]\n[peak]\nfp32 = 1e9\n',
        encoding="utf-8",
    )
    Path("nnlint.toml").write_text('targets = ["board.toml"]\n', encoding="utf-8")
    code, out, err = run(capsys, "targets")
    assert code == 0, err
    no_injection(out)
    [row] = [line for line in out.splitlines() if line.startswith("evil-board")]
    # shortened to keep the table within 100 columns; the card shows it whole
    assert "Evil\\n::error::INJECTED\\x1b" in row and row.endswith(" 5 W")
    code, out, err = run(capsys, "targets", "evil-board")
    assert code == 0, err
    no_injection(out)
    assert out.startswith("evil-board: Evil\\n::error::INJECTED\\x1b[2J\\u2028\n")


HOSTILE_BOARD = (
    'id = "evil-board"\n'
    'name = "Evil\\n::error::INJECTED\\u001b[2J\\u2028 ::warning::W"\n'
    'notes = "a note\\n::error::NOTE\\r\\u001b]0;title\\u0007 and '
    + "word " * 30
    + "::notice::N"
    # a paragraph whose plain wrapping at 100 columns would start a line with "::"
    + "\\n\\n"
    + "y" * 70
    + '  ::error::WRAPPED"\n'
    'kind = "cpu"\nmemory_bytes = 1000000\nbandwidth = 1e9\npower_w = 5\n'
    'precisions = ["fp32"]\n[peak]\nfp32 = 1e9\n'
)


@posix_only
def test_a_user_target_card_and_json_are_sanitised(capsys):
    """The card of a user target (name, notes, source path) cannot start a workflow command
    or drive the terminal, even where a wrapped line would begin with ``::``; the JSON
    keeps the strings exactly."""
    folder = "hw\n::error::DIR\x1b[31m"
    Path(folder).mkdir()
    Path(folder, "board.toml").write_text(HOSTILE_BOARD, encoding="utf-8")
    Path("nnlint.toml").write_text(
        f"targets = [{json.dumps(folder + '/board.toml')}]\n", encoding="utf-8"
    )
    for argv in (("targets",), ("targets", "evil-board"), ("targets", "evil-board", "t4")):
        code, out, err = run(capsys, *argv)
        assert (code, err) == (0, ""), argv
        no_injection(out)
        assert max(len(line) for line in out.splitlines()) <= 100 or len(argv) > 1
    code, out, _ = run(capsys, "targets", "evil-board")
    assert out.startswith("evil-board: Evil\\n::error::INJECTED\\x1b[2J\\u2028 ::warning::W\n")
    assert "hw\\n::error::DIR\\x1b[31m/board.toml (from the config's `targets`)" in out
    # the notes' line breaks and \r are white space, joined into one paragraph
    assert "::notice::N" in out and "a note ::error::NOTE \\x1b]0;title\\x07 and" in out
    assert f"{'y' * 70} ::error::WRAPPED" in out  # runs of spaces are one space
    # plain wrapping would have put it at the start of a line (the test can fail)
    plain = textwrap.wrap("y" * 70 + " ::error::WRAPPED", 100, initial_indent=" " * 22)
    assert plain[1] == "::error::WRAPPED"
    code, out, _ = run(capsys, "targets", "evil-board", "--format", "json")
    no_injection(out)
    [board] = json.loads(out)["targets"]
    assert board["name"] == "Evil\n::error::INJECTED\x1b[2J\u2028 ::warning::W"
    assert board["notes"].startswith("a note\n::error::NOTE\r\x1b]0;title\x07 and word")
    assert board["source"] == folder + "/board.toml"


@posix_only
def test_a_target_notes_paragraph_that_starts_with_two_colons(capsys):
    """A paragraph of the notes (or ops.notes, shown as one) begins its own line of the
    card: one that starts with ``::`` keeps the label in front of it."""
    board = HOSTILE_BOARD.replace(
        'notes = "a note', 'notes = "first\\n\\n::error::PARAGRAPH\\n\\na note'
    )
    Path("board.toml").write_text(board + '[ops]\nnotes = "  ::warning::OPS"\n', "utf-8")
    Path("nnlint.toml").write_text('targets = ["board.toml"]\n', encoding="utf-8")
    code, out, err = run(capsys, "targets", "evil-board")
    assert (code, err) == (0, "")
    no_injection(out)
    lines = out.splitlines()
    assert "  notes               ::error::PARAGRAPH" in lines
    assert "  notes               ::warning::OPS" in lines
    assert "  notes               first" in lines  # the first paragraph, as before
    assert any(line.startswith(" " * 22 + "a note ::error::NOTE") for line in lines)


def test_a_hostile_target_id_on_the_command_line(capsys):
    code, out, err = run(capsys, "targets", "x\n::error::ARG\x1b[2J")
    assert (code, out) == (2, "")
    no_injection(err)
    assert err.startswith("nnlint: error: unknown target 'x\\n::error::ARG\\x1b[2J'")


def test_a_config_key_in_a_config_error(capsys):
    Path("nnlint.toml").write_text('"x\\n::error::k\\u001b[2J" = 1\n', encoding="utf-8")
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    code, _out, err = run(capsys, "check", "a.nn", "--format", "github")
    assert code == 2
    no_injection(err)
    [line] = err.splitlines()
    assert line.startswith('nnlint: error: nnlint.toml: "x\\n::error::k\\x1b[2J": unknown key')


@pytest.mark.parametrize("fmt", FORMATS)
def test_suppression_codes_echoed_by_nn021(capsys, fmt):
    Path("a.nn").write_text(GOOD + "# nnlint: ignore-file[NN501, X\x1b[2J::Y]\n", encoding="utf-8")
    code, out, err = run(capsys, "check", "a.nn", "--format", fmt, "--select", "NN021")
    assert code == 0, err
    no_injection(out, own_commands=2 if fmt == "github" else 0)
    assert "X\\x1b[2J::Y" in out
    # the source frame shows the control character as U+FFFD, as before
    if fmt == "text":
        assert "X\ufffd[2J::Y" in out


def test_json_and_sarif_keep_the_name_as_escaped_json(capsys):
    name = "a\x1b[2Jb.nn"
    Path(name).write_text(BROKEN, encoding="utf-8")
    code, out, _ = run(capsys, "check", name, "--format", "json")
    assert code == 1 and ESC not in out  # json.dumps writes \u001b
    assert json.loads(out)["diagnostics"][0]["path"] == name
    code, out, _ = run(capsys, "check", name, "--format", "sarif")
    assert code == 1 and ESC not in out
    location = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "a%1B%5B2Jb.nn"  # percent-encoded URI


# --------------------------------------------------------------------------- finding 3


@posix_only
def test_a_fifo_named_like_a_spec_is_refused_without_blocking(tmp_path):
    os.mkfifo("pipe.nn")
    Path("good.nn").write_text(GOOD, encoding="utf-8")
    for argv in (["check", "pipe.nn"], ["check", "."], ["report", "pipe.nn"]):
        proc = run_process(*argv)
        assert proc.returncode == 2, proc
        assert "pipe.nn: is a FIFO (named pipe), not a regular file" in proc.stderr
        assert "Traceback" not in proc.stderr


@posix_only
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_spec_config_or_target_file(capsys, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    wanted = f"{device}: is a character device, not a regular file"
    code, _, err = run(capsys, "check", device)
    assert code == 2 and wanted in err
    code, _, err = run(capsys, "check", "a.nn", "--config", device)
    assert code == 2 and wanted in err
    Path("nnlint.toml").write_text(f'targets = ["{device}"]\n', encoding="utf-8")
    code, _, err = run(capsys, "check", "a.nn")
    assert code == 2 and f"nnlint.toml: targets: {wanted}" in err


@posix_only
def test_dev_zero_on_stdin_ends():
    with open("/dev/zero", "rb") as zero:
        proc = run_process("check", "-", stdin=zero)
    assert proc.returncode == 2
    assert f"-: stdin is over {SPEC_LIMIT >> 20}.0 MiB; nnlint reads specs up to" in proc.stderr


@posix_only
def test_proc_kmsg_is_not_read_as_a_stream():
    if not os.path.exists("/proc/kmsg"):
        pytest.skip("no /proc/kmsg")
    proc = run_process("check", "/proc/kmsg", "--format", "json")
    assert "Traceback" not in proc.stderr
    if proc.returncode != 2:  # readable (root): it reports size 0, so it reads as empty
        assert json.loads(proc.stdout)["summary"]["files"] == 1


def test_a_spec_over_the_size_cap(capsys):
    with open("huge.nn", "wb") as f:
        f.truncate(SPEC_LIMIT + 5 * (1 << 20))  # sparse: no disk used
    code, _, err = run(capsys, "check", "huge.nn")
    assert code == 2
    assert err == (
        f"nnlint: error: huge.nn: file is {(SPEC_LIMIT >> 20) + 5}.0 MiB; "
        f"nnlint reads specs up to {SPEC_LIMIT >> 20}.0 MiB\n"
    )


def test_a_config_over_the_size_cap(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    with open("nnlint.toml", "wb") as f:
        f.truncate(3 << 20)
    code, _, err = run(capsys, "check", "a.nn")
    assert code == 2
    assert (
        err == "nnlint: error: nnlint.toml: file is 3.0 MiB; nnlint reads configs up to 1.0 MiB\n"
    )


# --------------------------------------------------------------------------- finding 5


def test_output_file_that_is_the_input_is_refused(capsys):
    Path("a.nn").write_text(BROKEN, encoding="utf-8")
    code, out, err = run(capsys, "check", "a.nn", "-o", "a.nn")
    assert code == 2 and out == ""
    assert "a.nn: is the input a.nn; --output-file would overwrite it" in err
    assert Path("a.nn").read_text(encoding="utf-8") == BROKEN


@posix_only
def test_output_file_that_is_the_input_through_a_symlink(capsys):
    Path("a.nn").write_text(BROKEN, encoding="utf-8")
    os.symlink("a.nn", "link.txt")
    code, _, err = run(capsys, "check", "a.nn", "-o", "link.txt")
    assert code == 2 and "link.txt: is the input a.nn" in err
    assert Path("a.nn").read_text(encoding="utf-8") == BROKEN
    os.symlink("a.nn", "b.nn")
    code, _, err = run(capsys, "check", "b.nn", "-o", "a.nn")
    assert code == 2 and "is the input" in err
    assert Path("a.nn").read_text(encoding="utf-8") == BROKEN


@posix_only
def test_output_file_keeps_the_existing_mode(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("r.txt").write_text("old", encoding="utf-8")
    os.chmod("r.txt", 0o600)
    code, _, _ = run(capsys, "check", "a.nn", "-o", "r.txt")
    assert code == 0
    assert stat.S_IMODE(os.stat("r.txt").st_mode) == 0o600
    assert Path("r.txt").read_text(encoding="utf-8").startswith("All checks passed")


@posix_only
def test_output_file_writes_through_a_symlink(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("real.txt").write_text("old", encoding="utf-8")
    os.chmod("real.txt", 0o640)
    os.symlink("real.txt", "link.txt")
    code, _, _ = run(capsys, "check", "a.nn", "-o", "link.txt")
    assert code == 0
    assert os.path.islink("link.txt")  # the link stays a link
    assert Path("real.txt").read_text(encoding="utf-8").startswith("All checks passed")
    assert stat.S_IMODE(os.stat("real.txt").st_mode) == 0o640


@posix_only
def test_output_file_that_is_a_dangling_symlink_is_refused(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    os.symlink("missing.txt", "link.txt")
    code, _, err = run(capsys, "check", "a.nn", "-o", "link.txt")
    assert code == 2
    assert "link.txt: is a symlink to missing.txt, which does not exist" in err
    assert os.path.islink("link.txt") and not os.path.exists("missing.txt")


@posix_only
def test_output_file_that_is_a_character_device_is_written_not_replaced(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    code, _, err = run(capsys, "check", "a.nn", "-o", os.devnull)
    assert code == 0, err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    if os.path.exists("/dev/full"):  # the write fails; the device stays a device
        code, _, err = run(capsys, "check", "a.nn", "-o", "/dev/full")
        assert code == 2 and "/dev/full: cannot write: No space left on device" in err
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@posix_only
def test_output_file_that_is_a_fifo(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    os.mkfifo("out.fifo")
    code, _, err = run(capsys, "check", "a.nn", "-o", "out.fifo")  # nobody reads it
    assert code == 2 and "out.fifo: is a FIFO that nobody reads" in err
    assert stat.S_ISFIFO(os.stat("out.fifo").st_mode)

    received: list[bytes] = []
    fd = os.open("out.fifo", os.O_RDONLY | os.O_NONBLOCK)  # a reader is there
    reader = threading.Thread(target=lambda: received.append(_drain(fd)))
    code, _, err = run(capsys, "check", "a.nn", "-o", "out.fifo")
    reader.start()
    reader.join(TIMEOUT)
    assert code == 0, err
    assert b"".join(received).decode().startswith("All checks passed")
    assert stat.S_ISFIFO(os.stat("out.fifo").st_mode)


def _drain(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks)


# --------------------------------------------------------------------------- finding 2

BACKTRACKING = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"


def test_exclude_glob_that_backtracks_matches_a_long_name():
    """Python's ``re`` needs hours for this pattern on a 240-character name; RE2 not."""
    name = "a" * 237 + ".nn"
    Path(name).write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text(f'exclude = ["{BACKTRACKING}"]\n', encoding="utf-8")
    proc = run_process("check", ".", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["files"] == 1  # not excluded: no "b"


def test_per_file_ignores_glob_that_backtracks():
    name = "a" * 237 + ".nn"
    Path(name).write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text(
        f'[per-file-ignores]\n"{BACKTRACKING}" = ["NN5"]\n', encoding="utf-8"
    )
    proc = run_process("check", name, "--format", "json")
    assert proc.returncode == 0, proc.stderr


def test_double_star_glob_on_a_deep_path():
    deep = Path(*(["a" * 8] * 30))
    deep.mkdir(parents=True)
    (deep / "m.nn").write_text(GOOD, encoding="utf-8")
    pattern = "**a**a**a**a**a**a**a**a**a**a**a**a**b/**"
    Path("nnlint.toml").write_text(f'exclude = ["{pattern}"]\n', encoding="utf-8")
    proc = run_process("check", ".", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["files"] == 1


def test_exclude_has_gitignore_semantics(capsys):
    from nnlint.config import glob_matches

    assert glob_matches("build", "build/", folder=True)
    assert not glob_matches("build", "build/")  # a trailing / is for folders only
    assert glob_matches("build/a.nn", "build/")
    for name in ("keep.nn", "drop.nn", "sub/keep.nn"):
        Path(name).parent.mkdir(exist_ok=True)
        Path(name).write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text('exclude = ["*.nn", "!keep.nn"]\n', encoding="utf-8")
    code, out, err = run(capsys, "check", ".", "--format", "json")
    assert code == 0, err
    assert [m["path"] for m in json.loads(out)["models"]] == ["keep.nn", "sub/keep.nn"]


def test_a_target_file_that_is_dev_zero_is_a_config_error(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text('targets = ["/dev/zero"]\n', encoding="utf-8")
    code, _, err = run(capsys, "check", "a.nn")
    assert code == 2
    if os.path.exists("/dev/zero"):
        assert err == (
            "nnlint: error: nnlint.toml: targets: /dev/zero: is a character device, "
            "not a regular file; nnlint reads only regular files\n"
        )


# --------------------------------------------------------------------------- finding 6

BOARD = """\
id = "b"
name = "B"
kind = "cpu"
memory_bytes = {memory}
bandwidth = {bandwidth}
power_w = 5
precisions = ["fp32"]
[peak]
fp32 = {peak}
"""


def config_error(capsys, config: str, *files: tuple[str, str]) -> str:
    """The one error line of ``nnlint check a.nn`` under ``config``; exit 2, stdout empty."""
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text(config, encoding="utf-8")
    for name, text in files:
        Path(name).write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "check", "a.nn")
    assert code == 2 and out == "", (out, err)
    [line] = err.splitlines()
    assert line.startswith("nnlint: error: nnlint.toml: "), line
    return line.removeprefix("nnlint: error: nnlint.toml: ")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3", "0.0"])
def test_a_threshold_must_be_positive_and_finite(capsys, value):
    line = config_error(capsys, f"[thresholds.NN101]\nsigmoid_layers = {value}\n")
    assert line.startswith("thresholds.NN101.sigmoid_layers: must be a positive finite number")


def test_every_shipped_threshold_is_valid_by_the_same_check():
    from nnlint.rules.base import default_thresholds

    for code, options in default_thresholds().items():
        for name, value in options.items():
            assert 0 < value <= 1e15, (code, name, value)


@pytest.mark.parametrize(
    ("config", "wanted"),
    [
        ('exclude = ["[z-a].nn"]\n', "exclude[0]: invalid glob '[z-a].nn': bad character range"),
        ('exclude = ["ok", "a\\u0000b"]\n', "exclude[1]: contains a NUL character"),
        ('[per-file-ignores]\n"x\\u0000" = ["NN1"]\n', 'per-file-ignores."x\\x00": contains'),
        ('targets = ["a\\u0000b"]\n', "targets: 'a\\x00b': a path cannot contain a NUL"),
        ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "invalid TOML: arrays or tables nested"),
        ("a = " + "1" * 5000 + "\n", "invalid TOML: "),
    ],
)
def test_bad_config_values_are_located_errors(capsys, config, wanted):
    assert config_error(capsys, config).startswith(wanted)


@pytest.mark.parametrize(
    ("values", "wanted"),
    [
        (
            {"memory": str(10**400)},
            "memory_bytes: must be between 1 and 1.84467e+19 bytes, got an integer of 1329 bits",
        ),
        ({"peak": "5e-324"}, "peak.fp32: must be between 1 and 1e+24 op/s, got 4.941e-324"),
        ({"bandwidth": "1e-300"}, "bandwidth: must be between 1 and 1e+18 B/s, got 1e-300"),
        ({"bandwidth": "nan"}, "bandwidth: must be finite, got nan"),
        ({"peak": "inf"}, "peak.fp32: must be finite, got inf"),
    ],
)
def test_bad_target_values_name_the_config_the_target_file_and_the_field(capsys, values, wanted):
    board = BOARD.format(**{"memory": "1000000", "bandwidth": "1e9", "peak": "1e9", **values})
    line = config_error(capsys, 'targets = ["b.toml"]\n', ("b.toml", board))
    assert line == f"targets: b.toml: {wanted}"


def test_a_valid_extreme_target_gives_strict_finite_json(capsys):
    board = BOARD.format(memory=2**64, bandwidth="1", peak="1e24")
    Path("b.toml").write_text(board, encoding="utf-8")
    Path("nnlint.toml").write_text('targets = ["b.toml"]\ntarget = "b"\n', encoding="utf-8")
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    code, out, err = run(capsys, "check", "a.nn", "--format", "json")
    assert code in (0, 1), err
    totals = json.loads(out)["models"][0]["totals"]
    assert totals["ridge_point"] == 1e24 and isinstance(totals["latency_s"], float)
    assert '"inf"' not in out and '"nan"' not in out


# --------------------------------------------------------------------------- finding 9


def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
    return jsonschema.Draft4Validator(json.loads(schema_path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("fmt", FORMATS)
def test_when_every_file_fails_the_summary_does_not_say_passed(capsys, fmt):
    with open("huge.nn", "wb") as f:
        f.truncate(SPEC_LIMIT + 1)
    code, out, err = run(capsys, "check", "huge.nn", "nope.nn", "--format", fmt)
    assert code == 2 and len(err.splitlines()) == 2
    assert "All checks passed" not in out
    assert out.splitlines()[-1] == "Nothing was checked: 2 errors (on stderr)."


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_missing_and_one_good_file(capsys, fmt):
    Path("good.nn").write_text(GOOD, encoding="utf-8")
    code, out, err = run(capsys, "check", "nope.nn", "good.nn", "--format", fmt)
    assert code == 2 and err == "nnlint: error: nope.nn: no such file or folder\n"
    assert "All checks passed" not in out
    assert out == "No findings in 1 file, but not every check ran: 1 error (on stderr).\n"


@posix_only
def test_a_file_reached_by_two_symlink_routes_is_checked_once(capsys):
    Path("real").mkdir()
    Path("real/m.nn").write_text(BROKEN, encoding="utf-8")
    os.symlink("real", "alias")  # a folder link: real/m.nn and alias/m.nn
    os.symlink("real/m.nn", "link.nn")
    code, out, _ = run(capsys, "check", ".", "real/m.nn", "alias", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"]["files"] == 1
    assert [d["path"] for d in report["diagnostics"]] == ["alias/m.nn"]  # first in order


def test_a_config_error_with_json_gives_a_document(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text("selec = 1\n", encoding="utf-8")
    code, out, err = run(capsys, "check", ".", "--format", "json")
    assert code == 2
    message = "nnlint.toml: selec: unknown key; did you mean 'select'?"
    assert err == f"nnlint: error: {message}\n"
    report = json.loads(out)
    assert report["errors"] == [message] and report["summary"]["files"] == 0


def test_a_config_error_with_sarif_gives_a_valid_log(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text("[thresholds.NN101]\nsigmoid_layers = nan\n", encoding="utf-8")
    code, out, err = run(capsys, "check", ".", "--format", "sarif", "-o", "out.sarif")
    assert code == 2 and out == "" and err.count("\n") == 1
    log = json.loads(Path("out.sarif").read_text(encoding="utf-8"))
    sarif_validator().validate(log)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert (
        "thresholds.NN101.sigmoid_layers: must be a positive finite number"
        in note["message"]["text"]
    )
    assert log["runs"][0]["results"] == []


def test_a_config_error_document_never_replaces_an_input(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    Path("nnlint.toml").write_text("selec = 1\n", encoding="utf-8")
    for output in ("a.nn", "nnlint.toml"):
        code, _, err = run(capsys, "check", ".", "--format", "json", "-o", output)
        assert code == 2 and "--output-file would" in err
    assert Path("a.nn").read_text(encoding="utf-8") == GOOD
    assert Path("nnlint.toml").read_text(encoding="utf-8") == "selec = 1\n"


# --------------------------------------------------------------------------- diffs, baselines


@posix_only
def test_a_baseline_that_is_a_fifo_is_refused_without_blocking():
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    os.mkfifo("base.json")
    proc = run_process("check", "a.nn", "--baseline", "base.json")
    assert proc.returncode == 2, proc
    assert "base.json: is a FIFO (named pipe), not a regular file" in proc.stderr


@posix_only
@pytest.mark.parametrize("command", [["check", "--diff"], ["format", "--diff"]])
def test_diff_headers_cannot_inject_a_workflow_command(capsys, command):
    name = "a\n::error::INJECTED\x1b[2J.nn"
    # an unused suppression (NN021, fixable) and a layout the formatter changes
    Path(name).write_text(
        "model m {\n  input x: [4]\n    h = x -> dense(2)\n}\n# nnlint: ignore-file[NN501]\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, *command, ".")
    assert "INJECTED" in out, (code, out, err)
    no_injection(out)
    no_injection(err)


@posix_only
def test_import_refuses_a_fifo_and_its_own_input():  # the second half is the importer's
    pytest.importorskip("onnx")
    os.mkfifo("model.onnx")
    proc = run_process("import", "model.onnx")
    assert proc.returncode == 2, proc
    assert "model.onnx: is a FIFO (named pipe), not a regular file" in proc.stderr
    os.unlink("model.onnx")
    Path("model.onnx").write_bytes(b"not a model")
    proc = run_process("import", "model.onnx", "-o", "model.onnx")
    assert proc.returncode == 2 and "is the model being imported" in proc.stderr
    assert Path("model.onnx").read_bytes() == b"not a model"


def test_step_summary_cells_show_control_characters_escaped():
    from nnlint.github import _cell

    assert _cell("a\x1b[2Jb|c") == "a\\x1b[2Jb\\|c"


def test_a_stale_baseline_entry_is_shown_escaped(capsys):
    Path("a.nn").write_text(GOOD, encoding="utf-8")
    entry = {
        "path": "a.nn",
        "code": "NN021",
        "layer": "x\n::error::INJECTED\x1b[2J",
        "fingerprint": "0123456789abcdef",
    }
    document = {"version": 1, "tool": "nnlint", "entries": [entry]}
    Path("base.json").write_text(json.dumps(document), encoding="utf-8")
    code, out, err = run(capsys, "check", "--isolated", "a.nn", "--baseline", "base.json")
    assert code == 0, err
    no_injection(out)
    no_injection(err)
    assert "x\\n::error::INJECTED\\x1b[2J" in err


@posix_only
def test_write_baseline_never_replaces_a_device_or_follows_a_dangling_link(capsys):
    Path("a.nn").write_text(GOOD + "# nnlint: ignore-file[NN501]\n", encoding="utf-8")
    code, _, err = run(capsys, "check", "--isolated", "a.nn", "--write-baseline", os.devnull)
    assert code == 2 and "is a character device, not a regular file" in err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    os.symlink("missing.json", "dangling.json")
    code, _, err = run(capsys, "check", "--isolated", "a.nn", "--write-baseline", "dangling.json")
    assert code == 2 and "is a symlink to a file that does not exist" in err
    assert not os.path.exists("missing.json")


@posix_only
def test_write_atomic_writes_through_a_symlink_and_keeps_the_mode():
    from nnlint.atomic import write_atomic

    Path("real.json").write_text("old", encoding="utf-8")
    os.chmod("real.json", 0o600)
    os.symlink("real.json", "link.json")
    write_atomic("link.json", "new\n")
    assert os.path.islink("link.json") and Path("real.json").read_text() == "new\n"
    assert stat.S_IMODE(os.stat("real.json").st_mode) == 0o600
    with pytest.raises(OSError, match="is a FIFO"):
        os.mkfifo("pipe")
        write_atomic("pipe", "x")
    assert stat.S_ISFIFO(os.stat("pipe").st_mode)


# --------------------------------------------------------------------------- Trojan Source


@pytest.mark.parametrize("ch", sorted(BIDI_CONTROLS))
def test_a_bidirectional_control_in_a_comment_is_nn022(ch):
    text = f"model m {{\n    input x: [4]\n    y = x -> relu  # a{ch}b\n}}\n"
    (d,) = check_text(text, "m.nn").diagnostics
    assert (d.code, d.severity.name, d.span.line, d.span.column) == ("NN022", "WARNING", 3, 23)
    assert d.message.startswith(f"bidirectional control character U+{ord(ch):04X} ")
    assert d.fix == "delete the character"


def test_nn022_is_suppressible_and_deselectable_and_code_refuses_the_character():
    line = "    y = x -> relu  # \u202e tricky"
    text = "model m {\n    input x: [4]\n" + line + "\n}\n"
    assert [d.code for d in check_text(text, "m.nn").diagnostics] == ["NN022"]
    quiet = text.replace("tricky", "tricky  # nnlint: ignore[NN022]")
    assert check_text(quiet, "m.nn").diagnostics == ()
    assert check_text(text, "m.nn", Settings(ignore=("NN022",))).diagnostics == ()
    # outside a comment the grammar refuses it: NN001, not a warning
    code = text.replace("relu  # \u202e tricky", "re\u202elu")
    assert [d.code for d in check_text(code, "m.nn").diagnostics] == ["NN001"]


def test_nn022_reports_every_line_once_whatever_the_characters_before_it():
    """One finding per line, spanning its characters: 60 on one line do not use up a count
    that leaves a later line unreported, nor can a suppression on a line of decoys hide
    the override of another line (each of them was true with one finding per character
    and 50 at most)."""
    decoys = "\u200f" * 60
    text = (
        f"model m {{\r\n    input x: [4]  # {decoys}\r\n"
        "    y = x -> relu  # a\u2066b\u2069c\u2066\r\n}\r\n"
    )
    first, second = check_text(text, "m.nn").diagnostics
    assert (first.code, first.span.line, first.span.column, first.span.end_column) == (
        "NN022",
        2,
        21,
        81,
    )
    assert first.message.startswith(
        "60 bidirectional control characters (U+200F RIGHT-TO-LEFT MARK): "
    )
    assert first.data == {"characters": 60} and first.fix == "delete the characters"
    assert (second.span.line, second.span.column, second.span.end_column) == (3, 23, 28)
    assert second.message.startswith(
        "3 bidirectional control characters (U+2066 LEFT-TO-RIGHT ISOLATE, "
        "U+2069 POP DIRECTIONAL ISOLATE): "
    )
    # a suppression among the decoys silences their line alone
    quiet = text.replace(decoys, decoys + "  # nnlint: ignore[NN022]")
    (left,) = check_text(quiet, "m.nn").diagnostics
    assert (left.code, left.span.line) == ("NN022", 3)
