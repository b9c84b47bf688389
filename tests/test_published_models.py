"""Examples of published models: nnlint's parameter count equals the published one.

``tests/test_torch_crosscheck.py`` checks the same examples against a hand-written
PyTorch twin (params, MACs, backward); here the count is pinned to the figure its
authors' reference implementation reports, quoted in each example's header.
"""

from __future__ import annotations

import pytest
from helpers import EXAMPLES, example_report

PUBLISHED = {
    # torchvision.models.vit_b_16 (ImageNet-1k head): 86,567,656 parameters
    "vit_b16": 86_567_656,
    # torchvision.models.efficientnet_b0: 5,288,548 parameters
    "efficientnet_b0": 5_288_548,
    # Llama 2 7B (Touvron et al. 2023; the Hugging Face checkpoint's parameter count)
    "llama2_7b": 6_738_415_616,
    # Mixtral 8x7B (Jiang et al. 2024: 46.7 B total, 12.9 B active per token)
    "mixtral_8x7b": 46_702_792_704,
}


#: Published counts that their sources round: (the text quoted in the header, the value).
ROUNDED = {
    # Merity et al. 2017 (AWD-LSTM), Table 1: Zaremba et al. (2014) LSTM (medium), 20M
    "lstm_lm": ("20M", 20_000_000),
}


@pytest.mark.parametrize("stem", sorted(PUBLISHED))
def test_parameters_equal_the_published_count(stem):
    assert example_report(stem).totals.params == PUBLISHED[stem]
    header = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8")
    assert f"{PUBLISHED[stem]:,}" in header.split("\n\n")[0]


@pytest.mark.parametrize("stem", sorted(ROUNDED))
def test_parameters_round_to_the_published_count(stem):
    text, value = ROUNDED[stem]
    params = example_report(stem).totals.params
    digits = len(text.rstrip("kMG"))  # the published figure's significant digits
    scale = 10 ** (len(str(params)) - digits)
    assert round(params / scale) * scale == value
    header = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8").split("\n\n")[0]
    assert f"published: {text}" in header and f"{params:,} parameters" in header


# The full-size decoders (too large to build in PyTorch here; their blocks are checked against
# PyTorch at reduced size in tests/test_torch_crosscheck.py), by exact formulas.
T, D, V, LAYERS = 4096, 4096, 32000, 32


def _decoder(kv_heads: int, ffn_params: int, ffn_macs_per_token: int) -> tuple[int, int]:
    """(params, MACs per sample) of 32 bias-free GQA+RoPE decoder layers with RMSNorm, the
    embedding, the final RMSNorm and the untied head."""
    d_kv = kv_heads * (D // 32)
    layer_params = 2 * D * D + 2 * D * d_kv + ffn_params + 2 * D
    layer_macs = T * (2 * D * D + 2 * D * d_kv) + 2 * T * T * D + T * ffn_macs_per_token
    return LAYERS * layer_params + 2 * V * D + D, LAYERS * layer_macs + T * D * V


def test_llama2_7b_by_formula():
    params, macs = _decoder(32, 3 * D * 11008, 3 * D * 11008)
    t = example_report("llama2_7b").totals
    assert t.params == params == t.active_params == PUBLISHED["llama2_7b"]
    assert t.macs == macs and t.backward_macs == 2 * macs


def test_mixtral_8x7b_total_and_active_by_formula():
    expert = 3 * D * 14336
    params, macs = _decoder(8, D * 8 + 8 * expert, D * 8 + 2 * expert)
    active, _ = _decoder(8, D * 8 + 2 * expert, 0)
    t = example_report("mixtral_8x7b").totals
    assert t.params == params == PUBLISHED["mixtral_8x7b"]
    assert t.active_params == active == 12_879_925_248
    assert (round(t.params / 1e9, 1), round(t.active_params / 1e9, 1)) == (46.7, 12.9)
    assert t.macs == macs and t.backward_macs == 2 * macs
    header = (EXAMPLES / "mixtral_8x7b.nn").read_text(encoding="utf-8").split("\n\n")[0]
    assert f"{active:,} active parameters" in header
