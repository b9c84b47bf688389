"""``did you mean …?``: the one place that picks the closest known name.

Every message that rejects a name (a spec's undefined tensor, an unknown op, key,
optimizer, target, rule code or selector) suggests the closest known one with
:func:`suggest`, so the same typo gets the same answer everywhere.

A suggestion is made only when it is likely right:

* the same name written in another case or without its underscores
  (``Conv2D``, ``LeakyReLU``, ``ConvTranspose2d``) is that name;
* otherwise the closest name by :class:`difflib.SequenceMatcher`'s ratio, at least
  :data:`CUTOFF` (``difflib.get_close_matches``' default); of equally close names the
  one sharing the longer start with the word (``NN5011``: ``NN501``, not ``NN011``),
  and none when that still leaves two (``conv`` is as close to ``conv1d`` as to
  ``conv2d``: no answer);
* never one that changes a number: ``conv3d`` is not ``conv2d`` (nor the 2-D
  ``maxpool`` for ``maxpool3d``), ``h3`` is not ``h2`` and ``int7`` is not ``int16``,
  while a doubled or dropped digit (``NN5011`` → ``NN501``) is a typo like any other.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["CUTOFF", "did_you_mean", "suggest"]

#: The least similarity ratio (0..1) of a suggestion.
CUTOFF = 0.6

_DIGITS = re.compile(r"\d+")
_DIMENSION = re.compile(r"(\d+)d(?![a-z])")


def _squash(name: str) -> str:
    """A name without case and underscores: ``ConvTranspose2d`` -> ``convtranspose2d``."""
    return name.lower().replace("_", "").replace("-", "")


def changes_a_number(word: str, other: str) -> bool:
    """True when ``other`` differs from ``word`` in a number: another dimension (``3d``
    against ``2d``, or against a name that states none) or another number (``h3`` and
    ``h2``, ``int7`` and ``int16``), unless one digit more or less is all (``NN5011``)."""
    dims, other_dims = _DIMENSION.findall(word.lower()), _DIMENSION.findall(other.lower())
    if dims and dims != other_dims:  # maxpool3d is neither conv2d nor maxpool (2-D)
        return True
    runs, other_runs = _DIGITS.findall(word), _DIGITS.findall(other)
    if len(runs) != len(other_runs):
        return False
    return any(a != b and not _one_digit_apart(a, b) for a, b in zip(runs, other_runs))


def _one_digit_apart(a: str, b: str) -> bool:
    """True when one number is the other with one digit doubled or dropped (``5011``,
    ``501``): a slip of the keyboard, not another number."""
    short, long = sorted((a, b), key=len)
    if len(long) != len(short) + 1:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def suggest(word: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``word``, or None when none is close enough, two are
    equally close, or the closest changes a number (see the module docstring)."""
    names = list(dict.fromkeys(known))
    squashed = _squash(word)
    same = [n for n in names if _squash(n) == squashed and n != word]
    if len(same) == 1:
        return same[0]
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    scored = []
    for name in names:
        if name == word or changes_a_number(word, name):
            continue
        matcher.set_seq1(name)
        if (
            matcher.real_quick_ratio() >= CUTOFF
            and matcher.quick_ratio() >= CUTOFF
            and (ratio := matcher.ratio()) >= CUTOFF
        ):
            scored.append((ratio, name))
    if not scored:
        return None
    best = max(ratio for ratio, _ in scored)
    tied = [name for ratio, name in scored if ratio == best]
    if len(tied) > 1:  # the longer common start wins (NN5011: NN501, not NN011)
        starts = [_common_start(word, name) for name in tied]
        tied = [name for name, start in zip(tied, starts) if start == max(starts)]
    return tied[0] if len(tied) == 1 else None  # still tied: ambiguous, say nothing


def _common_start(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean `close`?"`` to append to a spec diagnostic, or ``""``."""
    close = suggest(word, known)
    return f"; did you mean `{close}`?" if close else ""
