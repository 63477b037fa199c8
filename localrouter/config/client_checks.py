"""Meaning checks of ``clients`` and of limit entries: a strategy or a model (one, not a glob)
per client, known references, bcrypt hashes, unique key prefixes, one metric per limit and
windows up to 366 days. Mixed into the semantic checker (:mod:`localrouter.config.semantic`),
whose data and helpers it uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from localrouter.config.lints import PolicyLints
from localrouter.config.refs import ModelRef
from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import BCRYPT_HASH, LIMIT_METRICS, LimitSpec
from localrouter.config.units import MAX_WINDOW_S, window_seconds


class ClientChecks(PolicyLints):
    spans: SpanIndex
    broken: set[tuple[str, str]]
    damaged: set[tuple[str, str]]
    partial: bool

    def suggest(self, word: str, choices: Iterable[str], section: str) -> str | None:
        raise NotImplementedError

    def refs(
        self, refs: Sequence[str], path: PathKey, *, check_models: bool = True
    ) -> list[tuple[int, ModelRef]]:
        raise NotImplementedError

    def limits(self, limits: Sequence[LimitSpec], path: PathKey) -> None:
        for i, lim in enumerate(limits):
            n = sum(getattr(lim, m) is not None for m in LIMIT_METRICS)
            if n != 1:
                self.err(
                    "LR311",
                    f"a limit takes exactly one metric, this one has {n}",
                    (*path, i),
                    f"one entry per metric ({', '.join(LIMIT_METRICS)}), "
                    "e.g. - {requests: 60, per: 1h}",
                )
            if window_seconds(lim.per) > MAX_WINDOW_S:
                self.err(
                    "LR312",
                    f"window '{lim.per}' is longer than 366d",
                    (*path, i, "per"),
                    "the longest window is 366d",
                )

    def clients(self) -> None:
        prefixes: dict[str, str] = {}
        for cname, cl in self.c.clients.items():
            base = ("clients", cname)
            if cl.strategy is not None and cl.model is not None:
                self.err(
                    "LR308",
                    f"client '{cname}' names both a `strategy` and a `model`",
                    (*base, "model"),
                    "keep either the strategy or the fixed model",
                    key=True,
                )
            elif cl.strategy is None and cl.model is None and base not in self.damaged:
                self.err(
                    "LR308",
                    f"client '{cname}' needs a `strategy` or a `model`",
                    base,
                    "e.g. strategy: minimum-cost",
                    key=True,
                )
            if (
                cl.strategy is not None
                and cl.strategy not in self.c.strategies
                and ("strategies", cl.strategy) not in self.broken
                and not self.partial
            ):
                self.err(
                    "LR301",
                    f"unknown strategy '{cl.strategy}'",
                    (*base, "strategy"),
                    self.suggest(cl.strategy, self.c.strategies, "strategies"),
                )
            if cl.model is not None:
                got = self.refs([cl.model], (*base, "model"))
                if got and got[0][1].is_glob:
                    self.err(
                        "LR306",
                        "a client's `model` is one model, not a glob",
                        (*base, "model"),
                        "use a strategy for several models",
                    )
            if not BCRYPT_HASH.match(cl.key_hash):
                self.err(
                    "LR310",
                    "key_hash is not a bcrypt hash",
                    (*base, "key_hash"),
                    "`localrouter keys create` writes key_prefix and key_hash",
                    redact=True,
                )
            if cl.key_prefix in prefixes:
                other = prefixes[cl.key_prefix]
                self.err(
                    "LR309",
                    f"key_prefix '{cl.key_prefix}' is also used by client '{other}'",
                    (*base, "key_prefix"),
                    f"client '{other}' is defined at {self.spans.key_span(('clients', other))}; "
                    f"rotate one of the keys (`localrouter keys rotate {cname}`)",
                )
            prefixes.setdefault(cl.key_prefix, cname)
            self.limits(cl.limits, (*base, "limits"))
            if cl.strategy in self.c.strategies:
                self.looser(cname, cl.limits, self.c.strategies[cl.strategy].limits, cl.strategy)
