"""Normalization layers: each divides by the batch's or the sample's own statistics."""

from __future__ import annotations

from nnlint.ops.base import (
    Cost,
    Op,
    Opt,
    Saved,
    ShapeError,
    channel_axis,
    channel_index,
    numel,
    register,
)
from nnlint.units import fmt_shape


class _Norm(Op):
    is_norm = True
    keeps_width = True
    subtracts_mean = True

    def learned_shift(self, opts):
        """β: every norm here learns one unless its options drop it."""
        return bool(opts.get("affine", True) and opts.get("bias", True))


@register
class BatchNorm(_Norm):
    """Batch normalization (Ioffe & Szegedy 2015).

    Params: γ, β = ``2C`` (trainable); running mean and variance = ``2C`` buffers.
    Training forward, itemized (nnlint's count): mean ``Nd + d``, variance ``3Nd``,
    normalize ``Nd + d``, scale and shift ``2Nd`` = ``7Nd + 2d``, plus the running
    statistics' EMA update ``4d``; ``Nd = B·(elements per sample)``, ``d = C``.
    Inference forward: ``4`` per element with the running statistics.
    Backward: ``10Nd`` (∂γ 2Nd, ∂β Nd, ∂x 7Nd); ``7Nd`` when frozen.
    Cached: x̂ plus μ and σ² per channel: ``Nd + 2d``.
    """

    name = "batchnorm"
    aliases = ("BatchNorm2d", "BatchNorm1d", "BatchNormalization")
    batch_statistics = True
    folds_into_linear = True  # at inference: a per-channel scale and shift
    fusion_host = True

    def means_along(self, opts, shape, axis):
        """One mean per channel, over the batch and every other axis."""
        return shape[axis] if axis == channel_index(shape) else 1

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0]

    def cost(self, c):
        ch, n = channel_axis(c.x), c.batch * numel(c.x)
        forward = 7 * n + 2 * ch + 4 * ch if c.training else 4 * n
        return Cost(
            params=2 * ch,
            buffers=2 * ch,
            forward_flops=forward,
            backward_flops=(10 if c.trainable else 7) * n,
            cached_elements=n + 2 * ch,
            output_elements=numel(c.x),
        )

    def param_shapes(self, opts, in_shapes):
        ch = channel_axis(in_shapes[0])
        return ((ch,), (ch,))

    def saved(self, c):
        """Its input and the batch's mean and inverse std per channel, fp32
        (``native_batch_norm_backward``; the running statistics are buffers, not counted)."""
        ch = channel_axis(c.x)
        return (
            Saved("in0", numel(c.x)),
            Saved("mean", ch, kind="stat", per_sample=False),
            Saved("invstd", ch, kind="stat", per_sample=False),
        )


@register
class LayerNorm(_Norm):
    """Layer normalization over the last axis (Ba et al. 2016; PyTorch ``nn.LayerNorm``).

    Params ``2D`` (γ and β); ``bias=false`` drops β (``D``; PyTorch ``bias=False``),
    ``affine=false`` both (0; ``elementwise_affine=False``). Forward ``7`` FLOPs per
    element (as batchnorm's 7Nd), training and inference alike (no running statistics
    to fold), of which the scale by γ and the shift by β are one each. Backward ``10``
    per element as batchnorm: ∂x ``7`` (one of them the product with γ), ∂γ ``2``, ∂β
    ``1``; frozen, ∂γ and ∂β are not computed. Cached: x̂ plus μ and σ per row.
    ``eps=ε``: added to the variance (PyTorch's default ``1e-5``; BERT and ViT ``1e-12``);
    it changes no count.
    """

    name = "layernorm"
    aliases = ("LayerNormalization",)
    opts = (
        Opt("bias", "bool", True),
        Opt("affine", "bool", True),
        Opt("eps", "float", 1e-5, minimum=0.0),
    )

    def means_along(self, opts, shape, axis):
        """One mean per row, across the last axis."""
        return 1 if axis == len(shape) - 1 else shape[axis]

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0]

    def cost(self, c):
        d, e = c.x[-1], numel(c.x)
        rows = e // d
        affine, bias = c.opts["affine"], c.opts["affine"] and c.opts["bias"]
        forward = 5 + affine + bias
        backward = 6 + affine + ((2 * affine + bias) if c.trainable else 0)
        return Cost(
            params=d * (affine + bias),
            forward_flops=forward * c.batch * e,
            backward_flops=backward * c.batch * e,
            cached_elements=c.batch * (e + 2 * rows),
            output_elements=e,
        )

    def param_shapes(self, opts, in_shapes):
        d = in_shapes[0][-1]
        return ((d,),) * (opts["affine"] * (1 + opts["bias"]))

    def saved(self, c):
        """Its input and each row's mean and reciprocal std, fp32 (``native_layer_norm``)."""
        rows = numel(c.x) // c.x[-1]
        return (
            Saved("in0", numel(c.x)),
            Saved("mean", rows, kind="stat"),
            Saved("rstd", rows, kind="stat"),
        )


