"""Activations kept for the backward pass per GPU: what autograd saves, and where it lives.

This is the training plan's activation figure (the ``training.per_gpu.activation_bytes`` of
the report), apart from the ``activation_bytes`` total (each op's output, the README's
counting conventions), which keeps its meaning. Conventions, each stated once:

* **What is saved** is what PyTorch's autograd saves for each op's derivative
  (``tools/autograd/derivatives.yaml``), declared by each op (:meth:`Op.saved`): a linear
  layer its input, ReLU/sigmoid/tanh/softmax their output, GELU/SiLU their input, dropout
  its mask, a norm its input, attention its input, Q, K, V, probabilities and context.
  Parameters are never counted (they are model state). An op saves only where gradients
  flow: one whose parameters are frozen and whose inputs need no gradient (a frozen layer
  before every trainable one; a model input needs none) has no autograd node and saves
  nothing; a frozen convolution after a trainable layer keeps its input
  (:attr:`nnlint.ops.Ctx.input_requires_grad`), a frozen dense layer does not.
* **Once per storage**: a tensor saved by several ops (a layer norm's output read by the
  Q, K and V projections) counts once; views (reshape, transpose, …) share their input's
  storage, and a view saved whole keeps all of it (``select``/``slice`` of a larger tensor).
* **Widths**: activations at the training precision's activation format (16-bit under
  ``-mixed`` and ``-true``, as Korthikanti et al. 2022 assume), dropout masks 1 byte (the
  ``bool`` mask of CUDA's fused dropout; the paper's assumption), indices 8 bytes (int64
  token ids an embedding saves), norm statistics 4 bytes (fp32 mean / reciprocal std).
* **Tensor parallelism** (Megatron-LM, Shoeybi et al. 2019): a dense layer whose input is
  whole is column-parallel (its output is split over the ``t`` ranks), one whose input is
  split is row-parallel (its output is whole again); attention splits its heads. Saved
  tensors that are split take ``1/t`` per GPU; **sequence parallelism** (Korthikanti et al.
  2022 §4.2.2) splits the others along the sequence too.
* **Recomputation**: ``selective`` drops the attention core (probabilities, their dropout
  mask and output: recomputed from Q, K, V); ``full`` keeps only the input of each
  repeated block (``* N``, a transformer layer) and recomputes the rest (Chen et al. 2016).
  ``attention_impl = flash`` keeps no probabilities either, but the fp32 log-sum-exp of each
  row (Dao et al. 2022).
* **Pipeline parallelism**: the repeated blocks are split into ``p`` stages in order, the
  first ``L mod p`` stages one block more (:func:`nnlint.training.pipeline_stage_blocks`;
  :func:`node_stages`: layers before the first block join the first stage, after the last
  the last, between two blocks the earlier block's); under 1F1B stage ``i`` holds
  ``min(p − i, micro-batches)`` micro-batches in flight (Narayanan et al. 2021). The figure
  is the largest stage's; the model states per GPU use the same stages (:mod:`nnlint.plan`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import attrs

from nnlint.graph import Lowered, Node
from nnlint.ops import Ctx
from nnlint.precision import PRECISION_BITS
from nnlint.training import pipeline_stage_blocks

__all__ = [
    "KIND_BITS",
    "ActivationPlan",
    "SavedActivations",
    "node_stages",
    "plan_activations",
    "saved_activations",
    "unit_of",
]

#: Bits per element of the saved tensors that are not activations (see the module docstring).
KIND_BITS: dict[str, int] = {"mask": 8, "index": 64, "stat": 32}

_UNIT = re.compile(r"^(.*?\[\d+\])/")
_INPUT = re.compile(r"in(\d+)")


def unit_of(node_id: str) -> str | None:
    """The repeated-block instance (``h/decoder[3]``) a node belongs to, or None."""
    if "[" not in node_id:  # no block instance: the expression cannot match
        return None
    match = _UNIT.match(node_id)
    return match.group(1) if match else None


def node_stages(unit_ids: list[str | None], pipeline_parallel: int) -> list[int]:
    """The pipeline stage of each node, from its repeated-block instance (:func:`unit_of`,
    in graph order): the blocks split by :func:`nnlint.training.pipeline_stage_blocks`, the
    nodes before the first block on the first stage, those after the last block on the
    last, a node between two blocks on the earlier block's stage. The one partition both
    the saved activations and the model states per GPU use (a model without repeated
    blocks is one stage)."""
    p = pipeline_parallel
    units = list(dict.fromkeys(u for u in unit_ids if u))
    if p == 1 or not units:
        return [0] * len(unit_ids)
    unit_stage: dict[str, int] = {}
    k = 0
    for stage, count in enumerate(pipeline_stage_blocks(len(units), p)):
        for unit in units[k : k + count]:
            unit_stage[unit] = stage
        k += count
    last = max(i for i, u in enumerate(unit_ids) if u)
    stages, current = [], 0
    for i, unit in enumerate(unit_ids):
        if unit is not None:
            current = unit_stage[unit]
        stages.append(p - 1 if i > last else current)
    return stages


@attrs.frozen
class ActivationPlan:
    """Saved activations per GPU: ``stage_bytes[i]`` for one micro-batch on pipeline stage
    ``i``, ``in_flight[i]`` micro-batches held there; ``bytes`` = the largest product."""

    stage_bytes: tuple[int, ...]
    in_flight: tuple[int, ...]
    layers: int  # repeated-block instances (transformer layers)

    @property
    def bytes(self) -> int:
        return max(b * n for b, n in zip(self.stage_bytes, self.in_flight))

    @property
    def fullest_stage(self) -> int:
        products = [b * n for b, n in zip(self.stage_bytes, self.in_flight)]
        return products.index(max(products))


def _split_states(nodes: Iterable[Node]) -> dict[str, bool]:
    """Whether each node's output is split over the tensor-parallel ranks (Megatron-LM):
    a dense layer flips the state of its input (column-parallel, then row-parallel),
    attention and embeddings produce whole tensors, everything else follows its inputs."""
    split: dict[str, bool] = {}
    get = split.get
    for node in nodes:
        inputs = node.inputs
        role = node.kind.tensor_parallel
        if role == "flip":
            split[node.id] = not get(inputs[0], False)
        elif role == "whole" or not inputs:
            split[node.id] = False
        else:
            split[node.id] = any([get(src, False) for src in inputs])
    return split


@attrs.frozen
class SavedActivations:
    """What every pipeline stage saves, apart from the micro-batch: one walk of the graph
    that :meth:`plan` prices for any micro-batch (the largest micro-batch that fits and
    each fix a fit error names ask for several).

    ``stages[i]`` lists the storages stage ``i`` keeps, each counted once, as
    ``(elements, bits, divided, per_sample, count)``: ``count`` storages of ``elements``
    elements (per sample when ``per_sample``) at ``bits`` bits, each divided over the
    ``tensor_parallel`` ranks when ``divided``."""

    stages: tuple[tuple[tuple[int, int, bool, bool, int], ...], ...]
    tensor_parallel: int
    layers: int  # repeated-block instances (transformer layers)

    def plan(self, batch: int, micro_batches: int = 1) -> ActivationPlan:
        """The bytes of each stage for one micro-batch of ``batch`` samples, with
        ``micro_batches`` in flight (1F1B): each storage rounded up to whole bytes, then
        up to whole bytes per rank."""
        t = self.tensor_parallel
        stage_bytes = []
        for entries in self.stages:
            total = 0
            for elements, bits, divided, per_sample, count in entries:
                nbytes = -(-elements * (batch if per_sample else 1) * bits // 8)
                if divided:
                    nbytes = -(-nbytes // t)
                total += count * nbytes
            stage_bytes.append(total)
        p = len(self.stages)
        in_flight = tuple(min(p - i, micro_batches) for i in range(p))
        return ActivationPlan(tuple(stage_bytes), in_flight, self.layers)


def plan_activations(
    lowered: Lowered,
    act_bits: Callable[[Node], int],
    *,
    batch: int,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    pipeline_parallel: int = 1,
    micro_batches: int = 1,
    recompute: str = "none",
    flash: bool = False,
) -> ActivationPlan:
    """The activations every pipeline stage keeps for one micro-batch of ``batch`` samples.

    ``act_bits(node)``: the width of that node's output activations (the training
    precision's activation format, or the node's own ``precision=``). See the module
    docstring for every convention.
    """
    saved = saved_activations(
        lowered,
        act_bits,
        tensor_parallel=tensor_parallel,
        sequence_parallel=sequence_parallel,
        pipeline_parallel=pipeline_parallel,
        recompute=recompute,
        flash=flash,
    )
    return saved.plan(batch, micro_batches)


def saved_activations(
    lowered: Lowered,
    act_bits: Callable[[Node], int],
    *,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    pipeline_parallel: int = 1,
    recompute: str = "none",
    flash: bool = False,
) -> SavedActivations:
    """What every pipeline stage saves (see :func:`plan_activations`), for any batch."""
    nodes = list(lowered.nodes())
    by_id = lowered.by_id
    # a view's storage is its input's; every other node's output is its own storage
    views: dict[str, str] = {}
    for node in nodes:
        if node.kind.is_view:
            views[node.id] = views.get(node.inputs[0], node.inputs[0])
    storage = views.get  # storage(node_id, node_id)
    t = tensor_parallel
    # whether a tensor is split over the ranks matters only with more than one rank
    split = _split_states(nodes).__getitem__ if t > 1 else _whole
    unit_ids = [unit_of(n.id) for n in nodes]
    units = dict.fromkeys(u for u in unit_ids if u)
    p = pipeline_parallel
    stage_of = node_stages(unit_ids, p)

    # per stage: the storage keys kept, and how many storages of each
    # (elements, bits, divided over the ranks, per sample), in the order first kept
    kept: list[set[str]] = [set() for _ in range(p)]
    counts: list[dict[tuple[int, int, bool, bool], int]] = [{} for _ in range(p)]

    def keep(stage: int, key: str, elements: int, bits: int, is_split: bool, per_sample: bool):
        if key not in kept[stage]:
            kept[stage].add(key)
            entry = (elements, bits, t > 1 and (is_split or sequence_parallel), per_sample)
            counts[stage][entry] = counts[stage].get(entry, 0) + 1

    # What an op saves depends on its op, options, shapes and flags only: asked once per
    # kind of node (nodes written alike share their options dict, alive with them).
    saved_by: dict[tuple, tuple] = {}
    input_of: dict[str, int | None] = {}  # "in1" -> 1; "out", "q" -> None
    # whether each node's output requires grad (its own parameters train, or an input
    # requires grad; a model input does not)
    grads: dict[str, bool] = {}
    previous = None  # the node before (a chain's input: no lookup in by_id)
    for node, unit, current in zip(nodes, unit_ids, stage_of):
        before, previous = previous, node
        input_grad = False
        for src in node.inputs:
            if grads[src]:
                input_grad = True
                break
        grads[node.id] = input_grad or _trains_own(node, by_id)
        if unit is not None and recompute == "full":
            for src in node.inputs:  # a tensor entering the block is its checkpoint
                if unit_of(src) != unit:
                    root = storage(src, src)
                    keep(
                        current,
                        root,
                        _elements(by_id[root]),
                        act_bits(by_id[root]),
                        split(src),
                        True,
                    )
            continue
        if not grads[node.id]:
            continue  # nothing upstream trains, nor does it: no autograd node, nothing saved
        what = (
            node.op,
            id(node.opts),
            node.in_shapes,
            node.shape,
            node.trainable,
            node.fused_with_loss,
            input_grad,
        )
        parts = saved_by.get(what)
        if parts is None:
            ctx = Ctx(
                node.in_shapes,
                node.shape,
                node.opts,
                1,
                trainable=node.trainable,
                training=True,
                fused_with_loss=node.fused_with_loss,
                input_requires_grad=input_grad,
            )
            parts = saved_by[what] = tuple(node.kind.saved(ctx))
        for part in parts:
            if part.flash_only and not flash:
                continue
            if part.core and (recompute == "selective" or flash):
                continue
            tensor = part.tensor
            if tensor not in input_of:
                index = _INPUT.fullmatch(tensor)
                input_of[tensor] = int(index.group(1)) if index else None
            index = input_of[tensor]
            if index is not None:
                src = node.inputs[index]
                key = storage(src, src)
                owner = before if before is not None and before.id == key else by_id[key]
                is_split = split(src)
                if key != src and part.elements == _elements(by_id[src]):
                    # a view saved whole keeps its base's storage alive (select(0, 0) of
                    # [197, 768] keeps all 197 rows): count the storage
                    part = attrs.evolve(part, elements=_elements(owner))
            elif part.tensor == "out":
                key, owner, is_split = storage(node.id, node.id), node, split(node.id)
            else:
                key, owner = f"{node.id}#{part.tensor}", node
                is_split = part.split if part.split is not None else split(node.inputs[0])
            bits = KIND_BITS[part.kind] if part.kind in KIND_BITS else act_bits(owner)
            keep(current, key, part.elements, bits, is_split, part.per_sample)
    stages = tuple(tuple((*entry, count) for entry, count in stage.items()) for stage in counts)
    return SavedActivations(stages, t, len(units))


def _trains_own(node: Node, by_id: dict[str, Node]) -> bool:
    """Whether a parameter of ``node`` requires grad: a trainable node's own parameters (less
    a weight tied to a frozen layer's), or a weight it shares with a trainable layer."""
    if node.tie is not None and by_id[node.tie].trainable:
        return True
    if not node.trainable:
        return False
    params = node.kind.param_shapes(node.opts, node.in_shapes)
    return len(params) > 1 if node.tied_to_frozen else bool(params)


def _whole(node_id: str) -> bool:
    """The split state of every tensor with one tensor-parallel rank: whole."""
    return False


def _elements(node: Node) -> int:
    n = 1
    for d in node.shape:
        n *= d
    return n


def bits_of(precision: str) -> int:
    """Bits per element of a storage format (:data:`nnlint.ops.PRECISION_BITS`)."""
    return PRECISION_BITS[precision]
