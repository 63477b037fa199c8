"""Edits of the ``clients:`` section that change only the lines they must.

ruamel.yaml's round-trip loader is used to *find* things (the line and column of each client,
key and value); the edit itself is done on the text, line by line, so every comment, blank
line, quoting style and key order elsewhere stays byte for byte (a round-trip *dump* re-indents
and re-wraps). New clients follow the style of the ones already there (block or flow
``{...}``, their indentation); a value replaced keeps its quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from localrouter.errors import EditError

__all__ = ["ClientsText"]


_PLAIN_END = re.compile(r"\s+#|\s*[,}\]]|\s*$")


@dataclass
class ClientsText:
    text: str

    def __post_init__(self) -> None:
        yaml = YAML(typ="rt")
        loaded = yaml.load(self.text)
        if not isinstance(loaded, CommentedMap):
            raise EditError("the file is not a YAML mapping")
        self.root: CommentedMap = loaded
        self.lines = self.text.split("\n")

    # -- reading ---------------------------------------------------------------------------
    @property
    def has_section(self) -> bool:
        return "clients" in self.root

    def clients(self) -> CommentedMap:
        value = self.root.get("clients")
        return value if isinstance(value, CommentedMap) else CommentedMap()

    def client(self, name: str) -> CommentedMap:
        c = self.clients().get(name)
        if not isinstance(c, CommentedMap):
            raise EditError(f"no client '{name}' in this file")
        return c

    # -- edits -----------------------------------------------------------------------------
    def set_value(self, name: str, key: str, value: str) -> None:
        """Replace the scalar of ``clients.NAME.KEY`` (keeping its quotes), or add the key."""
        c = self.client(name)
        if key not in c:
            self._add_key(name, key, value)
            return
        line, col = c.lc.value(key)
        src = self.lines[line]
        quote = src[col] if col < len(src) and src[col] in "'\"" else ""
        if quote:
            end = src.index(quote, col + 1) + 1
            new = quote + value + quote
        else:
            m = _PLAIN_END.search(src, col)
            end = m.start() if m else len(src)
            new = value
        self.lines[line] = src[:col] + new + src[end:]

    def replace_key(self, name: str, old: str, key: str, value: str) -> None:
        """Replace ``clients.NAME.OLD: …`` by ``KEY: VALUE`` where it stands (a client's
        ``strategy`` becoming a ``model``, or back)."""
        c = self.client(name)
        line, kcol = c.lc.key(old)
        vline, col = c.lc.value(old)
        if vline != line:
            raise EditError(f"client '{name}': `{old}` spans several lines: edit it by hand")
        src = self.lines[line]
        if col < len(src) and src[col] in "'\"":
            end = src.index(src[col], col + 1) + 1
        else:
            m = _PLAIN_END.search(src, col)
            end = m.start() if m else len(src)
        self.lines[line] = src[:kcol] + f"{key}: {_scalar(value)}" + src[end:]

    def remove_client(self, name: str) -> None:
        self.client(name)  # EditError when there is none
        start, end = self._block(name)
        line, _col = self.root.lc.key("clients")
        last = len(self.clients()) == 1 and line < start
        del self.lines[start : end + 1]
        if last:  # `clients:` with nothing under it would be null, not an empty mapping
            key, _sep, rest = self.lines[line].partition(":")
            comment = rest[rest.index("#") :] if "#" in rest else ""
            self.lines[line] = f"{key}: {{}}" + (f"  {comment}" if comment else "")

    def add_client(self, name: str, fields: dict[str, str]) -> None:
        clients = self.clients()
        if name in clients:
            raise EditError(f"client '{name}' already exists")
        if not self.has_section or not clients:
            self._new_section(name, fields)
            return
        first = next(iter(clients))
        indent = clients.lc.key(first)[1]
        sample = clients[first]
        flow = isinstance(sample, CommentedMap) and sample.fa.flow_style()
        if flow:
            body = ", ".join(f"{k}: {_scalar(v)}" for k, v in fields.items())
            new = [f"{' ' * indent}{name}: {{{body}}}"]
        else:
            inner = indent + 2
            if isinstance(sample, CommentedMap) and sample:
                inner = sample.lc.key(next(iter(sample)))[1]
            new = [f"{' ' * indent}{name}:"]
            new += [f"{' ' * inner}{k}: {_scalar(v)}" for k, v in fields.items()]
        last = max(self._block(n)[1] for n in clients)
        self.lines[last + 1 : last + 1] = new

    def render(self) -> str:
        return "\n".join(self.lines)

    # -- where things are ------------------------------------------------------------------
    def _section_end(self) -> int:
        """The last line of the ``clients:`` section (before the next top-level key)."""
        key_line, key_col = self.root.lc.key("clients")
        for i in range(key_line + 1, len(self.lines)):
            s = self.lines[i]
            if s.strip() and not s.lstrip().startswith("#") and _indent(s) <= key_col:
                return i - 1
        return len(self.lines) - 1

    def _block(self, name: str) -> tuple[int, int]:
        """First and last line of client ``name`` (its trailing blank lines and outer comments
        excluded)."""
        clients = self.clients()
        names = list(clients)
        start, col = clients.lc.key(name)
        i = names.index(name)
        end = clients.lc.key(names[i + 1])[0] - 1 if i + 1 < len(names) else self._section_end()
        while end > start:
            s = self.lines[end]
            if s.strip() and not (s.lstrip().startswith("#") and _indent(s) <= col):
                break
            end -= 1
        return start, end

    def _add_key(self, name: str, key: str, value: str) -> None:
        c = self.client(name)
        start, end = self._block(name)
        if c.fa.flow_style():
            if start != end:
                raise EditError(
                    f"client '{name}' is a flow mapping over several lines: edit it by hand"
                )
            src = self.lines[start]
            close = src.rindex("}")
            sep = ", " if c else ""
            self.lines[start] = src[:close] + f"{sep}{key}: {_scalar(value)}" + src[close:]
            return
        col = c.lc.key(next(iter(c)))[1] if c else self.clients().lc.key(name)[1] + 2
        self.lines.insert(end + 1, f"{' ' * col}{key}: {_scalar(value)}")

    def _new_section(self, name: str, fields: dict[str, str]) -> None:
        block = [f"  {name}:", *(f"    {k}: {_scalar(v)}" for k, v in fields.items())]
        if self.has_section:  # `clients:` with nothing, or `clients: {}`
            line, _col = self.root.lc.key("clients")
            self.lines[line] = self.lines[line].split(":", 1)[0] + ":"
            self.lines[line + 1 : line + 1] = block
            return
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.lines += ["", "clients:", *block, ""]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _scalar(value: Any) -> str:
    text = str(value)
    if text in ("true", "false") or re.fullmatch(r"[A-Za-z0-9_$./@+-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
