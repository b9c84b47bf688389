"""The model's totals, each declared once: :data:`FIGURES`.

A figure (``params``, ``train_memory_bytes``, ``latency_s``) is computed by the
analysis that owns its formula (:mod:`nnlint.costs` for counts and memory,
:mod:`nnlint.roofline` for time) and declared here once: its name, unit, what it
measures, its convention, how it is read from the analyses, its row in the text
report and the budget keys that limit it. Everything that shows or checks a total
reads this declaration:

* the JSON report's ``totals`` (:func:`json_totals`, in declaration order — the
  contract's order);
* the totals of ``nnlint report`` and of its HTML page (:func:`report_rows`, in
  declaration order);
* the ``budget`` section's keys, units and comparisons (:func:`budget_keys`, read by
  :mod:`nnlint.sections`) and the figure each key limits (read by the NN5xx rules);
* the README's "Totals and budget keys" table (:mod:`nnlint.docs`).

Adding a total is one :func:`declare` call below, plus its test. This module is a
vocabulary: it imports no analysis (the sections stage reads it before the cost
model runs); a figure reads the analyses handed to it in :class:`Sources`, which
:func:`sources` builds — the one place that gathers them, for every consumer.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from nnlint.units import UNITS, fmt_count, fmt_int

if TYPE_CHECKING:
    from nnlint.costs import Report, Totals
    from nnlint.plan import ServingPlan, TrainingPlan
    from nnlint.roofline import Roofline
    from nnlint.training_run import TrainingRun

__all__ = [
    "FIGURES",
    "Figure",
    "Row",
    "Sources",
    "budget_keys",
    "declare",
    "json_totals",
    "report_rows",
    "sources",
    "text_rows",
    "undeclare",
    "values",
]


@attrs.frozen
class Sources:
    """The analyses a figure is read from: the costed report, the roofline on the target
    (``None`` without one), the per-GPU training plan (``None`` without a ``train``
    section), the serving plan (``None`` without a causal attention) and the cost of
    the whole training run (``None`` without ``train.samples`` and ``train.epochs``).

    A figure of a new analysis adds that analysis here as a field; :func:`sources`
    reads the field of the same name from the analysed spec, so no consumer changes.
    """

    report: Report
    roofline: Roofline | None = None
    training: TrainingPlan | None = None
    serving: ServingPlan | None = None
    run: TrainingRun | None = None

    @property
    def totals(self) -> Totals:
        return self.report.totals


def sources(analysed: Any) -> Sources:
    """The :class:`Sources` of an analysed spec: every field read from the attribute of
    the same name of ``analysed`` — a :class:`nnlint.check.Analysis` (the JSON and text
    reports, the HTML page) or a :class:`nnlint.rules.base.RuleContext` (the budget
    rules), which carry the same analyses under the same names. The one builder of
    :class:`Sources`: every consumer of the totals goes through it."""
    return Sources(**{f.name: getattr(analysed, f.name) for f in attrs.fields(Sources)})


def _of(analysis: str, field: str) -> Callable[[Sources], Any]:
    """A ``read`` of ``field`` of one analysis of the :class:`Sources` (``None`` when that
    analysis does not apply to the spec)."""

    def read(s: Sources) -> Any:
        got = getattr(s, analysis)
        return None if got is None else getattr(got, field)

    return read


#: A budget line's comparisons: an upper limit (``<=``, ``<``) or a lower one (``>=``, ``>``).
LIMITS = {"max": ("<=", "<"), "min": (">=", ">")}


@attrs.frozen
class Figure:
    """One total of the report.

    ``read`` takes the :class:`Sources` and returns the value (``None``: not
    computable here, e.g. a latency at a precision the target cannot run); it reads
    the analyses, it never holds a formula. By default it reads the :class:`Totals`
    field of the figure's name. A figure that ``needs_target`` is absent without a
    target (from the JSON and the text). ``label`` is its row in the text report, a
    :meth:`str.format` template over the other totals and ``target`` (``None``: no row
    of its own); ``shown`` writes the row's value when the unit's
    :meth:`~nnlint.units.Unit.exact` is not enough, and ``missing`` stands for a
    ``None`` value. ``budget`` names the keys of the ``budget`` section that limit it;
    ``limit`` says whether a budget line is an upper (``max``) or lower (``min``) limit.
    ``in_json`` is false for a figure only the text report shows. ``needs`` names an
    analysis of the :class:`Sources` without which the figure does not exist (absent
    from the JSON and the text, like a figure that ``needs_target`` without a target);
    ``requires`` names the spec keys that analysis needs (``train.samples``): a budget
    line on the figure without them is a located error. ``unknown`` says, for a
    ``None`` value of an existing figure, why it cannot be computed and how to make it
    computable (the text row's ``n/a``, NN502's message and fix); ``absent`` says why
    the analysis it ``needs`` does not exist for this model (NN502's message and fix for
    a budget line on it). ``nullable`` says the value can be ``None`` where the figure
    exists (the JSON's ``null``: a time on a target without a peak at the precision);
    every other figure is always a number or a text (the JSON Schema of the report,
    :mod:`nnlint.report_schema`, holds it to that).
    """

    name: str
    unit: str  # a key of nnlint.units.UNITS
    what: str  # a noun phrase: "training memory" (budget messages, the README)
    doc: str  # its convention, one or two sentences (the README table)
    read: Callable[[Sources], Any] | None = None  # default: the Totals field `name`
    label: str | None = None
    shown: Callable[[Any, dict[str, Any]], str] | None = None
    missing: str = "n/a"
    budget: tuple[str, ...] = ()
    limit: str = "max"
    needs_target: bool = False
    in_json: bool = True
    needs: str | None = None  # a field of Sources
    requires: tuple[str, ...] = ()  # spec keys, "section.key"
    unknown: Callable[[Sources], tuple[str, str]] | None = None  # (why, fix)
    absent: Callable[[Sources], tuple[str, str]] | None = None  # (why, fix)
    nullable: bool = False

    def __attrs_post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"figure {self.name}: unknown unit {self.unit!r}")
        if self.limit not in LIMITS:
            raise ValueError(f"figure {self.name}: limit must be one of {', '.join(LIMITS)}")
        if self.budget and not UNITS[self.unit].limit_hint:
            raise ValueError(f"figure {self.name}: a {self.unit} figure cannot be budgeted")
        if self.needs is not None and self.needs not in attrs.fields_dict(Sources):
            raise ValueError(f"figure {self.name}: no analysis {self.needs!r} in Sources")

    @property
    def comparisons(self) -> tuple[str, ...]:
        """The comparisons a budget line of this figure may use."""
        return LIMITS[self.limit]

    def applies(self, sources: Sources) -> bool:
        """False when an analysis the figure needs is absent (no target, no run)."""
        if self.needs_target and sources.roofline is None:
            return False
        return self.needs is None or getattr(sources, self.needs) is not None

    def value(self, sources: Sources) -> Any:
        """The figure's value (``None`` when it does not apply)."""
        if not self.applies(sources):
            return None
        read = self.read or operator.attrgetter(f"totals.{self.name}")
        return read(sources)


#: Every total, by name, in the JSON contract's order.
FIGURES: dict[str, Figure] = {}


def declare(figure: Figure) -> Figure:
    """Add ``figure`` after the figures declared so far (a name or budget key used
    twice is a :class:`ValueError`)."""
    if figure.name in FIGURES:
        raise ValueError(f"figure {figure.name} is declared twice")
    taken = budget_keys()
    for key in figure.budget:
        if key in taken:
            raise ValueError(f"budget key {key} already limits {taken[key].name}")
    FIGURES[figure.name] = figure
    return figure


def undeclare(name: str) -> None:
    """Remove a figure (a test's throwaway declaration)."""
    del FIGURES[name]


def _shown(figures: Iterator[Figure], sources: Sources) -> Iterator[Figure]:
    return (f for f in figures if f.applies(sources))


def values(sources: Sources) -> dict[str, Any]:
    """Every figure that applies (those needing a target only with one, those of the
    training run only with one), in order."""
    return {f.name: f.value(sources) for f in _shown(iter(FIGURES.values()), sources)}


def json_totals(sources: Sources) -> dict[str, Any]:
    """The JSON report's ``totals``."""
    return {name: v for name, v in values(sources).items() if FIGURES[name].in_json}


@attrs.frozen
class Row:
    """A figure's row in a report: its label and text (as ``nnlint report`` prints them)
    and its value (as the JSON holds it; ``None`` when it cannot be computed)."""

    figure: Figure
    label: str
    text: str
    value: Any


def report_rows(sources: Sources) -> list[Row]:
    """Every figure with a row in the reports (a ``label``), in declaration order: the
    totals of ``nnlint report`` and of its HTML page."""
    got = values(sources)
    context = dict(got)
    if sources.roofline is not None:
        context["target"] = sources.roofline.target.id
    rows = []
    for name, value in got.items():
        figure = FIGURES[name]
        if figure.label is None:
            continue
        if value is None and figure.unknown is not None:
            text = f"n/a: {figure.unknown(sources)[0]}"
        elif value is None:
            text = figure.missing.format(**context)
        elif figure.shown is not None:
            text = figure.shown(value, context)
        else:
            text = UNITS[figure.unit].exact(value)
        rows.append(Row(figure, figure.label.format(**context), text, value))
    return rows


def text_rows(sources: Sources) -> list[tuple[str, str]]:
    """(label, text) of every figure with a row in the text report, in order."""
    return [(row.label, row.text) for row in report_rows(sources)]


def budget_keys() -> dict[str, Figure]:
    """Budget key -> the figure it limits, in declaration order."""
    return {key: f for f in FIGURES.values() for key in f.budget}


# --------------------------------------------------------------------------- the totals

_TOTAL_PER_BATCH = "for the whole training batch (`train.batch`)"


def _no_run_time(s: Sources) -> tuple[str, str]:
    return (
        s.run.no_time,
        "set `train.target` (or the deploy target) to a GPU or CPU with a dense peak at "
        "the training precision",
    )


def _run(name: str, unit: str, what: str, doc: str, *, field: str, **kw: Any) -> Figure:
    """A figure of the training run (:mod:`nnlint.training_run`), read from its ``field``;
    absent without ``train.samples`` and ``train.epochs``."""
    return Figure(
        name,
        unit,
        what,
        doc,
        read=_of("run", field),
        needs="run",
        requires=("train.samples", "train.epochs"),
        unknown=_no_run_time,
        **kw,
    )


def _no_serving(s: Sources) -> tuple[str, str]:
    return (
        f"`{s.report.model}` has no causal attention (`attention(..., causal=true)`), so it "
        "generates no tokens: no KV cache, prefill or decode",
        "budget `latency` for a model that is not a decoder, or remove the line",
    )


def _serving(name: str, unit: str, what: str, doc: str, **kw: Any) -> Figure:
    """A figure of the serving plan (:mod:`nnlint.plan`), read from its field ``name``;
    the JSON holds it in the model's ``serving`` object, not in ``totals``; absent for a
    model without a causal attention."""
    return Figure(
        name,
        unit,
        what,
        f"{doc} In the JSON's `serving` object.",
        read=_of("serving", name),
        in_json=False,
        needs="serving",
        absent=_no_serving,
        **kw,
    )


for _figure in (
    Figure(
        "params",
        "count",
        "parameters",
        "Trainable and frozen parameters; a weight shared with `tie=` counts once. "
        "Buffers (batchnorm running statistics) are not parameters.",
        label="parameters",
        shown=lambda v, t: (
            f"{fmt_count(v)}: trainable {fmt_int(t['trainable_params'])}, "
            f"frozen {fmt_int(t['frozen_params'])}"
        ),
        budget=("params",),
    ),
    Figure(
        "trainable_params",
        "count",
        "trainable parameters",
        "Parameters the optimizer updates (layers without `trainable=false`).",
        budget=("trainable_params",),
    ),
    Figure(
        "macs",
        "count",
        "MACs per sample",
        "Multiply-accumulates of the matrix work (dense, conv, attention, matmul) of one "
        "sample's forward pass; 1 MAC = 2 FLOPs.",
        label="MACs per sample",
        budget=("macs",),
    ),
    Figure(
        "forward_flops",
        "count",
        "forward FLOPs per training batch",
        f"Every FLOP of the forward pass, {_TOTAL_PER_BATCH}.",
        label="forward FLOPs (batch {train_batch})",
        budget=("forward_flops",),
    ),
    Figure(
        "backward_flops",
        "count",
        "backward FLOPs per training batch",
        "Every layer's input gradient and, when trainable, its weight and bias gradients; "
        "the loss's own gradient is `loss_backward_flops`.",
        label="backward FLOPs (batch {train_batch})",
    ),
    Figure(
        "train_step_flops",
        "count",
        "FLOPs per training step",
        "forward + backward + loss gradient + optimizer step + recomputation.",
        label="train-step FLOPs",
        budget=("train_step_flops",),
    ),
    Figure(
        "recompute_flops",
        "count",
        "FLOPs activation recomputation adds to a step",
        "The forward work `train.recompute` repeats in the backward pass: the repeated "
        "blocks' forward for `full`, the attention core for `selective` and for a flash "
        "kernel, which recomputes its scores; 0 without recomputation.",
        label="recompute FLOPs",
    ),
    Figure(
        "param_bytes",
        "bytes",
        "parameter memory",
        "Parameters at the training precision (per layer's precision when it sets one).",
        label="parameter memory ({train_precision})",
    ),
    Figure(
        "grad_bytes",
        "bytes",
        "gradient memory",
        "One gradient per trainable parameter, at its precision.",
        label="gradient memory",
    ),
    Figure(
        "optimizer_bytes",
        "bytes",
        "optimizer state",
        "The optimizer's state per trainable parameter, at the training precision.",
        label="optimizer state",
    ),
    Figure(
        "activation_bytes",
        "bytes",
        "cached activation memory",
        "Outputs every layer keeps for the backward pass, model inputs included, "
        f"{_TOTAL_PER_BATCH}; element-wise activations work in place.",
        label="cached activations (batch {train_batch})",
        budget=("activation_memory",),
    ),
    Figure(
        "train_memory_bytes",
        "bytes",
        "training memory",
        "parameters + gradients + optimizer state + buffers + cached activations.",
        label="train memory",
        budget=("train_memory",),
    ),
    Figure(
        "inference_memory_bytes",
        "bytes",
        "inference memory",
        "Parameters + buffers + every newly allocated tensor at the deploy batch and "
        "precision, without buffer reuse (an upper bound).",
        label="inference memory",
        budget=("inference_memory",),
    ),
    Figure(
        "frozen_params",
        "count",
        "frozen parameters",
        "Parameters of layers with `trainable=false`: in memory, never updated.",
    ),
    Figure(
        "buffers",
        "count",
        "buffers",
        "State that is not a parameter: batchnorm's running mean and variance.",
    ),
    Figure(
        "buffer_bytes",
        "bytes",
        "buffer memory",
        "The buffers at the training precision (in both memories).",
        label="buffers",
    ),
    Figure(
        "backward_macs",
        "count",
        "backward MACs per sample",
        "The matrix work of the backward pass of one sample.",
    ),
    Figure(
        "loss_backward_flops",
        "count",
        "loss-gradient FLOPs",
        "The loss's gradient seed (ŷ − y for cross-entropy) for the training batch.",
        label="loss-gradient FLOPs",
    ),
    Figure(
        "optimizer_flops",
        "count",
        "optimizer step FLOPs",
        "One optimizer step over the trainable parameters (the optimizers table).",
        label="optimizer FLOPs ({optimizer})",
    ),
    Figure(
        "activation_elements",
        "count",
        "cached activation elements",
        "The elements of `activation_bytes`.",
    ),
    Figure(
        "inference_flops",
        "count",
        "forward FLOPs per inference at the deploy batch",
        "Every FLOP of one inference at `deploy.batch`, in inference mode (dropout does "
        "nothing, batchnorm uses its running statistics).",
        label="inference FLOPs (batch {deploy_batch})",
        budget=("flops",),
    ),
    Figure(
        "inference_param_bytes",
        "bytes",
        "deployed parameter memory",
        "Parameters and buffers at the deploy precision.",
        label="inference parameters ({deploy_precision})",
        budget=("param_memory",),
    ),
    Figure(
        "inference_activation_bytes",
        "bytes",
        "inference activation memory",
        "Every newly allocated tensor (outputs and workspaces) at the deploy batch.",
        label="inference activations (batch {deploy_batch})",
    ),
    Figure("train_batch", "count", "training batch", "`train.batch` (default 1)."),
    Figure("deploy_batch", "count", "inference batch", "`deploy.batch` (default 1)."),
    Figure("train_precision", "text", "training precision", "`train.precision`."),
    Figure(
        "deploy_precision",
        "text",
        "deploy precision",
        "`deploy.precision`, else the training precision.",
    ),
    Figure("optimizer", "text", "optimizer", "`train.optimizer`."),
    Figure(
        "overhead_s",
        "seconds",
        "fixed overhead per inference",
        "The target's launch overhead per kernel plus its per-inference overhead "
        "(part of `latency_s`).",
        read=operator.attrgetter("roofline.overhead_s"),
        label="fixed overhead (launches, invocation)",
        needs_target=True,
        in_json=False,
    ),
    Figure(
        "latency_s",
        "seconds",
        "inference latency on the deploy target",
        "The roofline estimate of one inference at the deploy batch on the target: "
        "max(FLOPs ÷ peak, bytes ÷ bandwidth) per kernel, summed, plus the fixed "
        "overhead; `null` when the target has no peak at the deploy precision.",
        read=operator.attrgetter("roofline.time_s"),
        label="estimated latency (batch {deploy_batch})",
        missing="n/a: no peak at {deploy_precision}",
        budget=("latency",),
        needs_target=True,
        nullable=True,
    ),
    Figure(
        "ridge_point",
        "flop_per_byte",
        "ridge point",
        "The target's dense peak ÷ bandwidth at the deploy precision (FLOP per byte); "
        "`null` without a peak.",
        read=operator.attrgetter("roofline.ridge_point"),
        label="ridge point ({target})",
        shown=lambda v, t: f"{v:,.1f} FLOP/byte at {t['deploy_precision']}",
        needs_target=True,
        nullable=True,
    ),
    _serving(
        "kv_cache_bytes",
        "bytes",
        "KV cache",
        "Keys and values of `deploy.context` tokens for `deploy.concurrency` sequences at "
        "`deploy.kv_precision` (models with a causal attention).",
        budget=("kv_cache",),
    ),
    _serving(
        "decode_weight_bytes",
        "bytes",
        "weights read per decode step",
        "The weights one decode step reads at the deploy precision, one token per sequence: "
        "every weight, but only the rows an `embedding` gathers and the experts a `moe` "
        "routes the step's tokens to (at most `top_k` × `deploy.concurrency` of them).",
    ),
    _serving(
        "prefill_latency_s",
        "seconds",
        "prefill latency of one prompt",
        "One `deploy.context`-token prompt on the deploy target's roofline, with its overheads.",
        budget=("prefill_latency",),
        needs_target=True,
        nullable=True,
    ),
    _serving(
        "decode_latency_s",
        "seconds",
        "per-token decode latency",
        "One token for every sequence, reading `decode_weight_bytes` and the whole KV cache.",
        budget=("decode_latency",),
        needs_target=True,
        nullable=True,
    ),
    _serving(
        "tokens_per_s",
        "per_second",
        "tokens per second",
        "`deploy.concurrency` ÷ the decode latency (a lower limit: `tokens_per_s >= 50`).",
        budget=("tokens_per_s",),
        limit="min",
        needs_target=True,
        nullable=True,
    ),
    Figure(
        "active_params",
        "count",
        "active parameters per token",
        "The parameters one token uses: `params` less the experts a `moe` does not route it "
        "to (its router, `top_k` routed and `shared` experts count); equal to `params` "
        "without `moe`.",
        label="active parameters per token",
        budget=("active_params",),
    ),
    _run(
        "train_global_batch",
        "count",
        "global batch of the training run",
        "`train.batch` × `train.grad_accum` × the data-parallel size "
        "(`train.gpus` ÷ (`tensor_parallel` · `pipeline_parallel`)).",
        field="global_batch",
    ),
    _run(
        "train_steps",
        "count",
        "optimizer steps of the training run",
        "`train.epochs` × ⌈`train.samples` ÷ global batch⌉ (an epoch's last, partial batch "
        "is a step).",
        field="steps",
        label="training steps (global batch {train_global_batch})",
    ),
    _run(
        "train_flops",
        "count",
        "FLOPs of the training run",
        "steps × step FLOPs; a step is every micro-batch's forward + backward + loss "
        "gradient + recomputation on every data-parallel rank, plus the optimizer step of "
        "every replica (once in all under ZeRO). An epoch's partial last batch counts as a "
        "full one.",
        field="flops",
        label="training-run FLOPs ({train_steps:,} steps)",
        budget=("train_flops",),
    ),
    _run(
        "train_devices",
        "count",
        "devices of the training run",
        "`train.gpus`.",
        field="devices",
    ),
    _run(
        "train_target",
        "text",
        "training target",
        "`train.target`, else the target in force: the device the run is timed on; "
        "`null` without either.",
        field="target_id",
        nullable=True,
    ),
    _run(
        "train_utilization",
        "fraction",
        "model FLOPs utilization of the training run",
        "`train.utilization`: the share of the peak the run sustains (default 40 %, the "
        "README's conventions section).",
        field="utilization",
    ),
    _run(
        "train_time_s",
        "seconds",
        "training time",
        "training FLOPs ÷ (`train.gpus` × the training target's dense peak at the "
        "recipe's compute precision × `train.utilization`); `null` without a training "
        "target that has that peak.",
        field="time_s",
        label="training time",
        shown=lambda v, t: (
            f"{UNITS['seconds'].exact(v)} on {t['train_devices']:,} × {t['train_target']} "
            f"at {t['train_utilization']:.0%} utilization"
        ),
        budget=("train_time",),
        nullable=True,
    ),
    _run(
        "train_energy_j",
        "joules",
        "training energy",
        "the training target's power (`power_w`, its TDP) × `train.gpus` × training time; "
        "`null` without a training time.",
        field="energy_j",
        label="training energy",
        budget=("train_energy",),
        nullable=True,
    ),
):
    declare(_figure)
