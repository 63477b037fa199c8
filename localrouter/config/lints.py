"""Policy lints: configs that are valid but say something the user probably did not mean.

A ``privacy: local_only`` strategy that can reach a non-local model (an error), and a client limit
looser than its strategy's shared one (a warning: it can never bind). Mixed into the semantic
checker, whose helpers (``err``, ``warn``) and data (``c``, ``catalog``) they use.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from localrouter.compiler.table import ModelInfo
from localrouter.config.refs import ModelRef, parse_ref
from localrouter.config.source import PathKey
from localrouter.config.spec import ConfigSpec, LimitSpec
from localrouter.config.units import limit_metric, window_seconds


class PolicyLints:
    c: ConfigSpec
    catalog: dict[str, tuple[ModelInfo, ...]]

    def err(
        self, code: str, msg: str, path: PathKey, help: str | None = None, *, key: bool = False
    ) -> None:
        raise NotImplementedError

    def warn(
        self, code: str, msg: str, path: PathKey, help: str | None = None, *, key: bool = False
    ) -> None:
        raise NotImplementedError

    def privacy(self, sname: str, refs: list[tuple[int, ModelRef]]) -> None:
        for path_i, ref in refs:
            for pname, p in self.c.providers.items():
                models = self.catalog.get(pname, ())
                reach = [m for m in models if ref.matches(m.id) and m.kind != "local"]
                provider_kind = models[0].kind if models else (p.kind or "api")
                if (
                    not reach
                    and p.discover
                    and provider_kind != "local"
                    and (
                        ref.provider == pname
                        or (ref.is_glob and parse_ref(f"{pname}/x") and _provider_glob(ref, pname))
                    )
                ):
                    reach = [ModelInfo(pname, "*", provider_kind)]
                if reach:
                    path = self._ref_path(sname, ref.text)
                    self.err(
                        "LR314",
                        f"strategy '{sname}' is local_only but '{ref.text}' can reach "
                        f"non-local model '{reach[0].id}'",
                        path or ("strategies", sname, "privacy"),
                        "narrow the reference to local providers (e.g. ollama/*)",
                    )
                    break
            del path_i

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
                    f"client limit {m[1]:g} {m[0]} per {lim.per} is looser than strategy "
                    f"'{sname}''s {other[0]:g} per {other[1]}",
                    ("clients", cname, "limits", i),
                    "the strategy's limit is shared by all its clients, so this one never binds",
                )


def _provider_glob(ref: ModelRef, pname: str) -> bool:
    if ref.provider:
        return fnmatch.fnmatchcase(pname, ref.provider)
    return ref.matches(f"{pname}/x") or ref.text.startswith("*")
