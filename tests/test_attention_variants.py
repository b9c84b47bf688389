"""Attention's variants against PyTorch: grouped-query and multi-query attention, bias
subsets, RoPE, sliding windows and cross-attention (``kv=NAME``), each written by hand in
``torch_reference.Attention`` (FlopCounterMode does not count the CPU SDPA kernel).

Each spec puts a dense layer before the attention, so the model input's gradient
(which PyTorch skips and nnlint counts, ``input_grad_macs``) is only that layer's:
params == Σ numel, MACs == FlopCounterMode/2, and PyTorch's backward ==
2·(backward_macs − input_grad_macs) exactly.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import layers, report_of  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_reference import Attention  # noqa: E402

nn = torch.nn

# (nnlint options, torch keyword arguments)
VARIANTS = [
    ("8", {}),
    (
        "8, kv_heads=2, bias=false, causal=true, rope=true",
        dict(kv_heads=2, bias="", causal=True, use_rope=True),
    ),
    ("8, kv_heads=1", dict(kv_heads=1)),
    ("8, bias=[q, k, v]", dict(bias="qkv")),
    ("8, bias=[q, v, o], causal=true", dict(bias="qvo", causal=True)),
    (
        "4, kv_heads=2, causal=true, window=3, rope=true",
        dict(heads=4, kv_heads=2, causal=True, window=3, use_rope=True),
    ),
    ("8, kv=mem", dict(cross=True)),
    ("8, kv_heads=4, bias=false, kv=mem", dict(kv_heads=4, bias="", cross=True)),
]


class Net(nn.Module):
    def __init__(self, d: int, d_mem: int, heads: int, cross: bool, **kw) -> None:
        super().__init__()
        self.inp = nn.Linear(d, d)
        self.mem = nn.Linear(d_mem, d_mem) if cross else None
        self.attn = Attention(d, heads, d_mem=d_mem if cross else None, **kw)

    def forward(self, x, src):
        mem = self.mem(src) if self.mem is not None else None
        return self.attn(self.inp(x), mem)


def _torch(kw: dict, d: int = 64, d_mem: int = 48, t: int = 9, t_mem: int = 5) -> dict:
    kw = dict(kw)
    heads = kw.pop("heads", 8)
    cross = kw.pop("cross", False)
    torch.manual_seed(0)
    model = Net(d, d_mem, heads, cross, **kw)
    x, src = torch.randn(1, t, d), torch.randn(1, t_mem, d_mem)
    with FlopCounterMode(display=False) as fwd:
        out = model(x, src)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "forward": fwd.get_total_flops(),
        "backward": bwd.get_total_flops(),
    }


def _spec(options: str) -> str:
    cross = "kv=mem" in options
    return (
        f"""
        model m {{
            input x: [9, 64]
            input src: [5, 48]
            mem = src -> dense(48)
            y = x -> dense(64) -> attention({options})
        }}
    """
        if cross
        else f"""
        model m {{
            input x: [9, 64]
            y = x -> dense(64) -> attention({options})
        }}
    """
    )


@pytest.mark.parametrize(("options", "kw"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_attention_variant_matches_torch(options, kw):
    theirs = _torch(kw)
    t = report_of(_spec(options)).totals
    assert t.params == theirs["params"]
    assert 2 * t.macs == theirs["forward"]
    assert 2 * (t.backward_macs - t.input_grad_macs) == theirs["backward"]


def test_cross_attention_reads_its_memory_and_sends_it_gradient():
    report = report_of(_spec("8, kv=mem"))
    (attn,) = layers(report, "attention")
    assert attn.node.in_shapes == ((9, 64), (5, 48))
    assert report.lowered.tensors["mem"] in attn.node.inputs
    # scores are T_q·T_kv per head; the cache holds the memory's 5 tokens (2·D_kv each)
    assert attn.node.kind.score_elements(attn.node.opts, attn.node.in_shapes) == 8 * 9 * 5
    assert attn.node.kind.kv_cache_elements(attn.node.opts, attn.node.in_shapes, 4096) == 2 * 64 * 5


def test_sliding_window_caches_at_most_window_tokens():
    report = report_of(_spec("8, kv_heads=2, causal=true, window=4"))
    (attn,) = layers(report, "attention")
    kind, opts, shapes = attn.node.kind, attn.node.opts, attn.node.in_shapes
    assert kind.kv_cache_elements(opts, shapes, 4096) == 2 * (2 * 8) * 4
    assert kind.kv_cache_elements(opts, shapes, 3) == 2 * (2 * 8) * 3


def test_rope_flops_follow_the_documented_convention():
    plain = layers(report_of(_spec("8, kv_heads=2")), "attention")[0].train
    rotated = layers(report_of(_spec("8, kv_heads=2, rope=true")), "attention")[0].train
    rotated_elements = 9 * 64 + 9 * 16  # Q [9, 64] and K [9, 2·8]
    assert rotated.params == plain.params
    assert rotated.forward_flops - plain.forward_flops == 3 * rotated_elements
    assert rotated.backward_flops - plain.backward_flops == 3 * rotated_elements


def test_block_parameter_names_a_tensor_of_the_caller():
    report = report_of("""
        block dec(d, heads, mem) {
            input x
            a = x -> attention(heads, causal=true)
            h = add(x, a)
            c = h -> attention(heads, kv=mem)
            out = add(h, c) -> dense(d)
        }
        model m {
            input tgt: [6, 32]
            input src: [11, 32]
            y = tgt -> dense(32) -> dec(32, 4, mem=enc) * 2
            enc = src -> dense(32)
        }
    """)
    enc = report.lowered.tensors["enc"]
    cross = [a for a in layers(report, "attention") if len(a.node.inputs) == 2]
    assert len(cross) == 2
    assert all(a.node.inputs[1] == enc for a in cross)
    assert report.lowered.order.index(enc) < report.lowered.order.index(cross[0].node.id)


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        ("8, kv_heads=3", "NN007", "kv_heads=3 must divide heads=8"),
        ("8, bias=[q, x]", "NN006", "true, false or a list of the projections"),
        ("8, bias=[q, q]", "NN006", "names a projection twice"),
        ("8, kv=nowhere", "NN002", "undefined name `nowhere`"),
        ("8, window=0", "NN007", "must be at least 1"),
        ("8, heads=(3, 1)", "NN005", "given twice"),
        ("8, causal=(1, 2)", "NN006", "takes one value, not a pair"),
    ],
)
def test_bad_attention_options_are_located(options, code, message):
    from nnlint.check import check_text

    result = check_text(
        f"model m {{\n    input x: [9, 64]\n    y = x -> attention({options})\n}}\n", "m.nn"
    )
    (d,) = [d for d in result.diagnostics if d.code == code]
    assert message in d.message
    assert d.span.line == 3
