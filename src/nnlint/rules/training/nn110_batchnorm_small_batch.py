"""NN110 batchnorm-small-batch: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import label
from nnlint.ops import channel_axis, numel
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_int


@register
class BatchnormSmallBatch(Rule):
    """## What it does
    Reports batch normalization trained with `train.batch` below `min_batch`
    (once per spec, at the `batch` entry; a spec that does not give the batch is
    not judged). Frozen batchnorm layers (`trainable=false`, as in detection
    fine-tuning, which keeps their stored statistics) are not counted.

    ## Why is this bad?
    Batchnorm normalizes with the mean and variance of the current batch; small
    batches give noisy statistics (Ioffe 2017, Batch Renormalization), and the
    running statistics used at inference then disagree with what the network was
    trained on. nnlint takes the threshold from the Group Normalization paper
    (Wu & He 2018, Fig. 1): ResNet-50 on ImageNet at 32, 16, 8, 4 and 2 images per GPU, where
    batchnorm's error grows as the batch shrinks — 23.6% at 32, 34.7% at 2 — while
    groupnorm stays at about 24.1%; below 16, batchnorm is the worse choice. At
    batch 1 a batchnorm over a `[D]` vector has one value per statistic: x − μ = 0,
    and the layer outputs β for every input.

    ## Example
    ```
    h = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
    train { batch = 4 }
    ```

    Use instead: groupnorm for convolutions (Wu & He 2018), layernorm for sequences
    and vectors — both independent of the batch:
    ```
    h = img -> conv2d(64, 3, padding=1) -> groupnorm(32) -> relu
    ```

    ## Options
    - `min_batch` (default 16): the smallest training batch batchnorm is trusted with
      (Wu & He 2018: batchnorm beats groupnorm at 16 and 32 images per GPU, not at 8
      and below).

    ## References
    - Wu & He, "Group Normalization", ECCV 2018, §4.1 and Figure 1.
    """

    code = "NN110"
    name = "batchnorm-small-batch"
    severity = Severity.WARNING
    summary = "Batch normalization with a batch too small for reliable statistics"
    options = ("min_batch",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        sections = ctx.sections
        if not sections.has_train:
            return
        if "batch" not in sections.train.spans:
            return  # no batch written: nothing to judge
        need = int(ctx.thresholds["min_batch"])
        batch = sections.train.batch
        if batch >= need:
            return
        norms = [n for n in ctx.report.lowered.nodes() if n.kind.batch_statistics and n.trainable]
        if not norms:
            return
        first = norms[0]
        x = first.in_shapes[0]
        per_channel = numel(x) // channel_axis(x)
        values = batch * per_channel
        layers = f"{len(norms)} batchnorm layer{'s' if len(norms) != 1 else ''}"
        detail = (
            f"each statistic of {label(first)} averages {fmt_int(values)} values from "
            f"{batch} sample{'s' if batch != 1 else ''}"
        )
        if values == 1:
            detail = (
                f"each statistic of {label(first)} has a single value: x − μ = 0, so the "
                f"layer outputs β for every input"
            )
        span = sections.train.spans["batch"]
        yield self.diag(
            f"batch = {batch} is below {need} for {layers}: {detail}. Batchnorm's statistics "
            f"are noisy at small batches — ResNet-50's ImageNet error with batchnorm rises from "
            f"23.6% at 32 images per GPU to 34.7% at 2, where groupnorm stays at 24.1% "
            f"(Wu & He 2018)",
            span,
            fix="use groupnorm (convolutions) or layernorm instead of batchnorm, or train with "
            f"batch ≥ {need}",
            batch=batch,
            min_batch=need,
            batchnorm_layers=len(norms),
            first=first.id,
            values_per_statistic=values,
        )
