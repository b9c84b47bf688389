"""The one evaluator of a spec's arithmetic: ``+ - * /`` and unary minus.

Block parameters (``dense(d * 4)``, ``repeat n / 2``) and section values
(``samples = 60000 * 5``, ``params <= 25e6 / 4``) are evaluated here; the caller
says what a leaf (a number, a name) is worth and turns an :class:`ExprError`
into its own diagnostic. The arithmetic is exact while it can be: integers and
fractions stay exact (``7 / 2 * 2`` is ``7``; a whole fraction becomes an int),
and a float anywhere makes the result a float.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from nnlint import ast
from nnlint.diagnostics import Span

__all__ = ["ExprError", "Number", "evaluate"]

Number = int | float | Fraction


class ExprError(Exception):
    """``kind`` is ``"division by zero"`` or ``"too large"``; ``value`` the result
    that was too large (None for a division by zero)."""

    def __init__(self, kind: str, span: Span, value: Number | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.span = span
        self.value = value


def evaluate(expr: ast.Expr, leaf: Callable[[ast.Expr], Number], *, limit: int) -> Number:
    """The value of ``expr``. ``leaf`` gives the value of anything that is not ``+ - * /``
    or a minus sign (or raises the caller's error). A result that is not finite or
    beyond ``limit`` in magnitude (an operand or a result) raises :class:`ExprError`
    where it appears, so no intermediate value grows without bound."""
    if isinstance(expr, ast.Neg):
        return _checked(-_operand(expr.operand, leaf, limit), expr.span, limit)
    if not isinstance(expr, ast.BinOp):
        return leaf(expr)
    left = _operand(expr.left, leaf, limit)
    right = _operand(expr.right, leaf, limit)
    if expr.op == "+":
        value = left + right
    elif expr.op == "-":
        value = left - right
    elif expr.op == "*":
        value = left * right
    else:
        if right == 0:
            raise ExprError("division by zero", expr.span)
        if isinstance(left, float) or isinstance(right, float):
            value = left / right
        else:
            value = Fraction(left) / Fraction(right)
    if isinstance(value, Fraction) and value.denominator == 1:
        value = int(value)
    return _checked(value, expr.span, limit)


def _operand(expr: ast.Expr, leaf: Callable[[ast.Expr], Number], limit: int) -> Number:
    """An operand, checked like a result (``4 / 1e400`` is too large, not 0)."""
    return _checked(evaluate(expr, leaf, limit=limit), expr.span, limit)


def _checked(value: Number, span: Span, limit: int) -> Number:
    finite = not isinstance(value, float) or math.isfinite(value)
    if not finite or abs(value) > limit:
        raise ExprError("too large", span, value)
    return value
