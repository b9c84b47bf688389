"""NN1xx training rules: a spec in, the diagnostics (figures in the message and in
``data``) out — and silence for specs that are fine."""

from __future__ import annotations

import math
import textwrap

import pytest
from helpers import EXAMPLES, report_of

from nnlint.check import Settings, check_text
from nnlint.diagnostics import Severity
from nnlint.rules import REGISTRY


def run(text: str, **thresholds):
    settings = Settings(thresholds=thresholds)
    result = check_text(textwrap.dedent(text), "t.nn", settings)
    errors = [d for d in result.diagnostics if d.code < "NN100"]
    assert not errors, [(d.code, d.message) for d in errors]
    return list(result.diagnostics)


def found(text: str, code: str, **thresholds):
    return [d for d in run(text, **thresholds) if d.code == code]


def mlp(
    activations: list[str],
    loss: str = "cross_entropy(logits)",
    width: int = 64,
    extra: str = "",
    train: str = "",
    data: str = "classes = 10",
) -> str:
    """One hidden layer per activation, one line each (layer i on line i + 3)."""
    lines = ["model m {", f"    input x: [{width}]"]
    prev = "x"
    for i, act in enumerate(activations, 1):
        lines.append(f"    h{i} = {prev} -> dense({width}) -> {act}")
        prev = f"h{i}"
    lines.append(f"    logits = {prev} -> dense(10)")
    lines.append(extra)
    lines.append("}")
    lines.append(f"train {{\n    batch = 32\n    loss = {loss}\n{train}}}")
    if data:
        lines.append(f"data {{\n    {data}\n}}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.nn")), ids=lambda p: p.name)
def test_healthy_examples_raise_no_training_or_data_finding(path):
    result = check_text(path.read_text(encoding="utf-8"), path.name)
    assert [d for d in result.diagnostics if d.code[:3] in ("NN1", "NN2")] == []


def test_thresholds_come_from_the_toml_files():
    from nnlint.rules.base import default_thresholds

    t = default_thresholds()
    assert t["NN101"] == {"sigmoid_layers": 10, "tanh_layers": 16}
    assert t["NN106"] == {"xavier_relu_layers": 20}
    assert t["NN107"] == {"variance_ratio": 4}
    assert t["NN110"] == {"min_batch": 16}
    for code, rule in REGISTRY.items():
        if code.startswith("NN1"):
            assert set(rule.options) == set(t.get(code, {})), code


# ------------------------------------------------------------------- NN101


def test_ten_sigmoid_layers_give_0_25_to_the_10th():
    [d] = found(mlp(["sigmoid"] * 10), "NN101")
    assert "10 sigmoid layers" in d.message
    assert "0.25^10 = 9.54e-07" in d.message
    assert "from `h1/sigmoid#1` (line 3) to `h10/sigmoid#1` (line 12)" in d.message
    assert d.span.line == 3  # the first activation of the chain
    assert d.severity is Severity.WARNING and d.fix
    assert d.data["bound"] == 0.25**10 and d.data["layers"] == 10
    assert d.data["first"] == "h1/sigmoid#1" and d.data["last"] == "h10/sigmoid#1"


def test_twenty_sigmoid_layers_give_9_09e_13():
    [d] = found(mlp(["sigmoid"] * 20), "NN101")
    assert "20 sigmoid layers" in d.message and "0.25^20 = 9.09e-13" in d.message
    assert d.data["bound"] == pytest.approx(9.094947017729282e-13)


def test_nine_sigmoid_layers_are_fine():
    assert found(mlp(["sigmoid"] * 9), "NN101") == []


def test_relu_stack_is_fine():
    assert found(mlp(["relu"] * 30), "NN101") == []


def test_the_threshold_is_an_option():
    [d] = found(mlp(["sigmoid"] * 5), "NN101", NN101={"sigmoid_layers": 5})
    assert "0.25^5 = 9.77e-04" in d.message


def test_residual_connections_break_the_chain():
    spec = """
    block res(n) {
        input x
        y   = x -> dense(n) -> sigmoid -> dense(n) -> sigmoid
        out = add(x, y)
    }
    model m {
        input x: [64]
        h      = x -> res(64) * 10
        logits = h -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    assert found(spec, "NN101") == []  # 20 sigmoids, at most 2 between skips


def test_normalization_resets_the_count():
    acts = ["sigmoid"] * 6 + ["sigmoid -> batchnorm"] + ["sigmoid"] * 6
    assert found(mlp(acts), "NN101") == []


def test_output_sigmoid_fused_with_bce_is_not_counted_but_with_mse_it_is():
    nine = mlp(["sigmoid"] * 9, loss="bce(p)", extra="    p = logits -> dense(1) -> sigmoid")
    assert found(nine, "NN101") == []
    mse = mlp(
        ["sigmoid"] * 9, loss="mse(p)", extra="    p = logits -> dense(1) -> sigmoid", data=""
    )
    [d] = found(mse, "NN101")
    assert "10 sigmoid layers" in d.message


def test_tanh_chains_have_their_own_larger_threshold():
    assert found(mlp(["tanh"] * 15), "NN101") == []
    [d] = found(mlp(["tanh"] * 16), "NN101")
    assert "16 tanh layers" in d.message
    assert "tanh' ≤ 1 but equals 1 only at z = 0" in d.message
    assert "0.420^16 = 9.37e-07" in d.message
    assert d.data["tanh_layers"] == 16 and d.data["bound"] == 1.0
    assert d.data["typical_factor"] == pytest.approx((1 - math.tanh(1) ** 2) ** 16)


def test_mixed_chain_reports_the_sigmoid_bound():
    [d] = found(mlp(["sigmoid"] * 10 + ["tanh"] * 2), "NN101")
    assert "12 saturating layers in a row on the gradient's path (10 sigmoid, 2 tanh)" in d.message
    assert "0.25^10 = 9.54e-07" in d.message


def test_a_sigmoid_chain_keeps_its_wording_whole():
    [d] = found(mlp(["sigmoid"] * 10), "NN101")
    assert d.message == (
        "10 sigmoid layers in a row on the gradient's path, from `h1/sigmoid#1` (line 3) to "
        "`h10/sigmoid#1` (line 12), with no skip connection or normalization between them: "
        "σ' ≤ 0.25, so the 10 derivatives the gradient crosses multiply to at most "
        "0.25^10 = 9.54e-07"
    )


def test_hard_sigmoids_are_counted_by_name_with_their_own_slope():
    """PyTorch's Hardsigmoid is relu6(z + 3)/6: slope 1/6 on (−3, 3), 0 outside."""

    def hardsigmoid(z: float) -> float:
        return min(max(z + 3, 0.0), 6.0) / 6

    # its largest derivative, by central differences over [−4, 4]
    h = 1e-3
    slope = max(
        (hardsigmoid(z / 100 + h) - hardsigmoid(z / 100 - h)) / (2 * h) for z in range(-400, 401)
    )
    assert slope == pytest.approx(1 / 6)
    [d] = found(mlp(["sigmoid"] * 8 + ["hardsigmoid"] * 2), "NN101")
    bound = 0.25**8 * (1 / 6) ** 2
    assert d.message.startswith(
        "10 sigmoid-like layers (8 sigmoid, 2 hardsigmoid) in a row on the gradient's path"
    )
    assert d.message.endswith(
        "sigmoid' ≤ 0.25 and hardsigmoid' ≤ 1/6, so the 10 derivatives the gradient crosses "
        f"multiply to at most 0.25^8·(1/6)^2 = {bound:.2e}"
    )
    assert d.data["sigmoid_layers"] == 10 and d.data["bound"] == pytest.approx(bound)
    [d] = found(mlp(["hardsigmoid"] * 10), "NN101")
    assert d.message.startswith("10 hardsigmoid layers in a row")
    assert f"at most (1/6)^10 = {(1 / 6) ** 10:.2e}" in d.message
    assert "sigmoid-like" not in d.message and "σ'" not in d.message


