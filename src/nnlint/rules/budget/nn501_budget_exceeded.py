"""NN501 budget-exceeded: see the class docstring for the rule's doc page."""

from __future__ import annotations

from fractions import Fraction

from nnlint.diagnostics import Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.rules.budget.helpers import budget_value, limited, plain
from nnlint.sections import BudgetLine
from nnlint.units import fmt_quantity


@register
class BudgetExceeded(Rule):
    """## What it does
    Compares every line of the `budget` section with the figure nnlint computes
    (the README's "Totals and budget keys" table lists each key and its figure):
    `params`, `train_memory`, `latency` (the roofline estimate on the deploy target),
    and the other keys of that table. A budget line is an upper limit (`<=`, `<`)
    unless its figure is one to keep above a floor (`>=`, `>`).

    ## Why is this bad?
    A budget is a promise the model has to keep on the device or in the training job: a
    784-256-128-10 classifier trained with Adam at batch 32 needs 3,913,120 bytes (940,584
    parameters + 940,584 gradients + 1,881,168 Adam state + 150,784 cached activations;
    README § Counting conventions) — over a `train_memory <= 2 MiB` budget by 1,815,968
    bytes. The message gives the computed value, the limit and the margin.

    ## Example
    ```
    budget {
        train_memory <= 2 MiB
    }
    ```

    Use instead: shrink the model (or the batch), or raise the budget if the limit was wrong:
    ```
    budget {
        train_memory <= 4 MiB
    }
    ```
    """

    code = "NN501"
    name = "budget-exceeded"
    severity = Severity.ERROR
    summary = "A figure of the model exceeds its budget line"

    def check(self, ctx: RuleContext):
        for line in ctx.sections.budget:
            value = budget_value(line.key, ctx)
            if value is None:
                continue
            if _within(value, line):
                continue
            figure = limited(line.key)
            kind = figure.unit
            limit = line.limit
            upper = figure.limit == "max"
            # how far the figure is past its limit: over a ceiling, under a floor
            past = (Fraction(value) - Fraction(limit)) * (1 if upper else -1)
            pct = float(past / Fraction(limit)) * 100
            side, change = ("over", "reduce") if upper else ("under", "raise")
            yield self.diag(
                f"{line.key} is {fmt_quantity(kind, value)}, {side} the budget of "
                f"{_as_written(line.text, fmt_quantity(kind, limit))} by "
                f"{fmt_quantity(kind, past)} ({pct:.1f}%)",
                line.span,
                fix=f"{change} the {figure.what} or {'raise' if upper else 'lower'} the budget",
                key=line.key,
                value=plain(value),
                limit=plain(limit),
                margin=plain(-past),
                unit=kind,
            )


def _as_written(text: str, shown: str) -> str:
    """The limit as the budget line writes it, with what it adds in parentheses: the exact
    figure of a rounded one (``2 MiB (2,097,152 B)``, ``1 MJ (278 Wh)``), or the value of
    an expression (``4 * 1024 (4,096)``); nothing when it says the same."""
    if shown.endswith(")") and " (" in shown:
        shown = shown[shown.index(" (") + 2 : -1]
    return text if shown == text else f"{text} ({shown})"


_COMPARE = {
    "<=": lambda v, limit: v <= limit,
    "<": lambda v, limit: v < limit,
    ">=": lambda v, limit: v >= limit,
    ">": lambda v, limit: v > limit,
}


def _within(value, line: BudgetLine) -> bool:
    return _COMPARE[line.cmp](Fraction(value), Fraction(line.limit))
