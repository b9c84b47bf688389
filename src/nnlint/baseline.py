"""Baselines: adopt nnlint in a repository with existing findings, fail only on new ones.

``nnlint check --write-baseline FILE`` records every current finding;
``nnlint check --baseline FILE`` (or ``baseline = "FILE"`` in the configuration) drops
the findings the file records and reports the entries that no longer match a finding
("stale": the finding was fixed, so the entry should go).

A finding is keyed on what survives edits elsewhere in the file, never on its line:

- ``path``: the spec's path relative to the baseline file's folder (``/`` separators);
- ``code``: the rule's code;
- ``layer``: the id of the layer the finding points at (``null`` outside the model);
- ``fingerprint``: 16 hex digits of SHA-256 over the code, the layer and the source
  text under the finding's span with runs of whitespace collapsed. The message is left
  out on purpose: it quotes figures (bytes, FLOPs) that change when an unrelated layer
  changes, and the finding is still the same one.

Matching is count-aware: the file holds one entry per finding, so two identical
findings in a file need two entries, and a third one is new.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from nnlint.diagnostics import Diagnostic, FileResult

__all__ = [
    "BASELINE_VERSION",
    "Baseline",
    "BaselineError",
    "BaselineOutcome",
    "Key",
    "load_baseline",
    "write_baseline",
]

BASELINE_VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be read or written: one line, exit 2."""


@attrs.frozen(order=True)
class Key:
    """What identifies a finding across edits (see the module docstring)."""

    path: str
    code: str
    layer: str | None
    fingerprint: str

    def describe(self) -> str:
        where = f" at layer `{self.layer}`" if self.layer else ""
        return f"{self.path}: {self.code}{where}"

    def as_json(self) -> dict[str, str | None]:
        return {
            "path": self.path,
            "code": self.code,
            "layer": self.layer,
            "fingerprint": self.fingerprint,
        }


def relative_path(display: str, root: Path) -> str:
    """``display`` (a checked file's shown path) relative to ``root``, ``/`` separators.

    Stdin (``-``) keeps its name; so a baseline in ``ci/`` names ``../specs/m.nn`` and
    works from any working folder. A file on another drive keeps its absolute path."""
    if display == "-":
        return display
    absolute = os.path.abspath(display)
    try:
        relative = os.path.relpath(absolute, os.path.abspath(root))
    except ValueError:  # another drive on Windows
        relative = absolute
    return relative.replace(os.sep, "/")


def _span_text(source: str | None, d: Diagnostic) -> str:
    """The source under the finding's span, whitespace runs collapsed to one space."""
    if source is None:
        return ""
    lines = source.split("\n")
    span = d.span
    if not 1 <= span.line <= len(lines):
        return ""
    last = min(span.end_line, len(lines))
    if last == span.line:
        text = lines[span.line - 1][span.column - 1 : span.end_column - 1]
    else:
        parts = [lines[span.line - 1][span.column - 1 :]]
        parts += lines[span.line : last - 1]
        parts.append(lines[last - 1][: span.end_column - 1])
        text = "\n".join(parts)
    return " ".join(text.split())


