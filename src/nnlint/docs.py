"""README sections generated from the registries, so the docs cannot drift.

The README holds each generated section between markers::

    <!-- generated:rules -->
    ...
    <!-- /generated:rules -->

``python -m nnlint.docs README.md`` rewrites them in place; the test suite
fails when the README is out of date (``tests/test_docs.py``). The JSON Schema of the
check report, ``docs/report.schema.json``, is generated the same way
(:mod:`nnlint.report_schema`, ``python -m nnlint.docs docs/report.schema.json``); with
no argument both files are rewritten.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from nnlint.ops import LOSSES, OPS, Op
from nnlint.units import fmt_capacity


def rules_table() -> str:
    from nnlint.rules import all_meta

    lines = ["| Code | Name | Family | Severity | What it reports |", "|---|---|---|---|---|"]
    for meta in all_meta().values():
        lines.append(
            f"| `{meta.code}` | {meta.name} | {meta.family} | {meta.severity} | {meta.summary} |"
        )
    return "\n".join(lines)


def _signature(op: Op) -> str:
    pos = [
        o.name if o.required else f"{o.name}={_default(o.default)}" for o in op.opts if o.positional
    ]
    kw = [f"{o.name}={_default(o.default)}" for o in op.opts if not o.positional]
    args = ", ".join(pos + kw)
    if op.family == "merge":
        args = "a, b, …" + (", " + args if args else "")
    return f"`{op.name}({args})`" if args else f"`{op.name}`"


def _default(value) -> str:
    if value is None:
        return "…"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, tuple):  # attention's bias=[q, k, v, o]
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def ops_table() -> str:
    lines = ["| Op | Family | Shapes, parameters and costs |", "|---|---|---|"]
    for op in OPS.values():
        doc = " ".join(inspect.cleandoc(type(op).__doc__ or "").split())
        lines.append(f"| {_signature(op)} | {op.family} | {doc} |")
    return "\n".join(lines)


def losses_table() -> str:
    lines = [
        "| Loss | Forward FLOPs / element | + on raw logits | Gradient FLOPs / element | Notes |",
        "|---|---|---|---|---|",
    ]
    for loss in LOSSES.values():
        extra = f"+{loss.on_logits}" if loss.normalized else "—"
        lines.append(f"| `{loss.name}` | {loss.forward} | {extra} | {loss.gradient} | {loss.doc} |")
    return "\n".join(lines)


def optimizers_table() -> str:
    from nnlint.optimizers import OPTIMIZERS

    lines = [
        "| Optimizer | Step FLOPs (P trainable parameters) | State tensors per parameter "
        "| Source | Usual learning rate (NN112) |",
        "|---|---|---|---|---|",
    ]
    for o in OPTIMIZERS.values():
        if o.flops_per_param is None:
            flops = "— (not yet in a spec)"
        else:
            flops = f"{o.flops_per_param}P" + (f" + {o.flops_constant}" if o.flops_constant else "")
        state = f"{o.states} ({o.state})" if o.states else o.state
        lr = f"{o.lr_range[0]:g} to {o.lr_range[1]:g}: {o.lr_source}" if o.lr_range else "—"
        lines.append(f"| `{o.name}` | {flops} | {state} | {o.source} | {lr} |")
    return "\n".join(lines)


def targets_table() -> str:
    from nnlint.targets import builtin_targets

    def peak(t, p):
        v = t.peak_for(p)
        return f"{v / 1e12:g}" if v else "—"

    lines = [
        "| Id | Device | Memory | Bandwidth | FP32 / FP16 / INT8 dense TFLOP/s (TOPS) | "
        "On-chip | Overhead per kernel / per inference | Power |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in sorted(builtin_targets().values(), key=lambda t: t.id):
        onchip = f"{t.onchip_bytes / 2**20:.2f} MiB" if t.onchip_bytes else "—"
        unified = " (unified)" if t.unified_memory else ""
        overhead = " / ".join(
            f"{s * 1e6:g} µs" if s else "—" for s in (t.launch_overhead_s, t.inference_overhead_s)
        )
        lines.append(
            f"| `{t.id}` | {t.name} | {fmt_capacity(t.memory_bytes)}{unified} | "
            f"{t.bandwidth / 1e9:g} GB/s | {peak(t, 'fp32')} / {peak(t, 'fp16')} / "
            f"{peak(t, 'int8')} | {onchip} | {overhead} | {t.power_w:g} W |"
        )
    return "\n".join(lines)


def figures_table() -> str:
    """The totals of :mod:`nnlint.figures`: JSON key, unit, budget key, what and convention."""
    from nnlint.figures import FIGURES

    lines = [
        "| `totals` key | Unit | Budget key | What | Convention |",
        "|---|---|---|---|---|",
    ]
    for f in FIGURES.values():
        if f.in_json:
            key = f"`{f.name}`"
        elif f.label is not None:
            key = f"`{f.name}` (text report only)"
        else:
            key = f"`{f.name}` (not in `totals`)"
        floor = "" if f.limit == "max" else " (a floor: " + ", ".join(f.comparisons) + ")"
        budget = ", ".join(f"`{k}`{floor}" for k in f.budget) or "—"
        where = " With a target only." if f.needs_target else ""
        if f.requires:
            where += " With " + " and ".join(f"`{key}`" for key in f.requires) + " only."
        lines.append(f"| {key} | {f.unit} | {budget} | {f.what} | {f.doc}{where} |")
    return "\n".join(lines)


SECTIONS = {
    "rules": rules_table,
    "ops": ops_table,
    "losses": losses_table,
    "optimizers": optimizers_table,
    "targets": targets_table,
    "figures": figures_table,
}


def render(text: str) -> str:
    """Replace every generated section of ``text`` with its current content."""
    for name, make in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL
        )
        body = make()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def _regenerated(path: Path) -> str:
    """The current text of ``path``: the report schema for a file named like
    :data:`~nnlint.report_schema.SCHEMA_PATH`, else the file with its generated
    sections rendered."""
    from nnlint.report_schema import SCHEMA_PATH, schema_text

    if path.name == Path(SCHEMA_PATH).name:
        return schema_text()
    return render(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    from nnlint.report_schema import SCHEMA_PATH

    args = sys.argv[1:] if argv is None else argv
    for name in args or ["README.md", SCHEMA_PATH]:
        path = Path(name)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        new = _regenerated(path)
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
