"""Fuzzing the front end: whatever the text, ``check_text`` ends in located diagnostics.

Strategies (hypothesis): random token sequences from the grammar's vocabulary;
mutations of every example (lines and tokens deleted, duplicated, swapped);
huge and tiny numbers; deep nesting and recursive blocks; very long names and
lines; unicode, NUL bytes, CRLF, BOM, empty and binary files.

Every case must end with a clean result or with NN0xx diagnostics located inside
the file (never a traceback), and every output format must stay valid on the result:
JSON parses, SARIF validates against the 2.1.0 schema. No test here measures time:
a true hang is stopped by a 60 s alarm (:func:`hang_guard`, POSIX), and where the
intent is "hostile sizes cost bounded work" the test counts Python function calls
(:func:`python_calls`), which a loaded machine does not change.

``scripts/fuzz_long.py`` runs the same strategies (:data:`STRATEGIES`) through
the same invariant (:func:`check_case`) with many more examples.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint import ast
from nnlint.check import check_text, decode
from nnlint.diagnostics import FileResult
from nnlint.emit import render
from nnlint.graph import MAX_BLOCK_DEPTH, MAX_ELEMENTS, MAX_NODES
from nnlint.ops import LOSSES
from nnlint.ops import OPS as CATALOG_OPS
from nnlint.parse import MAX_NESTING, parse
from nnlint.rules import FATAL, all_meta

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.nn"))
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"

#: Hang guard only: a case normally takes milliseconds; this catches an endless loop,
#: never a slow machine. Not a speed requirement.
HANG_GUARD_S = 60
#: Examples per strategy in this file (the whole file stays well under a minute).
EXAMPLES_PER_TEST = 250

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_TEST,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# --------------------------------------------------------------------------- vocabulary

KEYWORDS = ["model", "block", "input", "train", "data", "deploy", "budget"]
#: Every op a spec can write, from the catalog: a new op is fuzzed without touching this file.
OPS = list(CATALOG_OPS)
#: The ops whose first positional option is a number (sizes, probabilities, slopes).
SIZED_OPS = [
    name
    for name, op in CATALOG_OPS.items()
    if any(o.positional and o.kind in ("int", "float", "intlist") for o in op.opts)
]
#: Every option name an op accepts, from the catalog (positional ones can be keywords too).
OPTIONS = sorted({o.name for op in CATALOG_OPS.values() for o in op.all_opts()})
SECTION_KEYS = [
    "batch",
    "precision",
    "loss",
    "optimizer",
    "samples",
    "classes",
    "counts",
    "target",
    "params",
    "train_memory",
    "latency",
    "macs",
    "flops",
    "epochs",
    "lr",
]
SYMBOLS = [
    "fp32",
    "fp16",
    "bf16",
    "int8",
    "int2",
    "adam",
    "sgd",
    "adamw",
    "edge-tpu",
    "a100-40gb",
    *LOSSES,
    "true",
    "false",
    "he",
    "xavier",
    "zeros",
    "normal",
    "x",
    "h",
    "y",
    "logits",
    "probs",
    "ids",
]
PUNCTUATION = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    ":",
    "->",
    "*",
    "+",
    "-",
    "/",
    ";",
    "<=",
    ">=",
    "<",
    ">",
    "\n",
    "\n",
    "\n",
    "#",
    "# nnlint: ignore[NN101]",
    "# nnlint: ignore-file[NN999]",
    "# nnlint: nonsense",
]
NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "16",
    "64",
    "256",
    "784",
    "1000",
    "0.5",
    "1e-3",
    "1e400",
    "1e-400",
    "300k",
    "1.5M",
    "2G",
    "7T",
    "10^30",
    "1000000000000000000000000000000",
    "999999999999",
    ".5",
    "3.",
    "4e",
    "1_000",
    "0x10",
    "-1",
    "65536",
    "1e9",
]
UNITS = ["MiB", "GiB", "KB", "B", "ms", "us", "s", "TB"]
VOCABULARY = KEYWORDS + OPS + OPTIONS + SECTION_KEYS + SYMBOLS + PUNCTUATION + NUMBERS + UNITS


@cache
def example_texts() -> tuple[str, ...]:
    return tuple(p.read_text(encoding="utf-8") for p in EXAMPLES)


# --------------------------------------------------------------------------- strategies

token_soup = st.lists(st.sampled_from(VOCABULARY), max_size=80).flatmap(
    lambda tokens: st.lists(
        st.sampled_from([" ", "", "  ", "\t", "\n"]), min_size=len(tokens), max_size=len(tokens)
    ).map(lambda seps: "".join(t + s for t, s in zip(tokens, seps)))
)

# A statement-shaped soup: more likely to get past the parser into lowering.
statement_soup = st.builds(
    lambda ins, stmts, sections: (
        "model m {\n    input x: ["
        + ", ".join(ins)
        + "]\n"
        + "".join(f"    {s}\n" for s in stmts)
        + "}\n"
        + sections
    ),
    st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3),
    st.lists(
        st.builds(
            lambda target, source, layers: f"{target} = {source} -> " + " -> ".join(layers),
            st.sampled_from(["h", "y", "logits", "probs", "z", "x"]),
            st.sampled_from(["x", "h", "y", "add(x, h)", "concat(x, y)", "matmul(x, x)"]),
            st.lists(
                st.builds(
                    lambda op, args, rep: op + args + rep,
                    st.sampled_from(OPS),
                    st.one_of(
                        st.just(""),
                        st.lists(
                            st.one_of(
                                st.sampled_from(NUMBERS),
                                st.builds(
                                    lambda k, v: f"{k}={v}",
                                    st.sampled_from(OPTIONS),
                                    st.sampled_from(NUMBERS + SYMBOLS),
                                ),
                            ),
                            max_size=3,
                        ).map(lambda a: "(" + ", ".join(a) + ")"),
                    ),
                    st.sampled_from(
                        [
                            "",
                            "",
                            " * 2",
                            " * 0",
                            " * 10^9",
                            " * 1000000000",
                            " * 1e400",
                            " * 0.5",
                            " * -1",
                            " * n",
                            " * (2 + 1)",
                        ]
                    ),
                ),
                min_size=1,
                max_size=4,
            ),
        ),
        max_size=6,
    ),
    st.sampled_from(
        [
            "",
            "train {\n    batch = 32\n    loss = cross_entropy(logits)\n}\n",
            "train {\n    batch = 0\n}\n",
            "deploy {\n    target = edge-tpu\n}\n",
            "deploy {\n    target = nowhere\n    batch = 1e400\n}\n",
            "budget {\n    params <= 1k\n    latency <= 2 ms\n}\n",
            "data {\n    classes = 10\n    counts = [1, 0, 1e400]\n}\n",
        ]
    ),
)


def _mutate(text: str, ops: list[tuple[str, int, int]]) -> str:
    """Apply line and token mutations; indices are taken modulo the current length."""
    for kind, i, j in ops:
        if kind.startswith("line"):
            parts = text.split("\n")
            sep = "\n"
        else:
            parts = re.split(r"(\s+)", text)
            sep = ""
        if not parts:
            continue
        i, j = i % len(parts), j % len(parts)
        if kind.endswith("delete"):
            del parts[i]
        elif kind.endswith("duplicate"):
            parts.insert(i, parts[i])
        elif kind.endswith("swap"):
            parts[i], parts[j] = parts[j], parts[i]
        elif kind.endswith("insert"):
            parts.insert(i, VOCABULARY[j % len(VOCABULARY)] + (" " if not sep else ""))
        text = sep.join(parts)
    return text


MUTATIONS = [
    "line-delete",
    "line-duplicate",
    "line-swap",
    "token-delete",
    "token-duplicate",
    "token-swap",
    "token-insert",
]

mutated_example = st.builds(
    _mutate,
    st.sampled_from(range(len(EXAMPLES))).map(lambda i: example_texts()[i]),
    st.lists(
        st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 10_000), st.integers(0, 10_000)),
        min_size=1,
        max_size=6,
    ),
)

_MODEL = "model m {{\n    input x: {shape}\n    h = x -> {layers}\n}}\n"
extreme_numbers = st.builds(
    lambda shape, op, n, rep: _MODEL.format(shape=shape, layers=f"{op}({n}){rep}"),
    st.sampled_from(
        [
            "[4]",
            "[16]",
            "[3, 32, 32]",
            "[100000000, 100000000]",
            "[0]",
            "[-4]",
            "[1e400]",
            "[10^30]",
            "[1.5]",
            "[]",
            "[2T, 2T]",
            "[65536, 65536, 65536]",
        ]
    ),
    st.sampled_from(SIZED_OPS),
    st.sampled_from(
        NUMBERS
        + [
            "1e400, 1e400",
            "10^30",
            "1000000000000000000000000000000",
            "2T, 3",
            "4, 2T",
            "-1, -1",
            "0, 0",
            "1, 1e-400",
        ]
    ),
    st.sampled_from(
        ["", " * 0", " * 10^9", " * 1000000000", " * 1e400", " * 600000", " * 500001", " * 3"]
    ),
)


def _deep_parens(depth: int) -> str:
    return _MODEL.format(shape="[4]", layers="dense(" + "(" * depth + "4" + ")" * depth + ")")


def _deep_neg(depth: int) -> str:
    return _MODEL.format(shape="[4]", layers="dense(" + "-" * depth + "4)")


def _long_sum(terms: int) -> str:
    return _MODEL.format(shape="[4]", layers="dense(" + " + ".join(["1"] * terms) + ")")


def _nested_calls(depth: int) -> str:
    return _MODEL.format(
        shape="[4]", layers="dense(4, init=" + "normal(" * depth + "1" + ")" * depth + ")"
    )


def _nested_lists(depth: int) -> str:
    return (
        "model m {\n input x: [4]\n}\ndata {\n counts = "
        + "[" * depth
        + "1"
        + "]" * depth
        + "\n}\n"
    )


def _block_chain(depth: int, recursive: bool) -> str:
    """b0 calls b1 ... calls b{depth}; ``recursive``: the last one calls b0 again."""
    lines = []
    for i in range(depth + 1):
        callee = f"b{i + 1}" if i < depth else ("b0" if recursive else "relu")
        lines.append(
            f"block b{i}(c) {{\n    input x\n    y = x -> {callee}"
            f"{'(c)' if callee.startswith('b') else ''}\n}}"
        )
    lines.append("model m {\n    input x: [4]\n    h = x -> b0(4) * 2\n}")
    return "\n".join(lines) + "\n"


deep_nesting = st.one_of(
    st.integers(1, 3000).map(_deep_parens),
    st.integers(1, 3000).map(_deep_neg),
    st.integers(1, 3000).map(_long_sum),
    st.integers(1, 1500).map(_nested_calls),
    st.integers(1, 1500).map(_nested_lists),
    st.builds(_block_chain, st.integers(0, 2 * MAX_BLOCK_DEPTH), st.booleans()),
)

long_names_and_lines = st.one_of(
    st.integers(1, 100_000).map(
        lambda n: _MODEL.format(shape="[4]", layers="dense(4)").replace(
            "h = x", "h" + "a" * n + " = x"
        )
    ),
    st.integers(1, 100_000).map(
        lambda n: _MODEL.format(shape="[4]", layers="dense(4)").replace(
            "-> dense(4)", "-> relu" * (n // 7 + 1)
        )
    ),
    st.integers(1, 50_000).map(
        lambda n: "# " + "x" * n + "\n" + _MODEL.format(shape="[4]", layers="unknown_" + "z" * n)
    ),
    st.integers(1, 20_000).map(
        lambda n: _MODEL.format(shape="[" + ", ".join(["1"] * n) + "]", layers="flatten")
    ),
)

_TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
unicode_and_bytes = st.one_of(
    st.text(_TEXT_CHARS, max_size=200),
    st.builds(
        lambda a, b: _MODEL.format(shape="[4]", layers="dense(4)").replace("h =", a + " =") + b,
        st.text(_TEXT_CHARS, min_size=1, max_size=12),
        st.text(_TEXT_CHARS, max_size=30),
    ),
    st.sampled_from(range(len(EXAMPLES))).flatmap(
        lambda i: st.sampled_from(
            [
                example_texts()[i].replace("\n", "\r\n"),
                "\ufeff" + example_texts()[i],
                "\ufeff" + example_texts()[i].replace("\n", "\r\n"),
                example_texts()[i].replace("\n", "\r"),
                example_texts()[i].replace(" ", "\u00a0"),
                example_texts()[i].replace("\n", "\u2028"),
                example_texts()[i].replace(" ", "\x0c"),
                example_texts()[i].replace("x", "х"),  # Cyrillic
                example_texts()[i][: len(example_texts()[i]) // 2] + "\x00" + example_texts()[i],
                example_texts()[i] + "\x00",
            ]
        )
    ),
    st.sampled_from(
        [
            "",
            " ",
            "\n",
            "\r\n",
            "\ufeff",
            "\x00",
            "\t\t\n\n",
            "#",
            "# nnlint:",
            "model",
            "model m {",
            "}",
            "model m {}",
            "model m {\n}\n",
            "model \u202e m {\n input x: [4]\n}",
            "model m {\n input x\u0301: [4]\n}",
            "model m {\n input 😀: [4]\n}",
            "model m {\n input x: [4]\n h = x -> relu\u200b\n}",
        ]
    ),
)

#: Arbitrary bytes, decoded the way the CLI decodes a file.
binary_files = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(range(len(EXAMPLES))).flatmap(
        lambda i: st.builds(
            lambda cut, junk: (
                example_texts()[i].encode()[:cut] + junk + example_texts()[i].encode()
            ),
            st.integers(0, 2000),
            st.binary(min_size=1, max_size=8),
        )
    ),
    st.just(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    st.just(b"\xff\xfe" + "model m {}".encode("utf-16-le")),
)

#: Name -> strategy of spec texts (``scripts/fuzz_long.py`` runs them all).
STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "token_soup": token_soup,
    "statement_soup": statement_soup,
    "mutated_example": mutated_example,
    "extreme_numbers": extreme_numbers,
    "deep_nesting": deep_nesting,
    "long_names_and_lines": long_names_and_lines,
    "unicode": unicode_and_bytes,
}
#: Name -> strategy of raw file contents (bytes), decoded with :func:`nnlint.check.decode`.
BYTE_STRATEGIES: dict[str, st.SearchStrategy[bytes]] = {"binary": binary_files}


# --------------------------------------------------------------------------- the invariant


@cache
def _sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def _lines(text: str) -> list[str]:
    """Lines as nnlint numbers them: only ``\\n`` ends a line (``\\r\\n`` too)."""
    return text.removeprefix("\ufeff").split("\n")


def assert_located(result: FileResult, text: str | None) -> None:
    lines = _lines(text) if text is not None else [""]
    for d in result.diagnostics:
        assert re.fullmatch(r"NN\d{3}", d.code), d
        s = d.span
        assert 1 <= s.line <= len(lines), (d, len(lines))
        assert 1 <= s.column <= len(lines[s.line - 1]) + 2, (d, lines[s.line - 1][:80])
        assert (s.end_line, s.end_column) >= (s.line, s.column), d
        assert s.end_line <= len(lines) + 1, d
        assert d.message and d.path == result.path


def assert_outputs_valid(result: FileResult, sarif: bool = True) -> None:
    rules = all_meta()
    for fmt in ("text", "concise", "github"):
        assert isinstance(render(fmt, [result], rules), str)
    assert isinstance(
        render("text", [result], rules, color=True, statistics=True, target="edge-tpu"), str
    )
    document = json.loads(render("json", [result], rules))
    assert document["summary"]["files"] == 1
    assert len(document["diagnostics"]) == len(result.diagnostics)
    if sarif:
        log = json.loads(render("sarif", [result], rules))
        errors = sorted(_sarif_validator().iter_errors(log), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:3]]


class Hang(BaseException):
    """Raised by :func:`hang_guard`'s alarm; a BaseException, so no ``except Exception``
    in nnlint can turn it into a diagnostic."""


@contextmanager
def hang_guard(what: str, seconds: float = HANG_GUARD_S):
    """Fail, instead of stalling the suite, when the body runs ``seconds`` (POSIX main
    thread only; elsewhere the body simply runs)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Hang:
        pytest.fail(f"hang guard: no result after {seconds} s on {what}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="POSIX alarm")
def test_hang_guard_stops_an_endless_loop():
    with pytest.raises(pytest.fail.Exception, match="hang guard"):
        with hang_guard("an endless loop", seconds=0.05):
            while True:
                pass


def python_calls(function, *args) -> int:
    """How many Python function calls ``function(*args)`` makes: a measure of work that
    does not depend on the machine or its load."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return count


def check_case(text: str, *, outputs: bool = True, sarif: bool = True) -> FileResult:
    """The fuzz invariant for one spec text; returns the result for statistics."""
    with hang_guard(repr(text[:200])):
        result = check_text(text, "fuzz/spec.nn")  # must not raise
    assert_located(result, text)
    codes = {d.code for d in result.diagnostics}
    # A clean result has a costed model; otherwise a front-end code says why not.
    assert result.model is not None or codes & FATAL, (codes, text[:200])
    if outputs:
        assert_outputs_valid(result, sarif=sarif)
    return result


def check_bytes_case(data: bytes, *, outputs: bool = True) -> FileResult:
    text, problem = decode(data)
    if problem is not None:
        assert problem.code == "NN016"
        result = FileResult("fuzz/spec.nn", None, (problem.with_path("fuzz/spec.nn"),), None)
        assert_located(result, data.decode("utf-8", "replace"))
        if outputs:
            assert_outputs_valid(result)
        return result
    return check_case(text, outputs=outputs)


# --------------------------------------------------------------------------- the tests


@FUZZ_SETTINGS
@given(token_soup)
def test_token_soup(text):
    check_case(text)


@FUZZ_SETTINGS
@given(statement_soup)
def test_statement_soup(text):
    check_case(text)


@FUZZ_SETTINGS
@given(mutated_example)
def test_mutated_examples(text):
    check_case(text)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_example_survives_each_mutation(path, mutation):
    text = path.read_text(encoding="utf-8")
    for i in range(0, 60, 7):
        check_case(_mutate(text, [(mutation, i * 13 + 5, i * 29 + 3)]), sarif=False)


@FUZZ_SETTINGS
@given(extreme_numbers)
def test_extreme_numbers(text):
    check_case(text)


@FUZZ_SETTINGS
@given(deep_nesting)
def test_deep_nesting(text):
    check_case(text)


@settings(FUZZ_SETTINGS, max_examples=10)
@given(long_names_and_lines)
def test_long_names_and_lines(text):
    check_case(text, sarif=False)


@FUZZ_SETTINGS
@given(unicode_and_bytes)
def test_unicode_crlf_bom_nul(text):
    check_case(text)


@FUZZ_SETTINGS
@given(binary_files)
def test_binary_files(data):
    check_bytes_case(data)


# ----------------------------------------------------------- specific cases and regressions


def _codes(text: str) -> list[str]:
    return [d.code for d in check_case(text).diagnostics]


def _only(text: str, code: str) -> str:
    result = check_case(text)
    found = [d for d in result.diagnostics if d.code in FATAL]
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in result.diagnostics]
    return found[0].message


def test_repeated_op_is_expanded_not_a_crash():
    """Regression: `dense(4) * 3` (a repeated op, not a block) raised KeyError('_spans')."""
    result = check_case(_MODEL.format(shape="[4]", layers="dense(4) * 3 -> relu * 2"))
    assert [layer["name"] for layer in result.model["layers"]] == [
        "x",
        "h/dense#1",
        "h/dense#2",
        "h/dense#3",
        "h/relu#1",
        "h/relu#2",
    ]
    assert [layer["params"] for layer in result.model["layers"][1:4]] == [20, 20, 20]


def test_repeat_beyond_the_graph_limit_is_nn011_with_the_number():
    message = _only(_MODEL.format(shape="[4]", layers="relu * 1000000000"), "NN011")
    assert "1,000,000,000" in message and f"{MAX_NODES:,}" in message


def test_repeats_multiplying_past_the_limit_stop_at_the_limit():
    text = "block b() {\n    input x\n    y = x -> relu * 1000\n}\n" + _MODEL.format(
        shape="[4]", layers="b * 1000"
    )
    message = _only(text, "NN011")
    assert f"{MAX_NODES:,}" in message
    # Bounded work: refusing 1,000,000 instances must not expand them (that would be
    # tens of millions of calls); it costs less than expanding up to the limit would.
    assert python_calls(check_text, text, "spec.nn") < 10 * MAX_NODES


def test_tensor_beyond_the_size_limit_is_nn011_with_the_number():
    message = _only(_MODEL.format(shape="[100000000, 100000000]", layers="relu"), "NN011")
    assert "10,000,000,000,000,000" in message and f"{MAX_ELEMENTS:,}" in message


@pytest.mark.parametrize(
    "layers",
    [
        "dense(1000000000000000000000000000000)",
        "dense(2T) -> dense(2T)",
        "dense(1e400)",
        "reshape(1e400)",
    ],
)
def test_huge_sizes_are_nn011(layers):
    _only(_MODEL.format(shape="[4]", layers=layers), "NN011")


@pytest.mark.parametrize("layers", ["dense(0)", "relu * 0", "dense(-4)", "dropout(1)"])
def test_zero_and_negative_sizes_are_nn007(layers):
    _only(_MODEL.format(shape="[4]", layers=layers), "NN007")


@pytest.mark.parametrize(
    "text",
    [
        _MODEL.format(shape="[4]", layers="dense(10^30)"),
        _MODEL.format(shape="[4]", layers="relu * 10^9"),
    ],
)
def test_caret_is_a_syntax_error(text):
    _only(text, "NN001")


def test_deep_parentheses_are_fine_and_deep_expressions_are_nn001():
    result = check_case(_deep_parens(5000))  # parentheses leave no depth behind
    assert result.model is not None
    message = _only(_long_sum(MAX_NESTING + 5), "NN001")
    assert f"{MAX_NESTING}" in message
    _only(_deep_neg(MAX_NESTING + 5), "NN001")
    _only(_nested_calls(MAX_NESTING + 5), "NN001")
    _only(_nested_lists(MAX_NESTING + 5), "NN001")
    assert check_case(_long_sum(MAX_NESTING - 5)).model is not None


def test_block_nesting_limit_and_recursion():
    assert check_case(_block_chain(MAX_BLOCK_DEPTH - 2, False)).model is not None
    assert f"{MAX_BLOCK_DEPTH}" in _only(_block_chain(MAX_BLOCK_DEPTH + 3, False), "NN011")
    assert "recursive block call" in _only(_block_chain(3, True), "NN008")
    assert "recursive block call" in _only(_block_chain(0, True), "NN008")


@pytest.mark.parametrize("text", ["", " ", "\n\n", "\ufeff", "# only a comment\n"])
def test_empty_files_say_there_is_no_model(text):
    _only(text, "NN014")


def test_nul_byte_is_located():
    text = "model m {\n    input x: [4]\x00\n}\n"
    d = check_case(text).diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("NN001", 2, 17)


def test_binary_file_is_nn016_located_at_the_first_bad_byte():
    result = check_bytes_case(b"model m {\n  input \xff\xfe: [4]\n}\n")
    d = result.diagnostics[0]
    assert (d.code, d.span.line, d.span.column) == ("NN016", 2, 9)


def test_crlf_and_bom_give_the_same_result_as_lf():
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8")
        plain = check_case(text, outputs=False)
        for variant in (text.replace("\n", "\r\n"), "\ufeff" + text):
            other = check_case(variant, outputs=False)
            assert [(d.code, d.span) for d in other.diagnostics] == [
                (d.code, d.span) for d in plain.diagnostics
            ], path.name
            assert other.model == plain.model


def test_lines_of_a_million_characters():
    long_lines = [
        lambda n: "# " + "#" * n + "\nmodel m {\n    input x: [4]\n    h = x -> relu\n}\n",
        lambda n: "model m {\n    input x: [4]\n    h" + "a" * n + " = x -> relu\n}\n",
        lambda n: "model m {\n    input x: [4]\n    h = x -> " + "z" * n + "\n}\n",
    ]
    for spec in long_lines:
        check_case(spec(1_000_000))
        # Bounded work: no Python-level loop runs per character of a line, so a line
        # of a million characters costs the calls of a line of a thousand.
        short = python_calls(check_text, spec(1_000), "spec.nn")
        assert python_calls(check_text, spec(1_000_000), "spec.nn") <= short + 100
    check_case(
        "model m {\n    input x: [4]\n    h = x" + " -> relu" * 10_000 + "\n}\n", outputs=False
    )


def test_limits_hold_in_a_process_with_a_memory_cap(tmp_path):
    """Hostile sizes end in NN011 with bounded memory: run them under a 1.5 GiB
    address-space limit, where materialising any of them would fail."""
    resource = pytest.importorskip("resource")
    del resource
    specs = [
        _MODEL.format(shape="[4]", layers="relu * 1000000000"),
        _MODEL.format(shape="[65536, 65536, 65536]", layers="relu"),
        _MODEL.format(shape="[4]", layers="dense(1000000000000) -> dense(1000000000000)"),
        _MODEL.format(shape="[4]", layers="embedding(1000000000000, 1000000000000)"),
        _MODEL.format(shape="[3, 65536, 65536]", layers="conv2d(65536, 1) -> conv2d(65536, 1)"),
        (
            "block b() {\n    input x\n    y = x -> relu * 100000\n}\n"
            + _MODEL.format(shape="[4]", layers="b * 100000")
        ),
        _long_sum(100_000),
    ]
    script = (
        "import json, resource, sys\n"
        "cap = 1536 * 2**20\n"
        "resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
        "from nnlint.check import check_text\n"
        "out = []\n"
        "for text in json.load(sys.stdin):\n"
        "    r = check_text(text, 'x.nn')\n"
        "    out.append([d.code for d in r.diagnostics])\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = json.loads(proc.stdout)
    assert codes[0] == codes[1] == codes[4] == codes[5] == ["NN011"], codes
    assert codes[6] == ["NN001"], codes  # an expression nested 100,000 deep


# ------------------------------------------- the parser's AST against a reference tree walk


@cache
def _reference_parser():
    """A tree-building Lark parser and a tree transformer written the plain way
    (``propagate_positions``, one method per rule): nnlint's inline builder must
    produce exactly the AST this produces, spans included."""
    import lark

    from nnlint.diagnostics import Span
    from nnlint.parse import parse_number
    from nnlint.resources import data_dir

    def span(meta):
        return Span(meta.line, meta.column, meta.end_line, meta.end_column)

    def tok(t):
        return Span(t.line, t.column, t.end_line, t.end_column)

    class Repeat:
        def __init__(self, expr):
            self.expr = expr

    @lark.v_args(meta=True)
    class Reference(lark.Transformer):
        def start(self, m, items):
            return (
                tuple(i for i in items if isinstance(i, ast.ModelDef)),
                tuple(i for i in items if isinstance(i, ast.BlockDef)),
                tuple(i for i in items if isinstance(i, ast.Section)),
            )

        def model(self, m, items):
            return ast.ModelDef(str(items[0]), tuple(items[1:]), span(m), tok(items[0]))

        def block(self, m, items):
            rest = items[1:]
            return ast.BlockDef(
                str(items[0]),
                tuple(i for i in rest if isinstance(i, ast.Param)),
                tuple(i for i in rest if not isinstance(i, ast.Param)),
                span(m),
                tok(items[0]),
            )

        def param(self, m, items):
            return ast.Param(str(items[0]), items[1] if len(items) > 1 else None, span(m))

        def input_decl(self, m, items):
            return ast.InputDecl(
                str(items[0]), items[1] if len(items) > 1 else None, span(m), tok(items[0])
            )

        def shape(self, m, items):
            return tuple(items)

        def assign(self, m, items):
            return ast.Assign(str(items[0]), tok(items[0]), items[1], span(m))

        def chain(self, m, items):
            return ast.Chain(items[0], tuple(items[1:]), span(m))

        def ref(self, m, items):
            return ast.Ref(str(items[0]), tok(items[0]))

        def merge(self, m, items):
            return ast.Layer(str(items[0]), items[1], None, span(m), tok(items[0]), True)

        def layer(self, m, items):
            args, repeat, parens = (), None, False
            for item in items[1:]:
                if isinstance(item, Repeat):
                    repeat = item.expr
                else:
                    args, parens = item, True
            return ast.Layer(str(items[0]), args, repeat, span(m), tok(items[0]), parens)

        def args(self, m, items):
            return tuple(items)

        def positional(self, m, items):
            return ast.Arg(None, items[0], span(m))

        def keyword(self, m, items):
            return ast.Arg(str(items[0]), items[1], span(m))

        def repeat(self, m, items):
            item = items[0]
            if isinstance(item, lark.Token):
                if item.type == "NUMBER":
                    return Repeat(ast.Num(parse_number(item), str(item), tok(item)))
                return Repeat(ast.Name(str(item), tok(item)))
            return Repeat(item)

        def num(self, m, items):
            return ast.Num(parse_number(items[0]), str(items[0]), tok(items[0]))

        def quantity(self, m, items):
            return ast.Num(
                parse_number(items[0]), f"{items[0]} {items[1]}", span(m), unit=str(items[1])
            )

        def name(self, m, items):
            return ast.Name(str(items[0]), tok(items[0]))

        def call(self, m, items):
            return ast.Call(str(items[0]), items[1], span(m))

        def add(self, m, items):
            return ast.BinOp("+", items[0], items[1], span(m))

        def sub(self, m, items):
            return ast.BinOp("-", items[0], items[1], span(m))

        def mul(self, m, items):
            return ast.BinOp("*", items[0], items[1], span(m))

        def div(self, m, items):
            return ast.BinOp("/", items[0], items[1], span(m))

        def neg(self, m, items):
            return ast.Neg(items[0], span(m))

        def section(self, m, items):
            return ast.Section(str(items[0]), tuple(items[1:]), span(m))

        def entry(self, m, items):
            return ast.Entry(str(items[0]), str(items[1]), items[2], span(m), tok(items[0]))

        def symbol(self, m, items):
            return ast.Symbol(str(items[0]), tok(items[0]))

        def scall(self, m, items):
            return ast.Call(
                str(items[0]), tuple(ast.Arg(None, v, v.span) for v in items[1:]), span(m)
            )

        def slist(self, m, items):
            return ast.ListValue(tuple(items), span(m))

    grammar = (data_dir("grammar") / "nnlint.lark").read_text(encoding="utf-8")
    parser = lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )
    return parser, Reference()


def _reference_ast(text: str):
    parser, transformer = _reference_parser()
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        return None
    try:
        return transformer.transform(parser.parse(text))
    except Exception:
        return None


def _assert_same_ast(text: str) -> None:
    from nnlint.diagnostics import SpecError

    expected = _reference_ast(text)
    try:
        spec, _ = parse(text)
    except SpecError:
        # nnlint may only reject what the reference rejects, or nesting it refuses
        assert expected is None or "nested more than" in str(sys.exc_info()[1]), text[:200]
        return
    assert expected is not None, text[:200]
    assert (spec.models, spec.blocks, spec.sections) == expected


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_parser_builds_the_reference_ast_for_every_example(path):
    text = path.read_text(encoding="utf-8")
    assert _reference_ast(text) is not None
    _assert_same_ast(text)


@pytest.mark.parametrize(
    "text",
    [
        (
            "model m { input x: [2 * (3 + 4), (5)]\n h = x -> dense(((4)) * (2 + 1), "
            "init=normal((0.02))) * (2) -> relu * 3\n}\n"
        ),
        (
            "block b(c, d = 2 * (3)) {\n input x\n y = x -> dense(c)\n out = add(x, y)\n}\n"
            "model m { input x: [4]; h = x -> b(4, d=-(1)) * n }\n"
        ),
        (
            "train { batch = (32)\n lr = -(1e-3) * (2)\n loss = cross_entropy(h) }\n"
            "budget { train_memory <= (8 MiB)\n latency <= 2 ms }\n"
            "data { counts = [1, (2), 3, [4]] }\ndeploy { target = f(g(1), [2]) }\n"
        ),
    ],
)
def test_parser_builds_the_reference_ast_with_parentheses(text):
    assert _reference_ast(text) is not None
    _assert_same_ast(text)


@settings(FUZZ_SETTINGS, max_examples=60)
@given(st.one_of(mutated_example, statement_soup, token_soup))
def test_parser_builds_the_reference_ast_for_fuzzed_text(text):
    _assert_same_ast(text)


# ------------------------------------------------ the lowered graph as networkx sees it


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_networkx_graph_matches_the_execution_order(path):
    import networkx as nx

    from nnlint.check import analyse_text

    analysis, _ = analyse_text(path.read_text(encoding="utf-8"))
    if analysis is None:
        pytest.skip("the example does not lower")
    lowered = analysis.report.lowered
    g = lowered.graph
    assert list(g.nodes) == list(lowered.order)
    assert list(nx.topological_sort(g))  # acyclic
    for node in lowered.nodes():
        assert g.nodes[node.id]["node"] is node
        assert set(g.predecessors(node.id)) == set(node.inputs)
        for src, shape in zip(node.inputs, node.in_shapes):
            assert g.edges[src, node.id]["shape"] == shape


_SECTIONS_MODEL = "model m {\n    input x: [4]\n    h = x -> relu\n}\n"


@pytest.mark.parametrize(
    "section",
    [
        "data {\n    counts = [1, 0, 1e400]\n}",
        "train {\n    batch = -1e400\n}",
        "train {\n    batch = 1e400 - 1e400\n}",
        "train {\n    lr = 4 / 1e400\n}",
        "train {\n    lr = 1e60 * 1e60 * 1e60 * 1e60 * 1e60 * 1e60 * 0.5\n}",
        "budget {\n    train_memory <= 1e400 MiB\n}",
        "budget {\n    latency <= 1e70 s\n}",
        "budget {\n    params <= 1e400\n}",
    ],
)
def test_non_finite_section_numbers_are_nn012(section):
    """Regression: these raised OverflowError/ValueError (int(inf), Fraction(inf), nan)."""
    message = _only(_SECTIONS_MODEL + section + "\n", "NN012")
    assert "too large" in message
