"""Static side of LocalRouter's CEL: declared variables, problems, bounds and a type checker.

cel-python parses CEL but never type-checks it, so :func:`check` walks the lark parse tree
(grammar: ``celpy/cel.lark``) with a small type inference over :data:`VARIABLES`. The operand
rules are those cel-python 0.5.0 evaluates correctly (measured, see ``docs/cel.md``): operands of
one type, except that a ``double`` may be *compared* with an ``int`` on its right
(``model.params_b >= 7``); ``7 <= model.params_b``, ``1 == 1.0`` and all mixed arithmetic fail or
misbehave at run time, so they are LR403 here. :func:`bounds` runs first and is iterative, so the
recursive checker (and later cel-python's recursive evaluator) only ever sees bounded trees.
The runtime half is :mod:`localrouter.compiler.cel`, which re-exports the public names below.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import re2  # type: ignore[import-untyped]  # google-re2: the engine of CEL's matches()
from celpy.celtypes import DoubleType, IntType, UintType
from celpy.evaluation import celbytes, celstr
from lark import Token, Tree

Scope = Literal["route", "filter"]
Node = Tree[Token]

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
})
"""Every CEL variable → field → CEL type name (SPEC §1). ``model`` exists only in filters."""

SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "route": ("request", "client", "now"), "filter": ("request", "client", "now", "model")})
"""The variables each scope declares: a route's ``when`` and a strategy's ``filter``."""
# fmt: on

MAX_SOURCE_CHARS = 4000  # characters of CEL text
MAX_AST_DEPTH = 100  # parse-tree depth: ~8 nested parentheses or calls (bounds recursion)
MAX_AST_NODES = 1500  # parse-tree nodes: a typical 150-character condition has ~130
MAX_COMPREHENSION_NESTING = 1  # no exists/all/exists_one/map/filter inside another one's body


@dataclass(frozen=True)
class CelProblem:
    """One problem in one expression; positions are 1-based within the expression text.

    ``length`` counts characters to underline on ``line`` (a span that continues on later lines
    is cut at the end of its first line). Codes: LR401 syntax; LR402 unknown variable, field or
    function; LR403 type error; LR404 over a bound.
    """

    code: str
    message: str
    line: int
    col: int
    length: int
    help: str | None = None


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
PASS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition",
                  "multiplication", "unary", "member", "primary"})
OPS = MappingProxyType({
    "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "relation_in": "in", "addition_add": "+",
    "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "/",
    "multiplication_mod": "%"})
# fmt: on


def a(t: T) -> str:
    """``int`` → "an int", for messages."""
    if t.name == "message":
        return f"the object '{t.msg}'"
    return "null" if t.name == "null" else ("an " if str(t)[0] in "aeiou" else "a ") + str(t)


def eq_ok(x: T, y: T) -> bool:
    """Can ``x == y`` be evaluated (cel-python has no int/double or int/null equality)?"""
    if "dyn" in (x.name, y.name):
        return True
    if "null" in (x.name, y.name):
        return (y if x.name == "null" else x).name in NULLABLE
    if x.name != y.name or x.msg != y.msg:
        return False
    return all(eq_ok(p, q) for p, q in zip(x.args, y.args, strict=True))


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
    return (
        [c for c in sub(node, i).children if isinstance(c, Tree)] if len(node.children) > i else []
    )


def unwrap(node: Node) -> Node:
    """Skip the grammar's one-child chains (not parentheses)."""
    while node.data in PASS and len(node.children) == 1 and isinstance(node.children[0], Tree):
        node = node.children[0]
    return node


def macro_name(node: Node) -> Token | None:
    """The IDENT of ``target.exists(...)``-style comprehensions."""
    if node.data == "member_dot_arg" and tok(node, 1).value in MACROS:
        return tok(node, 1)
    return None


def walk(tree: Node) -> Iterator[tuple[Node, int, int]]:
    """Every node with its depth (root 1) and comprehension nesting, without recursion."""
    stack = [(tree, 1, 0, False)]
    while stack:
        node, depth, nest, body_list = stack.pop()
        yield node, depth, nest
        is_macro = macro_name(node) is not None
        for i, child in enumerate(node.children):
            if isinstance(child, Tree):  # a macro's exprlist: its 2nd item is the body
                inner = nest + 1 if body_list and i >= 1 else nest
                stack.append((child, depth + 1, inner, is_macro and i == 2))


