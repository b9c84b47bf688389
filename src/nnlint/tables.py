"""Text tables for a person: ``nnlint report``, ``nnlint rules`` and ``nnlint targets``.

Plain data in, one string out (no trailing newline), like :mod:`nnlint.emit`.
Every rounded figure stands beside its exact integer (``15.05 M (15,051,264)``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from nnlint.diagnostics import RuleMeta
from nnlint.figures import sources, text_rows
from nnlint.precision import ARITHMETIC_PRECISIONS, nbytes
from nnlint.sanitize import visible
from nnlint.targets import Target
from nnlint.units import (
    fmt_bytes,
    fmt_bytes_short,
    fmt_capacity,
    fmt_energy,
    fmt_int,
    fmt_number,
    fmt_shape,
    fmt_si,
    fmt_time,
)

__all__ = [
    "CONVENTIONS",
    "format_table",
    "plan_text",
    "report_text",
    "rules_text",
    "targets_text",
]

#: What every figure of ``nnlint report`` assumes (the costs module documents each).
CONVENTIONS = (
    "1 MAC = 2 FLOPs, backward counts every layer's input gradient (README § Counting conventions)"
)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    """Columns two spaces apart, a dashed rule under the header; ``right`` aligns numbers.

    Cells pass through :func:`~nnlint.sanitize.visible` (a target's name comes from a
    user's file), so each row stays one line and no control character is printed.
    """
    rows = [[visible(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


# --------------------------------------------------------------------------- report


def report_text(analysis, path: str) -> str:
    """The per-layer table and the totals of one analysed spec (:class:`nnlint.check.Analysis`)."""
    report, roof = analysis.report, analysis.roofline
    t = report.totals
    on_target = f" on {roof.target.id}" if roof is not None else ""
    header = [
        f"model {visible(report.model)} ({visible(path)})",
        f"conventions: train batch {t.train_batch} at {t.train_precision} with {t.optimizer}; "
        f"inference batch {t.deploy_batch} at {t.deploy_precision}{on_target}; {CONVENTIONS}",
        f"per layer: MACs per sample; FLOPs and activation bytes per training step "
        f"(batch {t.train_batch})"
        + ("; intensity, bound and latency at the inference batch" if roof is not None else ""),
    ]
    return "\n".join([*header, "", _layer_table(analysis), "", _totals(analysis)])


def _layer_table(analysis) -> str:
    roof = analysis.roofline
    headers = [
        "layer",
        "op",
        "output shape",
        "params",
        "MACs",
        "forward FLOPs",
        "backward FLOPs",
        "activation bytes",
    ]
    right = [False, False, False, True, True, True, True, True]
    if roof is not None:
        headers += ["FLOP/byte", "bound", "latency"]
        right += [True, False, True]
    rows = []
    for layer in analysis.report.layers:
        node = layer.node
        row = [
            node.id,
            f"loss:{node.loss}" if node.loss else node.op,
            fmt_shape(node.shape),
            fmt_int(layer.counted_params),
            fmt_int(layer.train.macs),
            fmt_int(layer.train.forward_flops),
            fmt_int(layer.train.backward_flops),
            fmt_int(nbytes(layer.train.cached_elements, layer.precision)),
        ]
        if roof is not None:
            lr = roof.layer(node.id)
            row += [
                "" if lr is None or lr.intensity is None else f"{lr.intensity:,.1f}",
                "" if lr is None or lr.bound is None else lr.bound,
                "" if lr is None or lr.time_s is None else fmt_time(lr.time_s, nanoseconds=True),
            ]
        rows.append(row)
    return format_table(headers, rows, right)


def _totals(analysis) -> str:
    """One row per figure with a label in :mod:`nnlint.figures`, in declaration order."""
    lines = text_rows(sources(analysis))
    width = max(len(label) for label, _ in lines)
    return "\n".join(["totals", *(f"  {label.ljust(width)}  {value}" for label, value in lines)])


# --------------------------------------------------------------------------- rules


def rules_text(metas: Mapping[str, RuleMeta]) -> str:
    rows = [[m.code, m.name, m.family, str(m.severity), m.summary] for m in metas.values()]
    return format_table(["code", "name", "family", "severity", "summary"], rows, [False] * 5)


def rule_page(meta: RuleMeta, options: Mapping[str, object] | None = None) -> str:
    """``nnlint rule CODE``: ruff's page header, then the rule's own doc."""
    lines = [
        f"# {meta.name} ({meta.code})",
        "",
        f"Family: {meta.family}. Default severity: {meta.severity}.",
        "",
    ]
    if options:
        shown = ", ".join(f"{name} = {value!r}" for name, value in options.items())
        lines += [f"Thresholds (config `thresholds.{meta.code}`): {shown}.", ""]
    lines.append(meta.doc.strip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- targets


def best_precision(target: Target) -> str | None:
    """The precision with the highest dense peak (the widest one on a tie)."""
    ranked = [p for p in ARITHMETIC_PRECISIONS if target.peak_for(p) is not None]
    return max(ranked, key=lambda p: target.peak_for(p), default=None)


def targets_text(targets: Mapping[str, Target]) -> str:
    headers = [
        "id",
        "name",
        "memory",
        "bandwidth",
        "dense peak (FLOP/s, op/s)",
        "ridge point",
        "power",
    ]
    rows = []
    for target in sorted(targets.values(), key=lambda t: t.id):
        peaks = " · ".join(
            f"{p} {fmt_si(target.peak[p])}" for p in ARITHMETIC_PRECISIONS if p in target.peak
        )
        best = best_precision(target)
        ridge = target.ridge_point(best) if best else None
        rows.append(
            [
                target.id,
                target.name,
                fmt_bytes(target.memory_bytes),
                f"{fmt_si(target.bandwidth)}B/s",
                peaks,
                f"{ridge:,.1f} FLOP/B ({best})" if ridge is not None else "n/a",
                f"{target.power_w:g} W",
            ]
        )
    return format_table(headers, rows, [False, False, True, True, False, True, True])


# --------------------------------------------------------------------------- plan


def _fit_cell(fit) -> str:
    if fit is None:
        return "-"
    if fit.fits:
        return f"fits {fmt_bytes_short(fit.headroom_bytes, sign=True)}"
    if fit.why == "memory" or fit.why == "training memory":
        return f"over {fmt_bytes_short(fit.headroom_bytes, sign=True)}"
    return fit.why


def plan_text(path: str, report, plans) -> str:
    """``nnlint plan``: one row per target, ranked (:mod:`nnlint.target_ranking`), then
    the changes that make each use fit. At most 100 columns for the built-in targets."""
    t = report.totals
    train = (
        f"train batch {t.train_batch} at {report.sections.train.recipe}"
        if report.sections.has_train
        else "no train section"
    )
    header = (
        f"model {visible(report.model)} ({visible(path)}): {train}; inference batch "
        f"{t.deploy_batch} at {t.deploy_precision}"
    )
    headers = ["#", "target", "memory", "train", "serve", "latency", "per second", "energy"]
    rows = []
    for rank, p in enumerate(plans, 1):
        rows.append(
            [
                str(rank),
                p.target.id,
                fmt_capacity(p.target.memory_bytes),
                _fit_cell(p.training),
                _fit_cell(p.serving),
                fmt_time(p.latency_s) if p.latency_s is not None else "-",
                fmt_number(p.throughput) if p.throughput is not None else "-",
                fmt_energy(p.energy_j) if p.energy_j is not None else "-",
            ]
        )
    table = format_table(headers, rows, [True, False, True, False, False, True, True, True])
    notes = [
        "train, serve: fits or over, with the memory left (+) or missing (-); per second: "
        "samples (deploy batch / latency); energy: per inference (power x latency)",
    ]
    changes = []
    for p in plans:
        for use, fit in (("train", p.training), ("serve", p.serving)):
            if fit is None or fit.fits:
                continue
            what = "; ".join(str(c) for c in fit.changes) or "no single change computed fits"
            changes.append(f"  {visible(p.target.id)} {use}: {what}")
    lines = [textwrap.fill(header, 100), "", table, "", *(textwrap.fill(n, 100) for n in notes)]
    if changes:
        lines += ["", "what would fit (each change checked by analysing the spec with it):"]
        lines += [textwrap.fill(c, 100, subsequent_indent="      ") for c in changes]
    return "\n".join(lines)
