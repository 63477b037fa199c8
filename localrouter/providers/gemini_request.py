"""OpenAI request bodies → Gemini ``GenerateContentRequest`` bodies (pure functions).

Request mapping (OpenAI → Gemini):

    system / developer messages     → systemInstruction.parts[].text
    user                            → {role: user, parts}: text → text; image_url data: URL →
                                      inlineData {mimeType, data}; http(s)/gs URL → fileData
                                      {mimeType (guessed from the path), fileUri}; input_audio,
                                      file (data: URL) → inlineData
    assistant                       → {role: model}: text, tool_calls → functionCall {name, args}
                                      (+ thoughtSignature from tool_calls[].extra_content.google;
                                      Gemini ≥ 3 needs one on the first call of a turn: without it
                                      the documented skip_thought_signature_validator is sent)
    tool (and legacy function)      → functionResponse {name (from the matching tool call id),
                                      response: the JSON object, else {output: text}}; consecutive
                                      tool messages share one user turn
    tools[].function                → tools[{functionDeclarations}] (parameters cleaned down to
                                      Gemini's OpenAPI subset: additionalProperties, $schema …
                                      dropped, $refs inlined, const → enum, null types → nullable)
    tool_choice auto/none/required/{function} → toolConfig.functionCallingConfig
                                      AUTO / NONE / ANY / ANY + allowedFunctionNames
    temperature, top_p, top_k, max_(completion_)tokens, stop, seed, presence_penalty,
    frequency_penalty               → generationConfig temperature, topP, topK, maxOutputTokens,
                                      stopSequences, seed, presencePenalty, frequencyPenalty
    response_format json_object / json_schema → responseMimeType application/json (+ responseSchema)
    reasoning_effort                → thinkingConfig (thinkingLevel on Gemini ≥ 3, else a budget)

What Gemini cannot express raises :class:`RequestError` (the adapter answers it as a 400):
``n`` > 1, ``echo``, non-function tools, OpenAI file ids, unknown roles or part types.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from localrouter.errors import RequestError

Json = dict[str, Any]

SKIP_SIGNATURE = "skip_thought_signature_validator"
_GENERATION = re.compile(r"gemini-(\d+)")
_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}


def _generation(model: str) -> int:
    m = _GENERATION.search(model)
    return int(m.group(1)) if m else 0


def _text_of(content: object, what: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        texts = [p.get("text") or p.get("refusal") for p in content if isinstance(p, dict)]
        return [t for t in texts if isinstance(t, str)]
    raise RequestError(f"{what} content must be a string or a list of parts")


def _data_url(url: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise RequestError("malformed data: URL")
    mime, _, params = header.partition(";")
    if "base64" not in params.split(";"):
        data = base64.b64encode(unquote_to_bytes(data)).decode("ascii")
    return mime or "application/octet-stream", data


def _media(url: object, default_mime: str) -> Json:
    if not isinstance(url, str) or not url:
        raise RequestError("a media part needs a url")
    if url.startswith("data:"):
        mime, data = _data_url(url)
        return {"inlineData": {"mimeType": mime, "data": data}}
    guessed = mimetypes.guess_type(urlsplit(url).path)[0]
    return {"fileData": {"mimeType": guessed or default_mime, "fileUri": url}}


def _user_parts(content: object) -> list[Json]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise RequestError("user content must be a string or a list of parts")
    parts: list[Json] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text":
            if item.get("text"):
                parts.append({"text": item["text"]})
        elif kind == "image_url":
            image = item.get("image_url")
            parts.append(
                _media(image.get("url") if isinstance(image, dict) else image, "image/jpeg")
            )
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            fmt = audio.get("format") or "wav"
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data")}})
        elif kind == "file":
            file = item.get("file") or {}
            if not file.get("file_data"):
                raise RequestError("file parts need file_data (file ids are OpenAI's)")
            data = file["file_data"]
            if not data.startswith("data:"):  # bare base64: the type from the file name
                mime = mimetypes.guess_type(file.get("filename") or "")[0] or "application/pdf"
                data = f"data:{mime};base64,{data}"
            parts.append(_media(data, ""))
        else:
            raise RequestError(f"content part type {kind!r} is not supported by gemini")
    return parts


def _args(arguments: object) -> Json:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        parsed = json.loads(str(arguments))
    except ValueError:
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def _model_turn(msg: Json, model: str, names: dict[str, str]) -> Json:
    parts: list[Json] = [{"text": t} for t in _text_of(msg.get("content"), "assistant") if t]
    calls = list(msg.get("tool_calls") or [])
    if isinstance(msg.get("function_call"), dict):  # legacy functions API
        calls.append({"id": "", "function": msg["function_call"]})
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError("assistant tool_calls need function.name")
        if call.get("id"):
            names[call["id"]] = fn["name"]
        part: Json = {"functionCall": {"name": fn["name"], "args": _args(fn.get("arguments"))}}
        extra = call.get("extra_content")
        google = extra.get("google") if isinstance(extra, dict) else None
        signature = google.get("thought_signature") if isinstance(google, dict) else None
        if isinstance(signature, str) and signature:
            part["thoughtSignature"] = signature
        elif i == 0 and _generation(model) >= 3:
            part["thoughtSignature"] = SKIP_SIGNATURE
        parts.append(part)
    return {"role": "model", "parts": parts}


def _function_response(msg: Json, names: dict[str, str]) -> Json:
    name = names.get(str(msg.get("tool_call_id") or "")) or msg.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(
            f"tool message {msg.get('tool_call_id')!r} answers no earlier assistant tool call"
        )
    text = "".join(_text_of(msg.get("content"), "tool"))
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


def contents(messages: object, model: str) -> tuple[list[Json], list[Json]]:
    """OpenAI ``messages`` → (systemInstruction parts, contents)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list")
    system: list[Json] = []
    out: list[Json] = []
    names: dict[str, str] = {}  # tool call id → function name
    for msg in messages:
        role = msg.get("role") if isinstance(msg, dict) else None
        if role in ("system", "developer"):
            system += [{"text": t} for t in _text_of(msg["content"], str(role)) if t]
        elif role == "user":
            parts = _user_parts(msg.get("content"))
            if parts:
                out.append({"role": "user", "parts": parts})
        elif role == "assistant":
            turn = _model_turn(msg, model, names)
            if turn["parts"]:
                out.append(turn)
        elif role in ("tool", "function"):
            part = _function_response(msg, names)
            last = out[-1] if out else None
            if last and last["role"] == "user" and "functionResponse" in last["parts"][-1]:
                last["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
        else:
            raise RequestError(f"message role {role!r} is not supported")
    return system, out


def _declarations(tools: list[Any]) -> list[Json]:
    decls: list[Json] = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or "name" in tool:  # legacy `functions` entries
            fn = tool
        elif tool.get("type") != "function":
            raise RequestError(f"tool type {tool.get('type')!r} is not supported by gemini")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise RequestError("function tools need a name")
        decl: Json = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = clean_schema(fn["parameters"]) if isinstance(fn.get("parameters"), dict) else {}
        if params.get("properties") or params.get("type", "OBJECT") != "OBJECT":
            decl["parameters"] = params
        decls.append(decl)
    return decls


def _tool_config(choice: object, decls: list[Json]) -> Json | None:
    if choice is None:
        return None
    names: list[str] = []
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[str(choice)]
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        mode = "ANY" if allowed.get("mode") == "required" else "AUTO"
        names = [t["function"]["name"] for t in allowed.get("tools") or [] if "function" in t]
        if mode == "AUTO":  # Gemini restricts names only in ANY mode: offer only these
            decls[:] = [d for d in decls if d["name"] in names]
            names = []
    elif isinstance(choice, dict):  # {"type": "function", "function": {"name"}} or legacy {"name"}
        fn: Json = choice["function"] if isinstance(choice.get("function"), dict) else choice
        if not isinstance(fn.get("name"), str):
            raise RequestError("tool_choice names no function")
        mode, names = "ANY", [fn["name"]]
    else:
        raise RequestError(f"tool_choice {choice!r} is not supported")
    config: Json = {"mode": mode}
    if names:
        config["allowedFunctionNames"] = names
    return {"functionCallingConfig": config}


def _generation_config(body: Json, model: str) -> Json:
    gc: Json = {}
    simple = {
        "temperature": "temperature",
        "top_p": "topP",
        "top_k": "topK",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
    }
    for key, name in simple.items():
        if body.get(key) is not None:
            gc[name] = body[key]
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        gc["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        gc["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if (body.get("n") or 1) > 1 or (body.get("best_of") or 1) > 1:
        raise RequestError("gemini adapter returns one choice: n > 1 is not supported")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        gc["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            gc["responseSchema"] = clean_schema(schema)
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort in _BUDGETS:
        if _generation(model) >= 3:
            gc["thinkingConfig"] = {"thinkingLevel": "minimal" if effort == "none" else effort}
        else:
            gc["thinkingConfig"] = {"thinkingBudget": _BUDGETS[effort]}
    return gc


def chat_request(body: Json, model: str) -> Json:
    """An OpenAI chat completion body → a Gemini ``GenerateContentRequest``."""
    system, turns = contents(body.get("messages"), model)
    payload: Json = {"contents": turns}
    if system:
        payload["systemInstruction"] = {"parts": system}
    tools = list(body.get("tools") or []) + list(body.get("functions") or [])
    decls = _declarations(tools) if tools else []
    config = (
        _tool_config(body.get("tool_choice", body.get("function_call")), decls) if decls else None
    )
    if decls:
        payload["tools"] = [{"functionDeclarations": decls}]
    if config:
        payload["toolConfig"] = config
    gc = _generation_config(body, model)
    if gc:
        payload["generationConfig"] = gc
    return payload


def completion_request(body: Json, model: str) -> Json:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise RequestError("gemini completions take one string prompt")
    if body.get("echo"):
        raise RequestError("echo is not supported by gemini")
    chat = {k: v for k, v in body.items() if k not in ("prompt", "suffix", "echo", "logprobs")}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat_request(chat, model)


def embedding_inputs(body: Json, _model: str) -> list[str]:
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise RequestError("gemini embeddings take a string or a non-empty list of strings")
    return texts


# ---------------------------------------------------------------- JSON Schema → Gemini Schema

_KEEP = (
    "title", "description", "nullable", "default", "example", "pattern", "minimum", "maximum",
    "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties",
    "propertyOrdering",
)  # fmt: skip
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
_FORMATS = {
    "STRING": ("enum", "date-time"),
    "INTEGER": ("int32", "int64"),
    "NUMBER": ("float", "double"),
}
MAX_SCHEMA_DEPTH = 40


def clean_schema(schema: Json) -> Json:
    """A JSON Schema → Gemini's ``Schema``: local ``$ref``s inlined (a recursive one becomes an
    untyped node), ``allOf`` merged, ``oneOf`` → ``anyOf``, ``null`` types → ``nullable``,
    ``const`` → ``enum``, non-string enums described in words, formats Gemini rejects and every
    keyword it does not know (``additionalProperties``, ``$schema``, ``$id``, ``strict``, …)
    dropped, types upper-cased."""
    defs: Json = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _clean(schema, defs, ())


def _clean(node: object, defs: Json, seen: tuple[str, ...]) -> Json:
    if not isinstance(node, dict) or len(seen) > MAX_SCHEMA_DEPTH:
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if name in seen or not isinstance(defs.get(name), dict):
            return _clean(rest, defs, (*seen, name))
        return _clean({**defs[name], **rest}, defs, (*seen, name))
    if isinstance(node.get("allOf"), list):
        merged: Json = {k: v for k, v in node.items() if k != "allOf"}
        props: Json = {}
        required: list[Any] = []
        for sub in node["allOf"]:
            part = _clean(sub, defs, (*seen, ""))
            props.update(part.pop("properties", {}))
            required += part.pop("required", [])
            for key, value in part.items():
                merged.setdefault(key, value)
        if props:
            merged["properties"] = {**props, **(merged.get("properties") or {})}
        if required:
            merged["required"] = [*required, *(merged.get("required") or [])]
        node = merged
    out: Json = {k: node[k] for k in _KEEP if k in node}
    if isinstance(node.get("examples"), list) and node["examples"] and "example" not in out:
        out["example"] = node["examples"][0]
    nullable = out.pop("nullable", False) is True
    kind = node.get("type")
    variants = node.get("anyOf", node.get("oneOf"))
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1 and not isinstance(variants, list):
            variants = [{"type": k} for k in kinds]
    if isinstance(variants, list):
        subs = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(subs) < len(variants)
        cleaned = [_clean(v, defs, (*seen, "")) for v in subs]
        if len(cleaned) == 1:
            out = {**cleaned[0], **out}
        elif cleaned:
            out["anyOf"] = cleaned
    values = [node["const"]] if "const" in node else node.get("enum")
    if isinstance(values, list):
        nullable = nullable or None in values
        values = [v for v in values if v is not None]
        if all(isinstance(v, str) for v in values):
            out["enum"] = values
            kind = kind or "string"
        else:
            note = f"Allowed values: {json.dumps(values)}"
            out["description"] = (
                f"{out['description']} ({note})" if out.get("description") else note
            )
    if isinstance(kind, str) and kind.lower() in _TYPES:
        out["type"] = kind.upper()
    elif isinstance(node.get("properties"), dict):
        out["type"] = "OBJECT"
    elif "items" in node:
        out["type"] = "ARRAY"
    if node.get("format") in _FORMATS.get(out.get("type", ""), ()):
        out["format"] = node["format"]
    if isinstance(node.get("properties"), dict):
        props = {str(k): _clean(v, defs, (*seen, "")) for k, v in node["properties"].items()}
        out["properties"] = props
        required = [r for r in node.get("required") or [] if r in props]
        if required:
            out["required"] = list(dict.fromkeys(required))
    items = node.get("items", node.get("prefixItems"))
    if isinstance(items, list):
        items = items[0] if items else None
    if isinstance(items, dict):
        out["items"] = _clean(items, defs, (*seen, ""))
    if nullable:
        out["nullable"] = True
    return out
