"""Mixture of experts (``moe``) and the ``active_params`` total, against PyTorch.

``tests/oracle.py`` draws ``moe`` layers into random specs (params, MACs, backward MACs
against ``FlopCounterMode``); here: the parameters one token really uses (the modules
PyTorch runs for it), what autograd saves, the FLOPs PyTorch's counter does not see
(by hand), and the figure reaching the JSON, the text report and the budget.
"""

from __future__ import annotations

import json

import pytest
from helpers import EXAMPLES, layers, report_of

from nnlint.activations import plan_activations
from nnlint.check import analyse_text, check_text
from nnlint.tables import report_text

torch = pytest.importorskip("torch")

from torch_reference import MoE, saved_bytes  # noqa: E402

SPEC = """
model m {
    input x: [T, 12]
    h = x -> rmsnorm -> moe(5, 2, 7SHARED)
}
train {
    batch = 3
}
"""


def _spec(t: int = 4, shared: int = 0, trainable: bool = True) -> str:
    extra = (f", shared={shared}" if shared else "") + ("" if trainable else ", trainable=false")
    return SPEC.replace("[T,", f"[{t},").replace("7SHARED", f"7{extra}")


@pytest.mark.parametrize("shared", [0, 1, 3])
def test_active_params_are_the_modules_torch_runs_for_one_token(shared):
    torch.manual_seed(shared)
    moe = MoE(12, 5, 2, 7, shared)
    norm = torch.nn.RMSNorm(12)
    ran: set[torch.nn.Module] = set()

    def hook(module, args, _out):
        if args[0].shape[0]:  # an expert no token was routed to runs on zero rows
            ran.add(module)

    for m in (moe.router, *moe.experts, *moe.shared):
        m.register_forward_hook(hook)
    moe(norm(torch.randn(1, 1, 12)))  # one token
    used = sum(p.numel() for m in ran for p in m.parameters()) + 12  # and the norm's gain
    assert len(ran) == 1 + 2 + shared  # the router, top_k experts, the shared ones
    t = report_of(_spec(shared=shared)).totals
    assert t.active_params == used
    assert t.params == sum(p.numel() for p in moe.parameters()) + 12
    # 12·5 router + (5 + S) experts of 3·12·7; a token uses 2 + S of them
    assert (t.params, t.active_params) == (
        12 + 60 + (5 + shared) * 252,
        12 + 60 + (2 + shared) * 252,
    )


def test_a_model_without_moe_uses_every_parameter():
    t = report_of("model m {\n input x: [8]\n y = x -> dense(4) -> relu -> dense(2)\n}").totals
    assert t.active_params == t.params == 8 * 4 + 4 + 4 * 2 + 2


@pytest.mark.parametrize(("shared", "trainable"), [(0, True), (2, True), (1, False)])
def test_saved_tensors_equal_torch_in_fp32(shared, trainable):
    """nnlint's saved-activation figure for a moe layer equals the bytes autograd saves for
    the explicit-routing implementation (once per storage, parameters aside), after a
    trainable dense layer (so that a frozen one's input needs a gradient)."""
    torch.manual_seed(0)
    t = 6
    moe = MoE(12, 5, 2, 7, shared)
    for p in moe.parameters():
        p.requires_grad_(trainable)
    model = torch.nn.Sequential(torch.nn.Linear(12, 12), moe)
    torch_bytes = saved_bytes(model, [torch.randn(1, t, 12)])
    spec = f"model m {{\n input x: [{t}, 12]\n y = x -> dense(12) -> moe(5, 2, 7, shared={shared}"
    spec += ("" if trainable else ", trainable=false") + ")\n}\n"
    plan = plan_activations(report_of(spec).lowered, lambda _n: 32, batch=1)
    assert torch_bytes == plan.bytes


def test_flops_by_hand():
    # T = 4 tokens of D = 12, E = 5 experts, k = 2, H = 7, no shared expert, batch 3
    (layer,) = layers(report_of(_spec()), "moe")
    T, D, E, k, H, B = 4, 12, 5, 2, 7, 3
    macs = T * D * E + T * k * 3 * D * H  # router 240 + experts 4·2·252 = 2,256
    assert layer.train.macs == macs == 2_256
    # per token: top-2 of 5 by two passes of a max (8 compares), softmax over 2 (10),
    # silu and product over 2·7 hidden (84), gate weighting 2·12, summing 2 outputs 12
    per_token = 8 + 10 + 84 + 24 + 12
    assert layer.train.forward_flops == B * (2 * macs + T * per_token)
    # backward: input and weight gradients of every product; per token silu 5 and product 2
    # over 2·7 hidden, the weighted outputs' gradient 2·12 and the gate weights' two dot
    # products of 12 (2·24), softmax 4·2
    assert layer.train.backward_macs == 2 * macs
    per_token = 98 + 24 + 48 + 8
    assert layer.train.backward_flops == B * (4 * macs + T * per_token)


