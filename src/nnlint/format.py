"""``nnlint format``: one canonical layout for spec files.

The layout (the README's "Formatting" section shows it):

- a body (``model``, ``block``, ``train``, …) is indented by four spaces;
- in a run of statements — the statements of one body between blank lines —
  the ``=`` (or ``<=`` in ``budget``) of every line that starts with a statement
  is aligned one space after the longest name; ``input`` lines, comment lines
  and continuation lines neither take part nor break the run;
- one space around ``->``, the binary operators, the statement ``=`` and after
  commas and ``;``; none inside brackets, before ``(`` in a call, around the
  ``=`` of an option (``stride=2``) or after a unary minus; ``x: [3, 32, 32]``;
- a line that starts with ``->`` continues its chain and is indented so that its
  ``->`` sits under the first ``->`` of the statement's first line;
- line breaks are the author's: formatting never moves code or a comment to
  another line (so a ``# nnlint: ignore[...]`` keeps the line it silences);
  it only drops blank lines at the start and end of the file and of a body and
  inside a chain, keeps at most one blank line elsewhere, and puts exactly one
  blank line after each top-level ``}``;
- a comment on its own line is indented like the code around it; a trailing
  comment keeps its column when that leaves at least two spaces after the code,
  else it moves to two spaces after the code; the text of every comment
  (``# nnlint:`` suppressions, ``# expect:`` lines) is kept as written;
- trailing whitespace goes, tabs in indentation become spaces; the line endings
  (LF or CRLF) and a byte-order mark are kept.

The formatter works from the parse tree's spans (which lines belong to which
statement, where each body starts and ends) and the source text (the tokens of a
line and its comments, which are not in the AST). It refuses to return a result
whose AST differs from the input's (spans aside): meaning never changes.
"""

from __future__ import annotations

import bisect
import difflib
import os
import re
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Span, SpecError
from nnlint.parse import parse
from nnlint.sanitize import visible

__all__ = ["FormatError", "format_text", "run"]

INDENT = "    "
#: Spaces between code and a trailing comment that has to move.
COMMENT_GAP = 2

# The grammar's terminals (grammar/nnlint.lark), for splitting a line into tokens.
# A spec has no string literals, so ``#`` always starts a comment.
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:[kMGT](?![A-Za-z0-9_]))?"
_PUNCT = r"->|<=|>=|[{}()\[\],=:;*+\-/<>]"
_MODEL_TOKEN = re.compile(
    rf"(?P<ws>[\t \f\r]+)|(?P<comment>#[^\n]*)|(?P<num>{_NUMBER})"
    rf"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>{_PUNCT})"
)
# In a section a value may be a dashed word (``edge-tpu``): one SYMBOL token.
_SECTION_TOKEN = re.compile(
    rf"(?P<ws>[\t \f\r]+)|(?P<comment>#[^\n]*)|(?P<num>{_NUMBER})"
    rf"|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)|(?P<punct>{_PUNCT})"
)
_OPERAND_END = frozenset({"num", "word"})


class FormatError(Exception):
    """The formatter would change the spec's meaning: a bug, never written out."""


@attrs.frozen
class _Token:
    kind: str  # num | word | punct
    text: str
    column: int  # 0-based character column in the source line


@attrs.define
class _Line:
    number: int  # 1-based
    tokens: list[_Token]
    comment: str | None
    comment_column: int  # 0-based, -1 without a comment
    depth: int = 0  # brace depth before the first token
    out: str = ""  # the formatted code (no indentation, no comment)
    indent: int = 0


# --------------------------------------------------------------------------- layout


