"""NN3xx fit rules: a spec in, the figures and diagnostics out."""

from __future__ import annotations

import re
import textwrap

import attrs
import pytest
from helpers import EXAMPLES, line_of, only, report_of

from nnlint.check import Settings, analyse_text, check_text
from nnlint.costs import analyze
from nnlint.memory import peak_inference_activation_bytes
from nnlint.units import fmt_size

FIT_CODES = ("NN301", "NN302", "NN303", "NN304")
# Only the fit and performance families: the tests must not depend on other families' rules.
MINE = ("NN3", "NN4")
SEVEN_B = (EXAMPLES / "hazards" / "fit_7b_adam_24gb.nn").read_text(encoding="utf-8")


def run(text: str, target: str | None = None, thresholds=None):
    text = textwrap.dedent(text)
    return text, check_text(
        text, "spec.nn", Settings(target=target, thresholds=thresholds or {}, select=MINE)
    )


# --------------------------------------------------------------------- helpers


def test_fmt_size_gives_binary_exact_and_decimal():
    assert fmt_size(24_000_000_000) == "22.35 GiB (24,000,000,000 B = 24.00 GB)"
    assert fmt_size(7_990_149) == "7.62 MiB (7,990,149 B = 7.99 MB)"
    assert fmt_size(3_944) == "3.85 KiB (3,944 B)"


def test_peak_inference_activations_reuse_buffers():
    report = report_of("""\
        model mlp {
            input x: [784]
            h1     = x  -> dense(128) -> relu
            h2     = h1 -> dense(64) -> relu
            logits = h2 -> dense(10)
        }
        """)
    # the largest pair alive together: the 784-value input and the first layer's 128
    # outputs (relu works in place), fp32
    assert peak_inference_activation_bytes(report, 1) == (784 + 128) * 4 == 3_648
    assert peak_inference_activation_bytes(report, 32) == 32 * 3_648
    # the cost report keeps every tensor (986 values, 3,944 B)
    assert report.totals.inference_activation_bytes == 3_944


def test_peak_inference_activations_hold_attention_scores_while_attention_runs():
    report = report_of("""\
        model enc {
            input x: [64, 32]
            y = x -> attention(4)
        }
        """)
    # input 64·32 + output 64·32 + workspace (Q, K, V, context 4·64·32 and scores 4·64²), fp32
    live = 2 * 64 * 32 + 4 * 64 * 32 + 4 * 64 * 64
    assert peak_inference_activation_bytes(report, 1) == live * 4
    assert peak_inference_activation_bytes(report, 3) == 3 * live * 4


# ----------------------------------------------------------------------- NN301


def test_nn301_7b_adam_fp32_on_a_24gb_card():
    result = check_text(SEVEN_B, "fit_7b_adam_24gb.nn", Settings(select=MINE))
    (d,) = only(result, "NN301")
    assert d.severity.name == "ERROR"
    assert d.span.line == line_of(SEVEN_B, "target    = rtx-4090")
    assert (
        "training at batch 8 (fp32, adam) needs 150.17 GiB (161,246,593,024 B = 161.25 GB)"
        in d.message
    )
    assert "more than the 22.35 GiB (24,000,000,000 B = 24.00 GB) of rtx-4090" in d.message
    assert "parameters 26.11 GiB (28,033,335,296 B)" in d.message
    assert "gradients 26.11 GiB (28,033,335,296 B)" in d.message
    assert "adam state 52.22 GiB (56,066,670,592 B)" in d.message
    assert "cached activations 45.74 GiB (49,113,251,840 B)" in d.message
    assert "buffers 0 B" in d.message
    # Rajbhandari et al. 2020 (ZeRO): 7e9 params x 16 B (fp32 Adam) = 112 GB before any activation
    assert "even batch 1 does not fit" in d.message
    assert "16 B/param = 104.43 GiB (112,133,341,184 B = 112.13 GB)" in d.message
    assert "82.08 GiB (88,133,341,184 B = 88.13 GB) more than the device has" in d.message
    params = 7_008_333_824
    assert d.data["param_bytes"] == d.data["grad_bytes"] == 4 * params
    assert d.data["optimizer_bytes"] == 8 * params
    assert d.data["fixed_bytes"] == 16 * params == 112_133_341_184
    assert d.data["memory_bytes"] == 24_000_000_000
    assert d.data["max_batch"] == 0
    assert d.data["activation_bytes_per_sample"] * 8 == d.data["activation_bytes"]
    assert "trainable=false" in d.fix and "sgd" in d.fix


