"""Several losses added up: ``loss = cross_entropy(logits) + 0.1 * mse(aux)``.

Each term is a loss node of its own, with its kind's FLOPs and fused-gradient pairing; a
weight costs one multiply forward and one backward (each loss is one scalar for the
batch), each term after the first one add; a single loss keeps exactly its old figures.
"""

from __future__ import annotations

import pytest
from helpers import report_of

from nnlint.check import check_text

MODEL = """
model m {
    input x: [16]
    h      = x -> dense(32) -> relu
    logits = h -> dense(10)
    probs  = logits -> softmax
    aux    = h -> dense(4)
}
train {
    batch = 8
    loss  = LOSS
}
"""

B = 8


def _report(loss: str):
    return report_of(MODEL.replace("LOSS", loss))


def _loss_nodes(report):
    return [layer for layer in report.layers if layer.node.kind.is_loss]


def test_each_term_is_a_loss_node_with_its_own_flops():
    report = _report("cross_entropy(probs) + 0.1 * mse(aux)")
    ce, mse = _loss_nodes(report)
    assert (ce.node.id, mse.node.id) == ("loss/cross_entropy", "loss/mse")
    assert report.lowered.losses == ("loss/cross_entropy", "loss/mse")
    # cross-entropy on the softmax: 2 per logit; mse 3 per element, + its weight's multiply
    # + the add into the sum
    assert ce.train.forward_flops == 2 * B * 10
    assert mse.train.forward_flops == 3 * B * 4 + 1 + 1
    assert ce.infer.forward_flops == mse.infer.forward_flops == 0
    # gradients: ŷ − y (1 per logit) and 2 per element, + one multiply for the weight
    assert report.totals.loss_backward_flops == 1 * B * 10 + 2 * B * 4 + 1
    single = _report("cross_entropy(probs)")
    (alone,) = _loss_nodes(single)
    assert alone.train == ce.train  # the first term costs what the loss alone costs
    assert "weight" not in alone.node.opts and "term" not in alone.node.opts
    assert single.totals.loss_backward_flops == 1 * B * 10
    totals, one = report.totals, single.totals
    assert totals.forward_flops - one.forward_flops == 3 * B * 4 + 2  # `aux` is computed in both
    assert totals.train_step_flops - one.train_step_flops == (
        (totals.forward_flops - one.forward_flops)
        + (totals.backward_flops - one.backward_flops)
        + (2 * B * 4 + 1)
        + (totals.optimizer_flops - one.optimizer_flops)
    )


def test_unweighted_terms_and_the_weight_on_either_side():
    a = _report("cross_entropy(probs) + mse(aux)")
    b = _report("mse(aux) * 0.5 + cross_entropy(probs)")
    mse_a = _loss_nodes(a)[1]
    mse_b, ce_b = _loss_nodes(b)
    assert mse_a.train.forward_flops == 3 * B * 4 + 1  # the add only
    assert mse_b.train.forward_flops == 3 * B * 4 + 1  # the weight only: it is the first term
    assert ce_b.train.forward_flops == 2 * B * 10 + 1  # the add
    assert a.totals.loss_backward_flops + 1 == b.totals.loss_backward_flops


def test_fused_gradient_pairing_per_term():
    # the softmax fuses with cross-entropy: its backward is not counted ...
    fused = _report("cross_entropy(probs) + 0.1 * mse(aux)")
    softmax = next(layer for layer in fused.layers if layer.node.op == "softmax")
    assert softmax.node.fused_with_loss and softmax.train.backward_flops == 0
    # ... unless another term reads the probabilities too: its gradient passes the softmax
    both = _report("cross_entropy(probs) + 0.1 * mse(probs)")
    softmax = next(layer for layer in both.layers if layer.node.op == "softmax")
    assert not softmax.node.fused_with_loss and softmax.train.backward_flops == 4 * B * 10


@pytest.mark.parametrize("reader", ["probs -> dense(3)", "probs -> flatten -> dense(3)"])
def test_a_layer_reading_the_probabilities_unfuses_the_softmax(reader):
    # a layer (directly or through a view) reading the probabilities sends its gradient
    # through the softmax's own backward: ŷ − y no longer replaces it
    text = MODEL.replace("    aux    = h -> dense(4)", f"    aux    = {reader}")
    report = report_of(text.replace("LOSS", "cross_entropy(probs) + 0.1 * mse(aux)"))
    softmax = next(layer for layer in report.layers if layer.node.op == "softmax")
    assert not softmax.node.fused_with_loss and softmax.train.backward_flops == 4 * B * 10
    # a view the loss reads alone keeps the pairing
    text = MODEL.replace("probs  = logits -> softmax", "probs  = logits -> softmax -> flatten")
    report = report_of(text.replace("LOSS", "cross_entropy(probs) + 0.1 * mse(aux)"))
    softmax = next(layer for layer in report.layers if layer.node.op == "softmax")
    assert softmax.node.fused_with_loss and softmax.train.backward_flops == 0


