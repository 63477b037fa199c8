"""Who may see and call which MCP tool: the pure decision behind ``/mcp``, ``tests:`` and
``localrouter mcp tools``.

A strategy's :class:`~localrouter.compiler.mcp_table.McpPolicy` decides two things:

- :func:`visible`: is a tool *listed* to the strategy's clients? Its server must be in
  ``servers`` (``skills`` for ``skills__NAME``), no ``deny`` glob may match its public name and
  some ``allow`` glob must. Globs have :func:`fnmatch.fnmatchcase` semantics and are compiled
  once, with the policy.
- :func:`decide`: may *this call* go ahead? The ``rules`` come first, in order: the first whose
  ``when`` is true decides (``allow`` lets the call through, even past a ``deny`` glob;
  ``deny`` refuses it); a rule whose evaluation fails refuses the call (fail closed, with the
  CEL error as the reason). When no rule matches, the call is allowed exactly when the tool is
  visible. A server the strategy does not list is never reachable, whatever the rules say.

Both return None for "yes" and the reason in words for "no": the reason is what the client's
MCP error and ``explain`` say. Called once per tool call (and once per tool per listing), so
nothing here allocates more than the CEL activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localrouter.compiler.mcp_table import McpPolicy
from localrouter.compiler.table import Client
from localrouter.routing.facts import NowFacts

__all__ = ["decide", "visible"]


def visible(policy: McpPolicy, server: str, public: str, strategy_name: str = "") -> str | None:
    """None when clients of the policy's strategy see the tool ``public`` (``SERVER__TOOL``, or
    ``skills__NAME`` with ``server`` ``"skills"``); else why not."""
    if server not in policy.listed:
        return _unlisted(server, strategy_name)
    if policy.deny_re is not None and policy.deny_re.match(public):
        return f"denied by pattern '{policy.first_glob(policy.deny, public)}'"
    if policy.allow_re is None or not policy.allow_re.match(public):
        return f"'{public}' matches no allow pattern ({', '.join(policy.allow) or 'none'})"
    return None


def _unlisted(server: str, strategy_name: str) -> str:
    who = f"strategy '{strategy_name}'" if strategy_name else "the client's strategy"
    return f"server '{server}' is not listed by {who} (mcp.servers)"


def decide(
    policy: McpPolicy,
    server: str,
    public: str,
    args: Mapping[str, Any],
    client: Client,
    now: NowFacts,
    strategy_name: str = "",
) -> str | None:
    """None when ``client`` may call ``public`` with ``args``; else why not (see the module
    docstring for the order). ``args`` is the call's plain JSON arguments."""
    if server not in policy.listed:
        return _unlisted(server, strategy_name)
    if policy.rules:
        activation = {
            "tool": {"name": public, "server": server, "args": args},
            "client": {"name": client.name, "tags": list(client.tags)},
            "now": now.as_cel_dict(),
        }
        for i, rule in enumerate(policy.rules):
            matched, error = rule.when.evaluate_verbose(activation)
            if error is not None:
                return f"rule {i + 1} ({rule.when.source!r}) could not be evaluated: {error}"
            if matched:
                if rule.action == "allow":
                    return None
                return f"denied by rule {i + 1} ({rule.when.source!r})"
    return visible(policy, server, public, strategy_name)
