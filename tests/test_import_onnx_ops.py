"""``nnlint import``: the ONNX mappings of the ops added to the catalog after the importer
(transpose/permute, mul, sub, upsample, conv_transpose2d, conv1d, mean/sum, select, slice,
rmsnorm). Each round trip exports a small PyTorch model (or builds one with onnx.helper),
imports it and checks the spec: parameters == the ONNX initializers == ``sum(numel)``, MACs
== ``FlopCounterMode`` ÷ 2 on the source model."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_import_onnx import (  # noqa: E402
    checked,
    export,
    initializers,
    run_import,
)
from torch import nn  # noqa: E402
from torch_reference import forward_macs  # noqa: E402

from nnlint.cli import main  # noqa: E402
from nnlint.format import format_text  # noqa: E402


def round_trip(model: nn.Module, inputs: list, tmp_path, capsys, name: str, opset=None):
    """Import the exported model; assert the counts; return the spec's model section."""
    path = export(model, inputs, tmp_path / f"{name}.onnx", False, names=["x"], opset=opset)
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    assert totals["params"] == initializers(path)["all"]
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["macs"] == forward_macs(model, inputs)
    return text[text.index("\nmodel ") + 1 :]


class SqueezeExcite(nn.Module):
    """MobileNetV3/EfficientNet's squeeze-and-excitation: x · sigmoid(fc(pool(x)))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc1 = nn.Conv2d(16, 4, 1)
        self.fc2 = nn.Conv2d(4, 16, 1)

    def forward(self, x):
        h = self.conv(x)
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(h.mean((2, 3), keepdim=True)))))
        return h * w


def test_squeeze_excitation_broadcast_mul(tmp_path, capsys):
    text = round_trip(SqueezeExcite(), [torch.randn(1, 3, 8, 8)], tmp_path, capsys, "se")
    assert text == format_text(
        "model se {\n"
        "    input x: [3, 8, 8]\n"
        "    conv = x -> conv2d(16, 3, padding=1)\n"
        "    sigmoid = conv -> global_avgpool -> conv2d(4, 1) -> relu -> conv2d(16, 1) -> sigmoid\n"
        "    prod = mul(conv, sigmoid)\n"
        "}\n"
    )


class Decoder(nn.Module):
    """A U-Net-like decoder: transposed conv, nearest and bilinear upsampling, their
    difference."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.near = nn.Upsample(scale_factor=2, mode="nearest")
        self.lin = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x):
        h = self.up2(self.up(x))
        return self.near(h) - self.lin(h)


def test_transposed_convolution_upsample_and_sub(tmp_path, capsys):
    text = round_trip(Decoder(), [torch.randn(1, 8, 4, 4)], tmp_path, capsys, "dec")
    assert text == format_text(
        "model dec {\n"
        "    input x: [8, 4, 4]\n"
        "    up2 = x -> conv_transpose2d(4, 4, stride=2, padding=1)\n"
        "        -> conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1, groups=2)\n"
        "    near = up2 -> upsample(2)\n"
        "    lin = up2 -> upsample(2, mode=bilinear)\n"
        "    diff = sub(near, lin)\n"
        "}\n"
    )