def format_text(text: str) -> str:
    """The canonical layout of ``text``.

    Raises :class:`~nnlint.diagnostics.SpecError` (NN001) for a syntax error and
    :class:`FormatError` if the result would not parse to the same AST.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text.removeprefix("\ufeff")
    spec, _ = parse(body)
    newline = "\r\n" if body.split("\n", 1)[0].endswith("\r") else "\n"
    formatted = _layout(spec, body)
    _assert_same_meaning(spec, body, formatted)
    if newline != "\n":
        formatted = formatted.replace("\n", newline)
    return bom + formatted


def _layout(spec: ast.Spec, text: str) -> str:
    raw_lines = text.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    sections = sorted(s.span for s in spec.sections)
    lines = [_tokenize(i + 1, raw, _in_section(sections, i + 1)) for i, raw in enumerate(raw_lines)]

    statements = _statements(spec)
    # The first token of every assignment and section entry: the names to align.
    starts = {(s.line, s.column - 1) for s in _named(spec)}
    inside: dict[int, Span] = {}  # continuation line number -> its statement's span
    for s in statements:
        for number in range(s.line + 1, s.end_line + 1):
            inside[number] = s

    # Brace depth before each line's first token.
    depth = 0
    for line in lines:
        line.depth = depth
        for tok in line.tokens:
            if tok.text == "{":
                depth += 1
            elif tok.text == "}":
                depth -= 1

    # Render each code line's tokens; mark the lines that start a statement.
    aligned: dict[int, str] = {}  # line number -> statement name to align
    for line in lines:
        if line.tokens:
            first = line.tokens[0]
            if line.depth > 0 and (line.number, first.column) in starts and len(line.tokens) > 1:
                aligned[line.number] = first.text

    # Alignment runs: the statement lines of one body between blank lines.
    width: dict[int, int] = {}
    run: list[int] = []

    def close_run() -> None:
        longest = max((len(aligned[n]) for n in run), default=0)
        for n in run:
            width[n] = longest
        run.clear()

    for line in lines:
        if not line.tokens:
            if line.comment is None and line.number not in inside:
                close_run()  # a blank line
            continue
        if line.tokens[0].text == "}":
            close_run()
        if line.number in aligned:
            run.append(line.number)
        if any(t.text in ("{", "}") for t in line.tokens):
            close_run()  # a body starts or ends on this line
    close_run()

    starting: dict[int, list[Span]] = {}
    for s in statements:
        if s.end_line > s.line:
            starting.setdefault(s.line, []).append(s)

    first_arrow: dict[Span, int] = {}  # statement span -> column of its continuation `->`
    for line in lines:
        if not line.tokens:
            continue
        first = line.tokens[0]
        if first.text == "}":
            line.indent = max(line.depth - 1, 0) * len(INDENT)
        elif line.number in inside and first.text == "->":
            line.indent = first_arrow.get(inside[line.number], len(INDENT) * line.depth)
        else:
            line.indent = len(INDENT) * line.depth
        line.out, columns = _render_tokens(line.tokens, width.get(line.number))
        if line.number in inside:
            continue
        # Where this line's statements continue: under their first `->` on this line.
        for s in starting.get(line.number, ()):
            mine = [i for i, t in enumerate(line.tokens) if t.column >= s.column - 1]
            arrows = [columns[i] for i in mine if line.tokens[i].text == "->"]
            end = max((columns[i] + len(line.tokens[i].text) for i in mine), default=0)
            first_arrow[s] = line.indent + (arrows[0] if arrows else end + 1)

    # Emit, with the blank-line rules.
    out: list[str] = []
    pending_blank = False
    after_top_level_close = False
    previous: _Line | None = None
    for line in lines:
        if not line.tokens and line.comment is None:
            if line.number not in inside:
                pending_blank = True
            continue
        opens_body = previous is not None and previous.tokens and previous.tokens[-1].text == "{"
        closes_body = bool(line.tokens) and line.tokens[0].text == "}"
        if out and (
            after_top_level_close or (pending_blank and not opens_body and not closes_body)
        ):
            out.append("")
        pending_blank = False
        if line.tokens:
            indent = line.indent
            code = " " * indent + line.out
        else:  # a comment on its own line: indented like the code around it
            if line.number in inside:
                # a comment between the lines of a chain sits where its `->` sits
                indent = first_arrow.get(inside[line.number], len(INDENT) * line.depth)
            else:
                indent = len(INDENT) * line.depth
            code = ""
        if line.comment is not None:
            if code:
                column = max(line.comment_column, len(code) + COMMENT_GAP)
                code = code.ljust(column) + line.comment
            else:
                code = " " * indent + line.comment
        out.append(code.rstrip())
        after_top_level_close = (
            bool(line.tokens) and line.tokens[-1].text == "}" and _depth_after(line) == 0
        )
        previous = line
    return "\n".join(out) + "\n" if out else ""


def _depth_after(line: _Line) -> int:
    opened = sum(t.text == "{" for t in line.tokens)
    return line.depth + opened - sum(t.text == "}" for t in line.tokens)


def _in_section(sections: list[Span], number: int) -> bool:
    i = bisect.bisect_right([s.line for s in sections], number) - 1
    return i >= 0 and sections[i].line <= number <= sections[i].end_line


def _statements(spec: ast.Spec) -> list[Span]:
    """The span of every statement and section entry, in source order."""
    spans: list[Span] = []
    for item in (*spec.models, *spec.blocks):
        spans += [stmt.span for stmt in item.body]
    for section in spec.sections:
        spans += [entry.span for entry in section.entries]
    return sorted(spans)


def _named(spec: ast.Spec) -> list[Span]:
    """Where each assignment's target and each section entry's key is."""
    spans = [
        stmt.target_span
        for item in (*spec.models, *spec.blocks)
        for stmt in item.body
        if isinstance(stmt, ast.Assign)
    ]
    return spans + [entry.key_span for section in spec.sections for entry in section.entries]


def _tokenize(number: int, raw: str, section: bool) -> _Line:
    """One source line -> its tokens and its comment.

    A line that holds any part of a section is split with the section's rules (a
    dashed word is one token). Where that line also holds model code, a dashed
    ``a-b`` stays as written: the text of a token is never changed, only the
    spaces between tokens.
    """
    pattern = _SECTION_TOKEN if section else _MODEL_TOKEN
    tokens: list[_Token] = []
    comment, comment_column = None, -1
    position = 0
    while position < len(raw):
        m = pattern.match(raw, position)
        if m is None:  # cannot happen for text that parsed; keep it verbatim
            raise FormatError(f"line {number}: unexpected character {raw[position]!r}")
        kind = m.lastgroup
        if kind == "comment":
            comment, comment_column = m.group().rstrip(), m.start()
            break
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), m.start()))
        position = m.end()
    return _Line(number, tokens, comment, comment_column)


def _render_tokens(tokens: Sequence[_Token], align: int | None) -> tuple[str, list[int]]:
    """The tokens of one line with canonical spacing, and each token's column.

    ``align``: the width the line's first token (a statement's name) is padded to.
    """
    parts: list[str] = []
    columns: list[int] = []
    length = 0
    parens = 0
    previous: _Token | None = None
    unary = False  # the previous token is a unary minus
    for i, tok in enumerate(tokens):
        text = tok.text
        if previous is None:
            space = ""
        elif i == 1 and align is not None:
            space = " " * (align - len(previous.text) + 1)
        else:
            space = _space(previous, tok, parens, unary)
        unary = text == "-" and (
            previous is None
            or (previous.kind not in _OPERAND_END and previous.text not in (")", "]"))
        )
        length += len(space)
        columns.append(length)
        parts.append(space + text)
        length += len(text)
        if text in ("(", "["):
            parens += 1
        elif text in (")", "]"):
            parens = max(parens - 1, 0)
        previous = tok
    return "".join(parts), columns


def _space(previous: _Token, tok: _Token, parens: int, unary: bool) -> str:
    text, before = tok.text, previous.text
    if text in (",", ")", "]", ";", ":"):
        return ""
    if before in ("(", "[") or unary:
        return ""
    if text == "(" and previous.kind == "word":
        return ""  # a call, a merge, a block's parameters
    if parens and (text == "=" or before == "="):
        return ""  # an option: stride=2; a parameter's default: d=2
    if text == "}" and before == "{":
        return ""
    return " "


# --------------------------------------------------------------------------- meaning


_SPAN_FIELDS = frozenset({"span", "name_span", "target_span", "key_span"})


def _shape(node: Any) -> Any:
    """The AST without positions: what the spec means."""
    if isinstance(node, tuple):
        return tuple(_shape(n) for n in node)
    if attrs.has(type(node)):
        return (type(node).__name__,) + tuple(
            (f.name, _shape(getattr(node, f.name)))
            for f in attrs.fields(type(node))
            if f.name not in _SPAN_FIELDS
        )
    return node


def _lines_of_code(text: str) -> list[tuple[str, ...]]:
    """Each non-blank line's tokens and comment: formatting keeps them line for line."""
    out = []
    for raw in text.split("\n"):
        words = tuple(re.findall(r"#.*|[^\s#]+", raw.rstrip()))
        if words:
            out.append(
                ("".join(w for w in words if not w.startswith("#")),)
                + tuple(w for w in words if w.startswith("#"))
            )
    return out


