"""The model catalog a table is compiled against: static entries merged over discovered ones.

A :class:`CatalogSnapshot` is plain immutable data (discovery, which does I/O, lives in
``runtime/``); :func:`build_catalog` merges the config's static ``models:`` over it, field by
field, and fills in what can be inferred offline (``params_b`` from names like ``7b`` or ``8x7b``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from localrouter.compiler.table import ModelInfo
from localrouter.config.provider_types import MOCK_DEFAULT_MODELS, default_kind
from localrouter.config.spec import ConfigSpec, ModelSpec

_PARAMS = re.compile(r"(?<![a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?![a-z0-9])", re.IGNORECASE)


def params_from_name(name: str) -> float | None:
    """Parameter count in billions read off a model name: ``qwen2.5-coder:7b`` → 7.0,
    ``mixtral-8x7b`` → 56.0, ``llama-3.3-70B`` → 70.0, ``smollm-360m`` → 0.36; else None."""
    best: float | None = None
    for m in _PARAMS.finditer(name):
        experts, size, unit = m.groups()
        value = float(size) * (int(experts) if experts else 1)
        if unit.lower() == "m":
            value /= 1000
        best = value  # the last match is the size (earlier numbers are versions)
    return best


@dataclass(frozen=True)
class DiscoveredModel:
    name: str
    context_window: int | None = None
    params_b: float | None = None
    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    capabilities: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CatalogSnapshot:
    """What discovery found, per provider name. Empty for ``validate`` (no network)."""

    providers: Mapping[str, tuple[DiscoveredModel, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def _merge(
    provider: str,
    kind: str,
    name: str,
    spec: ModelSpec | None,
    found: DiscoveredModel | None,
    source: str,
) -> ModelInfo:
    def pick(attr: str) -> Any:
        static = getattr(spec, attr, None) if spec is not None else None
        if static is not None:
            return static
        return getattr(found, attr, None) if found is not None else None

    caps = pick("capabilities")
    params = pick("params_b")
    if params is None:
        params = params_from_name(name)
    return ModelInfo(
        provider=provider,
        name=name,
        kind=kind,
        input_per_mtok=pick("input_per_mtok"),
        output_per_mtok=pick("output_per_mtok"),
        context_window=pick("context_window"),
        params_b=float(params) if params is not None else None,
        capabilities=tuple(caps) if caps else ("chat",),
        capabilities_known=bool(caps),
        quality=spec.quality if spec is not None else None,
        source=source,
    )


def build_catalog(
    config: ConfigSpec, snapshot: CatalogSnapshot | None = None
) -> dict[str, tuple[ModelInfo, ...]]:
    """Per provider, its models sorted by name: static entries merged over discovered ones."""
    snapshot = snapshot or CatalogSnapshot()
    out: dict[str, tuple[ModelInfo, ...]] = {}
    for pname in sorted(config.providers):
        p = config.providers[pname]
        kind = p.kind or default_kind(p.type, p.base_url, p.preset)
        found = {m.name: m for m in snapshot.providers.get(pname, ())} if p.discover else {}
        static = dict(p.models)
        if p.type == "mock" and not static:
            static = {n: ModelSpec() for n in MOCK_DEFAULT_MODELS}
        names = sorted(set(static) | set(found))
        out[pname] = tuple(
            _merge(
                pname,
                kind,
                n,
                static.get(n),
                found.get(n),
                "static" if n in static else "discovered",
            )
            for n in names
        )
    return out
