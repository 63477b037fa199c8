"""The answers of ``bench/fake_upstream.py``, each rendered once at start-up: OpenAI's chat
completion and its ``chat.completion.chunk`` stream, Ollama's ``/api/chat`` JSON and NDJSON,
Anthropic's Messages ``message`` and event stream, and OpenAI's Responses API ``response`` and
event stream (the event orders are described in ``fake_upstream.py``'s module doc).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MODEL = "bench-model"
CREATED = 1_700_000_000


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _head(status: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {content_type}", "server: fake-upstream"]
    lines.append(
        f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _fixed(status: str, content_type: str, body: bytes) -> bytes:
    return _head(status, content_type, len(body)) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass(frozen=True)
class Reply:
    """One pre-rendered answer: ``whole`` for the fast path, ``parts`` when writes are spaced."""

    whole: bytes
    parts: tuple[bytes, ...]


def _reply(parts: list[bytes]) -> Reply:
    return Reply(b"".join(parts), tuple(parts))


def _words(n: int) -> list[str]:
    return [("word" if i == 0 else " word") + str(i) for i in range(n)]


def render(chunks: int) -> dict[str, Reply]:
    """Every answer this server gives, rendered once."""
    words = _words(chunks)
    text = "".join(words)
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    openai_json = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    sse: list[bytes] = [_head("200 OK", "text/event-stream", None)]
    for i, word in enumerate(words):
        delta: dict[str, str] = {"role": "assistant", "content": word} if i == 0 else {}
        delta.setdefault("content", word)
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": "stop" if i == chunks - 1 else None,
                }
            ],
        }
        sse.append(_chunk(b"data: " + _dumps(event) + b"\n\n"))
    sse.append(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    stamp = "2023-11-14T22:13:20Z"
    ollama_done = {
        "model": MODEL,
        "created_at": stamp,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 12,
        "eval_count": chunks,
    }
    ollama_json = {**ollama_done, "message": {"role": "assistant", "content": text}}
    nd: list[bytes] = [_head("200 OK", "application/x-ndjson", None)]
    for word in words:
        line = {
            "model": MODEL,
            "created_at": stamp,
            "message": {"role": "assistant", "content": word},
            "done": False,
        }
        nd.append(_chunk(_dumps(line) + b"\n"))
    last = {**ollama_done, "message": {"role": "assistant", "content": ""}}
    nd.append(_chunk(_dumps(last) + b"\n") + b"0\r\n\r\n")
    anthropic = render_anthropic(words)
    responses = render_responses(words)
    not_found = _dumps({"error": {"message": "no such endpoint", "type": "invalid_request_error"}})
    return {
        "openai_json": _reply([_fixed("200 OK", "application/json", _dumps(openai_json))]),
        "openai_sse": _reply(sse),
        "ollama_json": _reply([_fixed("200 OK", "application/json", _dumps(ollama_json))]),
        "ollama_ndjson": _reply(nd),
        **anthropic,
        **responses,
        "health": _reply([_fixed("200 OK", "application/json", b'{"status":"ok"}')]),
        "not_found": _reply([_fixed("404 Not Found", "application/json", not_found)]),
        "bad_request": _reply([_fixed("400 Bad Request", "text/plain", b"bad request")]),
    }


def render_anthropic(words: list[str]) -> dict[str, Reply]:
    """Anthropic's Messages answers: a ``message``, and its stream of named events."""
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "".join(words)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": len(words)},
    }

    def event(name: str, data: dict[str, object]) -> bytes:
        return _chunk(b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n")

    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": 12, "output_tokens": 1}
    sse = [_head("200 OK", "text/event-stream", None)]
    sse.append(event("message_start", {"type": "message_start", "message": start}))
    block = {"type": "text", "text": ""}
    sse.append(
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
    )
    sse.append(event("ping", {"type": "ping"}))
    for word in words:
        delta = {"type": "text_delta", "text": word}
        sse.append(
            event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    sse.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    usage = {"output_tokens": len(words)}
    sse.append(event("message_delta", {"type": "message_delta", "delta": end, "usage": usage}))
    sse.append(event("message_stop", {"type": "message_stop"}) + b"0\r\n\r\n")
    return {
        "anthropic_json": _reply([_fixed("200 OK", "application/json", _dumps(message))]),
        "anthropic_sse": _reply(sse),
    }


def render_responses(words: list[str]) -> dict[str, Reply]:
    """OpenAI's Responses answers: a ``response``, and its stream of typed, numbered events."""
    text = "".join(words)
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {
        "id": "msg_bench",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [part],
    }
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": len(words),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + len(words),
    }
    response = {
        "id": "resp_bench",
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": MODEL,
        "output": [item],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }
    sse = [_head("200 OK", "text/event-stream", None)]

    def event(name: str, **fields: object) -> None:
        data = {"type": name, "sequence_number": len(sse) - 1, **fields}
        sse.append(_chunk(b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"))

    running = {k: v for k, v in response.items() if k != "usage"}  # no usage yet
    running.update(status="in_progress", output=[])
    where = {"item_id": "msg_bench", "output_index": 0}
    event("response.created", response=running)
    event("response.in_progress", response=running)
    event(
        "response.output_item.added",
        output_index=0,
        item={**item, "status": "in_progress", "content": []},
    )
    empty = {**part, "text": ""}
    event("response.content_part.added", **where, content_index=0, part=empty)
    for word in words:
        event("response.output_text.delta", **where, content_index=0, delta=word, logprobs=[])
    event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
    event("response.content_part.done", **where, content_index=0, part=part)
    event("response.output_item.done", output_index=0, item=item)
    event("response.completed", response=response)
    sse[-1] += b"0\r\n\r\n"
    return {
        "responses_json": _reply([_fixed("200 OK", "application/json", _dumps(response))]),
        "responses_sse": _reply(sse),
    }
