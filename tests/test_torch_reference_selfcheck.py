"""The PyTorch reference builds are themselves right: known parameter counts and FLOPs.

These tests check ``torch_reference`` against published and hand-computed figures,
so that comparing nnlint with it compares nnlint with the real architectures.
"""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("torch")

try:  # tests/ as a package or as a plain folder on sys.path
    from . import torch_reference as ref
except ImportError:
    import torch_reference as ref


@functools.cache
def measured(stem: str) -> dict:
    return ref.measure(stem)


# tiny_gpt by hand (vocab 8000, T 256, D 256, 4 heads, 4 pre-LN layers, tied head):
#   token embedding 8000·256                       = 2,048,000
#   position embedding 256·256                     =    65,536
#   per layer: layernorm 2·256                     =       512
#              attention 4(256² + 256)             =   263,168
#              layernorm 2·256                     =       512
#              dense 256→1024: 256·1024 + 1024     =   263,168
#              dense 1024→256: 1024·256 + 256      =   262,400
#              layer total                         =   789,760
#   4 layers                                       = 3,159,040
#   final layernorm 2·256                          =       512
#   output head tied to the token embedding        =         0
#   total 2,048,000 + 65,536 + 3,159,040 + 512     = 5,273,088
TINY_GPT_PARAMS = 2_048_000 + 65_536 + 4 * (512 + 263_168 + 512 + 263_168 + 262_400) + 512

UNET_DOUBLE_CONVS = [(1, 64), (64, 128), (128, 256), (256, 512), (512, 1024)] + [
    (2 * c, c) for c in (512, 256, 128, 64)
]


def _decoder_params(d: int, kv_width: int, ffn: int) -> int:
    """Llama / Mixtral layer: bias-free q, o (d·d) and k, v (d·kv_width), two RMSNorm gains."""
    return 2 * d * d + 2 * d * kv_width + ffn + 2 * d


# the reduced twins of the full-size decoders (vocab 64, d 32, 4 heads of 8, 2 key/value
# heads, 2 layers): SwiGLU 3·32·48; or a router 32·4 and 4 experts of 3·32·24
LLAMA_TWIN_PARAMS = 2 * 64 * 32 + 2 * _decoder_params(32, 16, 3 * 32 * 48) + 32
MIXTRAL_TWIN_PARAMS = 2 * 64 * 32 + 2 * _decoder_params(32, 16, 32 * 4 + 4 * 3 * 32 * 24) + 32

KNOWN_PARAMS = {
    "mnist_mlp": 235_146,  # examples/mnist_mlp.nn
    "xor": 9,  # 2·2 + 2 + 2·1 + 1
    "resnet50": 25_557_032,  # torchvision resnet50
    "bert_base": 108_891_648,  # BERT-base encoder without the pooler
    "mobilenet_v2": 3_504_872,  # torchvision mobilenet_v2
    "tiny_gpt": TINY_GPT_PARAMS,
    "vit_b16": 86_567_656,  # torchvision vit_b_16
    "efficientnet_b0": 5_288_548,  # torchvision efficientnet_b0
    # U-Net with padded convs, 1 channel in, 2 classes: per level a double conv
    # c_in·c·9 + c + c·c·9 + c, up levels a 2x2 transposed conv 2c·c·4 + c, a 1x1 head
    "unet": sum(ci * c * 9 + c + c * c * 9 + c for ci, c in UNET_DOUBLE_CONVS)
    + sum(2 * c * c * 4 + c for c in (512, 256, 128, 64))
    + 64 * 2
    + 2,
    # base Transformer, shared 37,000-token embedding and tied output projection
    "transformer_base": 37_000 * 512
    + 6 * (1_050_624 + 2_099_712 + 2 * 1_024)
    + 6 * (2 * 1_050_624 + 2_099_712 + 3 * 1_024),
    # Zaremba et al. 2014 medium: embedding 10,000·650, 2 LSTM layers of
    # 4·650·(650 + 650) + 2·4·650 (W_ih, W_hh, b_ih, b_hh), output 650·10,000 + 10,000
    "lstm_lm": 10_000 * 650 + 2 * (4 * 650 * 1_300 + 8 * 650) + 650 * 10_000 + 10_000,
    "llama2_7b": LLAMA_TWIN_PARAMS,
    "mixtral_8x7b": MIXTRAL_TWIN_PARAMS,
}


def test_every_example_has_a_reference() -> None:
    assert set(ref.ARCHITECTURES) == set(KNOWN_PARAMS)
    assert TINY_GPT_PARAMS == 5_273_088
    assert KNOWN_PARAMS["unet"] == 31_030_658
    assert KNOWN_PARAMS["transformer_base"] == 63_082_496
    assert KNOWN_PARAMS["lstm_lm"] == 19_780_400
    assert (LLAMA_TWIN_PARAMS, MIXTRAL_TWIN_PARAMS) == (19_616, 29_088)


def test_unet_with_one_class_has_the_often_quoted_count() -> None:
    assert sum(p.numel() for p in ref.UNet(classes=1).parameters()) == 31_030_593


@pytest.mark.parametrize("stem", sorted(KNOWN_PARAMS))
def test_parameter_count(stem: str) -> None:
    assert measured(stem)["params"] == KNOWN_PARAMS[stem]


