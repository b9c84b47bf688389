"""Pipeline parallelism places whole layers on stages (Megatron-LM, Narayanan et al. 2021;
DeepSpeed's ``partition_method="uniform"``): the repeated blocks split in order, the first
``L mod p`` stages one more, the layers before the first block on the first stage, those
after the last on the last. The model states and the saved activations per GPU are the
fullest stage's, both by :func:`nnlint.activations.node_stages`. Exact integers from the
layer shapes of a small Llama-like spec, a tied head, and the fit error's changes checked by
analysing again."""

from __future__ import annotations

import re
import textwrap

import pytest
from helpers import EXAMPLES

from nnlint.activations import node_stages, unit_of
from nnlint.check import analyse_text, check_text
from nnlint.diagnostics import Severity
from nnlint.plan import Change
from nnlint.target_ranking import plan_target
from nnlint.targets import builtin_targets
from nnlint.training import pipeline_stage_blocks

SPEC = """
block decoder(d, heads, ff) {
    input x
    a   = x -> rmsnorm -> attention(heads, bias=false, causal=true)
    h   = add(x, a)
    n   = h -> rmsnorm
    g   = n -> dense(ff, bias=false) -> silu
    u   = n -> dense(ff, bias=false)
    m   = mul(g, u) -> dense(d, bias=false)
    out = add(h, m)
}
model m {
    input ids: [16]
    e      = ids -> embedding(100, 8)
    h      = e -> decoder(8, 2, 24) * LAYERS
    logits = h -> rmsnorm -> dense(100, bias=false HEAD)
}
train {
    gpus = GPUS
    pipeline_parallel = P
    precision = bf16-mixed
    optimizer = adamw
    loss = cross_entropy(logits)
}
"""
# from the shapes: embedding 100·8; per block attention 4·8², SwiGLU 3·8·24, two rmsnorm
# gains 2·8; after the blocks the final rmsnorm 8 and the head 8·100
EMBED, BLOCK, HEAD = 100 * 8, 4 * 8 * 8 + 3 * 8 * 24 + 2 * 8, 8 + 8 * 100
assert (EMBED, BLOCK, HEAD) == (800, 848, 808)


def _analysis(layers: int, p: int, gpus: int | None = None, head: str = ""):
    text = (
        SPEC.replace("LAYERS", str(layers))
        .replace("= P", f"= {p}")
        .replace("GPUS", str(gpus or p))
        .replace(" HEAD", head)
    )
    analysis, diagnostics = analyse_text(textwrap.dedent(text))
    assert analysis is not None, [d.message for d in diagnostics]
    return analysis


