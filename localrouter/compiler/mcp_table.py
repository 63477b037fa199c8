"""The compiled MCP part of the routing table: upstream servers, per-strategy access policies,
skills. Frozen data, as the rest of the table; what runs them lives in :mod:`localrouter.mcp`.

- :class:`McpServer`: one entry of ``mcp_servers``, secrets still references (resolved when the
  server is connected, never here). ``fingerprint`` is what a reload compares: a server whose
  fingerprint is unchanged keeps its session, a changed one is restarted.
- :class:`McpPolicy`: a strategy's ``mcp: {servers, allow, deny, rules}``. Tools are public as
  ``SERVER__TOOL`` (:func:`public_name`); skills as ``skills__NAME``.
- :class:`Skill`: a compiled skill; each step calls one public tool name with CEL arguments.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localrouter.compiler.cel import Predicate
    from localrouter.compiler.cel_expr import Expression
    from localrouter.compiler.table import SecretValue

SKILLS = "skills"  # the pseudo-server a strategy lists to see the skills, as skills__NAME
SEPARATOR = "__"
MAX_TOOL_NAME = 128  # MCP's tool-name rule: 1-128 characters of [A-Za-z0-9_.-]
_INVALID = re.compile(r"[^A-Za-z0-9_.\-]")


def sanitise(name: str) -> str:
    """``name`` with every character MCP does not allow in a tool name replaced by ``_``."""
    return _INVALID.sub("_", name) or "_"


def public_name(server: str, tool: str) -> str:
    """The name a client sees: ``SERVER__TOOL``, sanitised to MCP's tool-name rules and cut to
    :data:`MAX_TOOL_NAME` characters."""
    return sanitise(f"{server}{SEPARATOR}{tool}")[:MAX_TOOL_NAME]


@dataclass(frozen=True)
class McpServer:
    name: str
    transport: str  # "stdio" | "sse" | "streamable_http"
    command: tuple[str, ...]  # stdio: argv
    url: str | None  # sse / streamable_http
    headers: Mapping[str, SecretValue]  # values: literals or ${env:}/${keyring:} references
    env: Mapping[str, SecretValue]  # stdio: added to the child's environment
    start: str  # "at_start" (connected when serving starts) | "first_use"
    connect_timeout_s: float  # starting / initialising the session
    call_timeout_s: float  # one request (tools/call, list, read, get)
    fingerprint: str = field(compare=False)  # sha256 of the entry as compiled


@dataclass(frozen=True)
class McpRule:
    when: Predicate  # CEL scope "mcp_rule": tool {name, server, args}, client, now
    action: str  # "allow" | "deny"


@dataclass(frozen=True)
class McpPolicy:
    """A strategy's ``mcp``. A tool is *visible* (listed) when its server is in ``servers``,
    no ``deny`` glob matches its public name and an ``allow`` glob does. A *call* is decided by
    the first rule whose ``when`` is true, else by visibility."""

    servers: tuple[str, ...]  # upstream server names, and/or "skills"
    allow: tuple[str, ...] = ("*",)  # globs over public names (fnmatch-style, case-sensitive)
    deny: tuple[str, ...] = ()
    rules: tuple[McpRule, ...] = ()
    # compiled once (:func:`glob_regex`), one alternative per glob in order: matched per call
    listed: frozenset[str] = field(init=False, repr=False, compare=False)
    allow_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    deny_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "listed", frozenset(self.servers))
        object.__setattr__(self, "allow_re", globs_regex(self.allow))
        object.__setattr__(self, "deny_re", globs_regex(self.deny))

    def first_glob(self, globs: Sequence[str], name: str) -> str | None:
        """The first of ``globs`` that matches ``name`` (for messages; slower than the regex)."""
        return next((g for g in globs if fnmatch.fnmatchcase(name, g)), None)


def globs_regex(globs: Sequence[str]) -> re.Pattern[str] | None:
    """One regex matching exactly the names some glob of ``globs`` matches, with
    :func:`fnmatch.fnmatchcase` semantics (whole name, case-sensitive; ``*``, ``?``, ``[...]``);
    None for no globs."""
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs), re.DOTALL)


NO_MCP = McpPolicy(servers=())


@dataclass(frozen=True)
class SkillStep:
    id: str
    call: str  # the public tool name as written: SERVER__TOOL
    server: str  # the server part of ``call``
    tool: str  # the tool part of ``call`` (sanitised; matched against the live tool list)
    args: tuple[tuple[str, Expression], ...]  # argument name -> CEL over input, steps
    timeout_s: float


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    input_schema: Mapping[str, Any]  # JSON Schema of the input (checked when compiled)
    steps: tuple[SkillStep, ...]
    result: Expression | None  # CEL over input, steps; None: the last step's result
    timeout_s: float  # the whole skill

    @property
    def public_name(self) -> str:
        return public_name(SKILLS, self.name)
