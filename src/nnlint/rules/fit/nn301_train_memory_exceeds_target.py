"""NN301 train-memory-exceeds-target: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_per_param, fmt_size


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
        fit = ctx.memory.train_fit
        fixed, per_sample, max_batch = fit.fixed_bytes, fit.per_sample_bytes, fit.max_batch
        state = t.param_bytes + t.grad_bytes + t.optimizer_bytes + t.buffer_bytes
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
        per_param = fmt_per_param(state, t.params)
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
