"""The training plan per GPU and the serving plan of a spec: the JSON ``training`` and ``serving``.

Reads the cost report and the ``train``/``deploy`` sections; the formulas are in
:mod:`nnlint.training`, :mod:`nnlint.activations` and :mod:`nnlint.serving`.

* **Training, per GPU**: ``data_parallel = gpus / (tensor_parallel · pipeline_parallel)``.
  Model states (parameters with their buffers, gradients, optimizer state incl. the fp32
  master copy of ``-mixed`` recipes) of the pipeline stage holding the most, by ZeRO's
  stage formulas, the routed experts divided among ``expert_parallel`` ranks
  (:func:`nnlint.training.model_states`); activations by what autograd saves for one
  micro-batch (``train.batch``) on the stage saving the most. Both stages hold whole
  layers (:func:`nnlint.training.pipeline_stage_blocks`); when they differ the total is
  their sum, an upper bound of every stage's own.
  Expert parallelism leaves the activations as they are: with balanced routing each rank
  processes, on average, as many tokens as it would without it — the all-to-all dispatch
  moves tokens between ranks, it does not add to what one rank saves (the dispatch's
  transient send and receive buffers are not counted; DeepSpeed-MoE, Rajbhandari et al.
  2022; Megatron-Core's MoE guide).
  ``fits`` compares the total with the training target's memory; ``max_micro_batch`` is the
  largest micro-batch that fits (0: none).
* **Serving** (models with a causal attention): the KV cache of ``deploy.context`` tokens
  (default: the spec's sequence length) for ``deploy.concurrency`` sequences at
  ``deploy.kv_precision`` (default: the deploy precision); weights = the deployed parameters
  and buffers; total = weights + KV cache. Prefill = one prompt of ``context`` tokens;
  decode = one token for every sequence, reading every weight and the whole cache; both on
  the deploy target's roofline plus its fixed overheads (every kernel's launch, one
  invocation).
"""

from __future__ import annotations

import math

import attrs

from nnlint.activations import SavedActivations, saved_activations
from nnlint.costs import Report
from nnlint.precision import PRECISION_BITS
from nnlint.roofline import Roofline, weights_read
from nnlint.serving import (
    attention_cache_macs,
    decode_step,
    max_concurrency,
    prefill_macs,
    roofline_time,
)
from nnlint.targets import Target
from nnlint.training import TRAIN_PRECISIONS, ModelStates, model_states, sharding_stage

__all__ = [
    "Change",
    "ServingPlan",
    "TrainingPlan",
    "per_gpu_changes",
    "saved_per_gpu",
    "serving_plan",
    "training_plan",
    "trains_on",
    "uses_parallel_plan",
]


def uses_parallel_plan(train) -> bool:
    """True when the spec names how it is trained beyond one device's batch and precision."""
    return bool(
        train.target
        or train.gpus > 1
        or train.tensor_parallel > 1
        or train.pipeline_parallel > 1
        or train.expert_parallel > 1
        or train.sharding != "none"
        or train.recompute != "none"
        or train.attention_impl != "eager"
        or train.grad_accum > 1
        or train.recipe != train.precision
    )


def trains_on(target: Target | None) -> bool:
    """True for a target whose device class runs training jobs (:attr:`Target.trains`)."""
    return target is not None and target.trains