@pytest.mark.parametrize("stem", sorted(KNOWN_PARAMS))
def test_forward_flops_are_whole_macs(stem: str) -> None:
    forward = measured(stem)["forward_flops"]
    assert forward > 0
    assert forward % 2 == 0


def _transformer_layer_macs(t: int, d: int, d_ff: int) -> int:
    # 4 projections 4·T·D², scores and weighted sum 2·T²·D, FFN 2·T·D·d_ff
    return 4 * t * d * d + 2 * t * t * d + 2 * t * d * d_ff


# Forward MACs for one sample (FlopCounterMode reports 2 FLOPs per MAC and counts
# only matrix products and convolutions).
HAND_FORWARD_MACS = {
    "mnist_mlp": 784 * 256 + 256 * 128 + 128 * 10,  # 234,752
    "xor": 2 * 2 + 2 * 1,
    "bert_base": 12 * _transformer_layer_macs(128, 768, 3072),  # 11,173,625,856
    "tiny_gpt": 4 * _transformer_layer_macs(256, 256, 1024) + 256 * 256 * 8000,
    # encoder layers at T=128; decoder layers: causal self-attention and FFN at T=96, then
    # cross-attention q, o at 96 tokens, k, v at 128, scores 96·128; the tied projection
    "transformer_base": 6 * _transformer_layer_macs(128, 512, 2048)
    + 6 * (_transformer_layer_macs(96, 512, 2048) + 2 * 96 * 512 * 512 + 2 * 128 * 512 * 512)
    + 6 * 2 * 96 * 128 * 512
    + 96 * 512 * 37_000,
    # 35 steps of x_t·W_ihᵀ + h_{t-1}·W_hhᵀ (4·650 gates) in 2 layers, then the output layer
    "lstm_lm": 2 * 35 * 4 * 650 * (650 + 650) + 35 * 650 * 10_000,
    # the reduced decoders at T=16: q, o 2·T·32², k, v 2·T·32·16, scores and context
    # 2·T²·32; SwiGLU 3·T·32·48, or the router T·32·4 and 2 of 4 experts 2·3·T·32·24;
    # the head T·32·64
    "llama2_7b": 2 * (16 * (2 * 32 * 32 + 2 * 32 * 16) + 2 * 16 * 16 * 32 + 3 * 16 * 32 * 48)
    + 16 * 32 * 64,
    "mixtral_8x7b": 2
    * (16 * (2 * 32 * 32 + 2 * 32 * 16) + 2 * 16 * 16 * 32 + 16 * 32 * 4 + 2 * 3 * 16 * 32 * 24)
    + 16 * 32 * 64,
}


@pytest.mark.parametrize("stem", sorted(HAND_FORWARD_MACS))
def test_forward_flops_match_hand_count(stem: str) -> None:
    assert measured(stem)["forward_flops"] == 2 * HAND_FORWARD_MACS[stem]


@pytest.mark.parametrize("stem, published_gmacs", [("resnet50", 4.09), ("mobilenet_v2", 0.30)])
def test_cnn_forward_matches_published_macs(stem: str, published_gmacs: float) -> None:
    # torchvision's model tables list these "GFLOPS", which are multiply-adds.
    gmacs = measured(stem)["forward_flops"] / 2 / 1e9
    assert round(gmacs, 2) == published_gmacs


# Gradient w.r.t. the first layer's input, which the backward pass skips because
# the inputs do not require grad (embeddings never have one) — and, in a recurrent layer,
# the gradient into its zero initial state h_0, which does not require grad either.
FIRST_LAYER_INPUT_GRAD_FLOPS = {
    "mnist_mlp": 2 * 784 * 256,
    "xor": 2 * 2 * 2,
    "resnet50": 2 * 112 * 112 * 64 * 3 * 7 * 7,  # 7x7 stride-2 stem conv
    "mobilenet_v2": 2 * 112 * 112 * 32 * 3 * 3 * 3,  # 3x3 stride-2 stem conv
    "bert_base": 0,
    "tiny_gpt": 0,
    "unet": 2 * 256 * 256 * 64 * 1 * 3 * 3,  # 3x3 conv, 1 channel in
    "transformer_base": 0,
    "vit_b16": 2 * 196 * 768 * 3 * 16 * 16,  # 16x16 stride-16 patch conv
    "efficientnet_b0": 2 * 112 * 112 * 32 * 3 * 3 * 3,  # 3x3 stride-2 stem conv
    "lstm_lm": 2 * 2 * 4 * 650 * 650,  # h_0·W_hhᵀ of both LSTM layers
    "llama2_7b": 0,
    "mixtral_8x7b": 0,
}


@pytest.mark.parametrize("stem", sorted(FIRST_LAYER_INPUT_GRAD_FLOPS))
def test_backward_is_twice_forward_less_first_input_gradient(stem: str) -> None:
    m = measured(stem)
    true_backward = m["backward_flops"] - m["grouped_conv_backward_overcount"]
    assert true_backward == 2 * m["forward_flops"] - FIRST_LAYER_INPUT_GRAD_FLOPS[stem]


@pytest.mark.parametrize("stem", sorted(set(KNOWN_PARAMS) - {"mobilenet_v2", "efficientnet_b0"}))
def test_no_overcount_without_grouped_convs(stem: str) -> None:
    assert measured(stem)["grouped_conv_backward_overcount"] == 0
