"""Every total is declared once (:mod:`nnlint.figures`) and flows from that declaration
to the JSON report, the text report, the budget section and the README."""

from __future__ import annotations

import json
import re

import attrs
import pytest
from helpers import EXAMPLES

from nnlint.check import Analysis, analyse_text, check_text, model_entry
from nnlint.costs import Totals
from nnlint.docs import figures_table
from nnlint.emit import render
from nnlint.figures import FIGURES, Figure, Sources, budget_keys, declare, sources, undeclare
from nnlint.pictures import figures
from nnlint.report_html import render_html
from nnlint.rules import all_meta
from nnlint.rules.base import RuleContext
from nnlint.tables import report_text
from nnlint.units import UNITS, fmt_bytes

MNIST = (EXAMPLES / "mnist_mlp.nn").read_text(encoding="utf-8")


def with_budget(lines: str) -> str:
    return MNIST[: MNIST.index("budget {")] + "budget {\n" + lines + "\n}\n"


def codes(text: str, code: str):
    return [d for d in check_text(text, "m.nn").diagnostics if d.code == code]


@pytest.fixture
def doubled():
    """A throwaway total: twice the parameters, budgeted by `doubled_params`."""
    figure = declare(
        Figure(
            "doubled_params",
            "count",
            "doubled parameters",
            "Twice `params` (a test's figure).",
            read=lambda s: 2 * s.totals.params,
            label="doubled parameters (batch {train_batch})",
            budget=("doubled_params",),
        )
    )
    yield figure
    undeclare("doubled_params")


def test_one_declaration_reaches_json_text_budget_and_docs(doubled):
    text = with_budget("    doubled_params <= 400k")
    result = check_text(text, "m.nn")
    # JSON: the last key of `totals`, read from the analyses
    totals = json.loads(render("json", [result], all_meta()))["models"][0]["totals"]
    assert list(totals)[-1] == "doubled_params"
    assert totals["doubled_params"] == 2 * totals["params"] == 470_292
    # text: a row with its label, formatted in its unit
    analysis, _ = analyse_text(text)
    assert "  doubled parameters (batch 32)" in report_text(analysis, "m.nn")
    assert "470.29 k (470,292)" in report_text(analysis, "m.nn").splitlines()[-1]
    # budget: the key is known to the sections stage and checked by NN501
    (d,) = [d for d in result.diagnostics if d.code == "NN501"]
    assert d.message == (
        "doubled_params is 470.29 k (470,292), over the budget of 400k (400,000) "
        "by 70.29 k (70,292) (17.6%)"
    )
    assert d.fix == "reduce the doubled parameters or raise the budget"
    assert d.data == {
        "key": "doubled_params",
        "value": 470_292,
        "limit": 400_000,
        "margin": -70_292,
        "unit": "count",
    }
    assert codes(with_budget("    doubled_params <= 500k"), "NN501") == []
    # the HTML page: a row of the totals table, with the JSON value
    html = render_html(figures(analysis, "m.nn"))
    assert (
        '<tr><td>doubled parameters (batch 32)</td><td class="n">470.29 k (470,292)</td>'
        '<td class="n" data-key="doubled_params">470292</td></tr>'
    ) in html
    # the README table
    assert "| `doubled_params` | count | `doubled_params` | doubled parameters |" in (
        figures_table()
    )


def test_a_figure_of_another_analysis_reaches_every_consumer():
    """A figure read from the training plan (not the cost report): the one builder of
    the sources hands it to the JSON, the text, the HTML page and the budget rules."""
    declare(
        Figure(
            "plan_bytes",
            "bytes",
            "per-GPU training memory of the plan",
            "The training plan's per-GPU total (a test's figure).",
            read=lambda s: None if s.training is None else s.training.total_bytes,
            label="plan bytes",
            budget=("plan_bytes",),
        )
    )
    try:
        text = with_budget("    plan_bytes <= 1 MiB")
        analysis, _ = analyse_text(text)
        planned = analysis.training.total_bytes
        assert planned > 2**20
        result = check_text(text, "m.nn")
        assert result.model["totals"]["plan_bytes"] == planned
        assert result.model["training"]["per_gpu"]["total_bytes"] == planned
        last = report_text(analysis, "m.nn").splitlines()[-1]
        assert re.fullmatch(r"  plan bytes +" + re.escape(fmt_bytes(planned)), last), last
        html = render_html(figures(analysis, "m.nn"))
        assert f'<td class="n" data-key="plan_bytes">{planned}</td>' in html
        (d,) = [d for d in result.diagnostics if d.code == "NN501"]
        assert d.data["value"] == planned and d.data["limit"] == 2**20
    finally:
        undeclare("plan_bytes")


def test_every_analysis_of_the_sources_is_carried_by_the_analysed_spec_and_the_rules():
    """`sources()` reads each field of `Sources` from a `check.Analysis` or a rule's
    context by name: both carry every one."""
    names = {f.name for f in attrs.fields(Sources)}
    assert names <= {f.name for f in attrs.fields(Analysis)}
    assert names <= {f.name for f in attrs.fields(RuleContext)}
    analysis, _ = analyse_text(MNIST)
    built = sources(analysis)
    for name in names:
        assert getattr(built, name) is getattr(analysis, name), name