def where(source: str, node: Node | Token) -> tuple[int, int, int]:
    """(line, col, length) of a node, cut at the end of its first line; (1, 1, 1) if unknown."""
    if isinstance(node, Token):
        start, end, line, col = node.start_pos, node.end_pos, node.line, node.column
    elif node.meta.empty:
        return 1, 1, 1
    else:
        m = node.meta
        start, end, line, col = m.start_pos, m.end_pos, m.line, m.column
    if start is None or end is None or line is None or col is None:
        return 1, 1, 1
    nl = source.find("\n", start, end)
    return line, col, max(1, (end if nl < 0 else nl) - start)


def bounds(tree: Node, source: str) -> tuple[list[CelProblem], bool]:
    """LR404 for a tree that is too deep, too big, or nests comprehensions (no recursion).

    The flag says the tree is too deep or too big to be walked recursively at all.
    """
    problems: list[CelProblem] = []
    nodes, deep = 0, None
    for node, depth, nest in walk(tree):
        nodes += 1
        if depth > MAX_AST_DEPTH and deep is None:
            deep = node
        name = macro_name(node)
        if name is not None and nest + 1 > MAX_COMPREHENSION_NESTING:
            problems.append(
                CelProblem(
                    "LR404",
                    f"'{name}' is nested inside another comprehension (the limit is "
                    f"{MAX_COMPREHENSION_NESTING} level)",
                    *where(source, name),
                    help="nested comprehensions cost the product of the list sizes: test the inner "
                    "list once, outside the outer comprehension",
                )
            )
    if deep is not None:
        problems.append(
            CelProblem(
                "LR404",
                f"expression is nested too deeply (parse-tree depth over {MAX_AST_DEPTH})",
                *where(source, deep),
                "remove redundant parentheses or split it into several routes",
            )
        )
    if nodes > MAX_AST_NODES:
        problems.append(
            CelProblem(
                "LR404",
                f"expression is too large ({nodes} parse-tree nodes, the limit is {MAX_AST_NODES})",
                *where(source, tree),
                "split it into several routes",
            )
        )
    return problems, deep is not None or nodes > MAX_AST_NODES


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


