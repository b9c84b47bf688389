"""NN2xx data rules: class imbalance and the output width against the class count."""

from __future__ import annotations

import textwrap

import pytest
from helpers import EXAMPLES

from nnlint.check import Settings, check_text
from nnlint.diagnostics import Severity
from nnlint.rules import REGISTRY
from nnlint.rules.base import default_thresholds


def found(text: str, code: str, **thresholds):
    result = check_text(textwrap.dedent(text), "t.nn", Settings(thresholds=thresholds))
    errors = [d for d in result.diagnostics if d.code < "NN100"]
    assert not errors, [(d.code, d.message) for d in errors]
    return [d for d in result.diagnostics if d.code == code]


def binary(counts: str, loss: str = "bce(p)", data_extra: str = "") -> str:
    return f"""
model m {{
    input x: [30]
    h = x -> dense(16) -> relu
    z = h -> dense(1)
    p = z -> sigmoid
}}
train {{
    batch = 64
    loss = {loss}
}}
data {{
    classes = 2
    counts = {counts}
{data_extra}}}
"""


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.nn")), ids=lambda p: p.name)
def test_healthy_examples_raise_no_data_finding(path):
    result = check_text(path.read_text(encoding="utf-8"), path.name)
    assert [d for d in result.diagnostics if d.code.startswith("NN2")] == []


def test_thresholds_come_from_the_toml_file():
    assert default_thresholds()["NN201"] == {"min_ratio": 10}
    assert REGISTRY["NN201"].options == ("min_ratio",)
    assert REGISTRY["NN202"].options == ()


# ------------------------------------------------------------------- NN201


def test_99_to_1_majority_guess_is_99_percent_accurate():
    [d] = found(binary("[9900, 100]"), "NN201")
    assert d.span.line == 14  # the counts entry
    assert "imbalanced 99:1" in d.message and "99.0%" in d.message
    assert "class 0, 9,900 examples" in d.message and "100 of 10,000" in d.message
    assert "catches none of class 1" in d.message
    assert "plain accuracy" in d.message
    assert d.severity is Severity.WARNING and "focal" in d.fix and "balanced_accuracy" in d.fix
    assert d.data["ratio"] == 99.0 and d.data["majority_accuracy"] == 0.99
    assert d.data["majority_class"] == 0 and d.data["minority_class"] == 1


def test_the_fraud_figures():
    [d] = found(binary("[99000, 1000]"), "NN201")
    assert "99:1" in d.message and "99.0%" in d.message and "1,000 of 100,000" in d.message


def test_ten_to_one_is_the_default_threshold():
    [d] = found(binary("[1000, 100]"), "NN201")
    assert "10:1" in d.message and "90.9%" in d.message
    assert found(binary("[999, 100]"), "NN201") == []
    [d] = found(binary("[500, 100]"), "NN201", NN201={"min_ratio": 5})
    assert "5:1" in d.message


def test_focal_loss_or_a_balanced_metric_silence_it():
    assert found(binary("[9900, 100]", loss="focal(z)"), "NN201") == []
    for metric in ("balanced_accuracy", "f1", "auc", "precision", "recall"):
        assert found(binary("[9900, 100]", data_extra=f"    metric = {metric}\n"), "NN201") == []
    [d] = found(binary("[9900, 100]", data_extra="    metric = accuracy\n"), "NN201")
    assert "scored by data.metric = accuracy" in d.message


def test_many_classes_name_the_rarest():
    spec = """
    model m {
        input x: [30]
        logits = x -> dense(16) -> relu -> dense(4)
    }
    train {
        loss = cross_entropy(logits)
    }
    data {
        counts = [1000, 1000, 50, 1000]
    }
    """
    [d] = found(spec, "NN201")
    assert "20:1" in d.message and "smallest: class 2, 50 of 3,050" in d.message
    assert "32.8%" in d.message and "the other 3 classes wrong" in d.message


def test_an_empty_class_is_always_reported():
    [d] = found(binary("[9900, 0]", loss="focal(z)"), "NN201")
    assert "class 1 has no training examples" in d.message
    assert d.data["empty_classes"] == [1]


