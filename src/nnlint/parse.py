"""Stage 1: text -> AST.

The grammar lives in ``grammar/nnlint.lark``; one Lark ``Transformer`` turns the
parse tree into the attrs classes of :mod:`nnlint.ast`, keeping every node's span.
Syntax errors become NN001 diagnostics naming the line, the column, the text
found and what was expected. Nothing after this module sees a Lark type.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

import lark
from lark import Transformer, v_args

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Severity, Span, SpecError, error
from nnlint.resources import data_dir

# Sizes beyond this many decimal digits are kept as ``inf``: they can only be a
# mistake, and an exact integer of a million digits would cost time and memory.
_MAX_EXPONENT = 60
_SI = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

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


@functools.cache
def _parser() -> lark.Lark:
    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    return lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: lark.Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


def parse_number(text: str) -> int | float:
    """``300k`` -> 300000, ``1.5M`` -> 1500000, ``1e-3`` -> 0.001, ``1e400`` -> inf.

    Integral values become ``int`` so that counts stay exact.
    """
    scale = 1
    if text and text[-1] in _SI:
        scale = _SI[text[-1]]
        text = text[:-1]
    try:
        value = Decimal(text) * scale
    except InvalidOperation:  # pragma: no cover - the grammar only admits valid numbers
        return float("nan")
    if value.adjusted() > _MAX_EXPONENT:
        return float("inf")
    if value == value.to_integral_value():
        return int(value)
    return float(value)


@v_args(meta=True)
class ToAst(Transformer):
    """Parse tree -> :mod:`nnlint.ast`. One method per grammar rule."""

    def start(self, meta, items):
        models = tuple(i for i in items if isinstance(i, ast.ModelDef))
        blocks = tuple(i for i in items if isinstance(i, ast.BlockDef))
        sections = tuple(i for i in items if isinstance(i, ast.Section))
        return models, blocks, sections

    # -------------------------------------------------------- models, blocks
    def model(self, meta, items):
        name, *body = items
        return ast.ModelDef(str(name), tuple(body), _span(meta), _tok_span(name))

    def block(self, meta, items):
        name, *rest = items
        params = tuple(i for i in rest if isinstance(i, ast.Param))
        body = tuple(i for i in rest if not isinstance(i, ast.Param))
        return ast.BlockDef(str(name), params, body, _span(meta), _tok_span(name))

    def param(self, meta, items):
        name = items[0]
        default = items[1] if len(items) > 1 else None
        return ast.Param(str(name), default, _span(meta))

    def input_decl(self, meta, items):
        name = items[0]
        shape = items[1] if len(items) > 1 else None
        return ast.InputDecl(str(name), shape, _span(meta), _tok_span(name))

    def shape(self, meta, items):
        return tuple(items)

    def assign(self, meta, items):
        name, chain = items
        return ast.Assign(str(name), _tok_span(name), chain, _span(meta))

    def chain(self, meta, items):
        source, *steps = items
        return ast.Chain(source, tuple(steps), _span(meta))

    def ref(self, meta, items):
        return ast.Ref(str(items[0]), _tok_span(items[0]))

    def merge(self, meta, items):
        name, args = items
        return ast.Layer(str(name), args, None, _span(meta), _tok_span(name), has_parens=True)

    def layer(self, meta, items):
        name = items[0]
        args: tuple = ()
        repeat = None
        has_parens = False
        for item in items[1:]:
            if isinstance(item, _Repeat):
                repeat = item.expr
            else:
                args = item
                has_parens = True
        return ast.Layer(str(name), args, repeat, _span(meta), _tok_span(name), has_parens)

    def args(self, meta, items):
        return tuple(items)

    def positional(self, meta, items):
        return ast.Arg(None, items[0], _span(meta))

    def keyword(self, meta, items):
        name, value = items
        return ast.Arg(str(name), value, _span(meta))

    def repeat(self, meta, items):
        item = items[0]
        if isinstance(item, lark.Token):
            if item.type == "NUMBER":
                return _Repeat(ast.Num(parse_number(item), str(item), _tok_span(item)))
            return _Repeat(ast.Name(str(item), _tok_span(item)))
        return _Repeat(item)

    # ---------------------------------------------------------- expressions
    def num(self, meta, items):
        tok = items[0]
        return ast.Num(parse_number(tok), str(tok), _tok_span(tok))

    def quantity(self, meta, items):
        tok, unit = items
        return ast.Num(parse_number(tok), f"{tok} {unit}", _span(meta), unit=str(unit))

    def name(self, meta, items):
        return ast.Name(str(items[0]), _tok_span(items[0]))

    def call(self, meta, items):
        name, args = items
        return ast.Call(str(name), args, _span(meta))

    def _binop(op):
        def method(self, meta, items):
            left, right = items
            return ast.BinOp(op, left, right, _span(meta))

        return method

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    del _binop

    def neg(self, meta, items):
        return ast.Neg(items[0], _span(meta))

    # ------------------------------------------------------------- sections
    def section(self, meta, items):
        kind, *entries = items
        return ast.Section(str(kind), tuple(entries), _span(meta))

    def entry(self, meta, items):
        key, cmp, value = items
        return ast.Entry(str(key), str(cmp), value, _span(meta), _tok_span(key))

    def symbol(self, meta, items):
        return ast.Symbol(str(items[0]), _tok_span(items[0]))

    def scall(self, meta, items):
        name, *values = items
        args = tuple(ast.Arg(None, v, v.span) for v in values)
        return ast.Call(str(name), args, _span(meta))

    def slist(self, meta, items):
        return ast.ListValue(tuple(items), _span(meta))


class _Repeat:
    """Internal marker so ``layer`` can tell its repeat count from its arguments."""

    __slots__ = ("expr",)

    def __init__(self, expr) -> None:
        self.expr = expr


_SUPPRESSION = re.compile(r"#\s*nnlint:\s*(?P<kind>ignore-file|ignore)\s*\[(?P<codes>[^\]]*)\]")
_MALFORMED_SUPPRESSION = re.compile(r"#\s*nnlint:")


def _suppressions(text: str) -> tuple[list[ast.Suppression], list[Diagnostic]]:
    """Find ``# nnlint: ignore[...]`` comments. The language has no string literals,
    so a ``#`` always starts a comment and a line scan is exact."""
    found: list[ast.Suppression] = []
    problems: list[Diagnostic] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "nnlint" not in line:
            continue
        matched = False
        for m in _SUPPRESSION.finditer(line):
            matched = True
            codes = tuple(c.strip().upper() for c in m.group("codes").split(",") if c.strip())
            span = Span(number, m.start() + 1, number, m.end() + 1)
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


