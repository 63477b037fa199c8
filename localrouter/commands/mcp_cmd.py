"""``localrouter mcp tools``: the MCP tools a client would see behind ``/mcp``, dry.

For each client (or the one named): its strategy, the servers that strategy lists, its
allow/deny globs and rules, the skills it sees, and each upstream server's tools filtered by the
same decision the gateway makes (:func:`localrouter.mcp.access.visible`). The tools of an
upstream server are known from the gateway's cache, ``STATE_DIR/mcp/tools.json`` (written by a
running gateway whenever a server connects or its tools change; read here defensively — a file
that is not what the gateway writes is ignored with a note), and only when the cached entry's
fingerprint is the server's as configured now. ``--live`` asks the servers themselves instead
(:func:`localrouter.mcp.upstream.list_tools_once`: stdio servers are started, HTTP ones called,
with their secrets resolved). Rules are judged per call, so a listed tool may still be refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail_build, load
from localrouter.compiler.mcp_table import SKILLS, McpServer, public_name
from localrouter.compiler.table import Client, RoutingTable
from localrouter.mcp.access import visible

CACHE_FILE = Path("mcp") / "tools.json"
MAX_CACHE_BYTES = 16 * 1024 * 1024
MAX_DESCRIPTION = 200  # characters of a tool's description shown


@dataclass(frozen=True)
class Known:
    """One server's tools as far as they are known: (upstream name, description) pairs."""

    tools: tuple[tuple[str, str], ...] | None  # None: not known
    source: str  # "cache" | "live" | ""
    at: float | None = None  # when the gateway cached them (unix)
    note: str = ""  # why they are not known


@dataclass
class Catalog:
    """What is known of every upstream server's tools, and notes about where from."""

    servers: dict[str, Known] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def of(self, name: str) -> Known:
        return self.servers.get(name, Known(None, "", note="tools not known yet"))


def cache_path(table: RoutingTable) -> Path | None:
    state_dir = table.settings.state_dir
    return Path(state_dir) / CACHE_FILE if state_dir else None


def _tools(entry: Any) -> tuple[tuple[str, str], ...] | None:
    tools = entry.get("tools") if isinstance(entry, dict) else None
    if not isinstance(tools, list):
        return None
    out = []
    for t in tools:
        name = t.get("name") if isinstance(t, dict) else None
        if not isinstance(name, str) or not name:
            return None
        desc = t.get("description")
        out.append((name, desc if isinstance(desc, str) else ""))
    return tuple(out)


def read_cache(table: RoutingTable) -> Catalog:
    """The gateway's cached tool lists, for the servers whose configuration is unchanged."""
    catalog = Catalog()
    path = cache_path(table)
    if path is None or not path.is_file():
        return catalog
    try:
        with path.open("rb") as f:
            blob = f.read(MAX_CACHE_BYTES + 1)
        if len(blob) > MAX_CACHE_BYTES:
            raise ValueError(f"larger than {MAX_CACHE_BYTES // (1024 * 1024)} MiB")
        data = json.loads(blob)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        catalog.notes.append(f"ignored {path}: {exc}")
        return catalog
    for name, server in table.mcp_servers.items():
        entry = data.get(name)
        if entry is None:
            continue
        tools = _tools(entry)
        if tools is None:
            catalog.notes.append(f"ignored the cached entry of '{name}' in {path}: malformed")
            continue
        if not isinstance(entry, dict) or entry.get("fingerprint") != server.fingerprint:
            note = "tools cached for another configuration of the server (changed since)"
            catalog.servers[name] = Known(None, "", note=note)
            continue
        at = entry.get("at")
        catalog.servers[name] = Known(tools, "cache", at if isinstance(at, int | float) else None)
    return catalog


