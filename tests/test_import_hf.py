"""``nnlint import config.json``: Hugging Face configs written as specs.

* Published parameter counts, from the configs in ``tests/data/hf/`` (each the model's
  public ``config.json``): the spec ``nnlint check`` reads back has exactly them.
* At reduced size, the spec of a config against a hand-written PyTorch model of the same
  family, laid out as its ``transformers`` modelling code is: params == ``sum(numel)``,
  MACs == ``FlopCounterMode`` ÷ 2 (one sample).
* A key the mapping cannot honour, an unknown ``model_type`` or a key it does not know is
  an error located at the key (``file:line:col``); every one is listed; nothing is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import unaligned

from nnlint.cli import main
from nnlint.format import format_text
from nnlint.importers.hf_config import IGNORED_KEYS

DATA = Path(__file__).resolve().parent / "data" / "hf"


def imported(config: Path, capsys, *extra: str) -> str:
    out = config.parent / f"{config.parent.name}.nn"
    assert main(["import", str(config), "-o", str(out), *extra]) == 0, capsys.readouterr().err
    return out.read_text(encoding="utf-8")


def checked(text: str, tmp_path: Path, capsys) -> dict:
    spec = tmp_path / "spec.nn"
    spec.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = main(["check", "--format", "json", str(spec)])
    data = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    assert not [d for d in data["diagnostics"] if d["severity"] == "error"]
    return data["models"][0]["totals"]


def copy(name: str, tmp_path: Path, **changes) -> Path:
    """The config of ``name`` with ``changes`` (None: the key removed), in tmp_path."""
    data = json.loads((DATA / name / "config.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def errors(path: Path, capsys, *extra: str) -> list[str]:
    assert main(["import", str(path), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def where(path: Path, key: str) -> str:
    """``file:line:col`` of ``"key":`` in the file, found independently of the importer."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        col = line.find(f'"{key}":')
        if col >= 0:
            return f"{path}:{n}:{col + 1}"
    raise AssertionError(key)


# --------------------------------------------------------------------- published counts

PUBLISHED = {
    # Touvron et al. 2023, Llama 2: the 7B checkpoint's parameter count
    "llama-2-7b": 6_738_415_616,
    # Jiang et al. 2023, Mistral 7B v0.1
    "mistral-7b-v0.1": 7_241_732_096,
    # Radford et al. 2019 as released: GPT2LMHeadModel("gpt2"), head tied
    "gpt2": 124_439_808,
    # Devlin et al. 2019's BERT-base as BertModel: embeddings, 12 layers, pooler
    "bert-base-uncased": 109_482_240,
    # Qwen2 technical report (Yang et al. 2024), Qwen2-0.5B, tied embeddings
    "qwen2-0.5b": 494_032_768,
    # google/vit-base-patch16-224-in21k as ViTModel: the pooler, no classification head
    "vit-base-patch16-224-in21k": 86_389_248,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name, tmp_path, capsys):
    text = imported(copy(name, tmp_path), capsys)
    assert checked(text, tmp_path, capsys)["params"] == PUBLISHED[name]
    assert format_text(text) == text  # `nnlint format --check` passes on a fresh import
    assert f": {PUBLISHED[name]:,} parameters." in text.replace("\n#   ", " ")


def test_mixtral_8x7b(tmp_path, capsys):
    """46,702,792,704 parameters (Jiang et al. 2024, Mixtral of Experts): the
    feed-forward of every layer is one moe(8 experts, top 2, hidden 14336)."""
    text = imported(copy("mixtral-8x7b-v0.1", tmp_path), capsys)
    assert checked(text, tmp_path, capsys)["params"] == 46_702_792_704
    assert "block_sparse_moe = h -> rmsnorm(eps=1e-05) -> moe(8, 2, 14336)" in text


