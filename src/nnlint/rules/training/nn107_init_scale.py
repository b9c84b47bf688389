"""NN107 init-scale: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Lowered, Node
from nnlint.graph_queries import label, residual_branches
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import fans, init_layers, layer_after, sig4


def _recommended_init(node: Node, following: Node | None) -> tuple[str, str, float] | None:
    """(scheme, formula, variance) recommended for a layer followed by ``following``
    (Glorot & Bengio 2010; He et al. 2015); None when a normalization follows (its output does
    not depend on the weights' scale)."""
    fan_in, fan_out = fans(node)
    if following is not None and following.kind.is_norm:
        return None
    scheme = following.kind.init_for if following is not None else None
    if scheme == "he":
        return "He", f"2/{fan_in}", 2 / fan_in
    if scheme == "xavier":
        return ("Xavier", f"2/({fan_in}+{fan_out}) = 2/{fan_in + fan_out}", 2 / (fan_in + fan_out))
    return "LeCun", f"1/{fan_in}", 1 / fan_in


@register
class InitScale(PerLineRule):
    """## What it does
    Compares an explicit weight scale — `init=normal(std)`, `init=uniform(a)`
    (U(−a, a), variance a²/3) or `init=ones` (E[w²] = 1) on `dense` and the convolutions
    — with the variance recommended for the activation after the layer, and
    reports the layer when they differ by `variance_ratio` or more either way.
    The target is He's 2/n_in before a ReLU-family activation (and elu, gelu,
    silu), Xavier's 2/(n_in + n_out) before sigmoid or tanh, and the
    variance-preserving (LeCun) 1/n_in before anything else (logits, a softmax).

    Skipped: a layer followed by a normalization (it divides the scale out); a
    layer inside a residual branch (between a tensor and the `add` that adds it
    back), where the skip carries the signal and small initializations are
    deliberate (GPT-2 scales residual projections down; Fixup starts them at 0);
    and an output layer (no weight layer after it) initialized *smaller* than
    the target, which only makes the first predictions closer to uniform.

    ## Why is this bad?
    Var(z) = n_in·Var(w)·Var(x) (LeCun et al. 1998, Efficient BackProp): if n_in·Var(w) is
    off, the signal's variance is multiplied by that factor at every such layer and explodes
    or vanishes with depth; σ_w² = 1 explodes, σ_w² = 0.01 vanishes (He et al. 2015). nnlint
    reports the exact target for the layer; for the 784 → 256 MNIST layer before a ReLU: He
    2/784 = 0.00255, std 0.0505; before a sigmoid: Xavier 2/1040 = 0.00192, std 0.0438
    (0.04385 exactly).

    ## Example
    ```
    h1 = x -> dense(256, init=normal(0.01)) -> relu
    ```

    Use instead:
    ```
    h1 = x -> dense(256, init=he) -> relu
    ```

    ## Options
    - `variance_ratio` (default 4): report a variance at least this many times
      above or below the target (std off by 2×).
    """

    code = "NN107"
    name = "init-scale"
    severity = Severity.WARNING
    summary = "Initial weights far from the variance the next activation needs"
    options = ("variance_ratio",)

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        ratio_limit = float(ctx.thresholds["variance_ratio"])
        branches: set[str] | None = None
        heads: set[str] | None = None  # found on first need: most specs set no init=
        for node in init_layers(lowered):
            init = node.opts["init"]
            if init.scheme == "normal":
                var = init.std**2
                given = f"init=normal({init.std:g}) gives Var(w) = {sig4(var)}"
            elif init.scheme == "uniform":
                var = init.std**2 / 3
                given = f"init=uniform({init.std:g}) gives Var(w) = {init.std:g}²/3 = {sig4(var)}"
            elif init.scheme == "ones":
                var, given = 1.0, "init=ones sets every weight to 1 (E[w²] = 1)"
            else:
                continue
            following, known = layer_after(lowered, node)
            if not known:
                continue
            target = _recommended_init(node, following)
            if target is None:
                continue
            if branches is None:
                branches = residual_branches(lowered)
            if node.id in branches:
                continue
            scheme, formula, want = target
            if var == 0:
                continue  # normal(0) is a constant: NN108's case
            ratio = var / want
            if 1 / ratio_limit < ratio < ratio_limit:
                continue
            if ratio < 1 and heads is None:
                heads = _output_layers(lowered)
            if ratio < 1 and node.id in heads:
                continue  # small initial logits only mean a near-uniform first prediction
            after = (
                f"for the {following.op} after it"
                if scheme != "LeCun"
                else "for a layer with no activation after it"
            )
            how = f"{ratio:.3g}× above" if ratio > 1 else f"{1 / ratio:.3g}× below"
            fan_in = fans(node)[0]
            gain = ""
            if scheme == "He":  # Var(z) gain of a ReLU layer: n_in·Var(w)·½ (He et al. 2015)
                gain = (
                    f"; each layer like this scales the signal's variance by "
                    f"{fan_in}·Var(w)/2 = {fan_in * var / 2:.3g}"
                )
            elif scheme == "LeCun":
                gain = (
                    f"; each layer like this scales the signal's variance by "
                    f"{fan_in}·Var(w) = {fan_in * var:.3g}"
                )
            yield self.diag(
                f"{given} on {label(node)}, {how} the {scheme} variance {after}: "
                f"{formula} = {sig4(want)} (std {sig4(math.sqrt(want))}){gain}",
                node.span,
                fix=f"use `init={scheme.lower()}` or `init=normal({sig4(math.sqrt(want))})`",
                variance=var,
                target_variance=want,
                target_std=math.sqrt(want),
                target_scheme=scheme,
                ratio=ratio,
            )


def _output_layers(lowered: Lowered) -> set[str]:
    """Weight layers with no weight layer after them (the model's output heads)."""
    successors, by_id = lowered.successors, lowered.by_id
    feeds: dict[str, bool] = {}  # does a weight layer read this node's output, at any depth?
    heads: set[str] = set()
    for v in reversed(lowered.order):
        feeds[v] = any(feeds[s] or by_id[s].kind.has_weights for s in successors(v))
        if not feeds[v] and by_id[v].kind.has_weights:
            heads.add(v)
    return heads
