"""Request validation for ``POST /v1/responses``: the shapes LocalRouter reads or translates.

:func:`check` runs on the parsed body before anything else, so a wrong type is answered ``400
invalid_request_error`` with ``param`` naming the field (``input[2].content[0].text``), as on the
chat endpoint (:mod:`localrouter.server.validation`, whose building blocks it uses). Checked:

* ``model`` (required, a string), ``input`` (a string, or a list of items), ``instructions``,
  ``previous_response_id``, ``store``, ``stream``, ``parallel_tool_calls``,
  ``max_output_tokens`` (≥ 1), ``temperature`` (0–2), ``top_p`` (0–1), ``metadata`` (an object),
  ``text.format`` (``text`` · ``json_object`` · ``json_schema`` with a ``name`` and a ``schema``
  object), ``reasoning.effort`` (a string), ``tools`` (objects with a ``type``; a ``function``
  or ``custom`` tool needs a ``name``, a ``namespace`` a ``name`` and its ``tools``),
  ``tool_choice``, ``include`` (strings), ``truncation``.
* Items: a message (``type: message`` or no type, with a ``role`` of ``user``, ``system``,
  ``developer`` or ``assistant`` and a ``content`` string or list of parts: ``input_text``,
  ``output_text`` (``text``), ``refusal``, ``input_image`` (``image_url`` or ``file_id``),
  ``input_file``); ``function_call`` (``call_id``, ``name``, ``arguments`` strings);
  ``function_call_output`` (``call_id``, and ``output`` a string or a list of parts);
  ``custom_tool_call`` (``call_id``, ``name``, ``input`` strings) and
  ``custom_tool_call_output`` (as a function's). Other item types (``reasoning``,
  ``item_reference``, built-in tools' calls) need only a string ``type``:
  they are for a provider that serves the Responses API natively (a translation refuses them by
  name, so the next candidate is tried).

Refused outright, whatever the provider: ``background: true`` (LocalRouter does not run
responses in the background) and ``conversation`` (the Conversations API is not served): both
answered 400 saying so. Top-level ``null`` means absent and is removed, as on chat. Fields
LocalRouter does not know pass through to a native provider untouched.
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
    number,
    shown,
    string,
    string_list,
    tool_choice,
    want,
)

_ROLES = frozenset({"user", "system", "developer", "assistant"})


def _image(value: dict[str, Any], param: str) -> Problem | None:
    problem = fields(value, param, {"image_url": string, "file_id": string, "detail": string})
    if problem:
        return problem
    if value.get("image_url") is None and value.get("file_id") is None:
        return f"`{param}` needs an `image_url` or a `file_id`", f"{param}.image_url"
    return None


_PARTS: dict[str, Check] = {
    "input_text": lambda v, p: _text_field(v, p, "text"),
    "output_text": lambda v, p: _text_field(v, p, "text"),
    "summary_text": lambda v, p: _text_field(v, p, "text"),
    "refusal": lambda v, p: _text_field(v, p, "refusal"),
    "input_image": _image,
    "input_file": lambda v, p: fields(
        v, p, {"file_id": string, "file_data": string, "file_url": string, "filename": string}
    ),
}


def _text_field(value: dict[str, Any], param: str, key: str) -> Problem | None:
    text = value.get(key)
    return None if isinstance(text, str) else want(f"{param}.{key}", "a string", text)


def _typed(
    value: Any, param: str, what: str, checks: dict[str, Check], *, messages: bool = False
) -> Problem | None:
    """A string, or a list of objects each with a string ``type`` (``messages``: or a
    ``role``, for a message), checked by ``checks`` of its type (other types pass)."""
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return want(param, f"a string or an array of {what}", value)
    for i, entry in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(entry, dict):
            return want(where, "an object", entry)
        kind = entry.get("type", "message" if messages and "role" in entry else None)
        if not isinstance(kind, str):
            if messages:
                return f"`{where}` needs a `type` (or a `role`, for a message)", f"{where}.type"
            return want(f"{where}.type", "a string", kind)
        check = checks.get(kind)
        if check is not None:
            problem = check(entry, where)
            if problem:
                return problem
    return None


def _parts(value: Any, param: str) -> Problem | None:
    """A content string, or a list of typed parts (types LocalRouter does not know pass)."""
    return _typed(value, param, "content parts", _PARTS)


def _message(item: dict[str, Any], param: str) -> Problem | None:
    role = item.get("role")
    if role not in _ROLES:
        return (
            f"`{param}.role` must be one of user, system, developer, assistant, not {shown(role)}",
            f"{param}.role",
        )
    if "content" not in item:
        return f"`{param}.content` is required", f"{param}.content"
    return _parts(item["content"], f"{param}.content")


def _function_call(item: dict[str, Any], param: str) -> Problem | None:
    for key in ("call_id", "name", "arguments"):
        if not isinstance(item.get(key), str):
            return want(f"{param}.{key}", "a string", item.get(key))
    return None


def _custom_call(item: dict[str, Any], param: str) -> Problem | None:
    for key in ("call_id", "name", "input"):
        if not isinstance(item.get(key), str):
            return want(f"{param}.{key}", "a string", item.get(key))
    return None


def _function_output(item: dict[str, Any], param: str) -> Problem | None:
    if not isinstance(item.get("call_id"), str):
        return want(f"{param}.call_id", "a string", item.get("call_id"))
    if "output" not in item:
        return f"`{param}.output` is required", f"{param}.output"
    return _parts(item["output"], f"{param}.output")


_ITEMS: dict[str, Check] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_output,
    "custom_tool_call": _custom_call,
    "custom_tool_call_output": _function_output,
}


def _input(value: Any, param: str) -> Problem | None:
    return _typed(value, param, "input items", _ITEMS, messages=True)


_FUNCTION: dict[str, Check] = {
    "name": string,
    "description": string,
    "parameters": an_object,
    "strict": boolean,
}


def _tools(value: Any, param: str, *, nested: bool = False) -> Problem | None:
    """Tools: a ``function`` needs a ``name``; a ``namespace`` names a list of tools (not
    namespaces); other types (built-in tools) need only their ``type``."""
    if not isinstance(value, list):
        return want(param, "an array", value)
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            return want(where, "an object", tool)
        kind = tool.get("type")
        if not isinstance(kind, str):
            return want(f"{where}.type", "a string", kind)
        if kind in ("function", "namespace", "custom"):
            problem = fields(tool, where, _FUNCTION)
            if problem:
                return problem
            if not isinstance(tool.get("name"), str):
                return want(f"{where}.name", "a string", tool.get("name"))
        if kind == "namespace":
            if nested:
                return f"`{where}`: a namespace cannot hold another namespace", f"{where}.type"
            problem = _tools(tool.get("tools"), f"{where}.tools", nested=True)
            if problem:
                return problem
    return None


def _format(value: Any, param: str) -> Problem | None:
    problem = fields(value, param, {"type": choice("text", "json_object", "json_schema")})
    if problem:
        return problem
    if "type" not in value:
        return f"`{param}` needs a `type`", f"{param}.type"
    if value["type"] == "json_schema":
        if not isinstance(value.get("name"), str):
            return want(f"{param}.name", "a string", value.get("name"))
        if not isinstance(value.get("schema"), dict):
            return want(f"{param}.schema", "an object", value.get("schema"))
        return fields(value, param, {"strict": boolean, "description": string})
    return None


def _refused(reason: str) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        return f"`{param}` is not supported: {reason}", param

    return check


def _background(value: Any, param: str) -> Problem | None:
    if value is False:
        return None
    if value is True:
        return (
            f"`{param}` is not supported: LocalRouter answers every response in the "
            "foreground (send it without `background`)",
            param,
        )
    return want(param, "a boolean", value)


CHECKS: dict[str, Check] = {
    "model": string,
    "input": _input,
    "instructions": string,
    "previous_response_id": string,
    "store": boolean,
    "stream": boolean,
    "parallel_tool_calls": boolean,
    "max_output_tokens": integer(1),
    "temperature": number(0, 2),
    "top_p": number(0, 1),
    "top_logprobs": integer(0, 20),
    "metadata": an_object,
    "user": string,
    "tools": _tools,
    "tool_choice": tool_choice(nested=False),
    "text": lambda v, p: fields(v, p, {"format": _format, "verbosity": string}),
    "reasoning": lambda v, p: fields(v, p, {"effort": string, "summary": string}),
    "include": string_list,
    "truncation": choice("auto", "disabled"),
    "background": _background,
    "conversation": _refused(
        "the Conversations API is not served; continue a conversation with "
        "`previous_response_id`, or send its items in `input`"
    ),
    "stream_options": lambda v, p: fields(v, p, {"include_obfuscation": boolean}),
}


def check(body: dict[str, Any]) -> Problem | None:
    """The first problem with a Responses request ``body``, or None. Removes top-level nulls
    (absent) in place."""
    if None in body.values():
        for key in [k for k, v in body.items() if v is None]:
            del body[key]
    if not isinstance(body.get("model"), str):
        if "model" not in body:
            return "`model` is required", "model"
        return want("model", "a string", body["model"])
    if "input" not in body and "previous_response_id" not in body:
        return "`input` is required", "input"
    for key, value in body.items():
        field_check = CHECKS.get(key)
        if field_check is not None:
            problem = field_check(value, key)
            if problem:
                return problem
    return None
