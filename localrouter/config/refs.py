"""Model references as written in strategies: ``provider/model``, globs, and matching them.

``provider/model`` splits at the first ``/`` (OpenRouter model names contain slashes themselves).
Globs use shell syntax (``*``, ``?``, ``[abc]``); a reference without ``/`` must be a glob over
whole ids (``*``). Each reference compiles once to a regular expression.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localrouter.compiler.table import ModelInfo

_GLOB_CHARS = frozenset("*?[")


def is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


@dataclass(frozen=True)
class ModelRef:
    text: str
    provider: str  # the provider part (may itself be a glob); "" for a whole-id glob like "*"
    model: str  # the model part; "" for a whole-id glob
    pattern: re.Pattern[str]

    @property
    def is_glob(self) -> bool:
        return is_glob(self.text)

    def matches(self, model_id: str) -> bool:
        return self.pattern.fullmatch(model_id) is not None


def _glob_problem(text: str) -> str | None:
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
    if depth:
        return "has a '[' without its closing ']'"
    return None


def parse_ref(text: str) -> ModelRef | str:
    """A parsed reference, or a message saying what is wrong with it."""
    if not text or text != text.strip() or any(c.isspace() for c in text):
        return "a model reference is `provider/model` or a glob, without spaces"
    problem = _glob_problem(text)
    if problem:
        return f"glob '{text}' {problem}"
    if "/" in text:
        provider, model = text.split("/", 1)
        if not provider or not model:
            return f"'{text}' must be `provider/model` with both parts"
    elif is_glob(text):
        provider, model = "", ""
    else:
        return f"'{text}' names no provider: write `provider/{text}`"
    return ModelRef(text, provider, model, re.compile(fnmatch.translate(text)))


class CatalogIndex:
    """Models sorted by id, indexed by provider and id, built once per compile."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self.models = sorted(models, key=lambda m: m.id)
        self.by_id = {m.id: m for m in self.models}
        self.by_provider: dict[str, list[ModelInfo]] = {}
        for m in self.models:
            self.by_provider.setdefault(m.provider, []).append(m)

    def scope(self, ref: ModelRef) -> list[ModelInfo]:
        """The models a reference can match at all (its provider's, unless that is a glob)."""
        if ref.provider and not is_glob(ref.provider):
            return self.by_provider.get(ref.provider, [])
        return self.models

    def match(self, ref: ModelRef) -> list[ModelInfo]:
        return [m for m in self.scope(ref) if ref.pattern.fullmatch(m.id)]


def expand(
    refs: Sequence[ModelRef],
    catalog: CatalogIndex,
    listed: dict[str, ModelInfo] | None = None,
) -> list[ModelInfo]:
    """The models ``refs`` select, in reference order, each once.

    A glob selects catalog models (sorted by id); an exact reference selects its model, taken from
    ``listed`` when the catalog does not have it (the provider may still serve it).
    """
    out: dict[str, ModelInfo] = {}
    for ref in refs:
        if ref.is_glob:
            for m in catalog.match(ref):
                out.setdefault(m.id, m)
        else:
            m_exact = catalog.by_id.get(ref.text) or (listed or {}).get(ref.text)
            if m_exact is not None:
                out.setdefault(m_exact.id, m_exact)
    return list(out.values())
