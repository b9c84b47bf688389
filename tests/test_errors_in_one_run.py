"""Issue 10 item 4: the names people bring from PyTorch and Keras, suggestions that are
never a wrong near-miss, and every independent error of a spec in one run."""

from __future__ import annotations

import textwrap

import pytest

from nnlint.check import check_text
from nnlint.ops import ALIASES, CATALOG, OPS, Op, known_as, register
from nnlint.suggest import changes_a_number, suggest


def diags(text: str):
    return check_text(textwrap.dedent(text).lstrip("\n"), "spec.nn").diagnostics


def errors(text: str):
    return [d for d in diags(text) if d.code < "NN020"]


# ----------------------------------------------------------- names from PyTorch and Keras


@pytest.mark.parametrize(
    "brought, op",
    [
        ("linear", "dense"),
        ("Linear", "dense"),
        ("nn.Linear", "dense"),
        ("Dense", "dense"),
        ("Conv2d", "conv2d"),
        ("Conv2D", "conv2d"),
        ("Conv1d", "conv1d"),
        ("ConvTranspose2d", "conv_transpose2d"),
        ("Conv2DTranspose", "conv_transpose2d"),
        ("swish", "silu"),
        ("SiLU", "silu"),
        ("BatchNorm2d", "batchnorm"),
        ("BatchNorm1d", "batchnorm"),
        ("BatchNormalization", "batchnorm"),
        ("LayerNorm", "layernorm"),
        ("RMSNorm", "rmsnorm"),
        ("MultiheadAttention", "attention"),
        ("ReLU", "relu"),
        ("GELU", "gelu"),
        ("LeakyReLU", "leaky_relu"),
        ("Dropout", "dropout"),
        ("Embedding", "embedding"),
        ("MaxPool2d", "maxpool"),
        ("AvgPool2d", "avgpool"),
        ("AdaptiveAvgPool2d", "adaptive_avgpool"),
        ("GlobalAveragePooling2D", "global_avgpool"),
        ("Flatten", "flatten"),
        ("cat", "concat"),
    ],
)
def test_a_pytorch_or_keras_name_is_answered_with_the_op(brought, op):
    assert known_as(brought) == op


def test_an_op_name_is_no_alias_and_unknown_words_are_none():
    assert known_as("dense") is None
    assert known_as("frobnicate") is None
    assert known_as("nn.") is None


def test_aliases_live_on_the_op_classes():
    for key, name in ALIASES.items():
        assert any(a.lower().replace("_", "") == key for a in type(CATALOG[name]).aliases)


def test_an_alias_that_names_another_op_is_refused_when_the_catalog_is_built():
    class Clash(Op):
        name = "clash_test_op"
        aliases = ("Linear",)
        saves = "nothing"

        def infer(self, in_shapes, opts):
            return in_shapes[0]

        def cost(self, c):
            raise NotImplementedError

    with pytest.raises(ValueError, match="already names 'dense'"):
        register(Clash)
    assert "clash_test_op" not in CATALOG


def test_the_unknown_op_message_names_the_op_for_an_alias():
    (d,) = errors("""
        model m {
            input x: [8]
            h = x -> Linear(4)
        }
    """)
    assert d.code == "NN004"
    assert d.message == "unknown op `Linear`; did you mean `dense`? (nnlint's name for `Linear`)"
    assert d.fix == "write `dense` (see the op catalog in the README)"
    (d,) = errors("""
        model m {
            input x: [3, 8, 8]
            h = x -> Conv2D(4, 3)
        }
    """)
    assert d.message == "unknown op `Conv2D`; did you mean `conv2d`?"


# ------------------------------------------------------------------ no wrong near-miss

# Each word is close to a known name by edit distance, but suggesting it would be wrong.
NEAR_MISSES = [
    ("conv3d", ["conv1d", "conv2d"]),  # another dimension
    ("maxpool3d", ["maxpool"]),
    ("conv_transpose1d", ["conv_transpose2d"]),
    ("conv", ["conv1d", "conv2d"]),  # as close to either: ambiguous
    ("h3", ["h1", "h2"]),  # another number
    ("layer12", ["layer11"]),
    ("rtx3090", ["rtx4090"]),
    ("int7", ["int16", "int8", "fp16"]),
    ("lstm", list(OPS)),
    ("gru", list(OPS)),
    ("moe", list(OPS)),
    ("rope", list(OPS)),
]


