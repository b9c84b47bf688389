"""The op catalog: one class per op kind, and everything nnlint knows about it.

Each op states, in one place, with the formula and its source in the docstring:

* its options (positional order, types, defaults) — checked at lowering;
* ``infer``: the per-sample output shape from the input shapes;
* ``cost``: parameters, buffers, MACs, forward and backward FLOPs and the
  elements it keeps alive for the backward pass.

Conventions shared by every op (written once here, repeated in the README):

* Shapes are **per sample**; the batch ``B`` comes from ``train``/``deploy``.
* One FLOP is one add, multiply, compare, divide or elementary function; one MAC
  (a ← a + b·c) is 2 FLOPs [seed 001].
* ``macs`` and ``backward_macs`` are **per sample** and count only the matrix work
  (dense, conv, attention, matmul) — the figure papers and PyTorch's
  ``FlopCounterMode`` report (at half its FLOPs). Every ``*_flops`` figure is for
  the **whole batch** and counts everything (bias, activations, norms, ...).
* Backward, following the seed 000 MNIST worked example: the gradient with
  respect to every layer's *input* is counted, including layers that read a model
  input (PyTorch skips those; the difference is ``input_grad_macs``); weight and
  bias gradients are counted only for trainable layers.
* Cached elements follow seed 000's memory table (``B·Σ n^(l)``, input included):
  each op that allocates a new output tensor keeps it for the backward pass;
  element-wise activations work in place (their output overwrites their input,
  from which their derivative can be recovered), so they add nothing.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from nnlint.units import fmt_shape

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot accept these input shapes or options. The message says why,
    with the shapes; lowering turns it into an NN009 (or NN007) diagnostic."""

    def __init__(self, message: str, code: str = "NN009") -> None:
        super().__init__(message)
        self.code = code


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


@attrs.frozen
class Opt:
    """One option of an op. ``kind``: int, float, bool, symbol, init, tensor."""

    name: str
    kind: str
    default: Any = None
    positional: bool = False
    required: bool = False
    minimum: float | None = None  # inclusive lower bound for numbers
    below: float | None = None  # exclusive upper bound for numbers


# Options every op accepts.
COMMON_OPTS = (
    Opt("precision", "symbol", None),
    Opt("trainable", "bool", True),
)
# Options every op with weights accepts.
WEIGHT_OPTS = (
    Opt("init", "init", None),
    Opt("tie", "tensor", None),
)


@attrs.frozen
class Cost:
    """What one node costs. See the module docstring for per-sample vs per-batch."""

    params: int = 0  # weights and biases (trainable or frozen)
    weight_params: int = 0  # the part a `tie=` can share (the weight matrix)
    buffers: int = 0  # state that is not a parameter (batchnorm running stats)
    macs: int = 0  # per sample, forward
    forward_flops: int = 0  # whole batch
    backward_macs: int = 0  # per sample
    input_grad_macs: int = (
        0  # per sample: the part of backward_macs that only feeds the input gradient
    )
    backward_flops: int = 0  # whole batch
    cached_elements: int = 0  # whole batch: kept alive for the backward pass
    output_elements: int = 0  # per sample: newly allocated output (0 for views and in-place ops)
    workspace_elements: int = 0  # per sample: internal tensors alive only while the op runs


@attrs.frozen
class Ctx:
    """What ``cost`` gets: shapes, resolved options, the batch and training flags."""

    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    opts: Mapping[str, Any]
    batch: int
    trainable: bool = True  # weight gradients are needed
    training: bool = True  # False: inference (dropout off, batchnorm on running stats)
    fused_with_loss: bool = False  # softmax/sigmoid whose gradient the loss fuses (ŷ − y)

    @property
    def x(self) -> Shape:
        return self.in_shapes[0]


