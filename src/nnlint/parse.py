"""Stage 1: text -> AST.

The grammar lives in ``grammar/nnlint.lark``; one Lark ``Transformer`` turns the
parse tree into the attrs classes of :mod:`nnlint.ast`, keeping every node's span.
Syntax errors become NN001 diagnostics naming the line, the column, the text
found and what was expected. Nothing after this module sees a Lark type.

Building the LALR tables from the grammar takes ~30 ms, more than checking a
typical spec, so the built parser is cached per user (see :func:`_parser`): the
file is keyed by a hash of the grammar, the parser options and the Lark and
Python versions, so editing the grammar or upgrading Lark simply makes a new
entry; a missing, unreadable or unwritable cache only costs the 30 ms.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import re
import stat
import sys
import threading
import types
import unicodedata
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

import attrs
import lark
import lark.grammar
import lark.lexer
import lark.parse_tree_builder
import lark.parsers.lalr_analysis

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Severity, Span, SpecError, error, source_lines
from nnlint.resources import data_dir
from nnlint.sanitize import BIDI_CONTROLS
from nnlint.suggest import suggest

# Parse trees deeper than this (``- - - … 1``, ``1 + 1 + … + 1`` with hundreds of
# terms) are reported as NN001 rather than risking Python's recursion limit later.
MAX_NESTING = 200

# Sizes beyond this many decimal digits are kept as ``inf``: they can only be a
# mistake, and an exact integer of a million digits would cost time and memory.
_MAX_EXPONENT = 60
_SI_EXPONENT = {"k": 3, "M": 6, "G": 9, "T": 12}  # SI prefix -> power of ten

# What a person reads in "expected ..." instead of Lark's terminal names.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "SYMBOL": "a value",
    "UNIT": "a unit",
    "CMP": "'=' or '<='",
    "SECTION": "a section",
    "_NL": "end of line",
    "_ARROW": "'->'",
    "$END": "end of file",
}


_LARK_OPTIONS = {
    "parser": "lalr",
    "lexer": "contextual",
    "keep_all_tokens": True,  # ToAst computes spans from the keywords and brackets too
    "maybe_placeholders": False,
}
_CACHE_FORMAT = b"nnlint-parser-cache 2\n"


def cache_dir() -> Path | None:
    """The per-user folder for nnlint's parser cache, or ``None`` to use none.

    ``NNLINT_CACHE_DIR`` overrides it (empty: no cache); otherwise
    ``$XDG_CACHE_HOME/nnlint`` or ``~/.cache/nnlint`` (``~/Library/Caches/nnlint``
    on macOS, ``%LOCALAPPDATA%\\nnlint\\Cache`` on Windows)."""
    override = os.environ.get("NNLINT_CACHE_DIR")
    if override is not None:
        return Path(override) if override else None
    try:
        if sys.platform == "win32":
            base = os.environ.get("LOCALAPPDATA")
            return Path(base) / "nnlint" / "Cache" if base else None
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Caches" / "nnlint"
        xdg = os.environ.get("XDG_CACHE_HOME")
        base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
        return base_dir / "nnlint"
    except (RuntimeError, KeyError, OSError):  # no home folder
        return None


def _private(path: Path) -> bool:
    """True if ``path`` belongs to this user and nobody else may write to it: a cache
    entry that someone else could have written is never loaded."""
    if not hasattr(os, "getuid"):  # Windows: per-user profile folders
        return True
    return _private_stat(os.stat(path, follow_symlinks=False))


def _private_stat(st: os.stat_result) -> bool:
    if not hasattr(os, "getuid"):
        return True
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _cache_key(grammar: str) -> str:
    ident = "\0".join(
        [
            grammar,
            repr(sorted(_LARK_OPTIONS.items())),
            lark.__version__,
            sys.version,
            _CACHE_FORMAT.decode(),
        ]
    )
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:40]


# An entry is ~50 KB; anything much larger is not one of ours.
_CACHE_MAX_BYTES = 4 * 2**20
# Plain data only: what Lark's memo_serialize produces. No code objects, no
# callables, nothing Lark could call.
_PLAIN = (dict, list, tuple, str, int, bool, type(None))
# Options that could name code (callbacks, classes, plugins) must be empty: nnlint
# passes none, so an entry holding one is not an entry nnlint wrote.
_NO_CODE_OPTIONS = {
    "lexer_callbacks": {},
    "postlex": None,
    "tree_class": None,
    "edit_terminals": None,
    "_plugins": {},
}
# A spec using every statement of the grammar: a loaded parser must parse it.
_SMOKE_SPEC = (
    "block b(c, k=3) {\n    input x\n    y = x -> conv2d(c, k, padding=1) -> relu * 2\n"
    "    z = add(x, y)\n}\nmodel m {\n    input x: [3, 8, 8]\n    h = x -> b(3)\n"
    "        -> flatten -> dense(2 * (4 + 1) / 5, init=normal(0.02))\n}\n"
    "train {\n    loss = cross_entropy(h)\n    batch = 8k\n}\n"
    "budget {\n    train_memory <= 8 MiB\n    latency < 2 ms\n}\n"
    "data {\n    counts = [1, 2]\n}\n"
)


def _read_entry(path: Path) -> bytes | None:
    """The bytes of a cache entry, or ``None`` if it is anything but a private regular
    file of sensible size. Opened without blocking and without following a symlink,
    so a FIFO, a device or a link at the path is refused, never waited on."""
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _CACHE_MAX_BYTES:
            return None
        if not _private_stat(st):
            return None
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > _CACHE_MAX_BYTES:  # grew while being read
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _plain(value, depth: int = 0) -> bool:
    """True if ``value`` is built of plain data only (iteratively bounded in depth)."""
    if depth > 50 or type(value) not in _PLAIN:
        return False
    if type(value) is dict:
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    if type(value) in (list, tuple):
        return all(_plain(v, depth + 1) for v in value)
    return True


def _valid_entry(entry) -> bool:
    """The shape of an entry :func:`_store_cached` writes, with nnlint's options."""
    if not (type(entry) is dict and set(entry) == {"data", "memo"} and _plain(entry)):
        return False
    data = entry["data"]
    if type(data) is not dict or type(entry["memo"]) is not dict:
        return False
    options = data.get("options")
    if type(options) is not dict or "transformer" in options:
        return False
    expected = {**_NO_CODE_OPTIONS, **_LARK_OPTIONS}
    return all(k in options and options[k] == v for k, v in expected.items())


