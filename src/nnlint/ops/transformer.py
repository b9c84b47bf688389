"""The transformer's layers: token embedding and multi-head self-attention."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, fmt_shape, numel, register


@register
class Embedding(Op):
    """Table lookup ``ids [T] -> [T, dim]`` (or ``[] -> [dim]``).

    Params ``vocab·dim``. Forward: 0 FLOPs — a lookup, no arithmetic [seed 003].
    Backward: one add per output element into the table's gradient (trainable
    only); ids have no gradient, so nothing flows to the input.
    """

    name = "embedding"
    tensor_parallel = "whole"
    has_weights = True
    gathers_rows = True
    min_rank = 0
    max_rank = 1
    opts = (
        Opt("vocab", "int", positional=True, required=True, minimum=1),
        Opt("dim", "int", positional=True, required=True, minimum=1),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        return in_shapes[0] + (opts["dim"],)

    def weight_shape(self, opts, in_shapes):
        return (opts["vocab"], opts["dim"])

    def param_shapes(self, opts, in_shapes):
        return ((opts["vocab"], opts["dim"]),)

    def saved(self, c):
        """The int64 token ids, for the table's gradient (``embedding_backward``)."""
        return (Saved("in0", numel(c.x), kind="index"),) if c.trainable else ()

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
    ``dropout=p`` drops attention probabilities in training (BERT, GPT-2, Megatron):
    4 FLOPs per score forward, 2 backward, as ``dropout``; none at inference.
    """

    name = "attention"
    tensor_parallel = "whole"
    has_weights = True
    multiplies_weights = fusion_host = True
    min_rank = max_rank = 2
    opts = (
        Opt("heads", "int", positional=True, required=True, minimum=1),
        Opt("causal", "bool", False),
        Opt("dropout", "float", 0.0, minimum=0.0, below=1.0),
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

    def score_elements(self, opts, in_shapes):
        return opts["heads"] * in_shapes[0][0] ** 2

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
        drop = c.training and c.opts["dropout"] > 0
        forward = B * (2 * macs + 4 * T * D + hT2 + 5 * hT2 + (hT2 if c.opts["causal"] else 0))
        backward = B * (2 * backward_macs + (4 * T * D if c.trainable else 0) + 4 * hT2 + hT2)
        if drop:
            forward += 4 * B * hT2
            backward += 2 * B * hT2
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

    def param_shapes(self, opts, in_shapes):
        D = in_shapes[0][1]
        return ((D, D), (D,)) * 4

    def saved(self, c):
        """What eager attention saves (scaled dot products, softmax, ``P·V``): the input
        (for the Q, K, V weight gradients), Q, K and V, the causal mask (one byte per score,
        shared by the batch), the probabilities, with ``dropout`` their mask and the dropped
        probabilities, and the context the output projection reads — ``x + 4TD + h·T²``
        per sample (Korthikanti et al. 2022 §4.1: ``11sbh + 5as²b`` with the block's
        dropout). Everything but the input is split over the heads under tensor
        parallelism; the ``h·T²`` core is what selective recomputation and flash attention
        do not keep — a flash kernel keeps each row's fp32 log-sum-exp instead (Dao et al.
        2022)."""
        T, D = c.x
        h = c.opts["heads"]
        hT2 = h * T * T
        parts = [Saved("in0", T * D)] if c.trainable else []
        parts += [Saved(name, T * D, split=True) for name in ("q", "k", "v")]
        if c.opts["causal"]:
            parts.append(Saved("causal_mask", T * T, kind="mask", core=True, per_sample=False))
        parts.append(Saved("probs", hT2, split=True, core=True))
        if c.opts["dropout"] > 0:
            parts.append(Saved("drop_mask", hT2, kind="mask", split=True, core=True))
            parts.append(Saved("dropped", hT2, split=True, core=True))
        if c.trainable:
            parts.append(Saved("context", T * D, split=True))
        parts.append(Saved("lse", h * T, kind="stat", split=True, flash_only=True))
        return tuple(parts)