class Sequence1d(nn.Module):
    """Conv1d over a sequence, then the per-position axes moved, one position selected,
    a range sliced and reduced."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.dw = nn.Conv1d(6, 6, 5, padding=4, dilation=2, groups=6, bias=False)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = self.dw(self.conv(x))  # [6, 16]
        t = h.transpose(1, 2)  # [16, 6]
        first = t[:, 0]  # [6]
        mid = t[:, 2:10].mean(1)  # [6]
        return self.fc(first + mid + t.sum(1))


def test_conv1d_transpose_select_slice_mean_sum(tmp_path, capsys):
    text = round_trip(Sequence1d(), [torch.randn(1, 4, 16)], tmp_path, capsys, "seq")
    assert text == format_text(
        "model seq {\n"
        "    input x: [4, 16]\n"
        "    transpose = x -> conv1d(6, 3, padding=1)\n"
        "              -> conv1d(6, 5, padding=4, groups=6, dilation=2, bias=false)"
        " -> transpose(0, 1)\n"
        "    select = transpose -> select(0, 0)\n"
        "    mean = transpose -> slice(0, 2, 10) -> mean(0)\n"
        "    sum = add(select, mean)\n"
        "    sum_2 = transpose -> sum(0)\n"
        "    fc = add(sum, sum_2) -> dense(3)\n"
        "}\n"
    )


class Permuted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 5)

    def forward(self, x):  # [3, 4, 6] -> channels last [4, 6, 3]
        return self.fc(x.permute(0, 2, 3, 1)).sum(2, keepdim=True)


def test_permute_and_a_reduction_that_keeps_its_axis(tmp_path, capsys):
    text = round_trip(Permuted(), [torch.randn(1, 3, 4, 6)], tmp_path, capsys, "perm")
    assert "x -> permute(1, 2, 0) -> dense(5) -> sum(1) -> reshape(4, 1, 5)\n" in text, text


class RMSNorm(nn.Module):
    """Llama's RMSNorm as written in its reference code (torch.onnx cannot export
    ``nn.RMSNorm``'s ``aten::rms_norm``)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.rand(d) + 0.5)

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


class NormedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.norm = RMSNorm(32)
        self.out = nn.Linear(32, 8, bias=False)
        self.ln = nn.LayerNorm(8, bias=False)

    def forward(self, x):
        return self.ln(self.out(self.norm(self.fc(x))))


def test_written_out_rmsnorm_and_a_layernorm_without_bias(tmp_path, capsys):
    model = NormedMLP()
    with torch.no_grad():
        model.ln.weight.uniform_(0.5, 1.5)
    text = round_trip(model, [torch.randn(1, 5, 16)], tmp_path, capsys, "rms", opset=17)
    assert "x -> dense(32) -> rmsnorm -> dense(8, bias=false) -> layernorm(bias=false)\n" in text


def _graph_model(nodes, inputs, outputs, inits, opset):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize(
    ("op", "opset"), [("RMSNormalization", 23), ("SimplifiedLayerNormalization", 17)]
)
def test_rms_normalization_nodes(tmp_path, capsys, op, opset):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(16, 24)).astype(np.float32), "w")
    g = numpy_helper.from_array(rng.uniform(0.5, 1.5, size=24).astype(np.float32), "g")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
        helper.make_node(op, ["h", "g"], ["y"], name="/norm/Norm", axis=-1, epsilon=1e-6),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 24])
    if op == "SimplifiedLayerNormalization":  # onnxruntime's op: no shape inference
        nodes[1].ClearField("domain")
    path = tmp_path / "norm.onnx"
    onnx.save(_graph_model(nodes, [x], [y], [w, g], opset), str(path))
    text = run_import(path, capsys)
    assert "dense(24, bias=false) -> rmsnorm" in text, text
    totals = checked(path.with_suffix(".nn"), capsys)
    assert totals["params"] == 16 * 24 + 24 == initializers(path)["all"]
    assert totals["macs"] == 5 * 16 * 24


def test_gather_of_a_one_element_list_is_a_slice(tmp_path, capsys):
    nodes = [
        helper.make_node("Gather", ["x", "i"], ["g"], name="/Gather", axis=2),
        helper.make_node("Relu", ["g"], ["y"], name="/Relu"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 1])
    index = numpy_helper.from_array(np.array([-2], dtype=np.int64), "i")
    path = tmp_path / "g.onnx"
    onnx.save(_graph_model(nodes, [x], [y], [index], 20), str(path))
    assert "x -> slice(1, 5, 6) -> relu" in run_import(path, capsys)


