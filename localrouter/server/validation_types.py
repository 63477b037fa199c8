"""The building blocks of request validation (:mod:`localrouter.server.validation`).

A check takes a value and the ``param`` path it was found at, and returns None or a
:data:`Problem`: the message a person reads and the ``param`` of OpenAI's error envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Problem = tuple[str, str]  # (message, param)
Check = Callable[[Any, str], Problem | None]


def kind_of(value: Any) -> str:
    """How a JSON value is named in a message: ``a string``, ``an object``, ``null``…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def want(param: str, what: str, value: Any) -> Problem:
    return f"`{param}` must be {what}, not {kind_of(value)}", param


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def choice(*allowed: str) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        if isinstance(value, str) and value in allowed:
            return None
        return f"`{param}` must be one of {', '.join(allowed)}, not {shown(value)}", param

    return check


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def string(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, str) else want(param, "a string", value)


def boolean(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, bool) else want(param, "a boolean", value)


def an_object(value: Any, param: str) -> Problem | None:
    return None if isinstance(value, dict) else want(param, "an object", value)


def string_list(value: Any, param: str) -> Problem | None:
    if not isinstance(value, list):
        return want(param, "an array of strings", value)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            return want(f"{param}[{i}]", "a string", item)
    return None


def integer(low: int | None = None, high: int | None = None) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        if not is_int(value):
            return want(param, "an integer", value)
        if (low is not None and value < low) or (high is not None and value > high):
            return _range(param, value, low, high)
        return None

    return check


def number(low: float, high: float) -> Check:
    def check(value: Any, param: str) -> Problem | None:
        if not is_number(value):
            return want(param, "a number", value)
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


def fields(value: Any, param: str, checks: Mapping[str, Check]) -> Problem | None:
    """``value`` is an object whose listed fields, when present and not null, pass their check."""
    if not isinstance(value, dict):
        return want(param, "an object", value)
    for key, check in checks.items():
        item = value.get(key)
        if item is not None:
            problem = check(item, f"{param}.{key}")
            if problem:
                return problem
    return None


def stop(value: Any, param: str) -> Problem | None:
    if isinstance(value, str):
        return None
    if not isinstance(value, list):
        return want(param, "a string or an array of strings", value)
    return string_list(value, param)


def named(value: Any, param: str) -> Problem | None:
    if not isinstance(value, dict):
        return want(param, "an object", value)
    name = value.get("name")
    return None if isinstance(name, str) else want(f"{param}.name", "a string", name)


def numbers_map(value: Any, param: str) -> Problem | None:
    if not isinstance(value, dict):
        return want(param, "an object", value)
    for key, item in value.items():
        if not is_number(item):
            return want(f"{param}.{key}", "a number", item)
    return None


def _token(item: Any) -> bool:
    return type(item) is int and item >= 0


def tokens_or_text(what: str, *, empty_list: bool) -> Check:
    """A string, an array of strings, an array of token ids, or an array of token-id arrays."""

    def check(value: Any, param: str) -> Problem | None:
        if isinstance(value, str):
            return None
        if not isinstance(value, list):
            shape = f"a string, an array of strings or an array of token ids ({what})"
            return want(param, shape, value)
        if not value:
            return None if empty_list else (f"`{param}` must not be an empty array", param)
        first = value[0]
        if type(first) is str:
            if all(type(item) is str for item in value):  # the common case, in one pass
                return None
            i, item = next((i, x) for i, x in enumerate(value) if type(x) is not str)
            return want(f"{param}[{i}]", "a string like the first item", item)
        if type(first) is int:
            if all(_token(item) for item in value):
                return None
            i, item = next((i, x) for i, x in enumerate(value) if not _token(x))
            return want(f"{param}[{i}]", "a token id (integer >= 0) like the first item", item)
        for i, item in enumerate(value):
            where = f"{param}[{i}]"
            if type(item) is not list:
                if type(first) is list:
                    return want(where, "an array of token ids like the first item", item)
                return want(where, "a string, a token id or an array of token ids", item)
            if not item:
                return f"`{where}` must not be an empty array", where
            if not all(_token(t) for t in item):
                return f"`{where}` must hold token ids (integers >= 0)", where
        return None

    return check


TOOL_CHOICES = frozenset({"none", "auto", "required"})


def tool_choice(*, nested: bool) -> Check:
    """``tool_choice``: none, auto, required, or an object with a string ``type``; a
    ``function`` or ``custom`` choice names its tool — inside an object named by its type
    (chat: ``{"type": "function", "function": {"name": …}}``, ``nested``) or beside the type
    (the Responses API: ``{"type": "function", "name": …}``)."""

    def check(value: Any, param: str) -> Problem | None:
        if isinstance(value, str):
            if value in TOOL_CHOICES:
                return None
            return f"`{param}` must be none, auto, required or an object, not {shown(value)}", param
        if not isinstance(value, dict):
            return want(param, "a string or an object", value)
        kind = value.get("type")
        if not isinstance(kind, str):
            return want(f"{param}.type", "a string", kind)
        if kind in ("function", "custom"):
            return named(value.get(kind), f"{param}.{kind}") if nested else named(value, param)
        return None

    return check
