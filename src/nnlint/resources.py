"""Where the shipped data files live.

In a wheel, ``grammar/`` and ``rules/`` are copied into ``nnlint/_data/`` (see
``pyproject.toml``). In a source checkout (editable install, tests) they are
read from the top of the repository, so there is one copy of each file.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory holding the shipped ``grammar`` or ``rules`` data."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = _PACKAGE.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"nnlint data directory {name!r} is missing from the installation")
