"""The admin API's client endpoints (SPEC §3): the dashboard's Clients page, on the very edit path
of ``localrouter keys`` (:mod:`localrouter.config.client_edits`, one implementation).

- ``POST /admin/api/clients`` with ``{name, strategy}`` or ``{name, model}`` → 201 ``{name, key}``:
  the key is in this answer only; the file gets its prefix and bcrypt hash.
- ``POST /admin/api/clients/{name}/rotate`` → ``{name, key}``; ``…/disable``, ``…/enable`` →
  ``{name, enabled}``; ``DELETE /admin/api/clients/{name}`` → ``{name, deleted: true}``.

Each is a YAML edit of the file holding ``clients:`` that changes only its own lines, compiled
first (422 with the diagnostics when the config would not compile; nothing written), written
atomically under the config's lock; then the config is reloaded at once (the watcher would too,
a debounce later), and the answer leaves once the new table is served, so the key works, or is
refused, from the very next request. An unknown client is 404, a name already taken 409, a body
that is not what is asked 400 naming the field. Admin clients only (401/403). The edit (bcrypt,
the compile, the lock, fsync) runs in a worker thread, never on the event loop.

The name, strategy and model are checked here before they reach the YAML text: a name is what
the compiler accepts (LR304's pattern), and none of them may hold a control character, so no
value can add a line of its own to the file.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

from localrouter.config.client_edits import (
    Change,
    ClientEdit,
    Refused,
    Rejected,
    Written,
    edit_client,
)
from localrouter.config.spec import NAME_PATTERN
from localrouter.diagnostics import to_json_obj
from localrouter.errors import EditError
from localrouter.server.admin_auth import admin_body, admin_client
from localrouter.server.admin_strategies import limit_json
from localrouter.server.errors import error_body, error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.admin")

_NAME = re.compile(NAME_PATTERN)
_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")  # a strategy or model: one printable line
_CREATE_FIELDS = ("name", "strategy", "model")


async def create(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/clients``."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    edit = _create_edit(got[2])
    if isinstance(edit, Reply):
        return edit
    return await _edit(rt, edit)


async def listing(rt: Runtime, call: Call) -> Reply:
    """``GET /admin/api/clients``: every client, with its use (from memory)."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    table = got[0]
    metrics = rt.observer.metrics
    midnight = time.time() // 86400 * 86400
    today: dict[str, dict[str, float]] = {}
    for series in metrics.usage("24h", by="client")["series"]:
        points = [p for p in series["points"] if p["t"] >= midnight]
        today[series["name"]] = {
            "requests": sum(p["requests"] for p in points),
            "cost_usd": round(sum(p["cost_usd"] for p in points), 9),
        }
    clients = []
    for c in sorted(table.clients.values(), key=lambda c: c.name):
        clients.append(
            {
                "name": c.name,
                "strategy": None if c.fixed_model else c.strategy,
                "model": c.fixed_model,
                "tags": list(c.tags),
                "limits": [limit_json(lim) for lim in c.limits],
                "enabled": c.enabled,
                "admin": c.admin,
                "key_prefix": c.key_prefix,
                "last_used": metrics.last_seen.get(c.name),
                "today": today.get(c.name, {"requests": 0, "cost_usd": 0.0}),
            }
        )
    strategies = sorted(n for n, s in table.strategies.items() if not s.implicit)
    return Reply.json(
        {
            "config_sha": table.sha256,
            "strategies": strategies,
            "models": sorted(table.models),
            "clients": clients,
        }
    )


async def change_route(rt: Runtime, call: Call) -> Reply:
    """``PATCH /admin/api/clients/{name}`` with ``{strategy}`` or ``{model}``."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    name = call.params.get("name", "")
    if not _NAME.match(name):
        return error_response(404, "no such client", code="unknown_client")
    asked = _create_edit({**got[2], "name": name}, fields=("name", "strategy", "model"))
    if isinstance(asked, Reply):
        return asked
    return await _edit(rt, ClientEdit("route", name, asked.strategy, asked.model))


async def action(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/clients/{name}/rotate|disable|enable``."""
    change: Change
    match call.params.get("action"):
        case "rotate":
            change = "rotate"
        case "disable":
            change = "disable"
        case "enable":
            change = "enable"
        case _:
            return error_response(404, "no such endpoint")
    return await _on_client(rt, call, change)