@pytest.mark.parametrize("word, known", NEAR_MISSES)
def test_a_wrong_near_miss_is_never_suggested(word, known):
    assert suggest(word, known) is None


@pytest.mark.parametrize(
    "word, known, close",
    [
        ("reluu", OPS, "relu"),
        ("NN5011", ["NN501", "NN502"], "NN501"),  # a doubled digit is a typo
        ("imgg", ["img", "h"], "img"),
        ("strides", ["stride", "padding"], "stride"),
        ("edge-tp", ["edge-tpu", "a100"], "edge-tpu"),
        ("h22", ["h2", "h3"], "h2"),
    ],
)
def test_a_likely_suggestion_is_still_made(word, known, close):
    assert suggest(word, known) == close


def test_changes_a_number():
    assert changes_a_number("conv3d", "conv2d")
    assert changes_a_number("h3", "h2")
    assert not changes_a_number("NN5011", "NN501")
    assert not changes_a_number("conv", "conv2d")


def test_a_convolution_of_another_dimension_gets_no_suggestion():
    (d,) = errors("""
        model m {
            input x: [3, 8, 8]
            h = x -> conv4d(4, 3)
        }
    """)
    assert d.message == "unknown op `conv4d`"


# ------------------------------------------------------------ every error in one run

# Five independent mistakes: two syntax errors, an error inside a block (named by its
# call), an unknown op and a bad section value. One run reports all five, in order.
FIVE = textwrap.dedent("""\
    block res(c) {
        input x
        y = x -> conv2d(c, 3, padding=1) -> relu
            -> conv2d(c, 3, padding=1, bogus=2)
        out = add(x, y)
    }

    model m {
        input x: [3, 32, 32]
        a = x -> conv2d(16, 3, padding="same") -> relu
        b = x -> nn.BatchNorm2d -> relu
        d = x -> conv2d(8, 3, padding=1) -> relu
        e = d -> Linear(8)
        r = d -> res(8)
        f = d -> flatten -> dense(10)
    }
    train {
        loss = cross_entropy(f)
        batch = 0
    }
    """)
FIVE_FOUND = [
    ("NN005", 4, 36, "`conv2d` has no option `bogus`"),
    ("NN001", 10, 36, "syntax error: unexpected character '\"'"),
    ("NN001", 11, 16, "syntax error: unexpected character '.'"),
    ("NN004", 13, 14, "unknown op `Linear`; did you mean `dense`?"),
    ("NN012", 19, 13, "batch must be at least 1, got 0"),
]


def test_five_mistakes_are_five_located_diagnostics_in_one_run():
    found = check_text(FIVE, "five.nn").diagnostics
    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        (code, line, column) for code, line, column, _ in FIVE_FOUND
    ]
    for d, (_code, _line, _column, start) in zip(found, FIVE_FOUND):
        assert d.message.startswith(start), d.message
    assert found[1].fix == "nnlint has no strings: write `same` without quotes"
    assert found[2].fix == (
        "write `batchnorm`: nnlint's name for `nn.BatchNorm2d` (ops have no module prefix)"
    )
    # the error inside the block names the call it came from
    (called,) = found[0].related
    assert (called.span.line, called.span.column) == (14, 14)
    assert called.message == "called from line 14"
    assert all(d.related == () for d in found[1:])


def test_five_mistakes_in_text_output():
    from nnlint.emit import render
    from nnlint.rules import all_meta

    result = check_text(FIVE, "five.nn")
    text = render("text", [result], all_meta(), color=False)
    assert text.count("NN00") + text.count("NN01") == 5
    block = text.split("\n\n")[0].splitlines()
    assert block[0].startswith("five.nn:4:36: NN005 [error]")
    # rustc's note under the frame, before the help line
    assert block[-2:] == [
        "   = note: called from five.nn:14:14",
        "   = help: use one of the listed options",
    ]
    assert text.endswith("Found 5 errors, 0 warnings and 0 notes in 1 file.")


def test_five_mistakes_in_github_output_carry_the_call_note():
    from nnlint.emit import render
    from nnlint.rules import all_meta

    lines = render("github", [check_text(FIVE, "five.nn")], all_meta()).splitlines()
    assert len([line for line in lines if line.startswith("::error ")]) == 5
    # the annotation of the error inside the block names the call, on a line of its own
    # (%0A: the workflow command's escaped newline); the others have no note
    first = lines[0]
    assert first.startswith("::error file=five.nn,line=4,col=36,")
    assert first.endswith("%0Anote: called from five.nn:14:14")
    assert all("note:" not in line for line in lines[1:])


