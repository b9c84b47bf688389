"""Recurrent layers over a sequence ``[T, D]``: LSTM and GRU, PyTorch's layout."""

from __future__ import annotations

from typing import ClassVar

from nnlint.ops.activations import Sigmoid, Tanh
from nnlint.ops.base import Cost, Op, Opt, Saved, ShapeError, numel, register
from nnlint.ops.dropout import Dropout
from nnlint.units import fmt_shape


class _Recurrent(Op):
    """What LSTM and GRU share: ``layers`` stacked layers, each ``directions`` recurrences
    (2 with ``bidirectional=true``) of ``gates`` gate blocks of width ``H`` over the ``T``
    steps of ``[T, D]``, as ``torch.nn.LSTM`` / ``torch.nn.GRU`` (``batch_first``) lay
    them out: per layer and direction ``W_ih`` (``gates·H × D_in``), ``W_hh``
    (``gates·H × H``), ``b_ih`` and ``b_hh`` (``gates·H`` each, ``bias=true``); layer 0
    reads ``D_in = D``, each layer above it the ``directions·H`` outputs of the one
    below. The output is the last layer's hidden states, ``[T, directions·H]``.

    MACs/sample: each step of each recurrence computes ``x_t·W_ihᵀ + h_{t−1}·W_hhᵀ``,
    ``gates·H·(D_in + H)``, for all ``T`` steps (the first multiplies the zero initial
    state too, as PyTorch's kernels do). Backward MACs: the weight gradients (trainable)
    equal the forward; the input gradients are ``gates·H·D_in`` per step into the layer's
    input and ``gates·H·H`` per step into the previous hidden state — except the first:
    the initial states are zeros that need no gradient (PyTorch's default ``h_0 = c_0 =
    0``), so ``T − 1`` steps. ``input_grad_macs`` is layer 0's gradient into the op's
    input, ``directions·T·gates·H·D``.

    Element-wise FLOPs per step and hidden unit are itemized in each op's docstring
    (sigmoid and tanh as the activation ops count them); bias gradients add one per bias
    element per step when trainable. ``dropout=p`` drops the outputs of every layer but
    the last in training (``torch.nn.LSTM``'s ``dropout``): 4 FLOPs per element forward, 2
    backward, as the ``dropout`` op.

    Cached per step, recurrence and hidden unit: ``cached_per_unit`` elements (see each
    op; the hidden states ``h_t`` among them: the output, and the next layer's input),
    plus with dropout the mask and the dropped copy the next layer reads. At inference the
    lower layers' outputs, one layer's input projections for the whole sequence (the CPU
    kernel computes ``X·W_ihᵀ`` at once) and the running states are workspace.
    """

    tensor_parallel = "whole"
    has_weights = True
    multiplies_weights = True
    min_rank = max_rank = 2
    opts = (
        Opt("hidden", "int", positional=True, required=True, minimum=1),
        Opt("layers", "int", 1, minimum=1),
        Opt("bidirectional", "bool", False),
        Opt("dropout", "float", 0.0, minimum=0.0, below=1.0),
        Opt("bias", "bool", True),
    )
    gates: ClassVar[int]
    #: FLOPs per step and hidden unit, forward, without the bias adds / backward, without
    #: the bias gradients (itemized in the op's docstring)
    forward_per_unit: ClassVar[int]
    backward_per_unit: ClassVar[int]
    #: elements autograd keeps per step and hidden unit of each recurrence
    cached_per_unit: ClassVar[int]
    #: running states per recurrence (h; LSTM also c)
    states: ClassVar[int]

    def infer(self, in_shapes, opts):
        x = in_shapes[0]
        if len(x) != 2:
            raise ShapeError(
                f"{self.name} reads a sequence [T, D] (steps × features), got {fmt_shape(x)}",
                fix="give it a time axis: a vector as `reshape(1, D)`, an image [C, H, W] as "
                "`reshape(C, H·W) -> transpose(0, 1)`",
            )
        if opts["dropout"] > 0 and opts["layers"] == 1:
            raise ShapeError(
                f"{self.name} dropout={opts['dropout']} drops the outputs between stacked "
                f"layers (as torch.nn.{self.name.upper()}): with layers=1 there are none, so it "
                f"would do nothing",
                code="NN007",
                fix="set layers=2 or more, or drop the layer's output with a `dropout` op after it",
            )
        return (x[0], self._directions(opts) * opts["hidden"])

    def _directions(self, opts) -> int:
        return 2 if opts["bidirectional"] else 1

    def _inputs(self, opts, d: int) -> list[int]:
        """D_in of each layer."""
        below = self._directions(opts) * opts["hidden"]
        return [d] + [below] * (opts["layers"] - 1)

    def text(self, opts):
        return f"{self.name}({opts['hidden']})"

    def with_width(self, opts, width):
        if opts["bidirectional"]:
            return None if width % 2 else f"{self.name}({width // 2}, bidirectional=true)"
        return f"{self.name}({width})"

    def units(self, opts):
        return self._directions(opts) * opts["hidden"]

    def param_shapes(self, opts, in_shapes):
        gh, h = self.gates * opts["hidden"], opts["hidden"]
        shapes = []
        for d_in in self._inputs(opts, in_shapes[0][1]):
            for _ in range(self._directions(opts)):
                shapes += [(gh, d_in), (gh, h)]
                if opts["bias"]:
                    shapes += [(gh,), (gh,)]
        return tuple(shapes)

    def saved(self, c):
        """Its input (for layer 0's ``W_ih`` gradient; frozen: nothing), the output (the
        last layer's hidden states), the other states of every step (``cached_per_unit``
        per unit, the lower layers' outputs among them) and, with ``dropout``, each
        dropped layer output and its one-byte mask."""
        T, H = c.x[0], c.opts["hidden"]
        per_layer = T * self._directions(c.opts) * H
        layers = c.opts["layers"]
        parts = [Saved("in0", numel(c.x))] if c.trainable else []
        parts += [
            Saved("out", per_layer),
            Saved("states", (self.cached_per_unit * layers - 1) * per_layer),
        ]
        if c.opts["dropout"] > 0:
            parts += [
                Saved("dropped", (layers - 1) * per_layer),
                Saved("drop_mask", (layers - 1) * per_layer, kind="mask"),
            ]
        return tuple(parts)

    def cost(self, c):
        T, D = c.x
        B, H, G = c.batch, c.opts["hidden"], self.gates
        dirs, layers, bias = self._directions(c.opts), c.opts["layers"], c.opts["bias"]
        d_ins = self._inputs(c.opts, D)
        macs = dirs * T * G * H * sum(d_in + H for d_in in d_ins)
        input_grad = dirs * G * H * sum(T * d_in + (T - 1) * H for d_in in d_ins)
        weight_grad = macs if c.trainable and c.weight_trainable else 0
        backward_macs = weight_grad + input_grad
        steps = layers * dirs * T  # steps of every recurrence, per sample
        weights = dirs * G * H * sum(d_in + H for d_in in d_ins)
        biases = layers * dirs * 2 * G * H if bias else 0
        bias_adds = 2 * G * H if bias else 0  # per step: b_ih and b_hh
        forward = B * (2 * macs + steps * (self.forward_per_unit * H + bias_adds))
        backward = B * (
            2 * backward_macs
            + steps * self.backward_per_unit * H
            + (steps * bias_adds if c.trainable else 0)
        )
        per_layer = T * dirs * H  # one layer's output, per sample
        cached = layers * self.cached_per_unit * per_layer
        if c.training and c.opts["dropout"] > 0:
            forward += Dropout.fwd * B * (layers - 1) * per_layer
            backward += Dropout.bwd * B * (layers - 1) * per_layer
            cached += 2 * (layers - 1) * per_layer  # the mask and the dropped copy
        return Cost(
            params=weights + biases,
            weight_params=weights,
            macs=macs,
            forward_flops=forward,
            backward_macs=backward_macs,
            input_grad_macs=dirs * T * G * H * D,
            backward_flops=backward,
            cached_elements=B * cached,
            output_elements=per_layer,
            workspace_elements=(layers - 1) * per_layer + dirs * T * G * H + dirs * self.states * H,
        )


