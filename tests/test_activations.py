"""Saved activations (:mod:`nnlint.activations`) against PyTorch's autograd and Korthikanti et al.

Oracles:

* every example, built in plain PyTorch (``tests/torch_reference.py``) in fp32: the bytes of
  the tensors autograd saves (``torch.autograd.graph.saved_tensors_hooks``, once per
  storage, parameters and buffers aside) equal nnlint's figure at batch 1 in fp32 with two
  asserted differences — CPU dropout keeps its mask at the activation width (4 bytes in fp32)
  where nnlint counts CUDA's 1-byte mask, and the torch builds stop at the model's output
  (no loss) while nnlint's loss keeps its log-softmax of raw logits;
* a GPT-style spec written as Korthikanti et al. 2022 assume (dropout on the attention
  probabilities and after each block, 16-bit activations): its per-layer activations equal
  ``sbh(34 + 5as/h)`` and Table 2's tensor-parallel, sequence-parallel and recompute forms,
  plus the layer norms' per-token statistics (which the paper neglects).
"""

from __future__ import annotations

import textwrap

import pytest
from helpers import EXAMPLES, example_report, report_of

from nnlint.activations import plan_activations, saved_activations, unit_of
from nnlint.ops import CATALOG, Ctx, Op, numel
from nnlint.training import korthikanti_layer_bytes

STEMS = sorted(p.stem for p in EXAMPLES.glob("*.nn"))


def _fp32(_node) -> int:
    return 32


def _bf16(_node) -> int:
    return 16


def test_every_op_states_what_it_saves():
    for name, op in CATALOG.items():
        overridden = type(op).saved is not Op.saved
        assert overridden or op.saves in ("input", "output", "nothing"), name


def test_param_shapes_add_up_to_the_parameters():
    for stem in STEMS:
        for layer in example_report(stem).layers:
            node = layer.node
            shapes = node.kind.param_shapes(node.opts, node.in_shapes)
            assert sum(numel(s) for s in shapes) == layer.train.params, node.id


def test_unit_of():
    assert unit_of("h/decoder_layer[3]/attention#1") == "h/decoder_layer[3]"
    assert unit_of("b3/inverted_res[2]/conv2d#1") == "b3/inverted_res[2]"
    assert unit_of("h0/add#1") is None


def _saved_parts(report, op=None, tensor=None):
    total = 0
    for layer in report.layers:
        node = layer.node
        if op is not None and node.op != op:
            continue
        ctx = Ctx(node.in_shapes, node.shape, node.opts, 1, trainable=node.trainable)
        total += sum(
            p.elements for p in node.kind.saved(ctx) if tensor is None or p.tensor == tensor
        )
    return total


@pytest.mark.parametrize("stem", STEMS)
def test_saved_tensors_equal_torch_in_fp32(stem):
    torch = pytest.importorskip("torch")
    from torch_reference import ARCHITECTURES

    model, inputs = ARCHITECTURES[stem]()
    model.train()
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in state and tensor.dim() > 0:  # 0-d: Python scalars
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(*inputs)
    torch_bytes = sum(seen.values())

    report = example_report(stem)
    nnlint_bytes = plan_activations(report.lowered, _fp32, batch=1).bytes
    dropout_masks = _saved_parts(report, "dropout") + _saved_parts(report, tensor="drop_mask")
    loss = 4 * _saved_parts(report, "loss")
    assert torch_bytes == nnlint_bytes + (4 - 1) * dropout_masks - loss


# ---------------------------------------------------------------- Korthikanti et al. 2022

GPT = """
block gpt_layer(d, heads) {
    input x
    a   = x -> layernorm -> attention(heads, causal=CAUSAL, dropout=0.1) -> dropout(0.1)
    h   = add(x, a)
    f   = h -> layernorm -> dense(4 * d) -> gelu -> dense(d) -> dropout(0.1)
    out = add(h, f)
}

model gpt {
    input ids: [S]
    h = ids -> embedding(512, H) -> gpt_layer(H, A) * L
}
"""

S, H, A = 64, 128, 8


def _gpt(layers: int, causal: bool = False):
    text = (
        GPT.replace("CAUSAL", "true" if causal else "false")
        .replace("S]", f"{S}]")
        .replace("(512, H)", f"(512, {H})")
        .replace("(H, A) * L", f"({H}, {A}) * {layers}")
    )
    return report_of(textwrap.dedent(text)).lowered


def _per_layer(b, **kw):
    """One layer's bytes: the plan for 2 layers minus the plan for 1 (the embedding's ids
    cancel), on one pipeline stage."""
    causal = kw.pop("causal", False)
    two = plan_activations(_gpt(2, causal), _bf16, batch=b, **kw)
    one = plan_activations(_gpt(1, causal), _bf16, batch=b, **kw)
    return two.bytes - one.bytes


def _norm_stats(b):
    """The two layer norms' fp32 mean and rstd per token: 2 · 2 · s · b · 4 bytes."""
    return 2 * 2 * S * b * 4


