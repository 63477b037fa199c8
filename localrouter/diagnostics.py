"""Diagnostics: one model for every problem the compiler finds, and its renderers.

A :class:`Diagnostic` has a stable code (``LR1xx`` YAML, ``LR2xx`` schema, ``LR3xx`` references
and meaning, ``LR4xx`` CEL, ``LR5xx`` environment and reload), a severity, a message, an optional
1-based :class:`Span` and an optional help line. Renderers turn a list of them into text for a
person (``full``, the default of ``validate``), one line each (``concise``), JSON for tools, or
GitHub Actions annotations. This module is a leaf: it imports nothing of ours.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Severity(StrEnum):
    """How bad a diagnostic is. Warnings become errors under ``--strict``."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file: 1-based line and column, ``end_col`` exclusive."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a config, with where it is and how to fix it."""

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    help: str | None = None
    notes: tuple[str, ...] = field(default=())
    redact: bool = False  # the span holds a secret: never print its text

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def escalated(self) -> Diagnostic:
        """This diagnostic as an error (``--strict``)."""
        if self.is_error:
            return self
        return replace(self, severity=Severity.ERROR)

    def sort_key(self) -> tuple[str, int, int, str]:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (self.span.file, self.span.line, self.span.col, self.code)


def error(code: str, message: str, span: Span | None = None, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, help)


def warning(
    code: str, message: str, span: Span | None = None, help: str | None = None
) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, help)


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Stable order for output: by file, line, column, code; duplicates dropped."""
    seen: set[Diagnostic] = set()
    unique = []
    for d in diagnostics:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return sorted(unique, key=Diagnostic.sort_key)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


# ---------------------------------------------------------------- renderers

MAX_SNIPPET = 120  # characters of a source line shown in a snippet


def _head(d: Diagnostic) -> str:
    where = f"{d.span}: " if d.span else ""
    return f"{where}{d.severity.value}[{d.code}]: {d.message}"


def render_concise(diagnostics: Sequence[Diagnostic]) -> str:
    """One line a diagnostic, then its help indented: ``FILE:LINE:COL: error[CODE]: message``."""
    lines = []
    for d in diagnostics:
        lines.append(_head(d))
        lines.extend(f"  note: {note}" for note in d.notes)
        if d.help:
            lines.append(f"  help: {d.help}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_full(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    """rustc/ruff style: the head line, the source line with a caret under the span, help."""
    sources = sources or {}
    secret_spans = [d.span for d in diagnostics if d.redact and d.span is not None]
    blocks = []
    for d in diagnostics:
        out = [_head(d)]
        text = sources.get(d.span.file) if d.span else None
        if d.span is not None and text is not None:
            src_lines = text.splitlines()
            if 1 <= d.span.line <= len(src_lines):
                src = src_lines[d.span.line - 1].replace("\t", " ")
                gutter = " " * len(str(d.span.line))
                width = 1
                if d.span.end_line == d.span.line and d.span.end_col > d.span.col:
                    width = d.span.end_col - d.span.col
                width = max(1, min(width, max(1, len(src) - d.span.col + 1)))
                col = d.span.col
                for secret in secret_spans:  # never print a secret, whichever line shows it
                    if secret.file == d.span.file and secret.line == d.span.line:
                        end = secret.end_col if secret.end_line == secret.line else len(src) + 1
                        stars = "*" * min(max(end - secret.col, 1), 8)
                        src = src[: secret.col - 1] + stars + src[end - 1 :]
                if d.redact:
                    width = min(width, 8)
                if len(src) > MAX_SNIPPET:  # cut long lines around the caret
                    start = max(0, min(col - 1 - MAX_SNIPPET // 2, len(src) - MAX_SNIPPET))
                    src = ("…" if start else "") + src[start : start + MAX_SNIPPET] + "…"
                    col = col - start + (1 if start else 0)
                    width = min(width, MAX_SNIPPET - (col - 1))
                out.append(f"{gutter} |")
                out.append(f"{d.span.line} | {src}")
                out.append(f"{gutter} | {' ' * (col - 1)}{'^' * max(width, 1)}")
        for note in d.notes:
            out.append(f"note: {note}")
        if d.help:
            out.append(f"help: {d.help}")
        blocks.append("\n".join(out))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def to_json_obj(d: Diagnostic) -> dict[str, object]:
    obj: dict[str, object] = {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "help": d.help,
        "notes": list(d.notes),
    }
    if d.span is not None:
        obj.update(
            file=d.span.file,
            line=d.span.line,
            column=d.span.col,
            end_line=d.span.end_line or d.span.line,
            end_column=d.span.end_col or d.span.col,
        )
    else:
        obj.update(file=None, line=None, column=None, end_line=None, end_column=None)
    return obj


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([to_json_obj(d) for d in diagnostics], indent=2) + "\n"


def _gh_escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands: ``::error file=…,line=…,col=…,title=…::message``."""
    lines = []
    for d in diagnostics:
        props = []
        if d.span is not None:
            props.append(f"file={_gh_escape(d.span.file, prop=True)}")
            props.append(f"line={d.span.line}")
            props.append(f"col={d.span.col}")
            if d.span.end_line:
                props.append(f"endLine={d.span.end_line}")
            if d.span.end_line == d.span.line and d.span.end_col:
                props.append(f"endColumn={d.span.end_col}")
        props.append(f"title={_gh_escape(d.code, prop=True)}")
        message = d.message + "".join(f"\nnote: {note}" for note in d.notes)
        message += f"\nhelp: {d.help}" if d.help else ""
        lines.append(f"::{d.severity.value} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


Renderer = Callable[[Sequence[Diagnostic], Mapping[str, str]], str]

RENDERERS: Mapping[str, Renderer] = {
    "text": render_full,
    "concise": lambda ds, _src: render_concise(ds),
    "json": lambda ds, _src: render_json(ds),
    "github": lambda ds, _src: render_github(ds),
}
