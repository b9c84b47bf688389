"""Stage 2a: the ``train``, ``data``, ``deploy`` and ``budget`` sections -> :class:`SpecSections`.

Every key is checked: an unknown key, a wrong type or an impossible value is an
NN012 diagnostic at the entry, with the closest known key suggested.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import attrs

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Severity, Span
from nnlint.expr import ExprError, evaluate
from nnlint.figures import budget_keys
from nnlint.ops import LOSSES
from nnlint.ops.losses import loss_known_as
from nnlint.optimizers import SPEC_OPTIMIZERS, written_as
from nnlint.precision import PRECISION_BITS
from nnlint.suggest import did_you_mean
from nnlint.training import (
    DEFAULT_UTILIZATION,
    RECOMPUTE,
    SHARDING,
    SHARDING_ALIASES,
    TRAIN_PRECISIONS,
)
from nnlint.units import UNITS


@attrs.frozen
class LossSpec:
    """One term of ``train.loss``: ``kind(tensor)``, with the weight it is multiplied by
    (``0.1 * mse(aux)``; None when it is written without one)."""

    kind: str
    tensor: str
    span: Span  # the whole `cross_entropy(probs)` value (the term, weight included)
    tensor_span: Span
    weight: float | None = None


@attrs.frozen
class TrainConfig:
    batch: int = 1  # the micro-batch of one data-parallel rank
    precision: str = "fp32"  # the storage format of weights and activations
    optimizer: str = "sgd"
    recipe: str = "fp32"  # train.precision as written (bf16-mixed, bf16, …): nnlint.training
    target: str | None = None  # the hardware training runs on (deploy.target serves)
    gpus: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    #: ranks each expert layer's routed experts are divided among (nnlint.training.model_states)
    expert_parallel: int = 1
    sequence_parallel: bool = False
    sharding: str = "none"  # none | zero1 | zero2 | zero3 (FSDP names mapped)
    grad_accum: int = 1
    recompute: str = "none"
    attention_impl: str = "eager"
    #: the terms of ``train.loss``, summed (``cross_entropy(logits) + 0.1 * mse(aux)``)
    losses: tuple[LossSpec, ...] = ()
    samples: int | None = None
    epochs: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    utilization: float = DEFAULT_UTILIZATION  # model FLOPs utilization of the run's time
    spans: dict[str, Span] = attrs.field(factory=dict, eq=False)

    @property
    def loss(self) -> LossSpec | None:
        """The first term of ``train.loss`` (the only one of a single loss), or None."""
        return self.losses[0] if self.losses else None


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
    context: int | None = None  # tokens of KV cache per sequence (decoders)
    concurrency: int = 1  # sequences served at once
    kv_precision: str | None = None  # None: the deploy precision
    spans: dict[str, Span] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class BudgetLine:
    key: str
    cmp: str
    limit: int | Fraction  # in the figure's unit: whole (int) or not (seconds: Fraction)
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


def _optimizer(value: ast.Expr) -> str:
    """``optimizer = adam``. A training script's call (``sgd(momentum=0.9)``,
    ``AdamW(lr=3e-4)``) is answered with the name it means and the ``train`` keys its
    learning rate and weight decay go to."""
    if not isinstance(value, ast.Call):
        return _symbol(value, "optimizer", SPEC_OPTIMIZERS)
    chosen_by = [
        a.keyword
        for a in value.args
        if a.keyword is not None
        and not (isinstance(a.value, ast.Num) and a.value.value == 0)
        and not (isinstance(a.value, ast.Symbol) and a.value.id == "false")
    ]
    meant = written_as(value.name, chosen_by)
    if meant is None:
        raise _Bad(
            f"unknown optimizer `{value.name}`{did_you_mean(value.name, SPEC_OPTIMIZERS)} "
            f"(known: {', '.join(SPEC_OPTIMIZERS)})",
            value.span,
        )
    keys = [
        f"`{a.keyword} = {a.value.text}`"
        for a in value.args
        if a.keyword in ("lr", "weight_decay") and isinstance(a.value, ast.Num)
    ]
    also = f", and {' and '.join(keys)} in `train`" if keys else ""
    raise _Bad(
        f"`optimizer` takes a name, not a call: `{value.name}(…)` is `optimizer = {meant}`{also}",
        value.span,
        fix=f"write `optimizer = {meant}`{also} (the other options change no figure)",
    )


_LOSS_FORM = (
    "`kind(tensor)`, or a sum of them with weights: `cross_entropy(logits) + 0.1 * mse(aux)`"
)


def _loss_terms(value: ast.Expr) -> list[ast.Expr]:
    """The terms of ``a + b + c``, left to right."""
    if isinstance(value, ast.BinOp) and value.op == "+":
        return _loss_terms(value.left) + _loss_terms(value.right)
    return [value]


def _losses(value: ast.Expr) -> tuple[LossSpec, ...]:
    """``train.loss``: one loss ``kind(tensor)`` or a sum of them, each term optionally
    multiplied by a positive weight (``0.1 * mse(aux)`` or ``mse(aux) * 0.1``)."""
    terms = []
    for term in _loss_terms(value):
        weight = None
        call = term
        if isinstance(term, ast.BinOp) and term.op == "*":
            if isinstance(term.right, ast.Call) and not isinstance(term.left, ast.Call):
                factor, call = term.left, term.right
            elif isinstance(term.left, ast.Call) and not isinstance(term.right, ast.Call):
                call, factor = term.left, term.right
            else:
                raise _Bad(
                    "a loss term is a weight times one loss, e.g. `0.1 * mse(aux)`",
                    term.span,
                    fix=f"write the loss as {_LOSS_FORM}",
                )
            weight = float(_number(factor))
            if not weight > 0:
                raise _Bad(
                    f"a loss weight must be positive, got {_number(factor)}",
                    factor.span,
                    fix="drop the term, or give it a positive weight such as 0.1",
                )
        elif isinstance(term, ast.BinOp):
            raise _Bad(
                f"losses add up (`+`), each term optionally weighted (`0.1 * mse(aux)`); "
                f"`{term.op}` between losses is not supported",
                term.span,
                fix=f"write the loss as {_LOSS_FORM}",
            )
        spec = _loss(call)
        terms.append(attrs.evolve(spec, span=term.span, weight=weight))
    seen: dict[tuple[str, str], LossSpec] = {}
    for t in terms:
        if (t.kind, t.tensor) in seen:
            raise _Bad(
                f"the loss term `{t.kind}({t.tensor})` appears twice (first at line "
                f"{seen[t.kind, t.tensor].span.line}, column {seen[t.kind, t.tensor].span.column})",
                t.span,
                fix="write it once, with the weights added up",
            )
        seen[t.kind, t.tensor] = t
    return tuple(terms)


def _loss(value: ast.Expr) -> LossSpec:
    if (
        not isinstance(value, ast.Call)
        or len(value.args) != 1
        or not isinstance(value.args[0].value, ast.Symbol)
    ):
        raise _Bad(
            "loss must name the tensor it reads, e.g. `cross_entropy(probs)`",
            value.span,
            fix=f"write the loss as {_LOSS_FORM}",
        )
    if value.name not in LOSSES:
        meant = loss_known_as(value.name)
        close = f"; did you mean `{meant}`?" if meant else did_you_mean(value.name, LOSSES)
        raise _Bad(
            f"unknown loss `{value.name}`{close} (known: {', '.join(LOSSES)})",
            value.span,
        )
    arg = value.args[0].value
    return LossSpec(value.name, arg.id, value.span, arg.span)


_TRAIN_KEYS = {
    "batch",
    "precision",
    "optimizer",
    "loss",
    "samples",
    "epochs",
    "lr",
    "weight_decay",
    "target",
    "gpus",
    "tensor_parallel",
    "pipeline_parallel",
    "expert_parallel",
    "sequence_parallel",
    "sharding",
    "grad_accum",
    "recompute",
    "attention_impl",
    "utilization",
}


def _target_id(value: ast.Expr) -> str:
    if not isinstance(value, ast.Symbol):
        raise _Bad(
            f"target must be a target id such as `edge-tpu`, got {_describe(value)}", value.span
        )
    return value.id  # checked against the profiles by the driver


def _bool(value: ast.Expr, what: str) -> bool:
    if isinstance(value, ast.Symbol) and value.id in ("true", "false"):
        return value.id == "true"
    raise _Bad(f"{what} must be true or false, got {_describe(value)}", value.span)


def _train_entry(e: ast.Entry, values: dict[str, Any]) -> None:
    """Read one entry of ``train`` into ``values``."""
    if e.key in (
        "batch",
        "gpus",
        "tensor_parallel",
        "pipeline_parallel",
        "expert_parallel",
        "grad_accum",
    ):
        values[e.key] = _positive_int(e.value, e.key)
    elif e.key == "precision":
        recipe = _symbol(e.value, "precision", tuple(TRAIN_PRECISIONS))
        values["recipe"] = recipe
        values["precision"] = TRAIN_PRECISIONS[recipe].storage
    elif e.key == "target":
        values["target"] = _target_id(e.value)
    elif e.key == "sequence_parallel":
        values["sequence_parallel"] = _bool(e.value, "sequence_parallel")
    elif e.key == "sharding":
        name = _symbol(e.value, "sharding", (*SHARDING, *SHARDING_ALIASES))
        values["sharding"] = SHARDING_ALIASES.get(name, name)
    elif e.key == "recompute":
        values["recompute"] = _symbol(e.value, "recompute", RECOMPUTE)
    elif e.key == "attention_impl":
        values["attention_impl"] = _symbol(e.value, "attention_impl", ("eager", "flash"))
    elif e.key == "optimizer":
        values["optimizer"] = _optimizer(e.value)
    elif e.key == "loss":
        values["losses"] = _losses(e.value)
    elif e.key in ("samples", "epochs"):
        values[e.key] = _positive_int(e.value, e.key)
    elif e.key == "utilization":
        share = _number(e.value)
        if not 0 < share <= 1:
            raise _Bad(
                f"utilization is the share of the peak a run sustains, in (0, 1]; got {share}",
                e.value.span,
                fix=f"write it as a fraction, e.g. {DEFAULT_UTILIZATION} for "
                f"{DEFAULT_UTILIZATION:.0%}",
            )
        values["utilization"] = float(share)
    else:
        rate = _number(e.value)
        if not rate > 0:
            raise _Bad(f"{e.key} must be positive, got {rate}", e.value.span)
        values[e.key] = float(rate)


def _train(section: ast.Section, errors: list[_Bad]) -> TrainConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for e in _entries(section, _TRAIN_KEYS, errors):
        spans[e.key] = e.span
        with _each(errors):
            _train_entry(e, values)
    gpus = values.get("gpus", 1)
    model_parallel = values.get("tensor_parallel", 1) * values.get("pipeline_parallel", 1)
    if gpus % model_parallel:
        errors.append(_gpus_problem(gpus, model_parallel, spans))
    elif (gpus // model_parallel) % values.get("expert_parallel", 1):
        errors.append(_expert_group_problem(gpus // model_parallel, values, spans))
    return TrainConfig(spans=spans, **values)


def _divisors(n: int) -> str:
    """The smallest divisors of ``n`` (at most 8, found below 4097), for a fix."""
    found = [k for k in range(1, min(n, 4096) + 1) if n % k == 0][:8]
    return ", ".join(str(k) for k in found) + (", …" if n > found[-1] else "")


def _expert_group_problem(data_parallel: int, values: dict[str, Any], spans) -> _Bad:
    """expert_parallel not a divisor of the data-parallel size."""
    n = values["expert_parallel"]
    mp = values.get("tensor_parallel", 1) * values.get("pipeline_parallel", 1)
    return _Bad(
        f"expert_parallel = {n} does not divide the data-parallel size gpus / (tp·pp) = "
        f"{data_parallel}: the expert-parallel group is carved out of the data-parallel ranks",
        spans["expert_parallel"],
        fix=f"set expert_parallel to a divisor of {data_parallel} ({_divisors(data_parallel)}), "
        f"or gpus to a multiple of tp·pp·expert_parallel = {mp * n}",
    )


def _gpus_problem(gpus: int, model_parallel: int, spans: dict[str, Span]) -> _Bad:
    """gpus not a multiple of tensor_parallel × pipeline_parallel."""
    fit = max(model_parallel, gpus - gpus % model_parallel)
    return _Bad(
        f"gpus = {gpus} is not a multiple of tensor_parallel × pipeline_parallel = "
        f"{model_parallel}: the data-parallel size gpus / (tp·pp) must be whole",
        spans.get("gpus") or spans.get("tensor_parallel") or spans["pipeline_parallel"],
        fix=f"set gpus to a multiple of {model_parallel} (e.g. {fit}), or change "
        f"tensor_parallel / pipeline_parallel",
    )


def _data(section: ast.Section, errors: list[_Bad]) -> DataConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    for e in _entries(section, {"classes", "counts", "metric"}, errors):
        spans[e.key] = e.span
        with _each(errors):
            _data_entry(e, values)
    if "classes" in values and "counts" in values and len(values["counts"]) != values["classes"]:
        errors.append(
            _Bad(
                f"counts lists {len(values['counts'])} classes but classes = {values['classes']}",
                spans["counts"],
            )
        )
    return DataConfig(spans=spans, **values)


def _data_entry(e: ast.Entry, values: dict[str, Any]) -> None:
    """Read one entry of ``data`` into ``values``."""
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
            raise _Bad("counts must be a list of examples per class, e.g. [990, 10]", e.value.span)
        counts = []
        for item in e.value.items:
            n = _number(item)
            if n != int(n) or n < 0:
                raise _Bad(f"a class count must be a whole number ≥ 0, got {n}", item.span)
            counts.append(int(n))
        if sum(counts) == 0:
            raise _Bad("counts are all zero", e.value.span)
        values["counts"] = tuple(counts)


def _deploy(section: ast.Section, errors: list[_Bad]) -> DeployConfig:
    values: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    keys = {"target", "batch", "precision", "context", "concurrency", "kv_precision"}
    for e in _entries(section, keys, errors):
        spans[e.key] = e.span
        with _each(errors):
            if e.key == "target":
                values["target"] = _target_id(e.value)
            elif e.key in ("batch", "context", "concurrency"):
                values[e.key] = _positive_int(e.value, e.key)
            else:
                values[e.key] = _symbol(e.value, e.key.replace("_", " "), tuple(PRECISION_BITS))
    return DeployConfig(spans=spans, **values)


def _budget(section: ast.Section, errors: list[_Bad]) -> tuple[BudgetLine, ...]:
    """Each line limits the figure its key names (:func:`nnlint.figures.budget_keys`),
    in that figure's unit and in the direction the figure declares."""
    lines: list[BudgetLine] = []
    keys = budget_keys()
    for e in _entries(section, set(keys), errors, lambda key: keys[key].comparisons):
        with _each(errors):
            lines.append(_budget_line(e, keys[e.key]))
    return tuple(lines)


