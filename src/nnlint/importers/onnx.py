"""``nnlint import model.onnx``: an ONNX graph written as an nnlint spec.

The steps, each in one function below:

1. **Load** the file with the ``onnx`` package (the optional extra ``nnlint[onnx]``) and
   run ONNX shape inference (``onnx.shape_inference.infer_shapes``): every shape in the
   spec comes from it. The first axis of every model input is the batch; it is dropped,
   since nnlint's shapes are per sample.
2. **Fold constants**: initializers, ``Constant`` nodes and every node whose inputs are all
   constant (shape arithmetic, causal masks, transposed weights) are evaluated with
   ``onnx.reference``; what is left is the computation on the inputs.
3. **Recognise patterns** that are one nnlint layer: ``MatMul`` + bias ``Add`` and ``Gemm``
   are a ``dense``; the projections, head split, scaled ``QKᵀ``, mask, softmax, ``·V`` and
   output projection of multi-head self-attention are one ``attention(heads)`` when that op
   computes exactly the same thing (four D×D projections with biases, scale 1/√d_h, no mask
   or a causal one); ``x · sigmoid(x)`` is a ``silu``, ``x · tanh(softplus(x))`` a ``mish``.
4. **Map every other node** onto one op of the catalog. A node nnlint cannot express is
   an error naming it (index, name, op type) with the reason; every such node is listed in
   one run, and nothing is ever dropped silently.
5. **Recover blocks** (``importers/spec.py``, shared by the importers): the graph is cut
   where a single tensor is live; consecutive runs of identical pieces (up to names)
   become one ``block`` called ``* N``, and pieces with the same structure but other
   sizes share the block through its parameters.
6. **Write** the spec and check it with nnlint's own front end: it must analyse without
   errors, and its parameter count must equal the weights read from the file (the
   convention in the README's "Import from ONNX": batchnorm running statistics are
   buffers; a weight the file stores twice for a tied layer counts once).
"""

from __future__ import annotations

import math
import stat
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from nnlint.files import file_kind
from nnlint.importers import ImportFailed
from nnlint.importers.spec import Arg, Layer, Ref, recover_blocks, self_check, write_spec
from nnlint.importers.spec import ident as _ident
from nnlint.importers.spec import positional as _pos
from nnlint.ops import channel_axis, channel_index
from nnlint.ops.pooling import pool_out
from nnlint.sanitize import visible

__all__ = ["import_onnx"]

# Ops whose result is not a function of their inputs: never folded into a constant.
_NOT_FOLDED = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial"}
)
# Above this many elements a constant is not folded unless it is a weight transform:
# shape arithmetic and masks are small, weights are read from the file as they are.
_FOLD_LIMIT = 1 << 26

# Why nnlint cannot express an ONNX op, for the ones users meet most.
_WHY_NOT = {
    "Div": "nnlint has no element-wise division",
    "Pow": "nnlint has no element-wise power",
    "Sqrt": "nnlint has no element-wise square root",
    "Exp": "nnlint has no element-wise exponential",
    "Erf": "nnlint has no erf (a GELU written out with Erf is recognised only in the "
    "form x·0.5·(1 + erf(x/√2)))",
    "LSTM": "nnlint has no recurrent layers",
    "GRU": "nnlint has no recurrent layers",
    "RNN": "nnlint has no recurrent layers",
    "Split": "nnlint has no op that splits a tensor",
    "Gather": "nnlint gathers rows from a constant table (an embedding) or one position "
    "along an axis (select)",
    "ReduceMean": "nnlint averages over one axis (mean) or over H and W of [C, H, W] "
    "(global_avgpool)",
    "Expand": "nnlint has no broadcast",
    "Tile": "nnlint has no tiling op",
    "Pad": "nnlint pads only inside conv2d and the pools",
    "Selu": "nnlint has no SELU",
    "Cast": "nnlint has no dtype conversion inside a model",
    "Where": "nnlint has no element-wise selection",
    "TopK": "nnlint has no top-k",
    "ArgMax": "nnlint has no arg-max",
    "NonZero": "nnlint has no data-dependent shapes",
    "Loop": "nnlint has no control flow",
    "If": "nnlint has no control flow",
    "Scan": "nnlint has no control flow",
}


@attrs.define
class _Problem:
    node: int
    message: str


class _Unsupported(Exception):
    """Raised by a node's mapping: nnlint cannot express it (``str`` says why)."""


# --------------------------------------------------------------------------- loading


def _load(path: Path, dims: dict[str, int]):
    """The model with inferred shapes; one-line errors for anything unreadable."""
    import onnx
    from google.protobuf.message import DecodeError

    shown = str(path)
    if not path.exists():
        raise ImportFailed([f"{shown}: no such file"])
    if path.is_dir():
        raise ImportFailed([f"{shown}: is a folder; expected an ONNX model file"])
    mode = path.stat().st_mode  # stat never blocks; opening a FIFO would
    if not stat.S_ISREG(mode):
        kind = file_kind(mode)
        raise ImportFailed(
            [f"{shown}: is {kind}, not a regular file; nnlint reads only regular files"]
        )
    try:
        model = onnx.load(str(path))
    except DecodeError as exc:
        raise ImportFailed([f"{shown}: not an ONNX model (protobuf: {exc})"]) from None
    except (
        OSError,
        ValueError,
        RuntimeError,
        onnx.onnx_cpp2py_export.checker.ValidationError,
    ) as exc:
        raise ImportFailed([f"{shown}: cannot read the model: {_one_line(exc)}"]) from None
    if not model.graph.node:
        raise ImportFailed([f"{shown}: not an ONNX model, or a model without nodes"])
    if dims:
        _fix_dims(model, dims, shown)
    try:
        inferred = onnx.shape_inference.infer_shapes(
            _without_weights(model), strict_mode=False, data_prop=True
        )
    except Exception as exc:  # onnx raises several kinds; any of them is one line
        raise ImportFailed([f"{shown}: ONNX shape inference failed: {_one_line(exc)}"]) from None
    del model.graph.value_info[:]
    model.graph.value_info.extend(inferred.graph.value_info)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    return model


def _without_weights(model):
    """A copy of ``model`` whose large initializers are typed inputs without data.

    Shape inference needs their shapes, not their values (shape arithmetic reads small
    constants only), and copying hundreds of megabytes of weights into it and back
    is most of its time."""
    from onnx import ModelProto, helper

    light = ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    g = light.graph
    g.name = model.graph.name
    g.node.extend(model.graph.node)
    g.input.extend(model.graph.input)
    g.output.extend(model.graph.output)
    g.value_info.extend(model.graph.value_info)
    listed = {v.name for v in model.graph.input}
    for t in model.graph.initializer:
        if math.prod(t.dims) > 1024:
            if t.name not in listed:
                g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g.initializer.append(t)
    light.functions.extend(model.functions)
    return light


def _fix_dims(model, dims: dict[str, int], shown: str) -> None:
    """Give symbolic input dimensions (``--dim sequence=128``) a size."""
    used: set[str] = set()
    for value in model.graph.input:
        for d in value.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in dims:
                used.add(d.dim_param)
                d.dim_value = dims[d.dim_param]
    unknown = sorted(set(dims) - used)
    if unknown:
        raise ImportFailed(
            [
                f"{shown}: --dim {name}: no model input has a dimension named `{name}`"
                for name in unknown
            ]
        )


def _check_order(model, shown: str) -> None:
    """ONNX lists nodes in dependency order, each reading only what is defined before it
    (an input, an initializer or an earlier node's output); a file that does not is
    malformed — one line naming the first node that reads an undefined name."""
    g = model.graph
    defined = {v.name for v in g.input} | {t.name for t in g.initializer}
    for i, node in enumerate(g.node):
        for name in node.input:
            if name and name not in defined:
                label = f" `{node.name}`" if node.name else ""
                raise ImportFailed(
                    [
                        f"{shown}: malformed ONNX graph: node {i}{label} ({node.op_type}) reads "
                        f"`{name}`, which no input, initializer or earlier node defines"
                    ]
                )
        defined.update(node.output)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------- the graph


