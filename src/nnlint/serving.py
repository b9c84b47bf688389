"""Serving a decoder: the KV cache, prefill and per-token decode on the roofline.

Pure formulas (plain numbers in, numbers out); the wiring into a spec lives elsewhere.
Every function states its convention and its public source once, here.
"""

from __future__ import annotations

import attrs

__all__ = [
    "DecodeStep",
    "attention_cache_macs",
    "decode_step",
    "kv_cache_bytes",
    "max_concurrency",
    "prefill_macs",
    "roofline_time",
]


def kv_cache_bytes(
    layers: int,
    kv_heads: int,
    head_dim: int,
    context: int,
    concurrency: int,
    bits: int,
    window: int | None = None,
) -> int:
    """Bytes of the key/value cache: ``2 · layers · kv_heads · head_dim · context ·
    concurrency · bytes``.

    One key and one value vector of ``head_dim`` per KV head, layer and cached token
    (Pope et al. 2022, "Efficiently Scaling Transformer Inference", §3.1). Grouped-query and
    multi-query attention cache only their ``kv_heads`` (Ainslie et al. 2023); sliding-window
    attention caches at most ``window`` tokens per sequence (Mistral 7B, Jiang et al. 2023:
    a rolling buffer of ``W``). Sub-byte formats are packed and the total rounded up.
    """
    tokens = context if window is None else min(context, window)
    return -(-2 * layers * kv_heads * head_dim * tokens * concurrency * bits // 8)


def attention_cache_macs(layers: int, heads: int, head_dim: int, cached: int) -> int:
    """MACs one new token spends attending to ``cached`` tokens: ``2·layers·heads·head_dim·n``.

    ``q·Kᵀ`` (``heads·head_dim·n``) and ``p·V`` (the same) in every layer (Kaplan et al.
    2020, Table 1: ``2·n_layer·n_ctx·d_attn`` per token, at half its FLOPs).
    """
    return 2 * layers * heads * head_dim * cached


def prefill_macs(matrix_macs_per_token: int, layers: int, heads: int, head_dim: int, n: int) -> int:
    """MACs of one prompt of ``n`` tokens: ``n`` tokens through every weight matrix and the
    ``n²`` attention of each layer, ``n·M + 2·layers·heads·head_dim·n²``.

    The full ``n²`` scores are counted, as nnlint's attention counts them under a causal mask
    (eager kernels compute the masked half too).
    """
    return n * matrix_macs_per_token + attention_cache_macs(layers, heads, head_dim, n) * n


def roofline_time(
    flops: float, bytes_moved: float, peak: float, bandwidth: float, overhead_s: float = 0.0
) -> float:
    """``max(flops ÷ peak, bytes ÷ bandwidth) + overhead`` seconds (Williams et al. 2009,
    the roofline model): a lower bound on the work plus the fixed cost of launching it."""
    return max(flops / peak, bytes_moved / bandwidth) + overhead_s


@attrs.frozen
class DecodeStep:
    """One decode step of ``concurrency`` sequences, each with ``cached`` tokens.

    Every step reads every weight once and each sequence's whole KV cache, and computes
    ``2·(M + attention_cache_macs)`` FLOPs per sequence (Pope et al. 2022 §2: decoding is
    memory-bound because weights and cache are re-read for every token).
    """

    weight_bytes: int
    kv_cache_bytes: int
    flops: int
    seconds: float
    concurrency: int

    @property
    def tokens_per_s(self) -> float:
        """Tokens produced per second: one per sequence per step."""
        return self.concurrency / self.seconds if self.seconds else float("inf")


def decode_step(
    weight_bytes: int,
    kv_bytes: int,
    matrix_macs_per_token: int,
    attention_macs_per_sequence: int,
    concurrency: int,
    peak: float,
    bandwidth: float,
    overhead_s: float = 0.0,
) -> DecodeStep:
    """The :class:`DecodeStep` of ``concurrency`` sequences on a device of ``peak`` FLOP/s and
    ``bandwidth`` B/s: bytes = weights + the whole KV cache, FLOPs =
    ``2·concurrency·(M + attention)``, time by :func:`roofline_time` plus ``overhead_s``."""
    flops = 2 * concurrency * (matrix_macs_per_token + attention_macs_per_sequence)
    seconds = roofline_time(flops, weight_bytes + kv_bytes, peak, bandwidth, overhead_s)
    return DecodeStep(weight_bytes, kv_bytes, flops, seconds, concurrency)


def max_concurrency(memory_bytes: int, fixed_bytes: int, per_sequence_bytes: int) -> int:
    """The most sequences whose KV cache fits beside ``fixed_bytes`` (weights and the
    transient activations): ``floor((memory − fixed) ÷ per-sequence cache)``, 0 when none."""
    if per_sequence_bytes <= 0:
        return 0
    return max(0, (memory_bytes - fixed_bytes) // per_sequence_bytes)
