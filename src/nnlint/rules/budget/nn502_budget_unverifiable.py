"""NN502 budget-unverifiable: see the class docstring for the rule's doc page."""

from __future__ import annotations

from nnlint.diagnostics import Severity
from nnlint.figures import sources
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.rules.budget.helpers import budget_value, limited, plain


@register
class BudgetUnverifiable(Rule):
    """## What it does
    Reports a budget line on a figure of the target (`latency`) that nnlint cannot
    check: no target is given (neither `deploy.target` nor `--target`), or the target
    has no arithmetic at the deploy precision (e.g. `fp32` on the int8-only edge TPU);
    likewise a budget on the training run's time or energy (`train_time`,
    `train_energy`) without a training target that trains at the training precision,
    and a budget on a serving figure (`kv_cache`, `prefill_latency`, `decode_latency`,
    `tokens_per_s`) of a model without a causal attention, which generates no tokens.

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
    severity = Severity.WARNING
    summary = "A budget line that cannot be checked against the target"

    def check(self, ctx: RuleContext):
        for line in ctx.sections.budget:
            figure = limited(line.key)
            if budget_value(line.key, ctx) is not None:
                continue
            known = sources(ctx)
            if figure.absent is not None and getattr(known, figure.needs) is None:
                why, fix = figure.absent(known)
            elif figure.unknown is not None and figure.applies(known):
                why, fix = figure.unknown(known)
            elif not figure.needs_target:
                continue
            elif ctx.target is None:
                why = "no target is set (deploy.target or --target)"
                fix = "set `target` in the `deploy` section"
            else:
                why = (
                    f"{ctx.target.id} has no {ctx.totals.deploy_precision} arithmetic "
                    f"(it runs {', '.join(sorted(ctx.target.precisions))})"
                )
                fix = "deploy at a precision the target runs"
            yield self.diag(
                f"cannot check `{line.key} {line.cmp} {line.text}`: {why}",
                line.span,
                fix=fix,
                key=line.key,
                limit=plain(line.limit),
            )
