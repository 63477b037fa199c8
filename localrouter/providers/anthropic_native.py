"""Anthropic Messages requests forwarded as the client sent them: the ``/v1/messages`` ingress
to a provider of type ``anthropic``. Nothing is translated, so thinking blocks with their
signatures, ``cache_control`` markers and fields LocalRouter has never heard of arrive intact.

    doc = await messages(client, target, body, headers)         # the provider's message
    tally = UsageTally()
    async with aclosing(messages_stream(client, target, body, headers)) as events:
        async for event in events:
            tally.feed(event)
            await send(event.frame)                             # as the provider sent it
    tally.usage                                                 # tokens, even if cut short
    await count_tokens(client, target, body, headers)           # {"input_tokens": N}

**The request** is a shallow copy of ``body`` with ``model`` set to the provider's model name
(its place in the key order kept) and ``stream`` made to match the call (``true`` for
:func:`messages_stream`; a ``true`` becomes ``false`` for :func:`messages`); every other field,
and the order of the keys, is the client's. :func:`count_tokens` changes ``model`` only.

**Headers** are the Anthropic adapter's own (:func:`~localrouter.providers.anthropic.
request_headers`: our key in ``x-api-key``, the provider's configured headers,
``anthropic-version: 2023-06-01``), then, from the client's (``headers``: what the ingress
passes on, any case), exactly two:

* ``anthropic-version`` replaces ours (and a configured one): the body was written for it;
* ``anthropic-beta`` is added to a configured one, comma-joined, each beta once.

Nothing else of the client's is sent: not its key (``x-api-key``, ``authorization``), not its
SDK's telemetry (``x-stainless-*``, ``user-agent``), not ``anthropic-dangerous-direct-browser-
access`` (a browser's CORS opt-in, meaningless from a server). Other names in ``headers`` are
ignored; a forwarded value that is not printable ASCII, or longer than 4096 characters, is
refused before anything is sent (``UpstreamUnsupported``).

**Errors** are the adapter's, through the one mapper (``providers/upstream_errors.py``, fed by
``anthropic_stream.check_status`` / ``stream_error``): an error status is ``UpstreamHTTPError``
with the status, Anthropic's error type and its text redacted, and ``retry_after``; transport
failures, timeouts, answers that are not JSON and answers over ``max_response_mb`` (a whole
answer) or ``max_event_kb`` (one SSE event) are the same errors as on the translated path. A 200
whose body is an Anthropic error object is that error.

**Streams** are read with the same SSE reader (:func:`~localrouter.providers.sse_read.
sse_events`: one event held at a time, within ``max_event_kb``) and handed on event by event as
:class:`NativeEvent`: its ``frame`` is ``event: NAME\\ndata: DATA\\n\\n`` with the provider's
data line(s) as they came (not re-encoded), ``data`` the same JSON parsed, for reading usage and
errors. ``ping`` events are passed on too; ``id:``/``retry:`` fields, ``:`` comments and events
without data are not (Anthropic sends none). An event with no ``event:`` line is named by its
data's ``type``. An ``error`` event as the stream's first event raises its error (the status of
its type: 529 for ``overloaded_error``), so the caller can still fall back; after the first
event it is yielded, and the stream ends there (its error: :func:`event_error`). A stream that
ends without ``message_stop`` or an ``error`` event was cut: ``UpstreamProtocolError`` after the
last event. Closing the generator (``aclose``, a cancelled task) closes the upstream response.

**Usage** (:class:`NativeUsage`): from a message's ``usage``, or from a stream's events —
``message_start`` gives the input and cache tokens, each ``message_delta`` the cumulative output
tokens (and any input or cache count it repeats) — through :class:`UsageTally` or
:func:`usage_of`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import orjson

from localrouter.errors import UpstreamHTTPError, UpstreamProtocolError
from localrouter.providers import anthropic_stream as answers
from localrouter.providers.anthropic import api_root, request_headers
from localrouter.providers.base import Target
from localrouter.providers.http import json_body
from localrouter.providers.sse_read import sse_events
from localrouter.providers.transport import Transport
from localrouter.providers.upstream_errors import failures, unsupported

Json = dict[str, Any]

# the client's headers that are forwarded (lower case); see the module docstring
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
MAX_HEADER = 4096  # characters of a forwarded header's value


@dataclass(frozen=True, slots=True)
class NativeEvent:
    """One event of a provider's stream: ``frame`` is what the client is sent (the provider's
    data unchanged), ``data`` its JSON parsed (read it, do not change it)."""

    name: str
    data: Json = field(repr=False)
    frame: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class NativeUsage:
    """Anthropic's token counts; ``prompt_tokens`` is what LocalRouter counts as the prompt
    (input, cache writes and cache reads), as the translated path does."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def openai(self) -> Json:
        """The OpenAI ``usage`` object the translated path reports for the same counts."""
        return answers.usage(
            {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
            }
        )