@pytest.mark.parametrize("b", [1, 3])
def test_gpt_layer_is_sbh_34_plus_5as_over_h(b):
    assert _per_layer(b) == korthikanti_layer_bytes(S, b, H, A) + _norm_stats(b)


@pytest.mark.parametrize("t", [2, 4])
def test_tensor_parallel_forms(t):
    b = 2
    tp = _per_layer(b, tensor_parallel=t)
    assert tp == korthikanti_layer_bytes(S, b, H, A, t=t) + _norm_stats(b)
    sp = _per_layer(b, tensor_parallel=t, sequence_parallel=True)
    assert sp == korthikanti_layer_bytes(S, b, H, A, t=t, sequence_parallel=True) + (
        _norm_stats(b) // t
    )


@pytest.mark.parametrize("t", [1, 4])
def test_selective_and_full_recompute(t):
    b = 2
    sel = _per_layer(b, tensor_parallel=t, recompute="selective")
    assert sel == korthikanti_layer_bytes(S, b, H, A, t=t, recompute="selective") + (_norm_stats(b))
    full = _per_layer(b, tensor_parallel=t, recompute="full")
    assert full == korthikanti_layer_bytes(S, b, H, A, t=t, recompute="full") == 2 * S * b * H


def test_a_causal_mask_adds_one_byte_per_score_shared_by_the_batch():
    for b in (1, 4):
        assert _per_layer(b, causal=True) - _per_layer(b) == S * S


def test_flash_attention_keeps_the_log_sum_exp_instead_of_the_scores():
    b = 2
    flash = _per_layer(b, flash=True)
    lse = A * S * b * 4  # one fp32 per row of scores
    assert flash == korthikanti_layer_bytes(S, b, H, A, recompute="selective") + (
        _norm_stats(b) + lse
    )


def test_pipeline_first_stage_holds_p_micro_batches_of_its_layers():
    b, L, p = 1, 8, 4
    lowered = _gpt(L)
    plan = plan_activations(lowered, _bf16, batch=b, pipeline_parallel=p, micro_batches=8)
    layer = korthikanti_layer_bytes(S, b, H, A) + _norm_stats(b)
    ids = S * b * 8  # the embedding's int64 token ids, on the first stage
    assert plan.stage_bytes == (ids + 2 * layer, 2 * layer, 2 * layer, 2 * layer)
    assert plan.in_flight == (4, 3, 2, 1)
    # §4.2.3: the first stage holds L/p layers for p micro-batches: L layers' worth
    assert plan.bytes == 4 * (ids + 2 * layer) == 4 * ids + L * layer
    few = plan_activations(lowered, _bf16, batch=b, pipeline_parallel=p, micro_batches=2)
    assert few.in_flight == (2, 2, 2, 1)


def _per_node_sum(lowered, bits, batch, **kw):
    """The saved bytes of one stage summed storage by storage: each ``_elements`` count
    at ``batch``, rounded to bytes and per rank one at a time (no grouping)."""
    saved = saved_activations(lowered, bits, **kw)
    t = kw.get("tensor_parallel", 1)
    totals = []
    for stage in saved.stages:
        total = 0
        for elements, b, divided, per_sample, count in stage:
            for _ in range(count):
                n = -(-elements * (batch if per_sample else 1) * b // 8)
                total += -(-n // t) if divided else n
        totals.append(total)
    return totals


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"tensor_parallel": 4},
        {"tensor_parallel": 2, "sequence_parallel": True},
        {"pipeline_parallel": 3, "recompute": "full"},
        {"recompute": "selective", "flash": True},
    ],
)
def test_one_walk_prices_every_micro_batch(kw):
    """The walk of the graph is made once (the training plan, the largest micro-batch and
    each fix of a fit error reuse it) and priced for any batch: the same bytes as a
    walk at that batch, storage by storage, including sub-byte widths."""
    lowered = _gpt(2, True)
    for bits in (_bf16, lambda _node: 4):  # 4-bit storages round up to whole bytes
        saved = saved_activations(lowered, bits, **kw)
        for batch in (1, 2, 3, 7, 64):
            plan = saved.plan(batch, micro_batches=4)
            assert plan == plan_activations(lowered, bits, batch=batch, micro_batches=4, **kw)
            assert list(plan.stage_bytes) == _per_node_sum(lowered, bits, batch, **kw)


def test_the_training_plan_walks_once_and_its_fixes_agree():
    from nnlint.plan import largest_micro_batch, per_gpu_total, training_plan

    report = example_report("tiny_gpt")
    analysis_plan = training_plan(report, None)
    train = report.config.train
    for gpus in (train.gpus, 2 * train.gpus):
        assert per_gpu_total(report, gpus=gpus, saved=analysis_plan.saved) == per_gpu_total(
            report, gpus=gpus
        )
    memory = per_gpu_total(report, micro_batch=5) + 1
    best = largest_micro_batch(report, memory, analysis_plan.saved)
    assert best == largest_micro_batch(report, memory) == 5
    assert (
        per_gpu_total(report, micro_batch=best)
        <= memory
        < per_gpu_total(report, micro_batch=best + 1)
    )
