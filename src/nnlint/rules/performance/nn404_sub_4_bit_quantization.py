"""NN404 sub-4-bit-quantization: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity, Span
from nnlint.precision import PRECISION_BITS
from nnlint.rules.base import Rule, RuleContext, register


@register
class SubFourBitPrecision(Rule):
    """## What it does
    Flags quantization below `min_bits` bits per value — `int3`, `int2`, `int1` — in
    `deploy.precision` or a layer's `precision=`, once per place. (Training in an
    integer format, sub-4-bit or not, is NN113's finding.)

    ## Why is this bad?
    Below 4 bits, post-training quantization loses accuracy and needs calibration
    data or quantization-aware training (Nagel et al. 2021, A White Paper on Neural
    Network Quantization). INT8 already tolerates inference better than training,
    because training accumulates rounding error over many updates; below 4 bits a
    model keeps its average accuracy on common inputs while failing on rare ones,
    which a mean test accuracy hides.

    ## Example
    ```
    deploy {
        precision = int2
    }
    ```

    Use instead: int8 (or int4) with post-training calibration on representative
    data; if the sub-4-bit format is a requirement, calibrate it on a dataset that
    covers the rare cases and evaluate per class:
    ```
    deploy {
        precision = int8
    }
    ```

    ## Options
    - `min_bits`: the narrowest format accepted without a finding (default 4).
    """

    code = "NN404"
    name = "sub-4-bit-quantization"
    severity = Severity.WARNING
    summary = "Quantization below 4 bits"
    options = ("min_bits",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        limit = ctx.thresholds["min_bits"]
        sections = ctx.sections
        fix = (
            "use int8 or int4 with post-training calibration on representative data, or "
            "calibrate the sub-4-bit model on data that covers rare inputs and check "
            "per-class accuracy"
        )
        prec = sections.deploy.precision
        if prec and "precision" in sections.deploy.spans and PRECISION_BITS[prec] < limit:
            yield self._diag(
                f"deploy.precision = {prec}",
                prec,
                limit,
                sections.deploy.spans["precision"],
                fix,
                place="deploy",
            )
        seen: dict[str, list] = {}
        for layer in ctx.report.layers:
            prec = layer.node.precision
            if prec and PRECISION_BITS[prec] < limit:
                seen.setdefault(prec, []).append(layer.node)
        for prec, nodes in seen.items():
            more = f" ({len(nodes)} layers; the first is here)" if len(nodes) > 1 else ""
            yield self._diag(
                f"{nodes[0].id} has precision={prec}{more}",
                prec,
                limit,
                nodes[0].span,
                fix,
                place="layer",
                layers=len(nodes),
            )

    def _diag(self, what: str, prec: str, limit: int, span: Span, fix: str, **data) -> Diagnostic:
        bits = PRECISION_BITS[prec]
        msg = (
            f"{what}: {bits} {'bit' if bits == 1 else 'bits'} per value, below {limit} bits; "
            f"accuracy degrades on tail inputs and calibration data is needed"
        )
        return self.diag(msg, span, fix=fix, precision=prec, bits=bits, min_bits=limit, **data)
