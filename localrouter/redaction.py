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
# how much of a text is looked at before it is cut to an excerpt's length: enough that no secret
# can straddle the cut (a redacted excerpt of n characters depends on at most n + len(secret))
_WINDOW = 16 * 1024

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

    __slots__ = ("_count", "_pattern")

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._count = len(values)
        # longest first: a secret that contains another is replaced whole
        parts = [re.escape(v) for v in values]
        self._pattern = re.compile("|".join([*parts, *KEY_SHAPES])) if parts else _SHAPES

    def __repr__(self) -> str:
        return f"Redactor({self._count} secret values)"

    def redact(self, text: str, mark: str = REDACTED) -> str:
        """``text`` with every secret replaced by ``mark``."""
        return self._pattern.sub(mark, text)

    def excerpt(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of ``text`` after redaction (redact, then cut)."""
        return self.redact(text[: max(_WINDOW, limit * 4)])[:limit]


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