@pytest.mark.parametrize(
    "blocks, p, split",
    [
        (4, 2, (2, 2)),
        (3, 2, (2, 1)),
        (5, 4, (2, 1, 1, 1)),
        (7, 3, (3, 2, 2)),
        (1, 2, (1, 0)),
        (32, 1, (32,)),
    ],
)
def test_blocks_split_in_order_the_first_stages_one_more(blocks, p, split):
    assert pipeline_stage_blocks(blocks, p) == split
    assert sum(split) == blocks and max(split) == -(-blocks // p)


@pytest.mark.parametrize(
    "layers, p, stages",
    [
        (4, 2, (EMBED + 2 * BLOCK, 2 * BLOCK + HEAD)),  # 2,496 and 2,504: the last is fuller
        (3, 2, (EMBED + 2 * BLOCK, BLOCK + HEAD)),  # 2,496 and 1,656
        (5, 4, (EMBED + 2 * BLOCK, BLOCK, BLOCK, BLOCK + HEAD)),
        (4, 1, (EMBED + 4 * BLOCK + HEAD,)),
    ],
)
def test_each_stage_holds_its_whole_layers_and_a_gpu_the_fullest(layers, p, stages):
    analysis = _analysis(layers, p)
    report = analysis.report
    assert report.totals.params == EMBED + layers * BLOCK + HEAD == sum(stages)
    # bf16-mixed AdamW: 2 + 2 + 12 bytes per parameter of the stage, d = 1
    assert [s.param_bytes for s in report.stages] == [2 * n for n in stages]
    assert [s.grad_bytes for s in report.stages] == [2 * n for n in stages]
    assert [s.optimizer_bytes for s in report.stages] == [12 * n for n in stages]
    states = analysis.training.states
    fullest = max(stages)
    assert (states.param_bytes, states.grad_bytes, states.optimizer_bytes) == (
        2 * fullest,
        2 * fullest,
        12 * fullest,
    )


def test_the_fullest_stage_is_not_the_average():
    four, three = _analysis(4, 2).training.states, _analysis(3, 2).training.states
    # 4 blocks: 2,504 parameters on the last stage, not 5,000 / 2 = 2,500
    assert four.total_bytes == 16 * 2504 == 40_064
    assert 16 * (EMBED + 4 * BLOCK + HEAD) // 2 == 40_000
    # 3 blocks: 2,496 on the first stage, not 4,152 / 2 = 2,076 (20 % more)
    assert three.total_bytes == 16 * 2496 == 39_936
    assert 16 * (EMBED + 3 * BLOCK + HEAD) // 2 == 33_216


def test_activations_and_states_use_the_same_stages():
    analysis = _analysis(5, 4)
    nodes = list(analysis.report.lowered.nodes())
    stages = node_stages([unit_of(n.id) for n in nodes], 4)
    block_stage = {}
    for node, stage in zip(nodes, stages):
        if (unit := unit_of(node.id)) is not None:
            block_stage.setdefault(unit, stage)
        elif node.op == "embedding":
            assert stage == 0
        elif node.op in ("dense", "rmsnorm"):
            assert stage == 3  # the final norm and the head
    assert list(block_stage.values()) == [0, 0, 1, 2, 3]
    saved = analysis.training.saved
    assert len(saved.stages) == 4 and saved.layers == 5
    # stages 1 and 2 hold one block each and nothing else: the same saved tensors
    assert sorted(saved.stages[1]) == sorted(saved.stages[2])
    assert sorted(saved.stages[1]) != sorted(saved.stages[0])


def test_a_head_tied_to_the_embedding_keeps_a_copy_on_the_last_stage():
    # Megatron-LM keeps the word embeddings on the last stage too, their gradients
    # all-reduced with the first stage's: counted once in the totals, on both stages here
    tied = _analysis(4, 2, head=", tie=e")
    assert tied.report.totals.params == EMBED + 4 * BLOCK + 8
    assert [s.param_bytes for s in tied.report.stages] == [
        2 * (EMBED + 2 * BLOCK),
        2 * (2 * BLOCK + 8 + 800),
    ]
    one = _analysis(4, 1, head=", tie=e")
    assert one.report.stages[0].param_bytes == 2 * (EMBED + 4 * BLOCK + 8)


def test_one_stage_keeps_the_totals():
    analysis = _analysis(4, 1, gpus=4)
    t, states = analysis.report.totals, analysis.training.states
    assert (states.param_bytes, states.grad_bytes, states.optimizer_bytes) == (
        t.param_bytes + t.buffer_bytes,
        t.grad_bytes,
        t.optimizer_bytes,
    )


LLAMA = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")


def _set(spec: str, change) -> str:
    """``spec`` with the settings of a computed change (:class:`nnlint.plan.Change`)."""
    for section, key, value in change.settings:
        assert section == "train"
        line = re.compile(rf"^(\s*){key}\s*=.*$", re.M)
        if line.search(spec):
            spec = line.sub(rf"\g<1>{key} = {value}", spec, count=1)
        else:
            spec = spec.replace("train {\n", f"train {{\n    {key} = {value}\n", 1)
    return spec


def test_llama_7b_on_two_stages_and_the_fit_errors_changes_fit_when_analysed_again():
    spec = (
        LLAMA.replace("gpus           = 8", "gpus           = 4\n    pipeline_parallel = 2")
        .replace("a100-80gb", "l4")
        .replace("grad_accum     = 8", "grad_accum     = 2")
    )
    analysis, _ = analyse_text(spec)
    per = analysis.training.states
    # 16 layers per stage; the last holds the final rmsnorm and the head: 4,096 more
    last = 16 * 202_383_360 + 4096 + 131_072_000
    assert [s.param_bytes for s in analysis.report.stages] == [
        2 * (131_072_000 + 16 * 202_383_360),
        2 * last,
    ]
    assert per.param_bytes == 2 * last // 2  # zero3 over d = 2
    assert per.optimizer_bytes == 12 * last // 2
    (d,) = [x for x in check_text(spec, "l.nn").diagnostics if x.code == "NN301"]
    target = builtin_targets()["l4"]
    changes = plan_target(analysis.report, target).training.changes
    assert d.data["fixes"] == [str(c) for c in changes]
    assert [c.settings for c in changes] == [(("train", "gpus", 30),)]
    for change in changes:
        fixed = _set(spec, change)
        again, diagnostics = analyse_text(fixed)
        assert again is not None and not [x for x in diagnostics if x.severity >= Severity.ERROR]
        assert again.report.sections.train.gpus == 30
        assert again.report.sections.train.pipeline_parallel == 2
        assert plan_target(again.report, target).training.fits
        assert not [x for x in check_text(fixed, "l.nn").diagnostics if x.code == "NN301"]
    # one GPU pair fewer (d = 14) does not fit: the fewest
    fewer = _set(spec, Change((("train", "gpus", 28),)))
    assert [x for x in check_text(fewer, "l.nn").diagnostics if x.code == "NN301"]