def test_five_mistakes_in_json_output():
    import json

    from nnlint.emit import render
    from nnlint.rules import all_meta

    doc = json.loads(render("json", [check_text(FIVE, "five.nn")], all_meta()))
    assert [(d["code"], d["line"], d["column"]) for d in doc["diagnostics"]] == [
        (code, line, column) for code, line, column, _ in FIVE_FOUND
    ]
    assert doc["diagnostics"][0]["related"] == [
        {
            "path": "five.nn",
            "line": 14,
            "column": 14,
            "end_line": 14,
            "end_column": 20,
            "message": "called from line 14",
        }
    ]
    assert all(d["related"] == [] for d in doc["diagnostics"][1:])
    assert doc["models"] == []  # nothing is analysed while the spec has errors


def test_five_mistakes_in_sarif_output_are_schema_valid():
    import json
    from pathlib import Path

    import jsonschema

    from nnlint.emit import render
    from nnlint.rules import all_meta

    schema_path = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
    validator = jsonschema.Draft4Validator(json.loads(schema_path.read_text(encoding="utf-8")))
    log = json.loads(render("sarif", [check_text(FIVE, "five.nn")], all_meta()))
    problems = sorted(validator.iter_errors(log), key=str)
    assert not problems, "\n".join(p.message for p in problems)
    results = log["runs"][0]["results"]
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results
    ] == [(code, line) for code, line, _column, _ in FIVE_FOUND]
    assert results[0]["relatedLocations"] == [
        {
            "id": 0,
            "physicalLocation": {
                "artifactLocation": {"uri": "five.nn", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 14, "startColumn": 14, "endLine": 14, "endColumn": 20},
            },
            "message": {"text": "called from line 14"},
        }
    ]
    assert all("relatedLocations" not in r for r in results[1:])


def test_a_statement_reading_a_failed_name_is_skipped_without_a_word():
    found = errors("""
        model m {
            input x: [8]
            a = x -> dense(4) -> bogus
            b = a -> relu
            c = add(a, b) -> dense(3)
            d = x -> dense(2)
            e = add(d, x)
        }
        train {
            loss = cross_entropy(c)
        }
    """)
    # b, c and the loss read `a`: only `a` and the independent `e` are reported
    assert [(d.code, d.span.line) for d in found] == [("NN004", 3), ("NN009", 7)]


