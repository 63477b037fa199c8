"""The version-2 config as pydantic models: the one source of truth for its shape.

``extra="forbid"`` everywhere, so an unknown key is an error; :func:`json_schema` generates the
draft 2020-12 JSON Schema (``localrouter schema``, checked in as
``schemas/localrouter.schema.json``)
that editors use for completion. Shape only: references, units and policy are checked in
``semantic.py``, which returns diagnostics instead of raising. The MCP sections live in
``mcp_spec.py`` and are re-exported here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from localrouter.config.mcp_spec import McpAccessSpec as McpAccessSpec
from localrouter.config.mcp_spec import McpRuleSpec as McpRuleSpec
from localrouter.config.mcp_spec import McpServerSpec as McpServerSpec
from localrouter.config.mcp_spec import SkillSpec as SkillSpec
from localrouter.config.mcp_spec import SkillStepSpec as SkillStepSpec

PROVIDER_TYPES = (
    "openai",
    "openai-compatible",
    "anthropic",
    "gemini",
    "ollama",
    "openrouter",
    "lmstudio",
    "mock",
)
ProviderType = Literal[
    "openai", "openai-compatible", "anthropic", "gemini", "ollama", "openrouter", "lmstudio", "mock"
]
Kind = Literal["api", "subscription", "local"]
Capability = Literal["chat", "completions", "embeddings", "tools", "vision", "json", "responses"]
OrderKey = Literal[
    "lowest_cost",
    "highest_performance",
    "lowest_latency",
    "highest_quality",
    "local_first",
    "remote_first",
    "subscription_first",
    "api_first",
]
ORDER_KEYS: tuple[str, ...] = OrderKey.__args__  # type: ignore[attr-defined]
LIMIT_METRICS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "tool_calls",
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DURATION_PATTERN = r"^[1-9][0-9]*[smhd]$"
SECRET_REF = re.compile(r"^\$\{(env|keyring):([A-Za-z_][A-Za-z0-9_.\-]*)\}$")
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
KEY_PREFIX = re.compile(r"^lr-[A-Za-z0-9_-]{8}$")

NonNegative = Annotated[float, Field(ge=0)]
# what one provider may send us (an upstream is untrusted input): docs/config.md
DEFAULT_MAX_RESPONSE_MB = 64
DEFAULT_MAX_EVENT_KB = 8192


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LimitSpec(_Spec):
    """One limit: exactly one metric and a window, e.g. ``{requests: 60, per: 1m}``."""

    requests: Annotated[int, Field(ge=0)] | None = None
    input_tokens: Annotated[int, Field(ge=0)] | None = None
    output_tokens: Annotated[int, Field(ge=0)] | None = None
    total_tokens: Annotated[int, Field(ge=0)] | None = None
    cost_usd: NonNegative | None = None
    tool_calls: Annotated[int, Field(ge=0)] | None = Field(
        None, description="MCP tool calls through /mcp (a skill's steps count one each)"
    )
    per: str = Field(
        description="window: <n>s, <n>m, <n>h or <n>d, from 1s to 366d",
        pattern=DURATION_PATTERN,
    )


ORIGIN_PATTERN = r"^(\*|[A-Za-z][A-Za-z0-9+.-]*://[^/\s?#]+)$"
HOST_PATTERN = r"^(\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])$"


class ResponsesSpec(_Spec):
    """Responses kept for POST /v1/responses (its store and previous_response_id)."""

    retention: str = Field(
        "30d",
        description="how long a stored response is kept: <n>s, <n>m, <n>h or <n>d",
        pattern=DURATION_PATTERN,
        max_length=8,
    )
    max_mb: Annotated[float, Field(gt=0, le=1048576)] = Field(
        512,
        description="most disk space stored responses take, in MiB; past it the oldest go "
        "first, and a response larger than an eighth of it, or than 16 MiB, is not stored",
    )


class ServerSpec(_Spec):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 3625
    cors_origins: list[Annotated[str, Field(pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=lambda: ["http://localhost:*"],
        description="browser origins allowed to call the gateway (CORS, on every endpoint): "
        "scheme://host[:port] without a path; ':*' allows any port, '*' in the host one or "
        "more labels, '*' alone every origin",
    )
    allowed_hosts: list[Annotated[str, Field(pattern=HOST_PATTERN)]] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"],
        description="Host header names accepted, without port (DNS-rebinding defence; any "
        "other Host is answered 421): a name, an IPv4 address, a bracketed IPv6 address, "
        "'*.example.com' for its subdomains, or '*' for every host",
    )
    max_body_mb: Annotated[float, Field(gt=0, le=1024)] = 20
    metrics: Literal["loopback", "public", "admin"] = Field(
        "loopback",
        description="who may read GET /metrics without a key: loopback callers, everyone, "
        "or nobody (an admin client's key is then required)",
    )
    http_server: Literal["hypercorn", "uvicorn", "granian"] = Field(
        "uvicorn",
        description="the HTTP server under the gateway, each set up for the same guarantees "
        "(docs/server.md); a change needs a restart",
    )
    responses: ResponsesSpec = Field(default_factory=ResponsesSpec)
    dashboard: bool = Field(
        True,
        description="serve the dashboard and its admin API (/admin/api/...) to admin clients; "
        "false: both answer 404",
    )


class TimeoutSpec(_Spec):
    connect_s: Annotated[float, Field(gt=0, le=600)] = 5
    read_s: Annotated[float, Field(gt=0, le=86400)] = 600


class ModelSpec(_Spec):
    """A static catalog entry; merged over what discovery finds."""

    input_per_mtok: NonNegative | None = Field(None, description="USD per million input tokens")
    output_per_mtok: NonNegative | None = Field(None, description="USD per million output tokens")
    context_window: Annotated[int, Field(ge=1)] | None = None
    params_b: Annotated[float, Field(gt=0)] | None = Field(None, description="billions of params")
    capabilities: list[Capability] | None = None
    quality: Annotated[float, Field(ge=0, le=1)] | None = None


Preset = Literal[
    "groq", "together", "mistral", "deepseek", "xai", "fireworks", "perplexity", "vllm"
]


class ProviderSpec(_Spec):
    type: ProviderType
    preset: Preset | None = Field(
        None, description="openai-compatible only: a known API whose base_url is filled in"
    )
    base_url: str | None = None
    api_key: str | None = Field(None, description="${env:NAME} or ${keyring:NAME}")
    kind: Kind | None = None
    timeout: TimeoutSpec = Field(default_factory=TimeoutSpec)
    headers: dict[str, str] = Field(default_factory=dict)
    limits: list[LimitSpec] = Field(default_factory=list)
    discover: bool = True
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    max_response_mb: Annotated[float, Field(gt=0, le=4096)] = Field(
        DEFAULT_MAX_RESPONSE_MB,
        description="largest whole (non-stream) answer read from this provider, in MiB; "
        "past it the call fails with 502 upstream_too_large",
    )
    max_event_kb: Annotated[float, Field(gt=0, le=1048576)] = Field(
        DEFAULT_MAX_EVENT_KB,
        description="largest single stream event (an SSE event, an NDJSON line) read from this "
        "provider, in KiB; past it the stream fails with upstream_too_large",
    )


class ParamsRange(_Spec):
    min: Annotated[float, Field(ge=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None


class FallbackSpec(_Spec):
    attempts: Annotated[int, Field(ge=1, le=20)] = 3
    backoff_ms: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] = (
        Field(default_factory=lambda: [100, 2000])
    )


class RouteSpec(_Spec):
    name: str | None = Field(None, pattern=NAME_PATTERN)
    when: str = Field(description="CEL expression over request, client, now")
    models: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    order: list[OrderKey] | None = None


class StrategySpec(_Spec):
    description: str | None = None
    models: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    params_b: ParamsRange | None = None
    order: list[OrderKey] | None = None
    routes: list[RouteSpec] = Field(default_factory=list)
    filter: str | None = Field(None, description="CEL; also sees `model`")
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)
    limits: list[LimitSpec] = Field(default_factory=list)
    privacy: Literal["any", "local_only"] = "any"
    mcp: McpAccessSpec | None = Field(
        None, description="the MCP servers, tools and skills its clients see behind /mcp"
    )
    mcp_servers: list[str] | None = Field(
        None,
        description="deprecated (the first version's form): read as `mcp: {servers: [...]}`",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="model names a client of this strategy sends, read as another target: "
        "PATTERN (a whole, case-sensitive name; '*' any run, '?' one character) -> auto, "
        "localrouter/NAME or provider/model; the first pattern that matches, in file order, wins",
    )


class ClientSpec(_Spec):
    description: str | None = None
    key_prefix: str = Field(
        description="first 11 characters of the key", pattern=KEY_PREFIX.pattern
    )
    key_hash: str = Field(description="bcrypt hash of the whole key")
    strategy: str | None = None
    model: str | None = None
    tags: list[str] = Field(default_factory=list)
    limits: list[LimitSpec] = Field(default_factory=list)
    enabled: bool = True
    admin: bool = False


class TestRequestSpec(_Spec):
    model: str | None = None
    messages_count: int | None = None
    estimated_tokens: int | None = None
    max_tokens: int | None = None
    has_tools: bool | None = None
    has_images: bool | None = None
    stream: bool | None = None
    complexity: Annotated[float, Field(ge=0, le=1)] | None = None
    tags: list[str] | None = None
    headers: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    prompt: str | None = Field(None, description="estimate facts from this text instead")


class TestToolSpec(_Spec):
    name: str = Field(description="the public tool name: SERVER__TOOL or skills__NAME")
    args: dict[str, Any] = Field(default_factory=dict)


class TestExpectSpec(_Spec):
    status: int | None = None
    strategy: str | None = None
    route: str | None = None
    first: str | None = None
    candidates: list[str] | None = None
    excluded: list[str] | None = None
    tools_include: list[str] | None = Field(
        None, description="public tool names the client must see behind /mcp"
    )
    tools_exclude: list[str] | None = Field(
        None, description="public tool names the client must not see"
    )
    tool: Literal["allow", "deny"] | None = Field(
        None, description="whether the test's `tool` call is allowed"
    )


class TestNowSpec(_Spec):
    hour: Annotated[int, Field(ge=0, le=23)] | None = None
    weekday: Annotated[int, Field(ge=0, le=6)] | None = None
    unix: int | None = None


class TestSpec(_Spec):
    __test__ = False  # not a pytest class

    name: str
    client: str
    request: TestRequestSpec = Field(default_factory=TestRequestSpec)
    now: TestNowSpec | None = None
    tool: TestToolSpec | None = Field(None, description="an MCP tool call, for expect.tool")
    expect: TestExpectSpec


class HealthSpec(_Spec):
    interval_s: Annotated[float, Field(gt=0)] = 30
    timeout_s: Annotated[float, Field(gt=0)] = 5
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    recovery_s: Annotated[float, Field(gt=0)] = 60


class LoggingSpec(_Spec):
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30


class ConfigSpec(_Spec):
    """A LocalRouter config, version 2."""

    schema_: str | None = Field(None, alias="$schema")
    version: Literal[2]
    server: ServerSpec = Field(default_factory=ServerSpec)
    state_dir: str | None = None
    providers: dict[str, ProviderSpec] = Field(default_factory=dict)
    strategies: dict[str, StrategySpec] = Field(default_factory=dict)
    clients: dict[str, ClientSpec] = Field(default_factory=dict)
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    skills: dict[str, SkillSpec] = Field(default_factory=dict)
    tests: list[TestSpec] = Field(default_factory=list)
    health: HealthSpec = Field(default_factory=HealthSpec)
    logging: LoggingSpec = Field(default_factory=LoggingSpec)


SCHEMA_ID = "https://localrouter.dev/schemas/localrouter.schema.json"


def json_schema() -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of a version-2 config, generated from :class:`ConfigSpec`."""
    schema = ConfigSpec.model_json_schema(by_alias=True, mode="validation")
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
    }
    out.update(schema)
    out["title"] = "LocalRouter config"
    return out


def secret_ref(value: str) -> tuple[str, str] | None:
    """``${env:NAME}`` → ("env", "NAME"); ``${keyring:NAME}`` → ("keyring", "NAME"); else None."""
    m = SECRET_REF.match(value)
    return (m.group(1), m.group(2)) if m else None
