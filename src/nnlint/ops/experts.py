"""Mixture of experts: a router sends each token to a few of many feed-forward experts."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, register


@register
class Moe(Op):
    """Sparse mixture of experts over ``[T, D]`` (Shazeer et al. 2017; Mixtral, Jiang et al.
    2024): a bias-free router ``D → E`` scores the ``E`` experts, each token takes its
    ``k = top_k`` best and weighs them with a softmax over their ``k`` scores
    (``Softmax(TopK(x·W_g))``, Mixtral's gate); each expert is a bias-free SwiGLU
    feed-forward of width ``H`` (``W_down(silu(W_gate·x) ⊙ W_up·x)``, Shazeer 2020), and
    the token's output is the gate-weighted sum of its experts' outputs. ``shared=S``
    adds ``S`` experts every token visits, ungated (DeepSeekMoE, Dai et al. 2024). Every
    token visits exactly ``k`` routed experts: no capacity limit drops a token. ``A = k + S``
    experts run per token; ``T`` is the number of tokens (the leading axis, 1 for ``[D]``).

    Params: ``D·E`` (router) ``+ (E + S)·3·D·H`` — every expert; a token uses ``D·E + A·3·D·H``
    of them (``active_params``; the other ``(E − k)·3·D·H`` are inactive for it).
    MACs/sample: ``T·D·E`` (router) ``+ T·A·3·D·H`` (the visited experts only).
    Forward: ``2·MACs`` + per token ``k·(E − 1)`` compares (top-k: ``k`` passes of a max over
    the ``E`` scores) ``+ 5·k`` (softmax over the ``k`` chosen, see the softmax op) ``+ A·6·H``
    (silu 5, product 1 per hidden element) ``+ k·D`` (gate weighting) ``+ (A − 1)·D``
    (summing the experts' outputs).
    Backward MACs: the input gradient of the router and of every visited expert's three
    matrices, plus their weight gradients when trainable (``2·MACs``); ``input_grad_macs``
    is the part only the op's input needs (router and the gate and up projections,
    ``T·D·E + T·A·2·D·H``). Backward FLOPs: ``2·backward MACs`` + per token ``A·7·H``
    (silu 5, product 2) ``+ 3·k·D`` (the weighted outputs' gradient ``k·D`` and the gate
    weights' ``k`` dot products of length ``D``) ``+ 4·k`` (softmax); the top-k selection
    scatters its gradient (0 FLOPs). Cached: every tensor it makes, per token ``E`` (router
    scores) ``+ k`` (gate weights) ``+ k·D`` (each routed token's copy) ``+ A·(5·H + D)``
    (as dense, silu, dense, mul, dense) ``+ k·D`` (weighted outputs) ``+ D`` (the output).
    """

    name = "moe"
    tensor_parallel = "whole"
    multiplies_weights = fusion_host = True
    min_rank = 1
    max_rank = 2
    opts = (
        Opt("experts", "int", positional=True, required=True, minimum=1),
        Opt("top_k", "int", positional=True, required=True, minimum=1),
        Opt("hidden", "int", positional=True, required=True, minimum=1),
        Opt("shared", "int", 0, minimum=0),
    )

    def infer(self, in_shapes, opts):
        self.check_rank(in_shapes[0])
        if opts["top_k"] > opts["experts"]:
            raise ShapeError(
                f"moe top_k={opts['top_k']} is more than its {opts['experts']} experts: each "
                f"token visits top_k different experts",
                code="NN007",
            )
        return in_shapes[0]

    def text(self, opts):
        return f"moe({opts['experts']}, {opts['top_k']}, {opts['hidden']})"

    def _dims(self, opts, in_shapes):
        """(T, D, E, k, H, S)."""
        x = in_shapes[0]
        return (
            numel(x[:-1]),
            x[-1],
            opts["experts"],
            opts["top_k"],
            opts["hidden"],
            opts["shared"],
        )

    def param_shapes(self, opts, in_shapes):
        _, D, E, _, H, S = self._dims(opts, in_shapes)
        return ((E, D),) + ((H, D), (H, D), (D, H)) * (E + S)

    def routed_experts(self, opts, in_shapes):
        """The ``E`` routed experts, each ``W_gate, W_up`` ``[H, D]`` and ``W_down``
        ``[D, H]`` (``3·D·H``); the router and the ``shared`` experts every token visits
        are not divided among expert-parallel ranks."""
        _, D, E, _, H, _ = self._dims(opts, in_shapes)
        return E, ((H, D), (H, D), (D, H))

    def params_read(self, opts, in_shapes, rows, params):
        """``D·E + (min(E, rows·k) + S)·3·D·H``: the router, the shared experts and the
        routed experts ``rows`` tokens can visit — ``k`` for one token, every expert once
        ``rows·k ≥ E``. An upper bound on the distinct experts (no two tokens share one),
        the case balanced routing approaches when ``rows·k`` is small against ``E``; one
        token (batch-1 decode) reads exactly its ``k``."""
        _, D, E, k, H, S = self._dims(opts, in_shapes)
        return min(params, D * E + (min(E, rows * k) + S) * 3 * D * H)

    def cost(self, c):
        T, D, E, k, H, S = self._dims(c.opts, c.in_shapes)
        A, B = k + S, c.batch
        expert = 3 * D * H
        macs = T * D * E + T * A * expert
        backward_macs = (macs if c.trainable else 0) + macs
        forward = B * (2 * macs + T * (k * (E - 1) + 5 * k + A * 6 * H + k * D + (A - 1) * D))
        backward = B * (2 * backward_macs + T * (A * 7 * H + 3 * k * D + 4 * k))
        return Cost(
            params=D * E + (E + S) * expert,
            inactive_params=(E - k) * expert,
            macs=macs,
            forward_flops=forward,
            backward_macs=backward_macs,
            input_grad_macs=T * D * E + T * A * 2 * D * H,
            backward_flops=backward,
            cached_elements=B * T * (E + k + 2 * k * D + A * (5 * H + D) + D),
            output_elements=T * D,
            workspace_elements=T * (E + k + 2 * k * D + A * (4 * H + D)),
        )

    def saved(self, c):
        """What autograd saves for explicit routing as Mixtral's reference and Hugging
        Face's implementations write it (``topk``, ``softmax``, per expert ``torch.where``
        of the tokens routed to it, their rows gathered, the expert, the gate weight
        multiplied in, ``index_add`` into the output): the input for the router's and the
        shared experts' weight gradients, the top-k indices (int64), the gate weights, per
        routed token two int64 indices (token and slot), its gathered row ``D`` (weight
        gradients), its gate weight, the silu's input, both factors of the product and the
        down projection's input (weight gradient), the expert's output and the weighted
        output ``index_add`` keeps: ``3·D + 4·H + 1``; per shared expert and token the
        same ``4·H`` (it reads the input itself and is not weighted). Frozen: no weight
        gradient, so no input, gathered rows or down-projection inputs."""
        T, D, _, k, H, S = self._dims(c.opts, c.in_shapes)
        w = c.trainable
        per_visit = (D if w else 0) + 3 * H + (H if w else 0)
        parts = [Saved("in0", numel(c.x))] if w else []
        parts += [
            Saved("top_k", T * k, kind="index"),
            Saved("gates", T * k),
            Saved("dispatch", 2 * T * k, kind="index"),
            Saved("routed", T * k * (per_visit + 2 * D + 1)),
        ]
        if S:
            parts.append(Saved("shared", T * S * (3 * H + (H if w else 0))))
        return tuple(parts)
