"""A model endpoint, whatever its dialect: authenticate, read the body, parse, run the pipeline,
encode.

    request ─▶ auth (401/403, logged) ─▶ body (413, 408, not JSON: 400) ─▶ dialect.parse
            ─▶ pipeline.run ─▶ parsed.reply(outcome)

The table is read ONCE, when the request arrives: the request keeps it to the end. Every
refusal after authentication is recorded as the request's generation and answered in the
dialect's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from localrouter.dialects.base import Caller, Dialect
from localrouter.server import incoming as incoming_mod
from localrouter.server.auth import presented_key
from localrouter.server.incoming import Incoming
from localrouter.server.ledger import Ledger, auth_code, refused
from localrouter.server.pipeline import Failure, GatewayRequest, run
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime


@dataclass(frozen=True, slots=True)
class ModelEndpoint:
    """One model endpoint: its dialect, the operation it names, its access-log name."""

    dialect: Dialect
    operation: str
    name: str


async def handle(rt: Runtime, ep: ModelEndpoint, incoming: Incoming) -> Reply:
    """One model request, start to answer (a stream's body runs after this returns)."""
    table = rt.holder.current  # read once: this request keeps this table
    headers = incoming.headers
    given = headers.get("x-request-id", "")
    dialect = ep.dialect
    auth = await rt.auth.authenticate(table, presented_key(headers))
    if auth.client is None:
        rid = refused(rt, table, ep.name, incoming.started, auth.status, given)
        code = auth_code(auth.status)
        return dialect.error(auth.status, auth.message, code=code, headers={"x-request-id": rid})
    ledger = Ledger(rt, table, auth.client, ep.name, incoming.started, given)

    def refuse(f: Failure) -> Reply:
        ledger.record(None, None, f.status, f.message, f.code)
        extra = {**ledger.headers(), **f.headers}
        return dialect.error(f.status, f.message, code=f.code, param=f.param, headers=extra)

    max_bytes = table.settings.server.max_body_bytes
    length = incoming.content_length
    if length is not None and length > max_bytes:
        return refuse(Failure(413, f"request body over {max_bytes} bytes"))
    try:
        raw = await incoming.read(max_bytes)
    except TimeoutError:
        seconds = incoming_mod.BODY_TIMEOUT_S  # read now: tests shorten it
        return refuse(Failure(408, f"the request body did not arrive within {seconds:g} s"))
    if len(raw) > max_bytes:
        return refuse(Failure(413, f"request body over {max_bytes} bytes"))
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return refuse(Failure(400, "the request body is not valid JSON"))
    if not isinstance(body, dict):
        return refuse(Failure(400, "the request body must be a JSON object"))
    caller = Caller(auth.client.name, rt.responses)
    parsed = await dialect.parse(ep.operation, body, headers, caller)
    if isinstance(parsed, Failure):
        ledger.facts = None
        return refuse(parsed)
    greq = GatewayRequest(auth.client, table, parsed.payload, parsed.facts, parsed.stream, ledger)
    return parsed.reply(await run(rt, greq, parsed.finish))