def _budget_line(e: ast.Entry, figure) -> BudgetLine:
    """One line of ``budget``, the limit in the unit of the figure it limits."""
    what, unit = figure.what, UNITS[figure.unit]
    value = e.value
    suffix = value.unit if isinstance(value, ast.Num) else None
    if isinstance(value, ast.Num) and not (
        math.isfinite(value.value) and abs(value.value) <= _MAX_VALUE
    ):
        raise _Bad(f"the number {value.text} is too large", value.span)
    if unit.suffixes is None:
        limit = Fraction(_number(value))
    else:
        if suffix is None and isinstance(value, ast.Num) and unit.bare:
            scale = 1
        elif suffix in unit.suffixes:
            scale = unit.suffixes[suffix]
        else:
            raise _Bad(f"{e.key} takes {unit.limit_hint}", value.span)
        limit = Fraction(value.value) * scale
    if limit <= 0:
        raise _Bad(f"the {what} limit must be positive", value.span)
    if unit.whole:
        # Counts and bytes are whole. A limit below one would allow nothing (and
        # leave no margin to state as a percentage).
        if limit < 1:
            raise _Bad(
                f"the {what} limit {value.text} is below {unit.least}: counts and byte "
                "sizes are whole numbers, so it would allow nothing",
                value.span,
                fix=f"give a limit of at least {unit.least}",
            )
        # `< 2.5` allows 2, as `< 3` does; `<= 2.5` allows 2, as `<= 2` does;
        # `> 2.5` allows 3, as `> 2` does; `>= 2.5` allows 3, as `>= 3` does.
        limit = math.ceil(limit) if e.cmp in ("<", ">=") else math.floor(limit)
    return BudgetLine(e.key, e.cmp, limit, _written(value), e.span)


