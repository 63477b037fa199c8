"""Who may use the admin API (``/admin/api/…``, SPEC §3): an ``admin: true`` client, by its key
in ``Authorization`` (never a cookie, so a page of another origin cannot make a browser send it:
no CSRF). A missing or wrong key is 401, a client that is not an admin 403; with
``server.dashboard: false`` the whole API is 404, before any key is looked at."""

from __future__ import annotations

from typing import Any

import orjson

from localrouter.compiler.table import Client, RoutingTable
from localrouter.server.auth import authenticated
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime


async def admin_client(rt: Runtime, call: Call) -> tuple[RoutingTable, Client] | Reply:
    """The table (read once) and the calling admin client, or the 401/403 answer (404 for
    everyone when ``server.dashboard`` is false)."""
    if not rt.holder.current.settings.server.dashboard:
        msg = "the dashboard and its admin API are off (server.dashboard: false)"
        return error_response(404, msg, code="dashboard_off")
    got = await authenticated(rt, call.headers)
    if isinstance(got, Reply):
        return got
    if not got[1].admin:
        return error_response(
            403, "the admin API needs an admin client's key (`admin: true`)", code="not_admin"
        )
    return got


async def admin_body(
    rt: Runtime, call: Call
) -> tuple[RoutingTable, Client, dict[str, Any]] | Reply:
    """:func:`admin_client`, then the call's body as a JSON object (400 saying what is wrong
    with it): what every admin call that carries a body starts with."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    try:
        body = orjson.loads(call.body)
    except orjson.JSONDecodeError:
        return error_response(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        return error_response(400, "the request body must be a JSON object")
    return got[0], got[1], body
