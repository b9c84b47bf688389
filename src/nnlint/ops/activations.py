"""Element-wise activations (and the softmax family, which works along the class axis)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from nnlint.ops.base import (
    Cost,
    Op,
    Opt,
    Output,
    ShapeError,
    channel_axis,
    channel_index,
    numel,
    register,
)
from nnlint.units import fmt_shape


class _Activation(Op):
    """Element-wise activation: ``fwd`` and ``bwd`` FLOPs per element, nnlint's itemized
    count (README § Counting conventions; the backward count assumes the forward value is
    cached)."""

    family = "activation"
    min_rank = 0
    keeps_width = True
    in_place = True
    fwd: ClassVar[int]
    bwd: ClassVar[int]
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


def _class_axis_checked(name: str, x, opts):
    """The input shape, after checking ``axis=`` (per-sample axes from 0, negative from the
    end). Without ``axis=`` the softmax family works along the class axis: the last axis
    of ``[C]`` and ``[T, C]``, the channel axis of ``[C, H, W]`` and ``[C, D, H, W]``; the
    count per element is the same along any axis."""
    axis = opts.get("axis")
    if axis is not None and not -len(x) <= axis < len(x):
        raise ShapeError(
            f"{name} axis {axis} is out of range for {fmt_shape(x)} (axes 0 to {len(x) - 1}; "
            f"the batch axis is not counted)",
            code="NN007",
        )
    return x


def _normalized_axis(x, opts) -> int | None:
    """The axis of ``x`` the softmax family works along, from 0: ``axis=``, else the class
    axis (:func:`channel_index`); None for a scalar."""
    if not x:
        return None
    axis = opts.get("axis")
    return channel_index(x) if axis is None else axis % len(x)


@register
class Identity(_Activation):
    """``f(z) = z``: no cost."""

    name = "identity"
    saves = "nothing"
    fwd = bwd = 0
    passes_values = True
    inference_noop = True


@register
class Relu(_Activation):
    """ReLU ``max(0, z)``: 1 FLOP forward (compare-select), 1 backward (the mask). In
    place."""

    name = "relu"
    saves = "output"  # threshold_backward(grad, result, 0)
    fwd = bwd = 1
    relu_family = True
    init_for = "he"
    dead_at_zero = True


@register
class Relu6(_Activation):
    """``min(max(0, z), 6)``: 2 compares forward, 1 mask backward. In place."""

    name = "relu6"
    saves = "input"  # hardtanh_backward(grad, self, 0, 6)
    fwd, bwd = 2, 1
    relu_family = True
    init_for = "he"
    dead_at_zero = True


@register
class LeakyRelu(_Activation):
    """Leaky ReLU (α fixed, 0.01): 2 forward, 2 backward."""

    name = "leaky_relu"
    saves = "input"  # leaky_relu_backward(grad, self, …)
    fwd = bwd = 2
    opts = (Opt("alpha", "float", 0.01, positional=True),)
    relu_family = True
    init_for = "he"


@register
class Elu(_Activation):
    """ELU: compare, exp, subtract, scale = 4 forward; 3 backward (nnlint's itemized
    count)."""

    name = "elu"
    saves = "input"  # elu_backward(…, is_result=False, self)
    fwd, bwd = 4, 3
    opts = (Opt("alpha", "float", 1.0, positional=True),)
    init_for = "he"


@register
class Gelu(_Activation):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016): 14 FLOPs forward and backward
    (nnlint's itemized count). Needs its input z for the backward pass, so its output is
    a new tensor."""

    name = "gelu"
    saves = "input"  # gelu_backward(grad, self)
    fwd = bwd = 14
    in_place = False
    init_for = "he"  # ReLU-like for z > 0 (Hendrycks & Gimpel 2016): He et al. 2015's init


@register
class Silu(_Activation):
    """SiLU / Swish ``z·σ(z)``: 5 forward, 5 backward; caches z and σ(z) (64 bits per
    element in fp32): a new output plus σ(z)."""

    name = "silu"
    aliases = ("swish",)
    saves = "input"  # silu_backward(grad, self)
    fwd = bwd = 5
    in_place = False
    extra_cached = 1
    init_for = "he"


