"""``nnlint server`` end to end: pygls's LSP client talks to ``python -m nnlint server``
over stdio, as an editor does — initialize, open a document, receive its diagnostics,
hover, edit, see the diagnostics change, go to a definition, complete, quick-fix,
format, close."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from nnlint.check import check_text
from nnlint.ops import OPS

ROOT = Path(__file__).resolve().parent.parent
#: Generous bound on waiting for a notification; only guards against a hang.
WAIT_S = 60

SPEC = textwrap.dedent("""\
    model m {
        input x: [784]
        h      = x -> dense(256) -> relu
        logits = h -> dense(10)
        probs  = logits -> softmax
    }

    train {
        batch = 32
        loss  = cross_entropy(probs)
    }

    deploy {
        target    = edge-tpu
        precision = int8
    }

    budget {
        params <= 100k
    }
    """)


class Session:
    """One client and one server process; diagnostics arrive in ``published``."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.published: asyncio.Queue = asyncio.Queue()

    async def diagnostics(self, uri: str, version: int | None = None):
        while True:
            params = await asyncio.wait_for(self.published.get(), WAIT_S)
            if params.uri == uri and (version is None or params.version == version):
                return params.diagnostics


async def _start(tmp_path: Path) -> Session:
    client = LanguageClient("nnlint-test", "1")
    session = Session(client)

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _published(params: lsp.PublishDiagnosticsParams) -> None:
        session.published.put_nowait(params)

    @client.feature(lsp.WINDOW_SHOW_MESSAGE)
    def _message(params) -> None:
        pass

    await client.start_io(sys.executable, "-m", "nnlint", "server", cwd=str(tmp_path))
    await client.initialize_async(
        lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(),
            root_uri=tmp_path.as_uri(),
            process_id=None,
        )
    )
    client.initialized(lsp.InitializedParams())
    return session


async def _stop(session: Session) -> None:
    await session.client.shutdown_async(None)
    session.client.exit(None)
    await session.client.stop()


def _open(session: Session, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    session.client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri, language_id="nnlint", version=version, text=text
            )
        )
    )
    return uri


