"""The roles an op declares agree with each other and with its own cost formulas.

The graph, the roofline and the rules trust the roles (``is_view``, ``in_place``,
``inference_noop``, ...) instead of op names; these tests keep a role from saying
something the op's ``cost`` contradicts. Every op of the catalog is exercised on
one spec that uses all of them.
"""

from __future__ import annotations

import math

import pytest
from helpers import report_of

from nnlint.ops import CATALOG, OPS, Cost

# One model that uses every op a spec can write (the test below checks it does).
ALL_OPS = """
model all_ops {
    input img: [3, 16, 16]
    input ids: [8]
    input vol: [2, 4, 6, 6]
    c  = img -> conv2d(8, 3, padding=1) -> batchnorm -> relu -> maxpool(2)
         -> avgpool(2, stride=1) -> groupnorm(2) -> instancenorm -> relu6 -> leaky_relu -> elu
         -> adaptive_avgpool(4, 4) -> prelu(8) -> global_avgpool -> flatten
         -> dense(32) -> layernorm -> gelu -> silu -> dropout(0.1) -> identity
    t  = ids -> embedding(100, 32) -> attention(4)
    r  = t -> reshape(32, 8) -> sigmoid
    m  = matmul(t, r) -> log
    u  = t -> tanh
    a  = t -> hardswish -> hardsigmoid -> softplus(2) -> mish -> instancenorm(affine=true)
    s  = add(t, u) -> softmax
    k  = concat(s, t) -> log_softmax
    logits = c -> dense(10)
    w  = img -> conv_transpose2d(4, 2, stride=2) -> upsample(2) -> pixel_shuffle(2)
    v  = t -> conv1d(4, 3, padding=same)
    p  = param(1, 32, init=constant(0.5))
    q  = mul(t, p) -> rmsnorm(eps=1e-6) -> layernorm(bias=false, eps=1e-12)
       -> transpose(0, 1) -> permute(1, 0)
    e  = sub(q, t) -> select(0, 0) -> softmax(axis=0)
    f  = t -> slice(0, 0, 4) -> mean(0)
    g  = t -> sum(1) -> rmsnorm(affine=false) -> layernorm(affine=false)
    l  = t -> lstm(8, layers=2, bidirectional=true, dropout=0.1) -> gru(4)
    x  = t -> moe(4, 2, 16, shared=1)
    z  = vol -> conv3d(4, (1, 3, 3), padding=(0, 1, 1)) -> instancenorm -> maxpool((1, 2, 2))
       -> avgpool(2) -> conv_transpose3d(2, 2, stride=2) -> upsample(2, mode=trilinear)
       -> global_avgpool
}
train { batch = 4
        loss = cross_entropy(logits) }
deploy { batch = 2 }
"""


#: Ops whose biases add to gate pre-activations inside the op (before its sigmoids and
#: tanh), never to the output: no bias axis, nothing after the op can cancel them.
BIAS_INSIDE_GATES = {"lstm", "gru"}


@pytest.fixture(scope="module")
def report():
    return report_of(ALL_OPS)


def test_the_spec_uses_every_op_of_the_catalog(report):
    assert {layer.node.op for layer in report.layers} == set(CATALOG)


def test_declared_roles_agree_with_each_other():
    assert sum(op.is_input for op in CATALOG.values()) == 1
    assert sum(op.is_loss for op in CATALOG.values()) == 1
    for name, op in CATALOG.items():
        assert op.name == name
        assert op.in_chain == (not (op.is_input or op.is_loss)), name
        assert (name in OPS) == op.in_chain, name
        assert op.saturating == (op.max_slope is not None), name
        assert op.init_for in (None, "he", "xavier"), name
        if op.is_view:
            assert op.passes_values and not op.keeps_width, name
        if op.relu_family or op.dead_at_zero:
            assert op.init_for == "he" and op.family == "activation", name
        if op.linear_layer:
            assert op.has_weights and op.multiplies_weights and op.fusion_host, name
        if op.folds_into_linear or op.batch_statistics:
            assert op.is_norm, name
        if op.is_norm:
            assert op.keeps_width, name
        if op.subtracts_mean:
            assert op.is_norm, name
        if op.residual_merge:
            assert op.family == "merge", name
        if op.in_place:
            assert op.keeps_width, name
        if op.is_source:  # a learned tensor: weights and nothing to read
            assert op.has_weights and op.in_chain and op.family != "merge", name


