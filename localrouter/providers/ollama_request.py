"""OpenAI request bodies → Ollama's native ``/api/chat`` and ``/api/generate`` bodies.

The mapping is described in :mod:`localrouter.providers.ollama`. Anything Ollama cannot express
(http image URLs, ``n`` > 1, token-array prompts, non-function tools) raises
:class:`Refused` (status 400) before anything is sent.
"""

from __future__ import annotations

import json
from typing import Any

from localrouter.errors import Refused
from localrouter.providers.base import Json, Target

_OPTIONS = ("temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty")
_THINK = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}


def _text(name: str, content: Any, *, role: str) -> tuple[str, list[str]]:
    """Text of an OpenAI message content, and the base64 images of its image parts."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise Refused(name, f"{role} message content must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            texts.append(str(part.get(kind) or ""))
        elif kind == "image_url" and role == "user":
            images.append(_image(name, part.get("image_url")))
        else:
            raise Refused(name, f"content part {kind!r} is not supported in {role} messages")
    return "\n".join(texts), images


def _image(name: str, image: Any) -> str:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise Refused(name, "image_url needs a url")
    if url.startswith("data:"):
        header, sep, data = url.partition(",")
        if sep and header.endswith(";base64") and data.strip():
            return data.strip()
        raise Refused(name, "image data URLs must be base64 (data:image/png;base64,…)")
    if url.startswith(("http://", "https://")):
        raise Refused(
            name, "image URLs are not supported by Ollama; send the image inline as a data: URL"
        )
    raise Refused(name, "image_url must be a data: URL")


def _arguments(name: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Refused(name, "tool call arguments must be a JSON object")
    return value


def _messages(name: str, raw: Any) -> list[Json]:
    if not isinstance(raw, list) or not raw:
        raise Refused(name, "`messages` must be a non-empty list")
    call_names: dict[str, str] = {}
    out: list[Json] = []
    for m in raw:
        role = m.get("role") if isinstance(m, dict) else None
        if not isinstance(m, dict) or not isinstance(role, str):
            raise Refused(name, "every message needs a role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(name, m.get("content"), role=role)[0]})
        elif role == "user":
            text, images = _text(name, m.get("content"), role=role)
            out.append({"role": "user", "content": text, **({"images": images} if images else {})})
        elif role == "assistant":
            msg: Json = {
                "role": "assistant",
                "content": _text(name, m.get("content"), role=role)[0],
            }
            calls = []
            for i, call in enumerate(m.get("tool_calls") or []):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    raise Refused(name, "assistant tool calls need a function")
                if call.get("id"):
                    call_names[call["id"]] = fn.get("name", "")
                calls.append(
                    {
                        **({"id": call["id"]} if call.get("id") else {}),
                        "function": {
                            "index": i,
                            "name": fn.get("name", ""),
                            "arguments": _arguments(name, fn.get("arguments")),
                        },
                    }
                )
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif role in ("tool", "function"):
            call_id = m.get("tool_call_id")
            tool = m.get("name") if role == "function" else call_names.get(call_id or "")
            msg = {"role": "tool", "content": _text(name, m.get("content"), role=role)[0]}
            if call_id:
                msg["tool_call_id"] = call_id
            if tool:
                msg["tool_name"] = tool
            out.append(msg)
        else:
            raise Refused(name, f"message role {role!r} is not supported")
    return out


def _options(body: Json) -> Json:
    opts: Json = {k: body[k] for k in _OPTIONS if body.get(k) is not None}
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    if limit is not None:
        opts["num_predict"] = limit
    stop = body.get("stop")
    if stop is not None:
        opts["stop"] = [stop] if isinstance(stop, str) else list(stop)
    return opts


def _common(name: str, target: Target, body: Json, stream: bool) -> Json:
    n = body.get("n")
    if n is not None and n != 1:
        raise Refused(name, "Ollama answers one choice per request (n must be 1)")
    payload: Json = {"model": target.model, "stream": stream}
    options = _options(body)
    if options:
        payload["options"] = options
    return payload


def _format(name: str, spec: Any) -> Any:
    kind = spec.get("type") if isinstance(spec, dict) else spec
    if spec is None or kind == "text":
        return None
    if kind == "json_object":
        return "json"
    schema = (spec.get("json_schema") or {}).get("schema") if isinstance(spec, dict) else None
    if kind == "json_schema" and isinstance(schema, dict):
        return schema
    raise Refused(name, f"response_format {kind!r} is not supported")


def chat_request(target: Target, body: Json, *, stream: bool) -> Json:
    """The ``/api/chat`` body for an OpenAI chat body."""
    name = target.provider.name
    payload = _common(name, target, body, stream)
    payload["messages"] = _messages(name, body.get("messages"))
    tools = body.get("tools")
    if tools and body.get("tool_choice") != "none":
        if any(
            not isinstance(t, dict)
            or t.get("type") != "function"
            or not isinstance(t.get("function"), dict)
            for t in tools
        ):
            raise Refused(name, "only function tools are supported")
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    k: t["function"][k]
                    for k in ("name", "description", "parameters")
                    if k in t["function"]
                },
            }
            for t in tools
        ]
    fmt = _format(name, body.get("response_format"))
    if fmt is not None:
        payload["format"] = fmt
    effort = body.get("reasoning_effort")
    if effort in _THINK:
        payload["think"] = _THINK[effort]
    return payload


def generate_request(target: Target, body: Json, *, stream: bool) -> Json:
    """The ``/api/generate`` body for an OpenAI legacy completions body."""
    name = target.provider.name
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise Refused(name, "`prompt` must be one string (Ollama takes no token arrays)")
    payload = _common(name, target, body, stream)
    payload["prompt"] = prompt
    if body.get("suffix"):
        payload["suffix"] = body["suffix"]
    return payload