def _change(session: Session, uri: str, text: str, version: int) -> None:
    session.client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _at(text: str, needle: str, offset: int = 0) -> lsp.Position:
    """The position of ``needle`` (the first occurrence) plus ``offset`` characters."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index)
    return lsp.Position(line=line, character=index - (text.rfind("\n", 0, index) + 1))


def _doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=uri)


def _codes(diagnostics) -> list[str]:
    return sorted(d.code for d in diagnostics)


def run(coroutine_function, tmp_path):
    async def main():
        session = await _start(tmp_path)
        try:
            await coroutine_function(session)
        finally:
            await _stop(session)

    asyncio.run(asyncio.wait_for(main(), 4 * WAIT_S))


# --------------------------------------------------------------------------- end to end


def test_diagnostics_hover_edit_definition_completion(tmp_path):
    path = tmp_path / "model.nn"
    path.write_text(SPEC, encoding="utf-8")

    async def scenario(s: Session) -> None:
        uri = _open(s, path, SPEC)
        # The same findings as `nnlint check` (the parameter budget is exceeded).
        expected = check_text(SPEC, str(path)).diagnostics
        assert expected, "the spec is meant to have findings"
        diagnostics = await s.diagnostics(uri, version=1)
        assert _codes(diagnostics) == sorted(d.code for d in expected)
        first = min(expected, key=lambda d: d.sort_key())
        got = min(diagnostics, key=lambda d: (d.range.start.line, d.range.start.character))
        assert (got.range.start.line, got.range.start.character) == (
            first.span.line - 1,
            first.span.column - 1,
        )
        assert all(d.source == "nnlint" for d in diagnostics)

        # Hover on a layer: its shape and figures, and the roofline on the target.
        hover = await s.client.text_document_hover_async(
            lsp.HoverParams(text_document=_doc(uri), position=_at(SPEC, "dense(256)", 1))
        )
        text = hover.contents.value
        assert "`h/dense#1`" in text
        assert "output shape: `[256]`" in text
        assert "parameters: 200,960" in text  # 784·256 + 256
        assert "MACs per sample: 200,704" in text  # 784·256
        assert "activation bytes kept for backward: 32,768 (batch 32, fp32)" in text
        assert "roofline on `edge-tpu` at int8: memory-bound" in text
        # Hover on a tensor name: the tensor's shape and its chain.
        hover = await s.client.text_document_hover_async(
            lsp.HoverParams(text_document=_doc(uri), position=_at(SPEC, "logits -> softmax"))
        )
        assert "**logits**: `[10]`" in hover.contents.value
        assert "parameters: 2,570" in hover.contents.value  # 256·10 + 10

        # Edit: a second softmax is NN104; the diagnostics change with the text.
        edited = SPEC.replace("logits -> softmax", "logits -> softmax -> softmax")
        _change(s, uri, edited, 2)
        diagnostics = await s.diagnostics(uri, version=2)
        assert _codes(diagnostics) == sorted(
            d.code for d in check_text(edited, str(path)).diagnostics
        )
        assert "NN104" in _codes(diagnostics) and "NN104" not in [d.code for d in expected]
        # Keystrokes in quick succession are checked once, at the last version.
        for version, extra in ((5, " "), (6, "  "), (7, "")):
            _change(s, uri, edited + extra, version)
        assert (await s.published.get()).version == 7
        _change(s, uri, edited, 8)
        await s.diagnostics(uri, version=8)
        # A syntax error is the located NN001, then fixing it clears it.
        broken = edited.replace("h      = x", "h      = = x")
        _change(s, uri, broken, 9)
        diagnostics = await s.diagnostics(uri, version=9)
        assert _codes(diagnostics) == ["NN001"]
        assert diagnostics[0].range.start.line == 2
        _change(s, uri, edited, 10)
        assert "NN001" not in _codes(await s.diagnostics(uri, version=10))

        # Go to definition: a tensor name used in a chain and in a section.
        for needle in ("h -> dense(10)", "probs)"):
            location = await s.client.text_document_definition_async(
                lsp.DefinitionParams(text_document=_doc(uri), position=_at(edited, needle))
            )
            name = needle.split(" ")[0].rstrip(")")
            assert location.uri == uri
            assert location.range.start == _at(edited, f"{name} ")

        # Completion: op names after `->`, an op's options inside its parentheses.
        completed = await s.client.text_document_completion_async(
            lsp.CompletionParams(text_document=_doc(uri), position=_at(edited, "dense(256)"))
        )
        labels = {item.label for item in completed.items}
        chain_ops = {n for n, op in OPS.items() if op.in_chain and op.family != "merge"}
        assert chain_ops and chain_ops <= labels
        assert not {n for n, op in OPS.items() if op.family == "merge"} & labels
        completed = await s.client.text_document_completion_async(
            lsp.CompletionParams(
                text_document=_doc(uri), position=_at(edited, "dense(256)", len("dense("))
            )
        )
        labels = {item.label for item in completed.items}
        assert labels == {f"{opt.name}=" for opt in OPS["dense"].all_opts()}

        s.client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=_doc(uri)))
        assert list(await s.diagnostics(uri)) == []

    run(scenario, tmp_path)


def test_blocks_config_discovery_and_formatting(tmp_path):
    """A block's layer shows every call; a block name goes to its definition; the
    config next to the document applies; formatting returns nnlint format's layout."""
    (tmp_path / "nnlint.toml").write_text('ignore = ["NN104"]\n', encoding="utf-8")
    text = textwrap.dedent("""\
        block res(c) {
          input x
          y = x -> conv2d(c, 3, padding=1) -> relu
          out = add(x, y)
        }
        model m {
          input img: [8, 16, 16]
          h = img -> res(8) * 3
          p = h -> flatten -> dense(10) -> softmax -> softmax
        }
        """)
    path = tmp_path / "blocks.nn"
    path.write_text(text, encoding="utf-8")

    async def scenario(s: Session) -> None:
        uri = _open(s, path, text)
        diagnostics = await s.diagnostics(uri, version=1)
        assert "NN104" not in _codes(diagnostics)  # ignored by ./nnlint.toml

        hover = await s.client.text_document_hover_async(
            lsp.HoverParams(text_document=_doc(uri), position=_at(text, "conv2d(c"))
        )
        value = hover.contents.value
        assert "3 instances" in value
        assert "parameters: 1,752" in value  # 3 calls x (8·8·9 + 8)
        hover = await s.client.text_document_hover_async(
            lsp.HoverParams(text_document=_doc(uri), position=_at(text, "res(8)"))
        )
        assert "**res** (block) in `h`" in hover.contents.value

        location = await s.client.text_document_definition_async(
            lsp.DefinitionParams(text_document=_doc(uri), position=_at(text, "res(8)"))
        )
        assert location.range.start == _at(text, "res(c)")
        location = await s.client.text_document_definition_async(
            lsp.DefinitionParams(text_document=_doc(uri), position=_at(text, "c, 3"))
        )
        assert location.range.start == _at(text, "c)")

        edits = await s.client.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                text_document=_doc(uri),
                options=lsp.FormattingOptions(tab_size=4, insert_spaces=True),
            )
        )
        from nnlint.format import format_text

        assert len(edits) == 1 and edits[0].new_text == format_text(text)

    run(scenario, tmp_path)