def _assert_same_meaning(spec: ast.Spec, before: str, after: str) -> None:
    try:
        again, _ = parse(after)
    except SpecError as exc:
        raise FormatError(f"the formatted text does not parse: {exc}") from None
    if _shape((spec.models, spec.blocks, spec.sections)) != _shape(
        (again.models, again.blocks, again.sections)
    ):
        raise FormatError("the formatted text parses to a different spec")
    if _lines_of_code(before) != _lines_of_code(after):
        raise FormatError("formatting moved code or a comment to another line")


# --------------------------------------------------------------------------- command


@attrs.frozen
class _Options:
    check: bool
    diff: bool


def run(args: Any) -> int:
    """``nnlint format [PATHS] [--check] [--diff]`` (the CLI hands over its arguments)."""
    from nnlint import cli
    from nnlint.config import ConfigResolver
    from nnlint.files import display_path

    options = _Options(check=args.check, diff=args.diff)
    paths = args.paths or ["."]
    if "-" in paths:
        if len(paths) > 1:
            raise cli.UsageError("`-` (stdin) cannot be combined with other paths")
        return _format_stdin(options, args.stdin_filename or "-")
    errors: list[str] = []
    resolver = ConfigResolver(isolated=args.isolated, config_file=args.config)
    files = cli._collect(paths, resolver, args.force_exclude, errors)
    changed, unchanged, failed = [], 0, 0
    for path in files:
        outcome = _format_file(path, display_path(path), options)
        if outcome is None:
            failed += 1
        elif outcome:
            changed.append(display_path(path))
        else:
            unchanged += 1
    for message in errors:
        cli._error(message)
    if not files and not errors:
        cli._warning("no .nn files found under the given paths")
    elif files:
        _summary(options, changed, unchanged, failed)
    if errors or failed:
        return cli.EXIT_ERROR
    return cli.EXIT_FINDINGS if changed and (options.check or options.diff) else cli.EXIT_OK


