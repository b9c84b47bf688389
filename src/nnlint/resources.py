"""Where the shipped data files live.

In a wheel, ``grammar/`` and ``rules/`` are copied into ``nnlint/_data/`` (see
``pyproject.toml``). In a source checkout (editable install, tests) they are
read from the top of the repository, so there is one copy of each file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The one place that picks the TOML reader: tomllib, or tomli before Python 3.11.
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["data_dir", "tomllib"]

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
