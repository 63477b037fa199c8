"""The vocabulary of LocalRouter's CEL: declared environment, type model, parse-tree access.

- **Environment**: :data:`VARIABLES` and :data:`SCOPES` (the table users see in ``docs/cel.md``)
  and the functions an expression may call (:data:`FUNCTIONS`).
- **Types**: :class:`T`, the type the checker infers for every node, and the rules on it:
  :func:`eq_ok`, :func:`join` and the operand tables say which operand types cel-python 0.5.0
  evaluates correctly (measured, see ``docs/cel.md``): operands of one type, except that a
  ``double`` may be *compared* with an ``int`` on its right (``model.params_b >= 7``);
  ``7 <= model.params_b``, ``1 == 1.0`` and all mixed arithmetic fail or misbehave at run time.
- **Parse tree**: accessors for cel-python's lark tree (grammar ``celpy/cel.lark``) and the
  source span of a node (:func:`where`), shared by the checker and the code generator.

Data and small functions on it: nothing here parses or evaluates. The analyses over this
vocabulary are :mod:`localrouter.compiler.cel_check` (bounds, type checker), which re-exports
every name below, and :mod:`localrouter.compiler.cel` (runners, the public API).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from celpy.celtypes import DoubleType, IntType, UintType
from celpy.evaluation import celbytes, celstr
from lark import Token, Tree

# fmt: off
__all__ = [
    "ARITH", "BOOL", "BYTES", "CONVERT", "DOUBLE", "DYN", "FIELDS", "FUNCTIONS", "GLOBALS", "INT",
    "MACROS", "METHODS", "NULL", "NULLABLE", "NUMERIC", "OPS", "ORDERED", "PASS", "SCOPES",
    "STRING", "UINT", "VARIABLES", "WHOLE", "WHOLE_TYPES", "Node", "Scope", "T", "a", "eq_ok",
    "fix_positions", "items", "join", "leaves", "literal", "parse_type", "sub", "tok", "unwrap",
    "where",
]
# fmt: on

Scope = Literal["route", "filter", "mcp_rule", "skill"]

# fmt: off
VARIABLES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "request": MappingProxyType({
        "model": "string", "messages_count": "int", "estimated_tokens": "int",
        "max_tokens": "int", "has_tools": "bool", "has_images": "bool", "stream": "bool",
        "complexity": "double", "tags": "list(string)", "headers": "map(string, string)",
        "metadata": "map(string, dyn)"}),
    "client": MappingProxyType({"name": "string", "tags": "list(string)"}),
    "now": MappingProxyType({"hour": "int", "weekday": "int", "unix": "int"}),
    "model": MappingProxyType({
        "id": "string", "provider": "string", "name": "string", "input_per_mtok": "double",
        "output_per_mtok": "double", "context_window": "int", "params_b": "double",
        "kind": "string", "capabilities": "list(string)", "quality": "double",
        "healthy": "bool", "latency_ms": "double"}),
    "tool": MappingProxyType({"name": "string", "server": "string", "args": "map(string, dyn)"}),
})
"""Every CEL object variable → field → CEL type name (SPEC §1). ``model`` exists only in
filters, ``tool`` only in a strategy's MCP ``rules``."""

WHOLE: Mapping[str, str] = MappingProxyType({
    "input": "map(string, dyn)", "steps": "map(string, dyn)"})
"""Variables that are a value of one type rather than an object with declared fields: a skill's
``input`` (its arguments) and ``steps`` (step id → that step's result)."""

SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "route": ("request", "client", "now"), "filter": ("request", "client", "now", "model"),
    "mcp_rule": ("tool", "client", "now"), "skill": ("input", "steps")})
"""The variables each scope declares: a route's ``when``, a strategy's ``filter``, an MCP
rule's ``when``, a skill step's ``args`` and a skill's ``result``."""
# fmt: on


@dataclass(frozen=True)
class T:
    """A CEL type: ``name`` is bool|int|uint|double|string|bytes|null|dyn|list|map|message."""

    name: str
    args: tuple[T, ...] = ()
    msg: str = ""  # for a message: the variable it is

    def __str__(self) -> str:
        if self.name == "message":
            return self.msg
        return f"{self.name}({', '.join(map(str, self.args))})" if self.args else self.name


DYN, BOOL, INT, UINT, DOUBLE = T("dyn"), T("bool"), T("int"), T("uint"), T("double")
STRING, BYTES, NULL = T("string"), T("bytes"), T("null")


def parse_type(text: str) -> T:
    """``"map(string, dyn)"`` → ``T("map", (STRING, DYN))``."""
    head, _, rest = text.partition("(")
    if not rest:
        return T(head.strip())
    return T(head.strip(), tuple(parse_type(arg) for arg in rest[:-1].split(",")))


# fmt: off
FIELDS: Mapping[str, Mapping[str, T]] = MappingProxyType(
    {v: MappingProxyType({f: parse_type(t) for f, t in fs.items()}) for v, fs in VARIABLES.items()})
WHOLE_TYPES: Mapping[str, T] = MappingProxyType({v: parse_type(t) for v, t in WHOLE.items()})
NUMERIC = frozenset({"int", "uint", "double"})
ARITH = MappingProxyType({"+": NUMERIC | {"string", "bytes", "list"}, "-": NUMERIC,
                          "*": NUMERIC, "/": NUMERIC, "%": frozenset({"int", "uint"})})
