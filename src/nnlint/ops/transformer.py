"""The transformer's layers: token embedding and multi-head self-attention."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, register
from nnlint.ops.dropout import Dropout
from nnlint.units import fmt_shape


@register
class Embedding(Op):
    """Table lookup ``ids [T] -> [T, dim]`` (or ``[] -> [dim]``).

    Params ``vocab·dim``. Forward: 0 FLOPs — a lookup, no arithmetic (PyTorch ``nn.Embedding``).
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

    def params_read(self, opts, in_shapes, rows, params):
        """``min(vocab, rows)·dim``: one table row per token looked up (at most the table)."""
        return min(params, rows * opts["dim"])

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


_PROJECTIONS = ("q", "k", "v", "o")


@register
class Attention(Op):
    """Multi-head attention over ``[T, D]``: Q, K, V and output projections (PyTorch
    ``nn.MultiheadAttention`` layout), ``h`` heads of width ``d_h = D/h``.

    Options: ``kv_heads=g`` (grouped-query attention, Ainslie et al. 2023; ``g = 1`` is
    multi-query attention, Shazeer 2019): K and V have ``g`` heads, each shared by
    ``h/g`` query heads, so their projections map to ``D_kv = g·d_h``. ``bias=`` is
    true (all four projections), false (Llama) or the ones that have a bias:
    ``[q, k, v]`` (Qwen2), ``[q, v, o]`` (Whisper). ``rope=true``: rotary position
    embeddings on Q and K (Su et al. 2021), no parameters. ``window=N``: sliding-window
    attention (Mistral 7B, Jiang et al. 2023). ``kv=NAME``: cross-attention (Vaswani et
    al. 2017), keys and values from the tensor NAME ``[T_kv, D_m]``; without it
    ``T_kv = T`` and ``D_m = D``.

    Params: ``2·D² + 2·D_m·D_kv`` plus the biases (``D`` for q and o, ``D_kv`` for k
    and v). MACs/sample: ``2·T·D²`` (q, o) ``+ 2·T_kv·D_m·D_kv`` (k, v)
    ``+ 2·T·T_kv·D`` (``QKᵀ`` and ``P·V``; grouped K and V are shared, not recomputed).
    ``causal=true`` and ``window=N`` mask scores but, like PyTorch's
    ``FlopCounterMode`` and most peers, the full ``T·T_kv`` work is counted (eager
    kernels compute it); the mask adds one FLOP per score.
    Forward: ``2·MACs`` + one add per bias element + ``h·T·T_kv`` (scale by 1/√d_h)
    ``+ 5·h·T·T_kv`` (softmax, see the softmax op) + RoPE: 3 FLOPs per rotated element
    of Q and K (``x·cos + rot(x)·sin``: 2 multiplies, 1 add; the sign flip of ``rot``
    is free), ``3·(T·D + T_kv·D_kv)`` — PyTorch's counter counts none.
    Backward MACs: each of the six products has two gradients (weight and input for the
    projections — the gradient flows into NAME too —, both operands for the scores),
    the four weight gradients only when trainable; ``input_grad_macs`` is the part
    through the q, k, v projections (into the op's inputs). Backward FLOPs: ``2·backward
    MACs`` + the bias gradients (trainable) ``+ 4·h·T·T_kv`` (softmax vector-Jacobian
    product) ``+ h·T·T_kv`` (scale) + the RoPE rotation transposed (same count).
    Cached: Q, K, V (K and V before grouping), the probabilities, the context and the
    output: ``3·T·D + 2·T_kv·D_kv + h·T·T_kv`` per sample — the score term grows with
    the square of the sequence and dominates long sequences. At inference Q, K, V, the
    probabilities and the context are workspace freed when the layer is done.
    ``dropout=p`` drops attention probabilities in training (BERT, GPT-2, Megatron):
    4 FLOPs per score forward, 2 backward, as ``dropout``; none at inference.
    """

    name = "attention"
    aliases = ("MultiheadAttention", "MultiHeadAttention", "scaled_dot_product_attention")
    tensor_parallel = "whole"
    has_weights = True
    multiplies_weights = fusion_host = True
    min_rank = max_rank = 2
    tensor_inputs = ("kv",)
    opts = (
        Opt("heads", "int", positional=True, required=True, minimum=1),
        Opt("causal", "bool", False),
        Opt("kv_heads", "int", None, minimum=1),
        Opt("bias", "projections", _PROJECTIONS, choices=_PROJECTIONS),
        Opt("rope", "bool", False),
        Opt("window", "int", None, minimum=1),
        Opt("kv", "tensor", None),
        Opt("dropout", "float", 0.0, minimum=0.0, below=1.0),
    )

    def bias_axis(self, opts, out_shape):
        """The output projection's bias (``o`` in ``bias=``): one per feature, the last axis."""
        return len(out_shape) - 1 if "o" in set(opts["bias"]) else None

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        self.check_rank(x)
        h = opts["heads"]
        if x[1] % h:
            raise ShapeError(
                f"attention heads={h} must divide the model width D={x[1]} of {fmt_shape(x)}"
            )
        g = opts["kv_heads"] or h
        if h % g:
            raise ShapeError(
                f"attention kv_heads={g} must divide heads={h}: each key/value head "
                f"serves the same number of query heads",
                code="NN007",
            )
        if len(in_shapes) > 1:
            self.check_rank(in_shapes[1])
        if opts["rope"] and (x[1] // h) % 2:
            raise ShapeError(
                f"attention rope=true rotates pairs of features: the head width "
                f"D/heads = {x[1] // h} must be even",
                code="NN007",
            )
        return x

    def text(self, opts):
        return f"attention({opts['heads']})"

    def _dims(self, opts, in_shapes):
        """(T, D, T_kv, D_m, h, D_kv)."""
        T, D = in_shapes[0]
        T_kv, D_m = in_shapes[1] if len(in_shapes) > 1 else in_shapes[0]
        h = opts["heads"]
        return T, D, T_kv, D_m, h, (opts["kv_heads"] or h) * (D // h)

    def score_elements(self, opts, in_shapes):
        T, _, T_kv, _, h, _ = self._dims(opts, in_shapes)
        return h * T * T_kv

    def kv_cache_elements(self, opts, in_shapes, context):
        """Keys and values kept per sequence while decoding: ``2·D_kv`` per cached token
        (``D_kv = kv_heads·d_h``). Self-attention caches ``min(context, window)`` tokens;
        cross-attention caches its memory's ``T_kv`` tokens, projected once."""
        _, _, T_kv, _, _, D_kv = self._dims(opts, in_shapes)
        if len(in_shapes) > 1:
            return 2 * D_kv * T_kv
        tokens = min(context, opts["window"]) if opts["window"] else context
        return 2 * D_kv * tokens

    def cost(self, c):
        T, D, T_kv, D_m, h, D_kv = self._dims(c.opts, c.in_shapes)
        B = c.batch
        biased = set(c.opts["bias"])
        q_o, k_v = T * D * D, T_kv * D_m * D_kv
        proj = 2 * q_o + 2 * k_v
        scores = 2 * T * T_kv * D
        macs = proj + scores
        bias_params = sum(D if p in "qo" else D_kv for p in biased)
        bias_elems = sum(T * D if p in "qo" else T_kv * D_kv for p in biased)
        weight_grad = proj if c.trainable else 0
        backward_macs = weight_grad + proj + 2 * scores
        s = h * T * T_kv
        mask = s if (c.opts["causal"] or c.opts["window"]) else 0
        rope = 3 * (T * D + T_kv * D_kv) if c.opts["rope"] else 0
        forward = B * (2 * macs + bias_elems + s + 5 * s + mask + rope)
        backward = B * (2 * backward_macs + (bias_elems if c.trainable else 0) + 4 * s + s + rope)
        if c.training and c.opts["dropout"] > 0:
            forward += Dropout.fwd * B * s
            backward += Dropout.bwd * B * s
        weights = 2 * D * D + 2 * D_m * D_kv
        return Cost(
            params=weights + bias_params,
            weight_params=weights,
            macs=macs,
            forward_flops=forward,
            backward_macs=backward_macs,
            input_grad_macs=q_o + 2 * k_v,
            backward_flops=backward,
            cached_elements=B * (3 * T * D + 2 * T_kv * D_kv + s),
            output_elements=T * D,
            workspace_elements=2 * T * D + 2 * T_kv * D_kv + s,
        )

    def param_shapes(self, opts, in_shapes):
        _, D, _, D_m, _, D_kv = self._dims(opts, in_shapes)
        weights = {"q": (D, D), "k": (D_kv, D_m), "v": (D_kv, D_m), "o": (D, D)}
        biases = {"q": (D,), "k": (D_kv,), "v": (D_kv,), "o": (D,)}
        shapes = list(weights.values())
        shapes += [biases[p] for p in _PROJECTIONS if p in set(opts["bias"])]
        return tuple(shapes)

    def saved(self, c):
        """What eager attention saves (scaled dot products, softmax, ``P·V``): its inputs
        (for the projections' weight gradients), Q, K and V (K and V before grouping), the
        causal or window mask (one byte per score, shared by the batch), the probabilities,
        with ``dropout`` their mask and the dropped probabilities, and the context the
        output projection reads: ``x + 2TD + 2·T_kv·D_kv + h·T·T_kv`` per sample
        (Korthikanti et al. 2022 §4.1: ``11sbh + 5as²b`` with the block's dropout).
        Everything but the inputs is split over the heads under tensor parallelism; the
        score-sized core is what selective recomputation and flash attention do not keep —
        a flash kernel keeps each row's fp32 log-sum-exp instead (Dao et al. 2022)."""
        T, D, T_kv, _, h, D_kv = self._dims(c.opts, c.in_shapes)
        s = h * T * T_kv
        parts = (
            [Saved(f"in{i}", numel(x)) for i, x in enumerate(c.in_shapes)] if c.trainable else []
        )
        parts += [Saved("q", T * D, split=True)]
        parts += [Saved(name, T_kv * D_kv, split=True) for name in ("k", "v")]
        if c.opts["causal"] or c.opts["window"]:
            parts.append(Saved("mask", T * T_kv, kind="mask", core=True, per_sample=False))
        parts.append(Saved("probs", s, split=True, core=True))
        if c.opts["dropout"] > 0:
            parts.append(Saved("drop_mask", s, kind="mask", split=True, core=True))
            parts.append(Saved("dropped", s, split=True, core=True))
        if c.trainable:
            parts.append(Saved("context", T * D, split=True))
        parts.append(Saved("lse", h * T, kind="stat", split=True, flash_only=True))
        return tuple(parts)
