"""NN303 params-exceed-onchip-memory: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_size, fmt_time


@register
class ParamsExceedOnChipMemory(Rule):
    """## What it does
    On targets that cache parameters on chip (`onchip_bytes` > 0: the Coral edge
    TPU's ~7.62 MiB), compares the parameter bytes at the deploy precision with the
    cache. Parameters are cached in execution order until the cache is full, as the
    Edge TPU compiler does; the rest stream over the host link on every inference.
    The message gives the parameter bytes, the cache, the streamed bytes and the
    time streaming costs per inference (streamed bytes ÷ host-link bandwidth).

    ## Why is this bad?
    Streaming turns a 4 TOPS accelerator into a PCIe- or USB-bound one. The Edge
    TPU compiler reports "On-chip memory available for caching model parameters:
    7.62MiB"; one public log shows a model whose wide fully connected layers
    compiled to 24.2 MiB: 1.23 MiB cached, 23.4 MiB streamed, 56 ms per inference
    over PCIe (≈ 23.4 MB ÷ 0.5 GB/s ≈ 47 ms of pure transfer). A model with 20 MiB
    of int8 weights streams about 12.4 MiB — 26 ms per inference at 500 MB/s —
    where the cached part computes in microseconds. The compiler pre-tiles wide
    fully connected weights, so compiled sizes can exceed the raw int8 bytes
    nnlint counts: treat the figure as a lower bound.

    ## Example
    ```
    model wide {
        input x: [2560]
        h = x -> dense(4096) -> relu -> dense(2560)   # 20.98 M int8 weights
    }
    deploy {
        target    = edge-tpu
        precision = int8
    }
    ```

    Use instead: fewer or narrower layers so the weights fit the cache (or split the
    model across several Edge TPUs with the compiler's pipelining):
    ```
    h = x -> dense(1024) -> relu -> dense(2560)
    ```

    ## Options
    None.
    """

    code = "NN303"
    name = "params-exceed-onchip-memory"
    severity = Severity.WARNING
    summary = "Parameters exceed the target's on-chip memory and stream on every inference"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, roof = ctx.target, ctx.roofline
        if not target.onchip_bytes or roof is None or not roof.streamed_param_bytes:
            return
        streamed, link, stream_s = (
            roof.streamed_param_bytes,
            roof.host_link_bandwidth,
            roof.stream_time_s,
        )
        biggest = max(roof.layers, key=lambda r: r.weight_bytes)
        msg = (
            f"the parameters take {fmt_size(roof.param_bytes)} at {roof.precision}, more than "
            f"the {fmt_bytes(target.onchip_bytes)} {target.id} caches on chip: "
            f"{fmt_size(streamed)} stream over the {link / 1e6:g} MB/s host link on every "
            f"inference, {fmt_time(stream_s)} per inference"
        )
        if roof.time_s:
            msg += f", of an estimated {fmt_time(roof.time_s)} in all"
        over = roof.param_bytes - target.onchip_bytes
        fix = (
            f"remove at least {fmt_bytes(over)} of parameters (the largest layer, "
            f"{biggest.node_id}, holds {fmt_bytes(biggest.weight_bytes)}), or split the model "
            f"across several devices"
        )
        yield self.diag(
            msg,
            ctx.whole_model_span,
            fix=fix,
            param_bytes=roof.param_bytes,
            onchip_bytes=target.onchip_bytes,
            streamed_bytes=streamed,
            host_link_bandwidth=link,
            stream_time_s=stream_s,
            latency_s=roof.time_s,
            target=target.id,
        )
