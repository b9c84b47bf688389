"""NN4xx — performance on the target: roofline, precision and op support.

The roofline figures come from :mod:`nnlint.roofline` (inference at ``deploy.batch``
and the deploy precision; bytes moved = weights + inputs + output per layer; ridge
point = dense peak ÷ bandwidth). Precisions are the deploy precision, each node's
``precision=`` and, on device classes that train (:data:`~nnlint.rules.fit.TRAINING_KINDS`),
the training precision.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from nnlint.diagnostics import Diagnostic, Severity, Span
from nnlint.ops import PRECISION_BITS
from nnlint.rules.base import Rule, RuleContext, fmt_bytes, fmt_int, fmt_time, register
from nnlint.rules.fit import trains_on, whole_model_span
from nnlint.targets import PRECISIONS, Target

# Ops that vanish from an inference graph (nothing for a device to run).
_INFERENCE_NOOPS = frozenset({"dropout", "identity"})


def fmt_rate(ops_per_s: float, precision: str) -> str:
    """``312 TFLOP/s`` for floating point, ``4 TOP/s`` for integer precisions."""
    unit = "OP/s" if precision.startswith(("int", "uint")) else "FLOP/s"
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if ops_per_s >= size:
            return f"{ops_per_s / size:,.6g} {prefix}{unit}"
    return f"{ops_per_s:g} {unit}"


def fmt_bandwidth(bytes_per_s: float) -> str:
    """``1,555 GB/s``, ``500 MB/s`` (decimal, as vendors quote bandwidth)."""
    for prefix, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if bytes_per_s >= size:
            return f"{bytes_per_s / size:,.6g} {prefix}/s"
    return f"{bytes_per_s:g} B/s"


def _ordered(precisions) -> list[str]:
    """Widest first, as :data:`nnlint.targets.PRECISIONS` lists them."""
    rank = {p: i for i, p in enumerate(PRECISIONS)}
    return sorted(precisions, key=lambda p: (rank.get(p, len(rank)), p))


def _is_float(precision: str) -> bool:
    return not precision.startswith(("int", "uint"))


def closest_precision(target: Target, precision: str) -> str | None:
    """The target's precision nearest ``precision``: same kind (float/int) first, then
    the nearest width, the wider on a tie."""
    bits = PRECISION_BITS[precision]

    def key(p: str) -> tuple:
        b = PRECISION_BITS.get(p, 0)
        return (_is_float(p) != _is_float(precision), abs(b - bits), -b)

    options = sorted(target.precisions, key=key)
    return options[0] if options else None


def _per_batch(precision: str) -> str:
    """A wide dense layer's intensity at batch B: 2 FLOPs per weight over its bytes, ``2B/s``
    for ``s`` bytes per value (seed 004: ≈ B/2 in fp32)."""
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
    Below the ridge, more compute units do not help: latency is bytes ÷ bandwidth,
    and the accelerator's peak is paid for and idle. The MNIST 784-128-64-10 MLP
    does about 219 KOp per image over ~441 KB — an intensity of ≈ 0.5 FLOP/byte,
    "firmly memory-bound", while high-throughput accelerators need "hundreds of
    FLOP/byte" (seed 004). On an A100 deployed in fp16 the ridge is
    312 TFLOP/s ÷ 1,555 GB/s ≈ 200.6 FLOP/byte and the MLP reaches ≈ 0.99
    FLOP/byte (its bytes halve): about 0.5% of the peak is usable. A fp32 dense
    layer's intensity is `2Bd² / (4d² + 8Bd) ≈ B/2` for batch `B` (seed 004,
    derived), so at batch 1 the weights are read for a single sample. For
    memory-bound work a commodity CPU can match an expensive GPU (seed 004).

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
    family = "performance"
    severity = Severity.WARNING
    summary = "The model is memory-bound far below the target's ridge point"
    options = ("min_memory_bound_share", "min_ridge_ratio")
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        roof = ctx.roofline
        if roof is None or not roof.time_s or not roof.ridge_point:
            return
        flops = sum(r.flops for r in roof.layers)
        moved = sum(r.bytes_moved for r in roof.layers)
        if not moved or not flops:  # nothing moved, or nothing but lookups: no roofline
            return
        intensity = flops / moved
        bound = [r for r in roof.layers if r.bound == "memory"]
        share = sum(r.time_s for r in bound) / roof.kernel_time_s
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


@register
class UnsupportedPrecision(Rule):
    """## What it does
    Checks every precision the deployed model computes in — `deploy.precision`
    (the training precision when it is not set) and each layer's `precision=` —
    against the precisions the target runs natively. On device classes that train
    (GPUs, CPUs) it also checks `train.precision`. One finding per place, with the
    precisions the target does run.

    ## Why is this bad?
    The model does not run as specified: the edge TPU executes only fully 8-bit
    quantized TFLite models ("supports only TensorFlow Lite models that are fully
    8-bit quantized", Coral docs), so a fp32 model is rejected by its compiler or
    falls back to the host CPU; a bf16 model on a T4 (no bf16 units) runs in a
    slower format. nnlint's latency estimate needs the target's peak at the
    precision and cannot be computed either. INT8 is 4× smaller than fp32 and up
    to 4× faster on INT8 hardware, but needs post-training calibration (seed 004).

    ## Example
    ```
    deploy {
        target    = edge-tpu
        precision = fp32
    }
    ```

    Use instead:
    ```
    deploy {
        target    = edge-tpu
        precision = int8      # full-integer post-training quantization
    }
    ```

    ## Options
    None.
    """

    code = "NN402"
    name = "unsupported-precision"
    family = "performance"
    severity = Severity.ERROR
    summary = "A precision the target cannot compute in"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, config, t = ctx.target, ctx.config, ctx.totals
        deploy_prec = t.deploy_precision
        if not target.supports_precision(deploy_prec):
            if "precision" in config.deploy.spans:
                span, what = config.deploy.spans["precision"], f"deploy.precision = {deploy_prec}"
            elif "precision" in config.train.spans:
                span = config.train.spans["precision"]
                what = (
                    f"the model deploys at {deploy_prec}, its training precision "
                    "(deploy.precision is not set)"
                )
            else:
                span = whole_model_span(ctx)
                what = f"the model deploys at {deploy_prec}, the default (no precision is set)"
            yield self._diag(
                ctx, deploy_prec, what, span, "set deploy.precision to", place="deploy"
            )
        if (
            config.has_train
            and trains_on(target)
            and "precision" in config.deploy.spans
            and "precision" in config.train.spans
            and not target.supports_precision(config.train.precision)
        ):
            prec = config.train.precision
            yield self._diag(
                ctx,
                prec,
                f"train.precision = {prec}",
                config.train.spans["precision"],
                "set train.precision to",
                place="train",
            )
        layers: dict[str, list] = {}
        for layer in ctx.report.layers:
            if layer.node.precision and not target.supports_precision(layer.node.precision):
                layers.setdefault(layer.node.precision, []).append(layer.node)
        for prec, nodes in layers.items():
            first = nodes[0]
            more = f" ({len(nodes)} layers set it; the first is here)" if len(nodes) > 1 else ""
            yield self._diag(
                ctx,
                prec,
                f"{first.id} has precision={prec}{more}",
                first.span,
                "set its precision= to",
                place="layer",
                layers=len(nodes),
            )

    def _diag(
        self, ctx: RuleContext, prec: str, what: str, span: Span, verb: str, **data
    ) -> Diagnostic:
        target = ctx.target
        runs = _ordered(target.precisions)
        alt = closest_precision(target, prec)
        msg = (
            f"{what}, but {target.id} ({target.name}) has no {prec} arithmetic: it runs "
            f"{', '.join(runs)} only"
        )
        fix = f"{verb} {alt}" if alt else "choose another target"
        if alt and not _is_float(alt) and _is_float(prec):
            fix += " (full-integer post-training quantization, calibrated on representative data)"
        return self.diag(
            msg,
            span,
            fix=fix,
            precision=prec,
            target=target.id,
            supported=runs,
            suggested=alt,
            **data,
        )


@register
class UnsupportedOp(Rule):
    """## What it does
    Lists the op kinds of the deployed model that the target cannot run
    (`[ops] unsupported` in its profile): each kind once, at its first node, with
    how many instances the model has. What the device does instead comes from the
    target's notes (the edge TPU leaves them on the host CPU).

    ## Why is this bad?
    The op runs elsewhere — on the edge TPU, the compiler leaves unsupported ops on
    the host CPU (older compilers: everything after the first one too), and every
    TPU↔CPU boundary costs a host round trip. One public log: TFLite
    `FULLY_CONNECTED` v9 was rejected and all 12 FC ops fell back to the CPU. The
    roofline latency nnlint estimates assumes the op runs on the target, so it is
    optimistic.

    ## Example
    ```
    h = x -> dense(256) -> gelu        # no GELU on the edge TPU
    ```

    Use instead:
    ```
    h = x -> dense(256) -> relu
    ```

    ## Options
    None.
    """

    code = "NN403"
    name = "unsupported-op"
    family = "performance"
    severity = Severity.WARNING
    summary = "An op the target cannot run"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target = ctx.target
        if not target.unsupported_ops:
            return
        found: dict[str, list] = {}
        for node in ctx.report.lowered.nodes():
            if node.op in target.unsupported_ops and node.op not in _INFERENCE_NOOPS:
                found.setdefault(node.op, []).append(node)
        note = _first_sentence(target.notes)
        for op, nodes in found.items():
            count = len(nodes)
            where = "1 instance" if count == 1 else f"{count} instances, the first here"
            msg = f"{target.id} cannot run `{op}` ({where})"
            msg += f"; its profile notes: {note}" if note else "; it runs off the accelerator"
            fix = (
                f"replace `{op}` with an op {target.id} runs, or accept the fallback and its "
                "transfers (nnlint's latency estimate does not include them)"
            )
            yield self.diag(
                msg,
                nodes[0].span,
                fix=fix,
                op=op,
                instances=count,
                first=nodes[0].id,
                target=target.id,
            )


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


@register
class SubFourBitPrecision(Rule):
    """## What it does
    Flags quantization below `min_bits` bits per value — `int3`, `int2`, `int1` — in
    `train.precision`, `deploy.precision` or a layer's `precision=`, once per place.

    ## Why is this bad?
    "Below 4 bits, accuracy degrades on tail inputs and a calibration dataset is
    needed" (seed 004). INT8 already tolerates inference better than training,
    because training accumulates rounding error over many updates; below 4 bits a
    model keeps its average accuracy on common inputs while failing on rare ones,
    which a mean test accuracy hides.

    ## Example
    ```
    deploy {
        precision = int2
    }
    ```

    Use instead: int8 (or int4) with post-training calibration on representative
    data; if the sub-4-bit format is a requirement, calibrate it on a dataset that
    covers the rare cases and evaluate per class:
    ```
    deploy {
        precision = int8
    }
    ```

    ## Options
    - `min_bits`: the narrowest format accepted without a finding (default 4).
    """

    code = "NN404"
    name = "sub-4-bit-quantization"
    family = "performance"
    severity = Severity.WARNING
    summary = "Quantization below 4 bits"
    options = ("min_bits",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        limit = ctx.thresholds["min_bits"]
        config = ctx.config
        fix = (
            "use int8 or int4 with post-training calibration on representative data, or "
            "calibrate the sub-4-bit model on data that covers rare inputs and check "
            "per-class accuracy"
        )
        for section, cfg in (("train", config.train), ("deploy", config.deploy)):
            prec = cfg.precision
            if prec and "precision" in cfg.spans and PRECISION_BITS[prec] < limit:
                why = (
                    " — and training accumulates rounding error over every update"
                    if section == "train"
                    else ""
                )
                yield self._diag(
                    f"{section}.precision = {prec}",
                    prec,
                    limit,
                    why,
                    cfg.spans["precision"],
                    fix,
                    place=section,
                )
        seen: dict[str, list] = {}
        for layer in ctx.report.layers:
            prec = layer.node.precision
            if prec and PRECISION_BITS[prec] < limit:
                seen.setdefault(prec, []).append(layer.node)
        for prec, nodes in seen.items():
            more = f" ({len(nodes)} layers; the first is here)" if len(nodes) > 1 else ""
            yield self._diag(
                f"{nodes[0].id} has precision={prec}{more}",
                prec,
                limit,
                "",
                nodes[0].span,
                fix,
                place="layer",
                layers=len(nodes),
            )

    def _diag(
        self, what: str, prec: str, limit: int, why: str, span: Span, fix: str, **data
    ) -> Diagnostic:
        bits = PRECISION_BITS[prec]
        msg = (
            f"{what}: {bits} {'bit' if bits == 1 else 'bits'} per value, below {limit} bits; "
            f"accuracy degrades on tail inputs and calibration data is needed{why}"
        )
        return self.diag(msg, span, fix=fix, precision=prec, bits=bits, min_bits=limit, **data)
