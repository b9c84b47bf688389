"""The JSON Schema of ``nnlint check --format json``: ``docs/report.schema.json``.

The report is a contract (README § A quick tour, :func:`nnlint.emit.render`); this
module writes it down as a JSON Schema (draft 7, like ``docs/plan.schema.json`` and
``docs/targets.schema.json``), closed everywhere the report's shape is closed, so a key
added, renamed or retyped in the output fails validation until the schema says so.

The parts that registries declare are built from them, never listed twice:

* ``totals`` and the figures of ``serving`` from :data:`nnlint.figures.FIGURES` — a
  figure's JSON type from its unit (``text`` a string, a whole unit such as bytes or a
  count an integer, any other a number), ``null`` allowed only for a figure declared
  ``nullable``, required unless it needs a target or an analysis, and present only
  with it (a ``needs_target`` figure exactly when the model has a ``target``; the
  figures of one analysis, such as the training run, all or none);
* severities, fix applicabilities, shardings and precisions from their tables.

``python -m nnlint.docs docs/report.schema.json`` writes the file (:func:`schema_text`);
``tests/test_report_schema.py`` fails when it is stale and validates real reports.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SCHEMA_PATH", "report_schema", "schema_text"]

#: Where the schema lives, relative to the repository root.
SCHEMA_PATH = "docs/report.schema.json"

_COUNT = {"type": "integer", "minimum": 0}
_POSITIVE = {"type": "integer", "minimum": 1}
_NAME = {"type": "string", "minLength": 1}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also takes ``null``."""
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


def _closed(required: list[str], properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An object with exactly these keys allowed and ``required`` of them present."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
        **more,
    }


def _figure_type(figure) -> dict[str, Any]:
    """A figure's JSON type, from its unit (:data:`nnlint.units.UNITS`)."""
    from nnlint.units import UNITS

    unit = UNITS[figure.unit]
    if figure.unit == "text":
        kind: dict[str, Any] = {"type": "string", "minLength": 1}
    elif unit.whole:
        kind = {"type": "integer", "minimum": 0}
    else:
        kind = {"type": "number", "minimum": 0}
    kind = _nullable(kind) if figure.nullable else kind
    return {"description": f"{figure.what}, {figure.unit}: {figure.doc}", **kind}


def _totals() -> dict[str, Any]:
    """``totals``: every figure of :data:`FIGURES` the JSON holds, in declaration order."""
    from nnlint.figures import FIGURES

    shown = [f for f in FIGURES.values() if f.in_json]
    return _closed(
        [f.name for f in shown if not f.needs_target and f.needs is None],
        {f.name: _figure_type(f) for f in shown},
        description=(
            "The model's totals (README § Totals and budget keys), in this order; "
            "generated from nnlint.figures. A figure that needs a target is present "
            "exactly when the model has one; the figures of one analysis (the training "
            "run: train.samples and train.epochs) are present all together or not at all."
        ),
    )


def _analysis_groups() -> dict[str, list[str]]:
    """The ``totals`` keys of each optional analysis (``needs``), in order."""
    from nnlint.figures import FIGURES

    groups: dict[str, list[str]] = {}
    for f in FIGURES.values():
        if f.in_json and f.needs is not None:
            groups.setdefault(f.needs, []).append(f.name)
    return groups


def _target_figures() -> list[str]:
    """The ``totals`` keys that exist only with a target."""
    from nnlint.figures import FIGURES

    return [f.name for f in FIGURES.values() if f.in_json and f.needs_target]


def _serving() -> dict[str, Any]:
    """``serving``: the figures declared for the serving plan, then the plan's own keys."""
    from nnlint.figures import FIGURES
    from nnlint.precision import PRECISIONS

    figures = {f.name: _figure_type(f) for f in FIGURES.values() if f.needs == "serving"}
    plan = {
        "weights_bytes": {**_COUNT, "description": "the deployed weights, bytes"},
        "total_bytes": {**_COUNT, "description": "weights + KV cache, bytes"},
        "fits": {
            "type": ["boolean", "null"],
            "description": "weights + KV cache fit the deploy target; null without one",
        },
        "max_concurrency": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "the most sequences of deploy.context tokens that fit; null "
            "without a target",
        },
        "context": {**_POSITIVE, "description": "deploy.context, tokens"},
        "concurrency": {**_POSITIVE, "description": "deploy.concurrency, sequences"},
        "kv_precision": {"enum": list(PRECISIONS), "description": "deploy.kv_precision"},
    }
    properties = {**figures, **plan}
    return _closed(
        list(properties),
        properties,
        description=(
            "The serving plan of a model with a causal attention (README § Training and "
            "serving); its figures are generated from nnlint.figures, null where the "
            "deploy target cannot time them."
        ),
    )