@attrs.frozen
class TrainingPlan:
    gpus: int
    data_parallel: int
    tensor_parallel: int
    pipeline_parallel: int
    sharding: str
    precision: str
    states: ModelStates
    activation_bytes: int
    target: Target | None
    max_micro_batch: int | None
    micro_batch: int
    expert_parallel: int
    # the saved activations for any micro-batch (the fixes of a fit error price others)
    saved: SavedActivations = attrs.field(eq=False, repr=False)

    @property
    def total_bytes(self) -> int:
        return self.states.total_bytes + self.activation_bytes

    @property
    def fits(self) -> bool | None:
        if not trains_on(self.target):
            return None
        return self.total_bytes <= self.target.memory_bytes

    def as_dict(self) -> dict:
        s = self.states
        return {
            "gpus": self.gpus,
            "data_parallel": self.data_parallel,
            "tensor_parallel": self.tensor_parallel,
            "pipeline_parallel": self.pipeline_parallel,
            "expert_parallel": self.expert_parallel,
            "sharding": self.sharding,
            "precision": self.precision,
            "per_gpu": {
                "param_bytes": s.param_bytes,
                "grad_bytes": s.grad_bytes,
                "optimizer_bytes": s.optimizer_bytes,
                "activation_bytes": self.activation_bytes,
                "total_bytes": self.total_bytes,
            },
            "fits": self.fits,
            "max_micro_batch": self.max_micro_batch,
            "target": self.target.id if self.target is not None else None,
        }


def _states(
    report: Report, sharding: str, gpus: int, expert_parallel: int | None = None
) -> ModelStates:
    """The model states per GPU (``expert_parallel``: an override of the spec's): those of
    the fullest pipeline stage. Each stage's whole layers (:attr:`Report.stages`, split by
    :func:`nnlint.training.pipeline_stage_blocks`) are divided by tensor and expert
    parallelism and sharded by ZeRO (:func:`nnlint.training.model_states`); the stage with
    the largest total is the figure (the first of equal ones). One stage: the totals."""
    totals, train = report.totals, report.sections.train
    mp = train.tensor_parallel * train.pipeline_parallel
    n = expert_parallel or train.expert_parallel
    if train.pipeline_parallel == 1:
        experts = (0, 0, 0)
        if n > 1:  # the experts' share is walked only when it is divided apart
            e = report.experts
            experts = (e.param_bytes, e.grad_bytes, e.optimizer_bytes)
        wholes = [
            (
                totals.param_bytes + totals.buffer_bytes,
                totals.grad_bytes,
                totals.optimizer_bytes,
                experts,
            )
        ]
    else:
        wholes = [
            (
                st.param_bytes,
                st.grad_bytes,
                st.optimizer_bytes,
                (st.experts.param_bytes, st.experts.grad_bytes, st.experts.optimizer_bytes)
                if n > 1
                else (0, 0, 0),
            )
            for st in report.stages
        ]
    fullest = None
    for params, grads, optimizer, experts in wholes:
        states = model_states(
            params,
            grads,
            optimizer,
            stage=sharding_stage(sharding),
            data_parallel=gpus // mp,
            tensor_parallel=train.tensor_parallel,
            expert_parallel=n,
            expert_bytes=experts,
        )
        if fullest is None or states.total_bytes > fullest.total_bytes:
            fullest = states
    return fullest


def saved_per_gpu(report: Report, recompute: str | None = None) -> SavedActivations:
    """What autograd saves per GPU under the spec's parallel layout (``recompute``:
    override), priced per micro-batch by :meth:`~nnlint.activations.SavedActivations.plan`."""
    train = report.sections.train
    storage = TRAIN_PRECISIONS[train.recipe].storage
    return saved_activations(
        report.lowered,
        lambda node: PRECISION_BITS[node.precision or storage],
        tensor_parallel=train.tensor_parallel,
        sequence_parallel=train.sequence_parallel,
        pipeline_parallel=train.pipeline_parallel,
        recompute=recompute or train.recompute,
        flash=train.attention_impl == "flash",
    )


def activation_bytes(
    report: Report,
    micro_batch: int,
    recompute: str | None = None,
    *,
    saved: SavedActivations | None = None,
) -> int:
    """Saved activations per GPU for ``micro_batch`` samples (``recompute``: override;
    ``saved``: :func:`saved_per_gpu` of the same report and setting, not walked again)."""
    if saved is None:
        saved = saved_per_gpu(report, recompute)
    return saved.plan(micro_batch, report.sections.train.grad_accum).bytes