def test_vit_with_the_imagenet_classifier(tmp_path, capsys):
    """google/vit-base-patch16-224's ViTForImageClassification: 1000 classes on the class
    token and no pooler: 86,567,656 parameters, torchvision's vit_b_16 count."""
    labels = {str(i): f"class {i}" for i in range(1000)}
    config = copy(
        "vit-base-patch16-224-in21k",
        tmp_path,
        architectures=["ViTForImageClassification"],
        id2label=labels,
        label2id={v: int(k) for k, v in labels.items()},
    )
    text = imported(config, capsys)
    assert checked(text, tmp_path, capsys)["params"] == 86_567_656
    text = unaligned(text)
    assert "classifier = layer -> layernorm(eps=1e-12) -> select(0, 0) -> dense(1000)\n" in text
    assert "pooler =" not in text


def test_the_spec_is_idiomatic(tmp_path, capsys):
    """One block per layer called `* N`, HF's names, the options the config states."""
    llama = unaligned(imported(copy("llama-2-7b", tmp_path), capsys))
    assert "layers = embed_tokens -> decoder_layer * 32" in llama
    assert "gate_proj = post_attention_layernorm -> dense(11008, bias=false) -> silu" in llama
    assert "mlp = mul(gate_proj, up_proj) -> dense(4096, bias=false)" in llama
    assert "attention(32, causal=true, bias=false, rope=true)" in llama
    assert "rmsnorm(eps=1e-05)" in llama
    assert "lm_head = layers -> rmsnorm(eps=1e-05) -> dense(32000, bias=false)\n" in llama
    assert llama.endswith("deploy {\n    precision = fp16\n}\n")
    assert "torch_dtype float16" in llama
    geglu = unaligned(
        imported(copy("llama-2-7b", tmp_path, hidden_act="gelu_pytorch_tanh"), capsys)
    )
    assert "gate_proj = post_attention_layernorm -> dense(11008, bias=false) -> gelu" in geglu
    mistral = imported(copy("mistral-7b-v0.1", tmp_path), capsys)
    assert "kv_heads=8, bias=false, rope=true, window=4096)" in mistral
    qwen = imported(copy("qwen2-0.5b", tmp_path), capsys)
    assert "attention(14, causal=true, kv_heads=2, bias=[q, k, v], rope=true)" in qwen
    assert "dense(151936, bias=false, tie=embed_tokens)" in qwen
    gpt2 = unaligned(imported(copy("gpt2", tmp_path), capsys))
    assert "wpe = param(1024, 768)\n" in gpt2
    assert "dense(50257, bias=false, tie=wte)" in gpt2
    assert "h = embeddings -> gpt2_block * 12" in gpt2
    assert "deploy" not in gpt2  # no torch_dtype: no deploy section
    bert = unaligned(imported(copy("bert-base-uncased", tmp_path), capsys))
    assert "token_type_embeddings = token_type_ids -> embedding(2, 768)" in bert
    assert "pooler = layer -> select(0, 0) -> dense(768) -> tanh" in bert
    assert "attention(12, dropout=0.1) -> dropout(0.1)" in bert
    vit = unaligned(imported(copy("vit-base-patch16-224-in21k", tmp_path), capsys))
    assert "conv2d(768, 16, stride=16)" in vit
    assert "cls_token = param(1, 768)" in vit
    assert "position_embeddings = param(197, 768)" in vit


def test_sequence_from_dim(tmp_path, capsys):
    gpt2 = imported(copy("gpt2", tmp_path), capsys, "--dim", "seq=128")
    assert "input input_ids: [128]" in gpt2
    assert "wpe = param(1024, 768) -> slice(0, 0, 128)" in unaligned(gpt2)
    totals = checked(gpt2, tmp_path, capsys)
    assert totals["params"] == PUBLISHED["gpt2"]  # the whole position table, sliced
    config = copy("gpt2", tmp_path)
    assert errors(config, capsys, "--dim", "seq=2048") == [
        f"nnlint: error: {where(config, 'n_positions')}: --dim seq=2048 is longer than "
        "`n_positions` = 1024",
        f"nnlint: error: {config}: 1 problem; nothing was written",
    ]
    assert errors(config, capsys, "--dim", "batch=2") == [
        "nnlint: error: --dim batch: a Hugging Face config has one size to set, seq"
    ]


