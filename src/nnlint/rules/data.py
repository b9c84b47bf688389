"""NN2xx — data: class imbalance and output width against the class count.

Both rules read the ``data`` section: ``classes`` (or, without it, the length of
``counts``), ``counts`` (examples per class) and ``metric``.
"""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Node
from nnlint.graph_queries import class_width, label, width_source
from nnlint.ops import fmt_shape
from nnlint.rules.base import Rule, RuleContext, fmt_int, register

#: Metrics that do not reward predicting the majority class (seed 004: use per-class
#: precision/recall and the confusion matrix instead of plain accuracy).
BALANCED_METRICS = frozenset({"balanced_accuracy", "f1", "auc", "precision", "recall"})
#: Losses built for imbalance (seed 002: focal loss "meant for class imbalance").
BALANCED_LOSSES = frozenset({"focal"})
#: Losses that need one output per class; with one output and two classes anything else
#: (bce, hinge, mse, ...) reads a single score for the positive class.
PER_CLASS_LOSSES = frozenset({"cross_entropy", "focal", "kl_div"})


@register
class ClassImbalance(Rule):
    """## What it does
    Reads `data.counts` and reports a training set whose largest class outnumbers
    its smallest by `min_ratio` or more, with the accuracy a model reaches by
    always predicting the largest class. Not reported when the loss is `focal`
    or `data.metric` is a balanced one (`balanced_accuracy`, `f1`, `auc`,
    `precision`, `recall`). A class with no examples at all is always reported:
    no loss or metric makes up for it.

    ## Why is this bad?
    A 99:1 fraud detector reaches 99% accuracy by always predicting "not fraud"
    and catches zero fraud; production data often shows 10:1 or 100:1 imbalance
    even when the holdout set is balanced, and average-case losses ignore the
    rare classes (seed 004). The majority-class baseline is max_c n_c / N; a
    reported accuracy below it is worse than the constant predictor (99.2%
    against a 99.5% majority class).

    ## Example
    ```
    data {
        classes = 2
        counts  = [99000, 1000]
    }
    ```

    Use instead: a loss built for imbalance (focal loss, ≈6BC FLOPs, seed 002),
    class weights or resampling, and a metric the constant predictor cannot game:
    ```
    train { loss = focal(logits) }
    data {
        classes = 2
        counts  = [99000, 1000]
        metric  = balanced_accuracy
    }
    ```

    ## Options
    - `min_ratio` (default 10): report from this largest-to-smallest class ratio
      (seed 004: "10:1 or 100:1" in production data).
    """

    code = "NN201"
    name = "class-imbalance"
    family = "data"
    severity = Severity.WARNING
    summary = "Imbalanced classes scored by plain accuracy and an unweighted loss"
    options = ("min_ratio",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        data = ctx.config.data
        counts = data.counts
        if not counts or len(counts) < 2:
            return
        total = sum(counts)
        big = max(range(len(counts)), key=lambda i: counts[i])
        small = min(range(len(counts)), key=lambda i: counts[i])
        largest, smallest = counts[big], counts[small]
        baseline = largest / total
        rest = (
            f"catches none of class {small}"
            if len(counts) == 2
            else f"gets every example of the other {len(counts) - 1} classes wrong"
        )
        sizes = (
            f"(largest: class {big}, {fmt_int(largest)} examples; smallest: class {small}, "
            f"{fmt_int(smallest)} of {fmt_int(total)})"
        )
        fix = (
            "train with `focal(...)`, class weights or resampling, and set `metric = "
            "balanced_accuracy` (or f1, auc) in `data`"
        )
        data_figures = {
            "majority_class": big,
            "minority_class": small,
            "majority_accuracy": baseline,
            "counts": list(counts),
            "total": total,
        }
        if smallest == 0:  # no loss or metric can make up for a class that is never seen
            empty = [i for i, n in enumerate(counts) if n == 0]
            which = (
                f"class {empty[0]} has"
                if len(empty) == 1
                else f"classes {', '.join(map(str, empty))} have"
            )
            yield self.diag(
                f"{which} no training examples {sizes}: the model never sees "
                f"{'it' if len(empty) == 1 else 'them'} and always predicting class {big} is "
                f"already {100 * baseline:.1f}% accurate",
                data.spans["counts"],
                fix="collect examples of every class, or drop the empty ones from `classes`",
                ratio=None,
                empty_classes=empty,
                **data_figures,
            )
            return
        loss = ctx.config.train.loss
        if data.metric in BALANCED_METRICS or (loss is not None and loss.kind in BALANCED_LOSSES):
            return
        need = float(ctx.thresholds["min_ratio"])
        ratio = largest / smallest
        if ratio < need:
            return
        metric = (
            f"data.metric = {data.metric}" if data.metric else "plain accuracy (no data.metric)"
        )
        shown = f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.3g}"
        yield self.diag(
            f"the classes are imbalanced {shown}:1 {sizes}: always predicting class {big} "
            f"is already {100 * baseline:.1f}% accurate and {rest}; scored by {metric}",
            data.spans["counts"],
            fix=fix,
            ratio=ratio,
            min_ratio=need,
            **data_figures,
        )