def _summary(options: _Options, changed: list[str], unchanged: int, failed: int) -> None:
    """ruff's wording: "2 files would be reformatted, 1 file already formatted"."""

    def files(n: int) -> str:
        return f"{n} file" + ("" if n == 1 else "s")

    dry = options.check or options.diff
    if options.check and not options.diff:
        for path in changed:
            print(f"Would reformat: {visible(path)}")
    parts = []
    if changed:
        parts.append(f"{files(len(changed))} {'would be reformatted' if dry else 'reformatted'}")
    if unchanged:
        parts.append(f"{files(unchanged)} {'already formatted' if dry else 'left unchanged'}")
    if failed:
        parts.append(f"{files(failed)} not formatted (errors above)")
    print(", ".join(parts), file=sys.stderr if options.diff else sys.stdout)


def _syntax_error(display: str, text: str, diagnostics: list[Diagnostic]) -> None:
    """The located diagnostics, exactly as ``nnlint check`` prints them, on stderr."""
    from nnlint import cli
    from nnlint.diagnostics import FileResult
    from nnlint.emit import render
    from nnlint.rules import all_meta

    result = FileResult(display, text, tuple(d.with_path(display) for d in diagnostics))
    color = cli._use_color(False) and sys.stderr.isatty()
    print(render("text", [result], all_meta(), color=color), file=sys.stderr)


