"""``docs/report.schema.json``, the JSON Schema of ``nnlint check --format json``: its
totals generated from nnlint.figures (tests/test_docs.py fails when the file is stale), a
valid draft-7 schema, every report nnlint writes validates — the examples on several
targets, broken files, a missing file, a config error, a baseline, a fix, a training run —
and a report that has drifted (an unknown key, a wrong type, a missing key) does not."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from helpers import EXAMPLES, ROOT
from test_errors_in_one_run import FIVE

from nnlint.cli import main
from nnlint.figures import FIGURES
from nnlint.report_schema import SCHEMA_PATH, schema_text

SCHEMA = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
MODEL = jsonschema.Draft7Validator(
    {"$ref": "#/definitions/model", "definitions": SCHEMA["definitions"]}
)


def _strict(text: str):
    """The document, refusing NaN and Infinity (the report promises finite numbers)."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-finite number {c}"))


def check_json(capsys, *argv: str) -> tuple[int, dict]:
    """``nnlint check --format json ARGV``: the exit code and the report, validated."""
    code = main(["check", "--format", "json", *argv])
    doc = _strict(capsys.readouterr().out)
    problems = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not problems, "\n".join(f"{list(p.absolute_path)}: {p.message}" for p in problems)
    return code, doc


def errors_of(doc) -> list[str]:
    """Why ``doc`` does not validate (empty when it does)."""
    return [e.message for e in VALIDATOR.iter_errors(doc)]


# ----------------------------------------------------------------------- the file itself


def test_the_schema_is_a_valid_draft_7_schema_like_the_other_two():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    for other in ("plan", "targets"):
        doc = json.loads((ROOT / "docs" / f"{other}.schema.json").read_text(encoding="utf-8"))
        assert doc["$schema"] == SCHEMA["$schema"]


def test_totals_are_the_json_figures_in_declaration_order():
    totals = SCHEMA["definitions"]["totals"]
    assert list(totals["properties"]) == [f.name for f in FIGURES.values() if f.in_json]
    assert totals["additionalProperties"] is False
    # the always-present figures are required; those of a target or of the run are not
    assert "params" in totals["required"] and "train_precision" in totals["required"]
    assert "latency_s" not in totals["required"] and "train_steps" not in totals["required"]
    serving = SCHEMA["definitions"]["serving"]["properties"]
    assert [f.name for f in FIGURES.values() if f.needs == "serving"] == list(serving)[:5]
    assert "overhead_s" not in totals["properties"] and "overhead_s" not in serving


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("params", "integer"),  # a count
        ("train_memory_bytes", "integer"),  # bytes
        ("train_precision", "string"),  # text
        ("train_utilization", "number"),  # a fraction
        ("latency_s", ["number", "null"]),  # seconds, null without a peak
        ("ridge_point", ["number", "null"]),
        ("train_time_s", ["number", "null"]),
        ("train_energy_j", ["number", "null"]),
    ],
)
def test_a_figure_has_the_json_type_of_its_unit(name, kind):
    assert SCHEMA["definitions"]["totals"]["properties"][name]["type"] == kind


def test_serving_figures_are_typed_by_their_unit_too():
    serving = SCHEMA["definitions"]["serving"]["properties"]
    assert serving["kv_cache_bytes"]["type"] == "integer"
    assert serving["tokens_per_s"]["type"] == ["number", "null"]  # a rate, not a count
    assert serving["decode_latency_s"]["type"] == ["number", "null"]