def test_balanced_data_is_fine():
    assert found(binary("[500, 480]"), "NN201") == []


# ------------------------------------------------------------------- NN202


def width(units: int, classes: int, loss: str = "cross_entropy(logits)", act: str = "") -> str:
    return f"""
model m {{
    input x: [100]
    h      = x -> dense(64) -> relu
    logits = h -> dense({units}){act}
}}
train {{
    loss = {loss}
}}
data {{
    classes = {classes}
}}
"""


def test_more_outputs_than_classes():
    [d] = found(width(100, 10), "NN202")
    assert d.severity is Severity.ERROR and d.span.line == 5  # the dense that sets the width
    assert "`logits`, which the loss `cross_entropy` reads, has 100 outputs" in d.message
    assert "set by dense(100) `logits/dense#1` (line 5)" in d.message
    assert "data.classes = 10: 90 outputs never match a label" in d.message
    assert "dense(10)" in d.fix
    assert d.data == {
        "width": 100,
        "classes": 10,
        "output": "logits/dense#1",
        "layer": "logits/dense#1",
    }


def test_fewer_outputs_than_classes_through_an_activation():
    [d] = found(width(8, 10, act=" -> softmax", loss="cross_entropy(logits)"), "NN202")
    assert "labels 8…9 have no output" in d.message
    assert d.data["layer"] == "logits/dense#1" and d.data["output"] == "logits/softmax#1"


@pytest.mark.parametrize(
    "units, classes, loss, act",
    [
        (10, 10, "cross_entropy(logits)", ""),
        (1, 2, "bce(logits)", " -> sigmoid"),  # a binary classifier: one probability
        (1, 2, "bce(logits)", ""),  # one logit for the positive class
        (1, 2, "hinge(logits)", ""),
    ],
)
def test_matching_widths_and_binary_outputs_are_fine(units, classes, loss, act):
    assert found(width(units, classes, loss, act), "NN202") == []


def test_one_output_for_two_classes_with_cross_entropy_is_a_mismatch():
    [d] = found(width(1, 2), "NN202")
    assert "has 1 output" in d.message and "label 1 has no output" in d.message


def test_without_a_loss_the_last_tensor_is_the_output():
    spec = """
    model m {
        input x: [100]
        logits = x -> dense(64) -> relu -> dense(12)
    }
    data {
        counts = [10, 10, 10]
    }
    """
    [d] = found(spec, "NN202")
    assert "`logits`, the model's output, has 12 outputs" in d.message
    assert "data.classes = 3" in d.message


def test_segmentation_uses_the_channel_axis():
    spec = """
    model seg {
        input img: [3, 64, 64]
        h    = img -> conv2d(16, 3, padding=1) -> relu
        mask = h -> conv2d(%d, 1)
    }
    train {
        loss = cross_entropy(mask)
    }
    data {
        classes = 21
    }
    """
    assert found(spec % 21, "NN202") == []
    [d] = found(spec % 20, "NN202")
    assert "[20, 64, 64]" in d.message and "conv2d(21, 1" in d.fix


def test_no_classes_no_finding():
    spec = width(100, 10).replace("data {\n    classes = 10\n}\n", "")
    assert found(spec, "NN202") == []


def test_large_ratios_are_printed_in_full():
    [d] = found(binary("[123456, 100]"), "NN201")
    assert "imbalanced 1,235:1" in d.message and "99.9%" in d.message


# ------------------------------------------------------------------- NN203 P ≫ D


def wide(samples: int, width: int = 2048, input_: str = "[784]") -> str:
    return f"""
model m {{
    input x: {input_}
    h = x -> flatten -> dense({width}) -> relu -> dense({width}) -> relu
    logits = h -> dense(10)
}}
train {{
    batch = 32
    loss = cross_entropy(logits)
    samples = {samples}
}}
"""


