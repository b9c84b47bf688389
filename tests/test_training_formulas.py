"""The training formulas of :mod:`nnlint.training` against their papers and against PyTorch.

Oracles:

* ZeRO (Rajbhandari et al. 2020), Figure 1: a 7.5B-parameter model, mixed-precision Adam
  (K = 12), 64 data-parallel GPUs: 120 GB, 31.4 GB, 16.6 GB and 1.9 GB per GPU.
* Korthikanti et al. 2022, Table 2: the activation bytes of a GPT layer, here measured on
  a PyTorch GPT layer in bf16 with ``saved_tensors_hooks`` (once per storage), with two
  documented differences asserted exactly (see :func:`test_gpt_layer_saved_tensors`).
* ``torch.optim.Adafactor``, ``Adam`` and ``SGD``: the state tensors after one step.
"""

from __future__ import annotations

import math

import pytest

from nnlint.training import (
    OPTIMIZERS,
    TRAIN_PRECISIONS,
    factored_state_elements,
    korthikanti_layer_bytes,
    korthikanti_model_bytes,
    model_states,
    optimizer_state_bytes,
    pipeline_in_flight,
    recompute_flops,
    sharding_stage,
)

# ------------------------------------------------------------------ precisions, optimizers


@pytest.mark.parametrize(
    ("precision", "optimizer", "per_param"),
    [
        ("fp32", "adamw", (4, 4, 8)),
        ("tf32", "adam", (4, 4, 8)),
        ("bf16-mixed", "adamw", (2, 2, 12)),  # ZeRO §3.1: 2 + 2 + K, K = 12
        ("fp16-mixed", "adam", (2, 2, 12)),
        ("fp8-mixed", "adamw", (2, 2, 12)),
        ("bf16-true", "adamw", (2, 2, 4)),
        ("fp16-true", "adamw", (2, 2, 4)),
        ("bf16", "adamw", (2, 2, 4)),  # the old name keeps its pure-16-bit meaning
        ("bf16-mixed", "adamw8bit", (2, 2, 6)),  # master 4 + two 1-byte moments
        ("bf16-true", "adamw8bit", (2, 2, 2)),  # bitsandbytes: 2 bytes of state per param
        ("bf16-mixed", "lion", (2, 2, 8)),  # master 4 + one fp32 momentum
        ("fp32", "lion", (4, 4, 4)),
        ("fp32", "sgd", (4, 4, 0)),
        ("bf16-mixed", "sgd", (2, 2, 4)),  # the master copy is still kept
        ("fp32", "momentum", (4, 4, 4)),
    ],
)
def test_bytes_per_parameter(precision, optimizer, per_param):
    P = 1000
    prec = TRAIN_PRECISIONS[precision]
    assert (prec.weight_bits * P // 8, prec.grad_bits * P // 8) == (
        per_param[0] * P,
        per_param[1] * P,
    )
    assert optimizer_state_bytes(optimizer, precision, P) == per_param[2] * P


def test_mixed_adam_is_16_bytes_per_parameter_llama2_7b():
    # The figure: Llama-2-7B (6,738,415,616 parameters) with bf16-mixed AdamW needs
    # 107.8 GB of model states, twice the 53.9 GB of pure bf16.
    P = 6_738_415_616
    mixed = model_states(
        2 * P, 2 * P, optimizer_state_bytes("adamw", "bf16-mixed", P), stage=0, data_parallel=1
    )
    pure = model_states(
        2 * P, 2 * P, optimizer_state_bytes("adamw", "bf16-true", P), stage=0, data_parallel=1
    )
    assert mixed.total_bytes == 16 * P and round(mixed.total_bytes / 1e9, 1) == 107.8
    assert pure.total_bytes == 8 * P and round(pure.total_bytes / 1e9, 1) == 53.9


def test_sharding_names():
    assert [sharding_stage(n) for n in ("none", "zero1", "zero2", "zero3")] == [0, 1, 2, 3]
    assert sharding_stage("full_shard") == 3
    assert sharding_stage("shard_grad_op") == 2
    assert sharding_stage("no_shard") == 0


# ------------------------------------------------------------------ ZeRO


@pytest.mark.parametrize(
    ("stage", "gigabytes"),
    [(0, 120.0), (1, 31.40625), (2, 16.640625), (3, 1.875)],  # Fig. 1: 120, 31.4, 16.6, 1.9 GB
)
def test_zero_figure_1(stage, gigabytes):
    psi, d = 7_500_000_000, 64
    states = model_states(
        2 * psi,
        2 * psi,
        optimizer_state_bytes("adam", "fp16-mixed", psi),
        stage=stage,
        data_parallel=d,
    )
    assert states.total_bytes == int(gigabytes * 1e9)