CNN = """\
    model cnn {
        input img: [3, 224, 224]
        h      = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
        h2     = h -> conv2d(64, 3, padding=1) -> batchnorm -> relu
        logits = h2 -> global_avgpool -> flatten -> dense(10)
    }
    train {
        batch     = 256
        precision = fp32
        loss      = cross_entropy(logits)
        optimizer = adam
    }
    deploy {
        target = jetson-orin-nano
    }
    """


def test_nn301_largest_batch_that_fits():
    text, result = run(CNN)
    (d,) = only(result, "NN301")
    assert d.span.line == line_of(text, "target = jetson-orin-nano")
    # per sample, in fp32: the image 150,528 + conv 3,211,264 + batchnorm x̂ 3,211,264, twice,
    # + pooled 64 + logits 10 values; batchnorm also keeps μ, σ² per channel (constant)
    per_sample = 4 * (150_528 + 4 * 3_211_264 + 64 + 10)
    assert per_sample == 51_982_632
    params = 1_792 + 128 + 36_928 + 128 + 650  # convs, batchnorms, dense
    fixed = 16 * params + 4 * 256 + 4 * 2 * 128  # Adam state, running stats, μ/σ² caches
    assert d.data["activation_bytes_per_sample"] == per_sample
    assert d.data["fixed_bytes"] == fixed == 636_064
    max_batch = (8_000_000_000 - fixed) // per_sample
    assert d.data["max_batch"] == max_batch == 153
    assert "the largest training batch that fits is 153" in d.message
    assert "activations 49.57 MiB (51,982,632 B) per sample" in d.message
    assert "set train.batch to 153 or less" in d.fix
    assert "2 micro-batches" in d.fix
    # independent check with the cost model at 153 and 154
    report = report_of(CNN)
    at = {
        b: analyze(
            report.lowered,
            attrs.evolve(report.sections, train=attrs.evolve(report.sections.train, batch=b)),
        ).totals
        for b in (153, 154)
    }
    assert at[153].train_memory_bytes <= 8_000_000_000 < at[154].train_memory_bytes


def test_nn301_largest_batch_is_against_the_training_device():
    # deployed on the 8 GB jetson-orin-nano, trained on a 16 GB t4 (--train-target):
    # the batch that fits is the t4's, not the deploy device's 153
    text = textwrap.dedent(CNN.replace("batch     = 256", "batch     = 400"))
    settings = Settings(train_target="t4", select=MINE)
    (d,) = only(check_text(text, "spec.nn", settings), "NN301")
    per_sample, fixed = 51_982_632, 636_064  # as in test_nn301_largest_batch_that_fits
    max_batch = (16_000_000_000 - fixed) // per_sample
    assert d.data["max_batch"] == max_batch == 307
    assert "the largest training batch that fits is 307" in d.message


def test_nn301_runs_on_a_training_target_named_in_the_train_section_alone():
    # no deploy section, no --target: train.target is the device training must fit
    text = textwrap.dedent(CNN)
    start = text.index("deploy {")
    text = text[:start] + text[text.index("}", start) + 1 :]
    text = text.replace("train {\n", "train {\n    target = jetson-orin-nano\n", 1)
    (d,) = only(check_text(text, "spec.nn", Settings(select=MINE)), "NN301")
    assert d.data["max_batch"] == 153  # as on the deploy device in the tests above
    assert d.span.line == line_of(text, "target = jetson-orin-nano")
    # the per-GPU path too (a parallel key named): llama 7B trained on one L4
    llama = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")
    start = llama.index("deploy {")
    llama = llama[:start] + llama[llama.index("}", start) + 1 :]
    llama = llama.replace("a100-80gb", "l4")
    assert "target" in llama and "deploy" not in llama
    (d,) = only(check_text(llama, "l.nn", Settings(select=("NN301",))), "NN301")
    assert "l4" in d.message


def test_nn301_silent_at_a_batch_that_fits():
    _, result = run(CNN.replace("batch     = 256", "batch     = 153"))
    assert only(result, "NN301") == []