# ------------------------------------------------------------- reduced size vs PyTorch

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch_reference import Attention, forward_macs  # noqa: E402


class LlamaDecoderLayer(nn.Module):
    """``modeling_llama.py``: x + attn(norm(x)), then h + down(silu(gate(n)) · up(n))."""

    def __init__(self, d, ff, heads, kv, bias, window, eps) -> None:
        super().__init__()
        self.input_layernorm = nn.RMSNorm(d, eps=eps)
        self.self_attn = Attention(d, heads, kv, bias, causal=True, use_rope=True, window=window)
        self.post_attention_layernorm = nn.RMSNorm(d, eps=eps)
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        h = x + self.self_attn(self.input_layernorm(x))
        n = self.post_attention_layernorm(h)
        return h + self.down_proj(nn.functional.silu(self.gate_proj(n)) * self.up_proj(n))


class LlamaForCausalLM(nn.Module):
    def __init__(self, c: dict, bias: str = "", window=None) -> None:
        super().__init__()
        d = c["hidden_size"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        self.layers = nn.Sequential(
            *[
                LlamaDecoderLayer(
                    d,
                    c["intermediate_size"],
                    c["num_attention_heads"],
                    c["num_key_value_heads"],
                    bias,
                    window,
                    c["rms_norm_eps"],
                )
                for _ in range(c["num_hidden_layers"])
            ]
        )
        self.norm = nn.RMSNorm(d, eps=c["rms_norm_eps"])
        self.lm_head = nn.Linear(d, c["vocab_size"], bias=False)
        if c["tie_word_embeddings"]:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, ids):
        return self.lm_head(self.norm(self.layers(self.embed_tokens(ids))))


class GPT2LMHeadModel(nn.Module):
    """``modeling_gpt2.py``: learned positions, pre-LN blocks, tied head."""

    def __init__(self, c: dict) -> None:
        super().__init__()
        d = c["n_embd"]
        self.wte = nn.Embedding(c["vocab_size"], d)
        self.wpe = nn.Parameter(torch.zeros(c["n_positions"], d))
        self.ln_1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(c["n_layer"]))
        self.attn = nn.ModuleList(
            Attention(d, c["n_head"], causal=True) for _ in range(c["n_layer"])
        )
        self.ln_2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(c["n_layer"]))
        self.c_fc = nn.ModuleList(nn.Linear(d, 4 * d) for _ in range(c["n_layer"]))
        self.c_proj = nn.ModuleList(nn.Linear(4 * d, d) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, c["vocab_size"], bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, ids):
        x = self.wte(ids) + self.wpe[: ids.shape[1]]
        for ln_1, attn, ln_2, c_fc, c_proj in zip(
            self.ln_1, self.attn, self.ln_2, self.c_fc, self.c_proj
        ):
            h = x + attn(ln_1(x))
            x = h + c_proj(nn.functional.gelu(c_fc(ln_2(h)), approximate="tanh"))
        return self.lm_head(self.ln_f(x))


class BertModel(nn.Module):
    """``modeling_bert.py``: word + position + token-type embeddings, post-LN layers, and
    the pooler (dense + tanh on the first token)."""

    def __init__(self, c: dict) -> None:
        super().__init__()
        d, n = c["hidden_size"], c["num_hidden_layers"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], d)
        self.position_embeddings = nn.Parameter(torch.zeros(c["max_position_embeddings"], d))
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], d)
        self.ln = nn.LayerNorm(d)
        self.attn = nn.ModuleList(Attention(d, c["num_attention_heads"]) for _ in range(n))
        self.ln1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n))
        self.intermediate = nn.ModuleList(nn.Linear(d, c["intermediate_size"]) for _ in range(n))
        self.output = nn.ModuleList(nn.Linear(c["intermediate_size"], d) for _ in range(n))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n))
        self.pooler = nn.Linear(d, d)

    def forward(self, ids, types):
        t = ids.shape[1]
        x = self.ln(
            self.word_embeddings(ids)
            + self.position_embeddings[:t]
            + self.token_type_embeddings(types)
        )
        for attn, ln1, inter, out, ln2 in zip(
            self.attn, self.ln1, self.intermediate, self.output, self.ln2
        ):
            h = ln1(x + attn(x))
            x = ln2(h + out(nn.functional.gelu(inter(h))))
        return torch.tanh(self.pooler(x[:, 0]))


