"""The optimizer registry: what each ``train.optimizer`` costs per step and keeps.

One entry per optimizer a spec may name. For ``P`` trainable parameters:

* **step FLOPs** = ``flops_per_param · P + flops_constant`` (the constant is the
  scalar bias-correction arithmetic of Adam and AdamW, counted once per step,
  and only when there is something to train): nnlint's count of the element-wise
  operations of the update, as the algorithms are written in PyTorch's
  ``torch.optim`` documentation.
* **state** = ``state_per_param · P`` values (momentum buffers, squared-gradient
  averages), stored at the training precision: Adam in fp16 keeps 2 × 2 bytes
  per parameter.

The spec's section reader takes the names from here, the cost model the figures,
and the README's optimizer table is generated from the same entries.
"""

from __future__ import annotations

import attrs

from nnlint.precision import nbytes

__all__ = ["OPTIMIZERS", "Optimizer"]


@attrs.frozen
class Optimizer:
    name: str
    flops_per_param: int
    flops_constant: int
    state_per_param: int  # values of optimizer state per trainable parameter
    state: str  # what the state is, for the README
    source: str  # the public description of the update

    def step_flops(self, trainable: int) -> int:
        """FLOPs of one update of ``trainable`` parameters."""
        return self.flops_per_param * trainable + (self.flops_constant if trainable else 0)

    def state_bytes(self, trainable: int, precision: str) -> int:
        """Bytes of optimizer state for ``trainable`` parameters at ``precision``."""
        return self.state_per_param * nbytes(trainable, precision)


#: Every optimizer by name, in the order the README lists them.
OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", 2, 0, 0, "none", "Robbins & Monro, 1951"),
        Optimizer("momentum", 4, 0, 1, "velocity", "Polyak, 1964 (torch.optim.SGD, momentum)"),
        Optimizer(
            "nesterov",
            5,
            0,
            1,
            "velocity",
            "Sutskever et al., 2013 (torch.optim.SGD, nesterov=True)",
        ),
        Optimizer("adagrad", 7, 0, 1, "sum of squared gradients", "Duchi et al., 2011"),
        Optimizer("rmsprop", 8, 0, 1, "mean of squared gradients", "Tieleman & Hinton, 2012"),
        Optimizer("adam", 14, 2, 2, "first and second moments", "Kingma & Ba, 2015"),
        Optimizer(
            "adamw",
            16,
            2,
            2,
            "first and second moments",
            "Loshchilov & Hutter, 2019 (decoupled weight decay)",
        ),
    )
}
