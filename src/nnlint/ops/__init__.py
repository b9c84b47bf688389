"""The op catalog: one class per op kind, and everything nnlint knows about it.

:mod:`nnlint.ops.base` holds the shared vocabulary (:class:`Op` and its roles,
:class:`Cost`, :class:`Ctx`, :class:`Opt`) and the conventions every formula
follows; each other module holds one family of ops. Importing this package
registers every op in :data:`CATALOG` (the ops a spec writes are also in
:data:`OPS`), in the order of the modules below — the order of the README's op
table. An op class is the one place that knows its name: every other module
asks it about its roles.
"""

from __future__ import annotations

import importlib

from nnlint.ops.base import (
    ALIASES,
    CATALOG,
    OPS,
    SIZE_KINDS,
    Cost,
    Ctx,
    Op,
    Opt,
    Output,
    Shape,
    ShapeError,
    channel_axis,
    channel_index,
    known_as,
    numel,
    register,
)
from nnlint.ops.losses import LOSSES, LossKind

#: The modules of the catalog, in registration order: the README's op table lists the
#: ops in this order. A new op goes into the module of its family (or a new module
#: listed here).
MODULES = (
    "layers",
    "pooling",
    "shapes",
    "norms",
    "dropout",
    "transformer",
    "experts",
    "merges",
    "activations",
    "recurrent",
    "inputs",
    "losses",
)
for _module in MODULES:
    importlib.import_module(f"nnlint.ops.{_module}")

__all__ = [
    "ALIASES",
    "CATALOG",
    "LOSSES",
    "OPS",
    "SIZE_KINDS",
    "Cost",
    "Ctx",
    "LossKind",
    "Op",
    "Opt",
    "Output",
    "Shape",
    "ShapeError",
    "channel_axis",
    "channel_index",
    "known_as",
    "numel",
    "register",
]
