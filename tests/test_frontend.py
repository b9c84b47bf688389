"""The language: every construct of README § The language parses and lowers; every kind of bad
input is a located NN0xx diagnostic with what was expected — never a traceback."""

from __future__ import annotations

import textwrap

import pytest
from helpers import report_of

from nnlint.check import check_text
from nnlint.diagnostics import SpecError
from nnlint.parse import parse, parse_number


def diags(text: str):
    result = check_text(textwrap.dedent(text).lstrip("\n"), "spec.nn")
    return result.diagnostics


def only(text: str):
    found = [d for d in diags(text) if d.code < "NN020"]
    assert len(found) == 1, [(d.code, d.message) for d in found]
    return found[0]


# ------------------------------------------------------------------ constructs


def test_design_md_residual_example_lowers_with_readable_names():
    r = report_of("""
        block residual(c) {
            input x
            y   = x -> conv2d(c, 3, padding=1) -> batchnorm -> relu
                    -> conv2d(c, 3, padding=1) -> batchnorm
            out = add(x, y) -> relu
        }

        model tiny_resnet {
            input img: [3, 32, 32]            # images are [C, H, W]; sequences are [T, D]
            h      = img -> conv2d(16, 3, padding=1) -> batchnorm -> relu
            h2     = h -> residual(16) * 3    # `* N` repeats a layer or block N times
            logits = h2 -> global_avgpool -> flatten -> dense(10)
        }
    """)
    ids = [layer.node.id for layer in r.layers]
    assert "h2/residual[2]/conv2d#1" in ids
    assert "h2/residual[3]/add#1" in ids
    assert r.layer("logits/dense#1").node.shape == (10,)
    assert r.layer("h2/residual[3]/relu#2").node.shape == (16, 32, 32)
    # the continuation line belongs to the statement above it
    first = r.layer("h2/residual[1]/conv2d#1").node.span.line
    assert r.layer("h2/residual[1]/conv2d#2").node.span.line == first + 1
    # 16·(3·9) + 16 + 2·16 (stem) + 3 · (2·(16·16·9 + 16) + 2·2·16) + 16·10 + 10
    assert r.totals.params == 448 + 32 + 3 * (2 * (2304 + 16) + 64) + 170


def test_numbers_suffixes_and_arithmetic():
    assert parse_number("300k") == 300_000
    assert parse_number("1.5M") == 1_500_000
    assert parse_number("2G") == 2_000_000_000
    assert parse_number("1e-3") == 0.001
    assert parse_number("1e400") == float("inf")
    r = report_of("""
        block mlp(d, expand=4) {
            input x
            out = x -> dense(expand * d) -> gelu -> dense((d + d) / 2)
        }
        model m {
            input x: [64]
            y = x -> mlp(64) -> mlp(64, expand=2)
        }
    """)
    assert [layer.node.shape for layer in r.layers if layer.node.op == "dense"] == [
        (256,),
        (64,),
        (128,),
        (64,),
    ]


def test_sections_units_and_several_inputs():
    r = report_of("""
        model two_inputs {
            input ids: [16]; input pos: [16]
            t = ids -> embedding(1000, 32)
            p = pos -> embedding(16, 32)
            h = add(t, p) -> layernorm
        }
        train {
            batch = 8
            precision = bf16
            optimizer = adamw
            samples = 1.5M
        }
        deploy {
            target = jetson-agx-orin
            batch = 2
        }
        budget {
            params <= 300k
            train_memory <= 8 MiB
            latency <= 2 ms
        }
    """)
    cfg = r.sections
    assert cfg.train.samples == 1_500_000 and cfg.train.precision == "bf16"
    assert cfg.deploy.target == "jetson-agx-orin" and cfg.deploy.batch == 2
    assert [b.limit for b in cfg.budget][:2] == [300_000, 8 * 2**20]
    assert float(cfg.budget[2].limit) == 0.002
    assert r.totals.params == 1000 * 32 + 16 * 32 + 64