def test_a_chain_of_sigmoids_hard_sigmoids_and_tanh_names_each():
    [d] = found(mlp(["hardsigmoid"] * 3 + ["sigmoid"] * 7 + ["tanh"] * 2), "NN101")
    bound = 0.25**7 * (1 / 6) ** 3
    typical = bound * (1 - math.tanh(1) ** 2) ** 2
    assert d.message.startswith(
        "12 saturating layers in a row on the gradient's path (7 sigmoid, 3 hardsigmoid, 2 tanh)"
    )
    assert d.message.endswith(
        "sigmoid' ≤ 0.25, hardsigmoid' ≤ 1/6 and tanh' ≤ 1, so the 12 derivatives the "
        f"gradient crosses multiply to at most 0.25^7·(1/6)^3 = {bound:.2e}, and to "
        f"0.25^7·(1/6)^3·0.420^2 = {typical:.2e} with tanh' = 0.420 at |z| = 1"
    )
    assert d.data["sigmoid_layers"] == 10 and d.data["tanh_layers"] == 2
    assert d.data["typical_factor"] == pytest.approx(typical)


def test_an_unused_side_branch_does_not_hide_the_chain():
    spec = mlp(["sigmoid"] * 10, extra="    aux = h5 -> dense(3)")
    [d] = found(spec, "NN101")
    assert d.data["layers"] == 10


def test_a_short_parallel_branch_does_not_rescue_the_long_one():
    spec = """
    block sig(n) {
        input x
        out = x -> dense(n) -> sigmoid
    }
    model m {
        input x: [32]
        deep   = x -> sig(32) * 10
        short  = x -> dense(32) -> relu
        logits = concat(deep, short) -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN101")
    assert d.data["first"] == "deep/sig[1]/sigmoid#1" and d.span.line == 4


# ------------------------------------------------------------------- NN102


SOFTMAX = """
model m {
    input x: [100]
    logits = x -> dense(64) -> relu -> dense(10)
    probs  = logits -> %s
}
train {
    batch = 32
    precision = %s
    loss = cross_entropy(probs)
}
"""


def test_softmax_in_fp16_overflows_above_11_09():
    [d] = found(SOFTMAX % ("softmax", "fp16"), "NN102")
    assert d.span.line == 5
    for s in (
        "runs in fp16 (`train.precision`)",
        "ln(65504) = 11.09",
        "fp32: 88.72",
        "5.96e-08",
        "16.64 below the largest logit",
    ):
        assert s in d.message
    assert "softmax(precision=fp32)" in d.fix
    assert d.data["overflow_above"] == pytest.approx(11.0899, abs=1e-4)
    assert d.data["fp32_overflow_above"] == pytest.approx(88.7228, abs=1e-4)
    assert d.data["max_value"] == 65504.0


def test_softmax_precision_of_the_op_wins():
    assert found(SOFTMAX % ("softmax(precision=fp32)", "fp16"), "NN102") == []
    [d] = found(SOFTMAX % ("softmax(precision=fp16)", "fp32"), "NN102")
    assert "its `precision=`" in d.message


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_softmax_in_fp32_or_bf16_is_fine(precision):
    assert found(SOFTMAX % ("softmax", precision), "NN102") == []


def test_log_softmax_in_fp16_is_fine():
    assert found(SOFTMAX % ("log_softmax", "fp16"), "NN102") == []


# ------------------------------------------------------------------- NN103


def test_log_of_softmax():
    spec = (
        SOFTMAX.replace(
            "probs  = logits -> %s",
            "probs  = logits -> softmax\n    logp = probs -> dropout(0.1) -> log",
        )
        % "fp32"
    )
    spec = spec.replace("cross_entropy(probs)", "cross_entropy(logp)")
    [d] = found(spec, "NN103")
    assert d.span.line == 6
    assert "softmax `probs/softmax#1` (line 5)" in d.message
    assert "log(0) = −inf" in d.message and "103.28 below the largest" in d.message
    assert "1.40e-45" in d.message and "log_softmax" in d.fix
    assert d.data["underflow_gap"] == pytest.approx(103.2789, abs=1e-4)


def test_log_of_a_softmax_in_fp16_underflows_sooner():
    spec = (SOFTMAX % ("softmax", "fp16")).replace(
        "}\ntrain", "    logp = probs -> log\n}\ntrain", 1
    )
    [d] = found(spec, "NN103")
    assert "in fp16 once its logit is 16.64 below the largest" in d.message


def test_log_of_something_else_and_log_softmax_are_fine():
    assert found(SOFTMAX % ("log_softmax", "fp32"), "NN103") == []
    spec = SOFTMAX.replace("probs  = logits -> %s", "probs  = logits -> sigmoid -> log") % "fp32"
    assert found(spec, "NN103") == []


# ------------------------------------------------------------------- NN104


def test_softmax_of_a_softmax():
    spec = SOFTMAX % ("softmax -> softmax", "fp32")
    [d] = found(spec, "NN104")
    assert "e/(e + 9) = 0.232" in d.message
    assert "can never fall below 1.461" in d.message and "ln 10 = 2.303" in d.message
    assert d.data["max_probability"] == pytest.approx(math.e / (math.e + 9), abs=1e-6)
    assert d.data["min_loss"] == pytest.approx(1.461150, abs=1e-6)


def test_focal_on_a_softmax_output():
    spec = (SOFTMAX % ("softmax", "fp32")).replace("cross_entropy(probs)", "focal(probs)")
    [d] = found(spec, "NN104")
    assert d.span.line == 10 and "focal applies its own softmax" in d.message
    assert found(spec.replace("focal(probs)", "focal(logits)"), "NN104") == []


def test_the_fused_pairings_are_fine():
    assert found(SOFTMAX % ("softmax", "fp32"), "NN104") == []  # cross_entropy on softmax
    assert found(SOFTMAX % ("log_softmax", "fp32"), "NN104") == []  # the NLL
    assert found(SOFTMAX % ("log_softmax -> softmax", "fp32"), "NN104") == []  # = softmax


# ------------------------------------------------------------------- NN105


def head(op: str, loss: str, units: int = 10, classes: str = "classes = 10") -> str:
    data = f"data {{\n    {classes}\n}}\n" if classes else ""
    return f"""
