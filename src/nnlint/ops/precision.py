"""Number formats: bits per element, and the bytes a tensor takes."""

from __future__ import annotations

# Precisions: bits per element (IEEE 754 for fp64/fp32/fp16; bf16, tf32 and fp8 as NVIDIA's
# A100/H100 datasheets define them; integer formats by their width).
PRECISION_BITS: dict[str, int] = {
    "fp64": 64,
    "fp32": 32,
    "tf32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "int16": 16,
    "int8": 8,
    "uint8": 8,
    "int4": 4,
    "int3": 3,
    "int2": 2,
    "int1": 1,
}


def nbytes(elements: int, precision: str) -> int:
    """Bytes for ``elements`` values stored at ``precision`` (sub-byte formats packed,
    rounded up to whole bytes)."""
    return -(-elements * PRECISION_BITS[precision] // 8)
