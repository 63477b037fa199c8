"""Responses API requests sent natively to a provider that serves ``POST /v1/responses`` (OpenAI
itself, or an OpenAI-compatible server with the ``responses`` capability).

    doc = await respond(client, target, body)                # the provider's response object
    async with aclosing(respond_stream(client, target, body)) as events:
        async for event in events:                           # ResponsesEvent: name, data, frame
            ...

**The request** is the client's body with ``model`` set to the provider's model name, ``stream``
made to match the call, ``store: false`` (LocalRouter keeps stored responses itself: nothing is
kept at the provider on the client's behalf), LocalRouter's own ``tags`` removed, and
``client_metadata`` removed (what the Codex CLI sends there is its installation, session and
thread ids: a client's telemetry, not the request); the caller has already replaced
``previous_response_id`` by the conversation's items. Headers, errors and
size caps are the OpenAI adapter's (:mod:`localrouter.providers.openai`).

**A stream** is read with the shared SSE reader (one event held at a time, within
``max_event_kb``) and handed on event by event: ``frame`` the provider's bytes, ``data`` the
JSON parsed. An ``error`` or ``response.failed`` event raises its error instead of being
yielded: as the first event, so the caller may still fall back; later, so the caller ends the
stream with its own ``error`` and ``response.failed`` events (and records the failure). So does
an event whose fields a client reads have the wrong types (:func:`_well_formed`: ids, deltas and
texts strings, indexes integers, a response an object with an ``output`` list). A stream
that ends without ``response.completed`` or ``response.incomplete`` was cut:
``UpstreamProtocolError`` after the last event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import orjson

from localrouter.errors import UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers.base import Target
from localrouter.providers.http import json_body
from localrouter.providers.openai import check_status, endpoint_url, request_headers, stream_error
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import ErrorParts, failures, http_error

Json = dict[str, Any]

ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_NOT_SENT = frozenset({"tags", "stream", "store", "previous_response_id", "client_metadata"})


@dataclass(frozen=True, slots=True)
class ResponsesEvent:
    """One event of a provider's stream (``data``: read it, do not change it)."""

    name: str
    data: Json = field(repr=False)
    frame: bytes = field(repr=False)


def request_body(body: Json, model: str, *, stream: bool) -> Json:
    out = {k: v for k, v in body.items() if k not in _NOT_SENT}
    out["model"] = model
    out["store"] = False
    if stream:
        out["stream"] = True
    return out


def _failed(doc: Json, provider: str, target: Target) -> UpstreamHTTPError | None:
    """The error of an ``error`` event or a failed response (None when it is neither)."""
    error = stream_error(doc, provider, target.redactor)
    if error is not None:
        return error
    kind = doc.get("type")
    response = doc.get("response") if kind == "response.failed" else None
    if kind == "error" or isinstance(response, dict):
        detail = response.get("error") if isinstance(response, dict) else doc
        text = detail.get("message") if isinstance(detail, dict) else None
        code = detail.get("code") if isinstance(detail, dict) else None
        parts = ErrorParts(
            text if isinstance(text, str) else "the response failed",
            code if isinstance(code, str) else None,
        )
        return http_error(provider, 502, parts, target.redactor, said="failed mid-stream")
    return None


_STRINGS = ("item_id", "delta", "text", "arguments")
_INTEGERS = ("output_index", "content_index", "sequence_number")


def _well_formed(doc: Json) -> bool:
    """The fields a client reads from an event have their types: ids, deltas and texts strings,
    indexes integers, a response an object with an ``output`` list (what a client cannot read is
    never relayed: the stream ends with an error instead)."""
    for key in _STRINGS:
        if key in doc and not isinstance(doc[key], str):
            return False
    for key in _INTEGERS:
        if key in doc and type(doc[key]) is not int:
            return False
    response = doc.get("response")
    if response is not None:
        return isinstance(response, dict) and isinstance(response.get("output", []), list)
    item = doc.get("item")
    return item is None or (isinstance(item, dict) and isinstance(item.get("type"), str))


async def respond(client: Transport, target: Target, body: Json) -> Json:
    """The provider's response object (a 200 whose response ``failed`` is its error)."""
    p = target.provider
    payload = request_body(body, target.model, stream=False)
    with failures(p):
        answer = await client.post(
            endpoint_url(target, "/responses"),
            request_headers(target),
            orjson.dumps(payload),
            limit=p.max_response_bytes,
        )
    check_status(answer.status, answer.headers, answer.body, p.name, target.redactor)
    doc = json_body(answer.body, p.name)
    if doc.get("status") == "failed" or (doc.get("error") and not doc.get("output")):
        error = _failed({"type": "response.failed", "response": doc}, p.name, target)
        if error is not None:
            raise error
    if doc.get("object") != "response" or not isinstance(doc.get("output"), list):
        raise UpstreamProtocolError(
            f"{p.name} sent an answer that is not a response", provider=p.name
        )
    return doc


async def respond_stream(
    client: Transport, target: Target, body: Json
) -> AsyncGenerator[ResponsesEvent, None]:
    """The provider's events, each as soon as it is complete (see the module doc)."""
    p = target.provider
    payload = request_body(body, target.model, stream=True)
    headers = request_headers(target, stream=True)
    with failures(p):
        async with client.stream(
            endpoint_url(target, "/responses"), headers, orjson.dumps(payload)
        ) as response:
            check_status(response.status, response.headers, response.body, p.name, target.redactor)
            async with aclosing(sse_events(response, p)) as events:
                async for event in events:
                    data = event.data
                    if not data.strip():
                        continue
                    doc = json_body(data.encode(), p.name, "a stream event")
                    name = doc.get("type")
                    name = name if isinstance(name, str) else event.event or "message"
                    if name in ("error", "response.failed") or "error" in doc:
                        error = _failed(doc, p.name, target)
                        if error is not None:  # the caller tells it in its own events
                            raise error
                    if not _well_formed(doc):
                        raise UpstreamProtocolError(
                            f"{p.name} sent a {name} event of the wrong shape", provider=p.name
                        )
                    frame = b"event: " + name.encode() + b"\ndata: " + data.encode() + b"\n\n"
                    yield ResponsesEvent(name, doc, frame)
                    if name in ENDS:
                        return
    raise UpstreamProtocolError(f"{p.name} ended the stream before it finished", provider=p.name)
