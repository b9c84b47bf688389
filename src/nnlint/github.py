"""GitHub Actions: how many annotations a step shows, and the job summary for the rest.

GitHub turns ``::error``/``::warning``/``::notice`` workflow commands into annotations
on the changed files, but shows at most 10 of each type per step (and 50 per job);
the ones beyond are dropped without a word (GitHub's answer in community discussion
https://github.com/orgs/community/discussions/26680). ``--format github`` therefore
annotates the first 10 findings of each severity and lists the others in the job
summary: the Markdown file ``$GITHUB_STEP_SUMMARY`` names, which a step appends to
and GitHub shows on the run's summary page, up to 1 MiB per step (GitHub Docs,
"Workflow commands for GitHub Actions", *Adding a job summary*:
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands).
SARIF output is never capped: code scanning takes every result.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from nnlint.diagnostics import Diagnostic, FileResult, Severity
from nnlint.sanitize import visible

__all__ = [
    "ANNOTATIONS_PER_TYPE",
    "SUMMARY_LIMIT_BYTES",
    "append_step_summary",
    "split_annotations",
    "step_summary",
    "unannotated",
]

#: Annotations of one type (error, warning, notice) GitHub shows per step.
ANNOTATIONS_PER_TYPE = 10
#: The most a step may write to its summary; nnlint stays below it.
SUMMARY_LIMIT_BYTES = 1024 * 1024

T = TypeVar("T")


def split_annotations(
    items: Iterable[T], severity: Callable[[T], Severity]
) -> tuple[list[T], list[T]]:
    """The first :data:`ANNOTATIONS_PER_TYPE` items of each severity (in order), and the rest."""
    seen: Counter = Counter()
    shown: list[T] = []
    rest: list[T] = []
    for item in items:
        level = severity(item)
        seen[level] += 1
        (shown if seen[level] <= ANNOTATIONS_PER_TYPE else rest).append(item)
    return shown, rest


def unannotated(results: Sequence[FileResult]) -> list[Diagnostic]:
    """The findings ``--format github`` does not annotate, in output order."""
    everything = [
        d.with_path(d.path if d.path not in ("", "<unknown>") else r.path)
        for r in results
        for d in r.diagnostics
    ]
    return split_annotations(everything, lambda d: d.severity)[1]


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, no table or HTML syntax."""
    text = visible(" ".join(text.split()))
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`")):
        text = text.replace(old, new)
    return text


def step_summary(rest: Sequence[Diagnostic], limit: int = SUMMARY_LIMIT_BYTES) -> str:
    """A Markdown section listing ``rest`` as a table (empty when there is nothing to list).

    Rows that would take the section past ``limit`` bytes are counted, not listed."""
    if not rest:
        return ""
    head = [
        f"### nnlint: {len(rest)} more finding{'s' if len(rest) != 1 else ''}",
        "",
        f"GitHub shows {ANNOTATIONS_PER_TYPE} annotations of each type per step; "
        "these findings were not annotated.",
        "",
        "| Location | Code | Severity | Message |",
        "|---|---|---|---|",
    ]
    text = "\n".join(head) + "\n"
    size = len(text.encode("utf-8"))
    budget = limit - 200  # room for the closing line
    for i, d in enumerate(rest):
        row = (
            f"| {_cell(d.path)}:{d.span.line}:{d.span.column} | {d.code} | {d.severity} "
            f"| {_cell(d.message)} |\n"
        )
        size += len(row.encode("utf-8"))
        if size > budget:
            text += f"\n{len(rest) - i} more not listed (the summary is limited to 1 MiB).\n"
            break
        text += row
    return text + "\n"


def append_step_summary(path: str, text: str) -> None:
    """Append ``text`` to the regular file ``path``; never truncates, never follows a
    FIFO or a device. Raises :class:`OSError` (``ValueError`` for a non-regular file)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = text.encode("utf-8")
        while data:
            written = os.write(fd, data)
            data = data[written:]
    finally:
        os.close(fd)
