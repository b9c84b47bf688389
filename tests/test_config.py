"""Tests for ``nnlint.config``: discovery, every key, and the one-line errors.

Configs are written into ``tmp_path`` and read the way the CLI reads them; the
working folder is ``tmp_path`` so error messages show short relative paths.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nnlint.check import Settings, selected_codes
from nnlint.config import (
    ConfigError,
    ConfigResolver,
    Overrides,
    ProjectConfig,
    find_config,
    glob_matches,
    load_config,
    parse_selectors,
    settings_for,
)
from nnlint.diagnostics import Severity
from nnlint.rules.base import REGISTRY, Rule

BOARD = """\
id = "{id}"
name = "My board"
kind = "cpu"
memory_bytes = 1_000_000
bandwidth = 1e9
power_w = 5
precisions = ["fp32"]

[peak]
fp32 = 1e10
"""


class DepthRule(Rule):
    """## What it does
    A rule that exists only in these tests: it has a threshold to configure.
    """

    code = "NN199"
    name = "test-depth"
    family = "training"
    severity = Severity.NOTE
    summary = "A test rule with a threshold"
    options = ("min_layers", "strict")

    def check(self, ctx):
        yield self.diag(
            f"min_layers = {ctx.thresholds.get('min_layers')}", ctx.model_span, "nothing to fix"
        )


@pytest.fixture
def depth_rule(monkeypatch):
    monkeypatch.setitem(REGISTRY, DepthRule.code, DepthRule())
    return DepthRule


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# --------------------------------------------------------------------------- discovery


def test_closest_config_wins(tmp_path):
    write(tmp_path / "nnlint.toml", 'select = ["NN0"]\n')
    inner = write(tmp_path / "a" / "pyproject.toml", '[tool.nnlint]\nselect = ["NN5"]\n')
    (tmp_path / "a" / "b").mkdir()
    assert find_config(tmp_path / "a" / "b") == inner
    assert find_config(tmp_path) == tmp_path / "nnlint.toml"
    resolver = ConfigResolver()
    assert resolver.for_path(tmp_path / "a" / "b" / "m.nn").select == ("NN5",)
    assert resolver.for_path(tmp_path / "m.nn").select == ("NN0",)


def test_nnlint_toml_beats_pyproject_in_one_folder(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nnlint]\nselect = ["NN5"]\n')
    write(tmp_path / "nnlint.toml", 'select = ["NN0"]\n')
    assert find_config(tmp_path) == tmp_path / "nnlint.toml"


def test_pyproject_without_table_is_skipped(tmp_path):
    top = write(tmp_path / "nnlint.toml", 'fail-on = "warning"\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\n')
    assert find_config(tmp_path / "pkg") == top
    assert ConfigResolver().for_path(tmp_path / "pkg" / "m.nn").fail_on == "warning"


def test_no_config_gives_defaults(tmp_path):
    assert ConfigResolver().for_path(tmp_path / "m.nn") == ProjectConfig()


def test_configs_are_not_merged(tmp_path):
    write(tmp_path / "nnlint.toml", 'fail-on = "note"\nignore = ["NN501"]\n')
    write(tmp_path / "sub" / "nnlint.toml", 'select = ["NN5"]\n')
    config = ConfigResolver().for_path(tmp_path / "sub" / "m.nn")
    assert config.fail_on is None and config.ignore == ()


def test_isolated_and_explicit_config(tmp_path):
    write(tmp_path / "nnlint.toml", 'select = ["NN0"]\n')
    other = write(tmp_path / "elsewhere" / "custom.toml", 'select = ["NN5"]\n')
    assert ConfigResolver(isolated=True).for_path(tmp_path / "m.nn") == ProjectConfig()
    resolver = ConfigResolver(config_file=other)
    assert resolver.for_path(tmp_path / "m.nn").select == ("NN5",)
    assert resolver.config_path_for(tmp_path / "m.nn") == other


# --------------------------------------------------------------------------- keys


def test_every_key(tmp_path, depth_rule):
    write(tmp_path / "hw" / "board.toml", BOARD.format(id="my-board"))
    path = write(
        tmp_path / "pyproject.toml",
        """\
        [tool.nnlint]
        target = "My-Board"
        select = ["NN0", "budget-exceeded"]
        extend-select = ["NN199"]
        ignore = ["nn021"]
        fail-on = "Warning"
        exclude = ["build", "**/generated_*.nn"]
        targets = ["hw/board.toml"]

        [tool.nnlint.per-file-ignores]
        "legacy/**/*.nn" = ["NN5"]

        [tool.nnlint.thresholds]
        test-depth = { min_layers = 8, strict = true }
        """,
    )
    config = load_config(path)
    assert config.path == path
    assert config.target == "my-board"  # resolved case-insensitively to the id
    assert config.select == ("NN0", "budget-exceeded")
    assert config.extend_select == ("NN199",)
    assert config.ignore == ("NN021",)
    assert config.fail_on == "warning"
    assert config.exclude == ("build", "**/generated_*.nn")
    assert config.per_file_ignores == (("legacy/**/*.nn", ("NN5",)),)
    assert config.thresholds == {"NN199": {"min_layers": 8, "strict": True}}  # name -> code
    assert list(config.targets) == ["my-board"]
    assert config.targets["my-board"].source == str(tmp_path / "hw" / "board.toml")


def test_thresholds_reach_the_rule(tmp_path, depth_rule):
    path = write(tmp_path / "nnlint.toml", "[thresholds.NN199]\nmin_layers = 8\n")
    config = load_config(path)
    assert config.thresholds == {"NN199": {"min_layers": 8}}
    settings = settings_for(config, tmp_path / "m.nn", Overrides())
    assert settings.thresholds["NN199"]["min_layers"] == 8


def test_target_file_may_override_a_builtin_id(tmp_path):
    write(tmp_path / "edge.toml", BOARD.format(id="edge-tpu"))
    config = load_config(write(tmp_path / "nnlint.toml", 'targets = ["edge.toml"]\n'))
    assert config.targets["edge-tpu"].name == "My board"
    settings = settings_for(config, None, Overrides())
    from nnlint.check import known_targets

    assert known_targets(settings)["edge-tpu"].name == "My board"


def test_target_files_are_relative_to_the_config(tmp_path):
    write(tmp_path / "proj" / "hw" / "b.toml", BOARD.format(id="b"))
    write(tmp_path / "proj" / "nnlint.toml", 'targets = ["hw/b.toml"]\ntarget = "b"\n')
    config = ConfigResolver().for_path(tmp_path / "proj" / "models" / "m.nn")
    assert config.target == "b" and "b" in config.targets


def test_empty_nnlint_toml_is_a_config(tmp_path):
    path = write(tmp_path / "nnlint.toml", "")
    assert find_config(tmp_path) == path
    assert load_config(path) == ProjectConfig(path=path)


# --------------------------------------------------------------------------- errors


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = write(tmp_path / "pyproject.toml", '[tool.nnlint]\nselec = ["NN0"]\n')
    assert error_of(path) == (
        "pyproject.toml: tool.nnlint.selec: unknown key; did you mean 'select'?"
    )


def test_unknown_key_in_nnlint_toml_is_top_level(tmp_path):
    path = write(tmp_path / "nnlint.toml", "fail_on = 'note'\n")
    assert error_of(path) == "nnlint.toml: fail_on: unknown key; did you mean 'fail-on'?"


def test_unknown_key_without_close_match_lists_known_keys(tmp_path):
    message = error_of(write(tmp_path / "nnlint.toml", "colour = true\n"))
    assert message.startswith("nnlint.toml: colour: unknown key (known keys: target, select")


def test_error_path_is_relative_to_cwd(tmp_path):
    path = write(tmp_path / "deep" / "er" / "pyproject.toml", "[tool.nnlint]\nfail-on = 3\n")
    assert error_of(path).startswith(
        "deep/er/pyproject.toml: tool.nnlint.fail-on: must be a string"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("select = 'NN0'", "select: must be a list of strings, got str 'NN0'"),
        ("select = ['NN9']", "select: unknown rule selector 'NN9'"),
        (
            "ignore = ['budget-exceded']",
            "ignore: unknown rule selector 'budget-exceded'; did you mean 'budget-exceeded'?",
        ),
        ("extend-select = [1]", "extend-select: must be a list of strings"),
        ("fail-on = 'fatal'", "fail-on: must be one of error, warning, note; got 'fatal'"),
        ("exclude = 'build'", "exclude: must be a list of strings"),
        ("per-file-ignores = ['a']", "per-file-ignores: must be a table"),
        (
            "per-file-ignores = { 'a/*.nn' = 'NN5' }",
            'per-file-ignores."a/*.nn": must be a list of strings',
        ),
        (
            "per-file-ignores = { 'a/*.nn' = ['XX1'] }",
            "per-file-ignores.\"a/*.nn\": unknown rule selector 'XX1'",
        ),
        (
            "target = 'edge-tpux'",
            "target: unknown target 'edge-tpux'; did you mean 'edge-tpu'? known targets: a100-40gb",
        ),
        ("target = 7", "target: must be a string, got int 7"),
        ("targets = 'hw.toml'", "targets: must be a list of strings"),
        ("targets = ['missing.toml']", "targets: missing.toml: cannot read: No such file"),
        ("thresholds = 3", "thresholds: must be a table"),
        ("thresholds = { NN999 = { x = 1 } }", "thresholds.NN999: unknown rule code"),
        (
            "thresholds = { NN501 = { x = 1 } }",
            "thresholds.NN501: NN501 (budget-exceeded) has no thresholds",
        ),
        (
            "thresholds = { NN199 = { min_layer = 1 } }",
            "thresholds.NN199.min_layer: not a threshold of NN199; did you mean 'min_layers'? "
            "(known: min_layers, strict)",
        ),
        (
            "thresholds = { NN199 = { min_layers = [1] } }",
            "thresholds.NN199.min_layers: must be a number, a boolean or a string",
        ),
        ("thresholds = { NN199 = 8 }", "thresholds.NN199: must be a table"),
        (
            "thresholds = { NN199 = { strict = true }, test-depth = { strict = false } }",
            "thresholds.test-depth: NN199 (test-depth) has thresholds twice",
        ),
    ],
)
def test_bad_values(tmp_path, depth_rule, body, expected):
    message = error_of(write(tmp_path / "nnlint.toml", body + "\n"))
    assert message.startswith("nnlint.toml: " + expected), message


def test_an_ambiguous_selector_gets_no_suggestion(tmp_path):
    # `NN9` is as close to NN009 as to NN109: nnlint names neither rather than guess
    message = error_of(write(tmp_path / "nnlint.toml", "select = ['NN9']\n"))
    assert message == "nnlint.toml: select: unknown rule selector 'NN9'"


def test_threshold_type_follows_the_default(tmp_path, monkeypatch, depth_rule):
    from nnlint.rules import base

    monkeypatch.setattr(base, "default_thresholds", lambda: {"NN199": {"min_layers": 10}})
    message = error_of(write(tmp_path / "nnlint.toml", "[thresholds.NN199]\nmin_layers = 'ten'\n"))
    assert message == (
        "nnlint.toml: thresholds.NN199.min_layers: must be a number (default 10), got str 'ten'"
    )
    assert load_config(
        write(tmp_path / "nnlint.toml", "[thresholds.NN199]\nmin_layers = 2.5\n")
    ).thresholds == {"NN199": {"min_layers": 2.5}}


def test_invalid_target_file_names_its_key(tmp_path):
    write(tmp_path / "hw.toml", BOARD.format(id="b").replace("power_w = 5", "power_w = -5"))
    message = error_of(write(tmp_path / "nnlint.toml", "targets = ['hw.toml']\n"))
    assert message == "nnlint.toml: targets: hw.toml: power_w: must be positive, got -5"


def test_duplicate_target_ids(tmp_path):
    write(tmp_path / "a.toml", BOARD.format(id="b"))
    write(tmp_path / "c.toml", BOARD.format(id="b"))
    message = error_of(write(tmp_path / "nnlint.toml", "targets = ['a.toml', 'c.toml']\n"))
    assert message == "nnlint.toml: targets: c.toml: target id 'b' is defined twice"


def test_invalid_toml(tmp_path):
    message = error_of(write(tmp_path / "nnlint.toml", "select = [\n"))
    assert message.startswith("nnlint.toml: invalid TOML: ")


def test_tool_nnlint_must_be_a_table(tmp_path):
    message = error_of(write(tmp_path / "pyproject.toml", "[tool]\nnnlint = 3\n"))
    assert message == "pyproject.toml: tool.nnlint: must be a table, got int 3"


def test_a_folder_is_not_a_config(tmp_path):
    (tmp_path / "conf.toml").mkdir()
    assert error_of(tmp_path / "conf.toml") == "conf.toml: is a folder, not a config file"


def test_broken_config_found_by_discovery_is_an_error(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.nnlint\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: invalid TOML"):
        ConfigResolver().for_path(tmp_path / "m.nn")


# --------------------------------------------------------------------------- selectors


def test_parse_selectors_forms(depth_rule):
    assert parse_selectors("NN501, nn0,ALL,budget-exceeded,NN1") == (
        "NN501",
        "NN0",
        "ALL",
        "budget-exceeded",
        "NN1",
    )
    assert parse_selectors(["test-depth"]) == ("test-depth",)
    assert parse_selectors("NN3") == ("NN3",)  # a family, even before its rules exist
    with pytest.raises(ValueError, match="unknown rule selector 'NN6'"):
        parse_selectors("NN6")
    with pytest.raises(ValueError, match="empty rule selector"):
        parse_selectors("")


# --------------------------------------------------------------------------- globs


@pytest.mark.parametrize(
    ("path", "pattern", "matches"),
    [
        ("models/a.nn", "models/*.nn", True),
        ("models/deep/a.nn", "models/*.nn", False),
        ("models/deep/a.nn", "models/**/*.nn", True),
        ("models/a.nn", "models/**/*.nn", True),  # ** spans zero folders too
        ("a.nn", "**/a.nn", True),
        ("x/y/generated_1.nn", "**/generated_*.nn", True),
        ("build/x/a.nn", "build", True),  # a folder matches what is below it
        ("src/build/a.nn", "build", True),  # a bare name matches at any depth
        ("src/build/a.nn", "./src/build/", True),
        ("src/builder/a.nn", "build", False),
        ("a1.nn", "a?.nn", True),
        ("ab.nn", "a[!b].nn", False),
        ("ac.nn", "a[a-c].nn", True),
        ("a.nn", "", False),
    ],
)
def test_glob_matches(path, pattern, matches):
    assert glob_matches(path, pattern) is matches


def test_glob_without_ancestors_tests_the_path_only():
    assert glob_matches("build/a.nn", "build", ancestors=False) is False
    assert glob_matches("build", "build", ancestors=False) is True


def test_exclude_and_per_file_ignores_are_relative_to_the_config(tmp_path):
    path = write(
        tmp_path / "proj" / "nnlint.toml",
        """\
        exclude = ["legacy"]
        [per-file-ignores]
        "experiments/**" = ["NN5"]
        "*.draft.nn" = ["NN021"]
        """,
    )
    config = load_config(path)
    proj = tmp_path / "proj"
    assert config.is_excluded(proj / "legacy" / "old.nn")
    assert not config.is_excluded(proj / "models" / "new.nn")
    assert config.ignores_for(proj / "experiments" / "a" / "b.nn") == ("NN5",)
    assert config.ignores_for(proj / "x.draft.nn") == ("NN021",)
    assert config.ignores_for(proj / "models" / "new.nn") == ()


# --------------------------------------------------------------------------- settings


def test_settings_command_line_wins(tmp_path):
    write(tmp_path / "b.toml", BOARD.format(id="b"))
    config = load_config(
        write(
            tmp_path / "nnlint.toml",
            """\
        target = "t4"
        select = ["NN0"]
        extend-select = ["NN501"]
        ignore = ["NN021"]
        targets = ["b.toml"]
        [per-file-ignores]
        "m.nn" = ["NN502"]
        """,
        )
    )
    plain = settings_for(config, tmp_path / "m.nn", Overrides())
    assert plain == Settings(
        default_target="t4",
        select=("NN0",),
        extend_select=("NN501",),
        ignore=("NN021", "NN502"),
        thresholds={},
        targets=config.targets,
    )
    added = settings_for(
        config,
        tmp_path / "m.nn",
        Overrides(target="l4", extend_select=("NN502",), ignore=("NN020",)),
    )
    assert added.target == "l4"
    assert added.extend_select == ("NN501", "NN502")
    assert added.ignore == ("NN021", "NN020", "NN502")
    # --select starts over: the configured select, extend-select and ignore are dropped
    fresh = settings_for(config, tmp_path / "other.nn", Overrides(select=("NN5",)))
    assert (fresh.select, fresh.extend_select, fresh.ignore) == (("NN5",), (), ())
    assert selected_codes(fresh) == [c for c in selected_codes(Settings()) if c.startswith("NN5")]


def test_config_target_is_a_default_that_deploy_target_and_cli_override():
    from nnlint.check import check_text

    with_deploy = "model m {\n  input x: [4]\n  y = x -> dense(2)\n}\ndeploy {\n  target = l4\n}\n"
    without = "model m {\n  input x: [4]\n  y = x -> dense(2)\n}\n"
    config = Settings(default_target="t4")
    assert check_text(without, "a.nn", config).model["target"] == "t4"
    assert check_text(with_deploy, "a.nn", config).model["target"] == "l4"
    cli = Settings(target="a100-40gb", default_target="t4")
    assert check_text(with_deploy, "a.nn", cli).model["target"] == "a100-40gb"
