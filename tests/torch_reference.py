"""PyTorch builds of the example architectures, the independent check on nnlint's numbers.

Each architecture in ``examples/*.nn`` is written again here in plain ``torch.nn``
(no torchvision, no nnlint code), from the architecture itself. ``measure`` reports
what PyTorch says about it: its parameter count and the FLOPs that
``torch.utils.flop_counter.FlopCounterMode`` counts for one sample's forward pass
and, separately, for the backward pass of ``out.float().sum()``.

Conventions of these measurements (each one a documented difference from nnlint,
not a tolerance):

- FlopCounterMode counts matrix products and convolutions only (2 FLOPs per MAC);
  bias adds, activations, normalisation, softmax, pooling and the loss count 0.
- The example inputs do not require grad, so the backward pass skips the gradient
  with respect to the input of the first layer (and embeddings have no input
  gradient at all).
- ``backward()`` starts from ``out.sum()``: there is no loss, and the output
  gradient is a tensor of ones.
- Attention is written by hand (four biased projections, ``q @ k^T``, scale,
  optional causal mask, softmax, ``@ v``), because FlopCounterMode does not count
  ``scaled_dot_product_attention`` on the CPU.
- Shared (tied) parameters appear once in ``model.parameters()``.
- Known FlopCounterMode bug (torch 2.13): for a grouped convolution its backward
  formula counts the weight gradient as if ``groups`` were 1, i.e. ``groups`` times
  too many FLOPs (the forward and input-gradient counts are right). For a depthwise
  conv that is a factor of C. ``backward_flops`` keeps the counter's total as
  reported; ``grouped_conv_backward_overcount`` is the excess, so the true
  backward figure is the difference (see pytorch/pytorch#183405, which divides
  by ``groups``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["ARCHITECTURES", "forward_macs", "measure", "saved_bytes"]


# --------------------------------------------------------------------------- MLPs


class MnistMLP(nn.Module):
    """784 -> 256 -> 128 -> 10, relu hidden layers, softmax output (``probs``)."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(784, 256)
        self.l2 = nn.Linear(256, 128)
        self.l3 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = torch.relu(self.l1(x))
        h2 = torch.relu(self.l2(h1))
        return torch.softmax(self.l3(h2), dim=-1)


class XorNet(nn.Module):
    """2 -> 2 -> 1, relu hidden layer, sigmoid output (``prob``)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, 2)
        self.out = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.relu(self.hidden(x))))


# ------------------------------------------------------------------------ ResNet-50


def _conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: 1x1 (w) -> 3x3 (w, stride s) -> 1x1 (4w), + shortcut."""

    def __init__(self, c_in: int, w: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(c_in, w, 1),
            nn.ReLU(),
            *_conv_bn(w, w, 3, stride=stride, padding=1),
            nn.ReLU(),
            *_conv_bn(w, 4 * w, 1),
        )
        if stride != 1 or c_in != 4 * w:
            self.shortcut: nn.Module = nn.Sequential(*_conv_bn(c_in, 4 * w, 1, stride=stride))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shortcut(x) + self.body(x))


