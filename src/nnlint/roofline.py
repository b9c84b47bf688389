"""Stage 3b: the roofline of every layer on a hardware target, for inference.

Three steps, each a function with plain data in and out, composed by :func:`roofline`:

1. :func:`fuse` — which nodes run as one kernel (:class:`Fusion`: the kernels in
   execution order, each with the ops fused into it and their FLOPs);
2. :func:`traffic` — the bytes each kernel moves on the target (:class:`Traffic`:
   weights, streamed weights, bytes moved; on-chip caching);
3. :func:`timing` — compute or memory bound, and the time of each kernel and of the
   whole inference with the target's fixed overheads (:class:`Roofline`).

The rules read the :class:`Roofline` (its rows and its model-wide figures); none of
them recomputes a step.

Conventions (stated once; the README repeats them):

* FLOPs are the layer's inference forward FLOPs at ``deploy.batch``.
* Bytes moved = the layer's weights (and buffers) + every input tensor + its
  output tensor, at the layer's deploy precision (Williams et al. 2009: intensity
  = FLOPs / bytes moved); an embedding moves only the rows it gathers; a layer whose
  weight is tied to another's (``tie=``) reads the whole shared weight like any other
  layer (stored once: ``param_bytes`` and on-chip placement count it once). Views (``flatten``,
  ``reshape``) and ops that vanish at inference (``dropout``, ``identity``) move
  nothing and are skipped — except a layout change that reorders the elements in memory
  (``transpose``, ``permute``: :meth:`~nnlint.ops.Op.moves_data`): inference runtimes
  run it as a copy kernel (ONNX ``Transpose``, TFLite ``TRANSPOSE``), which reads its
  input and writes its output at no FLOPs. One that only moves axes of size 1 stays free.
* Arithmetic intensity = FLOPs ÷ bytes moved; the ridge point = peak FLOP/s ÷
  bandwidth at the deploy precision (dense peak, never the sparse one); below it
  a layer is memory-bound.
* Fusion, as inference runtimes do it: a batchnorm right after a conv2d or dense
  is folded into its weights (its scale and shift become the layer's weights and
  bias: a layer without a bias gains one), and an in-place element-wise activation right after
  a layer runs in that layer's kernel (when nothing else reads the layer's
  output). A fused op has no row of its own; its FLOPs join its host's row and it
  moves no bytes.
* Time = max(FLOPs ÷ peak, bytes ÷ bandwidth) per kernel, summed (no overlap
  between kernels), plus the target's fixed costs: ``launch_overhead_s`` per kernel
  (each row is one kernel) and ``inference_overhead_s`` once (the Edge TPU's invocation).
  Layer rows carry their roofline time only; the overhead is in the total. A lower bound,
  not a benchmark.
* Targets with on-chip parameter memory (the edge TPU): parameters are cached in
  execution order until the on-chip memory is full, as the Edge TPU compiler does;
  cached weights and intermediate activations stay on chip, the rest of the
  weights stream over the host link on every inference, and so do the model's
  inputs (once each) and outputs.
"""

from __future__ import annotations

import functools

import attrs

from nnlint.costs import Report
from nnlint.ops import channel_axis, numel
from nnlint.precision import nbytes
from nnlint.targets import Target

__all__ = [
    "Fusion",
    "Kernel",
    "KernelTraffic",
    "LayerRoof",
    "Roofline",
    "Traffic",
    "fuse",
    "roofline",
    "timing",
    "traffic",
]


# --------------------------------------------------------------------------- 1. fusion


@attrs.frozen
class Kernel:
    """One kernel of the deployed model: a layer and the ops that run inside it."""

    node_id: str  # the layer the kernel is named for (its row in the roofline)
    nodes: tuple[str, ...]  # node_id first, then the ops fused into it
    flops: int  # inference forward FLOPs of all its nodes
    new_bias: int  # bias values a folded batchnorm gives a layer without one


@attrs.frozen
class Fusion:
    """Which nodes run as which kernel at inference."""

    kernels: tuple[Kernel, ...]  # in execution order
    host: dict[str, str]  # a fused node's id -> the id of the kernel it runs inside


