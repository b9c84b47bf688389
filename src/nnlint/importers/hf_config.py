"""``nnlint import config.json``: a Hugging Face ``config.json`` written as an nnlint spec.

The file is read as plain JSON (no ``transformers``, no network). Its ``model_type`` picks
the family, whose mapping reads the keys that shape the network, following the
``transformers`` modelling code of that family (``modeling_llama.py``,
``modeling_gpt2.py``, ``modeling_bert.py``, ``modeling_vit.py``, ...):

* **decoders** (``llama``, ``mistral``, ``qwen2``, ``mixtral``; ``gpt2``): token
  embedding, ``num_hidden_layers`` pre-norm decoder layers (one ``block`` called ``* N``),
  a final norm and the language-model head, ``tie=`` the embedding when
  ``tie_word_embeddings`` says so. Llama-style layers are RMSNorm, attention with rotary
  positions (``num_key_value_heads`` for grouped queries, ``sliding_window`` as
  ``window=``, biases as ``attention_bias``/Qwen2's q/k/v) and a SwiGLU feed-forward
  (``gate_proj`` · silu times ``up_proj``, then ``down_proj``); Mixtral's feed-forward
  is the ``moe`` op. GPT-2 has learned positions (a ``param`` table), LayerNorm and a GELU
  MLP, with its three dropouts.
* **encoders** (``bert``, ``vit``): BERT's word, position and token-type embeddings,
  post-norm layers and the pooler (dense + tanh on the first token); ViT's patch
  convolution, class token and position table, pre-norm layers, final LayerNorm, and the
  pooler (``ViTModel``) or the classifier (``ViTForImageClassification``).

Nothing is guessed. A key the mapping does not read is either in :data:`IGNORED_KEYS`
(it changes no layer: token ids, initialisation, runtime flags, the rotary base, ...) or
an error located at the key (``file:line:col``), as is a value the spec cannot express
(``rope_scaling``, ``hidden_act`` other than the family's, a ``head_dim`` that is not
``hidden_size / num_attention_heads``, an unknown ``model_type`` or ``architectures``).
Every problem is reported in one run and nothing is written.

The spec is built as :class:`nnlint.importers.spec.Layer` items and written by the
importers' shared writer, which recovers the repeated layer as a block; nnlint analyses
it before it is returned.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnlint.graph import MAX_ELEMENTS, MAX_NODES
from nnlint.importers import ImportFailed
from nnlint.importers.spec import (
    Arg,
    Layer,
    Ref,
    ident,
    positional,
    recover_blocks,
    self_check,
    write_spec,
)
from nnlint.ops import OPS
from nnlint.ops.base import Output
from nnlint.sanitize import visible

__all__ = ["FAMILIES", "IGNORED_KEYS", "import_hf_config", "is_hf_config"]

#: Keys read and dropped: none changes a layer, a shape or a count. The value says why.
IGNORED_KEYS: dict[str, str] = {
    "_name_or_path": "where the config was loaded from",
    "transformers_version": "the library version that wrote the file",
    "bos_token_id": "a token id",
    "eos_token_id": "a token id",
    "pad_token_id": "a token id",
    "sep_token_id": "a token id",
    "decoder_start_token_id": "a token id",
    "use_cache": "whether generation keeps a key/value cache (nnlint's deploy section sizes it)",
    "initializer_range": "how weights are initialised",
    "gradient_checkpointing": "a training-memory switch (nnlint's `recompute`), not the network",
    "output_attentions": "what the forward returns",
    "output_hidden_states": "what the forward returns",
    "return_dict": "what the forward returns",
    "torchscript": "an export flag",
    "id2label": "label names (a classifier's width is read from them)",
    "label2id": "label names",
    "problem_type": "a fine-tuning loss choice",
    "finetuning_task": "a fine-tuning note",
    "tokenizer_class": "the tokenizer",
    "task_specific_params": "generation settings",
    "rope_theta": "the rotary base: the angles, not a shape or a count",
    "pretraining_tp": "Llama's tensor-parallel degree in pre-training: the same computation",
    "router_aux_loss_coef": "a training-loss weight for the router",
    "output_router_logits": "what the forward returns",
    "router_jitter_noise": "training-time noise on the router's input",
    "classifier_dropout": "used only by classification heads, which are not written",
    "n_ctx": "GPT-2's old name for n_positions",
    "reorder_and_upcast_attn": "GPT-2's attention in fp32: numerics, not shapes",
    "summary_type": "GPT2DoubleHeadsModel's head, not written",
    "summary_use_proj": "GPT2DoubleHeadsModel's head, not written",
    "summary_activation": "GPT2DoubleHeadsModel's head, not written",
    "summary_proj_to_labels": "GPT2DoubleHeadsModel's head, not written",
    "summary_first_dropout": "GPT2DoubleHeadsModel's head, not written",
    "encoder_stride": "ViTForMaskedImageModeling's decoder, not written",
}

#: ``torch_dtype`` → the deploy precision it sets.
_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
#: Activation names of ``transformers`` (``ACT2FN``) that are not an nnlint op's name →
#: the op (``gelu_new``, ``gelu_pytorch_tanh``: GELU's tanh approximation, counted as
#: GELU; ``swish`` is SiLU; ``linear`` none). Any other name must be an activation op's.
_ACTIVATION_ALIASES = {
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_python": "gelu",
    "swish": "silu",
    "linear": "identity",
}


def _activation_op(name: Any) -> str | None:
    """The op an activation name of a config is: an alias, or an element-wise activation
    of the catalog (not the distributions: softmax, log_softmax, log)."""
    op = _ACTIVATION_ALIASES.get(name, name) if isinstance(name, str) else None
    kind = OPS.get(op) if op else None
    if kind is None or kind.family != "activation":
        return None
    if kind.output not in (Output.VALUES, Output.PROBABILITIES):
        return None
    return op


_REQUIRED = object()


class _Config:
    """The JSON object, where each key sits in the text, and the keys read so far."""

    def __init__(self, data: dict, text: str, shown: str) -> None:
        self.data = data
        self.text = text
        self.shown = shown
        self.where = _key_offsets(text)
        self.read: set[str] = set()
        self.located: list[tuple[int, str]] = []
        self.bad: set[str] = set()  # keys already reported
        self.depth: str | None = None  # the key of the layer count (:meth:`layers`)

    def problem(self, key: str | None, message: str) -> None:
        """A problem at ``key`` (at the object's opening brace for None)."""
        brace = self.text.find("{")
        offset = self.where.get(key, brace) if key else brace
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        self.located.append((offset, f"{self.shown}:{line}:{col}: {message}"))
        if key:
            self.bad.add(key)

    @property
    def problems(self) -> list[str]:
        """The problems in the order of the file."""
        return [text for _, text in sorted(self.located, key=lambda p: p[0])]

    def get(self, key: str, default: Any = _REQUIRED) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                self.problem(None, f"`{key}` is missing; a {self.model_type} config needs it")
            return default
        return self.data[key]

    @property
    def model_type(self) -> str:
        return str(self.data.get("model_type"))

    def int(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> int:
        """A whole number from ``minimum`` up to the limit of every option of a spec
        (2^40, :data:`nnlint.graph.MAX_ELEMENTS`)."""
        value = self.get(key, default)
        if value is _REQUIRED:
            return 1
        if value is default:
            return value
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem(key, f"`{key}` is {_show(value)}; expected a whole number ≥ {minimum}")
            return 1
        if value > MAX_ELEMENTS:
            self.problem(
                key, f"`{key}` is {value:,}; beyond nnlint's limit of 2^40 = {MAX_ELEMENTS:,}"
            )
            return 1
        return value

    def layers(self, key: str) -> int:
        """The number of repeated layers, at ``key`` (:class:`_TooMany` names it)."""
        self.depth = key
        return self.int(key)

    def float(self, key: str, default: Any = _REQUIRED) -> float:
        value = self.get(key, default)
        if value is _REQUIRED:
            return 0.0
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            self.problem(key, f"`{key}` is {_show(value)}; expected a number ≥ 0")
            return 0.0
        return float(value)

    def prob(self, key: str, default: float = 0.0) -> float:
        value = self.float(key, default)
        if value >= 1:
            self.problem(key, f"`{key}` is {_show(value)}; a dropout rate is below 1")
            return 0.0
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, f"`{key}` is {_show(value)}; expected true or false")
            return default
        return value

    def expect(self, key: str, allowed: tuple, why: str) -> None:
        """``key`` is absent or one of ``allowed``; anything else changes the network in
        a way the spec cannot show (``why``)."""
        value = self.get(key, allowed[0])
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            self.problem(key, f"`{key}` is {_show(value)}: {why}")

    def divides(self, key: str, part: int, whole: int, what: str) -> None:
        """``key``'s value ``part`` must divide ``whole``, the value of key ``what``
        (unless either was already reported)."""
        if whole % part and not {key, what} & self.bad:
            self.problem(key, f"`{key}` is {part}, which does not divide {what} = {whole}")

    def activation(self, key: str, default: str) -> str:
        """The activation op ``key`` names (``default`` when it is absent)."""
        value = self.get(key, default)
        op = _activation_op(value)
        if op is None:
            known = sorted(n for n in [*OPS, *_ACTIVATION_ALIASES] if _activation_op(n) is not None)
            self.problem(
                key, f"`{key}` is {_show(value)}: not an activation nnlint has ({', '.join(known)})"
            )
            return _ACTIVATION_ALIASES.get(default, default)
        return op


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_WS = re.compile(r"[ \t\n\r]*")


def _key_offsets(text: str) -> dict[str, int]:
    """Where each top-level key's opening quote is in ``text`` (valid JSON; the last
    occurrence of a repeated key, the one ``json.loads`` keeps)."""
    offsets: dict[str, int] = {}
    decoder = json.JSONDecoder()
    i = _WS.match(text).end()
    if not text.startswith("{", i):
        return offsets
    i = _WS.match(text, i + 1).end()
    while text.startswith('"', i):
        key, end = json.decoder.scanstring(text, i + 1)
        offsets[key] = i
        colon = _WS.match(text, end).end()
        start = _WS.match(text, colon + 1).end()
        _, end = decoder.raw_decode(text, start)
        i = _WS.match(text, end).end()
        if not text.startswith(",", i):
            break
        i = _WS.match(text, i + 1).end()
    return offsets


# --------------------------------------------------------------------------- the layers


class _TooMany(Exception):
    """More layers than a spec may expand to (:data:`nnlint.graph.MAX_NODES`)."""


class _Builder:
    """Layers in the order the model runs them, each producing a fresh tensor id; it stops
    (:class:`_TooMany`) past the op instances nnlint expands, before building millions."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []

    def __call__(self, op: str, args: list[Arg], inputs: list[str], scope: str) -> str:
        if len(self.layers) >= MAX_NODES:
            raise _TooMany
        out = f"t{len(self.layers)}"
        path = tuple(scope.split(".")) if scope else ()
        self.layers.append(Layer(op, args, inputs, out, len(self.layers), path))
        return out

    def chain(self, x: str, scope: str, *ops: tuple[str, list[Arg]]) -> str:
        for op, args in ops:
            x = self(op, args, [x], scope)
        return x


def _kw(op: str, key: str, value: Any) -> Arg:
    """Option ``key=value`` of ``op``, left out when it is the op's default."""
    default = next(o.default for o in OPS[op].opts if o.name == key)
    return Arg(key, value, default=default)


def _dropout(p: float) -> list[tuple[str, list[Arg]]]:
    return [("dropout", [positional("p", p)])] if p > 0 else []


def _attention(
    heads: int,
    *,
    causal: bool = False,
    kv_heads: int | None = None,
    bias: str = "true",
    rope: bool = False,
    window: int | None = None,
    dropout: float = 0.0,
) -> tuple[str, list[Arg]]:
    """``attention(...)``; ``bias`` is written as the language does: true, false, [q, k, v]."""
    args = [
        positional("heads", heads),
        _kw("attention", "causal", causal),
        _kw("attention", "kv_heads", kv_heads if kv_heads != heads else None),
        Arg("bias", bias, default="true"),
        _kw("attention", "rope", rope),
        _kw("attention", "window", window),
        _kw("attention", "dropout", dropout),
    ]
    return "attention", args


def _pre_ln_layer(b, x, name, parts, eps, attention, ff, d, act, drop):
    """One pre-LN transformer layer, as GPT-2 and ViT write it: ``h = x + attn(LN(x))``,
    then ``h + MLP(LN(h))`` with a dropout after each branch; ``parts`` names the attention
    branch, the first sum and the MLP branch inside the layer ``name``."""
    attn_part, h_part, mlp_part = parts
    attn = b.chain(x, f"{name}.{attn_part}", _norm("layernorm", eps), attention, *_dropout(drop))
    h = b("add", [], [x, attn], f"{name}.{h_part}")
    mlp = b.chain(
        h,
        f"{name}.{mlp_part}",
        _norm("layernorm", eps),
        _dense(ff),
        (act, []),
        _dense(d),
        *_dropout(drop),
    )
    return b("add", [], [h, mlp], name)


def _dense(units: int, bias: bool = True, tie: str | None = None) -> tuple[str, list[Arg]]:
    args = [positional("units", units), _kw("dense", "bias", bias)]
    if tie is not None:
        args.append(Arg("tie", Ref(tie)))
    return "dense", args


def _norm(op: str, eps: float) -> tuple[str, list[Arg]]:
    return op, [_kw(op, "eps", eps)]


# --------------------------------------------------------------------------- families


class _Model:
    """What a family's mapping hands back: the layers and what the header says."""

    def __init__(self) -> None:
        self.b = _Builder()
        self.inputs: list[tuple[str, tuple[int, ...]]] = []
        self.block = "layer"
        self.notes: list[str] = []


def _sequence(cfg: _Config, dims: dict[str, int], key: str, m: _Model) -> int:
    """The tokens per sample: ``--dim seq=N``, else the config's ``key``."""
    longest = cfg.int(key)
    seq = dims.get("seq", longest)
    if seq > longest:
        cfg.problem(key, f"--dim seq={seq} is longer than `{key}` = {longest}")
        return longest
    how = "--dim seq" if "seq" in dims else f"{key}; --dim seq=N sets another"
    m.notes.append(f"Sequence: {seq:,} tokens ({how}); shapes are per sample.")
    return seq


def _llama(cfg: _Config, dims: dict[str, int]) -> _Model:
    """Llama, Mistral, Qwen2 and Mixtral: ``modeling_llama.py`` and its copies."""
    m = _Model()
    kind = cfg.model_type
    vocab, d = cfg.int("vocab_size"), cfg.int("hidden_size")
    ff, layers = cfg.int("intermediate_size"), cfg.layers("num_hidden_layers")
    heads = cfg.int("num_attention_heads")
    kv_heads = cfg.int("num_key_value_heads", heads)
    cfg.divides("num_attention_heads", heads, d, "hidden_size")
    cfg.divides("num_key_value_heads", kv_heads, heads, "num_attention_heads")
    eps = cfg.float("rms_norm_eps", 1e-6)
    act = cfg.activation("hidden_act", "silu")
    head_dim = cfg.get("head_dim", None)
    if head_dim is not None and head_dim != d // heads:
        cfg.problem(
            "head_dim",
            f"`head_dim` is {_show(head_dim)}, not hidden_size / num_attention_heads = "
            f"{d // heads}: nnlint's attention has heads of width D / heads",
        )
    cfg.expect("rope_scaling", (None,), "nnlint does not model RoPE scaling")
    tie = cfg.bool("tie_word_embeddings", False)
    dropout = cfg.prob("attention_dropout", 0.0)
    bias = "false"
    mlp_bias = False
    if kind == "llama":
        bias = "true" if cfg.bool("attention_bias", False) else "false"
        mlp_bias = cfg.bool("mlp_bias", False)
    elif kind == "qwen2":
        bias = "[q, k, v]"  # Qwen2Attention: q/k/v projections with a bias, o without
    window = None
    if kind in ("mistral", "mixtral"):
        window = cfg.int("sliding_window", None)
    if kind == "qwen2":
        cfg.get("sliding_window", None)
        cfg.get("max_window_layers", None)
        cfg.expect(
            "use_sliding_window",
            (False,),
            "Qwen2's sliding window applies to some layers only; nnlint writes every layer alike",
        )
    if kind == "mixtral":
        experts = cfg.int("num_local_experts")
        top_k = cfg.int("num_experts_per_tok")
        if top_k > experts and not {"num_local_experts", "num_experts_per_tok"} & cfg.bad:
            cfg.problem(
                "num_experts_per_tok",
                f"`num_experts_per_tok` is {top_k}, more than num_local_experts = {experts}: "
                "each token visits top_k different experts",
            )
    seq = _sequence(cfg, dims, "max_position_embeddings", m)

    b = m.b
    m.inputs = [("input_ids", (seq,))]
    m.block = "decoder_layer"
    embed = b(
        "embedding",
        [positional("vocab", vocab), positional("dim", d)],
        ["input_ids"],
        "embed_tokens",
    )
    x = embed
    for _ in range(layers):
        attn = b.chain(
            x,
            "layers.self_attn",
            _norm("rmsnorm", eps),
            _attention(
                heads,
                causal=True,
                kv_heads=kv_heads,
                bias=bias,
                rope=True,
                window=window,
                dropout=dropout,
            ),
        )
        h = b("add", [], [x, attn], "layers.h")
        post = b.chain(h, "layers.post_attention_layernorm", _norm("rmsnorm", eps))
        if kind == "mixtral":
            args = [
                positional("experts", experts),
                positional("top_k", top_k),
                positional("hidden", ff),
            ]
            mlp = b("moe", args, [post], "layers.block_sparse_moe")
        else:
            gate = b.chain(post, "layers.gate_proj", _dense(ff, mlp_bias), (act, []))
            up = b.chain(post, "layers.up_proj", _dense(ff, mlp_bias))
            prod = b("mul", [], [gate, up], "layers.mlp")
            mlp = b.chain(prod, "layers.mlp", _dense(d, mlp_bias))
        x = b("add", [], [h, mlp], "layers")
    b.chain(
        x,
        "lm_head",
        _norm("rmsnorm", eps),
        _dense(vocab, bias=False, tie=embed if tie else None),
    )
    if tie:
        m.notes.append("The LM head is tied to the token embedding (tie_word_embeddings).")
    return m


def _gpt2(cfg: _Config, dims: dict[str, int]) -> _Model:
    """GPT-2: ``modeling_gpt2.py`` (``GPT2LMHeadModel``; its ``Conv1D`` c_attn is q, k, v)."""
    m = _Model()
    vocab, d = cfg.int("vocab_size"), cfg.int("n_embd")
    layers, heads = cfg.layers("n_layer"), cfg.int("n_head")
    cfg.divides("n_head", heads, d, "n_embd")
    inner = cfg.get("n_inner", None)
    ff = 4 * d if inner is None else cfg.int("n_inner")
    eps = cfg.float("layer_norm_epsilon", 1e-5)
    act = cfg.activation("activation_function", "gelu_new")
    resid, embd, attn_p = cfg.prob("resid_pdrop"), cfg.prob("embd_pdrop"), cfg.prob("attn_pdrop")
    cfg.expect("scale_attn_weights", (True,), "nnlint's attention scales scores by 1/√d_h")
    cfg.expect(
        "scale_attn_by_inverse_layer_idx", (False,), "a per-layer score scale nnlint does not model"
    )
    cfg.expect("add_cross_attention", (False,), "cross-attention layers are not mapped")
    tie = cfg.bool("tie_word_embeddings", True)
    positions = cfg.int("n_positions")
    seq = _sequence(cfg, dims, "n_positions", m)

    b = m.b
    m.inputs = [("input_ids", (seq,))]
    m.block = "gpt2_block"
    wte = b("embedding", [positional("vocab", vocab), positional("dim", d)], ["input_ids"], "wte")
    wpe = b("param", [positional("dims", f"{positions}, {d}")], [], "wpe")
    if seq < positions:
        wpe = b(
            "slice",
            [positional("axis", 0), positional("start", 0), positional("end", seq)],
            [wpe],
            "wpe",
        )
    x = b.chain(b("add", [], [wte, wpe], "embeddings"), "embeddings", *_dropout(embd))
    attention = _attention(heads, causal=True, dropout=attn_p)
    for _ in range(layers):
        x = _pre_ln_layer(b, x, "h", ("attn", "h", "mlp"), eps, attention, ff, d, act, resid)
    b.chain(
        x, "lm_head", _norm("layernorm", eps), _dense(vocab, bias=False, tie=wte if tie else None)
    )
    if tie:
        m.notes.append("The LM head is tied to the token embedding wte (tie_word_embeddings).")
    return m


def _bert(cfg: _Config, dims: dict[str, int]) -> _Model:
    """BERT: ``modeling_bert.py``'s ``BertModel`` (embeddings, encoder, pooler)."""
    m = _Model()
    vocab, d = cfg.int("vocab_size"), cfg.int("hidden_size")
    ff, layers = cfg.int("intermediate_size"), cfg.layers("num_hidden_layers")
    heads, types = cfg.int("num_attention_heads"), cfg.int("type_vocab_size", 2)
    cfg.divides("num_attention_heads", heads, d, "hidden_size")
    eps = cfg.float("layer_norm_eps", 1e-12)
    act = cfg.activation("hidden_act", "gelu")
    hidden_p = cfg.prob("hidden_dropout_prob", 0.1)
    attn_p = cfg.prob("attention_probs_dropout_prob", 0.1)
    cfg.expect(
        "position_embedding_type",
        ("absolute",),
        "relative position embeddings are not mapped",
    )
    cfg.expect("is_decoder", (False,), "BERT as a decoder is not mapped")
    cfg.expect("add_cross_attention", (False,), "cross-attention layers are not mapped")
    positions = cfg.int("max_position_embeddings")
    seq = _sequence(cfg, dims, "max_position_embeddings", m)

    b = m.b
    m.inputs = [("input_ids", (seq,)), ("token_type_ids", (seq,))]
    m.block = "encoder_layer"
    words = b(
        "embedding",
        [positional("vocab", vocab), positional("dim", d)],
        ["input_ids"],
        "word_embeddings",
    )
    pos = b("param", [positional("dims", f"{positions}, {d}")], [], "position_embeddings")
    if seq < positions:
        pos = b(
            "slice",
            [positional("axis", 0), positional("start", 0), positional("end", seq)],
            [pos],
            "position_embeddings",
        )
    types_ = b(
        "embedding",
        [positional("vocab", types), positional("dim", d)],
        ["token_type_ids"],
        "token_type_embeddings",
    )
    e = b("add", [], [words, pos], "e")
    x = b.chain(
        b("add", [], [e, types_], "embeddings"),
        "embeddings",
        _norm("layernorm", eps),
        *_dropout(hidden_p),
    )
    for _ in range(layers):
        attn = b.chain(x, "layer.attention", _attention(heads, dropout=attn_p), *_dropout(hidden_p))
        h = b.chain(b("add", [], [x, attn], "layer.h"), "layer.h", _norm("layernorm", eps))
        out = b.chain(h, "layer.output", _dense(ff), (act, []), _dense(d), *_dropout(hidden_p))
        x = b.chain(b("add", [], [h, out], "layer"), "layer", _norm("layernorm", eps))
    b.chain(
        x,
        "pooler",
        ("select", [positional("axis", 0), positional("index", 0)]),
        _dense(d),
        ("tanh", []),
    )
    return m


def _vit(cfg: _Config, dims: dict[str, int]) -> _Model:
    """ViT: ``modeling_vit.py``'s ``ViTModel`` (with its pooler) or
    ``ViTForImageClassification`` (the classifier on the class token, no pooler)."""
    m = _Model()
    d, ff = cfg.int("hidden_size"), cfg.int("intermediate_size")
    layers, heads = cfg.layers("num_hidden_layers"), cfg.int("num_attention_heads")
    cfg.divides("num_attention_heads", heads, d, "hidden_size")
    eps = cfg.float("layer_norm_eps", 1e-12)
    act = cfg.activation("hidden_act", "gelu")
    hidden_p = cfg.prob("hidden_dropout_prob", 0.0)
    attn_p = cfg.prob("attention_probs_dropout_prob", 0.0)
    image, patch = cfg.int("image_size", 224), cfg.int("patch_size", 16)
    channels = cfg.int("num_channels", 3)
    qkv_bias = cfg.bool("qkv_bias", True)
    pooled = cfg.int("pooler_output_size", d)
    pooler_act = cfg.activation("pooler_act", "tanh")
    if image % patch:
        cfg.problem("patch_size", f"`patch_size` {patch} does not divide `image_size` {image}")
        patch = image
    if "seq" in dims:
        raise ImportFailed([f"{cfg.shown}: --dim seq: a ViT's sequence is set by image_size"])
    n = (image // patch) ** 2
    m.notes.append(
        f"Image: {channels}×{image}×{image} in {n} patches of {patch}×{patch}; shapes are per "
        "sample."
    )
    classifier = (cfg.data.get("architectures") or [None])[0] == "ViTForImageClassification"
    labels = 0
    if classifier:
        names = cfg.get("id2label", None)
        labels = len(names) if isinstance(names, dict) and names else cfg.int("num_labels", 2)

    b = m.b
    m.inputs = [("pixel_values", (channels, image, image))]
    m.block = "encoder_layer"
    conv = [positional("channels", d), positional("kernel", patch), _kw("conv2d", "stride", patch)]
    patches = b.chain(
        "pixel_values",
        "patch_embeddings",
        ("conv2d", conv),
        ("reshape", [positional("dims", f"{d}, {n}")]),
        ("transpose", [positional("a", 0), positional("b", 1)]),
    )
    cls = b("param", [positional("dims", f"1, {d}")], [], "cls_token")
    pos = b("param", [positional("dims", f"{n + 1}, {d}")], [], "position_embeddings")
    t = b("concat", [Arg("axis", 0, default=None)], [cls, patches], "tokens")
    x = b.chain(b("add", [], [t, pos], "embeddings"), "embeddings", *_dropout(hidden_p))
    bias = "true" if qkv_bias else "[o]"
    attention = _attention(heads, bias=bias, dropout=attn_p)
    names = ("attention", "h", "output")
    for _ in range(layers):
        x = _pre_ln_layer(b, x, "layer", names, eps, attention, ff, d, act, hidden_p)
    x = b.chain(x, "layernorm", _norm("layernorm", eps))
    first = ("select", [positional("axis", 0), positional("index", 0)])
    if classifier:
        b.chain(x, "classifier", first, _dense(labels))
        m.notes.append(f"ViTForImageClassification: the classifier has {labels:,} classes.")
    else:
        b.chain(x, "pooler", first, _dense(pooled), (pooler_act, []))
    return m


#: model_type → (its mapping, the architectures it writes: the head each gets).
FAMILIES: dict[str, tuple[Callable[[_Config, dict[str, int]], _Model], dict[str, str]]] = {
    "llama": (_llama, {"LlamaForCausalLM": "with the LM head", "LlamaModel": "with the LM head"}),
    "mistral": (
        _llama,
        {"MistralForCausalLM": "with the LM head", "MistralModel": "with the LM head"},
    ),
    "qwen2": (_llama, {"Qwen2ForCausalLM": "with the LM head", "Qwen2Model": "with the LM head"}),
    "mixtral": (
        _llama,
        {"MixtralForCausalLM": "with the LM head", "MixtralModel": "with the LM head"},
    ),
    "gpt2": (_gpt2, {"GPT2LMHeadModel": "with the LM head", "GPT2Model": "with the LM head"}),
    "bert": (
        _bert,
        {
            "BertModel": "with the pooler",
            "BertForMaskedLM": "written as BertModel, with the pooler (the masked-LM head is "
            "not written)",
            "BertForPreTraining": "written as BertModel, with the pooler (the pre-training "
            "heads are not written)",
        },
    ),
    "vit": (
        _vit,
        {
            "ViTModel": "with the pooler",
            "ViTForImageClassification": "with the classifier, no pooler",
        },
    ),
}


# --------------------------------------------------------------------------- the spec


def is_hf_config(path: Path) -> bool:
    """A ``.json`` file is read as a Hugging Face config (it must have a ``model_type``)."""
    return path.suffix.lower() == ".json"


def import_hf_config(path: str | Path, dims: dict[str, int] | None = None) -> str:
    """The text of an nnlint spec for the Hugging Face ``config.json`` at ``path``.

    ``dims``: ``{"seq": N}`` sets the tokens per sample (default: the config's
    ``max_position_embeddings`` or ``n_positions``). Raises :class:`ImportFailed` with one
    located message per problem."""
    from nnlint.files import CONFIG_LIMIT, Refused, read_regular

    path = Path(path)
    shown = str(path)
    dims = dims or {}
    unknown = sorted(set(dims) - {"seq"})
    if unknown:
        raise ImportFailed([f"--dim {unknown[0]}: a Hugging Face config has one size to set, seq"])
    try:
        raw = read_regular(path, limit=CONFIG_LIMIT, what="configs")
    except FileNotFoundError:
        raise ImportFailed([f"{shown}: no such file"]) from None
    except IsADirectoryError:
        raise ImportFailed([f"{shown}: is a folder; expected a config.json"]) from None
    except (Refused, OSError) as exc:
        reason = str(exc) if isinstance(exc, Refused) else exc.strerror or str(exc)
        raise ImportFailed([f"{shown}: {reason}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{shown}: not UTF-8 text (byte {exc.start})"]) from None
    pairs_seen: list[tuple[str, int]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        counts: dict[str, int] = {}
        for k, _ in items:
            counts[k] = counts.get(k, 0) + 1
        pairs_seen.extend((k, n) for k, n in counts.items() if n > 1)
        return dict(items)

    def constant(name: str) -> float:
        raise ValueError(f"{name} is not a JSON number")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ImportFailed(
            [f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]
        ) from None
    except ValueError as exc:
        raise ImportFailed([f"{shown}: not valid JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise ImportFailed([f"{shown}:1:1: expected a JSON object (a Hugging Face config)"])
    cfg = _Config(data, text, shown)
    for key, _ in pairs_seen:
        cfg.problem(key, f"`{key}` is given more than once; keep one")
    kind = data.get("model_type")
    cfg.read.add("model_type")
    if kind is None:
        cfg.problem(None, "no `model_type`: not a Hugging Face config, or one nnlint cannot place")
        raise ImportFailed(cfg.problems)
    if kind not in FAMILIES:
        cfg.problem(
            "model_type",
            f"model_type {_show(kind)} is not mapped (known: {', '.join(sorted(FAMILIES))})",
        )
        raise ImportFailed(cfg.problems)
    build, heads = FAMILIES[kind]
    archs = cfg.get("architectures", None)
    arch = archs[0] if isinstance(archs, list) and archs else None
    if archs is not None and (not isinstance(archs, list) or len(archs) != 1 or arch not in heads):
        cfg.problem(
            "architectures",
            f"`architectures` is {_show(archs)}: the {kind} mapping writes "
            f"{' or '.join(sorted(heads))}",
        )
    dtype = cfg.get("torch_dtype", None)
    if dtype is not None and dtype not in _DTYPES:
        cfg.problem("torch_dtype", f"`torch_dtype` is {_show(dtype)}; known: {', '.join(_DTYPES)}")
        dtype = None
    try:
        model = build(cfg, dims)
    except _TooMany:  # the keys after the layer count were not read: no "not mapped"
        count = cfg.data[cfg.depth]
        message = f"its layers are more than nnlint's limit of {MAX_NODES:,} op instances"
        cfg.problem(cfg.depth, f"`{cfg.depth}` is {count:,}: {message}")
        cfg.read.update(data)
    for key in data:
        if key not in cfg.read and key not in IGNORED_KEYS:
            cfg.problem(
                key,
                f"`{key}` is not mapped: nnlint does not know whether it changes the "
                f"{kind} network (remove it from a copy of the file if it does not)",
            )
    if cfg.problems:
        n = len(cfg.problems)
        raise ImportFailed(
            cfg.problems + [f"{shown}: {n} problem{'s' if n != 1 else ''}; nothing was written"]
        )
    return _write(model, cfg, kind, arch, heads, dtype, path)


def _write(model: _Model, cfg: _Config, kind, arch, heads, dtype, path: Path) -> str:
    layers = model.b.layers
    inputs = [name for name, _ in model.inputs]
    outputs = [layers[-1].output]
    units, blocks = recover_blocks(layers, inputs, outputs, lambda stem: model.block)
    name = _model_name(cfg.data, path)
    # the file's folder and name are its author's text: escaped, they stay in the comment
    shown = visible(f"{path.parent.name}/{path.name}" if path.parent.name else path.name)
    sections = []
    notes = list(model.notes)
    if dtype is not None:
        notes.append(
            f"deploy precision {_DTYPES[dtype]} from torch_dtype {dtype}, the dtype of the "
            "stored weights."
        )
        sections.append(f"deploy {{\n    precision = {_DTYPES[dtype]}\n}}")

    def header(params: int | None) -> str:
        what = (
            f"{arch} {heads[arch]}" if arch else f"No architectures: {next(iter(heads.values()))}"
        )
        counted = f": {params:,} parameters" if params is not None else ""
        lines = [
            f"Imported from {shown} by `nnlint import` (Hugging Face model_type {kind}).",
            f"{what}{counted}.",
            *notes,
        ]
        return "\n".join(
            textwrap.fill(line, 92, initial_indent="# ", subsequent_indent="#   ") for line in lines
        )

    draft = write_spec(layers, model.inputs, outputs, units, blocks, header(None), name, sections)
    params = self_check(draft, layers, str(path)).report.totals.params
    return write_spec(layers, model.inputs, outputs, units, blocks, header(params), name, sections)


def _model_name(data: dict, path: Path) -> str:
    """The model's name: the last part of ``_name_or_path``, else the folder of a file
    called ``config.json``, else the file's stem."""
    source = data.get("_name_or_path")
    if isinstance(source, str) and source.strip("/"):
        return ident(source.strip("/").rsplit("/", 1)[-1].lower()) or "imported"
    stem = path.parent.name if path.name == "config.json" else path.stem
    return ident(stem.lower()) or "imported"