def test_an_undeclared_total_is_gone_everywhere(doubled):
    undeclare("doubled_params")
    try:
        text = with_budget("    doubled_params <= 400k")
        (bad,) = codes(text, "NN012")
        assert "unknown key `doubled_params` in `budget`" in bad.message
        analysis, _ = analyse_text(MNIST)
        assert "doubled_params" not in model_entry(analysis, "m.nn")["totals"]
        assert "doubled parameters" not in report_text(analysis, "m.nn")
        assert "doubled_params" not in figures_table()
    finally:
        declare(doubled)  # the fixture removes it again


def test_a_floor_budget_fires_under_its_limit():
    declare(
        Figure(
            "kept_params",
            "count",
            "kept parameters",
            "`params` again (a test's figure with a lower limit).",
            read=lambda s: s.totals.params,
            budget=("min_params",),
            limit="min",
        )
    )
    try:
        (d,) = codes(with_budget("    min_params >= 300k"), "NN501")
        assert d.message.startswith("min_params is 235.15 k (235,146), under the budget of 300k")
        assert "by 64.85 k (64,854) (21.6%)" in d.message
        assert d.fix == "raise the kept parameters or lower the budget"
        assert d.data["margin"] == -64_854
        assert codes(with_budget("    min_params >= 235146"), "NN501") == []
        (d,) = codes(with_budget("    min_params > 235146"), "NN501")
        assert d.data["margin"] == 0
        # `> 235145.5` allows 235,146, as `> 235145` does
        assert codes(with_budget("    min_params > 235145.5"), "NN501") == []
        (bad,) = codes(with_budget("    min_params <= 300k"), "NN012")
        assert "`budget` entries use `>=` or `>`, not `<=`" in bad.message
    finally:
        undeclare("kept_params")
    assert "min_params" not in budget_keys()


def test_json_totals_are_the_declared_figures_in_order():
    for stem in ("mnist_mlp", "xor", "resnet50"):
        analysis, _ = analyse_text((EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8"))
        roof = analysis.roofline
        totals = model_entry(analysis, stem)["totals"]
        declared = [
            f.name
            for f in FIGURES.values()
            if f.in_json
            and (roof is not None or not f.needs_target)
            and (f.needs is None or getattr(analysis, f.needs) is not None)
        ]
        assert list(totals) == declared, stem
        # resnet50 states samples and epochs: the run's figures; the others do not
        assert ("train_flops" in totals) == (stem == "resnet50"), stem
        t = analysis.report.totals
        assert totals["params"] == t.params and totals["train_memory_bytes"] == t.train_memory_bytes
        if roof is not None:
            assert totals["latency_s"] == roof.time_s
            assert totals["ridge_point"] == roof.ridge_point


def test_the_text_report_has_a_row_per_labelled_figure_in_declaration_order():
    analysis, _ = analyse_text(MNIST)
    text = report_text(analysis, "mnist_mlp.nn")
    rows = text[text.index("\ntotals\n") :].splitlines()[2:]
    labels = [row.split("  ")[1] for row in rows]
    context = {**sources(analysis).totals.as_dict(), "target": "edge-tpu"}
    assert analysis.run is None  # no train.epochs: no rows of the training run
    assert labels == [
        f.label.format(**context) for f in FIGURES.values() if f.label and f.needs is None
    ]
    assert "train memory                           3.73 MiB (3,913,120 B)" in text
    assert "estimated latency (batch 1)            892 µs (0.000891605 s)" in text


def test_every_field_of_the_cost_totals_is_declared():
    """A total added to the cost model is declared (or named here as internal)."""
    internal = {"input_grad_macs"}  # part of backward_macs (the PyTorch cross-check reads it)
    fields = {f.name for f in attrs.fields(Totals)}
    assert fields - set(FIGURES) == internal


def test_budget_keys_have_units_a_limit_can_be_written_in():
    keys = budget_keys()
    assert {"params", "train_memory", "latency", "flops", "param_memory"} <= set(keys)
    assert keys["flops"].name == "inference_flops"
    assert keys["param_memory"].name == "inference_param_bytes"
    for figure in keys.values():
        assert UNITS[figure.unit].limit_hint, figure.name


def test_a_declaration_is_checked():
    with pytest.raises(ValueError, match="unknown unit"):
        Figure("x", "furlongs", "x", "x")
    with pytest.raises(ValueError, match="cannot be budgeted"):
        Figure("x", "text", "x", "x", budget=("x",))
    with pytest.raises(ValueError, match="limit must be"):
        Figure("x", "count", "x", "x", limit="exact")
    with pytest.raises(ValueError, match="declared twice"):
        declare(Figure("params", "count", "x", "x"))
    with pytest.raises(ValueError, match="already limits params"):
        declare(Figure("y", "count", "x", "x", budget=("params",)))
    assert "y" not in FIGURES
