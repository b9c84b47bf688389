"""Autofixes: text edits that repair a finding when the repair is certain.

Rules read the lowered graph and never the syntax tree (the border of
:mod:`nnlint.rules.base`); a fix is an edit of the spec's text, so it is computed here,
from the syntax tree, for the findings a rule reported. Each fixer is one function of
:data:`FIXERS`, keyed by the code it repairs; it returns ``None`` whenever the repair
is not certain (an option on the layer, a repeat, a comment between the layers, a
value with no name to point at), and the finding then simply has no fix.

Applicability follows ruff: a **safe** fix keeps what the spec computes (``nnlint
check --fix`` applies it); an **unsafe** one changes it — the finding is a bug, and
the fix changes the model's outputs — and is applied only with ``--unsafe-fixes``.

======  ==========  ==========================================================
code    applies     edit
======  ==========  ==========================================================
NN021   safe        drop the unused code from ``# nnlint: ignore[...]``; drop the
                    whole comment (and its line, when it stands alone) when it was
                    the only code
NN103   safe        ``softmax -> log`` in one chain becomes ``log_softmax``;
                    ``p = z -> softmax`` … ``q = p -> log`` becomes
                    ``q = z -> log_softmax`` (log(softmax(z)) = log_softmax(z),
                    computed without the log of an underflowed 0)
NN104   unsafe      ``softmax -> softmax`` (or ``-> log_softmax``) in one chain
                    loses the first softmax; a softmax on a named softmax output is
                    dropped (``identity`` when it is the chain's only layer); a
                    focal loss reads the softmax's input instead of its output
NN111   unsafe      ``optimizer = adam`` becomes ``optimizer = adamw`` (the optimizer
                    registry's variant with decoupled weight decay): training changes
NN114   safe        ``bias=false`` on the layer before the norm (its bias cancels in the
                    norm's mean subtraction, so the outputs are the same) — only when
                    every layer made from that line has the finding
======  ==========  ==========================================================

:func:`fix_text` applies fixes to a spec's text and re-checks it, pass after pass,
until nothing is left to fix; it never returns a text that does not parse.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

import attrs

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Edit, FileResult, Fix, Span
from nnlint.graph import Lowered, Node
from nnlint.ops import CATALOG, Op, Output

__all__ = [
    "FIXERS",
    "FixOutcome",
    "SourceText",
    "apply_fixes",
    "attach_fixes",
    "fix_text",
]

#: Passes of fix-and-recheck before :func:`fix_text` stops (each pass applies every
#: non-overlapping fix; a later pass takes the ones an earlier one overlapped).
MAX_PASSES = 10


class SourceText:
    """A spec's text with conversions between 1-based (line, column) and offsets.

    Lines are split on ``\\n`` and columns count code points, as the parser does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)

    def offset(self, line: int, column: int) -> int:
        if line > len(self.starts):
            return len(self.text)
        start = self.starts[line - 1]
        end = self.starts[line] - 1 if line < len(self.starts) else len(self.text)
        return min(start + column - 1, end)

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def span(self, start: int, end: int) -> Span:
        return Span(*self.position(start), *self.position(end))

    def between(self, a: Span, b: Span) -> str:
        """The text from the end of ``a`` to the start of ``b``."""
        return self.text[self.offset(a.end_line, a.end_column) : self.offset(b.line, b.column)]

    def of(self, span: Span) -> str:
        return self.text[
            self.offset(span.line, span.column) : self.offset(span.end_line, span.end_column)
        ]


# --------------------------------------------------------------------------- syntax lookups


@attrs.frozen
class _Step:
    """A layer of a chain, with the chain's statement and the body it belongs to."""

    body: tuple[ast.Stmt, ...]
    assign: ast.Assign
    index: int  # in assign.chain.steps

    @property
    def layer(self) -> ast.Layer:
        return self.assign.chain.steps[self.index]

    @property
    def steps(self) -> tuple[ast.Layer, ...]:
        return self.assign.chain.steps


def _bodies(spec: ast.Spec) -> Iterator[tuple[ast.Stmt, ...]]:
    for model in spec.models:
        yield model.body
    for block in spec.blocks:
        yield block.body


