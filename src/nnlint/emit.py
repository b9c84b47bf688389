"""Emitters: turn checked files into text for a person, a program or a CI service.

The last stage of the flow. It knows nothing about parsing or rules: it reads
:class:`~nnlint.diagnostics.FileResult` values (diagnostics already filtered and
sorted, never re-filtered here) and the :class:`~nnlint.diagnostics.RuleMeta` of
every code that may appear, and returns one string per run:

- ``text``     compiler-style header, source frame with carets, ``= help:`` line
- ``concise``  one ``path:line:col: CODE [severity] message`` line per finding
- ``json``     the report contract (``docs/report.schema.json``, README § A quick tour)
- ``sarif``    SARIF 2.1.0 for GitHub code scanning (valid against the OASIS schema)
- ``github``   GitHub Actions workflow commands (``::error file=…::message``)

The returned string has no trailing newline; the caller prints it.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs

from nnlint import __version__
from nnlint.diagnostics import Diagnostic, FileResult, RuleMeta, Severity, Span, source_lines
from nnlint.sanitize import is_hidden, visible

__all__ = ["FORMATS", "render", "render_model"]

FORMATS = ("text", "concise", "json", "sarif", "github")

JSON_REPORT_VERSION = 1
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/nnlint/nnlint"
FINGERPRINT_KEY = "nnlintFingerprint/v1"
TAB_WIDTH = 4
# GitHub code scanning's limits on reportingDescriptor strings.
_MAX_DESCRIPTION = 1024
_MAX_RULE_NAME = 255


def render(
    fmt: str,
    results: Sequence[FileResult],
    rules: Mapping[str, RuleMeta],
    *,
    color: bool = False,
    statistics: bool = False,
    target: str | None = None,
    tool_version: str = __version__,
    errors: Sequence[str] = (),
    exit_code: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Render ``results`` in format ``fmt`` (one of :data:`FORMATS`).

    ``color`` and ``statistics`` apply to ``text`` and ``concise``; ``target``
    appears in the summary line and in SARIF's ``automationDetails.id``.
    ``errors`` are the run's errors (files that could not be read or checked, a bad
    config, one line each): the summary line then never says "All checks passed",
    JSON lists them under ``errors`` and SARIF records them as notifications of a
    failed invocation that ended with ``exit_code``; the terminal formats leave the
    lines themselves to the caller's stderr. ``extra`` keys are added at the end of
    the JSON report (``fixes``, ``baseline``: each one the schema,
    ``docs/report.schema.json``, describes).
    Raises :class:`ValueError` for an unknown format.
    """
    if fmt in ("text", "concise"):
        return _render_terminal(
            results,
            rules,
            full=(fmt == "text"),
            color=color,
            statistics=statistics,
            target=target,
            errors=len(errors),
        )
    if fmt == "json":
        return _render_json(results, errors, extra or {})
    if fmt == "sarif":
        return _render_sarif(
            results,
            rules,
            target=target,
            tool_version=tool_version,
            errors=errors,
            exit_code=exit_code,
        )
    if fmt == "github":
        return _render_github(results, target=target, errors=len(errors))
    raise ValueError(f"unknown output format {fmt!r} (expected one of: {', '.join(FORMATS)})")


# --------------------------------------------------------------------------- shared helpers


@attrs.frozen
class _Finding:
    """One diagnostic together with the display path and the lines of its file."""

    diagnostic: Diagnostic
    path: str
    lines: tuple[str, ...]  # empty when the source is unknown or belongs to another file

    def line_text(self, number: int) -> str | None:
        """The source line ``number`` (1-based), or ``None`` when it is not available."""
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return None


def _source_lines(source: str | None) -> tuple[str, ...]:
    """The spec's lines as the spans number them (:func:`source_lines`)."""
    if source is None:
        return ()
    return tuple(source_lines(source))


def _findings(results: Sequence[FileResult]) -> Iterator[_Finding]:
    """Every diagnostic in input order, with its path and source lines resolved."""
    for result in results:
        lines = _source_lines(result.source)
        for diag in result.diagnostics:
            path = diag.path if diag.path not in ("", "<unknown>") else result.path
            same_file = path == result.path
            yield _Finding(diag, path, lines if same_file else ())


