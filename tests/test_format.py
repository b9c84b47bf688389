"""``nnlint format``: the canonical layout, its idempotence, and that it never changes
what a spec means.

Meaning is checked the way a user would notice a change: the spec is parsed,
lowered and costed before and after formatting, and the lowered graph (every
node's op, shape, inputs, options and flags), the JSON report's totals and
per-layer figures, and the findings (code and message) must all be identical —
on every example and on fuzzed specs (hypothesis; the generators of
``test_fuzz.py`` plus random re-spacing of parseable specs).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import EXAMPLES
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_fuzz import FUZZ_SETTINGS, mutated_example, statement_soup

from nnlint.check import analyse_text, check_text
from nnlint.cli import main
from nnlint.diagnostics import SpecError
from nnlint.format import format_text
from nnlint.parse import parse

ALL_EXAMPLES = sorted(EXAMPLES.rglob("*.nn"))

# --------------------------------------------------------------------------- meaning


def _graph(text: str):
    """The lowered graph without source positions, or the front end's findings."""
    analysis, diagnostics = analyse_text(text)
    if analysis is None:
        return None, sorted(d.code for d in diagnostics)
    nodes = [(node, sorted(node.opts.items())) for node in analysis.report.lowered.nodes()]
    # Options hold AST values (``tie=tok``) with their spans: positions are not meaning.
    return _SPAN.sub("Span()", repr(nodes)), sorted(d.code for d in diagnostics)


_SPAN = re.compile(r"Span\([^)]*\)")


def _figures(text: str):
    """The JSON report's model entry (per-layer line numbers aside) and the findings."""
    result = check_text(text, "spec.nn")
    model = result.model
    if model is not None:
        model = dict(model, layers=[dict(layer, line=None) for layer in model["layers"]])
    findings = sorted((d.code, _without_lines(d.message)) for d in result.diagnostics)
    return model, findings


def _without_lines(message: str) -> str:
    """Messages cite lines ("(line 7)"): blank-line normalisation may renumber them."""
    return re.sub(r"\bline \d+", "line N", message)


def assert_same_meaning(before: str, after: str) -> None:
    assert _graph(before) == _graph(after)
    assert _figures(before) == _figures(after)


def assert_formats_well(text: str) -> str:
    """Format ``text``: same meaning, idempotent, and code never moved between lines."""
    formatted = format_text(text)
    assert_same_meaning(text, formatted)
    assert format_text(formatted) == formatted, "not idempotent"
    code_lines = [_code(line) for line in text.split("\n") if _code(line)]
    assert [_code(line) for line in formatted.split("\n") if _code(line)] == code_lines
    for line in formatted.split("\n"):
        assert line == line.rstrip(), "trailing whitespace"
        assert not line.startswith("\t")
    return formatted


def _code(line: str) -> str:
    """A line's tokens and comment without any spacing."""
    return re.sub(r"[ \t\f\r]", "", line)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_every_example_keeps_its_meaning(path):
    text = path.read_text(encoding="utf-8")
    assert_formats_well(text)


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_formatted(path):
    """The examples are the house style: `nnlint format --check examples` passes."""
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text


# --------------------------------------------------------------------------- the layout


def fmt(text: str) -> str:
    return assert_formats_well(textwrap.dedent(text))


def test_spacing_indentation_and_alignment():
    source = """\
        model  m{
        input x:[ 3,32 ,32 ]
          h=x->conv2d( 16,3,stride = 2 ,padding=1 )->relu
        logits   =  h->flatten->dense(10*2-(4 / 2), bias=false )* 1
        }
        train{
         batch=32
           optimizer   =  adam
        }
        deploy {
        target=edge-tpu
        }
        budget {
        params<=10M
        latency <= 2ms
        }
        """
    assert fmt(source) == textwrap.dedent("""\
        model m {
            input x: [3, 32, 32]
            h      = x -> conv2d(16, 3, stride=2, padding=1) -> relu
            logits = h -> flatten -> dense(10 * 2 - (4 / 2), bias=false) * 1
        }

        train {
            batch     = 32
            optimizer = adam
        }

        deploy {
            target = edge-tpu
        }

        budget {
            params  <= 10M
            latency <= 2 ms
        }
        """)


def test_alignment_runs_end_at_blank_lines():
    source = """\
        model m {
            input x: [4]
            a = x -> relu
            longer_name = a -> relu

            b = longer_name -> relu
            c = b -> dense(2)
        }
        """
    assert fmt(source) == textwrap.dedent("""\
        model m {
            input x: [4]
            a           = x -> relu
            longer_name = a -> relu

            b = longer_name -> relu
            c = b -> dense(2)
        }
        """)