def _step_at(spec: ast.Spec, span: Span) -> _Step | None:
    for body in _bodies(spec):
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for i, layer in enumerate(stmt.chain.steps):
                    if layer.span == span:
                        return _Step(body, stmt, i)
    return None


def _assignment(body: tuple[ast.Stmt, ...], name: str) -> ast.Assign | None:
    for stmt in body:
        if isinstance(stmt, ast.Assign) and stmt.target == name:
            return stmt
    return None


def _plain(layer: ast.Layer) -> bool:
    """No options and no repeat: rewriting the layer loses nothing."""
    return not layer.args and layer.repeat is None


_ARROW = re.compile(r"[ \t]*(?:\r?\n[ \t]*)?->[ \t]*")


def _arrow_between(source: SourceText, a: Span, b: Span) -> bool:
    """Only an arrow (and spaces, or one line break) between ``a`` and ``b``: no comment
    an edit could swallow."""
    return _ARROW.fullmatch(source.between(a, b)) is not None


def _op_writing(role: Callable[[Op], bool]) -> str | None:
    """The name a spec writes for the one chain op with ``role`` (None unless exactly one:
    the fix must not guess)."""
    names = [op.name for op in CATALOG.values() if op.in_chain and role(op)]
    return names[0] if len(names) == 1 else None


def _log_softmax() -> str | None:
    """The op that writes log-probabilities over the class axis in one step."""
    return _op_writing(lambda op: op.output is Output.LOG_DISTRIBUTION)


def _identity() -> str | None:
    """The op that passes its input on as it is: no options, not a view of a reshaped
    tensor."""
    return _op_writing(lambda op: op.passes_values and not op.is_view and not op.opts)


@attrs.frozen
class FixContext:
    spec: ast.Spec
    lowered: Lowered
    source: SourceText
    #: the first graph node of each source span (a block's layer: its first instance)
    nodes: dict[Span, Node] = attrs.field(factory=dict)

    def node(self, layer: ast.Layer) -> Node | None:
        """The first graph node lowered from ``layer`` (None for a block call)."""
        if not self.nodes:
            for node in self.lowered.nodes():
                self.nodes.setdefault(node.span, node)
        return self.nodes.get(layer.span)

    def writes(self, layer: ast.Layer, *outputs: Output) -> bool:
        """``layer`` is an op (not a block) whose output means one of ``outputs``."""
        node = self.node(layer)
        return node is not None and node.kind.output in outputs

    def ends_in_distribution(self, body: tuple[ast.Stmt, ...], name: str) -> bool:
        """``name`` holds a (log-)distribution: the last op of its chain that changes values
        (looking back through value-passing ops such as ``identity`` and through named
        tensors) outputs one."""
        seen: set[str] = set()
        while name not in seen:
            seen.add(name)
            assign = _assignment(body, name)
            if assign is None:
                return False
            for step in reversed(assign.chain.steps):
                node = self.node(step)
                if node is None:
                    return False
                if node.kind.output in (Output.DISTRIBUTION, Output.LOG_DISTRIBUTION):
                    return True
                if not node.kind.passes_values:
                    return False
            if not isinstance(assign.chain.source, ast.Ref):
                return False
            name = assign.chain.source.name
        return False

    def single_softmax(self, body: tuple[ast.Stmt, ...], name: str) -> ast.Ref | None:
        """When ``name = z -> softmax`` (one plain softmax of a named tensor): ``z``."""
        assign = _assignment(body, name)
        if assign is None or len(assign.chain.steps) != 1:
            return None
        step = assign.chain.steps[0]
        if not isinstance(assign.chain.source, ast.Ref) or not _plain(step):
            return None
        return assign.chain.source if self.writes(step, Output.DISTRIBUTION) else None


# --------------------------------------------------------------------------- fixers


