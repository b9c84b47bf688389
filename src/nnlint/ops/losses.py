"""Losses: the kinds ``train.loss`` names, and the loss node that reads the model's output."""

from __future__ import annotations

import attrs

from nnlint.ops.base import Cost, Op, Saved, numel, register


@attrs.frozen
class LossKind:
    """A loss of ``train.loss``. FLOPs per element of the tensor it reads.

    ``normalized``: the ops whose output the loss reads as it is (probabilities or
    log-probabilities); on anything else (raw logits) it first applies its own
    normalization at ``on_logits`` FLOPs per element. ``fuses_with``: the op whose
    backward pass the loss's gradient replaces (softmax + cross-entropy: ŷ − y).
    """

    name: str
    forward: int
    gradient: int
    doc: str
    normalized: tuple[str, ...] = ()
    on_logits: int = 0
    fuses_with: str | None = None
    #: the names PyTorch and Keras give it (``CrossEntropyLoss``), answered with this one
    aliases: tuple[str, ...] = ()

    def forward_per_element(self, source_op: str) -> int:
        return self.forward + (
            0 if source_op in self.normalized or not self.normalized else self.on_logits
        )


LOSSES: dict[str, LossKind] = {
    k.name: k
    for k in (
        LossKind(
            "cross_entropy",
            2,
            1,
            "One-hot cross-entropy. On a softmax output: 2 FLOPs per logit (log and "
            "negation: 2·B·C, README § Counting conventions) and the fused gradient ŷ−y, 1 "
            "per logit; the softmax's own backward is then not counted. On a "
            "log_softmax output it is the negative log-likelihood; on raw logits it "
            "applies a stable log-softmax itself, as PyTorch's ``nn.CrossEntropyLoss`` does: "
            "+3 per logit.",
            normalized=("softmax", "log_softmax"),
            on_logits=3,
            fuses_with="softmax",
            aliases=(
                "CrossEntropyLoss",
                "CategoricalCrossentropy",
                "SparseCategoricalCrossentropy",
                "NLLLoss",
            ),
        ),
        LossKind(
            "mse",
            3,
            2,
            "Mean squared error: subtract, square, sum ≈ 3 per element; "
            "gradient 2/(Bd)·(ŷ−y) = 2 per element.",
            aliases=("MSELoss", "MeanSquaredError"),
        ),
        LossKind(
            "bce",
            4,
            1,
            "Binary cross-entropy: 2 logs, 2 multiplies, sum ≈ 4 per "
            "element; fused with a sigmoid the gradient is ŷ−y, 1 per element, "
            "and the sigmoid's own backward is not counted. On raw logits it applies the "
            "sigmoid itself: +4 per element.",
            normalized=("sigmoid",),
            on_logits=4,
            fuses_with="sigmoid",
            aliases=("BCELoss", "BCEWithLogitsLoss", "BinaryCrossentropy", "binary_cross_entropy"),
        ),
        LossKind(
            "hinge",
            3,
            2,
            "Hinge ``max(0, 1 − y·ŷ)``: 3 per element; "
            "gradient −y where the margin is violated: 2 (nnlint's count).",
            aliases=("HingeEmbeddingLoss", "Hinge"),
        ),
        LossKind(
            "huber",
            4,
            3,
            "Huber: ≈4 per element; gradient clip(ŷ−y, −δ, δ): 3 (nnlint's count).",
            aliases=("HuberLoss", "SmoothL1Loss", "Huber"),
        ),
        LossKind(
            "focal",
            6,
            8,
            "Focal loss −α(1−p)^γ·log p: ≈6 per element (Lin et al. 2017); "
            "gradient ≈8 (nnlint's count of the closed form).",
            aliases=("sigmoid_focal_loss", "FocalLoss"),
        ),
        LossKind(
            "kl_div",
            5,
            2,
            "KL divergence: ≈5 per element; gradient with "
            "respect to log-probabilities −p: 2 (nnlint's count).",
            aliases=("KLDivLoss", "KLDivergence"),
        ),
    )
}


def loss_known_as(name: str) -> str | None:
    """The loss a PyTorch or Keras name stands for (``CrossEntropyLoss`` ->
    ``cross_entropy``), from the kinds' ``aliases``; None for any other name."""
    key = name.lower().replace("_", "")
    for kind in LOSSES.values():
        if any(a.lower().replace("_", "") == key for a in kind.aliases):
            return kind.name
    return None


@register
class Loss(Op):
    """The training loss of ``train.loss``: a node that reads one tensor of the model.
    Options (set by the lowerer): ``kind`` (a key of :data:`LOSSES`) and ``source_op``,
    the op whose output it reads. Forward: :meth:`LossKind.forward_per_element` FLOPs
    per element read, in training only; on raw logits a loss applies its own
    normalization (cross-entropy a log-softmax, bce a sigmoid), on the network's
    softmax/sigmoid it does not, so nothing is counted twice. Its gradient is counted
    by the ops it reaches.

    Several losses add up (``cross_entropy(logits) + 0.1 * mse(aux)``): each term is a
    loss node of its own, with its own FLOPs and fused-gradient pairing, and the options
    ``weight`` (None: written without one) and ``term`` (its place in the sum, from 0).
    Each loss is one scalar for the batch, so a weight costs one multiply forward (``w·L``)
    and one backward (the term's incoming gradient ``w·1``, :meth:`weight_backward_flops`),
    and each term after the first one add into the sum (its backward passes the gradient
    on unchanged); scaling a term's element-wise gradient by its incoming gradient is part
    of its kind's gradient count, as for a single loss (whose incoming gradient is 1)."""

    name = "loss"
    family = "loss"
    in_chain = False
    is_loss = True
    min_rank = 0

    def infer(self, in_shapes, opts):
        return ()

    def text(self, opts):
        return opts["kind"]

    def cost(self, c):
        if not c.training:
            return Cost()
        per = LOSSES[c.opts["kind"]].forward_per_element(c.opts["source_op"])
        weighted = c.opts.get("weight") is not None
        summed = c.opts.get("term", 0) > 0
        return Cost(forward_flops=per * c.batch * numel(c.x) + weighted + summed)

    @staticmethod
    def weight_backward_flops(opts) -> int:
        """The backward FLOPs of a term's weight: one multiply (``w·1``) for a weighted term."""
        return 1 if opts.get("weight") is not None else 0

    def saved(self, c):
        """On raw logits, the normalized copy it makes (cross-entropy's log-softmax, bce's
        sigmoid), which its backward reads; on the network's own softmax or sigmoid nothing
        new (that op already saved its output). The targets are not counted."""
        kind = LOSSES[c.opts["kind"]]
        if kind.normalized and c.opts["source_op"] not in kind.normalized:
            return (Saved("normalized", numel(c.x)),)
        return ()