def test_continuation_lines_sit_under_the_first_arrow():
    source = """\
        block b(w, s=1) {
          input x
          y = x -> conv2d(w, 3, stride=s, padding=1)
        -> batchnorm
                     # a comment between the lines of a chain
                        -> relu
          out=add(x,y)
        }
        model m {
            input img: [8, 16, 16]
            h = img
              -> b(8)
        }
        """
    assert fmt(source) == textwrap.dedent("""\
        block b(w, s=1) {
            input x
            y   = x -> conv2d(w, 3, stride=s, padding=1)
                    -> batchnorm
                    # a comment between the lines of a chain
                    -> relu
            out = add(x, y)
        }

        model m {
            input img: [8, 16, 16]
            h = img
                    -> b(8)
        }
        """)


def test_unary_minus_keywords_lists_and_calls():
    source = """\
        model m { input x: [4] ; h = x -> dense( - 2 * - ( 1 - 3 ), init = normal( 0.02 ) ) }
        train { lr = - 1e-3 ; loss = cross_entropy( h ) }
        data { classes = 3 ; counts = [ 1 , 2 , [ 3 ] ] }
        """
    assert fmt(source) == textwrap.dedent("""\
        model m { input x: [4]; h = x -> dense(-2 * -(1 - 3), init=normal(0.02)) }

        train { lr = -1e-3; loss = cross_entropy(h) }

        data { classes = 3; counts = [1, 2, [3]] }
        """)


def test_comments_stay_on_their_lines_and_keep_their_text():
    source = """\
        # header comment

        model m {   # after the brace


            input x: [784] # two spaces at least
            h = x -> dense(10) -> softmax -> softmax                    # nnlint: ignore[NN102]
          # a note on its own line
            y = h -> relu


        }
        #no space after the hash
        train {
            loss = cross_entropy(y)
        }


        # expect: NN102@6 "applied twice"
        """
    out = fmt(source)
    assert out == textwrap.dedent("""\
        # header comment

        model m {   # after the brace
            input x: [784]  # two spaces at least
            h = x -> dense(10) -> softmax -> softmax                    # nnlint: ignore[NN102]
            # a note on its own line
            y = h -> relu
        }

        #no space after the hash
        train {
            loss = cross_entropy(y)
        }

        # expect: NN102@6 "applied twice"
        """)


def test_suppressions_keep_silencing_the_same_line():
    source = """\
        model m {
            input x: [10]
            p = x -> softmax -> softmax ; q = p -> relu   # nnlint: ignore[NN102]
        }
        """
    before = check_text(textwrap.dedent(source), "a.nn")
    after = check_text(fmt(source), "a.nn")
    assert [d.code for d in before.diagnostics] == [d.code for d in after.diagnostics]
    assert "NN102" not in [d.code for d in after.diagnostics]


def test_line_endings_and_bom_are_kept():
    text = "\ufeffmodel m {\r\n  input x: [4]\r\n  h = x->relu\r\n}\r\n"
    assert format_text(text) == "\ufeffmodel m {\r\n    input x: [4]\r\n    h = x -> relu\r\n}\r\n"
    assert format_text("model m {\n input x: [4]\n}") == "model m {\n    input x: [4]\n}\n"
    assert format_text("") == ""
    assert format_text("\n\n# only a comment\n\n") == "# only a comment\n"


def test_a_syntax_error_is_the_located_nn001():
    with pytest.raises(SpecError) as info:
        format_text("model m {\n    h = = x\n}\n")
    (d,) = info.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("NN001", 2, 9)


# --------------------------------------------------------------------------- fuzzing

_TOKEN = re.compile(
    r"#[^\n]*|->|<=|>=|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:[kMGT](?![A-Za-z0-9_]))?"
    r"|[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*|\S"
)


def _respace(text: str, draw, blank_lines: bool) -> str:
    """The same tokens on the same lines with random spacing and indentation (and,
    with ``blank_lines``, random blank lines): a spec that means the same."""
    out = []
    for line in text.split("\n"):
        tokens = _TOKEN.findall(line)
        pieces = [draw(st.sampled_from(["", " ", "\t", "   "]))]
        for i, tok in enumerate(tokens):
            if i:
                glue = (
                    re.fullmatch(r"\w[\w.-]*", tokens[i - 1]) is None
                    or re.fullmatch(r"\w[\w.-]*", tok) is None
                ) and not tok.startswith("#")
                choices = ["", " ", "  ", "\t"] if glue else [" ", "  ", "\t"]
                pieces.append(draw(st.sampled_from(choices)))
            pieces.append(tok)
        pieces.append(draw(st.sampled_from(["", " ", "\t"])))
        out.append("".join(pieces))
        if blank_lines and draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(["", "  ", "\t"])))
    return "\n".join(out)


def _parses(text: str) -> bool:
    try:
        parse(text)
    except SpecError:
        return False
    return True


