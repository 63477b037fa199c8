"""The MCP half of the compiler: ``mcp_servers``, each strategy's ``mcp`` and ``skills`` into
the frozen data of :mod:`localrouter.compiler.mcp_table`.

Names and references are checked by :mod:`localrouter.config.mcp_checks` (which runs before
the compiler and reports with spans); here CEL is compiled — MCP rules as predicates (scope
``mcp_rule``), skill ``args`` and ``result`` as value expressions (scope ``skill``, see
:mod:`localrouter.compiler.cel_expr`) — and its problems come back as diagnostics mapped into
the YAML scalar. The compiler runs on configs with meaning errors too (one run reports
everything), so nothing here assumes a reference resolves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType

from localrouter.compiler.cel import CelProblem, Predicate, Scope
from localrouter.compiler.cel_expr import Expression, compile_expression
from localrouter.compiler.mcp_table import (
    NO_MCP,
    SEPARATOR,
    McpPolicy,
    McpRule,
    McpServer,
    Skill,
    SkillStep,
    sanitise,
)
from localrouter.compiler.table import SecretValue
from localrouter.config.source import PathKey
from localrouter.config.spec import ConfigSpec, McpServerSpec, SkillSpec, StrategySpec, secret_ref
from localrouter.diagnostics import Diagnostic

DEFAULT_CALL_TIMEOUT_S = 60.0

PredicateOf = Callable[[str, Scope, PathKey], Predicate | None]
Report = Callable[[CelProblem, PathKey], Diagnostic]


def _secret(value: str) -> SecretValue:
    ref = secret_ref(value)
    return SecretValue(ref[0], ref[1]) if ref else SecretValue("literal", "", value)


def fingerprint(spec: McpServerSpec) -> str:
    """sha256 of the server's canonical JSON: what a reload compares."""
    blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def compile_server(name: str, spec: McpServerSpec) -> McpServer:
    return McpServer(
        name=name,
        transport=spec.transport,
        command=tuple(spec.command or ()),
        url=spec.url,
        headers=MappingProxyType({h: _secret(v) for h, v in spec.headers.items()}),
        env=MappingProxyType({k: _secret(v) for k, v in spec.env.items()}),
        start=spec.start,
        connect_timeout_s=float(spec.connect_timeout_s),
        call_timeout_s=float(spec.call_timeout_s),
        fingerprint=fingerprint(spec),
    )


def compile_servers(config: ConfigSpec) -> Mapping[str, McpServer]:
    return MappingProxyType(
        {n: compile_server(n, s) for n, s in sorted(config.mcp_servers.items())}
    )


def access_path(strategy: StrategySpec) -> tuple[str, ...]:
    """Where a strategy's MCP access is written: ``mcp`` or the legacy ``mcp_servers``."""
    return ("mcp",) if strategy.mcp is not None else ("mcp_servers",)


def compile_policy(sname: str, strategy: StrategySpec, predicate: PredicateOf) -> McpPolicy:
    """A strategy's ``mcp`` (or its legacy ``mcp_servers`` list) as a policy; NO_MCP for none."""
    spec = strategy.mcp
    if spec is None:
        legacy = strategy.mcp_servers
        return McpPolicy(servers=tuple(legacy)) if legacy else NO_MCP
    base: PathKey = ("strategies", sname, "mcp", "rules")
    rules = []
    for i, r in enumerate(spec.rules):
        when = predicate(r.when, "mcp_rule", (*base, i, "when"))
        if when is not None:
            rules.append(McpRule(when, r.action))
    return McpPolicy(
        servers=tuple(spec.servers),
        allow=tuple(spec.allow),
        deny=tuple(spec.deny),
        rules=tuple(rules),
    )


def split_call(call: str) -> tuple[str, str] | None:
    """``SERVER__TOOL`` → (SERVER, TOOL); None when there is no separator or a part is empty."""
    server, sep, tool = call.partition(SEPARATOR)
    return (server, tool) if sep and server and tool else None


class SkillCompiler:
    """Compiles ``skills``; CEL problems go to ``report`` (spans mapped into the YAML)."""

    def __init__(self, config: ConfigSpec, report: Report) -> None:
        self.c = config
        self.report = report
        self.diagnostics: list[Diagnostic] = []
        self.ok = True

    def expression(
        self, source: str, path: PathKey, steps_before: tuple[str, ...]
    ) -> Expression | None:
        got = compile_expression(source, "skill", steps_before=steps_before)
        if isinstance(got, Expression):
            return got
        self.ok = False
        self.diagnostics += [self.report(p, path) for p in got]
        return None

    def skill(self, name: str, spec: SkillSpec) -> Skill | None:
        base: PathKey = ("skills", name)
        steps: list[SkillStep] = []
        before: list[str] = []
        complete = True
        for i, st in enumerate(spec.steps):
            args = []
            for arg, source in st.args.items():
                expr = self.expression(source, (*base, "steps", i, "args", arg), tuple(before))
                if expr is None:
                    complete = False
                else:
                    args.append((arg, expr))
            parts = split_call(st.call)
            server_spec = self.c.mcp_servers.get(parts[0]) if parts else None
            if parts is None:
                complete = False
            else:
                timeout = st.timeout_s or (
                    server_spec.call_timeout_s if server_spec else DEFAULT_CALL_TIMEOUT_S
                )
                steps.append(
                    SkillStep(
                        st.id, st.call, parts[0], sanitise(parts[1]), tuple(args), float(timeout)
                    )
                )
            if st.id not in before:
                before.append(st.id)
        result = None
        if spec.result is not None:
            result = self.expression(spec.result, (*base, "result"), tuple(before))
            complete = complete and result is not None
        if not complete:
            return None
        return Skill(
            name=name,
            description=spec.description,
            input_schema=MappingProxyType(dict(spec.input)),
            steps=tuple(steps),
            result=result,
            timeout_s=float(spec.timeout_s),
        )

    def run(self) -> Mapping[str, Skill]:
        out = {}
        for name, spec in sorted(self.c.skills.items()):
            skill = self.skill(name, spec)
            if skill is not None:
                out[name] = skill
        return MappingProxyType(out)