ORDERED = NUMERIC | {"string", "bytes", "bool"}
NULLABLE = frozenset({"null", "string", "bool", "list", "map", "message"})
MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
CONVERT = MappingProxyType({"int": NUMERIC | {"string"}, "double": NUMERIC | {"string"},
                            "string": NUMERIC | {"string", "bytes"}})
METHODS = frozenset({"startsWith", "endsWith", "contains", "matches", "size"})
GLOBALS = frozenset({"size", "matches", "dyn", "has", *CONVERT})
FUNCTIONS = tuple(sorted(MACROS | METHODS | GLOBALS))
# fmt: on


def a(t: T) -> str:
    """``int`` → "an int", for messages."""
    if t.name == "message":
        return f"the object '{t.msg}'"
    return "null" if t.name == "null" else ("an " if t.name == "int" else "a ") + str(t)


def eq_ok(x: T, y: T, ne: bool = False) -> bool:
    """Can ``x == y`` (``ne``: ``x != y``) be evaluated? cel-python has no int/double or
    int/null equality, and ``!=`` between null and a list, map or object fails too."""
    if "dyn" in (x.name, y.name):
        return True
    if "null" in (x.name, y.name):
        other = (y if x.name == "null" else x).name
        return other in NULLABLE and not (ne and other in ("list", "map", "message"))
    if x.name != y.name or x.msg != y.msg:
        return False
    return all(eq_ok(p, q, ne) for p, q in zip(x.args, y.args, strict=True))


def join(x: T, y: T) -> T | None:
    """The type of ``c ? x : y`` or of a literal holding both; None when they conflict."""
    if x == y:
        return x
    if {x.name, y.name} & {"dyn", "null"}:
        return DYN
    if x.name == y.name and x.name in ("list", "map"):
        args = [join(p, q) for p, q in zip(x.args, y.args, strict=True)]
        return T(x.name, tuple(t for t in args if t)) if all(args) else None
    return None


def literal(token: Token) -> tuple[T, object]:
    """The type and value of a literal token; ValueError when cel-python cannot build it."""
    kind = token.type
    if kind == "INT_LIT":
        return INT, IntType(token.value)
    if kind == "UINT_LIT":
        return UINT, UintType(token.value[:-1])
    if kind == "FLOAT_LIT":
        return DOUBLE, DoubleType(token.value)
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        return STRING, celstr(token)
    if kind == "BYTES_LIT":
        return BYTES, celbytes(token)
    return (BOOL, token.value == "true") if kind == "BOOL_LIT" else (NULL, None)


# ---------------------------------------------------------------- cel-python's parse tree

Node = Tree[Token]
# fmt: off
PASS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition",
                  "multiplication", "unary", "member", "primary"})
OPS = MappingProxyType({
    "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "relation_in": "in", "addition_add": "+",
    "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "/",
    "multiplication_mod": "%"})
# fmt: on
_BOOL_OR_COMMENT = re.compile(r"//[^\n]*|\b(?:true|false)\b")


def sub(node: Node, i: int) -> Node:
    child = node.children[i]
    assert isinstance(child, Tree)
    return child


def tok(node: Node, i: int) -> Token:
    child = node.children[i]
    assert isinstance(child, Token)
    return child


def items(node: Node, i: int) -> list[Node]:
    """The trees of an optional ``exprlist``/``mapinits`` child (none when it is absent)."""
    kids = sub(node, i).children if len(node.children) > i else []
    return [c for c in kids if isinstance(c, Tree)]


def unwrap(node: Node) -> Node:
    """Skip the grammar's one-child chains (not parentheses)."""
    while node.data in PASS and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    return node


def leaves(tree: Node) -> Iterator[Token]:
    """The tokens of a tree in source order, without recursion."""
    stack: list[Node | Token] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            yield node
        else:
            stack.extend(reversed(node.children))


def fix_positions(tree: Node, source: str) -> None:
    """cel-python's lexer callback rebuilds ``true``/``false`` tokens without positions."""
    cursor = 0
    for token in leaves(tree):
        if token.start_pos is None:
            for m in _BOOL_OR_COMMENT.finditer(source, cursor):
                if m.group(0) == token.value:
                    token.start_pos, token.end_pos = m.start(), m.end()
                    break
        cursor = token.end_pos or cursor


def where(source: str, node: Node | Token) -> tuple[int, int, int]:
    """(line, col, length) of a node, cut at the end of its first line; (1, 1, 1) if unknown."""
    parts = [node] if isinstance(node, Token) else [*leaves(node), node.meta]
    spans = [(getattr(p, "start_pos", None), getattr(p, "end_pos", None)) for p in parts]
    known = [(s, e) for s, e in spans if s is not None and e is not None]
    if not known:
        return 1, 1, 1
    start, end = min(s for s, _ in known), max(e for _, e in known)
    nl, line_start = source.find("\n", start, end), source.rfind("\n", 0, start) + 1
    return (
        source.count("\n", 0, start) + 1,
        start - line_start + 1,
        max(1, (end if nl < 0 else nl) - start),
    )
