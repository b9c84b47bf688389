"""Layers with a weight matrix: dense and the convolutions."""

from __future__ import annotations

from typing import ClassVar

from nnlint.ops.base import (
    Cost,
    Ctx,
    Op,
    Opt,
    Saved,
    ShapeError,
    numel,
    per_axis,
    register,
    shown,
)
from nnlint.units import fmt_shape


def _linear_cost(
    c: Ctx,
    macs: int,
    weights: int,
    bias: int,
    bias_elems: int,
    input_grad_macs: int,
    out_elems: int,
) -> Cost:
    """Shared accounting of a layer that is one matrix product plus a bias.

    Forward: 2·MACs + one add per output element for the bias.
    Backward (README § Counting conventions): ∂W = 2·MACs, ∂b = one add per output element
    (both only when trainable; ∂W also not when the weight is tied to a frozen layer's),
    ∂x = 2·MACs (always, see module docstring).
    """
    B = c.batch
    weight_grad_macs = macs if c.trainable and c.weight_trainable else 0
    backward_macs = weight_grad_macs + input_grad_macs
    backward = 2 * B * backward_macs + (B * bias_elems if (bias and c.trainable) else 0)
    return Cost(
        params=weights + bias,
        weight_params=weights,
        macs=macs,
        forward_flops=B * (2 * macs + (bias_elems if bias else 0)),
        backward_macs=backward_macs,
        input_grad_macs=input_grad_macs,
        backward_flops=backward,
        cached_elements=B * out_elems,
        output_elements=out_elems,
    )


@register
class Dense(Op):
    """Fully connected layer ``y = x·Wᵀ + b`` over the last axis.

    Shape: ``[..., n_in] -> [..., n]``; leading axes (e.g. the T of ``[T, D]``) are
    rows R that share the weights.
    Params: ``n·n_in + n`` (bias; PyTorch ``nn.Linear``). MACs/sample: ``R·n_in·n``.
    Forward: ``B·(2·R·n_in·n + R·n)``; backward ``2·B·R·n_in·n`` for ∂W, ``B·R·n``
    for ∂b, ``2·B·R·n_in·n`` for ∂x (README § Counting conventions, the MNIST example).
    """

    name = "dense"
    aliases = ("linear", "Linear", "LazyLinear", "fc", "FullyConnected")
    tensor_parallel = "flip"
    has_weights = True
    linear_layer = multiplies_weights = fusion_host = True
    opts = (
        Opt("units", "int", positional=True, required=True, minimum=1),
        Opt("bias", "bool", True),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0][:-1] + (opts["units"],)

    def text(self, opts):
        return f"dense({opts['units']})"

    def with_width(self, opts, width):
        return f"dense({width})"

    def units(self, opts):
        return opts["units"]

    def bias_axis(self, opts, out_shape):
        """One bias per output unit, on the last axis (PyTorch ``nn.Linear``)."""
        return len(out_shape) - 1 if opts["bias"] else None

    def weight_shape(self, opts, in_shapes):
        return (opts["units"], in_shapes[0][-1])

    def param_shapes(self, opts, in_shapes):
        weight = (opts["units"], in_shapes[0][-1])
        return (weight, (opts["units"],)) if opts["bias"] else (weight,)

    def saved(self, c):
        """Its input, for the weight gradient (``addmm`` saves ``mat1``); frozen: nothing."""
        return (Saved("in0", numel(c.x)),) if c.trainable else ()

    def fans(self, opts, in_shapes):
        return in_shapes[0][-1], opts["units"]

    def cost(self, c):
        n_in, n = c.x[-1], c.out_shape[-1]
        rows = numel(c.x[:-1])
        macs = rows * n_in * n
        return _linear_cost(
            c,
            macs,
            n * n_in,
            n if c.opts["bias"] else 0,
            rows * n,
            input_grad_macs=macs,
            out_elems=rows * n,
        )


