"""The MCP part of a config test (``tests:``): which tools a client sees behind ``/mcp`` and
whether one call is allowed, judged by the same pure decision the gateway uses
(:mod:`localrouter.mcp.access`), with no upstream server running.

``expect.tools_include`` / ``expect.tools_exclude`` name public tools (``SERVER__TOOL``,
``skills__NAME``); visibility is decided by the strategy's ``mcp`` (servers, allow, deny). The
upstream's real tool list is not known here, so an upstream tool counts as present when its server
is defined; a skill must exist. ``expect.tool: allow | deny`` judges the test's ``tool`` call
(name and arguments) for the test's client at the test's ``now``, rules first.
"""

from __future__ import annotations

from localrouter.compiler.mcp_compile import split_call
from localrouter.compiler.mcp_table import SKILLS
from localrouter.compiler.table import Client, RoutingTable
from localrouter.config.spec import TestSpec
from localrouter.mcp.access import decide, visible
from localrouter.routing.facts import NowFacts


def sees(table: RoutingTable, client: Client, public: str) -> str | None:
    """None when ``client`` sees the tool ``public``; else why not."""
    parts = split_call(public)
    if parts is None:
        return f"'{public}' is not a tool name (SERVER__TOOL or skills__NAME)"
    server, rest = parts
    if server == SKILLS:
        if rest not in table.skills:
            return f"there is no skill '{rest}'"
    elif server not in table.mcp_servers:
        return f"there is no MCP server '{server}'"
    strategy = table.strategy_of(client)
    return visible(strategy.mcp, server, public, strategy.name)


def mcp_problems(table: RoutingTable, client: Client, test: TestSpec, now: NowFacts) -> list[str]:
    """What the test expects of MCP and the table does not do (empty: it passes)."""
    e = test.expect
    problems = []
    for name in e.tools_include or ():
        hidden = sees(table, client, name)
        if hidden is not None:
            problems.append(f"expected the client to see tool '{name}', but {hidden}")
    for name in e.tools_exclude or ():
        if sees(table, client, name) is None:
            problems.append(f"expected tool '{name}' to be hidden, but the client sees it")
    if e.tool is None:
        return problems
    if test.tool is None:
        problems.append("expect.tool needs the call to judge: add tool: {name: SERVER__TOOL}")
        return problems
    parts = split_call(test.tool.name)
    strategy = table.strategy_of(client)
    if parts is None:
        why: str | None = f"'{test.tool.name}' is not a tool name (SERVER__TOOL or skills__NAME)"
    else:
        why = decide(
            strategy.mcp, parts[0], test.tool.name, test.tool.args, client, now, strategy.name
        )
    if e.tool == "allow" and why is not None:
        problems.append(f"expected the call to '{test.tool.name}' to be allowed, but {why}")
    elif e.tool == "deny" and why is None:
        problems.append(f"expected the call to '{test.tool.name}' to be denied, but it is allowed")
    return problems
