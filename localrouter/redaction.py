"""Redaction: secrets out of text we did not write (an upstream's error, a config excerpt).

A :class:`Redactor` knows secrets two ways: by *value* (every provider key and secret header the
server resolved, whatever they look like — an OpenAI-compatible server's key has no well-known
prefix) and by *shape* (:data:`KEY_SHAPES`: ``sk-…``, ``sk-ant-…``, ``AIza…``, ``lr-…``, ``gsk_…``,
``Bearer …`` and friends, for keys we were never told about). It always works on the whole text:
:meth:`Redactor.excerpt` redacts first and cuts after, because cutting an echoed key at N
characters first leaves its first characters behind, where neither a value nor a shape matches
them any more.

This module is a leaf: it imports nothing of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter values are not looked for by value (they would match ordinary words)

# well-known key shapes; ``lr-`` needs more than a client's public 11-character prefix
KEY_SHAPES = (
    r"\bsk-ant-[A-Za-z0-9_\-]{8,}",
    r"\b(?:sk|rk|pk|key|gsk|xai|pplx|csk|nvapi|hf|ghp|gho|ghs|ghu|github_pat|glpat|r8|fw)"
    r"[-_][A-Za-z0-9_\-]{8,}",
    r"\blr-[A-Za-z0-9_\-]{16,}",
    r"\bAIza[0-9A-Za-z_\-]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"(?i:\bbearer)\s+[A-Za-z0-9._~+/\-]{8,}=*",
)
_SHAPES = re.compile("|".join(KEY_SHAPES))


class Redactor:
    """Replaces every known secret value, and anything shaped like a key, in a text.

    Built once per set of secrets (each routing table the server swaps in); immutable. Its repr
    says how many values it knows, never one of them."""

    __slots__ = ("_count", "_pattern", "_reach")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._count = len(values)
        self._reach = max([64, *map(len, values)])  # the longest value a search must see whole
        # longest first: a secret that contains another is replaced whole
        parts = [re.escape(v) for v in values]
        self._pattern = re.compile("|".join([*parts, *KEY_SHAPES])) if parts else _SHAPES

    def __repr__(self) -> str:
        return f"Redactor({self._count} secret values)"

    def redact(self, text: str, mark: str = REDACTED) -> str:
        """``text`` with every secret replaced by ``mark``."""
        return self._pattern.sub(mark, text)

    def excerpt(self, text: str, limit: int) -> str:
        """``self.redact(text)[:limit]``, reading only as much of ``text`` as that needs: each
        search sees every secret that starts before the cut whole (a key-shaped match the window
        cut short is matched again, whole), so none is left half-shown at the cut."""
        out: list[str] = []
        size = pos = 0
        while size < limit:
            end = min(len(text), pos + (limit - size) + self._reach)
            m = self._pattern.search(text, pos, end)
            if m is None:
                out.append(text[pos : pos + limit - size])
                break
            if m.end() == end < len(text):  # the window may have cut it short
                m = self._pattern.match(text, m.start()) or m
            out += (text[pos : m.start()], REDACTED)
            size += m.start() - pos + len(REDACTED)
            pos = m.end()
        return "".join(out)[:limit]


SHAPES_ONLY = Redactor()

_SECRET_NAME = re.compile(
    r"(?i)(?:^|[-_])(?:auth|authorization|token|secret|password|passwd|pass|pwd|cookie|session"
    r"|signature|credentials?)(?:$|[-_])|(?:^|[-_])(?:api[-_]?)?key$|^apikey$"
)


def secret_name(name: str) -> bool:
    """Whether a header, environment variable or config key of this name carries a secret
    (``Authorization``, ``X-Api-Key``, ``api_key``, ``GITHUB_TOKEN``, ``DB_PASSWORD`` …; not
    ``X-Title``, ``TZ``, ``key_prefix`` or ``total_tokens``)."""
    return _SECRET_NAME.search(name) is not None
