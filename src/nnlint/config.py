"""Configuration: ``[tool.nnlint]`` in ``pyproject.toml`` or the top level of ``nnlint.toml``.

Discovery follows ruff: for each checked file, walk up from its folder; the
closest folder holding a config wins, ``nnlint.toml`` before ``pyproject.toml``
(a ``pyproject.toml`` without a ``[tool.nnlint]`` table is skipped), and configs
are never merged. Globs (``exclude``, ``per-file-ignores``) and extra target
files (``targets``) are relative to the config file's folder.

Every problem is a :class:`ConfigError` naming the file and the key, e.g.
``pyproject.toml: tool.nnlint.selec: unknown key; did you mean 'select'?``.

Keys::

    target = "edge-tpu"                  # the default: deploy.target wins, --target wins over both
    select = ["NN0", "NN1"]              # codes, prefixes, rule names or "ALL"
    extend-select = ["NN401"]
    ignore = ["NN201"]
    per-file-ignores = { "legacy/**/*.nn" = ["NN1"] }
    fail-on = "warning"                  # error | warning | note
    exclude = ["build", "**/generated_*.nn"]
    thresholds = { NN101 = { sigmoid_layers = 8 } }
    targets = ["hw/my-board.toml"]       # extra profiles; may override a built-in id
    baseline = "nnlint-baseline.json"    # findings to tolerate (see nnlint.baseline)
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nnlint.files import display_path
from nnlint.resources import TableReader, TomlFileError, describe, read_toml
from nnlint.suggest import suggest

__all__ = [
    "CONFIG_FILES",
    "FAIL_LEVELS",
    "ConfigError",
    "ConfigResolver",
    "Overrides",
    "ProjectConfig",
    "find_config",
    "glob_matches",
    "load_config",
    "parse_selectors",
    "settings_for",
]

#: Looked for in each folder, in this order (the first one that configures nnlint wins).
CONFIG_FILES = ("nnlint.toml", "pyproject.toml")
FAIL_LEVELS = ("error", "warning", "note")
#: The rule families (README § Rules: NN1 training … NN5 budget); their prefixes are valid
#: selectors even before a rule exists.
_FAMILY_PREFIX = re.compile(r"^NN[0-5]$")

_KEYS = (
    "target",
    "select",
    "extend-select",
    "ignore",
    "per-file-ignores",
    "fail-on",
    "exclude",
    "thresholds",
    "targets",
    "baseline",
)


class ConfigError(Exception):
    """A config file that cannot be read or holds a bad key or value.

    ``str()`` is ``"path: key: message"`` (parts that are empty are left out).
    """

    def __init__(self, path: str | os.PathLike[str] | None, key: str | None, message: str) -> None:
        self.path = display_path(path) if path is not None else None
        self.key = key
        self.message = message
        super().__init__(": ".join(part for part in (self.path, key, message) if part))


@attrs.frozen
class ProjectConfig:
    """One config file's settings, validated. ``ProjectConfig()`` is "no config file"."""

    path: Path | None = None  # the file it came from
    target: str | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fail_on: str | None = None
    exclude: tuple[str, ...] = ()
    thresholds: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    targets: Mapping[str, Any] = attrs.field(factory=dict)  # id -> nnlint.targets.Target
    baseline: Path | None = None  # absolute; `baseline` is relative to the config's folder

    @property
    def root(self) -> Path:
        """The folder globs and target files are relative to."""
        return self.path.parent if self.path is not None else Path.cwd()

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to :attr:`root` with ``/`` separators (``../`` when outside)."""
        absolute = os.path.abspath(path)
        try:
            relative = os.path.relpath(absolute, os.path.abspath(self.root))
        except ValueError:  # another drive on Windows
            relative = absolute
        return relative.replace(os.sep, "/")

    def is_excluded(
        self, path: str | os.PathLike[str], *, ancestors: bool = True, folder: bool = False
    ) -> bool:
        """Does ``exclude`` match ``path`` (a ``folder`` with ``folder``)?

        With ``ancestors`` (the default) a path below an excluded folder is excluded
        too; without, only a pattern matching ``path`` itself counts (a folder walk
        tests each folder on the way down, and a folder named on the command line
        is checked even when ``exclude`` matches it).
        """
        if not self.exclude:
            return False
        return _matches(_gitignore(self.exclude), self.relative(path), folder, ancestors)

    def ignores_for(self, path: str | os.PathLike[str]) -> tuple[str, ...]:
        """The codes ``per-file-ignores`` switches off for ``path``."""
        rel = self.relative(path)
        found: list[str] = []
        for pattern, codes in self.per_file_ignores:
            if _matches(_gitignore((pattern,)), rel, False, True):
                found += [c for c in codes if c not in found]
        return tuple(found)


# --------------------------------------------------------------------------- globs


def _normalise(pattern: str) -> str:
    """Surrounding spaces and leading ``./`` (which ``.gitignore`` would not strip) go."""
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


@functools.lru_cache(maxsize=1024)
def _gitignore(patterns: tuple[str, ...]):
    """The compiled ``.gitignore``-style spec of ``patterns``, matched by RE2.

    pathspec gives git's pattern semantics; its RE2 backend matches in time linear
    in the path (Python's ``re`` backtracks: ``*a*a*a…b`` against a 240-character
    name took hours). Patterns are validated when the config is loaded.
    """
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines([_normalise(p) for p in patterns], backend="re2")


def _matches(spec: Any, rel_path: str, folder: bool, ancestors: bool) -> bool:
    path = rel_path.strip("/")
    if not path or not spec.match_file(path + "/" if folder else path):
        return False
    if ancestors:
        return True
    parent = path.rpartition("/")[0]
    return not parent or not spec.match_file(parent + "/")


def glob_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid glob, or None when it is."""
    if "\0" in pattern:
        return "contains a NUL character"
    try:
        _gitignore((pattern,))
    except Exception as exc:  # re.error, pathspec's GitIgnorePatternError, re2.error
        return f"invalid glob {pattern!r}: {exc}"
    return None