def _load_cached(path: Path, key: str) -> lark.Lark | None:
    """The parser stored at ``path``, or ``None`` if the entry is missing, foreign,
    damaged or not loadable for any reason (the caller then builds and rewrites it).

    Checked in full before use: a private regular file (:func:`_read_entry`), the
    format line, the key, a SHA-256 of the data, plain data only with nnlint's
    parser options (no callbacks), and a loaded parser that parses a spec using
    every statement of the grammar. marshal, not pickle: loading never runs code,
    and from Python 3.13 marshal itself refuses code objects."""
    try:
        if not _private(path.parent):
            return None
        raw = _read_entry(path)
        if raw is None:
            return None
        header, _, blob = raw.partition(b"\n")
        stored_key, _, blob = blob.partition(b"\n")
        digest, _, blob = blob.partition(b"\n")
        if header + b"\n" != _CACHE_FORMAT or stored_key != key.encode():
            return None
        if digest != hashlib.sha256(blob).hexdigest().encode():
            return None
        if sys.version_info >= (3, 13):
            entry = marshal.loads(blob, allow_code=False)
        else:  # pragma: no cover - exercised on Python < 3.13
            entry = marshal.loads(blob)
        if not _valid_entry(entry):
            return None
        # The transformer (ToAst) is code, not data: it is never stored, and joins the
        # options here. Lark.load() takes the entry as the dict Lark.save() pickles.
        entry["data"]["options"]["transformer"] = _BUILDER
        parser = lark.Lark.load(entry)
        _depths.table = {}
        try:
            _FastParser(parser)._parse(_SMOKE_SPEC)
        finally:
            _depths.table = {}
        return parser
    except Exception:  # any failure means: build the parser instead
        return None


def _store_cached(parser: lark.Lark, path: Path, key: str) -> None:
    """Write the entry atomically (a temporary file renamed over it), so that a
    concurrent nnlint (the process pool) reads either no entry or a whole one."""
    import tempfile

    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    tmp = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent):
            return
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        # The transformer (ToAst) is code, not data: _load_cached passes it again.
        data["options"] = {k: v for k, v in data["options"].items() if k != "transformer"}
        blob = marshal.dumps({"data": data, "memo": memo})
        digest = hashlib.sha256(blob).hexdigest().encode()
        fd, tmp = tempfile.mkstemp(prefix=".parser-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(_CACHE_FORMAT + key.encode() + b"\n" + digest + b"\n" + blob)
        os.replace(tmp, path)
        tmp = None
    except (OSError, ValueError):  # read-only home, full disk, unmarshallable: no cache
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def build_parser() -> lark.Lark:
    """The parser built from ``grammar/nnlint.lark`` (no cache)."""
    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, transformer=_BUILDER, **_LARK_OPTIONS)


@functools.cache
def _parser() -> lark.Lark:
    """The spec parser, built once per process and cached per user across processes."""
    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    key = _cache_key(grammar)
    folder = cache_dir()
    path = folder / f"parser-{key[:16]}.bin" if folder is not None else None
    if path is not None and (cached := _load_cached(path, key)) is not None:
        return cached
    parser = lark.Lark(grammar, transformer=_BUILDER, **_LARK_OPTIONS)
    if path is not None:
        _store_cached(parser, path, key)
    return parser


