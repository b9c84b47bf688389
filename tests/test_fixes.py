"""``nnlint check --fix``: every fix, applied alone, removes its finding and changes no
figure it should not; the command line writes safely (atomically, regular files only,
mode kept, never a spec that does not parse) and reports what it fixed."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from pathlib import Path

import pytest
from helpers import run_cli as run

from nnlint import fixes
from nnlint.check import check_text
from nnlint.diagnostics import Edit, Fix, Span
from nnlint.emit import render
from nnlint.fixes import apply_fixes
from nnlint.rules import FATAL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.nn"))

_HEAD = "model m {\n    input x: [16]\n    logits = x -> dense(4)\n"


def spec(body: str, tail: str = "") -> str:
    return _HEAD + body + "}\n" + tail


# (name, spec, code, applicability or None when no fix is certain, expected text after)
CASES = [
    (
        "log-softmax-one-chain",
        spec("    logp = logits -> softmax -> log\n"),
        "NN103",
        "safe",
        "    logp = logits -> log_softmax\n",
    ),
    (
        "log-softmax-continued-line",
        spec("    logp = logits -> softmax\n        -> log -> relu\n"),
        "NN103",
        "safe",
        "    logp = logits -> log_softmax -> relu\n",
    ),
    (
        "log-softmax-two-statements",
        spec("    probs = logits -> softmax\n    logp = probs -> log\n"),
        "NN103",
        "safe",
        "    logp = logits -> log_softmax\n",
    ),
    (
        "log-softmax-in-a-block",
        "block head(n) {\n    input h\n    y = h -> dense(n) -> softmax -> log\n}\n"
        "model m {\n    input x: [16]\n    a = x -> head(4)\n    b = x -> head(4)\n}\n",
        "NN103",
        "safe",
        "    y = h -> dense(n) -> log_softmax\n",
    ),
    (
        "log-softmax-option-kept",
        spec("    logp = logits -> softmax(precision=fp16) -> log\n"),
        "NN103",
        None,
        None,
    ),
    (
        "log-softmax-comment-between",
        spec("    logp = logits -> softmax  # probabilities\n        -> log\n"),
        "NN103",
        None,
        None,
    ),
    (
        "log-softmax-unnamed-input",
        spec("    probs = logits -> relu -> softmax\n    logp = probs -> log\n"),
        "NN103",
        None,
        None,
    ),
    (
        "double-softmax-one-chain",
        spec("    p = logits -> softmax -> softmax\n"),
        "NN104",
        "unsafe",
        "    p = logits -> softmax\n",
    ),
    (
        "softmax-then-log-softmax-one-chain",
        spec("    p = logits -> softmax -> log_softmax\n"),
        "NN104",
        "unsafe",
        "    p = logits -> log_softmax\n",
    ),
    (
        "double-softmax-two-statements",
        spec("    p = logits -> softmax\n    q = p -> softmax\n"),
        "NN104",
        "unsafe",
        "    q = p -> identity\n",
    ),
    (
        "double-softmax-two-statements-more-layers",
        spec("    p = logits -> softmax\n    q = p -> softmax -> dense(2)\n"),
        "NN104",
        "unsafe",
        "    q = p -> dense(2)\n",
    ),
    (
        "log-softmax-of-probabilities",
        spec("    p = logits -> softmax\n    q = p -> log_softmax\n"),
        "NN104",
        "unsafe",
        "    q = logits -> log_softmax\n",
    ),
    (
        "focal-on-softmax",
        spec(
            "    probs = logits -> softmax\n",
            "train {\n    batch = 8\n    loss = focal(probs)\n    optimizer = adam\n}\n",
        ),
        "NN104",
        "unsafe",
        "    loss = focal(logits)\n",
    ),
    (
        "unused-code-of-two",
        spec("    y = logits -> relu  # nnlint: ignore[NN101, nn102]\n"),
        "NN021",
        "safe",
        "    y = logits -> relu  # nnlint: ignore[nn102]\n",
    ),
    (
        "unused-only-code-inline",
        spec("    y = logits -> relu    # nnlint: ignore[NN101] reason\n"),
        "NN021",
        "safe",
        "    y = logits -> relu\n",
    ),
    (
        "unused-file-suppression-own-line",
        spec("    y = logits -> relu\n", "# nnlint: ignore-file[NN401]\n# after\n"),
        "NN021",
        "safe",
        "}\n# after\n",
    ),
    (
        "unused-suppression-last-line-no-newline",
        spec("    y = logits -> relu\n") + "# nnlint: ignore-file[NN999]",
        "NN021",
        "safe",
        None,
    ),
]


def _by_code(text: str, code: str):
    result = check_text(text, "m.nn")
    found = [d for d in result.diagnostics if d.code == code]
    assert found, [d.code for d in result.diagnostics]
    return result, found[0]


@pytest.mark.parametrize("between", ["", " -> identity"])
def test_no_loss_fix_when_the_softmax_reads_a_softmax(between):
    """Found by the generated test: pointing ``focal`` at ``t0`` would still feed it a
    distribution, so the loss finding offers no fix (the double softmax keeps its own)."""
    text = spec(
        f"    t0 = logits -> softmax{between}\n    t1 = t0 -> softmax\n",
        "train {\n    batch = 8\n    loss = focal(t1)\n    optimizer = adam\n}\n",
    )
    findings = [d for d in check_text(text, "m.nn").diagnostics if d.code == "NN104"]
    on_loss = [d for d in findings if d.message.startswith("focal")]
    assert len(findings) == 2 and len(on_loss) == 1
    assert on_loss[0].autofix is None
    assert all(d.autofix is not None for d in findings if d not in on_loss)


def test_no_log_softmax_fix_when_the_softmax_reads_a_softmax():
    """Found by the generated test: ``t2 = t1 -> log`` with ``t1 = t0 -> softmax`` and
    ``t0`` itself a softmax: ``t0 -> log_softmax`` would trade NN103 for another NN104."""
    text = spec("    t0 = logits -> softmax\n    t1 = t0 -> softmax\n    t2 = t1 -> log\n")
    findings = [d for d in check_text(text, "m.nn").diagnostics if d.code == "NN103"]
    assert len(findings) == 1 and findings[0].autofix is None


@pytest.mark.parametrize(
    ("name", "text", "code", "applicability", "after"), CASES, ids=[c[0] for c in CASES]
)
def test_fix_cases(name, text, code, applicability, after):
    result, finding = _by_code(text, code)
    if applicability is None:
        assert finding.autofix is None
        return
    assert finding.autofix is not None and finding.autofix.applicability == applicability
    fixed, applied = apply_fixes(text, [finding.autofix])
    assert applied == 1
    if after is not None:
        assert after in fixed, fixed
    if name == "unused-suppression-last-line-no-newline":
        assert fixed == text[: text.rindex("# nnlint")]
    assert_fix_is_exact(text, fixed, result, finding)


# --------------------------------------------------------------------------- the oracle

ADDITIVE = (
    "params",
    "macs",
    "forward_flops",
    "backward_flops",
    "activation_elements",
    "backward_macs",
)
LAYER_KEYS = (*ADDITIVE, "op", "output_shape", "trainable")
#: Figures no fix here may change (weights, their bytes, the optimizer, the batch).
INVARIANT = (
    "trainable_params",
    "frozen_params",
    "buffers",
    "param_bytes",
    "grad_bytes",
    "optimizer_bytes",
    "buffer_bytes",
    "optimizer_flops",
    "inference_param_bytes",
    "loss_backward_flops",
    "train_batch",
    "deploy_batch",
    "train_precision",
    "deploy_precision",
    "optimizer",
)


def _json(text: str) -> dict:
    return json.loads(render("json", [check_text(text, "m.nn")], {}))


def assert_fix_is_exact(before_text: str, after_text: str, before_result, finding) -> None:
    """The fixed spec parses, has every finding it had but this one (by code and layer:
    lines may move), and its figures differ from the original's exactly by the layers
    the edit replaced: every other layer and every weight, byte and batch figure is
    unchanged, and each additive total moves by the sum of the replaced layers."""
    before, after = _json(before_text), _json(after_text)
    assert not any(d["code"] in FATAL for d in after["diagnostics"]), after["diagnostics"]
    codes_before = Counter(d.code for d in before_result.diagnostics)
    codes_before[finding.code] -= 1
    assert Counter(d["code"] for d in after["diagnostics"]) == +codes_before
    if finding.code == "NN111":  # a train-section edit: the optimizer, and nothing else
        _assert_only_the_optimizer_changed(before, after, finding)
        return
    if finding.code == "NN114":  # the wasted biases go, and nothing else
        _assert_only_the_cancelled_biases_went(before_text, before, after, finding)
        return

    (m0,), (m1,) = before["models"], after["models"]
    layers0 = {layer["name"]: layer for layer in m0["layers"]}
    layers1 = {layer["name"]: layer for layer in m1["layers"]}
    common = layers0.keys() & layers1.keys()
    changed0 = [layers0[n] for n in layers0 if n not in common or _differs(layers0[n], layers1[n])]
    changed1 = [layers1[n] for n in layers1 if n not in common or _differs(layers0[n], layers1[n])]
    # Only the layers on the edited lines change (a fix edits one place), and the loss,
    # whose cost depends on the op it reads (log-probabilities or raw logits).
    edited = _statement_lines(
        before_text,
        {line for e in finding.autofix.edits for line in range(e.span.line, e.span.end_line + 1)},
    )
    for x in changed0 + changed1:
        assert x["line"] in edited or x["op"].startswith("loss:"), (x, edited)
        assert x["line"] in edited or x["params"] == 0
    # the findings on untouched layers are the same ones (layer ids in an edited chain are
    # renumbered when a layer goes, so those are compared by code above)
    changed = {x["name"] for x in changed0 + changed1}
    untouched = {n for n in common - changed if layers0[n]["line"] not in edited}
    kept_before = Counter(
        (d.code, d.layer) for d in before_result.diagnostics if d.layer in untouched
    )
    kept_before[(finding.code, finding.layer)] -= 1
    kept_after = Counter(
        (d["code"], d["layer"]) for d in after["diagnostics"] if d["layer"] in untouched
    )
    assert kept_after == +kept_before
    t0, t1 = m0["totals"], m1["totals"]
    for key in ADDITIVE:
        assert t1[key] - t0[key] == sum(x[key] for x in changed1) - sum(x[key] for x in changed0)
    for key in INVARIANT:
        assert t1[key] == t0[key], key
    if finding.code == "NN021":  # a comment: nothing at all may change
        assert m0["totals"] == m1["totals"]
        assert [_strip(x) for x in m0["layers"]] == [_strip(x) for x in m1["layers"]]
    for t in (t0, t1):  # the derived figures stay consistent
        assert t["train_step_flops"] == (
            t["forward_flops"]
            + t["backward_flops"]
            + t["loss_backward_flops"]
            + t["optimizer_flops"]
        )
        assert t["train_memory_bytes"] == (
            t["param_bytes"]
            + t["grad_bytes"]
            + t["optimizer_bytes"]
            + t["buffer_bytes"]
            + t["activation_bytes"]
        )
    if not changed0 and not changed1:
        assert t1 == t0


def _assert_only_the_optimizer_changed(before: dict, after: dict, finding) -> None:
    """NN111's fix swaps the optimizer: every layer is unchanged, the optimizer is the
    suggested one and its step FLOPs are the registry's; the other totals do not move but
    the step total, by the optimizer's difference."""
    from nnlint.optimizers import OPTIMIZERS

    (m0,), (m1,) = before["models"], after["models"]
    assert [_strip(x) for x in m0["layers"]] == [_strip(x) for x in m1["layers"]]
    t0, t1 = m0["totals"], m1["totals"]
    new = finding.data["suggested"]
    assert (t0["optimizer"], t1["optimizer"]) == (finding.data["optimizer"], new)
    step = OPTIMIZERS[new].step_flops(t1["trainable_params"])
    assert t1["optimizer_flops"] == step
    assert t1["train_step_flops"] - t0["train_step_flops"] == step - t0["optimizer_flops"]
    for key in (*ADDITIVE, *INVARIANT):
        if key not in ("optimizer", "optimizer_flops"):
            assert t1[key] == t0[key], key


