"""Saved activations of frozen layers (``trainable=false``) against PyTorch's autograd.

Oracle: the bytes of the tensors autograd saves (``torch.autograd.graph.saved_tensors_hooks``,
once per storage, parameters and buffers aside: :func:`torch_reference.saved_bytes`) for
the same net built in plain ``torch.nn`` with the frozen layer's parameters set to
``requires_grad_(False)``, against nnlint's figure at batch 1 in fp32. Two placements:

* **after** a trainable layer: the frozen op's input needs a gradient. A convolution keeps
  its input (``convolution_backward`` serves every gradient), a dense layer does not
  (``addmm`` keeps ``mat1`` for the weight gradient only), norms and PReLU keep it as when
  trainable, attention keeps Q, K, V and the probabilities but not the projections' inputs;
* **before** every trainable layer (``frozen -> relu -> dense``): nothing upstream needs a
  gradient, so neither the frozen op nor the ReLU after it has an autograd node; only the
  trainable dense layer's input is saved.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import report_of  # noqa: E402
from torch import nn  # noqa: E402
from torch_reference import MoE, Recurrent, SelfAttention, saved_bytes  # noqa: E402

from nnlint.activations import plan_activations  # noqa: E402

#: op id -> (input shape, the frozen op as written, its torch module). The recurrent ops
#: are :class:`torch_reference.Recurrent`, nnlint's oracle for them (explicit products over
#: ``nn.LSTM``'s parameters).
CASES = {
    "conv2d": ([3, 6, 6], "conv2d(4, 3, padding=1)", lambda: nn.Conv2d(3, 4, 3, padding=1)),
    "conv2d-same-even": (
        [3, 6, 6],
        "conv2d(4, 2, padding=same)",
        lambda: nn.Conv2d(3, 4, 2, padding="same"),
    ),
    "conv1d": ([3, 10], "conv1d(4, 3)", lambda: nn.Conv1d(3, 4, 3)),
    "conv_transpose2d": (
        [3, 5, 5],
        "conv_transpose2d(4, 2, stride=2)",
        lambda: nn.ConvTranspose2d(3, 4, 2, stride=2),
    ),
    "dense": ([4, 6], "dense(5)", lambda: nn.Linear(6, 5)),
    "batchnorm": ([3, 6, 6], "batchnorm", lambda: nn.BatchNorm2d(3)),
    "layernorm": ([4, 6], "layernorm", lambda: nn.LayerNorm(6)),
    "groupnorm": ([4, 5, 5], "groupnorm(2)", lambda: nn.GroupNorm(2, 4)),
    "instancenorm": (
        [3, 6, 6],
        "instancenorm(affine=true)",
        lambda: nn.InstanceNorm2d(3, affine=True),
    ),
    "prelu": ([4, 6], "prelu", lambda: nn.PReLU()),
    "attention": ([5, 8], "attention(2)", lambda: SelfAttention(8, 2)),
    "lstm": ([5, 6], "lstm(4)", lambda: Recurrent("lstm", 6, 4)),
    "gru": ([5, 6], "gru(4)", lambda: Recurrent("gru", 6, 4)),
    "moe": ([5, 6], "moe(4, 2, 3)", lambda: MoE(6, 4, 2, 3)),
}


def _first(shape) -> tuple[str, nn.Module]:
    """A trainable layer that keeps ``shape``: a 1×1 convolution on an image, else dense."""
    if len(shape) == 3:
        return f"conv2d({shape[0]}, 1)", nn.Conv2d(shape[0], shape[0], 1)
    return f"dense({shape[-1]})", nn.Linear(shape[-1], shape[-1])


def _nnlint_bytes(shape, chain: str) -> int:
    spec = f"model m {{\n    input x: [{', '.join(map(str, shape))}]\n    y = x -> {chain}\n}}\n"
    report = report_of(spec)
    assert not report.lowered.losses
    return plan_activations(report.lowered, lambda _node: 32, batch=1).bytes


def _with_frozen(op: str) -> str:
    """``op`` as written, with ``trainable=false``."""
    return f"{op[:-1]}, trainable=false)" if op.endswith(")") else f"{op}(trainable=false)"


def _frozen(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module


#: What a frozen recurrent layer after a trainable one saves depends on the kernel, and
#: nnlint does not model it: the fused kernels (cuDNN, CPU ``mkldnn_rnn_layer``) keep the
#: input whether the weights train or not, while the explicit products keep neither the
#: input nor ``h_{t−1}`` (each only feeds a weight gradient) and GRU's ``z⊙(h − n)`` keeps
#: ``h − n``. nnlint counts a frozen recurrent layer as a trainable one without its input.
AFTER = sorted(set(CASES) - {"lstm", "gru"})


@pytest.mark.parametrize("case", AFTER)
def test_a_frozen_layer_after_a_trainable_one_saves_what_torch_saves(case):
    shape, op, build = CASES[case]
    torch.manual_seed(0)
    first, first_module = _first(shape)
    model = nn.Sequential(first_module, _frozen(build())).train()
    torch_bytes = saved_bytes(model, [torch.randn(1, *shape)])
    assert torch_bytes == _nnlint_bytes(shape, f"{first} -> {_with_frozen(op)}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_frozen_layer_before_every_trainable_one_saves_nothing(case):
    shape, op, build = CASES[case]
    torch.manual_seed(0)
    frozen = _frozen(build()).train()
    width = frozen(torch.randn(1, *shape)).shape[-1]
    model = nn.Sequential(frozen, nn.ReLU(), nn.Linear(width, 3)).train()
    torch_bytes = saved_bytes(model, [torch.randn(1, *shape)])
    chain = f"{_with_frozen(op)} -> relu -> dense(3)"
    assert torch_bytes == _nnlint_bytes(shape, chain)