def test_active_params_in_json_report_and_budget():
    spec = _spec(shared=1) + "budget {\n    active_params <= 1k\n}\n"
    result = check_text(spec, "m.nn")
    totals = json.loads(json.dumps(result.model))["totals"]
    assert totals["active_params"] == 12 + 60 + 3 * 252 == 828
    assert totals["params"] == 12 + 60 + 6 * 252
    assert not [d for d in result.diagnostics if d.code == "NN501"]
    over = check_text(_spec(shared=1) + "budget {\n    active_params <= 800\n}\n", "m.nn")
    (d,) = [d for d in over.diagnostics if d.code == "NN501"]
    assert "828" in d.message and "800" in d.message

    analysis, _ = analyse_text(_spec(shared=1))
    text = report_text(analysis, "m.nn")
    assert "active parameters per token" in text and "828" in text


def test_top_k_beyond_the_experts_is_a_located_error():
    result = check_text("model m {\n    input x: [4, 8]\n    y = x -> moe(4, 5, 16)\n}\n", "m.nn")
    (d,) = [d for d in result.diagnostics if d.severity.name == "ERROR"]
    assert d.code == "NN007" and d.span.line == 3
    assert "top_k=5 is more than its 4 experts" in d.message


MIXTRAL = (EXAMPLES / "mixtral_8x7b.nn").read_text(encoding="utf-8")
# Mixtral 8x7B's figures, from its shapes (see the example's header)
VOCAB_ROWS, D, EXPERT, LAYERS = 32000, 4096, 3 * 4096 * 14336, 32


def _served(concurrency: int):
    deploy = (
        "deploy {\n    target = h100-sxm\n    precision = bf16\n    context = 4096\n"
        f"    concurrency = {concurrency}\n}}\n"
    )
    analysis, diagnostics = analyse_text(MIXTRAL + deploy)
    assert analysis is not None, [d.message for d in diagnostics]
    return analysis


@pytest.mark.parametrize(
    ("concurrency", "experts_read"),
    [(1, 2), (2, 4), (3, 6), (4, 8), (16, 8)],
)
def test_a_decode_step_reads_only_the_experts_its_tokens_visit(concurrency, experts_read):
    analysis = _served(concurrency)
    t, serving = analysis.report.totals, analysis.serving
    assert t.params == 46_702_792_704 and t.active_params == 12_879_925_248
    # one token per sequence: each visits its top 2 of 8 experts in every layer, so a step
    # reads at most 2·concurrency of them (no two tokens share one), every expert from 4
    # sequences on; the embedding gathers one row per sequence
    unread = LAYERS * (8 - experts_read) * EXPERT + VOCAB_ROWS * D - concurrency * D
    assert serving.decode_weight_bytes == 2 * (t.params - unread)
    if concurrency == 1:  # exactly the parameters one token uses, less the unread table
        assert serving.decode_weight_bytes == 2 * (t.active_params - VOCAB_ROWS * D + D)
    # memory holds every expert whatever the step reads
    assert serving.weights_bytes == 2 * t.params
    # decode is memory-bound on the H100: weights read + cache over its bandwidth
    h100 = analysis.target
    overhead = len(analysis.roofline.layers) * h100.launch_overhead_s
    moved = serving.decode_weight_bytes + serving.kv_cache_bytes
    assert serving.decode_latency_s == pytest.approx(moved / h100.bandwidth + overhead, rel=1e-12)


def test_the_roofline_moves_the_experts_a_batch_visits():
    spec = _spec(t=1) + "deploy {\n    target = h100-sxm\n    precision = fp32\n}\n"
    analysis, _ = analyse_text(spec)
    (kernel,) = [k for k in analysis.roofline.layers if "moe" in k.node_id]
    # one token, fp32: the router 12·5 and the 2 experts it visits, 3·12·7 each
    assert kernel.weight_bytes == 4 * (12 * 5 + 2 * 3 * 12 * 7)
    analysis, _ = analyse_text(_spec(t=4) + "deploy {\n    target = h100-sxm\n}\n")
    (kernel,) = [k for k in analysis.roofline.layers if "moe" in k.node_id]
    # four tokens visit up to 8 expert slots: all 5 experts are read
    assert kernel.weight_bytes == 4 * (12 * 5 + 5 * 3 * 12 * 7)