async def delete(rt: Runtime, call: Call) -> Reply:
    """``DELETE /admin/api/clients/{name}``."""
    return await _on_client(rt, call, "delete")


async def _on_client(rt: Runtime, call: Call, change: Change) -> Reply:
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    name = call.params.get("name", "")
    if not _NAME.match(name):  # no config can hold it
        return error_response(404, "no such client", code="unknown_client")
    return await _edit(rt, ClientEdit(change, name))


def _create_edit(
    body: dict[str, Any], fields: tuple[str, ...] = _CREATE_FIELDS
) -> ClientEdit | Reply:
    """The create asked for, or the 400 naming the field that is wrong."""
    for key in body:
        if key not in fields:
            return _bad(key, f"unknown field `{key}` (give `name` and `strategy` or `model`)")
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        return _bad("name", "`name` must be letters, digits, '.', '_' and '-', at most 64")
    strategy, model = body.get("strategy"), body.get("model")
    if (strategy is None) == (model is None):
        return _bad("strategy", "give `strategy` or `model` (one of them)")
    for key, value in (("strategy", strategy), ("model", model)):
        if value is not None and not (isinstance(value, str) and _VALUE.fullmatch(value)):
            return _bad(key, f"`{key}` must be a string of 1 to 256 printable characters")
    return ClientEdit("create", name, strategy, model)


def _bad(param: str, message: str) -> Reply:
    return error_response(400, message, code="invalid_field", param=param)


async def _edit(rt: Runtime, edit: ClientEdit) -> Reply:
    """Make ``edit`` (in a worker thread), then reload and answer once the table is served."""
    source = rt.config
    if source is None or source.path is None:
        return error_response(404, "this gateway was not started from a config file")
    root = source.path
    try:
        done = await asyncio.to_thread(edit_client, root, edit, None, source.snapshot)
    except EditError as exc:  # the file's shape does not allow this edit: say why
        return error_response(409, str(exc), code="edit_not_possible")
    except OSError as exc:
        log.error("admin API: %s of client '%s' not written: %s", edit.change, edit.name, exc)
        return error_response(500, "the config could not be read or written (see the log)")
    if isinstance(done, Rejected):
        if done.reason == "exists":
            return error_response(409, done.message, code="client_exists", param="name")
        return error_response(404, done.message, code="unknown_client")
    if isinstance(done, Refused):
        return _refused(done, root)
    outcome = await source.reload("admin API")
    if outcome is not None and outcome.status not in ("swapped", "unchanged"):
        log.warning("admin API: %s of client '%s' written, but the reload %s",
                    edit.change, edit.name, outcome.status)  # fmt: skip
    return _answer(edit, done)


def _answer(edit: ClientEdit, done: Written) -> Reply:
    if edit.change == "create":
        return Reply.json({"name": edit.name, "key": done.key}, 201)
    if edit.change == "rotate":
        return Reply.json({"name": edit.name, "key": done.key})
    if edit.change == "delete":
        return Reply.json({"name": edit.name, "deleted": True})
    if edit.change == "route":
        return Reply.json({"name": edit.name, "strategy": edit.strategy, "model": edit.model})
    return Reply.json({"name": edit.name, "enabled": edit.change == "enable"})


def _refused(done: Refused, root: Path) -> Reply:
    """422: the diagnostics, their files relative to the config's folder (as the config
    endpoints give them)."""
    base = root if root.is_dir() else root.parent
    diagnostics = []
    for d in done.errors:
        obj = to_json_obj(d)
        where = obj.get("file")
        if isinstance(where, str):
            path = Path(where)
            obj["file"] = str(path.relative_to(base)) if path.is_relative_to(base) else path.name
        diagnostics.append(obj)
    message = "the edit would make the config invalid: nothing was written"
    error = error_body(422, message, code="config_invalid")
    return Reply.json({**error, "diagnostics": diagnostics}, 422)
