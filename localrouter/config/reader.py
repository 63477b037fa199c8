"""Reading config text safely and composing it into YAML nodes.

Files over :data:`MAX_FILE_BYTES` are refused before they are read; nesting deeper than
:data:`MAX_DEPTH` (brackets) or :data:`MAX_INDENT` columns is refused before the parser recurses
into it (a deep enough document crashes the C composer); the C parser is tried first and the pure
one where the C parser refuses what YAML 1.2 allows.
"""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import Node

from localrouter.diagnostics import Diagnostic, Span, error

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_INDENT = 256

_BRACKETS = re.compile(r"[\[\]{}]")
_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\n]|'')*'|#[^\n]*")


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def too_deep(text: str, name: str) -> Diagnostic | None:
    """Refuse pathological nesting before the parser recurses into it (it can crash the process)."""
    depth = 0
    blanked = _QUOTED.sub(lambda m: " " * len(m.group()), text)  # keep offsets
    for m in _BRACKETS.finditer(blanked):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            line, col = _position(text, m.start())
            return _deep(name, line, col)
    for n, ln in enumerate(text.splitlines(), 1):
        if len(ln) - len(ln.lstrip(" ")) > MAX_INDENT:
            return _deep(name, n, MAX_INDENT + 1, f"indented more than {MAX_INDENT} columns")
    return None


def _deep(name: str, line: int, col: int, what: str = "") -> Diagnostic:
    return error(
        "LR104",
        what or f"nesting deeper than {MAX_DEPTH} levels",
        Span(name, line, col),
        "a LocalRouter config needs a handful of levels; flatten the nested values",
    )


def _yaml_error(exc: YAMLError, text: str, name: str) -> Diagnostic:
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        span = Span(name, mark.line + 1, mark.column + 1) if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
            hint = "YAML indentation uses spaces, not tabs"
        return error("LR101", f"invalid YAML: {problem}", span, hint)
    position = getattr(exc, "position", None)
    span = Span(name, *_position(text, position)) if isinstance(position, int) else None
    reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return error(
        "LR101",
        f"invalid YAML: {reason}",
        span or Span(name, 1, 1),
        "remove the control character (a config is printable UTF-8 text)",
    )


PURE_RETRY_BYTES = 256 * 1024


def compose(text: str, name: str) -> tuple[Node | None, Diagnostic | None]:
    """Compose with the C parser; where it refuses what YAML 1.2 allows (a ':' inside a plain
    scalar in a flow collection, e.g. `[ollama/qwen2.5-coder:7b]`), ask the pure parser, which
    also words errors better. The pure parser is ~5x slower, so only texts up to
    :data:`PURE_RETRY_BYTES` get that second opinion."""
    try:
        return YAML(typ="safe").compose(text), None
    except YAMLError as exc:
        if len(text) > PURE_RETRY_BYTES:
            return None, _yaml_error(exc, text, name)
    try:
        return YAML(typ="safe", pure=True).compose(text), None
    except YAMLError as exc:
        return None, _yaml_error(exc, text, name)


def read_text(path: Path, name: str) -> tuple[str | None, list[Diagnostic]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [
                error(
                    "LR107",
                    f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit",
                    Span(name, 1, 1),
                    "split the config into several files in one directory",
                )
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [
            error("LR501", f"cannot read config: {exc.strerror or exc}", Span(name, 1, 1))
        ]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        head = raw[: exc.start]
        line = head.count(b"\n") + 1
        col = len(head) - (head.rfind(b"\n") + 1) + 1
        return None, [
            error(
                "LR101",
                f"file is not UTF-8 ({exc.reason})",
                Span(name, line, col),
                "save the file as UTF-8",
            )
        ]
