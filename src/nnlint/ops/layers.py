"""Layers with a weight matrix: dense and conv2d."""

from __future__ import annotations

from nnlint.ops.base import Cost, Ctx, Op, Opt, Saved, ShapeError, numel, register
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

    Forward: 2·MACs + one add per output element for the bias [seed 000: matmul + bias].
    Backward [seed 000 (a)–(c)]: ∂W = 2·MACs, ∂b = one add per output element (both
    only when trainable), ∂x = 2·MACs (always, see module docstring).
    """
    B = c.batch
    weight_grad_macs = macs if c.trainable else 0
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
    Params: ``n·n_in + n`` (bias) [seed 000]. MACs/sample: ``R·n_in·n`` [seed 004].
    Forward: ``B·(2·R·n_in·n + R·n)``; backward ``2·B·R·n_in·n`` for ∂W, ``B·R·n``
    for ∂b, ``2·B·R·n_in·n`` for ∂x [seed 000, MNIST table].
    """

    name = "dense"
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


@register
class Conv2d(Op):
    """2-D convolution over ``[C, H, W]`` (PyTorch ``nn.Conv2d`` semantics).

    Output size ``⌊(H + 2p − d(k−1) − 1)/s⌋ + 1``.
    Params: ``c_out·(C/g)·k² + c_out`` (bias). MACs/sample: ``c_out·(C/g)·k²·H_out·W_out``
    (seed digest §1.10; fvcore / FlopCounterMode convention, bias excluded).
    Forward/backward: as ``dense`` with these MACs and ``c_out·H_out·W_out`` bias adds.
    """

    name = "conv2d"
    has_weights = True
    linear_layer = multiplies_weights = fusion_host = True
    min_rank = max_rank = 3
    opts = (
        Opt("channels", "int", positional=True, required=True, minimum=1),
        Opt("kernel", "int", positional=True, required=True, minimum=1),
        Opt("stride", "int", 1, minimum=1),
        Opt("padding", "int", 0, minimum=0),
        Opt("groups", "int", 1, minimum=1),
        Opt("dilation", "int", 1, minimum=1),
        Opt("bias", "bool", True),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        c_in, h, w = x
        g = opts["groups"]
        if c_in % g or opts["channels"] % g:
            raise ShapeError(
                f"conv2d groups={g} must divide both the input channels ({c_in}) "
                f"and the output channels ({opts['channels']})"
            )
        k, s, p, d = opts["kernel"], opts["stride"], opts["padding"], opts["dilation"]
        ho, wo = conv_out(h, k, s, p, d), conv_out(w, k, s, p, d)
        if ho < 1 or wo < 1:
            raise ShapeError(
                f"conv2d kernel {k} (dilation {d}, padding {p}) is larger than the "
                f"input {fmt_shape(x)}: the output would be {ho}×{wo}"
            )
        return (opts["channels"], ho, wo)

    def text(self, opts):
        return f"conv2d({opts['channels']}, {opts['kernel']})"

    def with_width(self, opts, width):
        return f"conv2d({width}, {opts['kernel']}, …)"

    def units(self, opts):
        return opts["channels"]

    def fans(self, opts, in_shapes):
        k = opts["kernel"]
        return (in_shapes[0][0] // opts["groups"]) * k * k, opts["channels"] * k * k

    def param_shapes(self, opts, in_shapes):
        c_out, k = opts["channels"], opts["kernel"]
        weight = (c_out, in_shapes[0][0] // opts["groups"], k, k)
        return (weight, (c_out,)) if opts["bias"] else (weight,)

    def saved(self, c):
        """Its input, for the weight gradient (``convolution_backward``); frozen: nothing."""
        return (Saved("in0", numel(c.x)),) if c.trainable else ()

    def cost(self, c):
        c_in = c.x[0]
        c_out, ho, wo = c.out_shape
        k, g = c.opts["kernel"], c.opts["groups"]
        weights = c_out * (c_in // g) * k * k
        macs = weights * ho * wo
        out = c_out * ho * wo
        return _linear_cost(
            c,
            macs,
            weights,
            c_out if c.opts["bias"] else 0,
            out,
            input_grad_macs=macs,
            out_elems=out,
        )