def _counts(results: Sequence[FileResult]) -> Counter:
    """How many diagnostics of each severity."""
    return Counter(d.severity for r in results for d in r.diagnostics)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary(results: Sequence[FileResult], target: str | None, errors: int = 0) -> str:
    """``Found 2 errors, 1 warning and 0 notes in 3 files.`` or ``All checks passed (3 files).``

    With run ``errors`` (listed on stderr) and no findings, it says what did not run
    instead of "All checks passed".
    """
    counts = _counts(results)
    files = _plural(len(results), "file")
    suffix = f" (target: {visible(target)})" if target else ""
    if not counts and errors:
        stopped = f"{_plural(errors, 'error')} (on stderr)"
        if not results:
            return f"Nothing was checked: {stopped}{suffix}."
        return f"No findings in {files}, but not every check ran: {stopped}{suffix}."
    if not counts:
        return f"All checks passed ({files}){suffix}."
    return (
        f"Found {_plural(counts[Severity.ERROR], 'error')}, "
        f"{_plural(counts[Severity.WARNING], 'warning')} and "
        f"{_plural(counts[Severity.NOTE], 'note')} in {files}{suffix}."
    )


def _rule_name(rules: Mapping[str, RuleMeta], code: str) -> str:
    """The rule's kebab-case name, or ``unknown`` for a code missing from ``rules``."""
    meta = rules.get(code)
    return meta.name if meta is not None else "unknown"


# --------------------------------------------------------------------------- text and concise

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_BLUE = "\x1b[34m"
_SEVERITY_COLOR = {
    Severity.ERROR: "\x1b[31m",  # red
    Severity.WARNING: "\x1b[33m",  # yellow
    Severity.NOTE: "\x1b[36m",  # cyan
}


@attrs.frozen
class _Style:
    """ANSI styling that collapses to plain text when color is off."""

    color: bool

    def paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text

    def path(self, text: str) -> str:
        return self.paint(text, _BOLD)

    def gutter(self, text: str) -> str:
        return self.paint(text, _BLUE)

    def severity(self, text: str, severity: Severity) -> str:
        return self.paint(text, _SEVERITY_COLOR[severity])


def _render_terminal(
    results: Sequence[FileResult],
    rules: Mapping[str, RuleMeta],
    *,
    full: bool,
    color: bool,
    statistics: bool,
    target: str | None,
    errors: int = 0,
) -> str:
    """``text`` (``full=True``) and ``concise``: findings, then the summary line."""
    style = _Style(color)
    summary = _summary(results, target, errors)
    if statistics:
        return "\n".join([*_statistics_lines(results, rules), summary])
    findings = list(_findings(results))
    if not full:
        return "\n".join([*(_header(f, style) for f in findings), summary])
    return "\n\n".join([*(_text_block(f, style) for f in findings), summary])


def _header(finding: _Finding, style: _Style) -> str:
    """``path:line:col: CODE [severity] message``."""
    d = finding.diagnostic
    tag = style.severity(f"[{d.severity}]", d.severity)
    path = style.path(_line_start_path(finding.path))
    return f"{path}:{d.span.line}:{d.span.column}: {d.code} {tag} {visible(d.message)}"


def _line_start_path(path: str) -> str:
    """A path that begins an output line: :func:`visible`, and ``./`` before a name
    that starts with ``:`` or a space, so no line a file name begins reads as a
    GitHub Actions workflow command (``::error …``)."""
    shown = visible(path)
    return "./" + shown if shown[:1] == ":" or shown[:1].isspace() else shown


def _statistics_lines(results: Sequence[FileResult], rules: Mapping[str, RuleMeta]) -> list[str]:
    """ruff-style ``count<TAB>code<TAB>name``, by count (descending) then code."""
    counts = Counter(d.code for r in results for d in r.diagnostics)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"{n}\t{code}\t{_rule_name(rules, code)}" for code, n in ordered]


