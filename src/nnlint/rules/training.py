"""NN1xx — training hazards: gradients, softmax overflow, losses, initialization.

Conventions of this family (each rule's doc page repeats the part it uses):

* Rules read the lowered graph: one node per op instance, edges from producer to
  consumer. A value-preserving op (``identity``, ``dropout``, ``flatten``,
  ``reshape``) is looked through when a rule asks "what produced this tensor" or
  "what comes after this layer".
* A layer is named by its op and size and its node id, with the line of the spec
  that created it: ``dense(256) `h1/dense#1` (line 5)``. Layers made by a block or
  a ``* N`` repeat share the line of the block body; their ids tell them apart.
* ``init=`` sets a layer's weights; biases start at 0 (seed 000/003: "biases may
  be zero or small constants"). Fan-in and fan-out follow PyTorch: ``n_in`` and
  ``units`` for dense, ``(C_in/groups)·k²`` and ``C_out·k²`` for conv2d.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator

import attrs
import networkx as nx

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Lowered, Node
from nnlint.ops import fmt_shape, numel
from nnlint.rules.base import Rule, RuleContext, fmt_int, register

#: Ops that pass their input's values on unchanged (dropout only rescales survivors).
PASS_THROUGH = frozenset({"identity", "dropout", "flatten", "reshape"})
NORMS = frozenset({"batchnorm", "layernorm", "groupnorm"})
#: Activations that zero (or nearly zero) the negative half: He's 2/n_in assumes this.
RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu", "prelu"})
#: Activations He initialization is used with (seed 003: also GELU transformers).
HE_ACTIVATIONS = RELU_FAMILY | {"elu", "gelu", "silu"}
SATURATING = frozenset({"sigmoid", "tanh"})
LINEAR_LAYERS = frozenset({"dense", "conv2d"})

SIGMOID_MAX_SLOPE = 0.25  # σ'(z) = σ(1−σ) ≤ 0.25, at z = 0 [seed 000]
TANH_SLOPE_AT_1 = 1 - math.tanh(1.0) ** 2  # 0.420: tanh' one unit away from 0

# The largest finite value and the smallest positive (subnormal) value per format.
FLOAT_MAX = {
    "fp64": 1.7976931348623157e308,
    "fp32": 3.4028234663852886e38,
    "tf32": 3.4028234663852886e38,
    "bf16": 3.3895313892515355e38,
    "fp16": 65504.0,
    "fp8": 448.0,
}
FLOAT_TINY = {
    "fp64": 2.0**-1074,
    "fp32": 2.0**-149,
    "tf32": 2.0**-149,
    "bf16": 2.0**-133,
    "fp16": 2.0**-24,
    "fp8": 2.0**-9,
}
#: Formats whose exp overflows at an ordinary logit (fp8 is E4M3, the forward format).
NARROW_FLOATS = ("fp16", "fp8")

# The seeds' "confidently wrong" prediction (seed 004: true-class p = 0.05, CE gradient 0.95).
WRONG_P = 0.05


# --------------------------------------------------------------- helpers


def _node(lowered: Lowered, node_id: str) -> Node:
    return lowered.node(node_id)


def label(node: Node) -> str:
    """``dense(256) `h1/dense#1` (line 5)`` — what a person finds in the spec."""
    return f"{_op_text(node)} `{node.id}` (line {node.span.line})"


def _op_text(node: Node) -> str:
    o = node.opts
    if node.op == "dense":
        return f"dense({o['units']})"
    if node.op == "conv2d":
        return f"conv2d({o['channels']}, {o['kernel']})"
    if node.op == "loss":
        return f"{node.loss}"
    return node.op


def producer(lowered: Lowered, node_id: str) -> Node:
    """The node that computed the values of ``node_id``, looking through value-preserving ops."""
    node = _node(lowered, node_id)
    while node.op in PASS_THROUGH and node.inputs:
        node = _node(lowered, node.inputs[0])
    return node


def next_op(lowered: Lowered, node_id: str) -> Node | None:
    """The op that reads this node's output, looking through value-preserving ops;
    None when the output is read by several ops or by none."""
    g = lowered.graph
    current = node_id
    while True:
        succ = list(g.successors(current))
        if len(succ) != 1:
            return None
        nxt = _node(lowered, succ[0])
        if nxt.op not in PASS_THROUGH:
            return nxt
        current = nxt.id


def class_width(shape) -> int:
    """The class axis of a tensor a loss reads: C of ``[C, H, W]``, else the last axis."""
    if not shape:
        return 1
    return shape[0] if len(shape) == 3 else shape[-1]


def residual_branches(lowered: Lowered) -> set[str]:
    """Nodes inside a residual branch: on a path from ``a`` to ``b`` of some ``add(a, b)``
    (or ``add(b, a)``) where ``a`` is an earlier tensor of ``b``'s path (the skip)."""
    g = lowered.graph
    index = {n: i for i, n in enumerate(lowered.order)}
    inside: set[str] = set()
    for node in lowered.nodes():
        if node.op != "add":
            continue
        for a in node.inputs:
            for b in node.inputs:
                if a == b or index[a] >= index[b]:
                    continue
                # Backward from b, staying after a in execution order, then forward from a.
                region = {b}
                stack = [b]
                while stack:
                    for p in g.predecessors(stack.pop()):
                        if index[p] > index[a] and p not in region:
                            region.add(p)
                            stack.append(p)
                reached = {s for s in g.successors(a) if s in region}
                stack = list(reached)
                while stack:
                    for s in g.successors(stack.pop()):
                        if s in region and s not in reached:
                            reached.add(s)
                            stack.append(s)
                if b in reached:
                    inside |= reached
    return inside


