"""NN114 bias-before-norm: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import label, op_text
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.units import fmt_int


@register
class BiasBeforeNorm(PerLineRule):
    """## What it does
    Finds a layer with a bias (`dense`, `conv1d`/`2d`/`3d`, `conv_transpose2d`/`3d`,
    attention's output projection) whose output goes straight into a normalization
    that subtracts a mean taken over values that all received the same bias value —
    so the whole bias cancels — and reports the exact number of parameters wasted.
    The layer's output must have no other reader (a residual branch that also reads
    it sees the bias). Frozen layers (`trainable=false`) are not reported.

    Whether the bias cancels depends on the norm's axes:
    - `batchnorm` takes one mean per channel, over the batch and the positions: a
      conv2d's per-channel bias (`[C, H, W]`) or a dense layer's per-feature bias
      (`[D]`, `[T, D]`) cancels entirely;
    - `layernorm` takes one mean per row, across the features: a dense layer's
      per-feature bias is *not* cancelled — only its mean, one value, is — and the
      rule stays silent;
    - `groupnorm(g)` cancels a per-channel bias only with one channel per group;
    - `instancenorm` takes one mean per channel of each sample, over its positions: a
      per-channel bias cancels entirely;
    - `rmsnorm` subtracts no mean (x / rms(x)): a bias before it always counts.

    ## Why is this bad?
    Batchnorm computes (x − μ)/σ·γ + β with μ the mean over the batch of each
    channel; a bias b_c adds the same value to every element of channel c, so μ
    grows by b_c and x − μ is unchanged: the bias has no effect on the output and
    receives a zero gradient, while still taking parameters, gradient memory and
    optimizer state. The norm's own β already gives each channel a learned shift.
    This is why batch-normalized networks are built without it (Ioffe & Szegedy
    2015, §3.2: "the bias b can be ignored since its effect will be canceled by the
    subsequent mean subtraction"; ResNet, He et al. 2016). A conv2d(64, 3) before
    a batchnorm wastes 64 parameters; the 53 convolutions of ResNet-50 would
    waste 26,560.

    ## Example
    ```
    h = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
    ```

    Use instead:
    ```
    h = img -> conv2d(64, 3, padding=1, bias=false) -> batchnorm -> relu
    ```
    The fix (safe: the outputs are the same) sets `bias=false`; it is offered only
    when every layer made from that line (each call of a block) has the finding.

    ## Options
    None: the condition is exact.

    ## References
    - Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
      Reducing Internal Covariate Shift", ICML 2015, §3.2.
    - Ba, Kiros & Hinton, "Layer Normalization", 2016 (statistics over the features).
    - Zhang & Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019 (no mean).
    """

    code = "NN114"
    name = "bias-before-norm"
    severity = Severity.WARNING
    summary = "A bias right before a normalization that subtracts it again"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        """The grouped findings, each with the parameters wasted by all the layers of its
        line."""
        wasted: dict = {}
        for d in self.findings(ctx):
            wasted[d.span] = wasted.get(d.span, 0) + d.data["wasted_params"]
        for d in super().check(ctx):
            if d.data.get("instances", 1) > 1:
                total = wasted[d.span]
                d = attrs.evolve(
                    d,
                    message=f"{d.message}: {fmt_int(total)} parameters wasted in all",
                    data={**d.data, "wasted_params_line": total},
                )
            yield d

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in lowered.nodes():
            if not node.trainable:
                continue
            axis = node.kind.bias_axis(node.opts, node.shape)
            if axis is None:
                continue
            readers = lowered.successors(node.id)
            if len(readers) != 1:
                continue
            norm = lowered.node(readers[0])
            if not norm.kind.subtracts_mean or len(norm.inputs) != 1:
                continue
            size = node.shape[axis]
            if norm.kind.means_along(norm.opts, norm.in_shapes[0], axis) != size:
                continue  # the mean is taken across the bias's axis: only part of it cancels
            yield self.diag(
                f"{label(node)} adds a bias of {fmt_int(size)} values that the "
                f"{op_text(norm)} right after it subtracts again (each bias value is constant "
                f"over the values its mean is taken over, so x − μ does not change): "
                f"{fmt_int(size)} parameters, with their gradients and optimizer state, that "
                f"cannot change the output"
                + (
                    "; the norm's β already shifts each channel"
                    if norm.kind.learned_shift(norm.opts)
                    else ""
                ),
                node.span,
                fix=f"set bias=false on {op_text(node)}",
                layer=node.id,
                norm=norm.id,
                wasted_params=size,
            )