@register
class OutputWidthMismatch(Rule):
    """## What it does
    Compares `data.classes` (or the length of `data.counts`) with the width of
    the model's output: the class axis of the tensor the loss reads (the last
    axis, or C of a `[C, H, W]` map), or, without a loss, of the model's last
    tensor. One output for two classes is a binary classifier and fine — a
    sigmoid probability or a logit for the positive class — unless the loss is
    `cross_entropy`, `focal` or `kl_div`, which need one output per class.

    ## Why is this bad?
    With fewer outputs than classes, labels beyond the last output have nowhere
    to go: cross-entropy indexes out of range (PyTorch stops with "Target out of
    bounds") or, worse, the data loader's labels are silently remapped. With more
    outputs than classes, the extra outputs never match a label; the model wastes
    parameters on them and a softmax spreads probability over classes that do not
    exist. Either way the spec and the data disagree.

    ## Example
    ```
    logits = h -> dense(100)
    data { classes = 10 }
    ```

    Use instead:
    ```
    logits = h -> dense(10)
    ```
    """

    code = "NN202"
    name = "output-width-mismatch"
    family = "data"
    severity = Severity.ERROR
    summary = "The output layer's width differs from the number of classes"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        data = ctx.config.data
        classes = data.classes or (len(data.counts) if data.counts else None)
        if classes is None:
            return
        lowered = ctx.report.lowered
        loss_kind = None
        if lowered.loss is not None:
            loss = lowered.node(lowered.loss)
            out = lowered.node(loss.inputs[0])
            loss_kind = loss.loss
            reader = f"which the loss `{loss_kind}` reads"
        else:
            out = lowered.node(lowered.order[-1])
            reader = "the model's output"
        if not out.shape:
            return
        width = class_width(out.shape)
        if width == classes:
            return
        if width == 1 and classes == 2 and loss_kind not in PER_CLASS_LOSSES:
            return
        source = width_source(lowered, out)
        name = out.tensor or out.id
        setter = (
            f"set by {label(source)}"
            if not source.kind.is_input
            else f"the model input `{source.id}` (line {source.span.line})"
        )
        if width < classes:
            effect = (
                f"labels {width}…{classes - 1} have no output"
                if classes - width > 1
                else f"label {classes - 1} has no output"
            )
        else:
            effect = (
                f"{width - classes} output{'s' if width - classes != 1 else ''} never "
                f"match{'es' if width - classes == 1 else ''} a label"
            )
        yield self.diag(
            f"`{name}`, {reader}, has {fmt_int(width)} output"
            f"{'s' if width != 1 else ''} ({fmt_shape(out.shape)}, {setter}) but "
            f"data.classes = {fmt_int(classes)}: {effect}",
            source.span,
            fix=_fix(source, classes),
            width=width,
            classes=classes,
            output=out.id,
            layer=source.id,
        )


def _fix(source: Node, classes: int) -> str:
    layer = source.kind.with_width(source.opts, classes)
    if layer is not None:
        return f"make the output layer `{layer}`, or correct data.classes"
    return f"give the output {classes} units (one per class), or correct data.classes"


__all__ = ["ClassImbalance", "OutputWidthMismatch"]