def fingerprint(d: Diagnostic, source: str | None) -> str:
    """16 hex digits of SHA-256 over code, layer and the span's text (no line, no message)."""
    payload = "\x00".join([d.code, d.layer or "", _span_text(source, d)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def key_of(result: FileResult, d: Diagnostic, root: Path) -> Key:
    return Key(relative_path(result.path, root), d.code, d.layer, fingerprint(d, result.source))


@attrs.frozen
class BaselineOutcome:
    """What a baseline did to one run: the kept results, how many findings it
    suppressed, and its stale entries (recorded findings that no longer occur)."""

    results: list[FileResult]
    suppressed: int
    stale: list[Key]


@attrs.frozen
class Baseline:
    """A loaded baseline file: the recorded keys, each with how often it occurs."""

    path: Path
    entries: Counter

    @property
    def root(self) -> Path:
        return self.path.parent

    def apply(self, results: Sequence[FileResult]) -> BaselineOutcome:
        """Drop the recorded findings from ``results`` (count-aware).

        Entries of files not in ``results`` are neither used nor stale: a run over part
        of the repository says nothing about the other files."""
        remaining = Counter(self.entries)
        kept: list[FileResult] = []
        suppressed = 0
        checked: set[str] = set()
        for result in results:
            checked.add(relative_path(result.path, self.root))
            survivors = []
            for d in result.diagnostics:
                key = key_of(result, d, self.root)
                if remaining[key] > 0:
                    remaining[key] -= 1
                    suppressed += 1
                else:
                    survivors.append(d)
            kept.append(attrs.evolve(result, diagnostics=tuple(survivors)))
        stale = sorted(
            key for key, count in remaining.items() if key.path in checked for _ in range(count)
        )
        return BaselineOutcome(kept, suppressed, stale)


def _entries(path: Path, data: object) -> Counter:
    """Validate the JSON document; every problem names the file."""
    shown = str(path)
    if not isinstance(data, dict):
        raise BaselineError(f"{shown}: not an nnlint baseline (expected a JSON object)")
    version = data.get("version")
    if version != BASELINE_VERSION:
        raise BaselineError(
            f"{shown}: baseline version {version!r} is not supported (expected "
            f"{BASELINE_VERSION}); rewrite it with --write-baseline"
        )
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise BaselineError(f"{shown}: `entries` must be a list")
    counts: Counter = Counter()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BaselineError(f"{shown}: entries[{i}] must be an object")
        fields = {}
        for name in ("path", "code", "fingerprint"):
            value = entry.get(name)
            if not isinstance(value, str) or not value:
                raise BaselineError(f"{shown}: entries[{i}].{name} must be a non-empty string")
            fields[name] = value
        layer = entry.get("layer")
        if layer is not None and not isinstance(layer, str):
            raise BaselineError(f"{shown}: entries[{i}].layer must be a string or null")
        counts[Key(fields["path"], fields["code"], layer, fields["fingerprint"])] += 1
    return counts


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file; raises :class:`BaselineError` with a one-line reason."""
    from nnlint.files import SPEC_LIMIT, Refused, read_regular

    path = Path(os.path.abspath(path))
    try:
        text = read_regular(path, limit=SPEC_LIMIT, what="baselines").decode("utf-8")
    except Refused as exc:
        raise BaselineError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise BaselineError(
            f"{path}: no such baseline file (create it with --write-baseline)"
        ) from None
    except IsADirectoryError:
        raise BaselineError(f"{path}: is a folder, not a baseline file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BaselineError(f"{path}: cannot read the baseline: {reason or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path}:{exc.lineno}:{exc.colno}: the baseline is not valid JSON: {exc.msg}"
        ) from None
    return Baseline(path, _entries(path, data))


def baseline_document(results: Iterable[FileResult], root: Path) -> dict:
    """The baseline file's JSON: one entry per finding, sorted; the message is kept for
    a reader of the file and is not used for matching."""
    rows = []
    for result in results:
        for d in result.diagnostics:
            key = key_of(result, d, root)
            rows.append({**key.as_json(), "message": d.message})
    rows.sort(key=lambda r: (r["path"], r["code"], r["layer"] or "", r["fingerprint"]))
    return {"version": BASELINE_VERSION, "tool": "nnlint", "entries": rows}


def write_baseline(path: str | os.PathLike[str], results: Sequence[FileResult]) -> int:
    """Write every finding of ``results`` to ``path`` (atomically); return how many."""
    from nnlint.atomic import write_atomic

    target = Path(os.path.abspath(path))
    if target.is_dir():
        raise BaselineError(f"{path}: is a folder; --write-baseline needs a file name")
    document = baseline_document(results, target.parent)
    try:
        write_atomic(target, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise BaselineError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None
    return len(document["entries"])