def test_what_stays_unexpressible_is_still_named(tmp_path, capsys):
    """Mul by a stored tensor, a Transpose that moves the batch axis, Resize by 1.5, a
    Slice with a step, a Gather of two positions, a ReduceMean over two axes."""
    rng = np.random.default_rng(0)
    scale = numpy_helper.from_array(rng.normal(size=(4, 8, 8)).astype(np.float32), "s")
    sizes = numpy_helper.from_array(np.array([1, 4, 12, 12], dtype=np.int64), "sz")
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), "st")
    ends = numpy_helper.from_array(np.array([8], dtype=np.int64), "en")
    axes = numpy_helper.from_array(np.array([3], dtype=np.int64), "ax")
    steps = numpy_helper.from_array(np.array([2], dtype=np.int64), "sp")
    two = numpy_helper.from_array(np.array([0, 1], dtype=np.int64), "two")
    rax = numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "rax")
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["m"], name="/scale/Mul"),
        helper.make_node("Transpose", ["m"], ["t"], name="/Transpose", perm=[1, 0, 2, 3]),
        helper.make_node("Resize", ["x", "", "", "sz"], ["r"], name="/up/Resize"),
        helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["sl"], name="/Slice"),
        helper.make_node("Gather", ["x", "two"], ["ga"], name="/Gather", axis=1),
        helper.make_node("ReduceMean", ["x", "rax"], ["rm"], name="/ReduceMean", keepdims=0),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("t", "r", "sl")]
    outs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("ga", "rm")]
    path = tmp_path / "bad.onnx"
    inits = [scale, sizes, starts, ends, axes, steps, two, rax]
    onnx.save(_graph_model(nodes, [x], outs, inits, 20), str(path))
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    for expected in (
        "node 0 `/scale/Mul` (Mul): multiplies by a constant tensor",
        "node 1 `/Transpose` (Transpose): Transpose [1, 0, 2, 3] moves the batch axis",
        "node 2 `/up/Resize` (Resize): Resize from [4, 8, 8] to [4, 12, 12]: nnlint upsamples "
        "H and W by one whole factor",
        "node 3 `/Slice` (Slice): Slice with step 2",
        "node 4 `/Gather` (Gather): Gather of 2 positions along axis 1",
        "node 5 `/ReduceMean` (ReduceMean): ReduceMean over axes [1, 2]",
        "6 nodes nnlint cannot express",
    ):
        assert expected in err, (expected, err)


