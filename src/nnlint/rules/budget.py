"""NN5xx — budgets: each line of the spec's ``budget`` section against the computed figure."""

from __future__ import annotations

from fractions import Fraction

from nnlint.diagnostics import Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.spec import BUDGET_KEYS, BudgetLine
from nnlint.units import fmt_quantity


def budget_value(key: str, ctx: RuleContext) -> int | float | None:
    """The computed figure a budget key limits (None: cannot be computed here)."""
    t = ctx.totals
    if key == "latency":
        return ctx.roofline.time_s if ctx.roofline is not None else None
    return {
        "params": t.params,
        "trainable_params": t.trainable_params,
        "macs": t.macs,
        "forward_flops": t.forward_flops,
        "flops": t.inference_flops,
        "train_step_flops": t.train_step_flops,
        "param_memory": t.inference_param_bytes,
        "train_memory": t.train_memory_bytes,
        "inference_memory": t.inference_memory_bytes,
        "activation_memory": t.activation_bytes,
    }[key]


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
    family = "budget"
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
                value=_plain(value),
                limit=_plain(limit),
                margin=_plain(-over),
                unit=kind,
            )


@register
class BudgetUnverifiable(Rule):
    """## What it does
    Reports a `latency` budget nnlint cannot check: no target is given (neither
    `deploy.target` nor `--target`), or the target has no arithmetic at the deploy
    precision (e.g. `fp32` on the int8-only edge TPU).

    ## Why is this bad?
    An unchecked budget looks like a kept one. The roofline latency needs the
    target's peak FLOP/s and bandwidth at the deploy precision.

    ## Example
    ```
    budget {
        latency <= 2 ms
    }
    # and no deploy.target
    ```

    Use instead:
    ```
    deploy {
        target = edge-tpu
        precision = int8
    }
    ```
    """

    code = "NN502"
    name = "budget-unverifiable"
    family = "budget"
    severity = Severity.WARNING
    summary = "A budget line that cannot be checked against the target"

    def check(self, ctx: RuleContext):
        for line in ctx.config.budget:
            if line.key != "latency" or budget_value(line.key, ctx) is not None:
                continue
            if ctx.target is None:
                why = "no target is set (deploy.target or --target)"
                fix = "set `target` in the `deploy` section"
            else:
                why = (
                    f"{ctx.target.id} has no {ctx.totals.deploy_precision} arithmetic "
                    f"(it runs {', '.join(sorted(ctx.target.precisions))})"
                )
                fix = "deploy at a precision the target runs"
            yield self.diag(
                f"cannot check `latency <= {line.text}`: {why}",
                line.span,
                fix=fix,
                key=line.key,
                limit=_plain(line.limit),
            )


def _within(value, line: BudgetLine) -> bool:
    v, limit = Fraction(value), Fraction(line.limit)
    return v < limit if line.cmp == "<" else v <= limit


def _plain(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x
