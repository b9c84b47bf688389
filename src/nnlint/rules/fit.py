"""NN3xx — fit: training and inference memory against the target's memory.

Conventions of this family (each rule's doc page repeats the part it uses):

* Memory is compared with the target's ``memory_bytes`` (device memory of a GPU,
  board RAM of a CPU or edge accelerator, SRAM of an MCU). On an MCU with flash
  (``flash_bytes`` > 0) the weights live in flash and only the activations in SRAM.
* Training findings apply only to device classes that run training jobs
  (:data:`nnlint.targets.TRAINING_KINDS`): a spec that trains in fp32 and deploys int8 to the edge
  TPU or a microcontroller is not trained there.
* Whole-model findings point at the ``deploy.target`` entry when the target comes
  from the spec, else at the model's first input.
* Sizes are printed in binary units with the exact byte count, plus the decimal
  GB/MB figure vendors print on the box (a "24 GB" card holds 24,000,000,000 B).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from nnlint.costs import Report, analyze
from nnlint.diagnostics import Diagnostic, Severity
from nnlint.ops import PRECISION_BITS, nbytes
from nnlint.rules.base import Rule, RuleContext, fmt_bytes, fmt_int, fmt_time, register
from nnlint.targets import PRECISIONS


def fmt_size(n: int) -> str:
    """``fmt_bytes`` plus the decimal figure: ``22.35 GiB (24,000,000,000 B = 24.00 GB)``."""
    n = int(n)
    text = fmt_bytes(n)
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if abs(n) >= size:
            return f"{text[:-1]} = {n / size:.2f} {unit})"
    return text


def _at_train_batch(report: Report, batch: int) -> Report:
    """The same lowered model analysed at another training batch."""
    config = report.config
    return analyze(
        report.lowered, attrs.evolve(config, train=attrs.evolve(config.train, batch=batch))
    )


def _largest_fitting(fits, guess: int) -> int:
    """The largest batch ``b >= 1`` (near ``guess``) with ``fits(b)``; 0 when none."""
    b = max(guess, 0)
    while b >= 1 and not fits(b):  # exact for byte-sized formats; sub-byte formats round up
        b -= 1
    return b


def peak_inference_activation_bytes(report: Report, batch: int) -> int:
    """Peak bytes of live activations for one inference at ``batch``.

    Execution order; each newly allocated tensor is live from the op that writes it
    until its last reader has run (views and in-place ops share their input's
    buffer). An op's workspace (attention: Q, K, V, the ``batch·h·T²`` scores and the
    context) is live while it runs. This is the reuse a runtime's memory planner does
    (seed 004 §inference: "a buffer can be reused once the next layer has consumed
    it"); the cost report's ``inference_memory_bytes`` keeps every tensor and is an upper bound.
    """
    owner: dict[str, str] = {}
    size: dict[str, int] = {}
    made_at: dict[str, int] = {}
    last_use: dict[str, int] = {}
    workspace: dict[int, int] = {}
    steps = [layer for layer in report.layers if not layer.node.kind.is_loss]
    for i, layer in enumerate(steps):
        node = layer.node
        for src in node.inputs:
            last_use[owner[src]] = i
        if layer.infer.output_elements or not node.inputs:
            owner[node.id] = node.id
            size[node.id] = nbytes(batch * layer.infer.output_elements, layer.infer_precision)
            made_at[node.id] = last_use[node.id] = i
        else:
            owner[node.id] = owner[node.inputs[0]]
            last_use[owner[node.id]] = i
        if layer.infer.workspace_elements:
            workspace[i] = nbytes(batch * layer.infer.workspace_elements, layer.infer_precision)
    born: dict[int, int] = {}
    dies: dict[int, int] = {}
    for buf, step in made_at.items():
        born[step] = born.get(step, 0) + size[buf]
        dies[last_use[buf]] = dies.get(last_use[buf], 0) + size[buf]
    live = peak = 0
    for i in range(len(steps)):
        live += born.get(i, 0)
        peak = max(peak, live + workspace.get(i, 0))
        live -= dies.get(i, 0)
    return peak


def _per_param(nbytes_: int, params: int) -> str:
    return f"{nbytes_ / params:.3g} B/param" if params else "0 B/param"


@register
class TrainMemoryExceedsTarget(Rule):
    """## What it does
    Adds up the training memory — parameters, gradients, optimizer state, buffers
    (batchnorm running statistics) and the activations cached for the backward
    pass at `train.batch` — and compares it with the target's memory. The message
    gives each term in bytes, the total against the device, and the largest
    training batch that fits: `floor((memory − fixed terms) / activation bytes per
    sample)`, where the fixed terms are everything that does not grow with the
    batch. When even batch 1 does not fit it says so, and by how much the fixed
    terms alone are over.

    Checked on device classes that run training jobs (GPUs and CPUs): a spec that
    trains in fp32 and deploys int8 to an edge TPU or a microcontroller is not
    trained there.

    ## Why is this bad?
    The job dies with an out-of-memory error at the first step. Training memory is
    `4P + 4P + 4·M_opt·P + 4·B·Σn` bytes in fp32 (seed 000; `M_opt` = 0 for SGD, 1
    for momentum, 2 for Adam): 16 bytes per parameter with Adam before a single
    activation. A 7-billion-parameter model trained with Adam in fp32 needs
    7e9 × 16 = 112 GB for its weights, gradients and Adam state alone (seed 004) —
    nearly five times a 24 GB RTX 4090. The seed's rule of thumb for what fits:
    "max batch = (VRAM − model size) / activations per sample"; a 100M-parameter
    model needs 1.6 GB of training state and leaves 14.4 GB of a 16 GB GPU for
    activations.

    ## Example
    ```
    model cnn {
        input img: [3, 224, 224]
        h      = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
        h2     = h -> conv2d(64, 3, padding=1) -> batchnorm -> relu
        logits = h2 -> global_avgpool -> flatten -> dense(10)
    }
    train {
        batch     = 256       # 49.57 MiB of activations per image: 13.31 GB in all
        optimizer = adam
    }
    deploy {
        target = jetson-orin-nano   # 8 GB: the largest batch that fits is 153
    }
    ```

    Use instead: a batch that fits, with gradient accumulation to keep the effective
    batch (numerically identical, since gradients add up, seed 004); for a model
    whose fixed terms alone do not fit, freeze layers (`trainable=false` keeps no
    gradient and no optimizer state), use a lighter optimizer or precision, or a
    device with enough memory:
    ```
    train {
        batch     = 128       # x2 gradient accumulation = effective batch 256
        optimizer = adam
    }
    ```

    ## Options
    None. Device memory shared with a host CPU (`unified_memory`, e.g. Jetson) is
    compared whole; the OS's share is not subtracted.
    """

    code = "NN301"
    name = "train-memory-exceeds-target"
    family = "fit"
    severity = Severity.ERROR
    summary = "Training memory exceeds the target's memory"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, t = ctx.target, ctx.totals
        if not ctx.config.has_train or not target.trains:
            return
        memory = target.memory_bytes
        if t.train_memory_bytes <= memory:
            return
        one, two = _at_train_batch(ctx.report, 1).totals, _at_train_batch(ctx.report, 2).totals
        per_sample = two.activation_bytes - one.activation_bytes
        constant = one.activation_bytes - per_sample  # batchnorm/groupnorm statistics
        state = t.param_bytes + t.grad_bytes + t.optimizer_bytes + t.buffer_bytes
        fixed = state + constant
        guess = (memory - fixed) // per_sample if per_sample and memory > fixed else 0
        max_batch = _largest_fitting(
            lambda b: _at_train_batch(ctx.report, b).totals.train_memory_bytes <= memory,
            min(guess, t.train_batch - 1),
        )
        opt = t.optimizer
        breakdown = (
            f"parameters {fmt_bytes(t.param_bytes)} + gradients {fmt_bytes(t.grad_bytes)}"
            f" + {opt} state {fmt_bytes(t.optimizer_bytes)} + cached activations "
            f"{fmt_bytes(t.activation_bytes)} + buffers {fmt_bytes(t.buffer_bytes)}"
        )
        head = (
            f"training at batch {t.train_batch} ({t.train_precision}, {opt}) needs "
            f"{fmt_size(t.train_memory_bytes)}, more than the {fmt_size(memory)} of "
            f"{target.id}: {breakdown}"
        )
        per_param = _per_param(state, t.params)
        if max_batch >= 1:
            tail = (
                f"; the largest training batch that fits is {max_batch} "
                f"(fixed terms {fmt_bytes(fixed)}, activations {fmt_bytes(per_sample)} "
                f"per sample)"
            )
            steps = -(-t.train_batch // max_batch)
            fix = (
                f"set train.batch to {max_batch} or less (accumulate gradients over "
                f"{steps} micro-batches to keep an effective batch of {t.train_batch}), "
                f"or train on a device with more memory"
            )
        elif fixed > memory:
            tail = (
                f"; even batch 1 does not fit: parameters, gradients, optimizer state and "
                f"buffers alone need {per_param} = {fmt_size(fixed)}, "
                f"{fmt_size(fixed - memory)} more than the device has"
            )
            fix = (
                f"cut the {per_param} of training state: freeze layers (`trainable=false`: "
                f"no gradient, no optimizer state), use a lighter optimizer (sgd keeps none) "
                f"or a narrower precision, shard the state across devices, or train on a "
                f"device with at least {fmt_size(fixed + per_sample)}"
            )
        else:
            need = fixed + per_sample
            tail = (
                f"; even batch 1 does not fit: it needs {fmt_size(need)} (fixed terms "
                f"{fmt_bytes(fixed)} + {fmt_bytes(per_sample)} of activations for one "
                f"sample), {fmt_size(need - memory)} over"
            )
            fix = (
                "shorten the inputs or narrow the layers that cache the most activations, "
                "recompute activations in the backward pass (checkpointing), or train on a "
                "device with more memory"
            )
        yield self.diag(
            head + tail,
            ctx.whole_model_span,
            fix=fix,
            train_memory_bytes=t.train_memory_bytes,
            memory_bytes=memory,
            param_bytes=t.param_bytes,
            grad_bytes=t.grad_bytes,
            optimizer_bytes=t.optimizer_bytes,
            activation_bytes=t.activation_bytes,
            buffer_bytes=t.buffer_bytes,
            fixed_bytes=fixed,
            activation_bytes_per_sample=per_sample,
            max_batch=max_batch,
            over_bytes=t.train_memory_bytes - memory,
            target=target.id,
        )


@register
class InferenceMemoryExceedsTarget(Rule):
    """## What it does
    Compares the memory one inference needs at `deploy.batch` and the deploy
    precision with the target's memory: the weights (parameters at the deploy
    precision), buffers (batchnorm running statistics) and the peak of the live
    activations — each tensor is freed once its last reader has run, as a runtime's
    memory planner does, and an attention layer holds its `B·h·T²` scores while it
    runs. On a microcontroller with flash (`flash_bytes`), the weights are compared
    with the flash and the activations with the SRAM. The message gives each term,
    the total against the device and the largest deploy batch that fits.

    ## Why is this bad?
    The model cannot be loaded, or it pages and misses every latency target.
    Inference needs only the persistent weights plus transient activation buffers —
    no gradients, no optimizer state, no saved activations (seed 004: the MNIST
    784-128-64-10 net needs 437,544 + 3,944 = 441,488 B) — so it is "halved or
    quartered" relative to training. Still, a 7B model needs 28 GB of fp32 weights
    (14 GB at fp16): it fits an 80 GB device for inference (seed 004) but not a
    24 GB card in fp32.

    ## Example
    ```
    deploy {
        target    = rtx-4090  # 24 GB
        precision = fp32      # 7e9 params x 4 B = 28 GB
    }
    ```

    Use instead:
    ```
    deploy {
        target    = rtx-4090
        precision = fp16      # 14 GB
    }
    ```

    ## Options
    None. Memory shared with a host CPU (`unified_memory`) is compared whole.
    """

    code = "NN302"
    name = "inference-memory-exceeds-target"
    family = "fit"
    severity = Severity.ERROR
    summary = "Inference memory exceeds the target's memory"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, t, report = ctx.target, ctx.totals, ctx.report
        weights = t.inference_param_bytes  # parameters + buffers at the deploy precision
        acts = peak_inference_activation_bytes(report, t.deploy_batch)
        per_sample = peak_inference_activation_bytes(report, 1)
        flash = target.flash_bytes
        memory = target.memory_bytes
        in_memory = acts if flash else weights + acts  # what must fit in memory_bytes
        weights_over = flash and weights > flash
        if in_memory <= memory and not weights_over:
            return
        fixed = 0 if flash else weights
        guess = (memory - fixed) // per_sample if per_sample and memory > fixed else 0
        max_batch = _largest_fitting(
            lambda b: fixed + peak_inference_activation_bytes(report, b) <= memory,
            min(guess, t.deploy_batch - 1),
        )
        where = f"batch {t.deploy_batch}, {t.deploy_precision}"
        data = {
            "inference_memory_bytes": weights + acts,
            "memory_bytes": memory,
            "weight_bytes": weights,
            "activation_bytes": acts,
            "activation_bytes_per_sample": per_sample,
            "flash_bytes": flash,
            "max_batch": max_batch,
            "target": target.id,
        }
        narrower = self._narrower(ctx, acts)
        shrink = (
            f"deploy at {narrower[0]} (weights {fmt_bytes(narrower[1])})"
            if narrower
            else "shrink the model"
        )
        if weights_over:
            msg = (
                f"the deployed weights ({where}) take {fmt_size(weights)}, more than the "
                f"{fmt_size(flash)} of flash on {target.id}, {fmt_size(weights - flash)} "
                f"over"
            )
            if in_memory > memory:
                msg += (
                    f"; the peak live activations ({fmt_size(acts)}) also exceed its "
                    f"{fmt_size(memory)} of SRAM"
                )
            yield self.diag(
                msg,
                ctx.whole_model_span,
                fix=f"{shrink}, or choose a device with more flash",
                **data,
            )
            return
        kind = "SRAM" if flash else "memory"
        parts = (
            f"peak live activations {fmt_bytes(acts)}"
            if flash
            else f"weights and buffers {fmt_bytes(weights)} + peak live activations "
            f"{fmt_bytes(acts)}"
        )
        msg = (
            f"inference ({where}) needs {fmt_size(in_memory)} of {kind}, more than the "
            f"{fmt_size(memory)} of {target.id}: {parts}"
        )
        if max_batch >= 1:
            msg += (
                f"; the largest deploy batch that fits is {max_batch} "
                f"({fmt_bytes(per_sample)} of activations per sample)"
            )
            fix = f"set deploy.batch to {max_batch} or less, or {shrink}"
        elif fixed > memory:
            msg += (
                f"; the weights alone are {fmt_size(fixed - memory)} over "
                f"({_per_param(fixed, t.params)})"
            )
            fix = f"{shrink}, or choose a device with more memory"
        else:
            msg += (
                f"; even batch 1 does not fit: one sample needs {fmt_bytes(per_sample)} "
                f"of activations"
            )
            fix = (
                "shorten the inputs or narrow the widest layers (the peak is set by the "
                "largest tensors alive together), or choose a device with more memory"
            )
        yield self.diag(msg, ctx.whole_model_span, fix=fix, **data)

    @staticmethod
    def _narrower(ctx: RuleContext, acts: int) -> tuple[str, int] | None:
        """A narrower precision the target runs, and the weights' size at it: the widest one
        whose weights and (proportionally narrower) activations fit, else the narrowest."""
        t, target = ctx.totals, ctx.target
        bits = PRECISION_BITS[t.deploy_precision]
        rank = {p: i for i, p in enumerate(PRECISIONS)}
        options = sorted(
            (p for p in target.precisions if PRECISION_BITS.get(p, bits) < bits),
            key=lambda p: (-PRECISION_BITS[p], rank.get(p, 99)),
        )
        if not options:
            return None
        room = target.flash_bytes or target.memory_bytes
        for p in options:
            weights = nbytes(t.params + t.buffers, p)
            used = weights if target.flash_bytes else weights + acts * PRECISION_BITS[p] // bits
            if used <= room:
                return p, weights
        return options[-1], nbytes(t.params + t.buffers, options[-1])


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
    family = "fit"
    severity = Severity.WARNING
    summary = "Parameters exceed the target's on-chip memory and stream on every inference"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, roof = ctx.target, ctx.roofline
        if not target.onchip_bytes or roof is None or not roof.streamed_param_bytes:
            return
        streamed = roof.streamed_param_bytes
        link = target.host_link_bandwidth or target.bandwidth
        stream_s = streamed / link
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


@register
class AttentionScoreMemory(Rule):
    """## What it does
    For the attention layers of a trained model, adds up the score (probability)
    tensors cached for the backward pass: `B·h·T²` elements per layer at the
    layer's training precision, for batch `B`, `h` heads and sequence length `T`.
    It fires when they take at least `min_activation_share` of the cached
    activation memory, or — on a device class that trains — at least
    `min_memory_share` of the target's memory. One finding per model, at the
    first attention layer.

    ## Why is this bad?
    The score tensor is `B×h×n×n`: its memory grows with the square of the sequence
    and dominates the activation memory of long-sequence transformers (seed 003).
    Seed 003's linter rule: report `4·B·h·n²` bytes per attention layer (fp32) and
    warn when it exceeds a fraction of VRAM. A 32-head layer at T = 512, batch 8,
    fp32 keeps 8·32·512²·4 = 268,435,456 B of scores; 32 such layers keep 8 GiB —
    over a third of a 24 GB card. Doubling T quadruples it.

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
    family = "fit"
    severity = Severity.WARNING
    summary = "Attention score tensors (B·h·T²) dominate the activation or device memory"
    options = ("min_activation_share", "min_memory_share")

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        t = ctx.totals
        if not ctx.config.has_train:
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
            elements = t.train_batch * node.kind.score_elements(node.opts, node.in_shapes)
            per_layer.append((layer, heads, seq, elements, nbytes(elements, layer.precision)))
        scores = sum(row[4] for row in per_layer)
        act_share = scores / t.activation_bytes
        target = ctx.target if ctx.target is not None and ctx.target.trains else None
        mem_share = scores / target.memory_bytes if target else None
        act_hit = act_share >= ctx.thresholds["min_activation_share"]
        mem_hit = mem_share is not None and mem_share >= ctx.thresholds["min_memory_share"]
        if not (act_hit or mem_hit):
            return
        first, heads, seq, elements, first_bytes = per_layer[0]
        count = len(per_layer)
        msg = (
            f"attention({heads}) at T = {seq} caches B·h·T² = {t.train_batch}·{heads}·{seq}² "
            f"= {fmt_int(elements)} scores for the backward pass, {fmt_bytes(first_bytes)} "
            f"at {first.precision}"
        )
        if count > 1:
            msg += f"; the {count} attention layers keep {fmt_size(scores)}"
        msg += f", {act_share:.1%} of the {fmt_bytes(t.activation_bytes)} of cached activations"
        if mem_share is not None:
            msg += f" and {mem_share:.1%} of the {fmt_size(target.memory_bytes)} of {target.id}"
        fix = (
            f"shorten the sequence (T = {seq}: halving it cuts the scores 4x), use fewer "
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
