"""The model's totals, each declared once: :data:`FIGURES`.

A figure (``params``, ``train_memory_bytes``, ``latency_s``) is computed by the
analysis that owns its formula (:mod:`nnlint.costs` for counts and memory,
:mod:`nnlint.roofline` for time) and declared here once: its name, unit, what it
measures, its convention, how it is read from the analyses, its row in the text
report and the budget keys that limit it. Everything that shows or checks a total
reads this declaration:

* the JSON report's ``totals`` (:func:`json_totals`, in declaration order — the
  contract's order);
* the totals of ``nnlint report`` (:func:`text_rows`, in declaration order);
* the ``budget`` section's keys, units and comparisons (:func:`budget_keys`, read by
  :mod:`nnlint.sections`) and the figure each key limits (read by the NN5xx rules);
* the README's "Totals and budget keys" table (:mod:`nnlint.docs`).

Adding a total is one :func:`declare` call below, plus its test. This module is a
vocabulary: it imports no analysis (the sections stage reads it before the cost
model runs); a figure reads the analyses handed to it in :class:`Sources`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from nnlint.units import UNITS, fmt_count, fmt_int

if TYPE_CHECKING:
    from nnlint.costs import Report, Totals
    from nnlint.roofline import Roofline

__all__ = [
    "FIGURES",
    "Figure",
    "Sources",
    "budget_keys",
    "declare",
    "json_totals",
    "text_rows",
    "undeclare",
    "values",
]


@attrs.frozen
class Sources:
    """The analyses a figure is read from: the costed report and, with a target, its roofline."""

    report: Report
    roofline: Roofline | None = None

    @property
    def totals(self) -> Totals:
        return self.report.totals


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
    ``in_json`` is false for a figure only the text report shows.
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

    def __attrs_post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"figure {self.name}: unknown unit {self.unit!r}")
        if self.limit not in LIMITS:
            raise ValueError(f"figure {self.name}: limit must be one of {', '.join(LIMITS)}")
        if self.budget and not UNITS[self.unit].limit_hint:
            raise ValueError(f"figure {self.name}: a {self.unit} figure cannot be budgeted")

    @property
    def comparisons(self) -> tuple[str, ...]:
        """The comparisons a budget line of this figure may use."""
        return LIMITS[self.limit]

    def value(self, sources: Sources) -> Any:
        """The figure's value (``None`` when it needs a target and there is none)."""
        if self.needs_target and sources.roofline is None:
            return None
        read = self.read or operator.attrgetter(f"totals.{self.name}")
        return read(sources)


def _serving(sources: Sources, key: str):
    """A figure of the serving plan (:mod:`nnlint.plan`); None for a model without a causal
    attention."""
    from nnlint.plan import serving_plan  # plan reads the costed report: import late

    roof = sources.roofline
    plan = serving_plan(sources.report, roof.target if roof is not None else None, roof)
    return None if plan is None else getattr(plan, key)


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
    return (f for f in figures if not (f.needs_target and sources.roofline is None))


def values(sources: Sources) -> dict[str, Any]:
    """Every figure that applies (those needing a target only with one), in order."""
    return {f.name: f.value(sources) for f in _shown(iter(FIGURES.values()), sources)}


def json_totals(sources: Sources) -> dict[str, Any]:
    """The JSON report's ``totals``."""
    return {name: v for name, v in values(sources).items() if FIGURES[name].in_json}


def text_rows(sources: Sources) -> list[tuple[str, str]]:
    """(label, value) of every figure with a row in the text report, in order."""
    got = values(sources)
    context = dict(got)
    if sources.roofline is not None:
        context["target"] = sources.roofline.target.id
    rows = []
    for name, value in got.items():
        figure = FIGURES[name]
        if figure.label is None:
            continue
        if value is None:
            text = figure.missing.format(**context)
        elif figure.shown is not None:
            text = figure.shown(value, context)
        else:
            text = UNITS[figure.unit].exact(value)
        rows.append((figure.label.format(**context), text))
    return rows


def budget_keys() -> dict[str, Figure]:
    """Budget key -> the figure it limits, in declaration order."""
    return {key: f for f in FIGURES.values() for key in f.budget}


# --------------------------------------------------------------------------- the totals

_TOTAL_PER_BATCH = "for the whole training batch (`train.batch`)"

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
    ),
    Figure(
        "kv_cache_bytes",
        "bytes",
        "KV cache",
        "Keys and values of `deploy.context` tokens for `deploy.concurrency` sequences at "
        "`deploy.kv_precision` (the JSON `serving` object; models with a causal attention).",
        read=lambda s: _serving(s, "kv_cache_bytes"),
        budget=("kv_cache",),
        in_json=False,
    ),
    Figure(
        "prefill_latency_s",
        "seconds",
        "prefill latency of one prompt",
        "One `deploy.context`-token prompt on the deploy target's roofline, with its overheads.",
        read=lambda s: _serving(s, "prefill_latency_s"),
        budget=("prefill_latency",),
        needs_target=True,
        in_json=False,
    ),
    Figure(
        "decode_latency_s",
        "seconds",
        "per-token decode latency",
        "One token for every sequence, reading every weight and the whole KV cache.",
        read=lambda s: _serving(s, "decode_latency_s"),
        budget=("decode_latency",),
        needs_target=True,
        in_json=False,
    ),
    Figure(
        "tokens_per_s",
        "count",
        "tokens per second",
        "`deploy.concurrency` ÷ the decode latency (a lower limit: `tokens_per_s >= 50`).",
        read=lambda s: _serving(s, "tokens_per_s"),
        budget=("tokens_per_s",),
        limit="min",
        needs_target=True,
        in_json=False,
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
):
    declare(_figure)
