"""``nnlint report --html``: a self-contained page that parses and holds the figures.

Needs no optional dependency (the SVG is hand-written); ``--plot`` (matplotlib) is
tested in ``test_plots.py``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import EXAMPLES
from helpers import run_cli as run

from nnlint.check import analyse_text
from nnlint.figures import sources, text_rows
from nnlint.pictures import figures

VOID = {"meta", "br", "img", "input", "link", "hr", "circle", "line", "polyline", "rect"}


class _Checker(HTMLParser):
    """Collects start tags and checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def model_json(capsys, path: Path, *extra: str) -> dict:
    code, out, _ = run(capsys, "report", str(path), "--format", "json", *extra)
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("stem", ["mnist_mlp", "resnet50", "tiny_gpt", "bert_base"])
def test_html_is_self_contained_parses_and_holds_the_figures(stem, capsys, tmp_path):
    spec = EXAMPLES / f"{stem}.nn"
    out_file = tmp_path / "report.html"
    code, out, err = run(capsys, "report", str(spec), "--html", str(out_file))
    assert code == 0 and out == "" and err == f"nnlint: wrote {out_file}\n"
    html = out_file.read_text(encoding="utf-8")

    # self-contained: no URL, no script, no external resource of any kind
    assert not re.search(r"https?:|//[a-z]|<script|<link|<img|@import|url\(|src=", html, re.I)

    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.tags[0][0] == "html"

    model = model_json(capsys, spec)
    text = unescape(" ".join(checker.text))
    for layer in model["layers"]:
        assert layer["name"] in text, layer["name"]
    exact = {a["data-key"]: None for t, a in checker.tags if t == "td" and "data-key" in a}
    cells = re.findall(r'<td class="n" data-key="(\w+)">([^<]*)</td>', html)
    assert len(cells) == len(exact) >= 10
    for key, value in cells:
        assert json.loads(unescape(value)) == model["totals"][key], key
    # the totals table has the text report's rows (nnlint.figures), label and value
    analysis, _ = analyse_text(spec.read_text(encoding="utf-8"))
    rows = re.findall(
        r'<tr><td>([^<]*)</td><td class="n">([^<]*)</td>', html.split('class="totals"')[1]
    )
    assert [(unescape(a), unescape(b)) for a, b in rows] == text_rows(sources(analysis))

    # every inline SVG is well-formed XML
    svgs = [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.S)]
    if model["totals"].get("ridge_point") is None:
        assert "No roofline: no target" in html
        (memory_svg,) = svgs
    else:
        roof_svg, memory_svg = svgs
        points = list(roof_svg.iter("circle"))
        on_chart = [x for x in model["layers"] if x.get("arithmetic_intensity")]
        off_chart = [x for x in model["layers"] if x.get("latency_s") and x not in on_chart]
        assert {unescape(c.get("data-layer")) for c in points} == {x["name"] for x in on_chart}
        if off_chart:
            note = text.split("Not on the chart")[1].split(".\n")[0]
            for x in off_chart:
                assert x["name"] in note
        ridge = model["totals"]["ridge_point"]
        assert f"ridge {ridge:.4g} FLOP/byte" in ET.tostring(roof_svg, encoding="unicode")
    rect_titles = [r.find("title").text for r in memory_svg.iter("rect")]
    assert any(title.startswith("activations:") for title in rect_titles)
    memory_text = " ".join(t.text or "" for t in memory_svg.iter("text"))
    for key in ("train_memory_bytes", "inference_memory_bytes"):
        assert f"({model['totals'][key]:,} B)" in memory_text


def test_points_sit_on_the_roof():
    """attainable = min(peak, intensity x bandwidth) = FLOPs / roofline time."""
    text = (EXAMPLES / "resnet50.nn").read_text(encoding="utf-8")
    analysis, _ = analyse_text(text)
    fig = figures(analysis, "resnet50.nn")
    chart = fig.roof
    assert chart.points
    for p in chart.points:
        assert p.attainable == pytest.approx(p.flops / p.time_s, rel=1e-12)
        assert p.attainable <= chart.peak
        assert (p.bound == "memory") == (p.intensity < chart.ridge_point)
    assert chart.ridge_point == pytest.approx(chart.peak / chart.bandwidth, rel=1e-12)
    assert chart.off_chart == ()  # every layer of resnet50 on an A100 is on the chart
    assert chart.time_s == pytest.approx(
        sum(p.time_s for p in chart.points) + chart.overhead_s, rel=1e-12
    )
    assert chart.overhead_s == pytest.approx(
        len(chart.points) * analysis.target.launch_overhead_s
        + analysis.target.inference_overhead_s,
        rel=1e-12,
    )


def test_memory_bars_sum_to_the_totals():
    for stem in ("mnist_mlp", "resnet50", "tiny_gpt", "bert_base"):
        analysis, _ = analyse_text((EXAMPLES / f"{stem}.nn").read_text(encoding="utf-8"))
        fig = figures(analysis, stem)
        train, infer = fig.bars
        t = analysis.report.totals
        assert train.total == t.train_memory_bytes
        assert dict(train.parts)["optimizer state"] == t.optimizer_bytes
        assert infer.total == t.inference_memory_bytes


def test_html_without_a_target_has_no_roofline(capsys, tmp_path):
    spec = tmp_path / "m.nn"
    spec.write_text("model m {\n    input x: [8]\n    y = x -> dense(4)\n}\n", encoding="utf-8")
    out_file = tmp_path / "m.html"
    assert run(capsys, "report", str(spec), "--html", str(out_file))[0] == 0
    html = out_file.read_text(encoding="utf-8")
    assert "No roofline: no target" in html
    assert html.count("<svg") == 1  # the memory bars
    code, _, _ = run(capsys, "report", str(spec), "--html", str(out_file), "--target", "t4")
    assert code == 0 and out_file.read_text(encoding="utf-8").count("<svg") == 2


def test_html_escapes_names(capsys, tmp_path):
    spec = tmp_path / "m.nn"
    spec.write_text(
        "model m {\n    input x: [8]\n    y = x -> dense(4)\n}\ndeploy {\n    target = t4\n}\n",
        encoding="utf-8",
    )
    out_file = tmp_path / "a<b>.html"
    assert run(capsys, "report", str(spec), "--html", str(out_file))[0] == 0
    html = out_file.read_text(encoding="utf-8")
    assert "<b>" not in html.replace("<body>", "")


def test_html_to_a_folder_or_a_spec_with_errors(capsys, tmp_path):
    spec = tmp_path / "m.nn"
    spec.write_text("model m {\n    input x: [8]\n    y = x -> dense(4\n}\n", encoding="utf-8")
    code, out, _ = run(capsys, "report", str(spec), "--html", str(tmp_path / "x.html"))
    assert code == 1 and "NN001" in out and not (tmp_path / "x.html").exists()
    good = EXAMPLES / "xor.nn"
    code, _, err = run(capsys, "report", str(good), "--html", str(tmp_path))
    assert code == 2 and "is a folder" in err
