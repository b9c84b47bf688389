"""Pooling and upsampling over the spatial axes of ``[C, L]``, ``[C, H, W]`` and
``[C, D, H, W]``."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, per_axis, register, shown
from nnlint.ops.layers import conv_out
from nnlint.units import fmt_shape


def pool_out(size: int, k: int, stride: int, padding: int, ceil: bool) -> int:
    """PyTorch's pooling output size: ``⌊(L + 2p − k)/s⌋ + 1``, or with ``ceil=true``
    ``⌈(L + 2p − k)/s⌉ + 1`` less one when the last window would start in the right
    padding (``ceil_mode``: every window starts inside the input or its left padding)."""
    if not ceil:
        return conv_out(size, k, stride, padding, 1)
    out = -(-(size + 2 * padding - k) // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


#: How a message names the layout of a pool's input, by its number of spatial axes.
_LAYOUT = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}


class _Pool(Op):
    """Pooling over ``[C, L]`` (1-D, PyTorch ``MaxPool1d``/``AvgPool1d``), ``[C, H, W]``
    (2-D) or ``[C, D, H, W]`` (3-D: video clips and volumes, ``MaxPool3d``/``AvgPool3d``);
    kernel, stride and padding take one number for every axis or one per axis, a (height,
    width) pair or a (depth, height, width) triple. ``ceil=true`` is PyTorch's
    ``ceil_mode``."""

    min_rank = 2
    max_rank = 4
    opts = (
        Opt("kernel", "sizes", positional=True, required=True, minimum=1),
        Opt("stride", "sizes", None, minimum=1),
        Opt("padding", "sizes", 0, minimum=0),
        Opt("ceil", "bool", False),
    )

    @staticmethod
    def window(opts, x) -> int:
        """Elements of one window: ``k`` on ``[C, L]``, ``k_h·k_w`` on ``[C, H, W]``,
        ``k_d·k_h·k_w`` on ``[C, D, H, W]``."""
        return numel(per_axis(opts["kernel"], len(x) - 1))

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        spatial = x[1:]
        n = len(spatial)
        for name in ("kernel", "stride", "padding"):
            value = opts[name]
            if isinstance(value, tuple) and len(value) != n:
                got = "a pair" if len(value) == 2 else "a triple"
                want = "one kernel, stride and padding" if n == 1 else f"{n} sizes per option"
                raise ShapeError(
                    f"{self.name} on {_LAYOUT[n]} {fmt_shape(x)} takes {want}, not {got} "
                    f"({name}={shown(value)})",
                    code="NN007",
                )
        ks = per_axis(opts["kernel"], n)
        ss = per_axis(opts["stride"], n) if opts["stride"] is not None else ks
        ps = per_axis(opts["padding"], n)
        for k, p in zip(ks, ps):
            if 2 * p > k:
                raise ShapeError(
                    f"{self.name} padding {p} must be at most half the kernel {k}",
                    code="NN007",
                )
        out = tuple(pool_out(*a, opts["ceil"]) for a in zip(spatial, ks, ss, ps))
        if any(o < 1 for o in out):
            raise ShapeError(
                f"{self.name} kernel {shown(opts['kernel'])} is larger than the input "
                f"{fmt_shape(x)}"
            )
        return (x[0], *out)


@register
class MaxPool(_Pool):
    """Max pooling over ``[C, L]``, ``[C, H, W]`` or ``[C, D, H, W]``. Forward: ``K−1``
    comparisons per output element (``K`` the window's elements: ``k``, ``k_h·k_w`` or
    ``k_d·k_h·k_w``); backward: one add per output element (the gradient is routed to the
    arg-max). No parameters."""

    name = "maxpool"
    aliases = ("MaxPool2d", "MaxPooling2D", "max_pool2d", "MaxPool1d", "MaxPooling1D")
    aliases += ("max_pool1d", "MaxPool3d", "MaxPooling3D", "max_pool3d")

    def saved(self, c):
        """Its input and the int64 arg-max of each output (``max_pool2d_with_indices``)."""
        return (Saved("in0", numel(c.x)), Saved("indices", numel(c.out_shape), kind="index"))

    def cost(self, c):
        out, k = numel(c.out_shape), self.window(c.opts, c.x)
        return Cost(
            forward_flops=c.batch * out * (k - 1),
            backward_flops=c.batch * out,
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class AvgPool(_Pool):
    """Average pooling over ``[C, L]``, ``[C, H, W]`` or ``[C, D, H, W]``. Forward: ``K−1``
    adds + 1 divide = ``K`` per output element (``K`` the window's elements); backward: 1
    divide + ``K`` adds = ``K+1`` per output element."""

    name = "avgpool"
    aliases = ("AvgPool2d", "AveragePooling2D", "avg_pool2d", "AvgPool1d", "AveragePooling1D")
    aliases += ("avg_pool1d", "AvgPool3d", "AveragePooling3D", "avg_pool3d")
    saves = "input"  # avg_pool2d_backward(grad, self, …)

    def cost(self, c):
        out, k = numel(c.out_shape), self.window(c.opts, c.x)
        return Cost(
            forward_flops=c.batch * out * k,
            backward_flops=c.batch * out * (k + 1),
            cached_elements=c.batch * out,
            output_elements=out,
        )


#: The interpolating modes of ``upsample``: the spatial axes each works over, and its FLOPs
#: per output element forward (a weighted sum of its 2^n neighbours: 2^n multiplies and
#: 2^n − 1 adds) and backward (each output gradient scattered to them: 2^n multiplies and
#: 2^n adds).
_INTERPOLATING = {"bilinear": (2, 7, 8), "trilinear": (3, 15, 16)}


@register
class Upsample(Op):
    """Upsampling ``[C, H, W] -> [C, s·H, s·W]`` and ``[C, D, H, W] -> [C, s·D, s·H, s·W]``
    (PyTorch ``nn.Upsample(scale_factor=s, mode=…)``, ``align_corners=False``). No
    parameters, no MACs.

    FLOPs (nnlint's convention; PyTorch's counter counts none): ``mode=nearest`` copies,
    0 forward FLOPs; its backward sums the ``s²`` (``s³``) output gradients of each input
    element, ``(s² − 1)·C·H·W`` adds (``(s³ − 1)·C·D·H·W``). ``mode=bilinear`` (``[C, H,
    W]``) blends 4 inputs per output element with precomputed weights, 4 multiplies + 3
    adds = 7 FLOPs per output element; backward scatters each output gradient to its 4
    inputs, 4 multiplies + 4 adds = 8 per output element. ``mode=trilinear`` (``[C, D, H,
    W]``, 3-D U-Net decoders) blends 8: 15 forward, 16 backward per output element (index
    arithmetic is not counted).
    """

    name = "upsample"
    aliases = ("UpSampling2D", "interpolate", "UpSampling3D")
    saves = "nothing"  # its backward needs only the input's size
    min_rank = 3
    max_rank = 4
    opts = (
        Opt("scale", "int", positional=True, required=True, minimum=1),
        Opt("mode", "symbol", "nearest", choices=("nearest", "bilinear", "trilinear")),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        mode = opts["mode"]
        if mode in _INTERPOLATING and _INTERPOLATING[mode][0] != len(x) - 1:
            want = "[C, H, W]" if mode == "bilinear" else "[C, D, H, W]"
            raise ShapeError(
                f"upsample mode={mode} interpolates {want}, the input is {fmt_shape(x)}",
                code="NN007",
                fix="use mode=bilinear on [C, H, W], mode=trilinear on [C, D, H, W]",
            )
        s = opts["scale"]
        return (x[0], *(size * s for size in x[1:]))

    def text(self, opts):
        return f"upsample({opts['scale']})"

    def cost(self, c):
        out = numel(c.out_shape)
        mode = c.opts["mode"]
        if mode == "nearest":
            copies = c.opts["scale"] ** (len(c.x) - 1)
            forward, backward = 0, (copies - 1) * numel(c.x)
        else:
            _, per_out, per_grad = _INTERPOLATING[mode]
            forward, backward = per_out * out, per_grad * out
        return Cost(
            forward_flops=c.batch * forward,
            backward_flops=c.batch * backward,
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class GlobalAvgPool(Op):
    """Mean over the spatial axes: ``[C, H, W] -> [C, 1, 1]`` (PyTorch
    ``AdaptiveAvgPool2d(1)``), ``[C, D, H, W] -> [C, 1, 1, 1]`` (``AdaptiveAvgPool3d(1)``, a
    video or volume classifier's head). Forward ``C·(HW−1)`` adds + ``C`` divides = ``C·H·W``
    (``C·D·H·W`` on a volume); backward the same count (one divide per channel, one add per
    input element)."""

    name = "global_avgpool"
    aliases = ("GlobalAveragePooling2D", "global_average_pooling", "GlobalAveragePooling3D")
    saves = "nothing"  # a mean over H and W: its backward needs only the shape
    min_rank = 3
    max_rank = 4

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        return (x[0],) + (1,) * (len(x) - 1)

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
    aliases = ("AdaptiveAvgPool2d", "adaptive_avg_pool2d")
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