def conv_out(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def same_padding(k: int, dilation: int) -> tuple[int, int]:
    """``padding=same`` as PyTorch pads: ``d·(k−1)`` in all, the odd element on the right
    (bottom) when the total is odd (``torch.nn.functional.conv2d``'s ``_pad_for_same``)."""
    total = dilation * (k - 1)
    return total // 2, total - total // 2


class _Channels(Op):
    """What every convolution shares, transposed or not: ``channels`` output channels from
    a ``kernel``, ``groups`` dividing both channel counts, and the input kept for the
    weight gradient."""

    has_weights = True
    linear_layer = multiplies_weights = fusion_host = True

    def check_groups(self, c_in: int, opts) -> None:
        g = opts["groups"]
        if c_in % g or opts["channels"] % g:
            raise ShapeError(
                f"{self.name} groups={g} must divide both the input channels ({c_in}) "
                f"and the output channels ({opts['channels']})"
            )

    def text(self, opts):
        return f"{self.name}({opts['channels']}, {shown(opts['kernel'])})"

    def with_width(self, opts, width):
        return f"{self.name}({width}, {shown(opts['kernel'])}, …)"

    def units(self, opts):
        return opts["channels"]

    def bias_axis(self, opts, out_shape):
        """One bias per output channel, the first per-sample axis (PyTorch ``nn.Conv*d``)."""
        return 0 if opts["bias"] else None

    def saved(self, c):
        """Its input, whenever its weight or its input needs a gradient: PyTorch's
        ``convolution`` node saves input and weight for one ``convolution_backward`` that
        serves every gradient (``tools/autograd/derivatives.yaml``), so a frozen convolution
        after a trainable layer keeps its input too (unlike ``dense``: ``addmm`` saves
        ``mat1`` only for the weight gradient)."""
        return (Saved("in0", numel(c.x)),) if c.trainable or c.input_requires_grad else ()


class _Conv(_Channels):
    """A convolution over ``[C, *spatial]`` (1, 2 or 3 spatial axes), PyTorch semantics.

    Output size per axis ``⌊(L + 2p − d(k−1) − 1)/s⌋ + 1``; ``padding=same`` keeps
    ``L`` (stride 1 only, as in PyTorch). Params: ``c_out·(C/g)·Πk + c_out`` (bias).
    MACs/sample: ``c_out·(C/g)·Πk·Π L_out`` (fvcore / FlopCounterMode convention, bias
    excluded). Forward/backward: as ``dense`` with these MACs and one bias add per
    output element.
    """

    axes: ClassVar[int] = 2

    def _sizes(self, opts) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(kernel, stride, dilation) per spatial axis."""
        n = self.axes
        return tuple(per_axis(opts[k], n) for k in ("kernel", "stride", "dilation"))

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        c_in, spatial = x[0], x[1:]
        self.check_groups(c_in, opts)
        ks, ss, ds = self._sizes(opts)
        if opts["padding"] == "same":
            if any(s != 1 for s in ss):
                raise ShapeError(
                    f"{self.name} padding=same needs stride 1 (as in PyTorch), got "
                    f"stride={shown(opts['stride'])}",
                    code="NN007",
                )
            return (opts["channels"], *spatial)
        ps = per_axis(opts["padding"], self.axes)
        out = tuple(conv_out(*a) for a in zip(spatial, ks, ss, ps, ds))
        if any(o < 1 for o in out):
            raise ShapeError(
                f"{self.name} kernel {shown(opts['kernel'])} (dilation "
                f"{shown(opts['dilation'])}, padding {shown(opts['padding'])}) is larger "
                f"than the input {fmt_shape(x)}: the output would be "
                f"{'×'.join(map(str, out))}"
            )
        return (opts["channels"], *out)

    def saved(self, c):
        """Its input, whenever its weight or its input needs a gradient, as
        :meth:`_Channels.saved`. ``padding=same`` with an odd total padding ``d·(k−1)`` on
        some axis (an even kernel at odd dilation) saves a copy instead: PyTorch pads the
        input by the odd element on the right (:func:`same_padding`) and convolves that copy
        with the even rest (``_convolution_same``), so it keeps a tensor one element longer
        on each such axis."""
        if not (c.trainable or c.input_requires_grad):
            return ()
        if c.opts["padding"] != "same":
            return (Saved("in0", numel(c.x)),)
        ks, _, ds = self._sizes(c.opts)
        odd = [hi - lo for lo, hi in (same_padding(k, d) for k, d in zip(ks, ds))]
        if not any(odd):
            return (Saved("in0", numel(c.x)),)
        padded = (c.x[0], *(size + extra for size, extra in zip(c.x[1:], odd)))
        return (Saved("padded", numel(padded)),)

    def fans(self, opts, in_shapes):
        k = numel(self._sizes(opts)[0])
        return (in_shapes[0][0] // opts["groups"]) * k, opts["channels"] * k

    def param_shapes(self, opts, in_shapes):
        c_out = opts["channels"]
        weight = (c_out, in_shapes[0][0] // opts["groups"], *self._sizes(opts)[0])
        return (weight, (c_out,)) if opts["bias"] else (weight,)

    def cost(self, c):
        c_in, c_out = c.x[0], c.out_shape[0]
        g = c.opts["groups"]
        weights = c_out * (c_in // g) * numel(self._sizes(c.opts)[0])
        out = numel(c.out_shape)
        macs = weights * numel(c.out_shape[1:])
        return _linear_cost(
            c,
            macs,
            weights,
            c_out if c.opts["bias"] else 0,
            out,
            input_grad_macs=macs,
            out_elems=out,
        )


def _conv_opts(size: str) -> tuple[Opt, ...]:
    """A convolution's options in PyTorch's positional order; ``size`` is the type of the
    per-axis ones (kernel, stride, padding, dilation): ``"int"`` for one spatial axis,
    ``"pair"`` for two (one number or a (height, width) pair), ``"triple"`` for three."""
    return (
        Opt("channels", "int", positional=True, required=True, minimum=1),
        Opt("kernel", size, positional=True, required=True, minimum=1),
        Opt("stride", size, 1, minimum=1),
        Opt("padding", size, 0, minimum=0, choices=("same",)),
        Opt("groups", "int", 1, minimum=1),
        Opt("dilation", size, 1, minimum=1),
        Opt("bias", "bool", True),
    )


@register
class Conv2d(_Conv):
    """2-D convolution over ``[C, H, W]`` (PyTorch ``nn.Conv2d`` semantics).

    Output size ``⌊(H + 2p − d(k−1) − 1)/s⌋ + 1``; kernel, stride, padding and dilation
    take one number or a (height, width) pair: ``conv2d(64, (3, 1))``. ``padding=same``
    keeps H and W (stride 1 only, as in PyTorch; an even kernel pads the extra element
    on the right and bottom).
    Params: ``c_out·(C/g)·k_h·k_w + c_out`` (bias). MACs/sample:
    ``c_out·(C/g)·k_h·k_w·H_out·W_out`` (fvcore / FlopCounterMode convention, bias
    excluded). Forward/backward: as ``dense`` with these MACs and ``c_out·H_out·W_out``
    bias adds.
    """

    name = "conv2d"
    aliases = ("Convolution2D", "LazyConv2d")
    min_rank = max_rank = 3
    opts = _conv_opts("pair")


@register
class Conv1d(_Conv):
    """1-D convolution over ``[C, L]`` (PyTorch ``nn.Conv1d`` semantics): speech, text and
    signal CNNs.

    Output length ``⌊(L + 2p − d(k−1) − 1)/s⌋ + 1``; ``padding=same`` keeps L (stride 1
    only; an even kernel pads the extra element on the right).
    Params: ``c_out·(C/g)·k + c_out`` (bias). MACs/sample: ``c_out·(C/g)·k·L_out``
    (FlopCounterMode convention, bias excluded). Forward/backward: as ``dense`` with
    these MACs and ``c_out·L_out`` bias adds.
    """

    name = "conv1d"
    aliases = ("Convolution1D", "LazyConv1d")
    axes = 1
    min_rank = max_rank = 2
    opts = _conv_opts("int")


@register
class Conv3d(_Conv):
    """3-D convolution over ``[C, D, H, W]`` (PyTorch ``nn.Conv3d`` semantics): video clips
    (C3D, I3D, R(2+1)D; D the frames) and volumes (3-D U-Net, V-Net; D the slices).

    Output size per axis ``⌊(L + 2p − d(k−1) − 1)/s⌋ + 1``; kernel, stride, padding and
    dilation take one number or a (depth, height, width) triple: ``conv3d(64, (1, 3, 3))``
    is a spatial kernel, ``conv3d(64, (3, 1, 1))`` a temporal one. ``padding=same`` keeps
    D, H and W (stride 1 only; an even kernel pads the extra element at the end).
    Params: ``c_out·(C/g)·k_d·k_h·k_w + c_out`` (bias). MACs/sample:
    ``c_out·(C/g)·k_d·k_h·k_w·D_out·H_out·W_out`` (FlopCounterMode convention, bias
    excluded). Forward/backward: as ``dense`` with these MACs and ``c_out·D_out·H_out·W_out``
    bias adds.
    """

    name = "conv3d"
    aliases = ("Convolution3D", "LazyConv3d")
    axes = 3
    min_rank = max_rank = 4
    opts = _conv_opts("triple")


def _transpose_opts(size: str) -> tuple[Opt, ...]:
    """A transposed convolution's options in PyTorch's positional order; ``size`` is the
    type of the per-axis ones (``"pair"`` or ``"triple"``)."""
    return (
        Opt("channels", "int", positional=True, required=True, minimum=1),
        Opt("kernel", size, positional=True, required=True, minimum=1),
        Opt("stride", size, 1, minimum=1),
        Opt("padding", size, 0, minimum=0),
        Opt("output_padding", size, 0, minimum=0),
        Opt("groups", "int", 1, minimum=1),
        Opt("dilation", size, 1, minimum=1),
        Opt("bias", "bool", True),
    )


class _ConvTranspose(_Channels):
    """A transposed convolution over ``[C, *spatial]`` (2 or 3 spatial axes), PyTorch
    semantics: see :class:`ConvTranspose2d`."""

    axes: ClassVar[int] = 2

    def _each(self, opts, key: str) -> tuple[int, ...]:
        return per_axis(opts[key], self.axes)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        c_in, spatial = x[0], x[1:]
        self.check_groups(c_in, opts)
        ks, ss, ps, ops, ds = (
            self._each(opts, k)
            for k in ("kernel", "stride", "padding", "output_padding", "dilation")
        )
        if any(op >= s and op >= d for op, s, d in zip(ops, ss, ds)):
            raise ShapeError(
                f"{self.name} output_padding={shown(opts['output_padding'])} must be "
                f"smaller than the stride ({shown(opts['stride'])}) or the dilation "
                f"({shown(opts['dilation'])}), as in PyTorch",
                code="NN007",
            )
        out = tuple(
            (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            for size, k, s, p, op, d in zip(spatial, ks, ss, ps, ops, ds)
        )
        if any(o < 1 for o in out):
            raise ShapeError(
                f"{self.name} padding {shown(opts['padding'])} removes the whole "
                f"output of {fmt_shape(x)}: it would be {'×'.join(map(str, out))}"
            )
        return (opts["channels"], *out)

    def fans(self, opts, in_shapes):
        # PyTorch computes fans from the weight [C_in, c_out/g, *k] as stored
        k = numel(self._each(opts, "kernel"))
        return (opts["channels"] // opts["groups"]) * k, in_shapes[0][0] * k

    def param_shapes(self, opts, in_shapes):
        c_out = opts["channels"]
        weight = (in_shapes[0][0], c_out // opts["groups"], *self._each(opts, "kernel"))
        return (weight, (c_out,)) if opts["bias"] else (weight,)

    def cost(self, c):
        c_in, c_out = c.x[0], c.out_shape[0]
        weights = c_in * (c_out // c.opts["groups"]) * numel(self._each(c.opts, "kernel"))
        macs = weights * numel(c.x[1:])
        out = numel(c.out_shape)
        return _linear_cost(
            c,
            macs,
            weights,
            c_out if c.opts["bias"] else 0,
            out,
            input_grad_macs=macs,
            out_elems=out,
        )


@register
class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution over ``[C, H, W]`` (PyTorch ``nn.ConvTranspose2d``): the
    upsampling of U-Net decoders and GAN generators.

    Output size ``(H − 1)·s − 2p + d(k−1) + output_padding + 1`` per axis (PyTorch's
    formula); ``output_padding`` must be below the stride or the dilation. Kernel,
    stride, padding, output_padding and dilation take one number or a (height, width)
    pair. Params: ``C·(c_out/g)·k_h·k_w + c_out`` (bias). MACs/sample: every input
    element meets the whole kernel, ``C·(c_out/g)·k_h·k_w·H·W`` — PyTorch's
    ``FlopCounterMode`` counts the input's spatial size for a transposed convolution
    (bias excluded). Forward/backward: as ``dense`` with these MACs and
    ``c_out·H_out·W_out`` bias adds; the input gradient is a plain convolution of the
    output gradient with the same MACs.
    """

    name = "conv_transpose2d"
    aliases = ("Conv2DTranspose", "Deconvolution2D", "deconv2d")
    min_rank = max_rank = 3
    opts = _transpose_opts("pair")


@register
class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-D convolution over ``[C, D, H, W]`` (PyTorch ``nn.ConvTranspose3d``):
    the up-convolution of 3-D U-Net (Çiçek et al. 2016: 2×2×2, stride 2) and V-Net
    decoders. As ``conv_transpose2d`` per axis, sizes one number or a (depth, height,
    width) triple. Params: ``C·(c_out/g)·k_d·k_h·k_w + c_out`` (bias). MACs/sample:
    ``C·(c_out/g)·k_d·k_h·k_w·D·H·W`` (the input's size, as ``FlopCounterMode`` counts).
    """

    name = "conv_transpose3d"
    aliases = ("Conv3DTranspose", "Deconvolution3D", "deconv3d")
    axes = 3
    min_rank = max_rank = 4
    opts = _transpose_opts("triple")


@register
class Param(Op):
    """``param(d1, d2, …)``: a learned tensor of that shape, shared by every sample
    (ViT's class token and position embeddings, ConvNeXt's layer scale with
    ``init=constant(1e-6)``) — PyTorch's ``nn.Parameter(torch.empty(d1, d2, …))``.

    It starts a chain (``cls = param(1, 768)``) and is broadcast over the batch where it
    is used. Params: ``Πd``, counted once (inside a block repeated ``* N``, once per
    repeat: N tensors). Forward: nothing — no arithmetic, no new tensor (its memory is
    the parameter's). Backward (trainable): the ``B`` per-sample gradients it receives
    are summed, ``(B − 1)·Πd`` adds.
    """

    name = "param"
    aliases = ("Parameter",)
    saves = "nothing"  # its gradient is the sum of what it receives
    family = "layer"
    has_weights = True
    is_source = True
    min_rank = 0
    opts = (Opt("dims", "intlist", positional=True, required=True),)

    def infer(self, in_shapes, opts):
        dims = opts["dims"]
        if any(d < 1 for d in dims):
            raise ShapeError(
                f"param dimensions must be positive whole numbers, got {fmt_shape(dims)}",
                code="NN007",
            )
        return tuple(dims)

    def text(self, opts):
        return f"param({', '.join(map(str, opts['dims']))})"

    def weight_shape(self, opts, in_shapes):
        return tuple(opts["dims"])

    def param_shapes(self, opts, in_shapes):
        return (tuple(opts["dims"]),)

    def cost(self, c):
        n = numel(c.out_shape)
        return Cost(
            params=n,
            weight_params=n,
            backward_flops=(c.batch - 1) * n if c.trainable else 0,
        )
