"""NN4xx performance rules: a spec in, the figures and diagnostics out."""

from __future__ import annotations

import textwrap

import attrs
import pytest
from helpers import EXAMPLES, line_of, only
from helpers import roofline_mlp as mlp

from nnlint.check import Settings, analyse_text, check_text
from nnlint.rules.performance.helpers import closest_precision
from nnlint.targets import builtin_targets
from nnlint.units import fmt_bandwidth, fmt_rate

PERF_CODES = ("NN401", "NN402", "NN403", "NN404")
# Only the fit and performance families: the tests must not depend on other families' rules.
MINE = ("NN3", "NN4")
TARGETS = builtin_targets()


def run(text: str, target: str | None = None, targets=None, thresholds=None):
    text = textwrap.dedent(text)
    settings = Settings(
        target=target, thresholds=thresholds or {}, select=MINE, targets=targets or {}
    )
    return text, check_text(text, "spec.nn", settings)


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def test_examples_are_silent_on_their_own_targets():
    for path in sorted(EXAMPLES.glob("*.nn")):
        result = check_text(path.read_text(encoding="utf-8"), path.name, Settings(select=MINE))
        assert result.diagnostics == (), (path.name, [d.message for d in result.diagnostics])


def test_formatting_helpers():
    assert fmt_rate(312e12, "fp16") == "312 TFLOP/s"
    assert fmt_rate(4e12, "int8") == "4 TOP/s"
    assert fmt_rate(1513e12, "int8") == "1,513 TOP/s"
    assert fmt_rate(0.96e9, "fp32") == "960 MFLOP/s"
    assert fmt_bandwidth(1555e9) == "1,555 GB/s"
    assert fmt_bandwidth(500e6) == "500 MB/s"


# ----------------------------------------------------------------------- NN401


def test_nn401_mlp_at_batch_1_in_fp16_on_an_a100():
    text, result = run(mlp("fp16"))
    (d,) = only(result, "NN401")
    assert d.severity.name == "WARNING"
    assert d.span.line == line_of(text, "h1     = x")
    assert d.data["layer"] == "h1/dense#1"
    # ridge = 312 TFLOP/s ÷ 1,555 GB/s; the MLP reads every weight for one image
    assert d.data["ridge_point"] == pytest.approx(312e12 / 1555e9)
    assert round(d.data["ridge_point"], 1) == 200.6
    assert d.data["flops"] == 218_762
    # the ReLUs run inside the dense layers' kernels: their FLOPs join, their bytes vanish
    assert d.data["bytes_moved"] == (405_568 + 33_792 + 2_896) // 2 == 221_128
    assert d.data["intensity"] == pytest.approx(218_762 / 221_128)
    assert d.data["layer_intensity"] == pytest.approx(200_960 / 202_784)
    assert d.data["memory_bound_share"] == 1.0
    assert d.data["ridge_ratio"] == pytest.approx(202.8, abs=0.1)
    assert "h1/dense#1 is memory-bound on a100-40gb: 0.99 FLOP/byte" in d.message
    assert "(200,960 FLOPs over 198.03 KiB (202,784 B) moved)" in d.message
    assert "ridge point of 200.6 FLOP/byte (312 TFLOP/s fp16 ÷ 1,555 GB/s)" in d.message
    assert "the whole model reaches 0.99 FLOP/byte (203x below the ridge" in d.message
    assert "memory-bound layers take 100.0% of the estimated 0.142 µs" in d.message
    assert "raise deploy.batch" in d.fix and "about B FLOP/byte at fp16" in d.fix


def test_nn401_mlp_in_fp32_is_memory_bound_but_not_far_enough_below_the_ridge():
    # ≈0.5 FLOP/byte is the fp32 figure; fp32 on the A100 runs on its CUDA cores
    # (19.5 TFLOP/s), so the ridge is 12.54 FLOP/byte: 25x above, under the 100x threshold.
    text = textwrap.dedent(mlp("fp32"))
    analysis, _ = analyse_text(text)
    roof = analysis.roofline
    assert round(roof.layer("h1/dense#1").intensity, 2) == 0.50
    assert round(roof.ridge_point, 2) == 12.54
    _, result = run(text)
    assert only(result, "NN401") == []
    _, result = run(text, thresholds={"NN401": {"min_ridge_ratio": 20}})
    (d,) = only(result, "NN401")
    assert d.data["ridge_ratio"] == pytest.approx(25.4, abs=0.1)
    assert "0.50 FLOP/byte" in d.message and "ridge point of 12.5 FLOP/byte" in d.message
    assert "about B/2 FLOP/byte at fp32" in d.fix  # AI ≈ B/2 for fp32 dense layers