def _hosts(report: Report) -> tuple[dict[str, str], dict[int, int]]:
    """Node id -> the id of the layer it runs inside at inference; and the same by
    position in ``report.layers``.

    A batchnorm directly after a conv2d or dense folds into its weights and bias
    (Jacob et al. 2018, batchnorm folding: free at inference); an in-place element-wise activation
    directly after a layer runs in that layer's kernel (conv + bias + ReLU is one
    kernel in TensorRT, TFLite and the Edge TPU compiler). Either only when the
    layer's output has no other reader.
    """
    layers = report.layers
    readers = report.lowered.successors  # each reader once
    host: dict[str, str] = {}
    fused: dict[int, int] = {}  # position of a fused node -> position of its host
    position: dict[str, int] | None = None  # node id -> position, made if needed
    for i, layer in enumerate(layers):
        node = layer.node
        if len(node.inputs) != 1:
            continue
        op = node.kind
        folding = op.folds_into_linear
        joining = op.family == "activation" and op.in_place and not node.fused_with_loss
        src_id = node.inputs[0]
        if not (folding or joining) or len(readers(src_id)) != 1:
            continue
        if i and layers[i - 1].node.id == src_id:  # a chain: the layer before
            j = i - 1
        else:
            if position is None:
                position = {other.node.id: k for k, other in enumerate(layers)}
            j = position[src_id]
        root = fused.get(j, j)
        folds = folding and layers[j].node.kind.linear_layer
        joins = joining and layers[root].node.kind.fusion_host
        if folds or joins:
            host[node.id] = layers[root].node.id
            fused[i] = root
    return host, fused


def fuse(report: Report) -> Fusion:
    """The kernels of one inference, in execution order.

    A fused op adds its FLOPs to its host's kernel and has no kernel of its own.
    Model inputs, the loss and views (``flatten``, ``reshape``) run no kernel, nor
    does an op that vanishes at inference (``dropout``, ``identity``) with no FLOPs
    and no weights. A view that moves data (a transpose or permute that reorders the
    elements in memory) runs as a copy kernel with no FLOPs.
    """
    host, fused = _hosts(report)
    layers = report.layers
    # host position -> [FLOPs of the ops fused into it, bias values a folded batchnorm
    # adds, itself and the ops fused into it]
    joined: dict[int, list] = {}
    for i, root in fused.items():
        layer, hosted = layers[i], layers[root].node
        entry = joined.get(root)
        if entry is None:
            entry = joined[root] = [0, 0, (hosted.id,)]
        entry[0] += layer.infer.forward_flops
        entry[2] += (layer.node.id,)
        if layer.node.kind.folds_into_linear and not hosted.opts.get("bias", True):
            entry[1] = channel_axis(layer.node.shape)
    kernels = []
    for i, layer in enumerate(layers):
        node = layer.node
        kind = node.kind
        if kind.is_input or kind.is_loss or i in fused:
            continue
        if kind.is_view and not kind.moves_data(node.opts, node.in_shapes):
            continue
        flops, bias, members = layer.infer.forward_flops, 0, None
        entry = joined.get(i)
        if entry is not None:
            flops += entry[0]
            bias, members = entry[1], entry[2]
        if (
            kind.inference_noop
            and flops == 0
            and layer.counted_params + layer.infer.buffers + bias == 0
        ):
            continue
        kernels.append(Kernel(node.id, members or (node.id,), flops, bias))
    return Fusion(tuple(kernels), host)


# --------------------------------------------------------------------------- 2. traffic


@attrs.frozen
class KernelTraffic:
    """The bytes one kernel moves on the target."""

    kernel: Kernel
    weight_bytes: int  # its weights and buffers (an embedding: the rows it gathers)
    streamed_weight_bytes: int  # weights that do not fit on chip (on-chip targets only)
    bytes_moved: int


@attrs.frozen
class Traffic:
    """The bytes every kernel of one inference moves, and where the weights live."""

    kernels: tuple[KernelTraffic, ...]
    param_bytes: int  # every kernel's weights at the deploy precision
    onchip_param_bytes: int  # of which cached on chip (on-chip targets)
    streamed_param_bytes: int  # of which streamed over the host link every inference


def _producer(report: Report, node_id: str):
    """The node that really wrote a tensor: through views and inference no-ops
    (``flatten``, ``reshape``, ``dropout``, ``identity``), which move nothing themselves."""
    node = report.lowered.node(node_id)
    while (node.kind.is_view or node.kind.inference_noop) and node.inputs:
        node = report.lowered.node(node.inputs[0])
    return node


