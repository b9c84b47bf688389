"""NN112 learning-rate-out-of-range: see the class docstring for the rule's doc page."""

from __future__ import annotations

import re
from collections.abc import Iterator

from nnlint.diagnostics import Diagnostic, Severity
from nnlint.optimizers import OPTIMIZERS
from nnlint.rules.base import Rule, RuleContext, register


@register
class LearningRateOutOfRange(Rule):
    """## What it does
    Compares `train.lr` with the usual range of initial learning rates of
    `train.optimizer`, from nnlint's optimizer registry (the README's optimizers
    table, with each range's sources), and reports a rate outside it, with how many
    times too high or too low it is. Optimizers the registry gives no range
    (`adagrad`, `adafactor`) and specs without `lr` are not judged.

    Ranges (initial rates, before any schedule):
    - `sgd`, `momentum`, `nesterov`: 1e-6 to 3.2 — Bengio 2012, §3.1 (typical
      rates lie between 1e-6 and 1), up to the linear scaling rule's 0.1 × 8192/256 =
      3.2 for ResNet-50 at batch 8,192 (Goyal et al. 2017);
    - `adam`, `adamw`, `adamw8bit`: 1e-6 to 0.01 — Kingma & Ba 2015 recommend
      1e-3; recipes range from 2e-5 (BERT fine-tuning, Devlin et al. 2019) to 3e-3
      (ViT-B/16, Dosovitskiy et al. 2021);
    - `rmsprop`: 1e-5 to 0.5 — from DQN's 2.5e-4 (Mnih et al. 2015) to
      EfficientNet's 0.256 (Tan & Le 2019);
    - `lion`: 1e-7 to 0.001 — 3-10x below AdamW's rate (Chen et al. 2023).

    A batch far from the one a rate was tuned for is out of scope: the spec gives
    no reference batch to scale from.

    ## Why is this bad?
    Too high a rate makes training oscillate or diverge — the loss turns NaN or
    plateaus, often unseen in the logs — and a large rate is one cause of ReLU
    units that die and never recover; too low a rate converges so slowly that the
    training budget runs out first. Adam's step is about η per weight whatever the
    gradient's scale (Kingma & Ba 2015, §2.1), so Adam at 0.5 moves every weight by
    up to 0.5 per step, 500 times its recommended 1e-3.

    ## Example
    ```
    train {
        optimizer = adam
        lr        = 0.5
    }
    ```

    Use instead:
    ```
    train {
        optimizer = adam
        lr        = 1e-3
    }
    ```

    ## Options
    None: the ranges are data of the optimizer registry (`src/nnlint/optimizers.py`).

    ## References
    - Bengio, "Practical recommendations for gradient-based training of deep
      architectures", 2012 (arXiv:1206.5533), §3.1.
    - Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.
    - Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    - Devlin et al. 2019 (BERT), Appendix A.3; Dosovitskiy et al. 2021 (ViT), Table 3.
    - Mnih et al. 2015 (DQN); Tan & Le 2019 (EfficientNet); Chen et al. 2023 (Lion).
    """

    code = "NN112"
    name = "learning-rate-out-of-range"
    severity = Severity.WARNING
    summary = "A learning rate outside the usual range for its optimizer"

    def check(self, ctx: RuleContext) -> Iterator[Diagnostic]:
        train = ctx.sections.train
        if not ctx.sections.has_train or train.lr is None:
            return
        optimizer = OPTIMIZERS[train.optimizer]
        if optimizer.lr_range is None:
            return
        low, high = optimizer.lr_range
        lr = train.lr
        if low <= lr <= high:
            return
        if lr > high:
            how = f"{lr / high:,.3g}x above the top of"
            risk = "a step this large makes training oscillate or diverge (the loss turns NaN)"
        else:
            how = f"{low / lr:,.3g}x below the bottom of"
            risk = "a step this small converges too slowly to finish in a training budget"
        default = optimizer.default_lr
        where = "" if "optimizer" in train.spans else " (the default optimizer)"
        yield self.diag(
            f"lr = {_rate(lr)} for {optimizer.name}{where} is {how} its usual range, "
            f"{_rate(low)} to {_rate(high)} ({optimizer.lr_source}): {risk}",
            train.spans["lr"],
            fix=f"set lr within {_rate(low)} to {_rate(high)}"
            + (f" (start from {_rate(default)})" if default else "")
            + " and tune it on a validation set",
            lr=lr,
            optimizer=optimizer.name,
            low=low,
            high=high,
            default_lr=default,
        )


def _rate(value: float) -> str:
    """A learning rate as a person writes it: ``0.5``, ``1e-6``, ``3.2``."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{m[1].strip('+')}{m[2]}", f"{value:g}")
