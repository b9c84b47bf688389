"""NN203 params-exceed-samples: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.ops import numel
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_int


@register
class ParamsExceedSamples(Rule):
    """## What it does
    Compares the model's trainable parameters P with the training examples D of
    `train.samples` and reports P/D of `max_ratio` or more, with the size of the
    network that can already memorize the whole training set. Once per spec, at the
    `samples` entry; a spec without `samples` is not judged.

    ## Why is this bad?
    A network with far more parameters than examples can memorize its training set:
    there is a two-layer ReLU network with 2n + d weights that fits *any* labelling
    of n examples in d dimensions, and CIFAR-10 networks reach 100% training
    accuracy on randomly relabelled images (Zhang et al. 2017, "Understanding deep
    learning requires rethinking generalization", Theorem 1 and §2). Training
    accuracy then says nothing about generalization, and test error depends on
    regularization, augmentation and early stopping measured on held-out data. Large
    networks do generalize past this point — a wide ResNet trains 36.5M parameters
    on CIFAR-10's 50,000 images, 730 per example (Zagoruyko & Komodakis 2016), and
    ResNet-50 has 20 per ImageNet image — so the default threshold, 1,000 parameters
    per example, sits above those well-studied settings. Fine-tuning a pretrained
    model (BERT on a few thousand examples) is the known exception: mark frozen
    layers `trainable=false`, or suppress the finding.

    ## Example
    ```
    model big {
        input x: [784]
        h = x -> dense(4096) -> relu -> dense(4096) -> relu
        logits = h -> dense(10)
    }
    train { samples = 5000 }
    ```

    Use instead: a model sized to the data (or more data), with a validation set
    for early stopping and regularization:
    ```
    model small {
        input x: [784]
        h = x -> dense(256) -> relu -> dropout(0.5)
        logits = h -> dense(10)
    }
    ```

    ## Options
    - `max_ratio` (default 1000): trainable parameters per training example from which
      the rule fires.

    ## References
    - Zhang, Bengio, Hardt, Recht & Vinyals, "Understanding deep learning requires
      rethinking generalization", ICLR 2017.
    - Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016.
    """

    code = "NN203"
    name = "params-exceed-samples"
    severity = Severity.WARNING
    summary = "Far more trainable parameters than training examples (P ≫ D)"
    options = ("max_ratio",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        train = ctx.sections.train
        if not ctx.sections.has_train or train.samples is None:
            return
        params, samples = ctx.totals.trainable_params, train.samples
        limit = ctx.thresholds["max_ratio"]
        ratio = params / samples
        if ratio < limit:
            return
        lowered = ctx.report.lowered
        dims = sum(numel(lowered.node(i).shape) for i in lowered.inputs)
        memorizer = 2 * samples + dims
        yield self.diag(
            f"{fmt_int(params)} trainable parameters for {fmt_int(samples)} training examples: "
            f"{fmt_int(round(ratio))} per example (P/D ≥ {fmt_int(limit)}). A two-layer ReLU "
            f"network with 2n + d = 2·{fmt_int(samples)} + {fmt_int(dims)} = "
            f"{fmt_int(memorizer)} parameters can fit any labelling of these examples (Zhang "
            f"et al. 2017); this one has {fmt_int(round(params / memorizer))}x that, so it can "
            f"memorize the training set, random labels included, and training accuracy says "
            f"nothing about generalization",
            train.spans["samples"],
            fix=f"hold out a validation set and stop early on it, regularize (weight decay, "
            f"dropout, augmentation), or train on more data or a smaller model (under "
            f"{fmt_int(limit * samples)} trainable parameters for {fmt_int(samples)} examples)",
            trainable_params=params,
            samples=samples,
            ratio=ratio,
            max_ratio=limit,
            memorizing_params=memorizer,
        )