def _assert_only_the_cancelled_biases_went(before_text, before: dict, after: dict, finding):
    """NN114's fix drops the biases the norm cancels: the layers of the edited line lose
    exactly the finding's wasted parameters (and their bias adds), every other layer and
    every batch, precision and optimizer figure is unchanged."""
    (m0,), (m1,) = before["models"], after["models"]
    wasted = finding.data.get("wasted_params_line", finding.data["wasted_params"])
    layers0 = {x["name"]: x for x in m0["layers"]}
    layers1 = {x["name"]: x for x in m1["layers"]}
    assert layers0.keys() == layers1.keys()
    changed = [n for n in layers0 if _differs(layers0[n], layers1[n])]
    assert changed and all(layers0[n]["line"] == finding.span.line for n in changed)
    assert sum(layers0[n]["params"] - layers1[n]["params"] for n in changed) == wasted
    for n in changed:
        assert layers1[n]["macs"] == layers0[n]["macs"]  # the matrix work is the same
        assert layers1[n]["forward_flops"] < layers0[n]["forward_flops"]  # no bias adds
    t0, t1 = m0["totals"], m1["totals"]
    assert t0["params"] - t1["params"] == t0["trainable_params"] - t1["trainable_params"] == wasted
    for key in ("buffers", "train_batch", "deploy_batch", "optimizer", "macs"):
        assert t1[key] == t0[key], key
    assert t1["train_precision"] == t0["train_precision"]


