"""Small helpers shared by the tests: analyse a spec from text, find layers and
findings, run the command line, make nnlint fail on purpose."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from nnlint.check import Analysis, Settings, analyse_text
from nnlint.costs import Report
from nnlint.diagnostics import Diagnostic, FileResult

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def analysis_of(text: str, target: str | None = None) -> Analysis:
    """Analyse a spec (dedented) that must be free of errors, on ``target`` if given."""
    analysis, diagnostics = analyse_text(textwrap.dedent(text), Settings(target=target))
    errors = [d for d in diagnostics if d.severity.name == "ERROR"]
    assert analysis is not None and not errors, [d.message for d in diagnostics]
    return analysis


def report_of(text: str, target: str | None = None) -> Report:
    """The cost report of :func:`analysis_of`."""
    return analysis_of(text, target).report


def example_report(stem: str) -> Report:
    return report_of((EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8"))


#: The full-size examples too large to build in PyTorch on a CPU: the cross-checks use the
#: example's own blocks (and sections) with this model, at the reduced width and depth of
#: their twins in ``tests/torch_reference.py``; ``tests/test_published_models.py`` holds
#: the full-size figures to exact formulas.
REDUCED = {
    "llama2_7b": """model llama2_7b {
    input ids: [16]
    h      = ids -> embedding(64, 32) -> decoder(32, 4, 2, 48) * 2
    logits = h -> rmsnorm -> dense(64, bias=false)
}
""",
    "mixtral_8x7b": """model mixtral_8x7b {
    input ids: [16]
    h      = ids -> embedding(64, 32) -> moe_decoder(32, 4, 2, 4, 2, 24) * 2
    logits = h -> rmsnorm -> dense(64, bias=false)
}
""",
}

_MODEL = re.compile(r"^model \w+ \{\n.*?^\}\n", re.S | re.M)


def twin_text(stem: str) -> str:
    """The spec of ``examples/<stem>.nn`` as its PyTorch twin builds it: the example itself,
    or for a full-size one its blocks with the reduced model of :data:`REDUCED`."""
    text = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8")
    if stem not in REDUCED:
        return text
    reduced, count = _MODEL.subn(lambda _m: REDUCED[stem], text)
    assert count == 1, stem
    return reduced


def twin_report(stem: str) -> Report:
    return report_of(twin_text(stem))


def layers(report: Report, op: str) -> list:
    return [layer for layer in report.layers if layer.node.op == op]


def only(result: FileResult, code: str) -> list[Diagnostic]:
    """The findings of ``code`` in ``result``, in order."""
    return [d for d in result.diagnostics if d.code == code]


def line_of(text: str, snippet: str) -> int:
    """The line number of the one line of ``text`` holding ``snippet``."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if snippet in line]
    assert len(lines) == 1, (snippet, lines)
    return lines[0]


def roofline_mlp(precision: str, batch: int = 1, target: str = "a100-40gb") -> str:
    """nnlint's roofline example: the MNIST 784-128-64-10 MLP, deployed on ``target``."""
    return f"""\
        model mlp {{
            input x: [784]
            h1     = x  -> dense(128) -> relu
            h2     = h1 -> dense(64) -> relu
            logits = h2 -> dense(10)
        }}
        deploy {{
            target    = {target}
            batch     = {batch}
            precision = {precision}
        }}
        """


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``nnlint ARGV`` in this process: the exit code, stdout and stderr."""
    from nnlint.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fail_analysis(monkeypatch, error: Exception, *, when: str = "") -> None:
    """Make the analysis of every spec whose text holds ``when`` (of every spec, by
    default) raise ``error``, as a bug in nnlint would."""
    import nnlint.check

    real = nnlint.check.analyse_text

    def analyse(text, settings=Settings()):
        if when in text:
            raise error.with_traceback(None)  # each run's stack alone, as a fresh error's
        return real(text, settings)

    monkeypatch.setattr(nnlint.check, "analyse_text", analyse)


def deny_read(monkeypatch, name: str) -> None:
    """Make reading the file called ``name`` fail as a chmod 000 file does (root can read
    one, so the error is faked)."""
    import nnlint.check

    real = nnlint.check.read_regular

    def read_regular(path, **kwargs):
        if Path(path).name == name:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, **kwargs)

    monkeypatch.setattr(nnlint.check, "read_regular", read_regular)


def unaligned(text: str) -> str:
    """``text`` without ``nnlint format``'s alignment: one space before each statement's
    ``=`` and continuation lines indented by four, so a test can look for a statement as
    an importer writes it, whatever the names around it."""
    text = re.sub(r"(?m)^(\s*\S+) {2,}= ", r"\1 = ", text)
    return re.sub(r"(?m)^ +->", "    ->", text)