def test_a_statement_after_a_syntax_error_is_not_reported_as_undefined():
    found = errors("""
        model m {
            input x: [8]
            a = x -> dense(4 -> relu
            b = a -> relu
            c = x -> dense(3) -> reluu
        }
        train {
            loss = cross_entropy(b)
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [("NN001", 3), ("NN004", 5)]


def test_a_dropped_input_silences_the_missing_input_and_its_readers():
    found = errors("""
        model m {
            input x: [8, 8
            a = x -> dense(4)
            b = a -> reluu
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [("NN001", 2)]


def test_continuation_lines_go_with_their_statement():
    found = errors("""
        model m {
            input x: [8]
            a = x -> dense(4)
                -> dense(3, 2 2)

                -> relu
            b = x -> reluu
        }
    """)
    # the whole chain of `a` is left out, the error on its second line reported once
    assert [(d.code, d.span.line) for d in found] == [("NN001", 4), ("NN004", 7)]


def test_an_error_in_a_block_breaks_its_calls_silently():
    found = errors("""
        block b(c) {
            input x
            y = x -> dense(c +) -> relu
        }
        model m {
            input x: [8]
            a = x -> b(4)
            z = x -> reluu
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [("NN001", 3), ("NN004", 8)]


def test_an_error_on_a_brace_line_stops_the_recovery():
    found = errors("""
        model m {
            input x: [8]
            a = x -> dense(4) -> reluu
        train {
            batch = 0
        }
    """)
    # where the model ends is unknown, so nothing after the error is checked
    assert [(d.code, d.span.line) for d in found] == [("NN001", 4)]


def test_an_error_in_a_header_leaves_out_the_whole_item():
    found = errors("""
        block res(c k=3) {
            input x
            y = x -> relu
        }

        model m {
            input x: [8]
            a = x -> res(4)
            b = x -> reluu
        }
        trian {
            batch = 0
        }
        deploy {
            batch = 0
        }
    """)
    # the calls of the left-out block are not reported; the section typo gets its word
    assert [(d.code, d.span.line) for d in found] == [
        ("NN001", 1),
        ("NN004", 9),
        ("NN001", 11),
        ("NN012", 15),
    ]
    assert found[2].fix == "did you mean `train`?"


def test_a_left_out_model_is_not_reported_missing():
    found = errors("""
        modle m {
            input x: [8]
        }
        train {
            batch = 0
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [("NN001", 1), ("NN012", 5)]
    assert found[0].fix == "did you mean `model`?"


def test_each_section_key_is_checked_on_its_own():
    found = errors("""
        model m {
            input x: [8]
            h = x -> dense(4)
        }
        train {
            loss = cross_entropy(h)
            batch = 0
            optimizer = adamm
            lr = -1
            bogus = 3
            batch = 4
        }
        deploy {
            batch = 1.5
        }
        budget {
            params <= 0.5
            latency < 2 ms
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [
        ("NN012", 7),
        ("NN012", 8),
        ("NN012", 9),
        ("NN012", 10),
        ("NN012", 11),
        ("NN012", 14),
        ("NN012", 17),
    ]
    assert found[-3].message == "`batch` is set twice in `train` (first on line 7)"


def test_errors_inside_nested_blocks_name_each_call_innermost_first():
    (d,) = errors("""
        block inner(c) {
            input x
            y = x -> dense(c, bogus=1)
        }
        block outer(c) {
            input x
            y = x -> inner(c)
        }
        model m {
            input x: [8]
            a = x -> outer(4)
        }
    """)
    assert [r.message for r in d.related] == ["called from line 7", "called from line 11"]


def test_a_block_called_twice_reports_its_error_once():
    found = errors("""
        block b(c) {
            input x
            y = x -> dense(c, bogus=1)
        }
        model m {
            input x: [8]
            a = x -> b(4)
            z = x -> b(5)
        }
    """)
    assert [(d.code, d.span.line) for d in found] == [("NN005", 3)]
    assert [r.message for r in found[0].related] == ["called from line 7"]


def test_errors_are_capped_with_a_final_note():
    from nnlint.rules.spec_codes import MAX_ERRORS

    body = "".join(f"    h{i} = x -> bogus_op\n" for i in range(MAX_ERRORS + 10))
    found = diags("model m {\n    input x: [4]\n" + body + "}\n")
    assert [d.code for d in found] == ["NN004"] * MAX_ERRORS + ["NN017"]
    note = found[-1]
    assert note.severity.name == "NOTE"
    assert note.span.line == MAX_ERRORS + 3  # the first error left out
    assert note.message == (
        f"more than {MAX_ERRORS} errors in this file: the first {MAX_ERRORS} are shown, "
        "the rest from here on are not"
    )


def test_syntax_errors_are_capped_too():
    from nnlint.rules.spec_codes import MAX_ERRORS

    body = "".join(f"    h{i} = x -> dense(\n" for i in range(MAX_ERRORS + 10))
    found = diags("model m {\n    input x: [4]\n" + body + "}\n")
    assert [d.code for d in found] == ["NN001"] * MAX_ERRORS + ["NN017"]


def test_the_rules_run_only_on_a_spec_without_errors():
    from pathlib import Path

    hazard = Path(__file__).parent.parent / "examples" / "hazards" / "training_log_of_softmax.nn"
    text = hazard.read_text(encoding="utf-8")
    assert "NN103" in {d.code for d in check_text(text, "h.nn").diagnostics}
    broken = text.replace(
        "    logp   = probs -> log\n", "    logp   = probs -> log\n    z = tokens -> reluu\n"
    )
    assert broken != text
    assert [d.code for d in check_text(broken, "h.nn").diagnostics] == ["NN004"]


def test_strict_parse_still_raises_the_first_syntax_error():
    from nnlint.diagnostics import SpecError
    from nnlint.parse import parse

    with pytest.raises(SpecError) as caught:
        parse(FIVE)
    assert [(d.span.line, d.span.column) for d in caught.value.diagnostics] == [(10, 36)]


# ------------------------------------------------- optimizers and losses from scripts


def _train_error(entry: str):
    (d,) = errors(f"""
        model m {{
            input x: [8]
            h = x -> dense(4)
        }}
        train {{
            loss = cross_entropy(h)
            {entry}
        }}
    """)
    assert (d.code, d.span.line) == ("NN012", 7)
    return d


@pytest.mark.parametrize(
    "written, meant, also",
    [
        ("sgd(momentum=0.9)", "momentum", ""),
        ("SGD(momentum=0.9, nesterov=true)", "nesterov", ""),
        ("sgd(momentum=0, lr=0.1)", "sgd", ", and `lr = 0.1` in `train`"),
        (
            "AdamW(lr=3e-4, weight_decay=0.1)",
            "adamw",
            ", and `lr = 3e-4` and `weight_decay = 0.1` in `train`",
        ),
        ("adam(betas=0.9)", "adam", ""),
    ],
)
def test_an_optimizer_call_from_a_script_is_answered_with_its_name(written, meant, also):
    d = _train_error(f"optimizer = {written}")
    name = written.split("(")[0]
    assert d.message == (
        f"`optimizer` takes a name, not a call: `{name}(…)` is `optimizer = {meant}`{also}"
    )
    assert d.fix == f"write `optimizer = {meant}`{also} (the other options change no figure)"


def test_an_unknown_optimizer_call_is_unknown():
    d = _train_error("optimizer = frobnicator(rate=1)")
    assert d.message.startswith("unknown optimizer `frobnicator` (known: sgd, momentum")


@pytest.mark.parametrize("written, meant", [("Adam", "adam"), ("AdamW", "adamw"), ("SGD", "sgd")])
def test_an_optimizer_class_name_is_answered(written, meant):
    d = _train_error(f"optimizer = {written}")
    assert d.message.startswith(f"unknown optimizer `{written}`; did you mean `{meant}`?")


@pytest.mark.parametrize(
    "written, meant",
    [
        ("CrossEntropyLoss", "cross_entropy"),
        ("MSELoss", "mse"),
        ("BCEWithLogitsLoss", "bce"),
        ("KLDivLoss", "kl_div"),
        ("HuberLoss", "huber"),
    ],
)
def test_a_loss_class_name_is_answered(written, meant):
    (d,) = errors(f"""
        model m {{
            input x: [8]
            h = x -> dense(4)
        }}
        train {{
            loss = {written}(h)
        }}
    """)
    assert d.code == "NN012"
    assert d.message.startswith(f"unknown loss `{written}`; did you mean `{meant}`?")


# ------------------------------------------------- the one-pass recovery, checked


def _mutated_specs(count: int):
    """Specs with one to six random slips (a character dropped, doubled or replaced
    by one from Python) in random places, from the README's kind of spec."""
    import random

    base = FIVE.replace('"same"', "same").replace("nn.BatchNorm2d", "batchnorm")
    base += "deploy {\n    batch = 1\n}\nbudget {\n    params <= 1M\n}\n"
    rng = random.Random(20261201)
    slips = ["", '"', ".", "(", ")", "[", "]", ",", "=", "->", "*", "x", "1", "{", "}", "\n"]
    for _ in range(count):
        text = base
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(slips) + text[at + rng.randint(0, 1) :]
        yield text


def test_the_one_pass_recovery_agrees_with_parsing_again_after_each_error():
    from nnlint.parse import _fast_parser, _recover_fast, _recover_slowly

    parser = _fast_parser()
    compared = 0
    for text in _mutated_specs(400):
        fast = _recover_fast(text, parser, known_as)
        if fast is None:  # where the fast parser cannot go, the slow path is the answer
            continue
        slow = _recover_slowly(text, parser, known_as)
        assert [(d.span, d.message, d.fix) for d in fast[1]] == [
            (d.span, d.message, d.fix) for d in slow[1]
        ], text
        assert (fast[0] is None) == (slow[0] is None), text
        if fast[0] is not None:
            assert fast[0].dropped == slow[0].dropped, text
            assert fast[0].models == slow[0].models, text
            assert fast[0].sections == slow[0].sections, text
        compared += 1
    assert compared > 300


def test_many_errors_in_a_long_spec_are_found_in_one_pass(monkeypatch):
    import nnlint.parse as parse_module

    def no_second_parse(*args):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parse_module, "_recover_slowly", no_second_parse)
    lines = ["model m {", "    input x: [8]"]
    lines += [f"    h{i} = x -> dense(8{')' if i % 50 else ''}" for i in range(3000)]
    found = diags("\n".join([*lines, "}", ""]))
    assert [d.code for d in found] == ["NN001"] * 50 + ["NN017"]
    assert [d.span.line for d in found[:3]] == [3, 53, 103]