def _training() -> dict[str, Any]:
    """``training``: the per-GPU plan (:meth:`nnlint.plan.TrainingPlan.as_dict`)."""
    from nnlint.training import SHARDING, TRAIN_PRECISIONS

    per_gpu = ["param_bytes", "grad_bytes", "optimizer_bytes", "activation_bytes", "total_bytes"]
    properties = {
        "gpus": _POSITIVE,
        "data_parallel": _POSITIVE,
        "tensor_parallel": _POSITIVE,
        "pipeline_parallel": _POSITIVE,
        "expert_parallel": {
            **_POSITIVE,
            "description": "ranks each expert layer's routed experts are divided among",
        },
        "sharding": {"enum": list(SHARDING)},
        "precision": {"enum": list(TRAIN_PRECISIONS), "description": "the training recipe"},
        "per_gpu": _closed(per_gpu, {key: _COUNT for key in per_gpu}),
        "fits": {
            "type": ["boolean", "null"],
            "description": "null on a device class that does not train, or without a target",
        },
        "max_micro_batch": {"type": ["integer", "null"], "minimum": 0},
        "target": {"type": ["string", "null"], "description": "the training target"},
    }
    return _closed(
        list(properties),
        properties,
        description="The per-GPU training plan (README § Training and serving).",
    )


#: A layer's roofline keys: present together, only when the model has a target.
_ROOFLINE = ["arithmetic_intensity", "bound", "latency_s", "bytes_moved"]


def _layer() -> dict[str, Any]:
    """One ``layers`` entry (:func:`nnlint.check.model_entry`)."""
    properties = {
        "name": _NAME,
        "op": {"type": "string", "pattern": "^(loss:)?[a-z][a-z0-9_]*$"},
        "output_shape": {"type": "array", "items": _POSITIVE, "description": "per sample"},
        "params": _COUNT,
        "macs": _COUNT,
        "forward_flops": _COUNT,
        "backward_flops": _COUNT,
        "activation_elements": _COUNT,
        "line": _POSITIVE,
        "trainable": {"type": "boolean"},
        "backward_macs": _COUNT,
        "arithmetic_intensity": {
            "type": ["number", "null"],
            "minimum": 0,
            "description": "FLOP per byte moved",
        },
        "bound": {"enum": ["compute", "memory", None], "description": "null without a peak"},
        "latency_s": {"type": ["number", "null"], "minimum": 0},
        "bytes_moved": _COUNT,
    }
    required = [key for key in properties if key not in _ROOFLINE]
    return _closed(
        required,
        properties,
        **_all_or_none(_ROOFLINE),
        description="One layer, in execution order; the roofline keys only on a target "
        "(a layer the roofline skips has none).",
    )


def _absent(keys: list[str]) -> dict[str, Any]:
    """An object with none of ``keys``."""
    return {"not": {"anyOf": [{"required": [key]} for key in keys]}}


def _all_or_none(keys: list[str]) -> dict[str, Any]:
    """An object with every one of ``keys`` or none of them."""
    return {"anyOf": [{"required": keys}, _absent(keys)]}


def _model() -> dict[str, Any]:
    """One ``models`` entry, also ``nnlint report --format json`` on its own."""
    targeted = _target_figures()
    groups = _analysis_groups()
    totals = {"allOf": [{"$ref": "#/definitions/totals"}, *map(_all_or_none, groups.values())]}
    properties = {
        "path": _NAME,
        "name": _NAME,
        "target": {"type": ["string", "null"], "description": "the deploy target's id"},
        "totals": totals,
        "layers": {"type": "array", "items": {"$ref": "#/definitions/layer"}},
        "training": {"$ref": "#/definitions/training"},
        "serving": {"$ref": "#/definitions/serving"},
    }
    return _closed(
        ["path", "name", "target", "totals", "layers"],
        properties,
        description="One analysed model (a spec without errors); training with a train "
        "section, serving for a model with a causal attention.",
        **{
            "if": {"properties": {"target": {"type": "null"}}},
            "then": {
                "properties": {
                    "totals": _absent(targeted),
                    "layers": {"items": _absent(_ROOFLINE)},
                }
            },
            "else": {"properties": {"totals": {"required": targeted}}},
        },
    )


def _span() -> dict[str, Any]:
    """1-based lines and code-point columns, exclusive end column."""
    return {
        "line": _POSITIVE,
        "column": _POSITIVE,
        "end_line": _POSITIVE,
        "end_column": _POSITIVE,
    }


