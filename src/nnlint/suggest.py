"""``did you mean …?``: the one place that picks the closest known name.

Every message that rejects a name (a spec's undefined tensor, an unknown op, key,
optimizer, target, rule code or selector) suggests the closest known one with
:func:`suggest`, so the same typo gets the same answer everywhere. Closeness is
:func:`difflib.get_close_matches`' ratio with its default cutoff of 0.6.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "suggest"]


def suggest(word: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``word``, or None when none is close enough."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean `close`?"`` to append to a spec diagnostic, or ``""``."""
    close = suggest(word, known)
    return f"; did you mean `{close}`?" if close else ""