#: How tightly each operator binds, for :func:`_written`.
_BINDS = {"+": 1, "-": 1, "*": 2, "/": 2}


def _written(expr: ast.Expr) -> str:
    """A number expression (numbers, ``+ - * /``, unary minus: what :func:`_number`
    evaluates) as the spec writes it: each number as typed, one space around an
    operator, parentheses where the order of operations needs them."""
    if isinstance(expr, ast.Neg):
        inner = _written(expr.operand)
        return f"-({inner})" if isinstance(expr.operand, (ast.BinOp, ast.Neg)) else f"-{inner}"
    if isinstance(expr, ast.BinOp):
        binds = _BINDS[expr.op]
        left, right = _written(expr.left), _written(expr.right)
        if isinstance(expr.left, ast.BinOp) and _BINDS[expr.left.op] < binds:
            left = f"({left})"
        if isinstance(expr.right, ast.BinOp) and _BINDS[expr.right.op] <= binds:
            right = f"({right})"
        return f"{left} {expr.op} {right}"
    return expr.text


@contextlib.contextmanager
def _each(errors: list[_Bad]) -> Iterator[None]:
    """Record the problem of one entry and go on with the next: every bad entry of a
    section is reported in one run."""
    try:
        yield
    except _Bad as bad:
        errors.append(bad)