def test_zero_stages_shard_what_the_paper_says():
    psi, d = 1_000_000, 8
    full = (2 * psi, 2 * psi, 12 * psi)
    s0, s1, s2, s3 = (model_states(*full, stage=k, data_parallel=d) for k in range(4))
    assert (s0.param_bytes, s0.grad_bytes, s0.optimizer_bytes) == full
    assert (s1.param_bytes, s1.grad_bytes, s1.optimizer_bytes) == (2 * psi, 2 * psi, 12 * psi // d)
    assert (s2.param_bytes, s2.grad_bytes, s2.optimizer_bytes) == (
        2 * psi,
        2 * psi // d,
        12 * psi // d,
    )
    assert (s3.param_bytes, s3.grad_bytes, s3.optimizer_bytes) == tuple(x // d for x in full)


def test_tensor_and_pipeline_parallel_divide_the_model_first():
    psi = 1_000_003  # not divisible: the largest shard is rounded up
    states = model_states(
        2 * psi, 2 * psi, 12 * psi, stage=3, data_parallel=4, tensor_parallel=2, pipeline_parallel=3
    )
    assert states.param_bytes == math.ceil(math.ceil(2 * psi / 6) / 4)
    assert states.optimizer_bytes == math.ceil(math.ceil(12 * psi / 6) / 4)


# ------------------------------------------------------------------ Adafactor and PyTorch


def _state_after_one_step(module, make_optimizer):
    torch = pytest.importorskip("torch")
    opt = make_optimizer(module.parameters())
    x = torch.randn(2, *module.in_shape)
    module(x).sum().backward()
    opt.step()
    elements = nbytes = 0
    for state in opt.state.values():
        for key, tensor in state.items():
            if key == "step":  # a per-tensor scalar counter, not per-parameter state
                continue
            elements += tensor.numel()
            nbytes += tensor.numel() * tensor.element_size()
    return elements, nbytes


def _net():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        in_shape = (3, 8, 8)

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 5, 3)  # weight [5, 3, 3, 3]: factored over its last two axes
            self.norm = nn.LayerNorm(6)
            self.fc = nn.Linear(5 * 6 * 6, 7)

        def forward(self, x):
            return self.fc(self.norm(self.conv(x)).flatten(1))

    return Net()


def test_adafactor_state_matches_torch():
    torch = pytest.importorskip("torch")
    net = _net()
    shapes = [tuple(p.shape) for p in net.parameters()]
    elements, nbytes = _state_after_one_step(net, torch.optim.Adafactor)
    assert elements == factored_state_elements(shapes)
    # conv [5,3,3,3]: 5·3·3 + 5·3·3 = 90; bias 5; norm 6 + 6; fc [7,180]: 7 + 180; bias 7
    assert elements == 90 + 5 + 6 + 6 + 187 + 7
    assert nbytes == optimizer_state_bytes("adafactor", "fp32", 0, factored_elements=elements)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("adam", lambda ps: __import__("torch").optim.Adam(ps)),
        ("adamw", lambda ps: __import__("torch").optim.AdamW(ps)),
        ("momentum", lambda ps: __import__("torch").optim.SGD(ps, lr=0.1, momentum=0.9)),
        ("sgd", lambda ps: __import__("torch").optim.SGD(ps, lr=0.1)),
        ("rmsprop", lambda ps: __import__("torch").optim.RMSprop(ps)),
        ("adagrad", lambda ps: __import__("torch").optim.Adagrad(ps)),
    ],
)
def test_optimizer_state_matches_torch(name, make):
    net = _net()
    P = sum(p.numel() for p in net.parameters())
    elements, nbytes = _state_after_one_step(net, make)
    assert elements == OPTIMIZERS[name].states * P
    assert nbytes == optimizer_state_bytes(name, "fp32", P)


# ------------------------------------------------------------------ Korthikanti et al. 2022


