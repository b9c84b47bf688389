"""``nnlint import model.onnx``: round trips against the source PyTorch model.

Each model is built in plain PyTorch (``tests/torch_reference.py``; no torchvision),
exported with ``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter, which
needs no onnxscript), imported, and checked with ``nnlint check --format json``:

* parameters == the sum of the ONNX initializers' sizes, less the batchnorm running
  statistics (nnlint counts them as buffers) and less the copy of a tied weight the
  exporter writes out a second time (the convention in the README's "Import from ONNX");
* MACs == ``FlopCounterMode`` ÷ 2 on the source model (one sample).

ResNet-50 keeps its full depth and widths (block recovery is the point); the transformers
are reduced in width, depth and vocabulary so the suite stays fast.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from helpers import unaligned  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from torch import nn  # noqa: E402
from torch_reference import (  # noqa: E402
    BertLayer,
    MobileNetV2,
    ResNet50,
    TinyGPT,
    forward_macs,
)

from nnlint.cli import main  # noqa: E402
from nnlint.format import format_text  # noqa: E402


def export(
    model: nn.Module,
    inputs: list,
    path: Path,
    training: bool,
    names: list[str] | None = None,
    opset: int | None = None,
) -> Path:
    """``torch.onnx.export`` with the TorchScript exporter (constant folding on).

    ``training=True`` keeps batchnorm and dropout as nodes (TrainingMode.TRAINING);
    otherwise the exporter folds each batchnorm into the conv before it."""
    model.train(training)
    mode = torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(inputs),
            str(path),
            dynamo=False,
            training=mode,
            do_constant_folding=True,
            input_names=names,
            opset_version=opset,
        )
    return path


def trained_looking(model: nn.Module) -> nn.Module:
    """Norm scales and shifts away from 1 and 0: a freshly initialised model has many
    equal tensors, which torch.onnx stores once (see test_equal_tensors_stored_once)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model


def initializers(path: Path) -> dict[str, int]:
    """Sizes of the initializers: all, batchnorm running statistics."""
    m = onnx.load(str(path))
    sizes = {t.name: int(numpy_helper.to_array(t).size) for t in m.graph.initializer}
    stats = set()
    for node in m.graph.node:
        if node.op_type == "BatchNormalization":
            stats |= set(node.input[3:5])
    return {
        "all": sum(sizes.values()),
        "running_stats": sum(sizes[n] for n in stats),
    }


def run_import(path: Path, capsys, *extra: str) -> str:
    out = path.with_suffix(".nn")
    assert main(["import", str(path), "-o", str(out), *extra]) == 0, capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert format_text(text) == text  # `nnlint format --check` passes on a fresh import
    return text


def checked(spec: Path, capsys) -> dict:
    capsys.readouterr()
    code = main(["check", "--format", "json", str(spec)])
    data = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # findings (e.g. NN110 at batch 1) are fine; errors are not
    assert not [d for d in data["diagnostics"] if d["severity"] == "error"]
    return data["models"][0]["totals"]


def model_lines(text: str) -> list[str]:
    body = text[text.index("\nmodel ") + 1 :]
    return [ln for ln in body.splitlines()[1:-1] if ln.strip() and not ln.strip().startswith("->")]


# ------------------------------------------------------------------------------ ResNet-50


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    """torch_reference's ResNet-50 at full depth and width, exported as the README shows."""
    torch.manual_seed(0)
    model = ResNet50()
    inputs = [torch.randn(1, 3, 224, 224)]
    folder = tmp_path_factory.mktemp("r50")
    path = export(model, inputs, folder / "resnet50.onnx", True, names=["img"])
    out = folder / "resnet50.nn"
    assert main(["import", str(path), "-o", str(out)]) == 0
    return model, inputs, path, out.read_text(encoding="utf-8")


def test_resnet50_round_trip(resnet50, capsys):
    model, inputs, path, _ = resnet50
    totals = checked(path.with_suffix(".nn"), capsys)
    init = initializers(path)
    assert totals["params"] == init["all"] - init["running_stats"]
    assert totals["buffers"] == init["running_stats"]
    assert totals["params"] == sum(p.numel() for p in model.parameters()) == 25_557_032
    assert totals["macs"] == forward_macs(model, inputs) == 4_089_184_256  # as the README says