def test_nn301_even_batch_1_activations_do_not_fit():
    _, result = run("""\
        model huge_image {
            input img: [3, 2048, 2048]
            h = img -> conv2d(256, 3, padding=1) -> conv2d(256, 3, padding=1)
        }
        train {
            batch     = 4
            precision = fp32
            loss      = mse(h)
            optimizer = sgd
        }
        deploy {
            target = jetson-orin-nano
        }
        """)
    (d,) = only(result, "NN301")
    per_sample = 4 * (3 * 2048 * 2048 + 2 * 256 * 2048 * 2048)
    assert d.data["activation_bytes_per_sample"] == per_sample
    assert d.data["max_batch"] == 0
    assert "even batch 1 does not fit: it needs" in d.message
    need = d.data["fixed_bytes"] + per_sample
    assert fmt_size(need - 8_000_000_000) + " over" in d.message


def test_nn301_not_on_devices_that_do_not_train():
    # the same 7B spec checked against the edge TPU: nobody trains there
    result = check_text(SEVEN_B, "x.nn", Settings(target="edge-tpu", select=MINE))
    assert only(result, "NN301") == []


def test_nn301_needs_a_train_section():
    _, result = run("""\
        model big {
            input x: [65536]
            y = x -> dense(65536)
        }
        deploy {
            target    = jetson-orin-nano
            precision = fp16
        }
        """)
    assert only(result, "NN301") == []


def test_nn301_points_at_the_model_when_the_target_comes_from_the_command_line():
    text = textwrap.dedent(CNN).replace("target = jetson-orin-nano", "target = edge-tpu")
    result = check_text(text, "x.nn", Settings(target="jetson-orin-nano", select=MINE))
    (d,) = only(result, "NN301")
    assert d.span.line == line_of(text, "input img")


def test_nn301_silent_on_the_examples():
    for path in sorted(EXAMPLES.glob("*.nn")):
        result = check_text(path.read_text(encoding="utf-8"), path.name, Settings(select=MINE))
        assert [d for d in result.diagnostics if d.code in FIT_CODES] == [], path.name


# ----------------------------------------------------------------------- NN302


def test_nn302_7b_fp32_weights_alone_exceed_a_24gb_card():
    text = SEVEN_B.replace("precision = fp16 ", "precision = fp32 ")
    assert text != SEVEN_B
    result = check_text(text, "x.nn", Settings(select=MINE))
    (d,) = only(result, "NN302")
    assert d.severity.name == "ERROR"
    assert d.span.line == line_of(text, "target    = rtx-4090")
    weights = 4 * 7_008_333_824
    assert d.data["weight_bytes"] == weights == 28_033_335_296
    assert "inference (batch 1, fp32) needs" in d.message
    assert "weights and buffers 26.11 GiB (28,033,335,296 B)" in d.message
    assert (
        "the weights alone are 3.76 GiB (4,033,335,296 B = 4.03 GB) over (4 B/param)" in d.message
    )
    assert d.fix.startswith("deploy at bf16 (weights 13.05 GiB (14,016,667,648 B))")


def test_nn302_silent_for_the_7b_at_fp16():
    result = check_text(SEVEN_B, "x.nn", Settings(select=MINE))
    assert only(result, "NN302") == []


def test_nn302_largest_deploy_batch_that_fits():
    _, result = run("""\
        model cnn {
            input img: [3, 224, 224]
            h      = img -> conv2d(64, 3, padding=1) -> relu -> conv2d(64, 3, padding=1) -> relu
            logits = h -> global_avgpool -> flatten -> dense(10)
        }
        deploy {
            target    = jetson-orin-nano
            batch     = 512
            precision = fp32
        }
        """)
    (d,) = only(result, "NN302")
    # the peak is the second conv: its input and output, 64·224² values each, fp32
    per_sample = 2 * 64 * 224 * 224 * 4
    weights = (1_792 + 36_928 + 650) * 4
    assert d.data["activation_bytes_per_sample"] == per_sample == 25_690_112
    assert d.data["activation_bytes"] == 512 * per_sample
    assert d.data["weight_bytes"] == weights == 157_480
    assert d.data["max_batch"] == (8_000_000_000 - weights) // per_sample == 311
    assert "the largest deploy batch that fits is 311" in d.message
    assert "set deploy.batch to 311 or less" in d.fix


