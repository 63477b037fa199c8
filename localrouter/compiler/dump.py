"""A routing table as plain, deterministic data: for golden tests and for reading what compiled.

Secrets appear only as their references; key hashes are left out. The MCP parts (a strategy's
``mcp``, ``mcp_servers``, ``skills``) appear only when the config has them.
"""

from __future__ import annotations

from typing import Any

from localrouter.compiler.mcp_table import McpPolicy, McpServer, Skill
from localrouter.compiler.table import LimitPolicy, ModelInfo, Route, RoutingTable, SecretValue


def _limits(limits: tuple[LimitPolicy, ...]) -> list[str]:
    return [f"{lim.amount:g} {lim.metric} per {lim.per}" for lim in limits]


def _model(m: ModelInfo) -> str:
    return m.id


def _route(r: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name, "candidates": [_model(m) for m in r.candidates]}
    if r.when is not None:
        out["when"] = r.when.source
    if r.order:
        out["order"] = list(r.order)
    if r.left_out:
        out["left_out"] = {m: reason for m, reason in r.left_out}
    return out


def mcp_policy(p: McpPolicy) -> dict[str, Any]:
    return {
        "servers": list(p.servers),
        "allow": list(p.allow),
        "deny": list(p.deny),
        "rules": [[r.action, r.when.source] for r in p.rules],
    }


def mcp_server(m: McpServer) -> dict[str, Any]:
    return {
        "transport": m.transport,
        "command": list(m.command),
        "url": m.url,
        "headers": {h: v.reference for h, v in m.headers.items()},
        "env": {k: v.reference for k, v in m.env.items()},
        "start": m.start,
        "timeouts_s": [m.connect_timeout_s, m.call_timeout_s],
        "fingerprint": m.fingerprint,
    }


def skill(k: Skill) -> dict[str, Any]:
    return {
        "description": k.description,
        "steps": [
            [st.id, st.call, {a: e.source for a, e in st.args}, st.timeout_s] for st in k.steps
        ],
        "result": k.result.source if k.result else None,
        "timeout_s": k.timeout_s,
    }


def table_dict(table: RoutingTable) -> dict[str, Any]:
    def secret(v: object) -> object:
        return v.reference if isinstance(v, SecretValue) else v

    return {
        "sha256": table.sha256,
        "providers": {
            n: {
                "type": p.type,
                "base_url": p.base_url,
                "kind": p.kind,
                "api_key": secret(p.api_key) if p.api_key else None,
                "headers": {h: secret(v) for h, v in p.headers.items()},
                "limits": _limits(p.limits),
            }
            for n, p in table.providers.items()
        },
        "models": {
            i: {
                "price_per_mtok": m.price_per_mtok,
                "context_window": m.context_window,
                "params_b": m.params_b,
                "kind": m.kind,
                "capabilities": list(m.capabilities),
                "quality": m.quality,
                "source": m.source,
            }
            for i, m in table.models.items()
        },
        "strategies": {
            n: {
                **({"aliases": [[a.pattern, a.target] for a in s.aliases]} if s.aliases else {}),
                "routes": [_route(r) for r in s.routes],
                "default": _route(s.default),
                "filter": s.filter.source if s.filter else None,
                "fallback": [
                    s.fallback.attempts,
                    s.fallback.backoff_min_ms,
                    s.fallback.backoff_max_ms,
                ],
                "limits": _limits(s.limits),
                "privacy": s.privacy,
                **({"mcp": mcp_policy(s.mcp)} if s.mcp.servers else {}),
            }
            for n, s in table.strategies.items()
        },
        **(
            {"mcp_servers": {n: mcp_server(m) for n, m in table.mcp_servers.items()}}
            if table.mcp_servers
            else {}
        ),
        **({"skills": {n: skill(k) for n, k in table.skills.items()}} if table.skills else {}),
        "clients": {
            n: {
                "key_prefix": c.key_prefix,
                "strategy": c.strategy,
                "enabled": c.enabled,
                "tags": list(c.tags),
                "limits": _limits(c.limits),
            }
            for n, c in table.clients.items()
        },
    }
