"""`nnlint plan`: every target ranked, the exact memory boundary, the computed changes
(each applied to the spec text and checked again), the JSON schema, user-added targets
and the exit codes."""

from __future__ import annotations

import json
import re

import attrs
import jsonschema
import pytest
from helpers import ROOT

from nnlint.check import analyse_text
from nnlint.cli import main
from nnlint.target_ranking import plan_target, plan_targets
from nnlint.targets import builtin_targets

SCHEMA = json.loads((ROOT / "docs" / "plan.schema.json").read_text(encoding="utf-8"))

CNN = """
model cnn {
    input img: [3, 224, 224]
    h      = img -> conv2d(64, 3, padding=1) -> batchnorm -> relu
    h2     = h -> conv2d(64, 3, padding=1) -> batchnorm -> relu
    logits = h2 -> global_avgpool -> flatten -> dense(10)
}
train {
    batch     = 256
    optimizer = adam
}
deploy {
    batch     = 4096
    precision = fp16
}
"""


def _report(text: str):
    analysis, diagnostics = analyse_text(text)
    assert analysis is not None and not diagnostics, diagnostics
    return analysis.report


def _spec(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def _apply(text: str, change) -> str:
    """``text`` with the change's settings written into their sections."""
    for section, key, value in change.settings:
        head = re.search(rf"^{section} \{{\n", text, re.M)
        if head is None:
            text += f"\n{section} {{\n    {key} = {value}\n}}\n"
            continue
        end = text.index("\n}", head.end())
        body = text[head.end() : end]
        line = re.compile(rf"^(\s*){key}\s*=[^\n#]*", re.M)
        if line.search(body):
            body = line.sub(rf"\g<1>{key} = {value}", body, count=1)
        else:
            body = f"    {key} = {value}\n" + body
        text = text[: head.end()] + body + text[end:]
    return text


def test_every_builtin_target_is_ranked_best_first():
    report = _report(_spec("examples/training/llama_7b_zero3.nn"))
    plans = plan_targets(report, builtin_targets().values())
    assert sorted(p.target.id for p in plans) == sorted(builtin_targets())
    keys = [(*p.rank_key(), p.target.id) for p in plans]
    assert keys == sorted(keys)
    # serving and training first, then serving only, then neither; the fastest first
    groups = [(not p.serving.fits, not (p.training and p.training.fits)) for p in plans]
    assert groups == sorted(groups)
    both = [p for p in plans if p.serving.fits and p.training and p.training.fits]
    assert [p.target.id for p in both] == [
        "h100-sxm",
        "h100-pcie",
        "a100-80gb",
        "a100-40gb",
        "jetson-agx-orin",
    ]
    assert [p.latency_s for p in both] == sorted(p.latency_s for p in both)
    # every figure is the one `check --target` reads: latency_s, and power x latency
    from nnlint.roofline import roofline

    h100 = both[0]
    assert h100.latency_s == roofline(report, h100.target).time_s
    assert h100.energy_j == h100.target.power_w * h100.latency_s
    assert h100.throughput == 1 / h100.latency_s


@pytest.mark.parametrize("use", ["training", "serving"])
def test_fit_flips_at_the_exact_memory_boundary(use):
    report = _report(CNN.replace("4096", "1"))
    base = builtin_targets()["a100-80gb"]
    need = getattr(plan_target(report, base), use).need_bytes
    at = plan_target(report, attrs.evolve(base, memory_bytes=need))
    below = plan_target(report, attrs.evolve(base, memory_bytes=need - 1))
    assert getattr(at, use).fits and getattr(at, use).headroom_bytes == 0
    assert not getattr(below, use).fits and getattr(below, use).headroom_bytes == -1


def test_the_training_figure_is_nn301s():
    """Single-device specs: train_memory_bytes; specs naming how they train: per GPU."""
    cnn = _report(CNN)
    llama = _report(_spec("examples/training/llama_7b_zero3.nn"))
    a100 = builtin_targets()["a100-80gb"]
    assert plan_target(cnn, a100).training.need_bytes == cnn.totals.train_memory_bytes
    from nnlint.plan import training_plan

    assert plan_target(llama, a100).training.need_bytes == training_plan(llama, a100).total_bytes


CHANGED = [
    "examples/training/llama_7b_zero3.nn",
    "examples/hazards/fit_7b_adam_24gb.nn",
    "examples/resnet50.nn",
    "examples/tiny_gpt.nn",
    "cnn",
]


@pytest.mark.parametrize("spec", CHANGED)
def test_every_computed_change_fits_when_written_into_the_spec(spec):
    text = CNN if spec == "cnn" else _spec(spec)
    report = _report(text)
    checked = 0
    for plan in plan_targets(report, builtin_targets().values()):
        for use in ("training", "serving"):
            fit = getattr(plan, use)
            if fit is None or fit.fits:
                continue
            for change in fit.changes:
                again = plan_target(_report(_apply(text, change)), plan.target)
                assert getattr(again, use).fits, (plan.target.id, use, str(change))
                checked += 1
    assert checked >= (0 if "adam_24gb" in spec else 1)


def test_the_changes_named_for_a_cnn_on_a_small_board():
    report = _report(CNN)
    nano = plan_target(report, builtin_targets()["jetson-orin-nano"])
    assert not nano.training.fits
    # NN301's figure: the largest training batch that fits is 153 (its doc page's example)
    assert nano.training.changes[0].settings == (("train", "batch", 153),)
    assert not nano.serving.fits
    batch = [c for c in nano.serving.changes if c.settings[0][1] == "batch"]
    assert batch and batch[0].settings[0][2] >= 1
    # one more sample does not fit: the batch named is the largest
    over = _apply(
        CNN, attrs.evolve(batch[0], settings=(("deploy", "batch", batch[0].settings[0][2] + 1),))
    )
    assert not plan_target(_report(over), nano.target).serving.fits


def test_a_precision_the_target_lacks_is_a_change_to_one_it_has():
    report = _report(_spec("examples/resnet50.nn"))
    tpu = plan_target(report, builtin_targets()["edge-tpu"])
    assert not tpu.serving.fits and tpu.latency_s is None and tpu.energy_j is None
    assert tpu.serving.why == "no fp16 arithmetic"
    assert [c.text for c in tpu.serving.changes] == ["precision = int8"]


def test_a_lacking_precision_tries_the_wider_ones_first():
    # Llama 2 7B served in bf16: x86-cpu has no bf16, and its weights in fp32 (26.95 GB)
    # fit its 32 GB: fp32 keeps every value, so it is named before int8
    text = _spec("examples/llama2_7b.nn")
    report = _report(text)
    cpu = plan_target(report, builtin_targets()["x86-cpu"])
    assert cpu.serving.why == "no bf16 arithmetic"
    (change,) = cpu.serving.changes
    assert str(change) == "precision = fp32 (the nearest wider that fits)"
    assert plan_target(_report(_apply(text, change)), cpu.target).serving.fits
    # a precision of the same width comes first: the t4 runs fp16, not bf16
    t4 = plan_target(report, builtin_targets()["t4"])
    assert [str(c) for c in t4.serving.changes if "precision" in c.text] == [
        "precision = fp16 (as wide, and it fits)"
    ]
    # on a board that runs bf16 but lacks the room, the widest narrower one that fits:
    # 7B in bf16 is over the 8 GB jetson-orin-nano, int8 (6.74 GB of weights) fits
    nano = plan_target(report, builtin_targets()["jetson-orin-nano"])
    assert [str(c) for c in nano.serving.changes if "precision" in c.text] == [
        "precision = int8 (the widest that fits)"
    ]


def test_json_follows_the_documented_schema(capsys):
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft7Validator(SCHEMA)
    for spec in ("examples/training/llama_7b_zero3.nn", "examples/mnist_mlp.nn"):
        assert main(["plan", str(ROOT / spec), "--format", "json", "--isolated"]) == 0
        doc = json.loads(capsys.readouterr().out)
        validator.validate(doc)
        assert [t["rank"] for t in doc["targets"]] == list(range(1, 14))
    changes = [c for t in doc["targets"] for c in t["serving"]["changes"]]
    assert all(c["set"] for c in changes)


def test_the_text_table_fits_one_screen(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    for spec in ("examples/training/llama_7b_zero3.nn", "examples/mnist_mlp.nn"):
        assert main(["plan", str(ROOT / spec), "--isolated"]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 100
        assert len([ln for ln in lines if re.match(r"\s*\d+  ", ln)]) == 13
        assert len(lines) <= 50


def test_a_user_added_target_is_ranked_too(tmp_path, capsys):
    board = (ROOT / "rules" / "targets" / "jetson-orin-nano.toml").read_text(encoding="utf-8")
    board = re.sub(r"(?m)^id\s*=.*$", 'id = "my-board"', board)
    board = re.sub(r"(?m)^memory_bytes\s*=.*$", "memory_bytes = 123_000_000_000", board)
    (tmp_path / "my-board.toml").write_text(board, encoding="utf-8")
    (tmp_path / "nnlint.toml").write_text('targets = ["my-board.toml"]\n', encoding="utf-8")
    spec = tmp_path / "model.nn"
    spec.write_text(_spec("examples/mnist_mlp.nn"), encoding="utf-8")
    assert main(["plan", str(spec), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ids = [t["target"] for t in doc["targets"]]
    assert len(ids) == 14 and "my-board" in ids
    mine = next(t for t in doc["targets"] if t["target"] == "my-board")
    assert mine["memory_bytes"] == 123_000_000_000 and mine["serving"]["fits"]
    assert main(["plan", str(spec)]) == 0
    assert "my-board" in capsys.readouterr().out


def test_exit_codes(tmp_path, capsys):
    bad = tmp_path / "bad.nn"
    bad.write_text("model m {\n    input x: [4]\n    y = x -> dense(\n}\n", encoding="utf-8")
    assert main(["plan", str(bad), "--isolated"]) == 1
    plan_out = capsys.readouterr().out
    assert main(["check", str(bad), "--isolated"]) == 1
    assert "NN001" in plan_out and plan_out == capsys.readouterr().out
    assert main(["plan", str(ROOT / "examples/mnist_mlp.nn"), "--isolated", "--require-fit"]) == 0
    # a model no target can hold: --require-fit exits 1, without it 0
    huge = tmp_path / "huge.nn"
    huge.write_text(
        "model huge {\n    input x: [65536]\n    y = x -> dense(65536) -> dense(65536)"
        " -> dense(65536) -> dense(65536) -> dense(65536)\n}\n"
        "deploy {\n    precision = fp32\n}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["plan", str(huge), "--isolated"]) == 0
    assert main(["plan", str(huge), "--isolated", "--require-fit"]) == 1


def test_unified_memory_is_marked_with_a_note_and_in_the_json(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    spec = str(ROOT / "examples" / "training" / "llama_7b_zero3.nn")
    assert main(["plan", spec, "--isolated"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if re.match(r"\s*\d+  ", line)}
    for target in builtin_targets().values():
        memory = rows[target.id].split()[2:4]
        assert memory[1].endswith("*") == target.unified_memory, rows[target.id]
    assert rows["jetson-orin-nano"].split()[2:4] == ["8", "GB*"]
    assert rows["h100-sxm"].split()[2:4] == ["80", "GB"]
    note = " ".join(out.split("* unified memory", 1)[1].split("\n\n")[0].split())
    assert note.startswith(", shared with the host CPU and its OS or firmware: less than all")
    assert main(["plan", spec, "--isolated", "--format", "json"]) == 0
    kinds = {t["target"]: t["memory_kind"] for t in json.loads(capsys.readouterr().out)["targets"]}
    assert kinds["jetson-orin-nano"] == kinds["rpi5"] == kinds["cortex-m7"] == "unified"
    assert kinds["h100-sxm"] == kinds["t4"] == "discrete"


def test_no_unified_note_without_a_unified_target(tmp_path, capsys):
    board = _spec("rules/targets/t4.toml").replace('id = "t4"', 'id = "my-card"')
    (tmp_path / "t4.toml").write_text(board, encoding="utf-8")
    from nnlint.tables import plan_text
    from nnlint.targets import load_target_file

    report = _report(_spec("examples/mnist_mlp.nn"))
    plans = plan_targets(report, [load_target_file(tmp_path / "t4.toml")])
    text = plan_text("m.nn", report, plans)
    assert "unified" not in text and "*" not in text
    nano = plan_targets(report, [builtin_targets()["jetson-orin-nano"]])
    assert "* unified memory" in plan_text("m.nn", report, nano)


def test_training_changes_name_the_devices_of_the_target():
    report = _report(_spec("examples/llama2_7b.nn"))
    plans = {p.target.id: p for p in plan_targets(report, builtin_targets().values())}
    cpu = [str(c) for c in plans["x86-cpu"].training.changes]
    assert cpu == ["sharding = zero3, gpus = 10 (the fewest CPUs that fit, with ZeRO stage 3)"]
    gpu = [str(c) for c in plans["h100-sxm"].training.changes]
    assert gpu == ["sharding = zero3, gpus = 2 (the fewest GPUs that fit, with ZeRO stage 3)"]


def test_the_table_says_fits_with_the_room_left_and_over_by_what_is_missing(capsys):
    assert main(["plan", str(ROOT / "examples/llama2_7b.nn"), "--isolated"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.split()[1:2] == ["h100-sxm"]]
    # training Llama 2 7B in 80 GB is 45 GiB short; serving it leaves 60 GiB
    assert "over 45 GiB" in row and "fits +60 GiB" in row and "-" not in row.split("GB")[1]
    assert "fits with the memory left (+), or over by the memory missing" in " ".join(out.split())
