"""Stage 2b: AST -> dataflow graph (a ``networkx.DiGraph`` on demand), with shape inference.

Blocks and ``* N`` repeats are expanded: the graph has one node per op instance,
named so that a person can find it (``h2/residual[2]/conv2d#1``) and carrying
the span of the text that created it. Edges carry the tensor shape.

Lowering orders each body's statements with Kahn's algorithm (cycles are reported
with their path) and records the op instances in execution order; every pass is
linear in the number of op instances.

Every problem is a located diagnostic: undefined (NN002) or reassigned (NN003)
names, unknown ops (NN004), unknown or missing options (NN005), wrong argument
types (NN006), non-positive sizes (NN007), cycles and recursive blocks (NN008),
shape mismatches (NN009), bad block or merge calls (NN010), sizes beyond
nnlint's limits (NN011) and bad ``tie=`` targets (NN013).
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import attrs

from nnlint import ast
from nnlint.diagnostics import Diagnostic, Related, Span, SpecError, error
from nnlint.expr import ExprError, evaluate
from nnlint.ops import (
    CATALOG,
    LOSSES,
    OPS,
    SIZE_KINDS,
    Op,
    Opt,
    Shape,
    ShapeError,
    channel_index,
    known_as,
    numel,
)
from nnlint.ops.inputs import Input
from nnlint.ops.losses import Loss
from nnlint.precision import PRECISION_BITS
from nnlint.sections import LossSpec, SpecSections
from nnlint.suggest import did_you_mean
from nnlint.units import fmt_shape

if TYPE_CHECKING:
    import networkx as nx

# Limits that keep a hostile or mistaken spec from exhausting time or memory.
# Each is reported as NN011 with the number that broke it.
# 1.2x the 100k-layer chain nnlint is benchmarked on: a 1 KB spec that expands to the
# limit (`relu * 119999`) is still answered in under 2 s and 300 MiB on 2 cores.
MAX_NODES = 120_000
MAX_ELEMENTS = 2**40  # per-sample elements of any one tensor
MAX_BLOCK_DEPTH = 64
INIT_SCHEMES = ("he", "xavier", "lecun", "zeros", "ones", "normal", "uniform")


@attrs.frozen
class Init:
    """``init=``: a named scheme, or ``normal(std)`` / ``uniform(a)`` (U(−a, a)) /
    ``constant(v)`` (every element ``v``, e.g. ConvNeXt's layer scale); ``std`` holds the
    argument of any of them."""

    scheme: str
    std: float | None = None


@attrs.frozen
class Node:
    """One op instance of the lowered graph."""

    id: str
    op: str  # the name of an op of nnlint.ops.CATALOG (the ops, the model input, the loss)
    span: Span
    shape: Shape  # per-sample output shape (nodes of one shape share the tuple)
    inputs: tuple[str, ...] = ()
    in_shapes: tuple[Shape, ...] = ()
    #: read-only: nodes with the same options share the dict
    opts: dict[str, Any] = attrs.field(factory=dict, eq=False)
    tensor: str = ""  # the user's name this node's chain assigns to
    trainable: bool = True
    precision: str | None = None
    tie: str | None = None  # id of the node whose weight this one shares
    reads_input: bool = False  # one of its inputs is a model input
    fused_with_loss: bool = False  # softmax feeding cross_entropy, sigmoid feeding bce
    tied_to_frozen: bool = False  # its weight is shared (tie=) with a frozen layer

    @property
    def loss(self) -> str | None:
        """For the loss node: the loss kind (``cross_entropy``, option ``kind``); else None."""
        return self.opts["kind"] if self.kind.is_loss else None

    @property
    def kind(self) -> Op:
        """The op of this node, from the catalog: ask it about its roles."""
        return CATALOG[self.op]


@attrs.frozen
class Lowered:
    """The graph plus the names a person uses for it.

    ``by_id`` maps node ids to nodes in execution order; a node's ``inputs`` are its
    in-edges. :meth:`successors`, :meth:`predecessors` and :meth:`ancestors` answer
    the rules' questions about edges from plain dicts; :attr:`graph` is the same
    graph as a ``networkx.DiGraph``, built (and networkx imported) on first use, so
    a check that needs no networkx algorithm never loads networkx (~65 ms a start).
    """

    name: str
    by_id: dict[str, Node] = attrs.field(eq=False, repr=False)  # id -> node, execution order
    order: tuple[str, ...]  # node ids in topological (execution) order
    tensors: dict[str, str]  # model-level tensor name -> producing node id
    inputs: tuple[str, ...]
    #: node ids of the loss terms of ``train.loss``, in the order written (empty without one)
    losses: tuple[str, ...] = ()

    @property
    def loss(self) -> str | None:
        """Node id of the first (with a single loss, the only) loss term, or None."""
        return self.losses[0] if self.losses else None

    def node(self, node_id: str) -> Node:
        return self.by_id[node_id]

    def nodes(self) -> Iterator[Node]:
        return iter(self.by_id.values())

    def successors(self, node_id: str) -> tuple[str, ...]:
        """The nodes that read ``node_id``'s output, each once, in execution order
        (the order of ``graph.successors``)."""
        return self._successors.get(node_id, ())

    def predecessors(self, node_id: str) -> tuple[str, ...]:
        """The nodes ``node_id`` reads, each once, in the order of its inputs (the order
        of ``graph.predecessors``)."""
        inputs = self.by_id[node_id].inputs
        return inputs if len(inputs) < 2 else tuple(dict.fromkeys(inputs))

    def ancestors(self, node_id: str) -> set[str]:
        """Every node with a path to ``node_id`` (``networkx.ancestors``)."""
        by_id = self.by_id
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for src in by_id[stack.pop()].inputs:
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return seen

    @functools.cached_property
    def _successors(self) -> dict[str, tuple[str, ...]]:
        # a tuple for a tensor's first reader, a list from its second (one object per
        # tensor: a long chain has 100,000 of them); nodes come in order, so a node
        # that reads a tensor twice (add(x, x)) is the last reader listed
        readers: dict[str, Any] = {}
        for node in self.by_id.values():
            node_id = node.id
            for src in node.inputs:
                first = (node_id,)
                found = readers.setdefault(src, first)  # one lookup for a first reader
                if found is not first and found[-1] != node_id:
                    if type(found) is tuple:
                        readers[src] = [*found, node_id]
                    else:
                        found.append(node_id)
        for src, found in readers.items():
            if type(found) is list:
                readers[src] = tuple(found)
        return readers

    @functools.cached_property
    def graph(self) -> nx.DiGraph:
        """``networkx.DiGraph``: node id -> ``{"node": Node}``; edges carry ``"shape"``."""
        import networkx as nx

        # networkx's own adjacency dicts, filled directly: add_node/add_edge cost ~8 µs
        # per call, a third of a large spec's check.
        nodes = {node_id: {"node": node} for node_id, node in self.by_id.items()}
        succ: dict[str, dict] = {node_id: {} for node_id in nodes}
        pred: dict[str, dict] = {node_id: {} for node_id in nodes}
        for node in self.by_id.values():
            mine = pred[node.id]
            for src, shape in zip(node.inputs, node.in_shapes):
                if src in mine:  # add(x, x): one edge, as add_edge would keep it
                    mine[src]["shape"] = shape
                else:
                    mine[src] = succ[src][node.id] = {"shape": shape}
        g = nx.DiGraph()
        g._node = nodes
        g._adj, g._pred = succ, pred  # networkx's setters keep _succ and its views in step
        return g


@attrs.frozen
class _Resolved:
    """A layer's options after checking, split into what a node stores apart."""

    opts: dict[str, Any]  # op options (incl. init, tie) -> Node.opts
    spans: dict[str, Span]  # option name -> span of its argument
    trainable: bool
    precision: str | None


@attrs.define
class _Scope:
    prefix: str  # node-id prefix of this block instance ("" at model level)
    env: dict[str, Any]  # block parameter values
    tensors: dict[str, str]  # tensor name -> node id
    calls: tuple[str, ...]  # block call stack, for recursion detection
    overrides: dict[str, Any]  # trainable/precision given on the block call
    #: names whose statement failed (reported once): statements reading them are skipped
    failed: set[str] = attrs.field(factory=set)
    #: a statement of this body was dropped with an unknown name: an undefined name may
    #: be the one it defined, so none is reported
    unsure: bool = False
    #: the last assignment lowered, ``tensors[last_name] == last_id``: the next statement
    #: of a chain reads it, found without a lookup in ``tensors``
    last_name: str | None = None
    last_id: str | None = None


class _Lowerer:
    def __init__(self, spec: ast.Spec, sections: SpecSections) -> None:
        self.spec = spec
        self.sections = sections
        self.by_id: dict[str, Node] = {}  # node id -> node, in execution order
        self.last: Node | None = None  # the node added last (a chain's next input)
        # (id of a body, names defined before it) -> its assignments in dependency order
        self.plans: dict[tuple, tuple[list[ast.Assign], list[Diagnostic], set[str]]] = {}
        # (id prefix, op) -> instances named so far. A prefix names one model-level
        # statement or one block instance, and is used only while it is lowered.
        self.counters: dict[tuple[str, str], int] = {}
        self.shapes: dict[tuple, tuple] = {}  # see _shape
        self.in_shapes: dict[tuple, tuple] = {}  # see _in_shapes
        # options -> the one dict of them the nodes share (see _options_key)
        self.options: dict[tuple, dict[str, Any]] = {}
        self.fitting: set[tuple[int, ...]] = set()  # shapes within MAX_ELEMENTS
        self.blocks: dict[str, ast.BlockDef] = {}
        # What the parser dropped after syntax errors (reported there): a block that lost a
        # statement is broken (its calls fail without a word), a model that lost one
        # knows the names those statements defined.
        self.broken_blocks = {d.owner for d in spec.dropped if d.within == "block"}
        # a whole block (or model or section) left out for an error in its header
        self.broken_blocks |= {d.name for d in spec.dropped if not d.within and d.name}
        self.dropped = [d for d in spec.dropped if d.within == "model"]
        for block in spec.blocks:
            if block.name in self.blocks:
                raise error(
                    "NN003",
                    f"block `{block.name}` is defined twice (first on line "
                    f"{self.blocks[block.name].span.line})",
                    block.name_span,
                    fix="rename one of the blocks",
                )
            if block.name in OPS:
                raise error(
                    "NN003",
                    f"block `{block.name}` has the name of a built-in op",
                    block.name_span,
                    fix="rename the block",
                )
            self.blocks[block.name] = block

    # ------------------------------------------------------------- nodes
    def _new_id(self, prefix: str, op: str, fallback: str) -> str:
        base = prefix or fallback
        key = (base, op)
        count = self.counters[key] = self.counters.get(key, 0) + 1
        return f"{base}/{op}#{count}" if base else f"{op}#{count}"

    def _add(self, node: Node) -> str:
        if len(self.by_id) >= MAX_NODES:
            raise error(
                "NN011",
                f"the expanded graph exceeds {MAX_NODES:,} op instances",
                node.span,
                fix="lower the `* N` repeat counts",
                limit=MAX_NODES,
            )
        if node.shape in self.fitting:  # checked already (a repeat, a chain of one width)
            self.by_id[node.id] = self.last = node
            return node.id
        n = numel(node.shape)
        if n > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in node.shape):
            raise error(
                "NN011",
                f"tensor {fmt_shape(node.shape)} has {n:,} elements per sample, "
                f"beyond nnlint's limit of 2^40 = {MAX_ELEMENTS:,}",
                node.span,
                fix="check the sizes",
                elements=n,
                limit=MAX_ELEMENTS,
            )
        self.fitting.add(node.shape)
        self.by_id[node.id] = self.last = node
        return node.id

    def _shape(self, shape: tuple) -> tuple:
        """One tuple for every node of this shape: a long chain of one width stores it
        once. Only ints: ``(64,)`` equals ``(64.0,)``."""
        for d in shape:
            if type(d) is not int:
                return shape
        return self.shapes.setdefault(shape, shape)

    def _in_shapes(self, shapes: tuple) -> tuple:
        """One tuple for every node reading the same shape objects (kept alive by the
        tuple stored, so their ids stay theirs)."""
        return self.in_shapes.setdefault(tuple(map(id, shapes)), shapes)

    def _node(self, node_id: str) -> Node:
        return self.by_id[node_id]

    # ------------------------------------------------------- expressions
    def eval(self, expr: ast.Expr, scope: _Scope) -> Any:
        if isinstance(expr, ast.Num):
            if isinstance(expr.value, float) and not math.isfinite(expr.value):
                raise error(
                    "NN011",
                    f"the number {expr.text} is too large",
                    expr.span,
                    fix="use a realistic size",
                )
            return expr.value
        if isinstance(expr, ast.Name):
            if expr.id in scope.env:
                return scope.env[expr.id]
            return ast.Symbol(expr.id, expr.span)
        if isinstance(expr, (ast.Neg, ast.BinOp)):
            try:
                value = evaluate(expr, lambda e: self._num(e, scope), limit=MAX_ELEMENTS**2)
            except ExprError as exc:
                if exc.kind == "division by zero":
                    raise error(
                        "NN007", "division by zero", exc.span, fix="divide by a non-zero value"
                    ) from None
                shown = (
                    f" ({float(exc.value):.3e})"
                    if not isinstance(exc.value, float) or math.isfinite(exc.value)
                    else ""
                )
                raise error(
                    "NN011",
                    f"the value of this expression{shown} is too large",
                    exc.span,
                    fix="use a realistic size",
                ) from None
            # block parameters hold ints and floats: an inexact quotient becomes a float
            return float(value) if isinstance(value, Fraction) else value
        if isinstance(expr, ast.Call):
            return expr  # evaluated by the option that accepts it (init=normal(0.02))
        if isinstance(expr, ast.TupleValue):  # kernel=(3, 1): checked by the option
            return tuple(self.eval(item, scope) for item in expr.items)
        if isinstance(expr, ast.ListValue):  # bias=[q, k, v]: checked by the option
            return [self.eval(item, scope) for item in expr.items]
        raise error(
            "NN006",
            "unexpected value here",
            expr.span,
            fix="write a number, a name or an option value such as `normal(0.02)`",
        )

    def _num(self, expr: ast.Expr, scope: _Scope) -> int | float:
        value = self.eval(expr, scope)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, ast.Symbol):
                raise error(
                    "NN002",
                    f"undefined parameter `{value.id}`{did_you_mean(value.id, scope.env)}",
                    expr.span,
                    fix="declare it as a block parameter or write a number",
                )
            raise error("NN006", "expected a number here", expr.span, fix="write a number")
        return value

    def _convert(self, opt: Opt, value: Any, span: Span, op: str, scope: _Scope) -> Any:
        where = f"`{op}` option `{opt.name}`"
        if opt.kind in SIZE_KINDS:  # a size per spatial axis: `3` or `(3, 1)`, or a word
            lengths, tuple_text, example = SIZE_KINDS[opt.kind]
            if isinstance(value, ast.Symbol) and value.id in opt.choices:
                return value.id
            if isinstance(value, tuple):
                if len(value) not in lengths:
                    raise error(
                        "NN006",
                        f"{where} takes one number or {tuple_text}, got {len(value)} numbers",
                        span,
                        fix=f"e.g. `{opt.name}={example}`",
                    )
                one = attrs.evolve(opt, kind="int")
                sizes = tuple(self._convert(one, v, span, op, scope) for v in value)
                return sizes
            if isinstance(value, ast.Symbol) and opt.choices:
                raise error(
                    "NN006",
                    f"{where} expects a number, {tuple_text} or "
                    f"{' or '.join(opt.choices)}, got `{value.id}`",
                    span,
                    fix=f"e.g. `{opt.name}=1` or `{opt.name}={opt.choices[0]}`",
                )
            if value is None and opt.default is None:
                return None
            opt = attrs.evolve(opt, kind="int", choices=())
        if opt.kind == "projections":  # attention bias: true, false or [q, k, v, o] subsets
            if isinstance(value, ast.Symbol) and value.id in ("true", "false"):
                return opt.choices if value.id == "true" else ()
            if isinstance(value, list) and all(
                isinstance(v, ast.Symbol) and v.id in opt.choices for v in value
            ):
                named = {v.id for v in value}
                if len(named) != len(value):
                    raise error(
                        "NN006",
                        f"{where} names a projection twice",
                        span,
                        fix="list each projection once",
                    )
                return tuple(c for c in opt.choices if c in named)
            raise error(
                "NN006",
                f"{where} expects true, false or a list of the projections with a bias "
                f"({', '.join(opt.choices)})",
                span,
                fix=f"e.g. `{opt.name}=false` or `{opt.name}=[q, k, v]`",
            )
        if isinstance(value, (tuple, list)):
            kind = "pair" if isinstance(value, tuple) else "list"
            raise error(
                "NN006",
                f"{where} takes one value, not a {kind}",
                span,
                fix=f"write a single value for `{opt.name}`",
            )
        if opt.kind in ("int", "float"):
            if isinstance(value, ast.Symbol) and value.id in opt.choices:
                return value.id  # padding=same
            if isinstance(value, ast.Symbol) and opt.choices:
                raise error(
                    "NN006",
                    f"{where} expects a number or {' or '.join(opt.choices)}, got `{value.id}`",
                    span,
                    fix=f"e.g. `{opt.name}=1` or `{opt.name}={opt.choices[0]}`",
                )
            if isinstance(value, ast.Symbol):
                raise error(
                    "NN006",
                    f"{where} expects a number, got `{value.id}`",
                    span,
                    fix=f"write a number for `{opt.name}`",
                )
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise error(
                    "NN006",
                    f"{where} expects a number",
                    span,
                    fix=f"write a number for `{opt.name}`",
                )
            if opt.kind == "int":
                if value != int(value):
                    raise error(
                        "NN006",
                        f"{where} must be a whole number, got {value}",
                        span,
                        fix=f"round `{opt.name}` to a whole number",
                    )
                value = int(value)
                if abs(value) > MAX_ELEMENTS:
                    raise error(
                        "NN011",
                        f"{where} = {value:,} is beyond nnlint's limit of 2^40",
                        span,
                        fix="use a realistic size",
                        limit=MAX_ELEMENTS,
                    )
            if opt.minimum is not None and value < opt.minimum:
                bound = int(opt.minimum) if opt.kind == "int" else opt.minimum
                raise error(
                    "NN007",
                    f"{where} must be at least {bound}, got {value}",
                    span,
                    fix=f"`{opt.name}` is a size: use a positive value",
                )
            if opt.below is not None and value >= opt.below:
                raise error(
                    "NN007",
                    f"{where} must be below {opt.below}, got {value}",
                    span,
                    fix=f"use a value below {opt.below}",
                )
            return value
        if opt.kind == "bool":
            if isinstance(value, ast.Symbol) and value.id in ("true", "false"):
                return value.id == "true"
            raise error(
                "NN006",
                f"{where} expects true or false",
                span,
                fix=f"write `{opt.name}=true` or `{opt.name}=false`",
            )
        if opt.kind == "symbol" and opt.choices:  # a word from a list: mode=bilinear
            if isinstance(value, ast.Symbol) and value.id in opt.choices:
                return value.id
            got = f"`{value.id}`" if isinstance(value, ast.Symbol) else "a number"
            raise error(
                "NN006",
                f"{where} expects {' or '.join(opt.choices)}, got {got}",
                span,
                fix=f"e.g. `{opt.name}={opt.choices[0]}`",
            )
        if opt.kind == "symbol":  # precision
            if isinstance(value, ast.Symbol) and value.id in PRECISION_BITS:
                return value.id
            got = f"`{value.id}`" if isinstance(value, ast.Symbol) else "a number"
            raise error(
                "NN006",
                f"{where} expects a precision ({', '.join(PRECISION_BITS)}), got {got}",
                span,
                fix="use one of the listed precisions",
            )
        if opt.kind == "init":
            if (
                isinstance(value, ast.Symbol)
                and value.id in INIT_SCHEMES
                and value.id not in ("normal", "uniform")
            ):
                return Init(value.id)
            if (
                isinstance(value, ast.Call)
                and value.name in ("normal", "uniform")
                and len(value.args) == 1
            ):
                return Init(value.name, float(self._num(value.args[0].value, scope)))
            if isinstance(value, ast.Call) and value.name == "constant" and len(value.args) == 1:
                return Init("constant", float(self._num(value.args[0].value, scope)))
            raise error(
                "NN006",
                f"{where} expects he, xavier, lecun, zeros, ones, constant(v), normal(std) "
                f"or uniform(a)",
                span,
                fix="e.g. `init=he`, `init=normal(0.02)` or `init=constant(1e-6)`",
            )
        if opt.kind == "tensor":
            if isinstance(value, ast.Symbol):
                return value
            raise error(
                "NN006",
                f"{where} expects a tensor name",
                span,
                fix="name the tensor whose layer's weight is shared, e.g. `tie=tok`",
            )
        raise AssertionError(opt.kind)  # pragma: no cover

    def _options(self, layer: ast.Layer, op: Op, scope: _Scope) -> _Resolved:
        opts, by_name, positional = _option_table(op)
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        args = layer.args
        if positional and positional[0].kind == "intlist":  # reshape(d1, d2, ...)
            dims = [a for a in args if a.keyword is None]
            args = tuple(a for a in args if a.keyword is not None)
            if not dims:
                raise error(
                    "NN005",
                    f"`{layer.name}` needs at least one dimension",
                    layer.span,
                    fix=f"e.g. `{layer.name}(16, -1)`",
                )
            listed = []
            for a in dims:
                v = self._num(a.value, scope)
                if v != int(v):
                    raise error(
                        "NN006",
                        "reshape dimensions must be whole numbers",
                        a.span,
                        fix="write whole numbers (one may be -1)",
                    )
                listed.append(int(v))
            values[positional[0].name] = tuple(listed)
            positional = positional[1:]
        index = 0
        for a in args:
            if a.keyword is None:
                if index >= len(positional):
                    raise error(
                        "NN005",
                        f"`{layer.name}` takes {len(positional)} positional "
                        f"argument{'s' if len(positional) != 1 else ''}, got more",
                        a.span,
                        fix=f"name the option, e.g. `{layer.name}(..., "
                        f"{'stride=2' if 'stride' in by_name else 'bias=false'})`",
                    )
                opt = positional[index]
                index += 1
            else:
                if a.keyword not in by_name:
                    raise error(
                        "NN005",
                        f"`{layer.name}` has no option `{a.keyword}`"
                        f"{did_you_mean(a.keyword, by_name)} (options: "
                        f"{', '.join(by_name)})",
                        a.span,
                        fix="use one of the listed options",
                    )
                opt = by_name[a.keyword]
                if opt.name in values:
                    raise error(
                        "NN005",
                        f"option `{opt.name}` is given twice",
                        a.span,
                        fix="keep one of the two",
                    )
            spans[opt.name] = a.span
            values[opt.name] = self._convert(
                opt, self.eval(a.value, scope), a.value.span, layer.name, scope
            )
        for opt in opts:
            if opt.name not in values:
                if opt.required:
                    raise error(
                        "NN005",
                        f"`{layer.name}` needs `{opt.name}`",
                        layer.span,
                        fix=f"write `{layer.name}("
                        f"{', '.join(o.name for o in opts if o.required)})`",
                    )
                values[opt.name] = opt.default
        trainable, precision = values.pop("trainable"), values.pop("precision")
        key = _options_key(values)
        if key is not None:  # one dict for every layer with these options (read-only)
            values = self.options.setdefault(key, values)
        return _Resolved(values, spans, trainable, precision)

    # ------------------------------------------------------------ bodies
    def lower_model(self, model: ast.ModelDef) -> Lowered:
        """Lower the model, reporting every independent error: a statement that fails
        is reported and the statements that read what it defines are skipped without a
        word (their error would be the same one again). Raises :class:`SpecError` with
        all of them at the end; NN011 (a limit) stops at once."""
        scope = _Scope("", {}, {}, (), {})
        for dropped in self.dropped:
            if dropped.name is None:
                scope.unsure = True
            else:
                scope.failed.add(dropped.name)
        inputs = []
        errors: list[Diagnostic] = []
        for stmt in model.body:
            if isinstance(stmt, ast.InputDecl):
                try:
                    inputs += self._input(stmt, scope)
                except SpecError as exc:
                    errors += exc.diagnostics
                    if stmt.name not in scope.tensors:  # not a second declaration
                        scope.failed.add(stmt.name)
        if not inputs and not scope.failed and not scope.unsure:
            raise error(
                "NN005",
                f"model `{model.name}` declares no input",
                model.name_span,
                fix="add a line such as `input x: [784]`",
            )
        if self.blocks:  # only a block call can pass the limit before it is built
            _ExpansionBound(self.blocks).check(model.body, len(self.by_id))
        try:
            self._body(model.body, scope)
        except SpecError as exc:
            errors += exc.diagnostics
            if any(d.code == "NN011" for d in exc.diagnostics):  # a limit: stop here
                raise SpecError(_once(errors)) from None
        loss_ids = []
        for loss in self.sections.train.losses:
            if loss.tensor not in scope.failed:
                if loss.tensor in scope.tensors or not scope.unsure:
                    try:
                        loss_ids.append(self._loss(loss, scope))
                    except SpecError as exc:
                        errors += exc.diagnostics
        if errors or scope.failed or scope.unsure:
            raise SpecError(_once(errors))
        self._fuse_losses(loss_ids)
        return Lowered(
            model.name,
            self.by_id,
            tuple(self.by_id),
            scope.tensors,  # the scope ends here: its dict, not a copy
            tuple(inputs),
            tuple(loss_ids),
        )

    def _input(self, stmt: ast.InputDecl, scope: _Scope) -> list[str]:
        """The model input ``stmt`` declares: its node id in a list."""
        if stmt.name in scope.tensors or stmt.name in self.by_id:
            raise error(
                "NN003",
                f"`{stmt.name}` is declared twice",
                stmt.name_span,
                fix="give each input its own name",
            )
        if stmt.shape is None:
            raise error(
                "NN005",
                f"model input `{stmt.name}` needs a per-sample shape, "
                f"e.g. `input {stmt.name}: [784]`",
                stmt.span,
                fix="declare the shape of one sample; the batch comes from `train`",
            )
        dims = []
        for d in stmt.shape:
            v = self._num(d, scope)
            if v != int(v) or v < 1:
                raise error(
                    "NN007",
                    f"input dimensions must be positive whole numbers, got {v}",
                    d.span,
                    fix="use positive whole sizes",
                )
            dims.append(int(v))
        node = Node(
            stmt.name,
            Input.name,
            stmt.span,
            tuple(dims),
            opts={"shape": tuple(dims)},
            tensor=stmt.name,
        )
        scope.tensors[stmt.name] = self._add(node)
        return [node.id]

    def _body(self, body: tuple[ast.Stmt, ...], scope: _Scope) -> str | None:
        """Lower the assignments of a model or block body in dependency order.
        Returns the name of the last assignment (a block's output)."""
        key = (id(body), tuple(scope.tensors), frozenset(scope.failed), scope.unsure)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = _plan(body, scope.tensors, scope.failed, scope.unsure)
        order, errors, skipped = plan
        errors = list(errors)
        failed = scope.failed
        failed.update(skipped)
        for stmt in order:
            if failed and (
                stmt.target in failed
                or any(ref in failed for ref, _span, _strict in _references(stmt.chain))
            ):
                failed.add(stmt.target)  # reads what a failed statement defines: skipped
                continue
            if not scope.prefix:  # a model-level statement: its own prefix, its target
                self.counters.clear()  # (the others' counts are never read again)
            try:
                node_id = scope.tensors[stmt.target] = self._chain(stmt, scope)
                scope.last_name, scope.last_id = stmt.target, node_id
            except SpecError as exc:
                errors += exc.diagnostics
                if any(d.code == "NN011" for d in exc.diagnostics):
                    raise SpecError(errors) from None  # a limit: stop here
                failed.add(stmt.target)
        if errors or failed:
            raise SpecError(errors)  # empty: a statement was skipped for an error reported
        # A block's output is its last assignment in source order.
        for stmt in reversed(body):
            if isinstance(stmt, ast.Assign):
                return stmt.target
        return None

    def _chain(self, stmt: ast.Assign, scope: _Scope) -> str:
        chain = stmt.chain
        prefix = scope.prefix or stmt.target
        source = chain.source
        if isinstance(source, ast.Ref):
            if source.name == scope.last_name:
                current = scope.last_id
            else:
                current = scope.tensors[source.name]
        else:
            current = self._merge(source, scope, prefix, stmt.target)
        for step in chain.steps:
            current = self._step(step, current, scope, prefix, stmt.target)
        return current

    def _merge(self, layer: ast.Layer, scope: _Scope, prefix: str, target: str) -> str:
        op = OPS.get(layer.name)
        if op is not None and op.is_source:  # param(1, 768): a tensor made from no input
            return self._op_node(layer, op, [], self._options(layer, op, scope), scope, prefix)
        if op is None or op.family != "merge":
            if layer.name in self.blocks or op is not None:
                raise error(
                    "NN010",
                    f"`{layer.name}` needs an input: write `x -> {layer.name}(...)`",
                    layer.name_span,
                    fix="start the chain with a tensor name",
                )
            known = [n for n, o in OPS.items() if o.family == "merge"]
            raise error(
                "NN004",
                f"unknown merge `{layer.name}`{_did_you_mean_op(layer.name, known)} "
                f"(merges: {', '.join(known)})",
                layer.name_span,
                fix="start a chain with a tensor name or a merge such as `add(a, b)`",
            )
        tensors = [a for a in layer.args if a.keyword is None]
        if len(tensors) < 2:
            raise error(
                "NN010",
                f"`{layer.name}` takes two or more tensor names, e.g. `{layer.name}(x, y)`",
                layer.span,
                fix="name at least two tensors",
            )
        inputs = []
        for a in tensors:
            if not isinstance(a.value, ast.Name):
                raise error(
                    "NN006",
                    f"`{layer.name}` takes tensor names",
                    a.span,
                    fix="pass names of tensors defined in the model",
                )
            inputs.append(scope.tensors[a.value.id])
        if layer.repeat is not None:
            raise error(
                "NN010",
                "a merge cannot be repeated with `*`",
                layer.repeat.span,
                fix="remove the `* N`",
            )
        options = self._options(
            attrs.evolve(layer, args=tuple(a for a in layer.args if a.keyword is not None)),
            op,
            scope,
        )
        return self._op_node(layer, op, inputs, options, scope, prefix)

    def _step(self, layer: ast.Layer, current: str, scope: _Scope, prefix: str, target: str) -> str:
        if layer.name in self.broken_blocks:
            raise SpecError([])  # the block lost a statement to a syntax error, reported
        count = 1
        if layer.repeat is not None:
            value = self._num(layer.repeat, scope)
            if value != int(value):
                raise error(
                    "NN006",
                    f"a repeat count must be a whole number, got {value}",
                    layer.repeat.span,
                    fix="repeat a whole number of times",
                )
            count = int(value)
            if count < 1:
                raise error(
                    "NN007",
                    f"a repeat count must be at least 1, got {count}",
                    layer.repeat.span,
                    fix="remove the layer or repeat it at least once",
                )
            if count > MAX_NODES:
                raise error(
                    "NN011",
                    f"repeat count {count:,} exceeds nnlint's limit of {MAX_NODES:,} op instances",
                    layer.repeat.span,
                    fix="lower the repeat count",
                    limit=MAX_NODES,
                )
        if layer.name in self.blocks:
            before = len(self.by_id)
            current = self._block(layer, current, scope, prefix)
            # Every instance of a repeat has the same arguments, so the same size: a
            # repeat that would pass the limit stops here, not after building 500k nodes.
            per_instance = len(self.by_id) - before
            if count > 1 and len(self.by_id) + (count - 1) * per_instance > MAX_NODES:
                raise error(
                    "NN011",
                    f"`{layer.name}` * {count:,} expands to {count:,} × "
                    f"{per_instance:,} = {count * per_instance:,} op instances, beyond "
                    f"nnlint's limit of {MAX_NODES:,}",
                    layer.repeat.span,
                    fix="lower the repeat count",
                    limit=MAX_NODES,
                    nodes=count * per_instance,
                )
            for _ in range(count - 1):
                current = self._block(layer, current, scope, prefix)
            return current
        op = OPS.get(layer.name)
        if op is None:
            if layer.name in scope.tensors or layer.name in LOSSES:
                hint = (
                    f"`{layer.name}` is a tensor; use a merge such as `add({layer.name}, ...)`"
                    if layer.name in scope.tensors
                    else "losses go in the `train` section"
                )
                raise error(
                    "NN004",
                    f"`{layer.name}` is not an op: {hint}",
                    layer.name_span,
                    fix="see the op catalog in the README",
                )
            known = list(OPS) + list(self.blocks)
            alias = known_as(layer.name)
            raise error(
                "NN004",
                f"unknown op `{layer.name}`{_did_you_mean_op(layer.name, known)}",
                layer.name_span,
                fix=f"write `{alias}` (see the op catalog in the README)"
                if alias
                else "see the op catalog in the README",
            )
        if op.family == "merge":
            raise error(
                "NN010",
                f"`{layer.name}` merges named tensors: write "
                f"`{layer.name}(a, b)` at the start of a chain",
                layer.name_span,
                fix=f"e.g. `y = {layer.name}(a, b) -> relu`",
            )
        resolved = self._options(layer, op, scope)
        if len(self.by_id) + count > MAX_NODES:
            what = f"`{layer.name}` * {count:,}" if layer.repeat is not None else f"`{layer.name}`"
            raise error(
                "NN011",
                f"{what} takes the graph past nnlint's limit of {MAX_NODES:,} op instances",
                layer.repeat.span if layer.repeat is not None else layer.span,
                fix="lower the repeat count",
                limit=MAX_NODES,
                nodes=len(self.by_id) + count,
            )
        for _ in range(count):
            current = self._op_node(layer, op, [current], resolved, scope, prefix)
        return current

    def _op_node(
        self,
        layer: ast.Layer,
        op,
        inputs: list[str],
        resolved: _Resolved,
        scope: _Scope,
        prefix: str,
    ) -> str:
        """One op instance. A layer repeated with ``* N`` passes the same
        :class:`_Resolved` N times: its N nodes share one ``opts`` dict, as do layers
        written alike (:func:`_options_key`); it is read-only."""
        by_id, last = self.by_id, self.last
        if len(inputs) == 1 and last is not None and inputs[0] == last.id:
            in_nodes = [last]  # a chain: the node just added (no lookup in a large dict)
        else:
            in_nodes = [by_id[i] for i in inputs]
        options, spans = resolved.opts, resolved.spans
        trainable, precision = resolved.trainable, resolved.precision
        overrides = scope.overrides
        if overrides:
            if overrides.get("trainable") is False:
                trainable = False
            precision = precision or overrides.get("precision")
        for name in op.tensor_inputs:  # cross-attention's kv=NAME: a second input edge
            ref = options.get(name)
            if ref is not None:
                inputs = [*inputs, self._tensor_ref(ref, name, scope, spans[name])]
                in_nodes.append(self._node(inputs[-1]))
        in_shapes = self._in_shapes(tuple([n.shape for n in in_nodes]))
        try:
            shape = op.infer(in_shapes, options)
        except ShapeError as exc:
            raise error(
                exc.code,
                str(exc),
                layer.span,
                fix=exc.fix
                or "check the sizes around this layer (`nnlint report` prints every shape)",
                shapes=[list(s) for s in in_shapes],
            ) from None
        tie = None
        if op.has_weights and options.get("tie") is not None:
            tie = self._tie(options["tie"], op, options, in_shapes, scope, spans["tie"])
        reads_input = False
        for n in in_nodes:
            if n.kind.is_input:
                reads_input = True
        node = Node(
            self._new_id(prefix, op.name, ""),
            op.name,
            layer.span,
            self._shape(tuple(shape)),
            tuple(inputs),
            in_shapes,
            options,
            prefix.partition("/")[0],
            trainable,
            precision,
            tie,
            reads_input,
            False,
            tie is not None and not by_id[tie].trainable,
        )
        return self._add(node)

    def _tensor_ref(self, ref: ast.Symbol, option: str, scope: _Scope, span: Span) -> str:
        """The node producing the tensor an option such as ``kv=enc`` names."""
        if ref.id not in scope.tensors:
            raise error(
                "NN002",
                f"undefined name `{ref.id}` in `{option}=`{did_you_mean(ref.id, scope.tensors)}",
                span,
                fix=f"`{option}=` names a tensor defined in the model, e.g. an encoder's output",
            )
        return scope.tensors[ref.id]

    def _tie(self, ref: ast.Symbol, op, options, in_shapes, scope: _Scope, span: Span) -> str:
        if ref.id not in scope.tensors:
            raise error(
                "NN002",
                f"undefined name `{ref.id}` in `tie=`{did_you_mean(ref.id, scope.tensors)}",
                span,
                fix="tie to a tensor defined before, e.g. the token embedding's output",
            )
        # The layer that produced the tensor: walk back over weightless single-input ops.
        node = self._node(scope.tensors[ref.id])
        while not node.kind.has_weights:
            if len(node.inputs) != 1:
                raise error(
                    "NN013",
                    f"`tie={ref.id}`: no layer with weights produced `{ref.id}`",
                    span,
                    fix="tie to the output of an embedding or dense",
                )
            node = self._node(node.inputs[0])
        mine = op.weight_shape(options, in_shapes)
        theirs = node.kind.weight_shape(node.opts, node.in_shapes)
        if mine is None or theirs is None or sorted(mine) != sorted(theirs):
            raise error(
                "NN013",
                f"`tie={ref.id}`: this {op.name}'s weight "
                f"{fmt_shape(mine or ())} cannot share {node.id}'s weight "
                f"{fmt_shape(theirs or ())}",
                span,
                fix="tied weights must have the same shape (or its transpose)",
            )
        return node.tie or node.id

    def _block(self, layer: ast.Layer, current: str, scope: _Scope, prefix: str) -> str:
        block = self.blocks[layer.name]
        if layer.name in scope.calls:
            path = " -> ".join(scope.calls[scope.calls.index(layer.name) :] + (layer.name,))
            raise error(
                "NN008",
                f"recursive block call: {path}",
                layer.name_span,
                fix="a block cannot contain itself",
            )
        if len(scope.calls) >= MAX_BLOCK_DEPTH:
            raise error(
                "NN011",
                f"blocks nested more than {MAX_BLOCK_DEPTH} deep",
                layer.name_span,
                fix="flatten the nesting of blocks",
                limit=MAX_BLOCK_DEPTH,
            )
        env, given = self._bind(block, layer, scope)
        overrides = {**scope.overrides, **given}
        key = (prefix, layer.name + "[]")
        self.counters[key] = self.counters.get(key, 0) + 1
        inner = _Scope(
            f"{prefix}/{layer.name}[{self.counters[key]}]",
            env,
            {},
            scope.calls + (layer.name,),
            overrides,
        )
        block_inputs = [s for s in block.body if isinstance(s, ast.InputDecl)]
        if len(block_inputs) != 1:
            raise error(
                "NN010",
                f"block `{block.name}` must declare exactly one `input`, it "
                f"declares {len(block_inputs)}",
                block.name_span,
                fix="declare the block's input as `input x`",
            )
        inner.tensors[block_inputs[0].name] = current
        # A parameter given a tensor name of the caller (`dec(512, 8, mem=enc)`) names that
        # tensor inside the block (`attention(heads, kv=mem)`).
        for name, value in list(env.items()):
            if isinstance(value, ast.Symbol) and value.id in scope.tensors:
                inner.tensors[name] = scope.tensors[value.id]
                del env[name]
        try:
            out = self._body(block.body, inner)
        except SpecError as exc:
            # An error inside the block names the call it came from (each enclosing call
            # adds its own note, innermost first).
            called = Related(layer.span, f"called from line {layer.span.line}")
            raise SpecError(
                [attrs.evolve(d, related=(*d.related, called)) for d in exc.diagnostics]
            ) from None
        if out is None:
            raise error(
                "NN010",
                f"block `{block.name}` assigns nothing, so it has no output",
                block.name_span,
                fix="the last assignment is the block's output",
            )
        return inner.tensors[out]

    def _bind(
        self, block: ast.BlockDef, layer: ast.Layer, scope: _Scope
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The block's parameter values, and the ``trainable``/``precision`` given on the call."""
        env: dict[str, Any] = {}
        params = {p.name: p for p in block.params}
        positional = [a for a in layer.args if a.keyword is None]
        if len(positional) > len(block.params):
            raise error(
                "NN010",
                f"block `{block.name}` takes {len(block.params)} argument"
                f"{'s' if len(block.params) != 1 else ''} "
                f"({', '.join(params) or 'none'}), got {len(positional)}",
                layer.span,
                fix=f"call it as `{block.name}({', '.join(params)})`",
            )
        for p, a in zip(block.params, positional):
            env[p.name] = self.eval(a.value, scope)
        overrides = {}
        for a in layer.args:
            if a.keyword is None:
                continue
            if a.keyword in params:
                if a.keyword in env:
                    raise error(
                        "NN010",
                        f"`{a.keyword}` is given twice",
                        a.span,
                        fix="give each parameter once",
                    )
                env[a.keyword] = self.eval(a.value, scope)
            elif a.keyword in ("trainable", "precision"):
                opt = (
                    Opt("trainable", "bool")
                    if a.keyword == "trainable"
                    else Opt("precision", "symbol")
                )
                overrides[a.keyword] = self._convert(
                    opt, self.eval(a.value, scope), a.value.span, block.name, scope
                )
            else:
                raise error(
                    "NN010",
                    f"block `{block.name}` has no parameter `{a.keyword}`"
                    f"{did_you_mean(a.keyword, params)} (parameters: "
                    f"{', '.join(params) or 'none'})",
                    a.span,
                    fix="use one of the listed parameters",
                )
        for p in block.params:
            if p.name not in env:
                if p.default is None:
                    raise error(
                        "NN010",
                        f"block `{block.name}` needs `{p.name}`",
                        layer.span,
                        fix=f"call it as `{block.name}({', '.join(params)})`",
                    )
                env[p.name] = self.eval(p.default, _Scope("", dict(env), {}, (), {}))
        return env, overrides

    def _loss(self, loss: LossSpec, scope: _Scope) -> str:
        """The node of one loss term, reading its tensor. Several terms add up
        (``train.loss = cross_entropy(logits) + 0.1 * mse(aux)``): each is a loss node with
        its own FLOPs (:class:`nnlint.ops.losses.Loss`); ``weight`` and ``term`` (its place
        in the sum) are its options."""
        if loss.tensor not in scope.tensors:
            raise error(
                "NN002",
                f"the loss reads `{loss.tensor}`, which the model does not "
                f"define{did_you_mean(loss.tensor, scope.tensors)}",
                loss.tensor_span,
                fix="name a tensor of the model, e.g. its logits",
            )
        source = self._node(scope.tensors[loss.tensor])
        # The op whose values the loss reads: views between it and the loss (a reshape or
        # flatten after the final softmax) change no value, so the loss still reads a
        # softmax output and fuses with it.
        values = source
        while values.kind.is_view and values.inputs:
            values = self._node(values.inputs[0])
        term = len(self.sections.train.losses) > 1 and self.sections.train.losses.index(loss)
        node_id = f"loss/{loss.kind}"
        if node_id in self.by_id:  # a second term of the same kind reads another tensor
            node_id = f"loss/{loss.kind}/{loss.tensor}"
        opts: dict[str, Any] = {"kind": loss.kind, "source_op": values.op}
        if term is not False:  # a sum: one loss's options stay as they were
            opts.update(weight=loss.weight, term=term)
        node = Node(
            id=node_id,
            op=Loss.name,
            span=loss.span,
            shape=(),
            inputs=(source.id,),
            in_shapes=(source.shape,),
            tensor=Loss.name,
            reads_input=source.kind.is_input,
            opts=opts,
        )
        return self._add(node)

    @staticmethod
    def _fuses(values: Node, loss: Node, views: list[Node]) -> bool:
        """``loss`` fuses with the op of ``values``, which it reads through ``views`` (in
        order): that op's gradient is the one it replaces and, for the softmax family, the
        axis it normalizes along is the class axis of the tensor the loss reads (not with
        ``softmax(axis=0)`` of ``[T, C]``, nor ``softmax -> transpose(0, 1)`` of it; yes with
        ``softmax(axis=0) -> transpose(0, 1)``)."""
        if LOSSES[loss.opts["kind"]].fuses_with != values.op:
            return False
        axis = values.kind.normalized_axis(values.opts, values.in_shapes)
        if axis is None:
            return True  # element by element (a sigmoid): any view keeps each pair
        if loss.in_shapes[0] == values.shape and all(
            not v.kind.moves_data(v.opts, v.in_shapes) and numel(v.shape) == numel(v.in_shapes[0])
            for v in views
        ):
            views = []  # reshaped back to its own shape: the same tensor, element for element
        for view in views:
            axis = view.kind.axis_after(view.opts, view.in_shapes, view.shape, axis)
            if axis is None:
                return False  # merged, split, dropped or cut: not one softmax per row
        shape = loss.in_shapes[0]
        return bool(shape) and axis == channel_index(shape)

    def _fuse_losses(self, loss_ids: list[str]) -> None:
        """Mark the softmax (sigmoid) whose gradient a loss fuses with (ŷ − y): only when
        it works along the class axis the losses read, its values (or views of them) are
        read by loss terms alone and every one fuses with it — another term
        (``cross_entropy(probs) + 0.1 * mse(probs)``) or a layer reading them
        (``probs -> dense(3)``) sends a gradient through its own backward."""
        readers: dict[str, list[tuple[Node, list[Node]]]] = {}
        for loss_id in loss_ids:
            loss = self.by_id[loss_id]
            values = self._node(loss.inputs[0])
            views = []
            while values.kind.is_view and values.inputs:
                views.append(values)
                values = self._node(values.inputs[0])
            readers.setdefault(values.id, []).append((loss, views[::-1]))
        fusing = {
            values_id
            for values_id, losses in readers.items()
            if all(self._fuses(self.by_id[values_id], *read) for read in losses)
        }
        if not fusing:
            return
        # one pass in execution order (a view comes after what it views): the values
        # another layer reads, directly or through views
        aliases = {values_id: values_id for values_id in fusing}
        for node in self.by_id.values():
            for src in node.inputs:
                origin = aliases.get(src)
                if origin is None or node.kind.is_loss:
                    continue
                if node.kind.is_view:
                    aliases[node.id] = origin
                else:
                    fusing.discard(origin)
        for values_id in fusing:
            self.by_id[values_id] = attrs.evolve(self.by_id[values_id], fused_with_loss=True)


_PLAIN_VALUES = frozenset({int, float, str, bool, type(None)})


@functools.cache
def _option_table(op: Op) -> tuple[tuple[Opt, ...], dict[str, Opt], list[Opt]]:
    """An op's options, by name, and its positional ones in order (read-only), made
    once per op."""
    opts = op.all_opts()
    return opts, {o.name: o for o in opts}, [o for o in opts if o.positional]


@functools.cache
def _tensor_options(op: Op) -> frozenset[str]:
    """The names of an op's options that name a tensor (``tie=``, ``kv=``)."""
    return frozenset(o.name for o in op.all_opts() if o.kind == "tensor")


def _options_key(values: dict[str, Any]) -> tuple | None:
    """A key equal for two layers' options exactly when they hold the same values of
    the same types in the same order, or ``None`` (not shared) for values it does not
    know (a tensor name keeps its span). Layers with equal options share one dict: the
    10,000 ``dense(64)`` of a long spec store it once, and the costs of their nodes are
    computed once (:func:`nnlint.costs.analyze`). ``1``, ``1.0`` and ``True`` are
    equal in Python, so each value is keyed with its type; a float by its hex form
    (``-0.0`` is not ``0.0``)."""
    found = tuple(values.values())
    kinds = tuple(map(type, found))
    if _PLAIN_VALUES.issuperset(kinds) and 0 not in found:  # no ±0.0 (nor 0, False)
        return tuple(values), kinds, found
    key = []
    for name, value in values.items():
        kind = type(value)
        if kind is float:
            value = value.hex()
        elif kind is tuple:
            if not all(type(v) is int or type(v) is str for v in value):
                return None
            value = tuple((type(v), v) for v in value)
        elif kind is Init:
            std = value.std
            value = (value.scheme, type(std), std.hex() if type(std) is float else std)
        elif not (kind is int or kind is str or kind is bool or value is None):
            return None
        key.append((name, kind, value))
    return tuple(key)


def _did_you_mean_op(name: str, known: list[str]) -> str:
    """``did you mean`` for an op's name: the op a PyTorch or Keras name stands for
    (``Linear`` -> ``dense``, the catalog's ``aliases``), else the closest known name."""
    alias = known_as(name)
    if alias is None or alias not in known:
        return did_you_mean(name, known)
    if alias.replace("_", "") == name.lower().replace("_", ""):  # Conv2D, LeakyReLU
        return f"; did you mean `{alias}`?"
    return f"; did you mean `{alias}`? (nnlint's name for `{name}`)"


class _ExpansionBound:
    """The op instances a body expands to, at least, counted before anything is built.

    Blocks that call blocks multiply: 30 levels of blocks that each call the next
    twice make 2^30 instances from a 1 KB spec, and expanding them one by one until
    :data:`MAX_NODES` stops it takes seconds and hundreds of MiB. The bound
    multiplies repeat counts through the call tree: a literal ``* N`` counts N, a
    count that depends on a block parameter counts 1 (so the bound never exceeds
    the real expansion), a recursive call counts 0 (it is NN008). Figures saturate
    at :attr:`_CAP`, so no giant integer is ever built. A repeated op (not a block)
    is left to :meth:`_Lowerer._step`, which checks it before building it.
    """

    _CAP = 10**15

    def __init__(self, blocks: dict[str, ast.BlockDef]) -> None:
        self.blocks = blocks
        self.sizes: dict[str, int] = {}
        self.active: set[str] = set()

    def check(self, body: tuple[ast.Stmt, ...], before: int) -> None:
        """Raise NN011 at the first block call that takes the model past the limit."""
        total = before
        for layer, size in self._steps(body):
            total = min(total + size, self._CAP)
            if total > MAX_NODES and layer.name in self.blocks:
                span = layer.repeat.span if layer.repeat is not None else layer.name_span
                shown = f"{size:,}" if size < self._CAP else "more than 10^15"
                so_far = f" ({total - size:,} before it)" if size < self._CAP < total else ""
                raise error(
                    "NN011",
                    f"`{layer.name}` expands to at least {shown} op instances, counting the "
                    f"blocks it calls and their repeat counts{so_far}: beyond nnlint's "
                    f"limit of {MAX_NODES:,}",
                    span,
                    fix="lower the repeat counts or the number of nested block calls",
                    limit=MAX_NODES,
                    nodes=total,
                )

    def _steps(self, body: tuple[ast.Stmt, ...]) -> Iterator[tuple[ast.Layer, int]]:
        """Each layer of the body's chains with the instances it makes, at least."""
        for stmt in body:
            if not isinstance(stmt, ast.Assign):
                continue
            source = stmt.chain.source
            if isinstance(source, ast.Layer):
                yield source, 1
            for layer in stmt.chain.steps:
                count = 1
                if isinstance(layer.repeat, ast.Num) and isinstance(layer.repeat.value, int):
                    count = max(1, min(layer.repeat.value, self._CAP))
                yield layer, min(count * self._size(layer.name), self._CAP)

    def _size(self, name: str) -> int:
        block = self.blocks.get(name)
        if block is None:  # an op (or an unknown name: NN004)
            return 1
        if name in self.active:  # recursion: NN008
            return 0
        if name not in self.sizes:
            self.active.add(name)
            total = 0
            for _layer, size in self._steps(block.body):
                total = min(total + size, self._CAP)
            self.active.discard(name)
            self.sizes[name] = total
        return self.sizes[name]


def _plan(
    body: tuple[ast.Stmt, ...], defined, failed: set[str] = frozenset(), unsure: bool = False
) -> tuple[list[ast.Assign], list[Diagnostic], set[str]]:
    """The assignments of a body in dependency order, ties broken by source order, the
    errors found on the way and the names of the statements that cannot run.

    ``defined`` holds the names known before the body (model inputs, a block's
    input); ``failed`` names whose statement failed already (a bad input, a statement
    the parser dropped), ``unsure`` that a dropped statement may have defined any name:
    neither is reported as undefined again. Reports NN003 for a name assigned twice
    (the second assignment is left out), NN002 for each statement reading an undefined
    name and NN008 for a cycle (the first one a depth-first search in source order
    meets; the statements on and after it are left out). O(n log n) in the number of
    statements, without networkx; a block's plan is made once and reused for each of
    its instances.
    """
    order = _in_source_order(body, defined)
    if order is not None:
        return order, [], set()
    errors: list[Diagnostic] = []
    skipped: set[str] = set()
    assigns: dict[str, ast.Assign] = {}
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            if stmt.target in assigns or stmt.target in defined:
                first = assigns.get(stmt.target)
                where = f" (first on line {first.span.line})" if first else " (an input)"
                errors += error(
                    "NN003",
                    f"`{stmt.target}` is assigned twice{where}; names are single-assignment",
                    stmt.target_span,
                    fix=f"give the new tensor its own name, e.g. `{stmt.target}2`",
                ).diagnostics
                continue
            assigns[stmt.target] = stmt
    # The statements' dependency graph, each edge once, in the order first written,
    # over the statements' positions (plain lists: a body may hold 100,000 of them).
    names = list(assigns)
    stmts = list(assigns.values())
    index = {name: i for i, name in enumerate(names)}
    readers: dict[int, list[int]] = {}  # statement -> the statements reading it
    waiting = [0] * len(names)  # unplanned statements each one reads
    for i, stmt in enumerate(stmts):
        for ref, span, strict in _references(stmt.chain):
            j = index.get(ref)
            if j is not None:
                found = readers.get(j)
                if found is None:
                    readers[j] = [i]
                    waiting[i] += 1
                elif found[-1] != i:  # statement i reads it a first time
                    found.append(i)
                    waiting[i] += 1
            elif strict and ref not in defined:
                skipped.add(names[i])
                if ref in failed or unsure:
                    continue  # what a failed statement would have defined: reported there
                known = names + list(defined)
                errors += error(
                    "NN002",
                    f"undefined name `{ref}`{did_you_mean(ref, known)}",
                    span,
                    fix="define it before use, or check the spelling",
                ).diagnostics
    # Kahn's algorithm with a heap of source positions: of the statements ready to
    # run, the one written first (networkx's lexicographical_topological_sort).
    ready = [i for i, count in enumerate(waiting) if count == 0]  # sorted: a heap
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(stmts[i])
        for reader in readers.get(i, ()):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) < len(names):
        by_name = {
            name: dict.fromkeys(names[r] for r in readers.get(j, ()))
            for j, name in enumerate(names)
        }
        path = _first_cycle(names, by_name)
        errors += error(
            "NN008",
            f"cycle between tensors: {' -> '.join(path)}",
            assigns[path[0]].target_span,
            fix="a dataflow graph has no cycles: break the loop",
            cycle=path,
        ).diagnostics
        planned = {stmt.target for stmt in order}
        skipped.update(name for name in names if name not in planned)
    return order, errors, skipped


