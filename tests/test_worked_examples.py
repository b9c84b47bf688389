"""nnlint's worked examples are oracles: nnlint reproduces every figure exactly.

The figures were worked out by hand from the formulas of README § Counting conventions
(and the papers each op's docstring cites). Where a hand calculation or a paper rounds,
the exact value is asserted and the comment gives the rounded figure.
"""

from __future__ import annotations

import pytest
from helpers import EXAMPLES, example_report, layers, report_of

from nnlint.precision import nbytes

MNIST = example_report("mnist_mlp")


# ------------------------------------------- MNIST 784-256-128-10 (examples/mnist_mlp.nn)


def test_mnist_parameters_per_layer_and_total():
    dense = layers(MNIST, "dense")
    assert [d.counted_params for d in dense] == [200_960, 32_896, 1_290]
    assert MNIST.totals.params == 235_146
    assert MNIST.totals.trainable_params == 235_146


def test_mnist_forward_flops_per_layer():
    # A hand-counted "layer" is the dense op plus the activation after it.
    by_id = {layer.node.id: layer.train.forward_flops for layer in MNIST.layers}
    assert by_id["h1/dense#1"] + by_id["h1/relu#1"] == 12_861_440
    assert by_id["h2/dense#1"] + by_id["h2/relu#1"] == 2_105_344
    assert by_id["logits/dense#1"] + by_id["probs/softmax#1"] == 83_840
    assert by_id["loss/cross_entropy"] == 640  # CE counted as 2·B·C (log and negation)
    assert MNIST.totals.forward_flops == 15_051_264


def test_mnist_forward_sub_ops():
    # matmul 2·32·784·256 = 12,845,056 and bias 8,192
    l1 = MNIST.layer("h1/dense#1").train
    assert 2 * 32 * l1.macs == 12_845_056
    assert l1.forward_flops - 2 * 32 * l1.macs == 8_192


def test_mnist_backward_flops_per_layer():
    # For backward a hand-counted layer l includes the derivative of the activation
    # *before* it. Layer 1 has no such step but does count the input gradient.
    by_id = {layer.node.id: layer.train.backward_flops for layer in MNIST.layers}
    assert by_id["logits/dense#1"] + by_id["h2/relu#1"] == 168_256
    assert by_id["h2/dense#1"] + by_id["h1/relu#1"] == 4_206_592
    assert by_id["h1/dense#1"] == 25_698_304
    assert by_id["probs/softmax#1"] == 0  # fused with cross-entropy: ŷ−y counted by the loss
    assert MNIST.totals.backward_flops == 30_073_152
    # The loss's own gradient ŷ−y is kept apart (loss_backward_flops): C per sample.
    assert MNIST.totals.loss_backward_flops == 32 * 10


def test_mnist_step_total_and_epoch():
    t = MNIST.totals
    assert t.forward_flops + t.backward_flops == 45_124_416  # "45.1M"
    assert 1_875 * (t.forward_flops + t.backward_flops) == 84_608_280_000  # "84.7 G"
    assert (t.forward_flops + t.backward_flops) / t.forward_flops == pytest.approx(2.998, abs=5e-4)
    # The full step adds the loss gradient and Adam's itemized 14P + 2
    # (Kingma & Ba 2015, Algorithm 1).
    assert t.optimizer_flops == 14 * 235_146 + 2
    assert t.train_step_flops == 45_124_416 + 320 + 14 * 235_146 + 2


def test_mnist_training_memory():
    t = MNIST.totals
    assert t.param_bytes == 940_584
    assert t.grad_bytes == 940_584
    assert t.optimizer_bytes == 1_881_168
    assert t.activation_elements == 37_696  # 32 · (784 + 256 + 128 + 10)
    assert t.activation_bytes == 150_784
    assert t.train_memory_bytes == 3_913_120  # 3.73 MiB ("3.74" adding rounded MiB parts)
    assert t.train_memory_bytes / 2**20 == pytest.approx(3.73, abs=0.005)


def test_mnist_layer1_cached_elements():
    # Per layer by hand: 32·784 + 32·256 = 33,280 elements for layer 1
    # (its input and its output); nnlint attributes the input to the layer before.
    cached = {layer.node.id: layer.train.cached_elements for layer in MNIST.layers}
    assert cached["x"] + cached["h1/dense#1"] == 33_280


# ------------------------------------------- MNIST 784-128-64-10 (the roofline example)

