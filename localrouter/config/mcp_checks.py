"""Meaning checks of the MCP part of a config: ``mcp_servers``, each strategy's ``mcp`` (or the
legacy ``mcp_servers`` list) and ``skills``. Mixed into the semantic checker
(:mod:`localrouter.config.semantic`), whose data and helpers it uses. CEL (rules, skill ``args``
and ``result``) is compiled, and its problems reported, by the compiler.

Codes: ``LR318`` unknown server in a strategy, ``LR321`` a transport without its ``command`` or
``url``, ``LR307``/``LR325``-``LR327`` the URL rules providers follow, ``LR333`` a server name
that cannot prefix tool names, ``LR334`` the legacy list (warning), ``LR335`` both forms,
``LR336`` a malformed allow/deny glob, ``LR337`` two steps with one id, ``LR338`` a step ``call``
that names no tool of a defined server, ``LR339`` a skill ``input`` that is not a JSON Schema of
an object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from localrouter.compiler.mcp_compile import split_call
from localrouter.compiler.mcp_table import SEPARATOR, SKILLS
from localrouter.config.lints import PolicyLints
from localrouter.config.source import PathKey
from localrouter.config.spec import ConfigSpec, McpServerSpec, SkillSpec, StrategySpec
from localrouter.config.url_policy import check_base_url

# what a glob over public tool names may hold: MCP's tool-name characters and the wildcards
_GLOB_CHARS = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]+$")
MAX_GLOB = 256


def glob_problem(glob: str) -> str | None:
    """Why ``glob`` is not a well-formed glob over tool names, or None."""
    if not glob:
        return "an empty pattern matches no tool"
    if len(glob) > MAX_GLOB:
        return f"pattern is longer than {MAX_GLOB} characters"
    if not _GLOB_CHARS.match(glob):
        bad = sorted({ch for ch in glob if not re.match(r"[A-Za-z0-9_.\-*?\[\]!]", ch)})
        return f"pattern has characters no tool name has: {', '.join(map(repr, bad))}"
    i, n = 0, len(glob)
    while i < n:
        if glob[i] != "[":
            i += 1
            continue
        j = i + 1
        j += j < n and glob[j] == "!"
        j += j < n and glob[j] == "]"  # a ']' first in a set is a member, as in fnmatch
        end = glob.find("]", j)
        if end < 0:
            return "'[' is not closed"
        i = end + 1
    return None


class McpChecks(PolicyLints):
    """The MCP rules; ``err``/``warn`` come from the checker (stubs in :class:`PolicyLints`)."""

    c: ConfigSpec
    partial: bool
    broken: set[tuple[str, str]]

    def suggest(self, word: str, choices: Iterable[str], section: str) -> str | None:
        raise NotImplementedError

    def secret(self, value: str, path: PathKey, *, literal_ok: bool = False) -> None:
        raise NotImplementedError

    def url(self, value: str, path: PathKey) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- servers
    def mcp(self) -> None:
        for name, server in self.c.mcp_servers.items():
            self.mcp_server(name, server)
        for sname, strategy in self.c.strategies.items():
            self.mcp_access(sname, strategy)
        for name, skill in self.c.skills.items():
            self.skill(name, skill)

    def mcp_server(self, name: str, m: McpServerSpec) -> None:
        base: PathKey = ("mcp_servers", name)
        if name == SKILLS:
            self.err(
                "LR333",
                f"an MCP server may not be named '{SKILLS}'",
                base,
                f"'{SKILLS}' stands for the skills in a strategy's `mcp.servers`: rename it",
                key=True,
            )
        elif SEPARATOR in name:
            self.err(
                "LR333",
                f"MCP server name '{name}' contains '{SEPARATOR}'",
                base,
                f"tools are named SERVER{SEPARATOR}TOOL, so a server name may not contain "
                f"'{SEPARATOR}': rename it (e.g. '{name.replace(SEPARATOR, '-')}')",
                key=True,
            )
        if m.transport == "stdio" and not m.command:
            self.err(
                "LR321",
                f"MCP server '{name}' (stdio) needs `command`",
                base,
                "e.g. command: [mcp-server-time]",
                key=True,
            )
        if m.transport != "stdio" and not m.url:
            self.err(
                "LR321",
                f"MCP server '{name}' ({m.transport}) needs `url`",
                base,
                "e.g. url: http://127.0.0.1:8931/mcp",
                key=True,
            )
        if m.url is not None:
            self.url(m.url, (*base, "url"))
            for code, warns, message, hint in check_base_url(name, m.url):
                message = message.replace(
                    f"provider '{name}': base_url", f"MCP server '{name}': url"
                )
                message = message.replace("the API key and every prompt", "its headers and calls")
                (self.warn if warns else self.err)(code, message, (*base, "url"), hint)
        for h, v in m.headers.items():
            self.secret(v, (*base, "headers", h), literal_ok=True)
        for k, v in m.env.items():
            self.secret(v, (*base, "env", k), literal_ok=True)

    # ---------------------------------------------------------------- strategies
    def mcp_access(self, sname: str, s: StrategySpec) -> None:
        base: PathKey = ("strategies", sname)
        if s.mcp is not None and s.mcp_servers is not None:
            self.err(
                "LR335",
                f"strategy '{sname}' has both `mcp` and the legacy `mcp_servers`",
                (*base, "mcp_servers"),
                "move the servers into `mcp: {servers: [...]}` and remove `mcp_servers`",
                key=True,
            )
        elif s.mcp_servers is not None:
            listed = ", ".join(s.mcp_servers)
            self.warn(
                "LR334",
                f"`mcp_servers` on a strategy is the first version's form, read as "
                f"`mcp: {{servers: [{listed}]}}`",
                (*base, "mcp_servers"),
                f"write mcp: {{servers: [{listed}]}}",
                key=True,
            )
        if s.mcp is not None:
            self.mcp_servers_listed(s.mcp.servers, (*base, "mcp", "servers"))
            for kind in ("allow", "deny"):
                for i, glob in enumerate(getattr(s.mcp, kind)):
                    why = glob_problem(glob)
                    if why is not None:
                        self.err(
                            "LR336",
                            f"malformed {kind} pattern '{glob}': {why}",
                            (*base, "mcp", kind, i),
                            "patterns match public tool names such as 'docs__search*' or "
                            "'skills__*': '*' any run, '?' one character, '[abc]' a set",
                        )
        elif s.mcp_servers is not None:
            self.mcp_servers_listed(s.mcp_servers, (*base, "mcp_servers"))

    def mcp_servers_listed(self, servers: list[str], path: PathKey) -> None:
        for i, m in enumerate(servers):
            if m == SKILLS or m in self.c.mcp_servers:
                continue
            if ("mcp_servers", m) in self.broken or self.partial:
                continue
            hint = self.suggest(m, [*self.c.mcp_servers, SKILLS], "mcp_servers")
            self.err("LR318", f"unknown MCP server '{m}'", (*path, i), hint)

    # ---------------------------------------------------------------- skills
    def skill(self, name: str, skill: SkillSpec) -> None:
        base: PathKey = ("skills", name)
        seen: dict[str, int] = {}
        for i, step in enumerate(skill.steps):
            if step.id in seen:
                self.err(
                    "LR337",
                    f"skill '{name}' has two steps with id '{step.id}'",
                    (*base, "steps", i, "id"),
                    f"step {seen[step.id] + 1} has that id already: `steps.{step.id}` would "
                    "be ambiguous",
                )
            seen.setdefault(step.id, i)
            self.skill_call(name, step.call, (*base, "steps", i, "call"))
        self.skill_input(name, skill.input, (*base, "input"))

    def skill_call(self, name: str, call: str, path: PathKey) -> None:
        parts = split_call(call)
        if parts is None:
            self.err(
                "LR338",
                f"skill '{name}': '{call}' is not SERVER{SEPARATOR}TOOL",
                path,
                f"name the tool as clients see it, e.g. time{SEPARATOR}get_current_time",
            )
            return
        server = parts[0]
        if server == SKILLS:
            self.err(
                "LR338",
                f"skill '{name}' calls a skill ('{call}')",
                path,
                "a skill's steps call tools of upstream servers; skills do not call skills",
            )
        elif server not in self.c.mcp_servers:
            if ("mcp_servers", server) in self.broken or self.partial:
                return
            hint = self.suggest(server, self.c.mcp_servers, "mcp_servers")
            self.err("LR338", f"skill '{name}' calls unknown MCP server '{server}'", path, hint)

    def skill_input(self, name: str, schema: dict[str, Any], path: PathKey) -> None:
        # imported here: a config without skills does not load jsonschema (~2 MB)
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as ex:
            where = "/".join(str(p) for p in ex.path)
            detail = " ".join(str(ex.message).split())[:160]
            self.err(
                "LR339",
                f"skill '{name}': `input` is not a valid JSON Schema"
                + (f" (at {where})" if where else "")
                + f": {detail}",
                path,
                "e.g. input: {type: object, properties: {city: {type: string}}}",
            )
            return
        if schema.get("type") != "object":
            self.err(
                "LR339",
                f"skill '{name}': `input` must be a JSON Schema of type object",
                path,
                "MCP tool arguments are an object: write type: object and its properties",
            )