class ResNet50(nn.Module):
    """Stem, stages of 3, 4, 6, 3 bottlenecks (widths 64..512), global pool, fc 1000."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            *_conv_bn(3, 64, 7, stride=2, padding=3),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
        c_in = 64
        for w, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(n):
                layers.append(Bottleneck(c_in, w, stride if i == 0 else 1))
                c_in = 4 * w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        h = torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1)
        return self.fc(h)


# --------------------------------------------------------------------- MobileNetV2


class _ShapeKeepingResidual(nn.Module):
    """A body of layers, with the identity added when it keeps the shape (stride 1 and
    c_in == c_out): MobileNetV2's inverted residual and EfficientNet's MBConv."""

    def __init__(self, layers: list[nn.Module], c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class InvertedResidual(_ShapeKeepingResidual):
    """[1x1 expand to t*c_in ->] 3x3 depthwise (stride s) -> linear 1x1 to c_out."""

    def __init__(self, c_in: int, c_out: int, stride: int, t: int) -> None:
        hidden = t * c_in
        layers: list[nn.Module] = []
        if t != 1:
            layers += [*_conv_bn(c_in, hidden, 1), nn.ReLU6()]
        layers += [
            *_conv_bn(hidden, hidden, 3, stride=stride, padding=1, groups=hidden),
            nn.ReLU6(),
            *_conv_bn(hidden, c_out, 1),
        ]
        super().__init__(layers, c_in, c_out, stride)


class _PooledClassifier(nn.Module):
    """Feature layers ending in 1280 channels, then global average pool, dropout 0.2 and a
    linear classifier: the head MobileNetV2 and EfficientNet-B0 share."""

    def __init__(self, layers: list[nn.Module], classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.fc(self.dropout(h))


class MobileNetV2(_PooledClassifier):
    """MobileNetV2 1.0: stem 32, seven inverted-residual stages, 1x1 to 1280, classifier."""

    def __init__(self, classes: int = 1000) -> None:
        layers: list[nn.Module] = [*_conv_bn(3, 32, 3, stride=2, padding=1), nn.ReLU6()]
        c_in = 32
        for t, c, n, s in [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ]:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers += [*_conv_bn(320, 1280, 1), nn.ReLU6()]
        super().__init__(layers, classes)


# --------------------------------------------------------------------- transformers


class SelfAttention(nn.Module):
    """Multi-head self-attention over [B, T, D]: 4 biased projections, 4(D^2 + D) params."""

    def __init__(self, d: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        assert d % heads == 0
        self.heads = heads
        self.causal = causal
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        dh = d // self.heads

        def split(z: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, h, T, dh]
            return z.view(b, t, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(dh)  # [B, h, T, T]
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        ctx = torch.softmax(scores, dim=-1) @ v  # [B, h, T, dh]
        return self.out(ctx.transpose(1, 2).reshape(b, t, d))


def rope(z: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of [B, heads, T, dh]: x·cos + rot(x)·sin
    with the "rotate half" pairing of GPT-NeoX and Llama; no parameters."""
    t, dh = z.shape[-2], z.shape[-1]
    inv = 1.0 / (10000 ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh))
    angles = torch.outer(torch.arange(t, dtype=torch.float32), inv)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    cos, sin = cos.to(z.dtype), sin.to(z.dtype)  # the tables at the activations' width
    rotated = torch.cat([-z[..., dh // 2 :], z[..., : dh // 2]], -1)
    return z * cos + rotated * sin


class Attention(nn.Module):
    """Attention with every variant: grouped-query (``kv_heads``), a bias on any subset of
    the q, k, v, o projections, RoPE, a causal and/or sliding-window mask, and
    cross-attention (keys and values from ``mem`` of width ``d_mem``). K and V are
    repeated to the query heads with ``repeat_interleave`` (no FLOPs)."""

    def __init__(
        self,
        d: int,
        heads: int,
        kv_heads: int | None = None,
        bias: str = "qkvo",
        causal: bool = False,
        use_rope: bool = False,
        window: int | None = None,
        d_mem: int | None = None,
    ) -> None:
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads or heads
        self.dh = d // heads
        self.causal, self.use_rope, self.window = causal, use_rope, window
        d_kv, d_mem = self.kv_heads * self.dh, d_mem or d
        self.q = nn.Linear(d, d, bias="q" in bias)
        self.k = nn.Linear(d_mem, d_kv, bias="k" in bias)
        self.v = nn.Linear(d_mem, d_kv, bias="v" in bias)
        self.out = nn.Linear(d, d, bias="o" in bias)

    def forward(self, x: torch.Tensor, mem: torch.Tensor | None = None) -> torch.Tensor:
        mem = x if mem is None else mem
        b, t, d = x.shape
        tk = mem.shape[1]
        q = self.q(x).view(b, t, self.heads, self.dh).transpose(1, 2)
        k = self.k(mem).view(b, tk, self.kv_heads, self.dh).transpose(1, 2)
        v = self.v(mem).view(b, tk, self.kv_heads, self.dh).transpose(1, 2)
        if self.use_rope:
            q, k = rope(q), rope(k)
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.dh)
        i = torch.arange(t).unsqueeze(1)
        j = torch.arange(tk).unsqueeze(0)
        masked = torch.zeros(t, tk, dtype=torch.bool)
        if self.causal:
            masked |= j > i
        if self.window is not None:
            masked |= j <= i - self.window
        if self.causal or self.window is not None:
            scores = scores.masked_fill(masked, float("-inf"))
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.out(ctx.transpose(1, 2).reshape(b, t, d))


class Recurrent(nn.Module):
    """``nn.LSTM`` or ``nn.GRU`` (``batch_first``) run step by step with explicit matrix
    products — ``x_t @ W_ih.T + b_ih`` and ``h @ W_hh.T + b_hh`` at every step, the zero
    initial state included — because FlopCounterMode counts nothing for ``aten::lstm`` /
    ``aten::gru``. The parameters are the real module's (so ``sum(numel)`` is PyTorch's
    own count); the initial states are zeros that do not require grad (PyTorch's default),
    and ``dropout`` drops every layer's output but the last's in training, as the real
    module does. ``forward`` matches the real module's output (a test checks it)."""

    def __init__(
        self,
        kind: str,
        d: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        module = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.kind, self.hidden, self.layers = kind, hidden, layers
        self.directions = 2 if bidirectional else 1
        self.rnn = module(
            d,
            hidden,
            num_layers=layers,
            bias=bias,
            batch_first=True,
            dropout=dropout,
            bidirectional=bidirectional,
        )

    def _weights(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda name: getattr(self.rnn, name + suffix, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _cell(self, x_t, h, c, w_ih, w_hh, b_ih, b_hh):
        gi = x_t @ w_ih.T + (b_ih if b_ih is not None else 0)
        gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
        if self.kind == "lstm":
            i, f, g, o = (gi + gh).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return n + z * (h - n), c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled("cpu"):
            # autocast lowers the fused CPU kernel (``mkldnn_rnn_layer``) as a whole: the input
            # and the weights are cast once, every step runs in the lower precision
            dtype = torch.get_autocast_dtype("cpu")
            with torch.autocast("cpu", enabled=False):
                return self._layers(x.to(dtype), dtype)
        return self._layers(x, None)

    def _layers(self, x: torch.Tensor, dtype) -> torch.Tensor:
        b, t, _ = x.shape
        for layer in range(self.layers):
            outputs = []
            for direction in range(self.directions):
                weights = self._weights(layer, direction)
                if dtype is not None:
                    weights = tuple(w if w is None else w.to(dtype) for w in weights)
                h = x.new_zeros(b, self.hidden)
                c = x.new_zeros(b, self.hidden)
                steps = range(t - 1, -1, -1) if direction else range(t)
                out = [None] * t
                for s in steps:
                    h, c = self._cell(x[:, s], h, c, *weights)
                    out[s] = h
                outputs.append(torch.stack(out, dim=1))
            x = torch.cat(outputs, dim=-1)
            if layer < self.layers - 1 and self.rnn.dropout > 0:
                x = nn.functional.dropout(x, self.rnn.dropout, self.training)
        return x


class SwiGLU(nn.Module):
    """Bias-free gated feed-forward ``down(silu(gate(x)) * up(x))`` (Shazeer 2020; Llama)."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d, hidden, bias=False)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


class MoE(nn.Module):
    """Sparse mixture of SwiGLU experts with explicit routing, as Mixtral's reference code
    writes it: a bias-free router, ``topk`` of its scores, a softmax over the ``k`` chosen,
    then per expert the tokens routed to it (``torch.where``) gathered, run through it,
    weighted and ``index_add``-ed into the output; ``shared`` experts run on every token,
    unweighted (DeepSeekMoE). No capacity limit: every token visits exactly ``k`` experts,
    so the counted work does not depend on which experts the router picks."""

    def __init__(self, d: int, experts: int, k: int, hidden: int, shared: int = 0) -> None:
        super().__init__()
        self.k = k
        self.router = nn.Linear(d, experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(d, hidden) for _ in range(experts))
        self.shared = nn.ModuleList(SwiGLU(d, hidden) for _ in range(shared))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        scores, chosen = self.router(x).topk(self.k, dim=-1)
        gates = torch.softmax(scores, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = torch.where(chosen == e)
            weighted = expert(x[token]) * gates[token, slot, None]
            out = out.index_add(0, token, weighted.to(out.dtype))  # autocast: bf16 experts
        for expert in self.shared:
            out = out + expert(x)
        return out.reshape(shape)


class BertLayer(nn.Module):
    """Post-LN encoder layer: LN(x + drop(attn(x))), then LN(h + drop(FFN(h)))."""

    def __init__(self, d: int, heads: int, d_ff: int, p: float = 0.1) -> None:
        super().__init__()
        self.attn = SelfAttention(d, heads)
        self.drop1 = nn.Dropout(p)
        self.ln1 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, d_ff)
        self.ff2 = nn.Linear(d_ff, d)
        self.drop2 = nn.Dropout(p)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x + self.drop1(self.attn(x)))
        f = self.drop2(self.ff2(nn.functional.gelu(self.ff1(h))))
        return self.ln2(h + f)


class BertBase(nn.Module):
    """BERT-base encoder without the pooler: embeddings 30522/512/2 x 768, 12 layers."""

    def __init__(self) -> None:
        super().__init__()
        d = 768
        self.tok = nn.Embedding(30522, d)
        self.pos = nn.Embedding(512, d)
        self.seg = nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(0.1)
        self.layers = nn.Sequential(*[BertLayer(d, 12, 3072) for _ in range(12)])

    def forward(
        self, ids: torch.Tensor, positions: torch.Tensor, segments: torch.Tensor
    ) -> torch.Tensor:
        emb = self.tok(ids) + self.pos(positions) + self.seg(segments)
        return self.layers(self.drop(self.ln(emb)))


class GptLayer(nn.Module):
    """Pre-LN decoder layer: x + attn(LN(x)), then h + FFN(LN(h)) with a 4d GELU FFN."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads, causal=True)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attn(self.ln1(x))
        return h + self.ff2(nn.functional.gelu(self.ff1(self.ln2(h))))


class TinyGPT(nn.Module):
    """Vocab 8000, T=256, D=256, 4 heads, 4 layers, final LN, head tied to tok."""

    def __init__(
        self, vocab: int = 8000, t: int = 256, d: int = 256, heads: int = 4, n_layers: int = 4
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pe = nn.Embedding(t, d)
        self.layers = nn.Sequential(*[GptLayer(d, heads) for _ in range(n_layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied: one parameter, counted once

    def forward(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        h = self.layers(self.tok(ids) + self.pe(pos))
        return self.head(self.ln(h))


# ----------------------------------------------------------------------------- ViT


class VitLayer(nn.Module):
    """Pre-LN encoder layer: x + attn(LN(x)), then h + MLP(LN(h)) with a GELU MLP."""

    def __init__(self, d: int, heads: int, d_ff: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = SelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, d_ff)
        self.ff2 = nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attn(self.ln1(x))
        return h + self.ff2(nn.functional.gelu(self.ff1(self.ln2(h))))


class VitB16(nn.Module):
    """ViT-B/16: 16x16 patches by a strided conv, class token, learned positions, 12 layers
    of width 768, final LN, the class token classified (torchvision ``vit_b_16`` layout)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        d = 768
        self.patch = nn.Conv2d(3, d, 16, stride=16)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 197, d))
        self.layers = nn.Sequential(*[VitLayer(d, 12, 3072) for _ in range(12)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch(x).flatten(2).transpose(1, 2)  # [B, 196, 768]
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), p], dim=1) + self.pos
        return self.head(self.ln(self.layers(t))[:, 0])


# ------------------------------------------------------------------- EfficientNet-B0


class SqueezeExcite(nn.Module):
    """Global average, 1x1 conv to ``sq`` channels, SiLU, 1x1 conv back, sigmoid gate."""

    def __init__(self, c: int, sq: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, sq, 1)
        self.fc2 = nn.Conv2d(sq, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(s))))


class MBConv(_ShapeKeepingResidual):
    """[1x1 expand ×t, BN, SiLU] -> depthwise k×k (stride s), BN, SiLU -> SE (squeeze to
    c_in/4) -> 1x1 project, BN; residual when stride 1 and c_in == c_out (stochastic depth
    is training-only and parameter-free: left out)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, t: int) -> None:
        hidden = t * c_in
        layers: list[nn.Module] = []
        if t != 1:
            layers += [*_conv_bn(c_in, hidden, 1), nn.SiLU()]
        layers += [
            *_conv_bn(hidden, hidden, k, stride=stride, padding=(k - 1) // 2, groups=hidden),
            nn.SiLU(),
            SqueezeExcite(hidden, max(1, c_in // 4)),
            *_conv_bn(hidden, c_out, 1),
        ]
        super().__init__(layers, c_in, c_out, stride)


class EfficientNetB0(_PooledClassifier):
    """EfficientNet-B0 (torchvision ``efficientnet_b0`` layout): stem 32, seven MBConv
    stages, 1x1 to 1280, global pool, dropout 0.2, classifier."""

    def __init__(self, classes: int = 1000) -> None:
        layers: list[nn.Module] = [*_conv_bn(3, 32, 3, stride=2, padding=1), nn.SiLU()]
        c_in = 32
        for t, k, s, c, n in [
            (1, 3, 1, 16, 1),
            (6, 3, 2, 24, 2),
            (6, 5, 2, 40, 2),
            (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3),
            (6, 5, 2, 192, 4),
            (6, 3, 1, 320, 1),
        ]:
            for i in range(n):
                layers.append(MBConv(c_in, c, k, s if i == 0 else 1, t))
                c_in = c
        layers += [*_conv_bn(320, 1280, 1), nn.SiLU()]
        super().__init__(layers, classes)


# ---------------------------------------------------------------------- registry


def _mnist_mlp() -> tuple[nn.Module, list[torch.Tensor]]:
    return MnistMLP(), [torch.randn(1, 784)]


def _xor() -> tuple[nn.Module, list[torch.Tensor]]:
    return XorNet(), [torch.tensor([[1.0, 0.0]])]


def _resnet50() -> tuple[nn.Module, list[torch.Tensor]]:
    return ResNet50(), [torch.randn(1, 3, 224, 224)]


def _bert_base() -> tuple[nn.Module, list[torch.Tensor]]:
    t = 128
    ids = torch.randint(0, 30522, (1, t))
    positions = torch.arange(t).unsqueeze(0)
    segments = (torch.arange(t) >= t // 2).long().unsqueeze(0)
    return BertBase(), [ids, positions, segments]


def _mobilenet_v2() -> tuple[nn.Module, list[torch.Tensor]]:
    return MobileNetV2(), [torch.randn(1, 3, 224, 224)]


def _tiny_gpt() -> tuple[nn.Module, list[torch.Tensor]]:
    t = 256
    return TinyGPT(), [torch.randint(0, 8000, (1, t)), torch.arange(t).unsqueeze(0)]


def _vit_b16() -> tuple[nn.Module, list[torch.Tensor]]:
    return VitB16(), [torch.randn(1, 3, 224, 224)]


def _efficientnet_b0() -> tuple[nn.Module, list[torch.Tensor]]:
    return EfficientNetB0(), [torch.randn(1, 3, 224, 224)]


# Key = the example file's stem; each builder returns (model, inputs for one sample).
# ---------------------------------------------------------------------------- U-Net


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with padded 3x3 convs: 64-128-256-512-1024 channels
    down (2x2 max pooling), 2x2 stride-2 transposed convs up, the skip concatenated
    before the up-projection's output, a 1x1 conv to the classes."""

    def __init__(self, c_in: int = 1, classes: int = 2) -> None:
        super().__init__()
        widths = [64, 128, 256, 512, 1024]
        self.down = nn.ModuleList()
        for w in widths:
            self.down.append(_double_conv(c_in, w))
            c_in = w
        self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, 2) for w in widths[-2::-1])
        self.convs = nn.ModuleList(_double_conv(2 * w, w) for w in widths[-2::-1])
        self.head = nn.Conv2d(64, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, conv in zip(self.ups, self.convs):
            x = conv(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def _unet():
    return UNet(), [torch.randn(1, 1, 256, 256)]


# ------------------------------------------------------- encoder-decoder Transformer


class EncoderLayer(nn.Module):
    """Post-LN: LN(x + drop(attn(x))), then LN(h + drop(FFN(h))) with a relu FFN."""

    def __init__(self, d: int, heads: int, d_ff: int, p: float = 0.1) -> None:
        super().__init__()
        self.attn = Attention(d, heads)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.ReLU(), nn.Linear(d_ff, d), nn.Dropout(p))
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x + self.drop(self.attn(x)))
        return self.ln2(h + self.ff(h))


class DecoderLayer(nn.Module):
    """Post-LN: causal self-attention, cross-attention to the encoder output, FFN."""

    def __init__(self, d: int, heads: int, d_ff: int, p: float = 0.1) -> None:
        super().__init__()
        self.self_attn = Attention(d, heads, causal=True)
        self.cross = Attention(d, heads)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.ReLU(), nn.Linear(d_ff, d), nn.Dropout(p))
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x + self.drop(self.self_attn(x)))
        g = self.ln2(h + self.drop(self.cross(h, mem)))
        return self.ln3(g + self.ff(g))


class TransformerBase(nn.Module):
    """Vaswani et al. 2017 base: 6+6 layers, d=512, 8 heads, FFN 2048, one embedding
    shared by source, target and the (bias-free) output projection."""

    def __init__(self, vocab: int = 37000, d: int = 512, heads: int = 8, d_ff: int = 2048):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.drop = nn.Dropout(0.1)
        self.enc = nn.ModuleList(EncoderLayer(d, heads, d_ff) for _ in range(6))
        self.dec = nn.ModuleList(DecoderLayer(d, heads, d_ff) for _ in range(6))
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        mem = self.drop(self.emb(src))
        for layer in self.enc:
            mem = layer(mem)
        x = self.drop(self.emb(tgt))
        for layer in self.dec:
            x = layer(x, mem)
        return self.out(x)


def _transformer_base():
    src = torch.randint(0, 37000, (1, 128))
    tgt = torch.randint(0, 37000, (1, 96))
    return TransformerBase(), [src, tgt]


# ----------------------------------------------------------------- LSTM language model


class LstmLM(nn.Module):
    """Zaremba et al. 2014, "medium": embedding 10,000 x 650, dropout 0.5, a 2-layer LSTM of
    650 units (dropout 0.5 between the layers), dropout 0.5, an untied linear softmax layer.
    The LSTM is :class:`Recurrent` (explicit matmuls over ``nn.LSTM``'s parameters)."""

    def __init__(self, vocab: int = 10000, d: int = 650, layers: int = 2, p: float = 0.5) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.drop = nn.Dropout(p)
        self.lstm = Recurrent("lstm", d, d, layers, dropout=p)
        self.out = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.lstm(self.drop(self.emb(ids)))
        return self.out(self.drop(h))


def _lstm_lm():
    return LstmLM(), [torch.randint(0, 10000, (1, 35))]


# ------------------------------------------------------------- Llama 2 and Mixtral


class LlamaLayer(nn.Module):
    """Pre-norm decoder layer of Llama 2 and Mixtral: ``h = x + attn(RMSNorm(x))`` with
    bias-free grouped-query attention and RoPE, then ``h + ffn(RMSNorm(h))`` where the
    feed-forward is a SwiGLU (Llama) or a mixture of SwiGLU experts (Mixtral)."""

    def __init__(self, d: int, heads: int, kv: int, ffn: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d)
        self.attn = Attention(d, heads, kv, bias="", causal=True, use_rope=True)
        self.norm2 = nn.RMSNorm(d)
        self.ffn = ffn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attn(self.norm1(x))
        return h + self.ffn(self.norm2(h))


class Llama(nn.Module):
    """Token embedding, decoder layers, a final RMSNorm and an untied bias-free head; with
    ``experts`` every feed-forward is a mixture of experts (Mixtral)."""

    def __init__(
        self,
        vocab: int,
        d: int,
        heads: int,
        kv: int,
        ff: int,
        layers: int,
        experts: int = 0,
        top_k: int = 0,
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.layers = nn.Sequential(
            *[
                LlamaLayer(d, heads, kv, MoE(d, experts, top_k, ff) if experts else SwiGLU(d, ff))
                for _ in range(layers)
            ]
        )
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.layers(self.tok(ids))))


#: The reduced width and depth the PyTorch twins of the full-size examples are built at
#: (the examples' own blocks, called with these sizes: ``tests/helpers.py`` ``REDUCED``).
LLAMA_TWIN = dict(vocab=64, d=32, heads=4, kv=2, ff=48, layers=2)
MIXTRAL_TWIN = dict(vocab=64, d=32, heads=4, kv=2, ff=24, layers=2, experts=4, top_k=2)
TWIN_TOKENS = 16


def _llama2_7b():
    return Llama(**LLAMA_TWIN), [torch.randint(0, 64, (1, TWIN_TOKENS))]


def _mixtral_8x7b():
    return Llama(**MIXTRAL_TWIN), [torch.randint(0, 64, (1, TWIN_TOKENS))]


ARCHITECTURES: dict[str, Callable[[], tuple[nn.Module, list[torch.Tensor]]]] = {
    "mnist_mlp": _mnist_mlp,
    "xor": _xor,
    "resnet50": _resnet50,
    "bert_base": _bert_base,
    "mobilenet_v2": _mobilenet_v2,
    "tiny_gpt": _tiny_gpt,
    "vit_b16": _vit_b16,
    "efficientnet_b0": _efficientnet_b0,
    "unet": _unet,
    "transformer_base": _transformer_base,
    "lstm_lm": _lstm_lm,
    "llama2_7b": _llama2_7b,
    "mixtral_8x7b": _mixtral_8x7b,
}


def _groups_overcount_factor() -> int:
    """1 if FlopCounterMode counts a grouped conv's weight gradient `groups` times over, else 0.

    Probe: a 1x1 depthwise conv, 4 channels, one pixel, input without grad. Its weight
    gradient is 4 MACs = 8 FLOPs; the buggy formula reports 4 x 8 = 32.
    """
    conv = nn.Conv2d(4, 4, 1, groups=4, bias=False)
    out = conv(torch.ones(1, 4, 1, 1))
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    return 0 if counter.get_total_flops() == 8 else 1


def measure(stem: str) -> dict:
    """Parameter count and FlopCounterMode forward / backward FLOPs for one sample.

    Returns {"params", "forward_flops", "backward_flops",
    "grouped_conv_backward_overcount"}; the last is what ``backward_flops`` holds
    beyond the true count because of the grouped-conv bug described above.
    """
    torch.manual_seed(0)
    model, inputs = ARCHITECTURES[stem]()
    model.train()
    for x in inputs:
        assert not x.requires_grad  # the first layer's input gradient is skipped
    params = sum(p.numel() for p in model.parameters())

    # Weight-gradient FLOPs of each grouped conv = its forward FLOPs; the counter
    # reports `groups` times that, (groups - 1) x forward too many.
    excess_per_forward: list[int] = []

    def grouped_conv_hook(conv: nn.Conv2d, _args: tuple, out: torch.Tensor) -> None:
        if conv.groups > 1 and conv.weight.requires_grad:
            forward = 2 * out.numel() * conv.weight[0].numel()
            excess_per_forward.append((conv.groups - 1) * forward)

    hooks = [
        m.register_forward_hook(grouped_conv_hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with FlopCounterMode(display=False) as forward_counter:
        out = model(*inputs)
    for h in hooks:
        h.remove()
    with FlopCounterMode(display=False) as backward_counter:
        out.float().sum().backward()

    return {
        "params": params,
        "forward_flops": forward_counter.get_total_flops(),
        "backward_flops": backward_counter.get_total_flops(),
        "grouped_conv_backward_overcount": _groups_overcount_factor() * sum(excess_per_forward),
    }


def forward_macs(model: nn.Module, inputs: list) -> int:
    """MACs of one forward pass in eval mode without autograd: FlopCounterMode's FLOPs ÷ 2."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def saved_bytes(model: nn.Module, inputs: list, autocast: bool = False) -> int:
    """Bytes of the tensors autograd saves in one forward pass (under bf16 autocast on the
    CPU with ``autocast``), once per storage, parameters and buffers aside (0-d tensors
    are Python scalars)."""
    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in state and tensor.dim() > 0:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast)
    with cast, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(*inputs)
    return sum(seen.values())


if __name__ == "__main__":
    for name in ARCHITECTURES:
        m = measure(name)
        print(
            f"{name:14s} params {m['params']:>13,}  forward {m['forward_flops']:>16,}"
            f"  backward {m['backward_flops']:>16,}"
            f"  (grouped-conv overcount {m['grouped_conv_backward_overcount']:,})"
        )
