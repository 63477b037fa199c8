"""A strategy's ``aliases`` compiled: each pattern's regular expression, once, and the check that
only the compiled candidates can make — a ``provider/model`` target must be a model the strategy
may pick, as a request naming it directly would have to be (``LR329``).

Patterns and targets the semantic checks refused (:mod:`localrouter.config.alias_checks`) are
left out here without a second diagnostic: the build has failed already.
"""

from __future__ import annotations

from collections.abc import Mapping

from localrouter.compiler.table import Alias, Route
from localrouter.config.alias_checks import compile_pattern, parse_target, pattern_problem
from localrouter.config.refs import CatalogIndex, ModelRef, parse_ref
from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import ProviderSpec, StrategySpec
from localrouter.diagnostics import Diagnostic, error


def _refs(texts: list[str]) -> list[ModelRef]:
    return [r for r in map(parse_ref, texts) if isinstance(r, ModelRef)]


def _why_not(
    spec: StrategySpec,
    model_id: str,
    routes: tuple[Route, ...],
    provider: ProviderSpec,
    index: CatalogIndex,
) -> str | None:
    """Why the strategy (``spec``, compiled into ``routes``) cannot pick ``model_id``; None
    when it can, or may once its provider's discovery lists the model."""
    if any(m.id == model_id for r in routes for m in r.candidates):
        return None
    for r in routes:
        for left, reason in r.left_out:
            if left == model_id:
                return f"it leaves it out ({reason})"
    lists = [(spec.models, spec.exclude)]
    lists += [(r.models, [*spec.exclude, *r.exclude]) for r in spec.routes]
    listed = any(
        any(ref.matches(model_id) for ref in _refs(include))
        and not any(ref.matches(model_id) for ref in _refs(exclude))
        for include, exclude in lists
    )
    if not listed:
        return "none of its models matches it"
    if provider.discover and provider.type != "mock" and model_id not in index.by_id:
        return None  # a glob of the strategy reaches it once discovery lists it
    provider_name, name = model_id.split("/", 1)
    return f"provider '{provider_name}' has no model '{name}'"


def compile_aliases(
    sname: str,
    spec: StrategySpec,
    routes: tuple[Route, ...],
    providers: Mapping[str, ProviderSpec],
    index: CatalogIndex,
    spans: SpanIndex,
) -> tuple[tuple[Alias, ...], list[Diagnostic]]:
    """The strategy's usable aliases in file order, and an ``LR329`` for each ``provider/model``
    target the strategy cannot pick (``routes``: its default list and its routes, compiled)."""
    out: list[Alias] = []
    diagnostics: list[Diagnostic] = []
    for pattern, target in spec.aliases.items():
        path: PathKey = ("strategies", sname, "aliases", pattern)
        t = parse_target(target)
        if pattern_problem(pattern) is not None or t.problem is not None:
            continue
        if t.kind == "model" and t.ref is not None:
            provider = providers.get(t.ref.provider)
            if provider is None:
                continue
            why = _why_not(spec, t.name, routes, provider, index)
            if why is not None:
                diagnostics.append(
                    error(
                        "LR329",
                        f"strategy '{sname}' does not allow alias target '{target}': {why}",
                        spans.span(path),
                        "a provider/model target must be allowed by the strategy, as a request "
                        "naming it would be: add it to the strategy's `models:`, or alias to auto",
                    )
                )
                continue
        out.append(Alias(pattern, target, compile_pattern(pattern)))
    return tuple(out), diagnostics
