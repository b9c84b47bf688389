"""The driver: one spec's text -> :class:`~nnlint.diagnostics.FileResult`.

parse -> sections -> lowering -> costs -> roofline -> rules -> suppressions.
Front-end errors (NN0xx) stop the flow and are returned as diagnostics; any
other exception is an internal error that names the file (the CLI exits 2).
"""

from __future__ import annotations

import contextlib
import gc
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from nnlint import ast
from nnlint.costs import Report, analyze
from nnlint.diagnostics import Diagnostic, FileResult, RuleMeta, Severity, Span, SpecError
from nnlint.figures import json_totals, sources
from nnlint.files import SPEC_LIMIT, read_regular
from nnlint.graph import lower
from nnlint.ops import known_as
from nnlint.parse import parse_all
from nnlint.plan import ServingPlan, TrainingPlan, serving_plan, training_plan
from nnlint.roofline import Roofline, roofline
from nnlint.rules import FATAL, REGISTRY, SPEC_CODES, all_meta, run_rules
from nnlint.rules.spec_codes import MAX_ERRORS
from nnlint.sections import check_expert_parallel, read_sections
from nnlint.suggest import did_you_mean, suggest
from nnlint.targets import Target, builtin_targets
from nnlint.training_run import TrainingRun, training_run


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Suspend the cyclic garbage collector while one spec is checked.

    Checking allocates one object per token, AST node, graph node and cost, and
    keeps most of them alive until the end; CPython's collector then re-scans that
    growing heap again and again, which made a 100k-layer spec ~2.5x slower and
    its time superlinear. The structures built here hold no reference cycles, so
    reference counting frees them; the collector is switched back on (if it was
    on) as soon as the check ends, whatever happens."""
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class InternalError(Exception):
    """A bug in nnlint while working on ``path`` (None: not on one file).

    The one wrapper of unexpected exceptions (see :func:`internal_errors`): ``str()``
    is one line naming the file and the exception; ``traceback`` keeps the formatted
    stack as text, so it survives the trip back from a worker process. The CLI
    prints the line (and the stack with ``--show-traceback``) and exits 2.
    """

    def __init__(self, path: str | None, exc: BaseException) -> None:
        where = f"{path}: " if path else ""
        super().__init__(f"{where}internal error: {type(exc).__name__}: {exc}")
        self.path = path
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


@contextlib.contextmanager
def internal_errors(path: str | None) -> Iterator[None]:
    """Turn any exception but an :class:`InternalError` into one that names ``path``.

    Bad input never raises (it becomes diagnostics), so whatever escapes here is a bug.
    """
    try:
        yield
    except InternalError:
        raise
    except Exception as exc:
        raise InternalError(path, exc) from exc


@attrs.frozen
class Settings:
    """What the command line and configuration decide for a file."""

    target: str | None = None  # --target: overrides deploy.target
    train_target: str | None = None  # --train-target: overrides train.target
    default_target: str | None = None  # config `target`: used when the spec has no deploy.target
    select: tuple[str, ...] | None = None  # None: every rule
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    thresholds: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    targets: Mapping[str, Target] = attrs.field(factory=dict)  # extra profiles from config


def _matches(code: str, selectors, metas: Mapping[str, RuleMeta]) -> bool:
    """ruff's selector semantics: ``ALL``, a full code, a prefix (``NN1``) or a rule name."""
    meta = metas.get(code)
    for s in selectors:
        s = s.strip()
        if s.upper() == "ALL" or code.startswith(s.upper()) or (meta and meta.name == s.lower()):
            return True
    return False


def selected_codes(settings: Settings) -> list[str]:
    metas = all_meta()
    codes = [c for c in metas if c not in FATAL]
    chosen = [c for c in codes if settings.select is None or _matches(c, settings.select, metas)]
    chosen += [c for c in codes if c not in chosen and _matches(c, settings.extend_select, metas)]
    return sorted(c for c in chosen if not _matches(c, settings.ignore, metas))


def known_targets(settings: Settings) -> dict[str, Target]:
    return {**builtin_targets(), **settings.targets}


def _apply_suppressions(
    spec: ast.Spec, found: list[Diagnostic], selected: set[str]
) -> list[Diagnostic]:
    """Drop suppressed findings; report suppressions that silenced nothing (NN021)."""
    metas = all_meta()
    used: set[tuple[int, str]] = set()
    kept = []
    for d in found:
        silenced = False
        if d.code not in FATAL:
            for i, s in enumerate(spec.suppressions):
                if d.code in s.codes and (s.kind == "ignore-file" or s.span.line == d.span.line):
                    used.add((i, d.code))
                    silenced = True
        if not silenced:
            kept.append(d)
    if "NN021" in selected:
        for i, s in enumerate(spec.suppressions):
            for code in s.codes:
                if (i, code) in used:
                    continue
                if code not in metas:
                    why = f"`{code}` is not an nnlint code" + did_you_mean(code, metas)
                elif code in FATAL:
                    why = f"{code} stops the analysis and cannot be suppressed"
                elif s.kind == "ignore":
                    why = f"no {code} finding on line {s.span.line}"
                else:
                    why = f"no {code} finding in this file"
                kept.append(
                    Diagnostic(
                        "NN021",
                        Severity.WARNING,
                        f"unused suppression of {code}: {why}",
                        s.span,
                        fix=f"remove {code} from the comment",
                        data={"suppressed_code": code},
                    )
                )
    return kept


