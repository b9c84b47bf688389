"""``nnlint report --plot FILE``: the roofline and the memory bars of
:mod:`nnlint.pictures` drawn with matplotlib (the optional extra ``plot``), to SVG, PNG
or PDF by the file's suffix.

SVG text stays text (``svg.fonttype = none``), so a layer's name or a total can be
searched for in the file; every layer's point carries its id as its SVG ``id`` (via
matplotlib's ``gid``), and the file is reproducible (no date, a fixed hash salt).
"""

from __future__ import annotations

import io

from nnlint.pictures import Figures, part_color
from nnlint.units import fmt_tick

__all__ = ["PLOT_SUFFIXES", "PlotUnavailable", "render_plot"]

PLOT_SUFFIXES = ("svg", "png", "pdf")


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            "--plot needs matplotlib, an optional extra: pip install 'nnlint[plot]'"
        ) from None
    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    return matplotlib, plt


def _roofline(ax, chart) -> None:
    xs = [p.intensity for p in chart.points] + [chart.ridge_point]
    xmin, xmax = min(xs) / 4, max(xs) * 4
    for roof in chart.roofs:
        knee = roof.peak / chart.bandwidth
        deploy = roof.precision == chart.precision
        ax.plot(
            [xmin, knee, xmax],
            [chart.bandwidth * xmin, roof.peak, roof.peak],
            color="#0969da" if deploy else "#8c959f",
            linestyle="-" if deploy else "--",
            linewidth=2 if deploy else 1,
            label=f"{roof.precision} roof: {fmt_tick(roof.peak, 'FLOP/s')}",
        )
    ax.axvline(chart.ridge_point, color="#bf3989", linestyle=":", linewidth=1)
    ax.annotate(
        f"ridge {chart.ridge_point:.4g} FLOP/byte ({chart.precision})",
        (chart.ridge_point, chart.peak),
        textcoords="offset points",
        xytext=(4, -14),
    )
    for p in chart.points:
        marker = ax.scatter(
            [p.intensity],
            [p.attainable],
            s=18,
            color="#cf222e" if p.bound == "memory" else "#1a7f37",
            zorder=3,
        )
        marker.set_gid(f"layer {p.name}")
    slowest = sorted(chart.points, key=lambda p: -p.time_s)[:8]
    for rank, p in enumerate(slowest, start=1):
        ax.annotate(
            str(rank),
            (p.intensity, p.attainable),
            textcoords="offset points",
            xytext=(3, -10 if rank % 2 else 4),
            fontsize=7,
        )
    ax.text(
        0.01,
        0.99,
        "slowest layers:\n"
        + "\n".join(
            f"{rank} {p.name} ({p.op}): {p.time_s * 1e6:.3g} µs, {p.bound}-bound"
            for rank, p in enumerate(slowest, start=1)
        ),
        transform=ax.transAxes,
        va="top",
        fontsize=7,
        bbox={"facecolor": "white", "edgecolor": "#d0d7de"},
    )
    if chart.off_chart:
        shown = chart.off_chart[:12]
        ax.text(
            0.99,
            0.02,
            "not on the chart:\n"
            + "\n".join(f"{name}: {why}" for name, why in shown)
            + (f"\n… and {len(chart.off_chart) - 12} more" if len(chart.off_chart) > 12 else ""),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xmin, xmax)
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title(
        f"roofline on {chart.target_name} ({chart.target_id}), "
        f"{fmt_tick(chart.bandwidth, 'B/s')}\nred: memory-bound, green: compute-bound",
        fontsize=9,
    )
    ax.grid(True, which="major", color="#d0d7de")
    ax.legend(loc="lower right", fontsize=7)


def _memory(fig, ax, fig_data: Figures) -> None:
    from nnlint.units import fmt_bytes

    named: set[str] = set()
    for row, bar in enumerate(fig_data.bars):
        left = 0
        for name, size in bar.parts:
            if size <= 0:
                continue
            ax.barh(
                row,
                size,
                left=left,
                color=part_color(name),
                label=None if name in named else name,
            )
            named.add(name)
            left += size
    if fig_data.target_memory:
        ax.axvline(
            fig_data.target_memory,
            color="#cf222e",
            linestyle="--",
            label=f"target memory {fmt_bytes(fig_data.target_memory)}",
        )
    ax.set_yticks(
        range(len(fig_data.bars)), [f"{b.label}\n{fmt_bytes(b.total)}" for b in fig_data.bars]
    )
    ax.invert_yaxis()
    ax.set_xlabel("bytes")
    ax.set_title("memory", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    fig.text(
        0.01,
        0.005,
        "\n".join(
            f"{b.label}: "
            + " + ".join(f"{name} {size:,} B" for name, size in b.parts if size > 0)
            + f" = {b.total:,} B"
            for b in fig_data.bars
        ),
        fontsize=7,
        va="bottom",
    )


def render_plot(fig_data: Figures, suffix: str) -> bytes:
    """The picture as bytes in format ``suffix`` (``svg``, ``png`` or ``pdf``)."""
    matplotlib, plt = _pyplot()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nnlint", "font.size": 9}):
        fig, (ax_roof, ax_mem) = plt.subplots(
            2, 1, figsize=(11, 11), gridspec_kw={"height_ratios": [3, 1]}
        )
        fig.suptitle(f"nnlint report: {fig_data.model}\n{fig_data.path}")
        if fig_data.roof is None:
            ax_roof.set_axis_off()
            ax_roof.text(0.5, 0.5, f"No roofline: {fig_data.no_roof_reason}", ha="center")
        else:
            _roofline(ax_roof, fig_data.roof)
        _memory(fig, ax_mem, fig_data)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        out = io.BytesIO()
        fig.savefig(out, format=suffix, metadata={"Date": None} if suffix == "svg" else None)
        plt.close(fig)
    return out.getvalue()
