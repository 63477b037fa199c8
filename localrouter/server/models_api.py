"""``/v1/models``, ``/v1/models/{id}`` and ``/v1/generation``: what a client may use, and what
its requests cost. A client sees only its own models and its own generations."""

from __future__ import annotations

from typing import Any

from localrouter.compiler.table import Client, ModelInfo, RoutingTable
from localrouter.routing.route import AUTO, Decision, resolve_model
from localrouter.server.auth import authenticated
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime


def _model(m: ModelInfo, created: int) -> dict[str, Any]:
    return {
        "id": m.id,
        "object": "model",
        "created": created,
        "owned_by": m.provider,
        "pricing": {"input_per_mtok": m.input_per_mtok, "output_per_mtok": m.output_per_mtok},
        "context_window": m.context_window,
        "capabilities": list(m.capabilities),
        "params_b": m.params_b,
        "kind": m.kind,
    }


def visible_models(table: RoutingTable, client: Client, created: int) -> list[dict[str, Any]]:
    strategy = table.strategies[client.strategy]
    out = []
    if not strategy.implicit:
        for name in ("auto", strategy.name):
            out.append(
                {
                    "id": f"localrouter/{name}",
                    "object": "model",
                    "created": created,
                    "owned_by": "localrouter",
                    "strategy": strategy.name,
                }
            )
    seen: set[str] = set()
    for r in (strategy.default, *strategy.routes):
        for m in r.candidates:
            if m.id not in seen:
                seen.add(m.id)
                out.append(_model(m, created))
    return out


async def list_models(rt: Runtime, call: Call) -> Reply:
    """``GET /v1/models``."""
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    table, client = got
    data = visible_models(table, client, int(rt.holder.loaded_at))
    return Reply.json({"object": "list", "data": data})


async def get_model(rt: Runtime, call: Call) -> Reply:
    """The entry of what ``model_id`` names as a request's ``model`` would (``auto``, a bare
    id, ``provider/model``, ``localrouter/NAME``): the strategy's entry or the model's."""
    model_id = call.params["model_id"]
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    table, client = got
    resolved = resolve_model(table, client, model_id)
    if isinstance(resolved, Decision):
        return error_response(
            resolved.status, resolved.error or "unknown model", code=resolved.error_code
        )
    strategy = table.strategies[client.strategy]
    if resolved is None and strategy.implicit:  # a fixed-model client: `auto` is that model
        resolved = tuple(strategy.default.candidates[:1])
    if resolved is None:  # the strategy itself: `auto` or `localrouter/<its name>`
        ids = {"localrouter/" + ("auto" if model_id in AUTO else strategy.name)}
    else:
        ids = {m.id for m in resolved[:1]}
    for m in visible_models(table, client, int(rt.holder.loaded_at)):
        if m["id"] in ids:
            return Reply.json(m)
    return error_response(404, f"model '{model_id}' does not exist", code="model_not_found")


async def get_generation(rt: Runtime, call: Call) -> Reply:
    """``GET /v1/generation?id=…``: the caller's own only."""
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    _table, client = got
    gen_id = call.args.get("id", "")
    if not gen_id:
        return error_response(400, "pass the generation id: /v1/generation?id=gen-…", param="id")
    record = await rt.generations.get(gen_id, client.name)
    if record is None:
        return error_response(
            404, f"no generation '{gen_id}' for this key", code="generation_not_found"
        )
    return Reply.json(record)