def _statement_lines(text: str, lines: set[int]) -> set[int]:
    """``lines`` widened to the whole statements (chains over several lines) they touch."""
    from nnlint import ast
    from nnlint.parse import parse

    spec_tree, _ = parse(text)
    out = set(lines)
    for body in [m.body for m in spec_tree.models] + [b.body for b in spec_tree.blocks]:
        for stmt in body:
            span = stmt.span if isinstance(stmt, ast.Assign) else None
            if span and lines & set(range(span.line, span.end_line + 1)):
                out |= set(range(span.line, span.end_line + 1))
    return out


def _differs(a: dict, b: dict) -> bool:
    return any(a[k] != b[k] for k in LAYER_KEYS)


def _strip(layer: dict) -> dict:
    return {k: v for k, v in layer.items() if k != "line"}


def _fixable_examples():
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        result = check_text(text, "m.nn")
        for d in result.diagnostics:
            if d.autofix is not None:
                yield pytest.param(text, result, d, id=f"{path.stem}-{d.code}-{d.span.line}")


@pytest.mark.parametrize(("text", "result", "finding"), list(_fixable_examples()))
def test_every_example_fix_is_exact(text, result, finding):
    fixed, applied = apply_fixes(text, [finding.autofix])
    assert applied == 1 and fixed != text
    assert_fix_is_exact(text, fixed, result, finding)