class ViTModel(nn.Module):
    """``modeling_vit.py``: patch conv, class token, positions, pre-LN layers, final LN,
    then the pooler (``classes=None``) or a classifier on the class token."""

    def __init__(self, c: dict, classes: int | None = None) -> None:
        super().__init__()
        d, n, p = c["hidden_size"], c["num_hidden_layers"], c["patch_size"]
        tokens = (c["image_size"] // p) ** 2 + 1
        self.patch = nn.Conv2d(c["num_channels"], d, p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, tokens, d))
        self.ln1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n))
        self.attn = nn.ModuleList(
            Attention(d, c["num_attention_heads"], bias="qkvo" if c["qkv_bias"] else "o")
            for _ in range(n)
        )
        self.ln2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(n))
        self.intermediate = nn.ModuleList(nn.Linear(d, c["intermediate_size"]) for _ in range(n))
        self.output = nn.ModuleList(nn.Linear(c["intermediate_size"], d) for _ in range(n))
        self.layernorm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes or d)
        self.pooled = classes is None

    def forward(self, x):
        p = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), p], 1) + self.position_embeddings
        for ln1, attn, ln2, inter, out in zip(
            self.ln1, self.attn, self.ln2, self.intermediate, self.output
        ):
            h = x + attn(ln1(x))
            x = h + out(nn.functional.gelu(inter(ln2(h))))
        y = self.head(self.layernorm(x)[:, 0])
        return torch.tanh(y) if self.pooled else y


SMALL_LLAMA = {
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 3,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-06,
    "hidden_act": "silu",
}


def write(tmp_path: Path, name: str, config: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def same_counts(text: str, model: nn.Module, inputs: list, tmp_path, capsys) -> None:
    totals = checked(text, tmp_path, capsys)
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["macs"] == forward_macs(model, inputs)


@pytest.mark.parametrize(
    ("model_type", "extra", "bias", "window"),
    [
        ("llama", {"tie_word_embeddings": False}, "", None),
        ("llama", {"tie_word_embeddings": True, "attention_bias": True}, "qkvo", None),
        ("mistral", {"tie_word_embeddings": False, "sliding_window": 8}, "", 8),
        ("qwen2", {"tie_word_embeddings": True, "use_sliding_window": False}, "qkv", None),
    ],
)
def test_llama_family_against_pytorch(model_type, extra, bias, window, tmp_path, capsys):
    config = {**SMALL_LLAMA, "model_type": model_type, **extra}
    text = imported(write(tmp_path, model_type, config), capsys, "--dim", "seq=16")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config, bias, window)
    same_counts(text, model, [torch.randint(0, 256, (1, 16))], tmp_path, capsys)
    assert "decoder_layer * 3" in text


def test_gpt2_against_pytorch(tmp_path, capsys):
    config = {
        "model_type": "gpt2",
        "vocab_size": 300,
        "n_embd": 48,
        "n_head": 4,
        "n_layer": 2,
        "n_positions": 40,
        "activation_function": "gelu_new",
    }
    text = imported(write(tmp_path, "gpt2", config), capsys, "--dim", "seq=24")
    model = GPT2LMHeadModel(config)
    same_counts(text, model, [torch.randint(0, 300, (1, 24))], tmp_path, capsys)