def glob_matches(
    rel_path: str, pattern: str, *, ancestors: bool = True, folder: bool = False
) -> bool:
    """Does ``pattern`` match ``rel_path`` (relative, ``/`` separators)?

    ``.gitignore`` semantics (git's documentation, "PATTERN FORMAT"): a pattern
    without a ``/`` (other than a trailing one) matches a name at any depth, one with
    a ``/`` is anchored at the config's folder, ``*`` and ``?`` stay within one
    folder, ``**`` spans any, a trailing ``/`` matches folders only and a folder's
    match covers everything below it (with ``ancestors``).
    """
    pattern = _normalise(pattern)
    if not pattern:
        return False
    return _matches(_gitignore((pattern,)), rel_path, folder, ancestors)


# --------------------------------------------------------------------------- selectors


def parse_selectors(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate rule selectors: ``ALL``, a code, a code prefix (``NN1``) or a rule name.

    A string is split on commas (the command line's form). Raises :class:`ValueError`
    with a suggestion for a selector that selects nothing.
    """
    from nnlint.rules import all_meta

    items = value.split(",") if isinstance(value, str) else list(value)
    metas = all_meta()
    names = {meta.name for meta in metas.values()}
    out: list[str] = []
    for item in items:
        selector = item.strip()
        if not selector:
            if isinstance(value, str) and value.strip() == "":
                raise ValueError("empty rule selector")
            continue
        upper = selector.upper()
        if upper == "ALL" or _FAMILY_PREFIX.match(upper) or any(c.startswith(upper) for c in metas):
            out.append(upper)
        elif selector.lower() in names:
            out.append(selector.lower())
        else:
            close = suggest(selector, [*metas, *sorted(names)])
            hint = f"; did you mean {close!r}?" if close else ""
            raise ValueError(f"unknown rule selector {selector!r}{hint}")
    return tuple(out)


# --------------------------------------------------------------------------- loading


class _Reader(TableReader):
    """Typed access to one config table; every failure names the file and the full key."""

    def __init__(self, path: Path, prefix: str) -> None:
        self.path = path
        self.prefix = prefix

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, self.prefix + key, message)

    def selectors(self, value: Any, key: str) -> tuple[str, ...]:
        try:
            return parse_selectors(self.string_list(value, key))
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None


def _key(name: str) -> str:
    """A TOML key as written in a dotted path (quoted when it is not a bare key)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(path, None, "is a folder, not a config file")
    try:
        return read_toml(path, what="configs")
    except TomlFileError as exc:
        raise ConfigError(path, None, str(exc)) from None


def _nnlint_table(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The nnlint settings of a parsed file and the key prefix messages use."""
    if path.name != "pyproject.toml":
        return data, ""
    tool = data.get("tool")
    if not isinstance(tool, dict) or "nnlint" not in tool:
        return None, "tool.nnlint."
    if not isinstance(tool["nnlint"], dict):
        raise ConfigError(path, "tool.nnlint", f"must be a table, got {describe(tool['nnlint'])}")
    return tool["nnlint"], "tool.nnlint."


def configures_nnlint(path: Path) -> bool:
    """True for an ``nnlint.toml`` and for a ``pyproject.toml`` with ``[tool.nnlint]``."""
    if path.name != "pyproject.toml":
        return True
    table, _ = _nnlint_table(path, _read_toml(path))
    return table is not None


def load_config(path: str | os.PathLike[str]) -> ProjectConfig:
    """Read and validate one config file (``pyproject.toml`` or any other name: top level).

    A ``pyproject.toml`` without ``[tool.nnlint]`` gives the default :class:`ProjectConfig`
    (with its path). Raises :class:`ConfigError`.
    """
    path = Path(os.path.abspath(path))
    table, prefix = _nnlint_table(path, _read_toml(path))
    if table is None:
        return ProjectConfig(path=path)
    r = _Reader(path, prefix)
    for key in table:
        if key not in _KEYS:
            close = suggest(key, _KEYS)
            hint = f"; did you mean {close!r}?" if close else f" (known keys: {', '.join(_KEYS)})"
            raise r.fail(_key(key), "unknown key" + hint)

    fields: dict[str, Any] = {"path": path}
    for key in ("select", "extend-select", "ignore"):
        if key in table:
            fields[key.replace("-", "_")] = r.selectors(table[key], key)
    if "per-file-ignores" in table:
        entries = []
        for pattern, codes in r.table(table["per-file-ignores"], "per-file-ignores").items():
            key = f"per-file-ignores.{_key(pattern)}"
            if (problem := glob_error(pattern)) is not None:
                raise r.fail(key, problem)
            entries.append((pattern, r.selectors(codes, key)))
        fields["per_file_ignores"] = tuple(entries)
    if "fail-on" in table:
        level = r.string(table["fail-on"], "fail-on").strip().lower()
        if level not in FAIL_LEVELS:
            raise r.fail(
                "fail-on", f"must be one of {', '.join(FAIL_LEVELS)}; got {table['fail-on']!r}"
            )
        fields["fail_on"] = level
    if "exclude" in table:
        fields["exclude"] = tuple(r.string_list(table["exclude"], "exclude"))
        for i, pattern in enumerate(fields["exclude"]):
            if (problem := glob_error(pattern)) is not None:
                raise r.fail(f"exclude[{i}]", problem)
    if "thresholds" in table:
        fields["thresholds"] = _thresholds(r, table["thresholds"])
    if "targets" in table:
        fields["targets"] = _extra_targets(r, table["targets"], path.parent)
    if "baseline" in table:
        name = r.string(table["baseline"], "baseline")
        if not name.strip():
            raise r.fail("baseline", "must name a file, got an empty string")
        fields["baseline"] = Path(os.path.abspath(path.parent / name))
    if "target" in table:
        fields["target"] = _target_id(r, table["target"], fields.get("targets", {}))
    return ProjectConfig(**fields)


def _thresholds(r: _Reader, value: Any) -> dict[str, dict[str, Any]]:
    """``{NN101 = {sigmoid_layers = 8}}``: known codes, the rule's own option names."""
    from nnlint.rules import REGISTRY, all_meta, lookup
    from nnlint.rules.base import default_thresholds

    out: dict[str, dict[str, Any]] = {}
    for code, options in r.table(value, "thresholds").items():
        key = f"thresholds.{_key(code)}"
        meta = lookup(code)
        if meta is None:
            close = suggest(code.upper(), all_meta())
            hint = f"; did you mean {close!r}?" if close else ""
            raise r.fail(key, f"unknown rule code{hint}")
        if meta.code in out:
            raise r.fail(key, f"{meta.code} ({meta.name}) has thresholds twice")
        rule = REGISTRY.get(meta.code)
        allowed = tuple(rule.options) if rule is not None else ()
        if not allowed:
            raise r.fail(key, f"{meta.code} ({meta.name}) has no thresholds")
        defaults = default_thresholds().get(meta.code, {})
        checked: dict[str, Any] = {}
        for name, setting in r.table(options, key).items():
            option_key = f"{key}.{_key(name)}"
            if name not in allowed:
                close = suggest(name, allowed)
                hint = f"; did you mean {close!r}?" if close else ""
                raise r.fail(
                    option_key,
                    f"not a threshold of {meta.code}{hint} (known: {', '.join(allowed)})",
                )
            checked[name] = _threshold_value(r, option_key, setting, defaults.get(name))
        out[meta.code] = checked
    return out


#: Above any count, ratio or share a threshold can mean (and inside a float).
_MAX_THRESHOLD = 1e15


def _threshold_value(r: _Reader, key: str, value: Any, default: Any) -> Any:
    """A number, a boolean or a string, of the same kind as the shipped default."""

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not (is_number(value) or isinstance(value, (bool, str))):
        raise r.fail(key, f"must be a number, a boolean or a string, got {describe(value)}")
    if is_number(value) and not (0 < value <= _MAX_THRESHOLD):
        # every threshold is a minimum count, ratio or share: 0, a negative number,
        # nan and inf would make its rule fire always or never, or divide by zero
        raise r.fail(key, f"must be a positive finite number, got {value!r}")
    if default is not None:
        if is_number(default) and not is_number(value):
            raise r.fail(key, f"must be a number (default {default!r}), got {describe(value)}")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise r.fail(key, f"must be true or false, got {describe(value)}")
        if isinstance(default, str) and not isinstance(value, str):
            raise r.fail(key, f"must be a string (default {default!r}), got {describe(value)}")
    return value


def _extra_targets(r: _Reader, value: Any, folder: Path) -> dict[str, Any]:
    from nnlint.targets import TargetError, load_target_file

    found: dict[str, Any] = {}
    for entry in r.string_list(value, "targets"):
        if "\0" in entry:
            raise r.fail("targets", f"{entry!r}: a path cannot contain a NUL character")
        try:
            target = load_target_file(folder / entry)
        except TargetError as exc:
            detail = ": ".join(p for p in (display_path(exc.path), exc.key, exc.message) if p)
            raise r.fail("targets", detail) from None
        if target.id in found:
            raise r.fail("targets", f"{entry}: target id {target.id!r} is defined twice")
        found[target.id] = target
    return found


def _target_id(r: _Reader, value: Any, extra: Mapping[str, Any]) -> str:
    from nnlint.targets import UnknownTarget, resolve_target

    try:
        return resolve_target(r.string(value, "target"), extra).id
    except UnknownTarget as exc:
        raise r.fail("target", exc.message) from None


# --------------------------------------------------------------------------- discovery


def find_config(start: str | os.PathLike[str]) -> Path | None:
    """The closest config at or above folder ``start`` (see the module docstring)."""
    folder = Path(os.path.abspath(start))
    for candidate_folder in (folder, *folder.parents):
        for name in CONFIG_FILES:
            candidate = candidate_folder / name
            if candidate.is_file() and configures_nnlint(candidate):
                return candidate
    return None


@attrs.frozen
class Overrides:
    """What the command line sets; ``None`` / empty means "as configured"."""

    target: str | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    train_target: str | None = None


class ConfigResolver:
    """Finds and caches the config of each file for one run.

    ``isolated``: no config at all. ``config_file``: that file for every path.
    """

    def __init__(
        self, *, isolated: bool = False, config_file: str | os.PathLike[str] | None = None
    ) -> None:
        self._isolated = isolated
        self._by_folder: dict[str, Path | None] = {}
        self._loaded: dict[Path, ProjectConfig] = {}
        self._fixed: ProjectConfig | None = None
        if isolated:
            self._fixed = ProjectConfig()
        elif config_file is not None:
            self._fixed = self.load(Path(os.path.abspath(config_file)))

    def load(self, path: Path) -> ProjectConfig:
        if path not in self._loaded:
            self._loaded[path] = load_config(path)
        return self._loaded[path]

    def config_path_for(self, path: str | os.PathLike[str], *, folder: bool = False) -> Path | None:
        """The config file that applies to file (or with ``folder``, folder) ``path``."""
        if self._fixed is not None:
            return self._fixed.path
        start = os.path.abspath(path if folder else os.path.dirname(os.path.abspath(path)))
        if start not in self._by_folder:
            self._by_folder[start] = find_config(start)
        return self._by_folder[start]

    def for_path(self, path: str | os.PathLike[str], *, folder: bool = False) -> ProjectConfig:
        if self._fixed is not None:
            return self._fixed
        found = self.config_path_for(path, folder=folder)
        return self.load(found) if found is not None else ProjectConfig()


def settings_for(config: ProjectConfig, path: str | os.PathLike[str] | None, overrides: Overrides):
    """The :class:`nnlint.check.Settings` of one file: the command line wins over the config.

    ruff's layering: ``--select`` starts a new selection (the configured ``select``,
    ``extend-select`` and ``ignore`` are dropped); otherwise ``--extend-select`` and
    ``--ignore`` add to the configured ones. ``per-file-ignores`` always apply.
    """
    from nnlint.check import Settings

    if overrides.select is not None:
        select, extend, ignore = overrides.select, overrides.extend_select, overrides.ignore
    else:
        select = config.select
        extend = config.extend_select + overrides.extend_select
        ignore = config.ignore + overrides.ignore
    if path is not None:
        ignore += config.ignores_for(path)
    return Settings(
        target=overrides.target,
        train_target=overrides.train_target,
        default_target=config.target,
        select=select,
        extend_select=extend,
        ignore=ignore,
        thresholds=config.thresholds,
        targets=config.targets,
    )
