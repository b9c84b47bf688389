"""Merges: ops that read two or more named tensors (``add(a, b)``)."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, register
from nnlint.units import fmt_shape


class _Merge(Op):
    family = "merge"


@register
class Add(_Merge):
    """Element-wise sum of two or more tensors of one shape (a residual connection).
    Forward: ``(k−1)`` adds per element for ``k`` inputs; backward: 0 (the gradient
    is passed to every input unchanged). The sum is a new tensor."""

    name = "add"
    saves = "nothing"  # the gradient passes to every input unchanged
    result_noun = "sum"
    fusion_host = residual_merge = True

    def infer(self, in_shapes, opts):
        first = in_shapes[0]
        for other in in_shapes[1:]:
            if other != first:
                shapes = " and ".join(fmt_shape(s) for s in in_shapes)
                raise ShapeError(f"add of {shapes}: shapes differ")
        return first

    def cost(self, c):
        e = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * e * (len(c.in_shapes) - 1),
            cached_elements=c.batch * e,
            output_elements=e,
        )


@register
class Concat(_Merge):
    """Concatenation along ``axis`` (default: the channel axis — the C of ``[C, H, W]``,
    the last axis of ``[D]`` and ``[T, D]``). Data movement only: 0 FLOPs."""

    name = "concat"
    saves = "nothing"  # the gradient is sliced back into the inputs
    result_noun = "cat"
    opts = (Opt("axis", "int", None),)

    def infer(self, in_shapes, opts):
        first = in_shapes[0]
        rank = len(first)
        axis = opts["axis"]
        if axis is None:
            axis = 0 if rank == 3 else rank - 1
        if axis < 0:
            axis += rank
        if not 0 <= axis < max(rank, 1):
            raise ShapeError(
                f"concat axis {opts['axis']} is out of range for {fmt_shape(first)}", code="NN007"
            )
        for other in in_shapes[1:]:
            if len(other) != rank or any(
                a != b for i, (a, b) in enumerate(zip(first, other)) if i != axis
            ):
                shapes = " and ".join(fmt_shape(s) for s in in_shapes)
                raise ShapeError(f"concat of {shapes}: shapes differ outside axis {axis}")
        out = list(first)
        out[axis] = sum(s[axis] for s in in_shapes)
        return tuple(out)

    def cost(self, c):
        e = numel(c.out_shape)
        return Cost(cached_elements=c.batch * e, output_elements=e)


@register
class MatMul(_Merge):
    """Matrix product ``a [..., m, k] @ b [..., k, n] -> [..., m, n]`` of two tensors
    (equal leading axes). MACs ``lead·m·k·n``; backward: ∂a and ∂b, ``2·MACs``."""

    name = "matmul"
    result_noun = "prod"
    fusion_host = True

    def infer(self, in_shapes, opts):
        if len(in_shapes) != 2:
            raise ShapeError(
                f"matmul takes exactly two tensors, got {len(in_shapes)}", code="NN010"
            )
        a, b = in_shapes
        if len(a) < 2 or len(b) < 2 or a[:-2] != b[:-2] or a[-1] != b[-2]:
            raise ShapeError(
                f"matmul of {fmt_shape(a)} and {fmt_shape(b)}: expected [..., m, k] @ [..., k, n]"
            )
        return a[:-1] + (b[-1],)

    def cost(self, c):
        a = c.in_shapes[0]
        macs = numel(a) * c.out_shape[-1]
        out = numel(c.out_shape)
        return Cost(
            macs=macs,
            forward_flops=2 * c.batch * macs,
            backward_macs=2 * macs,
            input_grad_macs=2 * macs,
            backward_flops=4 * c.batch * macs,
            cached_elements=c.batch * out,
            output_elements=out,
        )

    def saved(self, c):
        """Both factors: each one's gradient is the other times the output gradient."""
        return (Saved("in0", numel(c.in_shapes[0])), Saved("in1", numel(c.in_shapes[1])))