def test_bert_against_pytorch(tmp_path, capsys):
    config = {
        "model_type": "bert",
        "vocab_size": 200,
        "hidden_size": 32,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "intermediate_size": 80,
        "max_position_embeddings": 24,
        "type_vocab_size": 3,
    }
    text = imported(write(tmp_path, "bert", config), capsys)
    model = BertModel(config)
    inputs = [torch.randint(0, 200, (1, 24)), torch.randint(0, 3, (1, 24))]
    same_counts(text, model, inputs, tmp_path, capsys)


@pytest.mark.parametrize("classifier", [False, True])
def test_vit_against_pytorch(classifier, tmp_path, capsys):
    config = {
        "model_type": "vit",
        "hidden_size": 48,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "intermediate_size": 96,
        "image_size": 32,
        "patch_size": 8,
        "num_channels": 3,
        "qkv_bias": not classifier,
    }
    if classifier:
        config |= {"architectures": ["ViTForImageClassification"], "num_labels": 10}
    text = imported(write(tmp_path, "vit", config), capsys)
    model = ViTModel(config, 10 if classifier else None)
    same_counts(text, model, [torch.randn(1, 3, 32, 32)], tmp_path, capsys)


# ------------------------------------------------------------------------------ errors


def test_unknown_model_type_is_located(tmp_path, capsys):
    config = copy("llama-2-7b", tmp_path, model_type="t5")
    assert errors(config, capsys) == [
        f'nnlint: error: {where(config, "model_type")}: model_type "t5" is not mapped '
        "(known: bert, gpt2, llama, mistral, mixtral, qwen2, vit)"
    ]