class _Graph:
    """The ONNX graph with its constants folded and its shapes at hand."""

    def __init__(self, model) -> None:
        from onnx import numpy_helper

        self._numpy_helper = numpy_helper
        g = model.graph
        self.model = model
        self.nodes = list(g.node)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.initializers = {t.name: t for t in g.initializer}
        self.inputs = [v.name for v in g.input if v.name not in self.initializers]
        self.outputs = [v.name for v in g.output]
        self.shapes: dict[str, tuple | None] = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            self.shapes[v.name] = _shape_of(v)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for name in node.output:
                if name:
                    self.producer[name] = i
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(i)
        self._arrays: dict[str, Any] = {}
        self.constant: set[str] = set(self.initializers)
        self.origin: dict[str, str] = {}  # folded constant -> the initializer it copies
        self._fold()

    # ---- constants

    def array(self, name: str):
        """The value of a constant tensor (numpy), converted on first use."""
        if name not in self._arrays:
            self._arrays[name] = self._numpy_helper.to_array(self.initializers[name])
        return self._arrays[name]

    def const_shape(self, name: str) -> tuple[int, ...]:
        if name in self.initializers and name not in self._arrays:
            return tuple(self.initializers[name].dims)
        return tuple(self.array(name).shape)

    def is_const(self, name: str) -> bool:
        return name in self.constant

    def _fold(self) -> None:
        from onnx.reference import ReferenceEvaluator

        for node in self.nodes:
            inputs = [n for n in node.input if n]
            if node.op_type in _NOT_FOLDED or node.domain not in ("", "ai.onnx"):
                continue
            if any(a.type in (5, 10) for a in node.attribute):  # GRAPH / GRAPHS
                continue
            if node.op_type == "Shape" and inputs and not self.is_const(inputs[0]):
                shape = self.shapes.get(inputs[0])
                if shape is None or not all(isinstance(d, int) for d in shape):
                    continue
            elif node.op_type == "Size" and inputs and not self.is_const(inputs[0]):
                continue
            elif not all(self.is_const(n) for n in inputs):
                continue
            if node.op_type == "Dropout":
                continue  # a dropout of a constant is still a dropout in training
            if any(
                math.prod(self.const_shape(n)) > _FOLD_LIMIT for n in inputs if self.is_const(n)
            ) and node.op_type not in ("Identity", "Transpose"):
                continue
            feeds = {}
            for n in inputs:
                if self.is_const(n):
                    feeds[n] = self.array(n)
                else:  # Shape of a dynamic tensor with a static shape
                    feeds[n] = _zeros(self.shapes[n])
            try:
                out = ReferenceEvaluator(node).run(None, feeds)
            except Exception:  # an op the reference runtime lacks: it stays a node
                continue
            for name, value in zip(node.output, out):
                if name:
                    self._arrays[name] = value
                    self.constant.add(name)
            if node.op_type in ("Identity", "Transpose") and inputs:
                self.origin[node.output[0]] = self.origin.get(inputs[0], inputs[0])

    # ---- navigation

    def shape(self, name: str) -> tuple | None:
        if self.is_const(name):
            return self.const_shape(name)
        return self.shapes.get(name)

    def producer_node(self, name: str):
        i = self.producer.get(name)
        return (i, self.nodes[i]) if i is not None else (None, None)

    def users(self, name: str) -> list[int]:
        return self.consumers.get(name, [])

    def only_user(self, name: str) -> int | None:
        """The one node that reads ``name`` (and it is no graph output), else None."""
        users = self.users(name)
        if len(users) == 1 and name not in self.outputs:
            return users[0]
        return None

    def attr(self, node, name: str, default: Any = None) -> Any:
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def where(self, i: int) -> str:
        """How an error names node ``i``: its index, name and op type."""
        node = self.nodes[i]
        name = f" `{node.name}`" if node.name else ""
        out = f", output `{node.output[0]}`" if not node.name and node.output else ""
        return f"node {i}{name} ({node.op_type}{out})"


def _shape_of(value) -> tuple | None:
    t = value.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    dims: list = []
    for d in t.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return tuple(dims)


def _zeros(shape):
    import numpy as np

    return np.zeros(shape, dtype=np.float32)


def _each(size: int | tuple[int, ...], axes: int) -> tuple[int, ...]:
    """A size of :meth:`_Mapper._sizes` for each of ``axes`` spatial axes."""
    return size if isinstance(size, tuple) else (size,) * axes