model m {{
    input x: [100]
    logits = x -> dense(64) -> relu -> dense({units})
    out    = logits -> {op}
}}
train {{
    batch = 32
    loss = {loss}
}}
{data}"""


def test_mse_on_a_softmax_vanishes_when_confidently_wrong():
    [d] = found(head("softmax", "mse(out)"), "NN105")
    assert d.span.line == 9  # the loss line
    assert "mse on softmax `out/softmax#1` (line 5)" in d.message
    for s in ("ŷ(1 − ŷ) ≤ 0.25", "ŷ = 0.05", "0.0475", "-0.09025", "-0.95", "10.5× stronger"):
        assert s in d.message
    assert d.data["gradient"] == pytest.approx(-0.09025)
    assert "cross_entropy(out)" in d.fix


def test_mse_on_a_sigmoid_is_reported_only_for_a_classifier():
    [d] = found(head("sigmoid", "mse(out)"), "NN105")
    assert "bce(out)" in d.fix
    assert found(head("sigmoid", "mse(out)", classes=""), "NN105") == []


def test_bce_on_a_softmax():
    [d] = found(head("softmax", "bce(out)"), "NN105")
    assert "each of the 10 outputs" in d.message
    assert "at most one of them can exceed 0.5" in d.message
    [d] = found(head("softmax", "bce(out)", units=1, classes="classes = 2"), "NN105")
    assert "always 1.0" in d.message


def test_cross_entropy_on_a_sigmoid():
    [d] = found(head("sigmoid", "cross_entropy(out)"), "NN105")
    assert "e/(e + 9) = 0.232" in d.message and "never fall below 1.461" in d.message


def test_cross_entropy_over_one_output_is_always_zero():
    [d] = found(head("identity", "cross_entropy(out)", units=1, classes=""), "NN105")
    assert "the loss is 0 for every sample" in d.message
    assert d.data["min_loss"] == 0.0


def test_kl_div_wants_log_probabilities():
    [d] = found(head("softmax", "kl_div(out)"), "NN105")
    assert "probabilities in [0, 1]" in d.message
    [d] = found(head("relu", "kl_div(logits)"), "NN105")
    assert "unnormalized" in d.message
    assert found(head("log_softmax", "kl_div(out)"), "NN105") == []


@pytest.mark.parametrize(
    "op, loss",
    [
        ("softmax", "cross_entropy(out)"),
        ("log_softmax", "cross_entropy(out)"),
        ("identity", "cross_entropy(logits)"),
        ("sigmoid", "bce(out)"),
        ("relu", "bce(logits)"),
        ("identity", "mse(logits)"),
    ],
)
def test_good_pairings_are_silent(op, loss):
    assert found(head(op, loss), "NN105") == []


# ------------------------------------------------------- NN106, NN107, NN108


def mnist_l1(init: str, act: str) -> str:
    return f"""
