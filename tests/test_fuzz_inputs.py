"""Fuzzing what surrounds a spec: configs, hardware target files and file names.

``test_fuzz.py`` fuzzes spec text; these strategies (hypothesis) fuzz the other
inputs a user or an attacker controls:

* configs: TOML documents built from nnlint's keys and hostile values (nan, inf,
  huge integers, empty and control-character strings, NUL, deep nesting, invalid
  and backtracking globs), plus raw text mutations of a valid config;
* target files: the shipped schema with any field replaced by a hostile value;
* file names: any characters a file system allows, control characters included.

The invariants: a config or target file loads or fails with a located error that
names the file (never another exception); a loaded config's globs answer for any
path; a loaded target gives finite figures and strict JSON; whatever the file's
name, the text, concise and github outputs and stderr carry no escape character
and no line a name begins reads as a workflow command, and JSON and SARIF stay
valid. Bounded for CI like ``test_fuzz.py``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlint.check import Settings, check_text
from nnlint.cli import main
from nnlint.config import ConfigError, Overrides, load_config, settings_for
from nnlint.emit import render
from nnlint.rules import all_meta
from nnlint.sanitize import is_hidden
from nnlint.tables import target_card, targets_text
from nnlint.targets import TargetError, load_target_file

ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
GOOD = "model m {\n    input x: [4]\n    h = x -> dense(2) -> relu\n}\n"
BROKEN = "model m {\n    input x: [4]\n    h = x -> dense(2 ->\n}\n"

FUZZ_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- TOML writing


def toml_value(value) -> str:
    """A TOML literal for ``value`` (strings with every non-ASCII character escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml_char(c: str) -> str:
    if c in '"\\' or not (" " <= c <= "~"):
        return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    return c


def toml_document(table: dict) -> str:
    return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in table.items())


# --------------------------------------------------------------------------- strategies

hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from("\x00\x1b\n\r\t\x85\u2028\u2029\u202e:*?[]!/\\"),
    ),
    max_size=40,
)
hostile_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e300, 1.7976931348623157e308]),
)
hostile_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**64, 10**30]),
)
globs = st.one_of(
    hostile_text,
    st.sampled_from(
        [
            "[z-a].nn",
            "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            "**a**a**a**a**a**b/**",
            "!",
            "\\",
            "[",
            "**/",
            "./build/",
            "a\x00b",
            "",
        ]
    ),
)
codes = st.one_of(
    st.sampled_from(["NN1", "NN101", "NN501", "ALL", "all", "test-depth", "NN", "XX1", ""]),
    hostile_text,
)
scalars = st.one_of(st.booleans(), hostile_ints, hostile_floats, hostile_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=3)
    ),
    max_leaves=8,
)
threshold_tables = st.dictionaries(
    st.sampled_from(["NN101", "NN107", "NN201", "NN304", "NN401", "NN999", "nn101"]),
    st.dictionaries(
        st.sampled_from(["sigmoid_layers", "variance_ratio", "min_ratio", "min_bits", "x"]),
        scalars,
        max_size=2,
    ),
    max_size=3,
)
config_tables = st.fixed_dictionaries(
    {},
    optional={
        "target": st.one_of(st.sampled_from(["t4", "edge-tpu", "T4", "nope"]), hostile_text),
        "select": st.one_of(st.lists(codes, max_size=3), values),
        "extend-select": st.lists(codes, max_size=3),
        "ignore": st.one_of(st.lists(codes, max_size=3), values),
        "per-file-ignores": st.dictionaries(globs, st.lists(codes, max_size=2), max_size=3),
        "fail-on": st.one_of(st.sampled_from(["error", "warning", "note", "Fatal"]), values),
        "exclude": st.one_of(st.lists(globs, max_size=4), values),
        "thresholds": st.one_of(threshold_tables, values),
        "targets": st.one_of(
            st.lists(st.sampled_from(["board.toml", "/dev/zero", "missing.toml", "."])),
            st.lists(hostile_text, max_size=2),
        ),
        "selec": values,
        "\x1b[2J": values,
    },
)

VALID_CONFIG = """\
target = "t4"
select = ["ALL"]
ignore = ["NN401"]
fail-on = "warning"
exclude = ["build", "**/generated_*.nn", "!keep.nn"]
targets = ["board.toml"]

[per-file-ignores]
"legacy/**/*.nn" = ["NN1"]

[thresholds]
NN101 = { sigmoid_layers = 8 }
"""

BOARD = {
    "id": "board",
    "name": "Board",
    "kind": "cpu",
    "memory_bytes": 8_000_000_000,
    "bandwidth": 5e10,
    "power_w": 15.0,
    "precisions": ["fp32", "fp16"],
    "peak": {"fp32": 1e12, "fp16": 2e12},
}
BOARD_FIELDS = [
    *BOARD,
    "onchip_bytes",
    "host_link_bandwidth",
    "flash_bytes",
    "unified_memory",
    "notes",
    "peak_sparse",
    "ops",
    "peak.fp32",
    "peak.fp16",
    "unknown",
]


