"""Views that change a tensor's shape and nothing else, and the reductions over one axis.

Axis numbers count the per-sample axes from 0 (the batch axis is never named; PyTorch's
``permute(0, 2, 3, 1)`` on ``[B, C, H, W]`` is ``permute(1, 2, 0)``); a negative axis
counts from the end, as in PyTorch."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Shape, ShapeError, numel, register
from nnlint.units import fmt_shape


def _reshaped_axis(x: Shape, out: Shape, axis: int) -> int | None:
    """The axis of ``out`` holding axis ``axis`` of ``x`` after a reshape (which keeps the
    elements in order): the one of the same size with as many elements after it; None
    when the reshape merges it with a neighbour or splits it."""
    size, inner = x[axis], numel(x[axis + 1 :])
    for index, d in enumerate(out):
        if d == size and numel(out[index + 1 :]) == inner:
            return index
    return None


@register
class Flatten(Op):
    """``[C, H, W] -> [C·H·W]``. A view: no FLOPs, no new memory."""

    name = "flatten"
    saves = "nothing"
    family = "shape"
    is_view = passes_values = True

    def infer(self, in_shapes, opts):
        return (numel(in_shapes[0]),)

    def axis_after(self, opts, in_shapes, out_shape, axis):
        return _reshaped_axis(in_shapes[0], out_shape, axis)

    def cost(self, c):
        return Cost()


@register
class Reshape(Op):
    """``reshape(d1, d2, ...)``; one dimension may be ``-1``. A view: no cost."""

    name = "reshape"
    aliases = ("view",)
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

    def axis_after(self, opts, in_shapes, out_shape, axis):
        return _reshaped_axis(in_shapes[0], out_shape, axis)

    def cost(self, c):
        return Cost()


def _axis(op: str, axis: int, shape: Shape, what: str = "axis") -> int:
    """``axis`` of a per-sample ``shape`` (negative: from the end), or a located error."""
    rank = len(shape)
    if not -rank <= axis < rank:
        raise ShapeError(
            f"{op} {what} {axis} is out of range for {fmt_shape(shape)} (axes 0 to {rank - 1}; "
            f"the batch axis is not counted)",
            code="NN007",
        )
    return axis % rank


class _AxisView(Op):
    """A view over one or more axes: no FLOPs, no new tensor (PyTorch returns a view), the
    values it keeps unchanged; the gradient is the same view of the output gradient."""

    family = "shape"
    is_view = passes_values = True
    saves = "nothing"

    def cost(self, c):
        return Cost()


def _reorders(shape: Shape, order: list[int]) -> bool:
    """Output axis ``i`` is input axis ``order[i]``: True when the elements change their
    order in memory — an axis longer than 1 moves past another one (moving axes of size 1
    changes only the strides)."""
    kept = [axis for axis in order if shape[axis] > 1]
    return kept != sorted(kept)


@register
class Transpose(_AxisView):
    """``transpose(a, b)``: swaps two per-sample axes (PyTorch ``x.transpose(a+1, b+1)``),
    ``[196, 768] -> [768, 196]`` for ``transpose(0, 1)``. A view: no cost."""

    name = "transpose"
    opts = (
        Opt("a", "int", positional=True, required=True),
        Opt("b", "int", positional=True, required=True),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        a, b = _axis(self.name, opts["a"], x), _axis(self.name, opts["b"], x)
        out = list(x)
        out[a], out[b] = out[b], out[a]
        return tuple(out)

    def text(self, opts):
        return f"transpose({opts['a']}, {opts['b']})"

    def axis_after(self, opts, in_shapes, out_shape, axis):
        rank = len(in_shapes[0])
        a, b = opts["a"] % rank, opts["b"] % rank
        return b if axis == a else a if axis == b else axis

    def moves_data(self, opts, in_shapes):
        """A copy at inference unless the two axes swapped keep the memory order."""
        x = in_shapes[0]
        order = list(range(len(x)))
        a, b = opts["a"] % len(x), opts["b"] % len(x)
        order[a], order[b] = order[b], order[a]
        return _reorders(x, order)


@register
class Permute(_AxisView):
    """``permute(p0, p1, …)``: output axis ``i`` is input axis ``p_i`` (PyTorch
    ``x.permute``, per-sample axes: ``permute(1, 2, 0)`` is channels-last). A view: no
    cost."""

    name = "permute"
    opts = (Opt("dims", "intlist", positional=True, required=True),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        dims = [_axis(self.name, d, x) for d in opts["dims"]]
        if sorted(dims) != list(range(len(x))):
            raise ShapeError(
                f"permute{tuple(opts['dims'])} must name every axis of {fmt_shape(x)} once "
                f"(a permutation of 0 to {len(x) - 1})",
                code="NN007",
            )
        return tuple(x[d] for d in dims)

    def text(self, opts):
        return f"permute({', '.join(map(str, opts['dims']))})"

    def axis_after(self, opts, in_shapes, out_shape, axis):
        rank = len(in_shapes[0])
        return [d % rank for d in opts["dims"]].index(axis)

    def moves_data(self, opts, in_shapes):
        """A copy at inference unless the permutation keeps the memory order."""
        x = in_shapes[0]
        return _reorders(x, [d % len(x) for d in opts["dims"]])


@register
class Select(_AxisView):
    """``select(axis, index)``: one position along an axis, which is dropped (PyTorch
    ``x.select(axis+1, index)``; ViT's class token: ``select(0, 0)`` of ``[197, 768]``
    is ``[768]``). A view: no cost (backward writes the gradient into a zero tensor of
    the input's shape, no arithmetic)."""

    name = "select"
    opts = (
        Opt("axis", "int", positional=True, required=True),
        Opt("index", "int", positional=True, required=True),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        axis = _axis(self.name, opts["axis"], x)
        if not -x[axis] <= opts["index"] < x[axis]:
            raise ShapeError(
                f"select index {opts['index']} is out of range for axis {axis} of "
                f"{fmt_shape(x)} (size {x[axis]})",
                code="NN007",
            )
        return x[:axis] + x[axis + 1 :]

    def text(self, opts):
        return f"select({opts['axis']}, {opts['index']})"

    def axis_after(self, opts, in_shapes, out_shape, axis):
        dropped = opts["axis"] % len(in_shapes[0])
        return None if axis == dropped else axis - (dropped < axis)


@register
class Slice(_AxisView):
    """``slice(axis, start, end)``: positions ``start`` to ``end − 1`` of an axis (PyTorch
    ``x.narrow(axis+1, start, end − start)``, Python's ``x[:, start:end]``). A view: no
    cost."""

    name = "slice"
    opts = (
        Opt("axis", "int", positional=True, required=True),
        Opt("start", "int", positional=True, required=True, minimum=0),
        Opt("end", "int", positional=True, required=True, minimum=1),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        axis = _axis(self.name, opts["axis"], x)
        start, end = opts["start"], opts["end"]
        if not start < end <= x[axis]:
            raise ShapeError(
                f"slice({opts['axis']}, {start}, {end}) needs start < end <= {x[axis]}, the "
                f"size of axis {axis} of {fmt_shape(x)}",
                code="NN007",
            )
        out = list(x)
        out[axis] = end - start
        return tuple(out)

    def text(self, opts):
        return f"slice({opts['axis']}, {opts['start']}, {opts['end']})"

    def axis_after(self, opts, in_shapes, out_shape, axis):
        x = in_shapes[0]
        cut = opts["axis"] % len(x) == axis and opts["end"] - opts["start"] < x[axis]
        return None if cut else axis


class _Reduce(Op):
    """A reduction over one axis, which is dropped (PyTorch ``x.sum(axis+1)`` /
    ``x.mean(axis+1)``, ``keepdim=False``). The result is a new tensor."""

    family = "shape"
    saves = "nothing"  # the gradient is broadcast back (mean: divided by n first)
    opts = (Opt("axis", "int", positional=True, required=True),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        axis = _axis(self.name, opts["axis"], x)
        return x[:axis] + x[axis + 1 :]

    def text(self, opts):
        return f"{self.name}({opts['axis']})"


@register
class Sum(_Reduce):
    """``sum(axis)``: forward ``n − 1`` adds per output element (``n`` the axis' size),
    ``numel(x) − numel(y)`` in all; backward 0 (the output gradient is broadcast back)."""

    name = "sum"

    def cost(self, c):
        out = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * (numel(c.x) - out),
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class Mean(_Reduce):
    """``mean(axis)``: the sum (``n − 1`` adds) and one divide per output element,
    ``numel(x)`` FLOPs in all; backward one divide per output element (``g/n``, then
    broadcast back)."""

    name = "mean"

    def cost(self, c):
        out = numel(c.out_shape)
        return Cost(
            forward_flops=c.batch * numel(c.x),
            backward_flops=c.batch * out,
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class PixelShuffle(Op):
    """``pixel_shuffle(r)``: ``[C·r², H, W] -> [C, H·r, W·r]`` (PyTorch ``nn.PixelShuffle``;
    Shi et al. 2016's sub-pixel convolution, the upsampling of ESPCN, EDSR and SRGAN): each
    group of ``r²`` channels becomes an ``r × r`` block of pixels.

    A copy, not a view: for ``r > 1`` its output's memory order interleaves the channels
    into the pixels, which no strides of the input express, so eager PyTorch writes a new
    contiguous tensor (unlike ``transpose`` and ``permute``, views there that become copies
    only in an inference runtime) and runtimes run one copy kernel (ONNX ``DepthToSpace``
    in CRD mode, TFLite ``DEPTH_TO_SPACE``) that reads the input and writes the output — as
    ``concat``: no FLOPs, a new output kept for the backward pass, whose gradient is the
    inverse shuffle of the output gradient (a copy, no FLOPs; autograd saves nothing).
    """

    name = "pixel_shuffle"
    aliases = ("depth_to_space",)
    saves = "nothing"  # pixel_unshuffle of the gradient needs only the factor
    family = "shape"
    min_rank = max_rank = 3
    opts = (Opt("upscale_factor", "int", positional=True, required=True, minimum=1),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        r = opts["upscale_factor"]
        if x[0] % (r * r):
            raise ShapeError(
                f"pixel_shuffle({r}) needs channels divisible by {r}² = {r * r}, the input is "
                f"{fmt_shape(x)}",
                fix=f"give the layer before it a multiple of {r * r} channels",
            )
        return (x[0] // (r * r), x[1] * r, x[2] * r)

    def text(self, opts):
        return f"pixel_shuffle({opts['upscale_factor']})"

    def cost(self, c):
        e = numel(c.out_shape)
        return Cost(cached_elements=c.batch * e, output_elements=e)
