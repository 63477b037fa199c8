"""``GET /health``: no auth. Status, the sha being served, the last reload and provider state.
Never a secret: a provider that cannot be used shows the reference it misses, not a value."""

from __future__ import annotations

import time

import orjson
from quart import Blueprint, Response

from localrouter.diagnostics import to_json_obj
from localrouter.server.openai_api import runtime

bp = Blueprint("admin_api", __name__)


@bp.get("/health")
async def health() -> Response:
    rt = runtime()
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
        config["since"] = last.at
        config["errors"] = [to_json_obj(d) for d in last.errors]
    providers: dict[str, dict[str, object]] = {}
    for name, p in table.providers.items():
        reason = rt.upstreams.unusable(name)
        providers[name] = {
            "type": p.type,
            "kind": p.kind,
            "status": "unusable" if reason else "ok",
            "reason": reason,
        }
    if rt.discovery is not None:
        for name, st in rt.discovery.status().items():
            if name in providers:
                providers[name]["discovered_models"] = st.models
                providers[name]["discovery_error"] = st.error
    body = {
        "status": "ok",
        "uptime_s": round(time.time() - rt.started, 3),
        "config": config,
        "providers": providers,
    }
    return Response(orjson.dumps(body), content_type="application/json")
