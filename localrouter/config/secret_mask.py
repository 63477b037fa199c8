"""Secrets out of what the compiler shows: config excerpts and diagnostic messages.

Diagnostics quote the config: every renderer prints source lines (``validate``'s text, the
reload-failure log, ``serve``'s start failure), and messages quote values ("must be a mapping, not
the string '…'"). A literal ``api_key``, a secret header, an MCP server's token or the password
of a URL must never be printed that way, whichever diagnostic happens to show its line — a
misspelt key beside it, a type error on it, a YAML error on its line.

:func:`find_secrets` finds them once per build, two ways:

* in the loaded document (when it parsed): the values of ``providers.*.api_key`` and of any
  key of a provider or MCP server named like a secret (``api_kye``, ``token`` …), and the values
  of headers and MCP ``env`` entries named like one (``Authorization``, ``X-Api-Key``,
  ``GITHUB_TOKEN``; :func:`localrouter.redaction.secret_name`) or shaped like a key;
* in the text, line by line (also when it did not parse): a value after a key named like a
  secret, the password of a URL (``scheme://user:PASSWORD@host``), a ``?key=`` style query
  parameter, and anything shaped like a well-known key (``sk-…``, ``AIza…``, ``Bearer …``).

``${env:…}`` and ``${keyring:…}`` references are not secrets and stay visible. :class:`Secrets`
then stars the texts (character for character, so every span and caret still fits) and the
values wherever a message, help line or note quotes them.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from localrouter.config.source import PathKey, SpanIndex
from localrouter.config.spec import SECRET_REF, McpServerSpec, ProviderSpec
from localrouter.diagnostics import Diagnostic
from localrouter.redaction import KEY_SHAPES, secret_name

STARS = "********"
MIN_QUOTED = 6  # a shorter value is not looked for in messages (it would match ordinary words)

_PROVIDER_KEYS = frozenset(ProviderSpec.model_fields)
_MCP_KEYS = frozenset(McpServerSpec.model_fields)
_SHAPES = re.compile("|".join(KEY_SHAPES))
_URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:'\"]*:([^\s/@'\"]+)@")
_QUERY_SECRET = re.compile(
    r"[?&](?:api[_-]?key|key|token|access_token|auth|password|secret|sig|signature)=([^&#\s'\"]+)",
    re.IGNORECASE,
)
_KEY = re.compile(  # a mapping key and its colon, in block or flow style
    r"(?:^|(?<=[\s{,\[]))(?P<q>[\"']?)(?P<key>[A-Za-z_][\w.\-]*)(?P=q)[ \t]*:(?=[ \t])"
)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-.=+/]{16,}")

Region = tuple[int, int, int]  # 0-based line, start column, end column (exclusive)


@functools.lru_cache(maxsize=1024)
def _secret_key(name: str) -> bool:
    """A config key that holds a secret: ``api_key`` and anything named like one, including a
    misspelling of ``api_key`` (``api_kye``, ``apikey``)."""
    return secret_name(name) or bool(difflib.get_close_matches(name, ["api_key"], 1, 0.75))


def _keylike(value: object) -> bool:
    """A header or environment value that looks like a credential whatever its name."""
    if not isinstance(value, str):
        return False
    if _SHAPES.search(value) or _URL_PASSWORD.search(value):
        return True
    token = _LONG_TOKEN.fullmatch(value)
    return bool(token) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _reference(value: object) -> bool:
    return isinstance(value, str) and SECRET_REF.match(value.strip()) is not None


def _entries(section: object) -> Iterator[tuple[str | int, Any]]:
    """A named section's entries: a mapping (version 2) or a list (version 1)."""
    if isinstance(section, dict):
        yield from section.items()
    elif isinstance(section, list):
        yield from enumerate(section)


def secret_paths(data: object) -> Iterator[tuple[PathKey, Any]]:
    """The paths (and values) of the secret-bearing values of a loaded document."""
    if not isinstance(data, dict):
        return
    for section, known in (("providers", _PROVIDER_KEYS), ("mcp_servers", _MCP_KEYS)):
        for name, entry in _entries(data.get(section)):
            if not isinstance(entry, dict):
                continue
            base: PathKey = (section, name)
            for key, value in entry.items():
                key = str(key)
                if key in ("headers", "env"):
                    if not isinstance(value, dict):  # not a mapping: show none of it
                        if value is not None:
                            yield (*base, key), value
                        continue
                    for h, v in value.items():
                        if not _reference(v) and (secret_name(str(h)) or _keylike(v)):
                            yield (*base, key, h), v
                elif (
                    (key == "api_key" or (key not in known and _secret_key(key)))
                    and not _reference(value)
                    and value is not None
                ):
                    yield (*base, key), value


