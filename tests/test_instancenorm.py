"""``instancenorm`` (PyTorch ``nn.InstanceNorm1d/2d``) against PyTorch: shapes, parameters and
MACs (``FlopCounterMode``), what autograd saves, and its FLOPs by hand (the counter counts no
normalization work). ``tests/oracle.py`` also draws it into random specs."""

from __future__ import annotations

import pytest
from helpers import layers, report_of

from nnlint.activations import plan_activations
from nnlint.check import check_text
from nnlint.ops import OPS, known_as

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_reference import saved_bytes  # noqa: E402


def _spec(shape: str, chain: str, batch: int = 2) -> str:
    return (
        f"model m {{\n    input x: [{shape}]\n    h = x -> {chain}\n}}\n"
        f"train {{\n    batch = {batch}\n}}\n"
    )


class _ChannelsLast(nn.Module):
    """A channels-first module over the last axis of ``[B, T, D]`` (nnlint's channel axis)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x.transpose(1, 2)).transpose(1, 2)


CASES = [
    ("3, 8, 7", "conv2d(6, 3) -> instancenorm", lambda: [nn.Conv2d(3, 6, 3), nn.InstanceNorm2d(6)]),
    (
        "3, 8, 7",
        "conv2d(6, 3, bias=false) -> instancenorm(affine=true, eps=1e-3)",
        lambda: [nn.Conv2d(3, 6, 3, bias=False), nn.InstanceNorm2d(6, eps=1e-3, affine=True)],
    ),
    (
        "5, 4",
        "dense(6) -> instancenorm(affine=true)",
        lambda: [nn.Linear(4, 6), _ChannelsLast(nn.InstanceNorm1d(6, affine=True))],
    ),
]


@pytest.mark.parametrize(("shape", "chain", "build"), CASES, ids=[c[1] for c in CASES])
def test_shapes_params_and_macs_equal_torch(shape, chain, build):
    torch.manual_seed(0)
    model = nn.Sequential(*build())
    x = torch.randn(2, *map(int, shape.split(", ")))
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    report = report_of(_spec(shape, chain))
    t = report.totals
    assert report.layers[-1].node.shape == tuple(out.shape[1:])
    assert t.params == sum(p.numel() for p in model.parameters())
    assert 2 * 2 * t.macs == fwd.get_total_flops()
    assert 2 * 2 * (t.backward_macs - t.input_grad_macs) == bwd.get_total_flops()


def test_flops_by_hand():
    # [6, 5, 4] at batch 2: N = 240 elements, 6 channels of 20 positions per sample
    def layer(opts):
        (norm,) = layers(report_of(_spec("6, 5, 4", f"instancenorm{opts}")), "instancenorm")
        return norm

    n, per_sample = 2 * 120, 120
    plain, affine = layer(""), layer("(affine=true)")
    frozen = layer("(affine=true, trainable=false)")
    # mean (add per element), variance (sub, square, add), normalize (sub, div): 5 per
    # element as layernorm's itemized count; γ and β one more each
    assert (plain.train.forward_flops, affine.train.forward_flops) == (5 * n, 7 * n)
    # ∂x 6 (7 through γ); ∂γ 2 and ∂β 1 per element when trainable
    assert plain.train.backward_flops == 6 * n
    assert affine.train.backward_flops == (7 + 2 + 1) * n
    assert frozen.train.backward_flops == 7 * n
    # no running statistics: inference normalizes as training does (deploy batch 1)
    assert affine.infer.forward_flops == 7 * per_sample
    assert plain.train.params == 0 and affine.train.params == 2 * 6
    assert plain.train.buffers == affine.train.buffers == 0
    # x̂ plus a mean and a std per sample and channel
    assert affine.train.cached_elements == 2 * (120 + 2 * 6)
    assert affine.train.output_elements == 120


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_saved_tensors_equal_torch_in_fp32(affine, batch):
    """Its input, the per-instance mean and reciprocal std and, with γ, γ repeated for every
    sample (PyTorch runs it as a batch norm over the B·C instances); after a 1×1
    convolution, which keeps the model input (so that the norm's input needs a gradient)."""
    model = nn.Sequential(nn.Conv2d(6, 6, 1), nn.InstanceNorm2d(6, affine=affine))
    torch_bytes = saved_bytes(model, [torch.randn(batch, 6, 5, 4)])
    opts = "(affine=true)" if affine else ""
    lowered = report_of(_spec("6, 5, 4", f"conv2d(6, 1) -> instancenorm{opts}")).lowered
    plan = plan_activations(lowered, lambda _n: 32, batch=batch)
    norm = 120 + 6 + 6 + (6 if affine else 0)
    assert torch_bytes == plan.bytes == batch * 4 * (120 + norm)


def test_the_bias_before_it_cancels():
    """One mean per channel of each sample: a conv's per-channel bias is wasted (NN114)."""
    result = check_text(_spec("3, 8, 8", "conv2d(8, 3) -> instancenorm"), "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == "NN114"]
    assert d.data["wasted_params"] == 8
    quiet = check_text(_spec("3, 8, 8", "conv2d(8, 3, bias=false) -> instancenorm"), "m.nn")
    assert not [d for d in quiet.diagnostics if d.code == "NN114"]


def test_roles():
    op = OPS["instancenorm"]
    assert op.is_norm and op.subtracts_mean and op.keeps_width
    assert not (op.batch_statistics or op.folds_into_linear)
    assert op.means_along({}, (6, 5, 4), 0) == 6 and op.means_along({}, (6, 5, 4), 1) == 1
    assert op.means_along({}, (5, 4), 1) == 4 and op.means_along({}, (5, 4), 0) == 1
    for name in ("InstanceNorm2d", "nn.InstanceNorm1d", "torch.nn.InstanceNorm3d"):
        assert known_as(name) == "instancenorm"


@pytest.mark.parametrize(
    ("shape", "code", "message"),
    [
        ("8, 1, 1", "NN009", "normalizes each channel over a single position"),
        ("1, 8", "NN009", "normalizes each channel over a single position"),
        ("8", "NN009", "expects an input of rank 2 or more"),
    ],
)
def test_one_position_per_channel_is_a_located_error(shape, code, message):
    result = check_text(_spec(shape, "instancenorm"), "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == code]
    assert message in d.message and d.span.line == 3
