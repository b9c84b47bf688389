"""What several rules of the performance family share."""

from __future__ import annotations

from nnlint.precision import PRECISION_BITS, is_float
from nnlint.targets import Target


def closest_precision(target: Target, precision: str) -> str | None:
    """The target's precision nearest ``precision``: same kind (float/int) first, then
    the nearest width, the wider on a tie."""
    bits = PRECISION_BITS[precision]

    def key(p: str) -> tuple:
        b = PRECISION_BITS.get(p, 0)
        return (is_float(p) != is_float(precision), abs(b - bits), -b)

    options = sorted(target.precisions, key=key)
    return options[0] if options else None