_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class UsageTally:
    """Usage, stop reason and the end of a stream, read from its events as they pass
    (:meth:`feed` each one; ``usage`` is right at any point, so a stream cut short still
    reports what it used)."""

    __slots__ = ("_counts", "error", "finished", "stop_reason")

    def __init__(self) -> None:
        self._counts = dict.fromkeys(_COUNTS, 0)
        self.stop_reason: str | None = None
        self.finished = False  # message_stop seen
        self.error: Json | None = None  # the error event's ``error`` object

    def _take(self, raw: object) -> None:
        if isinstance(raw, dict):
            for key in _COUNTS:
                value = raw.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    self._counts[key] = value

    def feed(self, event: NativeEvent) -> None:
        data = event.data
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message")
            self._take(message.get("usage") if isinstance(message, dict) else None)
        elif kind == "message_delta":
            self._take(data.get("usage"))
            delta = data.get("delta")
            reason = delta.get("stop_reason") if isinstance(delta, dict) else None
            if isinstance(reason, str):
                self.stop_reason = reason
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error" or event.name == "error":
            self.error = _error_object(data)

    @property
    def usage(self) -> NativeUsage:
        return NativeUsage(**self._counts)


def usage_of(answer: Mapping[str, Any] | Iterable[NativeEvent]) -> NativeUsage:
    """The usage of a whole answer (a ``message``) or of a stream's events."""
    tally = UsageTally()
    if isinstance(answer, Mapping):
        tally._take(answer.get("usage"))
    else:
        for event in answer:
            tally.feed(event)
    return tally.usage


def _error_object(doc: Json) -> Json:
    err = doc.get("error")
    return err if isinstance(err, dict) else {}


def event_error(event: NativeEvent, target: Target) -> UpstreamHTTPError | None:
    """The error an ``error`` event stands for (None for any other event)."""
    if event.name != "error" and event.data.get("type") != "error":
        return None
    return answers.stream_error(_error_object(event.data), target.provider.name, target.redactor)


# ---------------------------------------------------------------- requests


def forwarded_headers(target: Target, client: Mapping[str, str]) -> dict[str, str]:
    """Our headers for ``target`` with the client's ``anthropic-version`` and ``anthropic-beta``
    (see the module docstring)."""
    headers = request_headers(target)
    theirs = {k.lower(): v for k, v in client.items() if k.lower() in FORWARDED_HEADERS}
    for key, value in theirs.items():
        if len(value) > MAX_HEADER or not (value.isascii() and value.isprintable()):
            raise unsupported(target.provider.name, f"the request's {key} header is not valid")
    version = theirs.get("anthropic-version", "").strip()
    if version:
        headers["anthropic-version"] = version
    betas = [headers.get("anthropic-beta", ""), theirs.get("anthropic-beta", "")]
    names = [b.strip() for value in betas for b in value.split(",") if b.strip()]
    if names:
        headers["anthropic-beta"] = ",".join(dict.fromkeys(names))
    return headers


