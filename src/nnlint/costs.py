"""Stage 3: per-node costs and the model's totals.

Per-op formulas live in :mod:`nnlint.ops` (one class per op). This module adds
them up and owns the model-level conventions, each stated once:

* **Training** figures are for ``train.batch`` at ``train.precision``;
  **inference** figures for ``deploy.batch`` (1 when not given) at
  ``deploy.precision`` (else the training precision).
* ``params`` counts trainable and frozen parameters; a weight shared with
  ``tie=`` is counted once. ``active_params`` counts those one token uses: a
  mixture of experts' router, the ``top_k`` experts a token visits and its shared
  experts, and every parameter outside a mixture of experts. Buffers (batchnorm
  running statistics) are state, not parameters: they are reported apart and
  included in both memories.
* ``backward_flops`` follows nnlint's MNIST worked example (README § Counting
  conventions): the loss's own gradient (``ŷ − y``) is *not* included; it is
  ``loss_backward_flops``.
* Optimizer step FLOPs and state per trainable parameter come from
  :mod:`nnlint.optimizers`; the state is stored at the training precision
  (7B parameters with Adam in fp16: 14 + 14 + 28 GB).
* ``train_step_flops = forward + backward + loss_backward + optimizer + recompute``
  (``recompute_flops``: the forward work activation recomputation repeats, 0 without it).
* ``train_memory = params + grads + optimizer state + buffers + cached
  activations`` [in fp32: 4P + 4P + 4·M_opt·P + 4·B·Σn, README § Counting
  conventions]; cached
  activations include the model inputs.
* ``inference_memory = params + buffers + every newly allocated tensor`` (an op's
  output and its internal workspace, e.g. attention's scores) at the deploy batch
  [the MNIST 784-128-64-10 MLP at batch 1: 437,544 + 3,944 = 441,488 B], no reuse of
  buffers between layers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from nnlint.activations import node_stages, unit_of
from nnlint.graph import Lowered, Node
from nnlint.ops import LOSSES, Cost, Ctx, Shape, numel
from nnlint.optimizers import OPTIMIZERS
from nnlint.precision import nbytes
from nnlint.sections import SpecSections
from nnlint.training import TRAIN_PRECISIONS, factored_state_elements, optimizer_state_bytes
from nnlint.training import recompute_flops as training_recompute_flops


@attrs.frozen
class LayerCost:
    node: Node
    train: Cost  # at train.batch, training=True
    infer: Cost  # at deploy.batch, training=False
    counted_params: int  # params, less a weight shared with an earlier layer (tie)
    precision: str  # training precision of this layer
    infer_precision: str


@attrs.frozen
class Totals:
    params: int
    trainable_params: int
    frozen_params: int
    buffers: int
    macs: int
    backward_macs: int
    input_grad_macs: int  # part of backward_macs for layers that read a model input
    forward_flops: int
    backward_flops: int
    loss_backward_flops: int
    optimizer_flops: int
    train_step_flops: int
    recompute_flops: int
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    buffer_bytes: int
    activation_elements: int
    activation_bytes: int
    train_memory_bytes: int
    inference_param_bytes: int
    inference_activation_bytes: int
    inference_memory_bytes: int
    inference_flops: int  # forward FLOPs at the deploy batch, inference mode
    train_batch: int
    deploy_batch: int
    train_precision: str
    deploy_precision: str
    optimizer: str
    #: the parameters one token uses: ``params`` less the experts a mixture of experts does
    #: not route it to (every parameter of a model without ``moe``)
    active_params: int

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class ExpertStates:
    """The model states of the routed experts, whole (before any parallelism): the part of
    the totals' ``param_bytes``, ``grad_bytes`` and ``optimizer_bytes`` that expert
    parallelism divides (:func:`nnlint.training.model_states`)."""

    #: the greatest common divisor of the expert layers' routed-expert counts (0: none):
    #: an expert-parallel size must divide it
    divisor: int
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int


@attrs.frozen
class StageStates:
    """The model states of one pipeline stage, whole (before tensor, expert and data
    parallelism divide them): parameters with buffers, gradients, optimizer state, and the
    routed experts' share of them (:class:`ExpertStates`)."""

    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    experts: ExpertStates


@attrs.frozen
class Report:
    model: str
    lowered: Lowered
    sections: SpecSections
    layers: tuple[LayerCost, ...]
    totals: Totals

    def layer(self, node_id: str) -> LayerCost:
        """The layer of node ``node_id`` (``KeyError`` if there is none). Constant time."""
        return self._by_id[node_id]

    @functools.cached_property
    def experts(self) -> ExpertStates:
        """The routed experts' share of the model states (walked on first use only)."""
        return _expert_states(self.layers, self.sections.train)

    @functools.cached_property
    def stages(self) -> tuple[StageStates, ...]:
        """The model states of each of ``train.pipeline_parallel`` stages (walked on first
        use only): the layers of each stage by :func:`nnlint.activations.node_stages`."""
        return _stage_states(self.layers, self.sections.train)

    @functools.cached_property
    def _by_id(self) -> dict[str, LayerCost]:
        return {layer.node.id: layer for layer in self.layers}


