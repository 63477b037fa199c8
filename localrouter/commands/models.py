"""``localrouter models``: the catalog a client routes over, with each model's provider health.

The catalog is built as ``serve`` builds it at start: the config's static entries merged over the
models discovery cached in ``state_dir/catalog.json`` (read, never refreshed: no provider is
called). Health is the state the server saved in ``state_dir/limits.sqlite3`` (read-only, as
``explain`` reads it: :mod:`localrouter.runtime.offline`), or with ``--live`` what a running
gateway's ``GET /health`` says now (``server.host``/``server.port`` of the config). ``--client``
keeps the models that client's strategy may pick. Nothing is written, and a state file that
cannot be used is named in a warning and ignored.
"""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from localrouter.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    config_path,
    fail_build,
    load,
)
from localrouter.compiler.build import build
from localrouter.compiler.table import ModelInfo, RoutingTable
from localrouter.runtime.health import ProviderHealth

Health = dict[str, Any]  # one provider's health, as `models --format json` shows it
LIVE_TIMEOUT_S = 3.0


def with_cached_catalog(table: RoutingTable, path: Path) -> RoutingTable:
    """``table`` recompiled with the models discovery cached in its ``state_dir`` (as ``serve``
    starts); ``table`` itself when there is no cache or nothing in it for these providers."""
    state_dir = table.settings.state_dir
    if not state_dir:
        return table
    from localrouter.runtime.catalog import Discovery

    async def never(_p: object) -> list[Any]:  # pragma: no cover - no round ever runs here
        raise RuntimeError("models never calls a provider")

    discovery = Discovery(time.time, state_dir, list_models=never)
    discovery.reconcile(table.providers)  # a provider whose endpoint changed: its cache is stale
    snapshot = discovery.load_cached()
    if not snapshot.providers:
        return table
    merged = build(path, snapshot=snapshot).table
    return merged if merged is not None else table


def _status(h: ProviderHealth) -> str:
    if h.circuit != "closed":
        return h.circuit.replace("_", " ") if h.circuit != "open" else "circuit open"
    if not h.checked:
        return "not checked"
    if not h.healthy:
        return "unhealthy"
    return "ok" if h.checks else "not checked yet"


def _from_monitor(h: ProviderHealth) -> Health:
    return {
        "status": _status(h),
        "healthy": h.healthy,
        "circuit": h.circuit,
        "checked": h.checked,
        "checks": h.checks,
        "failures": h.failures,
        "last_checked": h.last_checked,
        "last_error": h.last_error,
        "reason": h.reason,
        "check_p50_ms": None if h.check_p50_ms is None else round(h.check_p50_ms, 3),
    }


def saved_health(
    table: RoutingTable,
) -> tuple[dict[str, Health], dict[str, float], dict[str, Any]]:
    """Per provider its saved health, per model its observed p50 latency, and where from."""
    from localrouter.commands.explain import load_state

    state = load_state(table, ignore=False)  # warns on stderr for a file it cannot use
    source = {"from": "state_dir", **state.as_json()}
    if state.loaded is None:
        return {}, {}, source
    monitor = state.loaded.health
    health = {name: _from_monitor(h) for name, h in monitor.status().items()}
    return health, dict(monitor.view().latency_ms), source