def test_nn203_params_per_example_and_the_memorizing_network():
    # 784·2048 + 2048 + 2048·2048 + 2048 + 2048·10 + 10 = 5,824,522 trainable parameters
    [d] = found(wide(5000), "NN203")
    assert d.severity is Severity.WARNING
    assert d.span.line == 10  # train.samples
    assert d.message.startswith(
        "5,824,522 trainable parameters for 5,000 training examples: 1,165 per example "
        "(P/D ≥ 1,000). A two-layer ReLU network with 2n + d = 2·5,000 + 784 = 10,784 "
        "parameters can fit any labelling"
    )
    assert "this one has 540x that" in d.message  # 5,824,522 / 10,784 = 540.1
    assert "under 5,000,000 trainable parameters" in d.fix
    assert d.data["ratio"] == 5_824_522 / 5000 and d.data["memorizing_params"] == 10_784


def test_nn203_counts_only_trainable_parameters_and_its_threshold():
    assert found(wide(6000), "NN203") == []  # 971 per example
    [d] = found(wide(6000), "NN203", NN203={"max_ratio": 900})
    assert "(P/D ≥ 900)" in d.message
    frozen = wide(5000).replace(
        "dense(2048) -> relu -> dense", "dense(2048, trainable=false) -> relu -> dense"
    )
    assert found(frozen, "NN203") == []  # 4,196,362 trainable: 839 per example


def test_nn203_silent_without_samples_and_on_the_real_examples():
    assert found(wide(5000).replace("    samples = 5000\n", ""), "NN203") == []
    for stem in ("resnet50", "mnist_mlp"):  # 20 and 1.8 parameters per example
        text = (EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8")
        assert "samples" in text
        assert found(text, "NN203") == []


# ------------------------------------------------------------------- NN204 small dataset


def test_nn204_few_examples_names_logistic_regression():
    [d] = found(wide(500, width=64, input_="[3, 32, 32]"), "NN204")  # images: not tabular
    assert d.severity is Severity.NOTE
    assert d.message.startswith("train.samples = 500: under 1,000 examples — too little data")
    assert d.message.endswith("Try logistic regression or gradient-boosted trees first")
    assert d.data["tabular_features"] is None


def test_nn204_tabular_inputs_name_gradient_boosted_trees():
    text = wide(5000, width=64, input_="[20]")
    [d] = found(text, "NN204")
    assert d.message.startswith(
        "train.samples = 5,000: tabular inputs of 20 features, under 100 — too little data"
    )
    assert "Grinsztajn et al. 2022" in d.message
    assert "gradient-boosted trees (XGBoost, LightGBM)" in d.fix
    assert d.data["tabular_features"] == 20
    # past the medium-sized regime, or with 100 features or more, the tabular case is silent
    assert found(wide(20_000, width=64, input_="[20]"), "NN204") == []
    assert found(wide(5000, width=64, input_="[100]"), "NN204") == []
    [d] = found(
        wide(20_000, width=64, input_="[20]"), "NN204", NN204={"max_tabular_samples": 50_000}
    )
    assert "tabular inputs of 20 features" in d.message


def test_nn204_token_ids_and_sequences_are_not_tabular():
    tokens = """
model m {
    input ids: [16]
    h = ids -> embedding(1000, 32) -> flatten -> dense(2)
}
train {
    batch = 8
    loss = cross_entropy(h)
    samples = 5000
}
"""
    assert found(tokens, "NN204") == []
    assert found(wide(5000, width=64, input_="[10, 8]"), "NN204") == []


def test_nn204_silent_without_samples_and_on_the_real_examples():
    assert found(wide(500, width=64).replace("    samples = 500\n", ""), "NN204") == []
    for path in sorted(EXAMPLES.glob("*.nn")):
        assert found(path.read_text(encoding="utf-8"), "NN204") == [], path.name


def test_new_data_rules_read_their_thresholds_from_data_toml():
    assert default_thresholds()["NN203"] == {"max_ratio": 1000}
    assert default_thresholds()["NN204"] == {
        "min_samples": 1000,
        "min_tabular_features": 100,
        "max_tabular_samples": 10000,
    }
    assert REGISTRY["NN203"].options == ("max_ratio",)
    assert REGISTRY["NN204"].options == (
        "min_samples",
        "min_tabular_features",
        "max_tabular_samples",
    )
