"""What several rules of the performance family share."""

from __future__ import annotations

from nnlint.ops import PRECISION_BITS
from nnlint.targets import Target


def fmt_rate(ops_per_s: float, precision: str) -> str:
    """``312 TFLOP/s`` for floating point, ``4 TOP/s`` for integer precisions."""
    unit = "OP/s" if precision.startswith(("int", "uint")) else "FLOP/s"
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if ops_per_s >= size:
            return f"{ops_per_s / size:,.6g} {prefix}{unit}"
    return f"{ops_per_s:g} {unit}"


def fmt_bandwidth(bytes_per_s: float) -> str:
    """``1,555 GB/s``, ``500 MB/s`` (decimal, as vendors quote bandwidth)."""
    for prefix, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if bytes_per_s >= size:
            return f"{bytes_per_s / size:,.6g} {prefix}/s"
    return f"{bytes_per_s:g} B/s"


def is_float(precision: str) -> bool:
    return not precision.startswith(("int", "uint"))


def closest_precision(target: Target, precision: str) -> str | None:
    """The target's precision nearest ``precision``: same kind (float/int) first, then
    the nearest width, the wider on a tie."""
    bits = PRECISION_BITS[precision]

    def key(p: str) -> tuple:
        b = PRECISION_BITS.get(p, 0)
        return (is_float(p) != is_float(precision), abs(b - bits), -b)

    options = sorted(target.precisions, key=key)
    return options[0] if options else None
