"""NN113 integer-training: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.precision import PRECISION_BITS, is_float
from nnlint.rules.base import Rule, RuleContext, register


@register
class IntegerTraining(Rule):
    """## What it does
    Reports a `train.precision` that is an integer format (`int16`, `int8`, `uint8`,
    `int4` and the sub-4-bit ones): weights, gradients and optimizer state stored as
    integers for the whole training run. Once per spec, at the `precision` entry,
    with the number of levels the format has. (Integer *deployment* precisions are
    fine: NN404 judges those below 4 bits.)

    ## Why is this bad?
    Quantization tolerates inference better than training, because training
    accumulates rounding error over many updates. An 8-bit integer has 2⁸ = 256
    levels: an update smaller than half a level is rounded away every step with
    round-to-nearest, so small gradients never move a weight, and the error of
    every step adds up. Training in 16-bit fixed point already needs stochastic
    rounding to converge (Gupta et al. 2015, "Deep Learning with Limited Numerical
    Precision"); integer-arithmetic inference keeps floating-point weights during
    training and quantizes them afterwards, or simulates the quantization in the
    forward pass of quantization-aware training (Jacob et al. 2018; Nagel et al. 2021).

    ## Example
    ```
    train {
        precision = int8
    }
    ```

    Use instead: train in floating point and quantize afterwards:
    ```
    train {
        precision = bf16-mixed
    }
    deploy {
        precision = int8      # post-training quantization, calibrated on representative data
    }
    ```

    ## Options
    None: the condition is exact.

    ## References
    - Gupta et al., "Deep Learning with Limited Numerical Precision", ICML 2015.
    - Jacob et al., "Quantization and Training of Neural Networks for Efficient
      Integer-Arithmetic-Only Inference", CVPR 2018.
    - Nagel et al., "A White Paper on Neural Network Quantization", 2021.
    """

    code = "NN113"
    name = "integer-training"
    severity = Severity.WARNING
    summary = "Training in an integer precision; quantize after training instead"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        sections = ctx.sections
        train = sections.train
        if not sections.has_train or "precision" not in train.spans:
            return
        precision = train.precision
        if is_float(precision):
            return
        bits = PRECISION_BITS[precision]
        levels = 2**bits
        deploy = (
            f"set deploy.precision = {precision}"
            if "precision" not in sections.deploy.spans
            else "keep deploy.precision"
        )
        yield self.diag(
            f"train.precision = {train.recipe}: weights, gradients and optimizer state in "
            f"{bits}-bit integers, {levels:,} levels per value — an update smaller than half a "
            f"level rounds to zero, and rounding error accumulates over every update",
            train.spans["precision"],
            fix=f"train in floating point (train.precision = bf16-mixed or fp32) and quantize "
            f"after training: {deploy} (post-training quantization, calibrated on "
            f"representative data, or quantization-aware training)",
            precision=precision,
            bits=bits,
            levels=levels,
        )
