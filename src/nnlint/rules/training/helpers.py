"""What several rules of the training family share."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.graph import Lowered, Node
from nnlint.graph_queries import next_op
from nnlint.ops import Output

FLOAT_TINY = {
    "fp64": 2.0**-1074,
    "fp32": 2.0**-149,
    "tf32": 2.0**-149,
    "bf16": 2.0**-133,
    "fp16": 2.0**-24,
    "fp8": 2.0**-9,
}


def fans(node: Node) -> tuple[int, int]:
    """(fan_in, fan_out) of a linear layer's weight, PyTorch's convention."""
    return node.kind.fans(node.opts, node.in_shapes)


#: What a softmax or a log-softmax writes: a distribution over the class axis.
SOFTMAXES = (Output.DISTRIBUTION, Output.LOG_DISTRIBUTION)


def sig4(x: float) -> str:
    """Four significant digits: 0.002551, 0.05051."""
    return f"{x:.4g}"


def sci(x: float) -> str:
    return f"{x:.2e}"


def squashed(width: int) -> tuple[float, float]:
    """For a softmax over ``width`` inputs in [0, 1] summing to 1: the largest output it
    can give, e/(e + C − 1), and the cross-entropy floor −ln of that."""
    top = math.e / (math.e + width - 1)
    return top, -math.log(top)


def layer_after(lowered: Lowered, node: Node) -> tuple[Node | None, bool]:
    """The op after a layer and whether that is known (False: the output forks)."""
    if not lowered.successors(node.id):
        return None, True
    nxt = next_op(lowered, node.id)
    if nxt is None:
        return None, False
    if nxt.kind.relu_family:  # positively homogeneous: relu then a norm is scale-free too
        after = next_op(lowered, nxt.id)
        if after is not None and after.kind.is_norm:
            return after, True
    return nxt, True


def init_layers(lowered: Lowered) -> Iterator[Node]:
    for node in lowered.nodes():
        if node.kind.linear_layer and node.opts.get("init") is not None:
            yield node
