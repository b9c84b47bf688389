"""Diagnostics as plain data (the pyflakes ``messages`` idea).

Rules and the front end *produce* :class:`Diagnostic` values; emitters
(text, json, sarif, github) *consume* them. Neither side knows the other.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs


class Severity(enum.IntEnum):
    """Ordered so that ``severity >= fail_level`` reads naturally."""

    NOTE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r} (expected one of: error, warning, note)"
            ) from None

    def __str__(self) -> str:
        return self.name.lower()


def source_lines(text: str) -> list[str]:
    """A spec's lines as every :class:`Span` numbers them: split at ``\n`` only.

    The parser counts lines this way, so the suppression comments, the positions
    computed from the text and the source frames of the output must too.
    ``str.splitlines`` would also split at a form feed, ``\x0b``, ``\x1c``–``\x1e``,
    ``\x85``, ``\u2028`` and ``\u2029``, all legal inside a comment, and shift every
    line after them. A ``\r`` before the ``\n`` is not part of the line.
    """
    return [line.removesuffix("\r") for line in text.split("\n")]


@attrs.frozen(order=True)
class Span:
    """A source range. Lines and columns are 1-based; ``end_column`` is exclusive
    (SARIF's convention: the column of the character after the region)."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int, width: int = 1) -> Span:
        return cls(line, column, line, column + max(width, 1))

    def merge(self, other: Span) -> Span:
        """The smallest span covering both (a fix's edits in one place)."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(start[0], start[1], end[0], end[1])


@attrs.frozen
class Edit:
    """Replace the text of ``span`` with ``content``; an empty span (start == end)
    inserts, an empty ``content`` deletes. Lines and columns as in :class:`Span`
    (1-based code points, exclusive end)."""

    span: Span
    content: str


#: ruff's split: a safe fix keeps the spec's meaning, an unsafe one changes what it computes.
APPLICABILITIES = ("safe", "unsafe")


@attrs.frozen
class Fix:
    """A machine-applicable repair: text edits that make the finding go away.

    ``applicability`` is ``"safe"`` when the edited spec computes the same function
    (``nnlint check --fix`` applies it) or ``"unsafe"`` when it changes what the model
    computes (only with ``--unsafe-fixes``). ``description`` says what it does.
    """

    applicability: str
    description: str
    edits: tuple[Edit, ...]

    def __attrs_post_init__(self) -> None:
        if self.applicability not in APPLICABILITIES:
            raise ValueError(f"unknown fix applicability {self.applicability!r}")


@attrs.frozen
class Related:
    """Another place of the same file a finding involves, and what it is there: the
    block call an error inside a block came from (``called from line 13``). SARIF's
    ``relatedLocations``, the JSON ``related`` list, a ``= note:`` line of the text."""

    span: Span
    message: str


@attrs.frozen
class Diagnostic:
    """One finding: what, where, how bad, how to fix, and the raw figures.

    ``message`` carries the figures for a reader (rounded, with exact integers);
    ``data`` carries the same figures as machine-readable numbers.
    """

    code: str
    severity: Severity
    message: str
    span: Span
    path: str = "<unknown>"
    fix: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    #: The id of the layer the finding points at (the graph node whose source span holds
    #: the finding's start), set by the driver; ``None`` for findings outside the model.
    layer: str | None = None
    #: The text edits that repair the finding, when the repair is certain.
    autofix: Fix | None = None
    #: Other places involved, innermost first: the calls an error inside a block came from.
    related: tuple[Related, ...] = ()

    def with_path(self, path: str) -> Diagnostic:
        return attrs.evolve(self, path=path)

    def sort_key(self) -> tuple:
        return (self.path, self.span.line, self.span.column, self.code, self.message)


class SpecError(Exception):
    """Raised by a front-end stage (parse, lowering) for a spec it cannot continue with.

    Carries one or more diagnostics; the driver reports them instead of a traceback.
    """

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


def error(code: str, message: str, span: Span, *, fix: str, **data: Any) -> SpecError:
    """Shorthand for the front end: ``raise error("NN002", "...", span, fix="...")``.

    ``fix`` is required: every front-end diagnostic says how to repair the spec."""
    return SpecError(Diagnostic(code, Severity.ERROR, message, span, fix=fix, data=data))


@attrs.frozen
class RuleMeta:
    """What emitters and docs need to know about a code (rules and NN0xx alike)."""

    code: str
    name: str  # kebab-case, e.g. "vanishing-gradient"
    family: str  # "spec", "training", "data", "fit", "performance", "budget"
    severity: Severity
    summary: str  # one line, used as SARIF shortDescription
    doc: str  # Markdown doc page: What it does / Why is this bad? / Example / Use instead


@attrs.frozen
class FileResult:
    """Everything the emitters need about one checked file.

    ``path`` is the display path (relative to the working directory when the file
    is below it, ``/`` separators). ``source`` is the spec's text, used for source
    frames and fingerprints (``None`` when the file could not be read). ``model`` is
    the file's entry of the JSON contract's ``models`` list, or ``None`` when the
    spec did not get as far as a costed graph.
    """

    path: str
    source: str | None
    diagnostics: tuple[Diagnostic, ...] = ()
    model: Mapping[str, Any] | None = None
