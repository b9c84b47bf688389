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
* A table too narrow for the exact integer (``nnlint plan``'s one screen of targets)
  prints the rounded figure alone (:func:`fmt_bytes_short`); its JSON keeps the integer.

Plain values in, one string out; nothing here reads a spec, a graph or a rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import attrs

__all__ = [
    "UNITS",
    "Unit",
    "fmt_bandwidth",
    "fmt_bytes",
    "fmt_bytes_short",
    "fmt_capacity",
    "fmt_count",
    "fmt_energy",
    "fmt_int",
    "fmt_number",
    "fmt_per_param",
    "fmt_percent",
    "fmt_quantity",
    "fmt_rate",
    "fmt_shape",
    "fmt_size",
    "fmt_tick",
    "fmt_time",
]

_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def fmt_int(n: float) -> str:
    """``15051264`` -> ``15,051,264``."""
    return f"{int(n):,}"


def fmt_count(n: float) -> str:
    """Large counts with an SI prefix and the exact integer: ``15.05 M (15,051,264)``."""
    n = int(n)
    for unit, size in (
        ("E", 10**18),
        ("P", 10**15),
        ("T", 10**12),
        ("G", 10**9),
        ("M", 10**6),
        ("k", 10**3),
    ):
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


def fmt_bytes_short(n: float, *, sign: bool = False) -> str:
    """Bytes rounded to three significant digits in binary units, no exact integer:
    ``3.73 MiB``; with ``sign``, a leading ``+`` or ``-`` (headroom: ``-1.5 GiB``)."""
    n = int(n)
    mark = ("+" if n >= 0 else "-") if sign else ("-" if n < 0 else "")
    n = abs(n)
    for unit, size in _BINARY:
        if n >= size:
            return f"{mark}{fmt_number(n / size)} {unit}"
    return f"{mark}{n} B"


def fmt_number(x: float) -> str:
    """Three significant digits, whole numbers from 100 up with thousands separators:
    ``0.00485``, ``14.3``, ``1,020``, ``272,428``."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


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


#: Units of time beyond the second (the SI Brochure's non-SI units accepted for use with
#: the SI, Table 8: minute, hour, day), largest first.
_LONG_TIMES = (("d", 86_400), ("h", 3_600), ("min", 60))


def fmt_time(seconds: float, *, nanoseconds: bool = False) -> str:
    """``1.5 ms``, ``0.142 µs``, ``3.42 h``, ``1,250 d``; with ``nanoseconds``, ``142 ns``
    below a microsecond (the tiny layers of a small model in ``nnlint report``)."""
    for unit, size in _LONG_TIMES:
        if seconds >= size:
            value = seconds / size
            return f"{value:,.0f} {unit}" if value >= 1000 else f"{value:.3g} {unit}"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if nanoseconds and 0 < seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    return f"{seconds * 1e6:.3g} µs"


def fmt_energy(joules: float) -> str:
    """Energy with an SI prefix and three significant digits (``2.57 mJ``, ``48.8 J``,
    ``2.27 kJ``) and, from one watt-hour up, in watt-hours too (what an electricity bill
    counts; 1 Wh = 3,600 J): ``1.23 GJ (342 kWh)``."""
    joules = float(joules)
    if joules == 0:
        return "0 J"
    for unit, size in (
        ("TJ", 1e12),
        ("GJ", 1e9),
        ("MJ", 1e6),
        ("kJ", 1e3),
        ("J", 1.0),
        ("mJ", 1e-3),
    ):
        if abs(joules) >= size:
            text = f"{joules / size:.3g} {unit}"
            break
    else:
        text = f"{joules * 1e6:.3g} µJ"
    wh = joules / 3600
    for prefix, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1)):
        if wh >= size:
            return f"{text} ({wh / size:.3g} {prefix}Wh)"
    return text


def fmt_tick(value: float, unit: str) -> str:
    """A chart's label: a decimal SI prefix and the shortest digits (``:g``) —
    ``1.5 TFLOP/s``, ``900 GB/s``, ``100 FLOP/s``."""
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g} {prefix}{unit}"
    return f"{value:g} {unit}"


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
    """A figure in its unit, as a message writes it (:attr:`Unit.show` of
    :data:`UNITS`): ``"count"`` (:func:`fmt_count`), ``"bytes"`` (:func:`fmt_bytes`),
    ``"seconds"`` (:func:`fmt_time`), ..."""
    if unit not in UNITS:
        raise ValueError(f"no formatter for the unit {unit!r}")
    return UNITS[unit].show(value)


# --------------------------------------------------------------------------- units

#: Size suffixes of a spec (``8 MiB``, ``2 GB``): decimal and binary (IEC 80000-13).
BYTE_UNITS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}
#: Time suffixes of a spec (``2 ms``, ``36 h``).
TIME_UNITS = {
    "us": Fraction(1, 10**6),
    "ms": Fraction(1, 10**3),
    "s": Fraction(1),
    **{unit: Fraction(size) for unit, size in _LONG_TIMES},
}
#: Energy suffixes of a spec (``500 kWh``, ``2 GJ``): joules and kilowatt-hours (3.6 MJ).
ENERGY_UNITS = {
    "J": Fraction(1),
    "kJ": Fraction(10**3),
    "MJ": Fraction(10**6),
    "GJ": Fraction(10**9),
    "kWh": Fraction(3_600_000),
    "MWh": Fraction(3_600_000_000),
}


@attrs.frozen
class Unit:
    """The unit of a figure (:mod:`nnlint.figures`): how a person reads it and how a
    ``budget`` line gives a limit in it.

    ``suffixes`` are the unit words a budget limit may carry (``None``: a plain number
    or expression, such as ``300k``); ``bare`` also takes a plain number as the base
    unit. ``whole`` figures are whole numbers, so a limit is rounded to one. A unit
    without ``limit_hint`` cannot be budgeted.
    """

    name: str
    show: Callable[[float], str]  # in a message: "3.73 MiB (3,913,120 B)", "892 µs"
    detail: Callable[[float], str] | None = None  # in the report's totals; default `show`
    suffixes: Mapping[str, int | Fraction] | None = None
    bare: bool = False
    whole: bool = True
    limit_hint: str = ""  # what a limit looks like: "a size such as `8 MiB` or `2 GB`"
    least: str = "1"  # the smallest whole limit, as written

    def exact(self, value) -> str:
        """The value in the report's totals: rounded, with the exact figure beside it."""
        return (self.detail or self.show)(value)


def _seconds_detail(seconds: float) -> str:
    return f"{fmt_time(seconds, nanoseconds=True)} ({seconds:.6g} s)"


def _energy_detail(joules: float) -> str:
    text = fmt_energy(joules)
    exact = f"{float(joules):.6g} J"
    return f"{text[:-1]}, {exact})" if text.endswith(")") else f"{text} ({exact})"


#: Every unit a figure can have, by name.
UNITS: dict[str, Unit] = {
    u.name: u
    for u in (
        Unit("count", fmt_count, limit_hint="a number such as `300k`"),
        Unit(
            "bytes",
            fmt_bytes,
            suffixes=BYTE_UNITS,
            bare=True,
            limit_hint="a size such as `8 MiB` or `2 GB`",
            least="1 B",
        ),
        Unit(
            "seconds",
            lambda s: fmt_time(float(s)),
            detail=_seconds_detail,
            suffixes=TIME_UNITS,
            whole=False,
            limit_hint="a time such as `2 ms` or `36 h` (units: us, ms, s, min, h, d)",
        ),
        Unit(
            "joules",
            fmt_energy,
            detail=_energy_detail,
            suffixes=ENERGY_UNITS,
            whole=False,
            limit_hint="an energy such as `500 kWh` or `2 GJ` (units: J, kJ, MJ, GJ, kWh, MWh)",
        ),
        Unit(
            "per_second",
            lambda v: f"{fmt_number(float(v))}/s",
            whole=False,
            limit_hint="a rate such as `50` or `0.5` (per second)",
        ),
        Unit("fraction", fmt_percent, whole=False),
        Unit("flop_per_byte", lambda v: f"{v:,.1f} FLOP/byte", whole=False),
        Unit("text", str, whole=False),
    )
}
