"""What a plain ``nnlint check`` loads: the stages of the flow, and nothing around them.

A new process pays for every module it imports; a cold ``nnlint check`` of a small
spec is mostly imports (``benchmarks/run.py`` measures it, no test times anything).
These tests run the command line in a fresh interpreter and list the modules it
imported, so that a module imported at the top of the wrong file (the baseline, the
fixers, the formatter, the language server, networkx, ...) is caught here rather
than in a benchmark months later.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

#: The modules of the flow a check walks a file through (docs/ARCHITECTURE.md), plus
#: every op of the catalog (``nnlint.ops.*``) and every rule (``nnlint.rules.*``).
#: A module that a plain check truly needs is added here, on purpose.
CHECK_PATH = frozenset(
    {
        "nnlint",
        "nnlint.activations",
        "nnlint.ast",
        "nnlint.check",
        "nnlint.cli",
        "nnlint.config",
        "nnlint.costs",
        "nnlint.diagnostics",
        "nnlint.emit",
        "nnlint.expr",
        "nnlint.figures",
        "nnlint.files",
        "nnlint.graph",
        "nnlint.graph_queries",
        "nnlint.memory",
        "nnlint.ops",
        "nnlint.optimizers",
        "nnlint.parse",
        "nnlint.plan",
        "nnlint.training_run",
        "nnlint.precision",
        "nnlint.resources",
        "nnlint.roofline",
        "nnlint.rules",
        "nnlint.sanitize",
        "nnlint.sections",
        "nnlint.serving",
        "nnlint.suggest",
        "nnlint.targets",
        "nnlint.training",
        "nnlint.units",
    }
)
#: Loaded only by the commands and options that use them, never by a plain check.
NOT_ON_THE_CHECK_PATH = (
    "networkx",  # Lowered.graph builds the networkx graph on demand; rules use plain queries
    "nnlint.baseline",
    "nnlint.fixes",
    "nnlint.format",
    "nnlint.github",
    "nnlint.server",
    "nnlint.report_html",
    "nnlint.plots",
    "nnlint.pictures",
    "nnlint.importers",
    "nnlint.docs",
    "nnlint.report_schema",
    "nnlint.tables",
)

_PROBE = textwrap.dedent(
    """
    import json, sys
    from nnlint.cli import main
    code = main(sys.argv[1:])
    print(json.dumps({"exit": code, "modules": sorted(sys.modules)}))
    """
)


def _imported(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Run ``nnlint ARGS`` in a fresh interpreter; its exit code and imported modules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNLINT_")}
    env["NNLINT_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["exit"], set(result["modules"])


def _outside_the_check_path(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.startswith("nnlint")
        and m not in CHECK_PATH
        and not m.startswith(("nnlint.ops.", "nnlint.rules."))
    )


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_plain_check_imports_the_flow_and_nothing_else(tmp_path, cache):
    spec = tmp_path / "mnist_mlp.nn"
    spec.write_text((EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8"), encoding="utf-8")
    if cache == "warm":  # the second run loads the parser from the cache
        _imported(tmp_path, "check", spec.name)
    code, modules = _imported(tmp_path, "check", spec.name)
    assert code == 0
    assert _outside_the_check_path(modules) == [], (
        "a plain `nnlint check` imported modules outside the check path; import them "
        "inside the function that needs them (or, if the check needs them, add them to "
        "CHECK_PATH)"
    )
    assert [m for m in NOT_ON_THE_CHECK_PATH if m in modules] == []
    # The flow itself is loaded: the test would pass vacuously otherwise.
    assert {"nnlint.check", "nnlint.parse", "nnlint.rules", "nnlint.roofline"} <= modules
    assert any(m.startswith("nnlint.rules.training.nn1") for m in modules)


def test_findings_and_every_format_need_no_networkx(tmp_path):
    """Every rule answers from the plain graph queries, and the findings' fixes and
    each output format load only what they use."""
    spec = tmp_path / "double_softmax.nn"
    spec.write_text(
        "model m {\n    input x: [16]\n    p = x -> dense(4) -> softmax -> softmax\n}\n"
        "train {\n    loss = cross_entropy(p)\n}\n",
        encoding="utf-8",
    )
    for fmt in ("text", "concise", "json", "sarif", "github"):
        code, modules = _imported(
            tmp_path, "check", spec.name, "--format", fmt, "--fail-on", "warning"
        )
        assert code == 1, fmt  # findings
        assert "nnlint.fixes" in modules  # the findings got their fixes
        assert "networkx" not in modules, fmt
        assert "nnlint.baseline" not in modules, fmt
        assert ("nnlint.github" in modules) == (fmt == "github"), fmt


def test_the_networkx_graph_is_still_there_on_demand():
    """``Lowered.graph`` is the networkx graph of the contract, built on first use, and
    the plain queries the rules use agree with it on every example."""
    import networkx as nx

    from nnlint.check import analyse_text

    for path in sorted(EXAMPLES.rglob("*.nn")):
        analysis, _ = analyse_text(path.read_text(encoding="utf-8"))
        if analysis is None:
            continue
        lowered = analysis.report.lowered
        g = lowered.graph
        assert isinstance(g, nx.DiGraph)
        assert list(g.nodes) == list(lowered.order)
        for node_id in lowered.order:
            assert lowered.successors(node_id) == tuple(g.successors(node_id)), path
            assert lowered.predecessors(node_id) == tuple(g.predecessors(node_id)), path
        for node_id in (lowered.loss, lowered.order[-1]):
            if node_id is not None:
                assert lowered.ancestors(node_id) == nx.ancestors(g, node_id), path