@settings(FUZZ_SETTINGS, max_examples=60)
@given(st.one_of(statement_soup, mutated_example))
def test_fuzzed_specs_keep_their_meaning(text):
    assume(_parses(text))
    assert_formats_well(text)


@settings(FUZZ_SETTINGS, max_examples=50)
@given(st.sampled_from(ALL_EXAMPLES), st.data())
def test_respaced_examples_format_to_the_same_code(path, data):
    """Spacing and indentation are canonical: a re-spaced example formats to the same
    code as the example itself (trailing comments may keep a different column)."""
    text = path.read_text(encoding="utf-8")
    respaced = _respace(text, data.draw, blank_lines=False)
    assert_same_meaning(text, respaced)  # the re-spacing itself is faithful
    formatted = assert_formats_well(respaced)
    strip = re.compile(r"\s*#.*$")
    assert [strip.sub("", line) for line in formatted.split("\n")] == [
        strip.sub("", line) for line in format_text(text).split("\n")
    ]


@settings(FUZZ_SETTINGS, max_examples=50)
@given(
    st.one_of(st.sampled_from(ALL_EXAMPLES).map(lambda p: p.read_text()), statement_soup), st.data()
)
def test_respaced_specs_with_blank_lines_keep_their_meaning(text, data):
    assume(_parses(text))
    respaced = _respace(text, data.draw, blank_lines=True)
    assert_formats_well(respaced)


# --------------------------------------------------------------------------- the command


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


UGLY = "model m {\n  input x: [4]\n  h=x->relu\n}\n"
PRETTY = "model m {\n    input x: [4]\n    h = x -> relu\n}\n"


def test_check_lists_the_files_that_would_change(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "ugly.nn", UGLY)
    _write(tmp_path, "pretty.nn", PRETTY)
    assert main(["format", "--check", "."]) == 1
    out = capsys.readouterr().out
    assert out == "Would reformat: ugly.nn\n1 file would be reformatted, 1 file already formatted\n"
    assert (tmp_path / "ugly.nn").read_text() == UGLY
    assert main(["format", "--check", "pretty.nn"]) == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "ugly.nn", UGLY)
    assert main(["format", "--diff", "ugly.nn"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "--- ugly.nn\t(original)",
        "+++ ugly.nn\t(formatted)",
        "@@ -1,4 +1,4 @@",
        " model m {",
        "-  input x: [4]",
        "-  h=x->relu",
        "+    input x: [4]",
        "+    h = x -> relu",
        " }",
    ]
    assert captured.err == "1 file would be reformatted\n"
    assert (tmp_path / "ugly.nn").read_text() == UGLY


def test_format_rewrites_only_what_changes_and_keeps_the_mode(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ugly = _write(tmp_path, "ugly.nn", UGLY)
    pretty = _write(tmp_path, "pretty.nn", PRETTY)
    os.chmod(ugly, 0o640)
    before = os.stat(pretty)
    assert main(["format", "."]) == 0
    assert capsys.readouterr().out == "1 file reformatted, 1 file left unchanged\n"
    assert ugly.read_text() == PRETTY
    assert stat.S_IMODE(os.stat(ugly).st_mode) == 0o640
    after = os.stat(pretty)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretty.nn", "ugly.nn"]  # no temp left


def test_a_symbolic_link_keeps_pointing_at_the_formatted_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = _write(tmp_path, "real.txt", UGLY)
    (tmp_path / "link.nn").symlink_to(real)
    assert main(["format", "link.nn"]) == 0
    assert (tmp_path / "link.nn").is_symlink()
    assert real.read_text() == PRETTY


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_non_regular_file_is_refused_without_reading_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe.nn")
    assert main(["format", "pipe.nn"]) == 2  # returns: the pipe is never opened
    assert "pipe.nn: not a regular file" in capsys.readouterr().err


def test_a_syntax_error_is_reported_as_check_reports_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = _write(tmp_path, "bad.nn", "model m {\n  h = = x\n}\n")
    main(["check", "--no-color", "bad.nn"])
    checked = capsys.readouterr().out
    assert main(["format", "bad.nn"]) == 2
    captured = capsys.readouterr()
    assert "bad.nn:2:7: NN001 [error] syntax error: unexpected '='" in captured.err
    assert captured.err.startswith(checked)
    assert bad.read_text() == "model m {\n  h = = x\n}\n"


def test_stdin_to_stdout(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode())))
    assert main(["format", "-"]) == 0
    assert capsys.readouterr().out == PRETTY


def test_the_examples_folder_passes_format_check():
    """What CI runs: the command itself, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "nnlint", "format", "--check", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = f"{len(ALL_EXAMPLES)} files already formatted"
    assert done.stdout == summary + "\n"
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert f"$ nnlint format --check examples\n{summary}\n" in readme
