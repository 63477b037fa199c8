"""What one client sees behind ``/mcp``: the tools, resources and prompts of the servers its
strategy lists, under public names, and the way back from a public name to the server's own.

Names (the client sees these; the server is always told its own):

- a tool ``T`` of server ``S`` is ``S__T`` (:func:`~localrouter.compiler.mcp_table.public_name`:
  sanitised to MCP's tool-name rules, at most 128 characters). Two tools of one server that
  sanitise to the same name are a collision: the first (in the server's order) is kept, the
  other is left out and named in the server's ``/health`` entry (``collisions``) and the log
  (:func:`localrouter.mcp.upstream.listing_of`);
- a skill ``K`` is ``skills__K``;
- a prompt ``P`` is ``S__P``;
- a resource ``U`` (a URI) is ``localrouter://S/U``, and a template ``localrouter://S/TEMPLATE``
  (the template's variables are kept, so a client expands them as before).

A tool is listed when the client's strategy lists its server and its globs let it through
(:func:`localrouter.mcp.access.visible`); ``rules`` are decided per call, where the arguments are
known. Resources and prompts are listed for every server the strategy lists.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from localrouter.compiler.mcp_table import SEPARATOR, SKILLS, McpPolicy, Skill, public_name
from localrouter.errors import McpError
from localrouter.mcp.access import visible
from localrouter.mcp.servers import McpServers
from localrouter.mcp.upstream import Upstream

URI_PREFIX = "localrouter://"


@dataclass(frozen=True)
class Target:
    """Where a public tool name leads: the server and the tool's own name there."""

    server: str
    tool: str
    public: str


def tool_index(up: Upstream) -> Mapping[str, types.Tool]:
    """The server's tools by public name."""
    return up.listing.index


async def wake(policy: McpPolicy, servers: McpServers) -> None:
    """Start the ``first_use`` servers ``policy`` lists that were never started, and wait for
    them (each up to its ``connect_timeout_s``): a listing then includes them."""
    idle = [
        up
        for name in policy.servers
        if (up := servers.get(name)) is not None and up.state == "idle"
    ]
    if idle:
        await asyncio.gather(*(_try(up) for up in idle))


async def _try(up: Upstream) -> None:
    with contextlib.suppress(McpError):  # its state and last_error say why
        await up.session()


def _ready(policy: McpPolicy, servers: McpServers) -> Iterator[Upstream]:
    for name in policy.servers:
        if name == SKILLS:
            continue
        up = servers.get(name)
        if up is not None and up.state == "ready":
            yield up


def tools(
    policy: McpPolicy, strategy: str, servers: McpServers, skills: Mapping[str, Skill]
) -> list[types.Tool]:
    """The tools a client of ``policy`` sees, in the order its strategy lists the servers."""
    out: list[types.Tool] = []
    for up in _ready(policy, servers):
        for name, tool in tool_index(up).items():
            if visible(policy, up.name, name) is None:
                out.append(tool.model_copy(update={"name": name}))
    if SKILLS in policy.servers:
        for skill in skills.values():
            name = skill.public_name
            if visible(policy, SKILLS, name) is None:
                out.append(
                    types.Tool(
                        name=name,
                        description=skill.description,
                        input_schema=dict(skill.input_schema),
                    )
                )
    return out


def find_tool(policy: McpPolicy, servers: McpServers, public: str) -> Target | None:
    """The server and own name behind ``public``, among the servers ``policy`` lists (whether
    or not the globs let it through: :mod:`localrouter.mcp.access` says that)."""
    for name in policy.servers:
        if name == SKILLS or not public.startswith(name + SEPARATOR):
            continue
        up = servers.get(name)
        if up is None:
            continue
        tool = tool_index(up).get(public)
        if tool is not None:
            return Target(name, tool.name, public)
    return None


def server_of(policy: McpPolicy, public: str) -> str | None:
    """The listed server whose prefix ``public`` carries (for a tool not known right now)."""
    for name in policy.servers:
        if public.startswith(name + SEPARATOR):
            return name
    return None


# -- resources and prompts ---------------------------------------------------------------------
def public_uri(server: str, uri: str) -> str:
    return f"{URI_PREFIX}{server}/{uri}"


def _public_content(server: str, item: Any) -> Any:
    """A content block with the URI of a resource link or embedded resource made public."""
    if isinstance(item, types.ResourceLink):
        return item.model_copy(update={"uri": public_uri(server, str(item.uri))})
    if isinstance(item, types.EmbeddedResource):
        inner = item.resource.model_copy(update={"uri": public_uri(server, str(item.resource.uri))})
        return item.model_copy(update={"resource": inner})
    return item


def namespaced(server: str, result: types.CallToolResult) -> types.CallToolResult:
    """``result`` with the URIs of its resource links and embedded resources made public, so a
    client can read them through the gateway."""
    content = [_public_content(server, c) for c in result.content]
    return result.model_copy(update={"content": content})


def namespaced_prompt(server: str, result: types.GetPromptResult) -> types.GetPromptResult:
    """A prompt's messages with their resources' URIs made public (as :func:`namespaced`)."""
    messages = [
        m.model_copy(update={"content": _public_content(server, m.content)})
        for m in result.messages
    ]
    return result.model_copy(update={"messages": messages})


def split_uri(policy: McpPolicy, uri: str) -> tuple[str, str] | None:
    """``(server, the server's own URI)`` for a public URI of a listed server, else None."""
    if not uri.startswith(URI_PREFIX):
        return None
    server, sep, own = uri[len(URI_PREFIX) :].partition("/")
    if not sep or not own or server == SKILLS or server not in policy.servers:
        return None
    return server, own


def resources(policy: McpPolicy, servers: McpServers) -> list[types.Resource]:
    out: list[types.Resource] = []
    for up in _ready(policy, servers):
        for r in up.listing.resources:
            out.append(r.model_copy(update={"uri": public_uri(up.name, str(r.uri))}))
    return out


def templates(policy: McpPolicy, servers: McpServers) -> list[types.ResourceTemplate]:
    out: list[types.ResourceTemplate] = []
    for up in _ready(policy, servers):
        for t in up.listing.templates:
            uri = public_uri(up.name, t.uri_template)
            out.append(t.model_copy(update={"uri_template": uri}))
    return out


def prompts(policy: McpPolicy, servers: McpServers) -> list[types.Prompt]:
    out: list[types.Prompt] = []
    for up in _ready(policy, servers):
        for p in up.listing.prompts:
            out.append(p.model_copy(update={"name": public_name(up.name, p.name)}))
    return out


def find_prompt(policy: McpPolicy, servers: McpServers, public: str) -> tuple[str, str] | None:
    for up in _ready(policy, servers):
        for p in up.listing.prompts:
            if public_name(up.name, p.name) == public:
                return up.name, p.name
    return None
