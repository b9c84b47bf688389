"""Text tables for a person: ``nnlint report``, ``nnlint rules`` and ``nnlint targets``.

Plain data in, one string out (no trailing newline), like :mod:`nnlint.emit`.
Every rounded figure stands beside its exact integer (``15.05 M (15,051,264)``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence

from nnlint.diagnostics import RuleMeta
from nnlint.figures import sources, text_rows
from nnlint.precision import nbytes
from nnlint.sanitize import visible
from nnlint.targets import UNIFIED_MEMORY, Target, builtin_targets, is_builtin
from nnlint.units import (
    fmt_bandwidth,
    fmt_bytes_short,
    fmt_capacity,
    fmt_energy,
    fmt_int,
    fmt_number,
    fmt_rate,
    fmt_shape,
    fmt_size,
    fmt_time,
)

__all__ = [
    "CONVENTIONS",
    "format_table",
    "plan_text",
    "report_text",
    "rules_text",
    "target_card",
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

#: The widest line of ``nnlint targets`` and of a target's card: a user's long target name
#: is shortened in the table to keep it (the card shows it whole, wrapped).
WIDTH = 100
#: What marks a unified-memory target's memory in the tables, and the footnote saying why.
UNIFIED_MARK = "*"
UNIFIED_FOOTNOTE = (
    f"{UNIFIED_MARK} unified memory, {UNIFIED_MEMORY}: less than all of it is left for the model"
)


def _memory_cell(target: Target) -> str:
    """The vendor's figure (``8 GB``), marked when the memory is unified (a space keeps the
    right-aligned figures in line otherwise)."""
    return fmt_capacity(target.memory_bytes) + (UNIFIED_MARK if target.unified_memory else " ")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def targets_text(targets: Mapping[str, Target]) -> str:
    """``nnlint targets``: one row per target, by id, at most :data:`WIDTH` columns for the
    built-in targets: memory, bandwidth, the dense peak of the precision the device computes
    fastest in (:meth:`~nnlint.targets.Target.best_precision`), power. ``nnlint targets ID``
    shows the rest (:func:`target_card`)."""
    headers = ["id", "name", "memory", "bandwidth", "best dense peak", "power"]
    right = [False, False, True, True, False, True]
    rows = []
    for target in sorted(targets.values(), key=lambda t: t.id):
        best = target.best_precision()
        peak = f"{best} {fmt_rate(target.peak_for(best), best)}" if best else "-"
        rows.append(
            [
                target.id,
                visible(target.name),
                _memory_cell(target),
                fmt_bandwidth(target.bandwidth),
                peak,
                f"{target.power_w:g} W",
            ]
        )
    others = sum(max(len(headers[i]), *(len(row[i]) for row in rows)) for i in (0, 2, 3, 4, 5))
    room = max(WIDTH - others - 2 * (len(headers) - 1), 12)
    for row in rows:
        row[1] = _shorten(row[1], room)
    lines = [format_table(headers, rows, right), ""]
    if any(t.unified_memory for t in targets.values()):
        lines.append(UNIFIED_FOOTNOTE)
    lines.append(
        "`nnlint targets ID` shows every figure of a target: the dense and 2:4 sparse peak "
        "of each precision, ridge points, overheads, notes and the file it comes from"
    )
    return "\n".join(textwrap.fill(line, WIDTH) if line else line for line in lines)


#: The width of a card's labels.
_LABEL = 20


def _field(label: str, value: str) -> list[str]:
    """``  label   value``, the value wrapped to :data:`WIDTH` under itself.

    The value is shown with :func:`visible`; a line break never falls before a ``::`` (a
    wrapped line that starts with it would be a GitHub Actions workflow command)."""
    shown = re.sub(r" +(?=::)", lambda m: "\0" * len(m.group()), visible(value))
    lines = textwrap.wrap(
        shown,
        WIDTH,
        initial_indent=f"  {label:<{_LABEL}}",
        subsequent_indent=" " * (2 + _LABEL),
        break_long_words=False,
        break_on_hyphens=False,
    ) or [f"  {label}"]
    return [line.replace("\0", " ") for line in lines]


def _bytes_field(n: int, what: str = "none") -> str:
    return fmt_size(n) if n else what


def _rate_field(bytes_per_s: float) -> str:
    if not bytes_per_s:
        return "none"
    exact = f"{int(bytes_per_s):,}" if bytes_per_s.is_integer() else f"{bytes_per_s!r}"
    return f"{fmt_bandwidth(bytes_per_s)} ({exact} B/s)"


def _overhead(seconds: float, per: str) -> str:
    return f"{fmt_time(seconds)} per {per}" if seconds else "not modelled"


def target_card(target: Target, source: str) -> str:
    """``nnlint targets ID``: every field of one target with its unit (bytes with the
    exact integer), the dense and 2:4 sparse peak and the ridge point of each precision,
    the memory kind, the notes and ``source``, the file as the user reads it."""
    t = target
    kind = f"{t.kind} ({'runs' if t.trains else 'does not run'} training jobs)"
    memory_kind = (
        f"unified: {UNIFIED_MEMORY}, so the model cannot have all of it"
        if t.unified_memory
        else "discrete: the device's own, not shared with the host"
    )
    origin = "built in" if is_builtin(t) else "from the config's `targets`"
    if not is_builtin(t) and t.id in builtin_targets():
        origin += f", replacing the built-in {t.id}"
    lines = [f"{t.id}: {visible(t.name)}"]
    for label, value in (
        ("kind", kind),
        ("memory", fmt_size(t.memory_bytes)),
        ("memory kind", memory_kind),
        ("on-chip memory", _bytes_field(t.onchip_bytes, "not modelled")),
        ("flash", _bytes_field(t.flash_bytes)),
        ("bandwidth", _rate_field(t.bandwidth)),
        ("host link", _rate_field(t.host_link_bandwidth)),
        ("power", f"{t.power_w:g} W"),
        ("launch overhead", _overhead(t.launch_overhead_s, "kernel")),
        ("inference overhead", _overhead(t.inference_overhead_s, "inference")),
        ("unsupported ops", ", ".join(sorted(t.unsupported_ops)) or "none"),
    ):
        lines += _field(label, value)
    rows = []
    for p in t.computes():
        dense = fmt_rate(t.peak_for(p), p)
        if p not in t.peak:
            dense += " (fp32's: the file gives no tf32 rate)"
        sparse = t.peak_sparse.get(p)
        rows.append(
            [
                p,
                dense,
                fmt_rate(sparse, p) if sparse is not None else "-",
                f"{t.ridge_point(p):,.1f} FLOP/byte",
            ]
        )
    table = format_table(
        ["precision", "dense peak", "2:4 sparse peak", "ridge point"],
        rows,
        [False, False, False, True],
    )
    lines += [
        "",
        "  peaks (FLOP/s for floating point, OP/s for integers; 1 MAC = 2 operations) and",
        "  ridge points (dense peak / bandwidth; less arithmetic per byte is memory-bound):",
        *(f"    {line}" for line in table.split("\n")),
        "",
    ]
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", t.notes)]
    for i, paragraph in enumerate(p for p in paragraphs if p):
        # a paragraph begins a line: one that starts with "::" keeps the label before it
        labelled = not i or paragraph.startswith("::")
        lines += _field("notes" if labelled else "", paragraph)
    lines += _field("source", f"{source} ({origin})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plan


def _fit_cell(fit) -> str:
    if fit is None:
        return "-"
    if fit.fits:
        return f"fits +{fmt_bytes_short(fit.headroom_bytes)}"
    if fit.why == "memory" or fit.why == "training memory":
        return f"over {fmt_bytes_short(-fit.headroom_bytes)}"
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
                _memory_cell(p.target),
                _fit_cell(p.training),
                _fit_cell(p.serving),
                fmt_time(p.latency_s) if p.latency_s is not None else "-",
                fmt_number(p.throughput) if p.throughput is not None else "-",
                fmt_energy(p.energy_j) if p.energy_j is not None else "-",
            ]
        )
    table = format_table(headers, rows, [True, False, True, False, False, True, True, True])
    notes = [
        "train, serve: fits with the memory left (+), or over by the memory missing; per second: "
        "samples (deploy batch / latency); energy: per inference (power x latency)",
    ]
    if any(p.target.unified_memory for p in plans):
        notes.append(
            f"{UNIFIED_FOOTNOTE}, so on those targets the memory left (+) is at most the figure"
        )
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
