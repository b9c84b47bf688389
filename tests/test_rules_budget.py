"""NN5xx: every budget line against the computed figure, with value, limit and margin."""

from __future__ import annotations

import pytest
from helpers import EXAMPLES

from nnlint.check import Settings, check_text

MNIST = (EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8")


def with_budget(lines: str, deploy: str | None = None) -> str:
    text = MNIST[: MNIST.index("budget {")] + "budget {\n" + lines + "\n}\n"
    if deploy is not None:
        start = text.index("deploy {")
        end = text.index("}", start) + 1
        text = text[:start] + deploy + text[end:]
    return text


def findings(text: str, code: str, settings: Settings = Settings()):
    return [d for d in check_text(text, "m.nn", settings).diagnostics if d.code == code]


def test_train_memory_over_budget_with_the_exact_figures():
    (d,) = findings(with_budget("    train_memory <= 2 MiB"), "NN501")
    assert d.message == (
        "train_memory is 3.73 MiB (3,913,120 B), over the budget of 2 MiB "
        "(2,097,152 B) by 1.73 MiB (1,815,968 B) (86.6%)"
    )
    assert d.data == {
        "key": "train_memory",
        "value": 3_913_120,
        "limit": 2_097_152,
        "margin": -1_815_968,
        "unit": "bytes",
    }
    assert d.span.line == MNIST[: MNIST.index("budget {")].count("\n") + 2
    assert d.fix == "reduce the training memory or raise the budget"


@pytest.mark.parametrize(
    ("line", "limit"),
    [
        ("params <= 100 * 1000", "100 * 1000 (100,000)"),
        ("params <= (100 + 2) * 1000 - 2000", "(100 + 2) * 1000 - 2000 (100,000)"),
        ("params <= 200000 / (1 + 1)", "200000 / (1 + 1) (100,000)"),
        ("params <= 2 * 50k", "2 * 50k (100,000)"),
        ("params <= -(-100000)", "-(-100000) (100,000)"),
    ],
)
def test_a_limit_written_as_an_expression_is_shown_as_written(line, limit):
    """The expression, then its value: neither the value alone (the expression was gone)
    nor a fraction's ``200000/2``."""
    (d,) = findings(with_budget(f"    {line}"), "NN501")
    assert d.message == (
        f"params is 235.15 k (235,146), over the budget of {limit} by 135.15 k (135,146) (135.1%)"
    )


def test_a_rate_limit_written_as_a_fraction_is_shown_as_written():
    text = (EXAMPLES / "llama2_7b.nn").read_text(encoding="utf-8")
    budget = "budget {\n    tokens_per_s >= 10 / 3 * 1e9\n}\n"
    result = check_text(text + budget, "l.nn", Settings(target="h100-sxm"))
    (d,) = [d for d in result.diagnostics if d.code == "NN501"]
    assert "under the budget of 10 / 3 * 1e9 (3,333,333,333/s) by " in d.message


@pytest.mark.parametrize(
    "key, limit, value",
    [
        ("params", "200k", 235_146),
        ("trainable_params", "200k", 235_146),
        ("macs", "100k", 234_752),
        ("forward_flops", "15M", 15_051_264),
        ("flops", "400k", 470_332),  # per inference at the deploy batch (int8, batch 1)
        ("train_step_flops", "48M", 48_416_782),
        ("param_memory", "200 KiB", 235_146),  # the deployed int8 weights
        ("inference_memory", "200 KiB", 236_324),
        ("activation_memory", "100 KiB", 150_784),
    ],
)
def test_each_budget_key_reads_its_figure(key, limit, value):
    (d,) = findings(with_budget(f"    {key} <= {limit}"), "NN501")
    assert d.data["value"] == value


def test_within_budget_is_silent_and_strict_comparison_counts_equality():
    assert findings(with_budget("    params <= 235146"), "NN501") == []
    (d,) = findings(with_budget("    params < 235146"), "NN501")
    assert d.data["margin"] == 0


def test_latency_on_the_deploy_target():
    (d,) = findings(with_budget("    latency <= 1 us"), "NN501")
    assert d.data["unit"] == "seconds"
    from nnlint.check import analyse_text

    analysis, _ = analyse_text(with_budget("    latency <= 1 us"))
    roof = analysis.roofline
    # 1.61 µs of kernels on the roofline + the edge TPU's 0.89 ms per invocation
    assert roof.kernel_time_s == pytest.approx(1.6050905e-06, rel=1e-6)
    assert roof.overhead_s == 0.89e-3
    assert d.data["value"] == roof.time_s == pytest.approx(0.89e-3 + 1.6050905e-06, rel=1e-9)
    assert "latency is 892 µs, over the budget of 1 us (1 µs) by 891 µs" in d.message


def test_a_latency_budget_below_the_invocation_overhead_fails():
    # the MNIST MLP's kernels take 1.61 µs on the edge TPU, but one invocation costs 0.89 ms
    (d,) = findings(with_budget("    latency <= 0.5 ms"), "NN501")
    assert "latency is 892 µs, over the budget of 0.5 ms (500 µs) by 392 µs" in d.message
    assert findings(with_budget("    latency <= 2 ms"), "NN501") == []


def test_latency_without_a_target_or_precision_is_unverifiable():
    no_target = with_budget("    latency <= 2 ms", deploy="")
    (d,) = findings(no_target, "NN502")
    assert "no target is set" in d.message
    fp32 = with_budget(
        "    latency <= 2 ms", deploy="deploy {\n    target = edge-tpu\n    precision = fp32\n}"
    )
    (d,) = findings(fp32, "NN502")
    assert "edge-tpu has no fp32 arithmetic (it runs int8)" in d.message


@pytest.mark.parametrize(
    "line",
    [
        "kv_cache <= 1 GB",
        "prefill_latency <= 10 ms",
        "decode_latency <= 10 ms",
        "tokens_per_s >= 50",
    ],
)
def test_a_serving_budget_on_a_model_that_generates_no_tokens_is_unverifiable(line):
    # the MNIST MLP has no causal attention: none of these figures exists for it, with
    # a target that runs its precision as without one
    for deploy in ("deploy {\n    target = h100-sxm\n}", ""):
        (d,) = findings(with_budget(f"    {line}", deploy=deploy), "NN502")
        assert d.message == (
            f"cannot check `{line}`: `mnist_mlp` has no causal attention "
            "(`attention(..., causal=true)`), so it generates no tokens: no KV cache, "
            "prefill or decode"
        )
        assert (
            d.span.line
            == with_budget(f"    {line}", deploy=deploy).splitlines().index(f"    {line}") + 1
        )


def test_a_serving_budget_on_a_decoder_is_checked():
    text = (EXAMPLES / "llama2_7b.nn").read_text(encoding="utf-8")
    budget = "budget {\n    kv_cache <= 1 GB\n    decode_latency <= 1 s\n}\n"
    result = check_text(text + budget, "l.nn", Settings(target="h100-sxm"))
    assert not [d for d in result.diagnostics if d.code == "NN502"]
    (d,) = [d for d in result.diagnostics if d.code == "NN501"]
    assert d.message.startswith("kv_cache is ")
