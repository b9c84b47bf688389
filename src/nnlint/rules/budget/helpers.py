"""What several rules of the budget family share."""

from __future__ import annotations

from fractions import Fraction

from nnlint.rules.base import RuleContext


def budget_value(key: str, ctx: RuleContext) -> int | float | None:
    """The computed figure a budget key limits (None: cannot be computed here)."""
    t = ctx.totals
    if key == "latency":
        return ctx.roofline.time_s if ctx.roofline is not None else None
    return {
        "params": t.params,
        "trainable_params": t.trainable_params,
        "macs": t.macs,
        "forward_flops": t.forward_flops,
        "flops": t.inference_flops,
        "train_step_flops": t.train_step_flops,
        "param_memory": t.inference_param_bytes,
        "train_memory": t.train_memory_bytes,
        "inference_memory": t.inference_memory_bytes,
        "activation_memory": t.activation_bytes,
    }[key]


def plain(x):
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x