def _formatted(display: str, data: bytes) -> tuple[str, str] | None:
    """(source, formatted) or None after printing why (not UTF-8, a syntax error, a bug)."""
    from nnlint import cli
    from nnlint.check import decode

    text, problem = decode(data)
    if problem is not None:
        _syntax_error(display, "", [problem])
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        text = "\ufeff" + text
    try:
        return text, format_text(text)
    except SpecError as exc:
        _syntax_error(display, text.removeprefix("\ufeff"), exc.diagnostics)
    except (FormatError, RecursionError) as exc:
        cli._error(f"{display}: internal error: cannot format: {exc}")
    return None


def _format_file(path: Path, display: str, options: _Options) -> bool | None:
    """True if the file changes (or would), False if it is formatted, None on an error."""
    from nnlint import cli
    from nnlint.files import SPEC_LIMIT, Refused, read_regular

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            cli._error(f"{display}: not a regular file; nnlint formats regular files only")
            return None
        data = read_regular(path, limit=SPEC_LIMIT, what="specs")
    except Refused as exc:
        cli._error(f"{display}: {exc}")
        return None
    except OSError as exc:
        cli._error(f"{display}: cannot read: {exc.strerror or exc}")
        return None
    pair = _formatted(display, data)
    if pair is None:
        return None
    text, formatted = pair
    if formatted == text:
        return False
    if options.diff:
        sys.stdout.write(_unified_diff(text, formatted, display))
        sys.stdout.flush()
    if options.check or options.diff:
        return True
    try:
        _replace(path, formatted, st.st_mode)
    except OSError as exc:
        cli._error(f"{display}: cannot write: {exc.strerror or exc}")
        return None
    return True


def _replace(path: Path, text: str, mode: int) -> None:
    """Write ``text`` over ``path`` atomically, keeping the file's permission bits; a
    symbolic link keeps pointing at the file, which is the one replaced."""
    from nnlint.atomic import write_atomic

    write_atomic(os.path.realpath(path), text, mode=mode)


def unified_diff(before: str, after: str, fromfile: str, tofile: str) -> str:
    """A unified diff of two versions of a spec, safe to print: file names and every
    line of source pass through :func:`nnlint.sanitize.visible` (tabs kept), and a last
    line without a newline gets one. Used by ``format --diff`` and ``check --fix --diff``."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=visible(fromfile, keep="\t"),
        tofile=visible(tofile, keep="\t"),
    )
    return "".join(visible(line.rstrip("\r\n"), keep="\t") + "\n" for line in lines)


def _unified_diff(before: str, after: str, display: str) -> str:
    return unified_diff(before, after, f"{display}\t(original)", f"{display}\t(formatted)")


def _format_stdin(options: _Options, display: str) -> int:
    """``nnlint format -``: the formatted text on stdout (editors pipe through it)."""
    from nnlint import cli

    try:
        data = cli._read_stdin()
    except OSError as exc:
        cli._error(f"-: cannot read stdin: {exc.strerror or exc}")
        return cli.EXIT_ERROR
    pair = _formatted(display, data)
    if pair is None:
        return cli.EXIT_ERROR
    text, formatted = pair
    if options.diff:
        sys.stdout.write(_unified_diff(text, formatted, display))
    elif options.check:
        if formatted != text:
            print(f"Would reformat: {visible(display)}")
    else:
        sys.stdout.write(formatted)
    sys.stdout.flush()
    changed = formatted != text
    return cli.EXIT_FINDINGS if changed and (options.check or options.diff) else cli.EXIT_OK
