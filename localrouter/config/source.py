"""Config source: files → one plain document with a span for every key and value.

One YAML parser (ruamel.yaml, YAML 1.2, its C parser when ``ruamel.yaml.clib`` is installed)
composes
each file into nodes; this module walks the nodes itself so that it can

* keep a 1-based :class:`~localrouter.diagnostics.Span` for every key and value (``SpanIndex``),
* refuse hostile input quickly: files over :data:`MAX_FILE_BYTES`, nesting deeper than
  :data:`MAX_DEPTH`, documents that expand (through aliases) past :data:`MAX_NODES` values or
  hold an alias inside its own anchor (:mod:`localrouter.config.expansion`),
  any tag outside plain JSON-like data (``!!python/…`` and friends), duplicate keys,
* merge a config directory section by section (SPEC §1): named sections (``providers``,
  ``strategies``, ``clients``, ``mcp_servers``, ``skills``) merge by name, ``tests``
  concatenate, ``version`` must agree, and any other section may be set in one file only.

Nothing here resolves a secret reference or reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from localrouter.config.expansion import expanded_size
from localrouter.config.reader import MAX_DEPTH, MAX_FILE_BYTES, compose, read_text, too_deep
from localrouter.diagnostics import Diagnostic, Span, error

MAX_NODES = 500_000
MAX_FILES = 256


_T = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_T}str", f"{_T}int", f"{_T}float", f"{_T}bool", f"{_T}null", f"{_T}timestamp"}
_MAP_TAGS = {f"{_T}map", f"{_T}omap"}
_SEQ_TAGS = {f"{_T}seq"}
_MERGE_TAG = f"{_T}merge"

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """Where one value sits: its key (for mapping entries) and the value itself."""

    value: Span
    key: Span | None = None
    style: str | None = None  # scalar style: None (plain), "'", '"', "|", ">"
    # a plain scalar folded over several lines: (line, col, length) of each line's text
    segments: tuple[tuple[int, int, int], ...] = ()


@dataclass
class SpanIndex:
    """Path → location. Paths are tuples of mapping keys and sequence indices."""

    entries: dict[PathKey, Located] = field(default_factory=dict)

    def get(self, path: PathKey) -> Located | None:
        return self.entries.get(tuple(path))

    def span(self, path: PathKey, *, key: bool = False) -> Span | None:
        """The span of ``path`` (its key if ``key`` and it has one), else its nearest ancestor's."""
        p = tuple(path)
        while True:
            loc = self.entries.get(p)
            if loc is not None:
                return (loc.key or loc.value) if key else loc.value
            if not p:
                return None
            p = p[:-1]

    def key_span(self, path: PathKey) -> Span | None:
        return self.span(path, key=True)

    def scalar_offset_span(self, path: PathKey, line: int, col: int, length: int) -> Span | None:
        """Map a 1-based (line, col) inside a scalar's text back to the file.

        Exact for plain and quoted scalars without escapes, and for literal block scalars (``|``);
        folded or escaped text maps to the start of the scalar's line.
        """
        loc = self.entries.get(tuple(path))
        if loc is None:
            return self.span(path)
        v = loc.value
        if loc.style == ">":  # folding joins lines: point at the block's first line
            ln = v.line + 1
            c = self._block_indent.get(tuple(path), v.col)
            return Span(v.file, ln, c, ln, c + length)
        if loc.style == "|":
            # content starts on the line after the indicator, at the block's indentation
            indent = self._block_indent.get(tuple(path), v.col)
            ln = v.line + line
            c = indent + col - 1
            return Span(v.file, ln, c, ln, c + length)
        if line == 1 and loc.segments:  # folded plain scalar: lines joined by one space
            offset = col - 1
            for seg_line, seg_col, seg_len in loc.segments:
                if offset <= seg_len:
                    c = seg_col + offset
                    return Span(v.file, seg_line, c, seg_line, c + length)
                offset -= seg_len + 1
        if line == 1:
            c = v.col + col - 1 + (1 if loc.style in ("'", '"') else 0)
            return Span(v.file, v.line, c, v.line, c + length)
        return Span(v.file, v.line + line - 1, 1, v.line + line - 1, 1 + length)

    _block_indent: dict[PathKey, int] = field(default_factory=dict)


@dataclass
class SourceDocument:
    """A loaded config: plain data, where everything is, and the text of each file."""

    data: dict[str, Any]
    spans: SpanIndex
    files: dict[str, str]  # display name → text, for renderers
    root: Path  # the file or directory that was loaded
    base_dir: Path  # the config's own folder (default ``state_dir``)


