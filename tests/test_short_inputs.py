"""Short specs that used to end in an internal error, take seconds or misplace a
suppression (issue 9, findings 4, 7 and 8). Each is now a located diagnostic or a
correct answer; none asserts a time (benchmarks/run.py measures speed).
"""

from __future__ import annotations

import pytest

from nnlint import cli
from nnlint.check import check_text
from nnlint.graph import MAX_NODES
from nnlint.parse import MAX_SUPPRESSED_CODES, parse_number

MODEL = "model m {{\n    input x: {shape}\n    y = x -> {layers}\n}}\n"
SMALL = MODEL.format(shape="[4]", layers="dense(2)")


def _codes(text: str) -> list[tuple[str, int, int]]:
    result = check_text(text, "short.nn")  # raises on an internal error
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


def _only(text: str, code: str):
    result = check_text(text, "short.nn")
    found = [d for d in result.diagnostics if d.severity.name == "ERROR"]
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in result.diagnostics]
    return found[0]


# ------------------------------------------------------------- finding 4: internal errors


@pytest.mark.parametrize(
    ("section", "key", "line"),
    [
        ("budget { params <= 0.5 }", "parameters limit 0.5", 6),
        ("budget { train_memory <= 0.5 B }", "training memory limit 0.5 B", 6),
    ],
)
def test_a_budget_below_one_is_a_located_config_error(section, key, line):
    """Was ZeroDivisionError: the limit was truncated to 0 after the positivity check."""
    d = _only(SMALL + "\n" + section + "\n", "NN012")
    assert key in d.message and "below 1" in d.message
    assert (d.span.line, d.span.column) == (line, section.index("0.5") + 1)


def test_fractional_budgets_keep_their_meaning():
    """`< 2.5` allows 2 (as `< 3`), `<= 2.5` allows 2 (as `<= 2`): dense(2) from 4 inputs
    has 10 parameters."""
    within = [_codes(SMALL + f"budget {{ params {c} }}\n") for c in ("<= 10.5", "< 10.5")]
    assert within == [[], []]
    over = _codes(SMALL + "budget { params < 9.5 }\n")
    assert [c[0] for c in over] == ["NN501"]


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        (MODEL.format(shape="[4]", layers="dense(1e1000000)"), "NN011", 3, 20),
        (SMALL + "data {\n    classes = 2\n    counts = [1, 1e1000000]\n}\n", "NN012", 7, 18),
    ],
)
def test_numbers_beyond_decimals_range_are_too_large(text, code, line, column):
    """Was decimal.Overflow from scaling 1e1000000 in the default Decimal context."""
    d = _only(text, code)
    assert "1e1000000 is too large" in d.message
    assert (d.span.line, d.span.column) == (line, column)


def test_numbers_keep_every_digit_and_their_range():
    assert parse_number("123456789012345678901234567890") == 123456789012345678901234567890
    assert parse_number("1.5T") == 1_500_000_000_000
    assert parse_number("1e1000000") == float("inf")
    assert parse_number("1e58T") == float("inf")  # past 10^60 after the prefix
    assert parse_number("1e-1000000k") == 0.0
    assert parse_number("0e999999999") == 0
    assert parse_number("3e-2M") == 30000


def test_a_huge_composed_stride_is_written_in_scientific_notation():
    """Was ValueError (int-to-str limit): NN109 built the stride 2^15000 and printed it."""
    text = MODEL.format(shape="[1, 1, 1]", layers="conv2d(1, 1, stride=2) * 15000")
    result = check_text(text, "short.nn")
    [d] = [d for d in result.diagnostics if d.code == "NN109"]
    assert "stride=2.82e4515" in d.message  # 15000 × log10(2) = 4515.45
    assert d.data["equivalent_params"] == 2 and d.data["actual_params"] == 30000


def test_a_composed_kernel_wider_than_the_stack_is_not_reported():
    text = MODEL.format(shape="[1, 1, 1]", layers="conv2d(1, 3, stride=2, padding=1) * 15000")
    assert "NN109" not in [c[0] for c in _codes(text)]


def test_a_layer_after_a_repeat_at_the_graph_limit_is_located():
    """Was AttributeError: the limit message read the repeat of a layer that has none."""
    text = MODEL.format(shape="[4]", layers=f"relu * {MAX_NODES - 1} -> relu")
    d = _only(text, "NN011")
    assert f"{MAX_NODES:,}" in d.message
    assert (d.span.line, d.span.column) == (3, text.split("\n")[2].rindex("relu") + 1)


def _doubling_blocks(depth: int) -> str:
    """Blocks b0 … b{depth}, each calling the next twice: 2^depth instances."""
    lines = [
        f"block b{i}() {{\n    input x\n    y = x -> b{i + 1} -> b{i + 1}\n}}" for i in range(depth)
    ]
    lines.append(f"block b{depth}() {{\n    input x\n    y = x -> relu\n}}")
    lines.append("model m {\n    input x: [4]\n    y = x -> b0\n}")
    return "\n".join(lines) + "\n"


