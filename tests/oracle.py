"""The generative PyTorch oracle: random valid specs from the op catalog, each built twice.

A spec is drawn step by step (hypothesis): an input (a vector ``[D]``, a sequence
``[T, D]``, an image ``[C, H, W]``, a volume ``[C, D, H, W]`` or token ids ``[T]``), then a
few statements, each
one op of the catalog applied to a tensor already defined (or a merge of two). For
every op a spec can write, :data:`TORCH_BUILDERS` holds a *generator entry*: given
the current per-sample shape it draws valid options (or says the op does not apply)
and returns the op as the spec writes it together with the same layer written in
plain ``torch.nn`` / ``torch`` — no nnlint code. PyTorch runs each step as it is
drawn, so the shapes the generator continues from are PyTorch's, not nnlint's.

:func:`measure` then runs the PyTorch network once (batch :data:`BATCH`, the input
requiring grad) under ``FlopCounterMode`` and reports, per sample: the parameter
count (``sum(numel)``, shared tensors once), the per-tensor shapes, the forward
MACs (half the counted FLOPs) and the backward MACs of ``sum of every unused
tensor``.backward(). The conventions these numbers follow are those of
``tests/torch_reference.py`` (the counter counts matrix products and convolutions
only; the grouped-convolution weight-gradient overcount of pytorch#183405 is
measured and removed). Because the model input requires grad here, PyTorch also
computes the first layer's input gradient, which is nnlint's convention (README,
"Counting conventions"): nnlint's ``backward_macs`` must equal PyTorch's
backward count exactly, with no ``input_grad_macs`` correction.

A new op is not done until this module can emit it: ``tests/test_generated_oracle.py``
fails for any op of the catalog without an entry here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torch_reference import Attention, MoE, Recurrent, _groups_overcount_factor

#: The batch the PyTorch network runs at (2: batchnorm needs more than one value per channel).
BATCH = 2

Shape = tuple[int, ...]


@dataclass
class Step:
    """One op as the spec writes it (``call``) and as PyTorch computes it (``fn``).

    ``fn`` takes the input tensors (with the batch axis) and returns the output;
    ``modules`` are the ``nn.Module``s holding its parameters; ``frozen`` marks them
    ``requires_grad=False`` (the spec says ``trainable=false``).
    """

    call: str
    fn: Callable[..., torch.Tensor]
    modules: list[nn.Module] = field(default_factory=list)
    frozen: bool = False
    source: bool = False  # reads no tensor (``param``): ``fn()`` returns it with a batch axis of 1


#: Draw function of hypothesis (``data.draw``).
Draw = Callable[[st.SearchStrategy], object]


def _channel_dim(rank: int) -> int:
    """The batched tensor's dim of nnlint's channel axis: C of [C, H, W] and [C, D, H, W],
    else the last."""
    return 1 if rank in (3, 4) else rank  # rank = per-sample rank; batched dim index


def _channels(x: Shape) -> int:
    """nnlint's channel count of a per-sample shape (see :func:`_channel_dim`)."""
    return x[0] if len(x) in (3, 4) else x[-1]


def _freeze(draw: Draw) -> bool:
    return draw(st.integers(0, 4)) == 0  # one weight layer in five is frozen


def _opt(name: str, value, default) -> str:
    if value == default:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f", {name}={value}"


def _frozen_text(step_frozen: bool) -> str:
    return ", trainable=false" if step_frozen else ""


def _module_step(call: str, module: nn.Module, frozen: bool = False) -> Step:
    return Step(call, module, [module], frozen)


# ----------------------------------------------------------------- layers with weights


