"""What several rules of the budget family share."""

from __future__ import annotations

from fractions import Fraction

from nnlint.figures import Figure, budget_keys, sources
from nnlint.rules.base import RuleContext


def limited(key: str) -> Figure:
    """The figure a budget key limits (:mod:`nnlint.figures`)."""
    return budget_keys()[key]


def budget_value(key: str, ctx: RuleContext) -> int | float | None:
    """The computed figure a budget key limits (None: cannot be computed here)."""
    return limited(key).value(sources(ctx))


def plain(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x
