"""Questions the rules ask about the lowered graph, answered once for every family.

Each query reads :class:`~nnlint.graph.Lowered` and the roles of the ops
(:mod:`nnlint.ops`); none knows an op by name.

* A value-preserving op (``identity``, ``dropout``, ``flatten``, ``reshape``: an op
  whose :attr:`~nnlint.ops.Op.passes_values` is set) is looked through when a rule
  asks "what produced this tensor" or "what comes after this layer".
* A layer is named by its op and size and its node id, with the line of the spec
  that created it: ``dense(256) `h1/dense#1` (line 5)``.
"""

from __future__ import annotations

from nnlint.graph import Lowered, Node
from nnlint.ops import channel_axis


def label(node: Node) -> str:
    """``dense(256) `h1/dense#1` (line 5)`` — what a person finds in the spec."""
    return f"{op_text(node)} `{node.id}` (line {node.span.line})"


def op_text(node: Node) -> str:
    """The op with the options that size it: ``dense(256)``, ``conv2d(64, 3)``, ``relu``;
    the loss by its kind (``cross_entropy``)."""
    return node.kind.text(node.opts)


def producer(lowered: Lowered, node_id: str) -> Node:
    """The node that computed the values of ``node_id``, looking through value-preserving ops."""
    node = lowered.node(node_id)
    while node.kind.passes_values and node.inputs:
        node = lowered.node(node.inputs[0])
    return node


def next_op(lowered: Lowered, node_id: str) -> Node | None:
    """The op that reads this node's output, looking through value-preserving ops;
    None when the output is read by several ops or by none."""
    current = node_id
    while True:
        succ = lowered.successors(current)
        if len(succ) != 1:
            return None
        nxt = lowered.node(succ[0])
        if not nxt.kind.passes_values:
            return nxt
        current = nxt.id


def class_width(shape) -> int:
    """The class axis of a tensor a loss reads: C of ``[C, H, W]`` and ``[C, D, H, W]``, else
    the last axis."""
    if not shape:
        return 1
    return channel_axis(shape)


def width_source(lowered: Lowered, node: Node) -> Node:
    """The op that set the class axis of ``node``: look back through the ops that keep
    the width (element-wise activations, normalization, dropout and identity)."""
    while node.kind.keeps_width and node.inputs:
        node = lowered.node(node.inputs[0])
    return node


def residual_branches(lowered: Lowered) -> set[str]:
    """Nodes inside a residual branch: on a path from ``a`` to ``b`` of some merge
    ``add(a, b)`` (or ``add(b, a)``) where ``a`` is an earlier tensor of ``b``'s path
    (the skip)."""
    successors, predecessors = lowered.successors, lowered.predecessors
    index = {n: i for i, n in enumerate(lowered.order)}
    inside: set[str] = set()
    for node in lowered.nodes():
        if not node.kind.residual_merge:
            continue
        for a in node.inputs:
            for b in node.inputs:
                if a == b or index[a] >= index[b]:
                    continue
                # Backward from b, staying after a in execution order, then forward from a.
                region = {b}
                stack = [b]
                while stack:
                    for p in predecessors(stack.pop()):
                        if index[p] > index[a] and p not in region:
                            region.add(p)
                            stack.append(p)
                reached = {s for s in successors(a) if s in region}
                stack = list(reached)
                while stack:
                    for s in successors(stack.pop()):
                        if s in region and s not in reached:
                            reached.add(s)
                            stack.append(s)
                if b in reached:
                    inside |= reached
    return inside


__all__ = [
    "class_width",
    "label",
    "next_op",
    "op_text",
    "producer",
    "residual_branches",
    "width_source",
]
