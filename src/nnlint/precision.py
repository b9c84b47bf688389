"""The precision vocabulary: every number format nnlint knows, in one table.

A spec names a precision in ``train.precision``, ``deploy.precision`` and an op's
``precision=``; a target lists the formats it computes in (``precisions``, with a
dense ``[peak]`` each); the cost model stores tensors at one. All of them read the
table below, widest first (the order messages list them in):

* ``bits`` per element; tensors are packed, so sub-byte formats take
  ``ceil(elements · bits / 8)`` bytes (:func:`nbytes`). fp32 is 4 bytes, fp16 and
  bf16 2, int8 1 (IEEE 754 binary64/32/16; bfloat16 and TF32 as NVIDIA's A100
  whitepaper defines them; FP8 E4M3/E5M2 as in Micikevicius et al., 2022,
  "FP8 Formats for Deep Learning"). TF32 is stored as fp32 (32 bits).
* ``floating``: a floating-point format (FLOP/s) or an integer one (op/s).
* ``arithmetic``: a format datasheets publish a peak for, so a target may list it.
  The others (int16, uint8, int3, int2, int1) are storage formats of quantized
  weights a spec may declare; no shipped target computes in them.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "ARITHMETIC_PRECISIONS",
    "PRECISIONS",
    "PRECISION_BITS",
    "Precision",
    "is_float",
    "nbytes",
    "widest_first",
]


@attrs.frozen
class Precision:
    name: str
    bits: int
    floating: bool
    arithmetic: bool


#: Every precision by name, widest first.
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp64", 64, floating=True, arithmetic=True),
        Precision("fp32", 32, floating=True, arithmetic=True),
        Precision("tf32", 32, floating=True, arithmetic=True),
        Precision("bf16", 16, floating=True, arithmetic=True),
        Precision("fp16", 16, floating=True, arithmetic=True),
        Precision("fp8", 8, floating=True, arithmetic=True),
        Precision("int16", 16, floating=False, arithmetic=False),
        Precision("int8", 8, floating=False, arithmetic=True),
        Precision("uint8", 8, floating=False, arithmetic=False),
        Precision("int4", 4, floating=False, arithmetic=True),
        Precision("int3", 3, floating=False, arithmetic=False),
        Precision("int2", 2, floating=False, arithmetic=False),
        Precision("int1", 1, floating=False, arithmetic=False),
    )
}

#: Bits per element of every precision, widest first.
PRECISION_BITS: dict[str, int] = {name: p.bits for name, p in PRECISIONS.items()}

#: The formats a target may list (and publish a dense peak for), widest first.
ARITHMETIC_PRECISIONS: tuple[str, ...] = tuple(
    name for name, p in PRECISIONS.items() if p.arithmetic
)


def nbytes(elements: int, precision: str) -> int:
    """Bytes for ``elements`` values stored at ``precision`` (sub-byte formats packed,
    rounded up to whole bytes)."""
    return -(-elements * PRECISION_BITS[precision] // 8)


def is_float(precision: str) -> bool:
    """True for a floating-point format (its peak is in FLOP/s, not op/s)."""
    return PRECISIONS[precision].floating


def widest_first(precisions: Iterable[str]) -> list[str]:
    """``precisions`` in the table's order (widest first; unknown names last, by name)."""
    rank = {name: i for i, name in enumerate(PRECISIONS)}
    return sorted(precisions, key=lambda p: (rank.get(p, len(rank)), p))