# a keyword-spotting MLP whose int8 weights outgrow the microcontroller's 2 MiB of flash
KWS_ON_MCU = """\
        model kws {
            input x: [1024]
            h = x -> dense(2048) -> relu -> dense(10)
        }
        deploy {
            target    = cortex-m7
            precision = int8
        }
        """


def test_nn302_weights_beyond_mcu_flash():
    _, result = run(KWS_ON_MCU)
    (d,) = only(result, "NN302")
    weights = 1024 * 2048 + 2048 + 2048 * 10 + 10
    assert d.data["weight_bytes"] == weights == 2_119_690
    assert d.data["flash_bytes"] == 2_097_152
    assert "more than the 2.00 MiB (2,097,152 B = 2.10 MB) of flash on cortex-m7" in d.message
    assert "22.01 KiB (22,538 B) over" in d.message


# a small conv net whose activations outgrow the microcontroller's SRAM
VISION_ON_MCU = """\
        model vision {
            input img: [3, 224, 224]
            h = img -> conv2d(32, 3, padding=1) -> relu -> global_avgpool -> flatten -> dense(2)
        }
        deploy {
            target    = cortex-m7
            precision = int8
        }
        """


def test_nn302_activations_beyond_mcu_sram():
    _, result = run(VISION_ON_MCU)
    (d,) = only(result, "NN302")
    peak = 3 * 224 * 224 + 32 * 224 * 224  # the image and the conv output, int8
    assert d.data["activation_bytes"] == peak == 1_756_160
    assert "needs 1.67 MiB (1,756,160 B = 1.76 MB) of SRAM" in d.message
    assert "1.00 MiB (1,048,576 B = 1.05 MB) of cortex-m7" in d.message
    assert "even batch 1 does not fit" in d.message
    assert d.data["max_batch"] == 0


def test_nn302_buffers_are_reused_between_layers():
    text = """\
        block conv(c) {
            input x
            out = x -> conv2d(c, 3, padding=1) -> relu
        }
        model deep {
            input img: [64, 32, 32]
            h = img -> conv(64) * 20
        }
        deploy {
            target    = cortex-m7
            precision = int8
        }
        """
    _, result = run(text)
    assert only(result, "NN302") == []
    report = report_of(text)
    # without reuse, 21 tensors of 65,536 B would not fit the 1 MiB of SRAM
    assert report.totals.inference_activation_bytes == 21 * 65_536 > 1_048_576
    assert peak_inference_activation_bytes(report, 1) == 2 * 65_536


# ----------------------------------------------------------------------- NN303

EDGE_20MIB = (EXAMPLES / "hazards" / "fit_edge_tpu_20mib_int8.nn").read_text(encoding="utf-8")


def test_nn303_twenty_mib_of_int8_weights_stream_over_the_host_link():
    result = check_text(EDGE_20MIB, "x.nn", Settings(select=MINE))
    (d,) = only(result, "NN303")
    assert d.severity.name == "WARNING"
    assert d.span.line == line_of(EDGE_20MIB, "target    = edge-tpu")
    assert d.data["param_bytes"] == 20_978_176
    assert d.data["onchip_bytes"] == 7_990_149
    assert d.data["streamed_bytes"] == 20_978_176 - 7_990_149 == 12_988_027
    assert d.data["stream_time_s"] == pytest.approx(12_988_027 / 500e6)
    assert "the parameters take 20.01 MiB (20,978,176 B = 20.98 MB) at int8" in d.message
    assert "the 7.62 MiB (7,990,149 B) edge-tpu caches on chip" in d.message
    assert "12.39 MiB (12,988,027 B = 12.99 MB) stream over the 500 MB/s host link" in d.message
    assert "26 ms per inference" in d.message
    assert "code/dense#1, holds 10.00 MiB (10,489,856 B)" in d.fix


