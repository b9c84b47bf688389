"""Stage 2a: the ``train``, ``data``, ``deploy`` and ``budget`` sections -> :class:`SpecSections`.

Every key is checked: an unknown key, a wrong type or an impossible value is an
NN012 diagnostic at the entry, with the closest known key suggested.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import attrs

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Severity, Span
from nnlint.expr import ExprError, evaluate
from nnlint.ops import LOSSES
from nnlint.optimizers import SPEC_OPTIMIZERS
from nnlint.precision import PRECISION_BITS
from nnlint.suggest import did_you_mean

BYTE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
TIME_UNITS = {"us": Fraction(1, 10**6), "ms": Fraction(1, 10**3), "s": Fraction(1)}

# budget key -> (what it measures, unit kind): "count", "bytes" or "seconds".
BUDGET_KEYS: dict[str, tuple[str, str]] = {
    "params": ("parameters", "count"),
    "trainable_params": ("trainable parameters", "count"),
    "macs": ("MACs per sample", "count"),
    "forward_flops": ("forward FLOPs per training batch", "count"),
    "flops": ("forward FLOPs per inference at the deploy batch", "count"),
    "train_step_flops": ("FLOPs per training step", "count"),
    "param_memory": ("deployed parameter memory", "bytes"),
    "train_memory": ("training memory", "bytes"),
    "inference_memory": ("inference memory", "bytes"),
    "activation_memory": ("cached activation memory", "bytes"),
    "latency": ("inference latency on the deploy target", "seconds"),
}


@attrs.frozen
class LossSpec:
    kind: str
    tensor: str
    span: Span  # the whole `cross_entropy(probs)` value
    tensor_span: Span


@attrs.frozen
class TrainConfig:
    batch: int = 1
    precision: str = "fp32"
    optimizer: str = "sgd"
    loss: LossSpec | None = None
    samples: int | None = None
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    spans: dict[str, Span] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class DataConfig:
    classes: int | None = None
    counts: tuple[int, ...] | None = None
    metric: str | None = None
    spans: dict[str, Span] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class DeployConfig:
    target: str | None = None
    batch: int = 1
    precision: str | None = None  # None: the training precision
    spans: dict[str, Span] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class BudgetLine:
    key: str
    cmp: str
    limit: int | Fraction  # count, bytes (int) or seconds (Fraction)
    text: str  # the limit as written, e.g. "8 MiB"
    span: Span


@attrs.frozen
class SpecSections:
    """The sections of one spec, typed and checked (the model itself is lowered apart)."""

    train: TrainConfig = TrainConfig()
    data: DataConfig = DataConfig()
    deploy: DeployConfig = DeployConfig()
    budget: tuple[BudgetLine, ...] = ()
    has_train: bool = False
    has_deploy: bool = False


class _Bad(Exception):
    def __init__(self, message: str, span: Span, fix: str | None = None) -> None:
        super().__init__(message)
        self.span = span
        self.fix = fix


# Section numbers beyond this are reported as too large (parse.py keeps literals
# beyond 10^60 as inf), so later stages never convert an enormous int to float.
_MAX_VALUE = 10**60


def _number(value: ast.Expr) -> int | float | Fraction:
    """The value of a section expression. A result that is not finite or beyond
    10^60 (``1e400``, ``1e400 - 1e400``, ``1e60 * 1e60``) is an NN012 here, so no
    caller meets ``inf``, ``nan`` or an int too large for a float."""
    too_large = (
        f"the number {value.text} is too large"
        if isinstance(value, ast.Num)
        else "this value is too large"
    )
    try:
        result = evaluate(value, _leaf, limit=_MAX_VALUE)
    except ExprError as exc:
        raise _Bad(too_large if exc.kind == "too large" else exc.kind, exc.span) from None
    if isinstance(result, float) and not (math.isfinite(result) and abs(result) <= _MAX_VALUE):
        raise _Bad(too_large, value.span)
    return result


def _leaf(value: ast.Expr) -> int | float:
    """A number literal (without a unit); anything else is not a number here."""
    if isinstance(value, ast.Num):
        if value.unit is not None:
            raise _Bad(f"unexpected unit `{value.unit}` here", value.span)
        return value.value
    raise _Bad(f"expected a number, got {_describe(value)}", value.span)


def _describe(value: ast.Expr) -> str:
    if isinstance(value, ast.Symbol):
        return f"`{value.id}`"
    if isinstance(value, ast.Call):
        return f"`{value.name}(...)`"
    if isinstance(value, ast.ListValue):
        return "a list"
    return "an expression"


def _positive_int(value: ast.Expr, what: str) -> int:
    n = _number(value)
    if isinstance(n, float) and n == float("inf"):
        raise _Bad(f"{what} is too large", value.span)
    if n != int(n):
        raise _Bad(f"{what} must be a whole number, got {n}", value.span)
    if n < 1:
        raise _Bad(f"{what} must be at least 1, got {int(n)}", value.span)
    return int(n)


def _symbol(value: ast.Expr, what: str, choices) -> str:
    if not isinstance(value, ast.Symbol):
        raise _Bad(
            f"{what} must be one of {', '.join(choices)}; got {_describe(value)}", value.span
        )
    if value.id not in choices:
        raise _Bad(
            f"unknown {what} `{value.id}`{did_you_mean(value.id, choices)} "
            f"(known: {', '.join(choices)})",
            value.span,
        )
    return value.id


def _loss(value: ast.Expr) -> LossSpec:
    if (
        not isinstance(value, ast.Call)
        or len(value.args) != 1
        or not isinstance(value.args[0].value, ast.Symbol)
    ):
        raise _Bad(
            "loss must name the tensor it reads, e.g. `cross_entropy(probs)`",
            value.span,
            fix="write the loss as `kind(tensor)`",
        )
    if value.name not in LOSSES:
        raise _Bad(
            f"unknown loss `{value.name}`{did_you_mean(value.name, LOSSES)} "
            f"(known: {', '.join(LOSSES)})",
            value.span,
        )
    arg = value.args[0].value
    return LossSpec(value.name, arg.id, value.span, arg.span)


def _train(section: ast.Section) -> TrainConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for e in _entries(
        section,
        {"batch", "precision", "optimizer", "loss", "samples", "epochs", "lr", "weight_decay"},
    ):
        spans[e.key] = e.span
        if e.key == "batch":
            values["batch"] = _positive_int(e.value, "batch")
        elif e.key == "precision":
            values["precision"] = _symbol(e.value, "precision", tuple(PRECISION_BITS))
        elif e.key == "optimizer":
            values["optimizer"] = _symbol(e.value, "optimizer", SPEC_OPTIMIZERS)
        elif e.key == "loss":
            values["loss"] = _loss(e.value)
        elif e.key in ("samples", "epochs"):
            values[e.key] = _positive_int(e.value, e.key)
        else:
            rate = _number(e.value)
            if not rate > 0:
                raise _Bad(f"{e.key} must be positive, got {rate}", e.value.span)
            values[e.key] = float(rate)
    return TrainConfig(spans=spans, **values)


def _data(section: ast.Section) -> DataConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for e in _entries(section, {"classes", "counts", "metric"}):
        spans[e.key] = e.span
        if e.key == "classes":
            values["classes"] = _positive_int(e.value, "classes")
        elif e.key == "metric":
            values["metric"] = _symbol(
                e.value,
                "metric",
                ("accuracy", "balanced_accuracy", "f1", "auc", "precision", "recall", "loss"),
            )
        else:
            if not isinstance(e.value, ast.ListValue) or not e.value.items:
                raise _Bad(
                    "counts must be a list of examples per class, e.g. [990, 10]", e.value.span
                )
            counts = []
            for item in e.value.items:
                n = _number(item)
                if n != int(n) or n < 0:
                    raise _Bad(f"a class count must be a whole number ≥ 0, got {n}", item.span)
                counts.append(int(n))
            if sum(counts) == 0:
                raise _Bad("counts are all zero", e.value.span)
            values["counts"] = tuple(counts)
    if "classes" in values and "counts" in values and len(values["counts"]) != values["classes"]:
        raise _Bad(
            f"counts lists {len(values['counts'])} classes but classes = {values['classes']}",
            spans["counts"],
        )
    return DataConfig(spans=spans, **values)


def _deploy(section: ast.Section) -> DeployConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for e in _entries(section, {"target", "batch", "precision"}):
        spans[e.key] = e.span
        if e.key == "target":
            if not isinstance(e.value, ast.Symbol):
                raise _Bad(
                    f"target must be a target id such as `edge-tpu`, got {_describe(e.value)}",
                    e.value.span,
                )
            values["target"] = e.value.id  # checked against the profiles by the driver
        elif e.key == "batch":
            values["batch"] = _positive_int(e.value, "batch")
        else:
            values["precision"] = _symbol(e.value, "precision", tuple(PRECISION_BITS))
    return DeployConfig(spans=spans, **values)


def _budget(section: ast.Section) -> tuple[BudgetLine, ...]:
    lines = []
    for e in _entries(section, set(BUDGET_KEYS), comparisons=("<=", "<")):
        what, kind = BUDGET_KEYS[e.key]
        value = e.value
        unit = value.unit if isinstance(value, ast.Num) else None
        if isinstance(value, ast.Num) and not (
            math.isfinite(value.value) and abs(value.value) <= _MAX_VALUE
        ):
            raise _Bad(f"the number {value.text} is too large", value.span)
        if kind == "bytes":
            if unit is None and isinstance(value, ast.Num):
                scale = 1
            elif unit in BYTE_UNITS:
                scale = BYTE_UNITS[unit]
            else:
                raise _Bad(f"{e.key} takes a size such as `8 MiB` or `2 GB`", value.span)
            limit = Fraction(value.value) * scale
        elif kind == "seconds":
            if unit not in TIME_UNITS:
                raise _Bad(f"{e.key} takes a time such as `2 ms` (units: us, ms, s)", value.span)
            limit = Fraction(value.value) * TIME_UNITS[unit]
        else:
            limit = Fraction(_number(value))
        if limit <= 0:
            raise _Bad(f"the {what} limit must be positive", value.span)
        if kind != "seconds":
            # Counts and bytes are whole. A limit below one would allow nothing (and
            # leave no margin to state as a percentage).
            if limit < 1:
                least = "1 B" if kind == "bytes" else "1"
                raise _Bad(
                    f"the {what} limit {value.text} is below {least}: counts and byte "
                    "sizes are whole numbers, so it would allow nothing",
                    value.span,
                    fix=f"give a limit of at least {least}",
                )
            # `< 2.5` allows 2, as `< 3` does; `<= 2.5` allows 2, as `<= 2` does.
            limit = math.ceil(limit) if e.cmp == "<" else math.floor(limit)
        text = value.text if isinstance(value, ast.Num) else str(limit)
        lines.append(BudgetLine(e.key, e.cmp, limit, text, e.span))
    return tuple(lines)


def _entries(section: ast.Section, known: set[str], comparisons=("=",)):
    seen: dict[str, ast.Entry] = {}
    for e in section.entries:
        if e.key not in known:
            raise _Bad(
                f"unknown key `{e.key}` in `{section.kind}`{did_you_mean(e.key, known)} "
                f"(known: {', '.join(sorted(known))})",
                e.key_span,
            )
        if e.key in seen:
            raise _Bad(
                f"`{e.key}` is set twice in `{section.kind}` (first on line "
                f"{seen[e.key].span.line})",
                e.key_span,
            )
        if e.cmp not in comparisons:
            want = " or ".join(f"`{c}`" for c in comparisons)
            raise _Bad(f"`{section.kind}` entries use {want}, not `{e.cmp}`", e.span)
        if (
            isinstance(e.value, ast.Num)
            and isinstance(e.value.value, float)
            and e.value.value != e.value.value
        ):
            raise _Bad("not a number", e.value.span)
        seen[e.key] = e
        yield e


def read_sections(spec: ast.Spec) -> tuple[SpecSections, list[Diagnostic]]:
    """Build the :class:`SpecSections`; every bad entry is one NN012 diagnostic (the
    section falls back to its defaults so that later stages can still run)."""
    diagnostics: list[Diagnostic] = []
    parts: dict[str, Any] = {}
    seen: dict[str, ast.Section] = {}
    readers = {"train": _train, "data": _data, "deploy": _deploy, "budget": _budget}
    for section in spec.sections:
        if section.kind in seen:
            diagnostics.append(
                Diagnostic(
                    "NN012",
                    Severity.ERROR,
                    f"a second `{section.kind}` section (the first is on line "
                    f"{seen[section.kind].span.line})",
                    Span.point(section.span.line, section.span.column, len(section.kind)),
                    fix=f"merge the two `{section.kind}` sections",
                )
            )
            continue
        seen[section.kind] = section
        try:
            parts[section.kind] = readers[section.kind](section)
        except _Bad as bad:
            diagnostics.append(
                Diagnostic(
                    "NN012",
                    Severity.ERROR,
                    bad.message,
                    bad.span,
                    fix=bad.fix
                    or f"see the `{section.kind}` keys in the README's language reference",
                )
            )
    config = SpecSections(
        train=parts.get("train", TrainConfig()),
        data=parts.get("data", DataConfig()),
        deploy=parts.get("deploy", DeployConfig()),
        budget=parts.get("budget", ()),
        has_train="train" in seen,
        has_deploy="deploy" in seen,
    )
    return config, diagnostics


_Bad.message = property(lambda self: self.args[0])  # type: ignore[attr-defined]
