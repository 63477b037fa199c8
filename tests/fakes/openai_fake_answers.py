"""What the fake OpenAI API sends back: model lists, completions and stream chunks.

Builders only (no HTTP): :mod:`tests.fakes.openai_fake` serves them. ``state`` is the fake's
state; its ``compat`` and ``openrouter`` flags change the shapes as that module describes.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Protocol

from tests.fakes import openai_fake_model as fm

Json = dict[str, Any]

SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}


class Flavor(Protocol):
    compat: bool
    openrouter: bool


def default_models() -> list[Json]:
    table = [
        ("gpt-4o-mini", 1721172741, "system"),
        ("gpt-4o", 1715367049, "system"),
        ("gpt-3.5-turbo-instruct", 1692901427, "system"),
        ("text-embedding-3-small", 1705948997, "system"),
    ]
    return [{"id": i, "object": "model", "created": c, "owned_by": o} for i, c, o in table]


def openrouter_models() -> list[Json]:
    """Entries as OpenRouter lists them: context length, per-token prices as strings, …"""

    def entry(id: str, window: int, prompt: str, completion: str, image: bool) -> Json:
        return {
            "id": id,
            "canonical_slug": id,
            "name": id.split("/")[-1],
            "created": 1721260800,
            "context_length": window,
            "architecture": {
                "modality": "text+image->text" if image else "text->text",
                "input_modalities": ["text", "image"] if image else ["text"],
                "output_modalities": ["text"],
                "tokenizer": "Other",
            },
            "pricing": {
                "prompt": prompt,
                "completion": completion,
                "request": "0",
                "image": "0",
                "web_search": "0",
                "internal_reasoning": "0",
            },
            "top_provider": {
                "context_length": window,
                "max_completion_tokens": 16384,
                "is_moderated": True,
            },
            "supported_parameters": [
                "max_tokens",
                "temperature",
                "tools",
                "tool_choice",
                "response_format",
                "structured_outputs",
            ],
        }

    return [
        entry("openai/gpt-4o-mini", 128000, "0.00000015", "0.0000006", True),
        entry("meta-llama/llama-3.1-8b-instruct", 131072, "0.00000002", "0.00000003", False),
        {**entry("openrouter/auto", 2000000, "-1", "-1", True), "supported_parameters": []},
    ]


# ---------------------------------------------------------------- answers and chunks


def _common(state: Flavor, obj: str, model: str, prefix: str) -> Json:
    out: Json = {
        "id": f"{prefix}-{secrets.token_hex(12)}",
        "object": obj,
        "created": int(time.time()),
        "model": SNAPSHOTS.get(model, model),
    }
    if obj != "text_completion":
        out["service_tier"] = "on_demand" if state.compat else "default"
    out["system_fingerprint"] = None if state.compat else f"fp_{secrets.token_hex(5)}"
    return out


def _usage(state: Flavor, answer: fm.Answer) -> Json:
    usage = answer.usage()
    if state.compat:
        usage["prompt_tokens_details"] = usage["completion_tokens_details"] = None
    return usage


def chat_completion(state: Flavor, body: Json, answer: fm.Answer) -> Json:
    message: Json = {
        "role": "assistant",
        "content": answer.content,
        "refusal": answer.refusal,
        "annotations": [],
    }
    if answer.calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in answer.calls
        ]
    choice: Json = {
        "index": 0,
        "message": message,
        "finish_reason": answer.finish,
        "logprobs": fm.logprobs(answer.content) if body.get("logprobs") else None,
    }
    if state.compat:
        del message["refusal"], message["annotations"], choice["logprobs"]
    doc = _common(state, "chat.completion", body["model"], "chatcmpl")
    return doc | {"choices": [choice], "usage": _usage(state, answer)}


def chat_chunks(state: Flavor, body: Json, answer: fm.Answer) -> list[Json]:
    top = _common(state, "chat.completion.chunk", body["model"], "chatcmpl")
    usage_on = bool((body.get("stream_options") or {}).get("include_usage"))
    want_logprobs = bool(body.get("logprobs"))

    def chunk(delta: Json, finish: str | None = None, text: str | None = None) -> Json:
        choice: Json = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        if want_logprobs and text:
            choice["logprobs"] = fm.logprobs(text)
        if state.compat:
            del choice["logprobs"]
            delta.pop("refusal", None)
        return top | {"choices": [choice]} | ({"usage": None} if usage_on else {})

    out: list[Json] = []
    if answer.calls:
        for i, (call_id, name, args) in enumerate(answer.calls):
            fn = {"name": name, "arguments": ""}
            head: Json = {
                "tool_calls": [{"index": i, "id": call_id, "type": "function", "function": fn}]
            }
            out.append(
                chunk(
                    {"role": "assistant", "content": None, **head, "refusal": None}
                    if i == 0
                    else head
                )
            )
            for k in range(0, len(args), 8):
                part = {"index": i, "function": {"arguments": args[k : k + 8]}}
                out.append(chunk({"tool_calls": [part]}))
    elif answer.refusal is not None:
        out.append(chunk({"role": "assistant", "content": None, "refusal": ""}))
        out += [chunk({"refusal": p}) for p in fm.pieces(answer.refusal)]
    else:
        out.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        out += [chunk({"content": p}, text=p) for p in fm.pieces(answer.content or "")]
    out.append(chunk({}, answer.finish))
    if usage_on:
        out.append(top | {"choices": [], "usage": _usage(state, answer)})
    if state.compat:
        for c in out:
            del c["object"], c["created"]
    return out


def text_completion(state: Flavor, body: Json, answers: list[fm.Answer]) -> Json:
    doc = _common(state, "text_completion", body["model"], "cmpl")
    doc["choices"] = [
        {"text": a.content, "index": i, "logprobs": None, "finish_reason": a.finish}
        for i, a in enumerate(answers)
    ]
    doc["usage"] = _total(answers)
    return doc


def _total(answers: list[fm.Answer]) -> Json:
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_chunks(state: Flavor, body: Json, answers: list[fm.Answer]) -> list[Json]:
    top = _common(state, "text_completion", body["model"], "cmpl")
    usage_on = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if usage_on else {}
    out = []
    for i, a in enumerate(answers):
        for piece in fm.pieces(a.content or ""):
            choice = {"text": piece, "index": i, "logprobs": None, "finish_reason": None}
            out.append(top | {"choices": [choice]} | extra)
        end = {"text": "", "index": i, "logprobs": None, "finish_reason": a.finish}
        out.append(top | {"choices": [end]} | extra)
    if usage_on:
        out.append(top | {"choices": [], "usage": _total(answers)})
    return out


def stream_error(state: Flavor, model: str) -> Json:
    if state.openrouter:  # OpenRouter: a chunk with an error and finish_reason "error"
        top = _common(state, "chat.completion.chunk", model, "gen")
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        return top | {
            "provider": "OpenAI",
            "choices": [choice],
            "error": {"code": 502, "message": "Provider disconnected unexpectedly"},
        }
    return fm.error_body(
        "The server had an error while processing your request. Sorry about that!", "server_error"
    )


# ---------------------------------------------------------------- errors and malformed answers

DEFAULT_ERRORS = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached for requests. Please try again in 1.5s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


MALFORMED = ("json", "shape", "html")
TRUNCATED = '{"id": "chatcmpl-1", "object": "chat.completion", "choices": ['
HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def malformed_body(model: str) -> str:
    """A 200 body that is JSON, but not OpenAI's: Ollama's native chat answer, as a server
    reached on the wrong path (or a proxy in front of the wrong API) sends it."""
    return json.dumps(
        {
            "model": model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "Hello"},
            "done": True,
        }
    )


def malformed_event(what: str, model: str) -> str:
    """A data event that is cut in the middle of its JSON (``json``) or is a chunk whose
    ``choices`` is an object instead of a list (``shape``)."""
    if what == "json":
        return '{"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"ind'
    choice = {"index": 0, "delta": {"content": "x"}, "finish_reason": None}
    return json.dumps(
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model, "choices": choice}
    )