def _scope(node_name: str) -> tuple[str, ...]:
    """The module path of a node, e.g. ``/layers/layers.0/attn/q/MatMul`` → layers.0, attn, q.

    The last component names the op itself and is dropped; a component that repeats its
    parent as a prefix (``layers`` / ``layers.0``) keeps only the longer one."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) > 1:
        parts = parts[:-1]
    elif parts and not node_name.startswith("/"):
        return tuple(parts)
    else:
        return ()
    out: list[str] = []
    for p in parts:
        if out and p.startswith(out[-1] + "."):
            out[-1] = p
        else:
            out.append(p)
    return tuple(out)


# --------------------------------------------------------------------------- mapping


class _Mapper:
    """ONNX nodes → :class:`Layer` list, with every node nnlint cannot express listed."""

    def __init__(self, graph: _Graph) -> None:
        self.g = graph
        self.layers: list[Layer] = []
        self.problems: list[_Problem] = []
        self.alias: dict[str, str] = {}
        self.claimed: set[int] = set()
        self.attention = 0
        self.embeddings: list[tuple[str, str]] = []  # (table constant, output tensor)
        self.tied_copies: set[str] = set()  # weights the file stores a second time for a tie
        self.statistics: set[str] = set()  # batchnorm running mean and variance

    # ---- helpers

    def real(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def per_sample(self, name: str) -> tuple[int, ...]:
        """The shape without its batch axis; every axis a fixed size."""
        shape = self.g.shape(self.real(name)) or self.g.shape(name)
        if shape is None:
            raise _Unsupported(f"ONNX shape inference gives no shape for `{name}`")
        if len(shape) == 0:
            raise _Unsupported(f"`{name}` is a scalar; nnlint tensors have a batch axis")
        rest = shape[1:]
        unknown = [d for d in rest if not isinstance(d, int)]
        if unknown:
            raise _Unsupported(
                f"`{name}` has the symbolic size `{unknown[0]}`; give it one with "
                f"`--dim {unknown[0]}=N`"
            )
        return tuple(rest)

    def rank(self, name: str) -> int:
        shape = self.g.shape(self.real(name)) or self.g.shape(name)
        if shape is None:
            raise _Unsupported(f"ONNX shape inference gives no shape for `{name}`")
        return len(shape)

    def dynamic(self, node) -> list[str]:
        return [n for n in node.input if n and not self.g.is_const(n)]

    def const(self, name: str):
        return self.g.array(name)

    def scalar(self, name: str) -> float | None:
        if not name or not self.g.is_const(name):
            return None
        a = self.const(name)
        return float(a.reshape(-1)[0]) if a.size == 1 else None

    def add(
        self,
        i: int,
        op: str,
        args: list[Arg],
        inputs: Sequence[str],
        output: str,
        weights: int = 0,
        buffers: int = 0,
        reads: Sequence[str] = (),
    ) -> Layer:
        layer = Layer(
            op,
            args,
            [self.real(x) for x in inputs],
            output,
            i,
            _scope(self.g.nodes[i].name),
            weights,
            buffers,
            [self.g.origin.get(n, n) for n in reads if n],
        )
        self.layers.append(layer)
        return layer

    # ---- driver

    def run(self) -> None:
        g = self.g
        for i, node in enumerate(g.nodes):
            if node.op_type == "Softmax" and i not in self.claimed:
                self._try_attention(i)
        for i, node in enumerate(g.nodes):
            if i not in self.claimed and node.op_type in self._WRITTEN_OUT:
                try:
                    getattr(self, self._WRITTEN_OUT[node.op_type])(i)
                except _NoMatch:
                    pass
        for i, node in enumerate(g.nodes):
            if i in self.claimed or all(g.is_const(o) for o in node.output if o):
                continue
            if node.domain not in ("", "ai.onnx"):
                self.problems.append(_Problem(i, f"op of the custom domain `{node.domain}`"))
                continue
            method = getattr(self, f"_op_{node.op_type}", None)
            try:
                if method is None:
                    raise _Unsupported(_WHY_NOT.get(node.op_type, "nnlint has no such op"))
                method(i, node)
            except _Unsupported as why:
                self.problems.append(_Problem(i, str(why)))
        self.layers.sort(key=lambda layer: layer.node)

    # ---- element-wise and identity

    def _op_Identity(self, i, node):
        self.alias[node.output[0]] = node.input[0]

    def _activation(self, i, node, op, args=()):
        (x,) = self.dynamic(node)[:1] or [node.input[0]]
        self.per_sample(x)
        self.add(i, op, list(args), [x], node.output[0])

    def _op_Relu(self, i, node):
        self._activation(i, node, "relu")

    def _op_Sigmoid(self, i, node):
        # x · sigmoid(x) is SiLU: the Mul is claimed and produces the layer
        (user,) = self.g.users(node.output[0])[:1] or [None]
        if user is not None and self.g.only_user(node.output[0]) == user:
            mul = self.g.nodes[user]
            x = node.input[0]
            if mul.op_type == "Mul" and sorted(mul.input) == sorted([x, node.output[0]]):
                self.claimed.add(user)
                self.per_sample(x)
                self.add(user, "silu", [], [x], mul.output[0])
                return
        self._activation(i, node, "sigmoid")

    def _op_Tanh(self, i, node):
        self._activation(i, node, "tanh")

    def _op_Gelu(self, i, node):
        self._activation(i, node, "gelu")

    def _op_Log(self, i, node):
        self._activation(i, node, "log")

    def _op_HardSwish(self, i, node):
        self._activation(i, node, "hardswish")

    def _op_HardSigmoid(self, i, node):
        alpha, beta = self.g.attr(node, "alpha", 0.2), self.g.attr(node, "beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5):
            raise _Unsupported(
                f"HardSigmoid with alpha={_short(alpha)}, beta={_short(beta)}: nnlint's "
                "hardsigmoid is PyTorch's relu6(x + 3)/6 (alpha=1/6, beta=0.5)"
            )
        self._activation(i, node, "hardsigmoid")

    def _op_Softplus(self, i, node):
        # x · tanh(softplus(x)) is Mish (torch.onnx writes it so): the Tanh and the Mul are
        # claimed and the Mul produces the layer
        x, out = node.input[0], node.output[0]
        tanh = self.g.only_user(out)
        if tanh is not None and self.g.nodes[tanh].op_type == "Tanh":
            t_out = self.g.nodes[tanh].output[0]
            mul = self.g.only_user(t_out)
            if mul is not None:
                m = self.g.nodes[mul]
                if m.op_type == "Mul" and sorted(m.input) == sorted([x, t_out]):
                    self.claimed |= {tanh, mul}
                    self.per_sample(x)
                    self.add(mul, "mish", [], [x], m.output[0])
                    return
        self._activation(i, node, "softplus")

    def _op_Mish(self, i, node):
        self._activation(i, node, "mish")

    def _op_LeakyRelu(self, i, node):
        alpha = _short(self.g.attr(node, "alpha", 0.01))
        self._activation(i, node, "leaky_relu", [Arg("alpha", alpha, True, 0.01)])

    def _op_Elu(self, i, node):
        alpha = _short(self.g.attr(node, "alpha", 1.0))
        self._activation(i, node, "elu", [Arg("alpha", alpha, True, 1.0)])

    def _op_Clip(self, i, node):
        if self.g.opset >= 11:
            lo = self.scalar(node.input[1]) if len(node.input) > 1 and node.input[1] else None
            hi = self.scalar(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            for k in (1, 2):
                if len(node.input) > k and node.input[k] and not self.g.is_const(node.input[k]):
                    raise _Unsupported("Clip with bounds computed at run time")
        else:
            lo, hi = self.g.attr(node, "min"), self.g.attr(node, "max")
        if lo == 0 and hi == 6:
            self._activation(i, node, "relu6")
        elif lo == 0 and (hi is None or hi == math.inf):
            self._activation(i, node, "relu")
        else:
            raise _Unsupported(
                f"Clip to [{lo}, {hi}]: nnlint clips only as relu (0, ∞) and relu6 (0, 6)"
            )

    def _op_PRelu(self, i, node):
        x, slope = node.input[0], node.input[1]
        if not self.g.is_const(slope):
            raise _Unsupported("PRelu with a slope computed at run time")
        n = math.prod(self.g.const_shape(slope))
        shape = self.per_sample(x)
        channels = channel_axis(shape)
        if n not in (1, channels):
            raise _Unsupported(f"PRelu with {n} slopes for {channels} channels")
        self.add(
            i,
            "prelu",
            [Arg("num_parameters", n, True, 1)],
            [x],
            node.output[0],
            weights=n,
            reads=[slope],
        )

    def _softmax_axis(self, node, x) -> None:
        r = self.rank(x)
        default = -1 if self.g.opset >= 13 else 1
        axis = self.g.attr(node, "axis", default)
        axis = axis + r if axis < 0 else axis
        if self.g.opset < 13 and axis != r - 1:
            raise _Unsupported(f"{node.op_type} (opset {self.g.opset}) over axes {axis}..")
        class_axis = 1 + channel_index((0,) * (r - 1))  # nnlint's channel axis, per sample
        if axis != class_axis or r not in (2, 3, 4, 5):
            raise _Unsupported(
                f"{node.op_type} over axis {axis} of {list(self.g.shape(x) or ())}: nnlint's "
                "softmax runs over the class axis (the C of [C, H, W] and [C, D, H, W], else "
                "the last)"
            )

    def _op_Softmax(self, i, node):
        self._softmax_axis(node, node.input[0])
        self._activation(i, node, "softmax")

    def _op_LogSoftmax(self, i, node):
        self._softmax_axis(node, node.input[0])
        self._activation(i, node, "log_softmax")

    def _op_Dropout(self, i, node):
        if len(node.output) > 1 and node.output[1] and self.g.users(node.output[1]):
            raise _Unsupported("Dropout whose mask is read by another node")
        ratio = 0.5 if self.g.opset >= 12 else self.g.attr(node, "ratio", 0.5)
        if self.g.opset >= 12 and len(node.input) > 1 and node.input[1]:
            ratio = self.scalar(node.input[1])
            if ratio is None:
                raise _Unsupported("Dropout with a rate computed at run time")
        training = False
        if len(node.input) > 2 and node.input[2]:
            mode = self.scalar(node.input[2])
            if mode is None:
                raise _Unsupported("Dropout whose training mode is computed at run time")
            training = bool(mode)
        if not training or ratio == 0:
            self.alias[node.output[0]] = node.input[0]  # inference: the identity
            return
        self._activation(i, node, "dropout", [Arg("p", _short(ratio), True, 0.5)])

    # ---- merges

    def _elementwise(self, i, node, op: str, constant: str) -> None:
        """``add``/``mul``/``sub`` of two tensors the model computes, broadcast like NumPy
        over the per-sample shapes (squeeze-and-excitation's [C, H, W] · [C, 1, 1]);
        ``constant`` says why an operand stored in the file cannot be one."""
        a, b = node.input[0], node.input[1]
        if self.g.is_const(a) or self.g.is_const(b):
            raise _Unsupported(constant)
        self.per_sample(a), self.per_sample(b)
        if self.rank(a) != self.rank(b):
            raise _Unsupported(
                f"{node.op_type} of {list(self.g.shape(a) or ())} and "
                f"{list(self.g.shape(b) or ())}: ranks differ, so the batch axes do not line up"
            )
        self.add(i, op, [], [a, b], node.output[0])

    def _op_Add(self, i, node):
        self._elementwise(
            i,
            node,
            "add",
            "adds a constant tensor (a learned position table or a bias nnlint cannot "
            "attach to a layer); nnlint has no op for a stored tensor",
        )

    def _op_Mul(self, i, node):
        self._elementwise(
            i,
            node,
            "mul",
            "multiplies by a constant tensor (a scale nnlint cannot attach to a layer); "
            "nnlint has no op for a stored tensor",
        )

    def _op_Sub(self, i, node):
        self._elementwise(
            i,
            node,
            "sub",
            "subtracts a constant tensor; nnlint has no op for a stored tensor",
        )

    def _op_Sum(self, i, node):
        shapes = {self.per_sample(x) for x in node.input}
        if any(self.g.is_const(x) for x in node.input) or len(shapes) != 1:
            raise _Unsupported("Sum of constants or of tensors of different shapes")
        if len(node.input) == 1:
            self.alias[node.output[0]] = node.input[0]
            return
        self.add(i, "add", [], list(node.input), node.output[0])

    def _op_Concat(self, i, node):
        if any(self.g.is_const(x) for x in node.input):
            raise _Unsupported("concatenates a constant tensor (e.g. a class token)")
        r = self.rank(node.input[0])
        axis = self.g.attr(node, "axis")
        axis = axis + r if axis < 0 else axis
        if axis == 0:
            raise _Unsupported("Concat along the batch axis")
        per = axis - 1
        default = channel_index((0,) * (r - 1))
        for x in node.input:
            self.per_sample(x)
        self.add(i, "concat", [Arg("axis", per, False, default)], list(node.input), node.output[0])

    def _op_MatMul(self, i, node):
        a, b = node.input
        if self.g.is_const(b):
            self._dense_matmul(i, node)
            return
        if self.g.is_const(a):
            raise _Unsupported("MatMul of a constant by a tensor (weights on the left)")
        sa, sb = self.per_sample(a), self.per_sample(b)
        if len(sa) < 2 or len(sb) < 2 or sa[:-2] != sb[:-2] or sa[-1] != sb[-2]:
            raise _Unsupported(
                f"MatMul of {list(sa)} and {list(sb)} (per sample): nnlint's matmul "
                "multiplies [..., m, k] by [..., k, n] with equal leading axes"
            )
        self.add(i, "matmul", [], [a, b], node.output[0])

    # ---- layers with weights

    def _bias_add(self, out: str, units: int) -> tuple[int, Any, str] | None:
        """The ``Add`` that adds a constant [units] bias to ``out``: (index, node, bias)."""
        j = self.g.only_user(out)
        if j is None or j in self.claimed:
            return None
        add = self.g.nodes[j]
        if add.op_type != "Add":
            return None
        other = add.input[1] if add.input[0] == out else add.input[0]
        if not self.g.is_const(other):
            return None
        shape = self.g.const_shape(other)
        if shape and shape[-1] == units and math.prod(shape) == units:
            return j, add, other
        return None

    def _dense_matmul(self, i, node):
        x, w = node.input
        wshape = self.g.const_shape(w)
        if len(wshape) != 2:
            raise _Unsupported(f"MatMul by a constant of shape {list(wshape)}: not a dense layer")
        k, n = wshape
        shape = self.per_sample(x)
        if not shape or shape[-1] != k:
            raise _Unsupported(f"MatMul of {list(shape)} by a {k}×{n} weight")
        bias = self._bias_add(node.output[0], n)
        out, at, weights, reads = node.output[0], i, k * n, [w]
        if bias is not None:
            at, add, b = bias
            self.claimed.add(at)
            out, weights, reads = add.output[0], weights + n, [w, b]
        args = [_pos("units", n), Arg("bias", bias is not None, False, True)]
        tie = self._tie(w, transposed=False)
        if tie is not None:
            args.append(Arg("tie", Ref(tie), False, None))
            weights -= k * n
            reads.remove(w)
        self.add(at, "dense", args, [x], out, weights=weights, reads=reads)

    def _op_Gemm(self, i, node):
        a, b = node.input[0], node.input[1]
        c = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if not self.g.is_const(b) or self.g.is_const(a):
            raise _Unsupported("Gemm whose second operand is not a constant weight")
        if self.g.attr(node, "transA", 0) or self.g.attr(node, "alpha", 1.0) != 1.0:
            raise _Unsupported("Gemm with transA or alpha ≠ 1: not a plain dense layer")
        wshape = self.g.const_shape(b)
        n, k = wshape if self.g.attr(node, "transB", 0) else wshape[::-1]
        if self.per_sample(a) != (k,):
            raise _Unsupported(f"Gemm of {list(self.per_sample(a))} by a {k}×{n} weight")
        weights = k * n
        if c is not None:
            if not self.g.is_const(c) or math.prod(self.g.const_shape(c)) != n:
                raise _Unsupported("Gemm whose C is not a [n] bias")
            if self.g.attr(node, "beta", 1.0) != 1.0:
                raise _Unsupported("Gemm with beta ≠ 1")
            weights += n
        args = [_pos("units", n), Arg("bias", c is not None, False, True)]
        tie = self._tie(b, transposed=not self.g.attr(node, "transB", 0))
        reads = [b, c] if tie is None else [c]
        if tie is not None:
            args.append(Arg("tie", Ref(tie), False, None))
            weights -= k * n
        self.add(i, "dense", args, [a], node.output[0], weights=weights, reads=reads)

    def _tie(self, w: str, transposed: bool) -> str | None:
        """The embedding whose table this [k, n] weight is (by name or by value), if any."""
        import numpy as np

        origin = self.g.origin.get(w, w)
        wshape = self.g.const_shape(w)
        for table, out in self.embeddings:
            if origin == table:
                return out
            tshape = self.g.const_shape(table)
            if tshape != wshape[::-1] if not transposed else tshape != wshape:
                continue
            weight = self.const(w)
            ref = self.const(table)
            if np.array_equal(weight.T if not transposed else weight, ref):
                self.tied_copies.add(origin)  # the file stores the weight twice
                return out
        return None

    def _conv(self, i, node, transposed: bool) -> None:
        """``Conv`` → ``conv1d``, ``conv2d`` or ``conv3d`` (3-, 4- or 5-D weights);
        ``ConvTranspose`` → ``conv_transpose2d`` or ``conv_transpose3d``. Sizes per axis; the
        same padding at both ends of an axis."""
        x, w = node.input[0], node.input[1]
        b = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if not self.g.is_const(w) or (b is not None and not self.g.is_const(b)):
            raise _Unsupported(f"{node.op_type} whose weights are computed at run time")
        wshape = self.g.const_shape(w)
        spatial = len(wshape) - 2
        if spatial not in ((2, 3) if transposed else (1, 2, 3)):
            kind = f"{spatial}-D {'transposed ' if transposed else ''}convolution"
            raise _Unsupported(
                f"{kind}: nnlint has conv_transpose2d and conv_transpose3d"
                if transposed
                else f"{kind}: nnlint has conv1d, conv2d and conv3d"
            )
        groups = self.g.attr(node, "group", 1)
        c_out = wshape[1] * groups if transposed else wshape[0]
        ones = [1] * spatial
        k = self._sizes("kernel", self.g.attr(node, "kernel_shape", list(wshape[2:])), spatial)
        s = self._sizes("stride", self.g.attr(node, "strides", ones), spatial)
        d = self._sizes("dilation", self.g.attr(node, "dilations", ones), spatial)
        if transposed and self.g.attr(node, "auto_pad", "NOTSET") != "NOTSET":
            raise _Unsupported("ConvTranspose with auto_pad: give pads and output_padding")
        p = self._padding(node, k, s, d, spatial)
        weights = math.prod(wshape) + (c_out if b is not None else 0)
        self.per_sample(x)
        args = [
            _pos("channels", c_out),
            _pos("kernel", k),
            Arg("stride", s, False, 1),
            Arg("padding", p, False, 0),
        ]
        if transposed:
            out_pad = self.g.attr(node, "output_padding", [0] * spatial)
            out_pad = self._sizes("output_padding", out_pad, spatial)
            args.append(Arg("output_padding", out_pad, False, 0))
        args += [
            Arg("groups", groups, False, 1),
            Arg("dilation", d, False, 1),
            Arg("bias", b is not None, False, True),
        ]
        op = f"conv_transpose{spatial}d" if transposed else f"conv{spatial}d"
        self.add(i, op, args, [x], node.output[0], weights=weights, reads=[w, b or ""])

    def _op_Conv(self, i, node):
        self._conv(i, node, transposed=False)

    def _op_ConvTranspose(self, i, node):
        self._conv(i, node, transposed=True)

    @staticmethod
    def _sizes(what: str, values: Sequence[int], axes: int) -> int | tuple[int, ...]:
        """A size per spatial axis (``axes`` of them) as a spec writes it: one number when
        every axis has the same, else one per axis."""
        values = [int(v) for v in values]
        if len(values) != axes:
            raise _Unsupported(f"{what} {values}: expected {axes}, one per spatial axis")
        return values[0] if len(set(values)) == 1 else tuple(values)

    def _padding(self, node, k, s, d, axes: int) -> int | tuple[int, ...]:
        """The padding of each spatial axis; ONNX's ``pads`` lists the starts, then the
        ends, which must be equal (nnlint pads both ends of an axis alike)."""
        auto = self.g.attr(node, "auto_pad", "NOTSET")
        if auto == "VALID":
            return 0
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            totals = [dd * (kk - 1) for kk, dd in zip(_each(k, axes), _each(d, axes))]
            if any(ss != 1 for ss in _each(s, axes)) or any(t % 2 for t in totals):
                raise _Unsupported(f"auto_pad={auto} with uneven padding")
            return self._sizes("padding", [t // 2 for t in totals], axes)
        pads = [int(p) for p in self.g.attr(node, "pads", [0] * 2 * axes)]
        if pads[:axes] != pads[axes:]:
            raise _Unsupported(f"pads {pads}: nnlint pads both ends of an axis alike")
        return self._sizes("padding", pads[:axes], axes)

    def _pool(self, i, node, op):
        x = node.input[0]
        axes = self.rank(x) - 2
        if axes not in (1, 2, 3):
            raise _Unsupported(f"{node.op_type} over {axes}-D: nnlint pools 1-D, 2-D and 3-D")
        if list(self.g.attr(node, "dilations", [1] * axes)) != [1] * axes:
            raise _Unsupported("dilated pooling")
        if len(node.output) > 1 and node.output[1] and self.g.users(node.output[1]):
            raise _Unsupported("MaxPool whose indices are read")
        k = self._sizes("kernel", self.g.attr(node, "kernel_shape"), axes)
        s = self._sizes("stride", self.g.attr(node, "strides", [1] * axes), axes)
        p = self._padding(node, k, s, 1, axes)
        if any(2 * pp > kk for pp, kk in zip(_each(p, axes), _each(k, axes))):
            raise _Unsupported(f"padding {p} larger than half the kernel {k}")
        self.per_sample(x)
        ceil = bool(self.g.attr(node, "ceil_mode", 0))
        if ceil:
            self._ceil_sizes_agree(node, k, s, p, axes)
        args = [_pos("kernel", k), Arg("stride", s, False, k), Arg("padding", p, False, 0)]
        self.add(i, op, args + [Arg("ceil", ceil, False, False)], [x], node.output[0])

    def _ceil_sizes_agree(self, node, k, s, p, axes: int) -> None:
        """``ceil_mode=1`` is nnlint's ``ceil=true`` (PyTorch's ``ceil_mode``) where ONNX
        shape inference gives the pool the output size PyTorch's rule does.

        Both round the output size up, but PyTorch drops a last window that would start
        past the input and its left padding (``torch.nn.MaxPool2d``'s docs; aten's
        ``pooling_output_shape``);
        ONNX shape inference drops it from opset 22 on (``MaxPool``-22, ``AveragePool``-22)
        and keeps it before, so a file of an earlier opset gives every later layer a size
        the PyTorch model does not have."""
        spatial = self.per_sample(node.input[0])[1:]
        sizes = zip(spatial, _each(k, axes), _each(s, axes), _each(p, axes))
        ours = tuple(pool_out(*size, True) for size in sizes)
        theirs = self.per_sample(node.output[0])[1:]
        if ours == theirs:
            return
        steps = zip(theirs, ours, spatial, _each(s, axes), _each(p, axes))
        kept = all(t == o or (t == o + 1 and o * ss >= size + pp) for t, o, size, ss, pp in steps)
        why = (
            ": ONNX shape inference before opset 22 keeps a last window that starts past the "
            "input and its left padding, PyTorch drops it (export at opset 22 or later)"
            if kept
            else ""
        )
        raise _Unsupported(
            f"ceil_mode=1 pools {list(spatial)} to {list(theirs)} in this file (opset "
            f"{self.g.opset}), PyTorch's ceil_mode (nnlint's ceil=true) to {list(ours)}{why}"
        )

    def _op_MaxPool(self, i, node):
        self._pool(i, node, "maxpool")

    def _op_AveragePool(self, i, node):
        self._pool(i, node, "avgpool")

    def _op_GlobalAveragePool(self, i, node):
        if self.rank(node.input[0]) not in (4, 5):
            raise _Unsupported(
                "global average pooling of a tensor that is not [N, C, H, W] or [N, C, D, H, W]"
            )
        self._activation(i, node, "global_avgpool")

    def _op_DepthToSpace(self, i, node):
        """``DepthToSpace`` in CRD mode is PyTorch's ``pixel_shuffle``; DCR mode (ONNX's
        default, TensorFlow's order) puts the values elsewhere."""
        mode = self.g.attr(node, "mode", "DCR")
        if mode != "CRD":
            raise _Unsupported(
                f"DepthToSpace mode={mode}: nnlint's pixel_shuffle is PyTorch's order (CRD)"
            )
        r = int(self.g.attr(node, "blocksize"))
        self.per_sample(node.input[0])
        self.add(i, "pixel_shuffle", [_pos("upscale_factor", r)], [node.input[0]], node.output[0])

    def _axes(self, node, name: str = "axes") -> list[int] | None:
        """The constant axes of a node (an attribute, or an input from opset 13/18 on),
        made non-negative; None when the node names none."""
        r = self.rank(node.input[0])
        axes = self.g.attr(node, name)
        if axes is None and len(node.input) > 1 and node.input[1]:
            if not self.g.is_const(node.input[1]):
                raise _Unsupported(f"{node.op_type} over axes computed at run time")
            axes = [int(a) for a in self.const(node.input[1]).reshape(-1)]
        return None if axes is None else sorted(a + r if a < 0 else a for a in axes)

    def _reduce(self, i, node, op: str, pools: bool = False) -> None:
        """``ReduceMean``/``ReduceSum`` over one axis → ``mean``/``sum`` (``keepdims``: a
        ``reshape`` puts the axis back as size 1); with ``pools`` (``ReduceMean``), over H
        and W of [N, C, H, W] → ``global_avgpool``."""
        x, out = node.input[0], node.output[0]
        r = self.rank(x)
        axes = self._axes(node) or []
        keep = self.g.attr(node, "keepdims", 1)
        if pools and r == 4 and axes == [2, 3]:
            if keep:
                self._activation(i, node, "global_avgpool")
                return
            pooled = out + "#pool"
            self.add(i, "global_avgpool", [], [x], pooled)
            self.add(i, "flatten", [], [pooled], out)
            return
        if len(axes) != 1 or axes[0] == 0:
            raise _Unsupported(
                f"{node.op_type} over axes {axes or 'all'} of {list(self.g.shape(x) or ())}: "
                + _WHY_NOT.get(node.op_type, f"nnlint's {op} reduces one axis (not the batch)")
            )
        self.per_sample(x)
        args = [_pos("axis", axes[0] - 1)]
        if not keep:
            self.add(i, op, args, [x], out)
            return
        reduced = out + f"#{op}"
        self.add(i, op, args, [x], reduced)
        self.add(i, "reshape", [_pos("dims", d) for d in self.per_sample(out)], [reduced], out)

    def _op_ReduceMean(self, i, node):
        self._reduce(i, node, "mean", pools=True)

    def _op_ReduceSum(self, i, node):
        self._reduce(i, node, "sum")

    def _op_Transpose(self, i, node):
        """A permutation that keeps the batch axis first → ``transpose(a, b)`` when it
        swaps two axes, else ``permute(…)`` (per-sample axes)."""
        x = node.input[0]
        r = self.rank(x)
        perm = list(self.g.attr(node, "perm", list(range(r))[::-1]))
        if perm[0] != 0:
            raise _Unsupported(f"Transpose {perm} moves the batch axis")
        dims = [p - 1 for p in perm[1:]]
        self.per_sample(x)
        moved = [k for k, d in enumerate(dims) if d != k]
        if not moved:
            self.alias[node.output[0]] = x
        elif len(moved) == 2:
            self.add(
                i, "transpose", [_pos("a", moved[0]), _pos("b", moved[1])], [x], node.output[0]
            )
        else:
            self.add(i, "permute", [_pos("dims", d) for d in dims], [x], node.output[0])

    def _op_Resize(self, i, node):
        """``Resize`` (``Upsample`` before opset 10) of [N, C, H, W] or [N, C, D, H, W] by one
        whole factor on every spatial axis → ``upsample(s)``: ``nearest`` (any rounding: every
        output copies one input), or ``linear`` with half-pixel centres
        (``align_corners=False``) → ``mode=bilinear`` (``trilinear`` for a volume)."""
        x, out = node.input[0], node.output[0]
        if self.rank(x) not in (4, 5):
            raise _Unsupported(f"{node.op_type} of a tensor that is not [N, C, H, W]")
        shape, shape2 = self.per_sample(x), self.per_sample(out)
        s = shape2[1] // shape[1]
        if shape2[0] != shape[0] or any(b != s * a for a, b in zip(shape[1:], shape2[1:])):
            axes = "H and W" if len(shape) == 3 else "D, H and W"
            raise _Unsupported(
                f"{node.op_type} from {list(shape)} to {list(shape2)}: nnlint upsamples "
                f"{axes} by one whole factor"
            )
        mode = self.g.attr(node, "mode", "nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        coords = self.g.attr(node, "coordinate_transformation_mode", "half_pixel")
        coords = coords.decode() if isinstance(coords, bytes) else coords
        if mode == "linear" and coords in ("half_pixel", "pytorch_half_pixel"):
            linear = "bilinear" if len(shape) == 3 else "trilinear"
            args = [_pos("scale", s), Arg("mode", linear, False, "nearest")]
        elif mode == "nearest":
            args = [_pos("scale", s)]
        else:
            raise _Unsupported(
                f"{node.op_type} mode={mode} with {coords} coordinates: nnlint upsamples "
                "nearest, or bilinear with half-pixel centres (align_corners=False)"
            )
        self.add(i, "upsample", args, [x], out)

    _op_Upsample = _op_Resize

    def _op_Slice(self, i, node):
        """Constant starts, ends and axes, step 1 → one ``slice(axis, start, end)`` per
        axis it narrows (per-sample axes; the batch axis is kept whole)."""
        x = node.input[0]
        shape = self.g.shape(x) or ()
        r = len(shape)
        if self.g.opset >= 10:
            names = list(node.input[1:5]) + [""] * (5 - len(node.input))
            for n in names[:4]:
                if n and not self.g.is_const(n):
                    raise _Unsupported("Slice with bounds computed at run time")
            starts, ends, axes, steps = (
                [int(v) for v in self.const(n).reshape(-1)] if n else None for n in names[:4]
            )
        else:
            starts, ends = self.g.attr(node, "starts"), self.g.attr(node, "ends")
            axes, steps = self.g.attr(node, "axes"), None
        axes = axes if axes is not None else list(range(len(starts)))
        steps = steps if steps is not None else [1] * len(starts)
        cuts = []
        for a, lo, hi, step in zip(axes, starts, ends, steps):
            a = a + r if a < 0 else a
            size = shape[a]
            if step != 1:
                raise _Unsupported(f"Slice with step {step}: nnlint's slice takes every position")
            lo = min(max(lo + size if lo < 0 else lo, 0), size)
            hi = min(max(hi + size if hi < 0 else hi, 0), size)
            if (lo, hi) == (0, size):
                continue
            if a == 0:
                raise _Unsupported("Slice of the batch axis")
            cuts.append((a - 1, lo, hi))
        self.per_sample(x)
        if not cuts:
            self.alias[node.output[0]] = x
            return
        src = x
        for k, (a, lo, hi) in enumerate(cuts):
            out = node.output[0] if k == len(cuts) - 1 else f"{node.output[0]}#{k}"
            self.add(i, "slice", [_pos("axis", a), _pos("start", lo), _pos("end", hi)], [src], out)
            src = out

    def _op_Flatten(self, i, node):
        x = node.input[0]
        r = self.rank(x)
        axis = self.g.attr(node, "axis", 1)
        axis = axis + r if axis < 0 else axis
        if axis != 1:
            raise _Unsupported(f"Flatten at axis {axis}: nnlint flattens everything but the batch")
        self.per_sample(x)
        self.add(i, "flatten", [], [x], node.output[0])

    def _reshape(self, i, node):
        x, out = node.input[0], node.output[0]
        src, dst = self.g.shape(x), self.g.shape(out)
        if dst is None or src is None:
            raise _Unsupported(f"{node.op_type} whose output shape inference does not give")
        if not dst or dst[0] != src[0]:
            raise _Unsupported(
                f"{node.op_type} from {list(src)} to {list(dst)} moves the batch axis"
            )
        dims = self.per_sample(out)
        self.per_sample(x)
        if dims == self.per_sample(x):
            self.alias[out] = x
        elif len(dims) == 1:
            self.add(i, "flatten", [], [x], out)
        else:
            self.add(i, "reshape", [_pos("dims", d) for d in dims], [x], out)

    _op_Reshape = _op_Squeeze = _op_Unsqueeze = _reshape

    def _op_BatchNormalization(self, i, node):
        x = node.input[0]
        if not all(self.g.is_const(n) for n in node.input[1:5]):
            raise _Unsupported("BatchNormalization with statistics computed at run time")
        for extra in node.output[1:]:
            if extra and self.g.users(extra):
                raise _Unsupported("BatchNormalization whose running statistics are read")
        c = math.prod(self.g.const_shape(node.input[1]))
        shape = self.per_sample(x)
        if not (len(shape) == 3 or len(shape) == 1) or shape[0] != c:
            raise _Unsupported(
                f"BatchNormalization of {list(shape)} per sample: nnlint's batchnorm "
                "normalizes the C of [C, H, W] or of [C]"
            )
        self.add(
            i,
            "batchnorm",
            [],
            [x],
            node.output[0],
            weights=2 * c,
            buffers=2 * c,
            reads=node.input[1:3],
        )
        self.statistics |= {self.g.origin.get(n, n) for n in node.input[3:5]}

    def _groupnorm(self, i, node, groups: int) -> None:
        """A ``groupnorm`` of a [C, H, W] input with a [C] scale and shift."""
        x = node.input[0]
        shape = self.per_sample(x)
        if len(shape) != 3:
            raise _Unsupported(f"{node.op_type} of a tensor that is not [N, C, H, W]")
        c = shape[0]
        if math.prod(self.g.const_shape(node.input[1])) != c:
            raise _Unsupported(
                f"{node.op_type} with one scale per group (opset 18): nnlint's groupnorm "
                "has one per channel"
            )
        self.add(
            i,
            "groupnorm",
            [_pos("groups", groups)],
            [x],
            node.output[0],
            weights=2 * c,
            reads=node.input[1:3],
        )

    def _op_InstanceNormalization(self, i, node):
        """→ ``instancenorm`` over [C, H, W] or [C, D, H, W]; ``affine=true`` unless the scale
        and shift are the constant ones and zeros torch.onnx writes for ``affine=False`` (no
        weights)."""
        x, scale, shift = node.input[0], node.input[1], node.input[2]
        shape = self.per_sample(x)
        if len(shape) not in (3, 4):
            raise _Unsupported(
                f"{node.op_type} of a tensor that is not [N, C, H, W] or [N, C, D, H, W]: "
                "nnlint's instancenorm takes the channels of [C, H, W] and [C, D, H, W] (of "
                "[T, D], the last axis)"
            )
        if not (self.g.is_const(scale) and self.g.is_const(shift)):
            raise _Unsupported(f"{node.op_type} with a scale or shift computed at run time")
        c = shape[0]
        stored = any(self.g.origin.get(n, n) in self.g.initializers for n in (scale, shift))
        affine = stored or not ((self.const(scale) == 1).all() and not self.const(shift).any())
        eps = Arg("eps", _short(self.g.attr(node, "epsilon", 1e-5)), default=1e-5)
        self.add(
            i,
            "instancenorm",
            [Arg("affine", bool(affine), False, False), eps],
            [x],
            node.output[0],
            weights=2 * c if affine else 0,
            reads=[scale, shift] if affine else [],
        )

    def _op_GroupNormalization(self, i, node):
        self._groupnorm(i, node, self.g.attr(node, "num_groups"))

    def _last_axis_norm(self, node) -> int:
        """The size of the last axis a LayerNormalization-like node normalizes over."""
        x = node.input[0]
        r = self.rank(x)
        axis = self.g.attr(node, "axis", -1)
        if (axis + r if axis < 0 else axis) != r - 1:
            raise _Unsupported(
                f"{node.op_type} over axes {axis}..: nnlint normalizes over the last axis"
            )
        if any(o and self.g.users(o) for o in node.output[1:]):
            raise _Unsupported(f"{node.op_type} whose statistics are read")
        if not all(self.g.is_const(n) for n in node.input[1:] if n):
            raise _Unsupported(f"{node.op_type} with a scale or bias computed at run time")
        return self.per_sample(x)[-1]

    def _op_LayerNormalization(self, i, node):
        d = self._last_axis_norm(node)
        bias = len(node.input) > 2 and bool(node.input[2])
        if bias and self.g.origin.get(node.input[2], node.input[2]) not in self.g.initializers:
            # torch.onnx writes LayerNorm(bias=False) with a constant zero bias: no weight
            bias = bool(self.const(node.input[2]).any())
        eps = Arg("eps", _short(self.g.attr(node, "epsilon", 1e-5)), default=1e-5)
        args = [Arg("bias", bias, False, True), eps]
        weights = 2 * d if bias else d
        x, out = node.input[0], node.output[0]
        self.add(i, "layernorm", args, [x], out, weights=weights, reads=node.input[1:3])

    def _op_RMSNormalization(self, i, node):
        """RMSNormalization (opset 23) and onnxruntime's SimplifiedLayerNormalization:
        ``x / sqrt(mean(x²) + ε) · γ`` over the last axis → ``rmsnorm``."""
        d = self._last_axis_norm(node)
        x, out = node.input[0], node.output[0]
        eps = Arg("eps", _short(self.g.attr(node, "epsilon", 1e-5)), default=1e-5)
        self.add(i, "rmsnorm", [eps], [x], out, weights=d, reads=node.input[1:2])

    _op_SimplifiedLayerNormalization = _op_RMSNormalization

    def _op_Gather(self, i, node):
        table, ids = node.input
        if not self.g.is_const(table) and self.g.is_const(ids):
            self._select(i, node)
            return
        if not self.g.is_const(table) or self.g.is_const(ids):
            raise _Unsupported(_WHY_NOT["Gather"])
        shape = self.g.const_shape(table)
        if len(shape) != 2 or self.g.attr(node, "axis", 0) != 0:
            raise _Unsupported("Gather from a constant that is not a [vocab, dim] table")
        if len(self.per_sample(ids)) > 1:
            raise _Unsupported("an embedding of ids with more than one axis per sample")
        v, d = shape
        self.add(
            i,
            "embedding",
            [_pos("vocab", v), _pos("dim", d)],
            [ids],
            node.output[0],
            weights=v * d,
            reads=[table],
        )
        self.embeddings.append((self.g.origin.get(table, table), node.output[0]))

    def _select(self, i, node) -> None:
        """``Gather`` of one constant position along an axis: a scalar index →
        ``select(axis, index)``, a one-element index list → ``slice(axis, i, i + 1)``."""
        x, ids = node.input
        r = self.rank(x)
        axis = self.g.attr(node, "axis", 0)
        axis = axis + r if axis < 0 else axis
        index = self.const(ids)
        if axis == 0 or index.size != 1 or index.ndim > 1:
            raise _Unsupported(
                f"Gather of {index.size} position{'s' if index.size != 1 else ''} along axis "
                f"{axis}: " + _WHY_NOT["Gather"]
            )
        size = self.per_sample(x)[axis - 1]
        k = int(index.reshape(-1)[0]) % size
        if index.ndim == 0:
            args = [_pos("axis", axis - 1), _pos("index", k)]
            self.add(i, "select", args, [x], node.output[0])
        else:
            args = [_pos("axis", axis - 1), _pos("start", k), _pos("end", k + 1)]
            self.add(i, "slice", args, [x], node.output[0])

    # ---- norms and activations written out op by op (older opsets)

    _WRITTEN_OUT: ClassVar[dict[str, str]] = {
        "ReduceMean": "_written_out_layernorm",
        "Erf": "_written_out_gelu",
        "Pow": "_written_out_rmsnorm",
        "InstanceNormalization": "_written_out_groupnorm",
    }

    def _written_out_groupnorm(self, i: int) -> None:
        """torch.onnx's GroupNorm: Reshape [N, C, H, W] to [N, G, ·], InstanceNormalization
        with unit scale and zero shift, Reshape back, Mul by γ and Add β, each [C, 1, 1]
        → one ``groupnorm(G)``."""
        import numpy as np

        g = self.g
        norm = g.nodes[i]
        j, before = g.producer_node(norm.input[0])
        if before is None or before.op_type != "Reshape" or g.only_user(norm.input[0]) != i:
            raise _NoMatch
        x = before.input[0]
        shape = self.per_sample(x)
        groups = (g.shape(norm.input[0]) or (0, 0))[1]
        if len(shape) != 3 or not isinstance(groups, int) or shape[0] % max(groups, 1):
            raise _NoMatch
        for k, unit in ((1, 1.0), (2, 0.0)):
            name = norm.input[k]
            if not g.is_const(name) or not np.all(self.const(name) == unit):
                raise _NoMatch
        nodes = {i, j}
        after = self._next(norm.output[0], "Reshape", nodes)
        if self.per_sample(after.output[0]) != shape:
            raise _NoMatch
        c = shape[0]
        scale = self._next(after.output[0], "Mul", nodes)
        gamma = self._other(scale, after.output[0])
        shift = self._next(scale.output[0], "Add", nodes)
        beta = self._other(shift, scale.output[0])
        for t in (gamma, beta):
            if not g.is_const(t) or g.const_shape(t) not in ((c, 1, 1), (1, c, 1, 1)):
                raise _NoMatch
        self.claimed |= nodes
        self.add(
            max(nodes),
            "groupnorm",
            [_pos("groups", groups)],
            [x],
            shift.output[0],
            weights=2 * c,
            reads=[gamma, beta],
        )
        self.layers[-1].node = g.producer[shift.output[0]]

    def _next(self, name: str, op: str, nodes: set[int]):
        """The only node reading ``name``, if it is an ``op``."""
        j = self.g.only_user(name)
        if j is None or j in self.claimed or self.g.nodes[j].op_type != op:
            raise _NoMatch
        nodes.add(j)
        return self.g.nodes[j]

    def _other(self, node, name: str) -> str:
        """The input of a two-input node that is not ``name``."""
        if list(node.input).count(name) != 1:
            raise _NoMatch
        return node.input[1] if node.input[0] == name else node.input[0]

    def _last_axis_mean(self, node) -> bool:
        r = self.rank(node.input[0])
        axes = self.g.attr(node, "axes")
        if axes is None and len(node.input) > 1 and self.g.is_const(node.input[1]):
            axes = [int(a) for a in self.const(node.input[1]).reshape(-1)]
        return axes is not None and [a + r if a < 0 else a for a in axes] == [r - 1]

    def _written_out_layernorm(self, i: int) -> None:
        """torch.onnx before opset 17: ``(x − mean) / sqrt(var + ε) · γ + β`` over the last
        axis, var = mean((x − mean)²), with a constant [D] γ and β → one ``layernorm``."""
        g = self.g
        mean = g.nodes[i]
        x = mean.input[0]
        if g.is_const(x) or not self._last_axis_mean(mean) or not g.attr(mean, "keepdims", 1):
            raise _NoMatch
        nodes = {i}
        sub = self._next(mean.output[0], "Sub", nodes)
        if list(sub.input) != [x, mean.output[0]]:
            raise _NoMatch
        users = g.users(sub.output[0])
        if len(users) != 2 or sub.output[0] in g.outputs:
            raise _NoMatch
        ops = {g.nodes[j].op_type: j for j in users}
        if set(ops) != {"Pow", "Div"}:
            raise _NoMatch
        pow_, div = g.nodes[ops["Pow"]], g.nodes[ops["Div"]]
        nodes |= {ops["Pow"], ops["Div"]}
        if self.scalar(pow_.input[1]) != 2.0 or div.input[0] != sub.output[0]:
            raise _NoMatch
        var = self._next(pow_.output[0], "ReduceMean", nodes)
        if not self._last_axis_mean(var):
            raise _NoMatch
        eps = self._next(var.output[0], "Add", nodes)
        epsilon = self.scalar(self._other(eps, var.output[0]))
        if epsilon is None:
            raise _NoMatch
        sqrt = self._next(eps.output[0], "Sqrt", nodes)
        if div.input[1] != sqrt.output[0] or g.only_user(sqrt.output[0]) != ops["Div"]:
            raise _NoMatch
        d = self.per_sample(x)[-1]
        scale = self._next(div.output[0], "Mul", nodes)
        gamma = self._other(scale, div.output[0])
        shift = self._next(scale.output[0], "Add", nodes)
        beta = self._other(shift, scale.output[0])
        for c in (gamma, beta):
            if (
                not g.is_const(c)
                or g.const_shape(c)[-1:] != (d,)
                or math.prod(g.const_shape(c)) != d
            ):
                raise _NoMatch
        self.claimed |= nodes
        eps_arg = Arg("eps", _short(epsilon), default=1e-5)
        self.add(
            max(nodes),
            "layernorm",
            [eps_arg],
            [x],
            shift.output[0],
            weights=2 * d,
            reads=[gamma, beta],
        )
        self.layers[-1].node = g.producer[shift.output[0]]

    def _written_out_rmsnorm(self, i: int) -> None:
        """An RMSNorm written out (Llama's): ``γ · (x · 1/sqrt(mean(x²) + ε))`` over the
        last axis, the reciprocal as ``Div(1, ·)`` or ``Reciprocal``, with a constant [D]
        γ → one ``rmsnorm``."""
        g = self.g
        pow_ = g.nodes[i]
        x = pow_.input[0]
        if g.is_const(x) or self.scalar(pow_.input[1]) != 2.0:
            raise _NoMatch
        nodes = {i}
        mean = self._next(pow_.output[0], "ReduceMean", nodes)
        if not self._last_axis_mean(mean) or not g.attr(mean, "keepdims", 1):
            raise _NoMatch
        eps = self._next(mean.output[0], "Add", nodes)
        if self.scalar(self._other(eps, mean.output[0])) is None:
            raise _NoMatch
        sqrt = self._next(eps.output[0], "Sqrt", nodes)
        j = g.only_user(sqrt.output[0])
        if j is None or g.nodes[j].op_type not in ("Div", "Reciprocal"):
            raise _NoMatch
        inv = g.nodes[j]
        if inv.op_type == "Div" and (
            list(inv.input[1:]) != [sqrt.output[0]] or self.scalar(inv.input[0]) != 1.0
        ):
            raise _NoMatch
        nodes.add(j)
        normed = self._next(inv.output[0], "Mul", nodes)
        if self._other(normed, inv.output[0]) != x:
            raise _NoMatch
        scale = self._next(normed.output[0], "Mul", nodes)
        gamma = self._other(scale, normed.output[0])
        d = self.per_sample(x)[-1]
        if not g.is_const(gamma) or math.prod(g.const_shape(gamma)) != d:
            raise _NoMatch
        self.claimed |= nodes
        self.add(max(nodes), "rmsnorm", [], [x], scale.output[0], weights=d, reads=[gamma])
        self.layers[-1].node = g.producer[scale.output[0]]

    def _written_out_gelu(self, i: int) -> None:
        """torch.onnx before opset 20: ``x · (erf(x / √2) + 1) · 0.5`` → one ``gelu``."""
        g = self.g
        erf = g.nodes[i]
        j, div = g.producer_node(erf.input[0])
        if div is None or div.op_type not in ("Div", "Mul") or g.only_user(erf.input[0]) != i:
            raise _NoMatch
        x = div.input[0]
        c = self.scalar(div.input[1])
        if c is None or g.is_const(x):
            raise _NoMatch
        if not math.isclose(c if div.op_type == "Div" else 1 / c, math.sqrt(2), rel_tol=1e-6):
            raise _NoMatch
        nodes = {i, j}
        one = self._next(erf.output[0], "Add", nodes)
        if self.scalar(self._other(one, erf.output[0])) != 1.0:
            raise _NoMatch
        times_x = self._next(one.output[0], "Mul", nodes)
        if self._other(times_x, one.output[0]) != x:
            raise _NoMatch
        half = self._next(times_x.output[0], "Mul", nodes)
        if self.scalar(self._other(half, times_x.output[0])) != 0.5:
            raise _NoMatch
        self.per_sample(x)
        self.claimed |= nodes
        self.add(max(nodes), "gelu", [], [x], half.output[0])
        self.layers[-1].node = g.producer[half.output[0]]

    # ---- attention

    def _try_attention(self, si: int) -> None:
        """Claim the nodes of one multi-head self-attention that ``attention`` expresses."""
        try:
            found = _match_attention(self, si)
        except _NoMatch:
            return
        nodes, x, out, heads, causal, d, reads = found
        self.claimed |= nodes
        at = max(nodes)
        self.add(
            at,
            "attention",
            [_pos("heads", heads), Arg("causal", causal, False, False)],
            [x],
            out,
            weights=4 * (d * d + d),
            reads=reads,
        )
        self.layers[-1].node = self.g.producer[out]
        self.attention += 1


class _NoMatch(Exception):
    pass


def _match_attention(m: _Mapper, si: int):
    """The torch.onnx / Hugging Face export of multi-head self-attention, from its softmax.

    Q, K, V = x·W + b (each D×D), split into h heads of d_h = D/h by Reshape + Transpose;
    scores = Q·Kᵀ scaled by 1/√d_h (a Div or Mul), an optional causal mask (Where or Add of
    a constant strictly upper-triangular mask), softmax over the last axis, ·V, heads
    merged back by Transpose + Reshape, and the biased D×D output projection. Anything
    else (other scales, padding masks, grouped K/V, no biases) is not matched.
    """
    import numpy as np

    g = m.g
    nodes: set[int] = {si}
    soft = g.nodes[si]
    scores = soft.input[0]
    r = len(g.shape(scores) or ())
    axis = g.attr(soft, "axis", -1)
    if r != 4 or (axis + r if axis < 0 else axis) != 3:
        raise _NoMatch

    def prod(name: str, op: str):
        i, node = g.producer_node(name)
        if node is None or node.op_type != op or i in m.claimed:
            raise _NoMatch
        if g.only_user(name) is None and name != scores:
            raise _NoMatch
        nodes.add(i)
        return node

    def single(name: str, op: str):
        j = g.only_user(name)
        if j is None or g.nodes[j].op_type != op:
            raise _NoMatch
        nodes.add(j)
        return g.nodes[j]

    def const_other(node, name):
        other = node.input[1] if node.input[0] == name else node.input[0]
        return other if g.is_const(other) else None

    # mask and scale, outermost first
    causal, scale = False, 1.0
    cur = scores
    for _ in range(2):
        i, node = g.producer_node(cur)
        if node is None or g.only_user(cur) is None:
            raise _NoMatch
        if node.op_type == "Where" and g.is_const(node.input[0]) and g.is_const(node.input[1]):
            fill = g.array(node.input[1])
            if fill.size != 1 or not float(fill.reshape(-1)[0]) < -1e4:
                raise _NoMatch
            mask = g.array(node.input[0]).astype(bool)
            causal = _is_causal(mask, np)
            nodes.add(i)
            cur = node.input[2]
        elif node.op_type == "Add" and const_other(node, node.input[0]) is not None:
            c = g.array(const_other(node, node.input[0]))
            causal = _is_causal(c < -1e4, np) and bool(np.all(c[c > -1e4] == 0))
            nodes.add(i)
            cur = node.input[0] if not g.is_const(node.input[0]) else node.input[1]
        elif node.op_type in ("Div", "Mul") and g.is_const(node.input[1]):
            v = g.array(node.input[1])
            if v.size != 1:
                raise _NoMatch
            v = float(v.reshape(-1)[0])
            scale *= 1.0 / v if node.op_type == "Div" else v
            nodes.add(i)
            cur = node.input[0]
        else:
            break
    qk = prod(cur, "MatMul")
    q, heads, dh = _heads(m, qk.input[0], nodes, transposed=False)
    k, heads_k, dh_k = _heads(m, qk.input[1], nodes, transposed=True)
    pv = single(soft.output[0], "MatMul")
    if pv.input[0] != soft.output[0]:
        raise _NoMatch
    v, heads_v, dh_v = _heads(m, pv.input[1], nodes, transposed=False)
    if not (heads == heads_k == heads_v and dh == dh_k == dh_v):
        raise _NoMatch
    if not math.isclose(scale, 1.0 / math.sqrt(dh), rel_tol=1e-5):
        raise _NoMatch
    merged = single(pv.output[0], "Transpose")
    if list(g.attr(merged, "perm")) != [0, 2, 1, 3]:
        raise _NoMatch
    flat = single(merged.output[0], "Reshape")
    d = heads * dh
    if (g.shape(flat.output[0]) or ())[-1:] != (d,):
        raise _NoMatch
    # the four projections: D×D with a bias, Q, K, V from one x
    xs, reads = set(), []
    for t in (q, k, v):
        x, w_nodes, w_reads = _projection(m, t, d)
        xs.add(x)
        nodes |= w_nodes
        reads += w_reads
    if len(xs) != 1:
        raise _NoMatch
    j = g.only_user(flat.output[0])
    if j is None or g.nodes[j].op_type != "MatMul" or g.nodes[j].input[0] != flat.output[0]:
        raise _NoMatch
    out_mm = g.nodes[j]
    if not g.is_const(out_mm.input[1]) or g.const_shape(out_mm.input[1]) != (d, d):
        raise _NoMatch
    bias = m._bias_add(out_mm.output[0], d)
    if bias is None:
        raise _NoMatch
    nodes |= {j, bias[0]}
    reads += [out_mm.input[1], bias[2]]
    (x,) = xs
    if len(m.per_sample(x)) != 2:
        raise _NoMatch
    if any(n in m.claimed for n in nodes):
        raise _NoMatch
    return nodes, x, bias[1].output[0], heads, causal, d, reads


def _is_causal(mask, np) -> bool:
    """True when ``mask`` (True = masked) is exactly the strict upper triangle of [T, T]."""
    while mask.ndim > 2 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise _NoMatch
    if not mask.any():
        return False
    if not np.array_equal(mask, np.triu(np.ones(mask.shape, dtype=bool), 1)):
        raise _NoMatch
    return True


def _heads(m: _Mapper, name: str, nodes: set[int], transposed: bool):
    """A [B, T, D] tensor split into heads: Reshape to [B, T, h, d_h] + Transpose.

    ``transposed``: the K side, [B, h, d_h, T] (one Transpose 0,2,3,1, or 0,2,1,3 then
    0,1,3,2). Returns (the [B, T, D] tensor, h, d_h)."""
    g = m.g
    i, node = g.producer_node(name)
    if node is None or node.op_type != "Transpose" or g.only_user(name) is None:
        raise _NoMatch
    nodes.add(i)
    perm = list(g.attr(node, "perm"))
    src = node.input[0]
    if transposed and perm == [0, 1, 3, 2]:
        i, node = g.producer_node(src)
        if node is None or node.op_type != "Transpose" or g.only_user(src) is None:
            raise _NoMatch
        nodes.add(i)
        if list(g.attr(node, "perm")) != [0, 2, 1, 3]:
            raise _NoMatch
        src = node.input[0]
    elif perm != ([0, 2, 3, 1] if transposed else [0, 2, 1, 3]):
        raise _NoMatch
    i, node = g.producer_node(src)
    if node is None or node.op_type != "Reshape" or g.only_user(src) is None:
        raise _NoMatch
    nodes.add(i)
    shape = g.shape(src)
    if shape is None or len(shape) != 4 or not all(isinstance(s, int) for s in shape[1:]):
        raise _NoMatch
    before = g.shape(node.input[0])
    if before is None or len(before) != 3 or before[1] != shape[1]:
        raise _NoMatch
    return node.input[0], shape[2], shape[3]


def _projection(m: _Mapper, t: str, d: int):
    """``t = x·W + b`` with a constant D×D W and [D] b: (x, the two node indices)."""
    g = m.g
    i, add = g.producer_node(t)
    if add is None or add.op_type != "Add" or g.only_user(t) is None:
        raise _NoMatch
    mm_out = add.input[1] if g.is_const(add.input[0]) else add.input[0]
    b = add.input[0] if mm_out == add.input[1] else add.input[1]
    if not g.is_const(b) or math.prod(g.const_shape(b)) != d:
        raise _NoMatch
    j, mm = g.producer_node(mm_out)
    if mm is None or mm.op_type != "MatMul" or g.only_user(mm_out) is None:
        raise _NoMatch
    if not g.is_const(mm.input[1]) or g.const_shape(mm.input[1]) != (d, d):
        raise _NoMatch
    return mm.input[0], {i, j}, [mm.input[1], b]


def _short(value: float) -> float | int:
    """A float read from a float32 attribute, written with the digits it was given: the
    shortest decimal that reads back as the same float32 (``1e-05``, not the double
    ``9.999999747378752e-06``; a ratio of ``0.9999999`` stays below 1). A spec has no
    infinity or NaN: the node is unsupported."""
    import numpy as np

    v = float(str(np.float32(value)))
    if not math.isfinite(v):
        raise _Unsupported(f"a value of {v!r}: a spec's numbers are finite")
    return int(v) if v.is_integer() and abs(v) < 1e15 and isinstance(value, int) else v


# --------------------------------------------------------------------------- the spec


def import_onnx(path: str | Path, dims: dict[str, int] | None = None) -> str:
    """The text of an nnlint spec for the ONNX model at ``path``.

    ``dims`` gives symbolic input dimensions a size (``{"sequence": 128}``). Raises
    :class:`ImportFailed` with one message per problem: an unreadable file, or every node
    nnlint cannot express (index, name, op type and why).
    """
    path = Path(path)
    model = _load(path, dims or {})
    shown = str(path)
    _check_order(model, shown)
    g = _Graph(model)
    problems: list[str] = []
    inputs: list[tuple[str, tuple[int, ...]]] = []
    for name in g.inputs:
        shape = g.shapes.get(name)
        if shape is None:
            problems.append(f"{shown}: input `{name}` has no tensor shape")
            continue
        if len(shape) < 1:
            problems.append(f"{shown}: input `{name}` is a scalar; expected a batch axis first")
            continue
        unknown = [d for d in shape[1:] if not isinstance(d, int)]
        if unknown:
            problems.append(
                f"{shown}: input `{name}` has the symbolic size `{unknown[0]}` "
                f"(shape {list(shape)}); give it a size with `--dim {unknown[0]}=N`"
            )
            continue
        inputs.append((name, tuple(shape[1:])))
    if problems:
        raise ImportFailed(problems)

    mapper = _Mapper(g)
    mapper.run()
    if mapper.problems:
        n = len(mapper.problems)
        lines = [
            f"{shown}: {g.where(p.node)}: {p.message}"
            for p in sorted(mapper.problems, key=lambda p: p.node)
        ]
        kinds = Counter(g.nodes[p.node].op_type for p in mapper.problems)
        lines.append(
            f"{shown}: {n} node{'s' if n != 1 else ''} nnlint cannot express "
            f"({', '.join(f'{k} ×{v}' for k, v in sorted(kinds.items()))}); nothing was written"
        )
        raise ImportFailed(lines)
    layers = mapper.layers
    if not layers:
        raise ImportFailed([f"{shown}: the graph computes nothing from its inputs"])
    outputs = [mapper.real(o) for o in g.outputs]
    text = _write(g, mapper, layers, inputs, outputs, path)
    shapes = {}
    for layer in layers:
        shape = g.shape(layer.output)
        if shape and all(isinstance(d, int) for d in shape[1:]):
            shapes[layer.output] = tuple(shape[1:])
    self_check(
        text,
        layers,
        shown,
        shapes,
        "ONNX shape inference",
        (sum(layer.weights for layer in layers), "the file's weights"),
    )
    return text


def _write(g: _Graph, mapper: _Mapper, layers: list[Layer], inputs, outputs, path: Path):
    units, blocks = recover_blocks(layers, [name for name, _ in inputs], outputs)
    header = _header(g, mapper, layers, blocks, units, path)
    return write_spec(
        layers, inputs, outputs, units, blocks, header, _ident(path.stem) or "imported"
    )


def _header(g: _Graph, mapper: _Mapper, layers, blocks, units, path: Path) -> str:
    producer = g.model.producer_name or "an unknown producer"
    if g.model.producer_version:
        producer += f" {g.model.producer_version}"
    init = sum(math.prod(t.dims) for t in g.initializers.values())
    # the file's name and producer are its author's text: escaped, they stay in the comment
    lines = [
        f"# Imported from {visible(path.name)} by `nnlint import` (ONNX opset {g.opset}, "
        f"written by {visible(producer)}).",
        f"# {len(g.nodes)} ONNX nodes -> {len(layers)} layers; shapes are per sample "
        "(the batch axis is dropped).",
    ]
    parts = []
    if mapper.attention:
        parts.append(
            f"{mapper.attention} multi-head attention{'s' if mapper.attention > 1 else ''}"
        )
    for block in blocks.values():
        calls = sum(u.repeat for u in block.instances)
        parts.append(f"block {block.name} ×{calls}")
    if parts:
        lines.append("# Recovered: " + ", ".join(parts) + ".")

    def size(names: Iterable[str]) -> int:
        return sum(math.prod(g.initializers[n].dims) for n in names if n in g.initializers)

    readers = Counter(n for layer in layers for n in layer.reads if n in g.initializers)
    shared = sum((k - 1) * math.prod(g.initializers[n].dims) for n, k in readers.items())
    params = sum(layer.weights for layer in layers)
    statistics = size(mapper.statistics - set(readers))
    tied = size(mapper.tied_copies - set(readers))
    unread = size(set(g.initializers) - set(readers) - mapper.statistics - mapper.tied_copies)
    if not init and not params:
        return "\n".join(lines)
    lines.append(f"# Parameters: {params:,} = the {init:,} initializer elements")
    if statistics:
        lines.append(f"#   less {statistics:,} batchnorm running statistics (buffers in nnlint)")
    if tied:
        lines.append(f"#   less {tied:,}: a tied weight stored a second time")
    if unread:
        lines.append(f"#   less {unread:,} in constants no layer reads as a weight")
    if shared:
        lines.append(f"#   plus {shared:,}: equal tensors stored once, read by several layers")
    return "\n".join(lines)
