"""Small helpers shared by the tests: analyse a spec from text, find layers."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from nnlint.check import analyse_text
from nnlint.costs import Report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def report_of(text: str) -> Report:
    """Analyse a spec (dedented) that must be free of errors; return its cost report."""
    analysis, diagnostics = analyse_text(textwrap.dedent(text))
    errors = [d for d in diagnostics if d.severity.name == "ERROR"]
    assert analysis is not None and not errors, [d.message for d in diagnostics]
    return analysis.report


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