class _FastParser:
    """Lark's LALR parser and contextual lexer run as one loop, for specs that parse.

    The same parse table, the same terminals per parser state with the same compiled
    regular expressions and keyword callbacks, the same line and column arithmetic
    and the same rule callbacks (:class:`ToAst`) as Lark's ``parse``; written out as
    one loop over local variables instead of a generator, four method calls and a
    line-counter object per token, and a parser-state object re-read per token.
    Anything unusual (a character no terminal of the state matches, a token the
    table does not expect, a state whose terminals need more than one regular
    expression) abandons the loop, and the text is parsed again by Lark's own
    ``parse``, which raises Lark's error exactly as before (errors are rare, and a
    failed parse of a spec is cheap).
    """

    def __init__(self, parser: lark.Lark) -> None:
        self.parser = parser
        frontend = parser.parser
        table = frontend.parser.parser.parse_table
        self.lexers = frontend.lexer.lexers  # parser state -> Lark's BasicLexer for it
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        callbacks = frontend.parser.parser.callbacks
        reductions = _reductions(callbacks)
        # Lark's table as plain tuples, one lookup per token: a shift is
        # ``(-1, next state, the terminal's callback or None, None)``, a reduction
        # ``(children, rule name, callback, expand)`` (see _reductions), and a unit
        # rule Lark passes its one child through (``?expr: sum``)
        # ``(1, rule name, None, None)``.
        self.actions: dict[int, dict[str, tuple]] = {}
        self.gotos: dict[int, dict[str, int]] = {}
        for state, actions in table.states.items():
            mine, gotos = {}, {}
            for kind, (action, arg) in actions.items():
                if action is _SHIFT:
                    if kind.isupper() or kind.startswith("$"):  # a terminal
                        mine[kind] = (-1, arg, callbacks.get(kind), None)
                    else:
                        gotos[kind] = arg
                    continue
                mine[kind] = (len(arg.expansion), arg.origin.name, *reductions[arg])
            self.actions[state], self.gotos[state] = mine, gotos
        self.scanners: dict[int, tuple | None] = {}  # parser state -> fast-path lexer

    def _scanner(self, state):
        """The state's lexer as ``(match, skip, newline types, callbacks, ignore types,
        keywords)``, or None (more than one expression: the loop is abandoned).

        ``skip``: the ignored terminals without a callback (no token is made).
        ``keywords``: when every callback of the state is Lark's ``UnlessCallback``
        over plain strings (a ``NAME`` that is the keyword ``input`` becomes
        ``INPUT``), the same as ``{terminal: {string: keyword terminal}}``, looked up
        before the token is made, and ``callbacks`` is None; else Lark's callbacks."""
        basic = self.lexers[state]
        scanner = basic.scanner  # compiled on first use, as Lark does
        found = None
        if len(scanner._mres) == 1:
            callbacks = basic.callback
            ignore = basic.ignore_types
            keywords = _keyword_tables(callbacks, ignore, basic.g_regex_flags)
            found = (
                scanner._mres[0].match,
                frozenset(t for t in ignore if t not in callbacks),
                basic.newline_types,
                None if keywords is not None else callbacks,
                ignore,
                keywords or {},
            )
        self.scanners[state] = found
        return found

    def parse(self, text: str):
        try:
            return self._parse(text)
        except _Abandon:
            pass
        _depths.table = {}
        return self.parser.parse(text)

    def _parse(self, text: str, on_error: Callable[[int, int], int | None] | None = None):
        """Parse ``text``; without ``on_error``, anything unusual abandons the loop.

        With ``on_error`` (:func:`parse_all`), a character or token the parser cannot
        take calls ``on_error(line of the error, first line of the statement)``, which
        returns the line to resume at, the start of the next statement (or raises
        :class:`_Stop`): the parser goes back to its state at the start of the
        statement (saved when it shifts the statement's first token after a separator
        ``_NL``, or at the separator itself for an error on that token) and reads on
        from that line, so each error costs no more than its statement. The stacks
        are copied at each statement only then. An error after a reduction reached
        below the saved state (Lark reuses a list it reduces into) abandons the loop."""
        table, gotos, scanners = self.actions, self.gotos, self.scanners
        end_state = self.end
        new_str = str.__new__
        state_stack = [self.start]
        value_stack: list = []
        pos, line, line_start, end = 0, 1, 0, len(text)
        token = None
        # the state at the start of the statement: stacks, its line, and whether the next
        # token is its first (the state is saved again before shifting that token)
        checkpoint = [[self.start], [], 1, True] if on_error is not None else None
        starts: list[int] = []  # offset of each line's start, computed at the first error
        while True:
            if pos < end:
                state = state_stack[-1]
                scanner = scanners.get(state, False)
                if scanner is False:
                    scanner = self._scanner(state)
                if scanner is None:
                    raise _Abandon
                m = scanner[0](text, pos)
                if m is None:
                    if checkpoint is None:
                        raise _Abandon
                    state_stack, value_stack = _restored(checkpoint, state_stack, value_stack)
                    resume = on_error(line, checkpoint[2])
                    pos = line_start = _line_start(text, starts, resume)
                    line = resume
                    continue
                _match, skip, newlines, lexer_callbacks, ignore, keywords = scanner
                value = m.group(0)
                kind = m.lastgroup
                start, start_line, column = pos, line, pos - line_start + 1
                if kind in newlines:
                    count = value.count("\n")
                    if count:
                        line += count
                        line_start = pos + value.rindex("\n") + 1
                pos += len(value)
                if kind in skip:
                    continue
                if lexer_callbacks is None and kind in keywords:
                    kind = keywords[kind].get(value, kind)
                # Token._future_new, written out
                token = new_str(_Token, value)
                token.type = kind
                token.start_pos = start
                token.value = value
                token.line = start_line
                token.column = column
                token.end_line = line
                token.end_column = pos - line_start + 1
                token.end_pos = pos
                if lexer_callbacks is not None:
                    if kind in lexer_callbacks:
                        token = lexer_callbacks[kind](token)
                    if kind in ignore:
                        continue
                    kind = token.type
            else:
                kind = "$END"  # reduce until the start rule is complete
            while True:  # Lark's feed_token
                entry = table[state_stack[-1]].get(kind)
                if entry is None or (entry[0] < 0 and kind == "$END"):
                    if checkpoint is None:
                        raise _Abandon
                    if kind == "$END":
                        raise _Stop  # a body left open: nothing after it to read
                    state_stack, value_stack = _restored(checkpoint, state_stack, value_stack)
                    resume = on_error(token.line, checkpoint[2])
                    pos = line_start = _line_start(text, starts, resume)
                    line = resume
                    break
                size, arg, callback, expand = entry
                if size < 0:  # shift
                    if checkpoint is not None and checkpoint[3]:  # a statement's first token
                        checkpoint[:] = [state_stack[:], value_stack[:], token.line, False]
                    state_stack.append(arg)
                    value_stack.append(token if callback is None else callback(token))
                    if checkpoint is not None and kind == "_NL":
                        checkpoint[:] = [state_stack[:], value_stack[:], line, True]
                    break
                if callback is None:  # a unit rule: the child is the value
                    del state_stack[-1]
                else:
                    if size:
                        children = value_stack[-size:]
                        del state_stack[-size:]
                        del value_stack[-size:]
                    else:
                        children = []
                    if expand is not None:  # Lark's ChildFilterLALR_NoPlaceholders
                        kept: list = []
                        for i, inline in expand:
                            if not inline:
                                kept.append(children[i])
                            elif kept:
                                kept += children[i]
                            else:  # left recursion: extend the list in place, as Lark does
                                kept = children[i]
                        children = kept
                    value_stack.append(children if callback is _INLINE else callback(children))
                goto = gotos[state_stack[-1]][arg]
                if goto == end_state:
                    return value_stack[-1]
                state_stack.append(goto)


class _Abandon(Exception):
    """The fast loop met something unusual: Lark's own parse takes over."""


class _Stop(Exception):
    """An error after which :func:`parse_all` cannot read on."""


def _restored(checkpoint: list, states: list, values: list) -> tuple[list, list]:
    """Copies of the saved stacks, if the parser's stacks still hold them unchanged
    below; otherwise a reduction consumed part of them, and :class:`_Abandon`."""
    saved_states, saved_values = checkpoint[0], checkpoint[1]
    n = len(saved_states)
    if (
        len(states) < n
        or states[:n] != saved_states
        or any(a is not b for a, b in zip(values, saved_values))
    ):
        raise _Abandon
    return saved_states[:], saved_values[:]


def _line_start(text: str, starts: list[int], line: int) -> int:
    """The offset where ``line`` starts (``len(text)`` past the last line); ``starts``
    caches the offsets of all lines, computed on the first call."""
    if not starts:
        starts.append(0)
        starts.extend(m.end() for m in re.finditer("\n", text))
    return starts[line - 1] if line <= len(starts) else len(text)


_SHIFT = lark.parsers.lalr_analysis.Shift
_ExpandSingleChild = lark.parse_tree_builder.ExpandSingleChild
_ChildFilter = lark.parse_tree_builder.ChildFilterLALR_NoPlaceholders


def _keyword_tables(callbacks: dict, ignore, flags: int) -> dict | None:
    """``{terminal: {string: keyword terminal}}`` doing what the lexer's callbacks do,
    if every one is Lark's ``UnlessCallback`` over plain strings (no flags) on a
    terminal that is not ignored; else None. ``UnlessCallback`` retypes a token whose
    whole text one of its strings' expressions matches, the first in order: for plain
    strings, the string equal to the text."""
    tables = {}
    for kind, callback in callbacks.items():
        if type(callback) is not _Unless or kind in ignore or flags:
            return None
        words: dict[str, str] = {}
        for terminal in callback.scanner.terminals:
            pattern = terminal.pattern
            if type(pattern) is not lark.lexer.PatternStr or pattern.flags:
                return None
            words.setdefault(pattern.value, terminal.name)
        tables[kind] = words
    return tables