def test_examples_offer_the_fixes_their_comments_describe():
    fixable = {p.id for p in _fixable_examples()}
    assert any(i.startswith("training_log_of_softmax-NN103") for i in fixable)
    assert any(i.startswith("training_double_softmax-NN104") for i in fixable)
    assert any(i.startswith("training_adam_weight_decay-NN111") for i in fixable)
    assert any(i.startswith("training_bias_before_batchnorm-NN114") for i in fixable)


@pytest.mark.parametrize(
    ("chain", "after"),
    [
        ("conv2d(8, 3) -> batchnorm", "conv2d(8, 3, bias=false) -> batchnorm"),
        ("conv2d(8, 3, bias=true) -> batchnorm", "conv2d(8, 3, bias=false) -> batchnorm"),
        ("flatten -> dense(8, init=he) -> batchnorm", "dense(8, init=he, bias=false) -> batchnorm"),
    ],
)
def test_bias_before_norm_fix_sets_bias_false(chain, after):
    text = (
        "model m {\n    input x: [3, 8, 8]\n"
        f"    h = x -> {chain} -> flatten\n    logits = h -> dense(10)\n}}\n"
        "train {\n    batch = 8\n    loss = cross_entropy(logits)\n}\n"
    )
    result, finding = _by_code(text, "NN114")
    assert finding.autofix.applicability == "safe"
    fixed, applied = apply_fixes(text, [finding.autofix])
    assert applied == 1 and after in fixed
    assert_fix_is_exact(text, fixed, result, finding)


def test_no_bias_fix_when_another_call_of_the_block_keeps_its_bias():
    """A block layer whose output one call normalizes and another does not: dropping the
    line's bias would change the second call, so no fix is offered."""
    text = (
        "block lin(n) {\n    input x\n    out = x -> dense(n)\n}\n"
        "model m {\n    input x: [16]\n    a = x -> lin(8) -> batchnorm\n"
        "    b = x -> lin(8) -> relu\n    logits = add(a, b) -> dense(10)\n}\n"
        "train {\n    batch = 8\n    loss = cross_entropy(logits)\n}\n"
    )
    _, finding = _by_code(text, "NN114")
    assert finding.autofix is None
    repeated = text.replace("x -> lin(8) -> batchnorm", "x -> dense(8) * 2 -> batchnorm")
    _, finding = _by_code(repeated, "NN114")
    assert finding.autofix is None  # `* 2`: the first copy's bias is not cancelled


