"""The MCP sections of the version-2 config as pydantic models: ``mcp_servers``, a strategy's
``mcp`` and ``skills`` (docs/config.md). Part of :mod:`localrouter.config.spec`, which
re-exports every name here; kept apart so each module stays small.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Spec(BaseModel):  # the base of spec.py's models too (spec.py imports this module)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class McpServerSpec(_Spec):
    """One upstream MCP server, merged behind ``/mcp`` as ``NAME__tool``."""

    transport: Literal["stdio", "sse", "streamable_http"]
    command: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        None, description="stdio: the program and its arguments", max_length=256
    )
    url: str | None = Field(None, description="sse / streamable_http: the server's endpoint")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="sse / streamable_http: sent with every request; a value may be a "
        "${env:NAME} or ${keyring:NAME} reference",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="stdio: added to the child's environment; a value may be a reference",
    )
    start: Literal["at_start", "first_use"] = Field(
        "at_start",
        description="connect when the gateway starts (default), or on the first call",
    )
    connect_timeout_s: Annotated[float, Field(gt=0, le=600)] = Field(
        10, description="starting the server and initialising the session"
    )
    call_timeout_s: Annotated[float, Field(gt=0, le=86400)] = Field(
        60, description="one request to it (a tool call, a listing, a read)"
    )


class McpRuleSpec(_Spec):
    when: str = Field(description="CEL over tool {name, server, args}, client and now")
    action: Literal["allow", "deny"]


class McpAccessSpec(_Spec):
    """What a strategy's clients see and may call behind ``/mcp``."""

    servers: list[str] = Field(
        default_factory=list,
        description="the upstream servers (by name) its clients see, and `skills` for the skills",
    )
    allow: list[str] = Field(
        default_factory=lambda: ["*"],
        description="globs over public tool names (SERVER__TOOL, skills__NAME): '*' any run, "
        "'?' one character, '[...]' a set",
    )
    deny: list[str] = Field(default_factory=list, description="globs; deny wins over allow")
    rules: list[McpRuleSpec] = Field(
        default_factory=list,
        description="checked per call before allow/deny: the first rule whose `when` is true "
        "decides",
    )


class SkillStepSpec(_Spec):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    call: str = Field(description="the tool, as SERVER__TOOL", max_length=256)
    args: dict[str, str] = Field(
        default_factory=dict, description="argument name -> CEL over `input` and `steps`"
    )
    timeout_s: Annotated[float, Field(gt=0, le=86400)] | None = Field(
        None, description="default: the server's call_timeout_s"
    )


class SkillSpec(_Spec):
    """A multi-step workflow served as the MCP tool ``skills__NAME``."""

    description: str = Field("", max_length=4096)
    input: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema of the tool's input (an object)",
    )
    steps: list[SkillStepSpec] = Field(min_length=1, max_length=64)
    result: str | None = Field(
        None, description="CEL over `input` and `steps`; default: the last step's result"
    )
    timeout_s: Annotated[float, Field(gt=0, le=86400)] = Field(300, description="the whole skill")
