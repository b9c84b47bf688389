"""NN204 small-dataset: see the class docstring for the rule's doc page."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.ops import numel
from nnlint.rules.base import Rule, RuleContext, register
from nnlint.units import fmt_int


@register
class SmallDataset(Rule):
    """## What it does
    A note, once per spec at `train.samples`, when the dataset is too small to
    justify a neural network before a classical baseline has been tried:

    - fewer than `min_samples` training examples (default 1,000), or
    - tabular inputs — every model input a plain vector `[d]` that no lookup
      (`embedding`) reads — with fewer than `min_tabular_features` features in all
      (default 100), on at most `max_tabular_samples` examples (default 10,000).

    It names the baseline to try first. A spec without `samples` is not judged.

    ## Why is this bad?
    It is not wrong, but it is rarely the best use of the compute. On tabular data,
    gradient-boosted trees still beat deep networks on medium-sized datasets (about
    10,000 examples), in accuracy and in training time (Grinsztajn, Oyallon &
    Varoquaux 2022, "Why do tree-based models still outperform deep learning on
    typical tabular data?"). "Small" tabular data is bounded at 1,000 training
    examples and 100 features by Hollmann et al. 2023 (TabPFN), who compare against
    gradient boosting and logistic regression there. A logistic regression trains
    in milliseconds and gives the accuracy a network has to beat to be worth its
    cost; if a tree ensemble reaches it, the network is not needed.

    ## Example
    ```
    model churn {
        input x: [20]            # 20 columns of a customer table
        h = x -> dense(64) -> relu -> dense(64) -> relu
        logits = h -> dense(2)
    }
    train { samples = 800 }
    ```

    Use instead: fit gradient-boosted trees (XGBoost, LightGBM) and a logistic
    regression first, and keep the network only if it beats them on held-out data.

    ## Options
    - `min_samples` (default 1000): fewer training examples than this is small.
    - `min_tabular_features` (default 100): tabular inputs with fewer features are
      where tree ensembles are the baseline.
    - `max_tabular_samples` (default 10000): the tabular case is judged up to this
      many examples (Grinsztajn et al. 2022's medium-sized regime).

    ## References
    - Grinsztajn, Oyallon & Varoquaux, "Why do tree-based models still outperform deep
      learning on typical tabular data?", NeurIPS 2022 Datasets and Benchmarks.
    - Hollmann, Müller, Eggensperger & Hutter, "TabPFN: A Transformer That Solves Small
      Tabular Classification Problems in a Second", ICLR 2023.
    - Chen & Guestrin, "XGBoost: A Scalable Tree Boosting System", KDD 2016.
    """

    code = "NN204"
    name = "small-dataset"
    severity = Severity.NOTE
    summary = "A dataset too small to justify a network before a classical baseline"
    options = ("min_samples", "min_tabular_features", "max_tabular_samples")

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        train = ctx.sections.train
        if not ctx.sections.has_train or train.samples is None:
            return
        samples = train.samples
        t = ctx.thresholds
        small = samples < t["min_samples"]
        features = _tabular_features(ctx)
        tabular = (
            features is not None
            and features < t["min_tabular_features"]
            and samples <= t["max_tabular_samples"]
        )
        if not (small or tabular):
            return
        reasons = []
        if small:
            reasons.append(f"under {fmt_int(t['min_samples'])} examples")
        if tabular:
            reasons.append(
                f"tabular inputs of {fmt_int(features)} feature{'s' if features != 1 else ''}, "
                f"under {fmt_int(t['min_tabular_features'])}"
            )
        baseline = (
            "gradient-boosted trees (XGBoost, LightGBM)"
            if tabular
            else "logistic regression or gradient-boosted trees"
        )
        why = (
            "on tabular data of this size tree ensembles still beat deep networks "
            "(Grinsztajn et al. 2022)"
            if tabular
            else "a logistic regression trains in milliseconds and sets the accuracy a network "
            "has to beat"
        )
        yield self.diag(
            f"train.samples = {fmt_int(samples)}: {' and '.join(reasons)} — too little data "
            f"to justify a network before a classical baseline; {why}. Try {baseline} first",
            train.spans["samples"],
            fix=f"fit {baseline} first and keep the network only if it beats them on held-out data",
            samples=samples,
            tabular_features=features,
            baseline=baseline,
        )


def _tabular_features(ctx: RuleContext) -> int | None:
    """The features of a tabular model — every input a vector ``[d]`` that no lookup
    reads — summed over its inputs; None for images, sequences and token ids."""
    lowered = ctx.report.lowered
    total = 0
    for i in lowered.inputs:
        node = lowered.node(i)
        if len(node.shape) != 1:
            return None
        if any(lowered.node(s).kind.gathers_rows for s in lowered.successors(i)):
            return None
        total += numel(node.shape)
    return total
