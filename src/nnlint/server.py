"""``nnlint server``: a Language Server (LSP over stdio) built on pygls.

What an editor gets (the README's "Editors" section shows the client set-up):

- **diagnostics** on open, on save and on every change (debounced by
  :data:`DEBOUNCE_S`): exactly ``nnlint check``'s findings for the document, with
  the configuration found from the document's folder (its ``select``, ``ignore``,
  ``per-file-ignores``, thresholds and default target) and the spec's own target;
- **hover** on a layer or a tensor name: its output shape, parameters, MACs and
  cached activation bytes, and, when a target is known, the layer's roofline
  (FLOP/byte, memory- or compute-bound, latency); on a block call, the sums over
  the block's layers;
- **go to definition** of a tensor name (where it is assigned or declared as an
  input, in its model or block), a block (its ``block`` line) and a block parameter;
- **completion** of op names and block names after ``->`` (and of merge ops and
  tensor names after ``=``), and of an op's options or a block's parameters inside
  its parentheses — all from the op catalog and the document, never a fixed list;
- **code actions** for the findings that carry a certain fix (``nnlint check
  --fix``'s edits), marked preferred when the fix is safe;
- **formatting**: ``nnlint format``'s layout for the whole document.

The analysis runs in one worker thread, so the editor never waits on a large spec;
the server process keeps the built parser and the op and rule registries in memory
between edits (the parser cache stays warm). Only the latest version of a document
is published.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.workspace.position_codec import ServerTextPosition

from nnlint import __version__, ast
from nnlint.check import Analysis, Settings, analyse_text, check_text
from nnlint.diagnostics import Diagnostic, FileResult, Severity, Span

__all__ = ["DEBOUNCE_S", "NnlintServer", "serve"]

#: Quiet time after the last keystroke before a changed document is checked again.
DEBOUNCE_S = 0.2

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.NOTE: lsp.DiagnosticSeverity.Information,
}


@attrs.frozen
class _State:
    """One analysed version of a document."""

    text: str
    result: FileResult  # what `nnlint check` reports
    analysis: Analysis | None  # figures for hover (None when the spec does not lower)
    spec: ast.Spec | None  # the syntax tree of this text, or of the last text that parsed


def _settings_for(path: str | None) -> tuple[Settings, str | None]:
    """The settings `nnlint check` would use for ``path``; a bad config is reported
    and the defaults are used."""
    from nnlint.config import ConfigError, ConfigResolver, Overrides, settings_for

    where = path or os.path.join(os.getcwd(), "untitled.nn")
    try:
        config = ConfigResolver().for_path(where)
        return settings_for(config, where, Overrides()), None
    except ConfigError as exc:
        return Settings(), str(exc)


def _analyse(text: str, path: str | None, previous: ast.Spec | None) -> tuple[_State, str | None]:
    """Check ``text`` as ``nnlint check`` would (runs in the worker thread)."""
    from nnlint.diagnostics import SpecError
    from nnlint.parse import parse

    settings, config_problem = _settings_for(path)
    display = path or "untitled.nn"
    result = check_text(text, display, settings)
    analysis, _ = analyse_text(text, settings)
    spec = analysis.spec if analysis is not None else None
    if spec is None:
        try:
            spec, _ = parse(text)
        except SpecError:
            spec = previous  # keep navigating with the last tree that parsed
    return _State(text, result, analysis, spec), config_problem


# --------------------------------------------------------------------------- positions


class _Positions:
    """Spans (1-based lines, 1-based code-point columns) <-> LSP positions (0-based,
    in the client's position encoding, UTF-16 by default)."""

    def __init__(self, text: str, codec) -> None:
        self.lines = text.split("\n")
        self.codec = codec

    def to_lsp(self, line: int, column: int) -> lsp.Position:
        line = min(max(line, 1), len(self.lines))
        text = self.lines[line - 1]
        column = min(max(column, 1), len(text) + 1)
        return self.codec.position_to_client_units(
            self.lines, ServerTextPosition(line - 1, column - 1)
        )

    def range(self, span: Span) -> lsp.Range:
        start = self.to_lsp(span.line, span.column)
        end = self.to_lsp(span.end_line, span.end_column)
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return lsp.Range(start=start, end=end)

    def from_lsp(self, position: lsp.Position) -> tuple[int, int]:
        if position.line >= len(self.lines):
            return len(self.lines), len(self.lines[-1]) + 1
        server = self.codec.position_from_client_units(
            self.lines, lsp.Position(line=position.line, character=position.character)
        )
        return server.line + 1, server.character + 1

    def word_at(self, line: int, column: int) -> tuple[str, Span] | None:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        for m in _WORD.finditer(text.split("#", 1)[0]):
            if m.start() + 1 <= column <= m.end() + 1:
                return m.group(), Span(line, m.start() + 1, line, m.end() + 1)
        return None


def _contains(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


# --------------------------------------------------------------------------- the server


class NnlintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("nnlint", __version__, max_workers=2)
        self.states: dict[str, _State] = {}
        self.pending: dict[str, asyncio.Task] = {}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnlint-check")
        self.config_problems: set[str] = set()

    # ---------------------------------------------------------------- analysis
    def document(self, uri: str):
        return self.workspace.get_text_document(uri)

    def positions(self, uri: str, text: str) -> _Positions:
        """Spans of ``text`` <-> positions in the client's encoding for ``uri``."""
        return _Positions(text, self.document(uri).position_codec)

    async def at_cursor(
        self, params: lsp.TextDocumentPositionParams
    ) -> tuple[_State, _Positions, int, int]:
        """The analysis of the document ``params`` names, its positions, and the cursor's
        (line, column)."""
        uri = params.text_document.uri
        state = await self.state(uri)
        positions = self.positions(uri, state.text)
        line, column = positions.from_lsp(params.position)
        return state, positions, line, column

    async def state(self, uri: str) -> _State:
        """The analysis of the document's current text (computed now if it is stale)."""
        doc = self.document(uri)
        state = self.states.get(uri)
        if state is not None and state.text == doc.source:
            return state
        return await self.refresh(uri, publish=False)

    async def refresh(self, uri: str, *, publish: bool) -> _State:
        doc = self.document(uri)
        text, version = doc.source, doc.version
        previous = self.states.get(uri)
        loop = asyncio.get_running_loop()
        state, problem = await loop.run_in_executor(
            self.worker, _analyse, text, doc.path, previous.spec if previous else None
        )
        if problem and problem not in self.config_problems:
            self.config_problems.add(problem)
            self.window_show_message(
                lsp.ShowMessageParams(type=lsp.MessageType.Error, message=f"nnlint: {problem}")
            )
        current = self.document(uri)
        if current.source == text:
            self.states[uri] = state
            if publish:
                self.publish(uri, state, version)
        return state

    def schedule(self, uri: str, delay: float) -> None:
        """Check ``uri`` after ``delay`` seconds unless it changes again before."""
        task = self.pending.pop(uri, None)
        if task is not None:
            task.cancel()

        async def later() -> None:
            await asyncio.sleep(delay)
            if self.pending.get(uri) is asyncio.current_task():
                del self.pending[uri]
            await self.refresh(uri, publish=True)

        self.pending[uri] = asyncio.ensure_future(later())

    def publish(self, uri: str, state: _State, version: int | None) -> None:
        positions = self.positions(uri, state.text)
        diagnostics = [_to_lsp(d, positions, uri) for d in state.result.diagnostics]
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )


def _to_lsp(d: Diagnostic, positions: _Positions, uri: str) -> lsp.Diagnostic:
    message = d.message + (f"\nhelp: {d.fix}" if d.fix else "")
    related = [
        lsp.DiagnosticRelatedInformation(
            location=lsp.Location(uri=uri, range=positions.range(r.span)), message=r.message
        )
        for r in d.related
    ]
    return lsp.Diagnostic(
        range=positions.range(d.span),
        message=message,
        severity=_SEVERITY.get(d.severity, lsp.DiagnosticSeverity.Warning),
        code=d.code,
        source="nnlint",
        related_information=related or None,
    )


server = NnlintServer()


@server.feature(lsp.INITIALIZED)
async def _initialized(ls: NnlintServer, params: lsp.InitializedParams) -> None:
    # Build the parser and load the op, rule and target registries now, not on the
    # first keystroke.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(ls.worker, _analyse, "model warm_up {\n}\n", None, None)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
async def _did_open(ls: NnlintServer, params: lsp.DidOpenTextDocumentParams) -> None:
    await ls.refresh(params.text_document.uri, publish=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
async def _did_change(ls: NnlintServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_S)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
async def _did_save(ls: NnlintServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)  # a config next to it may have changed too


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
async def _did_close(ls: NnlintServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.states.pop(uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# --------------------------------------------------------------------------- hover


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
async def _hover(ls: NnlintServer, params: lsp.HoverParams) -> lsp.Hover | None:
    state, positions, line, column = await ls.at_cursor(params)
    if state.analysis is None:
        return None
    found = hover_text(state.analysis, state.text, line, column)
    if found is None:
        return None
    markdown, span = found
    return lsp.Hover(
        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=markdown),
        range=positions.range(span),
    )


def hover_text(analysis: Analysis, text: str, line: int, column: int) -> tuple[str, Span] | None:
    """The hover of the layer or tensor name at (``line``, ``column``), with its span."""
    spec = analysis.spec
    lines = _Positions(text, None)
    word = lines.word_at(line, column)
    item = _item_at(spec, line, column)
    if word is None or item is None:
        return None
    name, word_span = word
    layers = analysis.report.layers

    if isinstance(item, (ast.ModelDef, ast.BlockDef)):
        step = _step_at(item, line, column)
        if step is not None and _contains(step.name_span, line, column):
            # A layer: its node(s) — a layer inside a block has one node per call.
            nodes = [c for c in layers if c.node.span == step.span]
            if not nodes and isinstance(item, ast.ModelDef):  # a block call
                target = _target_of(item, step)
                prefix = f"{target}/{step.name}["
                nodes = [c for c in layers if c.node.id.startswith(prefix)]
                if nodes:
                    title = f"**{step.name}** (block) in `{target}`: {len(nodes)} layers"
                    return _figures(analysis, nodes, title), step.name_span
            if nodes:
                title = f"**{step.name}** `{nodes[0].node.id}`"
                if len(nodes) > 1:
                    title += f" — {len(nodes)} instances (one per call of the block)"
                return _figures(analysis, nodes, title), step.name_span
    # A tensor name.
    tensors = analysis.report.lowered.tensors
    if isinstance(item, ast.BlockDef):
        assign = next(
            (s for s in item.body if isinstance(s, ast.Assign) and s.target == name), None
        )
        if assign is None or not assign.chain.steps:
            return None
        last = assign.chain.steps[-1].span
        nodes = [c for c in layers if c.node.span == last]
        if not nodes:
            return None
        title = f"**{name}** (in block `{item.name}`): {len(nodes)} instances"
        return _figures(analysis, nodes, title), word_span
    if name not in tensors:
        return None
    node_id = tensors[name]
    nodes = [c for c in layers if c.node.tensor == name and c.node.loss is None]
    produced = next((c for c in layers if c.node.id == node_id), None)
    if produced is None:
        return None
    title = f"**{name}**: `{_shape(produced.node.shape)}`, produced by `{node_id}`"
    if len(nodes) > 1:
        title += f"; its chain has {len(nodes)} layers"
    return _figures(analysis, nodes or [produced], title), word_span


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _figures(analysis: Analysis, costs: list, title: str) -> str:
    """Markdown: the output shape, parameters, MACs and cached activation bytes of
    ``costs`` (summed when there are several), and their roofline on the target."""
    from nnlint.precision import nbytes  # the one formula for bytes of a precision

    report = analysis.report
    params = sum(c.counted_params for c in costs)
    macs = sum(c.train.macs for c in costs)
    cached = sum(nbytes(c.train.cached_elements, c.precision) for c in costs)
    precisions = "/".join(sorted({c.precision for c in costs}))
    out = [
        title,
        "",
        f"- output shape: `{_shape(costs[-1].node.shape)}` per sample",
        f"- parameters: {params:,}",
        f"- MACs per sample: {macs:,}",
        f"- activation bytes kept for backward: {cached:,} "
        f"(batch {report.totals.train_batch}, {precisions})",
    ]
    if len(costs) > 1:
        out.append(f"- summed over {len(costs)} layers")
    roof = analysis.roofline
    rows = [r for r in (roof.layer(c.node.id) for c in costs) if r is not None] if roof else []
    if roof is not None and len(rows) == 1:
        r = rows[0]
        bound = f"{r.bound}-bound" if r.bound else "no peak at this precision"
        intensity = "" if r.intensity is None else f", {r.intensity:,.1f} FLOP/byte"
        ridge = "" if roof.ridge_point is None else f" (ridge {roof.ridge_point:,.1f})"
        latency = "" if r.time_s is None else f", {_seconds(r.time_s)}"
        out.append(
            f"- roofline on `{roof.target.id}` at {roof.precision}: "
            f"{bound}{intensity}{ridge}{latency}"
        )
    elif roof is not None and rows:
        counts: dict[str, int] = {}
        for r in rows:
            key = f"{r.bound}-bound" if r.bound else "no peak"
            counts[key] = counts.get(key, 0) + 1
        times = [r.time_s for r in rows if r.time_s is not None]
        latency = f", {_seconds(sum(times))} in all" if times else ""
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        out.append(f"- roofline on `{roof.target.id}` at {roof.precision}: {kinds}{latency}")
    return "\n".join(out)


def _seconds(s: float) -> str:
    if s >= 1e-3:
        return f"{s * 1e3:,.3g} ms"
    return f"{s * 1e6:,.3g} µs"


def _item_at(spec: ast.Spec, line: int, column: int):
    for item in (*spec.models, *spec.blocks, *spec.sections):
        if _contains(item.span, line, column):
            return item
    return None


def _step_at(item, line: int, column: int) -> ast.Layer | None:
    for stmt in item.body:
        if isinstance(stmt, ast.Assign) and _contains(stmt.span, line, column):
            chain = stmt.chain
            for step in (chain.source, *chain.steps):
                if isinstance(step, ast.Layer) and _contains(step.span, line, column):
                    return step
    return None


def _target_of(item, step: ast.Layer) -> str:
    for stmt in item.body:
        if isinstance(stmt, ast.Assign) and (
            step is stmt.chain.source or any(step is s for s in stmt.chain.steps)
        ):
            return stmt.target
    return ""


# --------------------------------------------------------------------------- definition


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
async def _definition(ls: NnlintServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    state, positions, line, column = await ls.at_cursor(params)
    if state.spec is None:
        return None
    span = definition(state.spec, state.text, line, column)
    if span is None:
        return None
    return lsp.Location(uri=params.text_document.uri, range=positions.range(span))


def definition(spec: ast.Spec, text: str, line: int, column: int) -> Span | None:
    """Where the tensor, block or block parameter named at (line, column) is defined."""
    word = _Positions(text, None).word_at(line, column)
    if word is None:
        return None
    name = word[0]
    item = _item_at(spec, line, column)
    scopes = []
    if isinstance(item, ast.BlockDef):
        scopes.append(item)
    scopes += list(spec.models)  # sections and models name the model's tensors
    if isinstance(item, (ast.ModelDef, ast.BlockDef)):
        step = _step_at(item, line, column)
        if step is not None and _contains(step.name_span, line, column):
            scopes = []  # an op or block name, not a tensor
    for scope in scopes:
        for stmt in scope.body:
            if isinstance(stmt, ast.Assign) and stmt.target == name:
                return stmt.target_span
            if isinstance(stmt, ast.InputDecl) and stmt.name == name:
                return stmt.name_span
        if isinstance(scope, ast.BlockDef):
            for param in scope.params:
                if param.name == name:
                    start = param.span
                    return Span(start.line, start.column, start.line, start.column + len(name))
    for block in spec.blocks:
        if block.name == name:
            return block.name_span
    return None


# --------------------------------------------------------------------------- completion


_AFTER_ARROW = re.compile(r"->\s*(?P<prefix>[A-Za-z_0-9]*)$")
_AFTER_ASSIGN = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*(?P<prefix>[A-Za-z_0-9]*)$")
_IN_CALL = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<args>[^()]*)$")
_BLOCK_LINE = re.compile(r"^\s*block\s+(?P<name>[A-Za-z_]\w*)\s*\((?P<params>[^)]*)\)", re.M)
_ASSIGN_LINE = re.compile(r"^\s*(?:input\s+)?(?P<name>[A-Za-z_]\w*)\s*(?:=|:|$)", re.M)


@server.feature(
    lsp.TEXT_DOCUMENT_COMPLETION,
    lsp.CompletionOptions(trigger_characters=[">", "(", ",", " "]),
)
async def _completion(ls: NnlintServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    doc = ls.document(params.text_document.uri)
    positions = _Positions(doc.source, doc.position_codec)
    line, column = positions.from_lsp(params.position)
    before = positions.lines[line - 1][: column - 1] if line <= len(positions.lines) else ""
    return lsp.CompletionList(is_incomplete=False, items=completions(doc.source, before))


def completions(text: str, before: str) -> list[lsp.CompletionItem]:
    """What may be typed after ``before`` (the line up to the cursor), from the op
    catalog and the document (works while the document does not parse)."""
    from nnlint.ops import OPS

    if "#" in before:
        return []
    blocks = {m.group("name"): m.group("params") for m in _BLOCK_LINE.finditer(text)}
    if (m := _IN_CALL.search(before)) is not None:
        name = m.group("name")
        used = set(re.findall(r"([A-Za-z_]\w*)\s*=", m.group("args")))
        if name in OPS:
            return [
                lsp.CompletionItem(
                    label=f"{opt.name}=",
                    kind=lsp.CompletionItemKind.Property,
                    detail=_option_detail(opt),
                    insert_text=f"{opt.name}=",
                )
                for opt in OPS[name].all_opts()
                if opt.name not in used
            ]
        if name in blocks:
            params = [p.split("=")[0].strip() for p in blocks[name].split(",") if p.strip()]
            return [
                lsp.CompletionItem(
                    label=f"{p}=", kind=lsp.CompletionItemKind.Property, detail=f"{name} parameter"
                )
                for p in params
                if p not in used
            ]
        return []
    if _AFTER_ARROW.search(before) is not None:
        items = [
            lsp.CompletionItem(
                label=name, kind=lsp.CompletionItemKind.Function, detail=f"{op.family} op"
            )
            for name, op in sorted(OPS.items())
            if _chain_op(op) and op.family != "merge"
        ]
        items += [
            lsp.CompletionItem(
                label=name, kind=lsp.CompletionItemKind.Class, detail=f"block({params})"
            )
            for name, params in sorted(blocks.items())
        ]
        return items
    if _AFTER_ASSIGN.search(before) is not None:
        names = {m.group("name") for m in _ASSIGN_LINE.finditer(text)}
        names -= {"model", "block", "input", "train", "data", "deploy", "budget"}
        items = [
            lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail="merge op")
            for name, op in sorted(OPS.items())
            if _chain_op(op) and op.family == "merge"
        ]
        items += [
            lsp.CompletionItem(label=n, kind=lsp.CompletionItemKind.Variable, detail="tensor")
            for n in sorted(names)
        ]
        return items
    return []


def _chain_op(op) -> bool:
    """An op a person writes in a chain (not the model inputs or the loss the lowerer makes)."""
    return getattr(op, "in_chain", True)


def _option_detail(opt) -> str:
    parts = [opt.kind]
    if opt.required:
        parts.append("required")
    elif opt.default is not None:
        parts.append(f"default {opt.default}")
    if opt.choices:
        parts.append("one of " + ", ".join(opt.choices))
    return "; ".join(parts)


# --------------------------------------------------------------------------- code actions


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION,
    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]),
)
async def _code_action(ls: NnlintServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    state = await ls.state(uri)
    positions = ls.positions(uri, state.text)
    return code_actions(state.result.diagnostics, positions, uri, params.range)


def code_actions(
    diagnostics: Sequence[Diagnostic], positions: _Positions, uri: str, wanted: lsp.Range
) -> list[lsp.CodeAction]:
    """A quick fix for each finding in ``wanted`` that carries a certain fix."""
    actions = []
    for d in diagnostics:
        fix = getattr(d, "autofix", None)
        if fix is None:
            continue
        where = positions.range(d.span)
        if _before(where.end, wanted.start) or _before(wanted.end, where.start):
            continue
        edits = [lsp.TextEdit(range=positions.range(e.span), new_text=e.content) for e in fix.edits]
        safe = fix.applicability == "safe"
        actions.append(
            lsp.CodeAction(
                title=f"{d.code}: {fix.description}" + ("" if safe else " (unsafe fix)"),
                kind=lsp.CodeActionKind.QuickFix,
                diagnostics=[_to_lsp(d, positions, uri)],
                edit=lsp.WorkspaceEdit(changes={uri: edits}),
                is_preferred=safe,
            )
        )
    return actions


def _before(a: lsp.Position, b: lsp.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


# --------------------------------------------------------------------------- formatting


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
async def _formatting(
    ls: NnlintServer, params: lsp.DocumentFormattingParams
) -> list[lsp.TextEdit] | None:
    from nnlint.diagnostics import SpecError
    from nnlint.format import FormatError, format_text

    doc = ls.document(params.text_document.uri)
    text = doc.source
    try:
        formatted = format_text(text)
    except (SpecError, FormatError):
        return None  # the NN001 diagnostic already says why
    if formatted == text:
        return []
    positions = _Positions(text, doc.position_codec)
    end = positions.to_lsp(len(positions.lines), len(positions.lines[-1]) + 1)
    whole = lsp.Range(start=lsp.Position(line=0, character=0), end=end)
    return [lsp.TextEdit(range=whole, new_text=formatted)]


def serve(argv: Any = None) -> int:
    """Run the server on stdin/stdout until the client says exit."""
    server.start_io()
    return 0
