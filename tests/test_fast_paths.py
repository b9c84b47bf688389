"""The fast paths give exactly the answers of the plain ones they replace.

* ``parse._FastParser`` (Lark's LALR loop and contextual lexer written out as one
  loop) against Lark's own ``parse``: the same AST with every span on success, the
  same exception, token, position and expected terminals on failure.
* ``graph._plan`` (Kahn's algorithm with a heap) against networkx's
  ``lexicographical_topological_sort`` and ``find_cycle`` on random statement graphs.
* ``Lowered.graph`` (networkx's dicts filled directly) against a graph built with
  ``add_node``/``add_edge``.
* ``costs.analyze`` (one cost per repeated op) against costing every node.

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
from nnlint.graph import _plan, _references
from nnlint.parse import parse

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
    cycles = 0
    for _ in range(3000):
        names = [f"t{i}" for i in rng.sample(range(30), rng.randint(1, 9))]
        edges = [(rng.choice(names), rng.choice(names)) for _ in range(rng.randint(0, 12))]
        body = _assigns(names, edges)
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
    assert cycles > 300  # both outcomes were exercised


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
