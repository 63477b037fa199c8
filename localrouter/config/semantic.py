"""Meaning checks on a schema-valid config: references, units, names, keys and policy lints.

:func:`check` returns every diagnostic it finds and never raises. CEL expressions are compiled
(and their diagnostics produced) by the compiler, which has to compile them anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from localrouter.compiler.table import ModelInfo
from localrouter.config.alias_checks import AliasChecks
from localrouter.config.client_checks import ClientChecks
from localrouter.config.lints import reaches
from localrouter.config.mcp_checks import McpChecks
from localrouter.config.paths import state_dir_problem
from localrouter.config.provider_types import TYPES
from localrouter.config.refs import CatalogIndex, ModelRef, parse_ref
from localrouter.config.schema_check import did_you_mean
from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import (
    NAME_PATTERN,
    SECRET_REF,
    ConfigSpec,
)
from localrouter.config.url_policy import check_base_url
from localrouter.diagnostics import Diagnostic, Span, error, warning


class _Checker(ClientChecks, AliasChecks, McpChecks):
    def __init__(
        self,
        config: ConfigSpec,
        spans: SpanIndex,
        catalog: dict[str, tuple[ModelInfo, ...]],
        broken: set[tuple[str, str]],
    ) -> None:
        self.c = config
        self.spans = spans
        self.catalog = catalog
        self.broken = broken
        self.damaged: set[tuple[str, str]] = set()
        self.partial = False  # part of the config did not load: unknown names may be defined there
        self.index = CatalogIndex(m for ms in catalog.values() for m in ms)
        self.out: list[Diagnostic] = []

    # ---------------------------------------------------------------- helpers
    def err(
        self,
        code: str,
        msg: str,
        path: PathKey,
        help: str | None = None,
        *,
        key: bool = False,
        redact: bool = False,
    ) -> None:
        d = error(code, msg, self.spans.span(path, key=key), help)
        self.out.append(replace(d, redact=True) if redact else d)

    def warn(
        self,
        code: str,
        msg: str,
        path: PathKey,
        help: str | None = None,
        *,
        key: bool = False,
        redact: bool = False,
    ) -> None:
        d = warning(code, msg, self.spans.span(path, key=key), help)
        self.out.append(replace(d, redact=True) if redact else d)

    def _part_span(self, path: PathKey, length: int) -> Span | None:
        """The first ``length`` characters of a one-line scalar (e.g. a reference's provider)."""
        loc = self.spans.get(path)
        if loc is None or loc.value.line != loc.value.end_line:
            return self.spans.span(path)
        col = loc.value.col + (1 if loc.style in ("'", '"') else 0)
        return Span(loc.value.file, loc.value.line, col, loc.value.line, col + length)

    def defined_at(self, path: PathKey) -> str:
        span = self.spans.key_span(path)
        return f" (defined at {span})" if span else ""

    def suggest(self, word: str, choices: Iterable[str], section: str) -> str | None:
        choices = [*choices, *(n for s, n in self.broken if s == section)]
        guess = did_you_mean(word, choices)
        if guess:
            return f"did you mean '{guess}'?{self.defined_at((section, guess))}"
        if choices:
            return f"defined {section}: {', '.join(sorted(choices)[:12])}"
        return f"no {section} are defined"

    # ---------------------------------------------------------------- checks
    def run(self) -> list[Diagnostic]:
        c = self.c
        import re

        name_re = re.compile(NAME_PATTERN)
        for section in ("providers", "strategies", "clients", "mcp_servers", "skills"):
            for name in getattr(c, section):
                if not name_re.match(name):
                    self.err(
                        "LR304",
                        f"invalid name '{name}' in {section}",
                        (section, name),
                        "letters, digits, '.', '_' and '-' (no '/'), at most 64 characters",
                        key=True,
                    )
        for pname, p in c.providers.items():
            self.provider(pname, p)
        for sname in c.strategies:
            self.strategy(sname)
        self.clients()
        for i, t in enumerate(c.tests):
            if (
                t.client not in c.clients
                and ("clients", t.client) not in self.broken
                and not (self.partial)
            ):
                self.err(
                    "LR319",
                    f"test '{t.name}' names unknown client '{t.client}'",
                    ("tests", i, "client"),
                    self.suggest(t.client, c.clients, "clients"),
                )
        self.mcp()
        why = state_dir_problem(c.state_dir) if c.state_dir else None
        if why is not None:
            self.err(
                "LR324",
                f"state_dir is not a usable path: {why}",
                ("state_dir",),
                "write an absolute path, or one relative to the config's folder",
            )
        return self.out

    def secret(self, value: str, path: PathKey, *, literal_ok: bool = False) -> None:
        if SECRET_REF.match(value):
            return
        if "${" in value:
            inner = value.strip()[2:-1] if value.strip().endswith("}") else ""
            guess = f"did you mean ${{env:{inner}}}? " if inner.isidentifier() else ""
            self.err(
                "LR503",
                "malformed secret reference",
                path,
                f"{guess}write ${{env:NAME}} or ${{keyring:NAME}} "
                "(NAME: letters, digits, '_', '.', '-')",
                redact=True,
            )
        elif not literal_ok:
            self.warn(
                "LR502",
                "literal secret in the config",
                path,
                "store it with `localrouter secrets set` and write ${keyring:NAME}, "
                "or use ${env:NAME}",
                redact=True,
            )

    def url(self, value: str, path: PathKey) -> None:
        try:
            parts = urlsplit(value)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            usable = usable and (parts.port is None or parts.port > 0)  # ValueError past 65535
        except ValueError:  # "Invalid IPv6 URL", a port that is not a number
            usable = False
        if not usable:
            self.err(
                "LR307",
                f"'{value}' is not an http(s) URL",
                path,
                "e.g. http://localhost:11434 or https://api.example.com/v1",
            )

    def provider(self, pname: str, p: object) -> None:
        from localrouter.config.spec import ProviderSpec

        assert isinstance(p, ProviderSpec)
        base = ("providers", pname)
        t = TYPES[p.type]
        if p.preset is not None and p.type != "openai-compatible":
            self.err(
                "LR307",
                f"`preset` is for type openai-compatible, not {p.type}",
                (*base, "preset"),
                "write type: openai-compatible, or remove the preset",
            )
        if p.base_url is not None:
            self.url(p.base_url, (*base, "base_url"))
            for code, warns, message, hint in check_base_url(pname, p.base_url):  # SPEC §1
                (self.warn if warns else self.err)(code, message, (*base, "base_url"), hint)
        elif p.preset is None and t.default_base_url is None and p.type != "mock":
            self.err(
                "LR307",
                f"provider '{pname}' of type {p.type} needs a `base_url`",
                base,
                "e.g. base_url: https://api.groq.com/openai/v1, or preset: groq",
                key=True,
            )
        if p.api_key is not None:
            self.secret(p.api_key, (*base, "api_key"))
        elif t.needs_key:
            self.warn(
                "LR506",
                f"provider '{pname}' ({p.type}) has no `api_key`",
                base,
                f"add api_key: ${{keyring:{pname}}} (`localrouter secrets set {pname}`)",
                key=True,
            )
        for h, v in p.headers.items():
            self.secret(v, (*base, "headers", h), literal_ok=True)
        self.limits(p.limits, (*base, "limits"))

    def refs(
        self, refs: Sequence[str], path: PathKey, *, check_models: bool = True
    ) -> list[tuple[int, ModelRef]]:
        out = []
        seen: dict[str, int] = {}
        for i, text in enumerate(refs):
            ref = parse_ref(text)
            if isinstance(ref, str):
                self.err("LR306", ref, (*path, i))
                continue
            if text in seen:
                self.warn(
                    "LR317",
                    f"'{text}' is listed twice",
                    (*path, i),
                    f"it already stands at position {seen[text] + 1}; remove one",
                )
            seen.setdefault(text, i)
            out.append((i, ref))
            if ref.provider and not any(ch in ref.provider for ch in "*?["):
                if ("providers", ref.provider) in self.broken or self.partial:
                    continue
                if ref.provider not in self.c.providers:
                    self.out.append(
                        error(
                            "LR302",
                            f"unknown provider '{ref.provider}'",
                            self._part_span((*path, i), len(ref.provider)),
                            self.suggest(ref.provider, self.c.providers, "providers"),
                        )
                    )
                    continue
            if check_models:
                self.model_exists(ref, (*path, i))
        return out

    def model_exists(self, ref: ModelRef, path: PathKey) -> None:
        if any(ref.pattern.fullmatch(m.id) for m in self.index.scope(ref)):
            return
        discovering = [n for n, p in self.c.providers.items() if p.discover and p.type != "mock"]
        reachable = [n for n in discovering if reaches(ref, n)]
        if not ref.is_glob and ref.provider in self.c.providers:
            known = [m.name for m in self.catalog.get(ref.provider, ())]
            guess = did_you_mean(ref.model, known)
            hint = f"did you mean '{ref.provider}/{guess}'?" if guess else None
            if ref.provider not in discovering:
                self.err(
                    "LR305",
                    f"provider '{ref.provider}' has no model '{ref.model}'",
                    path,
                    hint or f"its models: {', '.join(known) or 'none'}",
                )
            elif guess:
                self.warn(
                    "LR305",
                    f"'{ref.model}' is not in the static catalog of provider '{ref.provider}'",
                    path,
                    hint,
                )
            return
        if ref.is_glob and not reachable:  # a discovering provider may still fill it
            self.warn(
                "LR305",
                f"'{ref.text}' matches no model",
                path,
                "no provider it names discovers models: list them under the provider's `models:`",
            )

    def strategy(self, sname: str) -> None:
        s = self.c.strategies[sname]
        base = ("strategies", sname)
        if not s.models and not s.routes and base not in self.damaged:
            self.err(
                "LR313",
                f"strategy '{sname}' lists no models",
                base,
                'add `models: ["provider/*"]` or routes',
                key=True,
            )
        refs = self.refs(s.models, (*base, "models"))
        self.refs(s.exclude, (*base, "exclude"), check_models=False)
        route_names: dict[str, int] = {}
        for ri, r in enumerate(s.routes):
            rpath = (*base, "routes", ri)
            refs += self.refs(r.models, (*rpath, "models"))
            self.refs(r.exclude, (*rpath, "exclude"), check_models=False)
            rname = r.name or f"route-{ri + 1}"
            if rname in route_names:
                self.err(
                    "LR322",
                    f"two routes named '{rname}'",
                    (*rpath, "name"),
                    f"route {route_names[rname] + 1} has that name already",
                )
            route_names.setdefault(rname, ri)
        if (
            s.params_b
            and s.params_b.min is not None
            and s.params_b.max is not None
            and s.params_b.min > s.params_b.max
        ):
            self.err("LR320", "params_b min is larger than max", (*base, "params_b"))
        lo, hi = s.fallback.backoff_ms
        if lo > hi:
            self.err(
                "LR323",
                "backoff_ms is [min, max]: min is larger than max",
                (*base, "fallback", "backoff_ms"),
            )
        self.limits(s.limits, (*base, "limits"))
        if s.privacy == "local_only":
            self.privacy(sname, refs)
        self.aliases(sname)


def check(
    config: ConfigSpec,
    spans: SpanIndex,
    catalog: dict[str, tuple[ModelInfo, ...]],
    broken: set[tuple[str, str]] | None = None,
    damaged: set[tuple[str, str]] | None = None,
    *,
    partial: bool = False,
) -> list[Diagnostic]:
    """Every meaning problem in ``config``; never raises. ``broken`` names entries the schema
    check already rejected: references to them are not reported again."""
    checker = _Checker(config, spans, catalog, broken or set())
    checker.damaged = damaged or set()
    checker.partial = partial
    return checker.run()