def test_keys_that_change_the_network_are_located_errors_all_in_one_run(tmp_path, capsys):
    config = copy(
        "llama-2-7b",
        tmp_path,
        rope_scaling={"type": "linear", "factor": 2.0},
        hidden_act="quick_gelu",
        head_dim=256,
        qk_layernorm=True,
    )
    text_before = config.read_text(encoding="utf-8")
    out = tmp_path / "out.nn"
    assert main(["import", str(config), "-o", str(out)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f'nnlint: error: {where(config, "hidden_act")}: `hidden_act` is "quick_gelu": not '
        "an activation nnlint has (elu, gelu, gelu_new, gelu_python, gelu_pytorch_tanh, "
        "hardsigmoid, hardswish, identity, leaky_relu, linear, mish, prelu, relu, relu6, "
        "sigmoid, silu, softplus, swish, tanh)",
        f"nnlint: error: {where(config, 'rope_scaling')}: `rope_scaling` is "
        '{"type": "linear", "factor": 2.0}: nnlint does not model RoPE scaling',
        f"nnlint: error: {where(config, 'head_dim')}: `head_dim` is 256, not hidden_size / "
        "num_attention_heads = 128: nnlint's attention has heads of width D / heads",
        f"nnlint: error: {where(config, 'qk_layernorm')}: `qk_layernorm` is not mapped: nnlint "
        "does not know whether it changes the llama network (remove it from a copy of the "
        "file if it does not)",
        f"nnlint: error: {config}: 4 problems; nothing was written",
    ]
    assert not out.exists()
    assert config.read_text(encoding="utf-8") == text_before


def test_architecture_and_dtype_outside_the_mapping(tmp_path, capsys):
    config = copy(
        "bert-base-uncased",
        tmp_path,
        architectures=["BertForSequenceClassification"],
        torch_dtype="int8",
    )
    assert errors(config, capsys) == [
        f"nnlint: error: {where(config, 'architectures')}: `architectures` is "
        '["BertForSequenceClassification"]: the bert mapping writes BertForMaskedLM or '
        "BertForPreTraining or BertModel",
        f'nnlint: error: {where(config, "torch_dtype")}: `torch_dtype` is "int8"; known: '
        "float32, float16, bfloat16",
        f"nnlint: error: {config}: 2 problems; nothing was written",
    ]


@pytest.mark.parametrize(
    ("name", "key", "value", "message"),
    [
        ("qwen2-0.5b", "use_sliding_window", True, "Qwen2's sliding window applies to some"),
        ("gpt2", "scale_attn_weights", False, "nnlint's attention scales scores by 1/√d_h"),
        ("bert-base-uncased", "position_embedding_type", "relative_key", "relative position"),
        ("gpt2", "resid_pdrop", 1.5, "a dropout rate is below 1"),
        ("llama-2-7b", "hidden_size", "4096", "expected a whole number ≥ 1"),
        ("mistral-7b-v0.1", "num_key_value_heads", 5, "does not divide num_attention_heads"),
        ("vit-base-patch16-224-in21k", "num_attention_heads", 7, "does not divide hidden_size"),
    ],
)
def test_values_the_spec_cannot_express(name, key, value, message, tmp_path, capsys):
    config = copy(name, tmp_path, **{key: value})
    first, last = errors(config, capsys)
    assert first.startswith(f"nnlint: error: {where(config, key)}: `{key}` is ")
    assert message in first
    assert last == f"nnlint: error: {config}: 1 problem; nothing was written"


def test_ignored_keys_change_nothing(tmp_path, capsys):
    """Every key of the documented list is accepted and leaves the spec as it was."""
    base = imported(copy("llama-2-7b", tmp_path, _name_or_path=None), capsys)
    extra = {key: 1 for key in IGNORED_KEYS if key != "_name_or_path"}
    text = imported(copy("llama-2-7b", tmp_path, _name_or_path=None, **extra), capsys)
    assert text == base
    assert "bos_token_id" in IGNORED_KEYS and "rope_scaling" not in IGNORED_KEYS


def test_malformed_files(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "model_type": "llama",\n  "vocab_size": 32000,,\n}\n', encoding="utf-8")
    assert errors(bad, capsys) == [
        f"nnlint: error: {bad}:3:23: not valid JSON: Expecting property name enclosed in "
        "double quotes"
    ]
    bad.write_text("[1, 2]\n", encoding="utf-8")
    assert errors(bad, capsys) == [
        f"nnlint: error: {bad}:1:1: expected a JSON object (a Hugging Face config)"
    ]
    bad.write_text('{"hidden_size": 8}\n', encoding="utf-8")
    assert errors(bad, capsys) == [
        f"nnlint: error: {bad}:1:1: no `model_type`: not a Hugging Face config, or one nnlint "
        "cannot place"
    ]
    bad.write_text('{"model_type": "gpt2",\n "n_embd": 8,\n "n_embd": 16}\n', encoding="utf-8")
    lines = errors(bad, capsys)
    assert f"nnlint: error: {bad}:3:2: `n_embd` is given more than once; keep one" in lines
    assert errors(tmp_path / "missing.json", capsys) == [
        f"nnlint: error: {tmp_path / 'missing.json'}: no such file"
    ]


def test_missing_required_key(tmp_path, capsys):
    config = copy("llama-2-7b", tmp_path, intermediate_size=None)
    assert errors(config, capsys) == [
        f"nnlint: error: {config}:1:1: `intermediate_size` is missing; a llama config needs it",
        f"nnlint: error: {config}: 1 problem; nothing was written",
    ]


def test_the_config_is_never_the_output(tmp_path, capsys):
    config = copy("gpt2", tmp_path)
    before = config.read_bytes()
    assert errors(config, capsys, "-o", str(config)) == [
        f"nnlint: error: {config}: is the model being imported; choose another -o"
    ]
    assert config.read_bytes() == before


def test_the_readme_lists_every_ignored_key():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Import a Hugging Face config") :]
    section = section[: section.index("\n## ", 1)]
    assert [key for key in IGNORED_KEYS if f"`{key}`" not in section] == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("vocab_size", 10**15), ("sliding_window", 10**30), ("intermediate_size", 2**40 + 1)],
)
def test_a_size_beyond_the_spec_limit_is_located(key, value, tmp_path, capsys):
    """A size over the limit of every option (2^40, NN011) is the config's problem at the
    key, not an internal error of the spec written from it."""
    config = copy("mistral-7b-v0.1", tmp_path, **{key: value})
    assert errors(config, capsys) == [
        f"nnlint: error: {where(config, key)}: `{key}` is {value:,}; beyond nnlint's limit "
        f"of 2^40 = {2**40:,}",
        f"nnlint: error: {config}: 1 problem; nothing was written",
    ]


