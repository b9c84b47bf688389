"""NN109 linear-collapse: see the class docstring for the rule's doc page."""

from __future__ import annotations

import math
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.graph import Node
from nnlint.graph_queries import op_text
from nnlint.ops import numel
from nnlint.ops.layers import Dense
from nnlint.ops.layers import _Conv as Convolution
from nnlint.rules.base import PerLineRule, RuleContext, register
from nnlint.units import fmt_int, fmt_shape


def _linear_glue(node: Node) -> bool:
    """An op a linear chain may pass: a value-preserving one or a batchnorm (an affine
    map per feature at inference). layernorm/groupnorm divide by each sample's own
    statistics, which is not linear, and pooling ends the chain."""
    return node.kind.passes_values or node.kind.folds_into_linear


@register
class LinearCollapse(PerLineRule):
    """## What it does
    Finds two or more `dense` or convolution layers in sequence with no nonlinearity
    between them — only `identity`, `dropout`, `flatten`, `reshape` or `batchnorm`
    (an affine map per feature at inference; `layernorm` and `groupnorm` divide by
    each sample's own statistics, which is not linear, and end the chain, as do
    pooling and merges) — and compares their parameters with the single layer
    that computes the same map: n_L × n_0 + n_L for dense layers, one convolution
    of the same rank (`conv1d`, `conv2d`, `conv3d`) with the combined kernel
    (k₁ + k₂ − 1 per axis for stride 1; dilated when every tap of the stack falls
    on a multiple of a dilation or stride, as two `dilation=2` layers compose into
    one 5-tap `dilation=2` kernel) and the groups the layers share (the greatest
    common divisor of theirs) for convolutions, one
    dense map over the flattened tensors otherwise.

    A stack is reported only when that single layer needs no more parameters
    than the stack holds. A stack with a narrower middle is a low-rank
    factorization (MobileNetV2's linear bottlenecks, a depthwise conv followed
    by a pointwise one, LoRA's B·A): it saves parameters on purpose.

    ## Why is this bad?
    Without nonlinearities W^(L)···W^(1)·x = W_eff·x: any depth equals one linear layer, and
    the biases collapse into one b_eff (Goodfellow et al. 2016, Deep Learning §6.1). The
    extra matrices add parameters, memory and compute with no added expressiveness. 784 →
    dense(256) → dense(10) holds 203,530 parameters for a map a single dense(10) computes
    with 7,850.

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
    severity = Severity.WARNING
    summary = "Stacked linear layers with no nonlinearity between them"

    def findings(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        lowered = ctx.report.lowered
        params = {layer.node.id: layer.counted_params for layer in ctx.report.layers}
        done: set[str] = set()
        for node in lowered.nodes():
            if not node.kind.linear_layer or node.id in done:
                continue
            chain = [node]
            current = node.id
            while True:
                succ = lowered.successors(current)
                if len(succ) != 1:
                    break
                nxt = lowered.node(succ[0])
                if not _linear_glue(nxt) and not nxt.kind.linear_layer:
                    break
                chain.append(nxt)
                current = nxt.id
            while not chain[-1].kind.linear_layer:
                chain.pop()
            layers = [n for n in chain if n.kind.linear_layer]
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
            names = [f"{op_text(n)} (line {n.span.line})" for n in layers]
            if len(names) > 4:
                names = names[:2] + [f"… ({len(names) - 3:,} more)", names[-1]]
            listed = (
                " and ".join(names)
                if len(names) == 2
                else ", ".join(names[:-1]) + " and " + names[-1]
            )
            yield self.diag(
                f"{listed} have no nonlinearity between them, so together they compute one "
                f"linear map: {how} needs {fmt_int(eq)} parameters, these "
                f"{fmt_int(len(layers))} layers hold {fmt_int(actual)}",
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
    bias = any(n.opts.get("bias") for n in layers) or any(n.kind.folds_into_linear for n in chain)
    views = any(n.kind.is_view for n in chain)
    if (
        not views
        and all(isinstance(n.kind, Dense) for n in layers)
        and len(x0) == len(out)
        and x0[:-1] == out[:-1]
    ):
        n0, nl = x0[-1], out[-1]
        b = nl if bias else 0
        formula = f"{nl} × {n0}" + (f" + {nl}" if b else "")
        return nl * n0 + b, f"a single dense({nl}) from {n0} inputs ({formula})", f"dense({nl})"
    axes = {n.kind.axes if isinstance(n.kind, Convolution) else None for n in layers}
    if (
        not views
        and None not in axes
        and len(axes) == 1
        and all(
            isinstance(n.opts[k], int) for n in layers for k in ("kernel", "stride", "dilation")
        )
    ):  # square (cubic) kernels of one rank compose into one; a (3, 1) pair is left to dense
        (rank,) = axes
        field = stride = 1
        spacing = 0  # the gcd of every tap's offset in the input: the composed dilation
        log_stride = 0.0  # log10 of the stride, kept once the stride itself is not
        for n in layers:  # receptive field of the composition
            step = n.opts["dilation"] * stride  # layer n's taps, in input positions
            field += (n.opts["kernel"] - 1) * step
            if field > _COMPOSE_LIMIT:
                return None  # a kernel this wide holds more than the stack
            if n.opts["kernel"] > 1:
                spacing = math.gcd(spacing, step)
            log_stride += math.log10(n.opts["stride"])
            stride = min(stride * n.opts["stride"], _COMPOSE_LIMIT + 1)
        dilation = spacing or 1
        k = (field - 1) // dilation + 1  # every offset is a multiple of the dilation
        # each layer maps its channel groups to its own; together, groups of the gcd
        g = math.gcd(*(n.opts["groups"] for n in layers))
        c0, cl = x0[0], out[0]
        b = cl if bias else 0
        shown = (
            f"{stride}"
            if stride <= _COMPOSE_LIMIT
            else f"{10 ** (log_stride % 1):.3g}e{math.floor(log_stride)}"
        )
        opts = (
            (f", stride={shown}" if stride > 1 else "")
            + (f", groups={g}" if g > 1 else "")
            + (f", dilation={dilation}" if dilation > 1 else "")
        )
        power = {1: "", 2: "²", 3: "³"}[rank]
        formula = f"{cl} × {c0 // g} × {k}{power}" + (f" + {cl}" if b else "")
        conv = f"conv{rank}d({cl}, {k}{opts})"
        weights = cl * (c0 // g) * k**rank + b
        return weights, f"a single {conv} from {c0} channels ({formula})", conv
    n0, nl = numel(x0), numel(out)
    b = nl if bias else 0
    formula = f"{fmt_int(nl)} × {fmt_int(n0)}" + (f" + {fmt_int(nl)}" if b else "")
    how = (
        f"a single dense map from the {fmt_int(n0)} values of {fmt_shape(x0)} to the "
        f"{fmt_int(nl)} of {fmt_shape(out)} ({formula})"
    )
    return nl * n0 + b, how, f"flatten -> dense({nl})"
