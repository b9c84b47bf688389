"""Model inputs: the tensors a spec declares with ``input x: [...]``."""

from __future__ import annotations

from nnlint.ops.base import Cost, Op, Output, numel, register


@register
class Input(Op):
    """A model input of the declared per-sample shape (option ``shape``, set by the
    lowerer). It allocates its tensor, which the backward pass keeps (training memory
    counts ``B·Σ n^(l)``, the input included: README § Counting conventions); no FLOPs."""

    name = "input"
    family = "input"
    in_chain = False
    is_input = True
    output = Output.DATA
    saves = "nothing"  # the ops that read it save it

    def infer(self, in_shapes, opts):
        return tuple(opts["shape"])

    def cost(self, c):
        n = numel(c.out_shape)
        return Cost(cached_elements=c.batch * n, output_elements=n)
