"""NN105 loss-output-mismatch: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import class_width, label, producer
from nnlint.ops import Output
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.rules.training.helpers import squashed

# A confidently wrong prediction: true-class p = 0.05, cross-entropy gradient ŷ − y = −0.95.
WRONG_P = 0.05


@register
class LossOutputMismatch(Rule):
    """## What it does
    Checks the pairing of `train.loss` with the op that produced the tensor it
    reads. nnlint's loss semantics: `cross_entropy` fuses with
    a softmax output, applies its own log-softmax to raw logits and is the
    negative log-likelihood on a `log_softmax` output; `bce` expects a sigmoid
    output or raw logits; `kl_div` expects log-probabilities. Reported:

    - `mse` (or `huber`) on a softmax output, or on a sigmoid output when the
      `data` section declares `classes` (a sigmoid regressing values in [0, 1]
      without classes is left alone);
    - `bce` on a softmax output, or on log-probabilities;
    - `cross_entropy` or `focal` on a sigmoid output, or over a single output;
    - `kl_div` on probabilities or on raw outputs instead of log-probabilities.

    ## Why is this bad?
    - MSE on a sigmoid/softmax: the gradient passes through the output's
      derivative ŷ(1 − ŷ) ≤ 0.25, which is near 0 exactly when the prediction is
      confidently wrong (Golik et al. 2013). At ŷ = 0.05 for a true label the
      factor is 0.0475 and ∂L/∂z = 2(ŷ − y)·ŷ(1 − ŷ) = −0.09025, where
      cross-entropy gives ŷ − y = −0.95, 10.5× stronger.
    - BCE on a softmax scores each output as an independent yes/no, but the
      outputs sum to 1: at most one can exceed 0.5. Over a single output the
      softmax is always 1.0 and nothing is learned.
    - Cross-entropy applies a softmax to what it reads; values in (0, 1) from a
      sigmoid limit the largest probability to e/(e + C − 1) (0.232 for C = 10)
      and the loss to ≥ 1.461. Over a single output the softmax is 1 and the
      loss is 0 for every input: no gradient at all.
    - KL divergence on probabilities reads p ∈ [0, 1] as log p: the "distribution"
      e^p sums to more than 1 and the divergence is meaningless.

    ## Example
    ```
    probs = logits -> softmax
    train { loss = mse(probs) }
    ```

    Use instead:
    ```
    train { loss = cross_entropy(probs) }
    ```
    """

    code = "NN105"
    name = "loss-output-mismatch"
    severity = Severity.WARNING
    summary = "The loss does not fit the output layer it reads"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        classifier = ctx.sections.data.classes is not None
        # each term of a summed loss is checked against what it reads
        for i, loss_id in enumerate(lowered.losses):
            loss = lowered.node(loss_id)
            src = producer(lowered, loss.inputs[0])
            kind, op = loss.loss, src.op
            width = class_width(loss.in_shapes[0])
            terms = ctx.sections.train.losses
            tensor = terms[i].tensor if i < len(terms) else src.id
            found = self._mismatch(kind, op, src.kind.output, width, classifier, tensor)
            if found is None:
                continue
            message, fix, data = found
            yield self.diag(
                f"{kind} on {label(src)}: {message}",
                loss.span,
                fix=fix,
                loss=kind,
                output=src.id,
                output_op=op,
                width=width,
                **data,
            )

    @staticmethod
    def _mismatch(kind, op, out, width, classifier, tensor):
        """(message, fix, data) for a mismatched pairing, None for a good one. ``op`` names
        the op that produced what the loss reads, ``out`` says what its values mean."""
        data: dict = {}
        distribution, probabilities = Output.DISTRIBUTION, Output.PROBABILITIES
        if kind in ("mse", "huber") and (
            out is distribution or (out is probabilities and classifier)
        ):
            slope = WRONG_P * (1 - WRONG_P)
            grad = (2 if kind == "mse" else 1) * (WRONG_P - 1) * slope
            ce = WRONG_P - 1
            formula = "2(ŷ − y)·ŷ(1 − ŷ)" if kind == "mse" else "(ŷ − y)·ŷ(1 − ŷ)"
            better = "cross_entropy" if out is distribution else "bce"
            message = (
                f"the gradient passes through the {op}'s derivative ŷ(1 − ŷ) ≤ 0.25, "
                f"which vanishes when the prediction is confidently wrong — at ŷ = "
                f"{WRONG_P} for a true label it is {slope:.4g}, so ∂L/∂z = {formula} = "
                f"{grad:.4g} where {better} gives ŷ − y = {ce:.2f} "
                f"({ce / grad:.1f}× stronger)"
            )
            fix = f"use `{better}({tensor})` for a classifier"
            data = {"output_slope": slope, "gradient": grad, "cross_entropy_gradient": ce}
        elif kind == "bce" and out is distribution and width == 1:
            message = (
                "a softmax over a single output is always 1.0, so bce sees the same "
                "prediction for every input and the gradient through the softmax is 0"
            )
            fix = "use `sigmoid` for a single yes/no output"
        elif kind == "bce" and out is distribution:
            message = (
                f"bce scores each of the {width} outputs as an independent yes/no, but a "
                f"softmax's outputs sum to 1: at most one of them can exceed 0.5, and the "
                f"fused gradient ŷ − y of softmax with cross-entropy is lost"
            )
            fix = (
                "use `cross_entropy` for one label per sample, or sigmoid outputs with bce "
                "for several labels"
            )
        elif kind == "bce" and out is Output.LOG_DISTRIBUTION:
            message = (
                "bce reads these log-probabilities as logits, and they are ≤ 0: every "
                "prediction sigmoid(log p) is at most 0.5"
            )
            fix = "give bce the raw logits or a sigmoid output"
        elif kind in ("cross_entropy", "focal") and width == 1:
            message = (
                "a softmax over a single output is 1 whatever the input, so the loss is "
                "0 for every sample and no gradient reaches the model"
            )
            fix = (
                "use `bce` on one logit (or sigmoid) for a yes/no output, or give the output "
                "one unit per class"
            )
            data = {"min_loss": 0.0}
        elif kind in ("cross_entropy", "focal") and out is probabilities:
            top, floor = squashed(width)
            message = (
                f"{kind} applies its own softmax to what it reads, and sigmoid outputs in "
                f"(0, 1) limit the largest probability to e/(e + {width - 1}) = {top:.3f}, "
                f"so the loss can never fall below {floor:.3f} (random guessing: "
                f"ln {width} = {math.log(width):.3f})"
            )
            fix = "read the logits before the sigmoid (or use a softmax output)"
            data = {"max_probability": round(top, 6), "min_loss": round(floor, 6)}
        elif kind == "kl_div" and out in (distribution, probabilities):
            message = (
                "kl_div expects log-probabilities but these are probabilities in [0, 1]: "
                "read as log p they describe e^p ∈ [1, 2.718], which sums to more than 1"
            )
            fix = "use `log_softmax` for the output kl_div reads"
        elif kind == "kl_div" and out not in (Output.LOG_DISTRIBUTION, Output.LOG, Output.DATA):
            message = (
                "kl_div expects log-probabilities but these are unnormalized outputs: "
                "the divergence is only meaningful when exp of the input sums to 1"
            )
            fix = "apply `log_softmax` to the output kl_div reads"
        else:
            return None
        return message, fix, data
