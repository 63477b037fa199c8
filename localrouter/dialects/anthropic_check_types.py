"""The building blocks of :mod:`localrouter.dialects.anthropic_check`.

Each check takes a value, the path of its parent and its key there, and raises :class:`Fail`
with Anthropic-style wording (``messages.0.content.1.text: must be a string, not a number``).
The path is joined into a ``param`` only for a refusal: making it for every block cost more than
the checks themselves.
"""

from __future__ import annotations

from typing import Any

from localrouter.server.validation_types import kind_of

Problem = tuple[str, str | None]  # (message, param)
Path = tuple[str | int, ...]  # where a value is: ("messages", 0, "content"); joined on failure


def param_of(path: Path, key: str | int | None = None) -> str:
    return ".".join(str(p) for p in (path if key is None else (*path, key)))


class Fail(Exception):
    """The first problem found; raised to leave the walk at once, caught in :func:`check`."""

    def __init__(self, what: str, path: Path, key: str | int | None = None) -> None:
        param = param_of(path, key)
        super().__init__(f"{param}: {what}")
        self.problem: Problem = (f"{param}: {what}", param)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def want(what: str, value: Any, path: Path, key: str | int | None = None) -> Fail:
    return Fail(f"must be {what}, not {kind_of(value)}", path, key)


def string(value: Any, path: Path, key: str | int | None = None) -> str:
    if type(value) is not str:
        raise want("a string", value, path, key)
    return value


def an_object(value: Any, path: Path, key: str | int | None = None) -> dict[str, Any]:
    if type(value) is not dict:
        raise want("an object", value, path, key)
    return value


def array(value: Any, limit: int, path: Path, key: str | int | None = None) -> list[Any]:
    if type(value) is not list:
        raise want("an array", value, path, key)
    if len(value) > limit:
        raise Fail(f"at most {limit} items are accepted, not {len(value)}", path, key)
    return value


def optional_string(block: dict[str, Any], key: str, path: Path) -> None:
    value = block.get(key)
    if value is not None and type(value) is not str:
        raise want("a string", value, path, key)


def boolean(value: Any, path: Path, key: str | int | None = None) -> None:
    if value is not None and type(value) is not bool:
        raise want("a boolean", value, path, key)


def integer(value: Any, low: int, path: Path, key: str | int | None = None) -> None:
    if type(value) is not int:
        raise want("an integer", value, path, key)
    if value < low:
        raise Fail(f"must be at least {low}, not {value}", path, key)


def number(value: Any, low: float, high: float, path: Path, key: str) -> None:
    if type(value) not in (int, float):
        raise want("a number", value, path, key)
    if not low <= value <= high:
        raise Fail(f"must be between {low} and {high}, not {value}", path, key)


def one_of(value: Any, allowed: frozenset[str], path: Path, key: str | int | None = None) -> str:
    if type(value) is not str or value not in allowed:
        names = ", ".join(sorted(allowed))
        raise Fail(f"must be one of {names}, not {shown(value)}", path, key)
    return value
