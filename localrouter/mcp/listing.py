"""What an upstream MCP server offers, as last read: its tools (by public name), resources,
resource templates and prompts.

A :class:`Listing` is replaced whole when the server is (re)connected or says a list changed,
never changed in place. :func:`read_listing` reads every page of each list the server's
capabilities announce, at most :data:`MAX_LISTED` entries of each (in at most
:data:`MAX_PAGES` pages). :func:`listing_of` indexes the tools by public name (``SERVER__TOOL``):
a tool whose public name an earlier one of the server's tools took is left out (a collision,
logged, shown in ``/health``), and so is a tool callable only as a task
(``execution.taskSupport: required``), which the gateway does not serve.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import mcp_types as types
from mcp import ClientSession

from localrouter.compiler.mcp_table import public_name

log = logging.getLogger("localrouter.mcp")

MAX_LISTED = 10_000  # tools (resources, prompts) taken from one server; the rest are ignored
MAX_PAGES = 100


@dataclass(frozen=True)
class Listing:
    """What a server offers, as last read (replaced whole, never changed in place). ``index``:
    its tools by public name (``SERVER__TOOL``); ``collisions``: its tools left out because an
    earlier one of its tools has the same public name."""

    tools: tuple[types.Tool, ...] = ()
    resources: tuple[types.Resource, ...] = ()
    templates: tuple[types.ResourceTemplate, ...] = ()
    prompts: tuple[types.Prompt, ...] = ()
    at: float = field(default_factory=time.time)
    index: Mapping[str, types.Tool] = field(default_factory=dict)
    collisions: tuple[str, ...] = ()


def listing_of(
    server: str,
    tools: Sequence[types.Tool],
    resources: Sequence[types.Resource] = (),
    templates: Sequence[types.ResourceTemplate] = (),
    prompts: Sequence[types.Prompt] = (),
) -> Listing:
    index: dict[str, types.Tool] = {}
    collisions: list[str] = []
    for tool in tools:
        if tool.execution is not None and tool.execution.task_support == "required":
            continue  # callable only as a task, which the gateway does not serve
        name = public_name(server, tool.name)
        if name in index:
            collisions.append(tool.name)
        else:
            index[name] = tool
    if collisions:
        shown = ", ".join(repr(c) for c in collisions[:10])
        log.warning(
            "MCP server %s: tools %s collide with another public name: left out", server, shown
        )
    return Listing(
        tuple(tools),
        tuple(resources),
        tuple(templates),
        tuple(prompts),
        index=MappingProxyType(index),
        collisions=tuple(collisions),
    )


async def read_listing(session: ClientSession, server: str) -> Listing:
    """Every page of the server's tools, resources (and templates) and prompts, as far as its
    capabilities announce them; at most :data:`MAX_LISTED` of each."""
    caps = session.server_capabilities if hasattr(session, "server_capabilities") else None
    caps = caps() if callable(caps) else caps
    has = _capabilities(caps)
    tools = await _pages(session.list_tools, "tools") if has("tools") else []
    resources = await _pages(session.list_resources, "resources") if has("resources") else []
    templates = (
        await _pages(session.list_resource_templates, "resource_templates")
        if has("resources")
        else []
    )
    prompts = await _pages(session.list_prompts, "prompts") if has("prompts") else []
    return listing_of(server, tools, resources, templates, prompts)


def _capabilities(caps: Any) -> Callable[[str], bool]:
    if caps is None:  # unknown: ask for everything, a refusal is an empty list
        return lambda _name: True
    return lambda name: getattr(caps, name, None) is not None


async def _pages(fetch: Callable[..., Any], attr: str) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await fetch(params=params)
        out.extend(getattr(result, attr))
        cursor = result.next_cursor
        if not cursor or len(out) >= MAX_LISTED:
            break
    return out[:MAX_LISTED]
