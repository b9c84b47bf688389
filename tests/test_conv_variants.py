"""conv1d, conv3d, conv_transpose2d, upsample, kernel/stride/padding pairs and triples,
``padding=same`` and pools with ``ceil=true`` or over ``[C, L]`` and ``[C, D, H, W]``, each
against the same layer in PyTorch.

Every spec starts with a 1×1 (or k=1) convolution reading the model input, so
PyTorch's skipped input gradient is that layer's ``input_grad_macs`` only: output
shapes equal, params == Σ numel, MACs == FlopCounterMode/2 and PyTorch's backward ==
2·(backward_macs − input_grad_macs) exactly. Pools and upsampling have no MACs: the
counter counts none of their work either.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import report_of  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_reference import _groups_overcount_factor  # noqa: E402

nn = torch.nn

# (input shape, nnlint chain after a pointwise conv to 6 channels, torch layers after it)
CASES = [
    ((3, 20, 18), "conv2d(8, (3, 1))", lambda: [nn.Conv2d(6, 8, (3, 1))]),
    (
        (3, 20, 18),
        "conv2d(8, (5, 3), stride=(2, 1), padding=(2, 0), dilation=(1, 2))",
        lambda: [nn.Conv2d(6, 8, (5, 3), stride=(2, 1), padding=(2, 0), dilation=(1, 2))],
    ),
    ((3, 20, 18), "conv2d(8, 4, padding=same)", lambda: [nn.Conv2d(6, 8, 4, padding="same")]),
    (
        (3, 20, 18),
        "conv2d(6, (2, 3), padding=same, groups=3, dilation=2, bias=false)",
        lambda: [nn.Conv2d(6, 6, (2, 3), padding="same", groups=3, dilation=2, bias=False)],
    ),
    ((3, 17), "conv1d(8, 5, stride=2, padding=1)", lambda: [nn.Conv1d(6, 8, 5, 2, 1)]),
    (
        (3, 17),
        "conv1d(8, 4, padding=same, dilation=3)",
        lambda: [nn.Conv1d(6, 8, 4, padding="same", dilation=3)],
    ),
    ((3, 17), "conv1d(9, 3, groups=3)", lambda: [nn.Conv1d(6, 9, 3, groups=3)]),
    ((3, 7, 9), "conv_transpose2d(4, 2, stride=2)", lambda: [nn.ConvTranspose2d(6, 4, 2, 2)]),
    (
        (3, 7, 9),
        "conv_transpose2d(4, (3, 5), stride=(2, 3), padding=(1, 2), output_padding=(1, 2))",
        lambda: [nn.ConvTranspose2d(6, 4, (3, 5), (2, 3), (1, 2), output_padding=(1, 2))],
    ),
    (
        (3, 7, 9),
        "conv_transpose2d(6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2, "
        "bias=false)",
        lambda: [
            nn.ConvTranspose2d(6, 6, 3, 2, 1, output_padding=1, groups=2, dilation=2, bias=False)
        ],
    ),
    (
        (3, 7, 9),
        "upsample(2) -> conv2d(4, 3)",
        lambda: [nn.Upsample(scale_factor=2), nn.Conv2d(6, 4, 3)],
    ),
    (
        (3, 7, 9),
        "upsample(3, mode=bilinear) -> conv2d(4, 3)",
        lambda: [nn.Upsample(scale_factor=3, mode="bilinear"), nn.Conv2d(6, 4, 3)],
    ),
    ((3, 32, 32), "maxpool(3, stride=2, ceil=true)", lambda: [nn.MaxPool2d(3, 2, ceil_mode=True)]),
    # the last window would start in the right padding: ceil_mode drops it
    (
        (3, 5, 5),
        "maxpool(2, stride=2, padding=1, ceil=true)",
        lambda: [nn.MaxPool2d(2, 2, 1, ceil_mode=True)],
    ),
    (
        (3, 10, 11),
        "avgpool((3, 2), stride=(2, 1), padding=(1, 0), ceil=true)",
        lambda: [nn.AvgPool2d((3, 2), (2, 1), (1, 0), ceil_mode=True)],
    ),
    ((3, 17), "maxpool(3, stride=2, ceil=true)", lambda: [nn.MaxPool1d(3, 2, ceil_mode=True)]),
    ((3, 17), "avgpool(4, padding=2)", lambda: [nn.AvgPool1d(4, padding=2)]),
    # 3-D: video clips and volumes [C, D, H, W]
    ((3, 5, 9, 8), "conv3d(8, 3)", lambda: [nn.Conv3d(6, 8, 3)]),
    (
        (3, 5, 9, 8),
        "conv3d(8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))",
        lambda: [nn.Conv3d(6, 8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))],
    ),
    (
        (3, 5, 9, 8),
        "conv3d(9, (3, 1, 2), padding=same, groups=3, dilation=(2, 1, 1), bias=false)",
        lambda: [
            nn.Conv3d(6, 9, (3, 1, 2), padding="same", groups=3, dilation=(2, 1, 1), bias=False)
        ],
    ),
    (
        (3, 5, 9, 8),
        "conv3d(4, 2, stride=2, padding=1, dilation=2)",
        lambda: [nn.Conv3d(6, 4, 2, stride=2, padding=1, dilation=2)],
    ),
    ((3, 4, 9, 8), "maxpool(2)", lambda: [nn.MaxPool3d(2)]),
    (
        (3, 4, 7, 7),
        "maxpool((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), ceil=true)",
        lambda: [nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1), ceil_mode=True)],
    ),
    (
        (3, 5, 9, 8),
        "avgpool((2, 3, 3), stride=(1, 2, 2), padding=(1, 1, 0), ceil=true) -> conv3d(4, 1)",
        lambda: [nn.AvgPool3d((2, 3, 3), (1, 2, 2), (1, 1, 0), ceil_mode=True), nn.Conv3d(6, 4, 1)],
    ),
    ((3, 3, 4, 5), "conv_transpose3d(4, 2, stride=2)", lambda: [nn.ConvTranspose3d(6, 4, 2, 2)]),
    (
        (3, 3, 4, 5),
        "conv_transpose3d(6, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), "
        "output_padding=(0, 1, 1), groups=2, dilation=(2, 1, 1), bias=false)",
        lambda: [
            nn.ConvTranspose3d(
                6, 6, (1, 3, 3), (1, 2, 2), (0, 1, 1), (0, 1, 1), 2, False, (2, 1, 1)
            )
        ],
    ),
    (
        (3, 3, 4, 5),
        "upsample(2) -> conv3d(4, 3)",
        lambda: [nn.Upsample(scale_factor=2), nn.Conv3d(6, 4, 3)],
    ),
    (
        (3, 3, 4, 5),
        "upsample(2, mode=trilinear) -> conv3d(4, 3)",
        lambda: [nn.Upsample(scale_factor=2, mode="trilinear"), nn.Conv3d(6, 4, 3)],
    ),
    (
        (3, 4, 6, 5),
        "global_avgpool -> flatten -> dense(5)",
        lambda: [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(6, 5)],
    ),
]


def _torch(shape, build):
    torch.manual_seed(0)
    pointwise = {2: nn.Conv1d, 3: nn.Conv2d, 4: nn.Conv3d}[len(shape)](shape[0], 6, 1)
    model = nn.Sequential(pointwise, *build())
    x = torch.randn(1, *shape)
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    return tuple(out.shape[1:]), sum(p.numel() for p in model.parameters()), fwd, bwd


@pytest.mark.parametrize(("shape", "chain", "build"), CASES, ids=[c[1] for c in CASES])
def test_conv_and_pool_variants_match_torch(shape, chain, build):
    out_shape, params, fwd, bwd = _torch(shape, build)
    first = f"conv{len(shape) - 1}d(6, 1)"
    dims = ", ".join(map(str, shape))
    report = report_of(f"model m {{\n input x: [{dims}]\n y = x -> {first} -> {chain}\n}}\n")
    t = report.totals
    assert report.layers[-1].node.shape == out_shape
    assert t.params == params
    assert 2 * t.macs == fwd.get_total_flops()
    # groups>1: torch 2.13's counter charges the weight gradient `groups` times
    # (pytorch#183405), (groups − 1) × the layer's forward FLOPs too many
    grouped = [n for n in report.layers if n.node.opts.get("groups", 1) > 1]
    overcount = _groups_overcount_factor() * sum(
        (n.node.opts["groups"] - 1) * 2 * n.train.macs for n in grouped
    )
    assert 2 * (t.backward_macs - t.input_grad_macs) == bwd.get_total_flops() - overcount


@pytest.mark.parametrize(("shape", "chain", "build"), CASES, ids=[c[1] for c in CASES])
def test_saved_tensors_equal_torch_in_fp32(shape, chain, build):
    """What autograd saves for each variant, once per storage: a convolution's input — with
    ``padding=same`` and an odd total padding ``d·(k−1)`` on some axis, the copy PyTorch
    pads by the odd element and convolves instead, one element longer on that axis."""
    from torch_reference import saved_bytes

    from nnlint.activations import plan_activations

    torch.manual_seed(0)
    pointwise = {2: nn.Conv1d, 3: nn.Conv2d, 4: nn.Conv3d}[len(shape)](shape[0], 6, 1)
    torch_bytes = saved_bytes(nn.Sequential(pointwise, *build()), [torch.randn(1, *shape)])
    first = f"conv{len(shape) - 1}d(6, 1)"
    dims = ", ".join(map(str, shape))
    report = report_of(f"model m {{\n input x: [{dims}]\n y = x -> {first} -> {chain}\n}}\n")
    assert plan_activations(report.lowered, lambda _n: 32, batch=1).bytes == torch_bytes


def test_an_even_kernel_with_padding_same_saves_the_padded_copy():
    # [6, 9, 8] through conv2d(8, (2, 3), padding=same, dilation=(3, 2)): d·(k−1) is 3 on H
    # (odd: PyTorch pads a copy to 10 rows) and 4 on W (even: padded inside the kernel)
    from nnlint.activations import plan_activations

    report = report_of(
        "model m {\n input x: [6, 9, 8]\n"
        " y = x -> conv2d(8, (2, 3), padding=same, dilation=(3, 2))\n}\n"
    )
    assert report.layers[-1].node.shape == (8, 9, 8)
    assert plan_activations(report.lowered, lambda _n: 32, batch=1).bytes == 4 * 6 * 10 * 8


@pytest.mark.parametrize(
    ("shape", "chain", "code", "message"),
    [
        (
            "3, 20, 18",
            "conv2d(8, 3, stride=2, padding=same)",
            "NN007",
            "padding=same needs stride 1",
        ),
        ("3, 20, 18", "conv2d(8, (3, 1, 1))", "NN006", "one number or a pair"),
        ("3, 20, 18", "conv2d(8, 3, padding=valid)", "NN006", "expects a number, a pair"),
        ("3, 17", "conv1d(8, (3, 1))", "NN006", "takes one value, not a pair"),
        ("3, 17", "conv1d(8, 3, padding=full)", "NN006", "expects a number or same"),
        ("3, 17", "maxpool((2, 2))", "NN007", "not a pair"),
        ("3, 4, 9, 8", "maxpool((2, 2))", "NN007", "takes 3 sizes per option, not a pair"),
        ("3, 9, 8", "avgpool(2, stride=(1, 2, 2))", "NN007", "takes 2 sizes per option"),
        ("3, 9, 8", "maxpool((1, 2, 2, 2))", "NN006", "one number or one per spatial axis"),
        ("3, 4, 9, 8", "conv3d(8, (3, 3))", "NN006", "one number or a triple"),
        ("3, 9, 8", "conv3d(8, 3)", "NN009", "expects an input of rank 4"),
        ("3, 4, 9, 8", "conv3d(8, 3, stride=2, padding=same)", "NN007", "needs stride 1"),
        ("3, 4, 9, 8", "conv3d(8, (5, 3, 3))", "NN009", "larger than the input"),
        ("3, 4, 9, 8", "conv2d(8, 3)", "NN009", "expects an input of rank 3"),
        (
            "3, 4, 9, 8",
            "conv_transpose3d(4, 3, stride=(1, 2, 2), output_padding=(1, 1, 1))",
            "NN007",
            "output_padding=(1, 1, 1) must be smaller",
        ),
        ("3, 4, 9, 8", "upsample(2, mode=bilinear)", "NN007", "bilinear interpolates [C, H, W]"),
        ("3, 9, 8", "upsample(2, mode=trilinear)", "NN007", "trilinear interpolates [C, D, H, W]"),
        (
            "3, 7, 9",
            "conv_transpose2d(4, 3, stride=2, output_padding=2)",
            "NN007",
            "output_padding=2 must be smaller",
        ),
        ("3, 7, 9", "conv_transpose2d(4, 1, padding=4)", "NN009", "removes the whole output"),
        ("3, 7, 9", "upsample(2, mode=cubic)", "NN006", "expects nearest or bilinear"),
        ("3, 7, 9", "upsample(0)", "NN007", "must be at least 1"),
    ],
)
def test_bad_conv_options_are_located(shape, chain, code, message):
    from nnlint.check import check_text

    result = check_text(f"model m {{\n    input x: [{shape}]\n    y = x -> {chain}\n}}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == code]
    assert message in d.message
    assert d.span.line == 3


def test_upsample_flops_follow_the_documented_convention():
    def up(mode):
        report = report_of(
            f"model m {{\n input x: [3, 5, 4]\n y = x -> upsample(3, mode={mode})\n}}\n"
            "train {\n batch = 2\n}\n"
        )
        return report.layers[-1].train

    nearest, bilinear = up("nearest"), up("bilinear")
    out = 3 * 15 * 12
    assert (nearest.forward_flops, nearest.backward_flops) == (0, 2 * (9 - 1) * 3 * 5 * 4)
    assert (bilinear.forward_flops, bilinear.backward_flops) == (2 * 7 * out, 2 * 8 * out)
    assert nearest.params == nearest.macs == bilinear.macs == 0

    # a volume [3, 2, 5, 4]: nearest sums 3³ = 27 output gradients per input element;
    # trilinear blends 8 neighbours (8 multiplies, 7 adds) and scatters back to them (8 + 8)
    def up3(mode):
        report = report_of(
            f"model m {{\n input x: [3, 2, 5, 4]\n y = x -> upsample(3, mode={mode})\n}}\n"
            "train {\n batch = 2\n}\n"
        )
        return report.layers[-1]

    near3, tri = up3("nearest"), up3("trilinear")
    assert near3.node.shape == tri.node.shape == (3, 6, 15, 12)
    out3 = 3 * 6 * 15 * 12
    assert (near3.train.forward_flops, near3.train.backward_flops) == (0, 2 * 26 * 3 * 2 * 5 * 4)
    assert (tri.train.forward_flops, tri.train.backward_flops) == (2 * 15 * out3, 2 * 16 * out3)


def test_a_square_pair_counts_as_its_single_number():
    def totals(kernel):
        return report_of(
            f"model m {{\n input x: [3, 20, 18]\n y = x -> conv2d(8, {kernel}, stride={kernel})"
            f" -> maxpool({kernel})\n}}\n"
        ).totals

    square, pair = totals("2"), totals("(2, 2)")
    assert (square.params, square.macs, square.forward_flops, square.backward_flops) == (
        pair.params,
        pair.macs,
        pair.forward_flops,
        pair.backward_flops,
    )


def test_3d_saved_tensors_equal_torch_in_fp32():
    """conv3d keeps its input, the 3-D max pool its input and int64 arg-max indices, the
    average pool its input, as autograd does."""
    from helpers import report_of
    from torch_reference import saved_bytes

    from nnlint.activations import plan_activations

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.MaxPool3d((1, 2, 2)), nn.AvgPool3d(2, stride=1)
    )
    torch_bytes = saved_bytes(model, [torch.randn(1, 3, 4, 6, 6, requires_grad=True)])
    spec = (
        "model m {\n input x: [3, 4, 6, 6]\n"
        " y = x -> conv3d(4, 3, padding=1) -> maxpool((1, 2, 2)) -> avgpool(2, stride=1)\n}\n"
    )
    plan = plan_activations(report_of(spec).lowered, lambda _n: 32, batch=1)
    conv_in, pool_in, pooled = 3 * 4 * 6 * 6, 4 * 4 * 6 * 6, 4 * 4 * 3 * 3
    assert torch_bytes == plan.bytes == 4 * (conv_in + pool_in + pooled) + 8 * pooled


def test_3d_pool_flops_by_hand():
    # [4, 4, 6, 6] at batch 2 through a (1, 2, 2) window: 4·4·3·3 = 144 outputs of K = 4
    report = report_of(
        "model m {\n input x: [4, 4, 6, 6]\n a = x -> maxpool((1, 2, 2))\n"
        " b = x -> avgpool((1, 2, 2))\n c = x -> global_avgpool\n}\ntrain {\n batch = 2\n}\n"
    )
    pool, avg, glob = (layer.train for layer in report.layers[1:])
    assert report.layers[3].node.shape == (4, 1, 1, 1)
    assert (pool.forward_flops, pool.backward_flops) == (2 * 144 * 3, 2 * 144)
    assert (avg.forward_flops, avg.backward_flops) == (2 * 144 * 4, 2 * 144 * 5)
    assert (glob.forward_flops, glob.backward_flops) == (2 * 576, 2 * 576)
