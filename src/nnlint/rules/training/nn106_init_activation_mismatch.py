"""NN106 init-activation-mismatch: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Lowered
from nnlint.graph_queries import label
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import fans, init_layers, layer_after, sci, sig4


@register
class InitActivationMismatch(PerLineRule):
    """## What it does
    Checks a named initialization scheme against the activation after the layer
    (`dense` and the convolutions, 1-D to 3-D and transposed; looking through `dropout`,
    `identity`, `flatten` and
    `reshape`):

    - `init=he` followed by `sigmoid` or `tanh`;
    - `init=xavier` or `init=lecun` on a deep stack of ReLU layers: at least
      `xavier_relu_layers` layers in a row, each followed by a ReLU-family
      activation (relu, relu6, leaky_relu, prelu), with no normalization, merge
      or differently initialized layer between them.

    A layer followed by a normalization is skipped: the normalization divides the
    scale out.

    ## Why is this bad?
    Var(z) = n_in·Var(w)·Var(x) (LeCun et al. 1998, Efficient BackProp). He's Var(w) =
    2/n_in doubles the variance-preserving 1/n_in because ReLU zeroes about half the units;
    Xavier's 2/(n_in + n_out) is meant for sigmoid and tanh (Glorot & Bengio 2010; He et al.
    2015). For the 784 → 256 MNIST layer: He 2/784 = 0.00255 (std 0.0505), Xavier 2/1040 =
    0.00192 (std 0.0438; the exact value is 0.04385).

    - He before a sigmoid or tanh gives every layer (n_in + n_out)/n_in times
      Xavier's variance (1.33× for 784 → 256, 2× for square layers), pushing the
      pre-activations into the saturated range.
    - Xavier before a ReLU is off by 2× for square layers (2/(2n) = 1/n against
      2/n): each layer halves the signal's variance, 0.5^L over L layers.
      He et al. (2015) trained a 22-layer ReLU net with Xavier more slowly than
      with He, and a 30-layer one not at all.

    ## Example
    ```
    h = x -> dense(256, init=he) -> sigmoid
    ```

    Use instead:
    ```
    h = x -> dense(256, init=xavier) -> sigmoid
    ```

    ## Options
    - `xavier_relu_layers` (default 20): report Xavier/LeCun-initialized ReLU stacks
      of at least this many layers (He et al. 2015: 22 layers slower, 30 stalled).

    ## References
    - He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, §2.2 and Fig. 3.
    """

    code = "NN106"
    name = "init-activation-mismatch"
    severity = Severity.WARNING
    summary = "An initialization scheme meant for another activation"
    options = ("xavier_relu_layers",)

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in init_layers(lowered):
            if node.opts["init"].scheme != "he":
                continue
            following, _ = layer_after(lowered, node)
            if following is None or not following.kind.saturating:
                continue
            fan_in, fan_out = fans(node)
            he, xavier = 2 / fan_in, 2 / (fan_in + fan_out)
            yield self.diag(
                f"init=he on {label(node)} before a {following.op} (line {following.span.line}): "
                f"He's Var(w) = 2/{fan_in} = {sig4(he)} (std {sig4(math.sqrt(he))}) assumes "
                f"a ReLU that zeroes half the units; for {following.op} Glorot & Bengio 2010 "
                f"recommend Xavier "
                f"2/({fan_in}+{fan_out}) = 2/{fan_in + fan_out} = {sig4(xavier)} "
                f"(std {sig4(math.sqrt(xavier))}), {he / xavier:.2f}× smaller",
                node.span,
                fix="use `init=xavier` before sigmoid or tanh (or switch the activation to relu)",
                scheme="he",
                activation=following.op,
                variance=he,
                target_variance=xavier,
                target_std=math.sqrt(xavier),
            )
        yield from self._xavier_relu_stacks(ctx, lowered)

    def _xavier_relu_stacks(self, ctx: RuleContext, lowered: Lowered) -> Iterator[Diagnostic]:
        need = int(ctx.thresholds["xavier_relu_layers"])
        # run[v] = (layers, first layer id) of the Xavier/LeCun ReLU layers in a row up to v.
        run: dict[str, tuple[int, str | None]] = {}
        longest: dict[str, tuple[int, str]] = {}  # first layer id -> (layers, last layer id)
        for node in lowered.nodes():
            prev = run.get(node.inputs[0], (0, None)) if len(node.inputs) == 1 else (0, None)
            if node.kind.linear_layer:
                init = node.opts.get("init")
                following = None
                if init is not None and init.scheme in ("xavier", "lecun"):
                    following, _ = layer_after(lowered, node)
                if following is not None and following.kind.relu_family:
                    count, first = prev[0] + 1, prev[1] or node.id
                    run[node.id] = (count, first)
                    if count > longest.get(first, (0, ""))[0]:
                        longest[first] = (count, node.id)
                else:
                    run[node.id] = (0, None)
            elif node.kind.is_norm or node.kind.is_loss or node.kind.has_weights:
                run[node.id] = (0, None)
            else:
                run[node.id] = prev
        for first, (count, last) in longest.items():
            if count >= need:
                yield self._stack(lowered, first, last, count)

    def _stack(self, lowered: Lowered, first_id: str, last_id: str, count: int) -> Diagnostic:
        first, last = lowered.node(first_id), lowered.node(last_id)
        gain = 1.0
        node = last
        while True:  # walk the stack back from its last layer
            if node.kind.linear_layer:
                fan_in, fan_out = fans(node)
                v = 2 / (fan_in + fan_out) if node.opts["init"].scheme == "xavier" else 1 / fan_in
                gain *= fan_in * v / 2  # Var(z) gain of one ReLU layer: n_in·Var(w)·½
            if node.id == first_id:
                break
            node = lowered.node(node.inputs[0])
        fan_in, fan_out = fans(first)
        scheme = first.opts["init"].scheme
        mine = 2 / (fan_in + fan_out) if scheme == "xavier" else 1 / fan_in
        formula = (
            f"2/({fan_in}+{fan_out}) = {sig4(mine)}"
            if scheme == "xavier"
            else f"1/{fan_in} = {sig4(mine)}"
        )
        return self.diag(
            f"{count} ReLU layers in a row use init={scheme}, from {label(first)} to "
            f"`{last.id}` (line {last.span.line}): ReLU needs He's 2/n_in (here "
            f"2/{fan_in} = {sig4(2 / fan_in)}) but {scheme} gives {formula}, "
            f"{2 / fan_in / mine:.2f}× less, so each layer shrinks the signal's variance "
            f"(×0.5 for square layers): over the {count} layers by {sci(gain)}",
            first.span,
            fix="use `init=he` for layers followed by relu",
            layers=count,
            scheme=scheme,
            variance_gain=gain,
            first=first.id,
            last=last.id,
        )
