"""How far a composed YAML document expands through its aliases, checked before any value is built.

An alias (``*name``) repeats its anchor's whole value, so a few lines can stand for billions of
values ("billion laughs"), and an alias inside its own anchor (``z: &b [*b]``) for an endless
one. :func:`expanded_size` walks the node graph once, counting each node's expanded size once
(memoised), so both are refused in time proportional to the text, not to the expansion: about a
millisecond for either.
"""

from __future__ import annotations

import re

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from localrouter.diagnostics import Diagnostic, Span, error

_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")


def _span(name: str, node: Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(name, s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def _recursive(name: str, lines: list[str], node: Node) -> Diagnostic:
    """An anchor that contains an alias to itself (the C composer keeps no anchor names: the
    name is read back from the text at the node's start)."""
    mark = node.start_mark
    text = lines[mark.line][mark.column :] if mark.line < len(lines) else ""
    found = _ANCHOR.match(text)
    shown = f" '&{found.group(1)}'" if found else ""
    return error(
        "LR103",
        f"recursive alias: the anchor{shown} contains an alias to itself",
        _span(name, node),
        "an alias (*name) cannot repeat the value it sits in; write the value out",
    )


def expanded_size(root: Node, name: str, lines: list[str], limit: int) -> Diagnostic | None:
    """LR103 when the document under ``root`` expands to more than ``limit`` values, or holds an
    alias inside its own anchor (a cycle in the node graph); None when it is fine. ``lines``: the
    file's text, for the anchor's name."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted: the current path
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            if id(node) in open_:  # reached again below itself
                return _recursive(name, lines, node)
            open_.add(id(node))
            stack.append((node, True))
            for c in children:
                if id(c) in open_:
                    return _recursive(name, lines, c)
                if id(c) not in sizes:
                    stack.append((c, False))
            continue
        open_.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        if sizes[id(node)] > limit:
            return error(
                "LR103",
                f"document expands to more than {limit:,} values",
                _span(name, node),
                "a config is far smaller; if it uses aliases (*name), each one repeats "
                "its whole anchor: use fewer",
            )
    return None
