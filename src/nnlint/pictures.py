"""The figures behind ``nnlint report --html`` and ``--plot``, computed once for both.

Two pictures:

* **Roofline** (Williams, Waterman and Patterson, "Roofline: an insightful visual
  performance model for multicore architectures", CACM 52(4), 2009): every layer at its
  arithmetic intensity (FLOPs ÷ bytes moved, :mod:`nnlint.roofline`'s convention) and its
  attainable FLOP/s = min(peak, intensity × bandwidth) on the target, log-log, under the
  memory roof (bandwidth × intensity) and the compute roof of each precision the target
  has a dense peak for; the ridge point is where the deploy precision's roofs meet.
  A layer's attainable FLOP/s is its FLOPs ÷ its roofline time, the same figure.
* **Memory** as stacked bars: the training step (parameters, gradients, optimizer
  state, buffers, activations — they sum to ``train_memory_bytes``) and inference
  (parameters with buffers, activations — they sum to ``inference_memory_bytes``),
  beside the target's memory.

Nothing here draws; :mod:`nnlint.report_html` and :mod:`nnlint.plots` do.
"""

from __future__ import annotations

import attrs

from nnlint.figures import Row, report_rows, sources

OFF_CHIP = "moves no bytes off chip"
NO_FLOPS = "computes nothing (data movement only)"

__all__ = [
    "NO_FLOPS",
    "OFF_CHIP",
    "Figures",
    "MemoryBar",
    "Roof",
    "RoofChart",
    "RoofPoint",
    "figures",
    "part_color",
]

#: The colour of each memory part, the same in the HTML page and the plot.
_PART_COLORS = {
    "parameters": "#0969da",
    "gradients": "#8250df",
    "optimizer state": "#bf8700",
    "buffers": "#59636e",
    "activations": "#1a7f37",
}


def part_color(name: str) -> str:
    """The colour of the memory part ``name`` in both pictures (grey for another part)."""
    return _PART_COLORS.get(name, "#8c959f")


@attrs.frozen
class RoofPoint:
    name: str  # the layer's id
    op: str
    intensity: float  # FLOP per byte moved
    attainable: float  # FLOP/s: min(peak, intensity × bandwidth)
    flops: int
    bytes_moved: int
    bound: str  # "memory" | "compute"
    time_s: float


@attrs.frozen
class Roof:
    precision: str
    peak: float  # FLOP/s (op/s for integer precisions), dense


@attrs.frozen
class RoofChart:
    target_id: str
    target_name: str
    precision: str  # the deploy precision, whose roof and ridge the points sit under
    bandwidth: float  # bytes/s
    peak: float
    ridge_point: float  # FLOP per byte
    roofs: tuple[Roof, ...]  # every precision with a dense peak, highest first
    points: tuple[RoofPoint, ...]
    time_s: float  # the model's latency estimate: kernels' roofline time + overhead_s
    overhead_s: float  # the target's fixed costs (per kernel launch, per inference)
    #: Layers a log-log chart cannot place, with the reason: those that move no bytes
    #: off chip (infinite intensity: weights and activations stay on an on-chip target)
    #: and those with no FLOPs (zero intensity: a lookup or a copy).
    off_chart: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class MemoryBar:
    label: str
    parts: tuple[tuple[str, int], ...]  # (name, bytes), in stacking order

    @property
    def total(self) -> int:
        return sum(b for _, b in self.parts)


@attrs.frozen
class Figures:
    model: str
    path: str
    roof: RoofChart | None
    no_roof_reason: str | None  # why there is no roofline (no target, no peak)
    bars: tuple[MemoryBar, ...]
    target_memory: int | None  # bytes, when a target is set
    totals: dict  # the JSON report's totals (exact integers)
    layers: tuple[dict, ...]  # the JSON report's layers
    rows: tuple[Row, ...] = ()  # the report's totals (nnlint.figures.report_rows)


def figures(analysis, path: str) -> Figures:
    """The figures of one analysed spec (:class:`nnlint.check.Analysis`)."""
    from nnlint.check import model_entry

    report, roof = analysis.report, analysis.roofline
    t = report.totals
    entry = model_entry(analysis, path)
    chart, reason = None, None
    if roof is None:
        reason = "no target: set deploy.target, the config's target or --target"
    elif not roof.peak:
        reason = f"{roof.target.id} has no dense peak at {roof.precision}"
    else:
        points = tuple(
            RoofPoint(
                name=r.node_id,
                op=report.lowered.node(r.node_id).op,
                intensity=r.intensity,
                attainable=min(roof.peak, r.intensity * roof.bandwidth),
                flops=r.flops,
                bytes_moved=r.bytes_moved,
                bound=r.bound,
                time_s=r.time_s,
            )
            for r in roof.layers
            if r.intensity is not None and r.intensity > 0 and r.time_s
        )
        roofs = tuple(
            sorted(
                (Roof(p, v) for p, v in roof.target.peak.items() if v),
                key=lambda r: (-r.peak, r.precision),
            )
        )
        chart = RoofChart(
            roof.target.id,
            roof.target.name,
            roof.precision,
            roof.bandwidth,
            roof.peak,
            roof.ridge_point,
            roofs,
            points,
            roof.time_s,
            roof.overhead_s,
            tuple(
                (r.node_id, OFF_CHIP if r.intensity is None else NO_FLOPS)
                for r in roof.layers
                if r.time_s and not (r.intensity and r.intensity > 0)
            ),
        )
    bars = (
        MemoryBar(
            f"training (batch {t.train_batch}, {t.train_precision}, {t.optimizer})",
            (
                ("parameters", t.param_bytes),
                ("gradients", t.grad_bytes),
                ("optimizer state", t.optimizer_bytes),
                ("buffers", t.buffer_bytes),
                ("activations", t.activation_bytes),
            ),
        ),
        MemoryBar(
            f"inference (batch {t.deploy_batch}, {t.deploy_precision})",
            (
                ("parameters", t.inference_param_bytes),
                ("activations", t.inference_activation_bytes),
            ),
        ),
    )
    target = analysis.target
    return Figures(
        report.model,
        path,
        chart,
        reason,
        bars,
        target.memory_bytes if target is not None else None,
        entry["totals"],
        tuple(entry["layers"]),
        tuple(report_rows(sources(analysis))),
    )
