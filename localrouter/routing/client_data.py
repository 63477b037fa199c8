"""Bounds on the client data that CEL expressions read: ``tags``, ``headers``, ``metadata``,
``max_tokens``. Checked once per request, when the facts are built.

A CEL expression is written by the config's author, but the data it runs over comes from the
client. Without bounds, a 0.1 MB body with 10,000 tags made a route that maps over
``request.tags`` run for seconds (the C++ evaluator's ``map()`` is quadratic in the list's length)
and grow the process by gigabytes; ``metadata`` nested 40 levels was beyond what the evaluators
take. Within these bounds the dearest single comprehension over any of these fields costs well
under a millisecond, and the evaluators' own limits (nesting, int64, the C++ evaluator's
10,000-iteration budget) cannot be reached by a request.

Data over a bound is **refused** (:class:`~localrouter.errors.RequestDataError`, answered 400, or
431 for too many headers), never cut: a cut list would route silently differently (a request
whose 65th tag is ``private`` would miss the route that keeps it local). The limits are generous
next to OpenAI's own (``metadata``: 16 pairs, keys of 64 and string values of 512 characters) and
Envoy's (100 headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from localrouter.errors import RequestDataError

__all__ = [
    "MAX_HEADERS",
    "MAX_METADATA_CHARS",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_VALUES",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "MAX_TOKENS_FACT",
    "checked_headers",
    "checked_metadata",
    "checked_tags",
    "token_count",
]

MAX_TAGS = 64  # strings in `tags`
MAX_TAG_CHARS = 128  # characters of one tag
MAX_HEADERS = 100  # header fields (Envoy's default `max_headers_count`); 431 beyond
MAX_METADATA_DEPTH = 8  # objects and arrays inside one another: {"a": {"b": [1]}} is 3
MAX_METADATA_VALUES = 128  # every key, object, array, string, number, bool and null counts
MAX_METADATA_CHARS = 16_384  # characters of every key and string together
# `max_tokens` beyond this is read as this: no model has such a window, and CEL arithmetic on it
# (`request.estimated_tokens + request.max_tokens`, `* 1000`) stays far inside int64
MAX_TOKENS_FACT = 2**32
_INT64 = 2**63
_CONTAINERS = (Mapping, list, tuple)


def checked_tags(value: Any) -> tuple[str, ...]:
    """The strings of a body's ``tags`` array (other items are ignored, as before); refused
    beyond :data:`MAX_TAGS` items (counted before anything is looked at) or
    :data:`MAX_TAG_CHARS` characters in one."""
    if not isinstance(value, list):
        return ()
    if len(value) > MAX_TAGS:
        raise RequestDataError(
            f"`tags` has {len(value)} items; at most {MAX_TAGS} are accepted", param="tags"
        )
    tags = tuple(t for t in value if isinstance(t, str))
    for i, tag in enumerate(tags):
        if len(tag) > MAX_TAG_CHARS:
            raise RequestDataError(
                f"`tags[{i}]` is {len(tag)} characters long; at most {MAX_TAG_CHARS} are accepted",
                param="tags",
            )
    return tags


def checked_headers(headers: Mapping[str, str]) -> None:
    """Refuse (431) more than :data:`MAX_HEADERS` header fields. Their size is the HTTP
    server's bound (Hypercorn: 16 KB for the request line and headers together)."""
    if len(headers) > MAX_HEADERS:
        raise RequestDataError(
            f"the request has {len(headers)} header fields; at most {MAX_HEADERS} are accepted",
            status=431,
        )


def checked_metadata(value: Any) -> None:
    """Refuse ``metadata`` over the bounds, or with an integer outside CEL's int64 range.

    One walk with an explicit stack (no recursion, whatever the nesting): a container's size is
    counted before its items are looked at, so a hostile value costs at most
    :data:`MAX_METADATA_VALUES` steps. Scalars are checked where they stand; only containers go
    on the stack, and a path is spelt out only for a refusal (~1 µs for OpenAI-style metadata).
    """
    if type(value) is not dict and not isinstance(value, _CONTAINERS):
        _check_scalar(value, ())
        return
    values, chars = 1, 0
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            _refuse(f"`metadata` is nested deeper than {MAX_METADATA_DEPTH} levels")
        mapping = type(item) is dict or isinstance(item, Mapping)
        values += 2 * len(item) if mapping else len(item)  # keys count too
        if values > MAX_METADATA_VALUES:
            _refuse(f"`metadata` has more than {MAX_METADATA_VALUES} values (keys, items)")
        for key, v in item.items() if mapping else enumerate(item):
            if mapping:
                if type(key) is not str:
                    _refuse(f"`{_where(path)}` has a key that is not a string")
                chars += len(key)
            kind = type(v)
            if kind is str:
                chars += len(v)
            elif kind is int:
                if not -_INT64 <= v < _INT64:
                    _check_scalar(v, (*path, key))  # refuses
            elif v is None or kind is bool or kind is float:
                pass
            elif kind is dict or kind is list or isinstance(v, _CONTAINERS):
                stack.append((v, depth + 1, (*path, key)))
            else:
                chars += _check_scalar(v, (*path, key))
        if chars > MAX_METADATA_CHARS:
            _refuse(f"`metadata` holds more than {MAX_METADATA_CHARS} characters of text")


def _check_scalar(value: Any, path: tuple[str | int, ...]) -> int:
    """The characters a scalar counts for; refuses an int outside int64 or a non-JSON value."""
    if isinstance(value, str):
        return len(value)
    if value is None or isinstance(value, bool | float):
        return 0
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            _refuse(f"`{_where(path)}` is an integer outside the 64-bit range")
        return 0
    _refuse(f"`{_where(path)}` is not JSON data ({type(value).__name__})")


def _where(path: tuple[str | int, ...]) -> str:
    return "metadata" + "".join(f"[{k}]" if type(k) is int else f".{k}" for k in path)


def _refuse(message: str) -> NoReturn:
    if len(message) > 200:  # a path through long keys
        message = message[:160] + "…" + message[-40:]
    raise RequestDataError(message + _HELP, param="metadata")


_HELP = (
    f" (limits: {MAX_METADATA_DEPTH} levels, {MAX_METADATA_VALUES} values, "
    f"{MAX_METADATA_CHARS} characters)"
)


def token_count(value: Any) -> int:
    """A body's ``max_tokens`` as the ``request.max_tokens`` fact: an integer, or a float with
    an integral value (a JSON parser may give ``1e30`` or a very long integer either way),
    clamped to 0..:data:`MAX_TOKENS_FACT`; anything else (absent, a string, a bool, ``1.5``) is
    0, "not set"."""
    if type(value) is int:
        return min(max(value, 0), MAX_TOKENS_FACT)
    if type(value) is float and value.is_integer():  # not inf or nan
        return int(min(max(value, 0.0), float(MAX_TOKENS_FACT)))
    return 0