def _diagnostic() -> dict[str, Any]:
    """One ``diagnostics`` entry (:func:`nnlint.emit._json_diagnostic`)."""
    from nnlint.diagnostics import APPLICABILITIES, Severity

    edit = _closed(
        [*_span(), "content"],
        {**_span(), "content": {"type": "string", "description": "replaces the range"}},
    )
    autofix = _closed(
        ["applicability", "description", "edits"],
        {
            "applicability": {"enum": list(APPLICABILITIES)},
            "description": _NAME,
            "edits": {"type": "array", "minItems": 1, "items": edit},
        },
    )
    related = _closed(
        ["path", *_span(), "message"],
        {"path": _NAME, **_span(), "message": _NAME},
        description="another place of the same file, such as the block call an error "
        "inside a block came from",
    )
    properties = {
        "path": _NAME,
        **_span(),
        "code": {"type": "string", "pattern": "^NN[0-9]{3}$"},
        "severity": {"enum": [str(s) for s in sorted(Severity, reverse=True)]},
        "message": _NAME,
        "fix": {"type": ["string", "null"], "description": "how to repair it, for a person"},
        "data": {
            "type": "object",
            "description": "the figures of the message as numbers, keyed by name",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
        },
        "layer": {"type": ["string", "null"], "description": "the layer it points at"},
        "autofix": {"oneOf": [{"type": "null"}, autofix]},
        "related": {"type": "array", "items": related},
    }
    return _closed(list(properties), properties)


def _baseline() -> dict[str, Any]:
    """``baseline``: each baseline file that applied (:mod:`nnlint.baseline`)."""
    entry = _closed(
        ["path", "code", "layer", "fingerprint"],
        {
            "path": _NAME,
            "code": {"type": "string", "pattern": "^NN[0-9]{3}$"},
            "layer": {"type": ["string", "null"]},
            "fingerprint": _NAME,
        },
    )
    return {
        "type": "array",
        "minItems": 1,
        "description": "present when a baseline applied",
        "items": _closed(
            ["path", "suppressed", "stale"],
            {
                "path": _NAME,
                "suppressed": {**_COUNT, "description": "findings recorded there, not shown"},
                "stale": {
                    "type": "array",
                    "items": entry,
                    "description": "entries whose finding is gone",
                },
            },
        ),
    }


def report_schema() -> dict[str, Any]:
    """The schema of the whole report, as a JSON-ready dict."""
    from nnlint.emit import JSON_REPORT_VERSION

    counts = ["files", "errors", "warnings", "notes"]
    properties = {
        "version": {"const": JSON_REPORT_VERSION},
        "models": {"type": "array", "items": {"$ref": "#/definitions/model"}},
        "diagnostics": {
            "type": "array",
            "description": "every finding, file by file in input order, each file's sorted "
            "by line and column",
            "items": {"$ref": "#/definitions/diagnostic"},
        },
        "summary": _closed(counts, {key: _COUNT for key in counts}),
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": _NAME,
            "description": "the run's errors (a file that could not be read or checked, "
            "a bad config), one line each; present only when there are some, and then "
            "the exit status is 2",
        },
        "fixes": _closed(
            ["fixed", "fixable"],
            {
                "fixed": {**_COUNT, "description": "findings --fix repaired (0 without it)"},
                "fixable": _closed(["safe", "unsafe"], {"safe": _COUNT, "unsafe": _COUNT}),
            },
            description="absent when a config error stopped the run before any file",
        ),
        "baseline": {"$ref": "#/definitions/baseline"},
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "nnlint-report.schema.json",
        "title": "nnlint check --format json",
        "description": (
            "The report of a check run (README § Using nnlint). Bytes, counts, lines and "
            "columns are integers; seconds, joules, rates and fractions are numbers; every "
            "number is finite. Generated by `python -m nnlint.docs docs/report.schema.json` "
            "from nnlint.report_schema and nnlint.figures: do not edit by hand."
        ),
        **_closed(["version", "models", "diagnostics", "summary"], properties),
        "definitions": {
            "model": _model(),
            "totals": _totals(),
            "layer": _layer(),
            "training": _training(),
            "serving": _serving(),
            "diagnostic": _diagnostic(),
            "baseline": _baseline(),
        },
    }


def schema_text() -> str:
    """The file's text, laid out like the other schemas of ``docs/``: two-space indents,
    a list of plain values or a short object of them on one line (:func:`_inline`), a
    trailing newline."""
    return _layout(report_schema(), "") + "\n"


_PLAIN = (str, int, float, bool, type(None))


def _inline(value: Any) -> bool:
    """A list of plain values, or a short object of at most three plain values or lists
    of them (``{"required": ["latency_s"]}``)."""
    if isinstance(value, list):
        return all(isinstance(v, _PLAIN) for v in value)
    if isinstance(value, dict):
        return (
            len(value) <= 3
            and all(isinstance(v, _PLAIN) or _inline(v) for v in value.values())
            and not any(isinstance(v, dict) for v in value.values())
            and len(json.dumps(value, ensure_ascii=False)) <= 80
        )
    return True


def _layout(value: Any, indent: str) -> str:
    if _inline(value):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    inner = indent + "  "
    if isinstance(value, list):
        items = [inner + _layout(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    items = [
        f"{inner}{json.dumps(k, ensure_ascii=False)}: {_layout(v, inner)}" for k, v in value.items()
    ]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"
