"""NN304 attention-score-memory: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.precision import nbytes
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_int, fmt_size


@register
class AttentionScoreMemory(Rule):
    """## What it does
    For the attention layers of a trained model, adds up the score (probability)
    tensors cached for the backward pass: `B·h·T²` elements per layer (`B·h·T·T_kv` for
    cross-attention, queries from its input and keys from the memory) at the
    layer's training precision, for batch `B`, `h` heads and sequence length `T`.
    It fires when they take at least `min_activation_share` of the cached
    activation memory, or — on a device class that trains — at least
    `min_memory_share` of the target's memory. One finding per model, at the
    attention layer that keeps the most scores (the first of them on a tie).

    ## Why is this bad?
    The score tensor is `B×h×n×n`: its memory grows with the square of the sequence and
    dominates the activation memory of long-sequence transformers (Dao et al. 2022,
    FlashAttention). nnlint reports `4·B·h·n²` bytes per attention layer (fp32) and warns
    when it exceeds a fraction of the device's memory. A 32-head layer at T = 512, batch 8,
    fp32 keeps 8·32·512²·4 = 268,435,456 B of scores; 32 such layers keep 8 GiB — over a
    third of a 24 GB card. Doubling T quadruples it.

    ## Example
    ```
    model lm {
        input ids: [4096]
        h = ids -> embedding(32000, 512) -> attention(8)   # 8·4096² scores/sample
    }
    ```

    Use instead: a shorter context, fewer heads, a smaller batch, or an attention
    kernel that does not keep the `T²` probabilities (recomputed in the backward
    pass, as fused "flash" attention kernels do):
    ```
    input ids: [1024]
    ```

    ## Options
    - `min_activation_share`: fraction of the cached activation memory the scores
      must reach (default 0.5: they dominate it).
    - `min_memory_share`: fraction of the target's memory the scores must reach
      (default 0.25).
    """

    code = "NN304"
    name = "attention-score-memory"
    severity = Severity.WARNING
    summary = "Attention score tensors (B·h·T²) dominate the activation or device memory"
    options = ("min_activation_share", "min_memory_share")

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        t = ctx.totals
        train = ctx.sections.train
        # a fused (flash) kernel, or recomputing the attention core, keeps no T² scores
        if not ctx.sections.has_train:
            return
        if train.attention_impl == "flash" or train.recompute != "none":
            return
        layers = [
            layer
            for layer in ctx.report.layers
            if layer.node.kind.score_elements(layer.node.opts, layer.node.in_shapes)
        ]
        if not layers or not t.activation_bytes:
            return
        per_layer = []
        for layer in layers:
            node = layer.node
            heads, seq = node.opts["heads"], node.in_shapes[0][0]
            keys = node.in_shapes[-1][0]  # T_kv: the memory's length for cross-attention
            elements = t.train_batch * node.kind.score_elements(node.opts, node.in_shapes)
            row = (layer, heads, seq, keys, elements, nbytes(elements, layer.precision))
            per_layer.append(row)
        scores = sum(row[5] for row in per_layer)
        act_share = scores / t.activation_bytes
        trainer = ctx.train_target or ctx.target
        target = trainer if trainer is not None and trainer.trains else None
        mem_share = scores / target.memory_bytes if target else None
        act_hit = act_share >= ctx.thresholds["min_activation_share"]
        mem_hit = mem_share is not None and mem_share >= ctx.thresholds["min_memory_share"]
        if not (act_hit or mem_hit):
            return
        # the layer that keeps the most scores leads the message (a cross-attention layer
        # keeps B·h·T·T_kv: queries from its input, keys from the memory)
        first, heads, seq, keys, elements, first_bytes = max(per_layer, key=lambda r: r[5])
        count = len(per_layer)
        formula = (
            f"B·h·T² = {t.train_batch}·{heads}·{seq}²"
            if keys == seq
            else f"B·h·T·T_kv = {t.train_batch}·{heads}·{seq}·{keys}"
        )
        at = f"T = {seq}" if keys == seq else f"T = {seq}, T_kv = {keys}"
        msg = (
            f"attention({heads}) at {at} caches {formula} = {fmt_int(elements)} scores for "
            f"the backward pass, {fmt_bytes(first_bytes)} at {first.precision}"
        )
        if count > 1:
            msg += f"; the {count} attention layers keep {fmt_size(scores)}"
        msg += f", {act_share:.1%} of the {fmt_bytes(t.activation_bytes)} of cached activations"
        if mem_share is not None:
            msg += f" and {mem_share:.1%} of the {fmt_size(target.memory_bytes)} of {target.id}"
        shorten = (
            f"shorten the sequence (T = {seq}: halving it cuts the scores 4x)"
            if keys == seq
            else f"shorten the sequences (the scores grow with T·T_kv = {seq}·{keys})"
        )
        fix = (
            f"{shorten}, use fewer "
            f"heads or a smaller batch, or an attention kernel that recomputes the scores in "
            f"the backward pass instead of keeping them"
        )
        yield self.diag(
            msg,
            first.node.span,
            fix=fix,
            score_elements_per_layer=elements,
            score_bytes_per_layer=first_bytes,
            attention_layers=count,
            score_bytes=scores,
            activation_bytes=t.activation_bytes,
            activation_share=act_share,
            memory_share=mem_share,
            batch=t.train_batch,
            heads=heads,
            seq_len=seq,
        )
