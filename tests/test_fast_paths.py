"""The fast paths give exactly the answers of the plain ones they replace.

* ``parse._FastParser`` (Lark's LALR loop and contextual lexer written out as one
  loop) against Lark's own ``parse``: the same AST with every span on success, the
  same exception, token, position and expected terminals on failure.
* ``graph._plan`` (Kahn's algorithm with a heap) against networkx's
  ``lexicographical_topological_sort`` and ``find_cycle`` on random statement graphs
  (those already in source order planned without Kahn's algorithm, and the others).
* ``Lowered.graph`` (networkx's dicts filled directly) against a graph built with
  ``add_node``/``add_edge``.
* ``costs.analyze`` (one cost per repeated op, and per set of options layers share)
  against costing every node; layers share options only when the values and their
  types are the same.
* ``roofline.fuse`` and the inference peak (by position, a chain's input taken from
  the layer before) against the plain versions that look every node up by id.

Speed itself is measured by benchmarks/run.py, never here.
"""

from __future__ import annotations

import random
from pathlib import Path

import lark
import networkx as nx
import pytest

from nnlint import ast
from nnlint import parse as P
from nnlint.check import analyse_text
from nnlint.costs import node_cost
from nnlint.diagnostics import Span, SpecError
from nnlint.graph import _in_source_order, _plan, _references
from nnlint.memory import peak_inference_activation_bytes
from nnlint.ops import channel_axis
from nnlint.parse import parse
from nnlint.precision import nbytes
from nnlint.roofline import Fusion, Kernel, fuse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.nn"))

# ------------------------------------------------------------------------ the parser

_PIECES = ["model", "block", "train", "input", "s", "ms", "MiB", "edge-tpu", "->", "\n->", "1e5"]
_CHARS = list("abcxyz019 \t\n\r\f#->=<>()[]{},.*/+-;:'\"$@!\u2028\x85kMGTeE_")


def _mutants(per_example: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        for _ in range(per_example):
            chars = list(text)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(chars) + 1)
                roll = rng.random()
                if roll < 0.4 and chars:
                    del chars[min(i, len(chars) - 1)]
                elif roll < 0.8:
                    chars.insert(i, rng.choice(_CHARS))
                else:
                    chars[i:i] = list(rng.choice(_PIECES))
            texts.append("".join(chars))
    return texts


def _outcome(parse_text, text: str):
    P._depths.table = {}
    try:
        return ("parsed", parse_text(text))
    except lark.exceptions.UnexpectedInput as exc:
        return (
            type(exc).__name__,
            exc.line,
            exc.column,
            getattr(exc, "pos_in_stream", None),
            repr(getattr(exc, "token", None)),
            sorted(getattr(exc, "accepts", None) or ()),
            sorted(getattr(exc, "expected", None) or ()),
            sorted(getattr(exc, "allowed", None) or ()),
        )
    except SpecError as exc:
        return ("SpecError", exc.diagnostics)


def test_the_fast_parser_matches_larks_parse_on_examples_and_mutants():
    lark_parse = P._parser().parse
    fast = P._fast_parser()
    texts = _mutants(per_example=80, seed=9)
    outcomes = {"parsed": 0, "failed": 0}
    for text in texts:
        expected = _outcome(lark_parse, text)
        assert _outcome(fast.parse, text) == expected, text[:300]
        outcomes["parsed" if expected[0] == "parsed" else "failed"] += 1
    assert outcomes["parsed"] > 50 and outcomes["failed"] > 50, outcomes  # both paths ran


def test_the_fast_loop_itself_parses_the_examples():
    """The fast loop is used, not only its fallback to Lark."""
    fast = P._fast_parser()
    for path in EXAMPLES:
        P._depths.table = {}
        assert fast._parse(path.read_text(encoding="utf-8"))[0], path.name


def test_nesting_errors_are_raised_the_same_way():
    deep = "model m {\n    input x: [4]\n    h = x -> dense(" + "-" * 300 + "4)\n}\n"
    assert _outcome(P._fast_parser().parse, deep) == _outcome(P._parser().parse, deep)
    with pytest.raises(SpecError, match="nested more than"):
        parse(deep)


# ------------------------------------------------------------------ statement order


def _assigns(names: list[str], edges: list[tuple[str, str]]) -> tuple[ast.Assign, ...]:
    """Assignments ``name = add(refs...)`` (a merge reads every ref), in ``names`` order."""
    span = Span(1, 1, 1, 2)
    reads: dict[str, list[str]] = {n: [] for n in names}
    for ref, reader in edges:
        reads[reader].append(ref)
    body = []
    for name in names:
        refs = reads[name] + ["x0", "x0"]  # a model input keeps every merge at two or more
        args = tuple(ast.Arg(None, ast.Name(r, span), span) for r in refs)
        source = ast.Layer("add", args, None, span, span, True)
        body.append(ast.Assign(name, span, ast.Chain(source, (), span), span))
    return tuple(body)


