"""Merges: ops that read two or more named tensors (``add(a, b)``)."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, channel_index, numel, register
from nnlint.units import fmt_shape


class _Merge(Op):
    family = "merge"


def broadcast(name: str, in_shapes) -> tuple[int, ...]:
    """NumPy's broadcasting over per-sample shapes: shapes are aligned on their last axis,
    a missing leading axis counts as 1, and each axis' sizes must be equal or 1
    (``[C, H, W]`` with ``[C, 1, 1]`` is ``[C, H, W]``; ``[T, D]`` with ``[D]`` is
    ``[T, D]``)."""
    rank = max(len(s) for s in in_shapes)
    out = []
    for i in range(rank):
        sizes = {s[i - rank + len(s)] for s in in_shapes if i - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            shapes = " and ".join(fmt_shape(s) for s in in_shapes)
            raise ShapeError(
                f"{name} of {shapes}: shapes differ and do not broadcast (axis {i} of the "
                f"result has sizes {' and '.join(map(str, sorted(sizes)))}; each must be "
                f"equal or 1, aligned on the last axis as in NumPy)"
            )
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def reduction_adds(in_shapes, out_shape) -> int:
    """Per sample: the adds that sum the output gradient over the axes an input was
    broadcast along, ``Σ_i (numel(out) − numel(x_i))`` (0 when no input is broadcast)."""
    return sum(numel(out_shape) - numel(s) for s in in_shapes)


class _Elementwise(_Merge):
    """An element-wise merge of two or more tensors that broadcast (see :func:`broadcast`);
    the result is a new tensor."""

    fusion_host = True

    def infer(self, in_shapes, opts):
        return broadcast(self.name, in_shapes)


@register
class Add(_Elementwise):
    """Element-wise sum of two or more tensors (a residual connection), broadcast like
    NumPy over the per-sample shapes. Forward: ``(k−1)`` adds per output element for
    ``k`` inputs. Backward: the gradient is passed to every input unchanged, except that
    an input broadcast along some axes gets it summed over them:
    ``Σ_i (numel(y) − numel(x_i))`` adds per sample (0 without broadcasting)."""

    name = "add"
    saves = "nothing"  # the gradient passes to every input unchanged
    result_noun = "sum"
    residual_merge = True

    def cost(self, c):
        e = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * e * (len(c.in_shapes) - 1),
            backward_flops=c.batch * reduction_adds(c.in_shapes, c.out_shape),
            cached_elements=c.batch * e,
            output_elements=e,
        )


@register
class Mul(_Elementwise):
    """Element-wise product of two or more tensors, broadcast like NumPy (SwiGLU's gate
    ``mul(g, u)``, squeeze-and-excitation's ``[C, H, W] · [C, 1, 1]``). Forward: ``(k−1)``
    multiplies per output element. Backward: each input's gradient is the output gradient
    times the other ``k−1`` inputs, ``k·(k−1)`` multiplies per output element, plus the
    sums over broadcast axes (as ``add``)."""

    name = "mul"
    aliases = ("multiply",)
    result_noun = "prod"

    def saved(self, c):
        """Every factor: each one's gradient is the product of the others and the output's."""
        return tuple(Saved(f"in{i}", numel(s)) for i, s in enumerate(c.in_shapes))

    def cost(self, c):
        e, k = numel(c.out_shape), len(c.in_shapes)
        return Cost(
            forward_flops=c.batch * e * (k - 1),
            backward_flops=c.batch * (k * (k - 1) * e + reduction_adds(c.in_shapes, c.out_shape)),
            cached_elements=c.batch * e,
            output_elements=e,
        )


@register
class Sub(_Elementwise):
    """Element-wise difference ``a − b`` of two tensors, broadcast like NumPy. Forward: one
    subtract per output element. Backward: ``a`` gets the output gradient, ``b`` its
    negation (one per output element), plus the sums over broadcast axes (as ``add``)."""

    name = "sub"
    aliases = ("subtract",)
    saves = "nothing"  # the gradient and its negation
    result_noun = "diff"

    def infer(self, in_shapes, opts):
        if len(in_shapes) != 2:
            raise ShapeError(f"sub takes exactly two tensors, got {len(in_shapes)}", code="NN010")
        return super().infer(in_shapes, opts)

    def cost(self, c):
        e = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * e,
            backward_flops=c.batch * (e + reduction_adds(c.in_shapes, c.out_shape)),
            cached_elements=c.batch * e,
            output_elements=e,
        )


@register
class Concat(_Merge):
    """Concatenation along ``axis`` (default: the channel axis — the C of ``[C, H, W]`` and
    ``[C, D, H, W]``, the last axis of ``[D]`` and ``[T, D]``). Data movement only: 0
    FLOPs."""

    name = "concat"
    aliases = ("cat", "concatenate")
    saves = "nothing"  # the gradient is sliced back into the inputs
    result_noun = "cat"
    opts = (Opt("axis", "int", None),)

    def infer(self, in_shapes, opts):
        first = in_shapes[0]
        rank = len(first)
        axis = opts["axis"]
        if axis is None:
            axis = channel_index(first)
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
