"""The compiled routing table: frozen data the server reads and never changes.

Everything here is immutable (frozen dataclasses, tuples, ``MappingProxyType``) and holds compiled
predicates and pre-ordered candidate lists, never strings to interpret per request. Runtime facts
(health, latency, limit counters) live outside, keyed by the stable names used here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from localrouter.compiler.mcp_table import NO_MCP, McpPolicy, McpServer, Skill
from localrouter.compiler.settings import Settings
from localrouter.config.spec import DEFAULT_MAX_EVENT_KB, DEFAULT_MAX_RESPONSE_MB

if TYPE_CHECKING:
    from localrouter.compiler.cel import Predicate
    from localrouter.config.spec import TestSpec


def frozen_map(d: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class SecretValue:
    """A secret or a reference to one. Never shows its value in a repr or str."""

    ref_kind: str  # "env" | "keyring" | "literal"
    ref_name: str  # NAME of ${env:NAME} / ${keyring:NAME}; "" for a literal
    literal: str = field(default="", repr=False, compare=True)

    def __repr__(self) -> str:
        if self.ref_kind == "literal":
            return "SecretValue(literal=***)"
        return f"SecretValue(${{{self.ref_kind}:{self.ref_name}}})"

    __str__ = __repr__

    @property
    def reference(self) -> str:
        return (
            "(literal)" if self.ref_kind == "literal" else f"${{{self.ref_kind}:{self.ref_name}}}"
        )


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    name: str
    kind: str  # api | subscription | local
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    context_window: int | None = None
    params_b: float | None = None
    capabilities: tuple[str, ...] = ("chat",)
    quality: float | None = None
    source: str = "static"  # static | discovered | listed (named in a strategy, not in the catalog)
    # the catalog lists the capabilities (static or discovered); when False, ``capabilities`` is
    # the assumed ("chat",) and routing excludes the model for no missing capability
    capabilities_known: bool = False
    id: str = field(init=False, compare=False)  # "provider/name", computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"{self.provider}/{self.name}")

    @property
    def price_per_mtok(self) -> float | None:
        """Input plus output price; 0 for a local model without prices; None when unknown."""
        if self.input_per_mtok is None and self.output_per_mtok is None:
            return 0.0 if self.kind == "local" else None
        return (self.input_per_mtok or 0.0) + (self.output_per_mtok or 0.0)

    def lacks(self, needs: frozenset[str]) -> str | None:
        """``"lacks vision"`` (etc.) when the catalog lists this model's capabilities and some of
        ``needs`` are not among them; None otherwise (a model whose capabilities are unknown is
        not excluded)."""
        if not needs or not self.capabilities_known:
            return None
        missing = sorted(needs.difference(self.capabilities))
        return f"lacks {', '.join(missing)}" if missing else None

    def cel_fields(self) -> dict[str, Any]:
        """The static part of CEL's ``model`` variable (absent fields stay absent: use has())."""
        out: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "name": self.name,
            "kind": self.kind,
            "capabilities": list(self.capabilities),
        }
        for key in ("input_per_mtok", "output_per_mtok", "params_b", "quality"):
            value = getattr(self, key)
            if value is not None:
                out[key] = float(value)
        if self.context_window is not None:
            out["context_window"] = int(self.context_window)
        return out


@dataclass(frozen=True)
class LimitPolicy:
    scope: str  # client | strategy | provider
    owner: str  # the client, strategy or provider name
    metric: str  # requests | input_tokens | output_tokens | total_tokens | cost_usd | tool_calls
    amount: float
    per: str  # as written: "1m"
    window_s: int
    # stable identity of the counter this limit uses (survives reloads); computed once
    key: tuple[str, str, str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.scope, self.owner, self.metric, self.window_s))


@dataclass(frozen=True)
class Fallback:
    attempts: int = 3
    backoff_min_ms: int = 100
    backoff_max_ms: int = 2000


@dataclass(frozen=True)
class Provider:
    name: str
    type: str
    wire: str
    base_url: str | None
    api_key: SecretValue | None
    kind: str
    connect_s: float
    read_s: float
    headers: Mapping[str, str | SecretValue]
    limits: tuple[LimitPolicy, ...]
    discover: bool
    # size caps on what the provider sends (``max_response_mb`` / ``max_event_kb``), in bytes
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_MB * 1024 * 1024
    max_event_bytes: int = DEFAULT_MAX_EVENT_KB * 1024


@dataclass(frozen=True)
class Route:
    name: str
    when: Predicate | None  # None: always (a strategy's default list)
    candidates: tuple[ModelInfo, ...]  # pre-ordered by the static ORDER keys
    order: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...] = ()  # (model id, reason) decided at compile time
    entries: tuple[str, ...] = ()  # the model references as written


@dataclass(frozen=True)
class Alias:
    """One entry of a strategy's ``aliases``: a model name pattern and the target it is read as.

    ``target`` is ``auto``, ``localrouter/NAME`` or ``provider/model``, as written; ``regex`` is
    the pattern compiled once (``*`` any run, ``?`` one character, the whole name, case-sensitive).
    """

    pattern: str
    target: str
    regex: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, model: str) -> bool:
        return self.regex.fullmatch(model) is not None


@dataclass(frozen=True)
class Strategy:
    name: str
    routes: tuple[Route, ...]
    default: Route
    filter: Predicate | None
    fallback: Fallback
    limits: tuple[LimitPolicy, ...]
    privacy: str
    mcp: McpPolicy = NO_MCP  # what its clients see and may call behind /mcp
    implicit: bool = False  # made for a client with a fixed `model`
    aliases: tuple[Alias, ...] = ()  # in file order: the first that matches a model name wins

    @property
    def allowed(self) -> frozenset[str]:
        """Every model id any route of this strategy may pick."""
        ids = {m.id for m in self.default.candidates}
        for r in self.routes:
            ids.update(m.id for m in r.candidates)
        return frozenset(ids)


@dataclass(frozen=True)
class Client:
    name: str
    key_prefix: str
    key_hash: str = field(repr=False)
    strategy: str  # the strategy's name (an implicit one is "=provider/model")
    tags: tuple[str, ...]
    limits: tuple[LimitPolicy, ...]
    enabled: bool
    admin: bool
    fixed_model: str | None = None


@dataclass(frozen=True)
class RoutingTable:
    sha256: str
    providers: Mapping[str, Provider]
    models: Mapping[str, ModelInfo]  # by id "provider/name"
    strategies: Mapping[str, Strategy]
    clients: Mapping[str, Client]
    clients_by_prefix: Mapping[str, str]
    settings: Settings  # server, health, logging, state_dir: typed, compiled once
    mcp_servers: Mapping[str, McpServer] = field(default_factory=lambda: MappingProxyType({}))
    skills: Mapping[str, Skill] = field(default_factory=lambda: MappingProxyType({}))
    tests: tuple[TestSpec, ...] = ()
    source_files: tuple[str, ...] = ()
    # each model's static CEL `model` fields as plain data, built once per table
    cel_models: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def strategy_of(self, client: Client) -> Strategy:
        return self.strategies[client.strategy]

    @functools.cached_property
    def capped_providers(self) -> frozenset[str]:
        """The providers with caps of their own (``limits``), found once per table."""
        return frozenset(name for name, p in self.providers.items() if p.limits)

    def client_by_key_prefix(self, prefix: str) -> Client | None:
        name = self.clients_by_prefix.get(prefix)
        return self.clients.get(name) if name is not None else None
