"""Request validation for the OpenAI model endpoints: the shapes the gateway itself relies on.

One check per endpoint (:func:`check`), run on the parsed body before facts are built and before
anything is dispatched, so a wrong type is answered ``400 invalid_request_error`` with ``param``
naming the field (``messages[1].content[0].text``) instead of surfacing later as a crash in an
adapter, a 500 from an upstream (which would also count against that provider's circuit) or a
silently dropped field.

What is checked is the fields LocalRouter reads or translates — roles, content parts and their
text, tools and tool choice, ``stop``, ``stream``/``stream_options``, token limits, sampling
ranges, ``prompt``, ``input`` — against the types and ranges of OpenAI's published request
schemas. Fields it does not know pass through untouched (OpenAI-compatible forwarding).

Nullable fields: a top-level ``null`` means "absent" (OpenAI marks nearly every optional field
nullable; the SDKs send ``null`` for an explicit ``None``) and is removed from the body; a
``null`` or absent ``prompt`` is the empty prompt. Inside objects, ``null`` is accepted where
OpenAI accepts it.

Hand-written rather than a JSON Schema validator: it reads only the fields that matter and costs
a few microseconds a request (docs/performance.md, "Request validation").
"""

from __future__ import annotations

from typing import Any

from localrouter.server.validation_types import (
    Check,
    Problem,
    an_object,
    boolean,
    choice,
    fields,
    integer,
    named,
    number,
    numbers_map,
    shown,
    stop,
    string,
    string_list,
    tokens_or_text,
    tool_choice,
    want,
)

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NEEDS_CONTENT = frozenset({"system", "developer", "user", "tool"})


def _image_url(value: Any, param: str) -> Problem | None:
    """``{"url": ...}``, or the URL alone (an early form every adapter still reads)."""
    if isinstance(value, str):
        return None
    return fields(value, param, {"url": string, "detail": string})


_PART_FIELDS: dict[str, tuple[str, Check]] = {  # content part type -> its own field
    "text": ("text", string),
    "refusal": ("refusal", string),
    "image_url": ("image_url", _image_url),
    "input_audio": ("input_audio", an_object),
    "file": ("file", an_object),
}