def test_nn401_silent_when_requests_are_batched():
    _, result = run(mlp("fp16", batch=256))
    assert only(result, "NN401") == []


def test_nn401_silent_when_little_time_is_memory_bound():
    _, result = run(mlp("fp16"), thresholds={"NN401": {"min_memory_bound_share": 1.01}})
    assert only(result, "NN401") == []


def test_nn401_examples_are_well_within_100x_of_the_ridge():
    # ResNet-50, BERT-base and MobileNetV2 at batch 1 are memory-bound on their targets,
    # as real deployments are, but nowhere near 100x below the ridge (BERT's embeddings
    # move only the rows they gather).
    for name, low, high in (
        ("resnet50.nn", 3, 3.3),
        ("bert_base.nn", 1.5, 1.8),
        ("mobilenet_v2.nn", 7.9, 8.3),
        ("mnist_mlp.nn", 13, 14),
    ):
        analysis, _ = analyse_text(example(name))
        roof = analysis.roofline
        intensity = sum(r.flops for r in roof.layers) / sum(r.bytes_moved for r in roof.layers)
        assert low < roof.ridge_point / intensity < high, name


def test_nn401_skipped_without_arithmetic_at_the_precision():
    _, result = run(mlp("fp32"), target="edge-tpu")
    assert only(result, "NN401") == []


# ----------------------------------------------------------------------- NN402

EDGE_FP32 = example("hazards/perf_fp32_on_edge_tpu.nn")


def test_nn402_fp32_deployed_on_the_int8_only_edge_tpu():
    result = check_text(EDGE_FP32, "x.nn", Settings(select=MINE))
    (d,) = only(result, "NN402")
    assert d.severity.name == "ERROR"
    assert d.span.line == line_of(EDGE_FP32, "precision = fp32                  # the float")
    assert d.message == (
        "deploy.precision = fp32, but edge-tpu (Google Coral Edge TPU (Dev "
        "Board)) has no fp32 arithmetic: it runs int8 only"
    )
    assert d.data["supported"] == ["int8"]
    assert d.data["suggested"] == "int8"
    assert d.fix.startswith("set deploy.precision to int8 (full-integer post-training")


def test_nn402_training_precision_used_for_deployment():
    text, result = run("""\
        model m {
            input x: [16]
            y = x -> dense(4)
        }
        train {
            precision = fp32
        }
        deploy {
            target = edge-tpu
        }
        """)
    (d,) = only(result, "NN402")
    assert d.span.line == line_of(text, "precision = fp32")
    assert (
        "the model deploys at fp32, its training precision (deploy.precision is not set)"
        in d.message
    )


def test_nn402_default_precision_points_at_the_target():
    text, result = run("""\
        model m {
            input x: [16]
            y = x -> dense(4)
        }
        deploy {
            target = edge-tpu
        }
        """)
    (d,) = only(result, "NN402")
    assert d.span.line == line_of(text, "target = edge-tpu")
    assert "the default (no precision is set)" in d.message


def test_nn402_layer_precision():
    text, result = run("""\
        model m {
            input x: [16]
            h = x -> dense(32, precision=fp16) -> relu
            y = h -> dense(8, precision=fp16) -> dense(4)
        }
        deploy {
            target    = edge-tpu
            precision = int8
        }
        """)
    (d,) = only(result, "NN402")
    assert d.span.line == line_of(text, "h = x")
    assert d.message.startswith(
        "h/dense#1 has precision=fp16 (2 layers set it; the first is here), but edge-tpu"
    )
    assert d.data["layers"] == 2
    assert d.fix == (
        "set its precision= to int8 (full-integer post-training quantization, "
        "calibrated on representative data)"
    )


def test_nn402_training_precision_on_a_device_that_trains():
    text, result = run("""\
        model m {
            input x: [16]
            y = x -> dense(4)
        }
        train {
            precision = bf16
        }
        deploy {
            target    = t4
            precision = fp16
        }
        """)
    (d,) = only(result, "NN402")
    assert d.span.line == line_of(text, "precision = bf16")
    assert d.message == (
        "train.precision = bf16, but t4 (NVIDIA T4) has no bf16 arithmetic: it "
        "runs fp32, fp16, int8, int4 only"
    )
    assert d.fix == "set train.precision to fp16"