def _networkx_plan(names, edges):
    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edges_from(edges)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        index = {n: i for i, n in enumerate(names)}
        return list(nx.lexicographical_topological_sort(g, key=index.__getitem__)), None
    return None, [u for u, _ in cycle] + [cycle[0][0]]


def test_statement_order_and_cycles_match_networkx():
    rng = random.Random(3)
    cycles = in_order = 0
    for _ in range(3000):
        names = [f"t{i}" for i in rng.sample(range(30), rng.randint(1, 9))]
        edges = [(rng.choice(names), rng.choice(names)) for _ in range(rng.randint(0, 12))]
        body = _assigns(names, edges)
        in_order += _in_source_order(body, {"x0"}) is not None  # planned without Kahn
        # networkx sees the edges as the old code added them: statement by statement.
        written = [(r, s.target) for s in body for r, _, _ in _references(s.chain) if r != "x0"]
        order, cycle = _networkx_plan(names, written)
        planned, problems, skipped = _plan(body, {"x0"})
        if cycle is None:
            assert [s.target for s in planned] == order, (names, edges)
            assert problems == [] and skipped == set()
        else:
            cycles += 1
            [diagnostic] = problems
            assert diagnostic.code == "NN008"
            assert diagnostic.data["cycle"] == cycle, (names, edges)
            # the statements Kahn's algorithm could not order are left out, and only they
            assert skipped == set(names) - {s.target for s in planned}
            assert skipped >= set(cycle)
    assert cycles > 300 and in_order > 300  # every path was exercised


# ------------------------------------------------------------- the graph and the costs


def _slow_graph(lowered) -> nx.DiGraph:
    g = nx.DiGraph()
    for node_id, node in lowered.by_id.items():
        g.add_node(node_id, node=node)
    for node in lowered.by_id.values():
        for src, shape in zip(node.inputs, node.in_shapes):
            g.add_edge(src, node.id, shape=shape)
    return g


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_graph_and_the_costs_match_the_plain_construction(path):
    analysis, _ = analyse_text(path.read_text(encoding="utf-8"))
    if analysis is None:
        pytest.skip("the example stops before the graph (a hazard example)")
    report = analysis.report
    lowered = report.lowered
    fast, slow = lowered.graph, _slow_graph(lowered)
    assert list(fast.nodes(data=True)) == list(slow.nodes(data=True))
    assert list(fast.edges(data=True)) == list(slow.edges(data=True))
    assert {n: list(fast.predecessors(n)) for n in fast} == {
        n: list(slow.predecessors(n)) for n in slow
    }
    assert nx.is_directed_acyclic_graph(fast)
    config = report.sections
    for layer in report.layers:
        node = layer.node
        assert layer.train == node_cost(node, config.train.batch, True), node.id
        assert layer.infer == node_cost(node, config.deploy.batch, False), node.id


def test_repeated_ops_are_costed_like_single_ones():
    text = "model m {\n    input x: [8]\n    h = x -> dense(8) * 3 -> relu * 4 -> dropout(0.1)\n}\n"
    analysis, _ = analyse_text(text)
    report = analysis.report
    for layer in report.layers:
        assert layer.train == node_cost(layer.node, report.sections.train.batch, True)
    dense = [layer for layer in report.layers if layer.node.op == "dense"]
    assert len(dense) == 3 and len({id(layer.node.opts) for layer in dense}) == 1


def test_layers_written_alike_share_their_options_and_no_others():
    """Equal options share one dict (so one cost); 1 and 1.0, 0.0 and -0.0 do not."""
    text = (
        "model m {\n    input x: [8]\n"
        "    a = x -> layernorm(eps=1) -> layernorm(eps=0.5 * 2) -> layernorm(eps=1)\n"
        "    b = a -> dropout(0.5 - 0.5) -> dropout(-0.5 * 0) -> dropout(0.5 - 0.5) -> dense(8)\n"
        "    c = b -> dense(8) -> dense(8, bias=false)\n}\n"
    )
    analysis, _ = analyse_text(text)
    nodes = analysis.report.lowered.by_id
    ln = [nodes[f"a/layernorm#{i}"].opts for i in (1, 2, 3)]
    assert ln[0] is ln[2] and ln[0] is not ln[1]
    assert type(ln[0]["eps"]) is int and type(ln[1]["eps"]) is float
    drop = [nodes[f"b/dropout#{i}"].opts for i in (1, 2, 3)]
    assert drop[0] is drop[2] and drop[0] is not drop[1]
    assert str(drop[0]["p"]) == "0.0" and str(drop[1]["p"]) == "-0.0"
    dense = [nodes["b/dense#1"].opts, nodes["c/dense#1"].opts, nodes["c/dense#2"].opts]
    assert dense[0] is dense[1] and dense[1] is not dense[2] and dense[2]["bias"] is False


