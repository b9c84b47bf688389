"""Training as it is practised: precisions, optimizers, sharding, parallelism, activations.

Pure formulas (plain numbers in, integers out); the wiring into a spec lives elsewhere.
Every function states its convention and its public source once, here.

Notation: ``Ψ`` parameters, ``d`` data-parallel size, ``t`` tensor-parallel size, ``p``
pipeline-parallel size (``gpus = d·t·p``), ``s`` sequence length, ``b`` micro-batch, ``h``
hidden size, ``a`` attention heads, ``L`` transformer layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from nnlint.optimizers import OPTIMIZERS, Optimizer
from nnlint.precision import PRECISION_BITS

__all__ = [
    "DEFAULT_UTILIZATION",
    "OPTIMIZERS",
    "RECOMPUTE",
    "SHARDING",
    "SHARDING_ALIASES",
    "TRAIN_PRECISIONS",
    "ModelStates",
    "Optimizer",
    "TrainPrecision",
    "factored_state_elements",
    "korthikanti_layer_bytes",
    "korthikanti_model_bytes",
    "model_states",
    "optimizer_state_bytes",
    "pipeline_in_flight",
    "pipeline_stage_blocks",
    "recompute_flops",
    "sharding_stage",
]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------- precisions


@attrs.frozen
class TrainPrecision:
    """Bits per element of each training tensor under one precision setting.

    ``compute`` is the arithmetic the device must run (checked against the training
    target); ``master_bits`` is the fp32 copy of the weights a mixed-precision optimizer
    updates (0 when the weights themselves are updated); ``state_bits`` is the width of
    each optimizer state element (Adam's moments) unless the optimizer fixes its own.
    """

    name: str
    compute: str
    weight_bits: int
    grad_bits: int
    master_bits: int
    state_bits: int
    activation_bits: int
    storage: str = ""  # the format weights and activations are stored in (a precision name)

    @property
    def mixed(self) -> bool:
        """Keeps an fp32 master copy beside 16-bit weights."""
        return self.master_bits > 0


def _pure(name: str, compute: str | None = None) -> TrainPrecision:
    """Every tensor stored at the width of ``compute`` (default: ``name``)."""
    bits = PRECISION_BITS[compute or name]
    return TrainPrecision(name, compute or name, bits, bits, 0, bits, bits, compute or name)


def _mixed(name: str, compute: str, storage: str) -> TrainPrecision:
    """16-bit weights, gradients and activations beside an fp32 master copy and fp32 state."""
    return TrainPrecision(name, compute, 16, 16, 32, 32, 16, storage)


#: The training precisions, by the names PyTorch Lightning's ``Trainer(precision=…)``
#: uses (lightning.ai docs, "N-bit precision"), plus the storage formats a spec could
#: already name (``bf16``, ``fp16``, … keep their meaning: everything stored at that width,
#: i.e. ``bf16`` is ``bf16-true``).
#:
#: * ``fp32`` / ``tf32``: every tensor in fp32; ``tf32`` computes matrix products in
#:   TensorFloat-32 (NVIDIA Ampere whitepaper) but stores fp32.
#: * ``bf16-mixed`` / ``fp16-mixed``: 16-bit weights, gradients and activations with an
#:   fp32 master copy of the weights and fp32 optimizer state — the split of Rajbhandari
#:   et al. 2020 (ZeRO, §3.1: "2Ψ + 2Ψ + KΨ", K = 12 for Adam: master 4 + moments 8),
#:   chosen because it is the split ZeRO's stages shard. PyTorch AMP keeps the fp32
#:   weights as the parameters and casts them per op instead: the same 16 B/param with
#:   Adam, split 4 + 4 + 8 (the README's conventions section).
#: * ``bf16-true`` / ``fp16-true``: everything in 16 bits, no master copy (Adam 2 + 2 + 4).
#: * ``fp8-mixed``: FP8 matrix products (NVIDIA Transformer Engine) with bf16 weights,
#:   gradients and activations, an fp32 master copy and fp32 state: model states as
#:   ``bf16-mixed``; FP8 casts of GEMM inputs are transient and not counted.
TRAIN_PRECISIONS: dict[str, TrainPrecision] = {
    "fp32": _pure("fp32"),
    "tf32": _pure("tf32"),
    "bf16-mixed": _mixed("bf16-mixed", "bf16", "bf16"),
    "fp16-mixed": _mixed("fp16-mixed", "fp16", "fp16"),
    "bf16-true": _pure("bf16-true", "bf16"),
    "fp16-true": _pure("fp16-true", "fp16"),
    "fp8-mixed": _mixed("fp8-mixed", "fp8", "bf16"),
    # storage formats a spec may name: pure, as before (bf16 = bf16-true)
    **{name: _pure(name) for name in PRECISION_BITS if name not in ("fp32", "tf32")},
}


# --------------------------------------------------------------------------- utilization

#: The model FLOPs utilization a run is timed at when the spec states none: 40 %. Large
#: training runs report 30–70 %: 21.3 % (GPT-3), 30.2 % (Megatron-Turing NLG 530B),
#: 32.5 % (Gopher) and 46.2 % (PaLM 540B) in Chowdhery et al. 2022, "PaLM: Scaling
#: Language Modeling with Pathways", Table 3; 42.1 % with full recomputation and 54.2 %
#: with selective recomputation for a 530B GPT on 2,240 A100s in Korthikanti et al. 2022,
#: "Reducing Activation Recomputation in Large Transformer Models".
DEFAULT_UTILIZATION = 0.4


# --------------------------------------------------------------------------- optimizers


# The optimizers (state per parameter, fixed state widths, Adafactor's factoring) are
# nnlint's one registry, :data:`nnlint.optimizers.OPTIMIZERS`.


def factored_state_elements(shapes: Iterable[Sequence[int]]) -> int:
    """Adafactor's second-moment elements for trainable tensors of ``shapes``.

    Shazeer & Stern 2018 (Adafactor, §3) keep, for an ``r × c`` matrix, row sums ``r`` and
    column sums ``c`` instead of ``r·c`` values; a vector keeps its full second moment.
    Tensors of rank > 2 factor their last two axes over the leading ones, as
    ``torch.optim.Adafactor`` does (``row_var`` of shape ``[..., r, 1]``, ``col_var`` of
    shape ``[..., 1, c]``): ``prod(shape[:-1]) + prod(shape[:-2])·shape[-1]``.
    """
    total = 0
    for shape in shapes:
        if len(shape) >= 2:
            total += math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]
        else:
            total += math.prod(shape)
    return total


def optimizer_state_bytes(
    optimizer: str, precision: str, trainable: int, factored_elements: int | None = None
) -> int:
    """Bytes of optimizer state for ``trainable`` parameters, before any sharding.

    ``master_bits·P + state_bits·E`` over 8: the fp32 master copy of mixed precision counts
    as optimizer state (ZeRO §3.1: it is the "K" of "2Ψ + 2Ψ + KΨ"), and ``E`` is
    ``states·P`` state elements, or Adafactor's :func:`factored_state_elements` (pass them
    as ``factored_elements``).
    """
    opt, prec = OPTIMIZERS[optimizer], TRAIN_PRECISIONS[precision]
    if opt.factored:
        if factored_elements is None:
            raise ValueError("adafactor needs the factored state elements of the tensors")
        elements = factored_elements
    else:
        elements = opt.states * trainable
    bits = opt.state_bits if opt.state_bits is not None else prec.state_bits
    return _ceil_div(prec.master_bits * trainable, 8) + _ceil_div(bits * elements, 8)


# --------------------------------------------------------------------------- ZeRO

#: Data-parallel sharding stages (Rajbhandari et al. 2020): what each one partitions.
SHARDING: dict[str, int] = {"none": 0, "zero1": 1, "zero2": 2, "zero3": 3}

#: PyTorch FSDP's ShardingStrategy names for the same stages (pytorch.org FSDP docs:
#: FULL_SHARD shards parameters, gradients and optimizer state; SHARD_GRAD_OP gradients and
#: optimizer state; NO_SHARD is DDP).
SHARDING_ALIASES: dict[str, str] = {
    "full_shard": "zero3",
    "shard_grad_op": "zero2",
    "no_shard": "none",
}


def sharding_stage(name: str) -> int:
    """0–3 for ``none``/``zero1``/``zero2``/``zero3`` or their FSDP names."""
    return SHARDING[SHARDING_ALIASES.get(name, name)]


@attrs.frozen
class ModelStates:
    """Bytes of model state held by one GPU."""

    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes


def model_states(
    param_bytes: int,
    grad_bytes: int,
    optimizer_bytes: int,
    *,
    stage: int,
    data_parallel: int,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    expert_parallel: int = 1,
    expert_bytes: tuple[int, int, int] = (0, 0, 0),
) -> ModelStates:
    """Model states per GPU under ZeRO stage ``stage`` (Rajbhandari et al. 2020, §5, Fig. 1).

    The bytes given are those of the layers one GPU's pipeline stage holds (the training
    plan passes each stage's whole layers and keeps the fullest, see
    :func:`pipeline_stage_blocks`; ``pipeline_parallel`` here divides evenly, the average
    stage, exact only when every stage holds as much). Tensor parallelism splits them
    first: each of the ``t·p`` model-parallel ranks holds ``1/(t·p)`` of every term
    (Megatron-LM replicates layer-norm weights and the biases of row-parallel layers; that
    sliver is not modelled). ZeRO then partitions over
    the ``d`` data-parallel ranks: stage 1 (P_os) the optimizer state, stage 2 (P_os+g) also
    the gradients, stage 3 (P_os+g+p) also the parameters — with mixed-precision Adam
    ``2Ψ + 2Ψ + 12Ψ`` becomes ``2Ψ + 2Ψ + 12Ψ/d``, ``2Ψ + 14Ψ/d`` and ``16Ψ/d``. A
    partition that does not divide evenly is rounded up (the largest shard).

    **Expert parallelism** (``expert_parallel = N``; Megatron-Core's
    ``--expert-model-parallel-size``, DeepSpeed-MoE of Rajbhandari et al. 2022, GShard of
    Lepikhin et al. 2021): ``expert_bytes`` is the part of (parameters, gradients,
    optimizer state) held by routed experts (:meth:`nnlint.ops.Op.routed_experts`); the
    router and shared experts are dense. The expert-parallel group is carved out of the
    ``d`` data-parallel ranks (Megatron-Core's convention, ``N`` divides ``d``): each of the
    ``N`` ranks holds ``E/N`` whole experts of every expert layer, so the expert states are
    divided by ``t·p·N`` (experts are tensor-parallel like the dense layers, Megatron-Core's
    default expert tensor-parallel size ``t``), and each expert is replicated on the
    ``d/N`` ranks of its expert-data-parallel group, over which ZeRO shards them; the dense
    states are divided by ``t·p`` and sharded over ``d``. Gradients and optimizer state
    follow their weights. The two groups are rounded up apart (DeepSpeed-MoE keeps expert
    parameters in optimizer groups of their own); with ``N = 1`` every state is one group,
    the dense formula above.
    """
    mp = tensor_parallel * pipeline_parallel
    d = data_parallel

    def share(nbytes: int, model: int, ranks: int, sharded: bool) -> int:
        local = _ceil_div(nbytes, model)
        return _ceil_div(local, ranks) if sharded else local

    def per_gpu(whole: int, expert: int, sharded: bool) -> int:
        if expert_parallel == 1:
            return share(whole, mp, d, sharded)
        n = expert_parallel
        return share(whole - expert, mp, d, sharded) + share(expert, mp * n, d // n, sharded)

    return ModelStates(
        *(
            per_gpu(whole, expert, stage >= level)
            for whole, expert, level in zip(
                (param_bytes, grad_bytes, optimizer_bytes), expert_bytes, (3, 2, 1), strict=True
            )
        )
    )


# --------------------------------------------------------------------------- activations

#: Activation recomputation (checkpointing) settings.
RECOMPUTE = ("none", "selective", "full")


def korthikanti_layer_bytes(
    s: int,
    b: int,
    h: int,
    a: int,
    *,
    t: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> int:
    """Activation bytes one transformer layer stores for backward, per GPU.

    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
    Models", §4 and Table 2, under its assumptions: 16-bit activations, 1-byte dropout
    masks, a GPT layer (layer norms, self-attention with dropout on the probabilities,
    a 4h MLP with GeLU, dropout after each block):

    * no parallelism: ``sbh(34 + 5as/h)`` (attention ``11sbh + 5as²b``, MLP ``19sbh``,
      layer norms ``4sbh``);
    * tensor parallel: ``sbh(10 + 24/t + 5as/(ht))``; with sequence parallel
      ``sbh(34/t + 5as/(ht))``;
    * selective recompute (the attention core, ``5as²b``, recomputed):
      ``sbh(10 + 24/t)``, with sequence parallel ``sbh(34/t)``;
    * full recompute: ``2sbh`` (the layer's input only; Table 2 lists it without sequence
      parallelism — with it the checkpointed input is itself split, ``2sbh/t``).

    A part that does not divide by ``t`` is rounded up.
    """
    if recompute == "full":
        return _ceil_div(2 * s * b * h, t) if sequence_parallel else 2 * s * b * h
    replicated, sharded = 10 * s * b * h, 24 * s * b * h
    scores = 0 if recompute == "selective" else 5 * a * s * s * b
    rep = _ceil_div(replicated, t) if sequence_parallel else replicated
    return rep + _ceil_div(sharded, t) + _ceil_div(scores, t)


def pipeline_stage_blocks(blocks: int, pipeline_parallel: int) -> tuple[int, ...]:
    """How many of ``L`` repeated blocks (transformer layers) each of ``p`` pipeline stages
    holds: whole blocks, in order, as evenly as possible — the first ``L mod p`` stages one
    more (``ceil(L/p)``), the others ``floor(L/p)``.

    Pipeline schedules place whole layers on stages: Megatron-LM gives each of ``p``
    stages ``L/p`` consecutive transformer layers (Narayanan et al. 2021, "Efficient
    Large-Scale Language Model Training on GPU Clusters Using Megatron-LM"), and
    DeepSpeed's ``PipelineModule(partition_method="uniform")`` balances the layer count;
    the remainder goes to the first stages, which already hold the most micro-batches in
    flight (:func:`pipeline_in_flight`). The layers before the first block (embedding,
    inputs) are on the first stage, those after the last block (final norm, head, loss) on
    the last: every per-GPU figure of a pipelined run — model states and saved activations
    alike — is the fullest stage's, not the average.
    """
    q, r = divmod(blocks, pipeline_parallel)
    return tuple(q + (i < r) for i in range(pipeline_parallel))


def pipeline_in_flight(pipeline_parallel: int, micro_batches: int) -> int:
    """Micro-batches whose activations the first pipeline stage holds at once.

    Under the 1F1B schedule (Narayanan et al. 2021, PipeDream-Flush; Korthikanti et al.
    2022 §4.2.3) the first of ``p`` stages has ``p`` micro-batches in flight — fewer when a
    step has fewer (``grad_accum`` micro-batches per step).
    """
    return min(pipeline_parallel, micro_batches)


def korthikanti_model_bytes(
    s: int,
    b: int,
    h: int,
    a: int,
    layers: int,
    *,
    t: int = 1,
    p: int = 1,
    micro_batches: int | None = None,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> int:
    """Activation bytes of the transformer layers on the first pipeline stage (the fullest).

    Korthikanti et al. 2022 §4.2.3: the first stage holds ``L/p`` layers for ``p``
    micro-batches (1F1B), i.e. ``L`` layers' worth:
    ``sbhL(34/t + 5as/(ht))`` with tensor and sequence parallelism. ``L/p`` is rounded up
    when ``p`` does not divide ``L``; ``micro_batches`` (default ``p``) caps the in-flight
    count, see :func:`pipeline_in_flight`.
    """
    per_layer = korthikanti_layer_bytes(
        s, b, h, a, t=t, sequence_parallel=sequence_parallel, recompute=recompute
    )
    in_flight = pipeline_in_flight(p, p if micro_batches is None else micro_batches)
    return per_layer * _ceil_div(layers, p) * in_flight


def recompute_flops(recompute: str, forward_flops: int, attention_core_flops: int) -> int:
    """FLOPs recomputation adds to a training step.

    Full recompute runs every checkpointed layer's forward pass again in the backward pass
    (Chen et al. 2016; Korthikanti et al. 2022 §5: 4 forward-equivalents per step instead
    of 3): ``forward_flops``. Selective recompute reruns only the attention core
    (``QKᵀ``, softmax, dropout, ``softmax·V``): ``attention_core_flops``.
    """
    if recompute == "full":
        return forward_flops
    if recompute == "selective":
        return attention_core_flops
    return 0
