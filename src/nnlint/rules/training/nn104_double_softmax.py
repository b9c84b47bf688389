"""NN104 double-softmax: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import label, producer
from nnlint.ops import Output
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import SOFTMAXES, squashed


@register
class DoubleSoftmax(PerLineRule):
    """## What it does
    Reports a softmax applied to probabilities: a `softmax` or `log_softmax` whose input is
    a `softmax` output, and a `focal` loss (which applies its own softmax to the logits it
    reads) on a `softmax` output. `cross_entropy` on a softmax output is the fused pairing
    (gradient ŷ − y) and is fine; so is `cross_entropy` on a `log_softmax` output (the
    negative log-likelihood). A softmax (or focal) after a `log_softmax` is not reported
    either: log_softmax only shifts the logits by a constant, so softmax(log_softmax(z)) =
    softmax(z) exactly — redundant work, not a wrong result.

    ## Why is this bad?
    The second softmax sees values in [0, 1] that sum to 1, so its C outputs stay
    within a factor e = 2.718 of each other: the largest can never exceed
    e/(e + C − 1) — 0.232 for 10 classes — and cross-entropy can never fall below
    −ln 0.232 = 1.461, when random guessing already gives ln 10 = 2.303 and a
    trained MNIST net reaches ~0.1. The model is stuck near uniform
    predictions and its gradients are weak.

    ## Example
    ```
    probs = logits -> softmax
    p2    = probs -> softmax
    ```

    Use instead: one softmax, on the logits:
    ```
    probs = logits -> softmax
    ```
    """

    code = "NN104"
    name = "double-softmax"
    severity = Severity.WARNING
    summary = "A softmax applied to probabilities (a softmax output)"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in lowered.nodes():
            if not node.inputs:
                continue
            is_focal = node.kind.is_loss and node.loss == "focal"
            if node.kind.output not in SOFTMAXES and not is_focal:
                continue
            src = producer(lowered, node.inputs[0])
            width = src.shape[-1] if src.shape else 1
            if src.kind.output is not Output.DISTRIBUTION or width < 2:
                continue
            top, floor = squashed(width)
            if is_focal:
                what = (
                    f"focal applies its own softmax to the logits it reads, but it reads "
                    f"the output of {label(src)}"
                )
                fix = f"make the loss read the logits before `{src.id}`"
            else:
                what = f"{node.op} `{node.id}` is applied to the output of {label(src)}"
                fix = f"drop one of the two: apply a single {node.op} to the logits"
            yield self.diag(
                f"{what}: its inputs are probabilities in [0, 1], so its {width} outputs stay "
                f"within a factor e = 2.718 of each other — the largest can never exceed "
                f"e/(e + {width - 1}) = {top:.3f}, and cross-entropy can never fall below "
                f"{floor:.3f} (random guessing: ln {width} = {math.log(width):.3f})",
                node.span,
                fix=fix,
                first_softmax=src.id,
                classes=width,
                max_probability=round(top, 6),
                min_loss=round(floor, 6),
                uniform_loss=round(math.log(width), 6),
            )