def node_cost(node: Node, batch: int, training: bool) -> Cost:
    """The cost of one node, from its op in :mod:`nnlint.ops` (model inputs and the
    loss included)."""
    ctx = Ctx(
        node.in_shapes,
        node.shape,
        node.opts,
        batch,
        trainable=node.trainable,
        training=training,
        fused_with_loss=node.fused_with_loss,
        weight_trainable=not node.tied_to_frozen,
    )
    return node.kind.cost(ctx)


def _optimizer_bytes(train, trainable: int, shapes: Callable[[], Iterable[Shape]]) -> int:
    """Optimizer state at the training precision (README, counting conventions) for
    ``trainable`` parameters, the tensors of ``shapes()`` (read only by Adafactor); a
    mixed-precision recipe keeps
    its fp32 master copy and fp32 state, 8-bit AdamW one byte per moment and Adafactor its
    factored second moment (:func:`nnlint.training.optimizer_state_bytes`)."""
    recipe = TRAIN_PRECISIONS[train.recipe]
    if train.optimizer == "adafactor":
        elements = factored_state_elements(shapes())
        return optimizer_state_bytes("adafactor", train.recipe, trainable, elements)
    if recipe.mixed or train.optimizer == "adamw8bit":
        return optimizer_state_bytes(train.optimizer, train.recipe, trainable)
    return OPTIMIZERS[train.optimizer].state_bytes(trainable, train.precision)


def _trainable_shapes(layers) -> list[Shape]:
    """The shapes of the trainable parameter tensors (a tied weight once)."""
    return [
        shape
        for layer in layers
        if layer.node.trainable and not layer.node.tie
        for shape in layer.node.kind.param_shapes(layer.node.opts, layer.node.in_shapes)
    ]


def _expert_states(layers, train) -> ExpertStates:
    """:attr:`Report.experts`: each layer's routed experts (:meth:`Op.routed_experts`) at
    the layer's precision, as ``analyze`` counts every parameter."""
    divisor = param_bytes = grad_bytes = trainable = 0
    shapes: list[Shape] = []
    for layer in layers:
        node = layer.node
        count, one = node.kind.routed_experts(node.opts, node.in_shapes)
        if not count:
            continue
        divisor = math.gcd(divisor, count)
        elements = count * sum(numel(shape) for shape in one)
        stored = nbytes(elements, layer.precision)
        param_bytes += stored
        if node.trainable:
            trainable += elements
            grad_bytes += stored
            shapes += one * count
    optimizer_bytes = _optimizer_bytes(train, trainable, lambda: shapes) if trainable else 0
    return ExpertStates(divisor, param_bytes, grad_bytes, optimizer_bytes)


def _stage_states(layers, train) -> tuple[StageStates, ...]:
    """:attr:`Report.stages`: each stage's layers counted as ``analyze`` counts the model
    (buffers at the training precision, gradients of trainable layers, optimizer state of
    the stage's trainable parameters), except a weight shared (``tie=``) with a layer on
    another stage: that stage keeps a copy of it, as Megatron-LM keeps the word embeddings
    on the last stage for a head that shares them (their gradients all-reduced between the
    two stages), with its gradient and optimizer state."""
    p = train.pipeline_parallel
    stage_of = node_stages([unit_of(layer.node.id) for layer in layers], p)
    stage_by_id = {layer.node.id: stage for layer, stage in zip(layers, stage_of)}
    groups: list[list[LayerCost]] = [[] for _ in range(p)]
    for layer, stage in zip(layers, stage_of):
        groups[stage].append(layer)
    stages = []
    for stage, group in enumerate(groups):
        param_bytes = grad_bytes = trainable = buffers = 0
        shapes: list[Shape] = []
        for layer in group:
            node = layer.node
            copy = node.tie is not None and stage_by_id[node.tie] != stage
            counted = layer.counted_params + (layer.train.weight_params if copy else 0)
            param_bytes += nbytes(counted, layer.precision)
            buffers += layer.train.buffers
            if node.trainable:
                learnt = layer.counted_params if node.tied_to_frozen else counted
                trainable += learnt
                grad_bytes += nbytes(learnt, layer.precision)
                if node.tie is None or copy:
                    shapes += node.kind.param_shapes(node.opts, node.in_shapes)
        stages.append(
            StageStates(
                param_bytes + nbytes(buffers, train.precision),
                grad_bytes,
                _optimizer_bytes(train, trainable, lambda shapes=shapes: shapes),
                _expert_states(group, train),
            )
        )
    return tuple(stages)


def recompute_flops(layers, batch: int, recompute: str, attention_impl: str) -> int:
    """FLOPs activation recomputation adds to a step (:func:`nnlint.training.recompute_flops`):
    ``full`` reruns the forward pass of every repeated block (the checkpointed layers);
    ``selective`` — and a flash kernel, which recomputes the scores in its backward pass
    (Dao et al. 2022) — the attention core: everything but the four projections and their
    biases, ``forward − B·(8TD² + 4TD)``."""
    mode = "selective" if recompute == "none" and attention_impl == "flash" else recompute
    full = core = 0  # each summed only for the mode that reads it
    if mode == "full":
        full = sum(layer.train.forward_flops for layer in layers if unit_of(layer.node.id))
    if mode == "selective":
        for layer in layers:
            if layer.node.kind.score_elements(layer.node.opts, layer.node.in_shapes):
                T, D = layer.node.in_shapes[0]
                core += layer.train.forward_flops - batch * (8 * T * D * D + 4 * T * D)
    return training_recompute_flops(mode, full, core)