def _text_block(finding: _Finding, style: _Style) -> str:
    """Header, source frame (line before, the line, carets) and an optional help line."""
    d = finding.diagnostic
    line = finding.line_text(d.span.line)
    width = len(str(d.span.line))
    blank_gutter = " " * (width + 1)

    out = [_header(finding, style)]
    if line is not None:
        out.append(style.gutter(f"{blank_gutter} |"))
        previous = finding.line_text(d.span.line - 1)
        if previous is not None:
            out.append(_frame_line(d.span.line - 1, previous, width, style))
        out.append(_frame_line(d.span.line, line, width, style))
        offset, length = _caret_range(line, d)
        carets = style.severity("^" * length, d.severity)
        out.append(f"{style.gutter(f'{blank_gutter} |')} {' ' * offset}{carets}")
    for what in _notes(finding):
        out.append(f"{style.gutter(f'{blank_gutter} =')} note: {visible(what)}")
    if d.fix:
        first, *rest = [visible(line) for line in d.fix.split("\n")]
        out.append(f"{style.gutter(f'{blank_gutter} =')} help: {first}")
        out.extend(f"{blank_gutter}         {more}".rstrip() for more in rest)
    return "\n".join(out)


def _notes(finding: _Finding) -> list[str]:
    """rustc's notes: where an error inside a block was called, each place as
    ``path:line:col``."""
    notes = []
    for related in finding.diagnostic.related:
        where = f"{finding.path}:{related.span.line}:{related.span.column}"
        what = related.message.replace(f"line {related.span.line}", where, 1)
        notes.append(what if what != related.message else f"{related.message} ({where})")
    return notes


def _frame_line(number: int, text: str, width: int, style: _Style) -> str:
    """`` 3 |     out = add(x, y)`` with tabs expanded and control characters made visible."""
    shown, _ = _display(text)
    return f"{style.gutter(f' {number:>{width}} |')} {shown}".rstrip()


def _display(text: str) -> tuple[str, list[int]]:
    """Return ``text`` as printed in a frame and the display column of each code point.

    Tabs expand to the next multiple of :data:`TAB_WIDTH`, hidden characters
    (:func:`nnlint.sanitize.is_hidden`) print as U+FFFD, wide (East Asian, emoji)
    characters take two cells and combining marks none, so carets computed from the
    offsets stay under the right characters. The second ``#`` of ``##[`` (the GitHub
    runner's legacy command prefix, see :mod:`nnlint.sanitize`) prints as U+FFFD too.
    The offsets list has one extra entry: the column just past the end of the line.
    """
    pieces: list[str] = []
    offsets: list[int] = []
    column = 0
    legacy = text.find("##[")
    for i, ch in enumerate(text):
        offsets.append(column)
        if ch == "\t":
            cells = TAB_WIDTH - column % TAB_WIDTH
            pieces.append(" " * cells)
        elif is_hidden(ch) or (
            legacy >= 0 and ch == "#" and text.startswith("#[", i) and i > 0 and text[i - 1] == "#"
        ):
            cells = 1
            pieces.append("\ufffd")
        else:
            cells = _cell_width(ch)
            pieces.append(ch)
        column += cells
    offsets.append(column)
    return "".join(pieces), offsets


def _cell_width(ch: str) -> int:
    """Terminal cells taken by one code point."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _caret_range(line: str, d: Diagnostic) -> tuple[int, int]:
    """Display offset and width of the carets under ``line`` (at least one caret).

    A span that runs onto later lines is underlined to the end of its first line;
    columns past the end of the line continue one cell per column.
    """
    _, offsets = _display(line)

    def cell(index: int) -> int:
        return offsets[min(index, len(line))] + max(0, index - len(line))

    start = max(d.span.column - 1, 0)
    end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(line)
    end = max(end, start)
    return cell(start), max(cell(end) - cell(start), 1)


# --------------------------------------------------------------------------- json


def render_model(entry: Mapping[str, Any]) -> str:
    """One ``models`` entry of the JSON report on its own (``nnlint report --format json``)."""
    return _dumps(entry)


def _render_json(
    results: Sequence[FileResult],
    errors: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The report contract, ``indent=2``, keys in contract order; ``errors`` (the run's
    errors, one line each) only when there are some."""
    counts = _counts(results)
    report = {
        "version": JSON_REPORT_VERSION,
        "models": [r.model for r in results if r.model is not None],
        "diagnostics": [_json_diagnostic(f) for f in _findings(results)],
        "summary": {
            "files": len(results),
            "errors": counts[Severity.ERROR],
            "warnings": counts[Severity.WARNING],
            "notes": counts[Severity.NOTE],
        },
    }
    if errors:
        report["errors"] = [*errors]
    report.update(extra or {})
    return _dumps(report)


