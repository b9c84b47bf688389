"""NN103 log-of-softmax: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import label, producer
from nnlint.ops import Output
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import FLOAT_TINY, sci


@register
class LogOfSoftmax(PerLineRule):
    """## What it does
    Reports `log` applied to the output of a `softmax` (directly, or through
    `dropout`, `identity`, `flatten` or `reshape`).

    ## Why is this bad?
    Computing log(softmax(z)) in two steps loses precision for extreme logits
    (PyTorch's `nn.LogSoftmax` docs): a probability that underflows to 0 — in fp32 once its logit is
    103.28 below the largest (the smallest fp32 value is 1.40e-45), in fp16 once it
    is 16.64 below — gives log(0) = −inf, and the loss becomes NaN.
    `log_softmax` computes z − max − log Σ exp(z − max) in one step (≈3 FLOPs per
    element) and never takes the log of 0.

    ## Example
    ```
    probs = logits -> softmax
    logp  = probs -> log
    ```

    Use instead:
    ```
    logp = logits -> log_softmax
    ```
    """

    code = "NN103"
    name = "log-of-softmax"
    severity = Severity.WARNING
    summary = "log(softmax(z)) instead of log_softmax: log(0) = −inf"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in lowered.nodes():
            if node.kind.output is not Output.LOG or not node.inputs:
                continue
            src = producer(lowered, node.inputs[0])
            if src.kind.output is not Output.DISTRIBUTION:
                continue
            precision = src.precision or ctx.sections.train.precision
            if precision not in FLOAT_TINY:
                precision = "fp32"
            tiny = FLOAT_TINY[precision]
            yield self.diag(
                f"log of the output of {label(src)} in two steps: a probability that "
                f"underflows to 0 — in {precision} once its logit is {-math.log(tiny):.2f} below "
                f"the largest (the smallest {precision} value is {sci(tiny)}) — gives log(0) = "
                f"−inf and a NaN loss; log_softmax computes z − max − log Σ exp(z − max) and "
                f"never takes log(0)",
                node.span,
                fix="replace `softmax -> log` with `log_softmax`",
                softmax=src.id,
                precision=precision,
                smallest_value=tiny,
                underflow_gap=round(-math.log(tiny), 4),
            )
