"""The serving formulas of :mod:`nnlint.serving` against published figures and PyTorch."""

from __future__ import annotations

import pytest

from nnlint.serving import (
    attention_cache_macs,
    decode_step,
    kv_cache_bytes,
    max_concurrency,
    prefill_macs,
    roofline_time,
)

# Llama 2 7B (Touvron et al. 2023; Hugging Face config): 32 layers, 32 heads of 128, no GQA.
LLAMA2_7B = {"layers": 32, "kv_heads": 32, "head_dim": 128}
# Mistral 7B (Jiang et al. 2023): 32 layers, 8 KV heads of 128, sliding window 4096.
MISTRAL_7B = {"layers": 32, "kv_heads": 8, "head_dim": 128}


def test_llama2_7b_kv_cache_is_half_a_mebibyte_per_token():
    per_token = kv_cache_bytes(**LLAMA2_7B, context=1, concurrency=1, bits=16)
    assert per_token == 2 * 32 * 32 * 128 * 2 == 512 * 1024
    assert kv_cache_bytes(**LLAMA2_7B, context=4096, concurrency=1, bits=16) == 2 * 2**30


def test_grouped_query_and_window():
    # GQA caches 8 of 32 heads: a quarter
    full = kv_cache_bytes(**LLAMA2_7B, context=8192, concurrency=16, bits=16)
    gqa = kv_cache_bytes(**MISTRAL_7B, context=8192, concurrency=16, bits=16)
    assert gqa * 4 == full
    # the rolling buffer holds min(context, window) tokens
    assert kv_cache_bytes(**MISTRAL_7B, context=32768, concurrency=1, bits=16, window=4096) == (
        kv_cache_bytes(**MISTRAL_7B, context=4096, concurrency=1, bits=16)
    )
    assert kv_cache_bytes(**MISTRAL_7B, context=1000, concurrency=1, bits=16, window=4096) == (
        2 * 32 * 8 * 128 * 1000 * 2
    )
    # fp8 cache: one byte per value; 4-bit packed and rounded up
    assert kv_cache_bytes(**MISTRAL_7B, context=10, concurrency=3, bits=8) == 2 * 32 * 8 * 128 * 30
    assert kv_cache_bytes(1, 1, 1, 1, 1, bits=4) == 1


def test_kv_cache_matches_the_tensors_a_torch_decoder_keeps():
    torch = pytest.importorskip("torch")
    layers, heads, kv_heads, head_dim, d = 3, 8, 2, 16, 128
    k_proj = [torch.nn.Linear(d, kv_heads * head_dim, bias=False) for _ in range(layers)]
    v_proj = [torch.nn.Linear(d, kv_heads * head_dim, bias=False) for _ in range(layers)]
    cache = []
    x = torch.randn(2, 5, d)  # 2 sequences of 5 tokens
    with torch.no_grad():
        for k, v in zip(k_proj, v_proj):
            cache.append(k(x).view(2, 5, kv_heads, head_dim).half())
            cache.append(v(x).view(2, 5, kv_heads, head_dim).half())
    nbytes = sum(t.numel() * t.element_size() for t in cache)
    assert nbytes == kv_cache_bytes(layers, kv_heads, head_dim, 5, 2, bits=16)
    del heads


def test_attention_and_prefill_macs():
    assert attention_cache_macs(2, 4, 8, 10) == 2 * 2 * 4 * 8 * 10
    # n tokens through M MACs of weights each, plus n² scores and context per layer and head
    assert prefill_macs(1000, 2, 4, 8, 10) == 10 * 1000 + 2 * 2 * 4 * 8 * 10 * 10


def test_decode_is_memory_bound_and_reads_weights_and_cache():
    # Llama 2 7B on an L4 (300 GB/s, 121 TFLOP/s fp16): one sequence of 4096 cached tokens
    weights = 2 * 6_738_415_616
    kv = kv_cache_bytes(**LLAMA2_7B, context=4096, concurrency=1, bits=16)
    step = decode_step(
        weights, kv, 6_476_005_376, attention_cache_macs(32, 32, 128, 4096), 1, 121e12, 300e9
    )
    assert step.seconds == pytest.approx((weights + kv) / 300e9, rel=0, abs=0)
    assert step.tokens_per_s == 1 / step.seconds
    assert roofline_time(10, 1, 1, 1, overhead_s=0.5) == 10.5


def test_max_concurrency():
    assert max_concurrency(100, 30, 7) == 10
    assert max_concurrency(100, 130, 7) == 0
    assert max_concurrency(100, 30, 0) == 0
