"""The spec's abstract syntax tree: frozen attrs classes, each with its source span.

Produced by :mod:`nnlint.parse` (the one place that sees Lark types) and read by
:mod:`nnlint.graph` (lowering) and, for the ``train``/``data``/``deploy``/
``budget`` sections, by :mod:`nnlint.sections`.
"""

from __future__ import annotations

import attrs

from nnlint.diagnostics import Span

# ----------------------------------------------------------------- expressions


@attrs.frozen
class Num:
    """A number literal, SI suffix applied (``300k`` -> 300000). ``unit`` is set for
    section quantities such as ``8 MiB`` or ``2 ms`` (the value is not yet scaled)."""

    value: int | float
    text: str
    span: Span
    unit: str | None = None


@attrs.frozen
class Name:
    """A reference to a block parameter (in layer arguments) or a bare word such as
    ``true``, ``he`` or ``fp16`` used as an option value."""

    id: str
    span: Span


@attrs.frozen
class BinOp:
    op: str  # one of + - * /
    left: Expr
    right: Expr
    span: Span


@attrs.frozen
class Neg:
    operand: Expr
    span: Span


@attrs.frozen
class Arg:
    """A positional (``keyword is None``) or named argument."""

    keyword: str | None
    value: Expr
    span: Span


@attrs.frozen
class Call:
    """``normal(0.02)`` as an option value, or ``cross_entropy(probs)`` in a section."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@attrs.frozen
class Symbol:
    """A bare word in a section value, dashes allowed: ``edge-tpu``, ``adam``."""

    id: str
    span: Span


@attrs.frozen
class ListValue:
    """``[a, b]``: a list in a section, or an option value such as ``bias=[q, k, v]``."""

    items: tuple[Expr, ...]
    span: Span


@attrs.frozen
class TupleValue:
    """``(3, 1)``: an option value with one entry per axis (height, width)."""

    items: tuple[Expr, ...]
    span: Span


Expr = Num | Name | BinOp | Neg | Call | Symbol | ListValue | TupleValue

# ------------------------------------------------------------------ statements


@attrs.frozen
class Layer:
    """One step of a chain: an op or a block call, with an optional ``* N`` repeat."""

    name: str
    args: tuple[Arg, ...]
    repeat: Expr | None
    span: Span
    name_span: Span
    has_parens: bool = False


@attrs.frozen
class Ref:
    """A tensor name at the start of a chain."""

    name: str
    span: Span


@attrs.frozen
class Chain:
    source: Ref | Layer
    steps: tuple[Layer, ...]
    span: Span


@attrs.frozen
class Assign:
    target: str
    target_span: Span
    chain: Chain
    span: Span


@attrs.frozen
class InputDecl:
    name: str
    shape: tuple[Expr, ...] | None
    span: Span
    name_span: Span


Stmt = Assign | InputDecl


@attrs.frozen
class Param:
    name: str
    default: Expr | None
    span: Span


@attrs.frozen
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@attrs.frozen
class ModelDef:
    name: str
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@attrs.frozen
class Entry:
    """``key = value`` (or ``key <= value`` in ``budget``)."""

    key: str
    cmp: str
    value: Expr
    span: Span
    key_span: Span


@attrs.frozen
class Section:
    kind: str  # train | data | deploy | budget
    entries: tuple[Entry, ...]
    span: Span


@attrs.frozen
class Suppression:
    """``# nnlint: ignore[NN101, NN102]`` (this line) or ``ignore-file[...]``."""

    kind: str  # "ignore" | "ignore-file"
    codes: tuple[str, ...]
    span: Span


@attrs.frozen
class Dropped:
    """A statement the parser left out after a syntax error in it.

    ``within`` is ``model``, ``block`` or ``section`` (``""``: between them), ``owner``
    the name of the model or block or the section's kind, and ``name`` what the
    statement defined (a tensor, an input, a section key), ``None`` when its text does
    not say."""

    span: Span
    within: str
    owner: str
    name: str | None


@attrs.frozen
class Spec:
    """A whole ``.nn`` file."""

    models: tuple[ModelDef, ...]
    blocks: tuple[BlockDef, ...]
    sections: tuple[Section, ...]
    suppressions: tuple[Suppression, ...]
    text: str
    #: Statements left out after a syntax error (their NN001 is reported): what later
    #: stages must not report again as undefined names or missing inputs.
    dropped: tuple[Dropped, ...] = ()

    def section(self, kind: str) -> Section | None:
        for section in self.sections:
            if section.kind == kind:
                return section
        return None