def per_gpu_total(
    report: Report,
    *,
    micro_batch: int | None = None,
    gpus: int | None = None,
    sharding: str | None = None,
    recompute: str | None = None,
    expert_parallel: int | None = None,
    saved: SavedActivations | None = None,
) -> int:
    """Bytes one GPU needs with one setting changed (the fixes a fit error names).
    ``saved``: the report's :func:`saved_per_gpu` (``TrainingPlan.saved``), used when
    ``recompute`` is not changed (expert parallelism changes no activation)."""
    train = report.sections.train
    states = _states(report, sharding or train.sharding, gpus or train.gpus, expert_parallel)
    if recompute is not None:
        saved = None
    acts = activation_bytes(report, micro_batch or train.batch, recompute, saved=saved)
    return states.total_bytes + acts


def largest_micro_batch(report: Report, memory: int, saved: SavedActivations | None = None) -> int:
    """The largest micro-batch whose per-GPU total fits ``memory``; 0 when none."""
    if saved is None:
        saved = saved_per_gpu(report)
    fixed = _states(report, report.sections.train.sharding, report.sections.train.gpus).total_bytes
    one = activation_bytes(report, 1, saved=saved)
    two = activation_bytes(report, 2, saved=saved)
    per = two - one
    if fixed + one > memory:
        return 0
    if per <= 0:
        return 1 << 20
    b = max(1, (memory - fixed - (one - per)) // per)
    while b > 1 and fixed + activation_bytes(report, b, saved=saved) > memory:
        b -= 1
    return b


@attrs.frozen
class Change:
    """One computed change that makes a spec fit a target: the settings to write (section,
    key, value) and why. ``text`` is the settings as a spec writes them (``gpus = 17``);
    ``str()`` adds the note (``gpus = 17 (the fewest GPUs that fit with zero3)``)."""

    settings: tuple[tuple[str, str, int | str], ...]
    note: str = ""

    @property
    def text(self) -> str:
        return ", ".join(f"{key} = {value}" for _, key, value in self.settings)

    def __str__(self) -> str:
        return f"{self.text} ({self.note})" if self.note else self.text

    def as_dict(self) -> dict:
        return {
            "set": {f"{section}.{key}": value for section, key, value in self.settings},
            "text": self.text,
            "note": self.note,
        }


#: The most GPUs a computed change names (beyond it, nothing is proposed).
MAX_GPUS = 65536


def per_gpu_changes(
    report: Report,
    memory: int,
    *,
    micro_batch: bool = True,
    saved: SavedActivations | None = None,
    devices: str = "GPUs",
) -> list[Change]:
    """The single changes that bring the per-GPU training total within ``memory``, each
    computed with :func:`per_gpu_total`'s figure, in this order: the largest micro-batch
    (``micro_batch``), the fewest GPUs under the current sharding (under ``zero3`` when
    the spec shards nothing; a data-parallel size the expert-parallel size divides), the
    first sharding stage that fits at the current GPU count, the smallest larger
    expert-parallel size that fits (a model with routed experts: a size that divides the
    data-parallel size and every expert layer's experts), the first recompute setting
    that fits. Empty when the total already fits or nothing
    does (NN301 and ``nnlint plan`` both list these). ``saved``: the report's
    :func:`saved_per_gpu` (``TrainingPlan.saved``), not walked again. ``devices``: what the
    notes call the training target's devices (``train.gpus`` counts them; "CPUs" for a
    CPU, :meth:`Target.devices`)."""
    train = report.sections.train
    if saved is None:
        saved = saved_per_gpu(report)
    if per_gpu_total(report, saved=saved) <= memory:
        return []
    changes = []
    if micro_batch and (best := largest_micro_batch(report, memory, saved)) >= 1:
        steps = -(-train.batch * train.grad_accum // best)
        changes.append(
            Change(
                (("train", "batch", best),),
                f"the largest micro-batch that fits; grad_accum = {steps} keeps the "
                f"effective batch",
            )
        )
    mp = train.tensor_parallel * train.pipeline_parallel
    sharding = train.sharding if train.sharding != "none" else "zero3"
    acts = activation_bytes(report, train.batch, saved=saved)
    first = train.gpus // mp + 1 if train.sharding != "none" else 2
    previous = None
    for dp in range(first, MAX_GPUS // mp + 1):
        if dp % train.expert_parallel:
            continue  # the expert-parallel group is carved out of the data-parallel ranks
        need = _states(report, sharding, dp * mp).total_bytes + acts
        if need <= memory:
            if train.sharding != "none":
                changes.append(
                    Change(
                        (("train", "gpus", dp * mp),),
                        f"the fewest {devices} that fit with {sharding}",
                    )
                )
            else:
                changes.append(
                    Change(
                        (("train", "sharding", sharding), ("train", "gpus", dp * mp)),
                        f"the fewest {devices} that fit, with ZeRO stage 3",
                    )
                )
            break
        if need == previous:
            break  # nothing left that more GPUs shard
        previous = need
    for stage in ("zero1", "zero2", "zero3"):
        if stage > train.sharding.replace("none", "zero0") and train.gpus // mp > 1:
            if per_gpu_total(report, sharding=stage, saved=saved) <= memory:
                changes.append(
                    Change((("train", "sharding", stage),), f"fits on {train.gpus} {devices}")
                )
                break
    if (n := _expert_parallel_that_fits(report, memory, saved)) is not None:
        changes.append(
            Change(
                (("train", "expert_parallel", n),),
                f"the smallest expert-parallel size that fits on {train.gpus} {devices}",
            )
        )
    order = ("none", "selective", "full")
    for mode in order[order.index(train.recompute) + 1 :]:
        if per_gpu_total(report, recompute=mode) <= memory:
            changes.append(Change((("train", "recompute", mode),)))
            break
    return changes


def _expert_parallel_that_fits(
    report: Report, memory: int, saved: SavedActivations | None
) -> int | None:
    """The smallest expert-parallel size above the spec's that brings the per-GPU total
    within ``memory``, among those that divide the data-parallel size and every expert
    layer's routed experts; None when none does or the model has no routed experts."""
    train = report.sections.train
    d = train.gpus // (train.tensor_parallel * train.pipeline_parallel)
    if not report.experts.divisor:
        return None  # no routed experts to split
    common = math.gcd(d, report.experts.divisor)
    small = [k for k in range(1, math.isqrt(common) + 1) if common % k == 0]
    for n in sorted({*small, *(common // k for k in small)}):
        if n > train.expert_parallel:
            if per_gpu_total(report, expert_parallel=n, saved=saved) <= memory:
                return n
    return None


def training_plan(report: Report, target: Target | None) -> TrainingPlan:
    train = report.sections.train
    states = _states(report, train.sharding, train.gpus)
    saved = saved_per_gpu(report)
    acts = activation_bytes(report, train.batch, saved=saved)
    memory = target.memory_bytes if trains_on(target) else None
    return TrainingPlan(
        gpus=train.gpus,
        data_parallel=train.gpus // (train.tensor_parallel * train.pipeline_parallel),
        tensor_parallel=train.tensor_parallel,
        pipeline_parallel=train.pipeline_parallel,
        sharding=train.sharding,
        precision=train.recipe,
        states=states,
        activation_bytes=acts,
        target=target,
        max_micro_batch=largest_micro_batch(report, memory, saved) if memory is not None else None,
        micro_batch=train.batch,
        expert_parallel=train.expert_parallel,
        saved=saved,
    )


# --------------------------------------------------------------------------- serving


@attrs.frozen
class ServingPlan:
    layers: int  # causal attention layers that keep a cache
    kv_heads: int
    head_dim: int
    context: int
    concurrency: int
    kv_precision: str
    kv_cache_bytes: int
    kv_bytes_per_sequence: int
    weights_bytes: int
    #: weights one decode step reads (one token per sequence): every weight, but an
    #: embedding's gathered rows and a moe's visited experts (roofline.weights_read)
    decode_weight_bytes: int
    target: Target | None
    max_concurrency: int | None
    prefill_latency_s: float | None
    decode_latency_s: float | None

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes

    @property
    def fits(self) -> bool | None:
        return None if self.target is None else self.total_bytes <= self.target.memory_bytes

    @property
    def max_context(self) -> int:
        """The longest context whose cache for ``concurrency`` sequences fits beside the
        weights on the target (0: none, or no target)."""
        if self.target is None:
            return 0
        room = self.target.memory_bytes - self.weights_bytes
        per_token = self.kv_bytes_per_sequence / self.context  # per sequence, per token
        return int(room // (per_token * self.concurrency)) if room > 0 else 0

    @property
    def tokens_per_s(self) -> float | None:
        if not self.decode_latency_s:
            return None
        return self.concurrency / self.decode_latency_s

    def as_dict(self) -> dict:
        return {
            "kv_cache_bytes": self.kv_cache_bytes,
            "weights_bytes": self.weights_bytes,
            "decode_weight_bytes": self.decode_weight_bytes,
            "total_bytes": self.total_bytes,
            "fits": self.fits,
            "max_concurrency": self.max_concurrency,
            "prefill_latency_s": self.prefill_latency_s,
            "decode_latency_s": self.decode_latency_s,
            "tokens_per_s": self.tokens_per_s,
            "context": self.context,
            "concurrency": self.concurrency,
            "kv_precision": self.kv_precision,
        }


def serving_plan(
    report: Report, target: Target | None, roof: Roofline | None
) -> ServingPlan | None:
    """The serving figures; None for a model without a causal attention."""
    caches = [
        layer
        for layer in report.layers
        if layer.node.opts.get("causal")
        and layer.node.kind.score_elements(layer.node.opts, layer.node.in_shapes)
    ]
    if not caches:
        return None
    t, deploy = report.totals, report.sections.deploy
    first = caches[0].node
    T, D = first.in_shapes[0]
    heads = first.opts["heads"]
    kv_heads = first.opts.get("kv_heads") or heads
    head_dim = D // heads
    context = deploy.context or T
    kv_precision = deploy.kv_precision or t.deploy_precision
    bits = PRECISION_BITS[kv_precision]
    window = first.opts.get("window")
    layers = len(caches)
    # each attention states its cache (keys and values of min(context, window) tokens)
    per_seq_elements = sum(
        c.node.kind.kv_cache_elements(c.node.opts, c.node.in_shapes, context) for c in caches
    )
    per_seq = -(-per_seq_elements * bits // 8)
    kv = -(-per_seq_elements * deploy.concurrency * bits // 8)
    weights = t.inference_param_bytes
    score_macs = sum(
        2 * n.in_shapes[0][0] ** 2 * n.in_shapes[0][1] for n in (c.node for c in caches)
    )
    per_token = (t.macs - score_macs) // T
    decode_weights = weights_read(report, deploy.concurrency)
    prefill = decode = None
    peak = target.peak_for(t.deploy_precision) if target is not None else None
    if target is not None and peak:
        kernels = len(roof.layers) if roof is not None else 0
        overhead = kernels * target.launch_overhead_s + target.inference_overhead_s
        cached = context if window is None else min(context, window)
        step = decode_step(
            decode_weights,
            kv,
            per_token,
            attention_cache_macs(layers, heads, head_dim, cached),
            deploy.concurrency,
            peak,
            target.bandwidth,
            overhead,
        )
        decode = step.seconds
        flops = 2 * prefill_macs(per_token, layers, heads, head_dim, context)
        prompt_weights = weights_read(report, context)
        prefill = roofline_time(flops, prompt_weights + per_seq, peak, target.bandwidth, overhead)
    return ServingPlan(
        layers=layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        context=context,
        concurrency=deploy.concurrency,
        kv_precision=kv_precision,
        kv_cache_bytes=kv,
        kv_bytes_per_sequence=per_seq,
        weights_bytes=weights,
        decode_weight_bytes=decode_weights,
        target=target,
        max_concurrency=max_concurrency(target.memory_bytes, weights, per_seq)
        if target is not None
        else None,
        prefill_latency_s=prefill,
        decode_latency_s=decode,
    )
