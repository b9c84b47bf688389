"""NN301 train-memory-exceeds-target: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.plan import per_gpu_changes, uses_parallel_plan
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

    The device is `train.target` (or `--train-target`) when one is named, else the
    deploy target; either alone is enough. Checked on device classes that run
    training jobs (GPUs and CPUs): a spec that trains in fp32 and deploys int8 to an
    edge TPU or a microcontroller is not trained there.

    ## Why is this bad?
    The job dies with an out-of-memory error at the first step. Training memory is `4P + 4P
    + 4·M_opt·P + 4·B·Σn` bytes in fp32 (README § Counting conventions; `M_opt` = 0 for SGD,
    1 for momentum, 2 for Adam): 16 bytes per parameter with Adam before a single
    activation. A 7-billion-parameter model trained with Adam in fp32 needs 7e9 × 16 = 112
    GB for its weights, gradients and Adam state alone (Rajbhandari et al. 2020, ZeRO) —
    nearly five times a 24 GB RTX 4090. What fits: max batch = (VRAM − training state) /
    activations per sample; a 100M-parameter model needs 1.6 GB of training state and leaves
    14.4 GB of a 16 GB GPU for activations.

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
    batch (numerically identical, since gradients add up); for a model
    whose fixed terms alone do not fit, freeze layers (`trainable=false` keeps no
    gradient and no optimizer state), use a lighter optimizer or precision, or a
    device with enough memory:
    ```
    train {
        batch     = 128       # x2 gradient accumulation = effective batch 256
        optimizer = adam
    }
    ```

    ## Parallel training
    When the spec names how it is trained (`train.target`, `gpus`, `tensor_parallel`,
    `pipeline_parallel`, `expert_parallel`, `sharding`, `recompute`, `attention_impl =
    flash` or a `-mixed` / `-true` precision), the check is per GPU on the training target:
    model states by ZeRO's stage formulas, a `moe`'s routed experts divided among the
    expert-parallel ranks, and the activations autograd saves for one micro-batch
    (README, "Training and serving"). The message then names the changes that fit,
    each computed: the largest micro-batch, the fewest GPUs under the current sharding,
    the sharding stage, the expert-parallel size (a model with `moe` layers) and the
    recompute setting that fit at the current GPU count. When no single change fits, the
    fix names what is left to combine: tensor or pipeline parallelism — and expert
    parallelism for a model with `moe` layers trained without it (`expert_parallel = 1`)
    — a narrower precision or lighter optimizer, or devices with more memory.

    ## Unified memory
    On a target whose memory is shared with the host CPU and its OS or firmware
    (`unified_memory = true`: Jetson, Raspberry Pi, the desktop CPU, a microcontroller's
    SRAM; `nnlint targets ID` shows it), the memory is compared whole — the host's share
    depends on the system and no public figure gives it — and the message says so: less
    than the figure is left for the model, so what fits is an upper bound.

    The message names the training target's devices by their class: "per GPU", or "per
    CPU" and "the fewest CPUs" when a CPU trains (`train.gpus` counts them either way).

    ## Options
    None.
    """

    code = "NN301"
    name = "train-memory-exceeds-target"
    severity = Severity.ERROR
    summary = "Training memory exceeds the target's memory"
    # the training device may be named by train.target alone: no deploy target needed

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, t = ctx.train_target or ctx.target, ctx.totals
        if not ctx.sections.has_train or target is None or not target.trains:
            return
        if uses_parallel_plan(ctx.sections.train):
            yield from self._per_gpu(ctx, target)
            return
        memory = target.memory_bytes
        if t.train_memory_bytes <= memory:
            return
        fit = ctx.train_memory.train_fit  # against the training device, not the deploy one
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
            saved = ctx.training.saved if ctx.training is not None else None
            sharded = [
                c.text
                for c in per_gpu_changes(
                    ctx.report, memory, micro_batch=False, saved=saved, devices=target.devices()
                )
                if c.settings[0][1] == "sharding"
            ]
            shard = f" ({sharded[0]} fits)" if sharded else ""
            fix = (
                f"cut the {per_param} of training state: freeze layers (`trainable=false`: "
                f"no gradient, no optimizer state), use a lighter optimizer (sgd keeps none) "
                f"or a narrower precision, shard the state across devices{shard}, or train "
                f"on a device with at least {fmt_size(fixed + per_sample)}"
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
        train = ctx.sections.train
        yield self.diag(
            head + tail + target.unified_memory_hint(),
            train.spans["target"] if train.target == target.id else ctx.whole_model_span,
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

    def _per_gpu(self, ctx: RuleContext, target) -> Iterator[Diagnostic]:
        plan, report, train = ctx.training, ctx.report, ctx.sections.train
        memory = target.memory_bytes
        if plan is None or plan.total_bytes <= memory:
            return
        s = plan.states
        # the expert-parallel group is carved out of the data-parallel ranks
        experts = f" (expert {plan.expert_parallel})" if plan.expert_parallel > 1 else ""
        head = (
            f"training needs {fmt_size(plan.total_bytes)} per {target.device} ({train.recipe}, "
            f"{train.optimizer}, micro-batch {train.batch}, {target.devices(plan.gpus)}: data "
            f"{plan.data_parallel}{experts} × tensor {plan.tensor_parallel} × pipeline "
            f"{plan.pipeline_parallel}, sharding {plan.sharding}, recompute {train.recompute}), "
            f"more than the {fmt_size(memory)} of {target.id}: parameters "
            f"{fmt_bytes(s.param_bytes)} + gradients {fmt_bytes(s.grad_bytes)} + optimizer "
            f"state {fmt_bytes(s.optimizer_bytes)} + saved activations "
            f"{fmt_bytes(plan.activation_bytes)}"
        )
        changes = per_gpu_changes(report, memory, saved=plan.saved, devices=target.devices())
        fixes = [str(c) for c in changes]
        best = plan.max_micro_batch or 0
        # per_gpu_changes tries the larger expert-parallel sizes of a model with routed
        # experts; one trained without expert parallelism has that lever left to combine
        tried = ", expert-parallel size" if report.experts.divisor > plan.expert_parallel else ""
        experts = report.experts.divisor > 1 and plan.expert_parallel == 1
        levers = (
            "tensor, pipeline or expert parallelism (`expert_parallel` splits the `moe` "
            "layers' experts among the data-parallel ranks)"
            if experts
            else "tensor or pipeline parallelism"
        )
        tail = (
            "; what fits: " + "; ".join(fixes)
            if fixes
            else f"; no micro-batch, {target.device} count, sharding stage{tried} or recompute "
            f"setting fits"
        )
        fix = (
            "set " + " or ".join(c.text for c in changes)
            if fixes
            else f"add {levers}, a narrower precision or lighter optimizer, or train on devices "
            "with more memory"
        )
        yield self.diag(
            head + tail + target.unified_memory_hint(),
            train.spans["target"] if train.target == target.id else ctx.model_span,
            fix=fix,
            train_memory_bytes=plan.total_bytes,
            memory_bytes=memory,
            param_bytes=s.param_bytes,
            grad_bytes=s.grad_bytes,
            optimizer_bytes=s.optimizer_bytes,
            activation_bytes=plan.activation_bytes,
            max_batch=best,
            over_bytes=plan.total_bytes - memory,
            target=target.id,
            fixes=fixes,
        )