def test_adam_weight_decay_fix_swaps_the_optimizer_value_only():
    text = spec(
        "",
        "train {\n    batch = 8\n    loss = cross_entropy(logits)\n"
        "    optimizer = adam  # the paper's\n    weight_decay = 1e-4\n}\n",
    )
    result, finding = _by_code(text, "NN111")
    assert finding.autofix.applicability == "unsafe"
    fixed, applied = apply_fixes(text, [finding.autofix])
    assert applied == 1
    assert fixed == text.replace("optimizer = adam  #", "optimizer = adamw  #")
    assert_fix_is_exact(text, fixed, result, finding)
    assert not [d for d in check_text(fixed, "m.nn").diagnostics if d.code == "NN111"]


# --------------------------------------------------------------------------- applying


def test_overlapping_fixes_apply_one_per_pass():
    text = "abcdef\n"
    a = Fix("safe", "a", (Edit(Span(1, 1, 1, 4), "X"),))
    b = Fix("safe", "b", (Edit(Span(1, 3, 1, 6), "Y"),))
    c = Fix("safe", "c", (Edit(Span(1, 6, 1, 7), "Z"),))
    assert apply_fixes(text, [b, a, c]) == ("XdeZ\n", 2)
    assert apply_fixes(text, [a, a]) == ("Xdef\n", 1)  # the same fix found twice counts once


def test_two_unused_codes_converge_over_passes():
    from nnlint.check import Settings
    from nnlint.fixes import fix_text

    text = spec("    y = logits -> relu  # nnlint: ignore[NN101, NN102]\n")
    outcome = fix_text(text, "m.nn", Settings())
    assert outcome.fixed == 2
    assert "    y = logits -> relu\n" in outcome.text
    assert outcome.result.diagnostics == ()


def test_unsafe_fixes_only_when_asked():
    from nnlint.check import Settings
    from nnlint.fixes import fix_text

    text = spec("    p = logits -> softmax -> softmax\n")
    assert fix_text(text, "m.nn", Settings()).fixed == 0
    outcome = fix_text(text, "m.nn", Settings(), unsafe=True)
    assert outcome.fixed == 1 and outcome.result.diagnostics == ()


def test_json_and_sarif_carry_the_fix():
    text = spec("    logp = logits -> softmax -> log\n")
    result = check_text(text, "m.nn")
    (entry,) = json.loads(render("json", [result], {}))["diagnostics"]
    assert entry["autofix"] == {
        "applicability": "safe",
        "description": "replace `softmax -> log` with `log_softmax`",
        "edits": [
            {"line": 4, "column": 22, "end_line": 4, "end_column": 36, "content": "log_softmax"}
        ],
    }
    (sarif_result,) = json.loads(render("sarif", [result], {}))["runs"][0]["results"]
    (fix,) = sarif_result["fixes"]
    assert fix["properties"] == {"applicability": "safe"}
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "m.nn", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"] == [
        {
            "deletedRegion": {"startLine": 4, "startColumn": 22, "endLine": 4, "endColumn": 36},
            "insertedContent": {"text": "log_softmax"},
        }
    ]
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
    jsonschema.Draft4Validator(schema).validate(json.loads(render("sarif", [result], {})))


# --------------------------------------------------------------------------- command line


SAFE = spec("    logp = logits -> softmax -> log\n")
UNSAFE = spec("    p = logits -> softmax -> softmax\n")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "safe.nn").write_text(SAFE, encoding="utf-8")
    (tmp_path / "unsafe.nn").write_text(UNSAFE, encoding="utf-8")
    os.chmod(tmp_path / "safe.nn", 0o640)
    return tmp_path


def test_check_counts_the_fixable_findings(folder, capsys):
    code, out, _ = run(capsys, "check", ".", "--format", "json")
    assert code == 0
    assert json.loads(out)["fixes"] == {"fixed": 0, "fixable": {"safe": 1, "unsafe": 1}}
    code, out, _ = run(capsys, "check", ".")
    assert out.endswith("Found 0 errors, 2 warnings and 0 notes in 2 files.\n")  # no --fix: as is


