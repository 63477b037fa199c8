"""What the fake OpenAI API checks and answers: request validation and deterministic answers.

Validation, like the real API, in this order: the body must be a JSON object ("We could not
parse the JSON body of your request"), every top-level field must be one the endpoint's schema
names ("Unrecognized request argument supplied: tags"), the body must validate against
``CreateChatCompletionRequest`` / ``CreateCompletionRequest`` / ``CreateEmbeddingRequest`` from
OpenAI's published OpenAPI description ("Missing required parameter: 'messages'." with code
``missing_required_parameter``; "Invalid value for 'temperature': …" with code
``invalid_value``), then the rules the schema cannot say: ``metadata`` needs ``store: true``,
``stream_options`` needs ``stream: true``, a ``tool`` message must answer a ``tool_calls`` id of
the assistant message before it and every such id must be answered, ``n`` must be 1 (a limit of
this fake), the model must exist (404 ``model_not_found``) and serve the endpoint (a chat model
on ``/v1/completions`` is 404 "This is a chat model …", as OpenAI answers).

Answers: the text of the last message echoed (a ``tool`` message: ``tool said: …``). When tools
are offered, the last message is the user's and its lines read ``call NAME {json}`` for offered
tools, the answer is those tool calls (``content: null``, ``finish_reason: tool_calls``);
``tool_choice`` ``none`` prevents them, ``required`` or a named function forces one (``{}``).
Text starting ``refuse`` is refused (``message.refusal``). ``response_format`` json answers
``{"echo": text}``. ``stop`` cuts the echo, ``max_completion_tokens``/``max_tokens`` cap it in
words (``length``); legacy completions default to 16, like OpenAI. Tokens are
whitespace-separated words; each message costs 3 more, an image 85.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import struct
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema.exceptions import best_match

from tests.openapi import document, validator

Json = dict[str, Any]
SCHEMAS = {
    "chat": "CreateChatCompletionRequest",
    "completion": "CreateCompletionRequest",
    "embeddings": "CreateEmbeddingRequest",
}


class Invalid(Exception):
    def __init__(
        self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.param, self.code = message, status, param, code


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Json:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@cache
def known_fields(kind: str) -> frozenset[str]:
    schemas = document()["components"]["schemas"]

    def walk(node: Json) -> set[str]:
        if "$ref" in node:
            return walk(schemas[node["$ref"].rsplit("/", 1)[-1]])
        out = set(node.get("properties", {}))
        for sub in node.get("allOf", []):
            out |= walk(sub)
        return out

    return frozenset(walk(schemas[SCHEMAS[kind]]))


def endpoint_of(model_id: str) -> str:
    if "embed" in model_id:
        return "embeddings"
    return "completion" if "instruct" in model_id else "chat"


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check(kind: str, body: Any, model_ids: list[str]) -> None:
    """Raise :class:`Invalid` as OpenAI would for this request body."""
    if not isinstance(body, dict):
        raise Invalid(
            "We could not parse the JSON body of your request. The OpenAI API "
            "expects a JSON payload."
        )
    for key in body:
        if key not in known_fields(kind):
            raise Invalid(f"Unrecognized request argument supplied: {key}")
    err = best_match(validator(SCHEMAS[kind]).iter_errors(body))
    if err is not None:
        if err.validator == "required":
            missing = re.search(r"'([^']+)' is a required property", err.message)
            name = _path([*err.absolute_path, missing.group(1) if missing else "?"])
            raise Invalid(
                f"Missing required parameter: '{name}'.",
                param=name,
                code="missing_required_parameter",
            )
        name = _path(err.absolute_path) or "body"
        raise Invalid(
            f"Invalid value for '{name}': {err.message[:200]}", param=name, code="invalid_value"
        )
    if body.get("metadata") is not None and body.get("store") is not True:
        raise Invalid(
            "The 'metadata' parameter is only allowed when 'store' is enabled.", param="metadata"
        )
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise Invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if body.get("n") not in (None, 1):
        raise Invalid("This fake supports n=1 only.", param="n")
    if kind == "chat":
        _check_tool_turns(body["messages"])
    model = body["model"]
    if model not in model_ids:
        raise Invalid(
            f"The model `{model}` does not exist or you do not have access to it.",
            status=404,
            code="model_not_found",
        )
    if endpoint_of(model) != kind:
        raise Invalid(
            {
                "completion": "This is a chat model and not supported in the v1/completions "
                "endpoint. Did you mean to use v1/chat/completions?",
                "chat": "This is not a chat model and thus not supported in the "
                "v1/chat/completions endpoint. Did you mean to use v1/completions?",
                "embeddings": "This model does not support embeddings.",
            }[kind],
            status=404 if kind != "embeddings" else 400,
            param="model",
        )
    dims = body.get("dimensions")
    most = {"text-embedding-3-large": 3072}.get(model, 1536)
    if kind == "embeddings" and isinstance(dims, int) and dims > most:
        raise Invalid(
            f"Invalid value for 'dimensions' = {dims}. Must be less than or equal to {most}.",
            param="dimensions",
        )


def _check_tool_turns(messages: list[Json]) -> None:
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "tool":
            if msg.get("tool_call_id") not in pending:
                raise Invalid(
                    "Invalid parameter: messages with role 'tool' must be a response "
                    "to a preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            pending.discard(msg["tool_call_id"])
            continue
        if pending:
            raise Invalid(
                "An assistant message with 'tool_calls' must be followed by tool "
                "messages responding to each 'tool_call_id'. The following "
                f"tool_call_ids did not have response messages: {', '.join(sorted(pending))}",
                param="messages",
            )
        if role == "assistant":
            pending = {c["id"] for c in msg.get("tool_calls") or [] if isinstance(c, dict)}
    if pending:
        raise Invalid(
            f"tool_call_ids did not have response messages: {', '.join(pending)}", param="messages"
        )


# ---------------------------------------------------------------- answers


def words(text: str) -> int:
    return len(text.split())


def pieces(text: str) -> list[str]:
    """Word pieces that join back to ``text`` exactly (each with its leading whitespace)."""
    return re.findall(r"\s*\S+|\s+$", text)


def text_of(content: Any) -> tuple[str, int]:
    """(the text of a message content, the number of images in it)."""
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    for part in content if isinstance(content, list) else []:
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") in ("image_url", "input_audio", "file"):
            images += 1
    return " ".join(texts), images


def _cut(text: str, stop: Any, cap: int | None) -> tuple[str, str]:
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if s]
    found = [text.index(s) for s in stops if s in text]
    finish = "stop"
    if found:
        text = text[: min(found)]
    if cap is not None and len(pieces(text)) > cap:
        text, finish = "".join(pieces(text)[:cap]), "length"
    return text, finish


@dataclass
class Answer:
    content: str | None = None
    refusal: str | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # id, name, arguments
    finish: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usage(self) -> Json:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def _calls(body: Json, text: str, last_role: str) -> list[tuple[str, str, str]]:
    offered = [
        t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"
    ]
    choice = body.get("tool_choice")
    if not offered or choice == "none" or last_role != "user":
        return []
    calls = []
    for line in text.splitlines():
        m = re.fullmatch(r"\s*call (\S+)\s*(.*)", line)
        if m and m.group(1) in offered:
            try:
                args = json.dumps(json.loads(m.group(2) or "{}"), separators=(",", ":"))
            except ValueError:
                args = m.group(2)
            calls.append((f"call_{secrets.token_hex(12)}", m.group(1), args))
    if not calls and (choice == "required" or isinstance(choice, dict)):
        name = choice["function"]["name"] if isinstance(choice, dict) else offered[0]
        calls.append((f"call_{secrets.token_hex(12)}", name, "{}"))
    return calls


def chat_answer(body: Json) -> Answer:
    messages = body["messages"]
    prompt = 3
    for msg in messages:
        text, images = text_of(msg.get("content"))
        prompt += 3 + words(text) + 85 * images
    if body.get("tools"):
        prompt += words(json.dumps(body["tools"]))
    last = messages[-1]
    text, _ = text_of(last.get("content"))
    if last["role"] == "tool":
        text = f"tool said: {text}"
    answer = Answer(prompt_tokens=prompt)
    answer.calls = _calls(body, text, last["role"])
    if answer.calls:
        answer.finish = "tool_calls"
        answer.completion_tokens = sum(words(f"{n} {a}") + 3 for _, n, a in answer.calls)
        return answer
    if text.startswith("refuse"):
        answer.refusal = "I'm sorry, I can't help with that."
        answer.completion_tokens = words(answer.refusal)
        return answer
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        text = json.dumps({"echo": text})
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    answer.content, answer.finish = _cut(text, body.get("stop"), cap)
    answer.completion_tokens = max(1, words(answer.content))
    return answer


def completion_answers(body: Json) -> list[Answer]:
    """One answer per prompt (a string, strings, or token arrays)."""
    prompts = body["prompt"]
    if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
        prompts = [prompts]
    out = []
    for prompt in prompts:
        text = prompt if isinstance(prompt, str) else f"tokens:{len(prompt)}"
        cap = body.get("max_tokens", 16)
        done, finish = _cut(text, body.get("stop"), cap)
        if body.get("echo"):
            done = text + done
        tokens = words(text) if isinstance(prompt, str) else len(prompt)
        out.append(Answer(done, None, [], finish, tokens, max(1, words(done))))
    return out


def logprobs(text: str | None) -> Json:
    tokens = pieces(text or "")
    return {
        "content": [
            {"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []}
            for t in tokens
        ],
        "refusal": None,
    }


def embedding(text: str, dimensions: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [(seed[i % len(seed)] - 127.5) / 127.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def embeddings(body: Json) -> tuple[list[list[float]], int]:
    inputs = body["input"]
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dims = body.get("dimensions") or 16
    texts = [i if isinstance(i, str) else " ".join(map(str, i)) for i in inputs]
    tokens = sum(
        words(t) if isinstance(i, str) else len(i) for t, i in zip(texts, inputs, strict=True)
    )
    return [embedding(t, dims) for t in texts], tokens


def encode_vector(vector: list[float], encoding: str | None) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
