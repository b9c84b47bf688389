"""``nnlint plan``: one spec on every target, ranked, with the change that makes it fit.

For each target (the built-in profiles and those a configuration adds) this module reads
the analyses ``nnlint check`` runs on one target — the roofline, the memory against the
target (:class:`~nnlint.memory.MemoryAnalysis`), the training and serving plans
(:mod:`nnlint.plan`) — and puts the answers side by side. It computes no figure of its
own: each number is the one ``nnlint check --target T`` (``--train-target T``) reports.

* **Training** (device classes that run training jobs, and specs with a ``train``
  section): the figure NN301 checks — the single-device ``train_memory_bytes`` of the
  counting conventions, or the per-GPU total of the parallel plan when the spec names
  how it is trained (README § Training and serving) — against the target's memory.
* **Serving**: the deploy precision must be one the target computes in, and the memory
  must hold what NN302 and NN305 check: the weights and the peak live activations at
  ``deploy.batch`` (on a microcontroller with flash, the weights in flash and the
  activations in SRAM) and, for a decoder, the weights and the KV cache.
* **Headroom** = the target's memory − the bytes needed (negative: over).
* **Latency** = the roofline time of one inference at ``deploy.batch`` and the deploy
  precision (``latency_s``, README § Counting conventions); **throughput** = ``deploy.batch``
  ÷ latency, in inferences per second; **energy per inference** = the target's
  ``power_w`` × latency (its rated power for the whole inference: an upper bound for a
  memory-bound model that leaves the compute units idle).
* **Changes** for a use that does not fit, each computed and then checked by analysing
  the spec again with it applied, so that every change listed fits when written: for
  training, NN301's (:func:`nnlint.plan.per_gpu_changes`: micro-batch, GPUs with
  sharding, sharding stage, recompute; the single-device figure's largest batch from
  :class:`~nnlint.memory.MemoryAnalysis`); for serving, the largest deploy batch, the
  most concurrent sequences and the longest context (NN302, NN305), and the widest
  precision the target computes in that fits.
* **Rank**: targets that serve the model first, then those that also train it; within a
  group, the fastest first (the lowest latency), then the most headroom, then the id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs

from nnlint.costs import Report, analyze
from nnlint.memory import MemoryAnalysis
from nnlint.plan import (
    Change,
    per_gpu_changes,
    per_gpu_total,
    serving_plan,
    uses_parallel_plan,
)
from nnlint.precision import PRECISION_BITS, widest_first
from nnlint.roofline import roofline
from nnlint.targets import Target

__all__ = ["Fit", "TargetPlan", "fits_everywhere_used", "plan_json", "plan_target", "plan_targets"]


@attrs.frozen
class Fit:
    """One use (training or serving) of the spec on one target."""

    need_bytes: int
    memory_bytes: int
    fits: bool
    changes: tuple[Change, ...] = ()
    why: str = ""  # what does not fit, in a few words ("" when it fits)

    @property
    def headroom_bytes(self) -> int:
        return self.memory_bytes - self.need_bytes

    def as_dict(self) -> dict:
        return {
            "fits": self.fits,
            "need_bytes": self.need_bytes,
            "memory_bytes": self.memory_bytes,
            "headroom_bytes": self.headroom_bytes,
            "why": self.why or None,
            "changes": [c.as_dict() for c in self.changes],
        }


@attrs.frozen
class TargetPlan:
    """The spec on one target: training, serving, speed and energy."""

    target: Target
    training: Fit | None  # None: no train section, or a device class that does not train
    serving: Fit
    latency_s: float | None  # None: the target has no peak at the deploy precision
    batch: int
    tokens_per_s: float | None = None  # decoders: concurrency ÷ decode latency

    @property
    def throughput(self) -> float | None:
        """Inferences per second at ``deploy.batch``."""
        return self.batch / self.latency_s if self.latency_s else None

    @property
    def energy_j(self) -> float | None:
        """Joules per inference: the target's power × the latency."""
        return self.target.power_w * self.latency_s if self.latency_s is not None else None

    def rank_key(self) -> tuple:
        trains = self.training is not None and self.training.fits
        latency = self.latency_s if self.latency_s is not None else math.inf
        return (not self.serving.fits, not trains, latency, -self.serving.headroom_bytes)

    def as_dict(self, rank: int) -> dict:
        return {
            "rank": rank,
            "target": self.target.id,
            "name": self.target.name,
            "kind": self.target.kind,
            "memory_bytes": self.target.memory_bytes,
            "memory_kind": self.target.memory_kind,
            "power_w": self.target.power_w,
            "training": self.training.as_dict() if self.training is not None else None,
            "serving": self.serving.as_dict(),
            "latency_s": self.latency_s,
            "throughput_per_s": self.throughput,
            "energy_per_inference_j": self.energy_j,
            "tokens_per_s": self.tokens_per_s,
        }


def _with(report: Report, change: Change) -> Report:
    """The same lowered model analysed with ``change``'s settings written into the spec."""
    sections = report.sections
    for section, key, value in change.settings:
        part = getattr(sections, section)
        sections = attrs.evolve(sections, **{section: attrs.evolve(part, **{key: value})})
    return analyze(report.lowered, sections)


# --------------------------------------------------------------------------- training


def _train_need(report: Report) -> int:
    """The bytes NN301 compares with the training target's memory."""
    if uses_parallel_plan(report.sections.train):
        return per_gpu_total(report)
    return report.totals.train_memory_bytes


