"""The spec an importer writes: its layers as data, blocks recovered, text written.

An importer (``importers/onnx.py``, ``importers/hf_config.py``) turns its file into a list
of :class:`Layer` (one nnlint op each, reading and producing named tensors) and hands it
to :func:`recover_blocks` and :func:`write_spec`:

1. **Recover blocks**: the layers are cut where a single tensor is live; consecutive runs
   of identical pieces (up to names) become one ``block`` called ``* N``, and pieces with
   the same structure but other sizes share the block through its parameters.
2. **Write** the spec: chains of single-input layers are one ``a -> b -> c`` line, named
   after the module path (``scope``) of their last layer.
3. **Check** it (:func:`self_check`) with nnlint's own front end before it is returned:
   it must analyse without errors, and, when the importer knows them, every layer must
   have its output shape and the spec its parameter count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from nnlint.importers import ImportFailed
from nnlint.ops import OPS

__all__ = [
    "REQUIRED",
    "Arg",
    "Layer",
    "Namer",
    "Ref",
    "fmt",
    "ident",
    "positional",
    "recover_blocks",
    "self_check",
    "write_spec",
]

# Ops that stay with the piece before them when the graph is cut into pieces: the ones
# that keep their input's width (activations, normalization, dropout).
_TRAILING = frozenset(name for name, op in OPS.items() if op.keeps_width)
_MERGES = frozenset(name for name, op in OPS.items() if op.family == "merge")
# Options that are sizes: one may be a multiple of another in a block's parameters.
_SIZES = frozenset({"channels", "units", "groups", "heads", "dim", "vocab", "dims"})
# The longest piece (in segments between two cut points) tried as a repeating unit.
_MAX_UNIT = 8


# --------------------------------------------------------------------------- the IR


@attrs.frozen
class Ref:
    """A tensor named in an option (``tie=``)."""

    tensor: str


@attrs.frozen
class Arg:
    """One option of an op: ``key`` is its name; positional ones are written bare.

    ``default`` is the value the op assumes when the option is left out (``REQUIRED``
    for positional ones): an option equal to it is not written."""

    key: str
    value: Any
    positional: bool = False
    default: Any = None


REQUIRED = object()


def positional(key: str, value: Any) -> Arg:
    return Arg(key, value, positional=True, default=REQUIRED)


@attrs.define
class Layer:
    """One nnlint layer recovered from one or more ONNX nodes."""

    op: str
    args: list[Arg]
    inputs: list[str]  # tensor ids (ONNX value names) it reads
    output: str  # the tensor id it produces
    node: int  # index of the ONNX node that produces ``output``
    scope: tuple[str, ...]  # the names path of that node, e.g. ("layers.0", "attn")
    weights: int = 0  # parameter elements it reads from the file
    buffers: int = 0  # batchnorm running statistics
    reads: list[str] = attrs.Factory(list)  # the initializers it reads as weights

    def refs(self) -> list[str]:
        """Every tensor it reads: inputs and ``tie=`` targets."""
        return self.inputs + [a.value.tensor for a in self.args if isinstance(a.value, Ref)]


# --------------------------------------------------------------------------- naming


_IDENT = re.compile(r"[^A-Za-z0-9_]+")
# Words a tensor or block may not be called: the language's keywords and section names.
_RESERVED = frozenset({"model", "block", "input", "train", "data", "deploy", "budget"})


def ident(text: str) -> str:
    name = _IDENT.sub("_", text).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        return ""
    if name[0].isdigit():
        name = "t" + name
    if name in _RESERVED:
        name += "_"
    return name


class Namer:
    """Unique identifiers within one namespace (a model or a block body)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def __call__(self, wanted: str, fallback: str) -> str:
        base = ident(wanted) or fallback
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


# --------------------------------------------------------------------------- blocks


@attrs.define
class _Unit:
    """A run of ``repeat`` identical pieces, each ``layers`` long, read from ``source``."""

    start: int  # index of its first layer
    size: int  # layers in one piece
    repeat: int
    source: str | None  # the tensor the piece reads (None: the model inputs)
    key: Any = None  # structure (None: not a block candidate)
    values: tuple = ()