@pytest.mark.parametrize(
    ("name", "key"), [("llama-2-7b", "num_hidden_layers"), ("gpt2", "n_layer")]
)
@pytest.mark.parametrize("count", [10**7, 20_000])
def test_a_layer_count_beyond_the_graph_limit_is_located_not_a_hang(name, key, count, tmp_path):
    """Ten million layers: the importer stops at nnlint's limit of op instances (building
    them all took hours) and names the key; 20,000 was an internal error after seconds.
    In a subprocess with a timeout, so that a regression fails instead of stalling."""
    from nnlint.graph import MAX_NODES

    config = copy(name, tmp_path, **{key: count})
    argv = [sys.executable, "-m", "nnlint", "import", str(config)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"nnlint: error: {where(config, key)}: `{key}` is {count:,}: its layers are more "
        f"than nnlint's limit of {MAX_NODES:,} op instances",
        f"nnlint: error: {config}: 1 problem; nothing was written",
    ]


def test_mixtral_top_k_above_the_experts_is_located_once(tmp_path, capsys):
    config = copy("mixtral-8x7b-v0.1", tmp_path, num_experts_per_tok=9)
    assert errors(config, capsys) == [
        f"nnlint: error: {where(config, 'num_experts_per_tok')}: `num_experts_per_tok` is 9, "
        "more than num_local_experts = 8: each token visits top_k different experts",
        f"nnlint: error: {config}: 1 problem; nothing was written",
    ]
    config = copy("mixtral-8x7b-v0.1", tmp_path, num_experts_per_tok=0)
    first, last = errors(config, capsys)  # once, not once per layer
    assert first.endswith("`num_experts_per_tok` is 0; expected a whole number ≥ 1")
    assert last == f"nnlint: error: {config}: 1 problem; nothing was written"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names")
def test_the_config_path_stays_inside_the_header_comment(tmp_path, capsys):
    """The header quotes the config's folder and name: an ESC, a bidi override or a
    line separator in them is written escaped, never into the spec as itself."""
    folder = tmp_path / "x\x1b[2J\u202e\u2028y"
    folder.mkdir()
    config = folder / "config.json"
    config.write_text((DATA / "gpt2" / "config.json").read_text(encoding="utf-8"), "utf-8")
    text = imported(config, capsys)
    assert text.startswith("# Imported from x\\x1b[2J\\u202e\\u2028y/config.json by ")
    assert not any(ch in text for ch in "\x1b\u202e\u2028")


def test_sizes_whose_product_is_beyond_the_limits_are_not_an_internal_error(tmp_path, capsys):
    """Each size within 2^40, their product not: the logits of a 2^40-token vocabulary.
    The spec's NN011 is the model's size, said as such, not an importer's bug."""
    config = copy("llama-2-7b", tmp_path, vocab_size=2**40)
    [line] = errors(config, capsys)
    assert line.startswith(
        f"nnlint: error: {config}: the written spec is beyond nnlint's limits: line "
    )
    assert "NN011 tensor [4096, 1099511627776] has 4,503,599,627,370,496 elements" in line


def test_float_options_are_written_exactly(tmp_path, capsys):
    """The spec holds the config's number, not six digits of it: a dropout of 0.999999999
    rounded to `dropout(1)`, which no spec allows (an internal error), and an epsilon lost
    its digits."""
    config = copy("gpt2", tmp_path, resid_pdrop=0.999999999, layer_norm_epsilon=1.2345678e-7)
    text = imported(config, capsys)
    assert "dropout(0.999999999)" in text and "eps=1.2345678e-07" in text
    assert format_text(text) == text
