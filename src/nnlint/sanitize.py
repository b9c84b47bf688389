"""Make text from files and file names safe to print.

A spec's name, a target's ``name``, a config key or a code in a suppression
comment is data an attacker may choose. Printed raw, a newline in it starts a new
output line (GitHub Actions runs any stdout or stderr line that starts with ``::``
as a workflow command) and an ESC drives the terminal. Every human-readable output
(``text``, ``concise``, ``github``, the tables, stderr) passes such strings through
:func:`visible`; JSON and SARIF escape them as JSON strings instead. The runner's legacy
``##[command]`` form, which it finds anywhere in a line, is broken up the same way.

Hidden characters are C0 and C1 controls and DEL (category ``Cc``), the line and
paragraph separators U+2028/U+2029 (``Zl``, ``Zp``) and the bidirectional
formatting controls that reorder what a terminal shows (Unicode UAX #9, the
"Trojan Source" characters, CVE-2021-42574).
"""

from __future__ import annotations

import unicodedata

__all__ = ["BIDI_CONTROLS", "is_hidden", "visible"]

#: Bidirectional formatting characters (UAX #9, section 2): marks, embeddings,
#: overrides and isolates.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
#: The GitHub Actions runner also runs its legacy commands (``##[error]…``,
#: ``##[add-mask]…``) found anywhere in a line (actions/runner, ``ActionCommand.TryParse``):
#: the second ``#`` is written as an escape, so the text shows what it is and runs nothing.
_LEGACY_COMMAND = "##["
_LEGACY_SHOWN = "#\\x23["


def is_hidden(ch: str) -> bool:
    """True for a character that must not reach an output stream as itself."""
    return ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, keep: str = "") -> str:
    """``text`` on one line with every hidden character written as an escape.

    ``"a\\n::error::x"`` becomes ``a\\n::error::x`` with a literal backslash and
    ``n``; ESC becomes ``\\x1b``, U+2028 ``\\u2028``. Everything else is unchanged,
    so a name without hidden characters prints exactly as it is. Characters in ``keep``
    (a tab inside a diff's line of source) stay as they are.
    """
    if not text.isprintable():  # else no Cc, Zl, Zp (nor Cf, Zs other than space)
        text = "".join(_escape(ch) if is_hidden(ch) and ch not in keep else ch for ch in text)
    if _LEGACY_COMMAND in text:
        text = text.replace(_LEGACY_COMMAND, _LEGACY_SHOWN)
    return text
