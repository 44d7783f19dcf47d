"""Remote and file text made safe to print: control and format characters shown escaped.

Names, statuses, causes and metrics come from endpoints, S3 objects and summary.json files; raw,
an escape sequence in one could rewrite the terminal (move the cursor, retitle it, hide text).
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls (ESC, BEL, CR, ...); Cf: format characters (bidirectional overrides,
# zero-width joiners); Zl/Zp: line and paragraph separators; Cs: lone surrogates.
_ESCAPED = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escape(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object, limit: int | None = None) -> str:
    """`value` as text for a terminal: every control or format character escaped (`\\x1b`,
    `\\u202e`); cut at `limit` characters with '...' when given."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _ESCAPED else c for c in text)