def test_fix_writes_safe_fixes_and_keeps_the_mode(folder, capsys):
    code, out, err = run(capsys, "check", ".", "--fix", "--fail-on", "warning")
    assert err == ""
    assert code == 1  # the unsafe finding remains
    assert "Fixed 1 finding; 1 remains." in out
    assert "[*] 1 with --fix --unsafe-fixes" in out
    assert "logp = logits -> log_softmax" in (folder / "safe.nn").read_text("utf-8")
    assert stat.S_IMODE(os.stat(folder / "safe.nn").st_mode) == 0o640
    assert (folder / "unsafe.nn").read_text("utf-8") == UNSAFE
    assert sorted(p.name for p in folder.iterdir()) == ["safe.nn", "unsafe.nn"]  # no temp file

    code, out, _ = run(capsys, "check", ".", "--fix", "--unsafe-fixes", "--fail-on", "note")
    assert code == 0 and "Fixed 1 finding; 0 remain." in out
    assert "All checks passed (2 files)." in out
    assert "p = logits -> softmax\n" in (folder / "unsafe.nn").read_text("utf-8")


def test_diff_writes_nothing(folder, capsys):
    code, out, err = run(capsys, "check", ".", "--diff")
    assert code == 1
    assert out == (
        "--- a/safe.nn\n+++ b/safe.nn\n@@ -1,5 +1,5 @@\n model m {\n     input x: [16]\n"
        "     logits = x -> dense(4)\n-    logp = logits -> softmax -> log\n"
        "+    logp = logits -> log_softmax\n }\n"
    )
    assert err == "Would fix 1 finding.\n"
    assert (folder / "safe.nn").read_text("utf-8") == SAFE
    code, out, err = run(capsys, "check", "unsafe.nn", "--diff")
    assert (code, out, err) == (0, "", "No fixes available.\n")
    code, out, _ = run(capsys, "check", ".", "--diff", "--unsafe-fixes")
    assert code == 1 and "+++ b/unsafe.nn" in out


def test_diff_shows_hidden_characters_as_escapes(folder, capsys):
    # an ESC in a comment of the changed hunk reaches the diff as \x1b, never raw
    (folder / "unsafe.nn").unlink()
    text = SAFE.replace("    logp = ", "    # \x1b[2J cleared\tscreen\n    logp = ")
    (folder / "safe.nn").write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "check", ".", "--diff")
    assert code == 1 and "+    logp = logits -> log_softmax" in out
    assert "\x1b" not in out and "# \\x1b[2J cleared\tscreen" in out
    assert (folder / "safe.nn").read_text("utf-8") == text


def test_diff_from_stdin(folder, capsys, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SAFE.encode())))
    code, out, _ = run(capsys, "check", "-", "--diff")
    assert code == 1 and "+    logp = logits -> log_softmax" in out


def test_fix_json_summary(folder, capsys):
    _, out, _ = run(capsys, "check", ".", "--fix", "--format", "json")
    report = json.loads(out)
    assert report["fixes"] == {"fixed": 1, "fixable": {"safe": 0, "unsafe": 1}}
    assert report["summary"]["warnings"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("-", "--fix"), "--fix cannot write back to stdin"),
        ((".", "--unsafe-fixes"), "--unsafe-fixes needs --fix or --diff"),
        ((".", "--fix", "--write-baseline", "b.json"), "run it alone"),
    ],
)
def test_usage_errors(folder, capsys, argv, message):
    code, _, err = run(capsys, "check", *argv)
    assert code == 2 and message in err


def test_fix_follows_a_symlink_to_a_regular_file(folder, capsys):
    (folder / "link.nn").symlink_to(folder / "safe.nn")
    code, _, err = run(capsys, "check", "link.nn", "--fix")
    assert code == 0 and err == ""
    assert (folder / "link.nn").is_symlink()
    assert "log_softmax" in (folder / "safe.nn").read_text("utf-8")


def test_file_replaced_by_a_fifo_is_not_touched(folder, capsys, monkeypatch):
    real = fixes.fix_text

    def swap(text, path, settings, **kw):
        outcome = real(text, path, settings, **kw)
        os.unlink(folder / "safe.nn")
        os.mkfifo(folder / "safe.nn")
        return outcome

    monkeypatch.setattr(fixes, "fix_text", swap)
    code, _, err = run(capsys, "check", "safe.nn", "--fix")
    assert code == 2 and "safe.nn: not a regular file; not fixed" in err
    assert stat.S_ISFIFO(os.stat(folder / "safe.nn").st_mode)


