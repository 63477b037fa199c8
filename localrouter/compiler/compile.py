"""compile(config, catalog) → RoutingTable: pure and deterministic.

Globs are expanded against the catalog, excludes and ``params_b`` ranges applied, candidates
pre-ordered by the static ORDER keys, CEL compiled once into predicates, and the whole table given
a sha256 over its canonical content. Problems found on the way (CEL errors, shadowed routes) come
back as diagnostics with spans mapped into the YAML; a table is returned only when there are none
of severity error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from localrouter.compiler.aliases import compile_aliases
from localrouter.compiler.catalog import params_from_name
from localrouter.compiler.cel import CelProblem, Predicate, Scope, compile_predicate
from localrouter.compiler.mcp_compile import SkillCompiler, compile_policy, compile_servers
from localrouter.compiler.mcp_table import NO_MCP
from localrouter.compiler.settings import compile_settings
from localrouter.compiler.table import (
    Client,
    Fallback,
    LimitPolicy,
    ModelInfo,
    Provider,
    Route,
    RoutingTable,
    SecretValue,
    Strategy,
)
from localrouter.config.provider_types import TYPES, default_base_url, default_kind
from localrouter.config.refs import CatalogIndex, ModelRef, expand, parse_ref
from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import (
    ConfigSpec,
    LimitSpec,
    ParamsRange,
    ResponsesSpec,
    ServerSpec,
    secret_ref,
)
from localrouter.config.units import limit_metric, window_seconds
from localrouter.diagnostics import Diagnostic, Span, error, has_errors, warning
from localrouter.routing.order import sort_candidates


@dataclass(frozen=True)
class CompileResult:
    table: RoutingTable | None
    diagnostics: tuple[Diagnostic, ...]


def _limits(scope: str, owner: str, specs: Sequence[LimitSpec]) -> tuple[LimitPolicy, ...]:
    out = []
    for spec in specs:
        m = limit_metric(spec)
        if m is not None:
            out.append(
                LimitPolicy(scope, owner, m[0], float(m[1]), spec.per, window_seconds(spec.per))
            )
    return tuple(out)


def _secret(value: str | None) -> SecretValue | None:
    if value is None:
        return None
    ref = secret_ref(value)
    return SecretValue(ref[0], ref[1]) if ref else SecretValue("literal", "", value)


class _Compiler:
    def __init__(
        self,
        config: ConfigSpec,
        catalog: Mapping[str, tuple[ModelInfo, ...]],
        spans: SpanIndex | None,
    ) -> None:
        self.c = config
        self.catalog = catalog
        self.all_models = [m for ms in catalog.values() for m in ms]
        self.index = CatalogIndex(self.all_models)
        self._cel_cache: dict[tuple[str, Scope], Predicate | tuple[CelProblem, ...]] = {}
        self.spans = spans or SpanIndex()
        self.diagnostics: list[Diagnostic] = []
        self.kinds = {
            n: p.kind or default_kind(p.type, p.base_url, p.preset)
            for n, p in config.providers.items()
        }

    def predicate(self, source: str, scope: Scope, path: PathKey) -> Predicate | None:
        got = self._cel_cache.get((source, scope))
        if got is None:  # predicates are immutable: one compile per distinct expression
            got = self._cel_cache[(source, scope)] = compile_predicate(source, scope)
        if isinstance(got, Predicate):
            return got
        for problem in got:
            self.diagnostics.append(self._cel_diag(problem, path))
        return None

    def _cel_diag(self, p: CelProblem, path: PathKey) -> Diagnostic:
        span: Span | None = self.spans.scalar_offset_span(path, p.line, p.col, p.length)
        return error(p.code, p.message, span, p.help)

    def listed(self, refs: Sequence[ModelRef]) -> dict[str, ModelInfo]:
        """Exact references the catalog lacks: still candidates (the provider may serve them)."""
        out = {}
        for ref in refs:
            if not ref.is_glob and ref.provider in self.c.providers:
                p = self.c.providers[ref.provider]
                if p.discover or p.type == "mock":
                    out[ref.text] = ModelInfo(
                        ref.provider,
                        ref.model,
                        self.kinds[ref.provider],
                        params_b=params_from_name(ref.model),
                        source="listed",
                    )
        return out

    def route(
        self,
        name: str,
        when: Predicate | None,
        models: Sequence[str],
        exclude: Sequence[str],
        params: ParamsRange | None,
        order: Sequence[str],
    ) -> Route:
        refs = [r for r in map(parse_ref, models) if isinstance(r, ModelRef)]
        ex = [r for r in map(parse_ref, exclude) if isinstance(r, ModelRef)]
        picked = expand(refs, self.index, self.listed(refs))
        kept: list[ModelInfo] = []
        left_out: list[tuple[str, str]] = []
        for m in picked:
            hit = next((r for r in ex if r.matches(m.id)), None)
            if hit is not None:
                left_out.append((m.id, f"excluded by '{hit.text}'"))
                continue
            reason = _params_reason(m, params)
            if reason:
                left_out.append((m.id, reason))
                continue
            kept.append(m)
        ranked = sort_candidates(kept, order)
        return Route(name, when, tuple(ranked), tuple(order), tuple(left_out), tuple(models))

    def strategy(self, sname: str) -> Strategy:
        s = self.c.strategies[sname]
        base: PathKey = ("strategies", sname)
        order = tuple(s.order or ())
        routes = []
        always_at: int | None = None
        for i, r in enumerate(s.routes):
            rname = r.name or f"route-{i + 1}"
            when = self.predicate(r.when, "route", (*base, "routes", i, "when"))
            if always_at is not None:
                self.diagnostics.append(
                    warning(
                        "LR316",
                        f"route '{rname}' can never match",
                        self.spans.span((*base, "routes", i, "when")),
                        f"route {always_at + 1} before it is always true; reorder or narrow it",
                    )
                )
            elif when is not None and when.is_constant_true:
                always_at = i
            routes.append(
                self.route(
                    rname,
                    when,
                    r.models,
                    [*s.exclude, *r.exclude],
                    s.params_b,
                    tuple(r.order or order),
                )
            )
        if always_at is not None and s.models:
            self.diagnostics.append(
                warning(
                    "LR316",
                    f"the own `models` of strategy '{sname}' are never used",
                    self.spans.key_span((*base, "models")),
                    f"route {always_at + 1} is always true, so no request falls through to them",
                )
            )
        flt = self.predicate(s.filter, "filter", (*base, "filter")) if s.filter else None
        default = self.route("default", None, s.models, s.exclude, s.params_b, order)
        aliases, problems = compile_aliases(
            sname, s, (default, *routes), self.c.providers, self.index, self.spans
        )
        self.diagnostics += problems
        lo, hi = s.fallback.backoff_ms
        return Strategy(
            sname,
            tuple(routes),
            default,
            flt,
            Fallback(s.fallback.attempts, lo, hi),
            _limits("strategy", sname, s.limits),
            s.privacy,
            compile_policy(sname, s, self.predicate),
            aliases=aliases,
        )

    def run(self, base_dir: Path | None, source_files: Sequence[str]) -> CompileResult:
        c = self.c
        providers = {}
        for pname, p in sorted(c.providers.items()):
            t = TYPES[p.type]
            headers: dict[str, str | SecretValue] = dict(t.extra_headers)
            for h, v in p.headers.items():
                ref = secret_ref(v)
                headers[h] = SecretValue(ref[0], ref[1]) if ref else v
            providers[pname] = Provider(
                pname,
                p.type,
                t.wire,
                (p.base_url or default_base_url(p.type, p.preset) or "").rstrip("/") or None,
                _secret(p.api_key),
                self.kinds[pname],
                p.timeout.connect_s,
                p.timeout.read_s,
                MappingProxyType(headers),
                _limits("provider", pname, p.limits),
                p.discover,
                int(p.max_response_mb * 1024 * 1024),
                int(p.max_event_kb * 1024),
            )
        strategies = {n: self.strategy(n) for n in sorted(c.strategies)}
        clients = {}
        for cname, cl in sorted(c.clients.items()):
            sname = cl.strategy or f"={cl.model}"
            if cl.model is not None and sname not in strategies:
                only = self.route("default", None, [cl.model], [], None, ())
                strategies[sname] = Strategy(
                    sname, (), only, None, Fallback(), (), "any", NO_MCP, implicit=True
                )
            clients[cname] = Client(
                cname,
                cl.key_prefix,
                cl.key_hash,
                sname,
                tuple(cl.tags),
                _limits("client", cname, cl.limits),
                cl.enabled,
                cl.admin,
                cl.model,
            )
        skills = SkillCompiler(c, self._cel_diag)
        compiled_skills = skills.run()
        self.diagnostics += skills.diagnostics
        if has_errors(self.diagnostics):
            return CompileResult(None, tuple(self.diagnostics))
        models = {m.id: m for m in self.all_models}
        table = RoutingTable(
            sha256=table_sha(c, self.catalog),
            providers=MappingProxyType(providers),
            models=MappingProxyType(models),
            strategies=MappingProxyType(strategies),
            clients=MappingProxyType(clients),
            clients_by_prefix=MappingProxyType({cl.key_prefix: n for n, cl in clients.items()}),
            settings=compile_settings(c, base_dir),
            mcp_servers=compile_servers(c),
            skills=compiled_skills,
            tests=tuple(c.tests),
            cel_models=MappingProxyType(
                {i: MappingProxyType(m.cel_fields()) for i, m in models.items()}
            ),
            source_files=tuple(source_files),
        )
        return CompileResult(table, tuple(self.diagnostics))


def _params_reason(m: ModelInfo, params: ParamsRange | None) -> str | None:
    if params is None or (params.min is None and params.max is None):
        return None
    if m.params_b is None:
        return "parameter count unknown (params_b range set)"
    if params.min is not None and m.params_b < params.min:
        return f"params_b {m.params_b:g} below min {params.min:g}"
    if params.max is not None and m.params_b > params.max:
        return f"params_b {m.params_b:g} above max {params.max:g}"
    return None


def table_sha(config: ConfigSpec, catalog: Mapping[str, tuple[ModelInfo, ...]]) -> str:
    """sha256 over the canonical config and catalog: equal content, equal sha."""
    dumped = config.model_dump(mode="json", by_alias=True, exclude={"schema_"})
    if dumped["server"]["http_server"] == ServerSpec().http_server:
        # the default server leaves the sha of a config that does not name one as it was
        del dumped["server"]["http_server"]
    if dumped["server"]["responses"] == ResponsesSpec().model_dump(mode="json"):
        del dumped["server"]["responses"]  # likewise the default stored-responses settings
    if dumped["server"]["dashboard"] is ServerSpec().dashboard:
        del dumped["server"]["dashboard"]  # and the dashboard's switch
    for strategy in dumped["strategies"].values():
        # aliases are ordered (the first match wins), and the keys below are sorted: keep their
        # order as a list of pairs; none at all leaves the sha of a config without them as it was
        aliases = strategy.pop("aliases", None)
        if aliases:
            strategy["aliases"] = [[pattern, target] for pattern, target in aliases.items()]
    _drop_mcp_defaults(dumped)
    doc: dict[str, Any] = {
        "config": dumped,
        "catalog": {p: [asdict(m) for m in ms] for p, ms in sorted(catalog.items())},
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


_SERVER_DEFAULTS = {"start": "at_start", "connect_timeout_s": 10, "call_timeout_s": 60}


def _drop_mcp_defaults(dumped: dict[str, Any]) -> None:
    """The MCP keys' defaults (and a limit's unset ``tool_calls``) left out of the sha: a config
    that does not use them keeps the sha it had before they existed."""
    limits = [lim for p in dumped["providers"].values() for lim in p["limits"]]
    for strategy in dumped["strategies"].values():
        limits += strategy["limits"]
        if strategy.get("mcp", 0) is None:
            del strategy["mcp"]
        if strategy.get("mcp_servers", 0) is None:
            strategy["mcp_servers"] = []
    limits += [lim for c in dumped["clients"].values() for lim in c["limits"]]
    for lim in limits:
        if lim.get("tool_calls", 0) is None:
            del lim["tool_calls"]
    for server in dumped["mcp_servers"].values():
        for key, default in _SERVER_DEFAULTS.items():
            if server.get(key) == default:
                del server[key]
    if not dumped.get("skills", 1):
        del dumped["skills"]
    for test in dumped["tests"]:
        if test.get("tool", 0) is None:
            del test["tool"]
        for key in ("tools_include", "tools_exclude", "tool"):
            if test["expect"].get(key, 0) is None:
                del test["expect"][key]


def compile_config(
    config: ConfigSpec,
    catalog: Mapping[str, tuple[ModelInfo, ...]],
    *,
    spans: SpanIndex | None = None,
    base_dir: Path | None = None,
    source_files: Sequence[str] = (),
) -> CompileResult:
    """Build the routing table. Pure: the same inputs give an equal table and sha."""
    return _Compiler(config, catalog, spans).run(base_dir, source_files)


__all__ = ["CompileResult", "compile_config", "error", "table_sha"]
