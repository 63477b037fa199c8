"""A fake OpenAI API (and, with flags, the OpenAI-compatible servers that copy it).

    state = FakeState()
    with serve_app(create_app(state)) as url:
        ...          # base_url = f"{url}/v1": POST /chat/completions, /completions, /embeddings,
                     # /responses (tests.fakes.openai_fake_responses), GET /models, /models/{id}

Every request is recorded, then checked like the real API (``Authorization: Bearer test-key``:
401 ``invalid_api_key`` when wrong, 401 without a code when missing; ``api_key=None`` accepts
anything, as LM Studio and vLLM do), then validated (:mod:`tests.fakes.openai_fake_model`:
unknown fields, the published request schemas, metadata/store, stream_options/stream, tool
turns, models). Every error is ``{"error": {"message", "type", "param", "code"}}``.

Answers are OpenAI's objects: ``chat.completion`` with ``message.refusal`` and
``annotations``, ``logprobs`` (content logprobs when asked), ``service_tier``,
``system_fingerprint``, usage with its details; the model answers as its dated snapshot
(``gpt-4o-mini`` → ``gpt-4o-mini-2024-07-18``). Streams are ``data: {json}\\n\\n`` events: the
first chunk carries ``role``, then one chunk per word (tool calls: the id, type, name and
empty arguments first, then 8-character argument fragments; refusals in ``delta.refusal``), a
chunk with the ``finish_reason`` and an empty delta, then — with ``stream_options.include_usage``
— ``"usage": null`` on every chunk and a last chunk with ``choices: []`` and the usage, then
``data: [DONE]``. Chunks carry ``obfuscation`` unless ``include_obfuscation`` is false.

Flags on the state: ``compat`` answers like the lax compatible servers (no ``refusal``, no
``logprobs``, chunks without ``object``/``created``, ``system_fingerprint: null``,
``service_tier: on_demand``, ``*_details: null``); ``openrouter`` sends ``: OPENROUTER
PROCESSING`` comments before the first chunk and OpenRouter's mid-stream error shape;
``crlf`` ends lines with CRLF; ``split_writes`` cuts every event in two writes. The script:
``fail`` (the error shape above by default; a 429 gets ``retry-after``/``retry-after-ms`` and
``x-ratelimit-*`` headers unless headers are given), ``hang``, ``malformed(what, after_events)``
(a 200 whose body is cut JSON (``json``), JSON that is not OpenAI's (``shape``: Ollama's native
answer) or an HTML page (``html``); on a stream, event number ``after_events`` is cut JSON or a
chunk whose ``choices`` is not a list, the events before it are sound),
``reset_connection(after_events, how)`` (the request is read, then its TCP connection is reset
(``rst``) or closed (``fin``) with no HTTP answer at all; on a stream, after ``after_events``
events, and once ``hold`` is set when one is given), ``break_stream_after(n, mode)`` (``cut``
the stream, send an ``error`` event and end, or ``end`` cleanly without ``[DONE]``);
``chunk_delay`` between events; ``burst`` sends a whole unscripted stream in one write (as a
fast server, or TCP, delivers it when the reader is behind). A stream whose client went away
counts in ``disconnects`` and sets ``client_gone``.
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

from tests.fakes import openai_fake_answers as fa
from tests.fakes import openai_fake_model as fm
from tests.fakes import openai_fake_responses as fr
from tests.fakes.openai_fake_answers import default_models, openrouter_models
from tests.fakes.serve import Breaking, break_connection, released

__all__ = ["FakeState", "create_app", "default_models", "openrouter_models"]

Json = dict[str, Any]
API_KEY = "test-key"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or None


@dataclass
class Step:
    kind: str  # fail | hang | malformed | reset | break
    status: int = 0
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    events: int = 0
    mode: str = "cut"  # break: cut | error | end; malformed: json | shape | html; reset: rst | fin
    hold: threading.Event | None = None


@dataclass
class FakeState:
    api_key: str | None = API_KEY
    chunk_delay: float = 0.0
    compat: bool = False
    openrouter: bool = False
    crlf: bool = False
    split_writes: bool = False
    burst: bool = False
    models: list[Json] = field(default_factory=default_models)
    requests: list[Recorded] = field(default_factory=list)
    script: list[Step] = field(default_factory=list)
    reported: list[Json] = field(default_factory=list)  # every usage object written, in order
    streams_started: int = 0
    streams_finished: int = 0
    streams_open: int = 0  # started and not yet ended (any way)
    disconnects: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self.script += [Step("fail", status=status, body=body, headers=headers)] * times

    def hang(self, seconds: float) -> None:
        with self._lock:
            self.script.append(Step("hang", seconds=seconds))

    def malformed(self, what: str = "json", after_events: int = 0) -> None:
        assert what in fa.MALFORMED
        with self._lock:
            self.script.append(Step("malformed", events=after_events, mode=what))

    def reset_connection(
        self,
        after_events: int = 0,
        how: Breaking = "rst",
        hold: threading.Event | None = None,
    ) -> None:
        assert how in ("rst", "fin")
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


def ratelimit_headers(remaining: int = 499) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-remaining-tokens": "199000",
        "x-ratelimit-reset-requests": "1.5s" if remaining == 0 else "120ms",
        "x-ratelimit-reset-tokens": "300ms",
    }


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = json.dumps(fm.error_body(message, type_, param, code))
    return Response(body, status=status, headers=headers, content_type="application/json")


def _mask(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


# ---------------------------------------------------------------- the app


def create_app(state: FakeState | None = None) -> Quart:
    state = state if state is not None else FakeState()
    app = Quart("openai_fake")
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    app.config["fake_state"] = state

    def headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {
            "x-request-id": f"req_{secrets.token_hex(16)}",
            "openai-version": "2020-10-01",
            "openai-processing-ms": "42",
            **ratelimit_headers(),
        }
        return out | (extra or {})

    async def record() -> Recorded:
        raw = await request.get_data(as_text=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        lowered = {k.lower(): v for k, v in request.headers.items()}
        rec = Recorded(request.method, request.path, dict(request.args), lowered, body)
        state.requests.append(rec)
        return rec

    async def begin() -> tuple[Recorded, Step | None, Response | None]:
        """Record, apply the script, check the key: a response when that is the answer."""
        rec = await record()
        step = state.next_step()
        if step is not None and step.kind == "fail":
            extra = dict(step.headers) if step.headers is not None else {}
            if step.status == 429 and step.headers is None:
                extra |= ratelimit_headers(0) | {"retry-after": "2", "retry-after-ms": "1500"}
            if step.body is None:
                msg, kind, code = fa.DEFAULT_ERRORS.get(
                    step.status, ("Upstream error.", "server_error", None)
                )
                return rec, step, error_response(step.status, msg, kind, None, code, headers(extra))
            body = step.body if isinstance(step.body, str | bytes) else json.dumps(step.body)
            return (
                rec,
                step,
                Response(
                    body,
                    status=step.status,
                    headers=headers(extra),
                    content_type="application/json",
                ),
            )
        if step is not None and step.kind == "hang":
            await asyncio.sleep(step.seconds)
        streaming = isinstance(rec.body, dict) and rec.body.get("stream") is True
        if step is not None and step.kind == "reset" and (step.events == 0 or not streaming):
            break_connection(request.scope, step.mode)  # type: ignore[arg-type]
            return rec, step, Response("", status=200)  # never sent: its first write resets
        if state.api_key is not None:
            auth = rec.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                msg = (
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                )
                return rec, step, error_response(401, msg, headers=headers())
            if auth[7:].strip() != state.api_key:
                msg = f"Incorrect API key provided: {_mask(auth[7:].strip())}."
                return (
                    rec,
                    step,
                    error_response(401, msg, code="invalid_api_key", headers=headers()),
                )
        return rec, step, None

    async def endpoint(kind: str) -> Response:
        rec, step, early = await begin()
        if early is not None:
            return early
        try:
            fm.check(kind, rec.body, [m["id"] for m in state.models])
        except fm.Invalid as exc:
            return error_response(
                exc.status, exc.message, param=exc.param, code=exc.code, headers=headers()
            )
        body: Json = rec.body
        streaming = body.get("stream") is True
        if step is not None and step.kind == "malformed" and (not streaming or step.mode == "html"):
            if step.mode == "html":
                return Response(fa.HTML_PAGE, headers=headers(), content_type="text/html")
            text = fa.TRUNCATED if step.mode == "json" else fa.malformed_body(body["model"])
            return Response(text, headers=headers(), content_type="application/json")
        if kind == "embeddings":
            vectors, tokens = fm.embeddings(body)
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": fm.encode_vector(v, body.get("encoding_format")),
                }
                for i, v in enumerate(vectors)
            ]
            doc = {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
            state.reported.append(doc["usage"])
            return Response(json.dumps(doc), headers=headers(), content_type="application/json")
        if kind == "chat":
            answer = fm.chat_answer(body)
            if not streaming:
                doc = fa.chat_completion(state, body, answer)
                state.reported.append(doc["usage"])
                return Response(json.dumps(doc), headers=headers(), content_type="application/json")
            chunks = fa.chat_chunks(state, body, answer)
        else:
            answers = fm.completion_answers(body)
            if not streaming:
                doc = fa.text_completion(state, body, answers)
                state.reported.append(doc["usage"])
                return Response(json.dumps(doc), headers=headers(), content_type="application/json")
            chunks = fa.completion_chunks(state, body, answers)
        obfuscate = (body.get("stream_options") or {}).get("include_obfuscation", True)
        if obfuscate and not state.compat and kind == "chat":
            for c in chunks:
                c["obfuscation"] = secrets.token_urlsafe(4)
        response = Response(
            stream(chunks, step, body["model"], request.scope),
            headers=headers(),
            content_type="text/event-stream; charset=utf-8",
        )
        response.timeout = None
        return response

    def encode(data: str) -> bytes:
        text = f"data: {data}\n\n"
        return (text.replace("\n", "\r\n") if state.crlf else text).encode()

    async def stream(
        chunks: list[Json], step: Step | None, model: str, scope: Any
    ) -> AsyncIterator[bytes]:
        state.streams_started += 1
        state.streams_open += 1
        finished = False
        events = [json.dumps(c) for c in chunks] + ["[DONE]"]
        try:
            if state.openrouter:
                yield (
                    ": OPENROUTER PROCESSING\r\n\r\n"
                    if state.crlf
                    else ": OPENROUTER PROCESSING\n\n"
                ).encode()
            if state.burst and step is None:
                if chunks and chunks[-1].get("usage"):
                    state.reported.append(chunks[-1]["usage"])
                yield b"".join(encode(data) for data in events)
                events = []
            for n, data in enumerate(events):
                if step is not None and step.kind == "break" and n == step.events:
                    finished = True  # a scripted ending, not a client that went away
                    if step.mode == "error":
                        yield encode(json.dumps(fa.stream_error(state, model)))
                    if step.mode == "cut":
                        raise ConnectionAbortedError("scripted cut")
                    return
                if n and state.chunk_delay:
                    await asyncio.sleep(state.chunk_delay)
                if step is not None and step.kind == "reset" and n == step.events:
                    await released(step.hold)
                    break_connection(scope, step.mode)  # the write below resets instead
                    finished = True
                    yield encode(data)
                    return
                if step is not None and step.kind == "malformed" and n == step.events:
                    data = fa.malformed_event(step.mode, model)
                elif n == len(chunks) - 1 and chunks[-1].get("usage"):
                    # recorded as it is written: a gateway may end its answer on this chunk
                    # (or the [DONE] after it) before this generator runs again
                    state.reported.append(chunks[-1]["usage"])
                raw = encode(data)
                if state.split_writes:
                    yield raw[: len(raw) // 2]
                    await asyncio.sleep(0.002)
                    yield raw[len(raw) // 2 :]
                else:
                    yield raw
            finished = True
            state.streams_finished += 1
        finally:
            state.streams_open -= 1
            if not finished:
                state.disconnects += 1
                state.client_gone.set()

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        return await endpoint("chat")

    @app.post("/v1/completions")
    async def completions() -> Response:
        return await endpoint("completion")

    @app.post("/v1/responses")
    async def responses() -> Response:
        rec, step, early = await begin()
        if early is not None:
            return early
        return await fr.serve(state, rec.body, step, headers(), request.scope)

    @app.post("/v1/embeddings")
    async def embeddings() -> Response:
        return await endpoint("embeddings")

    @app.get("/v1/models")
    async def list_models() -> Response:
        _rec, _step, early = await begin()
        if early is not None:
            return early
        doc = {"object": "list", "data": state.models}
        return Response(json.dumps(doc), headers=headers(), content_type="application/json")

    @app.get("/v1/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        _rec, _step, early = await begin()
        if early is not None:
            return early
        for model in state.models:
            if model["id"] == model_id:
                return Response(
                    json.dumps(model), headers=headers(), content_type="application/json"
                )
        return error_response(
            404,
            f"The model '{model_id}' does not exist",
            param="model",
            code="model_not_found",
            headers=headers(),
        )

    return app
