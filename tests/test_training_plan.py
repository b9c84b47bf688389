"""The training and serving plans of a spec (nnlint.plan), the train/deploy keys and the rules
that read them: JSON ``training``/``serving`` figures held to the ZeRO, KV-cache and roofline
formulas, located errors for bad keys, and the precision rules on their own hardware."""

from __future__ import annotations

import json
import textwrap

import pytest
from helpers import EXAMPLES, report_of

from nnlint.activations import plan_activations
from nnlint.check import analyse_text, check_text
from nnlint.serving import kv_cache_bytes
from nnlint.targets import builtin_targets
from nnlint.training import model_states, optimizer_state_bytes

LLAMA = (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8")
# Llama 2 7B from its shapes: embedding and untied head 32000·4096 each; per layer attention
# 4·4096², SwiGLU 3·4096·11008 and two RMSNorm gains; the final RMSNorm — the published count
PSI = 2 * 32000 * 4096 + 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 4096
assert PSI == 6_738_415_616


def _analysis(text):
    analysis, diagnostics = analyse_text(textwrap.dedent(text))
    assert analysis is not None, [d.message for d in diagnostics]
    return analysis, diagnostics


def test_llama_7b_zero3_on_8_gpus_per_gpu_states_are_zeros_formula():
    analysis, _ = _analysis(LLAMA)
    assert analysis.report.totals.params == PSI
    plan = analysis.training.as_dict()
    assert (plan["gpus"], plan["data_parallel"], plan["sharding"]) == (8, 8, "zero3")
    states = model_states(
        2 * PSI,
        2 * PSI,
        optimizer_state_bytes("adamw", "bf16-mixed", PSI),
        stage=3,
        data_parallel=8,
    )
    per_gpu = plan["per_gpu"]
    assert per_gpu["param_bytes"] == states.param_bytes == 2 * PSI // 8
    assert per_gpu["grad_bytes"] == 2 * PSI // 8
    assert per_gpu["optimizer_bytes"] == 12 * PSI // 8  # master 4 + moments 8, sharded 8 ways
    acts = plan_activations(
        analysis.report.lowered, lambda n: 16, batch=1, recompute="selective", flash=True
    ).bytes
    assert per_gpu["activation_bytes"] == acts
    assert per_gpu["total_bytes"] == states.total_bytes + acts
    assert plan["fits"] is True and plan["target"] == "a100-80gb"
    assert plan["max_micro_batch"] >= 1


def test_llama_7b_on_l4s_names_the_fewest_gpus_that_fit_by_zero3s_formula():
    # the README's fit error: ZeRO-3 divides the 16 bytes of mixed-precision AdamW per
    # parameter by the data-parallel ranks; each rank keeps its own saved activations
    spec = LLAMA.replace("a100-80gb", "l4")
    analysis, _ = _analysis(spec)
    acts = plan_activations(
        analysis.report.lowered, lambda n: 16, batch=1, recompute="selective", flash=True
    ).bytes
    memory = builtin_targets()["l4"].memory_bytes
    fewest = next(n for n in range(8, 1024) if 16 * PSI // n + acts <= memory)
    assert 16 * PSI // 8 + acts > memory
    (d,) = [d for d in check_text(spec, "l.nn").diagnostics if d.code == "NN301"]
    assert f"gpus = {fewest} (the fewest GPUs that fit with zero3)" in d.message
    assert fewest == 31


def test_llama_7b_served_on_one_l4():
    analysis, _ = _analysis(LLAMA)
    serving = analysis.serving.as_dict()
    kv = kv_cache_bytes(32, 32, 128, 4096, 4, bits=16)
    assert serving["kv_cache_bytes"] == kv == 4 * 2 * 2**30  # 2 GiB per 4k-token sequence
    assert serving["weights_bytes"] == 2 * PSI
    assert serving["total_bytes"] == 2 * PSI + kv
    assert serving["fits"] is True
    l4 = builtin_targets()["l4"]
    assert serving["max_concurrency"] == (l4.memory_bytes - 2 * PSI) // (2 * 2**30) == 4
    # decode reads every weight but the embedding table (one row per sequence: 4 of its
    # 32,000) and the whole cache once per step: memory-bound on the L4
    read = 2 * (PSI - 32000 * 4096 + 4 * 4096)
    assert serving["decode_weight_bytes"] == read
    kernels = len(analysis.roofline.layers)
    expected = (read + kv) / l4.bandwidth + kernels * l4.launch_overhead_s
    assert serving["decode_latency_s"] == pytest.approx(expected, rel=1e-12)
    assert serving["tokens_per_s"] == pytest.approx(4 / expected, rel=1e-12)
    assert serving["prefill_latency_s"] > serving["decode_latency_s"]


def test_json_carries_training_and_serving_only_where_they_apply():
    result = check_text(LLAMA, "llama.nn")
    entry = json.loads(json.dumps(result.model))
    assert set(entry["training"]["per_gpu"]) == {
        "param_bytes",
        "grad_bytes",
        "optimizer_bytes",
        "activation_bytes",
        "total_bytes",
    }
    mnist = check_text((EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8"), "m.nn").model
    assert "serving" not in mnist  # no causal attention, no KV cache


MLP = """
model m {
    input x: [784]
    h = x -> dense(256) -> relu -> dense(10)
}
train {
    batch = 32
    optimizer = adam
    TRAIN
}
"""


def _train(lines: str):
    return MLP.replace("TRAIN", lines)


def test_gpus_must_divide_by_tensor_times_pipeline():
    _, diagnostics = _analysis(_train("gpus = 10\n    tensor_parallel = 4"))
    (d,) = [d for d in diagnostics if d.code == "NN012"]
    assert "gpus = 10 is not a multiple of tensor_parallel × pipeline_parallel = 4" in d.message
    assert d.span.line == 9 and "e.g. 8" in d.fix


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sharding = zero4", "unknown sharding `zero4`"),
        ("recompute = some", "unknown recompute `some`"),
        ("attention_impl = sdpa", "unknown attention_impl `sdpa`"),
        ("sequence_parallel = yes", "sequence_parallel must be true or false"),
        ("precision = bf16-mix", "did you mean `bf16-mixed`"),
    ],
)
def test_bad_training_keys_are_located(line, message):
    _, diagnostics = _analysis(_train(line))
    (d,) = [d for d in diagnostics if d.code == "NN012"]
    assert message in d.message and d.span.line == 9


def test_fsdp_names_map_to_zero_stages():
    for name, stage in (("full_shard", "zero3"), ("shard_grad_op", "zero2"), ("no_shard", "none")):
        analysis, _ = _analysis(_train(f"sharding = {name}\n    gpus = 4"))
        assert analysis.training.sharding == stage


def test_old_16_bit_names_keep_their_pure_meaning_and_mixed_adds_the_master_copy():
    t_old = report_of(_train("precision = bf16")).totals
    t_true = report_of(_train("precision = bf16-true")).totals
    t_mixed = report_of(_train("precision = bf16-mixed")).totals
    P = t_old.params
    assert (t_old.param_bytes, t_old.grad_bytes, t_old.optimizer_bytes) == (2 * P, 2 * P, 4 * P)
    assert (t_true.param_bytes, t_true.optimizer_bytes) == (2 * P, 4 * P)
    assert (t_mixed.param_bytes, t_mixed.grad_bytes, t_mixed.optimizer_bytes) == (
        2 * P,
        2 * P,
        12 * P,
    )


def test_new_optimizers_state():
    P = report_of(_train("")).totals.params
    assert (
        report_of(
            _train("precision = bf16-true").replace("adam", "adamw8bit")
        ).totals.optimizer_bytes
        == 2 * P
    )
    assert report_of(_train("").replace("adam", "lion")).totals.optimizer_bytes == 4 * P
    # adafactor: dense [256, 784] and [10, 256] factor to rows + columns; biases keep theirs
    elements = (256 + 784) + 256 + (10 + 256) + 10
    assert report_of(_train("").replace("adam", "adafactor")).totals.optimizer_bytes == 4 * elements


def test_full_recompute_adds_the_blocks_forward_flops():
    gpt = (EXAMPLES / "tiny_gpt.nn").read_text(encoding="utf-8")
    base = report_of(gpt).totals
    full = report_of(
        gpt.replace("optimizer = adamw", "optimizer = adamw\n    recompute = full")
    ).totals
    blocks = sum(
        layer.train.forward_flops
        for layer in report_of(gpt).layers
        if "decoder_layer[" in layer.node.id
    )
    assert full.recompute_flops == blocks
    assert full.train_step_flops == base.train_step_flops + blocks


def test_training_precision_is_checked_on_the_training_hardware():
    # the case: train bf16 on A100s, serve fp16 on a T4 — no NN402
    spec = MLP.replace("TRAIN", "precision = bf16-mixed\n    target = a100-80gb") + (
        "deploy {\n    target = t4\n    precision = fp16\n}\n"
    )
    codes = [d.code for d in check_text(textwrap.dedent(spec), "m.nn").diagnostics]
    assert "NN402" not in codes
    on_t4 = spec.replace("target = a100-80gb", "target = t4")
    (d,) = [d for d in check_text(textwrap.dedent(on_t4), "m.nn").diagnostics if d.code == "NN402"]
    assert "train.precision = bf16-mixed, but t4" in d.message and d.span.line == 9


LONG = """
model lm {
    input ids: [4096]
    h = ids -> embedding(32000, 512) -> attention(8)
}
train {
    batch = 1
    IMPL
}
"""


def test_flash_attention_silences_the_score_warning():
    loud = [d.code for d in check_text(LONG.replace("IMPL", ""), "g.nn").diagnostics]
    flash = LONG.replace("IMPL", "attention_impl = flash")
    quiet = [d.code for d in check_text(flash, "g.nn").diagnostics]
    assert "NN304" in loud and "NN304" not in quiet


def test_a_per_gpu_fit_error_names_the_computed_changes_that_fit():
    spec = (
        LLAMA.replace("gpus           = 8", "gpus           = 2")
        .replace("target         = a100-80gb", "target         = a100-40gb")
        .replace("recompute      = selective", "recompute      = none")
    )
    # ZeRO-3: 16 bytes per parameter (bf16-mixed AdamW) over the ranks, plus each rank's
    # activations (a flash kernel keeps no scores, so none = selective here)
    analysis, _ = _analysis(spec)
    acts = plan_activations(analysis.report.lowered, lambda n: 16, batch=1, flash=True).bytes
    memory = builtin_targets()["a100-40gb"].memory_bytes
    fewest = next(n for n in range(2, 1024) if 16 * PSI // n + acts <= memory)
    (d,) = [d for d in check_text(spec, "l.nn").diagnostics if d.code == "NN301"]
    assert (
        "per GPU" in d.message
        and f"what fits: gpus = {fewest} (the fewest GPUs that fit with zero3)" in d.message
    )
    assert d.data["fixes"]
    # and that many GPUs do fit, one fewer does not
    assert not [
        x
        for x in check_text(
            spec.replace("gpus           = 2", f"gpus           = {fewest}"), "l.nn"
        ).diagnostics
        if x.code == "NN301"
    ]
    assert [
        x
        for x in check_text(
            spec.replace("gpus           = 2", f"gpus           = {fewest - 1}"), "l.nn"
        ).diagnostics
        if x.code == "NN301"
    ]
    assert fewest == 6


SERVED = """
block decoder_layer(d, heads) {
    input x
    a   = x -> layernorm -> attention(heads, causal=true)
    h   = add(x, a)
    f   = h -> layernorm -> dense(4 * d) -> gelu -> dense(d)
    out = add(h, f)
}

model g {
    input ids: [256]
    h      = ids -> embedding(8000, 256) -> decoder_layer(256, 4) * 4
    logits = h -> layernorm -> dense(8000, bias=false)
}

deploy {
    target      = t4
    precision   = fp16
    context     = 4096
    concurrency = CONCURRENCY
}
"""


def test_kv_cache_fit_rule_names_the_concurrency_and_context_that_fit():
    spec = textwrap.dedent(SERVED.replace("CONCURRENCY", "8000"))
    (d,) = [d for d in check_text(spec, "g.nn").diagnostics if d.code == "NN305"]
    per_seq = kv_cache_bytes(4, 4, 64, 4096, 1, bits=16)  # 16 MiB
    weights = d.data["weights_bytes"]
    assert d.data["kv_cache_bytes"] == 8000 * per_seq
    assert d.data["max_concurrency"] == (16_000_000_000 - weights) // per_seq == 952
    assert d.data["max_context"] == (16_000_000_000 - weights) // (2 * 4 * 256 * 2 * 8000)
    assert "what fits: deploy.concurrency = 952 or deploy.context = 487" in d.message
    fits = textwrap.dedent(SERVED.replace("CONCURRENCY", "952"))
    assert not [d for d in check_text(fits, "g.nn").diagnostics if d.code == "NN305"]
    over = textwrap.dedent(SERVED.replace("CONCURRENCY", "953"))
    assert [d for d in check_text(over, "g.nn").diagnostics if d.code == "NN305"]


def test_serving_budget_keys():
    spec = textwrap.dedent(SERVED.replace("CONCURRENCY", "8")) + (
        "budget {\n    kv_cache <= 1 MiB\n    decode_latency <= 1 us\n    tokens_per_s >= 1M\n}\n"
    )
    found = {d.data["key"]: d for d in check_text(spec, "g.nn").diagnostics if d.code == "NN501"}
    assert found["kv_cache"].data["value"] == kv_cache_bytes(4, 4, 64, 4096, 8, bits=16)
    assert "tokens_per_s is" in found["tokens_per_s"].message
    assert "under the budget of 1M" in found["tokens_per_s"].message
    analysis, _ = _analysis(spec)
    assert found["decode_latency"].data["value"] == analysis.serving.decode_latency_s
    assert found["tokens_per_s"].data["value"] == pytest.approx(analysis.serving.tokens_per_s)


def test_a_tokens_per_second_floor_is_a_rate_not_a_whole_count():
    """tokens_per_s is concurrency ÷ decode latency, a rate: a floor below one token per
    second is a limit (a 7B decoder on a board), and a fractional floor is kept as written,
    not rounded up to the next whole number as a count's would be."""
    served = textwrap.dedent(SERVED.replace("CONCURRENCY", "1"))
    rate = _analysis(served)[0].serving.tokens_per_s
    whole = int(rate)
    assert whole + 0.25 < rate < whole + 0.5  # 8,585.34 tokens/s on a T4

    def nn5(limit: str):
        spec = served + f"budget {{\n    tokens_per_s >= {limit}\n}}\n"
        return [d for d in check_text(spec, "g.nn").diagnostics if d.code[:3] in ("NN0", "NN5")]

    assert nn5("0.5") == []
    assert nn5(f"{whole + 0.25}") == []  # a count's limit would round it up to whole + 1
    (d,) = nn5(f"{whole + 0.5}")
    assert d.code == "NN501"
    assert d.data["limit"] == whole + 0.5 and d.data["unit"] == "per_second"
    assert d.data["value"] == rate
    assert d.message.startswith(f"tokens_per_s is {rate:,.0f}/s, under the budget of {whole}.5 (")
