"""NN405 layout-copy: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import label
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_percent, fmt_time


@register
class LayoutCopy(PerLineRule):
    """## What it does
    Finds the layout changes — `transpose` and `permute` that reorder the elements
    in memory — on the inference path of a model the target runs memory-bound (the
    memory-bound kernels take at least `min_memory_bound_share` of the roofline's
    kernel time), and reports the bytes each one moves with no arithmetic and its
    share of the inference time, both read from the roofline's row for it. A copy
    under `min_time_share` of the kernel time is not reported. A permutation that
    only moves axes of size 1 keeps the memory order: it is a free view and has no
    row.

    ## Why is this bad?
    A layout change is pure memory traffic (Williams et al. 2009: at zero FLOPs per
    byte it sits at the bottom of the roofline): an inference runtime materializes it
    as a copy kernel (ONNX `Transpose`, TFLite `TRANSPOSE`) that reads the whole
    tensor and writes it again in the new order. On a memory-bound device that time
    is spent on bandwidth the model is already short of. Converting one 224×224×3
    uint8 image from channels-last to channels-first moves 2 × 150,528 = 301,056
    bytes per image for nothing that a model trained on the device's layout, or a
    preprocessing step that writes the layout once, would not need.

    ## Example
    ```
    input img: [224, 224, 3]          # HWC, as the camera delivers it
    x = img -> permute(2, 0, 1) -> conv2d(16, 3, stride=2, padding=1)
    ```

    Use instead: feed the layout the first layer reads (or convert once, outside the
    model), so no copy runs per inference:
    ```
    input img: [3, 224, 224]
    x = img -> conv2d(16, 3, stride=2, padding=1)
    ```

    ## Options
    - `min_memory_bound_share` (default 0.5): the share of the kernel time spent in
      memory-bound kernels from which the model counts as memory-bound on the target.
    - `min_time_share` (default 0.01): the share of the kernel time a copy must take
      to be reported.

    ## References
    - Williams, Waterman & Patterson, "Roofline: An Insightful Visual Performance Model
      for Multicore Architectures", CACM 2009.
    - ONNX operator `Transpose`; TensorFlow Lite builtin `TRANSPOSE`.
    """

    code = "NN405"
    name = "layout-copy"
    severity = Severity.WARNING
    summary = "A transpose or permute copies data with no arithmetic on a memory-bound target"
    options = ("min_memory_bound_share", "min_time_share")
    needs_target = True
    instance = "copy"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        roof = ctx.roofline
        if roof is None or not roof.kernel_time_s:
            return
        share = roof.memory_bound_share
        if share is None or share < ctx.thresholds["min_memory_bound_share"]:
            return
        total = roof.kernel_time_s
        for row in roof.layers:
            node = ctx.report.layer(row.node_id).node
            if not node.kind.moves_data(node.opts, node.in_shapes):
                continue
            if row.time_s / total < ctx.thresholds["min_time_share"]:
                continue
            prec, target = roof.precision, roof.target
            yield self.diag(
                f"{label(node)} reorders its input in memory: on {target.id} a copy kernel "
                f"that moves {fmt_bytes(row.bytes_moved)} at {prec}, batch "
                f"{ctx.totals.deploy_batch}, with no arithmetic, "
                f"{fmt_time(row.time_s)} — "
                f"{fmt_percent(row.time_s / total)} of the estimated kernel time, on a target "
                f"where memory-bound kernels take {fmt_percent(share)} of it",
                node.span,
                fix="feed the model the layout its first layer reads, or convert once outside "
                "the model (preprocessing), so no copy runs per inference",
                layer=node.id,
                bytes_moved=row.bytes_moved,
                time_s=row.time_s,
                time_share=row.time_s / total,
                memory_bound_share=share,
                target=target.id,
                precision=prec,
            )
