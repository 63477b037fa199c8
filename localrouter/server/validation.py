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

from collections.abc import Callable, Mapping
from typing import Any

Problem = tuple[str, str]  # (message, param)
Check = Callable[[Any, str], Problem | None]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NEEDS_CONTENT = frozenset({"system", "developer", "user", "tool"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_ENCODINGS = frozenset({"float", "base64"})


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _want(param: str, what: str, value: Any) -> Problem:
    return f"`{param}` must be {what}, not {_kind(value)}", param


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, str) else _want(param, "a string", value)


def _boolean(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, bool) else _want(param, "a boolean", value)


def _object(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, dict) else _want(param, "an object", value)


def _string_list(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return _want(param, "an array of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return _want(f"{param}[{i}]", "a string", item)
    return None


def _integer(low: int | None = None, high: int | None = None) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        if not _is_int(value):
            return _want(param, "an integer", value)
        if (low is not None and value < low) or (high is not None and value > high):
            return _range(param, value, low, high)
        return None

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        if not _is_number(value):
            return _want(param, "a number", value)
        if not low <= value <= high:
            return _range(param, value, low, high)
        return None

    return check


def _range(param: str, value: Any, low: float | None, high: float | None) -> Problem:
    if high is None:
        return f"`{param}` must be at least {low}, not {value}", param
    if low is None:
        return f"`{param}` must be at most {high}, not {value}", param
    return f"`{param}` must be between {low} and {high}, not {value}", param


def _fields(value: Any, param: str, checks: Mapping[str, Check]) -> Problem | None:
    """``value`` is an object whose listed fields, when present and not null, pass their check."""
    if not isinstance(value, dict):
        return _want(param, "an object", value)
    for key, check in checks.items():
        item = value.get(key)
        if item is not None:
            problem = check(item, f"{param}.{key}")
            if problem:
                return problem
    return None


def _stop(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return _want(param, "a string or an array of strings", value)
    return _string_list(value, param)


_PART_FIELDS: dict[str, tuple[str, Check]] = {  # content part type -> its own field
    "text": ("text", _string),
    "refusal": ("refusal", _string),
    "image_url": ("image_url", lambda v, p: _fields(v, p, {"url": _string})),
    "input_audio": ("input_audio", _object),
    "file": ("file", _object),
}


def _content(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return _want(param, "a string or an array of content parts", value)
    for i, part in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            return _want(where, "a content part object", part)
        kind = part.get("type")
        if not isinstance(kind, str):
            return _want(f"{where}.type", "a string", kind)
        own = _PART_FIELDS.get(kind)
        if own is not None:
            name, check = own
            if name not in part:
                return f"`{where}` (type {kind!r}) needs `{name}`", f"{where}.{name}"
            problem = check(part[name], f"{where}.{name}")
            if problem:
                return problem
    return None


_FUNCTION_CALL = {"name": _string, "arguments": _string}


def _tool_calls(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return _want(param, "an array", value)
    for i, call in enumerate(value):
        where = f"{param}[{i}]"
        problem = _fields(call, where, {"id": _string, "type": _string})
        if problem:
            return problem
        if "function" in call:
            problem = _fields(call["function"], f"{where}.function", _FUNCTION_CALL)
            if problem:
                return problem
    return None


_MESSAGE_FIELDS: dict[str, Check] = {
    "name": _string,
    "tool_call_id": _string,
    "tool_calls": _tool_calls,
    "function_call": lambda v, p: _fields(v, p, _FUNCTION_CALL),
}


def _messages(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list) or not value:
        return "`messages` must be a non-empty array of message objects", param
    for i, message in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(message, dict):
            return _want(where, "a message object", message)
        role = message.get("role")
        if role not in _ROLES:
            roles = ", ".join(sorted(_ROLES))
            return f"`{where}.role` must be one of {roles}, not {role!r}", f"{where}.role"
        content = message.get("content")
        if content is None:
            if role in _NEEDS_CONTENT:
                return f"`{where}` (role {role!r}) needs `content`", f"{where}.content"
        else:
            problem = _content(content, f"{where}.content")
            if problem:
                return problem
        if len(message) > 2:  # role and content are the common case
            for key, check in _MESSAGE_FIELDS.items():
                item = message.get(key)
                if item is not None:
                    problem = check(item, f"{where}.{key}")
                    if problem:
                        return problem
    return None


def _function(value: Any, param: str) -> Problem | None:
    problem = _fields(value, param, {"description": _string, "parameters": _object})
    if problem:
        return problem
    name = value.get("name")
    return None if isinstance(name, str) else _want(f"{param}.name", "a string", name)


def _tools(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return _want(param, "an array of tool objects", value)
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            return _want(where, "a tool object", tool)
        kind = tool.get("type", "function")
        if not isinstance(kind, str):
            return _want(f"{where}.type", "a string", kind)
        if kind in ("function", "custom"):
            problem = (_function if kind == "function" else _named)(
                tool.get(kind), f"{where}.{kind}"
            )
            if problem:
                return problem
    return None


def _named(value: Any, param: str) -> Problem | None:
    if not isinstance(value, dict):
        return _want(param, "an object", value)
    name = value.get("name")
    return None if isinstance(name, str) else _want(f"{param}.name", "a string", name)


def _functions(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return _want(param, "an array of function objects", value)
    for i, function in enumerate(value):
        problem = _function(function, f"{param}[{i}]")
        if problem:
            return problem
    return None


def _tool_choice(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        if value in _TOOL_CHOICES:
            return None
        return f"`{param}` must be none, auto, required or an object, not {value!r}", param
    if not isinstance(value, dict):
        return _want(param, "a string or an object", value)
    kind = value.get("type")
    if not isinstance(kind, str):
        return _want(f"{param}.type", "a string", kind)
    if kind in ("function", "custom"):
        return _named(value.get(kind), f"{param}.{kind}")
    return None


def _function_call(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        if value in ("none", "auto"):
            return None
        return f"`{param}` must be none, auto or an object, not {value!r}", param
    return _named(value, param)


def _response_format(value: Any, param: str) -> Problem | None:
    problem = _fields(value, param, {"type": _string})
    if problem:
        return problem
    if "type" not in value:
        return f"`{param}` needs a `type`", f"{param}.type"
    if value["type"] == "json_schema":
        schema = value.get("json_schema")
        problem = _fields(schema, f"{param}.json_schema", {"schema": _object})
        if problem:
            return problem
        return _named(schema, f"{param}.json_schema")
    return None


def _numbers_map(value: Any, param: str) -> Problem | None:
    if not isinstance(value, dict):
        return _want(param, "an object", value)
    for key, item in value.items():
        if not _is_number(item):
            return _want(f"{param}.{key}", "a number", item)
    return None


def _tokens_or_text(what: str, *, empty_list: bool) -> Check:
    """A string, an array of strings, an array of token ids, or an array of token-id arrays."""

    def check(value: Any, param: str) -> Problem | None:
        if isinstance(value, str):
            return None
        shape = f"a string, an array of strings or an array of token ids ({what})"
        if not isinstance(value, list):
            return _want(param, shape, value)
        if not value:
            return None if empty_list else (f"`{param}` must not be an empty array", param)
        first = value[0]
        for i, item in enumerate(value):
            where = f"{param}[{i}]"
            if isinstance(first, str):
                if not isinstance(item, str):
                    return _want(where, "a string like the first item", item)
            elif _is_int(first):
                if not _is_int(item) or item < 0:
                    return _want(where, "a token id (integer >= 0) like the first item", item)
            elif isinstance(first, list):
                if not isinstance(item, list) or not item:
                    return _want(where, "a non-empty array of token ids", item)
                if not all(_is_int(t) and t >= 0 for t in item):
                    return f"`{where}` must hold token ids (integers >= 0)", where
            else:
                return _want(where, "a string, a token id or an array of token ids", item)
        return None

    return check


_SHARED: dict[str, Check] = {
    "model": _string,
    "stream": _boolean,
    "stream_options": lambda v, p: _fields(
        v, p, {"include_usage": _boolean, "include_obfuscation": _boolean}
    ),
    "max_tokens": _integer(1),
    "n": _integer(1, 128),
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "frequency_penalty": _number(-2, 2),
    "presence_penalty": _number(-2, 2),
    "seed": _integer(),
    "stop": _stop,
    "user": _string,
    "logit_bias": _numbers_map,
    "metadata": _object,
}

CHECKS: dict[str, dict[str, Check]] = {
    "chat": {
        **_SHARED,
        "messages": _messages,
        "max_completion_tokens": _integer(1),
        "logprobs": _boolean,
        "top_logprobs": _integer(0, 20),
        "tools": _tools,
        "tool_choice": _tool_choice,
        "parallel_tool_calls": _boolean,
        "functions": _functions,
        "function_call": _function_call,
        "response_format": _response_format,
        "modalities": _string_list,
        "reasoning_effort": _string,
        "store": _boolean,
    },
    "completion": {
        **_SHARED,
        "prompt": _tokens_or_text("completions", empty_list=True),
        "suffix": _string,
        "echo": _boolean,
        "best_of": _integer(0, 20),
        "logprobs": _integer(0, 5),
    },
    "embeddings": {
        "model": _string,
        "input": _tokens_or_text("embeddings", empty_list=False),
        "encoding_format": lambda v, p: (
            None if v in _ENCODINGS else (f"`{p}` must be float or base64, not {v!r}", p)
        ),
        "dimensions": _integer(1),
        "user": _string,
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
