"""Stage 4: rules. One rule per file: ``rules/<family>/nnNNN_<name>.py``.

Importing this package imports every rule module of every family folder (in
order of family, then code); each registers its rule class, whose family is
the folder it lives in. Families share graph queries through
:mod:`nnlint.graph_queries`, never through each other.

``all_meta()`` gives the metadata and doc page of every code (front-end NN0xx
codes and rules alike) for ``nnlint rule``, the README table and SARIF.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from nnlint.costs import Report
from nnlint.diagnostics import Diagnostic, RuleMeta, Span
from nnlint.memory import MemoryAnalysis
from nnlint.roofline import Roofline
from nnlint.rules.base import REGISTRY, Rule, RuleContext, default_thresholds
from nnlint.rules.spec_codes import FATAL, SPEC_CODES
from nnlint.targets import Target


def _discover() -> None:
    """Import every ``rules/<family>/nn*.py`` module: each registers its rule."""
    for family in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg):
        package = importlib.import_module(f"{__name__}.{family}")
        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            if module.startswith("nn"):
                importlib.import_module(f"{package.__name__}.{module}")


_discover()


def all_meta() -> Mapping[str, RuleMeta]:
    """Every code's metadata, sorted by code. Built once per set of registered rules
    (the driver asks for it for every file; a test may register a rule)."""
    key = tuple((code, id(rule)) for code, rule in REGISTRY.items())
    if _META_CACHE.get("key") != key:
        metas = dict(SPEC_CODES)
        metas.update({code: rule.meta() for code, rule in REGISTRY.items()})
        _META_CACHE.update(key=key, metas=MappingProxyType(dict(sorted(metas.items()))))
    return _META_CACHE["metas"]


_META_CACHE: dict[str, Any] = {}


def lookup(code_or_name: str) -> RuleMeta | None:
    """A code (``NN101``) or a kebab name (``vanishing-gradient``)."""
    metas = all_meta()
    key = code_or_name.strip()
    if key.upper() in metas:
        return metas[key.upper()]
    for meta in metas.values():
        if meta.name == key.lower():
            return meta
    return None


def run_rules(
    report: Report,
    target: Target | None,
    roofline: Roofline | None,
    selected: Iterable[str],
    thresholds: Mapping[str, Mapping[str, Any]],
    target_span: Span | None = None,
    *,
    train_target: Target | None = None,
    training=None,
    serving=None,
    run=None,
) -> list[Diagnostic]:
    defaults = default_thresholds()
    found: list[Diagnostic] = []
    # one memory analysis per check, shared by the rules (each figure computed on first use)
    memory = MemoryAnalysis(report, target) if target is not None else None
    trainer = train_target or target  # training's device: its own memory figures
    train_memory = memory if trainer is target else MemoryAnalysis(report, trainer)
    for code in selected:
        rule = REGISTRY.get(code)
        if rule is None or (rule.needs_target and target is None):
            continue
        merged = {**defaults.get(code, {}), **thresholds.get(code, {})}
        ctx = RuleContext(
            report,
            target,
            roofline,
            merged,
            target_span,
            memory,
            train_target,
            training,
            serving,
            run,
            train_memory,
        )
        found.extend(rule.check(ctx))
    return found


__all__ = [
    "FATAL",
    "REGISTRY",
    "SPEC_CODES",
    "Rule",
    "RuleContext",
    "all_meta",
    "lookup",
    "run_rules",
]
