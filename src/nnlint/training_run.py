"""The cost of a whole training run: steps, FLOPs, time and energy.

Read from ``train.samples`` and ``train.epochs`` (a spec without both has no run cost),
``train.batch``, ``train.grad_accum``, the data-parallel size and the training target
(``train.target``, else the target in force). Each convention is stated once, here:

* **Global batch** ``B = batch × grad_accum × d``, with ``batch`` the micro-batch of one
  data-parallel rank and ``d = gpus / (tensor_parallel · pipeline_parallel)``.
* **Steps** ``= epochs × ⌈samples / B⌉``: an epoch's last, partial batch is a step of its
  own (PyTorch's ``DataLoader`` default, ``drop_last=False``).
* **Step FLOPs** ``= (forward + backward + loss gradient + recompute) × grad_accum × d +
  optimizer step × r``: every micro-batch's work (:mod:`nnlint.costs` counts it for
  ``train.batch``, recomputation's repeated forward included) on every data-parallel
  rank, and the optimizer step once per model replica (``r = d``) or, when ZeRO shards
  the optimizer state (Rajbhandari et al. 2020, stages 1–3), once over the shards
  (``r = 1``). Tensor and pipeline parallelism split the same work over more devices.
* **Training FLOPs** ``= steps × step FLOPs``. An epoch's partial last batch is counted
  as a full one: an upper bound by less than one step per epoch, exact when ``B``
  divides ``samples``.
* **Time** ``= training FLOPs ÷ (gpus × peak × u)``: the training target's dense peak at
  the recipe's compute precision (``bf16`` for ``bf16-mixed``) and the model FLOPs
  utilization ``u = train.utilization`` (default 40 %,
  :data:`nnlint.training.DEFAULT_UTILIZATION`, with its sources), which stands for
  everything the roofline of one step leaves out at scale (communication, pipeline
  bubbles, data loading, kernels below peak).
* **Energy** ``= power × gpus × time``: the target's board power (its TDP, the
  ``power_w`` of its profile) for every device over the whole run; host CPUs, network
  and cooling are not counted.
"""

from __future__ import annotations

import attrs

from nnlint.costs import Report
from nnlint.targets import Target
from nnlint.training import TRAIN_PRECISIONS, sharding_stage

__all__ = ["TrainingRun", "run_steps", "run_time", "training_run"]


@attrs.frozen
class TrainingRun:
    """One training run's figures (the conventions of this module)."""

    samples: int
    epochs: int
    global_batch: int
    steps: int
    step_flops: int
    flops: int
    devices: int
    utilization: float
    target: Target | None
    peak: float | None  # FLOP/s of one device at the compute precision (None: none)
    compute_precision: str
    time_s: float | None  # None: no training target, or no peak at the compute precision
    energy_j: float | None
    no_time: str | None  # why there is no time (None when there is one)

    @property
    def target_id(self) -> str | None:
        return None if self.target is None else self.target.id


def run_steps(samples: int, epochs: int, global_batch: int) -> int:
    """``epochs × ⌈samples / global_batch⌉``."""
    return epochs * -(-samples // global_batch)


def run_time(flops: int, devices: int, peak: float, utilization: float) -> float:
    """Seconds to do ``flops`` on ``devices`` at ``utilization`` of ``peak`` FLOP/s each."""
    return flops / (devices * peak * utilization)


def training_run(report: Report, target: Target | None) -> TrainingRun | None:
    """The run cost on the training ``target``; None without ``train.samples`` and
    ``train.epochs``."""
    train, t = report.sections.train, report.totals
    if train.samples is None or train.epochs is None:
        return None
    data_parallel = train.gpus // (train.tensor_parallel * train.pipeline_parallel)
    global_batch = train.batch * train.grad_accum * data_parallel
    micro = t.forward_flops + t.backward_flops + t.loss_backward_flops + t.recompute_flops
    replicas = 1 if sharding_stage(train.sharding) >= 1 else data_parallel
    step_flops = micro * train.grad_accum * data_parallel + t.optimizer_flops * replicas
    steps = run_steps(train.samples, train.epochs, global_batch)
    flops = steps * step_flops
    compute = TRAIN_PRECISIONS[train.recipe].compute
    peak = target.peak_for(compute) if target is not None else None
    time_s = energy = no_time = None
    if target is None:
        no_time = "no training target (set train.target, deploy.target or --target)"
    elif not target.trains:
        no_time = f"{target.id} ({target.kind}) does not run training jobs (GPUs and CPUs do)"
    elif not peak:
        no_time = f"{target.id} has no dense peak at {compute}, the training compute precision"
    else:
        time_s = run_time(flops, train.gpus, peak, train.utilization)
        energy = target.power_w * train.gpus * time_s
    return TrainingRun(
        samples=train.samples,
        epochs=train.epochs,
        global_batch=global_batch,
        steps=steps,
        step_flops=step_flops,
        flops=flops,
        devices=train.gpus,
        utilization=train.utilization,
        target=target,
        peak=peak or None,
        compute_precision=compute,
        time_s=time_s,
        energy_j=energy,
        no_time=no_time,
    )