@register
class Hardswish(_Activation):
    """Hard swish ``z·relu6(z + 3)/6`` (Howard et al. 2019, MobileNetV3; PyTorch
    ``nn.Hardswish``), counted as PyTorch's kernel computes it (``hardswish_kernel``):
    add 3, clamp to [0, 6] (2 compares), multiply by z, divide by 6 = 5 forward; backward
    2 compares (with −3 and 3) and ``g·(z/3 + 1/2)`` between them = 5. Needs z for the
    backward pass (its output does not determine its slope), so its output is a new
    tensor; PyTorch's ``inplace=True`` keeps a copy of z instead."""

    name = "hardswish"
    aliases = ("hard_silu", "h_swish", "hswish")
    saves = "input"  # hardswish_backward(grad, self)
    fwd = bwd = 5
    in_place = False
    init_for = "he"  # ReLU-like for z > 3; MobileNetV3 (torchvision) initializes with He


@register
class Hardsigmoid(_Activation):
    """Hard sigmoid ``relu6(z + 3)/6`` (Howard et al. 2019, MobileNetV3's squeeze-and-excite
    gate; PyTorch ``nn.Hardsigmoid``), counted as PyTorch's kernel computes it: add 3, clamp
    to [0, 6] (2 compares), divide by 6 = 4 forward; backward 2 compares (−3 < z < 3) and
    ``g/6`` there = 3. In place: its slope (1/6 where 0 < y < 1, else 0) is read from its
    output. Max derivative 1/6."""

    name = "hardsigmoid"
    aliases = ("h_sigmoid", "hsigmoid")
    saves = "input"  # hardsigmoid_backward(grad, self)
    fwd, bwd = 4, 3
    saturating = True
    max_slope = 1 / 6  # flat outside (−3, 3)
    init_for = "xavier"  # sigmoid-like (Glorot & Bengio 2010)


@register
class Softplus(_Activation):
    """Softplus ``log(1 + exp(β·z))/β``, linear (``z``) where ``β·z > threshold`` (PyTorch
    ``nn.Softplus(beta=1, threshold=20)``), counted as PyTorch's kernel computes it for any
    β: ``β·z``, compare with the threshold, exp, log1p, divide by β = 5 forward; backward
    ``e = exp(β·z)``, ``g·e/(e + 1)`` below the threshold: ``β·z``, compare, exp, add,
    multiply, divide = 6. Needs z (PyTorch has no in-place softplus), so its output is a new
    tensor."""

    name = "softplus"
    saves = "input"  # softplus_backward(grad, self, beta, threshold)
    fwd, bwd = 5, 6
    in_place = False
    init_for = "he"  # a smooth ReLU (Dugas et al. 2001)
    opts = (
        Opt("beta", "float", 1.0, positional=True),
        Opt("threshold", "float", 20.0, positional=True),
    )

    def infer(self, in_shapes, opts):
        if opts["beta"] <= 0:
            raise ShapeError(
                f"softplus beta={opts['beta']} must be positive: it divides the output",
                code="NN007",
            )
        return in_shapes[0]


@register
class Mish(_Activation):
    """Mish ``z·tanh(softplus(z))`` (Misra 2019; PyTorch ``nn.Mish``, YOLOv4's backbone),
    counted as PyTorch's kernel computes it: exp, log1p, tanh (6, as the ``tanh`` op),
    multiply by z = 9 forward; backward ``g·(t + z·σ(z)·(1 − t²))`` with ``t =
    tanh(softplus(z))`` recomputed: σ 4 (as ``sigmoid``), t 8, ``1 − t²`` 2, two
    multiplies, an add and the product with g = 18. Needs z, so its output is a new
    tensor."""

    name = "mish"
    saves = "input"  # mish_backward(grad, self)
    fwd, bwd = 9, 18
    in_place = False
    init_for = "he"  # ReLU-like for z > 0