def analyze(lowered: Lowered, sections: SpecSections) -> Report:
    train, deploy = sections.train, sections.deploy
    B, Bd = train.batch, deploy.batch
    train_prec = train.precision
    deploy_prec = deploy.precision or train_prec
    layers = []
    # Nodes with equal options share one options dict (the op instances of a `* N`
    # repeat, and layers written alike: nnlint.graph._options_key): same op, options
    # and shapes, so the same cost, computed once (a 1 KB spec may repeat 100,000
    # times). The dicts stay alive with the nodes, so an id is never reused.
    same: dict[tuple, tuple[Cost, Cost]] = {}
    # Every per-layer sum of the totals, in the same pass (a spec may have 100,000 layers).
    params = trainable = buffers = macs = backward_macs = input_grad_macs = 0
    forward = backward = activation_elements = inference_flops = inactive = 0
    param_bytes = grad_bytes = activation_bytes = layer_param_bytes = 0
    inference_activation_bytes = 0
    for node in lowered.nodes():
        key = (
            node.op,
            id(node.opts),
            node.in_shapes,
            node.shape,
            node.trainable,
            node.fused_with_loss,
            node.tied_to_frozen,
        )
        costs = same.get(key)
        if costs is None:
            costs = same[key] = (node_cost(node, B, True), node_cost(node, Bd, False))
        tcost, icost = costs
        counted = tcost.params - tcost.weight_params if node.tie else tcost.params
        precision = node.precision or train_prec
        infer_precision = node.precision or deploy_prec
        layers.append(LayerCost(node, tcost, icost, counted, precision, infer_precision))
        stored = nbytes(counted, precision)
        params += counted
        param_bytes += stored
        if node.trainable:
            trainable += counted
            grad_bytes += stored
        buffers += tcost.buffers
        macs += tcost.macs
        backward_macs += tcost.backward_macs
        if node.reads_input:
            input_grad_macs += tcost.input_grad_macs
        forward += tcost.forward_flops
        backward += tcost.backward_flops
        activation_elements += tcost.cached_elements
        activation_bytes += nbytes(tcost.cached_elements, precision)
        inactive += tcost.inactive_params
        layer_param_bytes += nbytes(counted, infer_precision)
        inference_activation_bytes += nbytes(
            Bd * (icost.output_elements + icost.workspace_elements), infer_precision
        )
        inference_flops += icost.forward_flops

    optimizer = OPTIMIZERS[train.optimizer]
    optimizer_flops = optimizer.step_flops(trainable)

    # every loss term's gradient (ŷ − y, ...), and one multiply for each term's weight
    loss_backward = 0
    for loss_id in lowered.losses:
        loss_node = lowered.node(loss_id)
        loss_backward += LOSSES[loss_node.loss].gradient * B * numel(loss_node.in_shapes[0])
        loss_backward += loss_node.kind.weight_backward_flops(loss_node.opts)

    optimizer_bytes = _optimizer_bytes(train, trainable, lambda: _trainable_shapes(layers))
    buffer_bytes = nbytes(buffers, train_prec)
    recomputed = recompute_flops(layers, B, train.recompute, train.attention_impl)
    inference_param_bytes = layer_param_bytes + nbytes(buffers, deploy_prec)
    totals = Totals(
        params=params,
        trainable_params=trainable,
        frozen_params=params - trainable,
        buffers=buffers,
        macs=macs,
        backward_macs=backward_macs,
        input_grad_macs=input_grad_macs,
        forward_flops=forward,
        backward_flops=backward,
        loss_backward_flops=loss_backward,
        optimizer_flops=optimizer_flops,
        train_step_flops=forward + backward + loss_backward + optimizer_flops + recomputed,
        recompute_flops=recomputed,
        param_bytes=param_bytes,
        grad_bytes=grad_bytes,
        optimizer_bytes=optimizer_bytes,
        buffer_bytes=buffer_bytes,
        activation_elements=activation_elements,
        activation_bytes=activation_bytes,
        train_memory_bytes=param_bytes
        + grad_bytes
        + optimizer_bytes
        + buffer_bytes
        + activation_bytes,
        inference_param_bytes=inference_param_bytes,
        inference_activation_bytes=inference_activation_bytes,
        inference_memory_bytes=inference_param_bytes + inference_activation_bytes,
        inference_flops=inference_flops,
        train_batch=B,
        deploy_batch=Bd,
        train_precision=train_prec,
        deploy_precision=deploy_prec,
        optimizer=train.optimizer,
        active_params=params - inactive,
    )
    return Report(lowered.name, lowered, sections, tuple(layers), totals)
