"""Dropout: a training-time regularizer that vanishes at inference."""

from __future__ import annotations

from typing import ClassVar

from nnlint.ops.base import Cost, Op, Opt, Saved, numel, register


@register
class Dropout(Op):
    """Inverted dropout (Srivastava et al. 2014; PyTorch ``nn.Dropout`` scales by 1/(1−p) in
    training): training forward ``4`` FLOPs per element (random number, threshold, mask
    multiply, scale), backward ``2`` (mask, scale); the mask (one element per element) is
    cached, the output overwrites the input. Inference: the identity, no cost."""

    name = "dropout"
    passes_values = keeps_width = inference_noop = True
    #: training FLOPs per element dropped, forward and backward (also the ``dropout=``
    #: of ``lstm``/``gru``/``rnn`` and ``attention``)
    fwd: ClassVar[int] = 4
    bwd: ClassVar[int] = 2
    opts = (Opt("p", "float", 0.5, positional=True, minimum=0.0, below=1.0),)

    def infer(self, in_shapes, opts):
        return in_shapes[0]

    def cost(self, c):
        if not c.training:
            return Cost()
        n = c.batch * numel(c.x)
        return Cost(forward_flops=self.fwd * n, backward_flops=self.bwd * n, cached_elements=n)

    def saved(self, c):
        """The keep-mask, one byte per element (``native_dropout_backward(grad, mask, scale)``;
        CUDA's fused kernel keeps a ``bool`` mask)."""
        return (Saved("mask", numel(c.x), kind="mask"),)