def _in_source_order(body: tuple[ast.Stmt, ...], defined) -> list[ast.Assign] | None:
    """The assignments in source order when that is the plan: each name assigned once,
    and every name a statement reads assigned above it or known before the body (then
    Kahn's algorithm takes the statements in source order and finds no error); None
    otherwise (a forward reference, an undefined name, a name assigned twice), for
    :func:`_plan` to work out. One set of names instead of the dependency graph."""
    assigned: set[str] = set()
    order = []
    previous = None  # the name assigned last (a chain reads it: no lookup needed)
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            for ref, _span, _strict in _references(stmt.chain):
                if ref != previous and ref not in assigned and ref not in defined:
                    return None
            count = len(assigned)
            assigned.add(stmt.target)
            if len(assigned) == count or stmt.target in defined:  # assigned twice
                return None
            previous = stmt.target
            order.append(stmt)
    return order


def _once(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic once: an error inside a block called twice (or a plan reused by
    each instance) is the same error; the first call it came from is kept."""
    seen: set[tuple] = set()
    kept = []
    for d in diagnostics:
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            kept.append(d)
    return kept


def _first_cycle(names: list[str], readers: dict[str, dict[str, None]]) -> list[str]:
    """The cycle a depth-first search meets first, starting from each statement in
    source order and following readers in the order written (networkx's
    ``find_cycle``), as a closed path: ``[a, b, a]``."""
    state: dict[str, bool] = {}  # True: on the current path; False: finished
    for start in names:
        if start in state:
            continue
        path = [start]
        state[start] = True
        pending = [iter(readers[start])]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = False
                pending.pop()
            elif state.get(nxt) is True:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = True
                path.append(nxt)
                pending.append(iter(readers[nxt]))
    raise AssertionError("no cycle among statements Kahn's algorithm could not order")


def _references(chain: ast.Chain) -> Iterator[tuple[str, Span, bool]]:
    """Tensor names a chain reads: its source, merge arguments and the tensors its ops'
    options name (``tie=``, ``kv=``), each ``strict`` (it must be defined). A block
    call's arguments may name a tensor of the caller (``dec(512, 8, mem=enc)``) or
    another value: a defined tensor among them orders the statements, nothing else."""
    source = chain.source
    if isinstance(source, ast.Ref):
        yield source.name, source.span, True
    elif not (source.name in OPS and OPS[source.name].is_source):  # param(d): no tensors
        for a in source.args:
            if a.keyword is None and isinstance(a.value, ast.Name):
                yield a.value.id, a.value.span, True
    for step in chain.steps:
        if not step.args:
            continue
        op = OPS.get(step.name)
        named = _tensor_options(op) if op else frozenset()
        for a in step.args:
            if not isinstance(a.value, ast.Name):
                continue
            if op is None:
                yield a.value.id, a.value.span, False
            elif a.keyword in named:
                yield a.value.id, a.value.span, True


def lower(spec: ast.Spec, sections: SpecSections) -> Lowered:
    """Lower the spec's model. Raises :class:`SpecError` with a located diagnostic."""
    if not spec.models and any(not d.within for d in spec.dropped):
        raise SpecError([])  # the model was left out for a syntax error in its header
    if not spec.models:
        raise error(
            "NN014",
            "the spec defines no `model`",
            Span.point(1, 1),
            fix="add `model NAME { input x: [...] ... }`",
        )
    if len(spec.models) > 1:
        second = spec.models[1]
        raise error(
            "NN014",
            f"one model per file: `{second.name}` is a second model (the first "
            f"is `{spec.models[0].name}`)",
            second.name_span,
            fix="move it to a file of its own",
        )
    try:
        return _Lowerer(spec, sections).lower_model(spec.models[0])
    except RecursionError:
        raise error(
            "NN011",
            "blocks nested too deeply",
            spec.models[0].name_span,
            fix="flatten the nesting of blocks",
        ) from None


__all__ = ["MAX_ELEMENTS", "MAX_NODES", "Init", "Lowered", "Node", "SpecError", "lower"]