def _cuts(layers: list[Layer], inputs: list[str], outputs: list[str]) -> list[int]:
    """Indices ``i`` after which the output of layer ``i`` is the only live tensor.

    ``-1`` is a cut too when the model has a single input."""
    last: dict[str, int] = {}  # data flow only: a `tie=` reads no activation
    for i, layer in enumerate(layers):
        for t in layer.inputs:
            last[t] = i
    end = len(layers)
    for t in outputs:
        last[t] = end
    live = {t for t in inputs if t in last}
    cuts = [-1] if len(live) == 1 else []
    for i, layer in enumerate(layers):
        live.add(layer.output)
        for t in layer.inputs:
            if last.get(t) == i:
                live.discard(t)
        if last.get(layer.output, i) <= i:
            live.discard(layer.output)
        if len(live) == 1 and layer.output in live and i < end - 1:
            cuts.append(i)
    return cuts


def _trailing(layers: list[Layer], cuts: list[int]) -> list[int]:
    """The cuts less those before an activation, norm or dropout that is a piece of its
    own: it then belongs to the piece before it (ResNet's add -> relu, BERT's add ->
    layernorm)."""
    ends = set(cuts) | {len(layers) - 1}
    return [
        c
        for c in cuts
        if not (
            c + 1 in ends
            and c >= 0
            and layers[c + 1].op in _TRAILING
            and layers[c + 1].inputs == [layers[c].output]
        )
    ]


def _piece_key(layers: list[Layer], lo: int, hi: int, source: str):
    """(structure, values) of layers[lo:hi] read from ``source``; values are the numbers."""
    where = {layers[i].output: i - lo for i in range(lo, hi)}
    struct, values = [], []
    for i in range(lo, hi):
        layer = layers[i]
        refs = []
        for t in layer.inputs:
            if t == source:
                refs.append(-1)
            elif t in where:
                refs.append(where[t])
            else:
                return None, ()
        args = []
        for a in layer.args:
            if isinstance(a.value, Ref):
                return None, ()
            if isinstance(a.value, (int, float)) and not isinstance(a.value, bool):
                args.append((a.key, a.positional, "#"))
                values.append(a.value)
            else:
                args.append((a.key, a.positional, a.value))
        struct.append((layer.op, tuple(args), tuple(refs)))
    return tuple(struct), tuple(values)


def _units(layers: list[Layer], cuts: list[int]) -> list[_Unit]:
    """Split the layers at the cuts and group consecutive identical pieces (greedy,
    the longest run covered first, then the shorter piece)."""
    bounds = [c + 1 for c in cuts] + [len(layers)]
    segs = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1) if bounds[k] < bounds[k + 1]]
    units: list[_Unit] = []
    first = bounds[0] if cuts else len(layers)
    if first > 0:
        units.append(_Unit(0, first, 1, None))
    cache: dict[tuple[int, int], tuple] = {}

    def key(k: int, n: int):
        if (k, n) not in cache:
            lo, hi = segs[k][0], segs[k + n - 1][1]
            source = layers[lo - 1].output if lo > 0 else _single_input(layers, lo)
            cache[(k, n)] = (_piece_key(layers, lo, hi, source), source, lo, hi)
        return cache[(k, n)]

    k = 0
    while k < len(segs):
        best = (1, 1)
        for n in range(1, min(_MAX_UNIT, len(segs) - k) + 1):
            (struct, values), _, lo, hi = key(k, n)
            if struct is None or hi - lo < 2:
                continue
            r = 1
            while k + (r + 1) * n <= len(segs) and key(k + r * n, n)[0] == (struct, values):
                r += 1
            if r >= 2 and n * r > best[0] * best[1]:
                best = (n, r)
        n, r = best
        (struct, values), source, lo, hi = key(k, n)
        units.append(_Unit(lo, hi - lo, r, source, struct, values))
        k += n * r
    return units