def test_resnet50_bottlenecks_become_two_blocks(resnet50):
    text = resnet50[3]
    # the 16 bottlenecks: a block for the first of each stage (projection shortcut, stride
    # as a parameter) and one for the rest, called `* N`
    assert len(re.findall(r"^block ", text, re.M)) == 2
    calls = re.findall(r"-> (\w+_block\w*)\((\d+)(?:, (\d))?\)(?: \* (\d+))?$", text, re.M)
    assert [(int(w), int(s or 1), int(n or 1)) for _, w, s, n in calls] == [
        (64, 1, 1),
        (64, 1, 2),
        (128, 2, 1),
        (128, 1, 3),
        (256, 2, 1),
        (256, 1, 5),
        (512, 2, 1),
        (512, 1, 2),
    ]
    assert "conv2d(4 * c, 1, stride=s, bias=false)" in text
    assert len(model_lines(text)) == 11  # input, stem, 8 block calls, head


class SqueezeExciteUpsample(nn.Module):
    """A conv with SELU, a squeeze-and-excitation gate (a broadcasting product,
    which nnlint writes as ``mul``) and a bicubic upsampling: two ops nnlint cannot write,
    for the README's error example."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.se1 = nn.Conv2d(16, 4, 1)
        self.se2 = nn.Conv2d(4, 16, 1)
        self.up = nn.Upsample(scale_factor=2, mode="bicubic")

    def forward(self, x):
        h = nn.functional.selu(self.conv(x))
        s = torch.sigmoid(self.se2(torch.relu(self.se1(h.mean((2, 3), keepdim=True)))))
        return self.up(h * s)


def test_readme_import_section_shows_real_output(resnet50, capsys, monkeypatch):
    """Every `$ nnlint import …` in the README's "Import from ONNX" prints exactly this."""
    import shlex

    folder = resnet50[2].parent
    torch.manual_seed(0)
    export(
        SqueezeExciteUpsample(),
        [torch.randn(1, 3, 32, 32)],
        folder / "se_upsample.onnx",
        False,
        names=["img"],
    )
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Import from ONNX") :]
    section = section[: section.index("\n## ", 1)]
    monkeypatch.chdir(folder)
    checked = 0
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for command, expected in re.findall(
            r"^\$ (nnlint import [^\n]*)\n(.*?)(?=^\$ |\Z)", block, re.S | re.M
        ):
            main(shlex.split(command)[1:])
            captured = capsys.readouterr()
            assert (captured.out + captured.err).rstrip("\n") == expected.rstrip("\n"), command
            checked += 1
    assert checked == 2


def test_resnet50_header_names_the_source_and_the_convention(resnet50):
    _, _, path, text = resnet50
    header = text.split("\n\n")[0]
    init = initializers(path)
    assert "resnet50.onnx" in header and "opset 20" in header
    params = init["all"] - init["running_stats"]
    assert f"# Parameters: {params:,} = the {init['all']:,} initializer elements\n" in header
    assert header.endswith(
        f"#   less {init['running_stats']:,} batchnorm running statistics (buffers in nnlint)"
    )
    assert "×4" in header and "×12" in header


# ---------------------------------------------------------------------------- MobileNetV2


def test_mobilenet_v2_round_trip_with_folded_batchnorm(tmp_path, capsys):
    """Inference export: each batchnorm is folded into its conv (a conv with a bias)."""
    torch.manual_seed(0)
    model = trained_looking(MobileNetV2())
    inputs = [torch.randn(1, 3, 96, 96)]
    path = export(model, inputs, tmp_path / "mobilenet_v2.onnx", False)
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    init = initializers(path)
    assert init["running_stats"] == 0 and "batchnorm" not in text
    assert totals["params"] == init["all"]
    assert totals["macs"] == forward_macs(model, inputs)
    # the residual inverted blocks are one block with the width as parameter
    assert "groups=6 * c" in text
    assert re.search(r"-> features_block\(32\) \* 2$", text, re.M)


# ---------------------------------------------------------------------------- transformers