class _Hostile(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _span(name: str, node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(name, s.line + 1, s.column + 1, e.line + 1, e.column + 1)


class _Walker:
    def __init__(self, name: str, text: str = "") -> None:
        self.name = name
        self.lines = text.splitlines()
        self.spans = SpanIndex()
        self.count = 0
        self.diagnostics: list[Diagnostic] = []
        self._constructor = YAML(typ="safe", pure=True).constructor
        self._stack: set[int] = set()

    def walk(self, node: Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Hostile(
                error(
                    "LR103",
                    f"document expands to more than {MAX_NODES:,} values",
                    _span(self.name, node),
                    "a config is far smaller; if it uses aliases (*name), each one repeats "
                    "its whole anchor: use fewer",
                )
            )
        if depth > MAX_DEPTH:
            raise _Hostile(
                error(
                    "LR104",
                    f"nesting deeper than {MAX_DEPTH} levels",
                    _span(self.name, node),
                    "a LocalRouter config needs a handful of levels; flatten this value",
                )
            )
        tag = str(node.tag) if node.tag is not None else ""
        if isinstance(node, ScalarNode):
            return self._scalar(node, tag)
        if id(node) in self._stack:
            raise _Hostile(
                error("LR103", "an alias refers to its own ancestor", _span(self.name, node))
            )
        self._stack.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                self._check_tag(node, tag, _SEQ_TAGS)
                out_list = []
                for i, item in enumerate(node.value):
                    self._record((*path, i), item, None)
                    out_list.append(self.walk(item, (*path, i), depth + 1))
                return out_list
            if isinstance(node, MappingNode):
                self._check_tag(node, tag, _MAP_TAGS)
                return self._mapping(node, path, depth)
        finally:
            self._stack.discard(id(node))
        raise _Hostile(error("LR105", "unsupported YAML node", _span(self.name, node)))

    def _check_tag(self, node: Node, tag: str, allowed: set[str]) -> None:
        if tag not in allowed:
            shown = tag.replace(_T, "!!")
            raise _Hostile(
                error(
                    "LR105",
                    f"YAML tag '{shown}' is not allowed",
                    _span(self.name, node),
                    "a config holds plain data only: strings, numbers, booleans, lists and maps",
                )
            )

    def _scalar(self, node: ScalarNode, tag: str) -> Any:
        self._check_tag(node, tag, _SCALAR_TAGS)
        if tag == f"{_T}str" or tag == f"{_T}timestamp":
            return str(node.value)
        try:
            return self._constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError):
            kind = tag.replace(_T, "")
            raise _Hostile(
                error(
                    "LR102",
                    f"'{node.value}' is not a valid {kind} (the !!{kind} tag requires one)",
                    _span(self.name, node),
                    "write a plain value, or remove the tag",
                )
            ) from None

    def _record(self, path: PathKey, value: Node, key: Node | None) -> None:
        style = getattr(value, "style", None) if isinstance(value, ScalarNode) else None
        segments: tuple[tuple[int, int, int], ...] = ()
        if not style and isinstance(value, ScalarNode):
            first, last = value.start_mark.line, value.end_mark.line
            if last > first and last < len(self.lines):
                segs = []
                for n in range(first, last + 1):
                    raw = self.lines[n]
                    start = value.start_mark.column if n == first else len(raw) - len(raw.lstrip())
                    end = value.end_mark.column if n == last else len(raw.rstrip())
                    if end > start:
                        segs.append((n + 1, start + 1, end - start))
                segments = tuple(segs)
        loc = Located(
            _span(self.name, value), _span(self.name, key) if key else None, style, segments
        )
        self.spans.entries[path] = loc
        if style in ("|", ">"):
            # the indentation of the block's first content line, 1-based
            # the indentation of the block's first content line, 1-based
            line = value.start_mark.line + 1
            text = self.lines[line] if line < len(self.lines) else ""
            self.spans._block_indent[path] = len(text) - len(text.lstrip(" ")) + 1

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        keys: dict[Any, Node] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if str(key_node.tag) == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                raise _Hostile(
                    error(
                        "LR105",
                        "mapping keys must be plain scalars",
                        _span(self.name, key_node),
                    )
                )
            key = self._scalar(key_node, str(key_node.tag))
            if not isinstance(key, str):  # names are text: `7:` and `010:` stay as written
                key = str(key_node.value)
            if key in keys:
                first = keys[key]
                self.diagnostics.append(
                    error(
                        "LR106",
                        f"duplicate key '{key}'",
                        _span(self.name, key_node),
                        f"'{key}' is already defined at {_span(self.name, first)}; "
                        "keep one of the two",
                    )
                )
                continue
            keys[key] = key_node
            child = (*path, key)
            self._record(child, value_node, key_node)
            out[key] = self.walk(value_node, child, depth + 1)
        if merged:  # YAML merge keys: explicit keys (and their spans) win
            n = len(path)
            saved = {
                p: loc
                for p, loc in self.spans.entries.items()
                if len(p) > n and p[:n] == path and p[n] in keys
            }
            for source in merged:
                for key, value in self._mapping(source, path, depth).items():
                    out.setdefault(key, value)
            self.spans.entries.update(saved)
        return out

    def _merge_sources(self, node: Node) -> Iterator[MappingNode]:
        if isinstance(node, MappingNode):
            yield node
        elif isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            yield from node.value
        else:
            raise _Hostile(
                error(
                    "LR105",
                    "a merge key (<<) takes a mapping or a list of mappings",
                    _span(self.name, node),
                )
            )


def parse_text(text: str, name: str) -> tuple[Any, SpanIndex, list[Diagnostic]]:
    """Parse one YAML text. Returns (data or None on a fatal problem, spans, diagnostics)."""
    deep = too_deep(text, name)
    if deep is not None:
        return None, SpanIndex(), [deep]
    node, problem = compose(text, name)
    if problem is not None:
        return None, SpanIndex(), [problem]
    walker = _Walker(name, text)
    if node is None:
        walker.spans.entries[()] = Located(Span(name, 1, 1))
        return {}, walker.spans, []
    if isinstance(node, ScalarNode) and str(node.tag) == f"{_T}null":
        return (
            None,
            walker.spans,
            [
                error(
                    "LR108",
                    "the file holds no config (its document is empty or null)",
                    _span(name, node),
                    "start with `version: 2`",
                )
            ],
        )
    too_big = expanded_size(node, name, walker.lines, MAX_NODES)
    if too_big is not None:
        return None, walker.spans, [too_big]
    walker.spans.entries[()] = Located(_span(name, node))
    try:
        data = walker.walk(node, (), 0)
    except _Hostile as hostile:
        return None, walker.spans, [*walker.diagnostics, hostile.diagnostic]
    except RecursionError:
        return None, walker.spans, [error("LR104", "nesting too deep", Span(name, 1, 1))]
    return data, walker.spans, walker.diagnostics


def config_files(path: Path) -> list[Path]:
    """The YAML files a config path stands for: the file, or a directory's ``*.yaml``/``*.yml``."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())[
            : MAX_FILES + 1
        ]
    return [path]


def display_name(path: Path) -> str:
    return os.fspath(path)


def load(path: str | os.PathLike[str]) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Load a config file or directory. Returns the document (None if unusable) and diagnostics."""
    doc, diagnostics, _texts = load_files(path)
    return doc, diagnostics


def load_files(
    path: str | os.PathLike[str],
) -> tuple[SourceDocument | None, list[Diagnostic], dict[str, str]]:
    """:func:`load`, plus the text of every file read (for rendering diagnostics)."""
    root = Path(path)
    if not root.exists():
        return (
            None,
            [
                error(
                    "LR501",
                    f"config not found: {display_name(root)}",
                    None,
                    "pass --config PATH, set LOCALROUTER_CONFIG, or run `localrouter init`",
                )
            ],
            {},
        )
    files = config_files(root)
    if root.is_dir() and not files:
        return None, [error("LR501", f"no *.yaml or *.yml files in {display_name(root)}")], {}
    if len(files) > MAX_FILES:
        return None, [error("LR107", f"more than {MAX_FILES} files in {display_name(root)}")], {}
    texts: dict[str, str] = {}
    parsed: list[tuple[str, dict[str, Any], SpanIndex]] = []
    diagnostics: list[Diagnostic] = []
    for f in files:
        name = display_name(f)
        text, problems = read_text(f, name)
        diagnostics += problems
        if text is None:
            continue
        texts[name] = text
        data, file_spans, problems = parse_text(text, name)
        diagnostics += problems
        if data is None:
            continue
        if not isinstance(data, dict):
            diagnostics.append(
                error(
                    "LR108",
                    "the top level of a config file must be a mapping of sections",
                    file_spans.span(()) or Span(name, 1, 1),
                    "start with `version: 2` and sections such as `providers:` and `clients:`",
                )
            )
            continue
        parsed.append((name, data, file_spans))
    if len(parsed) == 1:
        data, spans = dict(parsed[0][1]), parsed[0][2]
    else:
        from localrouter.config.merge import merge

        data, spans = merge(parsed, diagnostics)
    base_dir = root if root.is_dir() else root.parent
    doc = SourceDocument(data, spans, texts, root, base_dir)
    return (doc if parsed or not files else None), diagnostics, texts


__all__ = ["MAX_FILE_BYTES", "Located", "SourceDocument", "SpanIndex", "load", "parse_text"]