def test_table_2_forms():
    s, b, h, a, t = 2048, 1, 12288, 96, 8  # GPT-3 175B, the paper's Table 3 shape
    sbh = s * b * h
    scores = 5 * a * s * s * b
    assert korthikanti_layer_bytes(s, b, h, a) == 34 * sbh + scores  # sbh(34 + 5as/h)
    assert korthikanti_layer_bytes(s, b, h, a, t=t) == 10 * sbh + 24 * sbh // t + scores // t
    assert korthikanti_layer_bytes(s, b, h, a, t=t, sequence_parallel=True) == (
        34 * sbh // t + scores // t
    )
    assert korthikanti_layer_bytes(s, b, h, a, t=t, recompute="selective") == (
        10 * sbh + 24 * sbh // t
    )
    assert (
        korthikanti_layer_bytes(s, b, h, a, t=t, sequence_parallel=True, recompute="selective")
        == 34 * sbh // t
    )
    assert korthikanti_layer_bytes(s, b, h, a, t=t, recompute="full") == 2 * sbh
    assert (
        korthikanti_layer_bytes(s, b, h, a, t=t, sequence_parallel=True, recompute="full")
        == 2 * sbh // t
    )


def test_pipeline_first_stage_holds_p_micro_batches():
    s, b, h, a, L, t, p = 2048, 1, 12288, 96, 96, 8, 8
    layer = korthikanti_layer_bytes(s, b, h, a, t=t, sequence_parallel=True)
    # §4.2.3: L/p layers × p micro-batches in flight = sbhL(34/t + 5as/(ht))
    assert korthikanti_model_bytes(s, b, h, a, L, t=t, p=p, sequence_parallel=True) == layer * L
    assert layer * L == s * b * h * L * (34 + 5 * a * s // h) // t  # 5as/h = 80 here
    # fewer micro-batches per step than stages: only those are in flight
    assert pipeline_in_flight(8, 3) == 3
    assert (
        korthikanti_model_bytes(s, b, h, a, L, t=t, p=p, micro_batches=3, sequence_parallel=True)
        == layer * (L // p) * 3
    )


def test_recompute_flops():
    assert recompute_flops("none", 100, 7) == 0
    assert recompute_flops("selective", 100, 7) == 7
    assert recompute_flops("full", 100, 7) == 100


def _gpt_layer(s, b, h, a, dtype):
    """A Megatron-style GPT layer ([s, b, h] layout, fused QKV, dropout 0.1 everywhere),
    written from the paper's Figure 4, not from nnlint."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional
    d = h // a

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(h, dtype=dtype), nn.LayerNorm(h, dtype=dtype)
            self.qkv = nn.Linear(h, 3 * h, dtype=dtype)
            self.proj = nn.Linear(h, h, dtype=dtype)
            self.fc1 = nn.Linear(h, 4 * h, dtype=dtype)
            self.fc2 = nn.Linear(4 * h, h, dtype=dtype)

        def forward(self, x):
            qkv = self.qkv(self.ln1(x)).view(s, b, a, 3 * d)
            q, k, v = qkv.split(d, dim=-1)
            q = q.reshape(s, b * a, d).transpose(0, 1)
            k = k.reshape(s, b * a, d).permute(1, 2, 0)
            v = v.reshape(s, b * a, d).transpose(0, 1)
            p = F.dropout(torch.softmax(torch.bmm(q, k) * d**-0.5, -1), 0.1, True)
            c = torch.bmm(p, v).transpose(0, 1).reshape(s, b, h)
            x = x + F.dropout(self.proj(c), 0.1, True)
            return x + F.dropout(self.fc2(F.gelu(self.fc1(self.ln2(x)))), 0.1, True)

    return Layer()


def _saved_bytes(module, x, run):
    """Bytes of the tensors autograd saves for backward, once per storage, parameters aside."""
    torch = pytest.importorskip("torch")
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run(module, x)
    return sum(seen.values())


@pytest.mark.parametrize(("s", "b", "h", "a"), [(16, 2, 64, 4), (24, 1, 96, 3)])
def test_gpt_layer_saved_tensors(s, b, h, a):
    """PyTorch saves exactly ``sbh(34 + 5as/h)`` bytes in bf16, plus two asserted differences:

    * CPU dropout keeps its mask in the activation dtype (2 bytes), the paper assumes the
      1-byte mask of CUDA's fused dropout: ``(2 − 1)·(as²b + 2sbh)`` more;
    * each layer norm also saves its per-token mean and reciprocal std (``2sb`` values), which
      the paper neglects: ``2 · 2sb · 2`` bytes for the two layer norms.
    """
    torch = pytest.importorskip("torch")
    layer = _gpt_layer(s, b, h, a, torch.bfloat16)
    x = torch.randn(s, b, h, dtype=torch.bfloat16, requires_grad=True)
    saved = _saved_bytes(layer, x, lambda m, x: m(x))
    dropout_masks = a * s * s * b + 2 * s * b * h
    norm_stats = 2 * (2 * s * b) * 2
    assert saved == korthikanti_layer_bytes(s, b, h, a) + dropout_masks + norm_stats


def test_gpt_layer_full_recompute_saves_its_input_only():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint

    s, b, h, a = 16, 2, 64, 4
    layer = _gpt_layer(s, b, h, a, torch.bfloat16)
    x = torch.randn(s, b, h, dtype=torch.bfloat16, requires_grad=True)
    saved = _saved_bytes(layer, x, lambda m, x: checkpoint(m, x, use_reentrant=False))
    assert saved == korthikanti_layer_bytes(s, b, h, a, recompute="full")


# ------------------------------------------------------- PyTorch's MemTracker, every example

#: The spec's optimizer names, as torch.optim builds them (hyper-parameters do not change
#: the state: only which optimizer it is).
_TORCH_OPTIMIZERS = {
    "sgd": lambda torch, ps: torch.optim.SGD(ps, lr=0.1),
    "momentum": lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "nesterov": lambda torch, ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda torch, ps: torch.optim.Adagrad(ps),
    "rmsprop": lambda torch, ps: torch.optim.RMSprop(ps),
    "adam": lambda torch, ps: torch.optim.Adam(ps),
    "adamw": lambda torch, ps: torch.optim.AdamW(ps),
}
#: Optimizers that keep a scalar fp32 ``step`` tensor per parameter tensor (torch.optim).
_STEP_COUNTERS = {"adagrad", "rmsprop", "adam", "adamw"}


def _fp32_example(stem: str):
    """The example with its training precision set to fp32 (torch's default)."""
    import re

    from helpers import report_of, twin_text

    text = twin_text(stem)  # a full-size example at its torch twin's reduced size
    train = re.search(r"\ntrain\s*\{[^}]*\}", text)
    if train:  # no train section: the defaults (fp32)
        section = re.sub(r"precision\s*=\s*\S+", "precision = fp32", train.group(0))
        text = text[: train.start()] + section + text[train.end() :]
    report = report_of(text)
    assert report.totals.train_precision == "fp32"
    return report


@pytest.mark.parametrize(
    "stem", sorted(p.stem for p in __import__("helpers").EXAMPLES.glob("*.nn"))
)
def test_model_states_equal_torch_memtracker(stem):
    """Parameters, buffers, gradients and optimizer state of one fp32 training step, each
    against ``torch.distributed._tools.mem_tracker.MemTracker``'s category of the same name
    (the twin of ``tests/torch_reference.py``, the spec's optimizer). Two documented
    differences, asserted exactly: torch keeps a 4-byte ``step`` counter per parameter
    tensor for Adam, AdamW, RMSprop and Adagrad, and an 8-byte ``num_batches_tracked`` per
    batchnorm; nnlint counts neither (a few bytes per layer, not per parameter). And a
    gradient autograd hands over as a view of a larger tensor keeps that tensor's storage
    alive (ViT's class token: its 768-element gradient is a slice of the concatenation's
    [1, 197, 768] gradient); nnlint counts the gradient's own bytes, and the test measures
    the slack from torch's tensors."""
    torch = pytest.importorskip("torch")
    from torch.distributed._tools.mem_tracker import MemTracker, _MemRefType
    from torch_reference import ARCHITECTURES

    report = _fp32_example(stem)
    t = report.totals
    model, inputs = ARCHITECTURES[stem]()
    model.train()
    optimizer = _TORCH_OPTIMIZERS[t.optimizer](torch, model.parameters())
    tracker = MemTracker()
    tracker.track_external(model, optimizer)
    with tracker:
        model(*inputs).float().sum().backward()
        optimizer.step()
    (memory,) = tracker.get_tracker_snapshot().values()

    tensors = len(list(model.parameters()))
    norms = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    counters = 4 * tensors if t.optimizer in _STEP_COUNTERS else 0
    assert memory[_MemRefType.PARAM] == t.param_bytes
    assert memory[_MemRefType.BUFFER] == t.buffer_bytes + 8 * norms
    slack = sum(
        p.grad.untyped_storage().nbytes() - p.grad.numel() * p.grad.element_size()
        for p in model.parameters()
    )
    assert slack == (602_112 if stem == "vit_b16" else 0)  # 196·768·4: the rows not its own
    assert memory[_MemRefType.GRAD] == t.grad_bytes + slack
    assert memory[_MemRefType.OPT] == t.optimizer_bytes + counters