def _model_outputs(report: Report) -> set[str]:
    """Nodes whose output nothing but the loss reads: what the model returns."""
    nodes = report.lowered.nodes
    read = {src for node in nodes() if not node.kind.is_loss for src in node.inputs}
    return {
        node.id
        for node in nodes()
        if not (node.kind.is_loss or node.kind.is_input) and node.id not in read
    }


def traffic(report: Report, fusion: Fusion, target: Target) -> Traffic:
    """Bytes moved per kernel: its weights (and buffers) + every input tensor + its
    output, at the layer's deploy precision; on a target with on-chip parameter
    memory, the weights that do not fit plus the model's inputs and outputs."""
    Bd = report.totals.deploy_batch
    onchip_left = target.onchip_bytes
    rows = []
    param_bytes = onchip = streamed_total = 0
    arrived: set[str] = set()  # model inputs already sent to an on-chip target
    model_outputs = _model_outputs(report) if target.onchip_bytes else set()
    in_order = iter(report.layers)  # fuse's kernels are a subsequence of the layers
    for kernel in fusion.kernels:
        for layer in in_order:
            if layer.node.id == kernel.node_id:
                break
        else:  # kernels not in execution order (a Fusion made otherwise): look them up
            layer = report.layer(kernel.node_id)
        node, infer, precision = layer.node, layer.infer, layer.infer_precision
        # A kernel reads all of its weights, a tied one included (an output projection
        # tied to the token embedding reads the whole table); the model stores a shared
        # weight once (``stored``: what is placed in memory or on chip).
        extra = infer.buffers + kernel.new_bias
        weights = nbytes(infer.params + extra, precision)
        stored = nbytes(layer.counted_params + extra, precision)
        read = node.kind.params_read(
            node.opts, node.in_shapes, Bd * numel(node.shape[:-1]), infer.params
        )
        if read < infer.params:
            # a lookup reads only the rows it gathers, a mixture only the experts its
            # tokens visit, not every weight the layer holds
            part = nbytes(read, precision)
            weights, stored = min(weights, part), min(stored, part)
        param_bytes += stored
        streamed = 0
        if target.onchip_bytes:
            # placed once: a tied layer reads the weights its first user placed
            cached = min(stored, onchip_left)
            onchip_left -= cached
            onchip += cached
            streamed = stored - cached
            streamed_total += streamed
            # Only the model's inputs (once each) and outputs cross the host link;
            # everything in between stays on chip. A layout copy reorders on chip: a model
            # input it reads arrives for the layer after it, which _producer traces back.
            inputs = 0
            for shape, src in zip(node.in_shapes, () if node.kind.is_view else node.inputs):
                origin = _producer(report, src)
                if origin.kind.is_input and origin.id not in arrived:
                    arrived.add(origin.id)
                    inputs += nbytes(Bd * numel(shape), layer.infer_precision)
            outputs = sum(
                nbytes(Bd * numel(report.lowered.node(n).shape), layer.infer_precision)
                for n in kernel.nodes
                if n in model_outputs
            )
            moved = streamed + inputs + outputs
        else:
            moved = weights + nbytes(Bd * numel(node.shape), precision)
            for shape in node.in_shapes:
                moved += nbytes(Bd * numel(shape), precision)
        rows.append(KernelTraffic(kernel, weights, streamed, moved))
    return Traffic(tuple(rows), param_bytes, onchip, streamed_total)


def weights_read(report: Report, rows: int) -> int:
    """Bytes of weights and buffers one pass reads when every layer sees ``rows`` tokens
    (a decode step: one per sequence; a prefill: the prompt's), at each layer's deploy
    precision: each layer's :meth:`~nnlint.ops.base.Op.params_read` — an embedding's
    gathered rows, a ``moe``'s visited experts, every weight of any other layer; a tied
    weight is read by each layer that uses it, as :func:`traffic` counts it."""
    total = 0
    for layer in report.layers:
        node = layer.node
        read = node.kind.params_read(node.opts, node.in_shapes, rows, layer.infer.params)
        total += nbytes(read + layer.infer.buffers, layer.infer_precision)
    return total


# --------------------------------------------------------------------------- 3. time


@attrs.frozen
class LayerRoof:
    node_id: str
    flops: int
    bytes_moved: int
    weight_bytes: int
    streamed_weight_bytes: int  # weights that do not fit on chip (on-chip targets only)
    intensity: float | None  # FLOP per byte; None when nothing is moved
    bound: str | None  # "memory" | "compute" | None (no peak at this precision)
    time_s: float | None


