"""Pooling over the spatial axes of ``[C, H, W]``."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, register
from nnlint.ops.layers import conv_out
from nnlint.units import fmt_shape


class _Pool(Op):
    min_rank = max_rank = 3
    opts = (
        Opt("kernel", "int", positional=True, required=True, minimum=1),
        Opt("stride", "int", None, minimum=1),
        Opt("padding", "int", 0, minimum=0),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        k, p = opts["kernel"], opts["padding"]
        s = opts["stride"] or k
        if 2 * p > k:
            raise ShapeError(
                f"{self.name} padding {p} must be at most half the kernel {k}", code="NN007"
            )
        ho, wo = conv_out(x[1], k, s, p, 1), conv_out(x[2], k, s, p, 1)
        if ho < 1 or wo < 1:
            raise ShapeError(f"{self.name} kernel {k} is larger than the input {fmt_shape(x)}")
        return (x[0], ho, wo)


@register
class MaxPool(_Pool):
    """Max pooling. Forward: ``k²−1`` comparisons per output element; backward: one add
    per output element (the gradient is routed to the arg-max). No parameters."""

    name = "maxpool"

    def saved(self, c):
        """Its input and the int64 arg-max of each output (``max_pool2d_with_indices``)."""
        return (Saved("in0", numel(c.x)), Saved("indices", numel(c.out_shape), kind="index"))

    def cost(self, c):
        out, k = numel(c.out_shape), c.opts["kernel"]
        return Cost(
            forward_flops=c.batch * out * (k * k - 1),
            backward_flops=c.batch * out,
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class AvgPool(_Pool):
    """Average pooling. Forward: ``k²−1`` adds + 1 divide = ``k²`` per output element;
    backward: 1 divide + ``k²`` adds = ``k²+1`` per output element."""

    name = "avgpool"
    saves = "input"  # avg_pool2d_backward(grad, self, …)

    def cost(self, c):
        out, k = numel(c.out_shape), c.opts["kernel"]
        return Cost(
            forward_flops=c.batch * out * k * k,
            backward_flops=c.batch * out * (k * k + 1),
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class GlobalAvgPool(Op):
    """Mean over H and W: ``[C, H, W] -> [C, 1, 1]`` (PyTorch ``AdaptiveAvgPool2d(1)``).
    Forward ``C·(HW−1)`` adds + ``C`` divides = ``C·H·W``; backward the same count
    (one divide per channel, one add per input element)."""

    name = "global_avgpool"
    saves = "nothing"  # a mean over H and W: its backward needs only the shape
    min_rank = max_rank = 3

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return (in_shapes[0][0], 1, 1)

    def cost(self, c):
        n = numel(c.x)
        return Cost(
            forward_flops=c.batch * n,
            backward_flops=c.batch * n,
            cached_elements=c.batch * c.out_shape[0],
            output_elements=c.out_shape[0],
        )


def _adaptive_windows(size: int, out: int) -> int:
    """Sum of the window lengths PyTorch's adaptive pooling uses along one axis."""
    return sum(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))


@register
class AdaptiveAvgPool(Op):
    """PyTorch ``AdaptiveAvgPool2d((h, w))``: windows ``[⌊i·H/h⌋, ⌈(i+1)·H/h⌉)``.
    Forward and backward: one FLOP per element of every window (adds, plus one
    divide per output standing in for the last add)."""

    name = "adaptive_avgpool"
    saves = "input"  # _adaptive_avg_pool2d_backward(grad, self)
    min_rank = max_rank = 3
    opts = (
        Opt("height", "int", positional=True, required=True, minimum=1),
        Opt("width", "int", positional=True, required=True, minimum=1),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return (in_shapes[0][0], opts["height"], opts["width"])

    def cost(self, c):
        ch, h, w = c.x
        _, oh, ow = c.out_shape
        work = ch * _adaptive_windows(h, oh) * _adaptive_windows(w, ow)
        out = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * work,
            backward_flops=c.batch * work,
            cached_elements=c.batch * out,
            output_elements=out,
        )
