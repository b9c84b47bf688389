"""NN0xx: problems with the spec itself, reported by the front end (parse, lowering,
sections) rather than by a rule class. Their docs live here so that ``nnlint rule
NN009``, the README's table and SARIF's rule descriptions cover them too.

NN001–NN016 stop the analysis of the file and cannot be deselected or
suppressed: a spec nnlint cannot read has no numbers to trust. Each independent one is
reported in the same run, up to :data:`MAX_ERRORS` per file; NN017 notes any beyond.
NN020 and NN021 are warnings about suppression comments and NN022 about a bidirectional
control character in a comment; the analysis runs and each
has its own page.
"""

from __future__ import annotations

from nnlint.diagnostics import RuleMeta, Severity

#: The "Why is this bad?" of the fatal codes NN001–NN016 (NN017 notes that there are more).
CANNOT_BUILD = (
    "nnlint cannot build the model's dataflow graph from the spec, so no figure it would "
    "print could be trusted. The analysis of the file stops here; the code cannot be "
    "deselected or suppressed."
)


#: The most errors reported for one file (NN017 notes the rest).
MAX_ERRORS = 50


def _meta(
    code: str,
    name: str,
    summary: str,
    what: str,
    example: str,
    fix: str,
    severity: Severity = Severity.ERROR,
    why: str = CANNOT_BUILD,
) -> RuleMeta:
    doc = (
        f"## What it does\n{what}\n\n## Why is this bad?\n{why}\n\n"
        f"## Example\n```\n{example}\n```\n\nUse instead:\n```\n{fix}\n```"
    )
    return RuleMeta(code, name, "spec", severity, summary, doc)


