"""A fake Anthropic Messages API: the wire format as Anthropic's API reference describes it.

    state = FakeState()
    with serve_app(create_app(state)) as url:
        ...                      # POST {url}/v1/messages, GET {url}/v1/models

Endpoints: ``POST /v1/messages`` (JSON or, with ``"stream": true``, SSE),
``POST /v1/messages/count_tokens`` (``{"input_tokens"}``; the body without ``max_tokens``,
``stream`` or sampling fields), ``GET /v1/models``
(paged: ``limit`` 1..1000, default 20, ``after_id`` / ``before_id``; ``data``, ``has_more``,
``first_id``, ``last_id``) and ``GET /v1/models/{id}``.

What it checks, like the real API: the key in ``x-api-key`` or, as SDKs ≥ 2.0 send it,
``Authorization: Bearer`` (``x-api-key`` wins; 401 ``authentication_error``; the only key accepted
is ``test-key``), ``anthropic-version`` (400 when missing or unknown; ``2026-10-21`` no longer
accepts ``temperature``, ``top_p``, ``top_k``), then the body: ``model``, ``messages`` and
``max_tokens`` are required (``"max_tokens: Field required"``), unknown fields are
``Extra inputs are not permitted``, ``temperature`` and ``top_p`` lie in 0..1, roles are ``user``
and ``assistant`` only and must alternate (this fake is as strict as the API was before it
started merging consecutive turns, so an adapter must merge them itself), text blocks must be
non-empty, every ``tool_use`` needs its ``tool_result`` in the next turn and every
``tool_result`` a ``tool_use`` in the previous one, a final assistant turn must not end in
whitespace, images need a base64 source with a supported media type or a url source, tools
need an object ``input_schema``, ``tool_choice`` must name an offered tool and needs tools, an
unknown model is 404 ``not_found_error``. ``cache_control`` markers are ``{"type": "ephemeral",
"ttl"?}``, at most 4 (a top-level one marks the prompt's last block); ``thinking`` ``enabled``
needs ``budget_tokens`` ≥ 1024 and below ``max_tokens`` (and then ``temperature`` 1 or none);
with thinking on, the assistant turn that tool results answer must start with a thinking block.
Every thinking block in the history must carry the signature this fake gave it (an HMAC of its
text under the state's ``signing_key``; ``redacted_thinking`` ``data`` likewise): an edited,
re-serialised or foreign block is 400 ``messages.I.content.J: Invalid `signature` in `thinking`
block``, as the API answers. Every error is ``{"type": "error", "error": {"type", "message"},
"request_id"}``.

Answers are deterministic: the text of the last user turn echoed back (the contents of its
tool results when it has no text: ``"tool said: …"``). When tools are offered and that text
has lines ``call NAME {json}``, the answer is a short text block plus one ``tool_use`` per line
(``stop_reason: tool_use``); ``tool_choice`` any/tool forces a call with ``{}`` input. Text
starting ``refuse`` gets ``stop_reason: refusal`` and no content. ``stop_sequences`` cut the
echo (``stop_sequence``), ``max_tokens`` caps it in words (``max_tokens``), a ``thinking``
request gets a signed thinking block first (and a ``redacted_thinking`` block before it when the
text holds Anthropic's documented test string). Tokens are whitespace-separated words (an image
counts 100). With cache markers, the prompt (tools, system, messages) up to the last marker is
cached per model in ``prompt_cache``: the longest prefix ending at a marker seen before is
reported as ``cache_read_input_tokens``, the rest up to the last marker as
``cache_creation_input_tokens`` (and by ttl in ``cache_creation``), only the tokens after it as
``input_tokens`` (there is no minimum length, unlike the API). ``cache_read_tokens`` /
``cache_creation_tokens`` of the state, when set, are reported instead.

Streams follow the documented event flow: ``message_start`` (usage with ``output_tokens: 1``),
per block ``content_block_start`` / ``content_block_delta`` (``text_delta`` word by word,
``input_json_delta`` in 8-character pieces after an empty one, ``thinking_delta`` then
``signature_delta``) / ``content_block_stop``, a ``ping`` after the first block starts,
``message_delta`` (stop_reason and the full usage), ``message_stop``. Each event is one
``event:``/``data:`` pair ending in a blank line; ``crlf`` switches line ends to CRLF and
``split_writes`` sends every event in two writes cut mid-JSON. Every request is recorded
(``requests``: headers, parsed body and the raw bytes), and the last stream's events as written
(``streamed``).

The script (:class:`FakeState`) applies to the next requests, one step each: ``fail`` answers an
error status (Anthropic's error shape by default), ``hang`` waits before answering, ``malformed``
sends a body (or a first stream event) that is not JSON, ``break_stream_after(n)`` sends ``n``
events and then cuts the connection (``mode="cut"``), sends an ``overloaded_error`` event and
ends the stream (``mode="error"``, what the API does when it overloads mid-stream; with ``n``
0 it is the stream's first event) or ends the stream cleanly, without ``message_stop``
(``mode="end"``, as a proxy closing early would).
``reset_connection(after_events, how)`` reads the request, then resets (``rst``) or closes
(``fin``) its TCP connection with no HTTP answer, or, on a stream, after ``after_events`` events
(and once ``hold`` is set, when one is given).
``chunk_delay`` is slept between stream events. A stream whose client went away is counted in
``disconnects`` and sets ``client_gone``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request

from tests.fakes.anthropic_fake_checks import Invalid, error_body, validate
from tests.fakes.anthropic_fake_model import (
    answer,
    check_signatures,
    default_models,
    encode,
    events,
    input_tokens,
    prompt_usage,
)
from tests.fakes.serve import Breaking, break_connection, released

Json = dict[str, Any]
API_KEY = "test-key"
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or None
    raw: bytes = b""  # the body as sent


@dataclass
class Step:
    kind: str  # fail | hang | malformed | reset | break
    status: int = 0
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    events: int = 0
    mode: str = "cut"
    hold: threading.Event | None = None  # reset mid-stream: once the test sets it


@dataclass
class FakeState:
    api_key: str = API_KEY
    chunk_delay: float = 0.0
    crlf: bool = False
    split_writes: bool = False
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    prompt_cache: set[str] = field(default_factory=set)  # prompt prefixes cached (their keys)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    models: list[Json] = field(default_factory=default_models)
    requests: list[Recorded] = field(default_factory=list)
    script: list[Step] = field(default_factory=list)
    streamed: list[bytes] = field(default_factory=list)  # the last stream's events, as sent
    streams_started: int = 0
    streams_finished: int = 0
    streams_open: int = 0  # started and not yet ended (any way)
    disconnects: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        with self._lock:
            self.script += [Step("fail", status=status, body=body, headers=headers)] * times

    def hang(self, seconds: float) -> None:
        with self._lock:
            self.script.append(Step("hang", seconds=seconds))

    def malformed(self) -> None:
        with self._lock:
            self.script.append(Step("malformed"))

    def reset_connection(
        self, after_events: int = 0, how: Breaking = "rst", hold: threading.Event | None = None
    ) -> None:
        with self._lock:
            self.script.append(Step("reset", events=after_events, mode=how, hold=hold))

    def break_stream_after(self, n_events: int, mode: str = "cut") -> None:
        assert mode in ("cut", "error", "end")
        with self._lock:
            self.script.append(Step("break", events=n_events, mode=mode))

    def next_step(self) -> Step | None:
        with self._lock:
            return self.script.pop(0) if self.script else None

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(error_body(status, message))
    return Response(body, status=status, headers=headers, content_type="application/json")


# ---------------------------------------------------------------- the app


def create_app(state: FakeState | None = None) -> Quart:
    state = state if state is not None else FakeState()
    app = Quart("anthropic_fake")
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    app.config["fake_state"] = state

    async def record() -> Recorded:
        raw = await request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(
            request.method,
            request.path,
            dict(request.args),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            raw,
        )
        state.requests.append(rec)
        return rec

    async def scripted() -> tuple[Step | None, Response | None]:
        """The next scripted step; a response when that step is the whole answer."""
        step = state.next_step()
        if step is None:
            return None, None
        if step.kind == "fail":
            headers = dict(step.headers or {})
            if step.status == 429 and step.headers is None:
                headers["retry-after"] = "1"
            if step.body is None:
                return step, error_response(step.status, f"scripted failure {step.status}", headers)
            body = step.body if isinstance(step.body, str | bytes) else json.dumps(step.body)
            return step, Response(
                body, status=step.status, headers=headers, content_type="application/json"
            )
        if step.kind == "hang":
            await asyncio.sleep(step.seconds)
        return step, None

    def auth(rec: Recorded) -> Response | None:
        bearer = rec.headers.get("authorization", "")
        key = rec.headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if not key:
            return error_response(401, "x-api-key header is required")
        if key != state.api_key:
            return error_response(401, "invalid x-api-key")
        version = rec.headers.get("anthropic-version")
        if not version:
            return error_response(400, "anthropic-version: header is required")
        if version not in VERSIONS:
            return error_response(400, f"anthropic-version: invalid version {version!r}")
        return None

    def ids() -> dict[str, str]:
        return {"request-id": f"req_{secrets.token_hex(12)}"}

    @app.post("/v1/messages")
    async def messages() -> Response:
        rec = await record()
        step, failure = await scripted()
        if failure is not None:
            return failure
        streaming = bool((rec.body or {}).get("stream"))
        if step is not None and step.kind == "reset" and (step.events == 0 or not streaming):
            break_connection(request.scope, step.mode)  # type: ignore[arg-type]
            return Response("")  # never sent: its first write resets the connection
        denied = auth(rec)
        if denied is not None:
            return denied
        if step is not None and step.kind == "malformed" and not (rec.body or {}).get("stream"):
            return Response('{"type": "message", "content": [', content_type="application/json")
        if rec.body is None:
            return error_response(400, "There was an issue with the JSON body of your request")
        try:
            validate(rec.body, state.models, rec.headers["anthropic-version"])
            check_signatures(rec.body, state.signing_key)
        except Invalid as exc:
            return error_response(exc.status, exc.message)
        prompt = prompt_usage(rec.body, state.prompt_cache)
        if state.cache_read_tokens or state.cache_creation_tokens:  # set by a test: as given
            prompt["cache_read_input_tokens"] = state.cache_read_tokens
            prompt["cache_creation_input_tokens"] = state.cache_creation_tokens
        message = answer(rec.body, prompt, state.signing_key)
        if not rec.body.get("stream"):
            return Response(json.dumps(message), content_type="application/json", headers=ids())
        response = Response(
            stream(message, step, request.scope),
            content_type="text/event-stream; charset=utf-8",
            headers=ids(),
        )
        response.timeout = None
        return response

    @app.post("/v1/messages/count_tokens")
    async def count_tokens() -> Response:
        rec = await record()
        _step, failure = await scripted()
        if failure is not None:
            return failure
        denied = auth(rec)
        if denied is not None:
            return denied
        if rec.body is None:
            return error_response(400, "There was an issue with the JSON body of your request")
        try:
            validate(rec.body, state.models, rec.headers["anthropic-version"], count=True)
            check_signatures(rec.body, state.signing_key)
        except Invalid as exc:
            return error_response(exc.status, exc.message)
        doc = {"input_tokens": input_tokens(rec.body)}
        return Response(json.dumps(doc), content_type="application/json", headers=ids())

    async def stream(message: Json, step: Step | None, scope: Any) -> AsyncIterator[bytes]:
        state.streams_started += 1
        state.streams_open += 1
        state.streamed = []
        finished = False
        try:
            for n, (name, data) in enumerate(events(message)):
                if step is not None and step.kind == "break" and n == step.events:
                    if step.mode == "end":
                        finished = True
                        return
                    if step.mode == "error":
                        err = error_body(529, "Overloaded")
                        del err["request_id"]
                        state.streamed.append(encode("error", err, state.crlf))
                        yield state.streamed[-1]
                        finished = True
                        return
                    finished = True  # a scripted cut, not a client that went away
                    raise ConnectionAbortedError("scripted cut")
                if n and state.chunk_delay:
                    await asyncio.sleep(state.chunk_delay)
                if step is not None and step.kind == "reset" and n == step.events:
                    finished = True
                    await released(step.hold)
                    break_connection(scope, step.mode)  # type: ignore[arg-type]
                    yield encode(name, data, state.crlf)  # this write resets instead
                    return
                if step is not None and step.kind == "malformed" and n == 0:
                    yield encode(name, '{"type": "message_start", "message": {', state.crlf)
                    continue
                raw = encode(name, data, state.crlf)
                state.streamed.append(raw)
                if state.split_writes:
                    cut = len(raw) // 2
                    yield raw[:cut]
                    await asyncio.sleep(0.002)
                    yield raw[cut:]
                else:
                    yield raw
            finished = True
            state.streams_finished += 1
        finally:
            state.streams_open -= 1
            if not finished:
                state.disconnects += 1
                state.client_gone.set()

    @app.get("/v1/models")
    async def list_models() -> Response:
        rec = await record()
        _step, failure = await scripted()
        if failure is not None:
            return failure
        denied = auth(rec)
        if denied is not None:
            return denied
        try:
            limit = int(rec.query.get("limit", "20"))
        except ValueError:
            return error_response(400, "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return error_response(400, "limit: Input should be between 1 and 1000")
        models = state.models
        after, before = rec.query.get("after_id"), rec.query.get("before_id")
        ids_ = [m["id"] for m in models]
        if after is not None:
            if after not in ids_:
                return error_response(400, f"after_id: unknown model {after}")
            models = models[ids_.index(after) + 1 :]
        elif before is not None:
            if before not in ids_:
                return error_response(400, f"before_id: unknown model {before}")
            models = models[: ids_.index(before)][-limit:]
        page = models[:limit]
        doc = {
            "data": page,
            "has_more": len(models) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
        return Response(json.dumps(doc), content_type="application/json", headers=ids())

    @app.get("/v1/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        rec = await record()
        _step, failure = await scripted()
        if failure is not None:
            return failure
        denied = auth(rec)
        if denied is not None:
            return denied
        for model in state.models:
            if model["id"] == model_id:
                return Response(json.dumps(model), content_type="application/json", headers=ids())
        return error_response(404, f"model: {model_id}")

    return app
