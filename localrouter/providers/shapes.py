"""OpenAI-shaped objects every adapter returns: completions, chunks, usage, ids.

One place builds them so every provider's answer has the same shape, and that shape validates
against OpenAI's published schemas (non-streaming choices carry ``logprobs`` and
``message.refusal``, even when null).
"""

from __future__ import annotations

import base64
import math
import secrets
import struct
import time
from typing import Any

Json = dict[str, Any]


def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int, *, estimated: bool = False) -> Json:
    out: Json = {
        "prompt_tokens": int(prompt_tokens),
        "completion_tokens": int(completion_tokens),
        "total_tokens": int(prompt_tokens) + int(completion_tokens),
    }
    if estimated:  # our extension: the provider reported none, these are local estimates
        out["estimated"] = True
    return out


def message(content: str | None, tool_calls: list[Json] | None = None) -> Json:
    msg: Json = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def tool_call(call_id: str, name: str, arguments: str) -> Json:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chat_completion(
    *,
    id: str,
    model: str,
    created: int,
    message: Json,
    finish_reason: str | None,
    usage: Json | None,
) -> Json:
    out: Json = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def chat_chunk(
    *,
    id: str,
    model: str,
    created: int,
    delta: Json | None = None,
    finish_reason: str | None = None,
    usage: Json | None = None,
) -> Json:
    """A ``chat.completion.chunk``; with ``delta=None`` and a usage, the usage-only last chunk."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    out: Json = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return out


def text_completion(
    *, id: str, model: str, created: int, text: str, finish_reason: str | None, usage: Json | None
) -> Json:
    out: Json = {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def embedding_list(model: str, vectors: list[list[float]], prompt_tokens: int) -> Json:
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def float32_base64(vector: list[Any]) -> str:
    """An embedding as OpenAI's ``encoding_format: base64``: little-endian float32, base64.

    A value beyond float32's range becomes ±inf, as an IEEE conversion to float32 makes it (an
    upstream's doubles cannot all be float32); a value that is not a number raises
    ``TypeError``. The fast path packs the whole vector at once."""
    try:
        packed = struct.pack(f"<{len(vector)}f", *vector)
    except OverflowError:
        packed = b"".join(_float32(v) for v in vector)
    except struct.error:
        raise TypeError("an embedding value is not a number") from None
    return base64.b64encode(packed).decode("ascii")


def _float32(value: Any) -> bytes:
    try:
        return struct.pack("<f", value)
    except OverflowError:
        return struct.pack("<f", math.copysign(math.inf, value))
    except struct.error:
        raise TypeError("an embedding value is not a number") from None
