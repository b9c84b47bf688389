"""Issue 10 item 4: the names people bring from PyTorch and Keras, suggestions that are
never a wrong near-miss, and every independent error of a spec in one run."""

from __future__ import annotations

import textwrap

import pytest

from nnlint.check import check_text
from nnlint.ops import ALIASES, CATALOG, OPS, Op, known_as, register
from nnlint.suggest import changes_a_number, suggest


def diags(text: str):
    return check_text(textwrap.dedent(text).lstrip("\n"), "spec.nn").diagnostics


def errors(text: str):
    return [d for d in diags(text) if d.code < "NN020"]


# ----------------------------------------------------------- names from PyTorch and Keras


@pytest.mark.parametrize(
    "brought, op",
    [
        ("linear", "dense"),
        ("Linear", "dense"),
        ("nn.Linear", "dense"),
        ("Dense", "dense"),
        ("Conv2d", "conv2d"),
        ("Conv2D", "conv2d"),
        ("Conv1d", "conv1d"),
        ("ConvTranspose2d", "conv_transpose2d"),
        ("Conv2DTranspose", "conv_transpose2d"),
        ("swish", "silu"),
        ("SiLU", "silu"),
        ("BatchNorm2d", "batchnorm"),
        ("BatchNorm1d", "batchnorm"),
        ("BatchNormalization", "batchnorm"),
        ("LayerNorm", "layernorm"),
        ("RMSNorm", "rmsnorm"),
        ("MultiheadAttention", "attention"),
        ("ReLU", "relu"),
        ("GELU", "gelu"),
        ("LeakyReLU", "leaky_relu"),
        ("Dropout", "dropout"),
        ("Embedding", "embedding"),
        ("MaxPool2d", "maxpool"),
        ("AvgPool2d", "avgpool"),
        ("AdaptiveAvgPool2d", "adaptive_avgpool"),
        ("GlobalAveragePooling2D", "global_avgpool"),
        ("Flatten", "flatten"),
        ("cat", "concat"),
    ],
)
def test_a_pytorch_or_keras_name_is_answered_with_the_op(brought, op):
    assert known_as(brought) == op


def test_an_op_name_is_no_alias_and_unknown_words_are_none():
    assert known_as("dense") is None
    assert known_as("frobnicate") is None
    assert known_as("nn.") is None


def test_aliases_live_on_the_op_classes():
    for key, name in ALIASES.items():
        assert any(a.lower().replace("_", "") == key for a in type(CATALOG[name]).aliases)


def test_an_alias_that_names_another_op_is_refused_when_the_catalog_is_built():
    class Clash(Op):
        name = "clash_test_op"
        aliases = ("Linear",)
        saves = "nothing"

        def infer(self, in_shapes, opts):
            return in_shapes[0]

        def cost(self, c):
            raise NotImplementedError

    with pytest.raises(ValueError, match="already names 'dense'"):
        register(Clash)
    assert "clash_test_op" not in CATALOG


def test_the_unknown_op_message_names_the_op_for_an_alias():
    (d,) = errors("""
        model m {
            input x: [8]
            h = x -> Linear(4)
        }
    """)
    assert d.code == "NN004"
    assert d.message == "unknown op `Linear`; did you mean `dense`? (nnlint's name for `Linear`)"
    assert d.fix == "write `dense` (see the op catalog in the README)"
    (d,) = errors("""
        model m {
            input x: [3, 8, 8]
            h = x -> Conv2D(4, 3)
        }
    """)
    assert d.message == "unknown op `Conv2D`; did you mean `conv2d`?"


# ------------------------------------------------------------------ no wrong near-miss

# Each word is close to a known name by edit distance, but suggesting it would be wrong.
NEAR_MISSES = [
    ("conv3d", ["conv1d", "conv2d"]),  # another dimension
    ("maxpool3d", ["maxpool"]),
    ("conv_transpose1d", ["conv_transpose2d"]),
    ("conv", ["conv1d", "conv2d"]),  # as close to either: ambiguous
    ("h3", ["h1", "h2"]),  # another number
    ("layer12", ["layer11"]),
    ("rtx3090", ["rtx4090"]),
    ("lstm", list(OPS)),
    ("gru", list(OPS)),
    ("moe", list(OPS)),
    ("rope", list(OPS)),
]


@pytest.mark.parametrize("word, known", NEAR_MISSES)
def test_a_wrong_near_miss_is_never_suggested(word, known):
    assert suggest(word, known) is None


@pytest.mark.parametrize(
    "word, known, close",
    [
        ("reluu", OPS, "relu"),
        ("NN5011", ["NN501", "NN502"], "NN501"),  # a doubled digit is a typo
        ("imgg", ["img", "h"], "img"),
        ("strides", ["stride", "padding"], "stride"),
        ("edge-tp", ["edge-tpu", "a100"], "edge-tpu"),
        ("h22", ["h2", "h3"], "h2"),
    ],
)
def test_a_likely_suggestion_is_still_made(word, known, close):
    assert suggest(word, known) == close


def test_changes_a_number():
    assert changes_a_number("conv3d", "conv2d")
    assert changes_a_number("h3", "h2")
    assert not changes_a_number("NN5011", "NN501")
    assert not changes_a_number("conv", "conv2d")


def test_conv3d_in_a_spec_gets_no_suggestion():
    (d,) = errors("""
        model m {
            input x: [3, 8, 8]
            h = x -> conv3d(4, 3)
        }
    """)
    assert d.message == "unknown op `conv3d`"
