"""Stage 3b: the roofline of every layer on a hardware target, for inference.

Conventions (stated once; the README repeats them):

* FLOPs are the layer's inference forward FLOPs at ``deploy.batch``.
* Bytes moved = the layer's weights (and buffers) + every input tensor + its
  output tensor, at the layer's deploy precision (Williams et al. 2009: intensity
  = FLOPs / bytes moved); an embedding moves only the rows it gathers; a layer whose
  weight is tied to another's (``tie=``) reads the whole shared weight like any other
  layer (stored once: ``param_bytes`` and on-chip placement count it once). Views (``flatten``,
  ``reshape``) and ops that vanish at inference (``dropout``, ``identity``) move
  nothing and are skipped.
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

    @property
    def kernel_time_s(self) -> float | None:
        """The kernels' roofline time alone, without the fixed overheads."""
        return None if self.time_s is None else sum(r.time_s for r in self.layers)

    def layer(self, node_id: str) -> LayerRoof | None:
        """The row of node ``node_id``, or ``None`` (skipped layers). Constant time."""
        return self._by_id.get(node_id)

    @functools.cached_property
    def _by_id(self) -> dict[str, LayerRoof]:
        return {layer.node_id: layer for layer in self.layers}


def _producer(report: Report, node_id: str):
    """The node that really wrote a tensor: through views and inference no-ops
    (``flatten``, ``reshape``, ``dropout``, ``identity``), which move nothing themselves."""
    node = report.lowered.node(node_id)
    while (node.kind.is_view or node.kind.inference_noop) and node.inputs:
        node = report.lowered.node(node.inputs[0])
    return node


def _fusion(report: Report) -> dict[str, str]:
    """Node id -> the id of the layer it runs inside at inference.

    A batchnorm directly after a conv2d or dense folds into its weights and bias
    (Jacob et al. 2018, batchnorm folding: free at inference); an in-place element-wise activation
    directly after a layer runs in that layer's kernel (conv + bias + ReLU is one
    kernel in TensorRT, TFLite and the Edge TPU compiler). Either only when the
    layer's output has no other reader.
    """
    readers: dict[str, int] = {}
    for node in report.lowered.nodes():
        for src in set(node.inputs):
            readers[src] = readers.get(src, 0) + 1
    host: dict[str, str] = {}
    for node in report.lowered.nodes():
        op = node.kind
        if len(node.inputs) != 1 or readers.get(node.inputs[0], 0) != 1:
            continue
        src = report.lowered.node(node.inputs[0])
        root = host.get(src.id, src.id)
        folds = op.folds_into_linear and src.kind.linear_layer
        joins = (
            op.family == "activation"
            and op.in_place
            and report.lowered.node(root).kind.fusion_host
            and not node.fused_with_loss
        )
        if folds or joins:
            host[node.id] = root
    return host


def _model_outputs(report: Report) -> set[str]:
    """Nodes whose output nothing but the loss reads: what the model returns."""
    nodes = report.lowered.nodes
    read = {src for node in nodes() if not node.kind.is_loss for src in node.inputs}
    return {
        node.id
        for node in nodes()
        if not (node.kind.is_loss or node.kind.is_input) and node.id not in read
    }


def roofline(report: Report, target: Target) -> Roofline:
    totals = report.totals
    precision = totals.deploy_precision
    peak = target.peak_for(precision)
    bandwidth = target.bandwidth
    onchip_left = target.onchip_bytes
    Bd = totals.deploy_batch
    host = _fusion(report)
    joined: dict[str, int] = {}  # host id -> FLOPs of the ops fused into it
    new_bias: dict[str, int] = {}  # host id -> bias values a folded batchnorm adds
    for layer in report.layers:
        if layer.node.id in host:
            key = host[layer.node.id]
            joined[key] = joined.get(key, 0) + layer.infer.forward_flops
            hosted = report.lowered.node(key)
            if layer.node.kind.folds_into_linear and not hosted.opts.get("bias", True):
                new_bias[key] = channel_axis(layer.node.shape)
    rows = []
    param_bytes = onchip = streamed_total = 0
    arrived: set[str] = set()  # model inputs already sent to an on-chip target
    group: dict[str, tuple[str, ...]] = {}  # host id -> itself and the ops fused into it
    for fused, key in host.items():
        group[key] = group.get(key, (key,)) + (fused,)
    model_outputs = _model_outputs(report)
    for layer in report.layers:
        node = layer.node
        if node.id in host:  # runs inside its host's kernel: no memory traffic of its own
            continue
        # A kernel reads all of its weights, a tied one included (an output projection
        # tied to the token embedding reads the whole table); the model stores a shared
        # weight once (``stored``: what is placed in memory or on chip).
        extra = layer.infer.buffers + new_bias.get(node.id, 0)
        weights = nbytes(layer.infer.params + extra, layer.infer_precision)
        stored = nbytes(layer.counted_params + extra, layer.infer_precision)
        if node.kind.gathers_rows:
            # a lookup reads only the rows it gathers, not the whole table
            gathered = nbytes(Bd * numel(node.shape), layer.infer_precision)
            weights, stored = min(weights, gathered), min(stored, gathered)
        param_bytes += stored
        flops = layer.infer.forward_flops + joined.get(node.id, 0)
        kind = node.kind
        if kind.is_input or kind.is_loss or kind.is_view:
            continue
        if kind.inference_noop and flops == 0 and weights == 0:
            continue
        streamed = 0
        if target.onchip_bytes:
            # placed once: a tied layer reads the weights its first user placed
            cached = min(stored, onchip_left)
            onchip_left -= cached
            onchip += cached
            streamed = stored - cached
            streamed_total += streamed
            # Only the model's inputs (once each) and outputs cross the host link;
            # everything in between stays on chip.
            inputs = 0
            for shape, src in zip(node.in_shapes, node.inputs):
                origin = _producer(report, src)
                if origin.kind.is_input and origin.id not in arrived:
                    arrived.add(origin.id)
                    inputs += nbytes(Bd * numel(shape), layer.infer_precision)
            outputs = sum(
                nbytes(Bd * numel(report.lowered.node(n).shape), layer.infer_precision)
                for n in group.get(node.id, (node.id,))
                if n in model_outputs
            )
            moved = streamed + inputs + outputs
        else:
            io = sum(nbytes(Bd * numel(s), layer.infer_precision) for s in node.in_shapes)
            io += nbytes(Bd * numel(node.shape), layer.infer_precision)
            moved = weights + io
        intensity = flops / moved if moved else None
        if peak:
            compute_t = flops / peak
            memory_t = moved / bandwidth
            time_s = max(compute_t, memory_t)
            bound = "memory" if memory_t > compute_t else "compute"
        else:
            time_s, bound = None, None
        rows.append(LayerRoof(node.id, flops, moved, weights, streamed, intensity, bound, time_s))
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
        param_bytes=param_bytes,
        onchip_param_bytes=onchip,
        streamed_param_bytes=streamed_total,
    )