def test_a_sigmoid_read_by_a_layer_besides_bce_counts_for_vanishing_gradients():
    # NN101 (at least 10 sigmoid layers) leaves out a sigmoid whose backward the loss
    # replaces, and only that one: 9 hidden sigmoids and the output's make 10 once a
    # layer reads the output besides bce
    layers = "\n".join(f"    s{i} = s{i - 1} -> dense(8) -> sigmoid" for i in range(1, 10))
    spec = "model m {\n    input s0: [8]\n" + layers + "\n    p = s9 -> dense(1) -> sigmoid\n"

    def nn101(extra: str, loss: str) -> list:
        text = spec + extra + "}\ntrain {\n    loss = " + loss + "\n}\n"
        return [d for d in check_text(text, "m.nn").diagnostics if d.code == "NN101"]

    assert nn101("", "bce(p)") == []
    (d,) = nn101("    extra = p -> dense(2)\n", "bce(p) + mse(extra)")
    assert "10 sigmoid" in d.message, d.message


def test_two_terms_of_one_kind_on_two_tensors():
    report = _report("cross_entropy(logits) + 0.4 * cross_entropy(aux)")
    assert report.lowered.losses == ("loss/cross_entropy", "loss/cross_entropy/aux")
    first, second = _loss_nodes(report)
    # raw logits: the loss's own log-softmax, 3 more per logit
    assert first.train.forward_flops == 5 * B * 10
    assert second.train.forward_flops == 5 * B * 4 + 2