def test_quick_fixes_are_the_findings_certain_fixes(tmp_path):
    """Each finding that carries a fix (``check --fix``'s) is offered as a quick fix with
    exactly its edits; findings without one offer nothing."""
    text = (ROOT / "examples" / "hazards" / "training_log_of_softmax.nn").read_text()
    path = tmp_path / "log_softmax.nn"
    path.write_text(text, encoding="utf-8")
    findings = check_text(text, str(path)).diagnostics
    fixed = [d for d in findings if getattr(d, "autofix", None) is not None]
    if importlib.util.find_spec("nnlint.fixes"):  # `check --fix` knows NN103's fix
        assert [d.code for d in fixed] == ["NN103"]

    async def scenario(s: Session) -> None:
        uri = _open(s, path, text)
        await s.diagnostics(uri, version=1)
        whole = lsp.Range(
            start=lsp.Position(line=0, character=0),
            end=lsp.Position(line=len(text.split("\n")), character=0),
        )
        actions = await s.client.text_document_code_action_async(
            lsp.CodeActionParams(
                text_document=_doc(uri),
                range=whole,
                context=lsp.CodeActionContext(diagnostics=[]),
            )
        )
        assert len(actions or []) == len(fixed)
        for action, d in zip(actions or [], fixed):
            assert action.kind == lsp.CodeActionKind.QuickFix
            assert action.title.startswith(d.code)
            edits = action.edit.changes[uri]
            assert [(e.range.start.line + 1, e.new_text) for e in edits] == [
                (e.span.line, e.content) for e in d.autofix.edits
            ]

    run(scenario, tmp_path)


def test_without_pygls_the_error_names_the_extra():
    code = (
        "import sys; sys.modules['pygls'] = None\n"
        "from nnlint.cli import main\n"
        "sys.exit(main(['server']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        "nnlint: error: `nnlint server` needs the lsp extra: pip install 'nnlint[lsp]'\n"
    )
    assert done.stdout == ""


def test_the_readme_shows_a_real_hover():
    from nnlint.check import analyse_text
    from nnlint.server import hover_text

    text = (ROOT / "examples" / "mnist_mlp.nn").read_text(encoding="utf-8")
    analysis, _ = analyse_text(text)
    position = _at(text, "dense(256)")
    markdown, _ = hover_text(analysis, text, position.line + 1, position.character + 1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```markdown\n{markdown}\n```" in readme


def test_the_server_shows_every_error_of_one_run(tmp_path):
    """Five independent mistakes are five diagnostics in the editor; the one inside a
    block points at its call with the diagnostic's related information."""
    from test_errors_in_one_run import FIVE, FIVE_FOUND

    path = tmp_path / "five.nn"
    path.write_text(FIVE, encoding="utf-8")

    async def scenario(s: Session) -> None:
        uri = _open(s, path, FIVE)
        found = await s.diagnostics(uri, version=1)
        assert [(d.code, d.range.start.line + 1, d.range.start.character + 1) for d in found] == [
            (code, line, column) for code, line, column, _ in FIVE_FOUND
        ]
        (related,) = found[0].related_information
        assert related.message == "called from line 14"
        assert related.location.uri == uri
        assert (related.location.range.start.line, related.location.range.start.character) == (
            13,
            13,
        )
        assert all(not d.related_information for d in found[1:])

    run(scenario, tmp_path)