def _locate_layers(lowered, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Name each finding's layer: the first node, in execution order, whose span is the
    finding's span, else the first whose span holds the finding's start. A line-free
    handle on the finding (the baseline keys on it); a block's layers are found through
    their first instance."""
    # only the nodes on the lines of the findings to name (a spec may have 100,000)
    lines = {d.span.line for d in diagnostics if not d.layer}
    if not lines:
        return diagnostics
    exact: dict[Span, str] = {}
    by_line: dict[int, list[Any]] = {}
    for node in lowered.nodes():
        if node.span.line in lines:
            exact.setdefault(node.span, node.id)
            by_line.setdefault(node.span.line, []).append(node)

    def holder(span: Span) -> str | None:
        if span in exact:
            return exact[span]
        start = (span.line, span.column)
        for node in by_line.get(span.line, ()):
            s = node.span
            if (s.line, s.column) <= start < (s.end_line, s.end_column):
                return node.id
        return None

    return [d if d.layer else attrs.evolve(d, layer=holder(d.span)) for d in diagnostics]


def model_entry(analysis: Analysis, path: str) -> dict[str, Any]:
    """The JSON contract's ``models`` entry (README § A quick tour), plus documented extra keys."""
    report, roof = analysis.report, analysis.roofline
    totals = json_totals(sources(analysis))  # nnlint.figures declares each total
    layers = []
    # the roofline's rows are its kernels in execution order: a subsequence of the layers
    rows = iter(roof.layers if roof is not None else ())
    row = next(rows, None)
    for layer in report.layers:
        node = layer.node
        entry = {
            "name": node.id,
            "op": (node.loss and f"loss:{node.loss}") or node.op,
            "output_shape": list(node.shape),
            "params": layer.counted_params,
            "macs": layer.train.macs,
            "forward_flops": layer.train.forward_flops,
            "backward_flops": layer.train.backward_flops,
            "activation_elements": layer.train.cached_elements,
            "line": node.span.line,
            "trainable": node.trainable,
            "backward_macs": layer.train.backward_macs,
        }
        if row is not None and row.node_id == node.id:
            entry["arithmetic_intensity"] = row.intensity
            entry["bound"] = row.bound
            entry["latency_s"] = row.time_s
            entry["bytes_moved"] = row.bytes_moved
            row = next(rows, None)
        layers.append(entry)
    if row is not None:  # pragma: no cover - a row out of order: not one of fuse's
        raise AssertionError(f"roofline row {row.node_id} is not in execution order")
    entry = {
        "path": path,
        "name": report.model,
        "target": roof.target.id if roof is not None else None,
        "totals": totals,
        "layers": layers,
    }
    if analysis.training is not None:
        entry["training"] = analysis.training.as_dict()
    if analysis.serving is not None:
        entry["serving"] = analysis.serving.as_dict()
    return entry


@attrs.frozen
class Analysis:
    """Everything computed for one file (``nnlint report`` prints it)."""

    spec: ast.Spec
    report: Report
    target: Target | None
    roofline: Roofline | None
    train_target: Target | None = None  # where training runs (train.target, else target)
    training: TrainingPlan | None = None
    serving: ServingPlan | None = None
    run: TrainingRun | None = None  # the whole run's cost (train.samples and train.epochs)


def analyse_text(
    text: str, settings: Settings = Settings()
) -> tuple[Analysis | None, list[Diagnostic]]:
    """Run the front end and the cost model; no rules. Spec errors come back as diagnostics."""
    with _no_gc_pauses():
        return _analyse_text(text, settings)


def _capped(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """At most :data:`MAX_ERRORS` errors of a file, in source order; NN017 at the first
    one left out says there are more."""
    errors = sorted((d for d in diagnostics if d.code in FATAL), key=Diagnostic.sort_key)
    if len(errors) <= MAX_ERRORS:
        return diagnostics
    dropped = set(map(id, errors[MAX_ERRORS:]))
    first = errors[MAX_ERRORS]
    return [d for d in diagnostics if id(d) not in dropped] + [
        Diagnostic(
            "NN017",
            Severity.NOTE,
            f"more than {MAX_ERRORS} errors in this file: the first {MAX_ERRORS} are shown, "
            "the rest from here on are not",
            first.span,
            fix="fix the errors shown and run nnlint again",
            data={"shown": MAX_ERRORS},
        )
    ]


def _analyse_text(text: str, settings: Settings) -> tuple[Analysis | None, list[Diagnostic]]:
    # Every independent error in one run: the syntax errors (each statement with one left
    # out), then each section entry and each model statement on its own; only a spec
    # without any error is analysed further (costs, targets, and the rules after them).
    spec, diagnostics = parse_all(text, known_as)
    if spec is None:
        return None, _capped(diagnostics)
    try:
        sections, section_problems = read_sections(spec)
        diagnostics += section_problems
        lowered = lower(spec, sections)
    except SpecError as exc:
        return None, _capped(diagnostics + exc.diagnostics)
    sections, expert_problems = check_expert_parallel(sections, lowered.nodes())
    diagnostics += expert_problems
    if spec.dropped:  # lowered without the statements a syntax error left out
        return None, _capped(diagnostics)
    report = analyze(lowered, sections)
    target = None
    name = settings.target or sections.deploy.target or settings.default_target
    if name is not None:
        targets = known_targets(settings)
        if name in targets:
            target = targets[name]
        else:  # only deploy.target can get here; the CLI validates --target itself
            close = suggest(name, targets)
            span = sections.deploy.spans.get("target", Span.point(1, 1))
            diagnostics.append(
                Diagnostic(
                    "NN015",
                    Severity.ERROR,
                    f"unknown target `{name}`"
                    + did_you_mean(name, targets)
                    + f" (known: {', '.join(sorted(targets))})",
                    span,
                    fix="use one of the ids `nnlint targets` lists"
                    + (f", e.g. `{close}`" if close else ""),
                )
            )
    roof = roofline(report, target) if target is not None else None
    train_target = target
    train_name = settings.train_target or sections.train.target
    if train_name is not None:
        targets = known_targets(settings)
        if train_name in targets:
            train_target = targets[train_name]
        else:
            close = suggest(train_name, targets)
            diagnostics.append(
                Diagnostic(
                    "NN015",
                    Severity.ERROR,
                    f"unknown training target `{train_name}`"
                    + did_you_mean(train_name, targets)
                    + f" (known: {', '.join(sorted(targets))})",
                    sections.train.spans.get("target", Span.point(1, 1)),
                    fix="use one of the ids `nnlint targets` lists"
                    + (f", e.g. `{close}`" if close else ""),
                )
            )
            train_target = None
    training = training_plan(report, train_target) if sections.has_train else None
    serving = serving_plan(report, target, roof)
    run = training_run(report, train_target)
    analysis = Analysis(spec, report, target, roof, train_target, training, serving, run)
    return analysis, _capped(diagnostics)


def check_text(text: str, path: str, settings: Settings = Settings()) -> FileResult:
    """Check one spec. Never raises for a bad spec; raises :class:`InternalError` on a bug."""
    with internal_errors(path), _no_gc_pauses():
        return _check_text(text, path, settings)


def _check_text(text: str, path: str, settings: Settings) -> FileResult:
    analysis, diagnostics = analyse_text(text, settings)
    selected = set(selected_codes(settings))
    diagnostics = [d for d in diagnostics if d.code in FATAL or d.code in selected]
    model = None
    if analysis is not None:
        sections = analysis.report.sections
        fatal = any(d.code in FATAL for d in diagnostics)
        if not fatal:
            diagnostics += run_rules(
                analysis.report,
                analysis.target,
                analysis.roofline,
                sorted(selected & set(REGISTRY)),
                settings.thresholds,
                # a --target override is not on any line
                None
                if settings.target or not sections.deploy.target
                else sections.deploy.spans.get("target"),
                train_target=analysis.train_target,
                training=analysis.training,
                serving=analysis.serving,
                run=analysis.run,
            )
            diagnostics = _apply_suppressions(analysis.spec, diagnostics, selected)
        diagnostics = _locate_layers(analysis.report.lowered, diagnostics)
        if diagnostics:  # a clean file never loads the fixers
            from nnlint.fixes import attach_fixes

            diagnostics = attach_fixes(analysis.spec, analysis.report.lowered, diagnostics)
        model = model_entry(analysis, path)
    diagnostics = sorted((d.with_path(path) for d in diagnostics), key=Diagnostic.sort_key)
    return FileResult(path, text, tuple(diagnostics), model)


def decode(data: bytes) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 (a BOM is dropped); otherwise an NN016 at the first bad byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return None, Diagnostic(
            "NN016",
            Severity.ERROR,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column}",
            Span.point(line, column),
            fix="save the spec as UTF-8 (is this a binary file?)",
        )
    return text, None


def check_file(path: Path, display: str, settings: Settings = Settings()) -> FileResult:
    """Read and check one file. ``OSError`` and :class:`nnlint.files.Refused` (not a
    regular file, or over :data:`~nnlint.files.SPEC_LIMIT`) propagate: the CLI reports
    them, exit 2."""
    data = read_regular(path, limit=SPEC_LIMIT, what="specs")
    text, problem = decode(data)
    if problem is not None:
        return FileResult(display, None, (problem.with_path(display),), None)
    return check_text(text, display, settings)


__all__ = [
    "SPEC_CODES",
    "InternalError",
    "Settings",
    "analyse_text",
    "check_file",
    "check_text",
    "internal_errors",
    "model_entry",
    "selected_codes",
]