MLP_128 = """
    model mnist_small {
        input x: [784]
        h1 = x -> dense(128) -> relu
        h2 = h1 -> dense(64) -> relu
        out = h2 -> dense(10) -> softmax
    }
    train {
        batch = 32
        optimizer = adam
    }
"""


def test_mnist_small_running_example():
    r = report_of(MLP_128)
    assert r.totals.params == 109_386
    assert r.totals.macs == 109_184  # MACs per image
    assert r.layer("h1/dense#1").train.macs == 100_352
    assert r.totals.param_bytes == 437_544
    # activations at B=32, input included: 31,552 values = 126,208 B
    assert r.totals.activation_elements == 31_552
    assert r.totals.activation_bytes == 126_208
    # training 1,876,384 B; inference 437,544 + 3,944 = 441,488 B (batch 1, fp32)
    assert r.totals.train_memory_bytes == 1_876_384
    assert r.totals.inference_memory_bytes == 441_488
    assert r.totals.train_memory_bytes / r.totals.inference_memory_bytes == pytest.approx(
        4.25, abs=1e-3
    )


def test_mnist_small_arithmetic_intensity_is_about_half():
    r = report_of(MLP_128)
    # Per image: forward FLOPs over the bytes of weights and activations, ≈0.5 FLOP/byte
    # (≈219 KOp / ~441 KB; nnlint counts softmax at 5 per logit, not 2).
    flops = r.totals.inference_flops
    assert flops == 2 * 109_184 + 202 + 192 + 50
    assert flops / r.totals.inference_memory_bytes == pytest.approx(0.4956, abs=1e-4)


# ------------------------------------------------------------------ small MLPs, BERT, 6·P


def test_mlp_100_64_32_1():
    r = report_of("""
        model ex {
            input x: [100]
            h = x -> dense(64) -> relu -> dense(32) -> relu
            y = h -> dense(1) -> sigmoid
        }
    """)
    assert r.totals.params == 8_577
    assert r.totals.macs == 8_480
    assert r.totals.param_bytes == 34_308
    assert r.totals.inference_flops == 17_157  # 2·8,480 + bias 97 + ReLU 96 + sigmoid 4


def test_xor_has_nine_parameters():
    assert example_report("xor").totals.params == 9


def test_bert_base_ffn_and_attention_parameters():
    r = report_of("""
        model ffn {
            input x: [128, 768]
            a = x -> attention(12)
            f = a -> dense(3072) -> gelu -> dense(768)
        }
    """)
    att = layers(r, "attention")[0]
    dense = layers(r, "dense")
    assert att.counted_params == 2_362_368
    assert sum(d.counted_params for d in dense) == 4_722_432
    # FFN share of per-layer FLOPs: 16nd² / (24nd² + 4n²d) ≈ 65% at n = 128 (MAC view)
    ffn_macs = sum(d.train.macs for d in dense)
    assert ffn_macs / (ffn_macs + att.train.macs) == pytest.approx(0.6486, abs=1e-4)


def test_six_p_rule_is_per_example():
    # 6·P·B = 45,148,032 against the exact 45,124,416, 0.05 % apart (Kaplan et al. 2020:
    # training costs ≈ 6·P FLOPs per example)
    t = MNIST.totals
    assert 6 * t.params * 32 == 45_148_032
    assert (
        abs(6 * t.params * 32 - (t.forward_flops + t.backward_flops)) / (6 * t.params * 32) < 6e-4
    )


# ------------------------------------------------------------------ CNNs and optimizers


def test_batchnorm_after_conv():
    r = report_of("""
        model bn {
            input x: [128, 56, 56]
            h = x -> conv2d(256, 3, padding=1, bias=false) -> batchnorm
        }
        train {
            batch = 32
        }
    """)
    conv, bn = layers(r, "conv2d")[0], layers(r, "batchnorm")[0]
    assert conv.counted_params == 294_912  # "~295K"
    assert bn.counted_params == 512 and bn.train.buffers == 512
    n_d = 32 * 56 * 56 * 256
    assert 7 * n_d == 179_830_784  # "≈180M"; itemized total adds 2d + the 4d running-stat EMA
    assert bn.train.forward_flops == 179_830_784 + 2 * 256 + 4 * 256
    assert bn.train.backward_flops == 256_901_120  # 10·N·d
    assert bn.train.cached_elements == n_d + 2 * 256
    # The conv at 56×56 output costs 59.2 GFLOPs (14.8 G, a quarter, would be a 28×28 output)
    assert 2 * 32 * conv.train.macs == 59_190_018_048