def gen_dense(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    n = draw(st.integers(1, 8))
    bias = draw(st.booleans())
    frozen = _freeze(draw)
    lin = nn.Linear(x[-1], n, bias=bias)
    call = f"dense({n}{_opt('bias', bias, True)}{_frozen_text(frozen)})"
    return _module_step(call, lin, frozen)


def _pair_text(v: tuple[int, ...]) -> str:
    """A size per spatial axis as a spec writes it: one number when they are equal."""
    return str(v[0]) if len(set(v)) == 1 else f"({', '.join(map(str, v))})"


def _pair_opt(name: str, v: tuple[int, ...], default: int) -> str:
    return "" if v == (default,) * len(v) else f", {name}={_pair_text(v)}"


def _groups(draw: Draw, c_in: int, most: int) -> tuple[int, int]:
    """A convolution's ``groups`` (a divisor of ``c_in``) and output channels (a multiple
    of it, at most ``most`` unless ``groups`` alone is more)."""
    g = draw(st.sampled_from([d for d in range(1, c_in + 1) if c_in % d == 0]))
    return g, g * draw(st.integers(1, max(1, most // g)))


def _gen_conv(draw: Draw, x: Shape, rank: int) -> Step | None:
    """A conv2d (rank 2) or conv3d (rank 3) with sizes per axis."""
    if len(x) != rank + 1:
        return None
    c_in, *spatial = x
    g, c_out = _groups(draw, c_in, 6)
    dil = tuple(draw(st.integers(1, 2)) for _ in spatial)
    same = draw(st.integers(0, 3)) == 0
    pad = (0,) * rank if same else tuple(draw(st.integers(0, 1)) for _ in spatial)
    k = []
    for size, p, d in zip(spatial, pad, dil):
        kmax = (size + 2 * p - 1) // d + 1  # (k - 1)·d + 1 <= size + 2p
        k.append(draw(st.integers(1, min(max(kmax, 1), 3))))
    stride = (1,) * rank if same else tuple(draw(st.integers(1, 2)) for _ in spatial)
    bias = draw(st.booleans())
    frozen = _freeze(draw)
    padding = "same" if same else pad
    module = {2: nn.Conv2d, 3: nn.Conv3d}[rank]
    conv = module(
        c_in, c_out, tuple(k), stride=stride, padding=padding, groups=g, dilation=dil, bias=bias
    )
    pad_text = ", padding=same" if same else _pair_opt("padding", pad, 0)
    call = (
        f"conv{rank}d({c_out}, {_pair_text(tuple(k))}{_pair_opt('stride', stride, 1)}{pad_text}"
        f"{_opt('groups', g, 1)}{_pair_opt('dilation', dil, 1)}{_opt('bias', bias, True)}"
        f"{_frozen_text(frozen)})"
    )
    return _module_step(call, conv, frozen)


def gen_conv2d(draw: Draw, x: Shape) -> Step | None:
    return _gen_conv(draw, x, 2)


def gen_conv3d(draw: Draw, x: Shape) -> Step | None:
    return _gen_conv(draw, x, 3)


def gen_conv1d(draw: Draw, x: Shape) -> Step | None:
    if len(x) != 2:
        return None
    c_in, length = x
    g, c_out = _groups(draw, c_in, 6)
    d = draw(st.integers(1, 2))
    same = draw(st.integers(0, 3)) == 0
    p = 0 if same else draw(st.integers(0, 1))
    k = draw(st.integers(1, min(max((length + 2 * p - 1) // d + 1, 1), 3)))
    stride = 1 if same else draw(st.integers(1, 2))
    bias = draw(st.booleans())
    frozen = _freeze(draw)
    conv = nn.Conv1d(c_in, c_out, k, stride, "same" if same else p, dilation=d, groups=g, bias=bias)
    call = (
        f"conv1d({c_out}, {k}{_opt('stride', stride, 1)}"
        f"{', padding=same' if same else _opt('padding', p, 0)}{_opt('groups', g, 1)}"
        f"{_opt('dilation', d, 1)}{_opt('bias', bias, True)}{_frozen_text(frozen)})"
    )
    return _module_step(call, conv, frozen)


def _gen_conv_transpose(draw: Draw, x: Shape, rank: int) -> Step | None:
    """A conv_transpose2d (rank 2) or conv_transpose3d (rank 3) with sizes per axis."""
    if len(x) != rank + 1:
        return None
    c_in, *spatial = x
    g, c_out = _groups(draw, c_in, 4)
    k = tuple(draw(st.integers(1, 3)) for _ in spatial)
    stride = tuple(draw(st.integers(1, 2)) for _ in spatial)
    dil = tuple(draw(st.integers(1, 2)) for _ in spatial)
    pad, out_pad = [], []
    for size, kk, s, d in zip(spatial, k, stride, dil):
        full = (size - 1) * s + d * (kk - 1) + 1
        pad.append(draw(st.integers(0, min(1, (full - 1) // 2))))
        out_pad.append(draw(st.integers(0, max(s, d) - 1)))
    pad, out_pad = tuple(pad), tuple(out_pad)
    bias = draw(st.booleans())
    frozen = _freeze(draw)
    module = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[rank]
    conv = module(
        c_in, c_out, k, stride, pad, output_padding=out_pad, groups=g, bias=bias, dilation=dil
    )
    call = (
        f"conv_transpose{rank}d({c_out}, {_pair_text(k)}{_pair_opt('stride', stride, 1)}"
        f"{_pair_opt('padding', pad, 0)}{_pair_opt('output_padding', out_pad, 0)}"
        f"{_opt('groups', g, 1)}{_pair_opt('dilation', dil, 1)}{_opt('bias', bias, True)}"
        f"{_frozen_text(frozen)})"
    )
    return _module_step(call, conv, frozen)


def gen_conv_transpose2d(draw: Draw, x: Shape) -> Step | None:
    return _gen_conv_transpose(draw, x, 2)


def gen_conv_transpose3d(draw: Draw, x: Shape) -> Step | None:
    return _gen_conv_transpose(draw, x, 3)


def gen_upsample(draw: Draw, x: Shape) -> Step | None:
    if len(x) not in (3, 4):
        return None
    scale = draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["nearest", "bilinear" if len(x) == 3 else "trilinear"]))
    module = nn.Upsample(scale_factor=scale, mode=mode)
    return _module_step(f"upsample({scale}{_opt('mode', mode, 'nearest')})", module)


def gen_attention(draw: Draw, x: Shape) -> Step | None:
    if len(x) != 2:
        return None
    d = x[1]
    heads = draw(st.sampled_from([h for h in range(1, d + 1) if d % h == 0]))
    kv_heads = draw(st.sampled_from([None] + [g for g in range(1, heads + 1) if heads % g == 0]))
    bias = draw(st.sampled_from(["qkvo", "", "qkv", "qvo"]))
    causal = draw(st.booleans())
    rope = (d // heads) % 2 == 0 and draw(st.booleans())
    window = draw(st.sampled_from([None, None, 1, 2]))
    frozen = _freeze(draw)
    d_mem = draw(st.sampled_from([None, None, None, 1, 3]))  # cross-attention: kv=NAME
    attn = Attention(
        d, heads, kv_heads, bias, causal=causal, use_rope=rope, window=window, d_mem=d_mem
    )
    bias_text = {"qkvo": "", "": ", bias=false"}.get(bias, f", bias=[{', '.join(bias)}]")
    call = (
        f"attention({heads}{_opt('kv_heads', kv_heads, None)}{bias_text}"
        f"{_opt('causal', causal, False)}{_opt('rope', rope, False)}"
        f"{_opt('window', window, None)}{_frozen_text(frozen)}"
    )
    if d_mem is None:
        return _module_step(call + ")", attn, frozen)
    memory = _module_step(f"dense({d_mem})", nn.Linear(d, d_mem))
    return Merge(memory, "{a} -> " + call + ", kv={b})", attn, [attn], frozen)


def gen_recurrent(kind: str) -> Callable[[Draw, Shape], Step | None]:
    """``lstm`` / ``gru`` over ``[T, D]``: PyTorch's module, run with explicit matrix
    products (:class:`torch_reference.Recurrent`; the counter is silent on ``aten::lstm``)."""

    def gen(draw: Draw, x: Shape) -> Step | None:
        if len(x) != 2:
            return None
        hidden = draw(st.integers(1, 4))
        layers = draw(st.integers(1, 2))
        bidirectional = draw(st.booleans())
        dropout = draw(st.sampled_from([0.0, 0.5])) if layers > 1 else 0.0
        bias = draw(st.booleans())
        frozen = _freeze(draw)
        module = Recurrent(kind, x[1], hidden, layers, bidirectional, dropout, bias)
        call = (
            f"{kind}({hidden}{_opt('layers', layers, 1)}"
            f"{_opt('bidirectional', bidirectional, False)}{_opt('dropout', dropout, 0.0)}"
            f"{_opt('bias', bias, True)}{_frozen_text(frozen)})"
        )
        return _module_step(call, module, frozen)

    return gen


def gen_moe(draw: Draw, x: Shape) -> Step | None:
    if len(x) not in (1, 2):
        return None
    experts = draw(st.integers(1, 4))
    top_k = draw(st.integers(1, experts))
    hidden = draw(st.integers(1, 4))
    shared = draw(st.sampled_from([0, 0, 1, 2]))
    frozen = _freeze(draw)
    module = MoE(x[-1], experts, top_k, hidden, shared)
    call = f"moe({experts}, {top_k}, {hidden}{_opt('shared', shared, 0)}{_frozen_text(frozen)})"
    return _module_step(call, module, frozen)


def gen_embedding(draw: Draw, x: Shape) -> Step | None:
    return None  # only on token ids: see :func:`_draw_input`


# ------------------------------------------------------------------------------ pools


def gen_pool(kind: str) -> Callable[[Draw, Shape], Step | None]:
    def gen(draw: Draw, x: Shape) -> Step | None:
        if len(x) not in (2, 3, 4):
            return None
        spatial = x[1:]
        k = tuple(draw(st.integers(1, min(3, size))) for size in spatial)
        stride = draw(st.sampled_from([None, 1, 2]))
        padding = tuple(draw(st.integers(0, kk // 2)) for kk in k)
        ceil = draw(st.booleans())
        s = stride or k
        if len(x) == 2:
            cls = nn.MaxPool1d if kind == "maxpool" else nn.AvgPool1d
            module = cls(
                k[0], stride=s if stride is None else stride, padding=padding[0], ceil_mode=ceil
            )
            k_text, pad_text = str(k[0]), _opt("padding", padding[0], 0)
        else:
            classes = {3: (nn.MaxPool2d, nn.AvgPool2d), 4: (nn.MaxPool3d, nn.AvgPool3d)}
            cls = classes[len(x)][kind != "maxpool"]
            module = cls(k, stride=s, padding=padding, ceil_mode=ceil)
            k_text, pad_text = _pair_text(k), _pair_opt("padding", padding, 0)
        call = (
            f"{kind}({k_text}{_opt('stride', stride, None)}{pad_text}{_opt('ceil', ceil, False)})"
        )
        return _module_step(call, module)

    return gen


def gen_global_avgpool(draw: Draw, x: Shape) -> Step | None:
    if len(x) not in (3, 4):
        return None
    pool = nn.AdaptiveAvgPool2d(1) if len(x) == 3 else nn.AdaptiveAvgPool3d(1)
    return _module_step("global_avgpool", pool)


def gen_adaptive_avgpool(draw: Draw, x: Shape) -> Step | None:
    if len(x) != 3:
        return None
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return _module_step(f"adaptive_avgpool({h}, {w})", nn.AdaptiveAvgPool2d((h, w)))


# ----------------------------------------------------------------------------- shapes


def gen_flatten(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    return Step("flatten", lambda t: t.flatten(1))


def gen_pixel_shuffle(draw: Draw, x: Shape) -> Step | None:
    """``pixel_shuffle(r)``, after a pointwise conv2d to ``r²·k`` channels when the
    channels are not a multiple of ``r²`` (the sub-pixel convolution's layout)."""
    if len(x) != 3:
        return None
    r = draw(st.integers(1, 3))
    if x[0] % (r * r) == 0 and draw(st.booleans()):
        return Step(f"pixel_shuffle({r})", lambda t: nn.functional.pixel_shuffle(t, r))
    c = r * r * draw(st.integers(1, 2))
    conv = nn.Conv2d(x[0], c, 1)
    return Step(
        f"conv2d({c}, 1) -> pixel_shuffle({r})",
        lambda t: nn.functional.pixel_shuffle(conv(t), r),
        [conv],
    )


def _factorizations(n: int, parts: int) -> list[tuple[int, ...]]:
    if parts == 1:
        return [(n,)]
    return [
        (d, *rest)
        for d in range(1, n + 1)
        if n % d == 0
        for rest in _factorizations(n // d, parts - 1)
    ]


def gen_reshape(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    n = math.prod(x)
    dims = list(draw(st.sampled_from(_factorizations(n, draw(st.integers(1, 3))))))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    target = tuple(dims)
    return Step(
        f"reshape({', '.join(str(d) for d in dims)})", lambda t: t.reshape(t.shape[0], *target)
    )


# ------------------------------------------------------------------------------ norms


def _channels_last(module: nn.Module, rank: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Apply a channels-at-dim-1 module (BatchNorm1d, GroupNorm) over the last axis of
    a batched ``[B, T, D]`` tensor, nnlint's channel axis of a sequence."""
    if rank != 2:
        return module
    return lambda t: module(t.transpose(1, 2)).transpose(1, 2)


def gen_batchnorm(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    frozen = _freeze(draw)
    c = _channels(x)
    module = {3: nn.BatchNorm2d, 4: nn.BatchNorm3d}.get(len(x), nn.BatchNorm1d)(c)
    return Step(
        f"batchnorm{'(trainable=false)' if frozen else ''}",
        _channels_last(module, len(x)),
        [module],
        frozen,
    )


def gen_layernorm(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    frozen = _freeze(draw)
    affine, bias = draw(st.booleans()), draw(st.booleans())
    eps = draw(st.sampled_from([1e-5, 1e-6, 1e-12]))
    module = nn.LayerNorm(x[-1], eps=eps, elementwise_affine=affine, bias=bias)
    opts = _opt("bias", bias, True) if affine else ", affine=false"
    opts += _opt("eps", eps, 1e-5) + _frozen_text(frozen)
    return _module_step(f"layernorm({opts[2:]})" if opts else "layernorm", module, frozen)


def gen_rmsnorm(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    frozen = _freeze(draw)
    affine = draw(st.booleans())
    eps = draw(st.sampled_from([None, 1e-5, 1e-6]))
    module = nn.RMSNorm(x[-1], eps=eps, elementwise_affine=affine)
    opts = _opt("affine", affine, True) + _opt("eps", eps, None) + _frozen_text(frozen)
    return _module_step(f"rmsnorm({opts[2:]})" if opts else "rmsnorm", module, frozen)


def gen_groupnorm(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    c = _channels(x)
    g = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    module = nn.GroupNorm(g, c)
    return Step(f"groupnorm({g})", _channels_last(module, len(x)), [module])


def gen_instancenorm(draw: Draw, x: Shape) -> Step | None:
    if len(x) not in (2, 3, 4):
        return None
    c = _channels(x)
    if math.prod(x) == c:  # one position per channel: refused (by PyTorch too)
        return None
    affine = draw(st.booleans())
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    frozen = affine and _freeze(draw)
    cls = {3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}.get(len(x), nn.InstanceNorm1d)
    module = cls(c, eps=eps, affine=affine)
    opts = _opt("affine", affine, False) + _opt("eps", eps, 1e-5) + _frozen_text(frozen)
    call = f"instancenorm({opts[2:]})" if opts else "instancenorm"
    return Step(call, _channels_last(module, len(x)), [module], frozen)


def gen_dropout(draw: Draw, x: Shape) -> Step | None:
    p = draw(st.sampled_from([0.1, 0.5]))
    return _module_step(f"dropout({p})", nn.Dropout(p))


# ------------------------------------------------------------------------ activations


def _elementwise(name: str, fn: Callable[[torch.Tensor], torch.Tensor]):
    def gen(draw: Draw, x: Shape) -> Step | None:
        return Step(name, fn)

    return gen


def _class_axis(name: str, fn):
    def gen(draw: Draw, x: Shape) -> Step | None:
        if len(x) < 1:
            return None
        axis = draw(st.sampled_from([None, *range(-len(x), len(x))]))
        dim = _channel_dim(len(x)) if axis is None else axis % len(x) + 1
        text = name if axis is None else f"{name}(axis={axis})"
        return Step(text, lambda t: fn(t, dim=dim))

    return gen


def gen_leaky_relu(draw: Draw, x: Shape) -> Step | None:
    return Step("leaky_relu", nn.functional.leaky_relu)


def gen_elu(draw: Draw, x: Shape) -> Step | None:
    return Step("elu", nn.functional.elu)


def gen_softplus(draw: Draw, x: Shape) -> Step | None:
    beta = draw(st.sampled_from([1.0, 2.0, 0.5]))
    threshold = draw(st.sampled_from([20.0, 1.0]))
    call = f"softplus(beta={beta}, threshold={threshold})"
    return Step(call, lambda t: nn.functional.softplus(t, beta, threshold))


def gen_prelu(draw: Draw, x: Shape) -> Step | None:
    per_channel = len(x) >= 1 and draw(st.booleans())
    n = _channels(x) if per_channel else 1
    weight = nn.Parameter(torch.full((n,), 0.25))
    holder = nn.ParameterList([weight])
    view = [1] * (len(x) + 1)
    if n > 1:
        view[_channel_dim(len(x))] = n

    def fn(t: torch.Tensor) -> torch.Tensor:
        return torch.where(t > 0, t, weight.view(view) * t)

    return Step(f"prelu({n})" if per_channel else "prelu", fn, [holder])


# ----------------------------------------------------------------------------- merges
# A merge's entry takes the current tensor's shape and returns (call, fn, branch): the
# branch is an op that makes the second operand from the current tensor (or None when
# the merge reads the current tensor twice), drawn from the entries above.


@dataclass
class Merge:
    """A merge of the current tensor ``a`` and a second tensor ``b`` made from ``a`` by
    ``branch`` (a single-input step). ``call`` formats with the two names; ``order`` says
    whether the spec writes ``(a, b)`` or ``(b, a)``."""

    branch: Step
    call: str  # e.g. "add({a}, {b})"
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    modules: list[nn.Module] = field(default_factory=list)
    frozen: bool = False


def gen_concat(draw: Draw, x: Shape) -> Merge | None:
    if len(x) < 1:
        return None
    if len(x) in (3, 4):
        c = draw(st.integers(1, 4))
        conv = (nn.Conv2d if len(x) == 3 else nn.Conv3d)(x[0], c, 1)
        branch = _module_step(f"conv{len(x) - 1}d({c}, 1)", conv)
        return Merge(branch, "concat({a}, {b})", lambda a, b: torch.cat([a, b], dim=1))
    n = draw(st.integers(1, 6))
    branch = _module_step(f"dense({n})", nn.Linear(x[-1], n))
    explicit = draw(st.booleans())
    call = "concat({a}, {b}" + (f", axis={len(x) - 1})" if explicit else ")")
    return Merge(branch, call, lambda a, b: torch.cat([a, b], dim=-1))


def gen_matmul(draw: Draw, x: Shape) -> Merge | None:
    if len(x) != 2:
        return None
    t = x[0]
    branch = _module_step(f"dense({t})", nn.Linear(x[1], t))
    # matmul(b, a): [T, T] @ [T, D] -> [T, D]
    return Merge(branch, "matmul({b}, {a})", lambda a, b: b @ a)


def gen_relu(draw: Draw, x: Shape) -> Step | None:
    return Step("relu", torch.relu)


def gen_tanh(draw: Draw, x: Shape) -> Step | None:
    return Step("tanh", torch.tanh)


# --------------------------------------------------------------------------- axis ops


def gen_transpose(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    a, b = (draw(st.integers(-len(x), len(x) - 1)) for _ in range(2))
    ta, tb = a % len(x) + 1, b % len(x) + 1
    return Step(f"transpose({a}, {b})", lambda t: t.transpose(ta, tb))


def gen_permute(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    dims = draw(st.permutations(range(len(x))))
    batched = [0] + [d + 1 for d in dims]
    return Step(f"permute({', '.join(map(str, dims))})", lambda t: t.permute(*batched))


def gen_select(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 2:
        return None
    axis = draw(st.integers(0, len(x) - 1))
    index = draw(st.integers(0, x[axis] - 1))
    return Step(f"select({axis}, {index})", lambda t: t.select(axis + 1, index))


def gen_slice(draw: Draw, x: Shape) -> Step | None:
    if len(x) < 1:
        return None
    axis = draw(st.integers(0, len(x) - 1))
    start = draw(st.integers(0, x[axis] - 1))
    end = draw(st.integers(start + 1, x[axis]))
    return Step(
        f"slice({axis}, {start}, {end})",
        lambda t: t[(slice(None),) * (axis + 1) + (slice(start, end),)],
    )


def _reduce(name: str):
    def gen(draw: Draw, x: Shape) -> Step | None:
        if len(x) < 2:
            return None
        axis = draw(st.integers(-len(x), len(x) - 1))
        dim = axis % len(x) + 1
        fn = torch.sum if name == "sum" else torch.mean
        return Step(f"{name}({axis})", lambda t: fn(t, dim=dim))

    return gen


# ----------------------------------------------------- broadcasting merges and param


def _broadcastable(draw: Draw, x: Shape) -> Shape:
    """A shape that broadcasts to ``x``: some axes set to 1, some leading axes dropped."""
    shape = tuple(d if draw(st.booleans()) else 1 for d in x)
    return shape[draw(st.integers(0, max(len(shape) - 1, 0))) :] if shape else shape


def gen_param_step(draw: Draw, x: Shape) -> Step:
    """A learned tensor broadcastable to ``x`` (the second operand of a merge)."""
    shape = _broadcastable(draw, x) or (1,)
    frozen = _freeze(draw)
    init = draw(st.sampled_from(["", ", init=constant(0.5)", ", init=zeros"]))
    holder = nn.ParameterList([nn.Parameter(torch.full(shape, 0.5))])
    call = f"param({', '.join(map(str, shape))}{init}{_frozen_text(frozen)})"
    return Step(call, lambda: holder[0].unsqueeze(0), [holder], frozen, source=True)


def _operand(draw: Draw, x: Shape) -> Step | None:
    """The second operand of a broadcasting merge, made from the current tensor or a param."""
    kind = draw(st.sampled_from(["same", "reduced", "param"]))
    if kind == "param":
        return gen_param_step(draw, x)
    if kind == "reduced" and len(x) in (3, 4):  # [C, 1, 1] or [C, 1, 1, 1]
        return gen_global_avgpool(draw, x)
    if kind == "reduced" and len(x) >= 1:
        return Step("mean(0)", lambda t: t.mean(dim=1))  # drops the leading axis
    return draw(st.sampled_from([gen_relu, gen_tanh]))(draw, x)


def _per_sample(fn):
    """``fn`` broadcasting over per-sample shapes: the operand of lower rank gets its
    missing leading axes after the batch axis (PyTorch would align it with the batch)."""

    def aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        while a.dim() < b.dim():
            a = a.unsqueeze(1)
        while b.dim() < a.dim():
            b = b.unsqueeze(1)
        return fn(a, b)

    return aligned


def _broadcast_merge(name: str, fn):
    def gen(draw: Draw, x: Shape) -> Merge | None:
        branch = _operand(draw, x)
        if draw(st.booleans()):
            return Merge(branch, name + "({a}, {b})", _per_sample(fn))
        return Merge(branch, name + "({b}, {a})", _per_sample(lambda a, b: fn(b, a)))

    return gen


def gen_param(draw: Draw, x: Shape) -> Merge | None:
    op, fn = draw(st.sampled_from([("add", torch.add), ("mul", torch.mul), ("sub", torch.sub)]))
    return Merge(gen_param_step(draw, x), op + "({a}, {b})", _per_sample(fn))


#: Every op a spec can write -> its generator entry. Single-input ops return a
#: :class:`Step`, merges a :class:`Merge`; either returns None where it does not apply.
TORCH_BUILDERS: dict[str, Callable[[Draw, Shape], Step | Merge | None]] = {
    "dense": gen_dense,
    "conv2d": gen_conv2d,
    "conv1d": gen_conv1d,
    "conv3d": gen_conv3d,
    "conv_transpose2d": gen_conv_transpose2d,
    "conv_transpose3d": gen_conv_transpose3d,
    "upsample": gen_upsample,
    "maxpool": gen_pool("maxpool"),
    "avgpool": gen_pool("avgpool"),
    "global_avgpool": gen_global_avgpool,
    "adaptive_avgpool": gen_adaptive_avgpool,
    "flatten": gen_flatten,
    "reshape": gen_reshape,
    "pixel_shuffle": gen_pixel_shuffle,
    "batchnorm": gen_batchnorm,
    "layernorm": gen_layernorm,
    "groupnorm": gen_groupnorm,
    "instancenorm": gen_instancenorm,
    "dropout": gen_dropout,
    "embedding": gen_embedding,
    "attention": gen_attention,
    "lstm": gen_recurrent("lstm"),
    "gru": gen_recurrent("gru"),
    "moe": gen_moe,
    "add": _broadcast_merge("add", torch.add),
    "mul": _broadcast_merge("mul", torch.mul),
    "sub": _broadcast_merge("sub", torch.sub),
    "param": gen_param,
    "transpose": gen_transpose,
    "permute": gen_permute,
    "select": gen_select,
    "slice": gen_slice,
    "mean": _reduce("mean"),
    "sum": _reduce("sum"),
    "rmsnorm": gen_rmsnorm,
    "concat": gen_concat,
    "matmul": gen_matmul,
    "identity": _elementwise("identity", lambda t: t),
    "relu": gen_relu,
    "relu6": _elementwise("relu6", nn.functional.relu6),
    "leaky_relu": gen_leaky_relu,
    "elu": gen_elu,
    "gelu": _elementwise("gelu", lambda t: nn.functional.gelu(t, approximate="tanh")),
    "silu": _elementwise("silu", nn.functional.silu),
    "sigmoid": _elementwise("sigmoid", torch.sigmoid),
    "tanh": gen_tanh,
    "log": _elementwise("log", torch.log),
    "log_softmax": _class_axis("log_softmax", torch.log_softmax),
    "softmax": _class_axis("softmax", torch.softmax),
    "prelu": gen_prelu,
    "hardswish": _elementwise("hardswish", nn.functional.hardswish),
    "hardsigmoid": _elementwise("hardsigmoid", nn.functional.hardsigmoid),
    "softplus": gen_softplus,
    "mish": _elementwise("mish", nn.functional.mish),
}

#: Ops with weights, merges and pools: drawn three times as often as element-wise ones, so
#: that most specs hold some matrix work.
HEAVY = {
    "dense",
    "mul",
    "param",
    "conv2d",
    "conv1d",
    "conv3d",
    "conv_transpose2d",
    "conv_transpose3d",
    "attention",
    "lstm",
    "gru",
    "moe",
    "add",
    "concat",
    "matmul",
    "maxpool",
    "avgpool",
    "batchnorm",
    "layernorm",
    "groupnorm",
    "instancenorm",
    "reshape",
}

#: Ops the generator only places itself, never by a random pick from the catalog.
PLACED_ONLY = {"embedding"}


# ------------------------------------------------------------------------------ specs


@dataclass
class Generated:
    """A drawn spec and its PyTorch twin."""

    text: str
    model: nn.Module
    inputs: list[torch.Tensor]
    shapes: dict[str, Shape]  # per-sample shape of every named tensor, from PyTorch
    ops: list[str]  # the catalog ops the spec uses


class _Net(nn.Module):
    """The drawn network: statements run in order over a dict of named tensors."""

    def __init__(
        self,
        input_name: str,
        program: list[tuple[str, Callable, tuple[str, ...]]],
        modules: list[nn.Module],
    ) -> None:
        super().__init__()
        self.input_name = input_name
        self.program = program
        self.layers = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        env = {self.input_name: x}
        for out, fn, ins in self.program:
            env[out] = fn(*(env[i] for i in ins))
        return env


def _draw_input(draw: Draw, ids: bool) -> tuple[str, Shape, torch.Tensor, Step | None]:
    kinds = ["vector", "sequence", "sequence", "image", "image", "volume", "ids"]
    kind = "ids" if ids else draw(st.sampled_from(kinds))
    if kind == "vector":
        shape: Shape = (draw(st.integers(1, 8)),)
    elif kind == "sequence":
        shape = (draw(st.integers(1, 5)), draw(st.sampled_from([2, 4, 6, 8])))
    elif kind == "image":
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    elif kind == "volume":  # a clip or a volume [C, D, H, W]
        shape = (draw(st.integers(1, 3)), *(draw(st.integers(1, 5)) for _ in range(3)))
    else:
        t = draw(st.integers(1, 5))
        vocab, dim = draw(st.integers(1, 12)), draw(st.sampled_from([2, 4, 6]))
        emb = nn.Embedding(vocab, dim)
        return (
            "ids",
            (t,),
            torch.zeros(BATCH, t, dtype=torch.long),
            _module_step(f"embedding({vocab}, {dim})", emb),
        )
    return "x", shape, torch.randn(BATCH, *shape), None


@st.composite
def specs(draw, max_steps: int = 6, focus: str | None = None) -> Generated:
    """A random valid spec over every op of :data:`TORCH_BUILDERS` and the same network
    in PyTorch; with ``focus``, that op is drawn at every other step (and the input
    is token ids when it is the embedding)."""
    names = [n for n in TORCH_BUILDERS if n not in PLACED_ONLY]
    names += [n for n in names if n in HEAVY] * 2
    input_name, in_shape, sample, first = _draw_input(draw, focus in PLACED_ONLY)
    lines = [f"    input {input_name}: [{', '.join(map(str, in_shape))}]"]
    program: list[tuple[str, Callable, tuple[str, ...]]] = []
    modules: list[nn.Module] = []
    frozen: list[nn.Module] = []
    used_ops: list[str] = []
    shapes: dict[str, Shape] = {input_name: in_shape}
    values: dict[str, torch.Tensor] = {input_name: sample}
    consumed: set[str] = set()
    counter = [0]

    def emit(call: str, fn: Callable, ins: tuple[str, ...], mods, is_frozen: bool) -> str:
        counter[0] += 1
        out = f"t{counter[0]}"
        # a chain step reads one tensor; a merge's call names its tensors itself
        lines.append(f"    {out} = {ins[0]} -> {call}" if len(ins) == 1 else f"    {out} = {call}")
        if not ins:  # a source: shared by the batch, not a terminal to sum
            consumed.add(out)
        program.append((out, fn, ins))
        modules.extend(mods)
        if is_frozen:
            frozen.extend(mods)
        with torch.no_grad():
            values[out] = fn(*(values[i] for i in ins))
        shapes[out] = tuple(values[out].shape[1:])
        consumed.update(ins)
        return out

    current = input_name
    if first is not None:
        current = emit(first.call, first.fn, (current,), first.modules, first.frozen)
        used_ops.append("embedding")
    for _ in range(draw(st.integers(min(2, max_steps), max_steps))):
        x = shapes[current]
        entry = None
        for _attempt in range(4):  # an op that does not apply to this shape: draw again
            if focus in TORCH_BUILDERS and focus not in PLACED_ONLY and draw(st.booleans()):
                name = focus
            else:
                name = draw(st.sampled_from(names))
            entry = TORCH_BUILDERS[name](draw, x)
            if entry is not None:
                break
        if entry is None:
            continue
        used_ops.append(name)
        if isinstance(entry, Merge):
            b = entry.branch
            other = emit(b.call, b.fn, () if b.source else (current,), b.modules, b.frozen)
            call = entry.call.format(a=current, b=other)
            a_name = current
            current = emit(call, entry.fn, (a_name, other), entry.modules, entry.frozen)
        else:
            current = emit(entry.call, entry.fn, (current,), entry.modules, entry.frozen)
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    terminals = [n for n in shapes if n not in consumed]
    model = _Net(input_name, program, modules)
    model.terminals = terminals
    text = "model generated {\n" + "\n".join(lines) + "\n}\n"
    return Generated(text, model, [sample], shapes, used_ops)


def measure(g: Generated) -> dict:
    """PyTorch's counts for one sample of ``g``: params, forward MACs, backward MACs
    (input requiring grad, grouped-conv overcount removed) and the tensors' shapes."""
    model = g.model
    model.train()
    params = sum(p.numel() for p in model.parameters())
    x = g.inputs[0]
    if x.is_floating_point():
        x = x.clone().requires_grad_(True)
    grouped: list[tuple[nn.Module, torch.Tensor]] = []

    def grouped_conv_hook(conv: nn.Module, args: tuple, _out: torch.Tensor) -> None:
        if conv.groups > 1 and conv.weight.requires_grad:
            grouped.append((conv, args[0].detach()))

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    hooks = [
        m.register_forward_hook(grouped_conv_hook) for m in model.modules() if isinstance(m, convs)
    ]
    with FlopCounterMode(display=False) as fwd:
        env = model(x)
    for h in hooks:
        h.remove()
    loose = [env[t] for t in model.terminals if env[t].requires_grad]
    with FlopCounterMode(display=False) as bwd:
        if loose:
            torch.stack([t.float().sum() for t in loose]).sum().backward()
    # pytorch#183405: the counter charges a grouped conv's weight gradient `groups` times,
    # (groups - 1) x the layer's forward FLOPs too many; each layer's forward is re-counted alone
    excess = 0
    for conv, inp in grouped:
        with torch.no_grad(), FlopCounterMode(display=False) as alone:
            conv.forward(inp)
        excess += (conv.groups - 1) * alone.get_total_flops()
    excess *= _groups_overcount_factor()
    backward = bwd.get_total_flops() - excess
    forward = fwd.get_total_flops()
    assert forward % (2 * BATCH) == 0 and backward % (2 * BATCH) == 0
    return {
        "params": params,
        "macs": forward // (2 * BATCH),
        "backward_macs": backward // (2 * BATCH),
        "shapes": {name: tuple(env[name].shape[1:]) for name in env},
    }
