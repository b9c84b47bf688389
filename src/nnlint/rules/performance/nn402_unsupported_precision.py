"""NN402 unsupported-precision: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity, Span
from nnlint.precision import is_float, widest_first
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.rules.performance.helpers import closest_precision
from nnlint.training import TRAIN_PRECISIONS


@register
class UnsupportedPrecision(Rule):
    """## What it does
    Checks every precision the deployed model computes in — `deploy.precision`
    (the training precision when it is not set) and each layer's `precision=` —
    against the precisions the target runs natively. On device classes that train
    (GPUs, CPUs) it also checks `train.precision`. One finding per place, with the
    precisions the target does run.

    ## Why is this bad?
    The model does not run as specified: the edge TPU executes only fully 8-bit quantized
    TFLite models ("supports only TensorFlow Lite models that are fully 8-bit quantized",
    Coral docs), so a fp32 model is rejected by its compiler or falls back to the host CPU;
    a bf16 model on a T4 (no bf16 units) runs in a slower format. nnlint's latency estimate
    needs the target's peak at the precision and cannot be computed either. INT8 is 4×
    smaller than fp32 and up to 4× faster on INT8 hardware, but needs post-training
    calibration (Jacob et al. 2018; Nagel et al. 2021).

    ## Example
    ```
    deploy {
        target    = edge-tpu
        precision = fp32
    }
    ```

    Use instead:
    ```
    deploy {
        target    = edge-tpu
        precision = int8      # full-integer post-training quantization
    }
    ```

    ## Options
    None.
    """

    code = "NN402"
    name = "unsupported-precision"
    severity = Severity.ERROR
    summary = "A precision the target cannot compute in"
    needs_target = True

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        target, sections, t = ctx.target, ctx.sections, ctx.totals
        deploy_prec = t.deploy_precision
        if not target.supports_precision(deploy_prec):
            if "precision" in sections.deploy.spans:
                span, what = sections.deploy.spans["precision"], f"deploy.precision = {deploy_prec}"
            elif "precision" in sections.train.spans:
                span = sections.train.spans["precision"]
                what = (
                    f"the model deploys at {deploy_prec}, its training precision "
                    "(deploy.precision is not set)"
                )
            else:
                span = ctx.whole_model_span
                what = f"the model deploys at {deploy_prec}, the default (no precision is set)"
            yield self._diag(
                ctx, deploy_prec, what, span, "set deploy.precision to", place="deploy"
            )
        # Training precision against the hardware training runs on: the training target
        # (train.target / --train-target) when one is named, else — as before — the deploy
        # target when it trains and both precisions are written. A recipe is checked by the
        # arithmetic it computes in (bf16-mixed: bf16, fp8-mixed: fp8).
        named = sections.train.target is not None or ctx.train_target not in (None, target)
        trainer = ctx.train_target if named else target
        compute = TRAIN_PRECISIONS[sections.train.recipe].compute
        if (
            sections.has_train
            and trainer is not None
            and trainer.trains
            and "precision" in sections.train.spans
            and (named or "precision" in sections.deploy.spans)
            and not trainer.supports_precision(compute)
        ):
            yield self._diag(
                ctx,
                compute,
                f"train.precision = {sections.train.recipe}",
                sections.train.spans["precision"],
                "set train.precision to",
                place="train",
                target=trainer,
            )
        layers: dict[str, list] = {}
        for layer in ctx.report.layers:
            if layer.node.precision and not target.supports_precision(layer.node.precision):
                layers.setdefault(layer.node.precision, []).append(layer.node)
        for prec, nodes in layers.items():
            first = nodes[0]
            more = f" ({len(nodes)} layers set it; the first is here)" if len(nodes) > 1 else ""
            yield self._diag(
                ctx,
                prec,
                f"{first.id} has precision={prec}{more}",
                first.span,
                "set its precision= to",
                place="layer",
                layers=len(nodes),
            )

    def _diag(
        self,
        ctx: RuleContext,
        prec: str,
        what: str,
        span: Span,
        verb: str,
        target=None,
        **data,
    ) -> Diagnostic:
        target = target or ctx.target
        runs = widest_first(target.precisions)
        alt = closest_precision(target, prec)
        msg = (
            f"{what}, but {target.id} ({target.name}) has no {prec} arithmetic: it runs "
            f"{', '.join(runs)} only"
        )
        fix = f"{verb} {alt}" if alt else "choose another target"
        if alt and not is_float(alt) and is_float(prec):
            fix += " (full-integer post-training quantization, calibrated on representative data)"
        return self.diag(
            msg,
            span,
            fix=fix,
            precision=prec,
            target=target.id,
            supported=runs,
            suggested=alt,
            **data,
        )