def test_crlf_bom_and_comment_lines_between_continuations():
    text = (
        "\ufeffmodel m {\r\n  input x: [4]\r\n  y = x -> dense(3)\r\n  # a comment\r\n"
        "      -> relu\r\n}\r\n"
    )
    result = check_text(text, "m.nn")
    assert result.diagnostics == ()
    assert [layer["op"] for layer in result.model["layers"]] == ["input", "dense", "relu"]


def test_names_may_be_defined_after_use():
    r = report_of("""
        model m {
            input x: [8]
            out = add(a, b)
            a = x -> dense(8)
            b = x -> dense(8)
        }
    """)
    assert r.layer("out/add#1").node.inputs == ("a/dense#1", "b/dense#1")


def test_frozen_block_and_precision_override():
    r = report_of("""
        block enc(d) {
            input x
            out = x -> dense(d) -> relu
        }
        model m {
            input x: [8]
            h = x -> enc(8, trainable=false) -> dense(4, precision=fp16)
        }
        train {
            optimizer = adam
        }
    """)
    assert r.totals.trainable_params == 4 * 8 + 4
    assert r.totals.frozen_params == 8 * 8 + 8
    assert r.totals.param_bytes == 72 * 4 + 36 * 2


# ------------------------------------------------------------------ diagnostics


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        (
            "model m {\n    input x: [784]\n    h = x -> dense(256\n}\n",
            3,
            23,
            ["unexpected end of line", "')'"],
        ),
        (
            "model m {\n    input x: [4]\n    h = x -> -> relu\n}\n",
            3,
            14,
            ["unexpected '->'", "a name"],
        ),
        ("model m {\n    input x: [4]\n    h = x @ relu\n}\n", 3, 11, ["unexpected character '@'"]),
        ("model m {\n    input x: [4]\n    h = x -> relu\n", 3, 18, ["end of file", "'}'"]),
        ("train { batch = }\n", 1, 17, ["unexpected '}'", "a number"]),
    ],
)
def test_syntax_errors_name_line_column_found_and_expected(text, line, column, words):
    d = only(text)
    assert d.code == "NN001"
    assert (d.span.line, d.span.column) == (line, column), d.message
    for w in words:
        assert w in d.message


@pytest.mark.parametrize(
    "text, code, line, column, words",
    [
        (
            """
     model m {
         input img: [4]
         h = imgg -> relu
     }""",
            "NN002",
            3,
            9,
            ["undefined name `imgg`", "did you mean `img`?"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> relu
         h = h -> relu
     }""",
            "NN003",
            4,
            5,
            ["`h` is assigned twice (first on line 3)"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(3) -> reluu
     }""",
            "NN004",
            3,
            26,
            ["unknown op `reluu`", "did you mean `relu`?"],
        ),
        (
            """
     model m {
         input x: [3, 8, 8]
         h = x -> conv2d(4, 3, strides=2)
     }""",
            "NN005",
            3,
            27,
            ["no option `strides`", "did you mean `stride`?"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(3.5)
     }""",
            "NN006",
            3,
            20,
            ["must be a whole number, got 3.5"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(0)
     }""",
            "NN007",
            3,
            20,
            ["must be at least 1, got 0"],
        ),
        (
            """
     model m {
         input x: [4]
         a = b -> relu
         b = a -> relu
     }""",
            "NN008",
            3,
            5,
            ["cycle between tensors: a -> b -> a"],
        ),
        (
            """
     model m {
         input x: [64, 56, 56]
         y = x -> conv2d(128, 3, stride=2, padding=1)
         out = add(x, y)
     }""",
            "NN009",
            4,
            11,
            ["add of [64, 56, 56] and [128, 28, 28]: shapes differ"],
        ),
        (
            """
     block residual(c) {
         input x
         out = x -> dense(c)
     }
     model m {
         input x: [4]
         h = x -> residual(4, 5)
     }""",
            "NN010",
            7,
            14,
            ["block `residual` takes 1 argument (c), got 2"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(4) * 1000000000
     }""",
            "NN011",
            3,
            25,
            ["exceeds nnlint's limit of 120,000"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(4)
     }
     train {
         optimiser = adam
     }""",
            "NN012",
            6,
            5,
            ["unknown key `optimiser`", "did you mean `optimizer`?"],
        ),
        (
            """
     model m {
         input ids: [8]
         t = ids -> embedding(100, 16)
         y = t -> dense(50, tie=t)
     }""",
            "NN013",
            4,
            24,
            ["cannot share", "[100, 16]"],
        ),
        (
            """
     block b(c) {
         input x
         out = x -> dense(c)
     }""",
            "NN014",
            1,
            1,
            ["defines no `model`"],
        ),
        (
            """
     model m {
         input x: [4]
         h = x -> dense(4)
     }
     deploy {
         target = edge-tp
     }""",
            "NN015",
            6,
            5,
            ["unknown target `edge-tp`", "did you mean `edge-tpu`?"],
        ),
    ],
)
def test_spec_errors_are_located(text, code, line, column, words):
    d = only(text)
    assert d.code == code, d.message
    assert (d.span.line, d.span.column) == (line, column), d.message
    for w in words:
        assert w in d.message, d.message
    assert d.fix or code == "NN001"


