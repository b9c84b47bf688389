"""NN305 kv-cache-exceeds-target: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_size


@register
class KvCacheExceedsTarget(Rule):
    """## What it does
    For a decoder served on the deploy target (a model with a causal attention), adds the
    deployed weights and the KV cache — `2 · layers · kv_heads · head_dim · context ·
    concurrency · bytes` at `deploy.kv_precision` (Pope et al. 2022) — and compares them
    with the target's memory. The message gives both terms and the changes that fit,
    computed: the most concurrent sequences at this context, and the longest context at
    this concurrency.

    ## Why is this bad?
    The server cannot admit the sequences it was sized for: the cache, not the weights,
    is the largest memory term of long-context serving. Llama 2 7B keeps 0.5 MiB of fp16
    keys and values per token, 2 GiB for one 4096-token sequence: with its 13.5 GB of fp16
    weights a 24 GB L4 holds four such sequences, not sixteen.

    ## Example
    ```
    deploy {
        target      = l4
        precision   = fp16
        context     = 8192
        concurrency = 16     # 64 GiB of KV cache
    }
    ```

    Use instead: fewer sequences or a shorter context (the message computes both), a
    narrower cache (`kv_precision = fp8` halves it), or grouped-query attention
    (`kv_heads=`):
    ```
    deploy {
        target       = l4
        precision    = fp16
        context      = 8192
        concurrency  = 2
    }
    ```

    ## Unified memory
    On a target whose memory is shared with the host CPU and its OS or firmware
    (`unified_memory = true`: Jetson, Raspberry Pi, the desktop CPU; `nnlint targets ID`
    shows it), the memory is compared whole — the host's share depends on the system and no
    public figure gives it — and the message says so: less than the figure is left for the
    model, so the concurrency and context that fit are upper bounds.

    ## Options
    None.
    """

    code = "NN305"
    name = "kv-cache-exceeds-target"
    severity = Severity.ERROR
    summary = "The deployed weights and the KV cache exceed the target's memory"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        plan, target = ctx.serving, ctx.target
        if plan is None or plan.fits is not False:
            return
        memory = target.memory_bytes
        fixes = []
        if plan.max_concurrency:
            fixes.append(f"deploy.concurrency = {plan.max_concurrency}")
        longest = plan.max_context
        if longest >= 1:
            fixes.append(f"deploy.context = {longest}")
        msg = (
            f"serving {plan.concurrency} sequences of {plan.context} tokens needs "
            f"{fmt_size(plan.total_bytes)}, more than the {fmt_size(memory)} of {target.id}: "
            f"weights {fmt_bytes(plan.weights_bytes)} + KV cache "
            f"{fmt_bytes(plan.kv_cache_bytes)} ({fmt_bytes(plan.kv_bytes_per_sequence)} per "
            f"sequence at {plan.kv_precision})"
        )
        msg += "; what fits: " + " or ".join(fixes) if fixes else "; the weights alone do not fit"
        msg += target.unified_memory_hint()
        span = ctx.sections.deploy.spans.get("concurrency") or ctx.whole_model_span
        yield self.diag(
            msg,
            span,
            fix=("set " + " or ".join(fixes)) if fixes else "deploy at a narrower precision",
            kv_cache_bytes=plan.kv_cache_bytes,
            weights_bytes=plan.weights_bytes,
            memory_bytes=memory,
            max_concurrency=plan.max_concurrency,
            max_context=longest,
            target=target.id,
        )