class Op(abc.ABC):
    """Base class. Subclasses set ``name``, ``opts`` and implement ``infer`` and ``cost``."""

    name: ClassVar[str]
    opts: ClassVar[tuple[Opt, ...]] = ()
    family: ClassVar[str] = "layer"  # layer | activation | merge | shape
    has_weights: ClassVar[bool] = False
    min_rank: ClassVar[int] = 1
    max_rank: ClassVar[int | None] = None

    def all_opts(self) -> tuple[Opt, ...]:
        return self.opts + COMMON_OPTS + (WEIGHT_OPTS if self.has_weights else ())

    def check_rank(self, shape: Shape) -> None:
        if len(shape) < self.min_rank or (self.max_rank is not None and len(shape) > self.max_rank):
            if self.max_rank == self.min_rank:
                want = f"rank {self.min_rank}"
            elif self.max_rank is None:
                want = f"rank {self.min_rank} or more"
            else:
                want = f"rank {self.min_rank} to {self.max_rank}"
            raise ShapeError(f"{self.name} expects an input of {want}, got {fmt_shape(shape)}")

    @abc.abstractmethod
    def infer(self, in_shapes: tuple[Shape, ...], opts: Mapping[str, Any]) -> Shape:
        """The per-sample output shape; raises :class:`ShapeError` for bad inputs."""

    @abc.abstractmethod
    def cost(self, c: Ctx) -> Cost:
        """Parameters, MACs, FLOPs and cached elements for ``c``."""


OPS: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.name] = cls()
    return cls


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


# ------------------------------------------------------------------ layers


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
    has_weights = True
    opts = (
        Opt("units", "int", positional=True, required=True, minimum=1),
        Opt("bias", "bool", True),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0][:-1] + (opts["units"],)

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


def _conv_out(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
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
        ho, wo = _conv_out(h, k, s, p, d), _conv_out(w, k, s, p, d)
        if ho < 1 or wo < 1:
            raise ShapeError(
                f"conv2d kernel {k} (dilation {d}, padding {p}) is larger than the "
                f"input {fmt_shape(x)}: the output would be {ho}×{wo}"
            )
        return (opts["channels"], ho, wo)

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
        ho, wo = _conv_out(x[1], k, s, p, 1), _conv_out(x[2], k, s, p, 1)
        if ho < 1 or wo < 1:
            raise ShapeError(f"{self.name} kernel {k} is larger than the input {fmt_shape(x)}")
        return (x[0], ho, wo)


@register
class MaxPool(_Pool):
    """Max pooling. Forward: ``k²−1`` comparisons per output element; backward: one add
    per output element (the gradient is routed to the arg-max). No parameters."""

    name = "maxpool"

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


@register
class Flatten(Op):
    """``[C, H, W] -> [C·H·W]``. A view: no FLOPs, no new memory."""

    name = "flatten"
    family = "shape"

    def infer(self, in_shapes, opts):
        return (numel(in_shapes[0]),)

    def cost(self, c):
        return Cost()


@register
class Reshape(Op):
    """``reshape(d1, d2, ...)``; one dimension may be ``-1``. A view: no cost."""

    name = "reshape"
    family = "shape"
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


# ----------------------------------------------------------- normalization


def _channels(shape: Shape) -> int:
    """Channel axis: the C of ``[C, H, W]``; the last axis of ``[D]`` and ``[T, D]``."""
    return shape[0] if len(shape) == 3 else shape[-1]


@register
class BatchNorm(Op):
    """Batch normalization [seed 002 §normalization].

    Params: γ, β = ``2C`` (trainable); running mean and variance = ``2C`` buffers.
    Training forward, itemized by the seed: mean ``Nd + d``, variance ``3Nd``,
    normalize ``Nd + d``, scale and shift ``2Nd`` = ``7Nd + 2d``, plus the running
    statistics' EMA update ``4d``; ``Nd = B·(elements per sample)``, ``d = C``.
    Inference forward: ``4`` per element with the running statistics [seed 002].
    Backward: ``10Nd`` (∂γ 2Nd, ∂β Nd, ∂x 7Nd); ``7Nd`` when frozen.
    Cached: x̂ plus μ and σ² per channel: ``Nd + 2d`` [seed 002].
    """

    name = "batchnorm"

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0]

    def cost(self, c):
        ch, n = _channels(c.x), c.batch * numel(c.x)
        forward = 7 * n + 2 * ch + 4 * ch if c.training else 4 * n
        return Cost(
            params=2 * ch,
            buffers=2 * ch,
            forward_flops=forward,
            backward_flops=(10 if c.trainable else 7) * n,
            cached_elements=n + 2 * ch,
            output_elements=numel(c.x),
        )


