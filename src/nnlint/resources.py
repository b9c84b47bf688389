"""Where the shipped data files live, and the one TOML reader.

:func:`read_toml` reads every TOML file nnlint opens: config files, target
profiles and the shipped rule thresholds, with one wording for each failure;
:class:`TableReader` checks the types of the values read, with one wording for each
wrong type.

In a wheel, ``grammar/`` and ``rules/`` are copied into ``nnlint/_data/`` (see
``pyproject.toml``). In a source checkout (editable install, tests) they are
read from the top of the repository, so there is one copy of each file.
"""

from __future__ import annotations

import abc
import os
import sys
from pathlib import Path
from typing import Any

# The one place that picks the TOML reader: tomllib, or tomli before Python 3.11.
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["TableReader", "TomlFileError", "data_dir", "describe", "read_toml"]

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


class TomlFileError(Exception):
    """A TOML file that cannot be read or parsed. ``str()`` says why, without the path
    (the caller names the file in its own error: a config or a target error)."""


def read_toml(path: str | os.PathLike[str], *, what: str = "TOML files") -> dict[str, Any]:
    """Parse the UTF-8 TOML file at ``path``; :class:`TomlFileError` when it cannot.

    Only a regular file of at most 1 MiB is read (:func:`nnlint.files.read_regular`;
    ``what`` names the kind of file in the size message, e.g. "configs").
    """
    from nnlint.files import CONFIG_LIMIT, Refused, read_regular

    try:
        text = read_regular(path, limit=CONFIG_LIMIT, what=what).decode("utf-8")
    except IsADirectoryError:
        raise TomlFileError("is a folder, not a TOML file") from None
    except OSError as exc:
        raise TomlFileError(f"cannot read: {exc.strerror or exc}") from None
    except Refused as exc:
        raise TomlFileError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise TomlFileError(f"not UTF-8 text: {exc.reason}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise TomlFileError("invalid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        raise TomlFileError(f"invalid TOML: {exc}") from None


def describe(value: Any) -> str:
    """A value read from TOML, for an error message: ``int 3``, ``str 'x'`` (``nothing``
    for a missing one)."""
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


class TableReader(abc.ABC):
    """Type-checked values of a parsed TOML file (a config, a target profile). Each
    check returns the value or raises the error :meth:`fail` makes, which names the
    file and the key."""

    @abc.abstractmethod
    def fail(self, key: str | None, message: str) -> Exception:
        """The error for a bad value at ``key``."""

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {describe(value)}")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(key, f"must be a list of strings, got {describe(value)}")
        return value

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {describe(value)}")
        return value
