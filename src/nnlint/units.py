"""How nnlint writes a number for a person: the one module of formatters.

Every figure in a message, a table or a README cell goes through one of these.
The conventions, each stated once:

* Counts and sizes keep their exact integer beside the rounded figure:
  ``15.05 M (15,051,264)``, ``3.73 MiB (3,913,120 B)``.
* Memory sizes use binary prefixes (KiB, MiB, GiB, TiB, IEC 80000-13);
  :func:`fmt_size` adds the decimal figure vendors print on the box (a "24 GB" card
  holds 24,000,000,000 B), and :func:`fmt_capacity` is the vendor's figure alone.
* Rates (FLOP/s, op/s, bytes per second) use decimal SI prefixes, as datasheets do.
* Times use three significant digits in the largest unit that keeps them >= 1.

Plain values in, one string out; nothing here reads a spec, a graph or a rule.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "fmt_bandwidth",
    "fmt_bytes",
    "fmt_capacity",
    "fmt_count",
    "fmt_int",
    "fmt_per_param",
    "fmt_percent",
    "fmt_quantity",
    "fmt_rate",
    "fmt_shape",
    "fmt_si",
    "fmt_size",
    "fmt_time",
]

_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def fmt_int(n: float) -> str:
    """``15051264`` -> ``15,051,264``."""
    return f"{int(n):,}"


def fmt_count(n: float) -> str:
    """Large counts with an SI prefix and the exact integer: ``15.05 M (15,051,264)``."""
    n = int(n)
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit} ({n:,})"
    return f"{n:,}"


def fmt_bytes(n: float) -> str:
    """Bytes for a reader, binary units with the exact integer: ``3.73 MiB (3,913,120 B)``."""
    n = int(n)
    for unit, size in _BINARY:
        if abs(n) >= size:
            return f"{n / size:.2f} {unit} ({n:,} B)"
    return f"{n:,} B"


def fmt_size(n: int) -> str:
    """:func:`fmt_bytes` plus the decimal figure: ``22.35 GiB (24,000,000,000 B = 24.00 GB)``."""
    n = int(n)
    text = fmt_bytes(n)
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if abs(n) >= size:
            return f"{text[:-1]} = {n / size:.2f} {unit})"
    return text


def fmt_capacity(n: int) -> str:
    """A device's memory as its vendor writes it: decimal GB for boards and cards
    (``24 GB``), binary MiB/KiB for microcontroller memory (``1 MiB``)."""
    if n >= 10**9:
        return f"{n / 1e9:g} GB"
    if n >= 2**20:
        return f"{n / 2**20:g} MiB"
    return f"{n / 2**10:g} KiB"


def fmt_time(seconds: float, *, nanoseconds: bool = False) -> str:
    """``1.5 ms``, ``0.142 µs``; with ``nanoseconds``, ``142 ns`` below a microsecond
    (the tiny layers of a small model in ``nnlint report``)."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if nanoseconds and 0 < seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    return f"{seconds * 1e6:.3g} µs"


def fmt_si(value: float) -> str:
    """A rate's number with an SI prefix and four significant digits: ``19.5 T``."""
    for unit, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if value >= size:
            return f"{value / size:.4g} {unit}"
    return f"{value:.4g}"


def fmt_rate(ops_per_s: float, precision: str) -> str:
    """``312 TFLOP/s`` for floating point, ``4 TOP/s`` for integer precisions."""
    from nnlint.precision import is_float

    unit = "FLOP/s" if is_float(precision) else "OP/s"
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


def fmt_per_param(nbytes: int, params: int) -> str:
    """Bytes per parameter: ``16 B/param``."""
    return f"{nbytes / params:.3g} B/param" if params else "0 B/param"


def fmt_percent(fraction: float) -> str:
    """A share with one decimal: ``0.4567`` -> ``45.7%``."""
    return f"{fraction:.1%}"


def fmt_shape(shape: Sequence[int]) -> str:
    """A per-sample shape as the spec writes it: ``[3, 224, 224]``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def fmt_quantity(unit: str, value: float) -> str:
    """A figure in its unit: ``"count"`` (:func:`fmt_count`), ``"bytes"``
    (:func:`fmt_bytes`) or ``"seconds"`` (:func:`fmt_time`)."""
    if unit == "bytes":
        return fmt_bytes(value)
    if unit == "seconds":
        return fmt_time(float(value))
    if unit == "count":
        return fmt_count(value)
    raise ValueError(f"no formatter for the unit {unit!r}")
