"""The one arithmetic evaluator, alone and through the two places that use it."""

from __future__ import annotations

from fractions import Fraction

import pytest

from nnlint import ast
from nnlint.check import check_text
from nnlint.diagnostics import Span
from nnlint.expr import ExprError, evaluate

AT = Span.point(1, 1)


def num(v):
    return ast.Num(v, str(v), AT)


def op(symbol, left, right):
    return ast.BinOp(symbol, left, right, AT)


def leaf(e):
    return e.value


def test_exact_while_it_can_be():
    assert evaluate(op("*", op("/", num(7), num(2)), num(2)), leaf, limit=10**9) == 7
    assert type(evaluate(op("/", num(8), num(2)), leaf, limit=10**9)) is int
    assert evaluate(op("/", num(1), num(3)), leaf, limit=10**9) == Fraction(1, 3)
    assert evaluate(ast.Neg(num(5), AT), leaf, limit=10**9) == -5


def test_a_float_makes_the_result_float():
    value = evaluate(op("/", num(1), num(0.5)), leaf, limit=10**9)
    assert value == 2.0 and isinstance(value, float)


def test_division_by_zero_and_too_large_are_errors_at_the_operation():
    with pytest.raises(ExprError, match="division by zero"):
        evaluate(op("/", num(1), num(0)), leaf, limit=10**9)
    with pytest.raises(ExprError, match="too large") as info:
        evaluate(op("*", num(10**5), num(10**5)), leaf, limit=10**9)
    assert info.value.value == 10**10
    with pytest.raises(ExprError, match="too large"):
        evaluate(op("-", num(float("inf")), num(float("inf"))), leaf, limit=10**9)


def model(units: str, sections: str = "") -> str:
    return (
        "block wide(d) {\n    input x\n    y = x -> dense(" + units + ")\n}\n"
        "model m {\n    input x: [8]\n    h = x -> wide(d=8)\n}\n" + sections
    )


def test_block_parameters_and_sections_share_the_arithmetic():
    # 8 / 3 * 3 is exactly 8 units, in a block and in a section value alike
    result = check_text(model("d / 3 * 3", "train {\n    batch = 8 / 3 * 3\n}\n"), "m.nn")
    assert not [d for d in result.diagnostics if d.severity.name == "ERROR"], result.diagnostics
    assert result.model["totals"]["params"] == 8 * 8 + 8
    assert result.model["totals"]["train_batch"] == 8


def test_division_by_zero_in_a_block_and_in_a_section():
    block = check_text(model("d / (d - 8)"), "m.nn")
    assert [d.code for d in block.diagnostics] == ["NN007"]
    assert "division by zero" in block.diagnostics[0].message
    section = check_text(model("d", "train {\n    batch = 8 / 0\n}\n"), "m.nn")
    assert [d.code for d in section.diagnostics] == ["NN012"]
    assert section.diagnostics[0].message == "division by zero"