def test_every_term_is_checked_by_the_loss_output_rule():
    result = check_text(MODEL.replace("LOSS", "cross_entropy(probs) + 0.1 * mse(probs)"), "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == "NN105"]
    assert d.message.startswith("mse on") and d.span.line == 11 and d.span.column == 36


@pytest.mark.parametrize(
    ("loss", "code", "column", "message"),
    [
        ("cross_entropy(logits) - mse(aux)", "NN012", 13, "`-` between losses"),
        ("cross_entropy(logits) * mse(aux)", "NN012", 13, "a weight times one loss"),
        ("cross_entropy(logits) + 0 * mse(aux)", "NN012", 37, "must be positive"),
        ("cross_entropy(logits) + mse(aux) + 0.5 * cross_entropy(logits)", "NN012", 48, "twice"),
        ("cross_entropy(logits) + 0.1 * crossentropy(aux)", "NN012", 43, "`cross_entropy`?"),
        ("cross_entropy(logits) + 0.1 * mse(aux2)", "NN002", 47, "did you mean `aux`?"),
        ("cross_entropy(logits) + 0.1", "NN012", 37, "must name the tensor"),
    ],
)
def test_bad_loss_sums_are_located_and_explained(loss, code, column, message):
    result = check_text(MODEL.replace("LOSS", loss), "m.nn")
    (d,) = [d for d in result.diagnostics if d.code == code]
    assert message in d.message
    assert (d.span.line, d.span.column) == (11, column)
    assert d.fix


def test_format_keeps_a_summed_loss():
    from nnlint.format import format_text

    text = MODEL.replace("LOSS", "cross_entropy(probs)+0.1*mse(aux)")
    formatted = format_text(text)
    assert "loss  = cross_entropy(probs) + 0.1 * mse(aux)" in formatted
    assert format_text(formatted) == formatted


@pytest.mark.parametrize(
    ("shape", "axis", "fused"),
    [
        ("[5, 10]", "", True),
        ("[5, 10]", "axis=1", True),
        ("[5, 10]", "axis=-1", True),
        ("[5, 10]", "axis=0", False),  # over the 5 positions, not the 10 classes
        ("[10, 4, 4]", "axis=0", True),  # per-pixel classes: the channel axis
        ("[10, 4, 4]", "axis=-1", False),
        ("[10, 2, 2, 4]", "", True),  # per-voxel classes: the channel axis of a volume
        ("[10, 2, 2, 4]", "axis=0", True),
        ("[10, 2, 2, 4]", "axis=-1", False),  # over the 4 columns
        ("[10, 2, 2, 4]", "axis=3", False),
    ],
)
def test_a_softmax_fuses_with_cross_entropy_only_along_the_class_axis(shape, axis, fused):
    text = f"""
    model m {{
        input x: {shape}
        probs = x -> softmax({axis})
    }}
    train {{
        batch = 2
        loss  = cross_entropy(probs)
    }}
    """
    report = report_of(text.replace("softmax()", "softmax"))
    softmax = next(layer for layer in report.layers if layer.node.op == "softmax")
    assert softmax.node.fused_with_loss is fused
    elements = 50 if shape == "[5, 10]" else 160
    assert softmax.train.backward_flops == (0 if fused else 4 * 2 * elements)


@pytest.mark.parametrize(
    ("shape", "chain", "fused"),
    [
        # the softmax's axis, followed through the views, must be the class axis the loss
        # reads (the last of [T, C] and [C], the first of [C, H, W]): ŷ − y is the gradient
        # of cross-entropy over the positions one softmax normalized, of nothing else
        ("[5, 10]", "softmax -> transpose(0, 1)", False),  # [10, 5]: classes = the 5 rows
        ("[5, 10]", "softmax(axis=0) -> transpose(0, 1)", True),  # the 5 back on the last
        ("[5, 10]", "softmax -> flatten", False),  # one 50-way distribution
        ("[5, 10]", "softmax -> reshape(10, 5)", False),
        ("[5, 10]", "softmax -> reshape(1, 5, 10)", False),  # [1, 5, 10]: the channel axis
        ("[5, 10]", "softmax -> reshape(5, 1, 10) -> reshape(5, 10)", True),
        ("[5, 10]", "softmax -> slice(1, 0, 4)", False),  # 4 of the 10 probabilities
        ("[5, 10]", "softmax -> slice(0, 1, 3)", True),  # 2 of the 5 rows, whole
        ("[5, 10]", "softmax -> select(0, 2)", True),  # one row: [10]
        ("[5, 10]", "softmax(axis=0) -> select(1, 2)", True),  # column 2's 5-way softmax
        ("[5, 10]", "softmax -> select(1, 2)", False),  # one probability per row
        ("[10, 4, 4]", "softmax -> flatten", False),
        ("[10, 4, 4]", "softmax -> permute(1, 2, 0)", False),  # [4, 4, 10]: C is last
        ("[10, 4, 4]", "softmax(axis=2) -> permute(2, 0, 1)", True),  # the 4 columns first
        ("[10, 4, 4]", "softmax -> reshape(10, 16)", False),  # [10, 16]: classes = the 16
        ("[10, 2, 2, 4]", "softmax -> reshape(10, 4, 4)", True),  # D and H merged, C first
        ("[10, 4, 4]", "sigmoid -> flatten", True),  # element by element: any view
        ("[10, 4, 4]", "sigmoid -> permute(1, 2, 0) -> slice(0, 0, 2)", True),
    ],
)
def test_a_view_between_the_softmax_and_the_loss_keeps_the_fusion_only_along_the_classes(
    shape, chain, fused
):
    loss = "bce" if chain.startswith("sigmoid") else "cross_entropy"
    text = f"""
    model m {{
        input x: {shape}
        probs = x -> {chain}
    }}
    train {{
        batch = 2
        loss  = {loss}(probs)
    }}
    """
    report = report_of(text)
    (layer,) = [layer for layer in report.layers if layer.node.op in ("softmax", "sigmoid")]
    assert layer.node.fused_with_loss is fused
    elements = 50 if shape == "[5, 10]" else 160
    assert layer.train.backward_flops == (0 if fused else 4 * 2 * elements)


def test_each_term_fuses_through_its_own_views():
    # one term through a transpose that moves the classes: the softmax's own backward runs
    both = """
    model m {
        input x: [5, 10]
        probs = x -> softmax
        t     = probs -> transpose(0, 1)
        row   = probs -> select(0, 0)
    }
    train {
        batch = 2
        loss  = LOSS
    }
    """
    for loss, fused in [
        ("cross_entropy(probs) + 0.5 * cross_entropy(row)", True),
        ("cross_entropy(probs) + 0.5 * cross_entropy(t)", False),
    ]:
        report = report_of(both.replace("LOSS", loss))
        (softmax,) = [layer for layer in report.layers if layer.node.op == "softmax"]
        assert softmax.node.fused_with_loss is fused, loss
