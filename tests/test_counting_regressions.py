"""Counting bugs a new user found (issue 10, item 5), each pinned by a regression test."""

from __future__ import annotations

import textwrap

import pytest
from helpers import report_of

from nnlint.check import analyse_text, check_text

torch = pytest.importorskip("torch")
nn = torch.nn


def _layer(report, op):
    return next(layer for layer in report.layers if layer.node.op == op)


# ---------------------------------------------------- a view between softmax and the loss


@pytest.mark.parametrize("view", ["reshape(10, 1, 1)", "flatten", "reshape(2, 5) -> flatten"])
def test_a_view_after_the_final_softmax_keeps_the_fused_gradient(view):
    r = report_of(f"""
        model m {{
            input x: [4]
            probs = x -> dense(10) -> softmax -> {view}
        }}
        train {{ batch = 1
                loss = cross_entropy(probs) }}
    """)
    assert _layer(r, "softmax").train.backward_flops == 0  # fused: ŷ − y, not 4 per element
    assert _layer(r, "loss").train.forward_flops == 20  # log and negation, no log-softmax
    assert r.totals.loss_backward_flops == 10


def test_a_view_after_the_final_sigmoid_keeps_the_fused_gradient():
    r = report_of("""
        model m {
            input x: [4]
            p = x -> dense(6) -> sigmoid -> reshape(3, 2)
        }
        train { batch = 1
                loss = bce(p) }
    """)
    assert _layer(r, "sigmoid").train.backward_flops == 0
    assert _layer(r, "loss").train.forward_flops == 4 * 6  # no sigmoid of its own


def _codes(text: str) -> list[str]:
    return [d.code for d in check_text(textwrap.dedent(text), "spec.nn").diagnostics]


def test_nn104_sees_through_a_view():
    # focal applies its own softmax: on a softmax output behind a view it is a double softmax
    assert "NN104" in _codes("""
        model m {
            input x: [4]
            p = x -> dense(10) -> softmax -> reshape(10, 1, 1)
        }
        train { loss = focal(p) }
    """)
    assert "NN104" in _codes("""
        model m {
            input x: [4]
            p = x -> dense(10) -> softmax -> flatten -> softmax
        }
    """)
    # cross-entropy reads the softmax through the view: the fused pair, nothing to report
    assert "NN104" not in _codes("""
        model m {
            input x: [4]
            p = x -> dense(10) -> softmax -> reshape(10, 1, 1)
        }
        train { loss = cross_entropy(p) }
    """)


# ------------------------------------------------- a tied output projection in the roofline

GPT = """
model gpt {
    input ids: [32]
    tok    = ids -> embedding(5000, 128)
    h      = tok -> layernorm -> dense(512) -> gelu -> dense(128)
    logits = h -> layernorm -> dense(5000, bias=false, tie=tok)
}
train { precision = bf16 }
deploy { target = l4 }
"""


def test_a_tied_output_projection_reads_its_weight_in_the_roofline():
    analysis, _ = analyse_text(GPT)
    roof = analysis.roofline
    head = next(
        row for row in roof.layers if analysis.report.lowered.node(row.node_id).tie is not None
    )
    table = 5000 * 128 * 2  # bf16
    assert head.weight_bytes == table
    io = 32 * 128 * 2 + 32 * 5000 * 2  # its input and its logits
    assert head.bytes_moved == table + io
    assert head.time_s == pytest.approx((table + io) / roof.bandwidth)  # memory-bound
    # stored once: the model's parameter bytes count the shared table once
    lookup = 32 * 128 * 2  # the embedding reads only the rows it gathers
    assert roof.param_bytes == 2 * (analysis.report.totals.params - 5000 * 128) + lookup


# -------------------------------------------- an output layer tied to a frozen embedding


def test_an_output_layer_tied_to_a_frozen_embedding_has_no_weight_gradient():
    from torch.utils.flop_counter import FlopCounterMode

    r = report_of("""
        model m {
            input ids: [8]
            tok    = ids -> embedding(100, 16, trainable=false)
            h      = tok -> dense(16)
            logits = h -> dense(100, bias=false, tie=tok)
        }
        train { optimizer = adam }
    """)
    t = r.totals
    head = r.layers[-1]
    assert head.node.tie is not None
    # the head's input gradient only (8·16·100 MACs), no weight gradient
    assert head.train.backward_macs == 8 * 16 * 100
    assert t.grad_bytes == 4 * (16 * 16 + 16)  # consistent: no gradient memory for it

    torch.manual_seed(0)
    emb, mid, out = nn.Embedding(100, 16), nn.Linear(16, 16), nn.Linear(16, 100, bias=False)
    out.weight = emb.weight
    emb.weight.requires_grad_(False)
    y = out(mid(emb(torch.zeros(1, 8, dtype=torch.long))))
    with FlopCounterMode(display=False) as counter:
        y.sum().backward()
    # PyTorch skips mid's input gradient (the frozen embedding's output needs none);
    # nnlint counts it (README: every layer's input gradient)
    assert counter.get_total_flops() == 2 * (t.backward_macs - 8 * 16 * 16)
