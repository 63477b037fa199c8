"""The rules of the version-1 → version-2 migration: name tables and the translator itself.

``migrate.py`` holds the public entry points and the full description of the mapping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import bcrypt

Path = tuple[str | int, ...]

V1_ONLY_KEYS = frozenset({"routers", "api_keys", "settings", "rate_limiters"})
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
KEY_PREFIX = re.compile(r"^lr-[A-Za-z0-9_-]{8}$")
SECRET_REF = re.compile(r"^\$\{(env|keyring):[A-Za-z_][A-Za-z0-9_.\-]*\}$")
_SALT_KEY = b"localrouter/migrate-v1/bcrypt-salt"
_B64 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)
# hosted APIs the seed had an adapter for, served here as openai-compatible
_COMPAT = {
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "cohere": "https://api.cohere.ai/compatibility/v1",
    "togetherai": "https://api.together.xyz/v1",
    "perplexity": "https://api.perplexity.ai",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
    "cerebras": "https://api.cerebras.ai/v1",
    "xai": "https://api.x.ai/v1",
}
# keys: v1 provider_type lower-cased, letters and digits only (serde wrote OpenAI as `open_a_i`)
PROVIDER_TYPES: dict[str, tuple[str, str | None]] = {
    **{t: (t, None) for t in ("openai", "anthropic", "gemini", "ollama", "openrouter", "lmstudio")},
    **{k: ("openai-compatible", url) for k, url in _COMPAT.items()},
    **{k: ("openai-compatible", None) for k in ("custom", "openaicompatible")},
    "google": ("gemini", None),
    "mock": ("mock", None),
}
_REMOTE = frozenset({"openai", "anthropic", "gemini", "openrouter"})  # these need an API key
_ORDER = "lowest_cost highest_performance lowest_latency highest_quality local_first remote_first"
ORDER_KEYS = (*_ORDER.split(), "subscription_first", "api_first")
# `lowest_cost`, `LowestCost` and `cost` all mean lowest_cost
_ALIASES = ((k, a) for k in ORDER_KEYS for a in (k.replace("_", ""), *k.split("_")))
ORDER_ALIASES = {a: k for k, a in _ALIASES if a not in ("lowest", "highest", "first")}
LIMIT_TYPES = {m.replace("_", ""): m for m in ("input_tokens", "output_tokens", "total_tokens")}
LIMIT_TYPES |= {"requests": "requests", "tokens": "total_tokens", "cost": "cost_usd"}
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600}
_UNITS |= {"hr": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800}
_WINDOW_KEYS = ("time_window_seconds", "time_window_secs", "time_window", "per")
_LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "warn": "warning"}
_LOG_LEVELS |= {"warning": "warning", "error": "error"}
_SECTIONS = {  # v1 key -> v2 key ("" = handled by hand)
    "server": {k: k for k in ("host", "port", "cors_origins", "max_body_mb")} | {"enable_cors": ""},
    "logging": {"level": "level", "enable_access_log": "access_log", "access_log": "access_log"}
    | {"retention_days": "retention_days"},
}
_SCOPES = {  # top-level rate_limiters: the key naming what is limited -> (v2 section, v1 kind)
    **dict.fromkeys(("api_key", "api_key_id", "key_id", "client"), ("clients", "api_keys")),
    **dict.fromkeys(("router", "router_name", "strategy"), ("strategies", "routers")),
    **dict.fromkeys(("provider", "provider_name"), ("providers", "providers")),
}
_SILENT = frozenset({"id", "name", "created_at", "last_used", "description"})
_LIMIT_KEYS = ("rate_limiters", "rate_limits")
_KEY_FIELDS = ("key", "api_key", "plaintext")


@dataclass(frozen=True)
class MigrationResult:
    """A plain version-2 document, what the user should know, and where each part came from."""

    data: dict[str, Any]
    notes: tuple[str, ...]
    origins: Mapping[Path, Path] = field(default_factory=dict)


def _norm(value: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower()) if isinstance(value, str) else ""


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _hash_key(key: str) -> str:
    """bcrypt (cost 12) of ``key``, salted with HMAC-SHA256(key): deterministic by design."""
    digest = hmac.new(_SALT_KEY, key.encode(), hashlib.sha256).digest()[:16]
    salt = base64.b64encode(digest).decode()[:22].translate(_B64)
    return bcrypt.hashpw(key.encode(), f"$2b$12${salt}".encode()).decode()


def _seconds(value: Any) -> int | None:
    """A v1 time window: seconds, ``{secs: n}``, ``minute``/``hour``/``day``, ``"90s"``."""
    if isinstance(value, Mapping):
        value = value.get("secs", value.get("seconds"))
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{0,9})\s*([a-z]+)\s*", value.lower())
        unit = m.group(2) if m else ""
        unit = unit[:-1] if len(unit) > 2 and unit not in _UNITS and unit[-1] == "s" else unit
        return int(m.group(1) or 1) * _UNITS[unit] if m and unit in _UNITS else None
    if not _number(value) or (isinstance(value, float) and not value.is_integer()):
        return None
    return int(value)


def _per(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Migration:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.src = data
        self.notes: list[str] = []
        self.origins: dict[Path, Path] = {}
        self.out: dict[str, Any] = {"version": 2}
        self.names: dict[str, dict[str, str]] = {"providers": {}, "routers": {}, "api_keys": {}}
        self.taken: dict[str, set[str]] = {"providers": set(), "routers": set(), "api_keys": set()}
        self.gone: set[tuple[str, str]] = set()  # (v2 section, name) left out on purpose
        self.renamed: list[str] = []
        self.keyring: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(" ".join(text.split()))

    def put(self, path: Path, value: Any, v1: Path) -> None:
        target: dict[Any, Any] = self.out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
        self.origins[path] = v1

    def drop(self, raw: Mapping[str, Any], used: set[str], where: str) -> None:
        dropped = sorted(str(k) for k in raw if k not in used and k not in _SILENT)
        if dropped:
            self.note(f"{where}: {', '.join(dropped)} not migrated (no version-2 equivalent)")

    def items(self, section: str) -> list[tuple[Path, dict[str, Any]]]:
        """A v1 list section as (path, item) pairs; anything else is carried over."""
        raw = self.src.get(section)
        if not isinstance(raw, list):
            if raw is not None:  # never copy api keys: they may be plaintext
                self.note(f"`{section}` must be a list; not migrated")
                self.put((section,), [] if section == "api_keys" else _plain(raw), (section,))
            return []
        good: list[tuple[Path, dict[str, Any]]] = [
            ((section, i), dict(v)) for i, v in enumerate(raw) if isinstance(v, Mapping)
        ]
        if len(good) < len(raw):
            self.note(f"`{section}`: entries that are not mappings were skipped")
        return good

    def name(self, kind: str, item: Mapping[str, Any], path: Path) -> str:
        """A unique version-2 name (``Minimum Cost`` → ``minimum-cost``); v1 aliases recorded."""
        raw = item.get("name") if isinstance(item.get("name"), str) else item.get("id")
        raw = raw if isinstance(raw, str) and raw.strip() else f"{kind[:-1]}-{path[-1]}"
        slug = re.sub(r"[^a-z0-9._-]+", "-", raw.strip().lower()).strip("-._")[:60] or kind[:-1]
        new, n = slug, 2
        while new in self.taken[kind]:
            new, n = f"{slug}-{n}", n + 1
        self.taken[kind].add(new)
        for alias in (raw, item.get("id")):
            if isinstance(alias, str):
                self.names[kind].setdefault(alias, new)
                self.names[kind].setdefault(alias.casefold(), new)
        if new != raw:
            self.renamed.append(f"{raw!r} → {new!r}")
        return new

    def ref(self, kind: str, raw: Any) -> str | None:
        if not isinstance(raw, str):
            return None
        return self.names[kind].get(raw) or self.names[kind].get(raw.casefold()) or raw

    def model(self, value: Any) -> str | None:
        """``[provider, model]``, ``{provider, model}`` or ``provider/model`` → ``name/model``."""
        if isinstance(value, Mapping):
            value = [value.get("provider", value.get("provider_name")), value.get("model")]
        if isinstance(value, str) and "/" in value:
            value = value.split("/", 1)
        if not (isinstance(value, list | tuple) and len(value) == 2):
            return None
        prov, model = self.ref("providers", value[0]), value[1]
        ok = prov and isinstance(model, str) and ("providers", prov) not in self.gone
        return f"{prov}/{model}" if ok else None

    def limits(self, raw: Any, owner: Path, v1: Path, where: str) -> None:
        """v1 rate limiters → ``limits`` of ``owner``; unreadable ones stay `rate_limiters`."""
        if raw is None or raw == []:
            return
        target = self.out[str(owner[0])][owner[1]]
        for i, entry in enumerate(raw if isinstance(raw, list) else [raw]):
            limit = self.limit(entry, where)
            key = "limits" if limit else "rate_limiters"
            bucket = target.setdefault(key, [])
            self.origins[(*owner, key, len(bucket))] = (*v1, i) if isinstance(raw, list) else v1
            bucket.append(limit or _plain(entry))

    def limits_of(self, item: Mapping[str, Any], owner: Path, path: Path, where: str) -> None:
        key = next((k for k in _LIMIT_KEYS if k in item), _LIMIT_KEYS[0])
        self.limits(item.get(key), owner, (*path, key), where)

    def limit(self, entry: Any, where: str) -> dict[str, Any] | None:
        if not isinstance(entry, Mapping):
            self.note(f"{where}: a rate limiter is not a mapping; kept as `rate_limiters`")
            return None
        kind = entry.get("limit_type", entry.get("type", entry.get("metric")))
        metric = LIMIT_TYPES.get(_norm(kind).removesuffix("usd"))
        value = entry.get("value", entry.get("limit"))
        window = next((_seconds(entry[k]) for k in _WINDOW_KEYS if k in entry), None)
        if metric is None:
            problem = f"unknown limit_type {kind!r}" if isinstance(kind, str) else "no limit_type"
        elif not _number(value) or not 0 <= value < math.inf:
            problem = f"a {metric} limit has no usable value"
        elif window is None or not 1 <= window <= 366 * 86400:
            problem = f"a {metric} limit's time window is missing or outside 1s..366d"
        else:
            if metric != "cost_usd" and value != int(value):
                self.note(f"{where}: {metric} limit {value} rounded down to {int(value)}")
            return {metric: value if metric == "cost_usd" else int(value), "per": _per(window)}
        self.note(f"{where}: {problem}; kept as `rate_limiters`")
        return None

    def settings(self) -> None:
        """``server`` and ``logging``, at the top or inside the issue's ``settings``."""
        settings: Any = self.src.get("settings")
        if settings is not None and not isinstance(settings, Mapping):
            self.note("`settings` must be a mapping; not migrated")
            self.put(("settings",), _plain(settings), ("settings",))
        settings = settings if isinstance(settings, Mapping) else {}
        for section, table in _SECTIONS.items():
            raw, v1 = self.src.get(section), Path((section,))
            if raw is None and section in settings:
                raw, v1 = settings[section], ("settings", section)
            if not isinstance(raw, Mapping):
                if raw is not None:
                    self.put((section,), _plain(raw), v1)
                continue
            out = {table[k]: _plain(v) for k, v in raw.items() if table.get(k)}
            if "level" in out:
                out["level"] = _LOG_LEVELS.get(_norm(out["level"]), out["level"])
            if raw.get("enable_cors") is False:
                out["cors_origins"] = []
            elif raw.get("enable_cors") is True and "cors_origins" not in raw:
                self.note("server.enable_cors: version 2 allows CORS from http://localhost:* "
                          "only; list other origins in server.cors_origins")  # fmt: skip
            self.drop(raw, set(table), section)
            self.put((section,), out, v1)
        self.drop(settings, set(_SECTIONS), "settings")

    def provider(self, path: Path, item: dict[str, Any], name: str) -> None:
        where = f"provider '{name}'"
        if item.get("enabled") is False:
            self.gone.add(("providers", name))
            self.note(f"{where} was disabled; left out, with its models and limits")
            return
        extra = item.get("provider_config")
        conf = {**item, **(extra if isinstance(extra, Mapping) else {})}
        kind = item.get("provider_type", item.get("type"))
        ptype, default_url = PROVIDER_TYPES.get(_norm(kind), (_plain(kind), None))
        out: dict[str, Any] = {"type": ptype}
        url = next((conf[k] for k in ("base_url", "endpoint", "api_base") if k in conf), None)
        if url is not None or default_url is not None:
            out["base_url"] = _plain(url if url is not None else default_url)
        if _norm(kind) not in PROVIDER_TYPES:
            self.note(f"{where}: unknown provider_type {_plain(kind)!r}; kept as is")
        elif default_url:
            self.note(f"{where}: {kind} is now an openai-compatible provider at {out['base_url']}")
        api_key = conf.get("api_key")
        if isinstance(api_key, str) and SECRET_REF.match(api_key):
            out["api_key"] = api_key
        elif default_url or (isinstance(ptype, str) and ptype in _REMOTE):
            out["api_key"] = f"${{keyring:{name}}}"
            self.keyring.append(name)
        if _number(conf.get("timeout_seconds")):
            out["timeout"] = {"read_s": conf["timeout_seconds"]}
        headers = conf.get("extra_headers", conf.get("headers"))
        if isinstance(headers, Mapping):
            out["headers"] = _plain(headers)
        self.put(("providers", name), out, path)
        used = {"provider_type", "type", "enabled", "provider_config", "base_url", "endpoint"}
        used |= {"api_base", "api_key", "api_key_ref", "timeout_seconds", "extra_headers"}
        self.drop(conf, used | {"headers", *_LIMIT_KEYS}, where)
        self.limits_of(item, ("providers", name), path, where)

    def strategy(self, path: Path, item: dict[str, Any], name: str) -> None:
        where, out = f"router '{name}'", dict[str, Any]()
        self.put(("strategies", name), out, path)
        sel: Any = item.get("model_selection")
        sel = {"type": sel} if isinstance(sel, str) else sel
        if sel is None and "models" in item:
            sel = {"type": "manual", "models": item["models"]}
        kind = _norm(sel.get("type")) if isinstance(sel, Mapping) else ""
        if kind in ("automatic", "auto"):
            self.automatic(sel, out, where)
        elif kind == "manual":
            refs = [self.model(m) for m in _as_list(sel.get("models"))]
            if None in refs:
                self.note(f"{where}: models that are not [provider, model] pairs, or that "
                          f"belong to a disabled provider, were left out")  # fmt: skip
            out["models"] = [r for r in refs if r]
        else:
            self.note(f"{where}: model_selection is not automatic or manual; kept as is")
            out["model_selection"] = _plain(item.get("model_selection"))
        rules: Any = next((item[k] for k in ("strategies", "criteria", "order") if k in item), [])
        keys = [ORDER_ALIASES.get(_norm(r)) for r in _as_list(rules)]
        if None in keys:
            self.note(f"{where}: unknown routing strategies were left out of `order`")
        order = list(dict.fromkeys(k for k in keys if k))
        if order and kind == "manual":
            self.note(f"{where}: manual selection keeps its listed order; strategies ignored")
        elif order:
            out["order"] = order
        if item.get("fallback_enabled") is False:
            out["fallback"] = {"attempts": 1}
        used = {"model_selection", "models", "strategies", "criteria", "order", "fallback_enabled"}
        self.drop(item, used | set(_LIMIT_KEYS), where)
        self.limits_of(item, ("strategies", name), path, where)

    def automatic(self, sel: Mapping[str, Any], out: dict[str, Any], where: str) -> None:
        """Provider filters → ``models``/``exclude`` globs; parameter bounds → ``params_b``."""
        models: list[str] = []
        exclude: list[str] = []
        filters = _as_list(sel.get("providers"))
        for f in filters:
            f = {"provider_name": f} if isinstance(f, str) else f
            raw = f.get("provider_name", f.get("name")) if isinstance(f, Mapping) else None
            prov = self.ref("providers", raw)
            if not prov or ("providers", prov) in self.gone or not isinstance(f, Mapping):
                self.note(f"{where}: a provider filter names no enabled provider; left out")
                continue
            inc, exc = f.get("include_models"), f.get("exclude_models")
            models += [f"{prov}/{m}" for m in (inc if isinstance(inc, list) else ["*"])]
            exclude += [f"{prov}/{m}" for m in _as_list(exc)]
        out["models"] = models if filters else ["*"]
        if exclude:
            out["exclude"] = exclude
        bounds: dict[str, float] = {}
        for key, bound in (("min_parameters", "min"), ("max_parameters", "max")):
            v = sel.get(key)
            if _number(v) and 0 <= v < 1e18:
                bounds[bound] = v / 1e9 if v >= 1e6 else v  # the seed counted parameters
        if bounds:
            out["params_b"] = bounds

    def client(self, path: Path, item: dict[str, Any], name: str) -> None:
        where, out = f"api key '{name}'", dict[str, Any]()
        key = next((item[k] for k in _KEY_FIELDS if isinstance(item.get(k), str)), "")
        stored, key = (key, "") if BCRYPT_HASH.match(key) else (item.get("key_hash"), key)
        hashed = isinstance(stored, str) and BCRYPT_HASH.match(stored) is not None
        if key and not KEY_PREFIX.match(key[:11]):
            self.note(f"{where}: version 2 only accepts `lr-` keys; this one is not kept")
        elif key:
            try:  # a hash the seed stored is kept; a plaintext key is hashed here
                out["key_prefix"], out["key_hash"] = key[:11], stored if hashed else _hash_key(key)
            except ValueError:
                self.note(f"{where}: the key cannot be bcrypt-hashed (more than 72 bytes)")
        elif hashed:
            if isinstance(item.get("key_prefix"), str):
                out["key_prefix"] = item["key_prefix"]
            else:
                self.note(f"{where}: only a hash was stored; add `key_prefix:` (the first 11 "
                          f"characters of the key) to client '{name}'")  # fmt: skip
            out["key_hash"] = stored
        elif stored is not None:
            self.note(f"{where}: key_hash is not a bcrypt hash; not copied")
        else:
            self.note(f"{where}: no key in the config (the seed kept keys in its keychain)")
        target = self.target(item, where)
        if "key_hash" not in out:
            self.gone.add(("clients", name))
            how = f" --{target[0]} {target[1]}" if target else ""
            self.note(f"{where}: left out (no usable key); recreate it with "
                      f"`localrouter keys create {name}{how}`")  # fmt: skip
            return
        if target:
            out[target[0]] = target[1]
        out["enabled"] = item.get("enabled") is not False
        self.put(("clients", name), out, path)
        used = {*_KEY_FIELDS, "key_hash", "key_prefix", "model_selection", "model"}
        used |= {"router", "router_name", "strategy", "enabled", *_LIMIT_KEYS}
        self.drop(item, used, where)
        self.limits_of(item, ("clients", name), path, where)

    def target(self, item: Mapping[str, Any], where: str) -> tuple[str, str] | None:
        """What a key routes to: ``("strategy", S)``, ``("model", M)`` or None."""
        sel = item.get("model_selection")
        sel = sel if isinstance(sel, Mapping) else {}
        router = next((item[k] for k in ("router", "router_name", "strategy") if k in item), None)
        router = sel.get("router_name", sel.get("router")) if router is None else router
        direct = _norm(sel.get("type")) == "directmodel"
        model = self.model(sel) if direct else self.model(item.get("model"))
        if model:
            return ("model", model)
        if isinstance(router, str) and not direct and "model" not in item:
            return ("strategy", self.ref("routers", router) or router)
        self.note(f"{where}: no usable router or model selected")
        return None

    def top_limits(self) -> None:
        """Top-level ``rate_limiters``: each names the api key, router or provider it limits."""
        for path, entry in self.items("rate_limiters"):
            where, key = f"rate_limiters[{path[1]}]", next((k for k in _SCOPES if k in entry), "")
            section, kind = _SCOPES.get(key, ("", "api_keys"))
            name, objects = self.ref(kind, entry.get(key)), self.out.get(section)
            if name and (section, name) in self.gone:
                self.note(f"{where} limits {kind[:-1]} '{name}', which was left out; dropped")
            elif name and isinstance(objects, dict) and name in objects:
                self.limits(entry, (section, name), path, where)
            else:
                self.note(f"{where} names no migrated api key, router or provider; kept as is")
                bucket = self.out.setdefault("rate_limiters", [])
                self.origins[("rate_limiters", len(bucket))] = path
                bucket.append(_plain(entry))

    def run(self) -> MigrationResult:
        self.settings()
        steps: dict[str, Callable[[Path, dict[str, Any], str], None]] = {
            "providers": self.provider,
            "routers": self.strategy,
            "api_keys": self.client,
        }
        staged = {section: self.items(section) for section in steps}
        if isinstance(self.src.get("strategies"), list):
            self.note("the top-level `strategies` list is read like `routers`")
            staged["routers"] += self.items("strategies")
        named = {s: [(p, i, self.name(s, i, p)) for p, i in staged[s]] for s in steps}
        if self.renamed:
            self.note(f"names now follow the version-2 form: {', '.join(self.renamed)}")
        for section, step in steps.items():
            for path, item, name in named[section]:
                step(path, item, name)
        self.top_limits()
        if self.keyring:
            self.note(f"provider API keys are now read from the OS keychain: run `localrouter "
                      f"secrets set NAME` for {', '.join(self.keyring)} (the seed's keychain "
                      f"entries and any literal keys in the files are not copied)")  # fmt: skip
        handled = {"version", "server", "settings", "logging", *steps, "rate_limiters"}
        for key, value in self.src.items():
            if key in handled or (key == "strategies" and isinstance(value, list)):
                continue
            if key in self.out:
                self.note(f"section `{key}` clashes with migrated data; not copied")
                continue
            self.put((str(key),), _plain(value), (str(key),))
            if isinstance(value, list) or key not in (
                "tests",
                "health",
                "state_dir",
                "mcp_servers",
            ):
                self.note(f"section `{key}` is not part of version 1; carried over as is")
        first = ("version", "server", "providers", "strategies", "clients", "logging")
        data = {k: self.out[k] for k in first if k in self.out}
        data.update((k, v) for k, v in self.out.items() if k not in data)
        return MigrationResult(data, tuple(self.notes), self.origins)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
