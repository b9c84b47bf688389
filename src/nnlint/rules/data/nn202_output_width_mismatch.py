"""NN202 output-width-mismatch: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Node
from nnlint.graph_queries import class_width, label, width_source
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_int, fmt_shape

#: Losses that need one output per class; with one output and two classes anything else
#: (bce, hinge, mse, ...) reads a single score for the positive class.
PER_CLASS_LOSSES = frozenset({"cross_entropy", "focal", "kl_div"})


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
    severity = Severity.ERROR
    summary = "The output layer's width differs from the number of classes"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        data = ctx.sections.data
        classes = data.classes or (len(data.counts) if data.counts else None)
        if classes is None:
            return
        lowered = ctx.report.lowered
        loss_kind = None
        if lowered.losses:
            # of a summed loss, the term that classifies (the classes are its targets)
            terms = [lowered.node(loss_id) for loss_id in lowered.losses]
            loss = next((t for t in terms if t.loss in PER_CLASS_LOSSES | {"bce"}), terms[0])
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
