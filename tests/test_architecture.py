"""The layout rules of the code base, checked: an op is known by name only in its class.

Every module outside ``src/nnlint/ops/`` asks an op about its roles
(``node.kind.is_norm``, ``node.kind.fans(...)``) instead of comparing its name with a
string: an op added to the catalog is then seen by every analysis and rule without
touching them. The walk below finds the ways a module could match on an op name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nnlint.ops import CATALOG

SRC = Path(__file__).resolve().parent.parent / "src" / "nnlint"
OP_NAMES = frozenset(CATALOG)
#: Comparisons whose subject is a spec section key, a grammar token or a tree node — not
#: an op — may use a word that happens to be an op name (``loss`` is also the key of
#: ``train.loss``, ``input`` a keyword of the grammar).
NOT_OPS = ("key", "type", "data", "keyword")


def _op_literals(node: ast.AST) -> list[str]:
    """The op names a literal (a string, or a tuple/list/set of strings) spells."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value in OP_NAMES else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for elt in node.elts for n in _op_literals(elt)]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("frozenset", "set", "tuple")
        and node.args
    ):
        return _op_literals(node.args[0])
    return []


def _subject(node: ast.AST) -> str:
    """The last name of an expression: ``e.key`` -> ``key``, ``node.op`` -> ``op``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def op_name_matches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every place ``tree`` matches on an op name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for i, side in enumerate(sides):
                names = _op_literals(side)
                others = [s for j, s in enumerate(sides) if j != i]
                if names and not all(_subject(o) in NOT_OPS for o in others):
                    found.append((node.lineno, f"compares with {', '.join(names)}"))
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Call)):
            names = _op_literals(node)
            if len(names) >= 2:  # a role set spelled as names: {"dense", "conv2d"}
                found.append((node.lineno, f"lists {', '.join(names)}"))
        elif isinstance(node, ast.Dict):
            names = [n for k in node.keys if k is not None for n in _op_literals(k)]
            if names:
                found.append((node.lineno, f"keys a dict by {', '.join(names)}"))
        elif isinstance(node, ast.match_case):
            names = [
                p.value.value
                for p in ast.walk(node.pattern)
                if isinstance(p, ast.MatchValue)
                and isinstance(p.value, ast.Constant)
                and p.value.value in OP_NAMES
            ]
            if names:
                found.append((node.pattern.lineno, f"matches {', '.join(names)}"))
    return sorted(set(found))


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "ops" not in p.relative_to(SRC).parts[:1])


def test_the_walk_sees_the_source_tree():
    paths = [p.relative_to(SRC).as_posix() for p in _modules()]
    assert "graph.py" in paths and "roofline.py" in paths
    assert any(p.startswith("rules/training/nn1") for p in paths)
    assert not any(p.startswith("ops/") for p in paths)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_module_outside_the_catalog_matches_on_an_op_name(path):
    found = op_name_matches(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, [f"{path.relative_to(SRC)}:{line}: {what}" for line, what in found]


@pytest.mark.parametrize(
    "code",
    [
        'node.op == "dense"',
        'node.op != "loss"',
        'op in ("relu", "relu6")',
        'x = frozenset({"batchnorm", "layernorm"})',
        'y = {"dense": 1}',
        'match node.op:\n    case "conv2d":\n        pass',
        '"input" == node.op',
    ],
)
def test_the_walk_finds_each_way_of_matching_a_name(code):
    assert op_name_matches(ast.parse(code))


@pytest.mark.parametrize(
    "code",
    [
        'node.kind.is_norm and e.key == "loss"',
        'kind == "mse"',
        'init.scheme in ("zeros", "ones")',
        'f"{node.op} `{node.id}`"',
    ],
)
def test_the_walk_leaves_other_strings_alone(code):
    assert not op_name_matches(ast.parse(code))


# ------------------------------------------------------------------ one rule, one file

RULES = SRC / "rules"


def test_each_rule_is_one_file_named_for_its_code_in_its_family_folder():
    from nnlint.rules import REGISTRY

    for code, rule in REGISTRY.items():
        module = type(rule).__module__
        if not module.startswith("nnlint."):
            continue  # a rule a test registered
        expected = f"nnlint.rules.{rule.family}.{code.lower()}_{rule.name.replace('-', '_')}"
        assert module == expected, (code, module)
    files = sorted(p.stem for p in RULES.glob("*/nn*.py"))
    assert len(files) == len({p.stem[:5] for p in RULES.glob("*/nn*.py")})  # one rule per file
    registered = {
        c.lower() for c, r in REGISTRY.items() if type(r).__module__.startswith("nnlint.")
    }
    assert {f[:5] for f in files} == registered


def test_rule_families_do_not_import_each_other():
    families = sorted(p.name for p in RULES.iterdir() if (p / "__init__.py").exists())
    assert {"training", "data", "fit", "performance", "budget"} <= set(families)
    for family in families:
        for path in (RULES / family).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    if parts[:2] == ["nnlint", "rules"] and len(parts) > 2:
                        assert parts[2] in (family, "base"), (path.name, node.module)


# ------------------------------------------------------------------ rules read the analyses

#: What the analyses compute with: a rule that imports one of these would recompute a
#: figure instead of reading it from its RuleContext.
ANALYSIS_STEPS = {
    "nnlint.costs": {"analyze", "node_cost"},
    "nnlint.roofline": {"roofline", "fuse", "traffic", "timing"},
    "nnlint.memory": {"peak_inference_activation_bytes"},
}


def test_rules_read_figures_and_never_run_an_analysis_step():
    for path in sorted(RULES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in ANALYSIS_STEPS:
                steps = {a.name for a in node.names} & ANALYSIS_STEPS[node.module]
                assert not steps, (path.relative_to(SRC).as_posix(), node.module, steps)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name not in ANALYSIS_STEPS, (path.name, alias.name)
