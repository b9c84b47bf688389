"""``pixel_shuffle`` (PyTorch ``nn.PixelShuffle``) against PyTorch, and its convention: a copy
kernel, not a view (see the op's docstring). ``tests/oracle.py`` also draws it into random
specs."""

from __future__ import annotations

import pytest
from helpers import analysis_of, layers, report_of

from nnlint.activations import plan_activations
from nnlint.check import check_text
from nnlint.ops import OPS, known_as
from nnlint.targets import builtin_targets

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_reference import saved_bytes  # noqa: E402

# ESPCN's tail (Shi et al. 2016): a conv to C·r² channels, a ReLU, the shuffle, a conv
SPEC = """
model espcn {
    input x: [3, 12, 10]
    h = x -> conv2d(16, 3, padding=1) -> relu -> pixel_shuffle(2) -> conv2d(3, 3, padding=1)
}
train {
    batch = 2
}
"""


class Espcn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.b = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, x):
        return self.b(nn.functional.pixel_shuffle(torch.relu(self.a(x)), 2))


def test_shapes_params_and_macs_equal_torch():
    torch.manual_seed(0)
    model = Espcn()
    x = torch.randn(2, 3, 12, 10)
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    report = report_of(SPEC)
    (shuffle,) = layers(report, "pixel_shuffle")
    assert (
        shuffle.node.shape
        == (4, 24, 20)
        == tuple(nn.PixelShuffle(2)(torch.ones(1, 16, 12, 10)).shape[1:])
    )
    assert report.layers[-1].node.shape == tuple(out.shape[1:])
    t = report.totals
    assert t.params == sum(p.numel() for p in model.parameters())
    assert 2 * 2 * t.macs == fwd.get_total_flops()
    assert 2 * 2 * (t.backward_macs - t.input_grad_macs) == bwd.get_total_flops()


def test_a_copy_with_no_arithmetic():
    (shuffle,) = layers(report_of(SPEC), "pixel_shuffle")
    out = 4 * 24 * 20
    for cost in (shuffle.train, shuffle.infer):
        assert cost.forward_flops == cost.backward_flops == cost.macs == cost.params == 0
        assert cost.output_elements == out  # a new tensor, not a view
    assert shuffle.train.cached_elements == 2 * out  # every new output, as concat's
    op = OPS["pixel_shuffle"]
    assert not (op.is_view or op.in_place or op.passes_values or op.keeps_width)
    assert not op.moves_data({}, ((16, 12, 10),))  # not a view that a runtime copies


def test_saved_tensors_equal_torch_in_fp32():
    """Eager PyTorch writes the shuffle into a new tensor: the ReLU keeps its output and the
    second conv keeps the shuffled copy, two storages (a view would share one)."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 12, 10, requires_grad=True)
    shuffled = nn.functional.pixel_shuffle(torch.ones(1, 16, 12, 10), 2)
    assert shuffled.is_contiguous()
    torch_bytes = saved_bytes(Espcn(), [x])
    plan = plan_activations(report_of(SPEC).lowered, lambda _n: 32, batch=1)
    x_in, relu_out, shuffled_out = 3 * 12 * 10, 16 * 12 * 10, 4 * 24 * 20
    assert torch_bytes == plan.bytes == 4 * (x_in + relu_out + shuffled_out)


def test_an_inference_kernel_that_reads_and_writes_the_tensor():
    spec = SPEC + "deploy {\n    target = a100-40gb\n    precision = fp16\n}\n"
    roof = analysis_of(spec).roofline
    copy = roof.layer("h/pixel_shuffle#1")
    elements = 16 * 12 * 10  # as many in as out
    assert (copy.flops, copy.bytes_moved, copy.weight_bytes) == (0, 2 * 2 * elements, 0)
    a100 = builtin_targets()["a100-40gb"]
    assert copy.bound == "memory"
    assert copy.time_s == pytest.approx(2 * 2 * elements / a100.bandwidth)


def test_names():
    for name in ("PixelShuffle", "nn.PixelShuffle", "torch.nn.PixelShuffle", "DepthToSpace"):
        assert known_as(name) == "pixel_shuffle", name


@pytest.mark.parametrize(
    ("shape", "chain", "message"),
    [
        ("6, 4, 4", "pixel_shuffle(2)", "needs channels divisible by 2² = 4"),
        ("16, 4", "pixel_shuffle(2)", "expects an input of rank 3"),
        ("16, 4, 4", "pixel_shuffle(0)", "must be at least 1"),
    ],
)
def test_bad_input_is_located(shape, chain, message):
    result = check_text(f"model m {{\n    input x: [{shape}]\n    y = x -> {chain}\n}}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.severity.name == "ERROR"]
    assert message in d.message and d.span.line == 3