def _plain_fusion(report) -> Fusion:
    """The kernels of one inference, by id lookups (the code before the positional one)."""
    nodes = report.lowered.by_id
    readers: dict[str, int] = {}
    for node in nodes.values():
        for src in set(node.inputs):
            readers[src] = readers.get(src, 0) + 1
    host: dict[str, str] = {}
    for node in nodes.values():
        op = node.kind
        if len(node.inputs) != 1 or readers.get(node.inputs[0], 0) != 1:
            continue
        src = nodes[node.inputs[0]]
        root = host.get(src.id, src.id)
        folds = op.folds_into_linear and src.kind.linear_layer
        joins = (
            op.family == "activation"
            and op.in_place
            and nodes[root].kind.fusion_host
            and not node.fused_with_loss
        )
        if folds or joins:
            host[node.id] = root
    joined: dict[str, int] = {}
    new_bias: dict[str, int] = {}
    members: dict[str, tuple[str, ...]] = {}
    for layer in report.layers:
        if layer.node.id in host:
            key = host[layer.node.id]
            joined[key] = joined.get(key, 0) + layer.infer.forward_flops
            members[key] = members.get(key, (key,)) + (layer.node.id,)
            if layer.node.kind.folds_into_linear and not nodes[key].opts.get("bias", True):
                new_bias[key] = channel_axis(layer.node.shape)
    kernels = []
    for layer in report.layers:
        node, kind = layer.node, layer.node.kind
        if node.id in host or kind.is_input or kind.is_loss:
            continue
        if kind.is_view and not kind.moves_data(node.opts, node.in_shapes):
            continue
        flops = layer.infer.forward_flops + joined.get(node.id, 0)
        bias = new_bias.get(node.id, 0)
        if (
            kind.inference_noop
            and flops == 0
            and layer.counted_params + layer.infer.buffers + bias == 0
        ):
            continue
        kernels.append(Kernel(node.id, members.get(node.id, (node.id,)), flops, bias))
    return Fusion(tuple(kernels), host)


def _plain_peak(report, batch: int) -> int:
    """Peak live activation bytes, every buffer by its owner's id (the code before)."""
    owner: dict[str, str] = {}
    size: dict[str, int] = {}
    made_at: dict[str, int] = {}
    last_use: dict[str, int] = {}
    workspace: dict[int, int] = {}
    steps = [layer for layer in report.layers if not layer.node.kind.is_loss]
    for i, layer in enumerate(steps):
        node = layer.node
        for src in node.inputs:
            last_use[owner[src]] = i
        if layer.infer.output_elements or not node.inputs:
            owner[node.id] = node.id
            size[node.id] = nbytes(batch * layer.infer.output_elements, layer.infer_precision)
            made_at[node.id] = last_use[node.id] = i
        else:
            owner[node.id] = owner[node.inputs[0]]
            last_use[owner[node.id]] = i
        if layer.infer.workspace_elements:
            workspace[i] = nbytes(batch * layer.infer.workspace_elements, layer.infer_precision)
    born: dict[int, int] = {}
    dies: dict[int, int] = {}
    for buf, step in made_at.items():
        born[step] = born.get(step, 0) + size[buf]
        dies[last_use[buf]] = dies.get(last_use[buf], 0) + size[buf]
    live = peak = 0
    for i in range(len(steps)):
        live += born.get(i, 0)
        peak = max(peak, live + workspace.get(i, 0))
        live -= dies.get(i, 0)
    return peak


# inputs that are not the layer before: the batchnorm reads `a` after `s`, adds and a
# shortcut read earlier tensors
_BRANCHY = (
    "model m {\n    input x: [3, 16, 16]\n"
    "    a = x -> conv2d(8, 3, padding=1, bias=false)\n"
    "    s = x -> relu -> conv2d(8, 1)\n"
    "    b = a -> batchnorm -> relu\n"
    "    c = add(b, s) -> relu -> flatten\n"
    "    d = c -> dense(16, bias=false) -> batchnorm -> gelu -> dense(4)\n"
    "    e = add(d, d) -> softmax\n}\n"
    "train {\n    loss = cross_entropy(e)\n}\ndeploy {\n    target = a100-40gb\n}\n"
)


@pytest.mark.parametrize("path", [*EXAMPLES, None], ids=lambda p: p.stem if p else "branchy")
def test_fusion_and_inference_peak_match_the_lookup_versions(path):
    """fuse and the inference peak work by position (a chain's input is the layer
    before); they give what the plain versions, which look every node up by id, give."""
    text = path.read_text(encoding="utf-8") if path else _BRANCHY
    analysis, _ = analyse_text(text)
    if analysis is None:
        pytest.skip("the example stops before the graph (a hazard example)")
    report = analysis.report
    assert fuse(report) == _plain_fusion(report)
    for batch in (1, 3):
        assert peak_inference_activation_bytes(report, batch) == _plain_peak(report, batch)