@attrs.frozen
class Roofline:
    target: Target
    precision: str
    peak: float | None  # dense FLOP/s at the precision, None if the target lacks it
    bandwidth: float
    ridge_point: float | None
    layers: tuple[LayerRoof, ...]
    time_s: float | None  # kernels' roofline time + overhead_s
    overhead_s: float  # launch overhead of every kernel + the per-inference overhead
    param_bytes: int
    onchip_param_bytes: int
    streamed_param_bytes: int

    @functools.cached_property
    def kernel_time_s(self) -> float | None:
        """The kernels' roofline time alone, without the fixed overheads."""
        return None if self.time_s is None else sum(r.time_s for r in self.layers)

    @functools.cached_property
    def flops(self) -> int:
        """FLOPs of one inference, summed over the kernels."""
        return sum(r.flops for r in self.layers)

    @functools.cached_property
    def bytes_moved(self) -> int:
        """Bytes one inference moves, summed over the kernels."""
        return sum(r.bytes_moved for r in self.layers)

    @functools.cached_property
    def intensity(self) -> float | None:
        """The whole model's arithmetic intensity (FLOP per byte); None when nothing moves."""
        moved = self.bytes_moved
        return self.flops / moved if moved else None

    @functools.cached_property
    def memory_bound_share(self) -> float | None:
        """The share of the kernel time spent in memory-bound kernels (None: no time)."""
        total = self.kernel_time_s
        if not total:
            return None
        return sum(r.time_s for r in self.layers if r.bound == "memory") / total

    @property
    def host_link_bandwidth(self) -> float:
        """Bytes per second over which streamed weights reach the target: its host link,
        else its memory bandwidth."""
        return self.target.host_link_bandwidth or self.target.bandwidth

    @property
    def stream_time_s(self) -> float:
        """Time to stream the weights that do not fit on chip, per inference."""
        return self.streamed_param_bytes / self.host_link_bandwidth

    def layer(self, node_id: str) -> LayerRoof | None:
        """The row of node ``node_id``, or ``None`` (skipped layers). Constant time."""
        return self._by_id.get(node_id)

    @functools.cached_property
    def _by_id(self) -> dict[str, LayerRoof]:
        return {layer.node_id: layer for layer in self.layers}


def timing(moved: Traffic, target: Target, precision: str) -> Roofline:
    """Each kernel is compute-bound or memory-bound: time = max(FLOPs ÷ peak, bytes ÷
    bandwidth) at the dense peak of ``precision``; the inference takes the kernels'
    times, summed, plus ``launch_overhead_s`` per kernel and ``inference_overhead_s``
    once. No time without a peak at the precision."""
    peak = target.peak_for(precision)
    bandwidth = target.bandwidth
    rows = []
    for k in moved.kernels:
        flops, size = k.kernel.flops, k.bytes_moved
        intensity = flops / size if size else None
        if peak:
            compute_t = flops / peak
            memory_t = size / bandwidth
            time_s = max(compute_t, memory_t)
            bound = "memory" if memory_t > compute_t else "compute"
        else:
            time_s, bound = None, None
        rows.append(
            LayerRoof(
                k.kernel.node_id,
                flops,
                size,
                k.weight_bytes,
                k.streamed_weight_bytes,
                intensity,
                bound,
                time_s,
            )
        )
    overhead = len(rows) * target.launch_overhead_s + target.inference_overhead_s
    total_time = sum(r.time_s for r in rows) + overhead if peak else None
    return Roofline(
        target=target,
        precision=precision,
        peak=peak,
        bandwidth=bandwidth,
        ridge_point=(peak / bandwidth) if peak else None,
        layers=tuple(rows),
        time_s=total_time,
        overhead_s=overhead,
        param_bytes=moved.param_bytes,
        onchip_param_bytes=moved.onchip_param_bytes,
        streamed_param_bytes=moved.streamed_param_bytes,
    )


def roofline(report: Report, target: Target) -> Roofline:
    """The roofline of one inference of ``report`` on ``target`` at the deploy precision:
    :func:`fuse`, then :func:`traffic`, then :func:`timing`."""
    moved = traffic(report, fuse(report), target)
    return timing(moved, target, report.totals.deploy_precision)
