"""Policy lints: configs that are valid but say something the user probably did not mean.

A ``privacy: local_only`` strategy that can reach a non-local model (an error), and a client limit
looser than its strategy's shared one (a warning: it can never bind). Mixed into the semantic
checker, whose helpers (``err``, ``warn``) and data (``c``, ``catalog``) they use.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from localrouter.compiler.table import ModelInfo
from localrouter.config.provider_types import default_kind
from localrouter.config.refs import ModelRef
from localrouter.config.source import PathKey
from localrouter.config.spec import ConfigSpec, LimitSpec
from localrouter.config.units import limit_metric, window_seconds


class PolicyLints:
    c: ConfigSpec
    catalog: dict[str, tuple[ModelInfo, ...]]

    def err(
        self,
        code: str,
        msg: str,
        path: PathKey,
        help: str | None = None,
        *,
        key: bool = False,
        redact: bool = False,
    ) -> None:
        raise NotImplementedError

    def warn(
        self,
        code: str,
        msg: str,
        path: PathKey,
        help: str | None = None,
        *,
        key: bool = False,
        redact: bool = False,
    ) -> None:
        raise NotImplementedError

    def privacy(self, sname: str, refs: list[tuple[int, ModelRef]]) -> None:
        """Each reference of a local_only strategy must reach local models only: none of the
        catalog's non-local models, and no non-local provider that may discover more."""
        for _i, ref in refs:
            for pname, p in self.c.providers.items():
                kind = p.kind or default_kind(p.type, p.base_url, p.preset)
                remote = [
                    m
                    for m in self.catalog.get(pname, ())
                    if m.kind != "local" and ref.matches(m.id)
                ]
                if not remote and p.discover and kind != "local" and reaches(ref, pname):
                    remote = [ModelInfo(pname, "*", kind)]
                if remote:
                    self.err(
                        "LR314",
                        f"strategy '{sname}' is local_only but '{ref.text}' can reach "
                        f"non-local model '{remote[0].id}'",
                        self._ref_path(sname, ref.text) or ("strategies", sname, "privacy"),
                        "name local providers only, e.g. ollama/*",
                    )
                    break

    def _ref_path(self, sname: str, text: str) -> PathKey | None:
        s = self.c.strategies[sname]
        if text in s.models:
            return ("strategies", sname, "models", s.models.index(text))
        for ri, r in enumerate(s.routes):
            if text in r.models:
                return ("strategies", sname, "routes", ri, "models", r.models.index(text))
        return None

    def looser(
        self, cname: str, mine: Sequence[LimitSpec], theirs: Sequence[LimitSpec], sname: str
    ) -> None:
        shared = {}
        for lim in theirs:
            m = limit_metric(lim)
            if m:
                shared[(m[0], window_seconds(lim.per))] = (m[1], lim.per)
        for i, lim in enumerate(mine):
            m = limit_metric(lim)
            if not m:
                continue
            other = shared.get((m[0], window_seconds(lim.per)))
            if other and m[1] > other[0]:
                self.warn(
                    "LR315",
                    f"client limit {m[1]:g} {m[0]} per {lim.per} is looser than the "
                    f"{other[0]:g} per {other[1]} of strategy '{sname}'",
                    ("clients", cname, "limits", i),
                    "the strategy's limit is shared by all its clients, so this one never binds",
                )


def reaches(ref: ModelRef, provider: str) -> bool:
    """Whether a reference can select models of ``provider`` at all."""
    if ref.provider:
        return fnmatch.fnmatchcase(provider, ref.provider)
    return ref.pattern.fullmatch(f"{provider}/x") is not None or ref.text.startswith("*")