model m {{
    input x: [784]
    h1     = x  -> dense(256, init={init}) -> {act}
    h2     = h1 -> dense(128) -> relu
    logits = h2 -> dense(10)
}}
train {{
    batch = 32
    loss = cross_entropy(logits)
}}
"""


def test_he_before_a_sigmoid_reports_he_and_xavier_for_mnist_layer_1():
    [d] = found(mnist_l1("he", "sigmoid"), "NN106")
    assert d.span.line == 4
    # He et al. 2015 / Glorot & Bengio 2010: He 2/784 = 0.00255, std 0.0505;
    # Xavier 2/1040 = 0.00192, std 0.0438
    for s in ("2/784 = 0.00255", "std 0.0505", "2/1040 = 0.00192", "std 0.0438"):
        assert s in d.message
    assert d.data["target_variance"] == pytest.approx(2 / 1040)
    assert d.data["target_std"] == pytest.approx(math.sqrt(2 / 1040))
    assert "init=xavier" in d.fix


@pytest.mark.parametrize(
    "init, act",
    [
        ("he", "relu"),
        ("he", "gelu"),
        ("xavier", "sigmoid"),
        ("xavier", "tanh"),
        ("he", "batchnorm -> sigmoid"),
        ("xavier", "relu"),
    ],
)
def test_matching_or_normalized_schemes_are_fine(init, act):
    assert [d for d in run(mnist_l1(init, act)) if d.code in ("NN106", "NN107", "NN108")] == []


def deep_init(n: int, init: str = "xavier") -> str:
    return f"""