def _training(report: Report, target: Target) -> Fit | None:
    if not report.sections.has_train or not target.trains:
        return None
    memory, need = target.memory_bytes, _train_need(report)
    if need <= memory:
        return Fit(need, memory, True)
    if uses_parallel_plan(report.sections.train):
        candidates = per_gpu_changes(report, memory, devices=target.devices())
    else:
        candidates = []
        best = MemoryAnalysis(report, target).train_fit.max_batch
        if best >= 1:
            batch = report.totals.train_batch
            candidates.append(
                Change(
                    (("train", "batch", best),),
                    f"the largest batch that fits; accumulate {-(-batch // best)} "
                    f"micro-batches to keep the batch of {batch}",
                )
            )
        candidates += per_gpu_changes(report, memory, micro_batch=False, devices=target.devices())
    changes = tuple(c for c in candidates if _train_need(_with(report, c)) <= memory)
    return Fit(need, memory, False, changes, "training memory")


# --------------------------------------------------------------------------- serving


def _serve_need(report: Report, target: Target) -> tuple[int, bool]:
    """The bytes serving needs in the target's memory (NN302's and NN305's figures, the
    larger), and whether the weights fit its flash (True without flash)."""
    t = report.totals
    acts = MemoryAnalysis(report, target).inference_activation_bytes
    weights = t.inference_param_bytes
    need = acts if target.flash_bytes else weights + acts
    plan = serving_plan(report, target, None)
    if plan is not None:
        need = max(need, plan.total_bytes)
    return need, not target.flash_bytes or weights <= target.flash_bytes


def _serves(report: Report, target: Target) -> bool:
    need, in_flash = _serve_need(report, target)
    runs = target.peak_for(report.totals.deploy_precision) is not None
    return runs and in_flash and need <= target.memory_bytes


def _precisions(report: Report, target: Target) -> list[tuple[str, str]]:
    """Deploy precisions to try, each with why it is the one named: when the target
    lacks the current one, the wider ones it computes in first, nearest first (the
    model's values fit in them unchanged: no quantization); then the narrower ones,
    widest first (the least precision given up)."""
    current = report.totals.deploy_precision
    bits = PRECISION_BITS[current]
    runs = [p for p in widest_first(target.precisions) if target.peak_for(p) is not None]
    narrower = [(p, "the widest that fits") for p in runs if PRECISION_BITS[p] < bits]
    if target.peak_for(current) is not None:
        return narrower
    wider = [
        (p, "as wide, and it fits" if PRECISION_BITS[p] == bits else "the nearest wider that fits")
        for p in reversed(runs)
        if PRECISION_BITS[p] >= bits
    ]
    return wider + narrower


def _serving(report: Report, target: Target) -> Fit:
    t = report.totals
    need, in_flash = _serve_need(report, target)
    memory = target.memory_bytes
    runs = target.peak_for(t.deploy_precision) is not None
    if runs and in_flash and need <= memory:
        return Fit(need, memory, True)
    why = (
        f"no {t.deploy_precision} arithmetic"
        if not runs
        else "weights over flash"
        if not in_flash
        else "memory"
    )
    candidates: list[Change] = []
    if runs and in_flash:
        best = MemoryAnalysis(report, target).inference_fit.max_batch
        if best >= 1:
            candidates.append(Change((("deploy", "batch", best),), "the largest that fits"))
        plan = serving_plan(report, target, None)
        if plan is not None and plan.total_bytes > memory:
            if plan.max_concurrency:
                candidates.append(
                    Change((("deploy", "concurrency", plan.max_concurrency),), "the most that fit")
                )
            if plan.max_context >= 1:
                candidates.append(
                    Change((("deploy", "context", plan.max_context),), "the longest that fits")
                )
    for precision, chosen in _precisions(report, target):
        change = Change((("deploy", "precision", precision),), chosen)
        if _serves(_with(report, change), target):
            candidates.append(change)
            break
    changes = tuple(c for c in candidates if _serves(_with(report, c), target))
    return Fit(need, memory, False, changes, why)


# --------------------------------------------------------------------------- all targets


def plan_target(report: Report, target: Target) -> TargetPlan:
    """The spec on one target."""
    roof = roofline(report, target)
    serving = serving_plan(report, target, roof)
    return TargetPlan(
        target=target,
        training=_training(report, target),
        serving=_serving(report, target),
        latency_s=roof.time_s,
        batch=report.totals.deploy_batch,
        tokens_per_s=serving.tokens_per_s if serving is not None else None,
    )


def plan_targets(report: Report, targets: Iterable[Target]) -> list[TargetPlan]:
    """Every target's plan, ranked (the module docstring's order)."""
    plans = [plan_target(report, target) for target in targets]
    return sorted(plans, key=lambda p: (*p.rank_key(), p.target.id))


def plan_json(path: str, report: Report, plans: list[TargetPlan]) -> dict:
    """The ``--format json`` document (README § Plan every target)."""
    return {
        "path": path,
        "model": report.model,
        "deploy": {
            "batch": report.totals.deploy_batch,
            "precision": report.totals.deploy_precision,
        },
        "train": report.sections.has_train,
        "targets": [p.as_dict(rank) for rank, p in enumerate(plans, 1)],
    }


def fits_everywhere_used(plan: TargetPlan) -> bool:
    """True when the target serves the spec and, if it has a train section, trains it
    (``nnlint plan --require-fit`` exits 1 when no target does)."""
    training_ok = plan.training.fits if plan.training is not None else True
    return plan.serving.fits and training_ok