SPEC_CODES: dict[str, RuleMeta] = {
    m.code: m
    for m in (
        _meta(
            "NN001",
            "syntax-error",
            "The spec does not follow the grammar",
            "Reports text the grammar cannot parse, with the line, the column, the text found "
            "and what was expected there. Also NUL bytes and nesting too deep to read.",
            "h = x -> dense(256",
            "h = x -> dense(256)",
        ),
        _meta(
            "NN002",
            "undefined-name",
            "A name is used but never defined",
            "Reports a tensor name, block parameter or `tie=` target that no statement "
            "defines, and suggests the closest defined name.",
            "h2 = h -> relu",
            "h2 = h1 -> relu",
        ),
        _meta(
            "NN003",
            "duplicate-name",
            "A name is assigned twice",
            "Names are single-assignment: each tensor, input and block is defined once.",
            "h = x -> dense(64)\nh = h -> relu",
            "h = x -> dense(64)\nh2 = h -> relu",
        ),
        _meta(
            "NN004",
            "unknown-op",
            "An op or block that does not exist",
            "Reports a layer name that is neither a built-in op nor a block of the file, and "
            "suggests the closest one.",
            "h = x -> dense(64) -> reluu",
            "h = x -> dense(64) -> relu",
        ),
        _meta(
            "NN005",
            "bad-option",
            "An unknown, missing, repeated or surplus option",
            "Checks every op's arguments against its signature: positional count, option "
            "names (with a suggestion), required options, repeats.",
            "x -> conv2d(64, 3, strides=2)",
            "x -> conv2d(64, 3, stride=2)",
        ),
        _meta(
            "NN006",
            "wrong-type",
            "An argument of the wrong type",
            "Sizes must be whole numbers, flags `true`/`false`, precisions one of nnlint's "
            "precision names, `init` a known scheme.",
            "x -> dense(64.5)",
            "x -> dense(64)",
        ),
        _meta(
            "NN007",
            "invalid-size",
            "A size, count or rate outside its range",
            "Sizes, kernel sizes, strides and repeat counts must be positive; dropout rates lie "
            "in [0, 1); division by zero in an argument.",
            "x -> dense(0)",
            "x -> dense(10)",
        ),
        _meta(
            "NN008",
            "cycle",
            "A cycle between tensors, or a block that calls itself",
            "A dataflow graph has no cycles: reports the names on the cycle, or the chain of "
            "block calls that leads back to a block.",
            "a = b -> relu\nb = a -> relu",
            "a = x -> relu\nb = a -> relu",
        ),
        _meta(
            "NN009",
            "shape-mismatch",
            "An op cannot take the shapes it is given",
            "Infers every tensor's shape and reports an op that cannot accept its inputs, "
            "with both shapes (e.g. `add` of [64, 56, 56] and [128, 28, 28]).",
            "y = x -> conv2d(128, 3, stride=2)\nout = add(x, y)",
            "y = x -> conv2d(128, 3, stride=2)\nsc = x -> conv2d(128, 1, stride=2)\n"
            "out = add(sc, y)",
        ),
        _meta(
            "NN010",
            "bad-call",
            "A block or merge called the wrong way",
            "Blocks take their input from the chain and their parameters as arguments; "
            "merges (`add`, `concat`, `matmul`) take two or more tensor names.",
            "h = x -> residual(16, 3)   # residual(c) takes one argument",
            "h = x -> residual(16)",
        ),
        _meta(
            "NN011",
            "limit-exceeded",
            "A size beyond nnlint's limits",
            "Keeps a mistaken or hostile spec from exhausting time or memory: at most 120,000 op "
            "instances after expansion, 2^40 elements per tensor, blocks nested 64 deep. The "
            "message names the number that broke the limit.",
            "h = x -> dense(64) * 1000000000",
            "h = x -> dense(64) * 12",
        ),
        _meta(
            "NN012",
            "bad-section",
            "A bad entry in `train`, `data`, `deploy` or `budget`",
            "Checks every section key and value: unknown keys (with a suggestion), unknown "
            "optimizers, losses and precisions, batch sizes below 1, budget units.",
            "train {\n    optimiser = adam\n}",
            "train {\n    optimizer = adam\n}",
        ),
        _meta(
            "NN013",
            "bad-tie",
            "`tie=` names a weight that cannot be shared",
            "A tied layer shares the weight of the layer that produced the named tensor; the "
            "two weights must have the same shape (or its transpose).",
            "tok = ids -> embedding(8000, 256)\nlogits = h -> dense(4000, tie=tok)",
            "logits = h -> dense(8000, bias=false, tie=tok)",
        ),
        _meta(
            "NN014",
            "model-count",
            "No model, or more than one, in a file",
            "A spec file holds exactly one `model`; blocks may be shared by copying them.",
            "block b(c) { ... }   # and no model",
            "model m {\n    input x: [784]\n    ...\n}",
        ),
        _meta(
            "NN015",
            "unknown-target",
            "`deploy.target` names no known hardware profile",
            "Checks the target against the built-in profiles and those added in the "
            "configuration, and suggests the closest id.",
            "deploy {\n    target = edge-tp\n}",
            "deploy {\n    target = edge-tpu\n}",
        ),
        _meta(
            "NN016",
            "unreadable-text",
            "The file is not UTF-8 text",
            "A spec is a UTF-8 text file; reports the line and column of the first byte that "
            "is not valid UTF-8.",
            "(a binary file)",
            "(a UTF-8 text file)",
        ),
        _meta(
            "NN017",
            "too-many-errors",
            "More errors in a file than nnlint reports",
            "nnlint reports every independent error of a file in one run (syntax, lowering "
            "and section errors; errors caused by an earlier one are left out), up to "
            "50 per file: past that the list stops helping (the file is likely not a spec, "
            "or one mistake repeats). This note stands at the first error left out.",
            "(a file with 60 broken statements)",
            "(fix the 50 errors shown, then run again)",
            Severity.NOTE,
        ),
        _meta(
            "NN020",
            "malformed-suppression",
            "A `# nnlint:` comment nnlint cannot read",
            "Reports `# nnlint:` comments that are not `ignore[CODES]` or `ignore-file[CODES]`, "
            "which would otherwise silence nothing without a word.",
            "h = x -> dense(3)  # nnlint: ignore NN301",
            "h = x -> dense(3)  # nnlint: ignore[NN301]",
            Severity.WARNING,
            why="The comment was meant to silence a finding but silences nothing: the finding "
            "it aimed at is still reported, and a reader of the spec believes it is "
            "accepted. The analysis itself runs; the comment is ignored (also when it lists "
            "more codes than nnlint has).",
        ),
        _meta(
            "NN021",
            "unused-suppression",
            "A suppression that silences nothing",
            "Reports `# nnlint: ignore[...]` and `ignore-file[...]` codes that match no finding "
            "(or are not nnlint codes), so stale suppressions do not pile up (ruff's RUF100).",
            "h = x -> dense(64) -> relu  # nnlint: ignore[NN101]",
            "h = x -> dense(64) -> relu",
            Severity.WARNING,
            why="A suppression that matches no finding hides nothing today but will hide a "
            "real finding the day one appears on that line or in that file, and it tells a "
            "reader that a problem exists where there is none. A code that is not an nnlint "
            "code is usually a typo, and a fatal code (NN001–NN016) can never be suppressed. "
            "`nnlint check --fix` removes the unused code (safe).",
        ),
        _meta(
            "NN022",
            "bidirectional-control",
            "A bidirectional control character in a comment",
            "Reports the Unicode bidirectional formatting characters (U+202A–U+202E, "
            "U+2066–U+2069, U+200E, U+200F, U+061C) in a spec, one finding per line naming "
            "each kind. Outside a comment the grammar refuses them (NN001); inside one they "
            "are legal but reorder what an editor or a code review shows (rustc's "
            "`text_direction_codepoint_in_comment`).",
            "h = x -> dense(3)  # <U+202E, shown here by name>NN301 is fine",
            "h = x -> dense(3)  # NN301 is fine",
            Severity.WARNING,
            why="A reviewer reads the line as it is displayed, nnlint as it is stored: a "
            "right-to-left override in a comment can make code look commented out, or a "
            'comment look like code (Boucher and Anderson 2021, "Trojan Source: Invisible '
            "Vulnerabilities\", CVE-2021-42574). nnlint's own output shows the character "
            "as U+FFFD.",
        ),
    )
}

# Codes that stop the analysis: never deselected, never suppressed.
FATAL = frozenset(code for code in SPEC_CODES if code < "NN020")