@register
class Sigmoid(_Activation):
    """Sigmoid: neg, exp, add, divide = 4 forward; σ(1−σ) = 2 backward. Max
    derivative 0.25."""

    name = "sigmoid"
    saves = "output"  # sigmoid_backward(grad, result)
    fwd, bwd = 4, 2
    saturating = True
    max_slope = 0.25  # σ'(z) = σ(1−σ) ≤ 0.25, at z = 0
    init_for = "xavier"
    output = Output.PROBABILITIES


@register
class Tanh(_Activation):
    """Tanh: 2 exp, sub, add, div = 6 forward; 1−tanh² = 2 backward."""

    name = "tanh"
    saves = "output"  # tanh_backward(grad, result)
    fwd, bwd = 6, 2
    saturating = True
    max_slope = 1.0  # 1 − tanh²(z) ≤ 1, at z = 0 only
    init_for = "xavier"


@register
class Log(_Activation):
    """Natural logarithm: 1 FLOP (an elementary function) forward; the derivative 1/z is
    one divide backward. Needs z, so its output is a new tensor."""

    name = "log"
    saves = "input"  # grad / self
    fwd = bwd = 1
    in_place = False
    output = Output.LOG


@register
class LogSoftmax(_Activation):
    """Fused log-softmax over the class axis (as softmax; ``axis=`` picks another): max,
    shift, Σexp, log ≈ 3 per element; backward ``g − softmax·Σg`` ≈ 3 per element."""

    name = "log_softmax"
    saves = "output"  # _log_softmax_backward_data(grad, result, …)
    fwd = bwd = 3
    output = Output.LOG_DISTRIBUTION
    opts = (Opt("axis", "int", None),)

    def infer(self, in_shapes, opts):
        return _class_axis_checked(self.name, in_shapes[0], opts)

    def normalized_axis(self, opts, in_shapes):
        return _normalized_axis(in_shapes[0], opts)


@register
class Softmax(_Activation):
    """Softmax over the class axis — the last axis of ``[C]`` and ``[T, C]``, the channel
    axis of ``[C, H, W]`` and ``[C, D, H, W]`` (per-pixel and per-voxel classes), or along
    ``axis=`` — max (C−1), subtract
    (C), exp (C), sum (C−1), divide (C) ≈ 5 per element. In place.

    Backward: when the softmax feeds ``cross_entropy`` the two fuse and the gradient is
    ``ŷ − y`` (counted by the loss; nothing is counted here); otherwise the
    vector-Jacobian product ``y ⊙ (g − ⟨g, y⟩)`` = 4 per element (nnlint's count; a
    naive C×C Jacobian would cost O(C²))."""

    name = "softmax"
    saves = "output"  # _softmax_backward_data(grad, result, …)
    fwd = 5
    bwd = 4
    output = Output.DISTRIBUTION
    opts = (Opt("axis", "int", None),)

    def infer(self, in_shapes, opts):
        return _class_axis_checked(self.name, in_shapes[0], opts)

    def normalized_axis(self, opts, in_shapes):
        return _normalized_axis(in_shapes[0], opts)


@register
class PReLU(_Activation):
    """PReLU with a learnable slope: ``prelu`` shares one α, ``prelu(n)`` learns one per
    channel (He et al. 2015). 2 FLOPs forward, 2 backward (plus the α gradient, one per
    element when trainable). Needs z for ∂α, so its output is a new tensor."""

    name = "prelu"
    saves = "input"  # _prelu_kernel_backward(grad, self, weight)
    fwd = 2
    bwd = 2
    in_place = False
    relu_family = True
    init_for = "he"
    opts = (Opt("num_parameters", "int", 1, positional=True, minimum=1),)

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        n = opts["num_parameters"]
        if n != 1 and (not x or channel_axis(x) != n):
            raise ShapeError(f"prelu({n}) needs {n} channels, the input is {fmt_shape(x)}")
        return x

    def cost(self, c):
        base = super().cost(c)
        extra = c.batch * numel(c.x) if c.trainable else 0
        return attrs.evolve(
            base, params=c.opts["num_parameters"], backward_flops=base.backward_flops + extra
        )

    def param_shapes(self, opts, in_shapes):
        return ((opts["num_parameters"],),)