def _fix_log_of_softmax(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN103: ``softmax -> log`` → ``log_softmax`` (safe: the same values, stably)."""
    step = _step_at(ctx.spec, d.span)
    fused = _log_softmax()
    if step is None or fused is None or not _plain(step.layer):
        return None
    if not ctx.writes(step.layer, Output.LOG):
        return None
    if step.index > 0:
        before = step.steps[step.index - 1]
        if not _plain(before) or not ctx.writes(before, Output.DISTRIBUTION):
            return None
        if not _arrow_between(ctx.source, before.span, step.layer.span):
            return None
        if step.index > 1 and ctx.writes(step.steps[step.index - 2], Output.DISTRIBUTION):
            return None  # a softmax of a distribution: log_softmax of it is NN104's finding
        edit = Edit(before.span.merge(step.layer.span), fused)
        return Fix("safe", f"replace `{before.name} -> {step.layer.name}` with `{fused}`", (edit,))
    source = step.assign.chain.source
    if not isinstance(source, ast.Ref) or not _arrow_between(
        ctx.source, source.span, step.layer.span
    ):
        return None
    logits = ctx.single_softmax(step.body, source.name)
    # When the softmax reads a distribution, `log_softmax` of it would be a finding of
    # its own (NN104): the rewrite is not certain, so none is offered.
    if logits is None or ctx.ends_in_distribution(step.body, logits.name):
        return None
    edit = Edit(source.span.merge(step.layer.span), f"{logits.name} -> {fused}")
    return Fix(
        "safe",
        f"read `{logits.name}` with `{fused}` instead of `{step.layer.name}` of `{source.name}`",
        (edit,),
    )


def _fix_double_softmax(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN104 (unsafe: the model's outputs change — that is the point)."""
    if d.data.get("first_softmax") is None:
        return None
    step = _step_at(ctx.spec, d.span)
    if step is None:
        return _fix_loss_on_softmax(ctx, d)
    layer = step.layer
    if not ctx.writes(layer, Output.DISTRIBUTION, Output.LOG_DISTRIBUTION):
        return None
    if step.index > 0:
        before = step.steps[step.index - 1]
        if not _plain(before) or not ctx.writes(before, Output.DISTRIBUTION):
            return None
        if not _arrow_between(ctx.source, before.span, layer.span):
            return None
        # delete "softmax -> ": the second op then reads the logits
        start = ctx.source.offset(before.span.line, before.span.column)
        end = ctx.source.offset(layer.span.line, layer.span.column)
        edit = Edit(ctx.source.span(start, end), "")
        return Fix(
            "unsafe", f"remove the first {before.name}: apply `{layer.name}` to the logits", (edit,)
        )
    source = step.assign.chain.source
    if not isinstance(source, ast.Ref) or not _plain(layer):
        return None
    if ctx.writes(layer, Output.LOG_DISTRIBUTION):
        logits = ctx.single_softmax(step.body, source.name)
        if logits is None or not _arrow_between(ctx.source, source.span, layer.span):
            return None
        edit = Edit(source.span.merge(layer.span), f"{logits.name} -> {layer.name}")
        return Fix(
            "unsafe", f"apply `{layer.name}` to `{logits.name}`, not to probabilities", (edit,)
        )
    if len(step.steps) > 1:
        after = step.steps[1]
        if not _arrow_between(ctx.source, layer.span, after.span):
            return None
        start = ctx.source.offset(layer.span.line, layer.span.column)
        end = ctx.source.offset(after.span.line, after.span.column)
        edit = Edit(ctx.source.span(start, end), "")
    else:
        identity = _identity()
        if identity is None:
            return None
        edit = Edit(layer.span, identity)
    return Fix(
        "unsafe", f"remove the second {layer.name}: `{source.name}` already sums to 1", (edit,)
    )


def _fix_loss_on_softmax(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN104 on a loss that applies its own softmax (``loss = focal(probs)``): read the
    softmax's input, the logits."""
    train = ctx.spec.section("train")
    if train is None:
        return None
    for entry in train.entries:
        value = entry.value
        if entry.key != "loss" or not isinstance(value, ast.Call) or value.span != d.span:
            continue
        if len(value.args) != 1 or not isinstance(value.args[0].value, ast.Symbol):
            return None
        arg = value.args[0].value
        for body in (m.body for m in ctx.spec.models):
            logits = ctx.single_softmax(body, arg.id)
            # Reading the softmax's input is only right when that input is logits: when it is
            # itself a distribution (a softmax of a softmax), the loss would still read one.
            if logits is not None and not ctx.ends_in_distribution(body, logits.name):
                return Fix(
                    "unsafe",
                    f"make the {value.name} loss read `{logits.name}`, the logits before the "
                    "softmax",
                    (Edit(arg.span, logits.name),),
                )
    return None


_SUPPRESSION = re.compile(r"#\s*nnlint:\s*(?:ignore-file|ignore)\s*\[(?P<codes>[^\]]*)\]")


def _fix_unused_suppression(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN021: remove the unused code, or the comment when it was the only one (safe)."""
    code = d.data.get("suppressed_code")
    if not isinstance(code, str):
        return None
    span = d.span
    line_start = ctx.source.offset(span.line, 1)
    start = ctx.source.offset(span.line, span.column)
    end = ctx.source.offset(span.end_line, span.end_column)
    match = _SUPPRESSION.fullmatch(ctx.source.text[start:end])
    if match is None:
        return None
    items = match.group("codes").split(",")
    kept = [item.strip() for item in items if item.strip() and item.strip().upper() != code]
    if len(kept) < len([i for i in items if i.strip()]) and kept:
        inner_start = start + match.start("codes")
        inner_end = start + match.end("codes")
        edit = Edit(ctx.source.span(inner_start, inner_end), ", ".join(kept))
        return Fix("safe", f"remove {code} from the suppression", (edit,))
    if kept:
        return None
    # the whole comment: from the spaces before it to the end of its line
    starts = ctx.source.starts
    line_end = starts[span.line] if span.line < len(starts) else len(ctx.source.text)
    rest_end = line_end - 1 if ctx.source.text[line_end - 1 : line_end] == "\n" else line_end
    if ctx.source.text[rest_end - 1 : rest_end] == "\r":
        rest_end -= 1
    before = ctx.source.text[line_start:start]
    if before.strip() == "":
        # the comment stands alone on its line: remove the line
        edit = Edit(ctx.source.span(line_start, line_end), "")
    else:
        cut = line_start + len(before.rstrip(" \t"))
        edit = Edit(ctx.source.span(cut, rest_end), "")
    return Fix("safe", "remove the unused suppression comment", (edit,))


def _fix_decoupled_weight_decay(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN111: ``optimizer = adam`` → ``optimizer = adamw`` (unsafe: the training changes)."""
    variant = d.data.get("suggested")
    section = ctx.spec.section("train")
    if not isinstance(variant, str) or section is None:
        return None
    entries = [e for e in section.entries if e.key == "optimizer"]
    if len(entries) != 1 or not isinstance(entries[0].value, ast.Symbol):
        return None
    value = entries[0].value
    if value.id != d.data.get("optimizer"):
        return None
    return Fix(
        "unsafe",
        f"replace `{value.id}` with `{variant}` (decoupled weight decay)",
        (Edit(value.span, variant),),
    )


def _fix_bias_before_norm(ctx: FixContext, d: Diagnostic) -> Fix | None:
    """NN114: ``bias=false`` on the layer (safe: the norm subtracts the bias again)."""
    step = _step_at(ctx.spec, d.span)
    if step is None or step.layer.repeat is not None or not step.layer.has_parens:
        return None
    node = ctx.node(step.layer)
    if node is None or node.kind.bias_axis(node.opts, node.shape) is None:
        return None
    # a block's layer is one line for every call: each of them must lose its bias for nothing
    made = sum(1 for n in ctx.lowered.nodes() if n.span == d.span)
    if made != d.data.get("instances", 1):
        return None
    layer = step.layer
    named = [a for a in layer.args if a.keyword == "bias"]
    if named:
        edit = Edit(named[0].value.span, "false")
    else:
        text = ctx.source.of(layer.span)
        if not text.endswith(")"):
            return None
        end = ctx.source.offset(layer.span.end_line, layer.span.end_column) - 1
        separator = ", " if layer.args else ""
        edit = Edit(ctx.source.span(end, end), f"{separator}bias=false")
    return Fix("safe", f"set bias=false on `{layer.name}` (the norm cancels its bias)", (edit,))


#: code -> fixer. A fixer returns ``None`` when the repair is not certain.
FIXERS: dict[str, Callable[[FixContext, Diagnostic], Fix | None]] = {
    "NN021": _fix_unused_suppression,
    "NN103": _fix_log_of_softmax,
    "NN104": _fix_double_softmax,
    "NN111": _fix_decoupled_weight_decay,
    "NN114": _fix_bias_before_norm,
}


def attach_fixes(
    spec: ast.Spec, lowered: Lowered, diagnostics: Sequence[Diagnostic]
) -> list[Diagnostic]:
    """Give each finding whose code has a fixer its fix (when the fixer is certain)."""
    if not any(d.code in FIXERS for d in diagnostics):
        return list(diagnostics)
    ctx = FixContext(spec, lowered, SourceText(spec.text))
    out = []
    for d in diagnostics:
        fixer = FIXERS.get(d.code)
        fix = fixer(ctx, d) if fixer is not None and d.autofix is None else None
        out.append(attrs.evolve(d, autofix=fix) if fix is not None else d)
    return out


# --------------------------------------------------------------------------- applying


def apply_fixes(text: str, fixes: Sequence[Fix]) -> tuple[str, int]:
    """Apply the fixes whose edits do not overlap an earlier one's; return the new text
    and how many were applied. Identical fixes (a block's layer found once per call of
    the block) count once."""
    source = SourceText(text)
    chosen: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    applied = 0
    seen: set[tuple[Edit, ...]] = set()
    ordered = sorted(
        (f for f in fixes if f.edits),
        key=lambda f: min((e.span.line, e.span.column) for e in f.edits),
    )
    for fix in ordered:
        if fix.edits in seen:
            continue
        ranges = [
            (
                source.offset(e.span.line, e.span.column),
                source.offset(e.span.end_line, e.span.end_column),
                e.content,
            )
            for e in fix.edits
        ]
        if any((a < e and s < b) or (a == s == b == e) for a, b, _ in ranges for s, e in taken):
            continue
        seen.add(fix.edits)
        taken += [(a, b) for a, b, _ in ranges]
        chosen += ranges
        applied += 1
    for start, end, content in sorted(chosen, reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


@attrs.frozen
class FixOutcome:
    """What :func:`fix_text` did: the fixed text, how many fixes it applied, and the
    check of the fixed text (the findings that remain)."""

    text: str
    fixed: int
    result: FileResult  # the check of the fixed text


class FixError(Exception):
    """A fix produced a spec that does not parse: a bug; nothing is written."""


def fix_text(text: str, path: str, settings, *, unsafe: bool = False) -> FixOutcome:
    """Fix ``text`` pass after pass (each pass re-checks) until no fix applies.

    Only safe fixes unless ``unsafe``. Raises :class:`FixError` when a fix would leave a
    spec that no longer parses (the caller then writes nothing)."""
    from nnlint.check import check_text
    from nnlint.rules import FATAL

    result = check_text(text, path, settings)
    fixed = 0
    if any(d.code in FATAL for d in result.diagnostics):
        return FixOutcome(text, 0, result)
    for _ in range(MAX_PASSES):
        fixes = [
            d.autofix
            for d in result.diagnostics
            if d.autofix is not None and (unsafe or d.autofix.applicability == "safe")
        ]
        if not fixes:
            break
        new_text, applied = apply_fixes(text, fixes)
        if applied == 0 or new_text == text:
            break
        new_result = check_text(new_text, path, settings)
        broken = [d for d in new_result.diagnostics if d.code in FATAL]
        if broken:
            first = broken[0]
            raise FixError(
                f"{path}: a fix would make the spec invalid ({first.code} at line "
                f"{first.span.line}: {first.message}); nothing was written"
            )
        text, result, fixed = new_text, new_result, fixed + applied
    return FixOutcome(text, fixed, result)