_Unless = lark.lexer.UnlessCallback
_INLINE = object()  # the value of an inlined rule (``_stmt``) is its list of children


def _reductions(callbacks: dict) -> dict:
    """Each rule's ``(callback, expand)`` for the fast loop, unwrapping Lark's wrappers.

    Lark wraps a rule's callback: ``ChildFilterLALR_NoPlaceholders`` splices the
    children of inlined rules (``_stmt``, the ``(...)*`` of a rule) into their parent
    (``expand``: its ``(index, inline)`` pairs), and an inlined rule's own callback
    builds a ``Tree`` only for its parent to take the children out of it again. Here
    an inlined rule's value is its list of children (``_INLINE``), spliced the same
    way, in the same order; a unit rule (``?expr: sum``) has no callback at all.
    Every other callback is the one Lark would call. Any wrapper other than these
    (other Lark options) keeps all of Lark's callbacks as they are."""
    found = {}
    for rule, callback in callbacks.items():
        if not isinstance(rule, lark.grammar.Rule):
            continue
        size = len(rule.expansion)
        expand = None
        if type(callback) is _ChildFilter:
            expand = tuple(callback.to_include)
            callback = callback.node_builder
        if type(callback) is _ExpandSingleChild and size == 1 and expand is None:
            found[rule] = (None, None)
            continue
        if type(callback) is functools.partial and rule.origin.name.startswith("_"):
            found[rule] = (_INLINE, expand)
            continue
        inner = callback.node_builder if type(callback) is _ExpandSingleChild else callback
        if not (type(inner) is types.MethodType and inner.__self__ is _BUILDER):
            # not one of ToAst's own methods: Lark's wrappers, unchanged
            return {
                r: (None, None)
                if len(r.expansion) == 1 and type(c) is _ExpandSingleChild
                else (c, None)
                for r, c in callbacks.items()
                if isinstance(r, lark.grammar.Rule)
            }
        found[rule] = (callback, expand)
    return found


@functools.cache
def _fast_parser() -> _FastParser:
    return _FastParser(_parser())


def warm_up() -> None:
    """Load the parser and compile the lexer's expressions for the common statements:
    a process about to fork workers does it once for all of them."""
    import nnlint.check  # noqa: F401 - the rules, costs and targets, imported once

    _depths.table = {}
    try:
        _fast_parser().parse(_SMOKE_SPEC)
    finally:
        _depths.table = {}


def _tok_span(tok: lark.Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


def parse_number(text: str) -> int | float:
    """``300k`` -> 300000, ``1.5M`` -> 1500000, ``1e-3`` -> 0.001, ``1e400`` -> inf.

    Integral values become ``int`` so that counts stay exact.
    """
    if len(text) < 19 and text.isascii() and text.isdigit():  # `64`: what Decimal gives
        return int(text)
    exponent = 0
    if text and text[-1] in _SI_EXPONENT:
        exponent = _SI_EXPONENT[text[-1]]
        text = text[:-1]
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the grammar only admits valid numbers
        return float("nan")
    if not value:
        return 0
    # Checked before scaling: ``1e1000000 * 1000`` would overflow Decimal's context.
    if value.adjusted() + exponent > _MAX_EXPONENT:
        return float("inf")
    if value.adjusted() < -400:  # below float's range, even after a ``T``
        return 0.0
    if exponent:  # exact: as many digits as the text has (the default context keeps 28)
        value = value.scaleb(exponent, Context(prec=len(text) + 13))
    if value == value.to_integral_value():
        return int(value)
    return float(value)


class ToAst(lark.Transformer):
    """Builds :mod:`nnlint.ast` while Lark parses: one method per grammar rule (or
    alias), each called by the LALR parser at the rule's reduction with the rule's
    children, no parse tree in between.

    The parser keeps every token (``keep_all_tokens``), so a method sees the
    keywords, brackets and line breaks of its rule and computes the rule's span
    from its first and last child: what ``propagate_positions`` would give, without
    building and walking a tree (half of the parse time on a large spec). A value in
    parentheses arrives as :class:`_Paren`, whose span includes the parentheses:
    the enclosing rule's span covers them, the value's own span does not.

    Expression nesting deeper than :data:`MAX_NESTING` is an NN001 error, so that no
    later stage recurses into a pathological tree.
    """

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)

    def start(self, children):
        items = [c for c in children if not isinstance(c, lark.Token)]
        models = tuple(i for i in items if isinstance(i, ast.ModelDef))
        blocks = tuple(i for i in items if isinstance(i, ast.BlockDef))
        sections = tuple(i for i in items if isinstance(i, ast.Section))
        return models, blocks, sections

    # -------------------------------------------------------- models, blocks
    def model(self, children):
        name, *body = _items(children)
        return ast.ModelDef(str(name), tuple(body), _rule_span(children), _tok_span(name))

    def block(self, children):
        name, *rest = _items(children)
        params = tuple(i for i in rest if isinstance(i, ast.Param))
        body = tuple(i for i in rest if not isinstance(i, ast.Param))
        return ast.BlockDef(str(name), params, body, _rule_span(children), _tok_span(name))

    def param(self, children):
        items = _items(children)
        default = _value(items[1]) if len(items) > 1 else None
        return ast.Param(str(items[0]), default, _rule_span(children))

    def input_decl(self, children):
        items = _items(children)
        shape = items[1].items if len(items) > 1 else None
        return ast.InputDecl(str(items[0]), shape, _rule_span(children), _tok_span(items[0]))

    def shape(self, children):
        return _Seq(tuple(_value(i) for i in _items(children)), _rule_span(children))

    def assign(self, children):  # NAME "=" chain
        name, chain = children[0], children[2]
        return ast.Assign(str(name), _tok_span(name), chain, _rule_span(children))

    def chain(self, children):  # source (_ARROW layer)*
        return ast.Chain(children[0], tuple(children[2::2]), _rule_span(children))

    def ref(self, children):
        tok = children[0]
        return ast.Ref(str(tok), _tok_span(tok))

    def merge(self, children):
        name, args = _items(children)
        return ast.Layer(
            str(name), args.items, None, _rule_span(children), _tok_span(name), has_parens=True
        )

    def layer(self, children):  # NAME args? repeat?: no token but the name
        name = children[0]
        name_span = _tok_span(name)
        if len(children) == 1:  # `relu`: the layer is its name
            return ast.Layer(str(name), (), None, name_span, name_span, False)
        args: tuple = ()
        repeat = None
        has_parens = False
        for item in children[1:]:
            if isinstance(item, _Repeat):
                repeat = item.expr
            else:
                args = item.items
                has_parens = True
        return ast.Layer(str(name), args, repeat, _rule_span(children), name_span, has_parens)

    def args(self, children):  # "(" (arg ("," arg)*)? ")"
        return _Seq(tuple(children[1:-1:2]), _rule_span(children))

    def positional(self, children):
        return ast.Arg(None, _value(children[0]), _rule_span(children))

    def keyword(self, children):
        name, value = _items(children)
        return ast.Arg(str(name), _value(value), _rule_span(children))

    def repeat(self, children):
        item = _items(children)[0]
        span = _rule_span(children)
        if isinstance(item, lark.Token):
            if item.type == "NUMBER":
                return _Repeat(ast.Num(parse_number(item), str(item), _tok_span(item)), span)
            return _Repeat(ast.Name(str(item), _tok_span(item)), span)
        return _Repeat(_value(item), span)

    # ---------------------------------------------------------- expressions
    def atom(self, children):  # "(" expr ")"
        return _Paren(_value(children[1]), _rule_span(children))

    squantity = atom  # "(" sexpr ")" in sections

    def etuple(self, children):  # "(" expr ("," expr)+ ")"
        values = tuple(_value(v) for v in _items(children))
        return _nested(ast.TupleValue(values, _rule_span(children)), values)

    def elist(self, children):  # "[" expr, ... "]" as an option value
        values = tuple(_value(v) for v in _items(children))
        return _nested(ast.ListValue(values, _rule_span(children)), values)

    def num(self, children):
        tok = children[0]
        return ast.Num(parse_number(tok), str(tok), _tok_span(tok))

    def quantity(self, children):
        tok, unit = children
        return ast.Num(parse_number(tok), f"{tok} {unit}", _rule_span(children), unit=str(unit))

    def name(self, children):
        tok = children[0]
        return ast.Name(str(tok), _tok_span(tok))

    def call(self, children):
        name, args = children
        return _nested(
            ast.Call(str(name), args.items, _rule_span(children)), [a.value for a in args.items]
        )

    def add(self, children):
        return _binary("+", children)

    def sub(self, children):
        return _binary("-", children)

    def mul(self, children):
        return _binary("*", children)

    def div(self, children):
        return _binary("/", children)

    def neg(self, children):
        operand = _value(children[1])
        return _nested(ast.Neg(operand, _rule_span(children)), (operand,))

    # ------------------------------------------------------------- sections
    def section(self, children):
        kind, *entries = _items(children)
        return ast.Section(str(kind), tuple(entries), _rule_span(children))

    def entry(self, children):
        key, cmp, value = children
        return ast.Entry(str(key), str(cmp), _value(value), _rule_span(children), _tok_span(key))

    def symbol(self, children):
        tok = children[0]
        return ast.Symbol(str(tok), _tok_span(tok))

    def scall(self, children):
        name, *values = _items(children)
        args = tuple(
            v if type(v) is ast.Arg else ast.Arg(None, _value(v), _value(v).span) for v in values
        )
        return _nested(ast.Call(str(name), args, _rule_span(children)), [a.value for a in args])

    def skeyword(self, children):  # `momentum=0.9` inside a section value's call
        name, value = _items(children)
        return ast.Arg(str(name), _value(value), _rule_span(children))

    def slist(self, children):
        values = tuple(_value(v) for v in _items(children))
        return _nested(ast.ListValue(values, _rule_span(children)), values)