def _entries(section: ast.Section, known: set[str], errors: list[_Bad], comparisons=("=",)):
    """The section's entries with a known key, each once and with an allowed comparison;
    the problem of any other is added to ``errors``."""
    seen: dict[str, ast.Entry] = {}
    for e in section.entries:
        with _each(errors):
            if _entry_ok(section, e, known, seen, comparisons):
                seen[e.key] = e
                yield e


def _entry_ok(section, e: ast.Entry, known, seen, comparisons) -> bool:
    """True for an entry to read; raises :class:`_Bad` for one that cannot be."""
    if e.key not in known:
        raise _Bad(
            f"unknown key `{e.key}` in `{section.kind}`{did_you_mean(e.key, known)} "
            f"(known: {', '.join(sorted(known))})",
            e.key_span,
        )
    if e.key in seen:
        raise _Bad(
            f"`{e.key}` is set twice in `{section.kind}` (first on line {seen[e.key].span.line})",
            e.key_span,
        )
    allowed = comparisons(e.key) if callable(comparisons) else comparisons
    if e.cmp not in allowed:
        want = " or ".join(f"`{c}`" for c in allowed)
        raise _Bad(f"`{section.kind}` entries use {want}, not `{e.cmp}`", e.span)
    if (
        isinstance(e.value, ast.Num)
        and isinstance(e.value.value, float)
        and e.value.value != e.value.value
    ):
        raise _Bad("not a number", e.value.span)
    return True


