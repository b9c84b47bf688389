"""Importers: specs written from the models users already have (``nnlint import``).

Each importer turns one kind of file into the text of a ``.nn`` spec, or raises
:class:`ImportFailed` with one message per problem (the command line prints them and
exits 2). The spec it returns has been analysed by nnlint itself before it is returned.
"""

from __future__ import annotations


class ImportFailed(Exception):
    """A model that cannot be imported; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def run_import(model: str, output: str | None, dims: list[str]) -> str:
    """The spec text for ``nnlint import MODEL [-o OUTPUT] [--dim NAME=N ...]``: a
    ``.json`` file is a Hugging Face config (``importers/hf_config.py``), anything else
    an ONNX model (``importers/onnx.py``).

    Checks what the command line can get wrong before any file is read: an output that
    is the input itself (an import never overwrites its model), a ``--dim`` that is not
    ``NAME=N``, and, for an ONNX model, a missing ``onnx`` package (the ``onnx`` extra)."""
    import os
    from pathlib import Path

    sizes: dict[str, int] = {}
    for item in dims:
        name, _, value = item.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise ImportFailed([f"--dim {item}: expected NAME=N with a positive size N"])
        sizes[name] = int(value)
    source = Path(model)
    if output not in (None, "-") and source.exists():
        target = Path(output)
        if target.exists() and os.path.samefile(source, target):
            raise ImportFailed([f"{output}: is the model being imported; choose another -o"])
    from nnlint.importers.hf_config import import_hf_config, is_hf_config

    if is_hf_config(source):
        return _formatted(import_hf_config(source, sizes))
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportFailed(
            [
                "importing an ONNX model needs the onnx package: "
                "pip install 'nnlint[onnx]' (or pip install onnx)"
            ]
        ) from None
    from nnlint.importers.onnx import import_onnx

    return _formatted(import_onnx(source, sizes))


def _formatted(text: str) -> str:
    """The imported spec in ``nnlint format``'s layout, so that a formatting check in
    pre-commit passes on a freshly imported file (the formatter proves the layout parses
    to the same spec)."""
    from nnlint.format import format_text

    return format_text(text)
