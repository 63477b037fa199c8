"""``GET /admin/api/mcp``: the dashboard's MCP page — each upstream MCP server's state and tools
(as the gateway last listed them, else as cached for ``localrouter mcp tools``), the skills, and
which clients see each one behind ``/mcp``. From memory; no server is contacted."""

from __future__ import annotations

from typing import Any

from localrouter.commands.mcp_cmd import Catalog, Known, client_view, read_cache
from localrouter.compiler.mcp_table import public_name
from localrouter.compiler.table import RoutingTable
from localrouter.server.admin_auth import admin_client
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime


def _catalog(rt: Runtime, table: RoutingTable) -> Catalog:
    """The tools of each server: live where it is connected, else the cache's."""
    catalog = read_cache(table) if table.mcp_servers else Catalog()
    for name in table.mcp_servers:
        up = rt.mcp.get(name)
        if up is not None and up.state == "ready":
            tools = tuple((str(t.name), str(t.description or "")) for t in up.listing.tools)
            catalog.servers[name] = Known(tools, "live", up.listing.at)
    return catalog


async def mcp_view(rt: Runtime, call: Call) -> Reply:
    """``GET /admin/api/mcp``."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    table = got[0]
    catalog = _catalog(rt, table)
    health = rt.mcp.health()
    views = [client_view(table, c, catalog) for c in sorted(table.clients.values(), key=_name)]
    servers = []
    for name, server in sorted(table.mcp_servers.items()):
        seen = [v for v in views if name in v["servers"]]
        tools: dict[str, dict[str, Any]] = {}
        for v in seen:
            for up in v["upstream"]:
                if up["server"] == name:
                    for t in up.get("tools", []):
                        tools.setdefault(t["name"], {**t, "clients": []})["clients"].append(
                            v["client"]
                        )
        known = catalog.of(name)
        state = health.get(name, {"state": "not started", "last_error": None})
        servers.append(
            {
                "name": name,
                "transport": server.transport,
                "start": server.start,
                **{k: v for k, v in state.items() if k != "tools"},
                "tools_known": known.tools is not None,
                "tools_source": known.source or None,
                "tools_note": known.note or None,
                "tools": [
                    tools.get(public, {"name": public, "description": "", "clients": []})
                    for public in _public(name, known)
                ],
                "clients": [v["client"] for v in seen],
            }
        )
    skills = []
    for skill in sorted(table.skills.values(), key=_name):
        public = skill.public_name
        who = [v["client"] for v in views if any(s["name"] == public for s in v["skills"])]
        skills.append({"name": public, "description": skill.description, "clients": who})
    return Reply.json({"config_sha": table.sha256, "servers": servers, "skills": skills})


def _public(server: str, known: Known) -> list[str]:
    return [public_name(server, tool) for tool, _desc in known.tools or ()]


def _name(obj: Any) -> str:
    return str(obj.name)