def test_file_changed_during_the_check_is_not_touched(folder, capsys, monkeypatch):
    real = fixes.fix_text

    def edit(text, path, settings, **kw):
        outcome = real(text, path, settings, **kw)
        (folder / "safe.nn").write_text(SAFE + "# edited\n", encoding="utf-8")
        return outcome

    monkeypatch.setattr(fixes, "fix_text", edit)
    code, _, err = run(capsys, "check", "safe.nn", "--fix")
    assert code == 2 and "changed while it was checked; not fixed" in err
    assert (folder / "safe.nn").read_text("utf-8") == SAFE + "# edited\n"


def test_a_fix_that_would_break_the_spec_writes_nothing(folder, capsys, monkeypatch):
    def broken(ctx, d):
        return Fix("safe", "breaks it", (Edit(d.span, "log_softmax("),))

    monkeypatch.setitem(fixes.FIXERS, "NN103", broken)
    code, _, err = run(capsys, "check", "safe.nn", "--fix")
    assert code == 2
    assert "safe.nn: a fix would make the spec invalid (NN001" in err
    assert "nothing was written" in err
    assert (folder / "safe.nn").read_text("utf-8") == SAFE


def test_spec_that_does_not_parse_is_never_modified(folder, capsys):
    broken = SAFE.replace("dense(4)", "dense(4") + "# nnlint: ignore-file[NN101]\n"
    (folder / "safe.nn").write_text(broken, encoding="utf-8")
    code, _, _ = run(capsys, "check", "safe.nn", "--fix")
    assert code == 1
    assert (folder / "safe.nn").read_text("utf-8") == broken


def test_bom_and_crlf_survive_a_fix(folder, capsys):
    data = b"\xef\xbb\xbf" + SAFE.replace("\n", "\r\n").encode()
    (folder / "safe.nn").write_bytes(data)
    code, _, _ = run(capsys, "check", "safe.nn", "--fix")
    assert code == 0
    assert (folder / "safe.nn").read_bytes() == data.replace(b"softmax -> log", b"log_softmax")


# --------------------------------------------------------------------------- generated specs

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_OPS = ["softmax", "log", "log_softmax", "relu", "identity", "softmax(precision=fp32)", "sigmoid"]
_COMMENTS = ["", "  # nnlint: ignore[NN103]", "  # nnlint: ignore[NN101, NN104]", "  # note"]


@st.composite
def fixable_specs(draw) -> str:
    names = ["logits"]
    lines = []
    for i in range(draw(st.integers(1, 4))):
        source = draw(st.sampled_from(names))
        ops = draw(st.lists(st.sampled_from(_OPS), min_size=1, max_size=4))
        joiner = draw(st.sampled_from([" -> ", "\n        -> "]))
        comment = draw(st.sampled_from(_COMMENTS))
        name = f"t{i}"
        lines.append(f"    {name} = {source} -> {joiner.join(ops)}{comment}\n")
        names.append(name)
    tail = ""
    if draw(st.booleans()):
        loss = draw(st.sampled_from(["focal", "cross_entropy", "nll"]))
        tail = f"train {{\n    batch = 4\n    loss = {loss}({draw(st.sampled_from(names))})\n}}\n"
    if draw(st.booleans()):
        tail += "# nnlint: ignore-file[NN102]\n"
    return spec("".join(lines), tail)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fixable_specs())
def test_every_generated_fix_is_exact(text):
    result = check_text(text, "m.nn")
    if any(d.code in FATAL for d in result.diagnostics):
        return
    for finding in result.diagnostics:
        if finding.autofix is None:
            continue
        fixed, applied = apply_fixes(text, [finding.autofix])
        assert applied == 1 and fixed != text
        assert_fix_is_exact(text, fixed, result, finding)


def test_no_log_softmax_fix_for_a_softmax_of_probabilities_in_one_chain():
    """`softmax -> softmax -> log`: the second softmax reads probabilities, so
    `log_softmax` of them would hide NN104's finding; NN103 offers no rewrite."""
    text = (
        "model m {\n    input x: [16]\n    logits = x -> dense(4)\n"
        "    t = logits -> softmax\n        -> softmax\n        -> log\n}\n"
    )
    (d,) = [d for d in check_text(text, "m.nn").diagnostics if d.code == "NN103"]
    assert d.autofix is None