def live_health(table: RoutingTable) -> tuple[dict[str, Health], str | None, dict[str, Any]]:
    """Per provider the health a running gateway reports now; or the error reaching it."""
    import httpx

    server = table.settings.server
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(server.host, server.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{server.port}/health"
    source: dict[str, Any] = {"from": "live", "url": url}
    try:
        r = httpx.get(url, timeout=LIVE_TIMEOUT_S)
        r.raise_for_status()
        body = r.json()
        providers = body["providers"]
        if not isinstance(providers, dict):
            raise TypeError("providers is not an object")
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return {}, f"cannot read {url}: {exc}", source
    health: dict[str, Health] = {}
    for name, p in providers.items():
        try:
            health[name] = _from_live(str(name), _obj(p))
        except (ValueError, TypeError):  # not what our /health sends: say nothing about it
            continue
    source["sha"] = _obj(_obj(body).get("config")).get("sha")
    return health, None, source


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _from_live(name: str, p: dict[str, Any]) -> Health:
    """One provider of ``/health`` (see ``server/admin_api.py``) as :func:`_from_monitor` says."""
    checks, circuit = _obj(p.get("health")), _obj(p.get("circuit"))
    last = _obj(checks.get("last_check"))
    info = ProviderHealth(
        provider=name,
        healthy=bool(checks.get("healthy", True)),
        circuit=str(circuit.get("state", "closed")),
        checked=bool(checks.get("checked", False)),
        failures=int(checks.get("failures") or 0),
        checks=int(checks.get("checks") or 0),
        last_checked=last.get("at"),
        last_error=last.get("error"),
        check_p50_ms=checks.get("check_p50_ms"),
        live_p50_ms=checks.get("live_p50_ms"),
        reason=checks.get("reason"),
    )
    out = _from_monitor(info)
    if p.get("status") == "unusable":  # its secret cannot be resolved: the reference, no value
        out.update(status="unusable", reason=p.get("reason"))
    return out


def rows(
    models: Sequence[ModelInfo], health: Mapping[str, Health], p50: Mapping[str, float]
) -> list[dict[str, Any]]:
    out = []
    for m in models:
        h = health.get(m.provider)
        out.append(
            {
                "id": m.id,
                "provider": m.provider,
                "model": m.name,
                "kind": m.kind,
                "input_per_mtok": m.input_per_mtok,
                "output_per_mtok": m.output_per_mtok,
                "context_window": m.context_window,
                "params_b": m.params_b,
                "capabilities": list(m.capabilities),
                "quality": m.quality,
                "source": m.source,
                "health": h["status"] if h is not None else "unknown",
                "p50_ms": round(p50[m.id], 3) if m.id in p50 else None,
            }
        )
    return out


def _money(value: float | None, kind: str) -> str:
    if value is None:
        return "0" if kind == "local" else "?"
    return f"{value:g}"


def _context(n: int | None) -> str:
    if not n:
        return "?"
    for size, unit in ((1_000_000, "M"), (1_048_576, "M"), (1000, "k"), (1024, "k")):
        if n % size == 0:
            return f"{n // size}{unit}"
    return f"{n / 1000:.0f}k" if n >= 10_000 else str(n)


def render_text(found: Sequence[Mapping[str, Any]], note: str) -> str:
    head = ("MODEL", "KIND", "IN $/M", "OUT $/M", "CONTEXT", "PARAMS", "CAPABILITIES", "HEALTH")
    table: list[tuple[str, ...]] = [head]
    for r in found:
        health = r["health"] + (f" (p50 {r['p50_ms']:.4g} ms)" if r["p50_ms"] is not None else "")
        table.append(
            (
                r["id"],
                r["kind"],
                _money(r["input_per_mtok"], r["kind"]),
                _money(r["output_per_mtok"], r["kind"]),
                _context(r["context_window"]),
                "?" if r["params_b"] is None else f"{r['params_b']:g}B",
                ",".join(r["capabilities"]),
                health,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    lines.append(f"{len(found)} model{'s' if len(found) != 1 else ''}; health: {note}")
    return "\n".join(lines) + "\n"


def run(args: Namespace) -> int:
    result = load(args)
    if result.table is None:
        return fail_build(result, args.format)
    table = with_cached_catalog(result.table, config_path(args))
    models = list(table.models.values())
    if args.client is not None:
        client = table.clients.get(args.client)
        if client is None:
            known = ", ".join(sorted(table.clients)) or "none"
            print(f"error: unknown client '{args.client}' (clients: {known})", file=sys.stderr)
            return EXIT_USAGE
        allowed = table.strategies[client.strategy].allowed
        models = [m for m in models if m.id in allowed]
    p50: dict[str, float] = {}
    if args.live:
        health, failed, source = live_health(table)
        if failed is not None:
            print(f"error: {failed} (is `localrouter serve` running?)", file=sys.stderr)
            return EXIT_FAILED
        note = f"live from {source['url']}"
    else:
        health, p50, source = saved_health(table)
        note = str(source["note"])
    found = rows(models, health, p50)
    if args.format == "json":
        doc = {"client": args.client, "health_source": source, "providers": health, "models": found}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(found, note))
    return EXIT_OK