def test_nn303_silent_when_the_weights_fit_the_cache():
    text = (EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8")
    result = check_text(text, "m.nn", Settings(select=MINE))
    assert only(result, "NN303") == []


def test_nn303_silent_on_targets_without_onchip_cache():
    result = check_text(EDGE_20MIB, "x.nn", Settings(target="x86-cpu", select=MINE))
    assert only(result, "NN303") == []


# ----------------------------------------------------------------------- NN304

LONG_CONTEXT = """\
    model lm {
        input ids: [4096]
        h = ids -> embedding(32000, 512) -> attention(8)
    }
    train {
        batch     = 1
        precision = fp32
        loss      = mse(h)
        optimizer = adam
    }
    """


def test_nn304_scores_dominate_the_cached_activations():
    text, result = run(LONG_CONTEXT)
    (d,) = only(result, "NN304")
    assert d.severity.name == "WARNING"
    assert d.span.line == line_of(text, "attention(8)")
    scores = 8 * 4096 * 4096
    cached = 4096 + 4096 * 512 + 5 * 4096 * 512 + scores  # ids, embedding, Q K V ctx out, P
    assert d.data["score_elements_per_layer"] == scores == 134_217_728
    assert d.data["score_bytes"] == 4 * scores
    assert d.data["activation_bytes"] == 4 * cached
    assert d.data["activation_share"] == pytest.approx(scores / cached)
    assert "B·h·T² = 1·8·4096² = 134,217,728 scores" in d.message
    assert "512.00 MiB (536,870,912 B) at fp32" in d.message
    assert "91.4% of the" in d.message
    assert "T = 4096" in d.fix


def test_nn304_scores_take_a_large_share_of_the_device():
    result = check_text(SEVEN_B, "x.nn", Settings(select=MINE))
    (d,) = only(result, "NN304")
    assert d.span.line == line_of(SEVEN_B, "attention(heads, causal=true)")
    assert d.data["attention_layers"] == 32
    assert d.data["score_bytes"] == 32 * 8 * 32 * 512 * 512 * 4 == 8_589_934_592
    assert d.data["activation_share"] < 0.5  # fires on the device share alone
    assert d.data["memory_share"] == pytest.approx(8_589_934_592 / 24e9)
    assert "the 32 attention layers keep 8.00 GiB (8,589,934,592 B = 8.59 GB)" in d.message
    assert "35.8% of the 22.35 GiB (24,000,000,000 B = 24.00 GB) of rtx-4090" in d.message


def test_nn304_silent_below_the_thresholds():
    # tiny_gpt: 4 heads at T = 256 keep 13.0% of its activations
    text = (EXAMPLES / "tiny_gpt.nn").read_text(encoding="utf-8")
    assert only(check_text(text, "t.nn", Settings(select=MINE)), "NN304") == []
    strict = Settings(thresholds={"NN304": {"min_activation_share": 0.1}}, select=MINE)
    (d,) = only(check_text(text, "t.nn", strict), "NN304")
    assert d.data["activation_share"] == pytest.approx(0.1297, abs=1e-4)
    # the 7B against a device that does not train: only the activation share counts
    edge = Settings(target="edge-tpu", select=MINE)
    assert only(check_text(SEVEN_B, "x.nn", edge), "NN304") == []


def test_nn304_names_cross_attention_by_its_two_lengths():
    # queries from a 256-token decoder, keys from a 4096-token memory: B·h·T·T_kv scores
    text, result = run(
        """\
        model seq2seq {
            input src: [4096, 64]
            input tgt: [256, 64]
            mem = src -> dense(64)
            h   = tgt -> attention(16, kv=mem)
        }
        train {
            batch     = 2
            precision = fp32
            loss      = mse(h)
            optimizer = adam
        }
        """
    )
    (d,) = only(result, "NN304")
    assert d.span.line == line_of(text, "attention(16, kv=mem)")
    assert d.data["score_elements_per_layer"] == 2 * 16 * 256 * 4096 == 33_554_432
    assert "at T = 256, T_kv = 4096 caches B·h·T·T_kv = 2·16·256·4096 = 33,554,432" in d.message
    assert "B·h·T²" not in d.message
    assert "T·T_kv = 256·4096" in d.fix and "4x" not in d.fix


def test_nn304_needs_a_train_section():
    text = textwrap.dedent(LONG_CONTEXT)
    text = text[: text.index("train {")]
    _, result = run(text)
    assert only(result, "NN304") == []


def test_memory_analysis_finds_the_largest_batch_that_fits():
    """The analysis stage's figures the fit rules read: the largest batch fits, one more
    does not (checked against the planner and the cost model directly)."""
    from nnlint.check import Settings
    from nnlint.memory import MemoryAnalysis

    text = (EXAMPLES / "resnet50.nn").read_text(encoding="utf-8")
    text = re.sub(r"(\n\s*batch\s*=\s*)\d+", r"\g<1>512", text, count=1)  # over 8 GB
    analysis, _ = analyse_text(text, Settings(target="jetson-orin-nano"))
    assert analysis.report.totals.train_batch == 512
    memory = MemoryAnalysis(analysis.report, analysis.target)
    limit = analysis.target.memory_bytes
    train = memory.train_fit
    assert train.max_batch >= 1
    assert memory._train_totals(train.max_batch).train_memory_bytes <= limit
    assert memory._train_totals(train.max_batch + 1).train_memory_bytes > limit
    infer = memory.inference_fit
    assert infer.per_sample_bytes == peak_inference_activation_bytes(analysis.report, 1)
    assert memory.inference_activation_bytes == peak_inference_activation_bytes(
        analysis.report, analysis.report.totals.deploy_batch
    )
    assert infer.fixed_bytes == analysis.report.totals.inference_param_bytes


# --------------------------------------------------------------------- unified memory

UNIFIED_HINT = "memory is unified, shared with the host CPU and its OS or firmware: less than all"

#: 3 × 1e10 fp32 weights = 120 GB: over every target's memory.
HUGE = """\
    model huge {
        input x: [100000]
        h = x -> dense(100000) -> relu -> dense(100000) -> relu -> dense(100000)
    }
    train {
        batch     = 1
        precision = fp32
        loss      = mse(h)
        optimizer = adam
    }
    deploy {
        precision = fp32
    }
    """


@pytest.mark.parametrize(
    ("target", "unified"),
    [
        ("jetson-orin-nano", True),
        ("jetson-agx-orin", True),
        ("rpi5", True),
        ("x86-cpu", True),
        ("h100-sxm", False),
        ("t4", False),
    ],
)
def test_nn301_and_nn302_say_when_the_memory_is_shared_with_the_host(target, unified):
    _, result = run(HUGE, target)
    for code in ("NN301", "NN302"):
        (d,) = only(result, code)
        assert (
            d.message.endswith(
                f"; {target}'s memory is unified, shared with the host CPU and its OS or firmware: "
                f"less than all of it is left for the model, so treat what fits as an upper bound"
            )
            == unified
        ), (code, d.message)
        assert (UNIFIED_HINT in d.message) == unified


def test_nn302_on_a_microcontroller_says_its_sram_is_shared():
    _, result = run(VISION_ON_MCU)
    (d,) = only(result, "NN302")
    assert UNIFIED_HINT in d.message and "cortex-m7's memory is unified" in d.message
    # the weights over flash alone: flash is not the shared memory, no hint
    _, result = run(KWS_ON_MCU)
    (d,) = only(result, "NN302")
    assert "of flash on cortex-m7" in d.message and UNIFIED_HINT not in d.message


@pytest.mark.parametrize(("target", "unified"), [("jetson-agx-orin", True), ("h100-sxm", False)])
def test_nn305_says_when_the_memory_is_shared_with_the_host(target, unified):
    text = (EXAMPLES / "llama2_7b.nn").read_text(encoding="utf-8")
    text += "deploy {\n    precision   = fp16\n    concurrency = 64\n}\n"  # 128 GiB of cache
    result = check_text(text, "l.nn", Settings(target=target, select=("NN305",)))
    (d,) = only(result, "NN305")
    assert "what fits: deploy.concurrency" in d.message
    assert (UNIFIED_HINT in d.message) == unified


def test_nn301_names_the_devices_of_a_cpu_training_target():
    text = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")
    result = check_text(text, "l.nn", Settings(train_target="x86-cpu", select=("NN301",)))
    (d,) = only(result, "NN301")
    assert "per CPU (bf16-mixed, adamw, micro-batch 1, 8 CPUs: data 8" in d.message
    assert "gpus = 10 (the fewest CPUs that fit with zero3)" in d.message
    assert "GPU" not in d.message and UNIFIED_HINT in d.message
    result = check_text(text, "l.nn", Settings(train_target="l4", select=("NN301",)))
    (d,) = only(result, "NN301")
    assert "per GPU (" in d.message and "(the fewest GPUs that fit with zero3)" in d.message
    assert UNIFIED_HINT not in d.message
