"""The optimizer registry: what each optimizer keeps per parameter and costs per step.

One entry per optimizer. For ``P`` trainable parameters:

* **state**: ``states`` full-size tensors per parameter (Adam: the moments m and v,
  2), at ``state_bits`` when the optimizer fixes their width (8-bit Adam: 8), else
  at the training precision (Adam in fp16 keeps 2 × 2 bytes per parameter). A
  ``factored`` optimizer (Adafactor) keeps row and column statistics per matrix
  instead (:func:`nnlint.training.factored_state_elements`). Step scalars
  (PyTorch's per-tensor ``step``) are not state.
* **step FLOPs** = ``flops_per_param · P + flops_constant``: nnlint's count of the
  element-wise operations of the update as the algorithm is written in PyTorch's
  ``torch.optim`` documentation; the constant is the scalar bias-correction
  arithmetic of Adam and AdamW, once per step and only when something trains.
  ``None`` where nnlint has no count yet; a spec's ``train.optimizer`` accepts
  the optimizers with a count (:data:`SPEC_OPTIMIZERS`).
* **usual learning rate** ``lr_range`` = (low, high): the initial rates published
  recipes train with, and ``lr_source`` the publications that bound it (``None``
  where nnlint knows no such range; NN112 reads it). ``default_lr`` is the rate the
  optimizer's paper recommends, when it names one.
* **decoupled weight decay**: ``decoupled_variant`` names the optimizer that applies
  this one's update with weight decay decoupled from the gradient (Loshchilov & Hutter
  2019: Adam → AdamW); this optimizer's own ``weight_decay`` is an L2 term added to the
  gradient (``torch.optim.Adam``), which the adaptive step rescales (NN111).

The spec's section reader, the cost model, the training formulas and the README's
optimizer table all read these entries.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from nnlint.precision import nbytes

__all__ = ["OPTIMIZERS", "SPEC_OPTIMIZERS", "Optimizer", "written_as"]


@attrs.frozen
class Optimizer:
    name: str
    states: int  # full-size state tensors per trainable parameter
    state_bits: int | None = None  # a fixed width for the state, else the precision's
    factored: bool = False  # Adafactor's row/column second moment
    flops_per_param: int | None = None  # step FLOPs per trainable parameter
    flops_constant: int = 0  # step FLOPs once per step (bias correction)
    state: str = ""  # what the state is, for the README
    source: str = ""  # the public description of the update and its state
    lr_range: tuple[float, float] | None = None  # the usual initial learning rates
    lr_source: str = ""  # where the range comes from
    default_lr: float | None = None  # the rate the optimizer's paper recommends
    decoupled_variant: str | None = None  # the same update with decoupled weight decay
    torch: str = ""  # the class a training script names (torch.optim.SGD: "SGD")
    #: the options of that class that choose this optimizer (SGD with ``momentum=``)
    chosen_by: tuple[str, ...] = ()

    def step_flops(self, trainable: int) -> int:
        """FLOPs of one update of ``trainable`` parameters."""
        if self.flops_per_param is None:
            raise ValueError(f"nnlint has no step-FLOP count for {self.name}")
        return self.flops_per_param * trainable + (self.flops_constant if trainable else 0)

    def state_bytes(self, trainable: int, precision: str) -> int:
        """Bytes of the full-size state for ``trainable`` parameters stored at ``precision``
        (the cost model's figure; mixed-precision recipes: :mod:`nnlint.training`)."""
        return self.states * nbytes(trainable, precision)


# The usual initial learning rates (lr_range) of the optimizer families, with their sources.
_SGD_LR = (1e-6, 3.2)
_SGD_LR_SOURCE = (
    "Bengio 2012 (Practical recommendations for gradient-based training, §3.1): typical "
    "initial rates are below 1 and above 1e-6; the linear scaling rule takes ResNet-50 to "
    "0.1 × 8192/256 = 3.2 at batch 8,192 (Goyal et al. 2017)"
)
_ADAM_LR = (1e-6, 1e-2)
_ADAM_LR_SOURCE = (
    "Kingma & Ba 2015 recommend 1e-3; published recipes range from 2e-5 (BERT fine-tuning, "
    "Devlin et al. 2019) to 3e-3 (ViT-B/16 on ImageNet, Dosovitskiy et al. 2021)"
)

#: Every optimizer by name, in the order the README lists them.
OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer(
            "sgd",
            0,
            torch="SGD",
            flops_per_param=2,
            state="none",
            source="torch.optim.SGD without momentum keeps no state",
            lr_range=_SGD_LR,
            lr_source=_SGD_LR_SOURCE,
        ),
        Optimizer(
            "momentum",
            1,
            torch="SGD",
            chosen_by=("momentum",),
            flops_per_param=4,
            state="velocity",
            source="torch.optim.SGD momentum_buffer",
            lr_range=_SGD_LR,
            lr_source=_SGD_LR_SOURCE,
        ),
        Optimizer(
            "nesterov",
            1,
            torch="SGD",
            chosen_by=("momentum", "nesterov"),
            flops_per_param=5,
            state="velocity",
            source="torch.optim.SGD(nesterov=True) momentum_buffer",
            lr_range=_SGD_LR,
            lr_source=_SGD_LR_SOURCE,
        ),
        Optimizer(
            "adagrad",
            1,
            torch="Adagrad",
            flops_per_param=7,
            state="sum of squared gradients",
            source="torch.optim.Adagrad sum",
        ),
        Optimizer(
            "rmsprop",
            1,
            torch="RMSprop",
            flops_per_param=8,
            state="mean of squared gradients",
            source="torch.optim.RMSprop square_avg",
            lr_range=(1e-5, 0.5),
            lr_source="from DQN's 2.5e-4 (Mnih et al. 2015) to EfficientNet's 0.256 "
            "(Tan & Le 2019); MobileNetV2 trains at 0.045 (Sandler et al. 2018)",
        ),
        Optimizer(
            "adam",
            2,
            torch="Adam",
            flops_per_param=14,
            flops_constant=2,
            state="first and second moments",
            source="Kingma & Ba 2015; torch.optim.Adam exp_avg, exp_avg_sq",
            lr_range=_ADAM_LR,
            lr_source=_ADAM_LR_SOURCE,
            default_lr=1e-3,
            decoupled_variant="adamw",
        ),
        Optimizer(
            "adamw",
            2,
            torch="AdamW",
            flops_per_param=16,
            flops_constant=2,
            state="first and second moments",
            source="Loshchilov & Hutter 2019; torch.optim.AdamW",
            lr_range=_ADAM_LR,
            lr_source=_ADAM_LR_SOURCE,
            default_lr=1e-3,
        ),
        Optimizer(
            "adamw8bit",
            2,
            torch="AdamW8bit",
            state_bits=8,
            # AdamW's arithmetic: bitsandbytes dequantizes, updates in fp32, requantizes (the
            # quantization itself is not counted)
            flops_per_param=16,
            flops_constant=2,
            state="first and second moments in 8 bits",
            source="Dettmers et al. 2022; bitsandbytes AdamW8bit: both moments in 8 bits, "
            "2 bytes of state per parameter (block-wise quantization constants not counted)",
            lr_range=_ADAM_LR,
            lr_source=_ADAM_LR_SOURCE,
            default_lr=1e-3,
        ),
        Optimizer(
            "lion",
            1,
            torch="Lion",
            # interpolate 3, sign 1, decoupled decay 1, update 2, momentum 3 (Algorithm 2)
            flops_per_param=10,
            state="momentum",
            source="Chen et al. 2023 (Lion): one momentum, no second moment",
            lr_range=(1e-7, 1e-3),
            lr_source="Chen et al. 2023 (Lion): 3-10x smaller than AdamW's rate, so AdamW's "
            "range divided by 10",
        ),
        Optimizer(
            "adafactor",
            0,
            torch="Adafactor",
            factored=True,
            # per element: g² 1, row and column sums 2, the factored estimate 2, rsqrt 1,
            # scale 1, RMS clipping 2, decay 1, update 2 (the O(r + c) work on the factors
            # is not counted)
            flops_per_param=12,
            state="factored second moment",
            source="Shazeer & Stern 2018; torch.optim.Adafactor: factored second moment, "
            "no first moment",
        ),
    )
}

#: The optimizers a spec's ``train.optimizer`` may name: those with a step-FLOP count.
SPEC_OPTIMIZERS: tuple[str, ...] = tuple(
    name for name, o in OPTIMIZERS.items() if o.flops_per_param is not None
)


def written_as(name: str, options: Iterable[str]) -> str | None:
    """The optimizer of :data:`SPEC_OPTIMIZERS` a training script's call means:
    ``SGD(momentum=0.9)`` -> ``momentum``, ``SGD(momentum=0.9, nesterov=True)`` ->
    ``nesterov``, ``AdamW(lr=3e-4)`` -> ``adamw``; ``options`` are the names of the
    options given a value other than 0 or false. None for a class nnlint does not know."""
    key = name.lower().replace("_", "")
    family = [
        o
        for o in OPTIMIZERS.values()
        if o.name in SPEC_OPTIMIZERS and key in (o.name, o.torch.lower())
    ]
    given = set(options)
    fitting = [o for o in family if set(o.chosen_by) <= given]
    if not fitting:
        return None
    return max(fitting, key=lambda o: len(o.chosen_by)).name