# Terminals whose tokens a rule reads; every other token (keywords, brackets,
# commas, line breaks) only delimits its rule and is dropped by _items.
_VALUE_TERMINALS = frozenset({"NAME", "NUMBER", "UNIT", "SYMBOL", "SECTION", "CMP"})
_Token = lark.Token


def _items(children: list) -> list:
    return [c for c in children if type(c) is not _Token or c.type in _VALUE_TERMINALS]


def _rule_span(children: list) -> Span:
    """From the start of the first child to the end of the last (tokens or values)."""
    first, last = children[0], children[-1]
    if first is last and type(first) is not _Token:
        return first.span  # one value: its span (a Span is immutable, so it is shared)
    if type(first) is _Token:
        line, column = first.line, first.column
    else:
        span = first.span
        line, column = span.line, span.column
    if type(last) is _Token:
        return Span(line, column, last.end_line, last.end_column)
    span = last.span
    return Span(line, column, span.end_line, span.end_column)


def _value(item):
    return item.value if type(item) is _Paren else item


# Nesting depth of recursive values (BinOp, Neg, Call, ListValue) while one text is
# parsed: id(value) -> depth. Per thread; parse() resets it.
_depths = threading.local()


def _binary(op: str, children) -> ast.BinOp:
    """``left op right`` of the ``add``/``sub``/``mul``/``div`` rules."""
    left, right = _value(children[0]), _value(children[2])
    return _nested(ast.BinOp(op, left, right, _rule_span(children)), (left, right))


def _nested(node, children):
    depths = _depths.table
    depth = 1 + max((depths.get(id(c), 0) for c in children), default=0)
    if depth > MAX_NESTING:
        raise error(
            "NN001",
            f"syntax error: expression nested more than {MAX_NESTING} levels deep",
            Span.point(node.span.line, node.span.column),
            fix="flatten the nested expression, list or call",
        )
    if depth > 1 or children:
        depths[id(node)] = depth
    return node


_BUILDER = ToAst()


class _Seq:
    """Arguments or a shape: the items plus the span of the brackets around them."""

    __slots__ = ("items", "span")

    def __init__(self, items: tuple, span: Span) -> None:
        self.items = items
        self.span = span


class _Paren:
    """A value in parentheses: the value keeps its span, ``span`` covers the brackets."""

    __slots__ = ("span", "value")

    def __init__(self, value, span: Span) -> None:
        self.value = value
        self.span = span


class _Repeat:
    """Internal marker so ``layer`` can tell its repeat count from its arguments."""

    __slots__ = ("expr", "span")

    def __init__(self, expr, span: Span) -> None:
        self.expr = expr
        self.span = span


# Codes one suppression comment may list: more than nnlint has rules, fewer than would
# let a short line cost seconds (20,000 codes in one comment took 6 s of NN021s).
MAX_SUPPRESSED_CODES = 100
_SUPPRESSION = re.compile(r"#\s*nnlint:\s*(?P<kind>ignore-file|ignore)\s*\[(?P<codes>[^\]]*)\]")
_MALFORMED_SUPPRESSION = re.compile(r"#\s*nnlint:")


