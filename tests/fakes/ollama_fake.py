"""A fake Ollama server speaking the native API as Ollama's reference and server code describe.

    state = FakeState()
    with serve_app(create_app(state)) as url:
        ollama.Client(host=url).chat(model="llama3.2", messages=[...])

Endpoints: ``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``,
``POST /api/chat``, ``POST /api/generate``, ``POST /api/embed``.

* Errors are ``{"error": "…"}``: 400 for a missing body, bad JSON, a missing ``model`` and
  type mismatches the Go decoder would reject (content that is not a string, tool-call
  ``arguments`` that are not an object, images that are not base64), 404 ``model 'x' not
  found`` for unknown models, 400 ``"x" does not support tools|chat|generate|embeddings``
  from the model's capabilities, 500 for options of the wrong type.
* Local Ollama has no auth; with ``FakeState.api_key`` set the fake acts like ollama.com:
  ``Authorization: Bearer <key>`` required, else 401 ``{"error": "unauthorized"}``.
* Answers are deterministic: ``You said: <last user text>`` (`` [N image(s)]`` appended when the
  message carried images); after a ``tool`` message ``Tool <tool_name> returned: <content>``;
  with ``format`` set, ``{"echo": "<text>"}``; with tools offered and a last user text
  ``call NAME {json}``, one tool call (``id`` ``call_…``, ``function.index``, arguments as an
  object) and ``done_reason`` ``stop`` — as Ollama does. ``options.num_predict`` cuts the
  answer to that many tokens (``done_reason: length``); ``options.stop`` cuts at a stop string.
* Tokens are words (with their leading space); ``eval_count`` counts them, ``prompt_eval_count``
  is ⌈characters / 4⌉ + 4 per message (+ 1 per image).
* Streams are NDJSON (``application/x-ndjson``): one ``done: false`` object per token (a tool
  call arrives whole in one object), then the ``done: true`` object with ``done_reason`` and
  the counts and durations. ``chunk_delay`` seconds pass between objects; every
  ``split_every``-th line is written in two halves (``split_writes`` counts them);
  ``blank_lines`` adds empty lines (Ollama never sends them: only for the adapter's tests).

``FakeState`` records every request and holds a script applied to the next requests:
``fail``, ``hang``, ``malformed``, ``reset_connection`` (no HTTP answer: the TCP connection is
reset or closed; or mid-stream), ``break_stream_after`` (Ollama's own mid-stream error line
``{"error": …}``, or ``mode="cut"`` to drop the connection, or ``mode="eof"`` to end cleanly
without the ``done`` line).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from quart import Quart, Response, request

from tests.fakes.serve import Breaking, break_connection, released

Json = dict[str, Any]

STREAM_ERROR = "an error was encountered while running the model"
REASONS = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


def _model(name: str, family: str, size: str, quant: str, caps: list[str], n: int) -> Json:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-06-01T10:00:00.123456789+02:00",
        "size": n,
        "digest": digest,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": size,
            "quantization_level": quant,
        },
        "capabilities": caps,
    }


def default_models() -> list[Json]:
    return [
        _model("llama3.2:latest", "llama", "3.2B", "Q4_K_M", ["completion", "tools"], 2019393189),
        _model(
            "qwen2.5-coder:7b", "qwen2", "7.6B", "Q4_K_M", ["completion", "tools", "insert"], 4683
        ),
        _model("llava:7b", "llama", "7B", "Q4_0", ["completion", "vision"], 4733363377),
        _model("nomic-embed-text:latest", "nomic-bert", "137M", "F16", ["embedding"], 274302450),
        _model("smollm:135m", "llama", "134.52M", "Q4_0", ["completion"], 91739413),
    ]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON, or None


@dataclass
class _Action:
    kind: str  # fail | hang | malformed | reset | break
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after: int = 0
    mode: str = "error"
    hold: threading.Event | None = None  # reset mid-stream: once the test sets it


@dataclass
class FakeState:
    api_key: str | None = None  # None: local Ollama (no auth); set: ollama.com (Bearer)
    chunk_delay: float = 0.005
    split_every: int = 3
    blank_lines: bool = False
    models: list[Json] = field(default_factory=default_models)
    requests: list[Recorded] = field(default_factory=list)
    split_writes: int = 0
    streams_open: int = 0
    streams_finished: int = 0
    disconnects: int = 0
    client_gone: threading.Event = field(default_factory=threading.Event)
    stream_done: threading.Event = field(default_factory=threading.Event)
    _script: list[_Action] = field(default_factory=list)

    def fail(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        for _ in range(times):
            self._script.append(_Action("fail", status, body, dict(headers or {})))

    def hang(self, seconds: float) -> None:
        self._script.append(_Action("hang", seconds=seconds))

    def malformed(self) -> None:
        self._script.append(_Action("malformed"))

    def break_stream_after(self, n_events: int, mode: str = "error") -> None:
        self._script.append(_Action("break", after=n_events, mode=mode))

    def reset_connection(
        self, after_events: int = 0, how: Breaking = "rst", hold: threading.Event | None = None
    ) -> None:
        self._script.append(_Action("reset", after=after_events, mode=how, hold=hold))

    def reset(self) -> None:
        fresh = FakeState()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def next_action(self) -> _Action | None:
        return self._script.pop(0) if self._script else None


def _stamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps({"error": message}),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


class _Bad(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _unmarshal(value: Any, want: type | tuple[type, ...], where: str, go: str) -> None:
    if value is not None and not isinstance(value, want):
        raise _Bad(400, f"json: cannot unmarshal {_go_type(value)} into Go {where} of type {go}")


def _check_images(images: Any, where: str) -> int:
    _unmarshal(images, list, f"struct field {where}.images", "[]api.ImageData")
    for img in images or []:
        _unmarshal(img, str, f"struct field {where}.images", "api.ImageData")
        try:
            base64.b64decode(img, validate=True)
        except (binascii.Error, ValueError):
            raise _Bad(400, "illegal base64 data at input byte 0") from None
    return len(images or [])


def _check_options(options: Any) -> None:
    _unmarshal(options, dict, "struct field ChatRequest.options", "map[string]interface {}")
    kinds: dict[str, type | tuple[type, ...]] = {
        "num_predict": int,
        "seed": int,
        "top_k": int,
        "temperature": (int, float),
        "top_p": (int, float),
        "frequency_penalty": (int, float),
        "presence_penalty": (int, float),
    }
    for key, value in (options or {}).items():
        if key == "stop":
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise _Bad(500, 'option "stop" must be of type array')
        elif key in kinds and (isinstance(value, bool) or not isinstance(value, kinds[key])):
            kind = "integer" if kinds[key] is int else "float32"
            raise _Bad(500, f"option {key!r} must be of type {kind}".replace("'", '"'))


def _check_format(fmt: Any) -> None:
    if fmt is not None and fmt not in ("", "json") and not isinstance(fmt, dict):
        raise _Bad(400, f'invalid format: {json.dumps(fmt)}; expected "json" or a JSON schema')


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _limit(text: str, options: Json) -> tuple[list[str], str]:
    """The answer's tokens after ``stop`` and ``num_predict``, and the done reason."""
    for stop in options.get("stop") or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    pieces = _pieces(text) if text else []
    limit = options.get("num_predict")
    if isinstance(limit, int) and 0 <= limit < len(pieces):
        return pieces[:limit], "length"
    return pieces, "stop"


