"""``GET /health``: no auth. Status, the sha being served, the last reload and provider state:
per provider its circuit breaker and its health checks. Never a secret: a provider that cannot be
used shows the reference it misses, not a value; check errors are our own redacted messages."""

from __future__ import annotations

import time

from localrouter.compiler.table import RoutingTable
from localrouter.diagnostics import to_json_obj
from localrouter.runtime.breakers import BreakerInfo, breaker_key
from localrouter.runtime.health import ProviderHealth
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def circuit_json(info: BreakerInfo | None) -> dict[str, object]:
    """A breaker as ``/health`` shows it (none stored: closed, no failures)."""
    if info is None:
        return {"state": "closed", "failures": 0, "trips": 0, "since": None, "retry_in_s": None}
    return {
        "state": str(info.state),
        "failures": info.failures,
        "trips": info.trips,
        "since": info.since,
        "retry_in_s": None if info.retry_in_s is None else round(info.retry_in_s, 3),
    }


def health_json(st: ProviderHealth | None) -> dict[str, object]:
    """A provider's health checks as ``/health`` shows them."""
    if st is None:
        return {"checked": False, "reason": "no health monitor", "healthy": True}
    last: dict[str, object] | None = None
    if st.last_checked is not None:
        last = {
            "ok": st.last_error is None,
            "at": st.last_checked,
            "error": st.last_error,
            "note": st.last_note,
        }
    return {
        "checked": st.checked,
        "reason": st.reason,
        "healthy": st.healthy,
        "failures": st.failures,
        "checks": st.checks,
        "last_check": last,
        "check_p50_ms": _ms(st.check_p50_ms),
        "live_p50_ms": _ms(st.live_p50_ms),
    }


async def health(rt: Runtime, call: Call) -> Reply:
    """``GET /health`` (no auth)."""
    table = rt.holder.current
    last = rt.holder.last_reload
    config: dict[str, object] = {
        "status": "ok" if last.ok else "error",
        "sha": table.sha256,
        "generation": rt.holder.generation,
        "loaded_at": rt.holder.loaded_at,
        "last_reload": {"ok": last.ok, "sha": last.sha256, "at": last.at},
    }
    if not last.ok:
        config["since"] = rt.holder.failing_since or last.at  # the first failure in a row
        config["errors"] = [to_json_obj(d) for d in last.errors]
    if rt.config is not None:
        c = rt.config.counters
        config["reloads"] = {
            "swapped": c.swapped,
            "unchanged": c.unchanged,
            "failed": c.failed,
            "refused": c.refused,
            "stuck": c.stuck,
        }
        if rt.config.running is not None:  # a reload under way: what and since when
            config["reloading"] = {"reason": rt.config.running[0], "since": rt.config.running[1]}
        if rt.config.abandoned.running:  # compiles stopped at their deadline, not yet ended
            config["abandoned_compiles"] = rt.config.abandoned.running
        if c.last is not None:
            config["last_reload"] = {
                **config["last_reload"],  # type: ignore[dict-item]
                "outcome": c.last.status,
                "reason": c.last.reason,
                "compile_ms": round(c.last.ms, 1),
                "summary": c.last.summary,
            }
    providers = provider_states(rt, table)
    body = {
        "status": "ok",
        "uptime_s": round(time.time() - rt.started, 3),
        "config": config,
        "providers": providers,
        "mcp_servers": rt.mcp.health(),
    }
    return Reply.json(body)


def provider_states(rt: Runtime, table: RoutingTable) -> dict[str, dict[str, object]]:
    """Each provider of ``table`` as ``/health`` shows it: status (and the reason it is
    unusable), circuit, health checks, and what discovery found."""
    checks = rt.health.status() if rt.health is not None else {}
    circuits = (
        {(b.provider, b.base_url): b for b in rt.health.breakers.info()}
        if rt.health is not None
        else {}
    )
    providers: dict[str, dict[str, object]] = {}
    for name, p in table.providers.items():
        reason = rt.upstreams.unusable(name)
        providers[name] = {
            "type": p.type,
            "kind": p.kind,
            "status": "unusable" if reason else "ok",
            "reason": reason,
            "circuit": circuit_json(circuits.get(breaker_key(p))),
            "health": health_json(checks.get(name)),
        }
    if rt.discovery is not None:
        for name, st in rt.discovery.status().items():
            if name in providers:
                providers[name]["discovered_models"] = st.models
                providers[name]["discovery_error"] = st.error
    return providers
