"""The language, part 2: broadcasting merges, learned tensors, axis ops and the new norms.

The generative oracle (``tests/test_generated_oracle.py``) checks shapes, parameters and
MACs of these ops in random specs; this file pins the conventions it cannot see
(PyTorch's counter counts no element-wise work) and the located errors.
"""

from __future__ import annotations

import pytest
from helpers import report_of
from test_frontend import only

torch = pytest.importorskip("torch")
nn = torch.nn


def _layer(report, op):
    return next(layer for layer in report.layers if layer.node.op == op)


def test_broadcast_merges_count_the_reduction_over_broadcast_axes():
    r = report_of("""
        model se {
            input x: [8, 5, 5]
            s = x -> global_avgpool -> sigmoid
            m = mul(x, s)
            a = add(x, s)
            d = sub(s, x)
        }
        train { batch = 3 }
    """)
    B, out, small = 3, 8 * 5 * 5, 8
    assert _layer(r, "mul").node.shape == (8, 5, 5)
    # mul: forward one multiply per element; backward g·s and g·x (2 per element) plus
    # the sum of g·x over H and W for s (out − small adds)
    assert _layer(r, "mul").train.forward_flops == B * out
    assert _layer(r, "mul").train.backward_flops == B * (2 * out + out - small)
    assert _layer(r, "add").train.backward_flops == B * (out - small)
    assert _layer(r, "sub").train.backward_flops == B * (out + out - small)


def test_param_is_counted_once_and_once_per_repeat_of_its_block():
    r = report_of("""
        block scaled(d) {
            input x
            g = param(d, init=constant(1e-6))
            out = mul(x, g)
        }
        model m {
            input x: [4, 16]
            pos = param(4, 16)
            h = add(x, pos) -> scaled(16) * 3
        }
        train { batch = 5 }
    """)

    class Twin(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos = nn.Parameter(torch.zeros(4, 16))
            self.scales = nn.ParameterList(
                [nn.Parameter(torch.full((16,), 1e-6)) for _ in range(3)]
            )

    assert r.totals.params == sum(p.numel() for p in Twin().parameters()) == 64 + 3 * 16
    params = [layer for layer in r.layers if layer.node.op == "param"]
    assert len(params) == 4
    # the batch's per-sample gradients are summed into each tensor: (B − 1)·numel adds
    assert params[0].train.backward_flops == 4 * 64
    assert params[0].train.forward_flops == params[0].train.cached_elements == 0


def test_frozen_param_has_no_gradient():
    r = report_of("""
        model m {
            input x: [4]
            p = param(4, trainable=false)
            y = add(x, p)
        }
        train { batch = 5
                optimizer = adam }
    """)
    assert r.totals.trainable_params == 0 and r.totals.frozen_params == 4
    assert _layer(r, "param").train.backward_flops == 0


def test_norm_parameters_match_torch():
    r = report_of("""
        model m {
            input x: [3, 10]
            a = x -> rmsnorm
            b = x -> rmsnorm(affine=false)
            c = x -> layernorm(bias=false)
            d = x -> layernorm(affine=false)
            e = x -> layernorm
        }
    """)
    twins = {
        "a": nn.RMSNorm(10),
        "b": nn.RMSNorm(10, elementwise_affine=False),
        "c": nn.LayerNorm(10, bias=False),
        "d": nn.LayerNorm(10, elementwise_affine=False),
        "e": nn.LayerNorm(10),
    }
    for name, twin in twins.items():
        node = r.lowered.tensors[name]
        assert r.layer(node).train.params == sum(p.numel() for p in twin.parameters()), name


def test_norm_flops_drop_the_affine_terms():
    r = report_of("""
        model m {
            input x: [10]
            a = x -> rmsnorm
            b = x -> rmsnorm(affine=false)
            c = x -> layernorm(bias=false)
            d = x -> layernorm(affine=false)
        }
    """)
    per = {n: r.layer(r.lowered.tensors[n]).train for n in "abcd"}
    assert (per["a"].forward_flops, per["a"].backward_flops) == (40, 80)
    assert (per["b"].forward_flops, per["b"].backward_flops) == (30, 50)
    assert (per["c"].forward_flops, per["c"].backward_flops) == (60, 90)
    assert (per["d"].forward_flops, per["d"].backward_flops) == (50, 60)


def test_axis_ops_shapes_and_views():
    r = report_of("""
        model vit_head {
            input img: [3, 32, 32]
            p = img -> conv2d(16, 8, stride=8) -> reshape(16, 16) -> transpose(0, 1)
            cls = param(1, 16)
            t = concat(cls, p, axis=0)
            h = t -> softmax(axis=-1)
            s = h -> select(0, 0)
            q = h -> slice(1, 2, 5) -> mean(0)
            u = h -> permute(1, 0) -> sum(-1)
        }
    """)
    shapes = {n: r.lowered.node(i).shape for n, i in r.lowered.tensors.items()}
    assert shapes["p"] == (16, 16) and shapes["t"] == (17, 16)
    assert shapes["s"] == (16,) and shapes["q"] == (3,) and shapes["u"] == (16,)
    for op in ("transpose", "permute", "select", "slice"):
        assert _layer(r, op).train.forward_flops == 0 and _layer(r, op).train.output_elements == 0
    assert _layer(r, "mean").train.forward_flops == 17 * 3  # n − 1 adds + 1 divide per output
    assert _layer(r, "sum").train.forward_flops == 17 * 16 - 16


@pytest.mark.parametrize(
    ("chain", "code", "words"),
    [
        ("x -> select(2, 0)", "NN007", ["select axis 2 is out of range for [4, 6]"]),
        ("x -> select(0, 4)", "NN007", ["select index 4 is out of range", "size 4"]),
        ("x -> slice(1, 3, 9)", "NN007", ["start < end <= 6"]),
        ("x -> permute(0, 0)", "NN007", ["must name every axis of [4, 6] once"]),
        ("x -> transpose(0, 5)", "NN007", ["out of range"]),
        ("x -> mean(-3)", "NN007", ["out of range"]),
        ("x -> softmax(axis=2)", "NN007", ["softmax axis 2 is out of range"]),
        ("mul(x, y)", "NN009", ["mul of [4, 6] and [4, 5]", "do not broadcast"]),
        ("sub(x, x, x)", "NN010", ["exactly two tensors"]),
    ],
)
def test_axis_and_merge_errors_are_located(chain, code, words):
    d = only(f"model m {{\n  input x: [4, 6]\n  y = x -> dense(5)\n  z = {chain}\n}}")
    assert d.code == code, d.message
    assert d.span.line == 4, d.message
    for w in words:
        assert w in d.message, d.message
    assert d.fix


def test_param_errors_are_located():
    d = only("model m {\n  input x: [4]\n  p = param(4, 0)\n  y = add(x, p)\n}")
    assert d.code == "NN007" and d.span.line == 3 and "positive" in d.message
    d = only("model m {\n  input x: [4]\n  p = param(4) * 2\n  y = add(x, p)\n}")
    assert d.span.line == 3, d.message  # a learned tensor is not repeated: a syntax error