def _json_diagnostic(finding: _Finding) -> dict[str, Any]:
    d = finding.diagnostic
    return {
        "path": finding.path,
        "line": d.span.line,
        "column": d.span.column,
        "end_line": d.span.end_line,
        "end_column": d.span.end_column,
        "code": d.code,
        "severity": str(d.severity),
        "message": d.message,
        "fix": d.fix,
        "data": d.data,
        "layer": d.layer,
        "autofix": _json_autofix(d),
        "related": [
            {
                "path": finding.path,
                "line": r.span.line,
                "column": r.span.column,
                "end_line": r.span.end_line,
                "end_column": r.span.end_column,
                "message": r.message,
            }
            for r in d.related
        ],
    }


def _json_autofix(d: Diagnostic) -> dict[str, Any] | None:
    """The machine-applicable fix: applicability, description and the text edits
    (1-based lines and code-point columns, exclusive end; ``content`` replaces the range)."""
    if d.autofix is None:
        return None
    return {
        "applicability": d.autofix.applicability,
        "description": d.autofix.description,
        "edits": [
            {
                "line": e.span.line,
                "column": e.span.column,
                "end_line": e.span.end_line,
                "end_column": e.span.end_column,
                "content": e.content,
            }
            for e in d.autofix.edits
        ],
    }


