"""OpenAI chat/completion bodies → Anthropic Messages API bodies (used by the Anthropic adapter).

Request mapping (OpenAI → Anthropic):

    system / developer messages   → ``system`` text blocks, in order (wherever they appear)
    user content                  → a user turn: text → text block (empty text dropped);
                                    image_url data: URL → image {source: base64, media_type, data};
                                    http(s) URL → image {source: url}; file (a data: URL or base64
                                    ``file_data``) → document {source: base64}
    assistant content, tool_calls → an assistant turn: text blocks, then tool_use {id, name,
                                    input: the parsed JSON arguments}; a final (prefill) assistant
                                    turn loses its trailing whitespace, which Anthropic rejects
    tool messages                 → tool_result {tool_use_id, content} blocks in a user turn
    consecutive same-role turns   → merged into one turn (tool_result blocks first), as Anthropic
                                    requires alternating roles
    max_completion_tokens / max_tokens → max_tokens (required by Anthropic: 4096 when absent)
    temperature                   → temperature, clamped to Anthropic's 0..1
    top_p, stop                   → top_p, stop_sequences (a string becomes a list)
    user / safety_identifier      → metadata.user_id
    tools[function]               → tools {name, description, input_schema (parameters, default
                                    an empty object schema), strict}
    tool_choice auto / none / required / {function: name} → {type: auto / none / any / tool+name};
                                    parallel_tool_calls: false → disable_parallel_tool_use
    response_format json_schema   → output_config.format {type: json_schema, schema}
    thinking, top_k (extensions)  → passed through as Anthropic spells them
    n > 1, input_audio, legacy functions → 400 (Anthropic has no equivalent)
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote_to_bytes

from localrouter.errors import RequestError

Json = dict[str, Any]

DEFAULT_MAX_TOKENS = 4096
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


# ---------------------------------------------------------------- messages


def _texts(content: object, what: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        out = []
        for part in content:
            if not isinstance(part, dict):
                raise RequestError(f"{what} content parts must be objects")
            text = part.get("text", part.get("refusal"))
            if isinstance(text, str):
                out.append(text)
        return out
    raise RequestError(f"{what} content must be a string or a list of parts")


def _data_url(url: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise RequestError("malformed data: URL")
    mime, _, params = header.partition(";")
    if "base64" not in params.split(";"):
        data = base64.b64encode(unquote_to_bytes(data)).decode("ascii")
    return mime.strip().lower(), data


def _image(part: Json) -> Json:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise RequestError("image_url parts need a url")
    if url.startswith("data:"):
        mime, data = _data_url(url)
        if mime not in _IMAGE_TYPES:
            raise RequestError(f"anthropic accepts images as {', '.join(_IMAGE_TYPES)}")
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise RequestError("image urls must be data: or http(s) URLs")


def _document(part: Json) -> Json:
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data:
        raise RequestError("file parts need file_data (file ids are OpenAI's)")
    mime, payload = _data_url(data) if data.startswith("data:") else ("application/pdf", data)
    source = {"type": "base64", "media_type": mime or "application/pdf", "data": payload}
    return {"type": "document", "source": source}


def _user_blocks(content: object) -> list[Json]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise RequestError("user content must be a string or a list of parts")
    blocks: list[Json] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part, dict):
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url" and isinstance(part, dict):
            blocks.append(_image(part))
        elif kind == "file" and isinstance(part, dict):
            blocks.append(_document(part))
        else:
            raise RequestError(f"content part type {kind!r} is not supported by anthropic")
    return blocks


def _arguments(raw: object) -> Json:
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    try:
        parsed = json.loads(str(raw))
    except ValueError:
        raise RequestError("tool call arguments must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise RequestError("tool call arguments must be a JSON object")
    return parsed


def _assistant_blocks(msg: Json) -> list[Json]:
    blocks: list[Json] = [
        {"type": "text", "text": t} for t in _texts(msg.get("content"), "assistant") if t
    ]
    if msg.get("function_call"):
        raise RequestError("legacy function_call messages are not supported: use tool_calls")
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not call.get("id"):
            raise RequestError("assistant tool_calls need an id and function.name")
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": fn["name"],
                "input": _arguments(fn.get("arguments")),
            }
        )
    return blocks


def _tool_result(msg: Json) -> Json:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestError("tool messages need a tool_call_id")
    block: Json = {"type": "tool_result", "tool_use_id": call_id}
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        texts = [t for t in _texts(content, "tool") if t]
        if texts:
            block["content"] = [{"type": "text", "text": t} for t in texts]
    return block


def _append(turns: list[Json], role: str, blocks: list[Json]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _strip_prefill(turns: list[Json]) -> None:
    """Anthropic rejects a final assistant turn that ends in whitespace."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    blocks = turns[-1]["content"]
    while blocks and blocks[-1]["type"] == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if blocks[-1]["text"]:
            return
        blocks.pop()
    if not blocks:
        turns.pop()