def test_blocks_calling_blocks_are_counted_before_they_are_expanded():
    """Was 15 s and 388 MiB, then an internal error: 30 levels of blocks that each call
    the next twice. The expansion is multiplied through the call tree first."""
    text = _doubling_blocks(30)
    assert len(text) < 2000
    d = _only(text, "NN011")
    assert f"at least {2**30:,} op instances" in d.message
    assert f"{MAX_NODES:,}" in d.message
    assert (d.span.line, d.span.column) == (text.count("\n") - 1, 14)  # at the call `b0`


def test_blocks_calling_blocks_within_the_limit_are_expanded():
    result = check_text(_doubling_blocks(10), "short.nn")
    assert result.model is not None
    assert len(result.model["layers"]) == 1 + 2**10  # the input and 1,024 relus


def test_repeat_counts_multiply_through_the_call_tree():
    text = (
        "block inner() {\n    input x\n    y = x -> relu * 1000\n}\n"
        "block outer() {\n    input x\n    y = x -> inner * 1000\n}\n"
        + MODEL.format(shape="[4]", layers="outer")
    )
    d = _only(text, "NN011")
    assert f"at least {1000 * 1000:,}" in d.message
    assert (d.span.line, d.span.column) == (11, 14)


def test_the_short_reproductions_through_the_cli(tmp_path, capsys):
    """Every reproduction of finding 4 through `nnlint check`: exit 1 with findings,
    never 2 with an internal error."""
    texts = [
        SMALL + "budget { params <= 0.5 }\n",
        SMALL + "train {\n    optimizer = sgd\n}\nbudget { train_memory <= 0.5 B }\n",
        MODEL.format(shape="[4]", layers="dense(1e1000000)"),
        SMALL + "data {\n    counts = [1, 1e1000000]\n}\n",
        MODEL.format(shape="[1, 1, 1]", layers="conv2d(1, 1, stride=2) * 15000"),
        MODEL.format(shape="[4]", layers=f"relu * {MAX_NODES - 1} -> relu"),
        _doubling_blocks(30),
    ]
    for i, text in enumerate(texts):
        (tmp_path / f"s{i}.nn").write_text(text, encoding="utf-8")
    code = cli.main(["check", str(tmp_path), "--format", "concise"])
    out, err = capsys.readouterr()
    assert "internal error" not in out + err
    assert code == 1, err
    assert out.count(".nn:") >= len(texts)


# ------------------------------------------------------ finding 7: tiny inputs, huge work


def test_a_suppression_comment_with_too_many_codes_is_one_warning():
    """20,000 codes in one comment made 20,000 NN021 warnings (6 s)."""
    codes = ", ".join(f"NN{i % 1000:03d}" for i in range(20_000))
    text = MODEL.format(shape="[4]", layers=f"relu  # nnlint: ignore[{codes}]")
    found = _codes(text)
    assert found == [("NN020", 3, 20)]
    message = check_text(text, "short.nn").diagnostics[0].message
    assert f"more than {MAX_SUPPRESSED_CODES} codes" in message


def test_a_suppression_comment_at_the_cap_still_works():
    codes = ", ".join(["NN109"] * MAX_SUPPRESSED_CODES)  # listed many times, counted once
    text = (
        "model m {\n    input x: [4]\n    h = x -> dense(8)  # nnlint: ignore["
        + codes
        + "]\n    y = h -> dense(2)\n}\n"
    )
    assert _codes(text) == []


def test_repeats_past_the_graph_limit_are_refused_before_they_are_built():
    d = _only(MODEL.format(shape="[4]", layers=f"relu * {MAX_NODES + 1}"), "NN011")
    assert f"{MAX_NODES + 1:,}" in d.message and f"{MAX_NODES:,}" in d.message


# ---------------------------------------------------- finding 8: one line-splitting rule


@pytest.mark.parametrize("separator", ["\f", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"])
def test_a_suppression_after_a_line_separator_inside_a_comment_stays_on_its_line(separator):
    """The parser counts lines at \\n only; str.splitlines also split at these, so every
    suppression after one landed a line too late."""
    text = (
        f"model m {{\n    input x: [4]   # a comment{separator}with a separator\n"
        "    h = x -> dense(8)  # nnlint: ignore[NN109]\n    y = h -> dense(2)\n}\n"
    )
    assert _codes(text) == []
    unsuppressed = text.replace("  # nnlint: ignore[NN109]", "")
    assert [c[:2] for c in _codes(unsuppressed)] == [("NN109", 3)]


def test_the_source_frame_shows_the_line_the_diagnostic_names(tmp_path, capsys):
    spec = tmp_path / "sep.nn"
    spec.write_text(
        "model m {\n    input x: [4]   # a\fb\u2028c\n    h = x -> dense(8)\n"
        "    y = h -> dense(2)\n}\n",
        encoding="utf-8",
    )
    cli.main(["check", str(spec)])
    out = capsys.readouterr().out
    assert ":3:14: NN109" in out
    assert " 3 |     h = x -> dense(8)" in out


def test_a_syntax_error_at_the_end_is_located_on_the_last_line():
    text = "model m {\n    input x: [4]  # \u2028\n    y = x -> relu\n"
    assert _codes(text) == [("NN001", 3, len("    y = x -> relu") + 1)]