def _edit(board: dict, field: str, value) -> dict:
    board = json.loads(json.dumps(board))
    if "." in field:
        table, key = field.split(".")
        if isinstance(board.get(table), dict):
            board[table][key] = value
    else:
        board[field] = value
    return board


target_documents = st.builds(
    lambda edits: toml_document(_apply(edits)),
    st.lists(
        st.tuples(
            st.sampled_from(BOARD_FIELDS),
            st.one_of(values, hostile_ints, hostile_floats, st.just(None)),
        ),
        max_size=3,
    ),
)


def _apply(edits) -> dict:
    board = dict(BOARD)
    for field, value in edits:
        if value is None:
            board.pop(field.split(".")[0], None)
        else:
            board = _edit(board, field, value)
    return board


file_names = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/\x00"),
        st.sampled_from("\x1b\n\r\t\x85\u2028\u2029\u202e: "),
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", "..") and len(s.encode("utf-8")) <= 200)


# --------------------------------------------------------------------------- invariants


@cache
def _sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


def assert_printable(stream: str, own_commands: int = 0) -> None:
    """No ESC or line separator, and only nnlint's own workflow commands."""
    for hidden in ("\x1b", "\r", "\x85", "\u2028", "\u2029", "\x9b"):
        assert hidden not in stream, repr(stream[:300])
    commands = [line for line in stream.split("\n") if line.lstrip().startswith("::")]
    assert len(commands) == own_commands, commands
    for line in commands:
        kind, properties = line.split(" ", 1)
        assert kind in ("::error", "::warning", "::notice") and properties.startswith("file=")


def assert_config_case(folder: Path, text: str) -> None:
    path = folder / "nnlint.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(exc.path)) and exc.path.endswith("nnlint.toml"), exc
        return
    for probe in ("a.nn", "build/x.nn", "legacy/q/z.nn", "a" * 240 + ".nn", "../out/a.nn"):
        config.is_excluded(folder / probe)
        config.is_excluded(folder / probe, ancestors=False, folder=True)
        config.ignores_for(folder / probe)
    settings = settings_for(config, folder / "a.nn", Overrides())
    result = check_text(GOOD, "a.nn", settings)
    assert result.model is not None
    json.loads(render("json", [result], all_meta()))


@pytest.fixture(scope="module")
def workspace():
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "board.toml").write_text(toml_document(BOARD), encoding="utf-8")
        yield root


# --------------------------------------------------------------------------- the tests


@FUZZ_SETTINGS
@given(config_tables)
def test_structured_configs(workspace, table):
    assert_config_case(workspace, toml_document(table))


@FUZZ_SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID_CONFIG)), st.integers(0, 12), hostile_text),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_configs(workspace, edits):
    text = VALID_CONFIG
    for position, cut, insert in edits:
        position = min(position, len(text))
        text = text[:position] + insert + text[position + cut :]
    assert_config_case(workspace, text)


@FUZZ_SETTINGS
@given(target_documents)
def test_target_files(workspace, document):
    path = workspace / "fuzzed-board.toml"
    path.write_text(document, encoding="utf-8")
    try:
        target = load_target_file(path)
    except TargetError as exc:
        assert exc.path == str(path), exc
        return
    for precision in target.precisions:
        ridge = target.ridge_point(precision)
        assert ridge is None or (math.isfinite(ridge) and ridge > 0), (precision, ridge)
    result = check_text(GOOD, "a.nn", Settings(target=target.id, targets={target.id: target}))
    out = render("json", [result], all_meta())
    assert '"inf"' not in out and '"nan"' not in out and '"-inf"' not in out, out
    # `nnlint targets` and its card: one line per row, nothing hidden, no workflow command;
    # the JSON is strict (json.dumps raises on a non-finite number)
    for shown in (targets_text({target.id: target}), target_card(target, str(path))):
        for line in shown.split("\n"):
            assert not any(is_hidden(ch) for ch in line), line
            assert not line.lstrip().startswith("::"), line
    assert json.loads(json.dumps(target.as_dict(), allow_nan=False))["id"] == target.id


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names and symlinks")
@settings(
    FUZZ_SETTINGS,
    max_examples=60,
    suppress_health_check=[
        *FUZZ_SETTINGS.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(name=file_names)
def test_file_names(name, capsys):  # capsys is read out after every run
    with tempfile.TemporaryDirectory() as folder:
        old = os.getcwd()
        os.chdir(folder)
        try:
            Path(name + ".nn").write_text(BROKEN, encoding="utf-8")
            os.symlink("nowhere", name + ".dangling.nn")
            for fmt in ("text", "concise", "github"):
                code = main(["check", ".", "--format", fmt])
                out, err = capsys.readouterr()
                assert code == 2
                assert_printable(out, own_commands=1 if fmt == "github" else 0)
                assert_printable(err)
                assert len(err.splitlines()) == 1  # the dangling link: one line
            code = main(["check", f"./{name}.nn", "--format", "json"])
            out, _ = capsys.readouterr()
            assert code == 1 and json.loads(out)["diagnostics"][0]["path"] == name + ".nn"
            code = main(["check", f"./{name}.nn", "--format", "sarif"])
            out, _ = capsys.readouterr()
            _sarif_validator().validate(json.loads(out))
        finally:
            os.chdir(old)
