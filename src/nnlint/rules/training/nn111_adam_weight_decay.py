"""NN111 adam-weight-decay: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.optimizers import OPTIMIZERS
from nnlint.rules.base import Rule, RuleContext, register


@register
class AdamWeightDecay(Rule):
    """## What it does
    Reports `train.weight_decay` given to an optimizer whose weight decay is an L2
    term added to the gradient before an adaptive step — `adam` — when the optimizer
    registry names its variant with decoupled weight decay (`adamw`). Once per spec,
    at the `weight_decay` entry.

    ## Why is this bad?
    `torch.optim.Adam(weight_decay=λ)` adds λ·θ to the gradient, and the sum is then
    divided by √v̂ + ε like the rest of the gradient: a weight with large past gradients
    is decayed by η·λ·θ / (√v̂ + ε), much less than one with small gradients, so the
    regularization is weakest exactly where the weights move most. L2 regularization and
    weight decay are the same thing for SGD, not for adaptive methods (Loshchilov &
    Hutter 2019, "Decoupled Weight Decay Regularization", §2): AdamW applies the decay
    θ ← θ − η·λ·θ to every weight alike, outside the adaptive step, and generalizes
    better than Adam with L2 on their image-classification benchmarks; it also makes the
    best λ largely independent of the learning rate.

    ## Example
    ```
    train {
        optimizer    = adam
        weight_decay = 0.01
    }
    ```

    Use instead:
    ```
    train {
        optimizer    = adamw
        weight_decay = 0.01
    }
    ```
    The fix (unsafe: training changes) replaces the optimizer. AdamW's λ multiplies
    η·θ directly, so an L2 coefficient tuned for Adam is not the AdamW value: tune
    `weight_decay` again (PyTorch's AdamW default is 0.01).

    ## Options
    None: the condition is exact.

    ## References
    - Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    - PyTorch, `torch.optim.Adam` and `torch.optim.AdamW` (the update each applies).
    """

    code = "NN111"
    name = "adam-weight-decay"
    severity = Severity.WARNING
    summary = "Adam with weight_decay: an L2 term the adaptive step rescales; use AdamW"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        train = ctx.sections.train
        if not ctx.sections.has_train or train.weight_decay is None:
            return
        optimizer = OPTIMIZERS[train.optimizer]
        variant = optimizer.decoupled_variant
        if variant is None:
            return
        decay = f"{train.weight_decay:g}"
        yield self.diag(
            f"optimizer = {optimizer.name} with weight_decay = {decay}: {optimizer.name} adds "
            f"{decay}·θ to the gradient before dividing by √v̂ + ε, so each weight is decayed by "
            f"η·{decay}·θ / (√v̂ + ε) — least where gradients are largest. That is L2 "
            f"regularization, not weight decay (Loshchilov & Hutter 2019); {variant} decays "
            f"every weight by η·{decay}·θ outside the adaptive step",
            train.spans["weight_decay"],
            fix=f"use optimizer = {variant} (decoupled weight decay) and tune weight_decay for "
            f"it again: {variant}'s λ is not the L2 coefficient of {optimizer.name}",
            optimizer=optimizer.name,
            weight_decay=train.weight_decay,
            suggested=variant,
        )
