"""``nnlint report --html``: one self-contained HTML page — inline CSS and hand-written
inline SVG, no script, no external URL — with the roofline, the memory bars, the
totals and the per-layer table of :mod:`nnlint.pictures`.

The SVG is written here rather than by matplotlib so that the page needs no optional
dependency and stays small (a few kB plus the tables; matplotlib's SVG carries glyph
outlines and styles for every mark). Each layer's point has a ``<title>`` (a tooltip
in every browser) with its figures.
"""

from __future__ import annotations

import json
import math
from html import escape

from nnlint.pictures import Figures, MemoryBar, RoofChart, part_color
from nnlint.units import fmt_bytes, fmt_int, fmt_tick, fmt_time

__all__ = ["memory_svg", "render_html", "roofline_svg"]

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #d0d7de; text-align: left; }
td.n { text-align: right; }
.note { color: #59636e; }
svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
svg .grid { stroke: #d0d7de; stroke-width: 1; }
svg .axis { stroke: #59636e; stroke-width: 1; }
svg .roof { stroke: #0969da; stroke-width: 2; fill: none; }
svg .roof.other { stroke: #8c959f; stroke-width: 1; stroke-dasharray: 5 4; }
svg .ridge { stroke: #bf3989; stroke-width: 1; stroke-dasharray: 3 3; }
svg .memory { fill: #cf222e; } svg .compute { fill: #1a7f37; }
svg .limit { stroke: #cf222e; stroke-width: 2; stroke-dasharray: 6 3; }
"""


def _num(x: float) -> str:
    """Coordinates with two decimals: small, exact enough for a picture."""
    return f"{x:.2f}"


def _decades(low: float, high: float) -> tuple[int, int]:
    return math.floor(math.log10(low)), math.ceil(math.log10(high))


def roofline_svg(chart: RoofChart, width: int = 720, height: int = 440) -> str:
    """The roofline chart as an SVG element (no XML declaration, no namespace: for
    inline use in HTML5)."""
    left, right, top, bottom = 80, 20, 20, 50
    xs = [p.intensity for p in chart.points] + [chart.ridge_point]
    peaks = [r.peak for r in chart.roofs]
    ys = [p.attainable for p in chart.points] + peaks
    x0, x1 = _decades(min(xs) / 2, max(xs) * 2)
    y0, y1 = _decades(min(ys) / 2, max(ys) * 2)

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return top + (y1 - math.log10(y)) / (y1 - y0) * (height - top - bottom)

    out = [
        f'<svg class="roofline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="roofline of {escape(chart.target_id)}">'
    ]
    for d in range(x0, x1 + 1):
        x = px(10.0**d)
        out.append(
            f'<line class="grid" x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{height - bottom}"/>'
        )
        out.append(
            f'<text x="{_num(x)}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{10.0**d:g}</text>"
        )
    for d in range(y0, y1 + 1):
        y = py(10.0**d)
        out.append(
            f'<line class="grid" x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}"/>'
        )
        label = fmt_tick(10.0**d, "FLOP/s")
        out.append(f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{label}</text>')
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "arithmetic intensity (FLOP per byte moved)</text>"
    )
    xmin, xmax = 10.0**x0, 10.0**x1
    for roof in chart.roofs:
        knee = roof.peak / chart.bandwidth
        cls = "roof" if roof.precision == chart.precision else "roof other"
        out.append(
            f'<polyline class="{cls}" points="{_num(px(xmin))},{_num(py(chart.bandwidth * xmin))} '
            f'{_num(px(knee))},{_num(py(roof.peak))} {_num(px(xmax))},{_num(py(roof.peak))}">'
            f"<title>{escape(roof.precision)}: {fmt_tick(roof.peak, 'FLOP/s')} peak, ridge "
            f"{knee:.4g} FLOP/byte</title></polyline>"
        )
        out.append(
            f'<text x="{_num(px(xmax) - 4)}" y="{_num(py(roof.peak) - 5)}" text-anchor="end">'
            f"{escape(roof.precision)} {fmt_tick(roof.peak, 'FLOP/s')}</text>"
        )
    ridge = px(chart.ridge_point)
    out.append(
        f'<line class="ridge" x1="{_num(ridge)}" y1="{top}" x2="{_num(ridge)}" '
        f'y2="{height - bottom}"/>'
    )
    out.append(
        f'<text x="{_num(ridge + 4)}" y="{top + 12}">ridge {chart.ridge_point:.4g} FLOP/byte '
        f"({escape(chart.precision)})</text>"
    )
    for p in chart.points:
        out.append(
            f'<circle class="{p.bound}" cx="{_num(px(p.intensity))}" cy="{_num(py(p.attainable))}" '
            f'r="4" data-layer="{escape(p.name)}"><title>{escape(p.name)} ({escape(p.op)}): '
            f"{p.intensity:.4g} FLOP/byte, {fmt_tick(p.attainable, 'FLOP/s')} attainable, "
            f"{p.bound}-bound, {fmt_time(p.time_s)}</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out)


def memory_svg(bars: tuple[MemoryBar, ...], target_memory: int | None, width: int = 720) -> str:
    """Stacked horizontal bars, one per memory figure, to a common scale, with the
    target's memory as a dashed line when it fits the scale's purpose."""
    left, right, bar_h, gap = 230, 20, 28, 34
    height = 30 + len(bars) * (bar_h + gap) + 30
    scale_max = max([b.total for b in bars] + ([target_memory] if target_memory else []))
    scale_max = max(scale_max, 1)

    def px(b: float) -> float:
        return left + b / scale_max * (width - left - right)

    out = [
        f'<svg class="memory-bars" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="memory breakdown">'
    ]
    y = 20
    for bar in bars:
        out.append(
            f'<text x="{left - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">'
            f"{escape(bar.label)}</text>"
        )
        x = 0
        for name, size in bar.parts:
            if size <= 0:
                continue
            out.append(
                f'<rect x="{_num(px(x))}" y="{y}" width="{_num(px(x + size) - px(x))}" '
                f'height="{bar_h}" fill="{part_color(name)}">'
                f"<title>{escape(name)}: {escape(fmt_bytes(size))}</title></rect>"
            )
            x += size
        out.append(
            f'<text x="{left}" y="{y + bar_h + 14}">{escape(fmt_bytes(bar.total))}: '
            + ", ".join(f"{escape(n)} {fmt_int(s)} B" for n, s in bar.parts if s > 0)
            + "</text>"
        )
        y += bar_h + gap
    if target_memory:
        x = px(target_memory)
        out.append(f'<line class="limit" x1="{_num(x)}" y1="10" x2="{_num(x)}" y2="{y}"/>')
        out.append(
            f'<text x="{_num(x - 4)}" y="{y + 14}" text-anchor="end">target memory '
            f"{escape(fmt_bytes(target_memory))}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def render_html(fig: Figures) -> str:
    """The whole page (ends with a newline)."""
    t = fig.totals
    title = f"nnlint report: {fig.model}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">{escape(fig.path)} — training batch {t["train_batch"]} at '
        f"{escape(str(t['train_precision']))} with {escape(str(t['optimizer']))}; inference batch "
        f"{t['deploy_batch']} at {escape(str(t['deploy_precision']))}. Figures follow the "
        "counting conventions of the nnlint README (1 MAC = 2 FLOPs).</p>",
        "<h2>Totals</h2>",
        '<table class="totals"><tr><th>figure</th><th>value</th><th>JSON</th></tr>',
    ]
    for row in fig.rows:  # nnlint.figures: the text report's rows, in declaration order
        exact = (
            f'<td class="n" data-key="{row.figure.name}">{escape(json.dumps(row.value))}</td>'
            if row.figure.name in t
            else "<td></td>"
        )
        parts.append(
            f'<tr><td>{escape(row.label)}</td><td class="n">{escape(row.text)}</td>{exact}</tr>'
        )
    parts.append("</table>")
    parts.append("<h2>Roofline</h2>")
    if fig.roof is None:
        parts.append(f'<p class="note">No roofline: {escape(fig.no_roof_reason or "")}.</p>')
    else:
        r = fig.roof
        parts.append(
            f'<p class="note">{escape(r.target_name)} ({escape(r.target_id)}) at '
            f"{escape(r.precision)}: {fmt_tick(r.peak, 'FLOP/s')} peak, "
            f"{fmt_tick(r.bandwidth, 'B/s')} bandwidth, ridge point {r.ridge_point:.4g} FLOP/byte; "
            f"{len(r.points)} layers on the chart; estimated latency {fmt_time(r.time_s)}, "
            f"of which {fmt_time(r.overhead_s)} fixed overheads (kernel launches, invocation): "
            "a lower bound. "
            "Red: memory-bound, green: compute-bound; hover a point for its layer.</p>"
        )
        if r.off_chart:
            parts.append(
                '<p class="note">Not on the chart (a log-log chart has no place for them): '
                + "; ".join(f"{escape(n)} {escape(why)}" for n, why in r.off_chart)
                + ".</p>"
            )
        parts.append(roofline_svg(r))
    parts.append("<h2>Memory</h2>")
    parts.append(memory_svg(fig.bars, fig.target_memory))
    parts.append("<h2>Layers</h2>")
    headers = ["layer", "op", "output shape", "params", "MACs", "forward FLOPs"]
    if fig.roof is not None:
        headers += ["FLOP/byte", "attainable FLOP/s", "bound", "latency"]
    parts.append('<table class="layers"><tr>' + "".join(f"<th>{h}</th>" for h in headers) + "</tr>")
    points = {p.name: p for p in fig.roof.points} if fig.roof is not None else {}
    for layer in fig.layers:
        cells = [
            escape(layer["name"]),
            escape(layer["op"]),
            escape("[" + ", ".join(str(d) for d in layer["output_shape"]) + "]"),
        ]
        nums = [fmt_int(layer["params"]), fmt_int(layer["macs"]), fmt_int(layer["forward_flops"])]
        row = "".join(f"<td>{c}</td>" for c in cells) + "".join(
            f'<td class="n">{n}</td>' for n in nums
        )
        if fig.roof is not None:
            p = points.get(layer["name"])
            if p is None:
                row += '<td class="n">—</td>' * 4
            else:
                row += (
                    f'<td class="n">{p.intensity:.4g}</td>'
                    f'<td class="n">{fmt_tick(p.attainable, "FLOP/s")}</td>'
                    f"<td>{p.bound}</td>"
                    f'<td class="n">{fmt_time(p.time_s)}</td>'
                )
        parts.append(f"<tr>{row}</tr>")
    parts.append("</table>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
