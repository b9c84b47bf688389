"""NN101 vanishing-gradient: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph_queries import op_text
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.rules.training.helpers import sci

SIGMOID_MAX_SLOPE = 0.25  # σ'(z) = σ(1−σ) ≤ 0.25, at z = 0


TANH_SLOPE_AT_1 = 1 - math.tanh(1.0) ** 2  # 0.420: tanh' one unit away from 0


def _power(base: float, n: int) -> str:
    """``base^n`` for a message: ``9.54e-07``; below float range, its power of ten."""
    return _product(((base, n),))


def _product(factors: Iterable[tuple[float, int]]) -> str:
    """``Π base^n`` for a message: ``9.54e-07``; below float range, its power of ten."""
    factors = tuple(factors)
    value = math.prod(base**n for base, n in factors)
    if value > 0:
        return sci(value)
    return f"10^{sum(n * math.log10(base) for base, n in factors):.0f}"


def _slope(value: float) -> str:
    """A largest derivative as a message writes it: ``0.25``; ``1/6`` for a repeating
    decimal."""
    short = f"{value:g}"
    if len(short) <= 5:
        return short
    ratio = Fraction(value).limit_denominator(1000)
    return f"{ratio.numerator}/{ratio.denominator}"


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _powers(factors: Sequence[tuple[float, int]]) -> str:
    """``0.25^8·(1/6)^2``: the product of the largest derivatives, written out."""
    return "·".join(
        f"({_slope(b)})^{n}" if "/" in _slope(b) else f"{_slope(b)}^{n}" for b, n in factors
    )


@register
class VanishingGradient(PerLineRule):
    """## What it does
    Counts the saturating layers (sigmoid, hard sigmoid, tanh) the gradient crosses one
    after another on its way back from the loss, with no skip connection and no
    normalization between them, and reports the chain when it is long enough to starve
    the first layers of gradient.

    The count follows the graph: where a tensor feeds several ops, the gradient comes back
    along each of them and the least attenuated path dominates, so a residual `add` whose
    other input is an earlier tensor of the chain (a skip) gives a path with no saturating
    layer and breaks the chain. A normalization layer (`batchnorm`, `layernorm`,
    `groupnorm`) resets the count: it divides by the batch's or sample's own scale, so the
    gradient is rescaled too — Ioffe & Szegedy (2015) trained a sigmoid Inception network
    with batchnorm (BN-x5-Sigmoid) that, without it, never got past 1/1000 accuracy.
    A sigmoid read only by a `bce` loss is not counted: the pair's gradient is
    the fused ŷ − y.

    ## Why is this bad?
    Backpropagation multiplies one derivative per layer. The sigmoid's derivative
    σ(1 − σ) is at most 0.25, so after L sigmoid layers the gradient is scaled by
    at most 0.25^L: 0.25^10 = 9.54e-07 (a million-fold shrink) and
    0.25^20 = 9.09e-13, effectively zero (Hochreiter 1991; Bengio et al. 1994). The first layers
    then barely learn. Tanh's derivative 1 − tanh² is at most 1, but only at
    z = 0; it saturates for large |z| and still vanishes in deep nets (Glorot & Bengio 2010).
    One unit away from 0 it is already 0.420, and 0.420^16 = 9.37e-07 — the
    attenuation of 10 sigmoid layers — hence the separate, larger threshold for
    tanh chains. The hard sigmoid `relu6(z + 3)/6` (MobileNetV3) has slope 1/6 inside
    (−3, 3) and 0 outside: it counts as a sigmoid-like layer with the factor 1/6, and
    the message counts the sigmoid-like layers by op ("10 sigmoid-like layers (8 sigmoid,
    2 hardsigmoid)").

    ## Example
    ```
    block sig_layer(n) {
        input x
        out = x -> dense(n) -> sigmoid
    }
    model deep {
        input x: [784]
        h      = x -> sig_layer(256) * 12
        logits = h -> dense(10)
    }
    ```

    Use instead: ReLU-family activations (the derivative is 1 for z > 0), or
    residual connections (He et al. 2016), the two standard fixes:
    ```
    block relu_layer(n) {
        input x
        out = x -> dense(n) -> relu
    }
    ```

    ## Options
    - `sigmoid_layers` (default 10): report a chain with at least this many sigmoid-like
      layers, sigmoid or hard sigmoid (0.25^10 = 9.54e-07, ≈10⁻⁶).
    - `tanh_layers` (default 16): report a chain with at least this many saturating
      layers of any kind (each counts 1), since tanh's bound is 1:
      0.420^16 = 9.37e-07 at |z| = 1.

    ## References
    - Ioffe & Szegedy, "Batch Normalization", ICML 2015, §4.2 (BN-x5-Sigmoid).
    """

    code = "NN101"
    name = "vanishing-gradient"
    severity = Severity.WARNING
    summary = "Too many sigmoid/tanh layers in a row without a skip connection or normalization"
    options = ("sigmoid_layers", "tanh_layers")
    instance = "chain"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        min_sigmoid = int(ctx.thresholds["sigmoid_layers"])
        min_any = int(ctx.thresholds["tanh_layers"])
        has_loss = lowered.loss is not None
        counted = {n.id for n in lowered.nodes() if n.kind.saturating and not n.fused_with_loss}
        if len(counted) < min(min_sigmoid, min_any):
            return  # no path crosses enough saturating layers to be reported
        live = None  # nodes whose gradient reaches the loss (None: no loss, every path counts)
        if has_loss:
            live = set(lowered.losses)  # the gradient of every term of a summed loss
            for loss_id in lowered.losses:
                live |= lowered.ancestors(loss_id)
        # through[v] = (saturating layers, of which sigmoid, first saturating node) on the
        # least attenuated path from v's input to the end, v included; nxt links a chain.
        through: dict[str, tuple[int, int, str | None]] = {}
        nxt: dict[str, str | None] = {}
        by_id, successors = lowered.by_id, lowered.successors
        for v in reversed(lowered.order):
            node = by_id[v]
            if node.kind.is_norm:
                through[v] = (0, 0, None)
                continue
            best = None  # the first least attenuated path among the successors
            for s in successors(v):
                if live is None or s in live:
                    t = through[s]
                    if best is None or (t[0], t[1]) < (best[0], best[1]):
                        best = t
            after = best if best is not None else (0, 0, None)
            if v in counted:
                nxt[v] = after[2]
                through[v] = (after[0] + 1, after[1] + (node.kind.max_slope < 1), v)
            else:
                through[v] = after
        reported: set[str] = set()
        for v in lowered.order:
            if v not in counted or v in reported or (live is not None and v not in live):
                continue
            total, sig, _ = through[v]
            if sig < min_sigmoid and total < min_any:
                continue
            chain = [v]
            while nxt.get(chain[-1]) is not None:
                chain.append(nxt[chain[-1]])
            reported.update(chain)
            yield self._report(lowered, chain, total, sig, min_sigmoid, min_any)

    def _report(self, lowered, chain, total, sig, min_sigmoid, min_any) -> Diagnostic:
        first, last = lowered.node(chain[0]), lowered.node(chain[-1])
        tanh = total - sig
        where = (
            f"from `{first.id}` (line {first.span.line}) to `{last.id}` "
            f"(line {last.span.line}), with no skip connection or normalization between them"
        )
        # the sigmoid-like layers (largest derivative below 1) counted by op, the most
        # numerous first, each with its largest derivative (sigmoid 0.25, hardsigmoid 1/6)
        like = [n for n in map(lowered.node, chain) if n.kind.max_slope < 1]
        counts = Counter(op_text(n) for n in like)
        slope = {op_text(n): n.kind.max_slope for n in like}
        ranked = sorted(counts, key=lambda op: -counts[op])
        factors = [(slope[op], counts[op]) for op in ranked]
        bound = math.prod((b**n for b, n in factors), start=1.0)
        if len(ranked) == 1 and slope[ranked[0]] == SIGMOID_MAX_SLOPE:
            bounds = ["σ' ≤ 0.25"]
        else:
            bounds = [f"{op}' ≤ {_slope(slope[op])}" for op in ranked]
        kinds = ", ".join(f"{counts[op]} {op}" for op in ranked)
        powers, product = _powers(factors), _product(factors)
        if tanh == 0:
            named = f"{ranked[0]} layers" if len(ranked) == 1 else f"sigmoid-like layers ({kinds})"
            what = f"{total} {named} in a row on the gradient's path"
            why = (
                f"{_and(bounds)}, so the {sig} derivatives the gradient crosses multiply to at "
                f"most {powers} = {product}"
            )
        elif sig == 0:
            what = f"{total} tanh layers in a row on the gradient's path"
            why = (
                f"tanh' ≤ 1 but equals 1 only at z = 0 and is {TANH_SLOPE_AT_1:.3f} at |z| = 1, "
                f"so for pre-activations of that size the {tanh} derivatives the gradient "
                f"crosses multiply to {TANH_SLOPE_AT_1:.3f}^{tanh} = "
                f"{_power(TANH_SLOPE_AT_1, tanh)}"
            )
        else:
            typical = bound * TANH_SLOPE_AT_1**tanh
            what = (
                f"{total} saturating layers in a row on the gradient's path ({kinds}, {tanh} tanh)"
            )
            with_tanh = _and([*bounds, "tanh' ≤ 1"])
            why = (
                f"{with_tanh}, so the {total} derivatives the gradient "
                f"crosses multiply to at most {powers} = {product}, and to {powers}·"
                f"{TANH_SLOPE_AT_1:.3f}^{tanh} = {sci(typical) if typical else 'less'} "
                f"with tanh' = {TANH_SLOPE_AT_1:.3f} at |z| = 1"
            )
        return self.diag(
            f"{what}, {where}: {why}",
            first.span,
            fix="use relu (or gelu) in the hidden layers, or add residual connections or a "
            "normalization layer inside the stack",
            layers=total,
            sigmoid_layers=sig,
            tanh_layers=tanh,
            bound=bound,
            tanh_slope_at_1=TANH_SLOPE_AT_1,
            typical_factor=bound * TANH_SLOPE_AT_1**tanh,
            first=first.id,
            last=last.id,
            first_line=first.span.line,
            last_line=last.span.line,
            sigmoid_threshold=min_sigmoid,
            tanh_threshold=min_any,
        )
