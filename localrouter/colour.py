"""Colour for diagnostics shown to a person: on a terminal only, and as the environment says.

:func:`wanted` decides for one stream: ``NO_COLOR`` set and non-empty never colours (it wins);
``FORCE_COLOR`` set, non-empty and not ``0``/``false`` colours even a pipe or a file; otherwise
only a terminal (``isatty``) whose ``TERM`` is not ``dumb``. :func:`diagnostics` colours text the
``text`` and ``concise`` renderers of :mod:`localrouter.diagnostics` made, at output time: the
renderers (and the golden files that pin them) stay plain, and colour changes no character but
adds ANSI escapes around the severity, the caret line, ``note:`` and ``help:``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TextIO

RESET = "\x1b[0m"
_STYLES = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "caret": "\x1b[1;31m",
           "help": "\x1b[1;36m", "note": "\x1b[1;34m", "gutter": "\x1b[34m"}  # fmt: skip

_SEVERITY = re.compile(r"\b(error|warning)(\[LR\d+\]):")
_CARET = re.compile(r"^(\s*\d*\s*\|)( *)(\^+)$")
_GUTTER = re.compile(r"^(\s*\d*\s*\|)")
_LABEL = re.compile(r"^(\s*)(help|note):")


def wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether text written to ``stream`` should be coloured (see the module doc)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False  # NO_COLOR wins over everything
    force = env.get("FORCE_COLOR", "")
    if force and force.lower() not in ("0", "false"):
        return True
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _line(line: str) -> str:
    caret = _CARET.match(line)
    if caret:
        gutter, pad, marks = caret.groups()
        return f"{_STYLES['gutter']}{gutter}{RESET}{pad}{_STYLES['caret']}{marks}{RESET}"
    gutter = _GUTTER.match(line)  # a source line: its text is the user's, never coloured
    if gutter:
        return f"{_STYLES['gutter']}{gutter.group(1)}{RESET}{line[gutter.end() :]}"
    label = _LABEL.match(line)
    if label:
        indent, word = label.groups()
        rest = line[label.end() :]
        return f"{indent}{_STYLES[word]}{word}:{RESET}{rest}"
    head = _SEVERITY.search(line)
    if head:
        word, code = head.groups()
        return f"{line[: head.start()]}{_STYLES[word]}{word}{code}{RESET}:{line[head.end() :]}"
    return line


def diagnostics(text: str) -> str:
    """``text`` (from the text or concise renderer) with ANSI colours added."""
    return "\n".join(_line(line) for line in text.split("\n"))


def for_stream(text: str, stream: TextIO) -> str:
    """``text`` coloured when :func:`wanted` says so for ``stream``, else unchanged."""
    return diagnostics(text) if wanted(stream) else text