def _syntax_error(exc: lark.exceptions.LarkError, text: str) -> SpecError:
    """NN001 with line, column, the text found and what the grammar expected there."""
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        line, column = exc.line, exc.column
        if token.type == "_NL" or token.type == "_ARROW":
            # Point at the end of the line that is missing something, not at the next line.
            line = token.line
            column = token.column
        if token.type == "$END" or line is None or line < 1:
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        expected = _describe_expected(set(exc.accepts or exc.expected))
        message = f"syntax error: unexpected {_found(token)}; expected {expected}"
        width = max(1, len(str(token))) if token.type not in ("$END", "_NL", "_ARROW") else 1
        return error("NN001", message, Span.point(line, column, width),
                     fix="check the statement against the language reference (README)")
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else ""
        shown = repr(char)
        expected = _describe_expected(set(exc.allowed or ()))
        message = f"syntax error: unexpected character {shown}"
        if expected:
            message += f"; expected {expected}"
        return error("NN001", message, Span.point(exc.line, exc.column),
                     fix="remove the character or check the statement against the language reference")
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        lines = text.splitlines() or [""]
        expected = _describe_expected(set(exc.expected or ()))
        return error("NN001", f"syntax error: unexpected end of file; expected {expected}",
                     Span.point(len(lines), len(lines[-1]) + 1),
                     fix="close the open `{`, `(` or `[`")
    return error("NN001", f"syntax error: {exc}", Span.point(1, 1),
                 fix="check the statement against the language reference (README)")


def parse(text: str) -> tuple[ast.Spec, list[Diagnostic]]:
    """Parse a spec. Returns the AST and non-fatal diagnostics (malformed
    suppression comments); raises :class:`SpecError` (NN001) on a syntax error."""
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        column = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise error("NN001", "syntax error: NUL byte in the spec (is this a binary file?)",
                    Span.point(line, column), fix="a spec is a UTF-8 text file")
    try:
        tree = _parser().parse(text)
    except lark.exceptions.LarkError as exc:
        raise _syntax_error(exc, text) from None
    except RecursionError:
        raise error("NN001", "syntax error: expression nested too deeply",
                    Span.point(1, 1), fix="flatten the nested parentheses") from None
    try:
        models, blocks, sections = ToAst().transform(tree)
    except RecursionError:
        raise error("NN001", "syntax error: expression nested too deeply",
                    Span.point(1, 1), fix="flatten the nested parentheses") from None
    suppressions, problems = _suppressions(text)
    spec = ast.Spec(models, blocks, sections, tuple(suppressions), text)
    return spec, problems
