"""The one formatting module and the one precision table."""

from __future__ import annotations

import pytest

from nnlint.precision import (
    ARITHMETIC_PRECISIONS,
    PRECISION_BITS,
    PRECISIONS,
    is_float,
    nbytes,
    widest_first,
)
from nnlint.units import (
    fmt_bytes,
    fmt_capacity,
    fmt_count,
    fmt_int,
    fmt_per_param,
    fmt_percent,
    fmt_quantity,
    fmt_shape,
    fmt_tick,
    fmt_time,
)


def test_counts_and_bytes_keep_the_exact_integer():
    assert fmt_int(15051264) == "15,051,264"
    assert fmt_count(15_051_264) == "15.05 M (15,051,264)"
    assert fmt_count(999) == "999"
    assert fmt_bytes(3_913_120) == "3.73 MiB (3,913,120 B)"
    assert fmt_bytes(1023) == "1,023 B"


def test_times_pick_the_largest_unit_and_nanoseconds_on_request():
    assert fmt_time(2.5) == "2.5 s"
    assert fmt_time(0.0015) == "1.5 ms"
    assert fmt_time(1.42e-7) == "0.142 µs"
    assert fmt_time(1.42e-7, nanoseconds=True) == "142 ns"
    assert fmt_time(0.0, nanoseconds=True) == "0 µs"


def test_rates_capacities_shares_and_shapes():
    assert fmt_capacity(24_000_000_000) == "24 GB"
    assert fmt_capacity(2**20) == "1 MiB"
    assert fmt_capacity(512 * 2**10) == "512 KiB"
    assert fmt_percent(0.4567) == "45.7%"
    assert fmt_per_param(16_000, 1_000) == "16 B/param"
    assert fmt_per_param(0, 0) == "0 B/param"
    assert fmt_shape((3, 224, 224)) == "[3, 224, 224]"


def test_chart_labels_take_the_shortest_digits_and_a_decimal_prefix():
    assert fmt_tick(1.5e12, "FLOP/s") == "1.5 TFLOP/s"
    assert fmt_tick(9e11, "B/s") == "900 GB/s"
    assert fmt_tick(1e3, "FLOP/s") == "1 kFLOP/s"
    assert fmt_tick(100, "FLOP/s") == "100 FLOP/s"
    assert fmt_tick(0.1, "FLOP/s") == "0.1 FLOP/s"


def test_quantity_dispatches_on_the_unit():
    assert fmt_quantity("count", 1_500_000) == fmt_count(1_500_000)
    assert fmt_quantity("bytes", 2**21) == fmt_bytes(2**21)
    assert fmt_quantity("seconds", 0.002) == "2 ms"
    with pytest.raises(ValueError, match="furlongs"):
        fmt_quantity("furlongs", 1)


def test_precision_table_is_the_one_vocabulary():
    assert list(PRECISION_BITS) == list(PRECISIONS)
    assert PRECISION_BITS["fp32"] == 32 and PRECISION_BITS["tf32"] == 32
    assert ARITHMETIC_PRECISIONS == ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4")
    assert nbytes(3, "fp32") == 12
    assert nbytes(3, "int4") == 2  # packed, rounded up
    assert nbytes(9, "int1") == 2
    assert is_float("bf16") and not is_float("uint8")
    assert widest_first(["int8", "fp16", "fp32", "nope"]) == ["fp32", "fp16", "int8", "nope"]
