"""hardswish, hardsigmoid, softplus and mish: their counts by hand, what autograd saves, their
PyTorch and Keras names and their roles.

``tests/oracle.py`` draws them into random specs (shapes, parameters, MACs against PyTorch);
``FlopCounterMode`` counts no element-wise work, so their FLOPs are checked here by hand,
item by item from PyTorch's CPU kernels (``aten/src/ATen/native/cpu/Activation.cpp``), as
each op's docstring states them.
"""

from __future__ import annotations

import pytest
from helpers import layers, report_of

from nnlint.activations import plan_activations
from nnlint.check import check_text
from nnlint.ops import OPS, known_as

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch_reference import saved_bytes  # noqa: E402

F = nn.functional

T, D, B = 4, 6, 3  # a [4, 6] input at batch 3: N = 72 elements per layer


def _layer(op: str, trainable: bool = True):
    spec = (
        f"model m {{\n    input x: [{T}, {D}]\n    h = x -> dense({D}) -> {op}\n}}\n"
        f"train {{\n    batch = {B}\n}}\n"
    )
    (layer,) = layers(report_of(spec), op.split("(")[0])
    return layer


# forward, backward FLOPs per element, item by item
BY_HAND = {
    # z + 3, max with 0, min with 6, · z, ÷ 6 | compare with −3 and 3, z/3, + 1/2, · g
    "hardswish": (1 + 2 + 1 + 1, 2 + 1 + 1 + 1),
    # z + 3, max with 0, min with 6, ÷ 6 | compare with −3 and 3, g · 1/6
    "hardsigmoid": (1 + 2 + 1, 2 + 1),
    # β·z, compare with the threshold, exp, log1p, ÷ β | β·z, compare, e = exp, e + 1, g·e, ÷
    "softplus": (1 + 1 + 1 + 1 + 1, 1 + 1 + 1 + 1 + 1 + 1),
    # exp, log1p, tanh (6: 2 exp, sub, add, div), · z | σ(z) (neg, exp, add, div),
    # t = tanh(log1p(exp z)) (8), t·t, 1 − ·, z·σ, ·(1 − t²), t + ·, g · ·
    "mish": (1 + 1 + 6 + 1, 4 + 8 + 1 + 1 + 1 + 1 + 1 + 1),
}


@pytest.mark.parametrize("op", sorted(BY_HAND))
def test_flops_by_hand(op):
    fwd, bwd = BY_HAND[op]
    layer = _layer(op)
    n = B * T * D
    assert layer.train.forward_flops == fwd * n
    assert layer.infer.forward_flops == fwd * T * D  # deploy batch 1
    assert layer.train.backward_flops == bwd * n
    assert layer.train.params == layer.train.macs == 0
    if OPS[op].in_place:  # hardsigmoid: its slope is read from its output
        assert layer.train.output_elements == layer.train.cached_elements == 0
    else:  # a new output, kept for the backward pass
        assert layer.train.output_elements == T * D
        assert layer.train.cached_elements == n


def test_softplus_counts_the_same_for_any_beta_and_threshold():
    # PyTorch's kernel multiplies by β and divides by it whatever its value, β = 1 included
    one, other = _layer("softplus"), _layer("softplus(2, threshold=5)")
    assert one.train == other.train and one.infer == other.infer


@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("hardswish", F.hardswish),
        ("hardswish", lambda t: F.hardswish(t, inplace=True)),
        ("hardsigmoid", F.hardsigmoid),
        ("hardsigmoid", lambda t: F.hardsigmoid(t, inplace=True)),
        ("softplus", F.softplus),
        ("softplus(2, 5)", lambda t: F.softplus(t, 2.0, 5.0)),
        ("mish", F.mish),
        ("mish", lambda t: F.mish(t, inplace=True)),
    ],
)
def test_saved_tensors_equal_torch_in_fp32(op, fn):
    """Each keeps its input for the backward pass, as autograd does; PyTorch's in-place
    variants keep a copy of it, the same bytes."""
    torch.manual_seed(0)
    linear = nn.Linear(D, D)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = linear

        def forward(self, x):
            return fn(self.linear(x))

    torch_bytes = saved_bytes(Net(), [torch.randn(1, T, D, requires_grad=True)])
    spec = f"model m {{\n    input x: [{T}, {D}]\n    h = x -> dense({D}) -> {op}\n}}\n"
    plan = plan_activations(report_of(spec).lowered, lambda _n: 32, batch=1)
    # the linear layer's input and the activation's input (the linear layer's output)
    assert torch_bytes == plan.bytes == 4 * (T * D + T * D)


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("nn.Hardswish", "hardswish"),
        ("hard_swish", "hardswish"),
        ("HardSwish", "hardswish"),
        ("keras.layers.hard_silu", "hardswish"),
        ("h_swish", "hardswish"),
        ("nn.Hardsigmoid", "hardsigmoid"),
        ("hard_sigmoid", "hardsigmoid"),
        ("h_sigmoid", "hardsigmoid"),
        ("nn.Softplus", "softplus"),
        ("torch.nn.Mish", "mish"),
    ],
)
def test_pytorch_and_keras_names(name, op):
    assert known_as(name) == op


def test_a_pytorch_name_in_a_spec_is_told_the_op():
    result = check_text("model m {\n    input x: [8]\n    h = x -> Hardswish\n}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == "NN004"]
    assert "did you mean `hardswish`?" in d.message


def test_roles_match_the_functions():
    """The largest derivative of hardsigmoid (its ``max_slope``, which makes it saturating)
    and the others' unbounded positive side, from autograd on a fine grid."""
    z = torch.linspace(-8, 8, 16_001, requires_grad=True)
    slopes = {}
    for name, fn in [
        ("hardswish", F.hardswish),
        ("hardsigmoid", F.hardsigmoid),
        ("softplus", F.softplus),
        ("mish", F.mish),
    ]:
        (grad,) = torch.autograd.grad(fn(z).sum(), z)
        slopes[name] = grad
    hard = OPS["hardsigmoid"]
    assert hard.saturating and slopes["hardsigmoid"].max().item() == pytest.approx(hard.max_slope)
    assert slopes["hardsigmoid"][z.detach().abs() > 3].abs().max().item() == 0  # flat outside
    for name in ("hardswish", "softplus", "mish"):
        op = OPS[name]
        assert not op.saturating and op.max_slope is None
        assert slopes[name][-1].item() == pytest.approx(1.0, abs=1e-3)  # linear for large z
        assert op.init_for == "he" and not op.relu_family and not op.dead_at_zero
    # none of them zeroes the negative half: they are not ReLUs
    assert all(not OPS[n].relu_family for n in slopes)


def test_a_nonpositive_softplus_beta_is_located():
    result = check_text("model m {\n    input x: [8]\n    h = x -> softplus(beta=0)\n}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == "NN007"]
    assert "beta=0" in d.message and d.span.line == 3
