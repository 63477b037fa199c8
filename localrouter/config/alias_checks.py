"""A strategy's ``aliases``: what a pattern and a target may be, and the meaning checks on them.

A pattern is a model name a client sends, with ``*`` (any run) and ``?`` (one character) as the
only wildcards; it is matched against the whole name, case-sensitively. A target is ``auto``,
``localrouter/NAME`` or ``provider/model``. The compiler (:mod:`localrouter.compiler.aliases`)
checks what only the compiled candidates tell: that a ``provider/model`` target is allowed.
:class:`AliasChecks` is mixed into the semantic checker, whose data and helpers it uses.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from localrouter.config.lints import PolicyLints
from localrouter.config.refs import ModelRef, parse_ref
from localrouter.config.source import PathKey
from localrouter.diagnostics import Diagnostic, Span, error

MAX_PATTERN = 256
_PATTERN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@+*?"
)
_PATTERN_HELP = (
    "letters, digits and . _ - : / @ +, with the wildcards '*' (any run) and '?' (one character)"
)


def pattern_problem(pattern: str) -> tuple[str, str] | None:
    """What is wrong with an alias pattern, as (message, help); None when it is usable."""
    if not pattern:
        return "an alias pattern is empty", 'write the model name a client sends, e.g. "claude-*"'
    if len(pattern) > MAX_PATTERN:
        return (
            f"alias pattern is {len(pattern)} characters long (the limit is {MAX_PATTERN})",
            "a model name is far shorter: shorten the pattern",
        )
    bad = sorted({c for c in pattern if c not in _PATTERN_CHARS})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        extra = " ('[' is not a wildcard here)" if "[" in bad else ""
        return f"alias pattern {pattern!r} has characters a model name does not: {shown}{extra}", (
            _PATTERN_HELP
        )
    if pattern == "auto" or pattern.startswith("localrouter/"):
        return (
            f"alias pattern '{pattern}' names the gateway's own models",
            "`auto`, an absent model and `localrouter/…` always mean what they say: "
            "they are never aliased",
        )
    return None


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a valid pattern (only ``*`` and ``?`` are special in it)."""
    return re.compile(fnmatch.translate(pattern))


def _tokens(pattern: str) -> tuple[str, ...]:
    """The pattern with each run of wildcards normalised (``*?`` = ``?*``, ``**`` = ``*``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] in "*?":
            j = i
            while j < len(pattern) and pattern[j] in "*?":
                j += 1
            run = pattern[i:j]
            out.extend("?" * run.count("?"))
            if "*" in run:
                out.append("*")
            i = j
        else:
            out.append(pattern[i])
            i += 1
    return tuple(out)


def covers(earlier: str, later: str) -> bool:
    """True when every name ``later`` matches is matched by ``earlier`` too (so ``later`` can
    never be the first match). Sound: True is always right; a rare covering of one star by
    several may be missed, and then no warning is given."""
    a, b = _tokens(earlier), _tokens(later)

    @cache
    def step(i: int, j: int) -> bool:
        if i == len(a):
            return j == len(b)
        if a[i] == "*":  # matches nothing more, or swallows b's next token (a star included)
            return step(i + 1, j) or (j < len(b) and step(i, j + 1))
        if j == len(b) or b[j] == "*":
            return False
        return (a[i] == "?" or a[i] == b[j]) and step(i + 1, j + 1)

    return step(0, 0)


@dataclass(frozen=True)
class Target:
    """An alias target, read: ``auto``, a strategy (``localrouter/NAME``), a model, or bad."""

    kind: Literal["auto", "strategy", "model", "bad"]
    name: str = ""  # the strategy's name, or the model's id
    ref: ModelRef | None = None
    problem: tuple[str, str | None] | None = None  # (message, help) for a bad one


def parse_target(target: str) -> Target:
    if target in ("auto", "localrouter/auto"):
        return Target("auto")
    if target.startswith("localrouter/"):
        return Target("strategy", target.split("/", 1)[1])
    if "/" in target:
        ref = parse_ref(target)
        if isinstance(ref, str):
            return Target("bad", problem=(f"alias target: {ref}", None))
        if ref.is_glob:
            return Target(
                "bad",
                problem=(
                    f"alias target '{target}' is a glob: a target is one model",
                    "name one model, or alias to auto to let the strategy choose",
                ),
            )
        return Target("model", target, ref)
    hint = f"write `provider/{target}`, or auto" if target.strip() else "write auto"
    return Target(
        "bad",
        problem=(f"alias target '{target}' is not auto, localrouter/NAME or provider/model", hint),
    )


class AliasChecks(PolicyLints):
    out: list[Diagnostic]
    broken: set[tuple[str, str]]
    partial: bool

    def suggest(self, word: str, choices: Iterable[str], section: str) -> str | None:
        raise NotImplementedError

    def _part_span(self, path: PathKey, length: int) -> Span | None:
        raise NotImplementedError

    def aliases(self, sname: str) -> None:
        """Each pattern well formed and reachable (not covered by an earlier one), each target
        something a client of ``sname`` could name."""
        base = ("strategies", sname, "aliases")
        kept: list[str] = []
        for pattern, target in self.c.strategies[sname].aliases.items():
            path = (*base, pattern)
            problem = pattern_problem(pattern)
            if problem is not None:
                self.err("LR328", problem[0], path, problem[1], key=True)
            else:
                earlier = next((p for p in kept if covers(p, pattern)), None)
                if earlier is not None:
                    self.warn(
                        "LR331",
                        f"alias '{pattern}' can never match",
                        path,
                        f"alias '{earlier}' before it matches every name it does (the first "
                        "match wins): move it above, or remove it",
                        key=True,
                    )
                kept.append(pattern)
            self.alias_target(sname, target, path)

    def alias_target(self, sname: str, target: str, path: PathKey) -> None:
        t = parse_target(target)
        if t.problem is not None:
            self.err("LR329", t.problem[0], path, t.problem[1])
        elif t.kind == "strategy" and t.name != sname:
            if t.name in self.c.strategies:
                self.warn(
                    "LR332",
                    f"clients of strategy '{sname}' may not use strategy '{t.name}': "
                    "every request this alias matches is refused (403)",
                    path,
                    f"a client names only its own strategy: alias to auto, or to a model of "
                    f"'{sname}'",
                )
            elif ("strategies", t.name) not in self.broken and not self.partial:
                self.err(
                    "LR329",
                    f"alias target names unknown strategy '{t.name}'",
                    path,
                    self.suggest(t.name, self.c.strategies, "strategies"),
                )
        elif t.kind == "model" and t.ref is not None:
            provider = t.ref.provider
            if provider in self.c.providers:
                return
            if ("providers", provider) in self.broken or self.partial:
                return
            self.out.append(
                error(
                    "LR329",
                    f"alias target names unknown provider '{provider}'",
                    self._part_span(path, len(provider)),
                    self.suggest(provider, self.c.providers, "providers"),
                )
            )