class MobileActivations(nn.Module):
    """MobileNetV3's hard-swish and hard-sigmoid gate, softplus and YOLOv4's mish."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        h = nn.functional.hardswish(self.conv(x))
        gate = nn.functional.hardsigmoid(self.fc(h.mean((2, 3), keepdim=True)))
        return nn.functional.mish(nn.functional.softplus(h * gate))


def test_hardswish_hardsigmoid_softplus_mish(tmp_path, capsys):
    text = round_trip(
        MobileActivations(), [torch.randn(1, 3, 8, 8)], tmp_path, capsys, "act", opset=18
    )
    assert text == format_text(
        "model act {\n"
        "    input x: [3, 8, 8]\n"
        "    hardswish = x -> conv2d(8, 3, padding=1) -> hardswish\n"
        "    hardsigmoid = hardswish -> global_avgpool -> conv2d(8, 1) -> hardsigmoid\n"
        "    mish = mul(hardswish, hardsigmoid) -> softplus -> mish\n"
        "}\n"
    )


def test_a_hard_sigmoid_of_other_slope_is_refused(tmp_path, capsys):
    """ONNX's default HardSigmoid (alpha 0.2, Keras's) is not PyTorch's (alpha 1/6)."""
    nodes = [helper.make_node("HardSigmoid", ["x"], ["y"], name="/gate")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    path = tmp_path / "hs.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "hs.nn")]) == 2
    err = capsys.readouterr().err
    assert "HardSigmoid with alpha=0.2, beta=0.5: nnlint's hardsigmoid is PyTorch's" in err


def test_the_onnx_mish_op(tmp_path, capsys):
    """Opset 18's ``Mish`` node (other exporters write it as one node)."""
    nodes = [helper.make_node("Mish", ["x"], ["y"], name="/act")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
    )
    path = tmp_path / "mish.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "mish.nn")]) == 0
    text = (tmp_path / "mish.nn").read_text(encoding="utf-8")
    assert "input x: [4, 8]" in text and "= x -> mish\n" in text


class InstanceNorms(nn.Module):
    """pix2pix/CycleGAN's instance norms: PyTorch's default (no affine, which torch.onnx
    writes with constant ones and zeros) and a learned one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.plain = nn.InstanceNorm2d(8)
        self.learned = nn.InstanceNorm2d(8, affine=True, eps=1e-3)

    def forward(self, x):
        return self.learned(torch.relu(self.plain(self.conv(x))))


def test_instance_norms(tmp_path, capsys):
    torch.manual_seed(0)
    model = InstanceNorms()
    with torch.no_grad():  # a trained-looking scale and shift
        model.learned.weight.uniform_(0.5, 1.5)
        model.learned.bias.uniform_(-0.5, 0.5)
    text = round_trip(model, [torch.randn(1, 3, 8, 8)], tmp_path, capsys, "inorm")
    assert text == format_text(
        "model inorm {\n"
        "    input x: [3, 8, 8]\n"
        "    learned = x -> conv2d(8, 3, padding=1, bias=false) -> instancenorm -> relu\n"
        "        -> instancenorm(affine=true, eps=0.001)\n"
        "}\n"
    )


class Video(nn.Module):
    """An R(2+1)D-style clip classifier: a spatial and a temporal 3-D convolution, 3-D
    pools, an instance norm over the clip, global pooling and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = nn.Conv3d(3, 8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.temporal = nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0), groups=2, bias=False)
        self.norm = nn.InstanceNorm3d(8, affine=True)
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.avg = nn.AvgPool3d(2)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        h = self.pool(torch.relu(self.spatial(x)))
        h = self.avg(self.norm(self.temporal(h)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool3d(h, 1), 1))


def test_conv3d_pools_and_instance_norm_of_a_clip(tmp_path, capsys):
    torch.manual_seed(0)
    model = Video()
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
        model.norm.bias.uniform_(-0.5, 0.5)
    text = round_trip(model, [torch.randn(1, 3, 4, 16, 16)], tmp_path, capsys, "video")
    assert text == format_text(
        "model video {\n"
        "    input x: [3, 4, 16, 16]\n"
        "    head = x -> conv3d(8, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) -> relu\n"
        "        -> maxpool((1, 2, 2)) -> conv3d(8, (3, 1, 1), padding=(1, 0, 0), groups=2,"
        " bias=false)\n"
        "        -> instancenorm(affine=true) -> avgpool(2) -> global_avgpool -> flatten"
        " -> dense(5)\n"
        "}\n"
    )


class SubPixel(nn.Module):
    """ESPCN's upsampling (Shi et al. 2016) after a 3×1 and a 1×3 convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, (3, 1), padding=(1, 0))
        self.b = nn.Conv2d(8, 12, (1, 3), padding=(0, 1))

    def forward(self, x):
        return nn.functional.pixel_shuffle(self.b(torch.tanh(self.a(x))), 2)


def test_pixel_shuffle_and_kernels_per_axis(tmp_path, capsys):
    text = round_trip(SubPixel(), [torch.randn(1, 3, 6, 5)], tmp_path, capsys, "sub")
    assert text == format_text(
        "model sub {\n"
        "    input x: [3, 6, 5]\n"
        "    pixel_shuffle = x -> conv2d(8, (3, 1), padding=(1, 0)) -> tanh\n"
        "        -> conv2d(12, (1, 3), padding=(0, 1)) -> pixel_shuffle(2)\n"
        "}\n"
    )


def test_depth_to_space_in_tensorflow_order_is_refused(tmp_path, capsys):
    """DCR (ONNX's default mode, TensorFlow's order) moves the values elsewhere than
    PyTorch's pixel shuffle: not the same computation."""
    nodes = [helper.make_node("DepthToSpace", ["x"], ["y"], name="/up", blocksize=2)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 6])],
    )
    path = tmp_path / "d2s.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "d2s.nn")]) == 2
    err = capsys.readouterr().err
    assert "DepthToSpace mode=DCR: nnlint's pixel_shuffle is PyTorch's order (CRD)" in err


