"""The op catalog's vocabulary: :class:`Op` and its roles, :class:`Cost`, :class:`Ctx`.

Each op states, in one place, with the formula and its source in the docstring:

* its options (positional order, types, defaults) — checked at lowering;
* ``infer``: the per-sample output shape from the input shapes;
* ``cost``: parameters, buffers, MACs, forward and backward FLOPs and the
  elements it keeps alive for the backward pass.

Conventions shared by every op (written once here, repeated in the README):

* Shapes are **per sample**; the batch ``B`` comes from ``train``/``deploy``.
* One FLOP is one add, multiply, compare, divide or elementary function; one MAC
  (a ← a + b·c) is 2 FLOPs.
* ``macs`` and ``backward_macs`` are **per sample** and count only the matrix work
  (dense, conv, attention, matmul) — the figure papers and PyTorch's
  ``FlopCounterMode`` report (at half its FLOPs). Every ``*_flops`` figure is for
  the **whole batch** and counts everything (bias, activations, norms, ...).
* Backward, as in nnlint's MNIST worked example (README § Counting conventions): the gradient with
  respect to every layer's *input* is counted, including layers that read a model
  input (PyTorch skips those; the difference is ``input_grad_macs``); weight and
  bias gradients are counted only for trainable layers.
* Cached elements are ``B·Σ n^(l)``, the model input included (README § Counting conventions):
  each op that allocates a new output tensor keeps it for the backward pass;
  element-wise activations work in place (their output overwrites their input,
  from which their derivative can be recovered), so they add nothing.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from nnlint.units import fmt_shape

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot accept these input shapes or options. The message says why,
    with the shapes; lowering turns it into an NN009 (or NN007) diagnostic, with ``fix`` as
    its hint when the op knows a better one than checking the shapes."""

    def __init__(self, message: str, code: str = "NN009", fix: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.fix = fix


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


@attrs.frozen
class Opt:
    """One option of an op. ``kind``: int, float, bool, symbol, init, tensor, a size per
    spatial axis (:data:`SIZE_KINDS`: ``pair``, ``triple``, ``sizes``; one number for every
    axis or a tuple; ``choices`` lists words it also accepts, such as ``same``),
    projections (attention's ``bias``: true, false or a list of ``choices``)."""

    name: str
    kind: str
    default: Any = None
    positional: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()  # allowed symbols (completion in the language server)
    minimum: float | None = None  # inclusive lower bound for numbers
    below: float | None = None  # exclusive upper bound for numbers


#: Option kinds that give a size per spatial axis: one number for every axis (``3``) or a
#: tuple of one of these lengths; how a message names the tuple, and an example. ``sizes``
#: is for an op over 1, 2 or 3 spatial axes (the pools), which checks the tuple against
#: its input's axes.
SIZE_KINDS: dict[str, tuple[tuple[int, ...], str, str]] = {
    "pair": ((2,), "a pair (height, width)", "(3, 1)"),
    "triple": ((3,), "a triple (depth, height, width)", "(1, 3, 3)"),
    "sizes": ((2, 3), "one per spatial axis", "(1, 2, 2)"),
}

# Options every op accepts.
COMMON_OPTS = (
    Opt("precision", "symbol", None),
    Opt("trainable", "bool", True),
)
# Options every op with weights accepts.
WEIGHT_OPTS = (
    Opt("init", "init", None),
    Opt("tie", "tensor", None),
)


@attrs.frozen
class Cost:
    """What one node costs. See the module docstring for per-sample vs per-batch."""

    params: int = 0  # weights and biases (trainable or frozen)
    weight_params: int = 0  # the part a `tie=` can share (the weight matrix)
    #: the part a token does not use: the experts a mixture of experts does not route it to
    inactive_params: int = 0
    buffers: int = 0  # state that is not a parameter (batchnorm running stats)
    macs: int = 0  # per sample, forward
    forward_flops: int = 0  # whole batch
    backward_macs: int = 0  # per sample
    input_grad_macs: int = (
        0  # per sample: the part of backward_macs that only feeds the input gradient
    )
    backward_flops: int = 0  # whole batch
    cached_elements: int = 0  # whole batch: kept alive for the backward pass
    output_elements: int = 0  # per sample: newly allocated output (0 for views and in-place ops)
    workspace_elements: int = 0  # per sample: internal tensors alive only while the op runs


@attrs.frozen
class Ctx:
    """What ``cost`` gets: shapes, resolved options, the batch and training flags."""

    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    opts: Mapping[str, Any]
    batch: int
    trainable: bool = True  # weight gradients are needed
    training: bool = True  # False: inference (dropout off, batchnorm on running stats)
    fused_with_loss: bool = False  # softmax/sigmoid whose gradient the loss fuses (ŷ − y)
    #: False when the weight is tied (``tie=``) to a frozen layer's: no weight gradient,
    #: as no gradient memory is kept for it (the layer's own bias still trains)
    weight_trainable: bool = True
    #: an input needs a gradient: some trainable parameter lies upstream (a model input
    #: needs none). Set by :func:`nnlint.activations.saved_activations`, which walks the
    #: graph once; what :meth:`Op.saved` reads (PyTorch creates an op's autograd node, and
    #: saves its tensors, when an input or a parameter of it requires grad)
    input_requires_grad: bool = True

    @property
    def x(self) -> Shape:
        return self.in_shapes[0]


@attrs.frozen
class Saved:
    """One tensor an op saves for its backward pass, as PyTorch's autograd saves it
    (``tools/autograd/derivatives.yaml``); :mod:`nnlint.activations` adds them up.

    ``tensor`` names it: ``"in0"``, ``"in1"`` (an input, shared with whatever else saves
    that tensor), ``"out"`` (the op's output) or the name of a tensor the op makes inside
    (``"q"``, ``"mask"``). ``elements`` per sample. ``kind``: ``act`` (stored at the
    activation precision), ``mask`` (1 byte), ``index`` (int64, 8 bytes) or ``stat`` (fp32
    statistics, 4 bytes). ``split``: ``None`` when it follows its tensor's tensor-parallel
    state, ``True`` for a tensor split over the heads (attention's insides). ``core``: part of
    the attention core that selective recomputation and flash attention do not keep.
    ``per_sample``: False for a tensor the whole batch shares (a causal mask; batchnorm's
    batch statistics, ``elements`` then being the whole tensor). ``flash_only``: kept by a
    fused attention kernel instead of the core (its softmax statistics).
    """

    tensor: str
    elements: int
    kind: str = "act"
    split: bool | None = None
    core: bool = False
    per_sample: bool = True
    flash_only: bool = False  # kept only by a fused (flash) attention kernel


class Output(enum.Enum):
    """What the values an op writes mean, for the rules that pair an op with a loss or a log."""

    VALUES = "values"  # anything else: features, logits, sums
    DATA = "data"  # a model input: whatever the data holds
    DISTRIBUTION = "distribution"  # probabilities summing to 1 over the class axis (softmax)
    PROBABILITIES = "probabilities"  # independent probabilities in (0, 1) (sigmoid)
    LOG_DISTRIBUTION = "log-distribution"  # log-probabilities over the class axis
    LOG = "log"  # the natural logarithm of its input


class Op(abc.ABC):
    """One kind of node. Subclasses set ``name``, ``opts`` and their roles, and implement
    ``infer`` and ``cost``. Every role the analyses and rules ask about is here, with a
    default for the common case: an op that computes new values from one input."""

    name: ClassVar[str]
    opts: ClassVar[tuple[Opt, ...]] = ()
    family: ClassVar[str] = "layer"  # layer | activation | merge | shape (the README's column)
    has_weights: ClassVar[bool] = False  # a weight matrix (init=, tie= apply)
    min_rank: ClassVar[int] = 1
    max_rank: ClassVar[int | None] = None

    # ---- what the op is, for the graph, the analyses and the rules
    #: written as a step of a chain (False: model inputs and the loss, made by the lowerer)
    in_chain: ClassVar[bool] = True
    is_input: ClassVar[bool] = False  # a model input
    is_loss: ClassVar[bool] = False  # the training loss
    #: makes a tensor from no input (a learned tensor, ``param``): it starts a chain
    is_source: ClassVar[bool] = False
    #: passes its input's values on unchanged (dropout only rescales the survivors)
    passes_values: ClassVar[bool] = False
    #: a view of its input: no arithmetic, no new tensor, no memory traffic
    is_view: ClassVar[bool] = False
    #: vanishes from an inference graph (nothing for a device to run)
    inference_noop: ClassVar[bool] = False
    #: its output overwrites its input (element-wise; the derivative is recovered from it)
    in_place: ClassVar[bool] = False
    #: the output has the input's shape, feature for feature (element-wise maps,
    #: normalization, dropout): the op that set a tensor's width is found through these
    keeps_width: ClassVar[bool] = False
    #: normalizes by the batch's or the sample's own statistics
    is_norm: ClassVar[bool] = False
    #: normalizes with the statistics of the current batch (batchnorm)
    batch_statistics: ClassVar[bool] = False
    #: subtracts a mean of its input before scaling it (batchnorm, layernorm, groupnorm;
    #: rmsnorm only divides): a constant added to every value one mean is taken over cancels
    #: (see :meth:`means_along`)
    subtracts_mean: ClassVar[bool] = False
    #: an affine map per feature at inference that folds into a preceding linear
    #: layer's weights and bias (batchnorm)
    folds_into_linear: ClassVar[bool] = False
    #: a linear layer: a weight matrix times the input, plus a bias (dense, conv2d)
    linear_layer: ClassVar[bool] = False
    #: its learned weights multiply its input (linear layers and attention; not a lookup)
    multiplies_weights: ClassVar[bool] = False
    #: a lookup table: reads only the rows it gathers
    gathers_rows: ClassVar[bool] = False
    #: adds its inputs element-wise: with an earlier tensor as one input, a residual connection
    residual_merge: ClassVar[bool] = False
    #: a kernel an element-wise op (or a folded batchnorm) can run inside at inference
    fusion_host: ClassVar[bool] = False
    #: saturates for large |z|: its derivative vanishes there (sigmoid, tanh)
    saturating: ClassVar[bool] = False
    #: the largest value of its derivative, for the saturating ops
    max_slope: ClassVar[float | None] = None
    #: zeroes the negative half and is positively homogeneous (He's 2/n_in assumes this)
    relu_family: ClassVar[bool] = False
    #: the initialization scheme its inputs' layer calls for: "he" or "xavier" (None: no opinion)
    init_for: ClassVar[str | None] = None
    #: derivative 0 at z = 0: units whose pre-activations are all 0 get no gradient
    dead_at_zero: ClassVar[bool] = False
    #: what its output values mean
    output: ClassVar[Output] = Output.VALUES
    #: a short name for its output when nothing else names it (``sum`` for add); None: its name
    result_noun: ClassVar[str | None] = None
    #: options of kind ``tensor`` whose tensor is a further input of the op (an edge of the
    #: graph, after the chain's input): cross-attention's ``kv=NAME``
    tensor_inputs: ClassVar[tuple[str, ...]] = ()
    #: the names people bring from PyTorch and Keras for this op (``Linear`` for dense,
    #: ``swish`` for silu): a spec that writes one is told this op's name. Matched without
    #: case or underscores; a spelling that differs from the op's own name only in those
    #: (``Conv2D``, ``LeakyReLU``) needs no entry.
    aliases: ClassVar[tuple[str, ...]] = ()

    def all_opts(self) -> tuple[Opt, ...]:
        return self.opts + COMMON_OPTS + (WEIGHT_OPTS if self.has_weights else ())

    def check_rank(self, shape: Shape) -> None:
        if len(shape) < self.min_rank or (self.max_rank is not None and len(shape) > self.max_rank):
            if self.max_rank == self.min_rank:
                want = f"rank {self.min_rank}"
            elif self.max_rank is None:
                want = f"rank {self.min_rank} or more"
            else:
                want = f"rank {self.min_rank} to {self.max_rank}"
            raise ShapeError(f"{self.name} expects an input of {want}, got {fmt_shape(shape)}")

    @abc.abstractmethod
    def infer(self, in_shapes: tuple[Shape, ...], opts: Mapping[str, Any]) -> Shape:
        """The per-sample output shape; raises :class:`ShapeError` for bad inputs."""

    @abc.abstractmethod
    def cost(self, c: Ctx) -> Cost:
        """Parameters, MACs, FLOPs and cached elements for ``c``."""

    def saved(self, c: Ctx) -> tuple[Saved, ...]:
        """The tensors autograd saves for this op's backward pass, per sample (training only).

        Every op states its own; ``saves`` covers the common cases: ``"input"`` (the
        derivative reads the input: GELU, SiLU), ``"output"`` (it reads the result: ReLU,
        sigmoid, tanh, softmax), ``"nothing"`` (add, views). A linear layer saves its input
        only for the weight gradient, so a frozen one keeps nothing; a convolution keeps it
        when its weight or its input needs a gradient (``c.input_requires_grad``). An op
        whose inputs need no gradient and whose parameters are frozen (a frozen layer before
        every trainable one) has no autograd node and saves nothing: the caller,
        :func:`nnlint.activations.saved_activations`, skips it without asking.
        """
        if self.saves == "input":
            return (Saved("in0", numel(c.x)),)
        if self.saves == "output":
            return (Saved("out", numel(c.out_shape)),)
        # "nothing": ``register`` refuses an op that neither overrides this nor sets ``saves``
        return ()

    #: what autograd saves for the common cases of :meth:`saved` ("input", "output", "nothing")
    saves: ClassVar[str | None] = None
    #: under tensor parallelism (Megatron-LM): "flip" — a dense layer is column-parallel on a
    #: whole input and row-parallel on a split one, so it flips the split; "whole" — the output
    #: is whole (attention splits only inside; a vocabulary-parallel embedding all-reduces);
    #: "follow" — the output is split when an input is
    tensor_parallel: ClassVar[str] = "follow"

    def param_shapes(self, opts: Mapping[str, Any], in_shapes) -> tuple[Shape, ...]:
        """The shapes of the op's parameter tensors, PyTorch's layout (Adafactor factors each
        matrix); empty for an op without parameters."""
        return ()

    def routed_experts(self, opts: Mapping[str, Any], in_shapes) -> tuple[int, tuple[Shape, ...]]:
        """The experts expert parallelism divides among ranks: how many, and the shapes of
        one expert's weight tensors (every expert alike; they are among
        :meth:`param_shapes`). ``(0, ())`` for an op without routed experts — its weights
        are dense, replicated like any other (a router and always-visited shared experts
        are dense too)."""
        return 0, ()

    # ---- facts about one instance, from its options and input shapes
    def text(self, opts: Mapping[str, Any]) -> str:
        """How a message names the op: ``dense(256)``, ``conv2d(64, 3)``, ``relu``."""
        return self.name

    def with_width(self, opts: Mapping[str, Any], width: int) -> str | None:
        """The op as a spec writes it with ``width`` outputs, for a fix; None when the
        op does not choose its width."""
        return None

    def bias_axis(self, opts: Mapping[str, Any], out_shape: Shape) -> int | None:
        """The per-sample axis of its output along which its learned bias varies — one bias
        value per position of that axis, the same value at every position of the others (a
        convolution's channels, a dense layer's last axis); None for an op without a bias."""
        return None

    def moves_data(self, opts: Mapping[str, Any], in_shapes) -> bool:
        """Moves data without arithmetic: the op reorders its input's elements in memory
        (a transpose or permutation that moves an axis longer than 1 past another one).
        Eager PyTorch returns a strided view, but an inference runtime runs it as a copy
        kernel (ONNX ``Transpose``, TFLite ``TRANSPOSE``) that reads and writes the whole
        tensor: the roofline gives it a kernel with no FLOPs. False for every other op, and
        for a permutation that keeps the memory order (only axes of size 1 move): a view
        that costs nothing."""
        return False

    def means_along(self, opts: Mapping[str, Any], shape: Shape, axis: int) -> int:
        """How many separate means the op subtracts along per-sample ``axis`` of an input of
        ``shape``: ``shape[axis]`` when each position of the axis has a mean of its own
        (batchnorm's channels, layernorm's leading axes), 1 when one mean is taken across
        the whole axis (layernorm's last axis), the group count for groupnorm's channels; 0
        for an op that subtracts no mean. A bias along ``axis`` cancels entirely when this
        equals ``shape[axis]``: each of its values is then constant over every value its
        mean is taken over."""
        return 0

    def units(self, opts: Mapping[str, Any]) -> int | None:
        """The number of output units (neurons, channels) of a weight layer."""
        return None

    def weight_shape(self, opts: Mapping[str, Any], in_shapes) -> Shape | None:
        """The shape of the weight matrix a ``tie=`` shares; None when it has none to share."""
        return None

    def fans(self, opts: Mapping[str, Any], in_shapes) -> tuple[int, int] | None:
        """(fan_in, fan_out) of the weight, PyTorch's convention; None without one."""
        return None

    def learned_shift(self, opts: Mapping[str, Any]) -> bool:
        """A norm with a learned per-feature shift β after it normalizes (False for
        ``layernorm(bias=false)``, ``instancenorm`` without ``affine``, and every other op)."""
        return False

    def normalized_axis(self, opts: Mapping[str, Any], in_shapes) -> int | None:
        """The axis of its input the op normalizes along, from 0 (the softmax family:
        ``axis=``, else the class axis of :func:`channel_index`); None for an op that works
        element by element. A loss fuses with it only along the class axis of the tensor
        it reads (followed through views by :meth:`axis_after`)."""
        return None

    def axis_after(self, opts: Mapping[str, Any], in_shapes, out_shape: Shape, axis: int):
        """A view's: the axis of its output (``out_shape``) that is ``axis`` of its input,
        the same positions in the same order, or None when the view merges, splits or
        drops that axis or keeps part of it. None for every other op."""
        return None

    def params_read(self, opts: Mapping[str, Any], in_shapes, rows: int, params: int) -> int:
        """The parameters one pass over ``rows`` rows (tokens: the output's leading axes times
        the batch) reads from memory, of its ``params``. Every weight by default; a lookup
        reads only the rows it gathers, a mixture of experts only the experts its tokens
        visit. Memory still holds all ``params``; this is what the roofline moves."""
        return params

    def score_elements(self, opts: Mapping[str, Any], in_shapes) -> int:
        """Per sample: the attention-score elements (``h·T²``) the op keeps; 0 for most ops."""
        return 0

    def kv_cache_elements(self, opts: Mapping[str, Any], in_shapes, context: int) -> int:
        """Per sequence: the key and value elements a decoder keeps between generated tokens
        when serving ``context`` tokens (0 for every op but attention)."""
        return 0


#: Every kind of node, by name: the ops a spec writes, the model input and the loss.
CATALOG: dict[str, Op] = {}
#: The ops a spec writes in a chain (what ``nnlint`` documents as its op catalog).
OPS: dict[str, Op] = {}
#: An alias of an op (:attr:`Op.aliases`), without case and underscores -> the op's name.
ALIASES: dict[str, str] = {}
# The module prefixes PyTorch and Keras code writes before a layer's name.
_PREFIXES = ("torch.nn.functional.", "torch.nn.", "nn.functional.", "nn.", "F.")
_PREFIXES += ("tf.keras.layers.", "keras.layers.", "layers.")


def _alias_key(name: str) -> str:
    return name.lower().replace("_", "")


def known_as(name: str) -> str | None:
    """The op a PyTorch or Keras name stands for (``Linear``, ``nn.Linear`` -> ``dense``;
    ``Conv2D`` -> ``conv2d``), or None. A name that is an op's own is not an alias."""
    for prefix in _PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            break
    if name in OPS:
        return None
    key = _alias_key(name)
    for op_name in OPS:
        if _alias_key(op_name) == key:
            return op_name
    return ALIASES.get(key)


def register(cls: type[Op]) -> type[Op]:
    if cls.name in CATALOG:
        raise ValueError(f"op {cls.name!r} registered twice")
    if cls.saved is Op.saved and cls.saves not in ("input", "output", "nothing"):
        # checked when the catalog is built, so no analysis can meet an op that is silent
        # about what autograd keeps for its backward pass
        raise TypeError(f"op {cls.name!r} states neither saved() nor saves")
    owner = ALIASES.get(_alias_key(cls.name))
    if owner is not None:
        raise ValueError(f"op {cls.name!r} has the name of an alias of {owner!r}")
    for alias in cls.aliases:
        key = _alias_key(alias)
        clash = ALIASES.get(key) or next((n for n in CATALOG if _alias_key(n) == key), None)
        if clash is not None and clash != cls.name:
            raise ValueError(f"alias {alias!r} of op {cls.name!r} already names {clash!r}")
        ALIASES[key] = cls.name
    CATALOG[cls.name] = cls()
    if cls.in_chain:
        OPS[cls.name] = CATALOG[cls.name]
    return cls


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """A size given for both spatial axes (``3``) or per axis (``(3, 1)``): (height, width)."""
    return value if isinstance(value, tuple) else (value, value)


def per_axis(value: int | tuple[int, ...], axes: int) -> tuple[int, ...]:
    """A size given for every one of ``axes`` spatial axes (``3``) or per axis (``(1, 3, 3)``)."""
    return value if isinstance(value, tuple) else (value,) * axes


def shown(value: int | tuple[int, ...]) -> str:
    """A size as a spec writes it: ``3``, ``(3, 1)`` or ``(1, 3, 3)``."""
    return f"({', '.join(map(str, value))})" if isinstance(value, tuple) else str(value)


def channel_index(shape: Shape) -> int:
    """The index of the channel axis: 0 of ``[C, H, W]`` (an image) and ``[C, D, H, W]`` (a
    volume or a video clip, PyTorch's ``Conv3d`` layout), else the last axis (``[D]``,
    ``[T, D]``)."""
    return 0 if len(shape) in (3, 4) else len(shape) - 1


def channel_axis(shape: Shape) -> int:
    """The channels: the C of ``[C, H, W]`` and ``[C, D, H, W]``; the last axis of ``[D]``
    and ``[T, D]`` (see :func:`channel_index`)."""
    return shape[channel_index(shape)]