block layer(w) {{
    input x
    out = x -> dense(w, init={init}) -> relu
}}
model m {{
    input x: [128]
    h      = x -> layer(128) * {n}
    logits = h -> dense(10)
}}
train {{
    loss = cross_entropy(logits)
}}
"""


def test_xavier_on_a_deep_relu_stack_halves_the_variance_per_layer():
    [d] = found(deep_init(20), "NN106")
    assert "20 ReLU layers in a row use init=xavier" in d.message
    assert "2/128 = 0.01562" in d.message and "2/(128+128) = 0.007812" in d.message
    assert "2.00× less" in d.message and "by 9.54e-07" in d.message
    assert d.data["variance_gain"] == pytest.approx(0.5**20)
    assert found(deep_init(19), "NN106") == []
    assert found(deep_init(40, "he"), "NN106") == []
    [d] = found(deep_init(20, "lecun"), "NN106")
    assert "init=lecun" in d.message


def test_normal_std_far_below_he_reports_the_exact_target():
    [d] = found(mnist_l1("normal(0.01)", "relu"), "NN107")
    assert d.span.line == 4
    for s in ("Var(w) = 0.0001", "25.5× below the He variance", "2/784 = 0.00255", "std 0.0505"):
        assert s in d.message
    assert d.data["ratio"] == pytest.approx(0.0001 / (2 / 784))
    assert d.data["target_std"] == pytest.approx(0.0505, abs=1e-4)


def test_normal_std_far_above_xavier_before_a_sigmoid():
    [d] = found(mnist_l1("normal(0.2)", "sigmoid"), "NN107")
    assert "20.8× above the Xavier variance" in d.message
    assert "2/(784+256) = 2/1040 = 0.00192" in d.message and "std 0.0438" in d.message


def test_init_scale_within_the_ratio_is_fine():
    assert found(mnist_l1("normal(0.05)", "relu"), "NN107") == []
    assert found(mnist_l1("normal(0.03)", "relu"), "NN107") == []  # 3.3x below, under 4
    [d] = found(mnist_l1("normal(0.03)", "relu"), "NN107", NN107={"variance_ratio": 2})
    assert "2.83× below" in d.message


def test_init_scale_skips_normalized_residual_and_small_heads():
    assert found(mnist_l1("normal(0.01)", "batchnorm -> relu"), "NN107") == []
    assert found(mnist_l1("normal(0.01)", "relu -> batchnorm"), "NN107") == []
    spec = """
    block ffn(d) {
        input x
        f   = x -> layernorm -> dense(4 * d, init=normal(0.02)) -> gelu
                -> dense(d, init=normal(0.02))
        out = add(x, f)
    }
    model m {
        input x: [16, 768]
        h      = x -> ffn(768) * 2
        logits = h -> dense(10, init=normal(0.001))
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    assert found(spec, "NN107") == []
    big_head = spec.replace("init=normal(0.001)", "init=normal(1)")
    [d] = found(big_head, "NN107")
    assert "768× above the LeCun variance" in d.message


def test_ones_init_is_a_scale_problem():
    [d] = found(mnist_l1("ones", "relu"), "NN107")
    assert "E[w²] = 1" in d.message and "392× above" in d.message


def test_all_zero_layers_never_break_symmetry():
    spec = """
    model m {
        input x: [784]
        h1     = x  -> dense(256, init=zeros) -> tanh
        logits = h1 -> dense(10, init=zeros)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN108")
    assert d.severity is Severity.ERROR and d.span.line == 4
    assert "256 units compute the same output" in d.message
    assert "behaves like one neuron (255 of its 256 units are copies)" in d.message
    assert d.data["readers"] == ["logits/dense#1"]


def test_zero_weights_before_relu_are_dead():
    [d] = found(mnist_l1("zeros", "relu"), "NN108")
    assert "relu' = 0" in d.message and "never update" in d.message


def test_zero_heads_lora_and_residual_zero_init_are_fine():
    head_only = mnist_l1("he", "relu").replace("dense(10)", "dense(10, init=zeros)")
    lora = """
    model m {
        input x: [16, 256]
        base = x -> dense(256, trainable=false)
        a    = x -> dense(8, bias=false) -> dense(256, bias=false, init=zeros)
        out  = add(base, a) -> gelu -> dense(2)
    }
    train {
        loss = cross_entropy(out)
    }
    """
    fixup = """
    block res(d) {
        input x
        y   = x -> dense(d, init=he) -> relu -> dense(d, init=zeros)
        out = add(x, y) -> relu
    }
    model m {
        input x: [64]
        h      = x -> res(64) * 4
        logits = h -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    hidden_zero_sigmoid = mnist_l1("zeros", "sigmoid")  # h2 is random: symmetry breaks
    for spec in (head_only, lora, fixup, hidden_zero_sigmoid):
        assert [d for d in run(spec) if d.code in ("NN106", "NN107", "NN108", "NN109")] == []


# ------------------------------------------------------------------- NN109


def test_stacked_dense_layers_collapse_to_one():
    spec = """
    model m {
        input x: [784]
        h      = x -> dense(256)
        logits = h -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN109")
    assert d.span.line == 4
    assert "dense(256) (line 4) and dense(10) (line 5)" in d.message
    assert "(10 × 784 + 10) needs 7,850 parameters" in d.message
    assert "these 2 layers hold 203,530" in d.message
    assert d.data["equivalent_params"] == 7850 and d.data["actual_params"] == 203530
    assert "relu" in d.fix and "dense(10)" in d.fix


def test_a_long_stack_is_cut_short_with_separated_counts():
    spec = """
    model m {
        input x: [8]
        logits = x -> dense(8) * 1200 -> dense(2)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN109")
    assert "dense(8) (line 4), dense(8) (line 4), … (1,198 more) and dense(2) (line 4) have" in (
        d.message
    )
    assert "these 1,201 layers hold 86,418" in d.message and d.data["layers"] == 1201


def test_dropout_and_batchnorm_do_not_add_a_nonlinearity():
    spec = """
    model m {
        input x: [100]
        logits = x -> dense(100) -> dropout(0.5) -> batchnorm -> dense(100)
    }
    train {
        batch = 32
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN109")
    assert d.data["equivalent_params"] == 100 * 100 + 100
    assert d.data["actual_params"] == 2 * 10100 + 200


def test_convolutions_collapse_to_one_with_the_combined_kernel():
    spec = """
    model m {
        input img: [3, 32, 32]
        c      = img -> conv2d(16, 3, padding=1) -> conv2d(16, 3, padding=1) -> relu
        logits = c -> global_avgpool -> flatten -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN109")
    assert "conv2d(16, 5)" in d.message and "(16 × 3 × 5² + 16) needs 1,216" in d.message
    assert d.data["actual_params"] == (16 * 3 * 9 + 16) + (16 * 16 * 9 + 16)


@pytest.mark.parametrize(
    ("shape", "conv", "head", "power", "composed", "each"),
    [
        ("[3, 64]", "conv1d", "flatten", "", 5, 3),
        ("[3, 8, 16, 16]", "conv3d", "global_avgpool -> flatten", "³", 125, 27),
    ],
)
def test_1d_and_3d_convolutions_collapse_too(shape, conv, head, power, composed, each):
    # two 3-wide kernels compose into one 5-wide kernel along every axis: 5 and 5³ taps
    spec = f"""
    model m {{
        input x: {shape}
        c      = x -> {conv}(16, 3, padding=1) -> {conv}(16, 3, padding=1) -> relu
        logits = c -> {head} -> dense(10)
    }}
    train {{
        loss = cross_entropy(logits)
    }}
    """
    [d] = found(spec, "NN109")
    equivalent = 16 * 3 * composed + 16
    assert f"{conv}(16, 5)" in d.message
    assert f"(16 × 3 × 5{power} + 16) needs {equivalent:,}" in d.message
    assert d.data["equivalent_params"] == equivalent
    assert d.data["actual_params"] == (16 * 3 * each + 16) + (16 * 16 * each + 16)


@pytest.mark.parametrize(
    ("shape", "stack", "single", "equivalent", "actual"),
    [
        # two dilation-2 kernels: taps 2 apart, 5 of them (not 9 side by side)
        (
            "[8, 40]",
            "conv1d(8, 3, dilation=2) -> conv1d(8, 3, dilation=2)",
            "conv1d(8, 5, dilation=2)",
            8 * 8 * 5 + 8,
            2 * (8 * 8 * 3 + 8),
        ),
        # a 1-wide stride 3 then a 3-wide kernel: the taps fall 3 apart in the input
        (
            "[8, 40]",
            "conv1d(8, 1, stride=3) -> conv1d(8, 3)",
            "conv1d(8, 3, stride=3, dilation=3)",
            8 * 8 * 3 + 8,
            (8 * 8 + 8) + (8 * 8 * 3 + 8),
        ),
        # groups 4 then 2: each half of the channels stays in its half (gcd 2)
        (
            "[4, 3, 5, 5]",
            "conv3d(4, 1, groups=4, bias=false) -> conv3d(4, 1, groups=2, bias=false)",
            "conv3d(4, 1, groups=2)",
            4 * 2,
            4 + 4 * 2,
        ),
    ],
)
def test_the_single_convolution_is_dilated_and_grouped_as_the_stack_allows(
    shape, stack, single, equivalent, actual
):
    spec = f"""
    model m {{
        input x: {shape}
        h = x -> {stack} -> relu
    }}
    """
    [d] = found(spec, "NN109")
    assert f"a single {single} from " in d.message
    assert (d.data["equivalent_params"], d.data["actual_params"]) == (equivalent, actual)


@pytest.mark.parametrize(
    "body",
    [
        "h = x -> dense(256) -> relu -> dense(10)",  # a nonlinearity
        "h = x -> dense(32) -> dense(784)",  # a low-rank bottleneck
        "h = x -> dense(256) -> layernorm -> dense(10)",  # per-sample normalization
        "a = x -> dense(256)\n    h = add(a, a) -> dense(10)",  # a merge ends the chain
    ],
)
def test_no_collapse(body):
    spec = f"""
    model m {{
        input x: [784]
        {body}
    }}
    train {{
        loss = mse(h)
    }}
    """
    assert found(spec, "NN109") == []


def test_depthwise_then_pointwise_is_a_factorization():
    spec = """
    model m {
        input img: [32, 28, 28]
        c = img -> conv2d(32, 3, padding=1, groups=32) -> batchnorm -> conv2d(64, 1) -> relu
    }
    """
    assert found(spec, "NN109") == []


def test_a_tensor_read_twice_is_not_collapsed():
    spec = """
    model m {
        input x: [64]
        h      = x -> dense(64)
        a      = h -> dense(64)
        logits = add(a, h) -> relu -> dense(10)
    }
    """
    assert found(spec, "NN109") == []


# ------------------------------------------------------------------- NN110


def bn(batch: str, norm: str = "batchnorm") -> str:
    return f"""
model m {{
    input img: [3, 64, 64]
    c      = img -> conv2d(32, 3, padding=1) -> {norm} -> relu
    d      = c -> conv2d(32, 3, padding=1) -> {norm} -> relu
    logits = d -> global_avgpool -> flatten -> dense(10)
}}
train {{
{batch}    loss = cross_entropy(logits)
}}
"""


def test_batchnorm_with_a_batch_of_4():
    [d] = found(bn("    batch = 4\n"), "NN110")
    assert d.span.line == 9  # the batch entry
    assert "batch = 4 is below 16 for 2 batchnorm layers" in d.message
    assert "averages 16,384 values from 4 samples" in d.message
    assert "34.7%" in d.message and "24.1%" in d.message and "Wu & He 2018" in d.message
    assert "groupnorm" in d.fix
    assert d.data == {
        "batch": 4,
        "min_batch": 16,
        "batchnorm_layers": 2,
        "first": "c/batchnorm#1",
        "values_per_statistic": 16384,
    }


def test_batchnorm_at_batch_1_over_vectors_outputs_beta():
    spec = """
    model m {
        input x: [64]
        logits = x -> dense(64) -> batchnorm -> relu -> dense(10)
    }
    train {
        batch = 1
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN110")
    assert "x − μ = 0" in d.message and "outputs β for every input" in d.message


def test_no_batchnorm_finding():
    assert found(bn("    batch = 16\n"), "NN110") == []
    assert found(bn(""), "NN110") == []  # no batch given: nothing to judge
    assert found(bn("    batch = 2\n", "groupnorm(8)"), "NN110") == []
    assert found(bn("    batch = 2\n", "batchnorm(trainable=false)"), "NN110") == []
    [d] = found(bn("    batch = 16\n"), "NN110", NN110={"min_batch": 32})
    assert "below 32" in d.message


# -------------------------------------------------------------- doc pages


def test_every_training_rule_documents_its_numbers():
    docs = {code: rule.meta().doc for code, rule in REGISTRY.items() if code.startswith("NN1")}
    assert set(docs) == {f"NN1{i:02d}" for i in range(1, 15)}
    assert "0.25^10 = 9.54e-07" in docs["NN101"] and "9.09e-13" in docs["NN101"]
    assert "11.09" in docs["NN102"] and "88.72" in docs["NN102"]
    assert "2/784 = 0.00255" in docs["NN106"] and "0.0438" in docs["NN107"]
    assert "Wu & He" in docs["NN110"]
    assert "η·λ·θ / (√v" in docs["NN111"] and "Loshchilov &\nHutter 2019" in docs["NN111"]
    assert "8192/256 =\n  3.2" in docs["NN112"] and "500 times" in docs["NN112"]
    assert "2⁸ = 256" in docs["NN113"] and "Gupta et al. 2015" in docs["NN113"]
    assert "26,560" in docs["NN114"] and "Ioffe & Szegedy" in docs["NN114"]


# --------------------------------------------------- one finding per line


def test_layers_made_from_one_line_are_reported_once():
    [d] = found(deep_init(12, "normal(0.01)"), "NN107")
    assert d.span.line == 4  # the block body
    assert "(and 11 more layers made from this line)" in d.message
    assert d.data["instances"] == 12


def test_chains_made_from_one_line_are_reported_once():
    spec = """
    block sig(n) {
        input x
        out = x -> dense(n) -> sigmoid
    }
    block stage(n) {
        input x
        out = x -> sig(n) * 10 -> layernorm
    }
    model m {
        input x: [32]
        h      = x -> stage(32) * 3
        logits = h -> dense(10)
    }
    train {
        loss = cross_entropy(logits)
    }
    """
    [d] = found(spec, "NN101")
    assert "10 sigmoid layers" in d.message
    assert "(and 2 more chains made from this line)" in d.message
    assert d.data["instances"] == 3


def test_a_huge_chain_is_summarized():
    spec = """
    block lin(n) {
        input x
        out = x -> dense(n)
    }
    model m {
        input x: [8]
        h      = x -> lin(8) * 1000
        logits = h -> relu -> dense(2)
    }
    """
    [d] = found(spec, "NN109")
    assert "dense(8) (line 4), dense(8) (line 4), … (997 more) and dense(8) (line 4)" in d.message
    assert d.data["layers"] == 1000 and d.data["equivalent_params"] == 72
    [d] = found(spec.replace("-> dense(n)", "-> dense(n) -> sigmoid"), "NN101")
    assert "0.25^1000 = 10^-602" in d.message


# ---------------------------------------------------------------- NN111 adam-weight-decay


def test_nn111_adam_with_weight_decay_points_at_the_decay_and_suggests_adamw():
    text = mlp(["relu"], train="    optimizer = adam\n    weight_decay = 0.01\n")
    (d,) = found(text, "NN111")
    assert d.span.line == text.splitlines().index("    weight_decay = 0.01") + 1
    assert d.message.startswith("optimizer = adam with weight_decay = 0.01: adam adds 0.01·θ")
    assert "η·0.01·θ / (√v" in d.message and "adamw decays every weight by η·0.01·θ" in d.message
    assert d.data == {"optimizer": "adam", "weight_decay": 0.01, "suggested": "adamw"}
    assert d.autofix is not None and d.autofix.applicability == "unsafe"


@pytest.mark.parametrize(
    "train",
    [
        "    optimizer = adamw\n    weight_decay = 0.01\n",  # decoupled already
        "    optimizer = momentum\n    weight_decay = 1e-4\n",  # L2 = weight decay for SGD
        "    optimizer = adam\n",  # no decay at all
        "    weight_decay = 1e-4\n",  # the default optimizer, sgd
    ],
)
def test_nn111_silent_without_coupled_decay_in_an_adaptive_step(train):
    assert found(mlp(["relu"], train=train), "NN111") == []


def test_nn111_reads_the_registry_variant():
    from nnlint.optimizers import OPTIMIZERS

    with_variant = {n for n, o in OPTIMIZERS.items() if o.decoupled_variant}
    assert with_variant == {"adam"}
    assert OPTIMIZERS["adam"].decoupled_variant == "adamw"


# ---------------------------------------------------------------- NN112 learning rate


@pytest.mark.parametrize(
    ("optimizer", "lr", "expected"),
    [
        ("adam", "0.5", "lr = 0.5 for adam is 50x above the top of its usual range, 1e-6 to 0.01"),
        ("sgd", "10", "lr = 10 for sgd is 3.12x above the top of its usual range, 1e-6 to 3.2"),
        ("momentum", "1e-8", "lr = 1e-8 for momentum is 100x below the bottom of its usual range"),
        (
            "lion",
            "0.01",
            "lr = 0.01 for lion is 10x above the top of its usual range, 1e-7 to 0.001",
        ),
        ("rmsprop", "2", "lr = 2 for rmsprop is 4x above the top of its usual range, 1e-5 to 0.5"),
    ],
)
def test_nn112_rate_outside_the_registry_range(optimizer, lr, expected):
    from nnlint.optimizers import OPTIMIZERS

    text = mlp(["relu"], train=f"    optimizer = {optimizer}\n    lr = {lr}\n")
    (d,) = found(text, "NN112")
    assert d.message.startswith(expected), d.message
    assert OPTIMIZERS[optimizer].lr_source in d.message
    assert d.span.line == text.splitlines().index(f"    lr = {lr}") + 1
    assert (d.data["low"], d.data["high"]) == OPTIMIZERS[optimizer].lr_range
    assert d.data["lr"] == float(lr)


def test_nn112_names_the_default_optimizer_and_the_recommended_rate():
    (d,) = found(mlp(["relu"], train="    lr = 10\n"), "NN112")
    assert d.message.startswith("lr = 10 for sgd (the default optimizer) is")
    (d,) = found(mlp(["relu"], train="    optimizer = adamw\n    lr = 1\n"), "NN112")
    assert "start from 0.001" in d.fix


@pytest.mark.parametrize(
    "train",
    [
        "    optimizer = adam\n    lr = 1e-3\n",
        "    optimizer = adam\n    lr = 1e-2\n",  # the bounds are inside
        "    optimizer = adamw\n    lr = 1e-6\n",
        "    optimizer = sgd\n    lr = 0.1\n",
        "    optimizer = nesterov\n    lr = 3.2\n",  # Goyal et al. 2017 at batch 8,192
        "    optimizer = adagrad\n    lr = 10\n",  # no range in the registry: not judged
        "    optimizer = adafactor\n    lr = 10\n",
        "    optimizer = adam\n",  # no lr written
    ],
)
def test_nn112_silent_inside_the_range_or_without_one(train):
    assert found(mlp(["relu"], train=train), "NN112") == []


def test_nn112_doc_lists_every_registry_range():
    """The doc page repeats the registry's ranges: they must not drift apart."""
    from nnlint.optimizers import OPTIMIZERS

    doc = REGISTRY["NN112"].meta().doc
    for name, o in OPTIMIZERS.items():
        if o.lr_range is None:
            assert f"(`{name}`" in doc or f"`{name}`)" in doc, name
        else:
            low, high = (f"{v:g}".replace("e-0", "e-") for v in o.lr_range)
            line = next(x for x in doc.splitlines() if f"`{name}`" in x and " to " in x)
            assert f"{low} to {high}" in line, (name, line)


# ---------------------------------------------------------------- NN113 integer training


@pytest.mark.parametrize(("precision", "bits", "levels"), [("int8", 8, 256), ("int4", 4, 16)])
def test_nn113_integer_training_precision(precision, bits, levels):
    text = mlp(["relu"], train=f"    precision = {precision}\n")
    (d,) = found(text, "NN113")
    assert d.message.startswith(
        f"train.precision = {precision}: weights, gradients and optimizer state in {bits}-bit "
        f"integers, {levels:,} levels per value"
    )
    assert d.message.endswith("rounding error accumulates over every update")
    assert f"set deploy.precision = {precision}" in d.fix and "quantize after training" in d.fix
    assert d.data == {"precision": precision, "bits": bits, "levels": levels}


@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed", "fp16", "fp8-mixed", "bf16"])
def test_nn113_silent_for_floating_point_training(precision):
    assert found(mlp(["relu"], train=f"    precision = {precision}\n"), "NN113") == []


def test_nn113_silent_for_integer_deployment():
    text = (
        mlp(["relu"], train="    precision = bf16-mixed\n") + "deploy {\n    precision = int8\n}\n"
    )
    assert found(text, "NN113") == []


# ---------------------------------------------------------------- NN114 bias-before-norm


def net(body: str, input_: str = "[3, 16, 16]") -> str:
    return f"""
model m {{
    input x: {input_}
{body}
}}
train {{
    batch = 32
    loss = cross_entropy(logits)
}}
"""


def test_nn114_conv_bias_before_batchnorm_counts_the_channels():
    text = net(
        "    h = x -> conv2d(24, 3, padding=1) -> batchnorm -> relu -> flatten\n"
        "    logits = h -> dense(10)"
    )
    (d,) = found(text, "NN114")
    assert d.span.line == 4
    assert d.message.startswith(
        "conv2d(24, 3) `h/conv2d#1` (line 4) adds a bias of 24 values that the batchnorm right "
        "after it subtracts again"
    )
    assert "24 parameters, with their gradients and optimizer state" in d.message
    assert d.fix == "set bias=false on conv2d(24, 3)"
    assert d.data == {"layer": "h/conv2d#1", "norm": "h/batchnorm#1", "wasted_params": 24}


@pytest.mark.parametrize(
    ("norm", "beta"),
    [
        ("batchnorm", True),
        ("instancenorm(affine=true)", True),
        ("instancenorm", False),  # affine=false by default, as PyTorch's
        ("groupnorm(8)", True),
    ],
)
def test_nn114_names_the_norms_shift_only_when_it_has_one(norm, beta):
    text = net(
        f"    h = x -> conv2d(8, 3, padding=1) -> {norm} -> relu -> flatten\n"
        "    logits = h -> dense(10)"
    )
    (d,) = found(text, "NN114")
    assert d.message.endswith(
        "cannot change the output" + ("; the norm's β already shifts each channel" if beta else "")
    )


@pytest.mark.parametrize(
    ("chain", "input_", "wasted"),
    [
        ("dense(32) -> batchnorm", "[16]", 32),  # batchnorm per feature of [D]
        ("dense(32) -> batchnorm", "[8, 16]", 32),  # ... of [T, D]: over the batch and T
        ("conv2d(8, 3) -> groupnorm(8)", "[3, 16, 16]", 8),  # one channel per group
        ("conv1d(8, 3) -> layernorm", "[4, 16]", 8),  # [C, L]: the mean is over L, per channel
        ("conv_transpose2d(8, 2, stride=2) -> batchnorm", "[3, 16, 16]", 8),
        ("attention(2) -> batchnorm", "[8, 16]", 16),  # the output projection's bias
    ],
)
def test_nn114_fires_when_every_bias_value_is_constant_under_its_mean(chain, input_, wasted):
    text = net(f"    h = x -> {chain} -> flatten\n    logits = h -> dense(10)", input_)
    (d,) = found(text, "NN114")
    assert d.data["wasted_params"] == wasted


@pytest.mark.parametrize(
    ("chain", "input_"),
    [
        ("dense(32) -> layernorm", "[8, 16]"),  # the mean is across the bias's axis
        ("conv2d(8, 3) -> groupnorm(2)", "[3, 16, 16]"),  # 4 channels per group: 2 of 8 cancel
        ("dense(32) -> rmsnorm", "[8, 16]"),  # no mean subtracted at all
        ("dense(32, bias=false) -> batchnorm", "[16]"),
        ("conv2d(8, 3, bias=false) -> batchnorm", "[3, 16, 16]"),
        ("dense(32) -> relu -> batchnorm", "[16]"),  # a nonlinearity between
        ("dense(32) -> dropout(0.1) -> batchnorm", "[16]"),  # masked: not constant per batch
        ("dense(32, trainable=false) -> batchnorm", "[16]"),  # frozen: loaded weights
        ("attention(2, bias=[q, k, v]) -> batchnorm", "[8, 16]"),  # no output bias
        ("conv1d(8, 3) -> batchnorm", "[4, 16]"),  # [C, L]: batchnorm's channels are L here
    ],
)
def test_nn114_silent_when_the_norm_does_not_cancel_the_whole_bias(chain, input_):
    text = net(f"    h = x -> {chain} -> flatten\n    logits = h -> dense(10)", input_)
    assert found(text, "NN114") == []


def test_nn114_silent_when_another_op_reads_the_biased_output():
    text = net(
        "    a = x -> dense(16)\n    b = a -> batchnorm\n    logits = add(a, b) -> dense(10)",
        "[16]",
    )
    assert found(text, "NN114") == []


def test_nn114_resnet50_with_biases_would_waste_26560_parameters():
    text = (EXAMPLES / "resnet50.nn").read_text(encoding="utf-8")
    assert found(text, "NN114") == []
    biased = text.replace(", bias=false)", ")")
    findings = found(biased, "NN114")
    total = sum(d.data.get("wasted_params_line", d.data["wasted_params"]) for d in findings)
    assert total == 26_560  # every conv channel of the 53 convolutions
    assert total * 2 == sum(
        layer.counted_params for layer in report_of(text).layers if layer.node.kind.is_norm
    )


@pytest.mark.parametrize(
    ("layer", "norm", "shape", "cancels"),
    [
        ("conv2d", "batchnorm", (4, 3, 8, 8), True),
        ("dense", "batchnorm", (4, 16), True),
        ("dense", "layernorm", (4, 16), False),  # the mean is across the bias's axis
        ("dense", "rmsnorm", (4, 16), False),  # no mean subtracted
        ("conv2d", "groupnorm1", (4, 3, 8, 8), True),  # one channel per group
        ("conv2d", "groupnorm2", (4, 3, 8, 8), False),
    ],
)
def test_nn114_premise_against_pytorch(layer, norm, shape, cancels):
    """The oracle for NN114 and its safe fix: in PyTorch, the norm's output with the bias
    equals its output without it exactly when the rule says the bias cancels."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.randn(*shape)
    if layer == "conv2d":
        lin = torch.nn.Conv2d(3, 6, 3)
    else:
        lin = torch.nn.Linear(16, 6)
    norms = {
        "batchnorm": lambda: (
            torch.nn.BatchNorm2d(6) if layer == "conv2d" else torch.nn.BatchNorm1d(6)
        ),
        "layernorm": lambda: torch.nn.LayerNorm(6),
        "rmsnorm": lambda: torch.nn.RMSNorm(6),
        "groupnorm1": lambda: torch.nn.GroupNorm(6, 6),
        "groupnorm2": lambda: torch.nn.GroupNorm(2, 6),
    }
    torch.nn.init.normal_(lin.bias, std=1.0)
    n = norms[norm]().train()
    with torch.no_grad():
        with_bias = n(lin(x))
        without = n(lin(x) - lin.bias.view(-1, *([1] * (len(shape) - 2))))
    assert torch.allclose(with_bias, without, atol=1e-5) == cancels
    spec_in = "[3, 8, 8]" if layer == "conv2d" else "[16]"
    spec_layer = "conv2d(6, 3)" if layer == "conv2d" else "dense(6)"
    spec_norm = {"groupnorm1": "groupnorm(6)", "groupnorm2": "groupnorm(2)"}.get(norm, norm)
    text = net(
        f"    h = x -> {spec_layer} -> {spec_norm} -> flatten\n    logits = h -> dense(10)", spec_in
    )
    assert bool(found(text, "NN114")) == cancels
