"""NN102 softmax-overflow: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.ops import Output
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import FLOAT_TINY, sci

# The largest finite value and the smallest positive (subnormal) value per format.
FLOAT_MAX = {
    "fp64": 1.7976931348623157e308,
    "fp32": 3.4028234663852886e38,
    "tf32": 3.4028234663852886e38,
    "bf16": 3.3895313892515355e38,
    "fp16": 65504.0,
    "fp8": 448.0,
}


#: Formats whose exp overflows at an ordinary logit (fp8 is E4M3, the forward format).
NARROW_FLOATS = ("fp16", "fp8")


@register
class SoftmaxOverflow(PerLineRule):
    """## What it does
    Reports a `softmax` computed in fp16 (or fp8): the op's own `precision=` or,
    without one, `train.precision`.

    ## Why is this bad?
    exp overflows fp32 only above ln(3.40e38) = 88.72 but fp16 above
    ln(65504) = 11.09 (65504 is the largest IEEE 754 half), and logits above 11 are ordinary for a
    confident classifier. An overflowing exp gives inf, inf/inf gives NaN, and
    the NaN spreads silently through the loss and every weight (Micikevicius et al. 2018).
    Subtracting the largest logit first avoids the overflow, but the
    probabilities are then still rounded to fp16: anything below 5.96e-08, the
    smallest fp16 value (16.64 logits below the largest), becomes exactly 0, and a
    later log gives −inf. bf16 has fp32's exponent range and is fine; mixed
    precision training keeps softmax in fp32 for this reason.

    ## Example
    ```
    train {
        precision = fp16
        loss      = cross_entropy(probs)
    }
    ```

    Use instead: compute the softmax in fp32 (or bf16) even when the rest runs in fp16:
    ```
    probs = logits -> softmax(precision=fp32)
    ```
    """

    code = "NN102"
    name = "softmax-overflow"
    severity = Severity.WARNING
    summary = "A softmax computed in fp16, where exp overflows above 11.09"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        for node in ctx.report.lowered.nodes():
            if node.kind.output is not Output.DISTRIBUTION:
                continue
            precision = node.precision or ctx.sections.train.precision
            if precision not in NARROW_FLOATS:
                continue
            top, tiny = FLOAT_MAX[precision], FLOAT_TINY[precision]
            limit, fp32_limit = math.log(top), math.log(FLOAT_MAX["fp32"])
            source = "its `precision=`" if node.precision else "`train.precision`"
            fmt = "fp8 (E4M3)" if precision == "fp8" else precision
            yield self.diag(
                f"softmax `{node.id}` runs in {fmt} ({source}): exp overflows {fmt} above "
                f"ln({top:g}) = {limit:.2f} (fp32: {fp32_limit:.2f}), so a logit above "
                f"{limit:.2f} gives inf and NaN probabilities unless the largest logit is "
                f"subtracted first; even then every probability below {sci(tiny)}, the smallest "
                f"{precision} value ({-math.log(tiny):.2f} below the largest logit), rounds to 0 "
                f"and its log is −inf",
                node.span,
                fix="compute the softmax in fp32 (`softmax(precision=fp32)`) or bf16, which has "
                "fp32's range",
                precision=precision,
                max_value=top,
                overflow_above=round(limit, 4),
                fp32_overflow_above=round(fp32_limit, 4),
                smallest_value=tiny,
            )
