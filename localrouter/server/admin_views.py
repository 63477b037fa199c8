"""The admin API's read-only views of the running gateway (SPEC §3), answered from memory.

- ``POST /admin/api/explain`` with ``{client, request}`` → the decision ``localrouter explain``
  prints, as its ``--format json``, judged on the live table and the live runtime state: health,
  latency, open circuits, provider caps, and whether the client's or strategy's limits would
  refuse it now (read from the counters, nothing reserved). ``request`` is a chat request body
  (``model``, ``messages``, ``tools``, ``metadata``, …), checked as the server checks one; an
  empty one asks for the strategy's default route.
- ``GET /admin/api/providers`` → per provider: what ``/health`` shows (status, circuit, health
  checks, discovery) and its catalog: each model with price, context window, parameters,
  capabilities.
"""

from __future__ import annotations

from typing import Any

from localrouter.commands.explain import as_json
from localrouter.commands.mcp_cmd import explain_json
from localrouter.compiler.table import ModelInfo
from localrouter.errors import RequestDataError
from localrouter.routing.facts import facts_from_openai
from localrouter.routing.route import route
from localrouter.server import budget, validation
from localrouter.server.admin_api import provider_states
from localrouter.server.admin_auth import admin_body, admin_client
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.pipeline import runtime_view
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime, now_facts


async def explain(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/explain``."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    table, _admin, body = got
    name, request = body.get("client"), body.get("request", {})
    if not isinstance(name, str):
        return error_response(400, "`client` (a client's name) is required", param="client")
    client = table.clients.get(name)
    if client is None:
        return error_response(404, f"unknown client '{name}'", param="client")
    if not isinstance(request, dict):
        return error_response(400, "`request` must be a chat request body", param="request")
    if request and (problem := validation.check("chat", request)) is not None:
        return error_response(400, f"request: {problem[0]}", param=f"request.{problem[1]}")
    try:
        facts = facts_from_openai(request)
    except RequestDataError as exc:
        return error_response(exc.status, exc.message, param="request")
    view = runtime_view(rt, table, facts)
    decision = route(table, client, facts, now_facts(), view, judge_all=True)
    doc = as_json(decision)
    doc["latency_ms"] = {
        m.id: round(view.latency_ms[m.id], 3)
        for m in decision.candidates
        if m.id in view.latency_ms
    }
    first = decision.first
    if decision.status == 200 and first is not None:
        strategy = table.strategy_of(client)
        estimate, _worst = budget.bounds(facts, first)
        blocking = rt.limiter.would_exceed((*client.limits, *strategy.limits), estimate)
        if blocking is not None:
            doc["status"] = 429
            doc["error"] = f"{blocking.scope} '{blocking.owner}' limit of {blocking.amount:g} "
            doc["error"] += f"{blocking.metric} per {blocking.per} would be exceeded"
    mcp = explain_json(table, client)
    if mcp is not None:
        doc["mcp"] = mcp
    doc["config_sha"] = table.sha256
    return Reply.json(doc)


def _model(m: ModelInfo) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "input_per_mtok": m.input_per_mtok,
        "output_per_mtok": m.output_per_mtok,
        "context_window": m.context_window,
        "params_b": m.params_b,
        "kind": m.kind,
        "capabilities": list(m.capabilities),
        "capabilities_known": m.capabilities_known,
        "source": m.source,
    }


async def providers(rt: Runtime, call: Call) -> Reply:
    """``GET /admin/api/providers``."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    table = got[0]
    out: dict[str, Any] = {}
    for name, state in sorted(provider_states(rt, table).items()):
        state["models"] = [_model(m) for m in table.models.values() if m.provider == name]
        out[name] = state
    return Reply.json({"config_sha": table.sha256, "providers": out})