_DIRECTION = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def _direction_controls(text: str) -> list[Diagnostic]:
    """NN022 for each line with bidirectional control characters (U+202E RIGHT-TO-LEFT
    OVERRIDE and its kin): outside a comment the grammar refuses one (NN001), inside one it
    can make the line display otherwise than it reads ("Trojan Source", CVE-2021-42574).
    One finding per line, spanning its first to its last such character and naming each
    kind, so that ``# nnlint: ignore[NN022]`` on one line silences that line alone: no
    count of characters elsewhere hides another line's (each line is reported, as NN020
    reports each malformed comment)."""
    if _DIRECTION.search(text) is None:
        return []
    found = []
    for number, line in enumerate(source_lines(text), start=1):
        comment = line.find("#")  # no strings in the language: `#` starts a comment
        if comment < 0:
            continue
        hits = [m.start() for m in _DIRECTION.finditer(line, comment)]
        if not hits:
            continue
        kinds = [
            f"U+{ord(ch):04X} {unicodedata.name(ch, 'BIDIRECTIONAL CONTROL')}"
            for ch in dict.fromkeys(line[i] for i in hits)
        ]
        what = (
            f"bidirectional control character {kinds[0]}"
            if len(hits) == 1
            else f"{len(hits)} bidirectional control characters ({', '.join(kinds)})"
        )
        found.append(
            Diagnostic(
                "NN022",
                Severity.WARNING,
                f"{what}: the line can display otherwise than nnlint reads it",
                Span(number, hits[0] + 1, number, hits[-1] + 2),
                fix="delete the character" if len(hits) == 1 else "delete the characters",
                data={"characters": len(hits)},
            )
        )
    return found


def _suppressions(text: str) -> tuple[list[ast.Suppression], list[Diagnostic]]:
    """Find ``# nnlint: ignore[...]`` comments (and NN022's bidirectional controls,
    which only a comment can hold). The language has no string literals, so a ``#``
    always starts a comment and a line scan is exact."""
    found: list[ast.Suppression] = []
    problems: list[Diagnostic] = _direction_controls(text)
    for number, line in enumerate(source_lines(text), start=1):
        if "nnlint" not in line:
            continue
        matched = False
        for m in _SUPPRESSION.finditer(line):
            matched = True
            span = Span(number, m.start() + 1, number, m.end() + 1)
            listed = m.group("codes").split(",", MAX_SUPPRESSED_CODES)
            if len(listed) > MAX_SUPPRESSED_CODES:
                problems.append(
                    Diagnostic(
                        "NN020",
                        Severity.WARNING,
                        f"suppression comment with more than {MAX_SUPPRESSED_CODES} codes "
                        "(nnlint has fewer rules than that); the comment is ignored",
                        span,
                        fix="list each code once, or use `# nnlint: ignore-file[...]` "
                        "or the `ignore` setting of the configuration",
                    )
                )
                continue
            # Each code once, in the order written.
            codes = tuple(dict.fromkeys(c.strip().upper() for c in listed if c.strip()))
            found.append(ast.Suppression(m.group("kind"), codes, span))
        if not matched and (m := _MALFORMED_SUPPRESSION.search(line)):
            problems.append(
                Diagnostic(
                    "NN020",
                    Severity.WARNING,
                    "malformed suppression comment: expected `# nnlint: ignore[CODE, ...]` "
                    "or `# nnlint: ignore-file[CODE, ...]`",
                    Span(number, m.start() + 1, number, len(line) + 1),
                    fix="write the codes in square brackets, e.g. `# nnlint: ignore[NN101]`",
                )
            )
    return found, problems


