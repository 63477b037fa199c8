"""Span-addressed edits of one key of a YAML mapping, anywhere in a file.

The generalisation of :mod:`localrouter.config.edit` (which knows the ``clients:`` section):
ruamel.yaml's round-trip loader *finds* the key (its line and column, and where its value
ends); the edit is made on the text, so every line outside the value replaced — comments, blank
lines, quoting, key order — stays byte for byte. The new value is written in the style of the old
one: a block list stays a block list (one item a line, each item in flow style), anything else
is written on the key's line in flow style (``[a, b]``, ``{k: v}``). Comments *inside* the value
replaced go with it; the caller shows the diff before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from localrouter.errors import EditError

__all__ = ["flow", "set_key"]

_PLAIN = re.compile(r"[A-Za-z0-9_$./@+][A-Za-z0-9_$./@+-]*")
_NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0[xob][0-9a-fA-F_]+"
)
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def flow(value: Any) -> str:
    """``value`` as one line of YAML flow style (strings quoted only where they must be)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else f"{value:g}"
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and not _NUMBER.fullmatch(value)
        if plain and value.lower() not in _RESERVED:
            return value
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


class _Doc:
    def __init__(self, text: str) -> None:
        loaded = YAML(typ="rt").load(text)
        if not isinstance(loaded, CommentedMap):
            raise EditError("the file is not a YAML mapping")
        self.root = loaded
        self.lines = text.split("\n")

    def parent(self, path: Sequence[str]) -> CommentedMap:
        node: Any = self.root
        for i, key in enumerate(path):
            node = node.get(key) if isinstance(node, CommentedMap) else None
            if not isinstance(node, CommentedMap):
                raise EditError(f"'{'.'.join(path[: i + 1])}' is not a mapping in this file")
        found: CommentedMap = node
        return found

    def block_end(self, start: int, col: int, seq_at_col: bool) -> int:
        """The last line of the block that starts on line ``start`` at indent ``col``."""
        end = start
        for i in range(start + 1, len(self.lines)):
            s = self.lines[i]
            if not _content(s):
                continue
            ind = _indent(s)
            if ind > col or (seq_at_col and ind == col and s.lstrip().startswith("- ")):
                end = i
                continue
            break
        return end


def set_key(text: str, path: Sequence[str], key: str, value: Any) -> str:
    """``text`` with ``PATH.KEY`` set to ``value`` (None: the key removed). Raises
    :class:`EditError` when the file's shape does not allow it (then edit it by hand)."""
    doc = _Doc(text)
    parent = doc.parent(path)
    lines = doc.lines
    if parent.fa.flow_style():
        return _in_flow(doc, parent, ".".join(path), key, value)
    if key not in parent:
        if value is None:
            return text
        keys = list(parent)
        if not keys:
            raise EditError(f"'{'.'.join(path)}' is empty: edit it by hand")
        col = parent.lc.key(keys[0])[1]
        last_line, last_col = parent.lc.key(keys[-1])
        end = doc.block_end(last_line, last_col, isinstance(parent[keys[-1]], CommentedSeq))
        lines[end + 1 : end + 1] = _render(key, value, col, block=False)
        return "\n".join(lines)
    line, col = parent.lc.key(key)
    old = parent[key]
    block = isinstance(old, CommentedSeq | CommentedMap) and not old.fa.flow_style()
    if block:
        end = doc.block_end(line, col, isinstance(old, CommentedSeq))
    else:
        vline, _vcol = parent.lc.value(key)
        if vline != line and not isinstance(old, CommentedSeq | CommentedMap):
            raise EditError(f"'{'.'.join([*path, key])}' spans several lines: edit it by hand")
        end = doc.block_end(line, col, False) if vline != line else line
        if end != line:
            raise EditError(f"'{'.'.join([*path, key])}' spans several lines: edit it by hand")
    if value is None:
        del lines[line : end + 1]
        return "\n".join(lines)
    head = lines[line]
    comment = ""
    if not block:  # keep a comment after a one-line value
        m = re.search(r"\s+#.*$", head[head.index(":", col) :])
        comment = m.group(0) if m and _balanced(head[: head.index(":", col) + m.start()]) else ""
    item_col = None
    if block and isinstance(old, CommentedSeq) and len(old):
        item_col = old.lc.item(0)[1] - 2 if old.lc.item(0)[1] >= 2 else col + 2
    new = _render(key, value, col, block=block and isinstance(value, list), item_col=item_col)
    new[0] += comment
    lines[line : end + 1] = new
    return "\n".join(lines)


def _balanced(s: str) -> bool:
    return s.count('"') % 2 == 0 and s.count("'") % 2 == 0


def _render(
    key: str, value: Any, col: int, *, block: bool, item_col: int | None = None
) -> list[str]:
    pad = " " * col
    if block and isinstance(value, list) and value:
        ipad = " " * (item_col if item_col is not None else col + 2)
        return [f"{pad}{flow(key)}:", *(f"{ipad}- {flow(v)}" for v in value)]
    return [f"{pad}{flow(key)}: {flow(value)}"]


def _in_flow(doc: _Doc, parent: CommentedMap, where: str, key: str, value: Any) -> str:
    """``key`` set in a flow mapping ``{…}`` written on one line (its other bytes kept)."""
    keys = list(parent)
    rows = {parent.lc.key(k)[0] for k in keys} | {parent.lc.value(k)[0] for k in keys}
    if not keys or len(rows) != 1:
        raise EditError(f"'{where}' is a flow mapping {{…}} that is empty or over several lines: "
                        "edit it by hand")  # fmt: skip
    n = rows.pop()
    line = doc.lines[n]
    if key in parent:
        start = parent.lc.value(key)[1]
        end = _flow_end(line, start)
        if value is not None:
            line = line[:start] + flow(value) + line[end:]
        else:
            begin, after = parent.lc.key(key)[1], end
            if after < len(line) and line[after] == ",":  # not the last: drop its comma too
                after += 1
                while after < len(line) and line[after] == " ":
                    after += 1
            elif keys.index(key) > 0:  # the last: drop the comma before it
                begin = line.rindex(",", 0, begin)
            line = line[:begin] + line[after:]
    elif value is not None:
        last = keys[-1]
        close = _flow_end(line, parent.lc.value(last)[1])
        line = line[:close] + f", {flow(key)}: {flow(value)}" + line[close:]
    doc.lines[n] = line
    return "\n".join(doc.lines)


def _flow_end(line: str, start: int) -> int:
    """Where the flow value starting at ``start`` ends: the ``,`` or closing bracket after it at
    its own depth (trailing blanks excluded)."""
    depth, i = 0, start
    while i < len(line):
        c = line[i]
        if c == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
        elif c == "'":
            i += 1
            while i < len(line) and not (line[i] == "'" and line[i + 1 : i + 2] != "'"):
                i += 2 if line[i] == "'" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}" or (c == "," and depth == 0):
            if depth == 0:
                break
            depth -= 1
        i += 1
    while i > start and line[i - 1] == " ":
        i -= 1
    return i
