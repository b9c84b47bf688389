"""The rule engine's building blocks: :class:`Rule`, :class:`RuleContext` and the registry.

A rule is one class in a file of its own, ``rules/<family>/nnNNN_<name>.py``: its
code, kebab-case name, default severity (the family is the folder), a
one-line summary, its doc page as the class docstring (ruff's sections: ``## What
it does``, ``## Why is this bad?``, ``## Example``, ``Use instead:``, ``## Options``)
and one ``check`` method that reads a :class:`RuleContext` and yields
diagnostics. Rules never see the parse tree or the grammar (sqlfluff's border).

Thresholds are named in ``options`` and their values come from
``rules/<family>.toml`` (overridable from ``[tool.nnlint.thresholds]``).
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs

from nnlint.costs import Report
from nnlint.diagnostics import Diagnostic, RuleMeta, Severity, Span
from nnlint.memory import MemoryAnalysis
from nnlint.resources import data_dir, read_toml
from nnlint.roofline import Roofline
from nnlint.targets import Target


@attrs.frozen
class RuleContext:
    """The small, stable view of an analysed spec that rules read."""

    report: Report  # lowered graph, per-layer costs, totals, the spec sections
    target: Target | None  # the active hardware target, if any
    roofline: Roofline | None  # per-layer roofline on the target at the deploy precision
    thresholds: Mapping[str, Any]  # this rule's thresholds, defaults already merged
    target_span: Span | None = None  # where the target was chosen (deploy.target), if in the spec
    memory: MemoryAnalysis | None = None  # memory against the target (None without a target)
    train_target: Target | None = None  # where training runs: train.target, else the target
    training: Any = None  # nnlint.plan.TrainingPlan (None without a train section)
    serving: Any = None  # nnlint.plan.ServingPlan (None without a causal attention)
    run: Any = None  # nnlint.training_run.TrainingRun (None without train.samples, train.epochs)
    train_memory: MemoryAnalysis | None = None  # memory against the training device

    @property
    def sections(self):
        return self.report.sections

    @property
    def totals(self):
        return self.report.totals

    @property
    def whole_model_span(self) -> Span:
        """Where to point for a finding about the model on its target: ``deploy.target``
        when the active target is the one the spec names, else the model."""
        if (
            self.target_span is not None
            and self.target is not None
            and self.sections.deploy.target == self.target.id
        ):
            return self.target_span
        return self.model_span

    @property
    def model_span(self) -> Span:
        """Where to point for a whole-model finding: the first input declaration."""
        return self.report.lowered.node(self.report.lowered.inputs[0]).span


class Rule(abc.ABC):
    code: ClassVar[str]
    name: ClassVar[str]
    family: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()  # threshold names read from rules/<family>.toml
    needs_target: ClassVar[bool] = False

    @abc.abstractmethod
    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        """Yield this rule's findings for one analysed spec."""

    def diag(self, message: str, span: Span, fix: str, **data: Any) -> Diagnostic:
        return Diagnostic(self.code, self.severity, message, span, fix=fix, data=data)

    @classmethod
    def meta(cls) -> RuleMeta:
        return RuleMeta(
            cls.code,
            cls.name,
            cls.family,
            cls.severity,
            cls.summary,
            inspect.cleandoc(cls.__doc__ or cls.summary),
        )


class PerLineRule(Rule):
    """A rule that reports layers. The layers a block body or a ``* N`` repeat makes from
    one line of the spec are reported once, at that line, with their number."""

    instance: str = "layer"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        groups: dict = {}
        for d in self.findings(ctx):
            groups.setdefault(d.span, []).append(d)
        for found in groups.values():
            first = found[0]
            if len(found) > 1:
                more = len(found) - 1
                first = attrs.evolve(
                    first,
                    message=f"{first.message} (and {more:,} more {self.instance}"
                    f"{'s' if more != 1 else ''} made from this line)",
                    data={**first.data, "instances": len(found)},
                )
            yield first

    @abc.abstractmethod
    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        """Every finding, one per op instance; ``check`` groups them by line."""


REGISTRY: dict[str, Rule] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Register a rule class. Its family is the folder its module lives in
    (``nnlint.rules.<family>.nnNNN_name``) unless the class states one."""
    if getattr(cls, "family", None) is None:
        parts = cls.__module__.split(".")
        if len(parts) != 4 or parts[:2] != ["nnlint", "rules"]:
            raise ValueError(f"{cls.__name__}: a rule outside rules/<family>/ must set `family`")
        cls.family = parts[2]
    if cls.code in REGISTRY:
        raise ValueError(f"rule code {cls.code} registered twice")
    REGISTRY[cls.code] = cls()
    return cls


@functools.cache
def default_thresholds() -> dict[str, dict[str, Any]]:
    """Every ``rules/*.toml`` file (one per family): ``[NN101] sigmoid_layers = 10`` and so on."""
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(data_dir("rules").glob("*.toml")):
        for code, table in read_toml(path).items():
            if code in merged:
                raise ValueError(f"{path.name}: thresholds of {code} are defined twice")
            merged[code] = table
    return merged