class Decoder3d(nn.Module):
    """A 3-D U-Net decoder step (Çiçek et al. 2016): a 2×2×2 up-convolution beside
    trilinear and nearest resizes, joined along the channels."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose3d(8, 4, 2, stride=2)
        self.tri = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.near = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        return torch.cat([self.up(x), self.tri(x), self.near(x)], dim=1)


def test_conv_transpose3d_and_volume_resizes(tmp_path, capsys):
    text = round_trip(Decoder3d(), [torch.randn(1, 8, 2, 3, 3)], tmp_path, capsys, "dec3")
    assert text == format_text(
        "model dec3 {\n"
        "    input x: [8, 2, 3, 3]\n"
        "    up = x -> conv_transpose3d(4, 2, stride=2)\n"
        "    tri = x -> upsample(2, mode=trilinear)\n"
        "    near = x -> upsample(2)\n"
        "    cat = concat(up, tri, near)\n"
        "}\n"
    )


def _pool_shapes(model: nn.Module, inputs: list) -> list[list[int]]:
    """PyTorch's output shape (per sample) of every pool of ``model``, in call order."""
    shapes: list[list[int]] = []
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(list(out.shape[1:])))
        for m in model.modules()
        if isinstance(m, pools)
    ]
    model(*inputs)
    for hook in hooks:
        hook.remove()
    return shapes


def _spec_pool_shapes(spec, capsys) -> list[list[int]]:
    capsys.readouterr()
    main(["check", "--format", "json", str(spec)])
    layers = json.loads(capsys.readouterr().out)["models"][0]["layers"]
    return [ly["output_shape"] for ly in layers if ly["op"] in ("maxpool", "avgpool")]


class CeilPools(nn.Module):
    """Pools with ``ceil_mode=True`` whose last window starts inside the input or its
    left padding: each rounds up to one more output than floor mode, with and without
    padding, over [C, L], [C, H, W] and [C, D, H, W]; the convolutions and the linear head
    after them see the rounded-up sizes."""

    def __init__(self, axes: int) -> None:
        super().__init__()
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[axes - 1]
        self.conv = conv(3, 4, 3, padding=1)
        self.pool = (
            nn.MaxPool1d(3, 2, 1, ceil_mode=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1), ceil_mode=True),
        )[axes - 1]
        self.mix = conv(4, 6, 1)
        self.avg = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True) if axes == 2 else nn.Identity()
        self.head = nn.LazyLinear(5)

    def forward(self, x):
        h = self.avg(self.mix(self.pool(torch.relu(self.conv(x)))))
        return self.head(torch.flatten(h, 1))


