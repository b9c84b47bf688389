"""No op without an oracle: random specs from the op catalog against PyTorch, exactly.

``tests/oracle.py`` draws a valid spec and builds the same network in plain PyTorch
(see its docstring for what is compared and the counting conventions). For every
drawn spec:

* every named tensor has the shape PyTorch gives it;
* ``params`` equals ``sum(p.numel() for p in model.parameters())``;
* per-sample ``macs`` equal ``FlopCounterMode`` forward FLOPs / 2;
* per-sample ``backward_macs`` equal ``FlopCounterMode`` backward FLOPs / 2, the model
  input requiring grad (so PyTorch computes the first layer's input gradient too, as
  nnlint counts it), less the grouped-convolution overcount of pytorch#183405.

One test per catalog op draws specs in which that op appears (so an op the generator
cannot place fails), one test mixes every op; ``scripts/oracle_long.py`` runs many
more. A catalog op without a generator entry fails :func:`test_every_op_has_a_generator`.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import report_of  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from oracle import TORCH_BUILDERS, measure, specs  # noqa: E402

from nnlint.ops import OPS  # noqa: E402

#: Specs per op in the per-op test, and in the mixed test (CI: ≥ 300 in all).
PER_OP_EXAMPLES = 10
MIXED_EXAMPLES = 300

ORACLE_SETTINGS = dict(
    deadline=None,
    database=None,  # nothing written into the repository
    derandomize=True,  # the same specs on every run: a failure reproduces
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def check_against_torch(g) -> None:
    """The oracle's comparison, shared with ``scripts/oracle_long.py``."""
    report = report_of(g.text)
    counts = measure(g)
    lowered = report.lowered
    nn_shapes = {name: lowered.node(node_id).shape for name, node_id in lowered.tensors.items()}
    assert nn_shapes == counts["shapes"], g.text
    t = report.totals
    assert t.params == counts["params"], g.text
    assert t.macs == counts["macs"], g.text
    assert t.backward_macs == counts["backward_macs"], g.text


def test_every_op_has_a_generator():
    """A new op is not done until the generator can emit it."""
    missing = sorted(set(OPS) - set(TORCH_BUILDERS))
    assert not missing, f"ops without a generator entry in tests/oracle.py: {missing}"
    stale = sorted(set(TORCH_BUILDERS) - set(OPS))
    assert not stale, f"generator entries for ops the catalog does not have: {stale}"


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("op", sorted(TORCH_BUILDERS))
@settings(max_examples=PER_OP_EXAMPLES, **ORACLE_SETTINGS)
@given(data=st.data())
def test_each_op_against_torch(op, data):
    g = data.draw(specs(max_steps=4, focus=op))
    assume(op in g.ops)
    check_against_torch(g)


@settings(max_examples=MIXED_EXAMPLES, **ORACLE_SETTINGS)
@given(g=specs(max_steps=6))
def test_mixed_specs_against_torch(g):
    check_against_torch(g)