def _fans(node: Node) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense or conv2d weight, PyTorch's convention."""
    if node.op == "dense":
        return node.in_shapes[0][-1], node.opts["units"]
    k = node.opts["kernel"]
    return (node.in_shapes[0][0] // node.opts["groups"]) * k * k, node.opts["channels"] * k * k


def _g(x: float) -> str:
    """Four significant digits: 0.002551, 0.05051 (the seeds round to three)."""
    return f"{x:.4g}"


def _e(x: float) -> str:
    return f"{x:.2e}"


def _fused_with_bce(lowered: Lowered, node: Node) -> bool:
    """A sigmoid read only by a ``bce`` loss: the pair's gradient is ŷ − y [seed 002]."""
    nxt = next_op(lowered, node.id)
    return nxt is not None and nxt.op == "loss" and nxt.loss == "bce"


def _power(base: float, n: int) -> str:
    """``base^n`` for a message: ``9.54e-07``; below float range, its power of ten."""
    value = base**n
    if value > 0:
        return _e(value)
    return f"10^{n * math.log10(base):.0f}"


class _PerLine(Rule):
    """A rule that reports layers. The layers a block body or a ``* N`` repeat makes from
    one line of the spec are reported once, at that line, with their number."""

    instance: str = "layer"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        groups: dict = {}
        for d in self.findings(ctx):
            groups.setdefault(d.span, []).append(d)
        for found in groups.values():
            first = found[0]
            if len(found) > 1:
                more = len(found) - 1
                first = attrs.evolve(
                    first,
                    message=f"{first.message} (and {more:,} more {self.instance}"
                    f"{'s' if more != 1 else ''} made from this line)",
                    data={**first.data, "instances": len(found)},
                )
            yield first

    @abc.abstractmethod
    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        """Every finding, one per op instance; ``check`` groups them by line."""


# ----------------------------------------------------------------- NN101


@register
class VanishingGradient(_PerLine):
    """## What it does
    Counts the sigmoid and tanh layers the gradient crosses one after another on
    its way back from the loss, with no skip connection and no normalization
    between them, and reports the chain when it is long enough to starve the
    first layers of gradient.

    The count follows the graph: where a tensor feeds several ops, the gradient
    comes back along each of them and the least attenuated path dominates, so
    a residual `add` whose other input is an earlier tensor of the chain (a skip)
    gives a path with no saturating layer and breaks the chain. A normalization
    layer (`batchnorm`, `layernorm`, `groupnorm`) resets the count (seed digest
    §3.1: "count consecutive sigmoid/tanh layers with no skip connection or
    normalization"): it divides by the batch's or sample's own scale, so the
    gradient is rescaled too — Ioffe & Szegedy (2015) trained a sigmoid
    Inception network with batchnorm (BN-x5-Sigmoid) that, without it, never
    got past 1/1000 accuracy.
    A sigmoid read only by a `bce` loss is not counted: the pair's gradient is
    the fused ŷ − y (seed 002).

    ## Why is this bad?
    Backpropagation multiplies one derivative per layer. The sigmoid's derivative
    σ(1 − σ) is at most 0.25, so after L sigmoid layers the gradient is scaled by
    at most 0.25^L: 0.25^10 = 9.54e-07 ("nearly one million-fold shrink") and
    0.25^20 = 9.09e-13 ("effectively zero", seeds 000 and 004). The first layers
    then barely learn. Tanh's derivative 1 − tanh² is at most 1, but only at
    z = 0; it saturates for large |z| and still vanishes in deep nets (seed 000).
    One unit away from 0 it is already 0.420, and 0.420^16 = 9.37e-07 — the
    attenuation of 10 sigmoid layers — hence the separate, larger threshold for
    tanh chains.

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
    residual connections, the seeds' two fixes (seed 004):
    ```
    block relu_layer(n) {
        input x
        out = x -> dense(n) -> relu
    }
    ```

    ## Options
    - `sigmoid_layers` (default 10): report a chain with at least this many sigmoid
      layers (0.25^10 = 9.54e-07, the seeds' "≈10⁻⁶").
    - `tanh_layers` (default 16): report a chain with at least this many saturating
      layers of any kind (tanh counts 1, sigmoid 1), since tanh's bound is 1:
      0.420^16 = 9.37e-07 at |z| = 1.

    ## References
    - Ioffe & Szegedy, "Batch Normalization", ICML 2015, §4.2 (BN-x5-Sigmoid).
    """

    code = "NN101"
    name = "vanishing-gradient"
    family = "training"
    severity = Severity.WARNING
    summary = "Too many sigmoid/tanh layers in a row without a skip connection or normalization"
    options = ("sigmoid_layers", "tanh_layers")
    instance = "chain"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        g = lowered.graph
        min_sigmoid = int(ctx.thresholds["sigmoid_layers"])
        min_any = int(ctx.thresholds["tanh_layers"])
        live = None  # nodes whose gradient reaches the loss (None: no loss, every path counts)
        if lowered.loss is not None:
            live = nx.ancestors(g, lowered.loss) | {lowered.loss}
        counted = {
            n.id
            for n in lowered.nodes()
            if n.op in SATURATING and not (n.op == "sigmoid" and _fused_with_bce(lowered, n))
        }
        # through[v] = (saturating layers, of which sigmoid, first saturating node) on the
        # least attenuated path from v's input to the end, v included; nxt links a chain.
        through: dict[str, tuple[int, int, str | None]] = {}
        nxt: dict[str, str | None] = {}
        for v in reversed(lowered.order):
            node = _node(lowered, v)
            if node.op in NORMS:
                through[v] = (0, 0, None)
                continue
            succ = [s for s in g.successors(v) if live is None or s in live]
            after = min(
                (through[s] for s in succ), key=lambda t: (t[0], t[1]), default=(0, 0, None)
            )
            if v in counted:
                nxt[v] = after[2]
                through[v] = (after[0] + 1, after[1] + (node.op == "sigmoid"), v)
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
        first, last = _node(lowered, chain[0]), _node(lowered, chain[-1])
        tanh = total - sig
        where = (
            f"from `{first.id}` (line {first.span.line}) to `{last.id}` "
            f"(line {last.span.line}), with no skip connection or normalization between them"
        )
        bound = SIGMOID_MAX_SLOPE**sig
        if tanh == 0:
            what = f"{total} sigmoid layers in a row on the gradient's path"
            why = (
                f"σ' ≤ 0.25, so the {sig} derivatives the gradient crosses multiply to at "
                f"most 0.25^{sig} = {_power(0.25, sig)}"
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
                f"{total} saturating layers in a row on the gradient's path "
                f"({sig} sigmoid, {tanh} tanh)"
            )
            why = (
                f"σ' ≤ 0.25 and tanh' ≤ 1, so the {total} derivatives the gradient crosses "
                f"multiply to at most 0.25^{sig} = {_power(0.25, sig)}, and to 0.25^{sig}·"
                f"{TANH_SLOPE_AT_1:.3f}^{tanh} = {_e(typical) if typical else 'less'} "
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


# ----------------------------------------------------------------- NN102


@register
class SoftmaxOverflow(_PerLine):
    """## What it does
    Reports a `softmax` computed in fp16 (or fp8): the op's own `precision=` or,
    without one, `train.precision`.

    ## Why is this bad?
    exp overflows fp32 only above ln(3.40e38) = 88.72 but fp16 above
    ln(65504) = 11.09 (seed digest §3.2), and logits above 11 are ordinary for a
    confident classifier. An overflowing exp gives inf, inf/inf gives NaN, and
    the NaN spreads silently through the loss and every weight (seed 004).
    Subtracting the largest logit first avoids the overflow, but the
    probabilities are then still rounded to fp16: anything below 5.96e-08, the
    smallest fp16 value (16.64 logits below the largest), becomes exactly 0, and a
    later log gives −inf. bf16 has fp32's exponent range and is fine; mixed
    precision training keeps softmax in fp32 for this reason.

    ## Example
    ```
    train {
        precision = fp16
        loss      = cross_entropy(probs)
    }
    ```

    Use instead: compute the softmax in fp32 (or bf16) even when the rest runs in fp16:
    ```
    probs = logits -> softmax(precision=fp32)
    ```
    """

    code = "NN102"
    name = "softmax-overflow"
    family = "training"
    severity = Severity.WARNING
    summary = "A softmax computed in fp16, where exp overflows above 11.09"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        for node in ctx.report.lowered.nodes():
            if node.op != "softmax":
                continue
            precision = node.precision or ctx.config.train.precision
            if precision not in NARROW_FLOATS:
                continue
            top, tiny = FLOAT_MAX[precision], FLOAT_TINY[precision]
            limit, fp32_limit = math.log(top), math.log(FLOAT_MAX["fp32"])
            source = "its `precision=`" if node.precision else "`train.precision`"
            fmt = "fp8 (E4M3)" if precision == "fp8" else precision
            yield self.diag(
                f"softmax `{node.id}` runs in {fmt} ({source}): exp overflows {fmt} above "
                f"ln({top:g}) = {limit:.2f} (fp32: {fp32_limit:.2f}), so a logit above "
                f"{limit:.2f} gives inf and NaN probabilities unless the largest logit is "
                f"subtracted first; even then every probability below {_e(tiny)}, the smallest "
                f"{precision} value ({-math.log(tiny):.2f} below the largest logit), rounds to 0 "
                f"and its log is −inf",
                node.span,
                fix="compute the softmax in fp32 (`softmax(precision=fp32)`) or bf16, which has "
                "fp32's range",
                precision=precision,
                max_value=top,
                overflow_above=round(limit, 4),
                fp32_overflow_above=round(fp32_limit, 4),
                smallest_value=tiny,
            )


# ----------------------------------------------------------------- NN103


@register
class LogOfSoftmax(_PerLine):
    """## What it does
    Reports `log` applied to the output of a `softmax` (directly, or through
    `dropout`, `identity`, `flatten` or `reshape`).

    ## Why is this bad?
    Computing log(softmax(z)) in two steps loses precision for extreme logits
    (seed 002): a probability that underflows to 0 — in fp32 once its logit is
    103.28 below the largest (the smallest fp32 value is 1.40e-45), in fp16 once it
    is 16.64 below — gives log(0) = −inf, and the loss becomes NaN (seed 004).
    `log_softmax` computes z − max − log Σ exp(z − max) in one step (≈3 FLOPs per
    element, seed 002) and never takes the log of 0.

    ## Example
    ```
    probs = logits -> softmax
    logp  = probs -> log
    ```

    Use instead:
    ```
    logp = logits -> log_softmax
    ```
    """

    code = "NN103"
    name = "log-of-softmax"
    family = "training"
    severity = Severity.WARNING
    summary = "log(softmax(z)) instead of log_softmax: log(0) = −inf"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in lowered.nodes():
            if node.op != "log" or not node.inputs:
                continue
            src = producer(lowered, node.inputs[0])
            if src.op != "softmax":
                continue
            precision = src.precision or ctx.config.train.precision
            if precision not in FLOAT_TINY:
                precision = "fp32"
            tiny = FLOAT_TINY[precision]
            yield self.diag(
                f"log of the output of {label(src)} in two steps: a probability that "
                f"underflows to 0 — in {precision} once its logit is {-math.log(tiny):.2f} below "
                f"the largest (the smallest {precision} value is {_e(tiny)}) — gives log(0) = "
                f"−inf and a NaN loss; log_softmax computes z − max − log Σ exp(z − max) and "
                f"never takes log(0)",
                node.span,
                fix="replace `softmax -> log` with `log_softmax`",
                softmax=src.id,
                precision=precision,
                smallest_value=tiny,
                underflow_gap=round(-math.log(tiny), 4),
            )


# ----------------------------------------------------------------- NN104


def _squashed(width: int) -> tuple[float, float]:
    """For a softmax over ``width`` inputs in [0, 1] summing to 1: the largest output it
    can give, e/(e + C − 1), and the cross-entropy floor −ln of that."""
    top = math.e / (math.e + width - 1)
    return top, -math.log(top)


@register
class DoubleSoftmax(_PerLine):
    """## What it does
    Reports a softmax applied to probabilities: a `softmax` or `log_softmax` whose
    input is a `softmax` output, and a `focal` loss (which applies its own softmax
    to the logits it reads) on a `softmax` output. `cross_entropy` on a softmax
    output is the seeds' fused pairing and is fine; so is `cross_entropy` on a
    `log_softmax` output (the negative log-likelihood). A softmax (or focal) after
    a `log_softmax` is not reported either: log_softmax only shifts the logits by
    a constant, so softmax(log_softmax(z)) = softmax(z) exactly — redundant work,
    not a wrong result.

    ## Why is this bad?
    The second softmax sees values in [0, 1] that sum to 1, so its C outputs stay
    within a factor e = 2.718 of each other: the largest can never exceed
    e/(e + C − 1) — 0.232 for 10 classes — and cross-entropy can never fall below
    −ln 0.232 = 1.461, when random guessing already gives ln 10 = 2.303 and a
    trained MNIST net reaches ~0.1 (seed 004). The model is stuck near uniform
    predictions and its gradients are weak.

    ## Example
    ```
    probs = logits -> softmax
    p2    = probs -> softmax
    ```

    Use instead: one softmax, on the logits:
    ```
    probs = logits -> softmax
    ```
    """

    code = "NN104"
    name = "double-softmax"
    family = "training"
    severity = Severity.WARNING
    summary = "A softmax applied to probabilities (a softmax output)"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in lowered.nodes():
            if not node.inputs:
                continue
            is_focal = node.op == "loss" and node.loss == "focal"
            if node.op not in ("softmax", "log_softmax") and not is_focal:
                continue
            src = producer(lowered, node.inputs[0])
            width = src.shape[-1] if src.shape else 1
            if src.op != "softmax" or width < 2:
                continue
            top, floor = _squashed(width)
            if is_focal:
                what = (
                    f"focal applies its own softmax to the logits it reads, but it reads "
                    f"the output of {label(src)}"
                )
                fix = f"make the loss read the logits before `{src.id}`"
            else:
                what = f"{node.op} `{node.id}` is applied to the output of {label(src)}"
                fix = f"drop one of the two: apply a single {node.op} to the logits"
            yield self.diag(
                f"{what}: its inputs are probabilities in [0, 1], so its {width} outputs stay "
                f"within a factor e = 2.718 of each other — the largest can never exceed "
                f"e/(e + {width - 1}) = {top:.3f}, and cross-entropy can never fall below "
                f"{floor:.3f} (random guessing: ln {width} = {math.log(width):.3f})",
                node.span,
                fix=fix,
                first_softmax=src.id,
                classes=width,
                max_probability=round(top, 6),
                min_loss=round(floor, 6),
                uniform_loss=round(math.log(width), 6),
            )


# ----------------------------------------------------------------- NN105


@register
class LossOutputMismatch(Rule):
    """## What it does
    Checks the pairing of `train.loss` with the op that produced the tensor it
    reads (seed digest §3.3). nnlint's loss semantics: `cross_entropy` fuses with
    a softmax output, applies its own log-softmax to raw logits and is the
    negative log-likelihood on a `log_softmax` output; `bce` expects a sigmoid
    output or raw logits; `kl_div` expects log-probabilities. Reported:

    - `mse` (or `huber`) on a softmax output, or on a sigmoid output when the
      `data` section declares `classes` (a sigmoid regressing values in [0, 1]
      without classes is left alone);
    - `bce` on a softmax output, or on log-probabilities;
    - `cross_entropy` or `focal` on a sigmoid output, or over a single output;
    - `kl_div` on probabilities or on raw outputs instead of log-probabilities.

    ## Why is this bad?
    - MSE on a sigmoid/softmax: the gradient passes through the output's
      derivative ŷ(1 − ŷ) ≤ 0.25, which is near 0 exactly when the prediction is
      confidently wrong (seed 002). At ŷ = 0.05 for a true label (seed 004's
      example) the factor is 0.0475 and ∂L/∂z = 2(ŷ − y)·ŷ(1 − ŷ) = −0.09025, where
      cross-entropy gives ŷ − y = −0.95, 10.5× stronger.
    - BCE on a softmax scores each output as an independent yes/no, but the
      outputs sum to 1: at most one can exceed 0.5. Over a single output the
      softmax is always 1.0 and nothing is learned.
    - Cross-entropy applies a softmax to what it reads; values in (0, 1) from a
      sigmoid limit the largest probability to e/(e + C − 1) (0.232 for C = 10)
      and the loss to ≥ 1.461. Over a single output the softmax is 1 and the
      loss is 0 for every input: no gradient at all.
    - KL divergence on probabilities reads p ∈ [0, 1] as log p: the "distribution"
      e^p sums to more than 1 and the divergence is meaningless.

    ## Example
    ```
    probs = logits -> softmax
    train { loss = mse(probs) }
    ```

    Use instead:
    ```
    train { loss = cross_entropy(probs) }
    ```
    """

    code = "NN105"
    name = "loss-output-mismatch"
    family = "training"
    severity = Severity.WARNING
    summary = "The loss does not fit the output layer it reads"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        if lowered.loss is None:
            return
        loss = _node(lowered, lowered.loss)
        src = producer(lowered, loss.inputs[0])
        kind, op = loss.loss, src.op
        width = class_width(loss.in_shapes[0])
        tensor = ctx.config.train.loss.tensor if ctx.config.train.loss else src.id
        found = self._mismatch(kind, op, width, ctx.config.data.classes is not None, tensor)
        if found is None:
            return
        message, fix, data = found
        yield self.diag(
            f"{kind} on {label(src)}: {message}",
            loss.span,
            fix=fix,
            loss=kind,
            output=src.id,
            output_op=op,
            width=width,
            **data,
        )

    @staticmethod
    def _mismatch(kind, op, width, classifier, tensor):
        """(message, fix, data) for a mismatched pairing, None for a good one."""
        data: dict = {}
        if kind in ("mse", "huber") and (op == "softmax" or (op == "sigmoid" and classifier)):
            slope = WRONG_P * (1 - WRONG_P)
            grad = (2 if kind == "mse" else 1) * (WRONG_P - 1) * slope
            ce = WRONG_P - 1
            formula = "2(ŷ − y)·ŷ(1 − ŷ)" if kind == "mse" else "(ŷ − y)·ŷ(1 − ŷ)"
            better = "cross_entropy" if op == "softmax" else "bce"
            message = (
                f"the gradient passes through the {op}'s derivative ŷ(1 − ŷ) ≤ 0.25, "
                f"which vanishes when the prediction is confidently wrong — at ŷ = "
                f"{WRONG_P} for a true label it is {slope:.4g}, so ∂L/∂z = {formula} = "
                f"{grad:.4g} where {better} gives ŷ − y = {ce:.2f} "
                f"({ce / grad:.1f}× stronger)"
            )
            fix = f"use `{better}({tensor})` for a classifier"
            data = {"output_slope": slope, "gradient": grad, "cross_entropy_gradient": ce}
        elif kind == "bce" and op == "softmax" and width == 1:
            message = (
                "a softmax over a single output is always 1.0, so bce sees the same "
                "prediction for every input and the gradient through the softmax is 0"
            )
            fix = "use `sigmoid` for a single yes/no output"
        elif kind == "bce" and op == "softmax":
            message = (
                f"bce scores each of the {width} outputs as an independent yes/no, but a "
                f"softmax's outputs sum to 1: at most one of them can exceed 0.5, and the "
                f"fused gradient ŷ − y of softmax with cross-entropy is lost"
            )
            fix = (
                "use `cross_entropy` for one label per sample, or sigmoid outputs with bce "
                "for several labels"
            )
        elif kind == "bce" and op == "log_softmax":
            message = (
                "bce reads these log-probabilities as logits, and they are ≤ 0: every "
                "prediction sigmoid(log p) is at most 0.5"
            )
            fix = "give bce the raw logits or a sigmoid output"
        elif kind in ("cross_entropy", "focal") and width == 1:
            message = (
                "a softmax over a single output is 1 whatever the input, so the loss is "
                "0 for every sample and no gradient reaches the model"
            )
            fix = (
                "use `bce` on one logit (or sigmoid) for a yes/no output, or give the output "
                "one unit per class"
            )
            data = {"min_loss": 0.0}
        elif kind in ("cross_entropy", "focal") and op == "sigmoid":
            top, floor = _squashed(width)
            message = (
                f"{kind} applies its own softmax to what it reads, and sigmoid outputs in "
                f"(0, 1) limit the largest probability to e/(e + {width - 1}) = {top:.3f}, "
                f"so the loss can never fall below {floor:.3f} (random guessing: "
                f"ln {width} = {math.log(width):.3f})"
            )
            fix = "read the logits before the sigmoid (or use a softmax output)"
            data = {"max_probability": round(top, 6), "min_loss": round(floor, 6)}
        elif kind == "kl_div" and op in ("softmax", "sigmoid"):
            message = (
                "kl_div expects log-probabilities but these are probabilities in [0, 1]: "
                "read as log p they describe e^p ∈ [1, 2.718], which sums to more than 1"
            )
            fix = "use `log_softmax` for the output kl_div reads"
        elif kind == "kl_div" and op not in ("log_softmax", "log", "input"):
            message = (
                "kl_div expects log-probabilities but these are unnormalized outputs: "
                "the divergence is only meaningful when exp of the input sums to 1"
            )
            fix = "apply `log_softmax` to the output kl_div reads"
        else:
            return None
        return message, fix, data


# ------------------------------------------------------- initialization


def _target(node: Node, following: Node | None) -> tuple[str, str, float] | None:
    """(scheme, formula, variance) recommended for a layer followed by ``following``
    [seed 000 / 003 §initialization]; None when a normalization follows (its output does
    not depend on the weights' scale)."""
    fan_in, fan_out = _fans(node)
    if following is not None and following.op in NORMS:
        return None
    act = following.op if following is not None else None
    if act in HE_ACTIVATIONS:
        return "He", f"2/{fan_in}", 2 / fan_in
    if act in SATURATING:
        return ("Xavier", f"2/({fan_in}+{fan_out}) = 2/{fan_in + fan_out}", 2 / (fan_in + fan_out))
    return "LeCun", f"1/{fan_in}", 1 / fan_in


def _following(lowered: Lowered, node: Node) -> tuple[Node | None, bool]:
    """The op after a layer and whether that is known (False: the output forks)."""
    g = lowered.graph
    if not list(g.successors(node.id)):
        return None, True
    nxt = next_op(lowered, node.id)
    if nxt is None:
        return None, False
    if nxt.op in RELU_FAMILY:  # positively homogeneous: relu then a norm is scale-free too
        after = next_op(lowered, nxt.id)
        if after is not None and after.op in NORMS:
            return after, True
    return nxt, True


def _init_layers(lowered: Lowered) -> Iterator[Node]:
    for node in lowered.nodes():
        if node.op in LINEAR_LAYERS and node.opts.get("init") is not None:
            yield node


@register
class InitActivationMismatch(_PerLine):
    """## What it does
    Checks a named initialization scheme against the activation after the layer
    (`dense` and `conv2d`; looking through `dropout`, `identity`, `flatten` and
    `reshape`):

    - `init=he` followed by `sigmoid` or `tanh`;
    - `init=xavier` or `init=lecun` on a deep stack of ReLU layers: at least
      `xavier_relu_layers` layers in a row, each followed by a ReLU-family
      activation (relu, relu6, leaky_relu, prelu), with no normalization, merge
      or differently initialized layer between them.

    A layer followed by a normalization is skipped: the normalization divides the
    scale out.

    ## Why is this bad?
    Var(z) = n_in·Var(w)·Var(x) (seed 000). He's Var(w) = 2/n_in doubles the
    variance-preserving 1/n_in because ReLU zeroes about half the units; Xavier's
    2/(n_in + n_out) is meant for sigmoid and tanh (seeds 000, 003). For the
    784 → 256 MNIST layer: He 2/784 = 0.00255 (std 0.0505), Xavier 2/1040 =
    0.00192 (std 0.0438; the exact value is 0.04385).

    - He before a sigmoid or tanh gives every layer (n_in + n_out)/n_in times
      Xavier's variance (1.33× for 784 → 256, 2× for square layers), pushing the
      pre-activations into the saturated range.
    - Xavier before a ReLU is off by 2× for square layers (2/(2n) = 1/n against
      2/n): each layer halves the signal's variance, 0.5^L over L layers.
      He et al. (2015) trained a 22-layer ReLU net with Xavier more slowly than
      with He, and a 30-layer one not at all.

    ## Example
    ```
    h = x -> dense(256, init=he) -> sigmoid
    ```

    Use instead:
    ```
    h = x -> dense(256, init=xavier) -> sigmoid
    ```

    ## Options
    - `xavier_relu_layers` (default 20): report Xavier/LeCun-initialized ReLU stacks
      of at least this many layers (He et al. 2015: 22 layers slower, 30 stalled).

    ## References
    - He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015, §2.2 and Fig. 3.
    """

    code = "NN106"
    name = "init-activation-mismatch"
    family = "training"
    severity = Severity.WARNING
    summary = "An initialization scheme meant for another activation"
    options = ("xavier_relu_layers",)

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in _init_layers(lowered):
            if node.opts["init"].scheme != "he":
                continue
            following, _ = _following(lowered, node)
            if following is None or following.op not in SATURATING:
                continue
            fan_in, fan_out = _fans(node)
            he, xavier = 2 / fan_in, 2 / (fan_in + fan_out)
            yield self.diag(
                f"init=he on {label(node)} before a {following.op} (line {following.span.line}): "
                f"He's Var(w) = 2/{fan_in} = {_g(he)} (std {_g(math.sqrt(he))}) assumes a ReLU "
                f"that zeroes half the units; for {following.op} the seeds recommend Xavier "
                f"2/({fan_in}+{fan_out}) = 2/{fan_in + fan_out} = {_g(xavier)} "
                f"(std {_g(math.sqrt(xavier))}), {he / xavier:.2f}× smaller",
                node.span,
                fix="use `init=xavier` before sigmoid or tanh (or switch the activation to relu)",
                scheme="he",
                activation=following.op,
                variance=he,
                target_variance=xavier,
                target_std=math.sqrt(xavier),
            )
        yield from self._xavier_relu_stacks(ctx, lowered)

    def _xavier_relu_stacks(self, ctx: RuleContext, lowered: Lowered) -> Iterator[Diagnostic]:
        need = int(ctx.thresholds["xavier_relu_layers"])
        # run[v] = (layers, first layer id) of the Xavier/LeCun ReLU layers in a row up to v.
        run: dict[str, tuple[int, str | None]] = {}
        longest: dict[str, tuple[int, str]] = {}  # first layer id -> (layers, last layer id)
        for node in lowered.nodes():
            prev = run.get(node.inputs[0], (0, None)) if len(node.inputs) == 1 else (0, None)
            if node.op in LINEAR_LAYERS:
                init = node.opts.get("init")
                following, _ = _following(lowered, node)
                if (
                    init is not None
                    and init.scheme in ("xavier", "lecun")
                    and following is not None
                    and following.op in RELU_FAMILY
                ):
                    count, first = prev[0] + 1, prev[1] or node.id
                    run[node.id] = (count, first)
                    if count > longest.get(first, (0, ""))[0]:
                        longest[first] = (count, node.id)
                else:
                    run[node.id] = (0, None)
            elif node.op in NORMS or node.op in ("attention", "embedding", "loss"):
                run[node.id] = (0, None)
            else:
                run[node.id] = prev
        for first, (count, last) in longest.items():
            if count >= need:
                yield self._stack(lowered, first, last, count)

    def _stack(self, lowered: Lowered, first_id: str, last_id: str, count: int) -> Diagnostic:
        first, last = _node(lowered, first_id), _node(lowered, last_id)
        gain = 1.0
        node = last
        while True:  # walk the stack back from its last layer
            if node.op in LINEAR_LAYERS:
                fan_in, fan_out = _fans(node)
                v = 2 / (fan_in + fan_out) if node.opts["init"].scheme == "xavier" else 1 / fan_in
                gain *= fan_in * v / 2  # Var(z) gain of one ReLU layer: n_in·Var(w)·½
            if node.id == first_id:
                break
            node = _node(lowered, node.inputs[0])
        fan_in, fan_out = _fans(first)
        scheme = first.opts["init"].scheme
        mine = 2 / (fan_in + fan_out) if scheme == "xavier" else 1 / fan_in
        formula = (
            f"2/({fan_in}+{fan_out}) = {_g(mine)}"
            if scheme == "xavier"
            else f"1/{fan_in} = {_g(mine)}"
        )
        return self.diag(
            f"{count} ReLU layers in a row use init={scheme}, from {label(first)} to "
            f"`{last.id}` (line {last.span.line}): ReLU needs He's 2/n_in (here "
            f"2/{fan_in} = {_g(2 / fan_in)}) but {scheme} gives {formula}, "
            f"{2 / fan_in / mine:.2f}× less, so each layer shrinks the signal's variance "
            f"(×0.5 for square layers): over the {count} layers by {_e(gain)}",
            first.span,
            fix="use `init=he` for layers followed by relu",
            layers=count,
            scheme=scheme,
            variance_gain=gain,
            first=first.id,
            last=last.id,
        )


@register
class InitScale(_PerLine):
    """## What it does
    Compares an explicit weight scale — `init=normal(std)`, `init=uniform(a)`
    (U(−a, a), variance a²/3) or `init=ones` (E[w²] = 1) on `dense` and `conv2d`
    — with the variance recommended for the activation after the layer, and
    reports the layer when they differ by `variance_ratio` or more either way.
    The target is He's 2/n_in before a ReLU-family activation (and elu, gelu,
    silu), Xavier's 2/(n_in + n_out) before sigmoid or tanh, and the
    variance-preserving (LeCun) 1/n_in before anything else (logits, a softmax).

    Skipped: a layer followed by a normalization (it divides the scale out); a
    layer inside a residual branch (between a tensor and the `add` that adds it
    back), where the skip carries the signal and small initializations are
    deliberate (GPT-2 scales residual projections down; Fixup starts them at 0);
    and an output layer (no weight layer after it) initialized *smaller* than
    the target, which only makes the first predictions closer to uniform.

    ## Why is this bad?
    Var(z) = n_in·Var(w)·Var(x) (seed 000): if n_in·Var(w) is off, the signal's
    variance is multiplied by that factor at every such layer and explodes or
    vanishes with depth; σ_w² = 1 explodes, σ_w² = 0.01 vanishes (seed 003).
    nnlint reports the exact target for the layer; for the 784 → 256 MNIST layer
    before a ReLU: He 2/784 = 0.00255, std 0.0505; before a sigmoid: Xavier
    2/1040 = 0.00192, std 0.0438 (seed 000; 0.04385 exactly).

    ## Example
    ```
    h1 = x -> dense(256, init=normal(0.01)) -> relu
    ```

    Use instead:
    ```
    h1 = x -> dense(256, init=he) -> relu
    ```

    ## Options
    - `variance_ratio` (default 4): report a variance at least this many times
      above or below the target (std off by 2×).
    """

    code = "NN107"
    name = "init-scale"
    family = "training"
    severity = Severity.WARNING
    summary = "Initial weights far from the variance the next activation needs"
    options = ("variance_ratio",)

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        ratio_limit = float(ctx.thresholds["variance_ratio"])
        branches: set[str] | None = None
        heads = _output_layers(lowered)
        for node in _init_layers(lowered):
            init = node.opts["init"]
            if init.scheme == "normal":
                var = init.std**2
                given = f"init=normal({init.std:g}) gives Var(w) = {_g(var)}"
            elif init.scheme == "uniform":
                var = init.std**2 / 3
                given = f"init=uniform({init.std:g}) gives Var(w) = {init.std:g}²/3 = {_g(var)}"
            elif init.scheme == "ones":
                var, given = 1.0, "init=ones sets every weight to 1 (E[w²] = 1)"
            else:
                continue
            following, known = _following(lowered, node)
            if not known:
                continue
            target = _target(node, following)
            if target is None:
                continue
            if branches is None:
                branches = residual_branches(lowered)
            if node.id in branches:
                continue
            scheme, formula, want = target
            if var == 0:
                continue  # normal(0) is a constant: NN108's case
            ratio = var / want
            if 1 / ratio_limit < ratio < ratio_limit:
                continue
            if ratio < 1 and node.id in heads:
                continue  # small initial logits only mean a near-uniform first prediction
            after = (
                f"for the {following.op} after it"
                if scheme != "LeCun"
                else "for a layer with no activation after it"
            )
            how = f"{ratio:.3g}× above" if ratio > 1 else f"{1 / ratio:.3g}× below"
            fan_in = _fans(node)[0]
            gain = ""
            if scheme == "He":  # Var(z) gain of a ReLU layer: n_in·Var(w)·½ [seed 000]
                gain = (
                    f"; each layer like this scales the signal's variance by "
                    f"{fan_in}·Var(w)/2 = {fan_in * var / 2:.3g}"
                )
            elif scheme == "LeCun":
                gain = (
                    f"; each layer like this scales the signal's variance by "
                    f"{fan_in}·Var(w) = {fan_in * var:.3g}"
                )
            yield self.diag(
                f"{given} on {label(node)}, {how} the {scheme} variance {after}: "
                f"{formula} = {_g(want)} (std {_g(math.sqrt(want))}){gain}",
                node.span,
                fix=f"use `init={scheme.lower()}` or `init=normal({_g(math.sqrt(want))})`",
                variance=var,
                target_variance=want,
                target_std=math.sqrt(want),
                target_scheme=scheme,
                ratio=ratio,
            )


@register
class ConstantInit(_PerLine):
    """## What it does
    Reports `init=zeros` or `init=ones` (or `normal(0)`) on a `dense` or `conv2d`
    layer when the symmetry it creates can never break:

    - the layers that read it are constant-initialized too (through activations,
      normalization and value-preserving ops, before any merge), so its units
      have identical incoming *and* outgoing weights; or
    - it is zero-initialized and followed by `relu` or `relu6`: with biases at 0
      every pre-activation is exactly 0, where the derivative is 0.

    A constant layer read by a randomly initialized one, or by the loss, is left
    alone: its units get different gradients through their different outgoing
    weights (zero-initialized output heads, the last layer of a residual branch
    in Fixup, and LoRA's zero B matrix all train).

    ## Why is this bad?
    With zero (or any constant) weights every neuron of the layer computes the
    same output and receives the same gradient, so symmetry never breaks and the
    layer behaves like one neuron; learning fails (seeds 003, 004). Biases may
    be zero. Zero weights before a ReLU are worse: the units output 0, receive no
    gradient, never update, and no gradient passes them to earlier layers.

    ## Example
    ```
    h1     = x  -> dense(256, init=zeros) -> sigmoid
    logits = h1 -> dense(10, init=zeros)
    ```

    Use instead:
    ```
    h1     = x  -> dense(256, init=xavier) -> sigmoid
    logits = h1 -> dense(10, init=zeros)      # an output head may start at 0
    ```
    """

    code = "NN108"
    name = "constant-init"
    family = "training"
    severity = Severity.ERROR
    summary = "Constant initial weights whose symmetry never breaks"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        for node in _init_layers(lowered):
            init = node.opts["init"]
            if not _constant(init):
                continue
            units = node.shape[-1] if node.op == "dense" else node.shape[0]
            what = "every weight 0" if init.scheme != "ones" else "every weight 1"
            following = next_op(lowered, node.id)
            dead = following is not None and following.op in ("relu", "relu6")
            if init.scheme != "ones" and dead:
                yield self.diag(
                    f"{label(node)} starts with {what} and its biases at 0, so all {units} "
                    f"pre-activations are exactly 0, where {following.op}' = 0: the units output "
                    f"0, receive no gradient and never update, and no gradient reaches the "
                    f"layers before them",
                    node.span,
                    fix="use `init=he` before relu (zero init suits biases, an output head or "
                    "the last layer of a residual branch)",
                    units=units,
                    scheme=init.scheme,
                    activation=following.op,
                )
                continue
            readers = _readers(lowered, node.id)
            if not readers or units < 2:
                continue
            names = ", ".join(label(r) for r in readers)
            yield self.diag(
                f"{label(node)} starts with {what}, and so does {names} that reads it: its "
                f"{units} units compute the same output and receive the same gradient at every "
                f"step, so the layer behaves like one neuron ({units - 1} of its {units} units "
                f"are copies)",
                node.span,
                fix="initialize the hidden layer randomly (`init=he` before relu, "
                "`init=xavier` before sigmoid/tanh)",
                units=units,
                scheme=init.scheme,
                readers=[r.id for r in readers],
            )


def _output_layers(lowered: Lowered) -> set[str]:
    """Weight layers with no weight layer after them (the model's output heads)."""
    g = lowered.graph
    weights = LINEAR_LAYERS | {"attention", "embedding"}
    feeds: dict[str, bool] = {}  # does a weight layer read this node's output, at any depth?
    heads: set[str] = set()
    for v in reversed(lowered.order):
        feeds[v] = any(_node(lowered, s).op in weights or feeds[s] for s in g.successors(v))
        if _node(lowered, v).op in weights and not feeds[v]:
            heads.add(v)
    return heads


def _constant(init) -> bool:
    return init.scheme in ("zeros", "ones") or (
        init.scheme in ("normal", "uniform") and init.std == 0
    )


def _readers(lowered: Lowered, node_id: str) -> list[Node]:
    """The weight layers that read ``node_id`` through element-wise and value-preserving
    ops, if every one of them is constant-initialized; [] otherwise."""
    g = lowered.graph
    found: list[Node] = []
    stack = [node_id]
    seen = {node_id}
    while stack:
        for s in g.successors(stack.pop()):
            if s in seen:
                continue
            seen.add(s)
            node = _node(lowered, s)
            if node.op in LINEAR_LAYERS or node.op in ("attention",):
                init = node.opts.get("init")
                if init is None or not _constant(init):
                    return []
                found.append(node)
            elif node.op in ("loss", "add", "concat", "matmul", "softmax", "log_softmax"):
                return []  # distinct targets or other operands break the symmetry
            else:
                stack.append(s)
    return found


# ----------------------------------------------------------------- NN109

#: Ops a linear chain may pass: value-preserving ones and batchnorm (an affine
#: map per feature at inference). layernorm/groupnorm divide by each sample's own
#: statistics, which is not linear, and pooling ends the chain.
LINEAR_GLUE = PASS_THROUGH | {"batchnorm"}


@register
class LinearCollapse(_PerLine):
    """## What it does
    Finds two or more `dense` or `conv2d` layers in sequence with no nonlinearity
    between them — only `identity`, `dropout`, `flatten`, `reshape` or `batchnorm`
    (an affine map per feature at inference; `layernorm` and `groupnorm` divide by
    each sample's own statistics, which is not linear, and end the chain, as do
    pooling and merges) — and compares their parameters with the single layer
    that computes the same map: n_L × n_0 + n_L for dense layers, one conv2d
    with the combined kernel (k₁ + k₂ − 1 for stride 1) for convolutions, one
    dense map over the flattened tensors otherwise.

    A stack is reported only when that single layer needs no more parameters
    than the stack holds. A stack with a narrower middle is a low-rank
    factorization (MobileNetV2's linear bottlenecks, a depthwise conv followed
    by a pointwise one, LoRA's B·A): it saves parameters on purpose.

    ## Why is this bad?
    Without nonlinearities W^(L)···W^(1)·x = W_eff·x: any depth equals one linear
    layer, and the biases collapse into one b_eff (seeds 000, 003, 004). The extra
    matrices add parameters, memory and compute with no added expressiveness.
    784 → dense(256) → dense(10) holds 203,530 parameters for a map a single
    dense(10) computes with 7,850.

    ## Example
    ```
    h      = x -> dense(256)
    logits = h -> dense(10)
    ```

    Use instead:
    ```
    h      = x -> dense(256) -> relu
    logits = h -> dense(10)
    ```
    """

    code = "NN109"
    name = "linear-collapse"
    family = "training"
    severity = Severity.WARNING
    summary = "Stacked linear layers with no nonlinearity between them"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        g = lowered.graph
        params = {layer.node.id: layer.counted_params for layer in ctx.report.layers}
        done: set[str] = set()
        for node in lowered.nodes():
            if node.op not in LINEAR_LAYERS or node.id in done:
                continue
            chain = [node]
            current = node.id
            while True:
                succ = list(g.successors(current))
                if len(succ) != 1:
                    break
                nxt = _node(lowered, succ[0])
                if nxt.op not in LINEAR_GLUE and nxt.op not in LINEAR_LAYERS:
                    break
                chain.append(nxt)
                current = nxt.id
            while chain[-1].op not in LINEAR_LAYERS:
                chain.pop()
            layers = [n for n in chain if n.op in LINEAR_LAYERS]
            done.update(n.id for n in layers)
            if len(layers) < 2:
                continue
            single_layer = _equivalent(chain, layers)
            if single_layer is None:
                continue
            eq, how, single = single_layer
            actual = sum(params[n.id] for n in chain)
            if eq > actual:
                continue
            names = [f"{_op_text(n)} (line {n.span.line})" for n in layers]
            if len(names) > 4:
                names = names[:2] + [f"… ({len(names) - 3:,} more)", names[-1]]
            listed = (
                " and ".join(names)
                if len(names) == 2
                else ", ".join(names[:-1]) + " and " + names[-1]
            )
            yield self.diag(
                f"{listed} have no nonlinearity between them, so together they compute one "
                f"linear map: {how} needs {fmt_int(eq)} parameters, these {len(layers)} layers "
                f"hold {fmt_int(actual)}",
                node.span,
                fix=f"put an activation such as relu after `{node.id}`, or replace the stack "
                f"with one {single}",
                layers=len(layers),
                first=layers[0].id,
                last=layers[-1].id,
                equivalent_params=eq,
                actual_params=actual,
            )


# Kernel sizes and strides of a composed convolution beyond this are not computed on:
# a stride of 2 repeated 15,000 times would be a 4,516-digit integer. A composed
# kernel this wide has more weights than any stack nnlint accepts can hold.
_COMPOSE_LIMIT = 2**64


def _equivalent(chain: list[Node], layers: list[Node]) -> tuple[int, str, str] | None:
    """Parameters of the single layer computing the chain's map, how to say it, and
    that layer as the spec would write it; ``None`` when that layer would be wider
    than :data:`_COMPOSE_LIMIT` (so larger than the stack)."""
    first, last = chain[0], chain[-1]
    x0, out = first.in_shapes[0], last.shape
    bias = any(n.opts.get("bias") for n in layers) or any(n.op == "batchnorm" for n in chain)
    ops = {n.op for n in chain}
    if (
        ops <= {"dense", "dropout", "identity", "batchnorm"}
        and len(x0) == len(out)
        and x0[:-1] == out[:-1]
    ):
        n0, nl = x0[-1], out[-1]
        b = nl if bias else 0
        formula = f"{nl} × {n0}" + (f" + {nl}" if b else "")
        return nl * n0 + b, f"a single dense({nl}) from {n0} inputs ({formula})", f"dense({nl})"
    if ops <= {"conv2d", "dropout", "identity", "batchnorm"}:
        k = stride = 1
        log_stride = 0.0  # log10 of the stride, kept once the stride itself is not
        groups = {n.opts["groups"] for n in layers}
        for n in layers:  # receptive field of the composition
            k += (n.opts["kernel"] - 1) * n.opts["dilation"] * stride
            if k > _COMPOSE_LIMIT:
                return None  # a kernel this wide holds more than the stack
            log_stride += math.log10(n.opts["stride"])
            stride = min(stride * n.opts["stride"], _COMPOSE_LIMIT + 1)
        g = groups.pop() if len(groups) == 1 else 1
        c0, cl = x0[0], out[0]
        b = cl if bias else 0
        shown = (
            f"{stride}"
            if stride <= _COMPOSE_LIMIT
            else f"{10 ** (log_stride % 1):.3g}e{math.floor(log_stride)}"
        )
        opts = (f", stride={shown}" if stride > 1 else "") + (f", groups={g}" if g > 1 else "")
        formula = f"{cl} × {c0 // g} × {k}²" + (f" + {cl}" if b else "")
        conv = f"conv2d({cl}, {k}{opts})"
        return cl * (c0 // g) * k * k + b, f"a single {conv} from {c0} channels ({formula})", conv
    n0, nl = numel(x0), numel(out)
    b = nl if bias else 0
    formula = f"{fmt_int(nl)} × {fmt_int(n0)}" + (f" + {fmt_int(nl)}" if b else "")
    how = (
        f"a single dense map from the {fmt_int(n0)} values of {fmt_shape(x0)} to the "
        f"{fmt_int(nl)} of {fmt_shape(out)} ({formula})"
    )
    return nl * n0 + b, how, f"flatten -> dense({nl})"


# ----------------------------------------------------------------- NN110


@register
class BatchnormSmallBatch(Rule):
    """## What it does
    Reports batch normalization trained with `train.batch` below `min_batch`
    (once per spec, at the `batch` entry; a spec that does not give the batch is
    not judged). Frozen batchnorm layers (`trainable=false`, as in detection
    fine-tuning, which keeps their stored statistics) are not counted.

    ## Why is this bad?
    Batchnorm normalizes with the mean and variance of the current batch; small
    batches give noisy statistics (seed 004), and the running statistics used at
    inference then disagree with what the network was trained on. The seeds give
    no number (seed digest §3.8), so nnlint takes it from the Group Normalization
    paper: ResNet-50 on ImageNet at 32, 16, 8, 4 and 2 images per GPU, where
    batchnorm's error grows as the batch shrinks — 23.6% at 32, 34.7% at 2 — while
    groupnorm stays at about 24.1%; below 16, batchnorm is the worse choice. At
    batch 1 a batchnorm over a `[D]` vector has one value per statistic: x − μ = 0,
    and the layer outputs β for every input.

    ## Example
    ```
    h = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
    train { batch = 4 }
    ```

    Use instead: groupnorm for convolutions (seed 002), layernorm for sequences
    and vectors — both independent of the batch:
    ```
    h = img -> conv2d(64, 3, padding=1) -> groupnorm(32) -> relu
    ```

    ## Options
    - `min_batch` (default 16): the smallest training batch batchnorm is trusted with
      (Wu & He 2018: batchnorm beats groupnorm at 16 and 32 images per GPU, not at 8
      and below).

    ## References
    - Wu & He, "Group Normalization", ECCV 2018, §4.1 and Figure 1.
    """

    code = "NN110"
    name = "batchnorm-small-batch"
    family = "training"
    severity = Severity.WARNING
    summary = "Batch normalization with a batch too small for reliable statistics"
    options = ("min_batch",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        config = ctx.config
        if not config.has_train:
            return
        if "batch" not in config.train.spans:
            return  # no batch written: nothing to judge
        need = int(ctx.thresholds["min_batch"])
        batch = config.train.batch
        if batch >= need:
            return
        norms = [n for n in ctx.report.lowered.nodes() if n.op == "batchnorm" and n.trainable]
        if not norms:
            return
        first = norms[0]
        x = first.in_shapes[0]
        per_channel = numel(x) // (x[0] if len(x) == 3 else x[-1])
        values = batch * per_channel
        layers = f"{len(norms)} batchnorm layer{'s' if len(norms) != 1 else ''}"
        detail = (
            f"each statistic of {label(first)} averages {fmt_int(values)} values from "
            f"{batch} sample{'s' if batch != 1 else ''}"
        )
        if values == 1:
            detail = (
                f"each statistic of {label(first)} has a single value: x − μ = 0, so the "
                f"layer outputs β for every input"
            )
        span = config.train.spans["batch"]
        yield self.diag(
            f"batch = {batch} is below {need} for {layers}: {detail}. Batchnorm's statistics "
            f"are noisy at small batches — ResNet-50's ImageNet error with batchnorm rises from "
            f"23.6% at 32 images per GPU to 34.7% at 2, where groupnorm stays at 24.1% "
            f"(Wu & He 2018)",
            span,
            fix="use groupnorm (convolutions) or layernorm instead of batchnorm, or train with "
            f"batch ≥ {need}",
            batch=batch,
            min_batch=need,
            batchnorm_layers=len(norms),
            first=first.id,
            values_per_statistic=values,
        )


__all__ = [
    "BatchnormSmallBatch",
    "ConstantInit",
    "DoubleSoftmax",
    "InitActivationMismatch",
    "InitScale",
    "LinearCollapse",
    "LogOfSoftmax",
    "LossOutputMismatch",
    "SoftmaxOverflow",
    "VanishingGradient",
    "class_width",
    "label",
    "next_op",
    "producer",
]
