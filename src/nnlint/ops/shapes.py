"""Views that change a tensor's shape and nothing else."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, ShapeError, numel, register
from nnlint.units import fmt_shape


@register
class Flatten(Op):
    """``[C, H, W] -> [C·H·W]``. A view: no FLOPs, no new memory."""

    name = "flatten"
    saves = "nothing"
    family = "shape"
    is_view = passes_values = True

    def infer(self, in_shapes, opts):
        return (numel(in_shapes[0]),)

    def cost(self, c):
        return Cost()


@register
class Reshape(Op):
    """``reshape(d1, d2, ...)``; one dimension may be ``-1``. A view: no cost."""

    name = "reshape"
    saves = "nothing"
    family = "shape"
    is_view = passes_values = True
    opts = (Opt("dims", "intlist", positional=True, required=True),)

    def infer(self, in_shapes, opts):
        dims = list(opts["dims"])
        n = numel(in_shapes[0])
        if dims.count(-1) > 1:
            raise ShapeError("reshape allows at most one -1 dimension", code="NN007")
        if any(d == 0 or d < -1 for d in dims):
            raise ShapeError(
                f"reshape dimensions must be positive (or one -1), got {dims}", code="NN007"
            )
        known = numel([d for d in dims if d != -1])
        if -1 in dims:
            if n % known:
                raise ShapeError(
                    f"cannot reshape {fmt_shape(in_shapes[0])} ({n} elements) to {fmt_shape(dims)}"
                )
            dims[dims.index(-1)] = n // known
        if numel(dims) != n:
            raise ShapeError(
                f"cannot reshape {fmt_shape(in_shapes[0])} ({n} elements) to "
                f"{fmt_shape(dims)} ({numel(dims)} elements)"
            )
        return tuple(dims)

    def cost(self, c):
        return Cost()
