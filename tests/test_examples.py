"""Every spec in ``examples/`` is checked with its exact expected diagnostics.

Healthy examples (``examples/*.nn``) must be silent. Hazard examples
(``examples/hazards/*.nn``) list what they must produce in comments:

    # expect: NN101@7 "0.25^12 = 5.96e-08" "12 sigmoid layers"

(code@line, then exact substrings of the message). The set of (code, line)
found must equal the set expected — nothing missing, nothing extra.
"""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import EXAMPLES

from nnlint.check import check_text

HEALTHY = sorted(EXAMPLES.glob("*.nn"))
HAZARDS = sorted((EXAMPLES / "hazards").glob("*.nn"))
_EXPECT = re.compile(r"#\s*expect:\s*(?P<code>NN\d{3})@(?P<line>\d+)(?P<rest>.*)$")


def expectations(text: str) -> dict[tuple[str, int], list[str]]:
    found: dict[tuple[str, int], list[str]] = {}
    for line in text.splitlines():
        m = _EXPECT.search(line)
        if m:
            found.setdefault((m["code"], int(m["line"])), []).extend(shlex.split(m["rest"]))
    return found


@pytest.mark.parametrize("path", HEALTHY, ids=lambda p: p.name)
def test_healthy_examples_are_silent(path):
    text = path.read_text(encoding="utf-8")
    assert not expectations(text)
    result = check_text(text, path.name)
    assert [(d.code, d.span.line, d.message) for d in result.diagnostics] == []
    assert result.model is not None


@pytest.mark.parametrize("path", HAZARDS, ids=lambda p: p.name)
def test_hazard_examples_show_exactly_their_findings(path):
    text = path.read_text(encoding="utf-8")
    expected = expectations(text)
    assert expected, f"{path.name} lists no `# expect:` lines"
    result = check_text(text, path.name)
    found = {(d.code, d.span.line): d for d in result.diagnostics}
    assert set(found) == set(expected), [
        (d.code, d.span.line, d.message) for d in result.diagnostics
    ]
    for key, substrings in expected.items():
        for s in substrings:
            assert s in found[key].message, (key, s, found[key].message)
        assert found[key].fix, key


def test_there_are_hazard_examples_for_each_issue_scenario():
    names = {p.stem for p in HAZARDS}
    for needed in (
        "training_deep_sigmoid",
        "training_fp16_softmax",
        "data_fraud_99_1",
        "fit_7b_adam_24gb",
        "perf_fp32_on_edge_tpu",
        # issue 14's hazards
        "training_adam_weight_decay",
        "training_learning_rate",
        "training_int8_training",
        "training_bias_before_batchnorm",
        "data_params_exceed_samples",
        "data_small_tabular",
        "perf_permute_on_jetson",
    ):
        assert needed in names