def test_nn402_silent_for_float_training_and_int8_deployment_on_the_edge_tpu():
    result = check_text(example("mnist_mlp.nn"), "m.nn", Settings(select=MINE))
    assert only(result, "NN402") == []


def test_closest_precision():
    assert closest_precision(TARGETS["edge-tpu"], "fp32") == "int8"
    assert closest_precision(TARGETS["x86-cpu"], "fp16") == "fp32"
    assert closest_precision(TARGETS["t4"], "bf16") == "fp16"
    assert closest_precision(TARGETS["rtx-4090"], "int2") == "int4"


# ----------------------------------------------------------------------- NN403

EDGE_TRANSFORMER = example("hazards/perf_transformer_on_edge_tpu.nn")


def test_nn403_each_unsupported_op_once_with_its_count():
    result = check_text(EDGE_TRANSFORMER, "x.nn", Settings(select=MINE))
    found = {d.data["op"]: d for d in only(result, "NN403")}
    assert set(found) == {"embedding", "attention", "layernorm", "gelu"}
    counts = {op: d.data["instances"] for op, d in found.items()}
    assert counts == {"embedding": 1, "attention": 2, "layernorm": 4, "gelu": 2}
    att = found["attention"]
    assert att.severity.name == "WARNING"
    assert att.span.line == line_of(EDGE_TRANSFORMER, "a   = x -> attention(heads)")
    assert att.data["first"] == "h/encoder_layer[1]/attention#1"
    assert att.message.startswith(
        "edge-tpu cannot run `attention` (2 instances, the first "
        "here); its profile notes: Unsupported ops are not errors: "
        "the compiler leaves them"
    )
    assert "on the host CPU, and every TPU<->CPU boundary costs a host round trip." in att.message
    assert "cannot run `embedding` (1 instance)" in found["embedding"].message


def test_nn403_silent_on_a_gpu():
    result = check_text(EDGE_TRANSFORMER, "x.nn", Settings(target="a100-40gb", select=MINE))
    assert only(result, "NN403") == []


def test_nn403_ignores_ops_that_vanish_at_inference_and_works_without_notes():
    custom = attrs.evolve(
        TARGETS["rtx-4090"],
        id="no-dropout-gpu",
        notes="",
        unsupported_ops=frozenset({"dropout", "gelu"}),
    )
    _, result = run(
        """\
        model m {
            input x: [16]
            y = x -> dense(32) -> gelu -> dropout(0.1) -> dense(4)
        }
        """,
        target="no-dropout-gpu",
        targets={"no-dropout-gpu": custom},
    )
    (d,) = only(result, "NN403")
    assert d.data["op"] == "gelu"
    assert d.message == (
        "no-dropout-gpu cannot run `gelu` (1 instance); it runs off the accelerator"
    )


# ----------------------------------------------------------------------- NN404


def test_nn404_int2_deployment():
    text = example("hazards/perf_int2_weights.nn")
    result = check_text(text, "x.nn", Settings(select=MINE))
    (d,) = only(result, "NN404")
    assert d.severity.name == "WARNING"
    assert d.span.line == line_of(text, "    precision = int2")
    assert d.message == (
        "deploy.precision = int2: 2 bits per value, below 4 bits; accuracy "
        "degrades on tail inputs and calibration data is needed"
    )
    assert d.data == {"precision": "int2", "bits": 2, "min_bits": 4, "place": "deploy"}


def test_nn404_layer_and_training_precisions():
    text, result = run("""\
        model m {
            input x: [16]
            h = x -> dense(32, precision=int3) -> relu -> dense(32, precision=int3)
            y = h -> dense(4, precision=int4)
        }
        train {
            precision = int1
        }
        """)
    found = {d.data["place"]: d for d in only(result, "NN404")}
    # integer training, sub-4-bit or not, is NN113's finding (one finding per place)
    assert set(found) == {"layer"}
    layer = found["layer"]
    assert layer.span.line == line_of(text, "h = x")
    assert layer.message.startswith(
        "h/dense#1 has precision=int3 (2 layers; the first is here): 3 bits per value, below 4 bits"
    )
    (train,) = only(check_text(text, "spec.nn"), "NN113")  # every family, not only NN4xx
    assert train.span.line == line_of(text, "precision = int1")
    assert train.message.startswith("train.precision = int1: weights, gradients and optimizer")
    assert "1-bit integers, 2 levels per value" in train.message
    assert train.message.endswith("and rounding error accumulates over every update")