def _metrics(prompt_tokens: int, eval_count: int) -> Json:
    return {
        "total_duration": 1_234_567_890,
        "load_duration": 12_345_678,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 23_456_789,
        "eval_count": eval_count,
        "eval_duration": 345_678_901,
    }


class _Server:
    """Request handling; one instance per app, sharing the test's ``FakeState``."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def find_model(self, name: Any) -> Json:
        if not isinstance(name, str) or not name.strip():
            raise _Bad(400, "model is required")
        full = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
        for m in self.state.models:
            if m["name"] == full:
                return m
        raise _Bad(404, f"model '{name}' not found")

    @staticmethod
    def require(model: Json, capability: str, name: str, verb: str) -> None:
        if capability not in model.get("capabilities", []):
            raise _Bad(400, f'"{name}" does not support {verb}')

    async def begin(self) -> tuple[Any, _Action | None, Response | None]:
        """Record the request, check auth, apply the script. (body, action, early answer)."""
        raw = await request.get_data(as_text=False)
        raw = raw if isinstance(raw, bytes) else raw.encode()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.state.requests.append(Recorded(request.method, request.path, headers, body))
        key = self.state.api_key
        if key is not None and headers.get("authorization") != f"Bearer {key}":
            return body, None, _error(401, "unauthorized")
        action = self.state.next_action()
        if action is not None and action.kind == "hang":
            await asyncio.sleep(action.seconds)
            action = None
        if action is not None and action.kind == "fail":
            doc = (
                action.body
                if action.body is not None
                else {"error": REASONS.get(action.status, "error")}
            )
            text = doc if isinstance(doc, str) else json.dumps(doc)
            return (
                body,
                None,
                Response(
                    text,
                    status=action.status,
                    headers=action.headers,
                    content_type="application/json; charset=utf-8",
                ),
            )
        streaming = isinstance(body, dict) and body.get("stream", True) is not False
        if action is not None and action.kind == "reset" and (action.after == 0 or not streaming):
            break_connection(request.scope, action.mode)  # type: ignore[arg-type]
            return body, None, Response("")  # never sent: its first write resets the connection
        if action is not None and action.kind == "malformed":
            return (
                body,
                None,
                Response(
                    "<html>502 Bad Gateway</html>\n",
                    status=200,
                    content_type="application/json; charset=utf-8",
                ),
            )
        if request.method == "POST":
            if not raw:
                return body, None, _error(400, "missing request body")
            if body is None:
                snippet = raw[:1].decode("utf-8", "replace")
                return (
                    body,
                    None,
                    _error(400, f"invalid character '{snippet}' looking for beginning of value"),
                )
            if not isinstance(body, dict):
                return body, None, _error(400, "json: cannot unmarshal array into Go value")
        return body, action, None

    def stream(self, lines: list[Json], action: _Action | None) -> Response:
        state, scope = self.state, request.scope

        async def gen() -> AsyncIterator[bytes]:
            state.streams_open += 1
            finished = False
            try:
                for i, doc in enumerate(lines):
                    if action is not None and action.kind == "break" and i == action.after:
                        if action.mode == "error":
                            yield (json.dumps({"error": STREAM_ERROR}) + "\n").encode()
                        elif action.mode == "cut":
                            raise ConnectionAbortedError("fake: connection cut mid-stream")
                        finished = True
                        return
                    if i:
                        await asyncio.sleep(state.chunk_delay)
                    data = (json.dumps(doc, ensure_ascii=False) + "\n").encode()
                    if action is not None and action.kind == "reset" and i == action.after:
                        finished = True
                        await released(action.hold)
                        break_connection(scope, action.mode)  # type: ignore[arg-type]
                        yield data  # this write resets the connection instead
                        return
                    if state.split_every and i % state.split_every == state.split_every - 1:
                        state.split_writes += 1
                        yield data[: len(data) // 2]
                        await asyncio.sleep(0.002)
                        data = data[len(data) // 2 :]
                    yield data
                    if state.blank_lines:
                        yield b"\n\r\n"
                finished = True
            finally:
                state.streams_open -= 1
                if finished:
                    state.streams_finished += 1
                    state.stream_done.set()
                else:
                    state.disconnects += 1
                    state.client_gone.set()

        return Response(gen(), status=200, content_type="application/x-ndjson")

    @staticmethod
    def whole(doc: Json, action: _Action | None) -> Response:
        if action is not None and action.kind == "break" and action.mode != "eof":
            return _error(500, STREAM_ERROR)
        return Response(
            json.dumps(doc, ensure_ascii=False),
            status=200,
            content_type="application/json; charset=utf-8",
        )


def _answer(body: Json, model: Json) -> tuple[str, list[Json], int]:
    """(text, tool calls, prompt tokens) for a chat body."""
    messages = body.get("messages") or []
    _unmarshal(body.get("messages"), list, "struct field ChatRequest.messages", "[]api.Message")
    prompt_tokens = 0
    for m in messages:
        _unmarshal(m, dict, "struct field ChatRequest.messages", "api.Message")
        _unmarshal(m.get("role"), str, "struct field Message.messages.role", "string")
        _unmarshal(m.get("content"), str, "struct field Message.messages.content", "string")
        images = _check_images(m.get("images"), "Message.messages")
        if images and "vision" not in model["capabilities"]:
            raise _Bad(500, "this model is missing data required for image input")
        _unmarshal(
            m.get("tool_calls"), list, "struct field Message.messages.tool_calls", "[]api.ToolCall"
        )
        for call in m.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            _unmarshal(
                fn,
                dict,
                "struct field ToolCall.messages.tool_calls.function",
                "api.ToolCallFunction",
            )
            _unmarshal(
                (fn or {}).get("arguments"),
                dict,
                "struct field ToolCallFunction.messages.tool_calls.function.arguments",
                "map[string]interface {}",
            )
        prompt_tokens += _tokens(m.get("content") or "") + 4 + images
    tools = body.get("tools")
    _unmarshal(tools, list, "struct field ChatRequest.tools", "api.Tools")
    for t in tools or []:
        _unmarshal(t, dict, "struct field ChatRequest.tools", "api.Tool")
        _unmarshal(t.get("function"), dict, "struct field Tool.tools.function", "api.ToolFunction")
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return (
            f"Tool {last.get('tool_name', '?')} returned: {last.get('content', '')}",
            [],
            prompt_tokens,
        )
    user: Json = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    text = (user.get("content") or "").strip()
    if tools and text.startswith("call "):
        name, _, args = text[5:].strip().partition(" ")
        try:
            arguments = json.loads(args) if args.strip() else {}
        except ValueError:
            arguments = {"input": args}
        call_id = "call_" + hashlib.sha256(text.encode()).hexdigest()[:8]
        call = {"id": call_id, "function": {"index": 0, "name": name, "arguments": arguments}}
        return "", [call], prompt_tokens
    if body.get("format") not in (None, ""):
        return json.dumps({"echo": text}), [], prompt_tokens
    if not text:
        return "Hello! How can I help you today?", [], prompt_tokens
    n = len(user.get("images") or [])
    return f"You said: {text}" + (f" [{n} image(s)]" if n else ""), [], prompt_tokens


def _embedding(text: str, dimensions: int | None) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    vector = [b / 128 - 1 for b in digest[: dimensions or 16]]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 7) for v in vector]


def create_app(state: FakeState | None = None) -> Quart:
    state = state if state is not None else FakeState()
    app = Quart("ollama_fake")
    app.config["RESPONSE_TIMEOUT"] = None
    server = _Server(state)
    app.extensions["ollama_state"] = state

    @app.get("/")
    async def root() -> Response:
        return Response("Ollama is running", content_type="text/plain; charset=utf-8")

    @app.get("/api/version")
    async def version() -> Response:
        return Response(json.dumps({"version": "0.12.6"}), content_type="application/json")

    @app.get("/api/tags")
    async def tags() -> Response:
        _body, _action, early = await server.begin()
        if early is not None:
            return early
        return Response(json.dumps({"models": state.models}), content_type="application/json")

    @app.post("/api/chat")
    async def chat() -> Response:
        body, action, early = await server.begin()
        if early is not None:
            return early
        try:
            model = server.find_model(body.get("model"))
            name = body["model"]
            server.require(model, "completion", name, "chat")
            if body.get("tools"):
                server.require(model, "tools", name, "tools")
            _check_format(body.get("format"))
            _check_options(body.get("options"))
            options = body.get("options") or {}
            if not body.get("messages"):
                done = {
                    "model": name,
                    "created_at": _stamp(),
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                }
                return server.whole(done, None)
            text, calls, prompt_tokens = _answer(body, model)
        except _Bad as bad:
            return _error(bad.status, bad.message)
        pieces, reason = _limit(text, options)
        evals = len(pieces) + (_tokens(json.dumps(calls)) if calls else 0)
        final = {
            "model": name,
            "created_at": _stamp(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reason,
            **_metrics(prompt_tokens, evals),
        }
        if body.get("stream", True) is False:
            msg: Json = {"role": "assistant", "content": "".join(pieces)}
            if calls:
                msg["tool_calls"] = calls
            return server.whole({**final, "message": msg}, action)
        lines: list[Json] = [
            {
                "model": name,
                "created_at": _stamp(),
                "message": {"role": "assistant", "content": p},
                "done": False,
            }
            for p in pieces
        ]
        if calls:
            lines.append(
                {
                    "model": name,
                    "created_at": _stamp(),
                    "message": {"role": "assistant", "content": "", "tool_calls": calls},
                    "done": False,
                }
            )
        return server.stream([*lines, final], action)

    @app.post("/api/generate")
    async def generate() -> Response:
        body, action, early = await server.begin()
        if early is not None:
            return early
        try:
            model = server.find_model(body.get("model"))
            name = body["model"]
            server.require(model, "completion", name, "generate")
            _check_format(body.get("format"))
            _check_options(body.get("options"))
            _unmarshal(body.get("prompt"), str, "struct field GenerateRequest.prompt", "string")
            images = _check_images(body.get("images"), "GenerateRequest")
        except _Bad as bad:
            return _error(bad.status, bad.message)
        prompt = body.get("prompt") or ""
        if not prompt:
            return server.whole(
                {
                    "model": name,
                    "created_at": _stamp(),
                    "response": "",
                    "done": True,
                    "done_reason": "load",
                },
                None,
            )
        text = f" You said: {prompt.strip()}" + (f" [{images} image(s)]" if images else "")
        if body.get("suffix"):
            text += f" (before {body['suffix']!r})"
        pieces, reason = _limit(text.strip(), body.get("options") or {})
        final: Json = {
            "model": name,
            "created_at": _stamp(),
            "response": "",
            "done": True,
            "done_reason": reason,
            **_metrics(_tokens(prompt) + 4, len(pieces)),
        }
        if not body.get("raw"):
            final["context"] = [1, 2, 3]
        if body.get("stream", True) is False:
            return server.whole({**final, "response": "".join(pieces)}, action)
        lines: list[Json] = [
            {"model": name, "created_at": _stamp(), "response": p, "done": False} for p in pieces
        ]
        return server.stream([*lines, final], action)

    @app.post("/api/embed")
    async def embed() -> Response:
        body, _action, early = await server.begin()
        if early is not None:
            return early
        try:
            model = server.find_model(body.get("model"))
            server.require(model, "embedding", body["model"], "embeddings")
            raw = body.get("input")
            inputs = [raw] if isinstance(raw, str) else raw
            if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
                raise _Bad(400, "invalid input type")
            dims = body.get("dimensions")
            _unmarshal(dims, int, "struct field EmbedRequest.dimensions", "int")
        except _Bad as bad:
            return _error(bad.status, bad.message)
        doc = {
            "model": body["model"],
            "embeddings": [_embedding(t, dims) for t in inputs],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": sum(_tokens(t) for t in inputs),
        }
        return Response(json.dumps(doc), content_type="application/json; charset=utf-8")

    return app
