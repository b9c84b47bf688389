"""NN501 budget-exceeded: see the class docstring for the rule's doc page."""

from __future__ import annotations

from fractions import Fraction

from nnlint.diagnostics import Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.rules.budget.helpers import budget_value, plain
from nnlint.sections import BUDGET_KEYS, BudgetLine
from nnlint.units import fmt_quantity


@register
class BudgetExceeded(Rule):
    """## What it does
    Compares every line of the `budget` section with the figure nnlint computes:
    `params`, `trainable_params`, `macs` (per sample), `flops` (forward, per inference
    at the deploy batch), `forward_flops` (training batch), `train_step_flops`,
    `param_memory` (deployed weights), `train_memory`, `inference_memory`,
    `activation_memory` and `latency` (the roofline estimate on the deploy target).

    ## Why is this bad?
    A budget is a promise the model has to keep on the device or in the training job:
    a 784-256-128-10 classifier trained with Adam at batch 32 needs 3,913,120 bytes
    (940,584 parameters + 940,584 gradients + 1,881,168 Adam state + 150,784 cached
    activations, seed 000) — over a `train_memory <= 2 MiB` budget by 1,815,968 bytes.
    The message gives the computed value, the limit and the margin.

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
        for line in ctx.config.budget:
            value = budget_value(line.key, ctx)
            if value is None:
                continue
            if _within(value, line):
                continue
            what, kind = BUDGET_KEYS[line.key]
            limit = line.limit
            over = Fraction(value) - Fraction(limit)
            pct = float(over / Fraction(limit)) * 100
            yield self.diag(
                f"{line.key} is {fmt_quantity(kind, value)}, over the budget of {line.text} "
                f"({fmt_quantity(kind, limit)}) by {fmt_quantity(kind, over)} ({pct:.1f}%)",
                line.span,
                fix=f"reduce the {what} or raise the budget",
                key=line.key,
                value=plain(value),
                limit=plain(limit),
                margin=plain(-over),
                unit=kind,
            )


def _within(value, line: BudgetLine) -> bool:
    v, limit = Fraction(value), Fraction(line.limit)
    return v < limit if line.cmp == "<" else v <= limit