def messages(raw: object) -> tuple[list[Json], list[Json]]:
    """OpenAI ``messages`` → (``system`` text blocks, Anthropic ``messages``)."""
    if not isinstance(raw, list) or not raw:
        raise RequestError("messages must be a non-empty list")
    system: list[Json] = []
    turns: list[Json] = []
    for msg in raw:
        role = msg.get("role") if isinstance(msg, dict) else None
        if not isinstance(msg, dict):
            raise RequestError("every message must be an object")
        if role in ("system", "developer"):
            system += [
                {"type": "text", "text": t} for t in _texts(msg.get("content"), "system") if t
            ]
        elif role == "user":
            _append(turns, "user", _user_blocks(msg.get("content")))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(msg))
        elif role == "tool":
            _append(turns, "user", [_tool_result(msg)])
        elif role == "function":
            raise RequestError("legacy function messages are not supported: use tool messages")
        else:
            raise RequestError(f"message role {role!r} is not supported")
    for turn in turns:  # tool_result blocks must open their user turn
        if turn["role"] == "user":
            blocks = turn["content"]
            turn["content"] = [b for b in blocks if b["type"] == "tool_result"] + [
                b for b in blocks if b["type"] != "tool_result"
            ]
    _strip_prefill(turns)
    if not turns:
        raise RequestError("anthropic needs at least one user or assistant message with content")
    return system, turns


# ---------------------------------------------------------------- the rest of the body


def _tools(raw: object) -> list[Json]:
    if not isinstance(raw, list):
        raise RequestError("tools must be a list")
    out: list[Json] = []
    for tool in raw:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise RequestError(f"tool type {kind!r} is not supported by anthropic")
        fn = tool.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError("function tools need a name")
        params = fn.get("parameters")
        schema = dict(params) if isinstance(params, dict) else {}
        schema.setdefault("type", "object")
        if schema["type"] == "object":
            schema.setdefault("properties", {})
        entry: Json = {"name": fn["name"], "input_schema": schema}
        if fn.get("description"):
            entry["description"] = fn["description"]
        if fn.get("strict") is True:
            entry["strict"] = True
        out.append(entry)
    return out


def _tool_choice(choice: object, parallel: object) -> Json | None:
    out: Json
    if choice is None:
        out = {"type": "auto"}
    elif choice in ("auto", "none", "required"):
        out = {"type": {"auto": "auto", "none": "none", "required": "any"}[str(choice)]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if not isinstance(name, str):
            raise RequestError("tool_choice names no function")
        out = {"type": "tool", "name": name}
    else:
        raise RequestError(f"tool_choice {choice!r} is not supported by anthropic")
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    elif choice is None:
        return None
    return out


def chat_request(body: Json, model: str) -> Json:
    """An OpenAI chat completion body → an Anthropic Messages API body (without ``stream``)."""
    if (body.get("n") or 1) > 1:
        raise RequestError("anthropic returns one choice: n > 1 is not supported")
    if body.get("functions"):
        raise RequestError("legacy functions are not supported: use tools")
    system, turns = messages(body.get("messages"))
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    payload: Json = {
        "model": model,
        "max_tokens": DEFAULT_MAX_TOKENS if limit is None else limit,
        "messages": turns,
    }
    if system:
        payload["system"] = system
    if isinstance(body.get("temperature"), int | float):
        payload["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
    for key in ("top_p", "top_k", "thinking"):
        if body.get(key) is not None:
            payload[key] = body[key]
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        payload["metadata"] = {"user_id": user}
    if body.get("tools"):
        payload["tools"] = _tools(body["tools"])
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            payload["tool_choice"] = choice
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise RequestError("response_format json_schema needs a schema")
        payload["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return payload


def completion_request(body: Json, model: str) -> Json:
    """A legacy completion body → a Messages API body (the prompt as one user turn)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise RequestError("anthropic completions take one non-empty string prompt")
    if body.get("echo"):
        raise RequestError("echo is not supported by anthropic")
    if (body.get("best_of") or 1) > 1:
        raise RequestError("best_of > 1 is not supported by anthropic")
    chat = {k: v for k, v in body.items() if k not in ("prompt", "suffix", "echo", "logprobs")}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat_request(chat, model)
