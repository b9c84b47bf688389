"""Small helpers shared by the tests: analyse a spec from text, find layers."""

from __future__ import annotations

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


def layers(report: Report, op: str) -> list:
    return [layer for layer in report.layers if layer.node.op == op]
