"""A fake Gemini API (Google AI, v1beta) that speaks the real wire format, for tests.

    state = FakeState()
    with serve_app(create_app(state)) as url:   # point a client at url (no /v1beta)
        ...

Endpoints (under ``/v1beta`` and ``/v1``): ``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent`` (``?alt=sse``: ``data: {GenerateContentResponse}`` events separated by
CRLF CRLF, each written in two pieces, no ``[DONE]``; without ``alt``: one streamed JSON array),
``:embedContent``, ``:batchEmbedContents``, ``GET /v1beta/models`` (``pageSize``/``pageToken``)
and ``GET /v1beta/models/{model}``.

Like the real API: the key is read from ``x-goog-api-key`` or ``?key=``; no key → 403
PERMISSION_DENIED, a wrong key → 400 INVALID_ARGUMENT (reason API_KEY_INVALID), an OAuth bearer
token that is not valid → 401 UNAUTHENTICATED (Gemini does not answer 401 for API keys). Errors
are Google's ``{"error": {"code", "message", "status", "details"}}``. Requests are validated as
the API does (see :mod:`tests.fakes.gemini_checks`): unknown fields, roles, empty parts,
function call/response pairing, the function schema subset (``additionalProperties`` is an
unknown field), generation config ranges, tool config. Field names may be camelCase or
snake_case, as in the real API's JSON mapping.

Answers are derived from the last user turn: its text echoed; ``call NAME {json}`` (``&&`` for
parallel calls) → function calls when tools are offered (the first carries a thoughtSignature, as
Gemini 2.5+/3 does); a turn of function responses → ``result: NAME={json}; …``; ``block …`` → the
prompt is blocked (promptFeedback.blockReason SAFETY); ``unsafe …`` → finishReason SAFETY, no
content; ``think …`` → a thought part first and thoughtsTokenCount; JSON mode → ``{"echo": text}``.
``maxOutputTokens`` cuts (finishReason MAX_TOKENS), ``stopSequences`` stop. Tokens are words.

The script (:class:`FakeState`): ``fail``, ``hang``, ``malformed``, ``reset_connection`` (no HTTP
answer: the TCP connection is reset or closed, or mid-stream) and ``break_stream_after``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request

from tests.fakes.gemini_checks import MODELS, check_embed, check_generate, google_error
from tests.fakes.serve import Breaking, break_connection, released

Json = dict[str, Any]
API_KEY = "test-key"
VERSIONS = ("v1beta", "v1")  # served alike (google-genai 3.x defaults to v1)


@dataclass
class Received:
    method: str
    path: str  # as sent, e.g. /v1beta/models/gemini-2.5-flash:generateContent
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any


@dataclass
class Action:
    kind: str  # fail | hang | malformed | reset | break
    status: int = 500
    body: Any = None
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    after: int = 0
    mode: str = "error"
    hold: threading.Event | None = None  # reset mid-stream: once the test sets it


@dataclass
class FakeState:
    """What the fake received, and a script of misbehaviour for the next requests."""

    requests: list[Received] = field(default_factory=list)
    script: deque[Action] = field(default_factory=deque)
    chunk_delay: float = 0.0  # seconds between stream events
    split_writes: bool = True  # write each SSE event in two pieces
    page_size_cap: int = 1000
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0  # the client went away before the stream ended
    events_sent: int = 0
    usages: list[Json] = field(default_factory=list)  # usageMetadata of each answer

    generation: int = 0  # bumped by reset(): a request begun before it no longer counts

    def reset(self) -> None:
        generation = self.generation
        self.__init__()  # type: ignore[misc]
        self.generation = generation + 1

    @property
    def last(self) -> Received:
        return self.requests[-1]

    def fail(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self.script.append(Action("fail", status=status, body=body, headers=headers))

    def hang(self, seconds: float) -> None:
        self.script.append(Action("hang", seconds=seconds))

    def malformed(self) -> None:
        self.script.append(Action("malformed"))

    def reset_connection(
        self, after_events: int = 0, how: Breaking = "rst", hold: threading.Event | None = None
    ) -> None:
        """Read the request, then reset (``rst``) or close (``fin``) its TCP connection with no
        HTTP answer; on a stream, after ``after_events`` events (and once ``hold`` is set)."""
        self.script.append(Action("reset", after=after_events, mode=how, hold=hold))

    def break_stream_after(self, n_events: int, mode: str = "error") -> None:
        """``error``: an in-stream ``{"error": …}`` event, as Gemini sends; ``cut``: the
        connection drops mid-body."""
        self.script.append(Action("break", after=n_events, mode=mode))


class _Cut(Exception):
    """Raised inside a streaming body: Hypercorn drops the connection mid-response."""


def _error(code: int, message: str | None = None, details: list[Json] | None = None) -> Response:
    return Response(
        json.dumps(google_error(code, message, details)),
        status=code,
        content_type="application/json; charset=UTF-8",
    )


def _auth() -> Response | None:
    key = request.headers.get("x-goog-api-key") or request.args.get("key")
    if key is None and request.headers.get("authorization"):
        return _error(401)
    if key is None:
        return _error(403)
    if key != API_KEY:
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
        return _error(400, "API key not valid. Please pass a valid API key.", [info])
    return None


def _words(text: str) -> int:
    return len(text.split())


def _text(content: Json) -> str:
    return " ".join(p["text"] for p in content.get("parts") or [] if isinstance(p.get("text"), str))


def _get(d: Json, camel: str) -> Any:
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return d.get(camel, d.get(snake))


@dataclass
class Plan:
    parts: list[Json]
    finish: str
    usage: Json
    blocked: bool = False


def plan(payload: Json) -> Plan:
    """The fake model: what it answers to a (valid) GenerateContentRequest."""
    contents = payload["contents"]
    system = _get(payload, "systemInstruction") or {}
    prompt = sum(_words(_text(c)) + sum(1 for p in c["parts"] if "text" not in p) for c in contents)
    prompt += _words(_text(system))
    gc = _get(payload, "generationConfig") or {}
    user: Json = next(
        (c for c in reversed(contents) if c.get("role", "user") == "user"), {"parts": []}
    )
    text = _text(user)
    responses = [_get(p, "functionResponse") for p in user["parts"] if _get(p, "functionResponse")]
    decls = [d for t in payload.get("tools") or [] for d in _get(t, "functionDeclarations") or []]
    calling = _get(_get(payload, "toolConfig") or {}, "functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    allowed = _get(calling, "allowedFunctionNames") or [d["name"] for d in decls]
    parts: list[Json] = []
    finish, thoughts = "STOP", 0
    if text.startswith("block "):
        return Plan([], "", {"promptTokenCount": prompt, "totalTokenCount": prompt}, blocked=True)
    if text.startswith("think "):
        parts.append({"text": "Thinking it over.", "thought": True})
        thoughts = 3
    if text.startswith("unsafe "):
        finish = "SAFETY"
    elif responses:
        answers = [f"{r['name']}={json.dumps(r['response'], sort_keys=True)}" for r in responses]
        parts.append({"text": "result: " + "; ".join(answers)})
    elif decls and mode != "NONE" and (text.startswith("call ") or mode == "ANY"):
        wanted = [c.strip() for c in text[5:].split("&&")] if text.startswith("call ") else []
        wanted = [c for c in wanted if c.partition(" ")[0] in allowed] or [allowed[0]]
        for i, call in enumerate(wanted):  # only declared (and allowed) functions are called
            name, _, args = call.partition(" ")
            part: Json = {"functionCall": {"name": name, "args": json.loads(args or "{}")}}
            if i == 0:
                part["thoughtSignature"] = base64.b64encode(f"sig:{name}".encode()).decode()
            parts.append(part)
    else:
        reply = text
        if _get(gc, "responseMimeType") == "application/json":
            reply = json.dumps({"echo": text})
        for stop in _get(gc, "stopSequences") or []:
            if stop in reply:
                reply = reply[: reply.index(stop)]
        limit = _get(gc, "maxOutputTokens")
        if limit is not None and _words(reply) > limit:
            reply, finish = " ".join(reply.split()[:limit]), "MAX_TOKENS"
        parts.append({"text": reply})
    out = sum(_words(p["text"]) for p in parts if "text" in p and not p.get("thought"))
    out += sum(
        1 + _words(json.dumps(p["functionCall"]["args"])) for p in parts if "functionCall" in p
    )
    usage: Json = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt + out + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return Plan(parts, finish, usage)


def _events(result: Plan, model: str, rid: str) -> list[Json]:
    """The partial responses a stream sends for ``result``: text two words at a time, function
    calls whole, the finish reason and full usage on the last one."""
    common = {"modelVersion": model, "responseId": rid}
    if result.blocked:
        feedback = {"blockReason": "SAFETY", "safetyRatings": []}
        return [{"promptFeedback": feedback, "usageMetadata": result.usage, **common}]
    pieces: list[Json] = []
    for part in result.parts:
        if "text" in part and not part.get("thought"):
            tokens = re.findall(r"\S+\s*", part["text"]) or [part["text"]]
            pieces += [{"text": "".join(tokens[i : i + 2])} for i in range(0, len(tokens), 2)]
        else:
            pieces.append(part)
    partial = {
        "promptTokenCount": result.usage["promptTokenCount"],
        "totalTokenCount": result.usage["promptTokenCount"],
    }
    out: list[Json] = []
    for piece in pieces:
        candidate = {"content": {"parts": [piece], "role": "model"}, "index": 0}
        out.append({"candidates": [candidate], "usageMetadata": partial, **common})
    if not out:
        out.append({"candidates": [{"index": 0, "safetyRatings": []}], **common})
    out[-1]["candidates"][0]["finishReason"] = result.finish
    out[-1]["usageMetadata"] = result.usage
    return out


def _whole(result: Plan, model: str, rid: str) -> Json:
    common = {"usageMetadata": result.usage, "modelVersion": model, "responseId": rid}
    if result.blocked:
        return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, **common}
    candidate: Json = {"finishReason": result.finish, "index": 0}
    if result.parts:
        candidate["content"] = {"parts": result.parts, "role": "model"}
    return {"candidates": [candidate], **common}


def _vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 128) / 128, 6) for i in range(dims)]


def create_app(state: FakeState | None = None) -> Quart:
    app = Quart("gemini-fake")
    app.config["fake_state"] = state = state or FakeState()

    async def _script() -> Action | Response | None:
        """Apply the next scripted action; a Response means: answer that."""
        action = state.script.popleft() if state.script else None
        if action is None:
            return None
        if action.kind == "fail":
            body = action.body if action.body is not None else google_error(action.status)
            text = body if isinstance(body, str) else json.dumps(body)
            return Response(
                text,
                status=action.status,
                headers=action.headers or {},
                content_type="application/json",
            )
        if action.kind == "hang":
            generation = state.generation
            await asyncio.sleep(action.seconds)
            if generation != state.generation:  # the test that asked for it is over
                return _error(503)
            return None
        return action

    @app.before_request
    async def record() -> None:
        body = await request.get_data()
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        state.requests.append(
            Received(
                request.method,
                request.path,
                dict(request.args),
                {k.lower(): v for k, v in request.headers.items()},
                doc,
            )
        )

    @app.get("/<version>/models")
    async def list_models(version: str) -> Response:
        if version not in VERSIONS:
            return _error(404, "Not found.")
        early = await _script()
        if isinstance(early, Response):
            return early
        denied = _auth()
        if denied:
            return denied
        size = min(int(request.args.get("pageSize") or 50), state.page_size_cap, 1000)
        token = request.args.get("pageToken")
        try:
            start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        except ValueError:
            return _error(400, "Invalid page token.")
        page: Json = {"models": MODELS[start : start + size]}
        if start + size < len(MODELS):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return Response(json.dumps(page), content_type="application/json; charset=UTF-8")

    @app.get("/<version>/models/<name>")
    async def get_model(version: str, name: str) -> Response:
        if version not in VERSIONS:
            return _error(404, "Not found.")
        denied = _auth()
        if denied:
            return denied
        for model in MODELS:
            if model["name"] == f"models/{name}":
                return Response(json.dumps(model), content_type="application/json")
        return _error(404, f"models/{name} is not found for API version {version}.")

    @app.post("/<version>/models/<path:target>")
    async def call(version: str, target: str) -> Response:
        if version not in VERSIONS:
            return _error(404, "Not found.")
        early = await _script()
        if isinstance(early, Response):
            return early
        denied = _auth()
        if denied:
            return denied
        model, _, method = target.partition(":")
        entry = next((m for m in MODELS if m["name"] == f"models/{model}"), None)
        wanted = {"streamGenerateContent": "generateContent", "batchEmbedContents": "embedContent"}
        if entry is None or wanted.get(method, method) not in entry["supportedGenerationMethods"]:
            return _error(
                404,
                f"models/{model} is not found for API version {version}, or is not supported for "
                f"{method}. Call ListModels to see the list of available models and their "
                "supported methods.",
            )
        streaming = method == "streamGenerateContent"
        if (
            isinstance(early, Action)
            and early.kind == "reset"
            and (early.after == 0 or not streaming)
        ):
            break_connection(request.scope, early.mode)  # type: ignore[arg-type]
            return Response("")  # never sent: its first write resets the connection
        if isinstance(early, Action) and early.kind == "malformed":
            if method == "streamGenerateContent":
                return Response('data: {"candidates": [\r\n\r\n', content_type="text/event-stream")
            return Response('{"candidates": [{"content": ', content_type="application/json")
        payload = await request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _error(400, "Invalid JSON payload received. Unexpected token.")
        if method in ("embedContent", "batchEmbedContents"):
            problem = check_embed(payload, model, batch=method == "batchEmbedContents")
            if problem:
                return _error(400, problem)
            requests = payload["requests"] if method == "batchEmbedContents" else [payload]
            vectors = [
                {"values": _vector(_text(r["content"]), _get(r, "outputDimensionality") or 768)}
                for r in requests
            ]
            answer = (
                {"embeddings": vectors}
                if method == "batchEmbedContents"
                else {"embedding": vectors[0]}
            )
            return Response(json.dumps(answer), content_type="application/json; charset=UTF-8")
        if method not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"Method {method} not found.")
        problem = check_generate(payload)
        if problem:
            return _error(400, problem)
        result = plan(payload)
        state.usages.append(result.usage)
        rid = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
        if method == "generateContent":
            return Response(
                json.dumps(_whole(result, model, rid), indent=2),
                content_type="application/json; charset=UTF-8",
            )
        breaker = early if isinstance(early, Action) and early.kind in ("break", "reset") else None
        sse = request.args.get("alt") == "sse"
        return Response(
            _stream(_events(result, model, rid), sse, breaker, request.scope),
            content_type="text/event-stream" if sse else "application/json; charset=UTF-8",
            headers={"Content-Disposition": "attachment", "Vary": "Origin, X-Origin, Referer"},
        )

    async def _stream(
        events: list[Json], sse: bool, breaker: Action | None, scope: Any
    ) -> AsyncIterator[bytes]:
        state.streams_started += 1
        outcome = "cancelled"  # unless the body ends, or is cut on purpose
        try:
            if not sse:
                yield b"["
            for i, event in enumerate(events):
                if i and state.chunk_delay:
                    await asyncio.sleep(state.chunk_delay)
                if breaker is not None and breaker.kind == "reset" and i == breaker.after:
                    outcome = "cut"
                    await released(breaker.hold)
                    break_connection(scope, breaker.mode)  # type: ignore[arg-type]
                    yield b"data: "  # this write resets the connection instead
                    return
                if breaker is not None and i == breaker.after:
                    if breaker.mode == "cut":
                        outcome = "cut"
                        raise _Cut
                    event = google_error(500)
                text = json.dumps(event)
                data = (
                    f"data: {text}\r\n\r\n" if sse else ("," if i else "") + text + "\r\n"
                ).encode()
                if state.split_writes and len(data) > 8:
                    yield data[: len(data) // 2]
                    await asyncio.sleep(0)
                    yield data[len(data) // 2 :]
                else:
                    yield data
                state.events_sent += 1
                if breaker is not None and i == breaker.after:
                    break
            if not sse:
                yield b"]"
            outcome = "finished"
        finally:
            if outcome == "finished":
                state.streams_finished += 1
            elif outcome == "cancelled":
                state.streams_cancelled += 1

    return app