_S_F, _T_F = Sigmoid.fwd, Tanh.fwd  # FLOPs per element: sigmoid 4, tanh 6
_S_B, _T_B = Sigmoid.bwd, Tanh.bwd  # their derivatives from the cached output: 2 each


@register
class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), ``torch.nn.LSTM``: per step
    ``i, f, g, o = σ, σ, tanh, σ (x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)``,
    ``c_t = f⊙c_{t−1} + i⊙g``, ``h_t = o⊙tanh(c_t)``; 4 gates.

    Params per layer and direction ``4H·D_in + 4H·H + 8H`` (biases). Forward FLOPs per step
    and unit beyond ``2·MACs``: 8 bias adds (``bias=true``), 4 adds of the two products,
    three sigmoids (4 each) and two tanh (6 each), 3 for the cell (``f⊙c``, ``i⊙g``, add),
    1 for ``o⊙tanh(c)``: 32 (+8). Backward beyond ``2·backward MACs``: 2 products through
    ``h = o⊙tanh(c)``, tanh' (2), 1 add into the cell gradient, 4 products through the cell,
    the gate derivatives (3·2 + 2), 1 add of the output gradient into ``∂h``: 18, plus 8
    bias-gradient adds when trainable. Cached per step and unit: the four gate
    activations, ``c_t``, ``tanh(c_t)`` and ``h_t``: 7.
    """

    name = "lstm"
    gates = 4
    forward_per_unit = 4 + 3 * _S_F + 2 * _T_F + 3 + 1
    backward_per_unit = 2 + _T_B + 1 + 4 + 3 * _S_B + _T_B + 1
    cached_per_unit = 7
    states = 2


@register
class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), ``torch.nn.GRU``: per step
    ``r, z = σ(x_t·W_{ir,iz}ᵀ + b_{ir,iz} + h_{t−1}·W_{hr,hz}ᵀ + b_{hr,hz})``,
    ``n = tanh(x_t·W_inᵀ + b_in + r⊙(h_{t−1}·W_hnᵀ + b_hn))``,
    ``h_t = (1 − z)⊙n + z⊙h_{t−1}``; 3 gates.

    Params per layer and direction ``3H·D_in + 3H·H + 6H`` (biases). Forward FLOPs per step
    and unit beyond ``2·MACs``: 6 bias adds (``bias=true``), 2 adds for r and z, two
    sigmoids (4 each), ``r⊙·`` and an add and a tanh (6) for n, 3 for ``n + z⊙(h − n)``
    (PyTorch's form): 21 (+6). Backward: 2 for ``∂z`` (``h − n`` and a product), 2 for
    ``∂n``, 1 for the direct ``∂h_{t−1}``, tanh' (2), 2 products through ``r⊙·``, the
    sigmoid derivatives (2·2), 2 adds into ``∂h``: 15, plus 6 bias-gradient adds when
    trainable. Cached per step and unit: r, z, n, ``h_{t−1}·W_hnᵀ + b_hn`` and ``h_t``: 5.
    """

    name = "gru"
    gates = 3
    forward_per_unit = 2 + 2 * _S_F + 2 + _T_F + 3
    backward_per_unit = 2 + 2 + 1 + _T_B + 2 + 2 * _S_B + 2
    cached_per_unit = 5
    states = 1
