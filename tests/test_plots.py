"""``nnlint report --plot``: matplotlib (the ``plot`` extra) draws the roofline and the
memory bars; the SVG parses and holds the layer ids and the exact totals. Without
matplotlib: one line naming the extra, exit 2."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")  # in the test extra: CI fails instead of skipping

from helpers import EXAMPLES
from helpers import run_cli as run

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("stem", ["mnist_mlp", "resnet50", "xor"])
def test_plot_svg_parses_and_holds_the_figures(stem, capsys, tmp_path):
    spec = EXAMPLES / f"{stem}.nn"
    out_file = tmp_path / "plot.svg"
    code, out, err = run(capsys, "report", str(spec), "--plot", str(out_file))
    assert code == 0 and out == "" and err == f"nnlint: wrote {out_file}\n"
    data = out_file.read_text(encoding="utf-8")
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"

    code, out, _ = run(capsys, "report", str(spec), "--format", "json")
    model = json.loads(out)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    on_chart = [x["name"] for x in model["layers"] if x.get("arithmetic_intensity")]
    assert on_chart or model["totals"].get("ridge_point") is None
    for name in on_chart:
        assert f"layer {name}" in ids, name
    text = " ".join("".join(el.itertext()) for el in root.iter(f"{SVG}text"))
    t = model["totals"]
    for key in (
        "train_memory_bytes",
        "param_bytes",
        "grad_bytes",
        "optimizer_bytes",
        "activation_bytes",
        "inference_memory_bytes",
    ):
        assert f"{t[key]:,} B" in text, key
    # nothing outside the file is referenced
    for el in root.iter():
        for attr, value in el.attrib.items():
            if attr.endswith("href"):
                assert value.startswith("#"), value


def test_plot_is_reproducible(capsys, tmp_path):
    spec = str(EXAMPLES / "mnist_mlp.nn")
    run(capsys, "report", spec, "--plot", str(tmp_path / "a.svg"))
    run(capsys, "report", spec, "--plot", str(tmp_path / "b.svg"))
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_plot_other_formats(suffix, capsys, tmp_path):
    out_file = tmp_path / f"plot.{suffix}"
    code, _, _ = run(capsys, "report", str(EXAMPLES / "resnet50.nn"), "--plot", str(out_file))
    magic = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}[suffix]
    assert code == 0 and out_file.read_bytes().startswith(magic)


def test_plot_and_html_together(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "report",
        str(EXAMPLES / "xor.nn"),
        "--plot",
        str(tmp_path / "p.svg"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 0 and err.count("nnlint: wrote") == 2


def test_plot_needs_a_known_suffix(capsys, tmp_path):
    code, _, err = run(
        capsys, "report", str(EXAMPLES / "xor.nn"), "--plot", str(tmp_path / "p.gif")
    )
    assert code == 2 and "name a .svg, .png or .pdf file (got 'gif')" in err
    assert not (tmp_path / "p.gif").exists()


def test_without_matplotlib_one_line_naming_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    code, out, err = run(
        capsys,
        "report",
        str(EXAMPLES / "xor.nn"),
        "--plot",
        str(tmp_path / "p.svg"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 2 and out == ""
    assert err == (
        "nnlint: error: --plot needs matplotlib, an optional extra: pip install 'nnlint[plot]'\n"
    )
    assert not (tmp_path / "p.svg").exists() and not (tmp_path / "r.html").exists()
    # --html alone needs no matplotlib
    code, _, _ = run(capsys, "report", str(EXAMPLES / "xor.nn"), "--html", str(tmp_path / "r.html"))
    assert code == 0 and re.search(r"<svg", (tmp_path / "r.html").read_text("utf-8"))
