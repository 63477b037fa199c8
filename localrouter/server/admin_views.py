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

import asyncio
import time
from typing import Any

import orjson

from localrouter.commands.explain import as_json
from localrouter.commands.mcp_cmd import explain_json
from localrouter.compiler.table import Client, ModelInfo, RoutingTable
from localrouter.errors import RequestDataError
from localrouter.routing.facts import facts_from_openai
from localrouter.routing.route import route
from localrouter.server import budget, validation
from localrouter.server.admin_api import provider_states
from localrouter.server.admin_auth import admin_body, admin_client
from localrouter.server.admin_config import (
    compile_with,
    config_root,
    discovered,
    shown_names,
    wanted_files,
)
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.pipeline import runtime_view
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime, now_facts


def _who(table: RoutingTable, body: dict[str, Any]) -> Client | Reply:
    """The client asked for, or a stand-in client of the strategy asked for (no limits of its
    own): what the Strategies page previews."""
    name, strategy = body.get("client"), body.get("strategy")
    if isinstance(strategy, str) and name is None:
        if strategy not in table.strategies:
            return error_response(404, f"unknown strategy '{strategy}'", param="strategy")
        return Client("(preview)", "", "", strategy, (), (), True, False)
    if not isinstance(name, str):
        msg = "`client` (a client's name) or `strategy` (a strategy's name) is required"
        return error_response(400, msg, param="client")
    client = table.clients.get(name)
    if client is None:
        return error_response(404, f"unknown client '{name}'", param="client")
    return client


async def _edited_table(rt: Runtime, body: dict[str, Any]) -> RoutingTable | Reply:
    root = config_root(rt)
    if isinstance(root, Reply):
        return root
    texts = wanted_files(body, root, shown_names(rt))
    if isinstance(texts, Reply):
        return texts
    result, diagnostics = await asyncio.to_thread(compile_with, root, texts, discovered(rt))
    if result.table is None:
        reply = error_response(422, "the edited config does not compile", code="config_invalid")
        return Reply.json({**orjson.loads(reply.body), "diagnostics": diagnostics}, 422)
    return result.table


async def explain(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/explain``."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    table, _admin, body = got
    request = body.get("request", {})
    if not isinstance(request, dict):
        return error_response(400, "`request` must be a chat request body", param="request")
    if request and (problem := validation.check("chat", request)) is not None:
        return error_response(400, f"request: {problem[0]}", param=f"request.{problem[1]}")
    if "files" in body:  # judged on the config as it would be with these files
        edited = await _edited_table(rt, body)
        if isinstance(edited, Reply):
            return edited
        table = edited
    client = _who(table, body)
    if isinstance(client, Reply):
        return client
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


async def check_provider(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/providers/{name}/check``: one health check of the provider now (the
    dashboard's "test connection"), its outcome, and the provider as ``providers`` shows it."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    table = got[0]
    name = call.params.get("name", "")
    if name not in table.providers:
        return error_response(404, f"no provider '{name}'", code="unknown_provider")
    if rt.health is None:
        return error_response(409, "health checks are not running in this gateway")
    started = time.perf_counter()
    try:
        ok: bool | None = await rt.health.check(name)
    except KeyError:  # not tracked by the monitor (e.g. removed by a reload just now)
        ok = None
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    state = provider_states(rt, table).get(name, {})
    health = state.get("health")
    last = health.get("last_check") if isinstance(health, dict) else None
    error = last.get("error") if isinstance(last, dict) else None
    if ok is None:
        error = "this provider is not checked by the health monitor"
    state["models"] = [_model(m) for m in table.models.values() if m.provider == name]
    return Reply.json(
        {"name": name, "ok": ok, "latency_ms": latency_ms, "error": error, "provider": state}
    )