def read_sections(spec: ast.Spec) -> tuple[SpecSections, list[Diagnostic]]:
    """Build the :class:`SpecSections`; every bad entry is one NN012 diagnostic, each
    key checked on its own (a section with a bad entry falls back to its defaults so
    that later stages can still run)."""
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
        errors: list[_Bad] = []
        read = readers[section.kind](section, errors)
        if not errors:  # a section with a bad entry falls back to its defaults
            parts[section.kind] = read
        diagnostics += [
            Diagnostic(
                "NN012",
                Severity.ERROR,
                bad.message,
                bad.span,
                fix=bad.fix or f"see the `{section.kind}` keys in the README's language reference",
            )
            for bad in errors
        ]
    config = SpecSections(
        train=parts.get("train", TrainConfig()),
        data=parts.get("data", DataConfig()),
        deploy=parts.get("deploy", DeployConfig()),
        budget=parts.get("budget", ()),
        has_train="train" in seen,
        has_deploy="deploy" in seen,
    )
    diagnostics += _unmet_requirements(config, {kind for kind in seen if kind not in parts})
    return config, diagnostics


def check_expert_parallel(sections: SpecSections, nodes) -> tuple[SpecSections, list[Diagnostic]]:
    """``train.expert_parallel`` against the lowered model's ``nodes``: a size above 1
    needs layers with routed experts (:meth:`nnlint.ops.Op.routed_experts`) and must divide
    every such layer's expert count (each rank holds ``E / expert_parallel`` whole
    experts). A problem is an NN012 at the key, and the spec is analysed with
    ``expert_parallel = 1`` (as a bad entry falls back to its default)."""
    train = sections.train
    n = train.expert_parallel
    if n == 1:
        return sections, []
    common, uneven = 0, None
    for node in nodes:
        count, _ = node.kind.routed_experts(node.opts, node.in_shapes)
        if count:
            common = math.gcd(common, count)
            if count % n and uneven is None:
                uneven = (node, count)
    span = train.spans["expert_parallel"]
    if not common:
        bad = _Bad(
            f"expert_parallel = {n} divides the routed experts of each mixture-of-experts "
            f"layer (`moe`) among ranks, but this model has none: there are no experts to "
            f"split",
            span,
            fix="remove `expert_parallel` (or set it to 1)",
        )
    elif uneven is not None:
        node, count = uneven
        d = train.gpus // (train.tensor_parallel * train.pipeline_parallel)
        both = math.gcd(common, d)
        bad = _Bad(
            f"expert_parallel = {n} does not divide the {count} routed experts of "
            f"`{node.kind.text(node.opts)}` (line {node.span.line}): each expert-parallel "
            f"rank holds experts / expert_parallel whole experts",
            span,
            fix=f"set expert_parallel to a divisor of both the experts ({common}) and the "
            f"data-parallel size ({d}): {_divisors(both)}",
        )
    else:
        return sections, []
    diagnostic = Diagnostic("NN012", Severity.ERROR, bad.message, bad.span, fix=bad.fix)
    return attrs.evolve(sections, train=attrs.evolve(train, expert_parallel=1)), [diagnostic]


def _unmet_requirements(config: SpecSections, unread: set[str]) -> list[Diagnostic]:
    """A budget line on a figure whose analysis needs spec keys the spec does not set
    (``train_flops`` without ``train.samples``): NN012 at the line, naming them. A
    section that had a bad entry (``unread``, already reported) is not judged."""
    found = []
    keys = budget_keys()
    for line in config.budget:
        figure = keys[line.key]
        unset = [
            name
            for name in figure.requires
            if name.split(".")[0] not in unread
            and getattr(getattr(config, name.split(".")[0]), name.split(".")[1]) is None
        ]
        if not unset:
            continue
        named = " and ".join(f"`{name}`" for name in unset)
        found.append(
            Diagnostic(
                "NN012",
                Severity.ERROR,
                f"`{line.key}` limits the {figure.what}, which needs "
                + " and ".join(f"`{name}`" for name in figure.requires)
                + f": {named} {'is' if len(unset) == 1 else 'are'} not set",
                line.span,
                fix=f"set {named} in the `{unset[0].split('.')[0]}` section, or remove "
                "this budget line",
            )
        )
    return found


_Bad.message = property(lambda self: self.args[0])  # type: ignore[attr-defined]