def test_roles_agree_with_each_op_cost(report):
    moved: set[str] = set()
    experts: set[str] = set()
    for layer in report.layers:
        node, op = layer.node, layer.node.kind
        name = node.op
        if op.is_view:
            assert layer.train == Cost() and layer.infer == Cost(), name
        if op.in_place:
            assert layer.train.output_elements == 0, name
        if op.inference_noop:
            assert layer.infer.forward_flops == 0 and layer.infer.output_elements == 0, name
        if op.passes_values or op.keeps_width:
            assert layer.train.params == 0 or op.is_norm or name == "prelu", name
        if op.linear_layer or op.weight_shape(node.opts, node.in_shapes) is not None:
            shape = op.weight_shape(node.opts, node.in_shapes)
            if shape is not None:
                assert layer.train.weight_params == math.prod(shape), name
        if op.fans(node.opts, node.in_shapes) is not None:
            fan_in, fan_out = op.fans(node.opts, node.in_shapes)
            units = op.units(node.opts)
            assert units is not None and fan_in >= 1 and fan_out >= units, name
        if op.score_elements(node.opts, node.in_shapes):
            # the scores are part of what the layer caches for the backward pass
            assert layer.train.cached_elements >= 4 * op.score_elements(
                node.opts, node.in_shapes
            ), name
        if op.is_source:
            assert not node.inputs and layer.train.macs == layer.train.output_elements == 0, name
        if op.moves_data(node.opts, node.in_shapes):
            # a layout copy exists only at inference (the roofline's kernel); as an op it is a
            # view with no cost, and its output has the input's elements
            assert op.is_view and layer.infer == Cost(), name
            assert math.prod(node.shape) == math.prod(node.in_shapes[0]), name
            moved.add(name)
        axis = op.bias_axis(node.opts, node.shape)
        if axis is not None:  # a bias vector, one value per position of that output axis
            assert 0 <= axis < len(node.shape), name
            assert (node.shape[axis],) in op.param_shapes(node.opts, node.in_shapes), name
        elif (
            "bias" in node.opts
            and node.opts["bias"] is True
            and op.has_weights
            and name not in BIAS_INSIDE_GATES
        ):
            raise AssertionError(f"{name} has a bias but no bias_axis")
        x = node.in_shapes[0] if node.in_shapes else ()
        for i in range(len(x)):
            means = op.means_along(node.opts, x, i)
            if op.subtracts_mean:  # between one mean across the axis and one per position
                assert 1 <= means <= x[i] and x[i] % means == 0, (name, i)
            else:
                assert means == 0, name
        count, one = op.routed_experts(node.opts, node.in_shapes)
        if count:  # the routed experts' tensors are among the op's, fewer than all of them
            shapes = list(op.param_shapes(node.opts, node.in_shapes))
            for shape in one * count:
                shapes.remove(shape)
            assert shapes and count * sum(math.prod(s) for s in one) < layer.train.params, name
            experts.add(name)
        else:
            assert one == (), name
        if op.has_weights:
            assert layer.train.weight_params > 0, name
        else:
            assert layer.train.weight_params == 0, name
        assert isinstance(op.text(node.opts), str) and op.text(node.opts), name
    assert moved == {"transpose", "permute"}
    assert experts == {"moe"}


def test_an_op_silent_about_what_it_saves_is_refused_at_registration():
    """Every op states what autograd keeps for its backward pass, checked when the catalog
    is built rather than when an analysis first meets the op."""
    from nnlint.ops.base import CATALOG, Op, register

    class Silent(Op):
        name = "silent_test_op"

        def infer(self, in_shapes, opts):
            return in_shapes[0]

        def cost(self, c):
            raise AssertionError("never costed")

    with pytest.raises(TypeError, match="states neither saved"):
        register(Silent)
    assert "silent_test_op" not in CATALOG