def _content(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return want(param, "a string or an array of content parts", value)
    for i, part in enumerate(value):
        if type(part) is not dict:
            return want(f"{param}[{i}]", "a content part object", part)
        kind = part.get("type")
        if type(kind) is not str:
            return want(f"{param}[{i}].type", "a string", kind)
        own = _PART_FIELDS.get(kind)
        if own is not None:
            name, check = own
            item = part.get(name)
            if type(item) is str and check is string:  # a text part: the common case
                continue
            where = f"{param}[{i}]"
            if name not in part:
                return f"`{where}` (type {kind!r}) needs `{name}`", f"{where}.{name}"
            problem = check(item, f"{where}.{name}")
            if problem:
                return problem
    return None


_FUNCTION_CALL = {"name": string, "arguments": string}


def _tool_calls(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return want(param, "an array", value)
    for i, call in enumerate(value):
        where = f"{param}[{i}]"
        problem = fields(call, where, {"id": string, "type": string})
        if problem:
            return problem
        if "function" in call:
            problem = fields(call["function"], f"{where}.function", _FUNCTION_CALL)
            if problem:
                return problem
    return None


_MESSAGE_FIELDS: dict[str, Check] = {
    "name": string,
    "tool_call_id": string,
    "tool_calls": _tool_calls,
    "function_call": lambda v, p: fields(v, p, _FUNCTION_CALL),
}


def _messages(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list) or not value:
        return "`messages` must be a non-empty array of message objects", param
    for i, message in enumerate(value):  # the hot loop: paths are made only for an error
        if type(message) is not dict:
            return want(f"{param}[{i}]", "a message object", message)
        role = message.get("role")
        if type(role) is not str or role not in _ROLES:  # (a list is unhashable)
            roles = ", ".join(sorted(_ROLES))
            where = f"{param}[{i}].role"
            return f"`{where}` must be one of {roles}, not {shown(role)}", where
        content = message.get("content")
        if type(content) is not str:
            if content is None:
                if role in _NEEDS_CONTENT:
                    where = f"{param}[{i}]"
                    return f"`{where}` (role {role!r}) needs `content`", f"{where}.content"
            else:
                problem = _content(content, f"{param}[{i}].content")
                if problem:
                    return problem
        if len(message) > 2:  # role and content are the common case
            problem = fields(message, f"{param}[{i}]", _MESSAGE_FIELDS)
            if problem:
                return problem
    return None


def _function(value: Any, param: str) -> Problem | None:
    problem = fields(value, param, {"description": string, "parameters": an_object})
    if problem:
        return problem
    name = value.get("name")
    return None if isinstance(name, str) else want(f"{param}.name", "a string", name)


def _tools(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return want(param, "an array of tool objects", value)
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            return want(where, "a tool object", tool)
        kind = tool.get("type", "function")
        if not isinstance(kind, str):
            return want(f"{where}.type", "a string", kind)
        if kind in ("function", "custom"):
            problem = (_function if kind == "function" else named)(
                tool.get(kind), f"{where}.{kind}"
            )
            if problem:
                return problem
    return None


def _functions(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return want(param, "an array of function objects", value)
    for i, function in enumerate(value):
        problem = _function(function, f"{param}[{i}]")
        if problem:
            return problem
    return None


def _function_call(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        if value in ("none", "auto"):
            return None
        return f"`{param}` must be none, auto or an object, not {shown(value)}", param
    return named(value, param)


def _response_format(value: Any, param: str) -> Problem | None:
    problem = fields(value, param, {"type": string})
    if problem:
        return problem
    if "type" not in value:
        return f"`{param}` needs a `type`", f"{param}.type"
    if value["type"] == "json_schema":
        schema = value.get("json_schema")
        problem = fields(schema, f"{param}.json_schema", {"schema": an_object})
        if problem:
            return problem
        return named(schema, f"{param}.json_schema")
    return None


_SHARED: dict[str, Check] = {
    "model": string,
    "stream": boolean,
    "stream_options": lambda v, p: fields(
        v, p, {"include_usage": boolean, "include_obfuscation": boolean}
    ),
    "max_tokens": integer(1),
    "n": integer(1, 128),
    "temperature": number(0, 2),
    "top_p": number(0, 1),
    "frequency_penalty": number(-2, 2),
    "presence_penalty": number(-2, 2),
    "seed": integer(),
    "stop": stop,
    "user": string,
    "logit_bias": numbers_map,
    "metadata": an_object,
}

CHECKS: dict[str, dict[str, Check]] = {
    "chat": {
        **_SHARED,
        "messages": _messages,
        "max_completion_tokens": integer(1),
        "logprobs": boolean,
        "top_logprobs": integer(0, 20),
        "tools": _tools,
        "tool_choice": tool_choice(nested=True),
        "parallel_tool_calls": boolean,
        "functions": _functions,
        "function_call": _function_call,
        "response_format": _response_format,
        "modalities": string_list,
        "reasoning_effort": string,
        "store": boolean,
    },
    "completion": {
        **_SHARED,
        "prompt": tokens_or_text("completions", empty_list=True),
        "suffix": string,
        "echo": boolean,
        "best_of": integer(0, 20),
        "logprobs": integer(0, 5),
    },
    "embeddings": {
        "model": string,
        "input": tokens_or_text("embeddings", empty_list=False),
        "encoding_format": choice("float", "base64"),
        "dimensions": integer(1),
        "user": string,
    },
}
REQUIRED = {"chat": "messages", "embeddings": "input"}


def check(kind: str, body: dict[str, Any]) -> Problem | None:
    """The first problem with ``body`` for endpoint ``kind`` (chat, completion, embeddings), or
    None. Normalises ``body`` in place: top-level nulls removed, a missing prompt made ``""``."""
    if None in body.values():
        for key in [k for k, v in body.items() if v is None]:
            del body[key]
    required = REQUIRED.get(kind)
    if required is not None and required not in body:
        return f"`{required}` is required", required
    if kind == "completion" and "prompt" not in body:
        body["prompt"] = ""  # OpenAI: no prompt generates as from the start of a new document
    checks = CHECKS[kind]
    for key, value in body.items():
        field_check = checks.get(key)
        if field_check is not None:
            problem = field_check(value, key)
            if problem:
                return problem
    return None
