"""Expert parallelism (``train.expert_parallel``): the routed experts of every ``moe`` layer
divided among ranks carved out of the data-parallel ones (Megatron-Core's
``--expert-model-parallel-size``; DeepSpeed-MoE, Rajbhandari et al. 2022). Per-GPU model
states held to the formula written out from Mixtral 8x7B's layer shapes, exact; the
located errors of a size that does not fit the GPUs or the experts, or a model without
experts; the computed change NN301 and ``nnlint plan`` name, checked by analysing again;
and the parameters and Adam state one rank of a PyTorch mixture of experts holds."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import EXAMPLES, report_of

from nnlint.check import analyse_text, check_text
from nnlint.target_ranking import plan_target
from nnlint.targets import builtin_targets

MIXTRAL = (EXAMPLES / "mixtral_8x7b.nn").read_text(encoding="utf-8")

# Mixtral 8x7B from its shapes (examples/mixtral_8x7b.nn): d = 4096, 32 layers, 8 SwiGLU
# experts of width 14336 per layer, 32000-token vocabulary, 8 key/value heads of 128.
D, H, E, L, V = 4096, 14336, 8, 32, 32000
ROUTED = L * E * 3 * D * H  # the routed experts: what expert parallelism divides
DENSE = V * D + L * (2 * D * D + 2 * D * 1024 + D * E + 2 * D) + D + V * D  # router included
assert DENSE + ROUTED == 46_702_792_704  # the published 46.7 B


def _train(keys: str, text: str = MIXTRAL) -> str:
    return text.replace("train {", "train {\n    " + keys.replace("\n", "\n    "), 1)


def _analysis(text):
    analysis, diagnostics = analyse_text(textwrap.dedent(text))
    assert analysis is not None and not diagnostics, [d.message for d in diagnostics]
    return analysis


@pytest.mark.parametrize("pipeline", [1, 2])
@pytest.mark.parametrize("sharding", ["none", "zero1", "zero2", "zero3"])
def test_mixtral_per_gpu_states_divide_the_experts_by_tp_pp_ep(sharding, pipeline):
    t, p, n = 2, pipeline, 8
    spec = _train(
        f"gpus = 64\ntensor_parallel = {t}\npipeline_parallel = {p}\n"
        f"expert_parallel = {n}\nsharding = {sharding}"
    )
    analysis = _analysis(spec)
    assert analysis.report.totals.buffer_bytes == 0
    plan = analysis.training.as_dict()
    d = 64 // (t * p)
    assert (plan["data_parallel"], plan["expert_parallel"]) == (d, n)
    stage = {"none": 0, "zero1": 1, "zero2": 2, "zero3": 3}[sharding]

    # the fullest pipeline stage's whole layers: with p = 2 each stage holds 16 layers, the
    # first also the embedding, the last the final norm and the head (D more: the fullest)
    layer = 2 * D * D + 2 * D * 1024 + D * E + 2 * D  # attention, router, two rmsnorms
    stage_dense = DENSE if p == 1 else L // p * layer + D + V * D
    stage_routed = ROUTED // p

    def per_gpu(bytes_per_param: int, level: int) -> int:
        # bf16-mixed AdamW: 2 + 2 + 12 (fp32 master 4, moments 8) bytes per parameter.
        # dense: / t, sharded over d; experts: / (t·N), sharded over d / N
        dense, routed = bytes_per_param * stage_dense, bytes_per_param * stage_routed
        assert dense % (t * d) == 0 and routed % (t * n * (d // n)) == 0
        if stage >= level:
            return dense // t // d + routed // (t * n) // (d // n)
        return dense // t + routed // (t * n)

    per = plan["per_gpu"]
    if p == 2:  # not the average stage: the even split DENSE / 2 is D / 2 short
        assert stage_dense == DENSE // 2 + D // 2
    assert per["param_bytes"] == per_gpu(2, 3)
    assert per["grad_bytes"] == per_gpu(2, 2)
    assert per["optimizer_bytes"] == per_gpu(12, 1)
    assert per["total_bytes"] == (
        per_gpu(2, 3) + per_gpu(2, 2) + per_gpu(12, 1) + per["activation_bytes"]
    )


def test_mixtral_figures():
    # 64 GPUs, tensor 2, expert 8: each GPU holds the dense half-shards and 1 of 8 experts
    per = _analysis(_train("gpus = 64\ntensor_parallel = 2\nexpert_parallel = 8")).training
    assert (per.states.param_bytes, per.states.optimizer_bytes) == (
        DENSE + ROUTED // 8,
        6 * DENSE + 6 * ROUTED // 8,
    )
    assert per.states.param_bytes == 7_242_780_672
    zero1 = _analysis(
        _train("gpus = 64\ntensor_parallel = 2\nexpert_parallel = 8\nsharding = zero1")
    ).training
    # a sharded state is spread over t·d = t·(N·d/N) ranks either way: EP leaves it as is
    assert zero1.states.optimizer_bytes == 12 * (DENSE + ROUTED) // 64 == 8_756_773_632


def test_expert_parallel_leaves_activations_as_they_are():
    one = _analysis(_train("gpus = 64\ntensor_parallel = 2")).training
    eight = _analysis(_train("gpus = 64\ntensor_parallel = 2\nexpert_parallel = 8")).training
    assert eight.activation_bytes == one.activation_bytes
    # expert_parallel = 1 keeps the dense formula: every state over t·p alone
    assert one.states.param_bytes == (DENSE + ROUTED)  # 2 bytes each, over t = 2
    assert one.expert_parallel == 1


def test_json_training_carries_expert_parallel():
    spec = _train("gpus = 16\nexpert_parallel = 4\nsharding = zero3")
    entry = json.loads(json.dumps(check_text(spec, "m.nn").model))
    assert entry["training"]["expert_parallel"] == 4
    assert entry["training"]["data_parallel"] == 16


def test_the_router_and_shared_experts_are_dense():
    # fp32, sgd (no optimizer state), one rank per expert group: 2 of 4 routed experts
    spec = """
    model m {
        input x: [6, 10]
        h = x -> moe(4, 2, 3, shared=1)
    }
    train {
        gpus = 2
        expert_parallel = 2
    }
    """
    analysis = _analysis(spec)
    experts = analysis.report.experts
    assert (experts.divisor, experts.param_bytes, experts.optimizer_bytes) == (
        4,
        4 * 4 * 3 * 10 * 3,
        0,
    )
    router, shared, routed = 10 * 4, 3 * 10 * 3, 4 * 3 * 10 * 3
    assert analysis.training.states.param_bytes == 4 * (router + shared + routed // 2)


def test_adafactor_factors_each_expert_matrix_and_divides_them():
    spec = """
    model m {
        input x: [6, 10]
        h = x -> moe(4, 2, 3)
    }
    train {
        gpus = 4
        expert_parallel = 4
        optimizer = adafactor
    }
    """
    analysis = _analysis(spec)
    # router [4, 10] and, per expert, [3, 10], [3, 10], [10, 3]: rows + columns, fp32
    router, expert = 4 + 10, (3 + 10) * 2 + (10 + 3)
    assert analysis.report.totals.optimizer_bytes == 4 * (router + 4 * expert)
    assert analysis.training.states.optimizer_bytes == 4 * (router + expert)


# ------------------------------------------------------------------ located errors

MLP = """
model m {
    input x: [784]
    h = x -> dense(256) -> relu -> dense(10)
}
train {
    gpus = 4
    KEY
}
"""


def _error(text: str):
    analysis, diagnostics = analyse_text(textwrap.dedent(text))
    (d,) = diagnostics
    assert d.code == "NN012"
    return analysis, d


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "expert_parallel must be at least 1, got 0"),
        ("2.5", "expert_parallel must be a whole number, got 2.5"),
        ("zero1", "expected a number, got `zero1`"),
    ],
)
def test_expert_parallel_is_a_whole_number_at_least_one(value, message):
    _, d = _error(MIXTRAL.replace("train {", f"train {{\n    expert_parallel = {value}"))
    assert message in d.message
    assert (d.span.line, d.span.column) == (29, 23)


def test_expert_parallel_must_divide_the_data_parallel_size():
    spec = _train("gpus = 48\ntensor_parallel = 2\nexpert_parallel = 16")
    analysis, d = _error(spec)
    assert d.message == (
        "expert_parallel = 16 does not divide the data-parallel size gpus / (tp·pp) = 24: "
        "the expert-parallel group is carved out of the data-parallel ranks"
    )
    assert (d.span.line, d.span.column) == (31, 5)
    assert d.fix == (
        "set expert_parallel to a divisor of 24 (1, 2, 3, 4, 6, 8, 12, 24), or gpus to a "
        "multiple of tp·pp·expert_parallel = 32"
    )
    assert analysis.training.expert_parallel == 1  # the section falls back to its defaults


def test_expert_parallel_must_divide_every_moe_layers_experts():
    spec = _train("gpus = 64\ntensor_parallel = 2\nexpert_parallel = 16")
    analysis, d = _error(spec)
    assert d.message == (
        "expert_parallel = 16 does not divide the 8 routed experts of `moe(8, 2, 14336)` "
        "(line 18): each expert-parallel rank holds experts / expert_parallel whole experts"
    )
    assert (d.span.line, d.span.column) == (31, 5)
    assert d.fix == (
        "set expert_parallel to a divisor of both the experts (8) and the data-parallel "
        "size (32): 1, 2, 4, 8"
    )
    # analysed on with expert_parallel = 1; an error stops the rules
    assert analysis.training.expert_parallel == 1
    assert [x.code for x in check_text(spec, "m.nn").diagnostics] == ["NN012"]


def test_a_model_without_experts_has_none_to_split():
    _, d = _error(MLP.replace("KEY", "expert_parallel = 2"))
    assert "there are no experts to split" in d.message
    assert (d.span.line, d.span.column) == (8, 5)
    assert d.fix == "remove `expert_parallel` (or set it to 1)"
    # 1 is the default, and fine anywhere
    assert _analysis(MLP.replace("KEY", "expert_parallel = 1")).training.expert_parallel == 1


# ------------------------------------------------------------------ the computed change

FIT = """
train {
    gpus = 64
    tensor_parallel = 2
    sharding = zero1
    recompute = full
"""


def _on(target: str, keys: str = "") -> str:
    spec = MIXTRAL.replace("train {\n", FIT + keys, 1)
    return spec + f"\ndeploy {{\n    target = {target}\n}}\n"


def _need(spec: str) -> int:
    return _analysis(spec).training.total_bytes


@pytest.mark.parametrize(("target", "smallest"), [("h100-sxm", 2), ("a100-40gb", 4)])
def test_nn301_names_the_smallest_expert_parallel_size_that_fits(target, smallest):
    memory = builtin_targets()[target].memory_bytes
    (d,) = [x for x in check_text(_on(target), "m.nn").diagnostics if x.code == "NN301"]
    assert (
        f"expert_parallel = {smallest} (the smallest expert-parallel size that fits on 64 "
        f"GPUs)" in d.message
    )
    assert f"expert_parallel = {smallest}" in d.fix
    # written into the spec, it fits; the divisor below it does not
    assert _need(_on(target, f"    expert_parallel = {smallest}\n")) <= memory
    assert _need(_on(target, f"    expert_parallel = {smallest // 2}\n")) > memory
    fits = check_text(_on(target, f"    expert_parallel = {smallest}\n"), "m.nn").diagnostics
    assert not [x for x in fits if x.code == "NN301"]


def test_nnlint_plan_names_an_expert_parallel_size_that_fits_when_analysed_again():
    report = _analysis(_on("a100-40gb")).report
    target = builtin_targets()["a100-40gb"]
    fit = plan_target(report, target).training
    assert not fit.fits
    (change,) = [c for c in fit.changes if c.settings[0][1] == "expert_parallel"]
    assert change.settings == (("train", "expert_parallel", 4),)
    again = _analysis(_on("a100-40gb", "    expert_parallel = 4\n")).report
    assert plan_target(again, target).training.fits


def test_more_gpus_keep_a_data_parallel_size_the_experts_divide():
    # with expert_parallel = 8, the fewest GPUs named keep d a multiple of 8
    spec = _on("a100-40gb", "    expert_parallel = 8\n").replace("gpus = 64", "gpus = 16")
    (d,) = [x for x in check_text(spec, "m.nn").diagnostics if x.code == "NN301"]
    assert "data 8 (expert 8) × tensor 2" in d.message
    named = [c for c in d.data["fixes"] if c.startswith("gpus = ")]
    assert named
    gpus = int(named[0].split()[2])
    assert (gpus // 2) % 8 == 0


def test_a_model_without_experts_gets_no_expert_parallel_change():
    llama = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")
    spec = llama.replace("gpus           = 8", "gpus           = 2").replace(
        "a100-80gb", "a100-40gb"
    )
    (d,) = [x for x in check_text(spec, "l.nn").diagnostics if x.code == "NN301"]
    assert "expert_parallel" not in d.message


NONE_FITS = """
train {
    gpus = 64
    tensor_parallel = 2
    sharding = zero1
"""


def _none_fits(keys: str = "", target: str = "a100-40gb") -> str:
    """Mixtral on 64 A100-40GBs without recompute: its 39.45 GiB of saved activations
    alone leave no single change that fits."""
    spec = MIXTRAL.replace("train {\n", NONE_FITS + keys, 1)
    return spec + f"\ndeploy {{\n    target = {target}\n}}\n"


def _nn301(spec: str, name: str = "m.nn"):
    (d,) = [x for x in check_text(spec, name).diagnostics if x.code == "NN301"]
    return d


def test_when_nothing_single_fits_nn301_names_expert_parallelism_among_the_levers():
    memory = builtin_targets()["a100-40gb"].memory_bytes
    d = _nn301(_none_fits())
    assert d.data["fixes"] == []
    assert d.message.endswith(
        "; no micro-batch, GPU count, sharding stage, expert-parallel size or recompute "
        "setting fits"
    )
    assert d.fix == (
        "add tensor, pipeline or expert parallelism (`expert_parallel` splits the `moe` "
        "layers' experts among the data-parallel ranks), a narrower precision or lighter "
        "optimizer, or train on devices with more memory"
    )
    # no expert-parallel size fits alone (the message says so), one does with recompute
    for n in (2, 4, 8):
        assert _need(_none_fits(f"    expert_parallel = {n}\n")) > memory
    assert _need(_none_fits("    recompute = full\n")) > memory
    assert _need(_none_fits("    expert_parallel = 8\n    recompute = full\n")) <= memory


def test_with_expert_parallelism_already_on_nn301_names_only_the_sizes_it_tried():
    d = _nn301(_none_fits("    expert_parallel = 2\n"))
    assert d.message.endswith(
        "; no micro-batch, GPU count, sharding stage, expert-parallel size or recompute "
        "setting fits"
    )
    assert d.fix.startswith("add tensor or pipeline parallelism, a narrower precision")
    # at the size that divides every layer's experts there is no larger one to try (on a
    # 24 GB GPU, where recompute = full is 24.51 GB)
    d = _nn301(_none_fits("    expert_parallel = 8\n", target="rtx-4090"))
    assert d.message.endswith(
        "; no micro-batch, GPU count, sharding stage or recompute setting fits"
    )


def test_a_dense_model_that_nothing_fits_keeps_its_levers():
    llama = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")
    spec = llama.replace("a100-80gb", "t4").replace("gpus           = 8", "gpus = 1")
    spec = spec.replace("sharding       = zero3", "sharding = none")
    d = _nn301(spec, "l.nn")
    assert d.message.endswith(
        "; no micro-batch, GPU count, sharding stage or recompute setting fits"
    )
    assert d.fix == (
        "add tensor or pipeline parallelism, a narrower precision or lighter optimizer, or "
        "train on devices with more memory"
    )


# ------------------------------------------------------------------ PyTorch, one rank


@pytest.mark.parametrize("n", [2, 4, 8])
def test_one_rank_of_a_torch_moe_holds_nnlints_per_gpu_states(n):
    """Split the expert list of a PyTorch mixture of experts into ``n`` groups: every rank
    keeps the norm, the router, the shared expert and its ``8 / n`` routed experts; the
    parameters it holds and the Adam state ``torch.optim.Adam`` keeps for them after one
    step (the ``step`` scalars aside) equal nnlint's per-GPU figures in fp32."""
    torch = pytest.importorskip("torch")
    from torch_reference import MoE

    torch.manual_seed(n)
    moe, norm = MoE(12, 8, 2, 7, shared=1), torch.nn.RMSNorm(12)
    spec = f"""
    model m {{
        input x: [4, 12]
        h = x -> rmsnorm -> moe(8, 2, 7, shared=1)
    }}
    train {{
        gpus = {n}
        expert_parallel = {n}
        optimizer = adam
    }}
    """
    states = _analysis(spec).training.states
    per = 8 // n
    for rank in range(n):
        modules = [norm, moe.router, *moe.shared, *moe.experts[rank * per : (rank + 1) * per]]
        params = [p for m in modules for p in m.parameters()]
        for p in params:
            p.grad = torch.ones_like(p)
        adam = torch.optim.Adam(params)
        adam.step()
        held = sum(p.numel() * p.element_size() for p in params)
        state = sum(
            v.numel() * v.element_size()
            for s in adam.state.values()
            for k, v in s.items()
            if k != "step"
        )
        assert states.param_bytes == states.grad_bytes == held
        assert states.optimizer_bytes == state
    # and the whole model is n ranks' routed experts plus one copy of the rest
    assert report_of(textwrap.dedent(spec)).totals.params == sum(
        p.numel() for m in (norm, moe) for p in m.parameters()
    )


def test_the_mixtral_ep_example_holds_the_figures_its_comments_state():
    text = (EXAMPLES / "training" / "mixtral_ep.nn").read_text(encoding="utf-8")
    plan = _analysis(text).training
    s = plan.states
    assert s.param_bytes == s.grad_bytes == DENSE + ROUTED // 8 == 7_242_780_672
    assert s.optimizer_bytes == 12 * (DENSE + ROUTED) // 64 == 8_756_773_632
    assert plan.activation_bytes == 42_359_373_824
    assert plan.total_bytes == 65_601_708_800 and plan.fits
    without = _analysis(text.replace("expert_parallel = 8", "expert_parallel = 1")).training
    assert without.total_bytes == 144_521_732_864 and not without.fits
    assert check_text(text, "mixtral_ep.nn").diagnostics == ()
