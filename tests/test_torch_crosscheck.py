"""Independent cross-check: PyTorch's own counters on the same architectures.

For every file in ``examples/`` (``tests/torch_reference.py`` builds the same
model in plain PyTorch, written from the architecture, not from nnlint's code; the
full-size Llama 2 7B and Mixtral 8x7B at a reduced width and depth, the example's own
blocks called with the twin's sizes, ``tests/helpers.py`` ``REDUCED``):

* parameters equal ``sum(p.numel() for p in model.parameters())`` exactly;
* per-sample MACs equal half of ``FlopCounterMode``'s forward count exactly;
* backward: PyTorch skips the gradient of the model input (its input does not
  require grad), nnlint counts it (README § Counting conventions), so
  ``FlopCounterMode backward = 2 · (backward_macs − input_grad_macs)`` exactly.

Documented gap (README, "Counting conventions"): torch 2.13's counter charges a
grouped convolution's weight gradient ``groups`` times over (pytorch#183405);
``measure`` reports that excess and it is removed before comparing.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import EXAMPLES, report_of, twin_report  # noqa: E402
from torch_reference import ARCHITECTURES, measure  # noqa: E402

STEMS = sorted(p.stem for p in EXAMPLES.glob("*.nn"))


def test_every_example_has_a_torch_twin():
    assert STEMS == sorted(ARCHITECTURES)


@pytest.fixture(scope="module", params=STEMS)
def pair(request):
    return twin_report(request.param), measure(request.param)


def test_parameters_equal_torch(pair):
    report, torch_counts = pair
    assert report.totals.params == torch_counts["params"]


def test_macs_equal_half_of_flop_counter(pair):
    report, torch_counts = pair
    assert torch_counts["forward_flops"] % 2 == 0
    assert report.totals.macs == torch_counts["forward_flops"] // 2


def test_backward_differs_only_by_the_model_input_gradient(pair):
    report, torch_counts = pair
    torch_backward = (
        torch_counts["backward_flops"] - torch_counts["grouped_conv_backward_overcount"]
    )
    t = report.totals
    assert torch_backward == 2 * (t.backward_macs - t.input_grad_macs)
    # and nnlint's backward matrix work is exactly twice its forward (every layer has an
    # input gradient and, when trainable, a weight gradient of the same size) — less, in a
    # recurrent layer, the gradient into its zero initial state, which needs none
    initial_states = sum(_initial_state_macs(layer.node) for layer in report.layers)
    assert t.backward_macs == 2 * t.macs - initial_states


def _initial_state_macs(node) -> int:
    """``h_0 · W_hhᵀ``'s input gradient, which PyTorch never computes (``h_0`` is a zero
    tensor without grad): ``G·H²`` per layer and direction, G = 4 (LSTM) or 3 (GRU)."""
    gates = {"lstm": 4, "gru": 3}.get(node.op)
    if gates is None:
        return 0
    o = node.opts
    return o["layers"] * (2 if o["bidirectional"] else 1) * gates * o["hidden"] ** 2


def test_frozen_layers_drop_their_weight_gradient():
    nn = torch.nn
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)
    )
    for p in model[2].parameters():  # the middle layer is frozen
        p.requires_grad_(False)
    out = model(torch.ones(1, 64))
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()

    report = report_of("""
        model frozen {
            input x: [64]
            h = x -> dense(32) -> relu -> dense(32, trainable=false) -> relu
            y = h -> dense(10)
        }
    """)
    t = report.totals
    assert t.params == sum(p.numel() for p in model.parameters())
    assert t.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert counter.get_total_flops() == 2 * (t.backward_macs - t.input_grad_macs)
    # the frozen layer keeps its input gradient (32·32) but has no weight gradient
    assert t.backward_macs == 2 * (64 * 32 + 32 * 10) + 32 * 32


def test_tied_weights_count_once():
    nn = torch.nn
    emb = nn.Embedding(100, 16)
    head = nn.Linear(16, 100, bias=False)
    head.weight = emb.weight
    torch_params = sum(p.numel() for p in nn.ModuleList([emb, head]).parameters())
    report = report_of("""
        model tied {
            input ids: [8]
            tok = ids -> embedding(100, 16)
            logits = tok -> dense(100, bias=false, tie=tok)
        }
        train {
            optimizer = adam
        }
    """)
    assert report.totals.params == torch_params == 1_600
    assert report.totals.optimizer_bytes == 2 * 4 * 1_600