_QUOTED = re.compile(r"""(["'])([^"'\r\n]*)\1""")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _character_hint(
    text: str, pos: int, known_as: Callable[[str], str | None] | None
) -> str | None:
    """The fix for characters people bring from Python: a quoted word
    (``padding="same"``) and a module path (``nn.Linear``, ``F.relu``)."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end >= 0 else len(text)]
    column = pos - start
    for m in _QUOTED.finditer(line):
        if m.start() == column:
            word = m[2].strip()
            shown = f"`{word}`" if word else "the value"
            return f"nnlint has no strings: write {shown} without quotes"
    for m in _DOTTED.finditer(line):
        if m.start() < column < m.end():
            name = m[0].rsplit(".", 1)[1]
            op = known_as(m[0]) if known_as is not None else None
            if op is not None:
                return f"write `{op}`: nnlint's name for `{m[0]}` (ops have no module prefix)"
            return f"write `{name}`: names have no module prefix (`{m[0]}`)"
    return None


def _keywords(expected: set[str]) -> list[str]:
    """The words of the grammar's keywords among the terminals ``expected``
    (``model``, ``block``, ``input``, the section names)."""
    parser = _parser()
    words = []
    for name in expected:
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if isinstance(pattern, lark.lexer.PatternStr):
            if pattern.value.isidentifier():
                words.append(pattern.value)
        elif name == "SECTION":
            words += re.findall(r"[a-z]+", pattern.value)
    return sorted(words)


def _describe_expected(expected: set[str]) -> str:
    parser = _parser()
    words = []
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        try:
            term = parser.get_terminal(name)
        except KeyError:
            words.append(name.lower())
            continue
        pattern = term.pattern
        if isinstance(pattern, lark.lexer.PatternStr):
            words.append(f"'{pattern.value}'")
        else:
            words.append(name.lower())
    words = sorted(set(words))
    if len(words) > 8:
        words = words[:8] + ["…"]
    return ", ".join(words)


def _found(token: lark.Token | None) -> str:
    if token is None or token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    if token.type == "_ARROW":
        return "'->'"
    text = str(token)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"'{text}'"


def _lines_to_end(text: str) -> list[str]:
    """The lines up to the last one with text: an error at the end of the file is
    shown at the end of its last line, not on the empty line after the final ``\\n``."""
    lines = source_lines(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _syntax_error(
    exc: lark.exceptions.LarkError, text: str, known_as: Callable[[str], str | None] | None = None
) -> SpecError:
    """NN001 with line, column, the text found and what the grammar expected there.
    ``known_as`` (see :func:`parse_all`) names the op a dotted PyTorch name stands for."""
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        line, column = exc.line, exc.column
        if token.type == "_NL" or token.type == "_ARROW":
            # Point at the end of the line that is missing something, not at the next line.
            line = token.line
            column = token.column
        if token.type == "$END" or line is None or line < 1:
            lines = _lines_to_end(text)
            line, column = len(lines), len(lines[-1]) + 1
        accepted = set(exc.accepts or exc.expected)
        expected = _describe_expected(accepted)
        message = f"syntax error: unexpected {_found(token)}; expected {expected}"
        named = token.type in ("NAME", "SYMBOL")
        keyword = suggest(str(token), _keywords(accepted)) if named else None
        width = max(1, len(str(token))) if token.type not in ("$END", "_NL", "_ARROW") else 1
        return error(
            "NN001",
            message,
            Span.point(line, column, width),
            fix=f"did you mean `{keyword}`?"
            if keyword
            else "check the statement against the language reference (README)",
        )
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else ""
        shown = repr(char)
        expected = _describe_expected(set(exc.allowed or ()))
        message = f"syntax error: unexpected character {shown}"
        if expected:
            message += f"; expected {expected}"
        return error(
            "NN001",
            message,
            Span.point(exc.line, exc.column),
            fix=_character_hint(text, exc.pos_in_stream, known_as)
            or "remove the character or check the statement against the language reference",
        )
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        lines = _lines_to_end(text)
        expected = _describe_expected(set(exc.expected or ()))
        return error(
            "NN001",
            f"syntax error: unexpected end of file; expected {expected}",
            Span.point(len(lines), len(lines[-1]) + 1),
            fix="close the open `{`, `(` or `[`",
        )
    return error(
        "NN001",
        f"syntax error: {exc}",
        Span.point(1, 1),
        fix="check the statement against the language reference (README)",
    )


def parse(text: str) -> tuple[ast.Spec, list[Diagnostic]]:
    """Parse a spec. Returns the AST and non-fatal diagnostics (malformed
    suppression comments); raises :class:`SpecError` (NN001) on a syntax error."""
    text = _no_nul(text)
    parser = _fast_parser()
    _depths.table = {}
    try:
        models, blocks, sections = parser.parse(text)
    except lark.exceptions.LarkError as exc:
        raise _syntax_error(exc, text) from None
    except RecursionError:  # pragma: no cover - the LALR parser does not recurse
        raise error(
            "NN001",
            "syntax error: nested too deeply",
            Span.point(1, 1),
            fix="flatten the nested parentheses",
        ) from None
    finally:
        _depths.table = {}
    suppressions, problems = _suppressions(text)
    spec = ast.Spec(models, blocks, sections, tuple(suppressions), text)
    return spec, problems


def parse_all(
    text: str, known_as: Callable[[str], str | None] | None = None
) -> tuple[ast.Spec | None, list[Diagnostic]]:
    """Parse a spec, reporting every independent syntax error: after one, the statement
    holding it is left out and parsing resumes at the next statement (the next line
    that does not continue a chain with ``->``), up to :data:`MAX_ERRORS` errors.

    Returns the AST (``None`` when the text cannot be read past an error: one on a
    line with a ``{`` or ``}`` other than a header, or at the end of the file, where
    nnlint cannot tell what was meant) and the diagnostics: the NN001s and the
    malformed suppression comments. The AST lists what was left out in
    ``Spec.dropped``, so that later stages do not report the names those statements
    defined as undefined. ``known_as`` names the op a PyTorch or Keras name stands
    for (``nn.Linear``: ``dense``), for the hint of an NN001.

    The fast parser resumes after each error from its state at the statement's start
    (one pass over the text); each error's NN001 is Lark's own, from a parse of the
    statement alone in its model, block or section. Where the fast parser cannot go
    (:class:`_Abandon`), the text is parsed again with each statement in error
    blanked, one parse per error.
    """
    try:
        text = _no_nul(text)
    except SpecError as exc:
        return None, exc.diagnostics
    parser = _fast_parser()
    _depths.table = {}
    try:
        return _finish(text, parser._parse(text), [])
    except (lark.exceptions.LarkError, _Abandon):
        pass
    except SpecError as exc:  # nested too deeply: no statement to leave out
        return None, exc.diagnostics
    finally:
        _depths.table = {}
    found = _recover_fast(text, parser, known_as)
    if found is not None:
        return found
    return _recover_slowly(text, parser, known_as)


def _finish(text: str, parsed, left_out: list[tuple[int, int]], errors=()):
    """The spec of a parse that got to the end, with what was left out."""
    models, blocks, sections = parsed
    suppressions, problems = _suppressions(text)
    spec = ast.Spec(models, blocks, sections, tuple(suppressions), text)
    if left_out:
        spec = attrs.evolve(spec, dropped=_dropped(spec, text, left_out))
    return spec, [*errors, *problems]


def _recover_fast(text: str, parser: _FastParser, known_as) -> tuple | None:
    """:func:`parse_all` in one pass of the fast parser; None where it cannot go."""
    lines = source_lines(text)
    code = [_code(line) for line in lines]
    left_out: list[tuple[int, int]] = []
    errors: list[int] = []  # the line of each error

    # the lines as the slow path sees them: each statement left out blanked
    seen, seen_code = list(lines), list(code)

    def on_error(line: int, floor: int) -> int:
        found = _statement_lines(seen, seen_code, line, left_out)
        errors.append(line)
        if found is not None and found[0] < floor:
            raise _Abandon  # `->` where the parser saw a new statement: the slow path
        if found is None or len(errors) > MAX_ERRORS:
            raise _Stop
        left_out.append(found)
        seen[found[0] - 1 : found[1]] = seen_code[found[0] - 1 : found[1]] = [""] * (
            found[1] - found[0] + 1
        )
        resume = found[1] + 1
        while resume <= len(lines) and _BLANK.match(lines[resume - 1]):
            resume += 1
        return resume

    _depths.table = {}
    try:
        parsed = parser._parse(text, on_error)
    except _Stop:
        parsed = None
    except _Abandon:
        return None
    except SpecError as exc:  # nested too deeply
        found = _located(text, lines, code, left_out, errors, known_as, parser)
        return None if found is None else (None, found + exc.diagnostics)
    finally:
        _depths.table = {}
    located = _located(text, lines, code, left_out, errors, known_as, parser)
    if located is None:
        return None
    if parsed is None:
        last = _last_error(text, left_out, known_as)
        return None if last is None else (None, [*located, last])
    return _finish(text, parsed, left_out, located)


def _located(text, lines, code, left_out, errors, known_as, parser) -> list | None:
    """Lark's NN001 for each statement left out, from a parse of the statement alone
    with the header of the model, block or section around it (the other lines empty,
    so lines and columns are the original ones); None if one does not reproduce."""
    depth, depths = 0, []
    for line in code:
        depths.append(depth)
        depth += line.count("{") - line.count("}")
    found = []
    for (first, last), line in zip(left_out, errors):
        kept = [""] * last
        if depths[first - 1] > 0:
            header = next(
                (h for h in range(first - 1, 0, -1) if depths[h - 1] == 0 and "{" in code[h - 1]),
                None,
            )
            if header is None:
                return None
            kept[header - 1] = lines[header - 1]
        kept[first - 1 : last] = lines[first - 1 : last]
        alone = "\n".join(kept) + "\n"
        _depths.table = {}
        try:
            parser.parser.parse(alone)
            return None
        except lark.exceptions.LarkError as exc:
            diagnostic = _syntax_error(exc, alone, known_as).diagnostics[0]
        except SpecError:
            return None
        finally:
            _depths.table = {}
        if diagnostic.span.line != line:
            return None
        found.append(diagnostic)
    return found


def _last_error(text: str, left_out, known_as) -> Diagnostic | None:
    """Lark's NN001 for the error after which nothing can be read: a parse of the text
    with the statements left out before it blanked."""
    for first, last in left_out:
        text = _blank(text, first, last)
    _depths.table = {}
    try:
        _parser().parse(text)
    except lark.exceptions.LarkError as exc:
        return _syntax_error(exc, text, known_as).diagnostics[0]
    except SpecError as exc:
        return exc.diagnostics[0]
    finally:
        _depths.table = {}
    return None


def _recover_slowly(text: str, parser: _FastParser, known_as) -> tuple:
    """:func:`parse_all` by parsing again after each error with its statement blanked."""
    errors: list[Diagnostic] = []
    left_out: list[tuple[int, int]] = []  # (first line, last line) of each statement
    current = text
    while True:
        _depths.table = {}
        try:
            parsed = parser.parse(current)
            break
        except lark.exceptions.LarkError as exc:
            found = _syntax_error(exc, current, known_as).diagnostics[0]
        except SpecError as exc:  # nested too deeply: no statement to leave out
            return None, errors + exc.diagnostics
        finally:
            _depths.table = {}
        errors.append(found)
        lines = source_lines(current)
        at_end = found.message.startswith(_AT_THE_END)
        statement = None
        if not at_end:
            statement = _statement_lines(
                lines, [_code(x) for x in lines], found.span.line, left_out
            )
        if statement is None or len(errors) > MAX_ERRORS:
            return None, errors
        left_out.append(statement)
        current = _blank(current, *statement)
    return _finish(text, parsed, left_out, errors)


#: The most syntax errors :func:`parse_all` reports; the driver caps all errors of a
#: file at the same number (NN017).
MAX_ERRORS = 50
_CONTINUES = re.compile(r"[\t \f]*->")
_BLANK = re.compile(r"[\t \f]*(#.*)?\r?$")
_AT_THE_END = "syntax error: unexpected end of file"
_HEADER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+([A-Za-z_][A-Za-z0-9_]*))?")
_DEFINES = re.compile(r"\s*(?:input\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?::|=|<|>)")


def _statement_lines(
    lines: list[str], code: list[str], line: int, left_out: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """The lines of the statement holding the syntax error ``found``: its line, the
    lines before it it continues (``->`` at the start of a line continues the chain
    above) and the continuation lines after it; for an error in the header of a model,
    block or section (a line ending in ``{`` outside any braces), the whole of it up to
    its closing ``}``. ``None`` when nothing can be left out safely: the error is on
    another line with a brace (the end of a body, a one-line body) or at the end of the
    file, or before what was left out last."""
    if not 1 <= line <= len(lines):
        return None
    if left_out and line <= left_out[-1][1]:
        return None  # no progress: the parse did not get past the last one left out
    if code[line - 1].rstrip().endswith("{") and "}" not in code[line - 1]:
        return _whole_item(code, line)
    first = line
    while _CONTINUES.match(lines[first - 1]) and first > 1:
        first -= 1
        while first > 1 and _BLANK.match(lines[first - 1]):
            first -= 1
    last = line
    following = last
    while following < len(lines):
        following += 1
        if _CONTINUES.match(lines[following - 1]):
            last = following
        elif not _BLANK.match(lines[following - 1]):
            break
    if any("{" in code[i - 1] or "}" in code[i - 1] for i in range(first, last + 1)):
        return None
    return first, last


def _code(line: str) -> str:
    """A line without its comment (the language has no strings: ``#`` starts one)."""
    return line.split("#", 1)[0]


def _whole_item(code: list[str], header: int) -> tuple[int, int] | None:
    """The lines from the header ``header`` of a model, block or section to its closing
    brace, when the header is outside any braces and the braces close."""
    depth = 0
    for text in code[: header - 1]:
        depth += text.count("{") - text.count("}")
    if depth != 0:
        return None
    for number in range(header, len(code) + 1):
        depth += code[number - 1].count("{") - code[number - 1].count("}")
        if depth <= 0:
            return (header, number) if depth == 0 else None
    return None


def _blank(text: str, first: int, last: int) -> str:
    """``text`` with lines ``first``..``last`` emptied (their line breaks kept)."""
    lines = text.split("\n")
    for i in range(first - 1, last):
        lines[i] = "\r" if lines[i].endswith("\r") else ""
    return "\n".join(lines)


def _dropped(spec: ast.Spec, text: str, left_out: list[tuple[int, int]]) -> tuple:
    """What each left-out statement belonged to and defined (:class:`ast.Dropped`)."""
    lines = source_lines(text)
    owners = [("model", m.name, m.span) for m in spec.models]
    owners += [("block", b.name, b.span) for b in spec.blocks]
    owners += [("section", s.kind, s.span) for s in spec.sections]
    found = []
    for first, last in left_out:
        within, owner = "", ""
        for kind, name, span in owners:
            if span.line <= first and last <= span.end_line:
                within, owner = kind, name
        span = Span(first, 1, last, len(lines[last - 1]) + 1)
        if not within and (header := _HEADER.match(lines[first - 1])):
            # a whole model, block or section: what it was, and its name if it says
            found.append(ast.Dropped(span, "", header[1], header[2]))
            continue
        for part in lines[first - 1].split(";"):
            defined = _DEFINES.match(part)
            found.append(ast.Dropped(span, within, owner, defined[1] if defined else None))
    return tuple(found)


def _no_nul(text: str) -> str:
    """The text without a byte-order mark; NN001 if it holds a NUL byte."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        column = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise error(
            "NN001",
            "syntax error: NUL byte in the spec (is this a binary file?)",
            Span.point(line, column),
            fix="a spec is a UTF-8 text file",
        )
    return text