def test_recursive_block_is_a_cycle():
    d = only("""
        block a(c) {
            input x
            out = x -> b(c)
        }
        block b(c) {
            input x
            out = x -> a(c)
        }
        model m {
            input x: [4]
            h = x -> a(4)
        }
    """)
    assert d.code == "NN008" and "recursive block call: a -> b -> a" in d.message


def test_non_utf8_and_nul_bytes():
    from nnlint.check import decode

    text, problem = decode(b"model m {\n  input x: [4]\xff\n}")
    assert text is None and problem.code == "NN016"
    assert (problem.span.line, problem.span.column) == (2, 15)
    with pytest.raises(SpecError) as exc:
        parse("model m {\x00}")
    assert exc.value.diagnostics[0].code == "NN001"


def test_huge_numbers_are_diagnostics_not_hangs():
    assert only("model m {\n input x: [4]\n h = x -> dense(1e400)\n}").code == "NN011"
    assert only("model m {\n input x: [4]\n h = x -> dense(1e30)\n}").code == "NN011"
    assert only("model m {\n input x: [4]\n h = x -> dense(4) * 0\n}").code == "NN007"


def test_suppressions_silence_and_unused_ones_are_reported():
    text = """
        model m {
            input x: [4]
            h = x -> dense(4)
        }
        budget {
            params <= 10     # nnlint: ignore[NN501]
            macs <= 1        # nnlint: ignore[NN101]
        }
    """
    found = {(d.code, d.span.line) for d in diags(text)}
    assert ("NN501", 6) not in found  # silenced
    assert ("NN501", 7) in found  # macs 16 > 1: not silenced by a suppression of another code
    assert ("NN021", 7) in found  # that NN101 suppression silenced nothing


def test_file_suppression_and_malformed_comment():
    text = """
        # nnlint: ignore-file[NN501]
        model m {
            input x: [4]
            h = x -> dense(4)   # nnlint: ignore NN501
        }
        budget {
            params <= 10
        }
    """
    found = [(d.code, d.span.line) for d in diags(text)]
    assert found == [("NN020", 4)]


def test_init_options_are_checked():
    d = only("model m {\n  input x: [4]\n  h = x -> dense(4, init=glorot)\n}")
    assert d.code == "NN006" and "normal(std) or uniform(a)" in d.message
    r = report_of("""
        model m {
            input x: [4]
            h = x -> dense(4, init=uniform(0.1)) -> dense(2, init=normal(0.02))
        }
    """)
    inits = [layer.node.opts["init"] for layer in r.layers if layer.node.op == "dense"]
    assert [(i.scheme, i.std) for i in inits] == [("uniform", 0.1), ("normal", 0.02)]