def test_dropout_cost():
    r = report_of("""
        model d {
            input x: [4096]
            h = x -> dense(4096) -> dropout(0.5)
        }
        train {
            batch = 32
        }
    """)
    drop = layers(r, "dropout")[0]
    assert drop.train.forward_flops == 524_288  # 4·32·4096
    assert drop.train.backward_flops == 2 * 32 * 4096
    assert drop.infer.forward_flops == 0  # the identity at inference
    assert 2 * 32 * layers(r, "dense")[0].train.macs == 1_073_741_824


@pytest.mark.parametrize(
    "optimizer, flops, states",
    [
        ("sgd", 2 * 25_557_032, 0),
        ("momentum", 4 * 25_557_032, 1),
        ("nesterov", 5 * 25_557_032, 1),
        ("adagrad", 7 * 25_557_032, 1),
        ("rmsprop", 8 * 25_557_032, 1),
        ("adam", 14 * 25_557_032 + 2, 2),
        ("adamw", 16 * 25_557_032 + 2, 2),
    ],
)
def test_optimizer_step_flops_and_state_on_resnet50(optimizer, flops, states):
    text = (EXAMPLES / "resnet50.nn").read_text()
    text = text.replace("optimizer = momentum", f"optimizer = {optimizer}").replace(
        "precision = fp16\n    loss", "precision = fp32\n    loss"
    )
    r = report_of(text)
    assert r.totals.params == 25_557_032
    assert r.totals.optimizer_flops == flops
    assert r.totals.optimizer_bytes == states * 4 * 25_557_032


def test_resnet50_momentum_state():
    # momentum state 4P bytes ≈ 97.7 MiB for P = 25.6M (97.49 for the exact 25,557,032).
    r = example_report("resnet50")
    assert r.totals.params * 4 / 2**20 == pytest.approx(97.49, abs=0.01)


# ------------------------------------------------------------------ precisions


@pytest.mark.parametrize(
    "precision, per_param", [("fp32", 4), ("fp16", 2), ("bf16", 2), ("int8", 1), ("fp64", 8)]
)
def test_bytes_per_precision(precision, per_param):
    assert nbytes(235_146, precision) == 235_146 * per_param


def test_sub_byte_precisions_pack():
    assert nbytes(9, "int4") == 5  # 36 bits -> 5 bytes
    assert nbytes(8, "int2") == 2


def test_image_batch_tensor_fp32_and_fp16():
    # 32×3×224×224 = 4,816,896 elements: 19,267,584 B fp32, 9,633,792 B fp16
    assert nbytes(32 * 3 * 224 * 224, "fp32") == 19_267_584
    assert nbytes(32 * 3 * 224 * 224, "fp16") == 9_633_792


# ------------------------------------------------------------------ losses


@pytest.mark.parametrize(
    "head, loss, forward, fused",
    [
        ("-> softmax", "cross_entropy", 2, True),  # fused: gradient ŷ − y
        ("-> log_softmax", "cross_entropy", 2, False),  # negative log-likelihood
        ("", "cross_entropy", 2 + 3, False),  # on logits: its own log-softmax
        ("-> sigmoid", "bce", 4, True),  # fused, gradient ŷ − y
        ("", "bce", 4 + 4, False),  # on logits: its own sigmoid
        ("-> sigmoid", "mse", 3, False),
    ],
)
def test_loss_forward_and_fusion(head, loss, forward, fused):
    r = report_of(f"""
        model m {{
            input x: [16]
            y = x -> dense(4) {head}
        }}
        train {{
            batch = 8
            loss = {loss}(y)
        }}
    """)
    assert r.layer(f"loss/{loss}").train.forward_flops == forward * 8 * 4
    activation = [layer for layer in r.layers if layer.node.op in ("softmax", "sigmoid")]
    if fused:
        assert activation[0].node.fused_with_loss and activation[0].train.backward_flops == 0
    elif activation:
        assert activation[0].train.backward_flops > 0
    gradient = {"cross_entropy": 1, "bce": 1, "mse": 2}[loss]
    assert r.totals.loss_backward_flops == gradient * 8 * 4


def test_xor_backward_with_the_fused_sigmoid():
    r = example_report("xor")
    # dense 2->2 (batch 4): ∂W 32 + ∂b 8 + ∂x 32; relu 8; dense 2->1: 16 + 4 + 16;
    # the sigmoid's backward is replaced by bce's ŷ − y (4, counted apart)
    assert r.totals.backward_flops == 72 + 8 + 36
    assert r.totals.loss_backward_flops == 4