def test_a_new_figure_reaches_the_schema_and_makes_the_file_stale():
    from nnlint.figures import Figure, declare, undeclare

    declare(Figure("test_widgets", "count", "widgets", "A test's throwaway figure."))
    try:
        text = schema_text()
        generated = json.loads(text)["definitions"]["totals"]
        assert generated["properties"]["test_widgets"]["type"] == "integer"
        assert "test_widgets" in generated["required"]
        assert text != (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    finally:
        undeclare("test_widgets")
    assert schema_text() == (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")


def test_python_m_nnlint_docs_writes_the_schema(tmp_path, monkeypatch, capsys):
    from nnlint.docs import main as docs_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    assert docs_main([SCHEMA_PATH]) == 0
    assert capsys.readouterr().out == f"updated {SCHEMA_PATH}\n"
    assert (tmp_path / SCHEMA_PATH).read_text(encoding="utf-8") == schema_text()
    assert docs_main([SCHEMA_PATH]) == 0  # current: nothing to write
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------- every report validates


@pytest.mark.parametrize("target", [None, "edge-tpu", "x86-cpu", "h100-sxm"])
def test_the_examples_report_validates_on_every_kind_of_target(capsys, target):
    argv = ["examples", "--isolated", *(["--target", target] if target else [])]
    code, doc = check_json(capsys, *argv)
    assert code == 1 and not doc.get("errors")
    paths = {m["path"] for m in doc["models"]}
    assert len(paths) == len(list(EXAMPLES.rglob("*.nn")))  # every example is analysed
    assert any(p.startswith("examples/hazards/") for p in paths)
    assert "examples/training/llama_7b_zero3.nn" in paths


def test_the_examples_cover_every_figure_and_its_null(capsys, tmp_path):
    """Across the example runs every totals key and serving figure occurs, and every
    nullable one occurs both as a number and as null: the schema's types are exercised.
    A training run without any target joins them (every example run has one)."""
    spec = tmp_path / "run.nn"
    spec.write_text(TRAINING_RUN.split("    target    = TRAIN")[0] + "}\n", "utf-8")
    runs = [["examples", "--target", t] for t in ("edge-tpu", "x86-cpu", "h100-sxm")]
    seen: dict[str, set[type]] = {}
    for argv in [*runs, [str(spec)]]:
        _, doc = check_json(capsys, *argv, "--isolated")
        for model in doc["models"]:
            for key, value in [*model["totals"].items(), *model.get("serving", {}).items()]:
                seen.setdefault(key, set()).add(type(value))
    figures = [f for f in FIGURES.values() if f.in_json or f.needs == "serving"]
    assert {f.name for f in figures} <= set(seen)
    for f in figures:
        assert (type(None) in seen[f.name]) == f.nullable, f.name
    assert seen["tokens_per_s"] == {float, type(None)}
    assert seen["params"] == {int}


def test_a_file_with_syntax_errors_validates(tmp_path, capsys):
    spec = tmp_path / "broken.nn"
    spec.write_text("model m {\n    input x: [4]\n    y = x -> dense(2 ->\n}\n", encoding="utf-8")
    code, doc = check_json(capsys, str(spec), "--isolated")
    assert code == 1 and doc["models"] == []
    assert doc["diagnostics"][0]["code"] == "NN001"


def test_a_file_with_every_kind_of_error_validates(tmp_path, capsys):
    """The errors-in-one-run spec: syntax errors, an error inside a block (with its
    `related` call), an unknown op and a bad section value."""
    spec = tmp_path / "five.nn"
    spec.write_text(FIVE, encoding="utf-8")
    code, doc = check_json(capsys, str(spec), "--isolated")
    assert code == 1 and len(doc["diagnostics"]) == 5
    assert doc["diagnostics"][0]["related"]


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00binary\x00", b"# no model here\n", b"model m {\n" * 60],
    ids=["empty", "not-utf8", "no-model", "unclosed"],
)
def test_odd_files_validate(tmp_path, capsys, content):
    spec = tmp_path / "odd.nn"
    spec.write_bytes(content)
    check_json(capsys, str(spec), "--isolated")


def test_a_missing_file_validates(tmp_path, capsys):
    code, doc = check_json(capsys, str(tmp_path / "missing.nn"), "--isolated")
    assert code == 2 and len(doc["errors"]) == 1
    assert doc["summary"] == {"files": 0, "errors": 0, "warnings": 0, "notes": 0}


def test_a_config_error_run_validates(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nnlint.toml").write_text("exclude = 5\n", encoding="utf-8")
    shutil.copy(EXAMPLES / "xor.nn", tmp_path / "xor.nn")
    code, doc = check_json(capsys, ".")
    assert code == 2
    assert doc["errors"] == ["nnlint.toml: exclude: must be a list of strings, got int 5"]
    assert "fixes" not in doc  # the run stopped before any file


def test_a_fix_and_a_baseline_validate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("training_log_of_softmax.nn", "training_adam_weight_decay.nn"):
        shutil.copy(EXAMPLES / "hazards" / name, tmp_path / name)
    code, doc = check_json(capsys, ".", "--isolated")
    assert any(d["autofix"] for d in doc["diagnostics"])
    assert main(["check", ".", "--isolated", "--write-baseline", "base.json"]) == 0
    capsys.readouterr()
    code, doc = check_json(capsys, ".", "--isolated", "--fix", "--baseline", "base.json")
    assert code == 0 and doc["fixes"]["fixed"] >= 1
    (baseline,) = doc["baseline"]
    assert baseline["stale"]  # the fixed findings are gone from the baseline's files


TRAINING_RUN = """\
model m {
    input x: [784]
    h = x -> dense(256) -> relu
    y = h -> dense(10)
}
train {
    batch     = 32
    loss      = cross_entropy(y)
    optimizer = adam
    samples   = 60000
    epochs    = 10
    gpus      = 2
    sharding  = zero2
    target    = TRAIN
}
deploy {
    target = DEPLOY
}
"""


@pytest.mark.parametrize(("train", "deploy"), [("a100-80gb", "t4"), ("edge-tpu", "edge-tpu")])
def test_a_training_run_and_a_train_section_validate(tmp_path, capsys, train, deploy):
    spec = tmp_path / "run.nn"
    spec.write_text(TRAINING_RUN.replace("TRAIN", train).replace("DEPLOY", deploy), "utf-8")
    _, doc = check_json(capsys, str(spec), "--isolated")
    (model,) = doc["models"]
    assert model["training"]["sharding"] == "zero2"
    assert model["totals"]["train_steps"] == 10 * -(-60000 // 64)
    assert (model["totals"]["train_time_s"] is None) == (train == "edge-tpu")


def test_a_training_run_without_any_target_validates(tmp_path, capsys):
    """No train.target, deploy.target nor --target: the run's steps and FLOPs are
    known, its target (and so its time and energy) is null."""
    spec = tmp_path / "run.nn"
    text = TRAINING_RUN.replace("    target    = TRAIN\n", "").replace("DEPLOY", "")
    spec.write_text(text.replace("deploy {\n    target = \n}\n", ""), "utf-8")
    _, doc = check_json(capsys, str(spec), "--isolated")
    (model,) = doc["models"]
    assert model["target"] is None and model["totals"]["train_steps"] == 10 * -(-60000 // 64)
    assert model["totals"]["train_target"] is None
    assert model["totals"]["train_time_s"] is None and model["totals"]["train_energy_j"] is None


def test_report_json_is_a_models_entry(capsys):
    for spec in ("examples/training/llama_7b_zero3.nn", "examples/mnist_mlp.nn"):
        assert main(["report", str(ROOT / spec), "--format", "json", "--isolated"]) == 0
        MODEL.validate(_strict(capsys.readouterr().out))


# ----------------------------------------------------------- a drifted report does not


@pytest.fixture(scope="module")
def report() -> dict:
    """A report with a model on a target, one with a training run and serving, findings
    with an autofix and related places."""
    from nnlint.check import check_text
    from nnlint.emit import render
    from nnlint.rules import all_meta

    specs = {
        "llama.nn": (EXAMPLES / "training" / "llama_7b_zero3.nn").read_text(encoding="utf-8"),
        "run.nn": TRAINING_RUN.replace("TRAIN", "a100-80gb").replace("DEPLOY", "t4"),
        "five.nn": FIVE,
        "fix.nn": (EXAMPLES / "hazards" / "training_log_of_softmax.nn").read_text("utf-8"),
    }
    results = [check_text(text, name) for name, text in specs.items()]
    doc = json.loads(render("json", results, all_meta()))
    assert not errors_of(doc)
    return doc


def _models(doc) -> dict[str, dict]:
    return {m["path"]: m for m in doc["models"]}


MUTATIONS = {
    "an unknown key in totals": lambda d: _models(d)["run.nn"]["totals"].update(widgets=3),
    "a string where an integer is": lambda d: _models(d)["run.nn"]["totals"].update(params="1,000"),
    "a float count": lambda d: _models(d)["run.nn"]["totals"].update(macs=1.5),
    "null in a figure that cannot be null": lambda d: _models(d)["run.nn"]["totals"].update(
        train_memory_bytes=None
    ),
    "a non-finite time as a string": lambda d: _models(d)["run.nn"]["totals"].update(
        latency_s="inf"
    ),
    "a missing required figure": lambda d: _models(d)["run.nn"]["totals"].pop("params"),
    "a target figure without a target": lambda d: _models(d)["run.nn"].update(target=None),
    "no target figure with a target": lambda d: _models(d)["run.nn"]["totals"].pop("latency_s"),
    "half a training run": lambda d: _models(d)["run.nn"]["totals"].pop("train_steps"),
    "an unknown key in a layer": lambda d: _models(d)["run.nn"]["layers"][0].update(x=1),
    "half a layer's roofline": lambda d: _models(d)["run.nn"]["layers"][1].pop("bound"),
    "a missing serving key": lambda d: _models(d)["llama.nn"]["serving"].pop("context"),
    "an unknown sharding": lambda d: _models(d)["llama.nn"]["training"].update(sharding="zero4"),
    "a missing summary count": lambda d: d["summary"].pop("notes"),
    "an unknown top-level key": lambda d: d.update(extras=[]),
    "no version": lambda d: d.pop("version"),
    "another version": lambda d: d.update(version=2),
    "an unknown severity": lambda d: d["diagnostics"][0].update(severity="fatal"),
    "a bad code": lambda d: d["diagnostics"][0].update(code="E501"),
    "a column of 0": lambda d: d["diagnostics"][0].update(column=0),
    "a related place without a line": lambda d: d["diagnostics"][0]["related"][0].pop("line"),
    "an unknown applicability": lambda d: next(x for x in d["diagnostics"] if x["autofix"])[
        "autofix"
    ].update(applicability="maybe"),
    "an autofix without edits": lambda d: next(x for x in d["diagnostics"] if x["autofix"])[
        "autofix"
    ].update(edits=[]),
    "an empty errors list": lambda d: d.update(errors=[]),
    "fixes without fixable": lambda d: d.update(fixes={"fixed": 0}),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_drifted_report_fails_validation(report, mutate):
    doc = copy.deepcopy(report)
    mutate(doc)
    assert doc != report
    assert errors_of(doc)


def test_the_report_fixture_holds_what_the_mutations_change(report):
    models = _models(report)
    assert models["run.nn"]["target"] == "t4" and "train_steps" in models["run.nn"]["totals"]
    assert "bound" in models["run.nn"]["layers"][1]
    assert "serving" in models["llama.nn"] and "training" in models["llama.nn"]
    assert report["diagnostics"][0]["related"]
    assert any(d["autofix"] for d in report["diagnostics"])


def test_emit_and_readme_point_at_the_schema():
    import nnlint.emit

    assert SCHEMA_PATH in nnlint.emit.__doc__
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"({SCHEMA_PATH})" in readme
    assert Path(ROOT / SCHEMA_PATH).is_file()


def test_plan_of_a_spec_with_errors_is_the_check_report(capsys, tmp_path):
    # docs/plan.schema.json's description: a spec with errors is not planned; the
    # output is the check report listing them, and the exit code is 1
    spec = tmp_path / "e.nn"
    spec.write_text("model m {\n    input x: [4]\n    y = x -> bogus\n}\n", encoding="utf-8")
    code = main(["plan", "--format", "json", "--isolated", str(spec)])
    doc = _strict(capsys.readouterr().out)
    assert code == 1 and errors_of(doc) == []
    assert [d["code"] for d in doc["diagnostics"]] == ["NN004"] and doc["models"] == []
    plan_schema = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))
    assert "docs/report.schema.json" in plan_schema["description"]
