"""NN302 inference-memory-exceeds-target: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.precision import ARITHMETIC_PRECISIONS, PRECISION_BITS, nbytes
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_bytes, fmt_per_param, fmt_size


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
    no gradients, no optimizer state, no saved activations (the MNIST
    784-128-64-10 net needs 437,544 + 3,944 = 441,488 B) — a fraction of what training
    needs. Still, a 7B model needs 28 GB of fp32 weights
    (14 GB at fp16): it fits an 80 GB device for inference but not a
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

    ## Unified memory
    On a target whose memory is shared with the host CPU and its OS or firmware
    (`unified_memory = true`: Jetson, Raspberry Pi, the desktop CPU, a microcontroller's
    SRAM; `nnlint targets ID` shows it), the memory is compared whole — the host's share
    depends on the system and no public figure gives it — and the message says so: less
    than the figure is left for the model, so the largest batch that fits is an upper
    bound.

    ## Options
    None.
    """

    code = "NN302"
    name = "inference-memory-exceeds-target"
    severity = Severity.ERROR
    summary = "Inference memory exceeds the target's memory"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, t = ctx.target, ctx.totals
        weights = t.inference_param_bytes  # parameters + buffers at the deploy precision
        acts = ctx.memory.inference_activation_bytes
        flash = target.flash_bytes
        memory = target.memory_bytes
        in_memory = acts if flash else weights + acts  # what must fit in memory_bytes
        weights_over = flash and weights > flash
        if in_memory <= memory and not weights_over:
            return
        fit = ctx.memory.inference_fit
        fixed, per_sample, max_batch = fit.fixed_bytes, fit.per_sample_bytes, fit.max_batch
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
            if in_memory > memory:
                msg += target.unified_memory_hint()
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
                f"({fmt_per_param(fixed, t.params)})"
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
        msg += target.unified_memory_hint()
        yield self.diag(msg, ctx.whole_model_span, fix=fix, **data)

    @staticmethod
    def _narrower(ctx: RuleContext, acts: int) -> tuple[str, int] | None:
        """A narrower precision the target runs, and the weights' size at it: the widest one
        whose weights and (proportionally narrower) activations fit, else the narrowest."""
        t, target = ctx.totals, ctx.target
        bits = PRECISION_BITS[t.deploy_precision]
        rank = {p: i for i, p in enumerate(ARITHMETIC_PRECISIONS)}
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