def test_nn404_silent_at_4_bits_unless_the_threshold_is_raised():
    text = """\
        model m {
            input x: [16]
            y = x -> dense(4)
        }
        deploy {
            precision = int4
        }
        """
    _, result = run(text)
    assert only(result, "NN404") == []
    _, result = run(text, thresholds={"NN404": {"min_bits": 8}})
    (d,) = only(result, "NN404")
    assert "4 bits per value, below 8 bits" in d.message


def test_nn404_and_nn402_both_apply_to_int2_on_a_target():
    _, result = run(example("hazards/perf_int2_weights.nn"), target="rtx-4090")
    assert [d.code for d in result.diagnostics if d.code in ("NN402", "NN404")] == [
        "NN402",
        "NN404",
    ]
    (d,) = only(result, "NN402")
    assert d.fix == "set deploy.precision to int4"


def test_nn401_skipped_for_a_model_without_arithmetic():
    _, result = run("""\
        model lookup {
            input ids: [16]
            e = ids -> embedding(1000, 64)
        }
        deploy {
            target    = a100-40gb
            precision = fp16
        }
        """)
    assert only(result, "NN401") == []


# ------------------------------------------------------------------- NN405 layout-copy

CAMERA = """\
    model cam {{
        input frame: [224, 224, 3]
        x      = frame -> {view}
        f      = x -> conv2d(16, 3, stride=2, padding=1, bias=false) -> batchnorm -> relu
        logits = f -> global_avgpool -> flatten -> dense(2)
    }}
    deploy {{
        target    = {target}
        batch     = {batch}
        precision = int8
    }}
    """


def test_nn405_reports_the_copy_with_the_roofline_figures():
    text, result = run(CAMERA.format(view="permute(2, 0, 1)", target="jetson-orin-nano", batch=1))
    (d,) = only(result, "NN405")
    analysed, _ = analyse_text(text)
    roof = analysed.roofline
    row = roof.layer("x/permute#1")
    assert row.bytes_moved == 2 * 224 * 224 * 3  # the frame read and written, 1 byte each
    assert d.span.line == line_of(text, "x      = frame")
    assert d.message.startswith(
        "permute(2, 0, 1) `x/permute#1` (line 3) reorders its input in memory: on "
        "jetson-orin-nano a copy kernel that moves 294.00 KiB (301,056 B) at int8, batch 1, "
        "with no arithmetic, 4.43 µs — "
    )
    assert d.data["bytes_moved"] == row.bytes_moved and d.data["time_s"] == row.time_s
    assert d.data["time_share"] == row.time_s / roof.kernel_time_s
    assert d.data["memory_bound_share"] == roof.memory_bound_share >= 0.5
    assert f"{d.data['time_share']:.1%} of the estimated kernel time" in d.message


def test_nn405_silent_for_a_free_view_without_a_target_or_below_its_thresholds():
    free = CAMERA.format(view="transpose(1, 1)", target="jetson-orin-nano", batch=1)
    assert only(run(free)[1], "NN405") == []
    copy = CAMERA.format(view="permute(2, 0, 1)", target="jetson-orin-nano", batch=1)
    no_target = copy.replace("        target    = jetson-orin-nano\n", "")
    assert only(run(no_target)[1], "NN405") == []
    assert only(run(copy, thresholds={"NN405": {"min_time_share": 0.5}})[1], "NN405") == []
    strict = {"NN405": {"min_memory_bound_share": 1.01}}
    assert only(run(copy, thresholds=strict)[1], "NN405") == []
    # on the edge TPU the copy stays in on-chip memory: no bytes, no time, no finding
    assert only(run(copy.replace("jetson-orin-nano", "edge-tpu"))[1], "NN405") == []


@pytest.mark.parametrize("target", ["a100-40gb", "jetson-orin-nano", "l4", "h100-sxm"])
def test_nn405_vit_patch_transpose_is_under_one_percent(target):
    """ViT-B/16's [768, 196] -> [196, 768] transpose is a copy kernel, but a tiny share
    of the encoder's time: the real example stays silent on every device that runs it."""
    text = (EXAMPLES / "vit_b16.nn").read_text(encoding="utf-8")
    _, result = run(text, target=target)
    assert only(result, "NN405") == []
    analysed, _ = analyse_text(text, Settings(target=target))
    row = analysed.roofline.layer("p/transpose#1")
    assert row.flops == 0 and row.bytes_moved == 2 * 196 * 768 * 2  # bf16, read + write
