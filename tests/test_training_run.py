"""The cost of a whole training run (:mod:`nnlint.training_run`): steps, FLOPs, time and
energy, in the report, the JSON totals and the budget keys."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from helpers import EXAMPLES

from nnlint.check import analyse_text, check_text
from nnlint.emit import render
from nnlint.rules import all_meta
from nnlint.tables import report_text
from nnlint.targets import builtin_targets

A100 = builtin_targets()["a100-80gb"]  # fp32 19.5e12, bf16 312e12 FLOP/s, 400 W

MLP = """\
model mlp {
    input x: [784]
    y = x -> dense(256) -> relu -> dense(10)
}

train {
    batch = 32
    loss = cross_entropy(y)
    optimizer = adam
    samples = 60000
    epochs = 10
    target = a100-80gb
TRAIN}
"""


def spec(train: str = "", budget: str = "", base: str = MLP) -> str:
    text = base.replace("TRAIN", textwrap.indent(textwrap.dedent(train), "    "))
    return text + (
        f"budget {{\n{textwrap.indent(textwrap.dedent(budget), '    ')}}}\n" if budget else ""
    )


def analysed(text: str):
    analysis, diagnostics = analyse_text(text)
    errors = [d.message for d in diagnostics if d.severity.name == "ERROR"]
    assert analysis is not None and not errors, errors
    return analysis


def codes(text: str, code: str):
    return [d for d in check_text(text, "m.nn").diagnostics if d.code == code]


# --------------------------------------------------------------------------- the figures


def test_the_run_of_a_single_device():
    run = analysed(spec()).run
    t = analysed(spec()).report.totals
    # 60,000 samples in batches of 32: 1,875 steps an epoch (60000 / 32 = 1875 exactly)
    assert (run.global_batch, run.steps) == (32, 18_750)
    micro = t.forward_flops + t.backward_flops + t.loss_backward_flops + t.recompute_flops
    assert t.train_step_flops == micro + t.optimizer_flops  # one device: the step is the step
    assert run.step_flops == t.train_step_flops
    assert run.flops == 18_750 * t.train_step_flops
    # fp32 on an A100: 19.5 TFLOP/s at the default 40 %
    assert run.utilization == 0.4
    assert run.time_s == run.flops / (19.5e12 * 0.4)
    assert run.energy_j == 400 * run.time_s


def test_a_partial_last_batch_is_a_step_of_its_own():
    run = analysed(spec().replace("samples = 60000", "samples = 60001")).run
    assert run.steps == 10 * 1876  # ⌈60001 / 32⌉ = 1,876 an epoch


def test_data_parallel_grad_accum_and_zero_scale_the_step():
    plain = analysed(spec()).report.totals
    micro = plain.forward_flops + plain.backward_flops + plain.loss_backward_flops
    # 8 GPUs, tensor parallel 2: 4 data-parallel ranks, 2 micro-batches each
    text = spec("gpus = 8\ntensor_parallel = 2\ngrad_accum = 2\n")
    run = analysed(text).run
    assert run.global_batch == 32 * 2 * 4 and run.devices == 8
    assert run.steps == 10 * math.ceil(60_000 / 256)
    # without ZeRO every replica updates all of its parameters
    assert run.step_flops == micro * 2 * 4 + plain.optimizer_flops * 4
    assert run.time_s == run.flops / (8 * 19.5e12 * 0.4)
    assert run.energy_j == 400 * 8 * run.time_s
    # ZeRO shards the optimizer state: one update over the shards
    zero = analysed(spec("gpus = 8\ntensor_parallel = 2\ngrad_accum = 2\nsharding = zero1\n"))
    assert zero.run.step_flops == micro * 2 * 4 + plain.optimizer_flops


def test_recomputation_is_in_the_step():
    base = """\
        model m {
            input x: [16, 64]
            h = x -> block(64) * 2 -> dense(10)
        }
        block block(d) {
            input x
            a = x -> layernorm -> attention(4, causal=true)
            out = add(x, a)
        }
        train {
            batch = 8
            loss = cross_entropy(h)
            optimizer = adamw
            samples = 800
            epochs = 2
            target = a100-80gb
        TRAIN}
        """
    base = textwrap.dedent(base)
    none = analysed(spec(base=base))
    full = analysed(spec("recompute = full\n", base=base))
    extra = full.report.totals.recompute_flops
    assert extra > 0 and none.report.totals.recompute_flops == 0
    assert full.run.steps == none.run.steps == 200
    assert full.run.flops == none.run.flops + full.run.steps * extra


def test_the_training_precision_picks_the_peak_and_the_utilization_is_stated():
    run = analysed(spec("precision = bf16-mixed\nutilization = 0.5\n")).run
    assert run.compute_precision == "bf16" and run.peak == 312e12
    assert run.time_s == run.flops / (312e12 * 0.5)


# --------------------------------------------------------------------------- Kaplan's 6·P·D


def test_a_decoder_is_six_p_tokens_plus_exactly_what_nnlint_counts_beyond_it():
    """Kaplan et al. 2020 (§2.1): training costs C ≈ 6·N FLOPs per token — 2N forward
    and 4N backward, one multiply-add per weight per token. nnlint counts every FLOP, so
    its total is 6·P·tokens plus terms computed here from the op conventions, each
    written out: no tolerance."""
    V, T, D, H, F, L = 512, 64, 64, 4, 256, 2
    B, accum, dp, samples, epochs = 4, 2, 4, 3200, 3
    text = textwrap.dedent(
        f"""\
        block layer(d, heads) {{
            input x
            a   = x -> layernorm -> attention(heads, causal=true)
            h   = add(x, a)
            f   = h -> layernorm -> dense({F}) -> gelu -> dense(d)
            out = add(h, f)
        }}
        model decoder {{
            input ids: [{T}]
            input pos: [{T}]
            tok    = ids -> embedding({V}, {D})
            pe     = pos -> embedding({T}, {D})
            h0     = add(tok, pe)
            h      = h0 -> layer({D}, {H}) * {L}
            logits = h -> layernorm -> dense({V}, bias=false, tie=tok)
        }}
        train {{
            batch = {B}
            grad_accum = {accum}
            gpus = {dp}
            loss = cross_entropy(logits)
            optimizer = adamw
            samples = {samples}
            epochs = {epochs}
            target = a100-80gb
        }}
        """
    )
    analysis = analysed(text)
    run = analysis.run
    # P: token table (shared with the head), position table, the layers, the final norm
    per_layer = 2 * D + (4 * D * D + 4 * D) + 2 * D + (D * F + F) + (F * D + D)
    P = V * D + T * D + L * per_layer + 2 * D
    assert analysis.report.totals.params == P
    global_batch = B * accum * dp
    assert samples % global_batch == 0
    steps = epochs * samples // global_batch
    tokens = samples * epochs * T
    assert run.steps == steps and steps * global_batch * T == tokens

    # What nnlint counts beyond 6 FLOPs per parameter per token, for one sample (T tokens).
    # Weight matrices (the attention projections, the dense layers, the tied head) cost
    # exactly 6 per weight per token: 2 forward, 2 for the input gradient, 2 for the
    # weight gradient. The rest, each against the 6·params·T that 6·P·D charges it:
    def against_6p(flops: int, params: int) -> int:
        return flops - 6 * params * T

    layernorm = against_6p((7 + 10) * T * D, 2 * D)  # 7 forward, 10 backward per element
    bias = against_6p(2 * T, 1)  # per bias unit: one add forward, one backward
    attention_core = (
        3 * 2 * (2 * T * T * D)  # QKᵀ and P·V: forward 2 MACs, backward twice that
        + (1 + 5 + 1) * H * T * T  # scale, softmax, causal mask, forward
        + (4 + 1) * H * T * T  # softmax vector-Jacobian product and scale, backward
    )
    gelu = (14 + 14) * T * F
    residual_add = T * D  # one add forward; the gradient passes unchanged
    layer = (
        2 * layernorm
        + 4 * D * bias  # q, k, v, o biases
        + attention_core
        + F * bias
        + gelu
        + D * bias
        + 2 * residual_add
    )
    token_table = T * D  # gather: no FLOP forward; one add per element into the gradient
    position_table = against_6p(T * D, T * D)  # its parameters never meet a multiply
    loss = (2 + 3) * T * V + 1 * T * V  # log-softmax on the logits, NLL; gradient ŷ − y
    beyond = (
        token_table
        + position_table
        + residual_add  # tok + pe
        + L * layer
        + layernorm  # the final norm
        + loss
    )
    adamw = 16 * P + 2  # one AdamW update (optimizers table), on each of the dp replicas
    difference = steps * (global_batch * beyond + dp * adamw)
    assert run.flops == 6 * P * tokens + difference
    # the attention term is the largest part of it here, as in Kaplan's C_forward
    assert L * attention_core * samples * epochs > difference / 2


# --------------------------------------------------------------------------- where it shows


def test_the_run_reaches_the_report_and_the_json():
    text = spec()
    analysis = analysed(text)
    run = analysis.run
    report = report_text(analysis, "m.nn")
    assert "  training steps (global batch 32)" in report and "18.75 k (18,750)" in report
    assert run.flops == 785_839_462_500
    assert "training-run FLOPs (18,750 steps)  785.84 G (785,839,462,500)" in report
    assert "on 1 × a100-80gb at 40% utilization" in report
    totals = json.loads(render("json", [check_text(text, "m.nn")], all_meta()))["models"][0][
        "totals"
    ]
    assert totals["train_steps"] == 18_750 and totals["train_flops"] == run.flops
    assert totals["train_time_s"] == run.time_s and totals["train_energy_j"] == run.energy_j
    assert totals["train_target"] == "a100-80gb" and totals["train_utilization"] == 0.4
    assert list(totals)[-8:] == [
        "train_global_batch",
        "train_steps",
        "train_flops",
        "train_devices",
        "train_target",
        "train_utilization",
        "train_time_s",
        "train_energy_j",
    ]


def test_a_spec_without_samples_and_epochs_has_no_run_cost():
    text = spec().replace("    epochs = 10\n", "")
    analysis = analysed(text)
    assert analysis.run is None
    totals = check_text(text, "m.nn").model["totals"]
    assert not any(key.startswith(("train_steps", "train_flops", "train_time")) for key in totals)
    assert "training steps" not in report_text(analysis, "m.nn")
    # a budget on it is a located error naming what is missing
    (d,) = codes(spec(budget="train_flops <= 1T\n").replace("    epochs = 10\n", ""), "NN012")
    assert (d.span.line, d.span.column) == (14, 5)
    assert d.message == (
        "`train_flops` limits the FLOPs of the training run, which needs `train.samples` "
        "and `train.epochs`: `train.epochs` is not set"
    )
    assert d.fix == "set `train.epochs` in the `train` section, or remove this budget line"
    # a train section with a bad entry is reported once, not as missing samples
    (d,) = codes(spec("utilization = 2\n", budget="train_flops <= 1T\n"), "NN012")
    assert d.message.startswith("utilization is the share")
    no_data = spec(budget="train_time <= 2 d\n").replace("    epochs = 10\n", "")
    (d,) = codes(no_data.replace("    samples = 60000\n", ""), "NN012")
    assert d.message.endswith(": `train.samples` and `train.epochs` are not set")


def test_no_training_time_without_a_device_that_trains():
    text = spec(budget="train_time <= 1 h\ntrain_energy <= 1 kWh\n").replace(
        "a100-80gb", "edge-tpu"
    )
    analysis = analysed(text)
    assert analysis.run.flops > 0 and analysis.run.time_s is None
    report = report_text(analysis, "m.nn")
    assert (
        "training time                      n/a: edge-tpu (edge-accelerator) does not run "
        "training jobs (GPUs and CPUs do)"
    ) in report
    found = codes(text, "NN502")
    assert [d.data["key"] for d in found] == ["train_time", "train_energy"]
    assert found[0].message == (
        "cannot check `train_time <= 1 h`: edge-tpu (edge-accelerator) does not run training "
        "jobs (GPUs and CPUs do)"
    )
    # the A100 has no FP8 arithmetic (the H100 has)
    analysis, _ = analyse_text(spec("precision = fp8-mixed\n"))
    assert analysis.run.time_s is None and analysis.run.energy_j is None
    assert analysis.run.no_time == (
        "a100-80gb has no dense peak at fp8, the training compute precision"
    )


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2", "40"])
def test_utilization_is_a_share_of_the_peak(value):
    (d,) = codes(spec(f"utilization = {value}\n"), "NN012")
    assert d.message.startswith("utilization is the share of the peak a run sustains, in (0, 1]")
    assert d.fix == "write it as a fraction, e.g. 0.4 for 40%"


def test_the_default_utilization_is_documented_with_its_sources():
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert "`train.utilization`" in readme and "Chowdhery et al. 2022" in readme
    assert "Korthikanti et al. 2022" in readme


# --------------------------------------------------------------------------- budgets


def test_budget_errors_state_the_value_the_limit_and_the_margin():
    run = analysed(spec()).run  # 785,839,462,500 FLOPs, 101 ms, 40.3 J
    text = spec(budget="train_flops <= 500G\ntrain_time <= 50 ms\ntrain_energy <= 20 J\n")
    flops, time, energy = codes(text, "NN501")
    over = run.flops - 500 * 10**9
    assert flops.message == (
        f"train_flops is 785.84 G ({run.flops:,}), over the budget of 500G "
        f"(500,000,000,000) by 285.84 G ({over:,}) "
        f"({over / 5e11 * 100:.1f}%)"
    )
    assert flops.data == {
        "key": "train_flops",
        "value": run.flops,
        "limit": 500 * 10**9,
        "margin": -over,
        "unit": "count",
    }
    assert flops.fix == "reduce the FLOPs of the training run or raise the budget"
    assert time.message.startswith("train_time is 101 ms, over the budget of 50 ms by ")
    assert time.data["unit"] == "seconds" and time.data["value"] == run.time_s
    assert energy.message.startswith("train_energy is 40.3 J, over the budget of 20 J by 20.3 J (")
    assert energy.data["unit"] == "joules" and energy.data["limit"] == 20
    assert codes(spec(budget="train_flops <= 1T\ntrain_time <= 1 s\n"), "NN501") == []


@pytest.mark.parametrize(
    ("limit", "joules"),
    [
        ("5 J", 5),
        ("2 kJ", 2000),
        ("3 MJ", 3_000_000),
        ("1 GJ", 10**9),
        ("2 kWh", 7_200_000),
        ("1 MWh", 3_600_000_000),
    ],
)
def test_energy_limits_take_joules_and_kilowatt_hours(limit, joules):
    analysis, diagnostics = analyse_text(spec(budget=f"train_energy <= {limit}\n"))
    assert [d.message for d in diagnostics if d.code == "NN012"] == []
    (line,) = analysis.report.sections.budget
    assert line.limit == joules


@pytest.mark.parametrize(
    ("limit", "seconds"), [("90 min", 5400), ("36 h", 129_600), ("2 d", 172_800), ("5 s", 5)]
)
def test_time_limits_take_minutes_hours_and_days(limit, seconds):
    analysis, _ = analyse_text(spec(budget=f"train_time <= {limit}\n"))
    (line,) = analysis.report.sections.budget
    assert line.limit == seconds


def test_an_energy_limit_needs_an_energy_unit():
    (d,) = codes(spec(budget="train_energy <= 5 MB\n"), "NN012")
    assert d.message == (
        "train_energy takes an energy such as `500 kWh` or `2 GJ` (units: J, kJ, MJ, GJ, kWh, MWh)"
    )
