"""``GET`` and ``DELETE /v1/responses/{id}``, and ``GET /v1/responses/{id}/input_items``: a
client's own stored responses (see :mod:`localrouter.dialects.responses`).

Another client's response, an expired one, a deleted one and an id of the wrong shape are all the
same 404: whether a response exists is not told to anyone but its owner.
"""

from __future__ import annotations

from typing import Any

from localrouter.runtime.response_record import StoredResponse
from localrouter.server.auth import authenticated
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

MAX_ITEMS_PAGE = 100


def _missing(response_id: str) -> Reply:
    return error_response(
        404,
        f"no response '{response_id}' for this key (it was not stored, was deleted, has expired "
        "or belongs to another client)",
        code="response_not_found",
        param="response_id",
    )


async def _asked(rt: Runtime, call: Call) -> tuple[str, str] | Reply:
    """(the calling client's name, the response id asked for), or the 401/403 answer."""
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    _table, client = got
    return client.name, call.params["response_id"]


async def _stored(rt: Runtime, call: Call) -> StoredResponse | Reply:
    asked = await _asked(rt, call)
    if isinstance(asked, Reply):
        return asked
    owner, response_id = asked
    stored = await rt.responses.get(response_id, owner) if rt.responses else None
    return _missing(response_id) if stored is None else stored


async def response(rt: Runtime, call: Call) -> Reply:
    """``GET /v1/responses/{id}`` (the response as it was answered) and ``DELETE`` (it is
    removed: ``{"id", "object": "response.deleted", "deleted": true}``)."""
    if call.method != "DELETE":
        stored = await _stored(rt, call)
        return stored if isinstance(stored, Reply) else Reply.json(stored.response)
    asked = await _asked(rt, call)
    if isinstance(asked, Reply):
        return asked
    owner, response_id = asked
    if not (await rt.responses.delete(response_id, owner) if rt.responses else False):
        return _missing(response_id)
    return Reply.json({"id": response_id, "object": "response.deleted", "deleted": True})


def _with_id(item: dict[str, Any], response_id: str, i: int) -> dict[str, Any]:
    if isinstance(item.get("id"), str):
        return item
    root = response_id.removeprefix("resp_")
    kind = item.get("type", "message")
    return {"id": f"{'msg' if kind == 'message' else 'item'}_{root}_in{i}", "type": kind, **item}


async def input_items(rt: Runtime, call: Call) -> Reply:
    """``GET /v1/responses/{id}/input_items``: the conversation's input, a page at a time
    (``limit`` 1–100, default 20; ``order`` asc or desc, default desc; ``after`` an item id)."""
    stored = await _stored(rt, call)
    if isinstance(stored, Reply):
        return stored
    limit_arg = call.args.get("limit", "20")
    if not limit_arg.isdigit() or not 1 <= int(limit_arg) <= MAX_ITEMS_PAGE:
        return error_response(400, "`limit` must be a whole number from 1 to 100", param="limit")
    order = call.args.get("order", "desc")
    if order not in ("asc", "desc"):
        return error_response(400, "`order` must be asc or desc", param="order")
    items = [_with_id(it, stored.id, i) for i, it in enumerate(stored.input_items)]
    if order == "desc":
        items.reverse()
    after = call.args.get("after")
    if after:
        ids = [it["id"] for it in items]
        if after not in ids:
            return error_response(400, f"no input item '{after}' in this response", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[: int(limit_arg)]
    return Reply.json(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > len(page),
        }
    )