@dataclass
class Checker:
    """Infers the type of every node of a bounded tree, collecting problems as it goes."""

    source: str
    scope: Scope
    problems: list[CelProblem] = field(default_factory=list)
    local: list[tuple[str, T]] = field(default_factory=list)
    uses_has: bool = False
    names: set[str] = field(default_factory=set)  # comprehension variables

    def err(self, code: str, message: str, at: Node | Token, help: str | None = None) -> T:
        self.problems.append(CelProblem(code, message, *where(self.source, at), help=help))
        return DYN

    def check(self, node: Node) -> T:
        if (node.data in PASS and len(node.children) == 1) or node.data == "paren_expr":
            return self.check(sub(node, 0))
        method = getattr(self, "n_" + node.data, None)
        if method is None:
            return self.err("LR403", f"'{node.data}' expressions are not supported", node)
        result: T = method(node)
        return result

    def want(self, node: Node, ok: set[str] | frozenset[str], what: str) -> T:
        t = self.check(node)
        if t.name != "dyn" and t.name not in ok:
            self.err("LR403", f"{what}, this one is {a(t)}", node)
        return t

    def n_expr(self, node: Node) -> T:
        self.want(sub(node, 0), {"bool"}, "the condition of '?:' must be a boolean")
        yes, no = self.check(sub(node, 1)), self.check(sub(node, 2))
        return join(yes, no) or self.err(
            "LR403", f"the branches of '?:' differ: {a(yes)} and {a(no)}", node
        )

    def n_conditionalor(self, node: Node, op: str = "||") -> T:
        self.want(sub(node, 0), {"bool"}, f"the left operand of '{op}' must be a boolean")
        self.want(sub(node, 1), {"bool"}, f"the right operand of '{op}' must be a boolean")
        return BOOL

    def n_conditionaland(self, node: Node) -> T:
        return self.n_conditionalor(node, "&&")

    def n_relation(self, node: Node) -> T:
        op, left, right = OPS[sub(node, 0).data], sub(sub(node, 0), 0), sub(node, 1)
        lt, rt = self.check(left), self.check(right)
        if op == "in":
            self.header_case(left, right)
            if rt.name in ("list", "map") and not eq_ok(lt, rt.args[0]):
                self.err("LR403", f"{a(lt)} is never in {a(rt)}", node)
            elif rt.name not in ("list", "map", "dyn"):
                self.err(
                    "LR403",
                    f"'in' needs a list or a map on its right, this is {a(rt)}",
                    right,
                    "use s.contains(x) for a substring" if rt == STRING else None,
                )
            return BOOL
        ok = (
            eq_ok(lt, rt)
            if op in ("==", "!=")
            else (
                "dyn" in (lt.name, rt.name)
                or (lt == rt and lt.name in ORDERED)
                or (lt, rt) == (DOUBLE, INT)
            )
        )
        if not ok:
            self.mixed(f"cannot compare {a(lt)} with {a(rt)} using '{op}'", node, left, lt, rt)
        return BOOL

    def mixed(self, msg: str, node: Node, left: Node, lt: T, rt: T) -> None:
        """A type mismatch; for an int against a double, say how to write it."""
        if {lt.name, rt.name} != {"int", "double"}:
            self.err("LR403", msg, node)
            return
        side = unwrap(left if lt == INT else sub(node, 1))
        msg += " (cel-python has no overload for it)"
        if side.data == "literal" and tok(side, 0).value.lstrip("-").isdigit():
            self.err("LR403", msg, side, f"write {tok(side, 0).value}.0 to use a double")
        else:
            self.err("LR403", msg, node, "convert the int side with double(...)")

    def n_addition(self, node: Node) -> T:
        op, left, right = OPS[sub(node, 0).data], sub(sub(node, 0), 0), sub(node, 1)
        lt, rt = self.check(left), self.check(right)
        bad = next((t for t in (lt, rt) if t.name != "dyn" and t.name not in ARITH[op]), None)
        if bad is not None:
            return self.err("LR403", f"'{op}' is not defined on {a(bad)}", node)
        if "dyn" in (lt.name, rt.name):
            return DYN
        joined = join(lt, rt) if lt.name == rt.name else None
        if joined is None:
            self.mixed(f"cannot apply '{op}' to {a(lt)} and {a(rt)}", node, left, lt, rt)
        return joined or DYN

    n_multiplication = n_addition

    def n_unary(self, node: Node) -> T:
        if sub(node, 0).data == "unary_not":
            self.want(sub(node, 1), {"bool"}, "'!' needs a boolean")
            return BOOL
        return self.want(sub(node, 1), {"int", "double"}, "'-' needs an int or a double")

    def n_member_dot(self, node: Node) -> T:
        return self.select(self.check(sub(node, 0)), node)

    def select(self, bt: T, node: Node) -> T:
        """The type of ``base.name`` (``node`` is the member_dot) given the base's type."""
        name = tok(node, 1)
        if bt.name == "message":
            fields = FIELDS[bt.msg]
            if name.value in fields:
                return fields[name.value]
            close = difflib.get_close_matches(name.value, list(fields), n=1)
            return self.err(
                "LR402",
                f"'{bt.msg}' has no field '{name.value}'",
                name,
                f"did you mean '{bt.msg}.{close[0]}'?"
                if close
                else f"'{bt.msg}' has: {', '.join(fields)}",
            )
        if bt.name == "map":
            if bt.args[0].name not in ("string", "dyn"):
                self.err("LR403", f"'.{name.value}' needs string keys, this is {a(bt)}", name)
            self.header_case(None, sub(node, 0), name)
            return bt.args[1]
        if bt.name != "dyn":
            self.err("LR403", f"{a(bt)} has no fields (selecting '{name.value}')", name)
        return DYN

    def header_case(self, key: Node | None, box: Node, dotted: Token | None = None) -> None:
        """``request.headers['X-Team']`` never matches: header names are lower-cased."""
        box = unwrap(box)
        if not (
            box.data == "member_dot"
            and tok(box, 1).value == "headers"
            and unwrap(sub(box, 0)).data == "ident"
            and tok(unwrap(sub(box, 0)), 0).value == "request"
        ):
            return
        text: str | None = dotted.value if dotted is not None else None
        at: Node | Token | None = dotted
        if key is not None and (k := unwrap(key)).data == "literal":
            try:
                text, at = str(literal(tok(k, 0))[1]), k
            except ValueError:
                return
        if text is not None and at is not None and text != text.lower():
            self.err(
                "LR402",
                f"header names are lower-cased: '{text}' never matches",
                at,
                f"write request.headers['{text.lower()}']",
            )

    def n_member_index(self, node: Node) -> T:
        bt, it = self.check(sub(node, 0)), self.check(sub(node, 1))
        self.header_case(sub(node, 1), sub(node, 0))
        if bt.name == "list":
            if it.name not in ("int", "dyn"):
                self.err("LR403", f"a list index must be an int, this is {a(it)}", sub(node, 1))
            return bt.args[0]
        if bt.name == "map":
            if not eq_ok(it, bt.args[0]):
                self.err("LR403", f"{a(bt)} has no key of type {it}", sub(node, 1))
            return bt.args[1]
        if bt.name != "dyn":
            self.err(
                "LR403",
                f"{a(bt)} cannot be indexed",
                node,
                f"write {bt.msg}.<field>" if bt.name == "message" else None,
            )
        return DYN

    def n_member_object(self, node: Node) -> T:
        return self.err("LR403", "object construction (Type{...}) is not supported", node)

    def n_literal(self, node: Node) -> T:
        try:
            return literal(tok(node, 0))[0]
        except ValueError as ex:
            return self.err("LR403", f"invalid literal: {ex}", node)

    def n_list_lit(self, node: Node) -> T:
        return T("list", (self.same(items(node, 0), "list elements"),))

    def n_map_lit(self, node: Node) -> T:
        pairs = items(node, 0)
        keys = self.same(pairs[0::2], "map keys")
        if keys.name not in ("string", "int", "uint", "bool", "dyn"):
            self.err("LR403", f"map keys must be strings, ints or bools, not {keys}", node)
        return T("map", (keys, self.same(pairs[1::2], "map values")))

    def same(self, nodes: list[Node], what: str) -> T:
        """The common type of literal elements; LR403 where one differs."""
        common: T | None = None
        for node in nodes:
            t = self.check(node)
            joined = t if common is None else join(common, t)
            if joined is None and common is not None:
                self.err("LR403", f"{what} differ: {a(common)} and {a(t)}", node)
            common = joined or DYN
        return common or DYN

    def n_ident(self, node: Node, root: bool = False) -> T:
        name = tok(node, 0)
        for local, t in reversed([] if root else self.local):
            if local == name.value:
                return t
        if name.value in SCOPES[self.scope]:
            return T("message", msg=name.value)
        if name.value == "model":
            return self.err(
                "LR402",
                "'model' is not available in a route's 'when'",
                name,
                "'model' exists only in a strategy's 'filter'",
            )
        known = [n for n, _ in self.local] + list(SCOPES[self.scope])
        close = difflib.get_close_matches(name.value, known, n=1)
        return self.err(
            "LR402",
            f"unknown variable '{name.value}'",
            name,
            f"did you mean '{close[0]}'?"
            if close
            else f"the variables here are: {', '.join(SCOPES[self.scope])}",
        )

    def n_dot_ident(self, node: Node) -> T:
        return self.n_ident(node, root=True)

    def n_ident_arg(self, node: Node) -> T:
        return self.call(tok(node, 0), None, items(node, 1), node)

    n_dot_ident_arg = n_ident_arg

    def n_member_dot_arg(self, node: Node) -> T:
        if macro_name(node) is not None:
            return self.macro(tok(node, 1), sub(node, 0), items(node, 2), node)
        return self.call(tok(node, 1), sub(node, 0), items(node, 2), node)

    def macro(self, name: Token, base: Node, args: list[Node], node: Node) -> T:
        bt = self.check(base)
        var = unwrap(args[0]) if len(args) == 2 else None
        if var is None or var.data != "ident":
            return self.err(
                "LR403",
                f"{name}() takes a variable name and an expression",
                node,
                f"write list.{name}(x, <expression using x>)",
            )
        if bt.name not in ("list", "map", "dyn"):
            self.err("LR403", f"{name}() needs a list or a map, this is {a(bt)}", base)
        self.names.add(tok(var, 0).value)
        elem = bt.args[0] if bt.name in ("list", "map") else DYN
        self.local.append((tok(var, 0).value, elem))
        body = self.check(args[1])
        self.local.pop()
        if name.value == "map":
            return T("list", (body,))
        if body.name not in ("bool", "dyn"):
            self.err(
                "LR403", f"the body of {name}() must be a boolean, this one is {a(body)}", args[1]
            )
        return T("list", (elem,)) if name.value == "filter" else BOOL

    def call(self, name: Token, base: Node | None, args: list[Node], node: Node) -> T:
        fn = name.value
        if fn not in (METHODS if base is not None else GLOBALS):
            close = difflib.get_close_matches(fn, FUNCTIONS, n=1)
            kind = "method" if base is not None and fn not in FUNCTIONS else "function"
            return self.err(
                "LR402",
                f"unknown {kind} '{fn}'"
                + ("" if fn not in FUNCTIONS else f" in the form {'x.' if base else ''}{fn}(...)"),
                name,
                f"did you mean '{close[0]}'?"
                if close and close[0] != fn
                else f"the functions are: {', '.join(FUNCTIONS)}",
            )
        if fn == "has":
            return self.has(args, node)
        operands = ([base] if base is not None else []) + args
        want = 2 if fn in ("startsWith", "endsWith", "contains", "matches") else 1
        if len(operands) != want:
            return self.err(
                "LR403",
                f"{fn}() takes {want - (base is not None)} argument(s), got {len(args)}",
                node,
            )
        types = [self.check(x) for x in operands]
        if fn == "dyn":
            return DYN
        if fn in CONVERT:
            if types[0].name not in CONVERT[fn] | {"dyn"}:
                self.err(
                    "LR403",
                    f"{fn}() does not accept {a(types[0])}",
                    node,
                    "compare the boolean directly" if types[0] == BOOL else None,
                )
            return INT if fn == "int" else DOUBLE if fn == "double" else STRING
        if fn == "size":
            if types[0].name not in ("string", "bytes", "list", "map", "dyn"):
                self.err("LR403", f"size() needs a string, list or map, not {a(types[0])}", node)
            return INT
        for operand, t in zip(operands, types, strict=True):
            if t.name not in ("string", "dyn"):
                self.err(
                    "LR403",
                    f"{fn}() works on strings, this is {a(t)}",
                    operand,
                    "use 'x in list' for membership" if t.name == "list" else None,
                )
        pattern = unwrap(operands[1])
        if fn == "matches" and pattern.data == "literal" and types[1] == STRING:
            self.regex(pattern)
        return BOOL

    def regex(self, pattern: Node) -> None:
        options = re2.Options()
        options.log_errors = False
        try:
            re2.compile(str(literal(tok(pattern, 0))[1]), options)
        except re2.error as ex:
            detail = ex.args[0].decode() if isinstance(ex.args[0], bytes) else str(ex.args[0])
            self.err("LR403", f"invalid regular expression (RE2 syntax): {detail}", pattern)

    def has(self, args: list[Node], node: Node) -> T:
        self.uses_has = True
        selection = unwrap(args[0]) if len(args) == 1 else None
        if selection is None or selection.data != "member_dot":
            return self.err(
                "LR403",
                "has() needs a field selection",
                node,
                "write has(model.params_b) or has(request.metadata.team)",
            )
        bt = self.check(sub(selection, 0))
        if bt.name not in ("message", "map", "dyn"):
            return self.err(
                "LR403", f"has() needs a field of an object or a map, not {a(bt)}", selection
            )
        self.select(bt, selection)
        return BOOL


def check(tree: Node, source: str, scope: Scope) -> Checker:
    """Type-check a bounded tree; ``.problems`` says what is wrong, ``.uses_has`` and
    ``.names`` (comprehension variables) let the caller choose a runner."""
    checker = Checker(source, scope)
    result = checker.check(tree)
    if result.name not in ("bool", "dyn"):
        checker.err("LR403", f"expression must be a boolean, this one is {a(result)}", tree)
    return checker