def read_live(table: RoutingTable, names: list[str]) -> Catalog:
    """Each server of ``names`` asked for its tools now; a failure is noted per server."""
    catalog = Catalog()
    from localrouter.mcp.upstream import list_tools_once as list_once

    # each server's failure is shown once, on its line: not also as the gateway's log warning
    logging.getLogger("localrouter.mcp").setLevel(logging.ERROR)
    from localrouter.compiler.table import SecretValue
    from localrouter.errors import SecretError
    from localrouter.secrets import resolve

    state_dir = table.settings.state_dir

    def resolver(secret: SecretValue) -> str:
        return resolve(secret, state_dir=state_dir)

    async def one(server: McpServer) -> Known:
        try:
            tools = await list_once(server, resolver)
        except SecretError as exc:
            return Known(None, "", note=f"a secret cannot be resolved: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure of one server is shown, not raised
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            return Known(None, "", note=f"cannot list its tools: {detail}")
        listed = tuple((str(t.name), str(t.description or "")) for t in tools)
        return Known(listed, "live", time.time())

    async def every() -> list[Known]:
        return list(await asyncio.gather(*(one(table.mcp_servers[n]) for n in names)))

    for name, known in zip(names, asyncio.run(every()), strict=True):
        catalog.servers[name] = known
    return catalog


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DESCRIPTION else line[: MAX_DESCRIPTION - 1] + "…"


def client_view(table: RoutingTable, client: Client, catalog: Catalog) -> dict[str, Any]:
    """What ``client`` sees behind /mcp, as plain data (the JSON of ``mcp tools``)."""
    strategy = table.strategy_of(client)
    policy = strategy.mcp
    sname = strategy.name
    servers: list[dict[str, Any]] = []
    for name in policy.servers:
        if name == SKILLS:
            continue
        known = catalog.of(name)
        entry: dict[str, Any] = {"server": name, "known": known.tools is not None}
        if known.tools is None:
            entry["note"] = known.note
        else:
            entry.update(source=known.source, at=known.at, tools=[], hidden=[])
            for tool, desc in known.tools:
                public = public_name(name, tool)
                why = visible(policy, name, public, sname)
                if why is None:
                    entry["tools"].append({"name": public, "description": _short(desc)})
                else:
                    entry["hidden"].append({"name": public, "reason": why})
        servers.append(entry)
    skills = []
    if SKILLS in policy.listed:
        for skill in table.skills.values():
            if visible(policy, SKILLS, skill.public_name, sname) is None:
                skills.append({"name": skill.public_name, "description": _short(skill.description)})
    return {
        "client": client.name,
        "strategy": None if strategy.implicit else sname,
        "servers": list(policy.servers),
        "allow": list(policy.allow),
        "deny": list(policy.deny),
        "rules": [{"when": r.when.source, "action": r.action} for r in policy.rules],
        "upstream": servers,
        "skills": skills,
    }


def _ago(at: float | None) -> str:
    if at is None:
        return ""
    s = max(0, round(time.time() - at))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f", {s // size} {unit} ago"
    return f", {s} s ago"


def render(view: dict[str, Any], how_to_learn: str) -> list[str]:
    strategy = view["strategy"] or "(a fixed model)"
    lines = [f"client {view['client']} — strategy {strategy}"]
    if not view["servers"]:
        return [*lines, "  no MCP servers (its strategy has no `mcp`): sees no tools"]
    lines.append(f"  servers: {', '.join(view['servers'])}")
    lines.append(f"  allow:   {', '.join(view['allow']) or '(nothing)'}")
    if view["deny"]:
        lines.append(f"  deny:    {', '.join(view['deny'])}")
    for i, rule in enumerate(view["rules"], 1):
        lines.append(f"  rule {i}:  {rule['action']} when {rule['when']}")
    if view["rules"]:
        lines.append("           (rules judge each call: a listed tool may still be refused)")
    for s in view["upstream"]:
        if not s["known"]:
            lines.append(
                f"  {s['server']}: {s['note']}" + (f" — {how_to_learn}" * bool(how_to_learn))
            )
            continue
        tools, hidden = s["tools"], s["hidden"]
        lines.append(f"  {s['server']} ({s['source']}{_ago(s['at'])}): {len(tools)} tools")
        lines += [f"    {t['name']}" + (f"  {t['description']}" if t["description"] else "")
                  for t in tools]  # fmt: skip
        if hidden:
            lines.append("    hidden:")
            lines += [f"      {h['name']}: {h['reason']}" for h in hidden]
    if SKILLS in view["servers"]:
        lines.append(f"  skills: {len(view['skills'])}")
        lines += [f"    {t['name']}" + (f"  {t['description']}" if t["description"] else "")
                  for t in view["skills"]]  # fmt: skip
    return lines


def learn_hint(table: RoutingTable) -> str:
    path = cache_path(table)
    where = f" (the gateway caches them in {path})" if path else ""
    return f"run `localrouter mcp tools --live`, or serve once{where}"


def explain_lines(table: RoutingTable, client: Client) -> list[str] | None:
    """``explain``'s MCP section (None when the config has no MCP at all): from the cache."""
    if not table.mcp_servers and not table.skills:
        return None
    view = client_view(table, client, read_cache(table))
    return ["mcp:", *render(view, learn_hint(table))[1:]]


def explain_json(table: RoutingTable, client: Client) -> dict[str, Any] | None:
    if not table.mcp_servers and not table.skills:
        return None
    return client_view(table, client, read_cache(table))


def run(args: Namespace) -> int:
    result = load(args)
    if result.table is None:
        return fail_build(result, args.format)
    table = result.table
    clients: Mapping[str, Client] = table.clients
    if args.client is not None:
        if args.client not in clients:
            known = ", ".join(sorted(clients)) or "none"
            print(f"error: unknown client '{args.client}' (clients: {known})", file=sys.stderr)
            return EXIT_USAGE
        clients = {args.client: clients[args.client]}
    wanted = sorted(
        {s for c in clients.values() for s in table.strategy_of(c).mcp.servers}
        & set(table.mcp_servers)
    )
    catalog = read_live(table, wanted) if args.live else read_cache(table)
    views = [client_view(table, c, catalog) for _, c in sorted(clients.items())]
    failed = args.live and any(catalog.of(n).tools is None for n in wanted)
    if args.format == "json":
        doc = {"source": "live" if args.live else "cache", "notes": catalog.notes, "clients": views}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        hint = "" if args.live else learn_hint(table)
        lines = [f"note: {n}" for n in catalog.notes]
        for view in views:
            lines += [*render(view, hint), ""]
        if not views:
            lines.append("no clients are defined")
        sys.stdout.write("\n".join(lines).rstrip("\n") + "\n")
    return EXIT_FAILED if failed else EXIT_OK
