"""``lstm`` and ``gru`` against PyTorch, and their errors.

PyTorch's ``FlopCounterMode`` counts nothing for ``aten::lstm`` / ``aten::gru``, so the
oracle is :class:`torch_reference.Recurrent`: the real ``nn.LSTM`` / ``nn.GRU`` (whose
``sum(numel)`` is the parameter count) run step by step with explicit matrix products,
which the counter sees. Its output is first checked against the real module's, so the
explicit computation is the module's computation.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import report_of  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_reference import Recurrent  # noqa: E402

from nnlint.check import check_text  # noqa: E402

CASES = [
    # kind, T, D, hidden, layers, bidirectional, bias
    ("lstm", 5, 6, 4, 1, False, True),
    ("lstm", 5, 6, 4, 2, True, True),
    ("lstm", 1, 3, 2, 3, False, False),
    ("lstm", 7, 2, 5, 2, False, True),
    ("gru", 5, 6, 4, 1, False, True),
    ("gru", 4, 3, 3, 2, True, False),
    ("gru", 1, 2, 2, 3, True, True),
]


def _spec(kind, T, D, hidden, layers, bidirectional, bias, extra=""):
    opts = f"{hidden}"
    opts += f", layers={layers}" if layers != 1 else ""
    opts += ", bidirectional=true" if bidirectional else ""
    opts += "" if bias else ", bias=false"
    return (
        f"model m {{\n    input x: [{T}, {D}]\n    h = x -> {kind}({opts}{extra})\n}}\n"
        "train {\n    batch = 2\n}\n"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_recurrent_layers_match_torch(case):
    kind, T, D, hidden, layers, bidirectional, bias = case
    torch.manual_seed(0)
    module = Recurrent(kind, D, hidden, layers, bidirectional, 0.0, bias)
    x = torch.randn(2, T, D)
    expected, _ = module.rnn(x)
    # the explicit computation is the module's own
    assert torch.allclose(module(x), expected, atol=1e-5)
    x.requires_grad_(True)  # nnlint counts the first layer's input gradient
    with FlopCounterMode(display=False) as forward:
        y = module(x)
    with FlopCounterMode(display=False) as backward:
        y.sum().backward()
    report = report_of(_spec(*case))
    t = report.totals
    assert report.lowered.node(report.lowered.tensors["h"]).shape == tuple(y.shape[1:])
    assert t.params == sum(p.numel() for p in module.rnn.parameters())
    assert 2 * 2 * t.macs == forward.get_total_flops()
    assert 2 * 2 * t.backward_macs == backward.get_total_flops()


def test_frozen_layer_has_no_weight_gradient_and_the_first_state_none():
    T, D, H = 6, 5, 3
    train = report_of(_spec("lstm", T, D, H, 1, False, True)).layers[-1].train
    frozen = report_of(_spec("lstm", T, D, H, 1, False, True, ", trainable=false"))
    frozen = frozen.layers[-1].train
    assert train.macs == T * 4 * H * (D + H)
    # input gradients: into x at every step, into h_{t-1} at T - 1 steps (h_0 needs none)
    assert frozen.backward_macs == T * 4 * H * D + (T - 1) * 4 * H * H
    assert train.backward_macs == train.macs + frozen.backward_macs
    assert train.input_grad_macs == T * 4 * H * D


def test_flops_and_cache_follow_the_documented_counts():
    """The op docstrings' itemized counts: LSTM 32 (+8 bias) forward and 18 (+8) backward
    FLOPs per step and unit beyond the matrix work, 7 cached elements; GRU 21 (+6), 15
    (+6), 5; inter-layer dropout as the dropout op (4 / 2 FLOPs, mask + dropped copy)."""
    B, T, D, H = 2, 5, 3, 4
    for kind, fwd, bwd, bias, cached in (("lstm", 32, 18, 8, 7), ("gru", 21, 15, 6, 5)):
        c = report_of(_spec(kind, T, D, H, 1, False, True)).layers[-1].train
        assert c.forward_flops == B * (2 * c.macs + T * H * (fwd + bias))
        assert c.backward_flops == B * (2 * c.backward_macs + T * H * (bwd + bias))
        assert c.cached_elements == B * T * H * cached
        d = report_of(_spec(kind, T, D, H, 2, False, True, ", dropout=0.5")).layers[-1]
        plain = report_of(_spec(kind, T, D, H, 2, False, True)).layers[-1]
        assert d.train.forward_flops - plain.train.forward_flops == 4 * B * T * H
        assert d.train.backward_flops - plain.train.backward_flops == 2 * B * T * H
        assert d.train.cached_elements - plain.train.cached_elements == 2 * B * T * H
        assert d.infer == plain.infer  # no dropout at inference


@pytest.mark.parametrize(
    ("shape", "chain", "code", "message", "fix"),
    [
        ("784", "lstm(4)", "NN009", "lstm reads a sequence [T, D]", "reshape(1, D)"),
        ("3, 8, 8", "gru(4)", "NN009", "gru reads a sequence [T, D]", "transpose(0, 1)"),
        ("10, 8", "gru(4, dropout=0.3)", "NN007", "with layers=1 there are none", "layers=2"),
        ("10, 8", "lstm(0)", "NN007", "must be at least 1", None),
        ("10, 8", "lstm(4, layers=0)", "NN007", "must be at least 1", None),
        ("10, 8", "lstm(4, dropout=1.5, layers=2)", "NN007", "must be below 1.0", None),
        ("10, 8", "lstm(4, layer=2)", "NN005", "did you mean `layers`", None),
        ("10, 8", "lstm(4, bidirectional=2)", "NN006", "expects true or false", None),
        ("10, 8", "lstm()", "NN005", "needs `hidden`", None),
    ],
)
def test_bad_recurrent_options_are_located_and_explained(shape, chain, code, message, fix):
    result = check_text(f"model m {{\n    input x: [{shape}]\n    y = x -> {chain}\n}}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == code]
    assert message in d.message
    assert d.span.line == 3 and d.span.column >= 14
    if fix is not None:
        assert fix in d.fix