def _written(units: list[_Unit], blocks: dict) -> int:
    """Layers and block calls a spec with these units and blocks writes out."""
    inline = sum(u.size * u.repeat for u in units if u.key not in blocks)
    calls = sum(1 for u in units if u.key in blocks)
    bodies = sum(b.instances[0].size for b in blocks.values())
    return inline + calls + bodies


def _single_input(layers: list[Layer], lo: int) -> str:
    return layers[lo].inputs[0] if layers[lo].inputs else ""


# --------------------------------------------------------------------------- writing


_PARAM_NAMES = {
    "channels": "c",
    "units": "n",
    "stride": "s",
    "kernel": "k",
    "padding": "pad",
    "groups": "g",
    "dilation": "dil",
    "heads": "heads",
    "p": "rate",
    "alpha": "alpha",
    "dims": "d",
    "vocab": "vocab",
    "dim": "dim",
    "axis": "axis",
    "num_parameters": "slopes",
}


@attrs.define
class _Block:
    name: str
    struct: Any
    params: list[str]  # parameter names
    exprs: list[str | None]  # per value column: a literal (None), a parameter, or "k * p"
    columns: list[int]  # per parameter: the value column it reads
    instances: list[_Unit]


def _blocks(
    units: list[_Unit],
    layers: list[Layer],
    taken: set[str],
    block_name: Callable[[str], str] | None = None,
) -> dict[Any, _Block]:
    """One block per structure that repeats: a run ``* N``, or one met several times
    (three layers or more)."""
    by_struct: dict[Any, list[_Unit]] = {}
    for u in units:
        if u.key is not None and u.size >= 2:
            by_struct.setdefault(u.key, []).append(u)
    blocks: dict[Any, _Block] = {}
    namer = Namer(taken)
    for struct, group in by_struct.items():
        # a run `* N`, or a piece with a branch (a merge) met more than once
        branched = any(layer[0] in _MERGES for layer in struct)
        if not (any(u.repeat > 1 for u in group) or (len(group) > 1 and branched)):
            continue
        cols = list(zip(*[u.values for u in group])) if group[0].values else []
        params: list[str] = []
        pcols: list[int] = []
        pnamer = Namer()
        keys = [a[0] for layer_struct in struct for a in layer_struct[1] if a[2] == "#"]
        exprs = [None] * len(cols)
        # the smallest sizes become parameters first, so 4·w is written `4 * w`
        order = sorted(range(len(cols)), key=lambda j: (min(cols[j]), j))
        for j in order:
            col = cols[j]
            if len(set(col)) == 1:
                continue
            expr = None
            for p, pc in zip(params, pcols):
                base = cols[pc]
                if col == base:
                    expr = p
                    break
                if {keys[pc], keys[j]} <= _SIZES and all(
                    isinstance(v, int) and isinstance(b, int) and b and v % b == 0
                    for v, b in zip(col, base)
                ):
                    ratios = {v // b for v, b in zip(col, base)}
                    if len(ratios) == 1:
                        expr = f"{ratios.pop()} * {p}"
                        break
            if expr is None:
                expr = pnamer(_PARAM_NAMES.get(keys[j], keys[j]), "p")
                params.append(expr)
                pcols.append(j)
            exprs[j] = expr
        # parameters in the order the body first uses them
        first_use = {
            p: min(j for j, e in enumerate(exprs) if e and e.split()[-1] == p) for p in params
        }
        ranked = sorted(zip(params, pcols), key=lambda pc: first_use[pc[0]])
        params, pcols = [p for p, _ in ranked], [c for _, c in ranked]
        first = layers[group[0].start : group[0].start + group[0].size]
        base = _common_scope([layer.scope for layer in first]) or first[-1].scope
        stem = ident(re.sub(r"[._]?\d+$", "", base[-1])) if base else ""
        wanted = block_name(stem) if block_name else f"{stem}_block" if stem else "piece"
        name = namer(wanted, "piece")
        blocks[struct] = _Block(name, struct, params, exprs, pcols, group)
    return blocks


def _common_scope(scopes: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    if not scopes:
        return ()
    common = list(scopes[0])
    for s in scopes[1:]:
        n = 0
        while n < min(len(common), len(s)) and common[n] == s[n]:
            n += 1
        common = common[:n]
    return tuple(common)


def fmt(value: Any) -> str:
    """An option's value as the spec writes it; a float in the fewest digits that read
    back as the same number (``repr``: 0.999999999 stays below 1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@attrs.frozen
class _Call:
    """A block call in the model: ``output = source -> text``."""

    source: str
    text: str
    output: str
    node: int
    scope: tuple[str, ...]


class _Writer:
    """Chains of layers, written as assignments in one namespace (the model or a block)."""

    def __init__(
        self,
        layers: list[Layer],
        names: dict[str, str],
        namer: Namer,
        keep: set[str],
        prefix: tuple[str, ...],
        exprs=None,
    ) -> None:
        self.layers = layers
        self.names = names  # tensor id -> spec name, filled as chains are named
        self.namer = namer
        self.keep = keep  # tensors that must be named (read twice, outputs, tie targets)
        self.prefix = prefix
        self.exprs = exprs  # per layer index: per numeric arg, a parameter expression

    def chains(self, items: list) -> list[tuple[int, str]]:
        """Lines (with their order) for ``items``: layers and block calls."""
        chains: list[dict] = []
        open_: dict[str, dict] = {}
        for item in items:
            if isinstance(item, _Call):
                chains.append({"call": item, "out": item.output, "pos": item.node, "layers": []})
                continue
            layer, exprs = item
            x = layer.inputs[0] if layer.inputs else None
            chain = open_.pop(x, None) if len(layer.inputs) == 1 and x not in self.keep else None
            if chain is None or layer.op in _MERGES:
                chain = {"layers": [], "pos": 0}
                chains.append(chain)
            chain["layers"].append((layer, exprs))
            chain["pos"] = layer.node
            chain["out"] = layer.output
            open_[layer.output] = chain
        return chains

    def op_text(self, layer: Layer, exprs: list[str | None] | None) -> str:
        parts = []
        j = 0
        # an optional positional option at its default is left out when no positional
        # option after it is written (`elu`, not `elu(1.0)`)
        trailing = set()
        for k in range(len(layer.args) - 1, -1, -1):
            a = layer.args[k]
            if not a.positional:
                continue
            numeric = isinstance(a.value, (int, float)) and not isinstance(a.value, bool)
            if a.default is REQUIRED or a.value != a.default or (exprs and numeric):
                break
            trailing.add(k)
        for k, a in enumerate(layer.args):
            if k in trailing:
                continue
            numeric = isinstance(a.value, (int, float)) and not isinstance(a.value, bool)
            expr = exprs[j] if (exprs is not None and numeric) else None
            if numeric:
                j += 1
            if isinstance(a.value, Ref):
                text = self.names[a.value.tensor]
            else:
                text = expr if expr is not None else fmt(a.value)
            if expr is None and not a.positional and a.value == a.default:
                continue
            if (
                a.key == "stride"
                and expr is None
                and a.default is not None
                and a.value == a.default
            ):
                continue
            parts.append(text if a.positional else f"{a.key}={text}")
        return layer.op + (f"({', '.join(parts)})" if parts else "")


def _name_for(scope: tuple[str, ...], prefix: tuple[str, ...], fallback: str) -> str:
    rel = scope[len(prefix) :] if scope[: len(prefix)] == prefix else scope
    return "_".join(rel) if rel else fallback


def _emit_chains(writer: _Writer, items: list, inputs_decl, final: str | None) -> list[str]:
    """Assignment lines for ``items``; ``final`` is the tensor named ``out`` (a block's)."""
    chains = writer.chains(items)
    chains.sort(key=lambda c: c["pos"])
    lines = []
    for name, shape in inputs_decl or ():
        lines.append(f"input {writer.names[name]}: [{', '.join(map(str, shape))}]")
    # name every chain before writing any (a chain may read one written after it)
    for c in chains:
        out = c["out"]
        if out == final:
            writer.names[out] = writer.namer("out", "out")
            continue
        if c["layers"]:
            layer = c["layers"][-1][0]
            fallback = OPS[layer.op].result_noun or layer.op
            wanted = _name_for(layer.scope, writer.prefix, fallback)
        else:
            fallback = "h"
            wanted = _name_for(c["call"].scope, writer.prefix, fallback)
        writer.names[out] = writer.namer(wanted, fallback)
    for c in chains:
        out = writer.names[c["out"]]
        if not c["layers"]:
            lines.append(f"{out} = {writer.names[c['call'].source]} -> {c['call'].text}")
            continue
        first, exprs = c["layers"][0]
        steps = []
        if first.op in _MERGES:
            refs = ", ".join(writer.names[t] for t in first.inputs)
            head = writer.op_text(first, exprs)
            opts = head[len(first.op) + 1 : -1] if "(" in head else ""
            src = f"{first.op}({refs}{', ' + opts if opts else ''})"
        elif not first.inputs:  # a source op: `param(1, 768)`
            src = writer.op_text(first, exprs)
        else:
            src = writer.names[first.inputs[0]]
            steps.append(writer.op_text(first, exprs))
        for layer, ex in c["layers"][1:]:
            steps.append(writer.op_text(layer, ex))
        lines.append(_wrap(out, src, steps))
    return lines


def _wrap(out: str, src: str, steps: list[str]) -> str:
    """``out = src -> a -> b``, continued on ``->`` lines past 96 characters."""
    head = f"{out} = {src}"
    lines, line = [], head
    indent = " " * (len(out) + 1)
    for step in steps:
        piece = f" -> {step}"
        if len(line) + len(piece) > 96 and line != head:
            lines.append(line)
            line = f"{indent}->{piece[3:]}"
        else:
            line += piece
    lines.append(line)
    return "\n    ".join(lines)


def _block_text(block: _Block, layers: list[Layer]) -> str:
    unit = block.instances[0]
    piece = layers[unit.start : unit.start + unit.size]
    prefix = _common_scope([layer.scope for layer in piece])
    namer = Namer(block.params)
    names = {unit.source: namer("x", "x")}
    # per layer: the expressions of its numeric args
    items = []
    j = 0
    for layer in piece:
        n = sum(
            1
            for a in layer.args
            if isinstance(a.value, (int, float)) and not isinstance(a.value, bool)
        )
        items.append((layer, block.exprs[j : j + n]))
        j += n
    reads = Counter(t for layer in piece for t in layer.inputs)
    keep = {t for t, k in reads.items() if k > 1}
    writer = _Writer(piece, names, namer, keep, prefix)
    lines = _emit_chains(writer, items, inputs_decl=None, final=piece[-1].output)
    body = "\n".join(f"    {line}" for line in [f"input {names[unit.source]}"] + lines)
    return f"block {block.name}({', '.join(block.params)}) {{\n{body}\n}}"


# --------------------------------------------------------------------------- the spec


def recover_blocks(
    layers: list[Layer],
    inputs: list[str],
    outputs: list[str],
    block_name: Callable[[str], str] | None = None,
) -> tuple[list[_Unit], dict[Any, _Block]]:
    """The units (runs of identical pieces) and the blocks among them.

    ``block_name`` turns the stem of a block's module path (``layers`` for
    ``layers.0``) into the name it is written with (default: ``<stem>_block``)."""
    cuts = _cuts(layers, inputs, outputs)
    # two ways to cut (a trailing activation with the piece before it or after it):
    # the one that leaves fewer layers written out wins
    units = min(
        (_units(layers, _trailing(layers, cuts)), _units(layers, cuts)),
        key=lambda us: _written(us, _blocks(us, layers, set(), block_name)),
    )
    return units, _blocks(units, layers, set(), block_name)


def write_spec(
    layers: list[Layer],
    inputs: list[tuple[str, tuple[int, ...]]],
    outputs: list[str],
    units: list[_Unit],
    blocks: dict[Any, _Block],
    header: str,
    model_name: str,
    sections: Sequence[str] = (),
) -> str:
    """The text of the spec: ``header`` (comment lines), the blocks, the model, then
    ``sections`` (``deploy { ... }`` texts) as they are given."""
    # tensors that must carry a name: read by two layers, tie targets, model outputs
    reads = Counter(t for layer in layers for t in layer.inputs)
    keep = {t for t, n in reads.items() if n > 1} | set(outputs)
    keep |= {a.value.tensor for layer in layers for a in layer.args if isinstance(a.value, Ref)}
    model_namer = Namer()
    names: dict[str, str] = {}
    for name, _ in inputs:
        names[name] = model_namer(name, "x")

    block_texts = []
    for block in blocks.values():
        block_texts.append(_block_text(block, layers))

    # the model body: layers inline, block calls for the units of a block
    items: list = []
    for unit in units:
        block = blocks.get(unit.key) if unit.key is not None else None
        if block is None:
            for i in range(unit.start, unit.start + unit.size * unit.repeat):
                items.append((layers[i], None))
            continue
        args = [fmt(unit.values[col]) for col in block.columns]
        last = layers[unit.start + unit.size * unit.repeat - 1]
        call = block.name + (f"({', '.join(args)})" if args else "")
        call += f" * {unit.repeat}" if unit.repeat > 1 else ""
        lo = unit.start + unit.size * (unit.repeat - 1)
        scope = _common_scope([layer.scope for layer in layers[lo : lo + unit.size]])
        items.append(_Call(unit.source, call, last.output, last.node, scope or last.scope))
    writer = _Writer(layers, names, model_namer, keep, ())
    lines = _emit_chains(writer, items, inputs_decl=inputs, final=None)
    body = "\n".join(f"    {line}" for line in lines)
    parts = [header] if header else []
    parts += block_texts
    parts.append(f"model {model_name} {{\n{body}\n}}")
    parts += sections
    return "\n\n".join(parts) + "\n"


def self_check(
    text: str,
    layers: list[Layer],
    shown: str,
    shapes: dict[str, tuple[int, ...]] | None = None,
    shape_source: str = "",
    params: tuple[int, str] | None = None,
):
    """Analyse the written spec and return the analysis; it must analyse without errors.

    ``shapes``: the output shape ``shape_source`` gives each layer (by its output
    tensor); every layer must have it. ``params``: the parameter count the spec must
    have, and what it is (``"the file's weights"``). A mismatch is an internal error of
    the importer, never a spec."""
    from nnlint.check import analyse_text

    analysis, diagnostics = analyse_text(text)
    errors = [d for d in diagnostics if d.severity.name == "ERROR"]
    if analysis is None or errors:
        first = errors[0] if errors else diagnostics[0]
        # NN011, a size beyond nnlint's limits, comes from the model's own sizes
        what = "is beyond nnlint's limits" if first.code == "NN011" else "does not check"
        internal = "" if first.code == "NN011" else "internal error: "
        raise ImportFailed(
            [
                f"{shown}: {internal}the written spec {what}: "
                f"line {first.span.line}: {first.code} {first.message}"
            ]
        )
    # every layer with the shape its source gives its output (as a multiset: blocks
    # are expanded in their own order)
    shapes = shapes or {}
    want = Counter((layer.op, shapes[layer.output]) for layer in layers if layer.output in shapes)
    have = Counter(
        (lc.node.op, tuple(lc.node.shape))
        for lc in analysis.report.layers
        if lc.node.op in {layer.op for layer in layers}
    )
    missing = want - have
    if missing:
        (op, shape), _ = next(iter(missing.items()))
        raise ImportFailed(
            [
                f"{shown}: internal error: the written spec has no {op} with the output shape "
                f"{list(shape)} {shape_source} gives"
            ]
        )
    got = analysis.report.totals.params
    if params is not None and got != params[0]:
        raise ImportFailed(
            [
                f"{shown}: internal error: the written spec has {got:,} parameters, "
                f"{params[1]} are {params[0]:,}"
            ]
        )
    return analysis
