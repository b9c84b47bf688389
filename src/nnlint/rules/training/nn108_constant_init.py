"""NN108 constant-init: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Lowered, Node
from nnlint.graph_queries import label, next_op
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import SOFTMAXES, init_layers


@register
class ConstantInit(PerLineRule):
    """## What it does
    Reports `init=zeros` or `init=ones` (or `normal(0)`) on a `dense` or `conv2d`
    layer when the symmetry it creates can never break:

    - the layers that read it are constant-initialized too (through activations,
      normalization and value-preserving ops, before any merge), so its units
      have identical incoming *and* outgoing weights; or
    - it is zero-initialized and followed by `relu` or `relu6`: with biases at 0
      every pre-activation is exactly 0, where the derivative is 0.

    A constant layer read by a randomly initialized one, or by the loss, is left
    alone: its units get different gradients through their different outgoing
    weights (zero-initialized output heads, the last layer of a residual branch
    in Fixup, and LoRA's zero B matrix all train).

    ## Why is this bad?
    With zero (or any constant) weights every neuron of the layer computes the same output
    and receives the same gradient, so symmetry never breaks and the layer behaves like one
    neuron; learning fails (Goodfellow et al. 2016, Deep Learning §8.4). Biases may be zero.
    Zero weights before a ReLU are worse: the units output 0, receive no gradient, never
    update, and no gradient passes them to earlier layers.

    ## Example
    ```
    h1     = x  -> dense(256, init=zeros) -> sigmoid
    logits = h1 -> dense(10, init=zeros)
    ```

    Use instead:
    ```
    h1     = x  -> dense(256, init=xavier) -> sigmoid
    logits = h1 -> dense(10, init=zeros)      # an output head may start at 0
    ```
    """

    code = "NN108"
    name = "constant-init"
    severity = Severity.ERROR
    summary = "Constant initial weights whose symmetry never breaks"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in init_layers(lowered):
            init = node.opts["init"]
            if not _constant(init):
                continue
            units = node.kind.units(node.opts)
            what = "every weight 0" if init.scheme != "ones" else "every weight 1"
            following = next_op(lowered, node.id)
            dead = following is not None and following.kind.dead_at_zero
            if init.scheme != "ones" and dead:
                yield self.diag(
                    f"{label(node)} starts with {what} and its biases at 0, so all {units} "
                    f"pre-activations are exactly 0, where {following.op}' = 0: the units output "
                    f"0, receive no gradient and never update, and no gradient reaches the "
                    f"layers before them",
                    node.span,
                    fix="use `init=he` before relu (zero init suits biases, an output head or "
                    "the last layer of a residual branch)",
                    units=units,
                    scheme=init.scheme,
                    activation=following.op,
                )
                continue
            readers = _readers(lowered, node.id)
            if not readers or units < 2:
                continue
            names = ", ".join(label(r) for r in readers)
            yield self.diag(
                f"{label(node)} starts with {what}, and so does {names} that reads it: its "
                f"{units} units compute the same output and receive the same gradient at every "
                f"step, so the layer behaves like one neuron ({units - 1} of its {units} units "
                f"are copies)",
                node.span,
                fix="initialize the hidden layer randomly (`init=he` before relu, "
                "`init=xavier` before sigmoid/tanh)",
                units=units,
                scheme=init.scheme,
                readers=[r.id for r in readers],
            )


def _constant(init) -> bool:
    return init.scheme in ("zeros", "ones") or (
        init.scheme in ("normal", "uniform") and init.std == 0
    )


def _readers(lowered: Lowered, node_id: str) -> list[Node]:
    """The weight layers that read ``node_id`` through element-wise and value-preserving
    ops, if every one of them is constant-initialized; [] otherwise."""
    found: list[Node] = []
    stack = [node_id]
    seen = {node_id}
    while stack:
        for s in lowered.successors(stack.pop()):
            if s in seen:
                continue
            seen.add(s)
            node = lowered.node(s)
            if node.kind.multiplies_weights:
                init = node.opts.get("init")
                if init is None or not _constant(init):
                    return []
                found.append(node)
            elif node.kind.is_loss or node.kind.family == "merge" or node.kind.output in SOFTMAXES:
                return []  # distinct targets or other operands break the symmetry
            else:
                stack.append(s)
    return found
