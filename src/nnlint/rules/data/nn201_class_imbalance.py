"""NN201 class-imbalance: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_int

#: Metrics that do not reward predicting the majority class (He & Garcia 2009: use per-class
#: precision/recall and the confusion matrix instead of plain accuracy).
BALANCED_METRICS = frozenset({"balanced_accuracy", "f1", "auc", "precision", "recall"})


#: Losses built for imbalance (focal loss, Lin et al. 2017).
BALANCED_LOSSES = frozenset({"focal"})


@register
class ClassImbalance(Rule):
    """## What it does
    Reads `data.counts` and reports a training set whose largest class outnumbers
    its smallest by `min_ratio` or more, with the accuracy a model reaches by
    always predicting the largest class. Not reported when the loss is `focal`
    or `data.metric` is a balanced one (`balanced_accuracy`, `f1`, `auc`,
    `precision`, `recall`). A class with no examples at all is always reported:
    no loss or metric makes up for it.

    ## Why is this bad?
    A 99:1 fraud detector reaches 99% accuracy by always predicting "not fraud" and catches
    zero fraud; production data often shows 10:1 or 100:1 imbalance even when the holdout
    set is balanced, and average-case losses ignore the rare classes (He & Garcia 2009,
    Learning from Imbalanced Data). The majority-class baseline is max_c n_c / N; a reported
    accuracy below it is worse than the constant predictor (99.2% against a 99.5% majority
    class).

    ## Example
    ```
    data {
        classes = 2
        counts  = [99000, 1000]
    }
    ```

    Use instead: a loss built for imbalance (focal loss, Lin et al. 2017; ≈6BC FLOPs),
    class weights or resampling, and a metric the constant predictor cannot game:
    ```
    train { loss = focal(logits) }
    data {
        classes = 2
        counts  = [99000, 1000]
        metric  = balanced_accuracy
    }
    ```

    ## Options
    - `min_ratio` (default 10): report from this largest-to-smallest class ratio
      (He & Garcia 2009: imbalances of 100:1 and beyond are common in practice).
    """

    code = "NN201"
    name = "class-imbalance"
    severity = Severity.WARNING
    summary = "Imbalanced classes scored by plain accuracy and an unweighted loss"
    options = ("min_ratio",)

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        data = ctx.sections.data
        counts = data.counts
        if not counts or len(counts) < 2:
            return
        total = sum(counts)
        big = max(range(len(counts)), key=lambda i: counts[i])
        small = min(range(len(counts)), key=lambda i: counts[i])
        largest, smallest = counts[big], counts[small]
        baseline = largest / total
        rest = (
            f"catches none of class {small}"
            if len(counts) == 2
            else f"gets every example of the other {len(counts) - 1} classes wrong"
        )
        sizes = (
            f"(largest: class {big}, {fmt_int(largest)} examples; smallest: class {small}, "
            f"{fmt_int(smallest)} of {fmt_int(total)})"
        )
        fix = (
            "train with `focal(...)`, class weights or resampling, and set `metric = "
            "balanced_accuracy` (or f1, auc) in `data`"
        )
        data_figures = {
            "majority_class": big,
            "minority_class": small,
            "majority_accuracy": baseline,
            "counts": list(counts),
            "total": total,
        }
        if smallest == 0:  # no loss or metric can make up for a class that is never seen
            empty = [i for i, n in enumerate(counts) if n == 0]
            which = (
                f"class {empty[0]} has"
                if len(empty) == 1
                else f"classes {', '.join(map(str, empty))} have"
            )
            yield self.diag(
                f"{which} no training examples {sizes}: the model never sees "
                f"{'it' if len(empty) == 1 else 'them'} and always predicting class {big} is "
                f"already {100 * baseline:.1f}% accurate",
                data.spans["counts"],
                fix="collect examples of every class, or drop the empty ones from `classes`",
                ratio=None,
                empty_classes=empty,
                **data_figures,
            )
            return
        losses = ctx.sections.train.losses
        if data.metric in BALANCED_METRICS or any(t.kind in BALANCED_LOSSES for t in losses):
            return
        need = float(ctx.thresholds["min_ratio"])
        ratio = largest / smallest
        if ratio < need:
            return
        metric = (
            f"data.metric = {data.metric}" if data.metric else "plain accuracy (no data.metric)"
        )
        shown = f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.3g}"
        yield self.diag(
            f"the classes are imbalanced {shown}:1 {sizes}: always predicting class {big} "
            f"is already {100 * baseline:.1f}% accurate and {rest}; scored by {metric}",
            data.spans["counts"],
            fix=fix,
            ratio=ratio,
            min_ratio=need,
            **data_figures,
        )