@pytest.mark.parametrize(
    ("axes", "size", "pools", "shapes"),
    [
        (1, [6], "maxpool(3, stride=2, padding=1, ceil=true)", [[4, 4]]),
        (2, [8, 8], "maxpool(3, stride=2, ceil=true)", [[4, 4, 4], [6, 3, 3]]),
        (
            3,
            [2, 6, 6],
            "maxpool((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), ceil=true)",
            [[4, 2, 4, 4]],
        ),
    ],
)
def test_ceil_mode_pools_round_up_like_pytorch(tmp_path, capsys, axes, size, pools, shapes):
    """``ceil_mode=1`` → ``ceil=true``: the pools' shapes are PyTorch's (one more output
    than floor mode on each pooled axis here), and the parameters and MACs of the layers
    after them match the source model."""
    torch.manual_seed(0)
    model = CeilPools(axes)
    inputs = [torch.randn(1, 3, *size)]
    with torch.no_grad():
        model(*inputs)  # sizes the lazy head
        assert _pool_shapes(model, inputs) == shapes
    text = round_trip(model, inputs, tmp_path, capsys, f"ceil{axes}")
    assert pools in text, text
    if axes == 2:
        assert "avgpool(3, stride=2, padding=1, ceil=true)" in text, text
    assert _spec_pool_shapes(tmp_path / f"ceil{axes}.nn", capsys) == shapes


@pytest.mark.parametrize(
    ("pool", "size"),
    [
        (nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), [7, 7]),  # starts in the padding
        (nn.AvgPool2d(3, 3, padding=1, ceil_mode=True), [8, 8]),
        (nn.MaxPool1d(1, 2, ceil_mode=True), [8]),  # past the input, no padding
        (nn.MaxPool3d(2, 3, padding=1, ceil_mode=True), [8, 8, 8]),
    ],
)
def test_ceil_mode_window_past_the_input_before_opset_22_is_refused(tmp_path, capsys, pool, size):
    """PyTorch drops a last window that would start past the input and its left padding;
    ONNX shape inference keeps it before opset 22, so the file's sizes are not PyTorch's:
    refused, with both sizes."""
    x = torch.randn(1, 2, *size)
    path = export(pool, [x], tmp_path / "pool.onnx", False, names=["x"])
    theirs = [o + 1 for o in pool(x).shape[2:]]
    assert main(["import", str(path), "-o", str(tmp_path / "pool.nn")]) == 2
    err = capsys.readouterr().err
    op = "MaxPool" if isinstance(pool, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)) else "Average"
    assert f"node 0 `/{op}" in err, err
    assert (
        f"ceil_mode=1 pools {size} to {theirs} in this file (opset 20), PyTorch's ceil_mode "
        f"(nnlint's ceil=true) to {list(pool(x).shape[2:])}: ONNX shape inference before "
        "opset 22 keeps a last window that starts past the input and its left padding, "
        "PyTorch drops it (export at opset 22 or later)"
    ) in err, err


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_ceil_mode_window_past_the_input_at_opset_22(tmp_path, capsys, op):
    """From opset 22 on ONNX drops that window too: the pool imports with ``ceil=true``
    and PyTorch's size, and the convolution after it has PyTorch's MACs."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(3, 2, 1, 1)).astype(np.float32), "w")
    nodes = [
        helper.make_node(
            op,
            ["x"],
            ["p"],
            name="/pool",
            kernel_shape=[2, 2],
            strides=[2, 2],
            pads=[1] * 4,
            ceil_mode=1,
        ),
        helper.make_node("Conv", ["p", "w"], ["y"], name="/conv", kernel_shape=[1, 1]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 7, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    path = tmp_path / "pool22.onnx"
    onnx.save(_graph_model(nodes, [x], [y], [w], 22), str(path))
    text = run_import(path, capsys)
    kind = "maxpool" if op == "MaxPool" else "avgpool"
    assert f"x -> {kind}(2, padding=1, ceil=true) -> conv2d(3, 1, bias=false)" in text, text
    torch_pool = (nn.MaxPool2d if op == "MaxPool" else nn.AvgPool2d)(2, 2, 1, ceil_mode=True)
    assert list(torch_pool(torch.randn(1, 2, 7, 7)).shape[1:]) == [2, 4, 4]
    assert _spec_pool_shapes(path.with_suffix(".nn"), capsys) == [[2, 4, 4]]
    assert checked(path.with_suffix(".nn"), capsys)["macs"] == 4 * 4 * 2 * 3