@register
class RMSNorm(_Norm):
    """RMS normalization over the last axis (Zhang & Sennrich 2019, PyTorch ``nn.RMSNorm``):
    ``y = x / √(mean(x²) + ε) · γ``, as in Llama, Mistral and Qwen.

    Params ``D`` (γ; ``affine=false``: 0). Forward per element: square, accumulate,
    scale by ``1/rms`` and by γ: ``4`` (``3`` without γ); the per-row mean, ε and
    square root are not counted (as for layernorm). Backward per element: ∂x ``6``
    (``g·γ``, its product with x̂ summed over the row, and ``(g·γ − x̂·s)/rms``: one
    fewer without γ), ∂γ ``2`` (``g·x̂`` and its sum over rows; trainable only).
    Cached: x̂ plus ``1/rms`` per row. ``eps=ε``: added to ``mean(x²)`` (Llama 2
    ``1e-5``, Mistral and Qwen2 ``1e-6``; left out, PyTorch's default: the machine epsilon
    of the input's dtype); it changes no count.
    """

    name = "rmsnorm"
    opts = (Opt("affine", "bool", True), Opt("eps", "float", None, minimum=0.0))
    subtracts_mean = False  # x / rms(x): nothing is subtracted, so a bias is not cancelled

    def learned_shift(self, opts):
        """γ only: RMSNorm learns no shift."""
        return False

    def param_shapes(self, opts, in_shapes):
        return ((in_shapes[0][-1],),) if opts["affine"] else ()

    def saved(self, c):
        """Its input and each row's reciprocal RMS, fp32 (``_fused_rms_norm``)."""
        return (Saved("in0", numel(c.x)), Saved("rstd", numel(c.x) // c.x[-1], kind="stat"))

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0]

    def cost(self, c):
        d, e = c.x[-1], numel(c.x)
        affine = c.opts["affine"]
        backward = 5 + affine + (2 * affine if c.trainable else 0)
        return Cost(
            params=d if affine else 0,
            forward_flops=(3 + affine) * c.batch * e,
            backward_flops=backward * c.batch * e,
            cached_elements=c.batch * (e + e // d),
            output_elements=e,
        )


@register
class GroupNorm(_Norm):
    """Group normalization with ``g`` groups over the channel axis (Wu & He 2018).

    Params ``2C``. Forward ``7``, backward ``10`` (``7`` frozen) FLOPs per element.
    Cached: x̂ plus μ and σ per group.
    """

    name = "groupnorm"
    aliases = ("GroupNormalization",)
    opts = (Opt("groups", "int", positional=True, required=True, minimum=1),)

    def means_along(self, opts, shape, axis):
        """One mean per group of channels, over the group's channels and every other axis."""
        return opts["groups"] if axis == channel_index(shape) else 1

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        if channel_axis(x) % opts["groups"]:
            raise ShapeError(
                f"groupnorm groups={opts['groups']} must divide the {channel_axis(x)} "
                f"channels of {fmt_shape(x)}"
            )
        return x

    def cost(self, c):
        e = numel(c.x)
        return Cost(
            params=2 * channel_axis(c.x),
            forward_flops=7 * c.batch * e,
            backward_flops=(10 if c.trainable else 7) * c.batch * e,
            cached_elements=c.batch * (e + 2 * c.opts["groups"]),
            output_elements=e,
        )

    def param_shapes(self, opts, in_shapes):
        ch = channel_axis(in_shapes[0])
        return ((ch,), (ch,))

    def saved(self, c):
        """Its input and each group's mean and reciprocal std, fp32 (``native_group_norm``)."""
        g = c.opts["groups"]
        return (
            Saved("in0", numel(c.x)),
            Saved("mean", g, kind="stat"),
            Saved("rstd", g, kind="stat"),
        )


@register
class InstanceNorm(_Norm):
    """Instance normalization (Ulyanov et al. 2016; PyTorch ``nn.InstanceNorm1d/2d/3d``):
    each sample's channels normalized over their own spatial positions — the style-transfer
    and GAN generators' norm, and 3-D U-Net's (nnU-Net). The channel axis is nnlint's (the C
    of ``[C, H, W]``, the last axis of ``[T, D]``); the statistics are taken over every other
    axis, which must hold more than one position (PyTorch refuses one in training).

    Params: none by default (PyTorch's ``affine=False``); ``affine=true`` learns γ and β per
    channel, ``2C``. No running statistics (PyTorch's ``track_running_stats=False``): training
    and inference normalize alike. FLOPs per element as layernorm's: forward ``5``, ``7``
    with γ and β; backward ∂x ``6`` (``7`` with γ), ∂γ ``2`` and ∂β ``1`` when trainable.
    Cached: x̂ plus μ and σ per sample and channel. ``eps=ε`` (default ``1e-5``) changes no
    count.
    """

    name = "instancenorm"
    aliases = ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "InstanceNormalization")
    min_rank = 2
    opts = (Opt("affine", "bool", False), Opt("eps", "float", 1e-5, minimum=0.0))

    def means_along(self, opts, shape, axis):
        """One mean per channel (of each sample), across every other axis."""
        return shape[axis] if axis == channel_index(shape) else 1

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        if numel(x) // channel_axis(x) == 1:
            raise ShapeError(
                f"instancenorm of {fmt_shape(x)} normalizes each channel over a single "
                f"position: its output is always 0 (PyTorch refuses it in training)",
                fix="normalize over the channels instead (layernorm), or apply it where the "
                "channels have more than one position",
            )
        return x

    def cost(self, c):
        e, ch = numel(c.x), channel_axis(c.x)
        affine = c.opts["affine"]
        backward = 6 + affine + (3 * affine if c.trainable else 0)
        return Cost(
            params=2 * ch if affine else 0,
            forward_flops=(5 + 2 * affine) * c.batch * e,
            backward_flops=backward * c.batch * e,
            cached_elements=c.batch * (e + 2 * ch),
            output_elements=e,
        )

    def param_shapes(self, opts, in_shapes):
        ch = channel_axis(in_shapes[0])
        return ((ch,), (ch,)) if opts["affine"] else ()

    def saved(self, c):
        """Its input and each channel's mean and reciprocal std, fp32; with γ, the γ repeated
        for every sample: PyTorch runs it as a batch norm over the ``B·C`` instances, which
        saves ``weight.repeat(B)`` (``native_batch_norm``)."""
        ch = channel_axis(c.x)
        stats = (Saved("mean", ch, kind="stat"), Saved("invstd", ch, kind="stat"))
        weight = (Saved("weight", ch),) if c.opts["affine"] else ()
        return (Saved("in0", numel(c.x)), *stats, *weight)
