"""The README's generated tables match the registries (rules, ops, losses, targets), so
does the report's JSON Schema, and every rule has a complete doc page."""

from __future__ import annotations

import re

from helpers import ROOT

from nnlint.docs import SECTIONS, render
from nnlint.rules import REGISTRY, all_meta
from nnlint.rules.base import default_thresholds


def test_readme_generated_sections_are_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in SECTIONS:
        assert f"<!-- generated:{name} -->" in readme, name
    assert render(readme) == readme, "README is stale: run `python -m nnlint.docs README.md`"


def test_the_report_schema_is_current():
    """docs/report.schema.json is generated (its totals from nnlint.figures): a figure
    added, renamed or retyped without regenerating it fails here."""
    from nnlint.report_schema import SCHEMA_PATH, schema_text

    text = (ROOT / SCHEMA_PATH).read_text(encoding="utf-8")
    assert text == schema_text(), f"stale: run `python -m nnlint.docs {SCHEMA_PATH}`"


def test_every_code_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in all_meta():
        assert f"| `{code}` |" in readme


FAMILIES = {"NN1": "training", "NN2": "data", "NN3": "fit", "NN4": "performance", "NN5": "budget"}


def test_every_rule_has_a_complete_doc_page():
    defaults = default_thresholds()
    for code, rule in REGISTRY.items():
        doc = rule.meta().doc
        for heading in ("## What it does", "## Why is this bad?", "## Example"):
            assert heading in doc, (code, heading)
        assert "Use instead" in doc, code
        assert rule.family == FAMILIES[code[:3]], code
        # fit and performance rules say "None." under Options when they have none
        if rule.options or rule.family in ("fit", "performance"):
            assert "## Options" in doc, code
        for option in rule.options:
            assert f"`{option}`" in doc, (code, option)
            assert option in defaults[code], (code, option)
        assert rule.name == rule.name.lower() and " " not in rule.name
        assert rule.code.startswith("NN") and len(rule.code) == 5


def test_codes_and_names_are_unique():
    metas = all_meta()
    names = [m.name for m in metas.values()]
    assert len(names) == len(set(names))


def test_readme_tour_shows_real_output(capsys, monkeypatch):
    """Every `$ nnlint check …`, `$ nnlint plan …`, `$ nnlint targets …` and `$ nnlint import
    ….json` (a Hugging Face config in the repository; the ONNX examples are checked by
    tests/test_import_onnx.py) in a ```console block of the README prints exactly what
    nnlint prints, on stdout or, for an import that fails, on stderr (blocks marked
    "(abridged)" in the text before them are skipped)."""
    import re
    import shlex

    from nnlint.cli import main

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    checked = imports = 0
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for command, expected in re.findall(
            r"^\$ (nnlint (?:check|plan|targets|import \S+\.json)[^\n]*)\n(.*?)(?=^\$ |\Z)",
            block,
            re.S | re.M,
        ):
            code = main(shlex.split(command)[1:])
            captured = capsys.readouterr()
            shown = captured.err if command.startswith("nnlint import") and code else captured.out
            assert shown.rstrip("\n") == expected.rstrip("\n"), command
            checked += 1
            imports += command.startswith("nnlint import")
    assert checked >= 6 and imports >= 2


#: What a reader outside the team cannot open: the team's background notes and their figures.
#: The product cites papers, framework docs, datasheets or README § Counting conventions.
PRIVATE_CITATION = re.compile(
    r"seeds? ?0[0-9]{2}|seed[- ]digest|DESIGN\.md|\.\./shared|worked example 5\.", re.I
)


def test_product_cites_no_document_outside_the_repository():
    assert PRIVATE_CITATION.search("the MNIST table [seed 000]")  # the pattern itself works
    assert PRIVATE_CITATION.search("(seed digest §3.1)") and PRIVATE_CITATION.search("DESIGN.md")
    paths = [ROOT / "README.md"]
    for folder in ("src", "docs", "rules", "examples"):
        paths += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file())
    checked, found = 0, []
    for path in paths:
        if path.suffix not in (".py", ".md", ".toml", ".nn", ".lark", ".txt", ".json"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PRIVATE_CITATION.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
        checked += 1
    assert checked > 100, checked
    assert not found, "\n".join(found)


def _documented_options(doc: str) -> set[str]:
    """The names a rule's ``## Options`` section lists (``- `name` (default …): …``)."""
    if "## Options" not in doc:
        return set()
    section = doc.split("## Options", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\s*- `(\w+)`", section, re.M))


def test_every_documented_option_is_a_threshold_and_every_threshold_is_documented():
    defaults = default_thresholds()
    assert _documented_options("## Options\n- `a` (default 1): x\n- `b`: y\n") == {"a", "b"}
    for code, rule in REGISTRY.items():
        documented = _documented_options(rule.meta().doc)
        assert documented == set(defaults.get(code, {})), code
        assert documented == set(rule.options), code
    assert set(defaults) <= set(REGISTRY), set(defaults) - set(REGISTRY)


#: A threshold named in prose or an example: ``NN101 = { name = …`` or ``[NN101] name = …``.
THRESHOLD_MENTION = re.compile(r"(NN\d{3})\s*=\s*\{\s*(\w+)\s*=|\[(NN\d{3})\]\s*(\w+)\s*=")


def test_every_threshold_named_in_docstrings_and_docs_exists():
    defaults = default_thresholds()
    assert THRESHOLD_MENTION.search("``[NN101] min_depth = 10``")  # the pattern itself works
    paths = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]
    mentions, stale = 0, []
    for path in paths:
        for m in THRESHOLD_MENTION.finditer(path.read_text(encoding="utf-8")):
            code, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            mentions += 1
            if name not in defaults.get(code, {}):
                stale.append(f"{path.relative_to(ROOT)}: {code}.{name}")
    assert mentions >= 3, mentions
    assert not stale, stale


def test_spec_warnings_have_their_own_why_page():
    """NN020 and NN021 do not stop the analysis: their pages must not say they do."""
    from nnlint.rules.spec_codes import CANNOT_BUILD, FATAL, SPEC_CODES

    for code, meta in SPEC_CODES.items():
        why = meta.doc.split("## Why is this bad?\n", 1)[1].split("\n\n## ", 1)[0]
        assert (why == CANNOT_BUILD) == (code in FATAL), code
    whys = {SPEC_CODES[c].doc.split("## Why")[1].split("## Example")[0] for c in ("NN020", "NN021")}
    assert len(whys) == 2


def test_architecture_names_every_module():
    """docs/ARCHITECTURE.md's module table stays true: each module of the package is named."""
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    package = ROOT / "src" / "nnlint"
    modules = [p for p in package.glob("*.py") if not p.name.startswith("__")]
    assert len(modules) > 20
    missing = [p.name for p in modules if f"`{p.name}`" not in architecture]
    assert not missing, f"name them in docs/ARCHITECTURE.md: {missing}"