def _leaves(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _span_regions(spans: SpanIndex, path: PathKey, lines: list[str]) -> Iterator[Region]:
    loc = spans.get(path)
    if loc is None:
        return
    v = loc.value
    last = v.end_line if v.end_line >= v.line else v.line
    for n in range(v.line, last + 1):
        if n - 1 >= len(lines):
            break
        text = lines[n - 1]
        start = v.col - 1 if n == v.line else len(text) - len(text.lstrip())
        end = v.end_col - 1 if n == last and v.end_col > 0 else len(text)
        if end > start:
            yield n - 1, start, end


def _value_end(line: str, start: int, flow: bool) -> int:
    """Where a value that begins at ``start`` ends on its line."""
    first = line[start]
    if first in "\"'":
        i = start + 1
        while i < len(line):
            if line[i] == first:
                if first == "'" and line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 2 if first == '"' and line[i] == "\\" else 1
        return len(line)
    if first in "[{":
        depth = 0
        for i in range(start, len(line)):
            depth += 1 if line[i] in "[{" else -1 if line[i] in "]}" else 0
            if depth == 0:
                return i + 1
        return len(line)
    stop = re.compile(r"[ \t]#|[,\]}]" if flow else r"[ \t]#").search(line, start)
    return (stop.start() if stop else len(line.rstrip())) or start


def _text_regions(lines: list[str], names: frozenset[str] = frozenset()) -> Iterator[Region]:
    """Secrets found in the text alone; ``names`` (the config's own names: a client called
    ``auth``) are never taken for a secret key."""
    block: int | None = None  # the indentation of a block scalar under a secret key
    for n, line in enumerate(lines):
        indent = len(line) - len(line.lstrip(" "))
        if block is not None:
            if line.strip() and indent <= block:
                block = None
            elif line.strip():
                yield n, indent, len(line.rstrip())
                continue
        for m in _KEY.finditer(line):
            if m["key"] in names or not _secret_key(m["key"]):
                continue
            start = m.end()
            while start < len(line) and line[start] in " \t":
                start += 1
            if line.startswith("!", start):  # a tag is shown, the value after it is not
                tag = re.compile(r"![^\s]*[ \t]*").match(line, start)
                start = tag.end() if tag else start
            if start >= len(line) or line[start] == "#":
                continue
            if line[start] in "|>":
                block = indent
                continue
            prefix = line[: m.start()]
            flow = prefix.count("{") + prefix.count("[") > prefix.count("}") + prefix.count("]")
            end = _value_end(line, start, flow)
            if end > start and not _reference(line[start:end].strip("\"'")):
                yield n, start, end
        for pattern in (_URL_PASSWORD, _QUERY_SECRET):
            for m in pattern.finditer(line):
                yield n, m.start(1), m.end(1)
        for m in _SHAPES.finditer(line):
            yield n, m.start(), m.end()


@dataclass(frozen=True)
class Secrets:
    """Where the secrets of a config are, to star them out of what is shown."""

    regions: Mapping[str, tuple[Region, ...]]  # file → regions
    values: tuple[str, ...]  # quoted in messages: starred, longest first

    def files(self, files: Mapping[str, str]) -> dict[str, str]:
        """The texts with every secret starred, character for character (spans still fit)."""
        out = {}
        for name, text in files.items():
            regions = self.regions.get(name)
            if not regions:
                out[name] = text
                continue
            lines = text.split("\n")
            for n, start, end in regions:
                line = lines[n]
                lines[n] = line[:start] + "*" * (end - start) + line[end:]
            out[name] = "\n".join(lines)
        return out

    def text(self, text: str) -> str:
        """A message with every secret it quotes starred."""
        for value in self.values:
            text = text.replace(value, STARS)
        text = _SHAPES.sub(STARS, text)
        text = _URL_PASSWORD.sub(lambda m: m[0].replace(m[1], STARS), text)
        return _QUERY_SECRET.sub(lambda m: m[0].replace(m[1], STARS), text)

    def diagnostic(self, d: Diagnostic) -> Diagnostic:
        message = self.text(d.message)
        help = self.text(d.help) if d.help is not None else None
        notes = tuple(self.text(n) for n in d.notes)
        if (message, help, notes) == (d.message, d.help, d.notes):
            return d
        return replace(d, message=message, help=help, notes=notes)


def find_secrets(
    files: Mapping[str, str],
    data: object = None,
    spans: SpanIndex | None = None,
    names: frozenset[str] = frozenset(),
) -> Secrets:
    """The secrets of a config's ``files`` (and of its loaded ``data`` and ``spans`` when it
    parsed). ``names``: words a value is never mistaken for (the config's own names)."""
    lines = {name: text.split("\n") for name, text in files.items()}
    regions: dict[str, set[Region]] = {name: set() for name in files}
    values: set[str] = set()
    for name, ls in lines.items():
        regions[name].update(_text_regions(ls, names))
    if spans is not None:
        for path, value in secret_paths(data):
            loc = spans.get(path)
            if loc is not None and loc.value.file in lines:
                file = loc.value.file
                regions[file].update(_span_regions(spans, path, lines[file]))
            values.update(_leaves(value))
    for name, found in regions.items():
        for n, start, end in found:
            raw = lines[name][n][start:end]
            values.add(raw)
            values.add(raw.strip("\"'[]{} "))
    quoted = sorted(
        (v for v in values if len(v) >= MIN_QUOTED and v not in names and v.strip("*")),
        key=len,
        reverse=True,
    )
    return Secrets({k: tuple(sorted(v)) for k, v in regions.items() if v}, tuple(quoted))


def config_names(data: object) -> frozenset[str]:
    """The names a config defines (providers, strategies, clients, MCP servers, skills)."""
    out: set[str] = set()
    if isinstance(data, dict):
        for section in ("providers", "strategies", "clients", "mcp_servers", "skills"):
            value = data.get(section)
            if isinstance(value, dict):
                out.update(str(k) for k in value)
    return frozenset(out)
