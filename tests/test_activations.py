"""Saved activations (:mod:`nnlint.activations`) against PyTorch's autograd and Korthikanti et al.

Oracles:

* every example, built in plain PyTorch (``tests/torch_reference.py``) in fp32: the bytes of
  the tensors autograd saves (``torch.autograd.graph.saved_tensors_hooks``, once per
  storage, parameters and buffers aside) equal nnlint's figure at batch 1 in fp32 with
  asserted differences — CPU dropout keeps its mask at the activation width (4 bytes in fp32)
  where nnlint counts CUDA's 1-byte mask, the torch builds stop at the model's output
  (no loss) while nnlint's loss keeps its log-softmax of raw logits, and the eager twins'
  RMSNorm ``x̂``, repeated grouped K and V, and RoPE tables (:func:`_twin_extras`);
* a GPT-style spec written as Korthikanti et al. 2022 assume (dropout on the attention
  probabilities and after each block, 16-bit activations): its per-layer activations equal
  ``sbh(34 + 5as/h)`` and Table 2's tensor-parallel, sequence-parallel and recompute forms,
  plus the layer norms' per-token statistics (which the paper neglects);
* every example with the model cast to bf16 (``-true`` precisions): exactly nnlint's
  16-bit figure, with the fp32 test's two differences plus one — CPU kernels of a bf16
  model keep the norms' statistics in bf16 where nnlint counts fp32 (CUDA's kernels);
* every example under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (what Lightning's
  ``bf16-mixed`` runs): exactly the tensors each op declares it saves, priced as autocast
  stores them (``_autocast_bytes``). nnlint's ``-mixed`` figure follows Korthikanti et al.
  (every activation 16-bit); autocast differs in four ways, each priced there: tensors
  autocast leaves in fp32 (embedding and parameter outputs, and everything promoted from
  them — a transformer's residual stream) take 4 bytes; a matmul reading an fp32 tensor
  saves its own bf16 copy (attention's q, k and v projections one each); the bf16 copies
  of the weights (which nnlint counts among the model states, the 2-byte working copy of
  the mixed recipe) are saved by each convolution and by each linear layer whose input
  needs a gradient; and dropout masks take the width of their input on CPU.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from helpers import EXAMPLES, example_report, report_of, twin_report

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
    pytest.importorskip("torch")
    from torch_reference import ARCHITECTURES, saved_bytes

    model, inputs = ARCHITECTURES[stem]()
    model.train()
    torch_bytes = saved_bytes(model, inputs)

    report = twin_report(stem)
    nnlint_bytes = plan_activations(report.lowered, _fp32, batch=1).bytes
    dropout_masks = _saved_parts(report, "dropout") + _saved_parts(report, tensor="drop_mask")
    loss = 4 * _saved_parts(report, "loss")
    assert torch_bytes == nnlint_bytes + (4 - 1) * dropout_masks - loss + _twin_extras(report)


def _twin_extras(report, width=lambda _node: 4, bf16_model: bool = False) -> int:
    """Bytes the eager torch twins save beyond what nnlint counts (README, "Activations
    per GPU"), ``width(node)`` bytes per element of the node's activations: PyTorch's CPU
    RMSNorm, a composite, also keeps the normalized ``x̂`` (``T·D`` per RMSNorm with a gain,
    at its input's width; nnlint counts its input and ``1/rms``, what the backward needs);
    eager grouped-query attention repeats K and V to the query heads before the products
    (``repeat_interleave``, as Hugging Face's ``repeat_kv``), which then keep the repeated
    copies, ``2·T_kv·(D − D_kv)`` more (nnlint counts K and V once, as a GQA-aware kernel
    reads them); and RoPE's cos and sin tables, computed at each call, are kept by the
    rotation's products, ``2·(T + T_kv)·d_h`` (nnlint counts none: constants that do not
    grow with the batch, shared by every layer in real implementations)."""
    extra = 0
    for layer in report.layers:
        node = layer.node
        if node.op == "rmsnorm" and node.opts["affine"] and bf16_model:
            # a bf16 model's CPU RMSNorm computes in fp32: it keeps an fp32 copy of its
            # input beside nnlint's bf16 one, x̂ in fp32, and 1/rms in fp32 (which the bf16
            # test's statistics correction prices at 2 bytes)
            t_d = numel(node.in_shapes[0])
            extra += 4 * t_d + 4 * t_d - 2 * t_d + 2 * numel(node.in_shapes[0][:-1])
        elif node.op == "rmsnorm" and node.opts["affine"]:
            extra += numel(node.in_shapes[0]) * width(report.lowered.node(node.inputs[0]))
        if node.op == "attention":
            (t, d), (t_kv, _) = node.in_shapes[0], node.in_shapes[-1]
            heads = node.opts["heads"]
            d_kv = (node.opts["kv_heads"] or heads) * (d // heads)
            elements = 2 * t_kv * (d - d_kv)
            if node.opts["rope"]:
                elements += 2 * (t + t_kv) * (d // heads)
            extra += elements * width(node)
    return extra


@pytest.mark.parametrize("stem", STEMS)
def test_saved_tensors_equal_torch_in_bf16(stem):
    torch = pytest.importorskip("torch")
    from torch_reference import ARCHITECTURES, saved_bytes

    model, inputs = ARCHITECTURES[stem]()
    model.train().to(torch.bfloat16)
    inputs = [x.to(torch.bfloat16) if x.is_floating_point() else x for x in inputs]
    torch_bytes = saved_bytes(model, inputs)

    report = twin_report(stem)
    nnlint_bytes = plan_activations(report.lowered, _bf16, batch=1).bytes
    dropout_masks = _saved_parts(report, "dropout") + _saved_parts(report, tensor="drop_mask")
    loss = 2 * _saved_parts(report, "loss")
    stats = sum(
        p.elements
        for layer in report.layers
        for p in layer.node.kind.saved(
            Ctx(layer.node.in_shapes, layer.node.shape, layer.node.opts, 1)
        )
        if p.kind == "stat" and not p.flash_only
    )
    extras = _twin_extras(report, lambda _node: 2, bf16_model=True)
    assert torch_bytes == nnlint_bytes + (2 - 1) * dropout_masks - loss - (4 - 2) * stats + extras


#: Ops torch.autocast runs in bf16 on CPU (its lower-precision list: linear, the
#: convolutions, matmul, scaled_dot_product_attention); every other op keeps the widest
#: dtype of its inputs (norms, activations, pooling, add and mul included).
_AUTOCAST_LOWERED = {"dense", "conv1d", "conv2d", "conv_transpose2d", "attention", "matmul"}
# ... and the fused recurrent kernel (``mkldnn_rnn_layer``): input and weights cast once
_AUTOCAST_LOWERED |= {"lstm", "gru"}


def _autocast_widths(nodes) -> dict[str, int]:
    """Bytes per element of each node's output under autocast (see :data:`_AUTOCAST_LOWERED`)."""
    width: dict[str, int] = {}
    for n in nodes:
        if n.op in _AUTOCAST_LOWERED:
            width[n.id] = 2
        elif n.op in ("input", "param", "embedding"):  # data and fp32 weights, uncast
            width[n.id] = 4
        else:
            width[n.id] = max(width[s] for s in n.inputs)
    return width


def _autocast_bytes(report) -> int:
    """The tensors each op declares it saves (:meth:`Op.saved`), priced as
    ``torch.autocast("cpu", dtype=torch.bfloat16)`` stores them (see the module docstring);
    the model's output is where the torch builds stop, so the loss saves nothing."""
    nodes = list(report.lowered.nodes())
    by_id = {n.id: n for n in nodes}
    width = _autocast_widths(nodes)  # bytes per element of each node's output
    needs_grad: dict[str, bool] = {}
    storage: dict[str, str] = {}
    for n in nodes:
        storage[n.id] = storage[n.inputs[0]] if n.kind.is_view else n.id
        own = n.trainable and n.kind.param_shapes(n.opts, n.in_shapes)
        needs_grad[n.id] = n.op != "input" and bool(
            own or n.tie or any(needs_grad[s] for s in n.inputs)
        )
    kept: dict[object, int] = {}
    for n in nodes:
        if n.kind.is_loss:
            continue
        ctx = Ctx(n.in_shapes, n.shape, n.opts, 1, trainable=n.trainable, training=True)
        for p in n.kind.saved(ctx):
            if p.flash_only:
                continue
            index = re.fullmatch(r"in(\d+)", p.tensor)
            elements = p.elements
            if index and n.op in _AUTOCAST_LOWERED and p.kind == "act":
                src = n.inputs[int(index.group(1))]
                if width[src] == 4:  # each matmul reading it saves its own bf16 copy
                    copies = 1
                    if n.op == "attention":  # q, k, v project x; cross: q x, k and v mem
                        copies = (1 if p.tensor == "in0" else 2) if len(n.inputs) > 1 else 3
                    kept[n.id, p.tensor] = 2 * copies * elements
                    continue
            if index:
                src = n.inputs[int(index.group(1))]
                key = storage[src]
                if key != src and elements == numel(by_id[src].shape):
                    elements = numel(by_id[key].shape)  # a view saved whole keeps its base
            elif p.tensor == "out":
                key = storage[n.id]
            else:
                key = f"{n.id}#{p.tensor}"
            if p.kind == "mask" and n.op == "dropout":  # CPU dropout: the input's width
                nbytes = width[n.inputs[0]]
            elif p.kind == "mask":  # attention's dropout on bf16 probabilities; causal: bool
                nbytes = 2 if p.tensor == "drop_mask" else 1
            elif p.kind == "index":
                nbytes = 8
            elif p.kind == "stat":  # fp32 statistics beside fp32 norm weights
                nbytes = 4
            else:
                nbytes = width[key] if key in by_id else width[n.id]
            kept.setdefault(key, elements * nbytes)
        if n.op in _AUTOCAST_LOWERED and n.op != "matmul":
            # the bf16 weight copies: a convolution saves its weight always, a linear
            # layer (and attention's projections) only for its input's gradient
            if n.op.startswith("conv") or any(needs_grad[s] for s in n.inputs):
                for i, shape in enumerate(n.kind.param_shapes(n.opts, n.in_shapes)):
                    if len(shape) >= 2:
                        kept[n.id, "weight", i] = 2 * numel(shape)
    return sum(kept.values())


@pytest.mark.parametrize("stem", STEMS)
def test_saved_tensors_equal_torch_under_bf16_autocast(stem):
    pytest.importorskip("torch")
    from torch_reference import ARCHITECTURES, saved_bytes

    model, inputs = ARCHITECTURES[stem]()
    model.train()
    torch_bytes = saved_bytes(model, inputs, autocast=True)
    report = twin_report(stem)
    width = _autocast_widths(report.lowered.nodes())
    extras = _twin_extras(report, lambda n: width[n.id]) + _moe_autocast(report, width)
    assert torch_bytes == _autocast_bytes(report) + extras


def _moe_autocast(report, width) -> int:
    """What autocast changes in a ``moe`` on an fp32 input beside ``_autocast_bytes``'s
    pricing of its declared tensors at the input's width: the router saves a bf16 copy of
    the input instead of the input, and the bf16 copy of its weight; every expert the bf16
    copies of its three weights; a routed token's gathered row is cast once for each of the
    gate and up projections (2 copies of 2 bytes, as priced), but the expert's insides
    (silu input, both factors, the down projection's input, its output) are bf16; the
    router scores, so the gates, stay bf16 (CPU autocast keeps softmax in the input's
    dtype)."""
    extra = 0
    for layer in report.layers:
        node = layer.node
        if node.op != "moe":
            continue
        assert width[node.inputs[0]] == 4
        t, d = numel(node.in_shapes[0][:-1]), node.in_shapes[0][-1]
        e, k, h = node.opts["experts"], node.opts["top_k"], node.opts["hidden"]
        assert node.opts["shared"] == 0
        extra += -2 * t * d + 2 * d * e + e * 2 * 3 * d * h - t * k * (2 * d + 8 * h) - 4 * t * k
    return extra


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
    train = report.sections.train
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
