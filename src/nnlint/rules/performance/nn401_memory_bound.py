"""NN401 memory-bound: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.precision import PRECISION_BITS
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bandwidth, fmt_bytes, fmt_int, fmt_rate, fmt_time


def _per_batch(precision: str) -> str:
    """A wide dense layer's intensity at batch B: 2 FLOPs per weight over its bytes, ``2B/s``
    for ``s`` bytes per value (≈ B/2 in fp32)."""
    ratio = Fraction(16, PRECISION_BITS[precision])
    if ratio == 1:
        return "B"
    if ratio.numerator == 1:
        return f"B/{ratio.denominator}"
    return f"{ratio}·B"


@register
class MemoryBound(Rule):
    """## What it does
    Reads the roofline of the deployed model on the target: each layer's
    arithmetic intensity (FLOPs ÷ bytes moved: weights, inputs and output at the
    deploy precision) against the target's ridge point (dense peak ÷ memory
    bandwidth at that precision); a layer below the ridge is memory-bound. Being
    memory-bound is normal for element-wise layers and at batch 1, so the rule
    fires once per model, and only when both hold:

    - the memory-bound layers take at least `min_memory_bound_share` of the
      estimated latency, and
    - the model's intensity (all FLOPs ÷ all bytes moved) is at least
      `min_ridge_ratio` times below the ridge point — the device's compute can be
      kept at most 1/`min_ridge_ratio` busy.

    It points at the layer that spends the most time waiting for memory, with both
    numbers.

    ## Why is this bad?
    Below the ridge, more compute units do not help: latency is bytes ÷ bandwidth, and the
    accelerator's peak is paid for and idle. The MNIST 784-128-64-10 MLP does about 219 KOp
    per image over ~441 KB — an intensity of ≈ 0.5 FLOP/byte, firmly memory-bound, while
    high-throughput accelerators need hundreds of FLOP/byte (Williams et al. 2009,
    Roofline). On an A100 deployed in fp16 the ridge is 312 TFLOP/s ÷ 1,555 GB/s ≈ 200.6
    FLOP/byte and the MLP reaches ≈ 0.99 FLOP/byte (its bytes halve): about 0.5% of the peak
    is usable. A fp32 dense layer's intensity is `2Bd² / (4d² + 8Bd) ≈ B/2` for batch `B`,
    so at batch 1 the weights are read for a single sample. For memory-bound work a
    commodity CPU can match an expensive GPU.

    ## Example
    ```
    model mlp {
        input x: [784]
        h1 = x -> dense(128) -> relu
        h2 = h1 -> dense(64) -> relu
        logits = h2 -> dense(10)
    }
    deploy {
        target    = a100-40gb
        batch     = 1
        precision = fp16
    }
    ```

    Use instead: serve requests in batches so each weight read is shared, or run
    the model on a device whose ridge point matches its intensity (a CPU):
    ```
    deploy {
        target = x86-cpu
        batch  = 1
    }
    ```

    ## Options
    - `min_memory_bound_share`: share of the estimated latency spent in
      memory-bound layers (default 0.5).
    - `min_ridge_ratio`: how many times below the ridge point the model's
      intensity must be (default 100: under 1% of the peak usable).
    """

    code = "NN401"
    name = "memory-bound"
    severity = Severity.WARNING
    summary = "The model is memory-bound far below the target's ridge point"
    options = ("min_memory_bound_share", "min_ridge_ratio")
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        roof = ctx.roofline
        if roof is None or not roof.time_s or not roof.ridge_point:
            return
        flops, moved, intensity = roof.flops, roof.bytes_moved, roof.intensity
        if not moved or not flops:  # nothing moved, or nothing but lookups: no roofline
            return
        bound = [r for r in roof.layers if r.bound == "memory"]
        share = roof.memory_bound_share
        ratio = roof.ridge_point / intensity
        if (
            share < ctx.thresholds["min_memory_bound_share"]
            or ratio < ctx.thresholds["min_ridge_ratio"]
        ):
            return
        worst = max(bound, key=lambda r: r.time_s)
        node = ctx.report.layer(worst.node_id).node
        target, prec = roof.target, roof.precision
        worst_ai = f"{worst.intensity:.2f}" if worst.intensity is not None else "n/a"
        msg = (
            f"{worst.node_id} is memory-bound on {target.id}: {worst_ai} FLOP/byte "
            f"({fmt_int(worst.flops)} FLOPs over {fmt_bytes(worst.bytes_moved)} moved), "
            f"against a ridge point of {roof.ridge_point:.1f} FLOP/byte "
            f"({fmt_rate(roof.peak, prec)} {prec} ÷ {fmt_bandwidth(roof.bandwidth)}); the whole "
            f"model reaches {intensity:.2f} FLOP/byte ({ratio:.0f}x below the ridge: "
            f"{intensity / roof.ridge_point:.2%} of the peak usable) and memory-bound layers "
            f"take {share:.1%} of the estimated {fmt_time(roof.kernel_time_s)} of kernel time "
            f"per inference at batch {ctx.totals.deploy_batch}"
        )
        per_batch = _per_batch(prec)
        fix = (
            "serve requests in batches (raise deploy.batch): each weight is then read once "
            "per batch, and a wide dense layer's intensity grows to about "
            f"{per_batch} FLOP/byte at {prec}; or deploy on a device whose ridge point is "
            f"near {intensity:.2g} FLOP/byte — for memory-bound work a CPU can match a GPU"
        )
        yield self.diag(
            msg,
            node.span,
            fix=fix,
            layer=worst.node_id,
            layer_intensity=worst.intensity,
            layer_bytes_moved=worst.bytes_moved,
            layer_flops=worst.flops,
            layer_time_s=worst.time_s,
            intensity=intensity,
            flops=flops,
            bytes_moved=moved,
            ridge_point=roof.ridge_point,
            ridge_ratio=ratio,
            memory_bound_share=share,
            latency_s=roof.time_s,
            peak=roof.peak,
            bandwidth=roof.bandwidth,
            precision=prec,
            target=target.id,
        )