@register
class LayerNorm(Op):
    """Layer normalization over the last axis [seed 002].

    Params ``2D``. Forward ``7`` FLOPs per element (seed: ~7Bd), training and
    inference alike (no running statistics to fold). Backward ``10`` per element
    (``7`` frozen), as batchnorm. Cached: x̂ plus μ and σ per row.
    """

    name = "layernorm"

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0]

    def cost(self, c):
        d, e = c.x[-1], numel(c.x)
        rows = e // d
        return Cost(
            params=2 * d,
            forward_flops=7 * c.batch * e,
            backward_flops=(10 if c.trainable else 7) * c.batch * e,
            cached_elements=c.batch * (e + 2 * rows),
            output_elements=e,
        )


@register
class GroupNorm(Op):
    """Group normalization with ``g`` groups over the channel axis [seed 002].

    Params ``2C``. Forward ``7``, backward ``10`` (``7`` frozen) FLOPs per element.
    Cached: x̂ plus μ and σ per group.
    """

    name = "groupnorm"
    opts = (Opt("groups", "int", positional=True, required=True, minimum=1),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        if _channels(x) % opts["groups"]:
            raise ShapeError(
                f"groupnorm groups={opts['groups']} must divide the {_channels(x)} "
                f"channels of {fmt_shape(x)}"
            )
        return x

    def cost(self, c):
        e = numel(c.x)
        return Cost(
            params=2 * _channels(c.x),
            forward_flops=7 * c.batch * e,
            backward_flops=(10 if c.trainable else 7) * c.batch * e,
            cached_elements=c.batch * (e + 2 * c.opts["groups"]),
            output_elements=e,
        )


@register
class Dropout(Op):
    """Inverted dropout [seed 002]: training forward ``4`` FLOPs per element (random
    number, threshold, mask multiply, scale), backward ``2`` (mask, scale); the mask
    (one element per element) is cached, the output overwrites the input. Inference:
    the identity, no cost."""

    name = "dropout"
    opts = (Opt("p", "float", 0.5, positional=True, minimum=0.0, below=1.0),)

    def infer(self, in_shapes, opts):
        return in_shapes[0]

    def cost(self, c):
        if not c.training:
            return Cost()
        n = c.batch * numel(c.x)
        return Cost(forward_flops=4 * n, backward_flops=2 * n, cached_elements=n)


@register
class Embedding(Op):
    """Table lookup ``ids [T] -> [T, dim]`` (or ``[] -> [dim]``).

    Params ``vocab·dim``. Forward: 0 FLOPs — a lookup, no arithmetic [seed 003].
    Backward: one add per output element into the table's gradient (trainable
    only); ids have no gradient, so nothing flows to the input.
    """

    name = "embedding"
    has_weights = True
    min_rank = 0
    max_rank = 1
    opts = (
        Opt("vocab", "int", positional=True, required=True, minimum=1),
        Opt("dim", "int", positional=True, required=True, minimum=1),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0] + (opts["dim"],)

    def cost(self, c):
        weights = c.opts["vocab"] * c.opts["dim"]
        out = numel(c.out_shape)
        return Cost(
            params=weights,
            weight_params=weights,
            backward_flops=c.batch * out if c.trainable else 0,
            cached_elements=c.batch * out,
            output_elements=out,
        )


@register
class Attention(Op):
    """Multi-head self-attention over ``[T, D]`` with Q, K, V and output projections,
    all with biases (DESIGN.md; PyTorch ``nn.MultiheadAttention`` layout).

    Params: ``4(D² + D)``. MACs/sample: ``4·T·D²`` (projections) ``+ 2·T²·D``
    (``QKᵀ`` and ``P·V``). ``causal=true`` masks the upper triangle but, like
    PyTorch's ``FlopCounterMode`` and most peers, the full ``T²`` work is counted
    (kernels compute it); the mask adds one FLOP per score.
    Forward: ``2·MACs + 4TD`` (biases) ``+ h·T²`` (scale by 1/√d_h) ``+ 5·h·T²``
    (softmax [seed 001]).
    Backward MACs: each of the six products has two gradients, ``8TD² + 4T²D``
    (``4TD²`` fewer when frozen); ``input_grad_macs`` = ``3TD²`` (∂x through Q, K, V).
    Backward FLOPs: ``2·backward MACs + 4TD`` (bias grads, trainable) ``+ 4·h·T²``
    (softmax vector-Jacobian product) ``+ h·T²`` (scale).
    Cached: Q, K, V, the attention probabilities, the context and the output:
    ``5TD + h·T²`` per sample — the ``h·T²`` term grows with the square of the
    sequence and dominates long sequences [seed 003]. At inference Q, K, V, the
    probabilities and the context are workspace (``4TD + h·T²``) freed when the
    layer is done.
    """

    name = "attention"
    has_weights = True
    min_rank = max_rank = 2
    opts = (
        Opt("heads", "int", positional=True, required=True, minimum=1),
        Opt("causal", "bool", False),
    )

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        if x[1] % opts["heads"]:
            raise ShapeError(
                f"attention heads={opts['heads']} must divide the model width "
                f"D={x[1]} of {fmt_shape(x)}"
            )
        return x

    def cost(self, c):
        T, D = c.x
        h = c.opts["heads"]
        B = c.batch
        proj, scores = 4 * T * D * D, 2 * T * T * D
        macs = proj + scores
        weight_grad = proj if c.trainable else 0
        input_grad = 3 * T * D * D
        backward_macs = weight_grad + proj + 2 * scores
        hT2 = h * T * T
        forward = B * (2 * macs + 4 * T * D + hT2 + 5 * hT2 + (hT2 if c.opts["causal"] else 0))
        backward = B * (2 * backward_macs + (4 * T * D if c.trainable else 0) + 4 * hT2 + hT2)
        return Cost(
            params=4 * (D * D + D),
            weight_params=4 * D * D,
            macs=macs,
            forward_flops=forward,
            backward_macs=backward_macs,
            input_grad_macs=input_grad,
            backward_flops=backward,
            cached_elements=B * (5 * T * D + hT2),
            output_elements=T * D,
            workspace_elements=4 * T * D + hT2,
        )


# ----------------------------------------------------------------- merges


class _Merge(Op):
    family = "merge"


@register
class Add(_Merge):
    """Element-wise sum of two or more tensors of one shape (a residual connection).
    Forward: ``(k−1)`` adds per element for ``k`` inputs; backward: 0 (the gradient
    is passed to every input unchanged). The sum is a new tensor."""

    name = "add"

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


# ------------------------------------------------------------- activations


class _Activation(Op):
    """Element-wise activation: ``fwd`` and ``bwd`` FLOPs per element from seed 000's
    activation table (the backward column assumes the forward value is cached)."""

    family = "activation"
    min_rank = 0
    fwd: ClassVar[int]
    bwd: ClassVar[int]
    in_place: ClassVar[bool] = True
    extra_cached: ClassVar[int] = 0  # elements per element kept beyond the in-place output

    def infer(self, in_shapes, opts):
        return in_shapes[0]

    def cost(self, c):
        e = numel(c.x)
        n = c.batch * e
        bwd = 0 if c.fused_with_loss else self.bwd * n
        cached = n * (self.extra_cached + (0 if self.in_place else 1))
        return Cost(
            forward_flops=self.fwd * n,
            backward_flops=bwd,
            cached_elements=cached,
            output_elements=0 if self.in_place else e,
        )


def _activation(
    name: str,
    fwd: int,
    bwd: int,
    doc: str,
    in_place: bool = True,
    extra_cached: int = 0,
    opts: tuple[Opt, ...] = (),
) -> None:
    cls = type(
        name.title().replace("_", ""),
        (_Activation,),
        {
            "name": name,
            "fwd": fwd,
            "bwd": bwd,
            "in_place": in_place,
            "extra_cached": extra_cached,
            "opts": opts,
            "__doc__": doc,
        },
    )
    register(cls)


_activation("identity", 0, 0, "``f(z) = z``: no cost.")
_activation(
    "relu",
    1,
    1,
    "ReLU ``max(0, z)``: 1 FLOP forward (compare-select), 1 backward "
    "(the mask) [seed 000; MNIST step (d)]. In place.",
)
_activation("relu6", 2, 1, "``min(max(0, z), 6)``: 2 compares forward, 1 mask backward. In place.")
_activation(
    "leaky_relu",
    2,
    2,
    "Leaky ReLU (α fixed, 0.01): 2 forward, 2 backward [seed 000].",
    opts=(Opt("alpha", "float", 0.01, positional=True),),
)
_activation(
    "elu",
    4,
    3,
    "ELU: compare, exp, subtract, scale = 4 forward; 3 backward "
    "(the seed gives 2–4 and 2–3; nnlint takes the itemized upper ends).",
    opts=(Opt("alpha", "float", 1.0, positional=True),),
)
_activation(
    "gelu",
    14,
    14,
    "GELU, tanh approximation: 14 FLOPs forward and backward (the upper "
    "end of seed 000's 12–14). Needs its input z for the backward pass, so its output is "
    "a new tensor.",
    in_place=False,
)
_activation(
    "silu",
    5,
    5,
    "SiLU / Swish ``z·σ(z)``: 5 forward, 5 backward; caches z and σ(z) "
    "(64 bits per element, seed 000): a new output plus σ(z).",
    in_place=False,
    extra_cached=1,
)
_activation(
    "sigmoid",
    4,
    2,
    "Sigmoid: neg, exp, add, divide = 4 forward; σ(1−σ) = 2 backward "
    "[seed 000]. Max derivative 0.25.",
)
_activation(
    "tanh", 6, 2, "Tanh: 2 exp, sub, add, div = 6 forward; 1−tanh² = 2 backward [seed 000]."
)
_activation(
    "log",
    1,
    1,
    "Natural logarithm: 1 FLOP (an elementary function) forward; the "
    "derivative 1/z is one divide backward. Needs z, so its output is a new tensor.",
    in_place=False,
)
_activation(
    "log_softmax",
    3,
    3,
    "Fused log-softmax over the class axis (as softmax): max, shift, "
    "Σexp, log ≈ 3 "
    "per element [seed 002]; backward ``g − softmax·Σg`` ≈ 3 per element.",
)


@register
class Softmax(_Activation):
    """Softmax over the class axis — the last axis of ``[C]`` and ``[T, C]``, the channel
    axis of ``[C, H, W]`` (per-pixel classes) — max (C−1), subtract (C), exp (C), sum (C−1),
    divide (C) ≈ 5 per element [seed 001, MNIST table]. In place.

    Backward: when the softmax feeds ``cross_entropy`` the two fuse and the gradient is
    ``ŷ − y`` (counted by the loss, seed 000 counts nothing here); otherwise the
    vector-Jacobian product ``y ⊙ (g − ⟨g, y⟩)`` = 4 per element (nnlint's count; seed
    001 warns that a naive C×C Jacobian costs O(C²))."""

    name = "softmax"
    fwd = 5
    bwd = 4


@register
class PReLU(_Activation):
    """PReLU with a learnable slope: ``prelu`` shares one α, ``prelu(n)`` learns one per
    channel [seed 000]. 2 FLOPs forward, 2 backward (plus the α gradient, one per
    element when trainable). Needs z for ∂α, so its output is a new tensor."""

    name = "prelu"
    fwd = 2
    bwd = 2
    in_place = False
    opts = (Opt("num_parameters", "int", 1, positional=True, minimum=1),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        n = opts["num_parameters"]
        if n != 1 and (not x or _channels(x) != n):
            raise ShapeError(f"prelu({n}) needs {n} channels, the input is {fmt_shape(x)}")
        return x

    def cost(self, c):
        base = super().cost(c)
        extra = c.batch * numel(c.x) if c.trainable else 0
        return attrs.evolve(
            base, params=c.opts["num_parameters"], backward_flops=base.backward_flops + extra
        )


# ------------------------------------------------------------------ losses


@attrs.frozen
class LossKind:
    """A loss of ``train.loss``. FLOPs per element of the tensor it reads.

    ``normalized``: the ops whose output the loss reads as it is (probabilities or
    log-probabilities); on anything else (raw logits) it first applies its own
    normalization at ``on_logits`` FLOPs per element. ``fuses_with``: the op whose
    backward pass the loss's gradient replaces (softmax + cross-entropy: ŷ − y).
    """

    name: str
    forward: int
    gradient: int
    doc: str
    normalized: tuple[str, ...] = ()
    on_logits: int = 0
    fuses_with: str | None = None

    def forward_per_element(self, source_op: str) -> int:
        return self.forward + (
            0 if source_op in self.normalized or not self.normalized else self.on_logits
        )


LOSSES: dict[str, LossKind] = {
    k.name: k
    for k in (
        LossKind(
            "cross_entropy",
            2,
            1,
            "One-hot cross-entropy. On a softmax output: 2 FLOPs per logit (log and "
            "negation, seed 000's MNIST table: 2·B·C) and the fused gradient ŷ−y, 1 per "
            "logit [seed 001]; the softmax's own backward is then not counted. On a "
            "log_softmax output it is the negative log-likelihood; on raw logits it "
            "applies a stable log-softmax itself: +3 per logit [seed 002].",
            normalized=("softmax", "log_softmax"),
            on_logits=3,
            fuses_with="softmax",
        ),
        LossKind(
            "mse",
            3,
            2,
            "Mean squared error: subtract, square, sum ≈ 3 per element; "
            "gradient 2/(Bd)·(ŷ−y) = 2 per element [seed 002].",
        ),
        LossKind(
            "bce",
            4,
            1,
            "Binary cross-entropy: 2 logs, 2 multiplies, sum ≈ 4 per "
            "element; fused with a sigmoid the gradient is ŷ−y, 1 per element [seed 002], "
            "and the sigmoid's own backward is not counted. On raw logits it applies the "
            "sigmoid itself: +4 per element.",
            normalized=("sigmoid",),
            on_logits=4,
            fuses_with="sigmoid",
        ),
        LossKind(
            "hinge",
            3,
            2,
            "Hinge ``max(0, 1 − y·ŷ)``: 3 per element [seed 002]; "
            "gradient −y where the margin is violated: 2 (nnlint's count).",
        ),
        LossKind(
            "huber",
            4,
            3,
            "Huber: ≈4 per element [seed 002]; gradient clip(ŷ−y, −δ, δ): 3 (nnlint's count).",
        ),
        LossKind(
            "focal",
            6,
            8,
            "Focal loss −α(1−p)^γ·log p: ≈6 per element [seed 002]; "
            "gradient ≈8 (nnlint's count of the closed form).",
        ),
        LossKind(
            "kl_div",
            5,
            2,
            "KL divergence: ≈5 per element [seed 001]; gradient with "
            "respect to log-probabilities −p: 2 (nnlint's count).",
        ),
    )
}