def _dumps(document: Any) -> str:
    """Strict JSON (no NaN/Infinity tokens) of a sanitised document."""
    return json.dumps(_jsonable(document), indent=2, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """Turn ``value`` into plain JSON data without losing numbers.

    ints stay ints and finite floats stay floats; ``inf``, ``-inf`` and ``nan`` become
    the strings ``"inf"``, ``"-inf"`` and ``"nan"``. Mappings, sequences, sets, enums
    and attrs instances are converted; anything else becomes its ``str``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Severity):
        return str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if attrs.has(type(value)):
        return _jsonable(attrs.asdict(value, recurse=False))
    return str(value)


# --------------------------------------------------------------------------- sarif

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}
_PROBLEM_SEVERITY = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.NOTE: "recommendation",
}


def _render_sarif(
    results: Sequence[FileResult],
    rules: Mapping[str, RuleMeta],
    *,
    target: str | None,
    tool_version: str,
    errors: Sequence[str] = (),
    exit_code: int | None = None,
) -> str:
    """A SARIF 2.1.0 log with one run, shaped for GitHub code scanning. Run errors make
    the invocation unsuccessful, each one a ``toolExecutionNotification``."""
    findings = list(_findings(results))
    fired = sorted({f.diagnostic.code for f in findings})
    rule_index = {code: i for i, code in enumerate(fired)}
    first_severity: dict[str, Severity] = {}
    for f in findings:
        first_severity.setdefault(f.diagnostic.code, f.diagnostic.severity)

    fingerprints = _Fingerprints()
    log = {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "semanticVersion": tool_version,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            _sarif_rule(code, rules[code])
                            if code in rules
                            else _sarif_fallback_rule(code, first_severity[code])
                            for code in fired
                        ],
                    }
                },
                "automationDetails": {"id": f"nnlint/{target or 'default'}/"},
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "Repository root"}}},
                "columnKind": "utf16CodeUnits",
                "invocations": [_sarif_invocation(errors, exit_code)],
                "results": [
                    _sarif_result(f, rule_index[f.diagnostic.code], fingerprints) for f in findings
                ],
            }
        ],
    }
    return _dumps(log)


def _sarif_invocation(errors: Sequence[str], exit_code: int | None) -> dict[str, Any]:
    if not errors:
        return {"executionSuccessful": True}
    invocation: dict[str, Any] = {"executionSuccessful": False}
    if exit_code is not None:
        invocation["exitCode"] = exit_code
    invocation["toolExecutionNotifications"] = [
        {"level": "error", "message": {"text": f"nnlint: error: {e}"}} for e in errors
    ]
    return invocation


def _sarif_rule(code: str, meta: RuleMeta) -> dict[str, Any]:
    """A ``reportingDescriptor`` with every field GitHub code scanning reads.

    ``id`` is the code the results name (the key of ``rules``), so ``ruleId`` and
    ``ruleIndex`` always agree.
    """
    summary = _clip(meta.summary or f"nnlint rule {code}", _MAX_DESCRIPTION)
    doc = meta.doc.strip()
    return {
        "id": code,
        "name": _clip(meta.name, _MAX_RULE_NAME),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "help": {"text": _markdown_to_text(doc) or summary, "markdown": doc or summary},
        "defaultConfiguration": {"level": _SARIF_LEVEL[meta.severity]},
        "properties": {
            "tags": [meta.family],
            "precision": "very-high",
            "problem.severity": _PROBLEM_SEVERITY[meta.severity],
        },
    }


def _sarif_fallback_rule(code: str, severity: Severity) -> dict[str, Any]:
    """A minimal descriptor for a code missing from the rule table (never crash)."""
    text = f"nnlint diagnostic {code}"
    return {
        "id": code,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": text},
        "defaultConfiguration": {"level": _SARIF_LEVEL[severity]},
    }


def _sarif_result(finding: _Finding, index: int, fingerprints: _Fingerprints) -> dict[str, Any]:
    d = finding.diagnostic
    line_text = finding.line_text(d.span.line) or ""
    return {
        "ruleId": d.code,
        "ruleIndex": index,
        "level": _SARIF_LEVEL[d.severity],
        "message": {"text": d.message or d.code},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact_location(finding.path),
                    "region": _sarif_region(finding),
                }
            }
        ],
        "partialFingerprints": {
            FINGERPRINT_KEY: fingerprints.next(
                d.code, finding.path, line_text.strip(), d.span.column, d.message
            )
        },
        "properties": {"data": d.data},
        **_sarif_related(finding),
        **_sarif_fixes(finding),
    }


def _sarif_related(finding: _Finding) -> dict[str, Any]:
    """SARIF §3.27.22 ``relatedLocations``: the block calls an error inside a block came
    from, each with an ``id`` and a message (§3.28)."""
    related = finding.diagnostic.related
    if not related:
        return {}
    locations = []
    for index, r in enumerate(related):
        locations.append(
            {
                "id": index,
                "physicalLocation": {
                    "artifactLocation": _artifact_location(finding.path),
                    "region": _span_region(finding, r.span),
                },
                "message": {"text": r.message},
            }
        )
    return {"relatedLocations": locations}


def _sarif_fixes(finding: _Finding) -> dict[str, Any]:
    """SARIF §3.55 ``fixes``: one fix whose artifact change replaces each edit's region
    (UTF-16 columns, like every region here); the applicability is a property."""
    fix = finding.diagnostic.autofix
    if fix is None:
        return {}
    replacements = []
    for edit in fix.edits:
        replacement: dict[str, Any] = {"deletedRegion": _span_region(finding, edit.span)}
        if edit.content:
            replacement["insertedContent"] = {"text": edit.content}
        replacements.append(replacement)
    return {
        "fixes": [
            {
                "description": {"text": fix.description},
                "artifactChanges": [
                    {
                        "artifactLocation": _artifact_location(finding.path),
                        "replacements": replacements,
                    }
                ],
                "properties": {"applicability": fix.applicability},
            }
        ]
    }


def _sarif_region(finding: _Finding) -> dict[str, int]:
    """1-based region with an exclusive end column, in UTF-16 code units."""
    span = finding.diagnostic.span
    start_line = max(span.line, 1)
    end_line = max(span.end_line, start_line)
    start_column = _utf16_column(finding.line_text(start_line), span.column)
    end_column = _utf16_column(finding.line_text(end_line), span.end_column)
    if end_line == start_line:
        end_column = max(end_column, start_column)
    return {
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    }


def _span_region(finding: _Finding, span: Span) -> dict[str, int]:
    """``span`` of ``finding``'s file as a SARIF region (UTF-16 columns): a related
    location or a fix's edit, taken as it is (the finding's own span: :func:`_sarif_region`)."""
    return {
        "startLine": span.line,
        "startColumn": _utf16_column(finding.line_text(span.line), span.column),
        "endLine": span.end_line,
        "endColumn": _utf16_column(finding.line_text(span.end_line), span.end_column),
    }


def _utf16_column(line: str | None, column: int) -> int:
    """Convert a 1-based code-point column on ``line`` to a 1-based UTF-16 column.

    Characters outside the Basic Multilingual Plane (most emoji) take two code
    units. Without the source line the column is returned unchanged (but ≥ 1).
    """
    column = max(column, 1)
    if not line:
        return column
    prefix = line[: column - 1]
    beyond = column - 1 - len(prefix)
    return len(prefix.encode("utf-16-le")) // 2 + beyond + 1


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")


def _artifact_location(path: str) -> dict[str, str]:
    """A relative, percent-encoded URI under ``%SRCROOT%`` (absolute paths become ``file:``)."""
    posix = path.replace("\\", "/")
    if posix.startswith("/") or _WINDOWS_DRIVE.match(posix):
        root = "file://" if posix.startswith("/") else "file:///"
        return {"uri": root + quote(posix, safe="/:")}
    while posix.startswith("./"):
        posix = posix[2:]
    # quote() leaves only unreserved characters and "/", so ":" in a first segment
    # (which would read as a scheme) and spaces, "%", "#", "?" are all encoded.
    return {"uri": quote(posix, safe="/"), "uriBaseId": "%SRCROOT%"}


class _Fingerprints:
    """``partialFingerprints`` values: a sha256 over the finding's identity.

    The identity is (rule id, path, stripped source line, column, message), so the
    value survives re-runs and edits elsewhere in the file, and two findings on one
    line differ by rule, column or message. Exact duplicates get ``:2``, ``:3`` …,
    the way GitHub numbers its own ``primaryLocationLineHash``.
    """

    def __init__(self) -> None:
        self._seen: Counter = Counter()

    def next(self, rule_id: str, path: str, line: str, column: int, message: str) -> str:
        payload = "\x00".join([rule_id, path, line, str(column), message])
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        self._seen[digest] += 1
        return f"{digest}:{self._seen[digest]}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_INLINE = [
    (_LINK, r"\1 (\2)"),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
]


def _markdown_to_text(markdown: str) -> str:
    """A plain-text reading of a rule doc for SARIF ``help.text``.

    Headings lose their ``#``, code fences are dropped (their lines kept, indented),
    inline code, bold markers and link syntax are unwrapped. Good enough for the
    short, regular doc pages rules carry.
    """
    out: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            out.append(f"    {line}".rstrip())
            continue
        line = _HEADING.sub("", line)
        for pattern, replacement in _INLINE:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    return "\n".join(out).strip()


# --------------------------------------------------------------------------- github


def _render_github(results: Sequence[FileResult], *, target: str | None, errors: int = 0) -> str:
    """A ``::error``/``::warning``/``::notice`` workflow command for the findings GitHub
    shows (10 of each type per step, :mod:`nnlint.github`), a line counting the others,
    then the summary."""
    from nnlint.github import ANNOTATIONS_PER_TYPE, split_annotations

    shown, rest = split_annotations(_findings(results), lambda f: f.diagnostic.severity)
    lines = [_github_command(f) for f in shown]
    if rest:
        lines.append(
            f"{_plural(len(rest), 'more finding')} not annotated (GitHub shows "
            f"{ANNOTATIONS_PER_TYPE} per type per step): listed in the job summary when "
            f"$GITHUB_STEP_SUMMARY is set, and all in --format sarif"
        )
    return "\n".join([*lines, _summary(results, target, errors)])


_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def _github_command(finding: _Finding) -> str:
    d = finding.diagnostic
    span = d.span
    properties = {
        "file": finding.path,
        "line": span.line,
        "col": span.column,
        "endLine": span.end_line,
        "endColumn": span.end_column,
        "title": f"{d.code} [{d.severity}]",
    }
    joined = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    # the annotation's message holds the notes on lines of their own, as the text does
    message = "\n".join([d.message, *(f"note: {what}" for what in _notes(finding))])
    return f"::{_GITHUB_COMMAND[d.severity]} {joined}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    """actions/toolkit ``escapeData`` (``%``, ``\\r``, ``\\n``), then :func:`visible` for
    the other control characters (ESC would reach the log viewer's terminal emulation)."""
    return visible(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    """actions/toolkit ``escapeProperty``: ``escapeData`` plus ``:`` and ``,``."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