class SmallBert(nn.Module):
    """A BERT-style encoder: token + position + segment embeddings, post-LN layers."""

    def __init__(self, vocab=1000, t=32, d=64, heads=4, d_ff=256, n_layers=3) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(t, d)
        self.seg = nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(0.1)
        self.layers = nn.Sequential(*[BertLayer(d, heads, d_ff) for _ in range(n_layers)])

    def forward(self, ids, positions, segments):
        emb = self.tok(ids) + self.pos(positions) + self.seg(segments)
        return self.layers(self.drop(self.ln(emb)))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_bert_style_encoder_round_trip(tmp_path, capsys, training):
    torch.manual_seed(0)
    model = trained_looking(SmallBert())
    t = 32
    inputs = [
        torch.randint(0, 1000, (1, t)),
        torch.arange(t).unsqueeze(0),
        (torch.arange(t) >= t // 2).long().unsqueeze(0),
    ]
    path = export(model, inputs, tmp_path / "bert.onnx", training)
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    assert totals["params"] == initializers(path)["all"]
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["macs"] == forward_macs(model, inputs)
    assert "attention(4)" in text and "causal" not in text
    assert re.search(r"-> layers_block \* 3$", text, re.M)
    assert ("dropout(0.1)" in text) == training


@pytest.mark.parametrize("opset", [14, 20])
def test_gpt_style_decoder_round_trip_with_tied_head(tmp_path, capsys, opset):
    """Opset 14 writes LayerNorm out as ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add and GELU as
    Div/Erf/Add/Mul/Mul; both are recognised, and the spec is the same as at opset 20."""
    torch.manual_seed(0)
    model = trained_looking(TinyGPT(vocab=500, t=32, d=64, heads=4, n_layers=3))
    model.ln.eps = 1e-6  # the final norm's epsilon is kept; the others are at the default
    t = 32
    inputs = [torch.randint(0, 500, (1, t)), torch.arange(t).unsqueeze(0)]
    path = export(model, inputs, tmp_path / "gpt.onnx", False, opset=opset)
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    # the exporter writes the tied head's weight a second time, transposed
    assert totals["params"] == initializers(path)["all"] - 500 * 64
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["macs"] == forward_macs(model, inputs)
    assert "attention(4, causal=true)" in text
    assert re.search(r"-> layers_block \* 3$", text, re.M)
    assert re.search(r"dense\(500, bias=false, tie=tok\)$", text, re.M)
    body = text[text.index("\nblock ") :]
    assert body.count("layernorm") == 3 and body.count("gelu") == 1
    assert body.count("layernorm(eps=1e-06)") == 1


def test_equal_tensors_stored_once_are_counted_per_layer(tmp_path, capsys):
    """A fresh model's LayerNorms all hold ones and zeros; torch.onnx's inference export
    stores equal tensors once and reads them through Identity nodes. Each layer still
    owns its parameters (PyTorch counts them), and the header says how many were added."""
    torch.manual_seed(0)
    model = SmallBert()
    t = 32
    inputs = [
        torch.randint(0, 1000, (1, t)),
        torch.arange(t).unsqueeze(0),
        torch.zeros(1, t, dtype=torch.long),
    ]
    path = export(model, inputs, tmp_path / "fresh.onnx", False)
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    m = onnx.load(str(path))
    sizes = {t.name: int(numpy_helper.to_array(t).size) for t in m.graph.initializer}
    extra = sum(
        sizes[n.input[0]] for n in m.graph.node if n.op_type == "Identity" and n.input[0] in sizes
    )
    assert extra > 0
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["params"] == sum(sizes.values()) + extra
    assert f"#   plus {extra:,}: equal tensors stored once, read by several layers" in text


class OpZoo(nn.Module):
    """One of most ops the importer maps: SiLU (Sigmoid·x), average pooling, a channel
    concat, InstanceNorm, LeakyReLU, PReLU per channel, GroupNorm (which torch.onnx writes
    as Reshape/InstanceNormalization/Reshape/Mul/Add), ELU, Tanh and LogSoftmax."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.inorm = nn.InstanceNorm2d(16, affine=True)
        self.prelu = nn.PReLU(16)
        self.gnorm = nn.GroupNorm(4, 16)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        h = self.stem(x)
        a = nn.functional.silu(self.a(h))
        h = torch.cat([a, self.pool(h)], dim=1)
        h = nn.functional.leaky_relu(self.inorm(h), 0.2)
        h = self.prelu(nn.functional.max_pool2d(h, 2))
        h = nn.functional.elu(self.gnorm(h))
        h = torch.tanh(self.fc1(torch.flatten(h, 1)))
        return torch.log_softmax(self.fc2(h), dim=-1)


def test_op_zoo_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    model = OpZoo()
    inputs = [torch.randn(1, 3, 8, 8)]
    path = export(model, inputs, tmp_path / "zoo.onnx", False, names=["img"])
    text = run_import(path, capsys)
    totals = checked(path.with_suffix(".nn"), capsys)
    assert totals["params"] == initializers(path)["all"]
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["macs"] == forward_macs(model, inputs)
    assert unaligned(text).endswith(
        "    silu = stem -> conv2d(8, 1) -> silu\n"
        "    pool = stem -> avgpool(3, stride=1, padding=1)\n"
        "    log_softmax = concat(silu, pool) -> instancenorm(affine=true) -> leaky_relu(0.2)"
        " -> maxpool(2)\n"
        "    -> prelu(16) -> groupnorm(4) -> elu -> flatten -> dense(32) -> tanh -> dense(10)\n"
        "    -> log_softmax\n}\n"
    )


# ------------------------------------------------------------------------------ errors


def _model(nodes, inputs, outputs, initializers=(), opset=20):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _save(model, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _image(name, c=4, h=8, w=8, batch=1):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, c, h, w])


def _weight(name, *shape):
    import numpy as np

    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def test_every_unsupported_node_is_named_in_one_run(tmp_path, capsys):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/stem/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["c"], ["t"], name="/body/Transpose", perm=[1, 0, 2, 3]),
        helper.make_node("Relu", ["t"], ["r"], name="/body/Relu"),
        helper.make_node("Selu", ["r"], ["y"], name="/head/act/Selu"),
    ]
    model = _model(nodes, [_image("x")], [_image("y")], [_weight("w", 4, 4, 3, 3)])
    path = _save(model, tmp_path / "m.onnx")
    assert main(["import", str(path), "-o", str(tmp_path / "m.nn")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"nnlint: error: {path}: node 1 `/body/Transpose` (Transpose): "
        "Transpose [1, 0, 2, 3] moves the batch axis",
        f"nnlint: error: {path}: node 3 `/head/act/Selu` (Selu): nnlint has no SELU",
        f"nnlint: error: {path}: 2 nodes nnlint cannot express (Selu ×1, Transpose ×1); "
        "nothing was written",
    ]
    assert not (tmp_path / "m.nn").exists()


def test_an_inexact_mapping_is_an_error_not_an_approximation(tmp_path, capsys):
    """Padding a different amount at the two ends of an axis: conv2d pads both alike;
    nothing is rounded."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="a", auto_pad="SAME_UPPER"),
        helper.make_node("Conv", ["a", "w2"], ["y"], name="b", pads=[0, 0, 1, 1]),
    ]
    model = _model(
        nodes,
        [_image("x")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [_weight("w", 4, 4, 2, 2), _weight("w2", 4, 4, 1, 1)],
    )
    path = _save(model, tmp_path / "m.onnx")
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "node 0 `a` (Conv): auto_pad=SAME_UPPER with uneven padding" in err
    assert "node 1 `b` (Conv): pads [0, 0, 1, 1]: nnlint pads both ends of an axis alike" in err


def test_malformed_file_is_one_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf \xff\xfe" * 10)
    assert main(["import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"nnlint: error: {bad}: ")
    assert "Traceback" not in err


def test_missing_file_and_folder(tmp_path, capsys):
    assert main(["import", str(tmp_path / "none.onnx")]) == 2
    assert capsys.readouterr().err == f"nnlint: error: {tmp_path / 'none.onnx'}: no such file\n"
    assert main(["import", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def _small_cnn(tmp_path: Path) -> Path:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="/fc/Gemm", transB=1),
    ]
    model = _model(
        nodes,
        [_image("x", batch="N")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        [_weight("w", 8, 4, 3, 3), _weight("b", 8), _weight("fw", 10, 8), _weight("fb", 10)],
    )
    return _save(model, tmp_path / "cnn.onnx")


SMALL_CNN = """\
model cnn {
    input x: [4, 8, 8]
    fc = x -> conv2d(8, 3, padding=1) -> relu -> global_avgpool -> flatten -> dense(10)
}
"""


def test_output_to_stdout_file_and_never_the_input(tmp_path, capsys, monkeypatch):
    path = _small_cnn(tmp_path)
    assert main(["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(SMALL_CNN) and out.startswith("# Imported from cnn.onnx")
    assert main(["import", str(path), "-o", "-"]) == 0
    assert capsys.readouterr().out == out
    before = path.read_bytes()
    assert main(["import", str(path), "-o", str(path)]) == 2
    assert "is the model being imported" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["import", "cnn.onnx", "-o", "./cnn.onnx"]) == 2
    assert path.read_bytes() == before
    assert main(["import", "cnn.onnx", "-o", "cnn.nn"]) == 0
    assert (tmp_path / "cnn.nn").read_text(encoding="utf-8") == out


def test_symbolic_sizes_need_a_dim(tmp_path, capsys):
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="/emb/Gather")]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
        [_weight("table", 100, 16)],
    )
    path = _save(model, tmp_path / "emb.onnx")
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "input `ids` has the symbolic size `sequence`" in err and "--dim sequence=N" in err
    assert main(["import", str(path), "--dim", "sequence=12"]) == 0
    assert "input ids: [12]\n    emb = ids -> embedding(100, 16)\n" in capsys.readouterr().out
    assert main(["import", str(path), "--dim", "seq=12"]) == 2
    assert "no model input has a dimension named `seq`" in capsys.readouterr().err
    assert main(["import", str(path), "--dim", "sequence"]) == 2
    assert "expected NAME=N" in capsys.readouterr().err


def test_attention_without_biases_is_not_passed_off_as_attention(tmp_path, capsys):
    """``attention(h)`` has biased projections: a bias-free one is not matched, and what
    it then needs node by node (the scale by a constant 1/√d_h) is reported, not
    approximated."""
    torch.manual_seed(0)
    from torch_reference import SelfAttention

    attn = SelfAttention(32, 4)
    for lin in (attn.q, attn.k, attn.v, attn.out):
        lin.bias = None
    path = export(attn, [torch.randn(1, 8, 32)], tmp_path / "attn.onnx", False)
    assert main(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "`/Div` (Div): nnlint has no element-wise division" in err
    assert "(Softmax)" in err  # over the last axis of [h, T, T]: not nnlint's class axis
    assert err.rstrip().endswith("nothing was written")


def test_import_is_deterministic(tmp_path, capsys):
    path = _small_cnn(tmp_path)
    assert main(["import", str(path)]) == 0
    first = capsys.readouterr().out
    assert main(["import", str(path)]) == 0
    assert capsys.readouterr().out == first


def test_malformed_graphs_are_one_line(tmp_path, capsys):
    cases = {
        "dangling": [helper.make_node("Conv", ["x", "w_missing"], ["y"], name="/conv/Conv")],
        "out_of_order": [
            helper.make_node("Relu", ["z"], ["y"], name="a"),
            helper.make_node("Relu", ["x"], ["z"], name="b"),
        ],
    }
    expected = {
        "dangling": "node 0 `/conv/Conv` (Conv) reads `w_missing`",
        "out_of_order": "node 0 `a` (Relu) reads `z`",
    }
    for name, nodes in cases.items():
        path = _save(_model(nodes, [_image("x")], [_image("y")]), tmp_path / f"{name}.onnx")
        assert main(["import", str(path)]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"nnlint: error: {path}: malformed ONNX graph: {expected[name]}, which no input, "
            "initializer or earlier node defines\n"
        )


def test_custom_ops_and_graphs_without_computation(tmp_path, capsys):
    custom = helper.make_model(
        helper.make_graph(
            [helper.make_node("Foo", ["x"], ["y"], name="/foo", domain="com.example")],
            "g",
            [_image("x")],
            [_image("y")],
        ),
        opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.example", 1)],
    )
    path = _save(custom, tmp_path / "custom.onnx")
    assert main(["import", str(path)]) == 2
    assert "node 0 `/foo` (Foo): op of the custom domain `com.example`" in capsys.readouterr().err
    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    const = _model(
        [helper.make_node("Constant", [], ["y"], value=value)],
        [_image("x")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = _save(const, tmp_path / "const.onnx")
    assert main(["import", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"nnlint: error: {path}: the graph computes nothing from its inputs\n"
    )


def test_a_wrong_mapping_is_caught_before_anything_is_written(tmp_path, capsys, monkeypatch):
    """The written spec is analysed: each layer's output shape must be the one ONNX shape
    inference gives, and the parameters those read from the file. A mapping bug (here a
    padding off by one, then a bias forgotten) is an internal error, never a spec."""
    from nnlint.importers import onnx as importer

    path = _small_cnn(tmp_path)
    padding = importer._Mapper._padding
    monkeypatch.setattr(importer._Mapper, "_padding", lambda *a: padding(*a) + 1)
    assert main(["import", str(path), "-o", str(tmp_path / "cnn.nn")]) == 2
    assert capsys.readouterr().err == (
        f"nnlint: error: {path}: internal error: the written spec has no conv2d with the "
        "output shape [8, 8, 8] ONNX shape inference gives\n"
    )
    monkeypatch.setattr(importer._Mapper, "_padding", padding)
    conv = importer._Mapper._op_Conv

    def conv_without_bias(self, i, node):
        conv(self, i, node)
        layer = self.layers[-1]
        layer.args = [a if a.key != "bias" else importer.Arg("bias", False) for a in layer.args]

    monkeypatch.setattr(importer._Mapper, "_op_Conv", conv_without_bias)
    assert main(["import", str(path), "-o", str(tmp_path / "cnn.nn")]) == 2
    assert capsys.readouterr().err == (
        f"nnlint: error: {path}: internal error: the written spec has 378 parameters, "
        "the file's weights are 386\n"
    )
    assert not (tmp_path / "cnn.nn").exists()


def test_without_the_onnx_package_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    path = _small_cnn(tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    assert main(["import", str(path)]) == 2
    assert capsys.readouterr().err == (
        "nnlint: error: importing an ONNX model needs the onnx package: "
        "pip install 'nnlint[onnx]' (or pip install onnx)\n"
    )


def test_onnx_names_become_identifiers(tmp_path, capsys):
    """Input `input.1`, a node without a name (its op names it), a keyword (`model`)."""
    nodes = [
        helper.make_node("Relu", ["input.1"], ["model"], name="/model/Relu"),
        helper.make_node("Sigmoid", ["model"], ["0"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("0", TensorProto.FLOAT, [1, 16])],
    )
    path = _save(model, tmp_path / "2names.onnx")
    assert main(["import", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(
        "(the batch axis is dropped).\n\n"
        "model t2names {\n    input input_1: [16]\n    sigmoid = input_1 -> relu -> sigmoid\n}\n"
    )
    model.graph.node[1].name = "/model/Sigmoid"  # scope `model`: a keyword
    assert main(["import", str(_save(model, path))]) == 0
    assert "    model_ = input_1 -> relu -> sigmoid\n" in capsys.readouterr().out


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names")
def test_the_producer_and_file_name_stay_inside_the_header_comment(tmp_path, capsys):
    """The header quotes the file's producer and name, which the file's author chose: a
    line break there would end the comment and write spec text (a `train` section here),
    a carriage return would turn the file into CRLF, a NUL or ESC would reach the spec.
    Each is written escaped, on the comment's one line."""
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
    )
    model.producer_name = "evil\ntrain {\n    batch = 3\n}\n#"
    model.producer_version = "1\r\n\x00\x1b[2J\u202e"
    path = _save(model, tmp_path / "a\nb\r.onnx")
    text = run_import(path, capsys)
    first, second = text.splitlines()[:2]
    assert first == (
        "# Imported from a\\nb\\r.onnx by `nnlint import` (ONNX opset 20, written by "
        "evil\\ntrain {\\n    batch = 3\\n}\\n# 1\\r\\n\\x00\\x1b[2J\\u202e)."
    )
    assert second.startswith("# 1 ONNX nodes -> 1 layers")
    assert "\r" not in text and "\x00" not in text and "\x1b" not in text
    assert "\ntrain" not in text


def test_float_attributes_keep_their_float32_digits(tmp_path, capsys):
    """The shortest decimal of each float32: `1e-05` (not the double 9.99999974e-06), and a
    dropout ratio of 0.9999999 stays below 1 (six digits made it `dropout(1.0)`, which no
    spec allows: an internal error)."""
    import numpy as np

    nodes = [
        helper.make_node("LeakyRelu", ["x"], ["a"], alpha=1e-5),
        helper.make_node("LeakyRelu", ["a"], ["b"], alpha=0.1234567),
        helper.make_node("Dropout", ["b", "ratio", "mode"], ["y"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
        [
            numpy_helper.from_array(np.array(0.9999999, dtype=np.float32), "ratio"),
            numpy_helper.from_array(np.array(True), "mode"),
        ],
    )
    text = run_import(_save(model, tmp_path / "floats.onnx"), capsys)
    assert "leaky_relu(1e-05) -> leaky_relu(0.1234567) -> dropout(0.9999999)" in text


@pytest.mark.parametrize("alpha", [float("inf"), float("nan")])
def test_a_non_finite_attribute_is_an_unsupported_node(alpha, tmp_path, capsys):
    model = _model(
        [helper.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=alpha)],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
    )
    path = _save(model, tmp_path / "alpha.onnx")
    assert main(["import", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "internal error" not in captured.err
    assert f"a value of {alpha!r}: a spec's numbers are finite" in captured.err