def _payload(target: Target, body: Mapping[str, Any], stream: bool | None) -> bytes:
    """The client's body with ``model`` replaced (and ``stream`` set when ``stream`` is not
    None and the body says otherwise), encoded."""
    out = {**body, "model": target.model}
    if stream is not None and bool(out.get("stream")) is not stream:
        out["stream"] = stream
    try:
        return orjson.dumps(out)
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: refused, nothing sent
        raise unsupported(target.provider.name, "the request cannot be sent as JSON") from None


def _error_doc(doc: Json, target: Target) -> UpstreamHTTPError | None:
    """A 200 whose body is Anthropic's error object is that error."""
    if doc.get("type") != "error":
        return None
    return answers.stream_error(_error_object(doc), target.provider.name, target.redactor)


async def _post(
    client: Transport, target: Target, path: str, payload: bytes, headers: dict[str, str]
) -> Json:
    name = target.provider.name
    url = f"{api_root(target.base_url)}{path}"
    with failures(target.provider):
        answer = await client.post(url, headers, payload, limit=target.provider.max_response_bytes)
    answers.check_status(answer.status, answer.headers, answer.body, name, target.redactor)
    doc = json_body(answer.body, name)
    error = _error_doc(doc, target)
    if error is not None:
        raise error
    return doc


async def messages(
    client: Transport, target: Target, body: Mapping[str, Any], headers: Mapping[str, str]
) -> Json:
    """``POST {api_root}/messages`` with the client's body: the provider's ``message``."""
    payload = _payload(target, body, stream=False)
    doc = await _post(client, target, "/messages", payload, forwarded_headers(target, headers))
    if doc.get("type") != "message":
        name = target.provider.name
        raise UpstreamProtocolError(f"{name} sent an answer that is not a message", provider=name)
    return doc


async def count_tokens(
    client: Transport, target: Target, body: Mapping[str, Any], headers: Mapping[str, str]
) -> Json:
    """``POST {api_root}/messages/count_tokens`` with the client's body: the provider's answer
    (``{"input_tokens": N}``)."""
    payload = _payload(target, body, stream=None)
    path = "/messages/count_tokens"
    doc = await _post(client, target, path, payload, forwarded_headers(target, headers))
    if not isinstance(doc.get("input_tokens"), int):
        name = target.provider.name
        raise UpstreamProtocolError(
            f"{name} sent a token count without input_tokens", provider=name
        )
    return doc


def _frame(name: str, data: bytes) -> bytes:
    if b"\n" in data:  # several data lines: each sent as its own line again
        data = data.replace(b"\n", b"\ndata: ")
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def messages_stream(
    client: Transport, target: Target, body: Mapping[str, Any], headers: Mapping[str, str]
) -> AsyncGenerator[NativeEvent, None]:
    """The provider's SSE stream for the client's body, event by event (module docstring)."""
    name = target.provider.name
    url = f"{api_root(target.base_url)}/messages"
    sent = forwarded_headers(target, headers) | {"accept": "text/event-stream"}
    payload = _payload(target, body, stream=True)
    first, ended = True, False
    with failures(target.provider):
        async with client.stream(url, sent, payload) as response:
            answers.check_status(
                response.status, response.headers, response.body, name, target.redactor
            )
            async with aclosing(sse_events(response, target.provider)) as events:
                async for sse in events:
                    if not sse.data:
                        continue
                    raw = sse.data.encode()
                    data = json_body(raw, name, "a stream event")
                    kind, typed = sse.event, data.get("type")
                    if kind == "message" and isinstance(typed, str):  # no event: line
                        kind = typed
                    event = NativeEvent(kind, data, _frame(kind, raw))
                    if "error" in (kind, typed):
                        if first:
                            raise answers.stream_error(_error_object(data), name, target.redactor)
                        yield event
                        return
                    first = False
                    ended = ended or "message_stop" in (kind, typed)
                    yield event
    if not ended:
        raise UpstreamProtocolError(f"{name} stream ended before message_stop", provider=name)
