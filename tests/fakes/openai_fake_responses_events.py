"""What the fake OpenAI API's Responses endpoint sends: the ``response`` object, its output
items and usage, the stream's events in OpenAI's order, and the stream itself with the fake's
knobs (:mod:`tests.fakes.openai_fake_responses` describes them; it checks and answers).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tests.fakes import openai_fake_answers as fa
from tests.fakes import openai_fake_model as fm
from tests.fakes.serve import break_connection, released

if TYPE_CHECKING:
    from tests.fakes.openai_fake import FakeState, Step

__all__ = ["events", "new_id", "output_items", "response_object", "stream", "usage"]

Json = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def output_items(result: fm.Answer) -> list[Json]:
    """The answer's output items, complete."""
    if result.calls:
        return [
            {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "completed",
                "arguments": args,
                "call_id": call_id,
                "name": name,
            }
            for call_id, name, args in result.calls
        ]
    if result.refusal is not None:
        part: Json = {"type": "refusal", "refusal": result.refusal}
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": result.content}
    status = "incomplete" if result.finish == "length" else "completed"
    return [
        {
            "id": new_id("msg"),
            "type": "message",
            "status": status,
            "content": [part],
            "role": "assistant",
        }
    ]


def usage(result: fm.Answer) -> Json:
    return {
        "input_tokens": result.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": result.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def _tool(tool: Json) -> Json:
    if tool.get("type") != "function":
        return tool
    defaults = {"description": None, "parameters": None, "strict": True}
    return {"type": "function", "name": tool["name"]} | defaults | tool


def response_object(
    body: Json, result: fm.Answer | None, items: list[Json], rid: str, created: int
) -> Json:
    """The ``response`` object: in progress (``result`` None, no usage) or finished."""
    status = "in_progress" if result is None else "completed"
    if result is not None and result.finish == "length":
        status = "incomplete"
    reasoning = body.get("reasoning") or {}
    doc = {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": fa.SNAPSHOTS.get(body["model"], body["model"]),
        "output": items,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store") is not False,
        "temperature": 1.0 if body.get("temperature") is None else body["temperature"],
        "text": {
            "format": (body.get("text") or {}).get("format") or {"type": "text"},
            "verbosity": (body.get("text") or {}).get("verbosity") or "medium",
        },
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": [_tool(t) for t in body.get("tools") or []],
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": 1.0 if body.get("top_p") is None else body["top_p"],
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
    }
    # The description's examples show "usage": null and "user": null; its schema allows neither.
    if result is not None:
        doc["usage"] = usage(result)
    if body.get("user") is not None:
        doc["user"] = body["user"]
    return doc


def events(body: Json, result: fm.Answer, obfuscate: bool = True) -> list[Json]:
    """The stream's events, in OpenAI's order, numbered."""
    rid, created = new_id("resp"), int(time.time())
    items = output_items(result)
    out: list[Json] = []

    def emit(kind: str, **fields: Any) -> None:
        if obfuscate and kind.endswith(".delta"):
            fields["obfuscation"] = secrets.token_urlsafe(6)
        out.append({"type": kind, "sequence_number": len(out), **fields})

    emit("response.created", response=response_object(body, None, [], rid, created))
    emit("response.in_progress", response=response_object(body, None, [], rid, created))
    for index, item in enumerate(items):
        where = {"output_index": index, "item_id": item["id"]}
        if item["type"] == "function_call":
            emit(
                "response.output_item.added",
                output_index=index,
                item=item | {"status": "in_progress", "arguments": ""},
            )
            args = item["arguments"]
            for k in range(0, len(args), 8):
                emit("response.function_call_arguments.delta", **where, delta=args[k : k + 8])
            emit(
                "response.function_call_arguments.done", **where, name=item["name"], arguments=args
            )
        else:
            started = item | {"status": "in_progress", "content": []}
            emit("response.output_item.added", output_index=index, item=started)
            part = item["content"][0]
            at = where | {"content_index": 0}
            if part["type"] == "refusal":
                emit("response.content_part.added", **at, part={"type": "refusal", "refusal": ""})
                for piece in fm.pieces(part["refusal"]):
                    emit("response.refusal.delta", **at, delta=piece)
                emit("response.refusal.done", **at, refusal=part["refusal"])
            else:
                emit("response.content_part.added", **at, part=part | {"text": ""})
                for piece in fm.pieces(part["text"]):
                    emit("response.output_text.delta", **at, delta=piece, logprobs=[])
                emit("response.output_text.done", **at, text=part["text"], logprobs=[])
            emit("response.content_part.done", **at, part=part)
        emit("response.output_item.done", output_index=index, item=item)
    final = response_object(body, result, items, rid, created)
    emit(f"response.{final['status']}", response=final)
    return out


def _broken(what: str, event: Json) -> str:
    if what == "json":
        return json.dumps(event)[:40]
    return json.dumps({"type": event["type"], "sequence_number": 5, "item_id": 7, "delta": ["x"]})


async def stream(
    state: FakeState, out: list[Json], step: Step | None, scope: Any
) -> AsyncIterator[bytes]:
    def encode(kind: str, data: str) -> bytes:
        text = f"event: {kind}\ndata: {data}\n\n"
        return (text.replace("\n", "\r\n") if state.crlf else text).encode()

    state.streams_started += 1
    state.streams_open += 1
    finished = False
    try:
        pending = out
        if state.burst and step is None:
            if out and out[-1]["response"].get("usage"):
                state.reported.append(out[-1]["response"]["usage"])
            yield b"".join(encode(e["type"], json.dumps(e)) for e in out)
            pending = []
        for n, event in enumerate(pending):
            if step is not None and step.kind == "break" and n == step.events:
                finished = True  # a scripted ending, not a client that went away
                if step.mode == "error":
                    error = {"type": "error", "sequence_number": n, "param": None}
                    error |= {"code": "server_error", "message": fa.DEFAULT_ERRORS[500][0]}
                    yield encode("error", json.dumps(error))
                if step.mode == "cut":
                    raise ConnectionAbortedError("scripted cut")
                return
            if n and state.chunk_delay:
                await asyncio.sleep(state.chunk_delay)
            data = json.dumps(event)
            if step is not None and step.kind == "reset" and n == step.events:
                await released(step.hold)
                break_connection(scope, step.mode)  # type: ignore[arg-type]
                finished = True
                yield encode(event["type"], data)  # this write resets instead
                return
            if step is not None and step.kind == "malformed" and n == step.events:
                data = _broken(step.mode, event)
            elif n == len(out) - 1 and event["response"].get("usage"):
                # recorded as it is written: a gateway may end its answer on this event before
                # this generator runs again
                state.reported.append(event["response"]["usage"])
            raw = encode(event["type"], data)
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
