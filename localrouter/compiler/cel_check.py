"""Static side of LocalRouter's CEL: problems, bounds and a type checker.

cel-python parses CEL but never type-checks it, so :func:`check` walks the lark parse tree
(grammar: ``celpy/cel.lark``) and infers a type for every node over the declared variables,
functions and operand rules of :mod:`localrouter.compiler.cel_types` (re-exported here).
:func:`bounds` runs first and is iterative, so the recursive checker (and later cel-python's
recursive evaluator) only ever sees bounded trees. The runtime half is
:mod:`localrouter.compiler.cel`, which re-exports the public names callers use.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

import re2  # type: ignore[import-untyped]  # google-re2: the engine of CEL's matches()
from lark import Token, Tree

from localrouter.compiler.cel_types import *  # noqa: F403  # re-exported: importable from here too
from localrouter.compiler.cel_types import (
    ARITH,
    BOOL,
    CONVERT,
    DOUBLE,
    DYN,
    FIELDS,
    FUNCTIONS,
    GLOBALS,
    INT,
    MACROS,
    METHODS,
    OPS,
    ORDERED,
    PASS,
    SCOPES,
    STRING,
    WHOLE_TYPES,
    Node,
    Scope,
    T,
    a,
    eq_ok,
    items,
    join,
    literal,
    sub,
    tok,
    unwrap,
    where,
)

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


def suggest(word: str, options: Iterable[str], prefix: str = "") -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean '{prefix}{close[0]}'?" if close and close[0] != word else None


def macro_name(node: Node) -> Token | None:
    """The IDENT of a comprehension such as ``target.exists(x, body)``."""
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


def bounds(tree: Node, source: str) -> tuple[list[CelProblem], bool]:
    """LR404 for a tree that is too deep, too big, or nests comprehensions (no recursion).

    The flag says the tree is too deep or too big to be walked recursively at all.
    """
    problems: list[CelProblem] = []
    nodes, deep = 0, None
    for node, depth, nest in walk(tree):
        nodes += 1
        deep = node if depth > MAX_AST_DEPTH and deep is None else deep
        name = macro_name(node)
        if name is not None and nest + 1 > MAX_COMPREHENSION_NESTING:
            msg = f"'{name}' is nested inside another comprehension (the limit is "
            msg += f"{MAX_COMPREHENSION_NESTING} level)"
            why = "nesting costs the product of the list sizes: test the inner list outside"
            problems.append(CelProblem("LR404", msg, *where(source, name), why))
    if deep is not None:
        msg = f"expression is nested too deeply (parse-tree depth over {MAX_AST_DEPTH})"
        msg += ": too many nested brackets, calls or chained operators"
        why = "remove redundant parentheses or split it into several routes"
        problems.append(CelProblem("LR404", msg, *where(source, deep), why))
    if nodes > MAX_AST_NODES:
        msg = f"expression is too large ({nodes} parse-tree nodes, the limit is {MAX_AST_NODES})"
        problems.append(CelProblem("LR404", msg, *where(source, tree), "split it into routes"))
    return problems, deep is not None or nodes > MAX_AST_NODES


@dataclass
class Checker:
    """Infers the type of every node of a bounded tree, collecting problems as it goes."""

    source: str
    scope: Scope
    problems: list[CelProblem] = field(default_factory=list)
    local: list[tuple[str, T]] = field(default_factory=list)
    has_calls: list[Node] = field(default_factory=list)  # for the has() rewrite (cel.py)
    dyn_access: bool = False  # a field or method of a dyn value: transpiled, it may raise
    names: set[str] = field(default_factory=set)  # comprehension variables
    # some value is typed dyn (metadata, dyn(), mixed literals): engines may differ on it
    saw_dyn: bool = False
    result: T | None = None  # the type of the whole expression, once checked

    def err(self, at: Node | Token, msg: str, help: str | None = None, code: str = "LR403") -> T:
        self.problems.append(CelProblem(code, msg, *where(self.source, at), help))
        return DYN

    def check(self, node: Node) -> T:
        if (node.data in PASS and len(node.children) == 1) or node.data == "paren_expr":
            return self.check(sub(node, 0))
        method = getattr(self, "n_" + node.data, None)
        if method is None:
            return self.err(node, f"'{node.data}' expressions are not supported")
        result: T = method(node)
        if result.name == "dyn":  # a map(string, dyn) is fine until a value is taken from it
            self.saw_dyn = True
        return result

    def want(self, node: Node, ok: Collection[str], what: str) -> T:
        t = self.check(node)
        if t.name != "dyn" and t.name not in ok:
            self.err(node, f"{what}, this one is {a(t)}")
        return t

    def n_expr(self, node: Node) -> T:
        self.want(sub(node, 0), {"bool"}, "the condition of '?:' must be a boolean")
        yes, no = self.check(sub(node, 1)), self.check(sub(node, 2))
        return join(yes, no) or self.err(node, f"the branches of '?:' differ: {a(yes)}, {a(no)}")

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
                self.err(node, f"{a(lt)} is never in {a(rt)}")
            elif rt.name not in ("list", "map", "dyn"):
                hint = "use s.contains(x) for a substring" if rt == STRING else None
                self.err(right, f"'in' needs a list or a map on its right, not {a(rt)}", hint)
            return BOOL
        if op in ("==", "!="):
            ok = eq_ok(lt, rt, op == "!=")
        else:
            ok = "dyn" in (lt.name, rt.name) or (lt == rt and lt.name in ORDERED)
            ok = ok or (lt, rt) == (DOUBLE, INT)  # cel-python: float(x) >= int(y) works
        if not ok:
            self.mixed(f"cannot compare {a(lt)} with {a(rt)} using '{op}'", node, left, lt, rt)
        return BOOL

    def mixed(self, msg: str, node: Node, left: Node, lt: T, rt: T) -> None:
        """A type mismatch; for an int against a double, say how to write it."""
        if {lt.name, rt.name} != {"int", "double"}:
            self.err(node, msg)
            return
        side, msg = unwrap(left if lt == INT else sub(node, 1)), msg + " (no such overload)"
        if side.data == "literal" and tok(side, 0).value.lstrip("-").isdigit():
            self.err(side, msg, f"write {tok(side, 0).value}.0 to use a double")
        else:
            self.err(node, msg, "convert the int side with double(...)")

    def n_addition(self, node: Node) -> T:
        op, left, right = OPS[sub(node, 0).data], sub(sub(node, 0), 0), sub(node, 1)
        lt, rt = self.check(left), self.check(right)
        bad = next((t for t in (lt, rt) if t.name != "dyn" and t.name not in ARITH[op]), None)
        if bad is not None:
            return self.err(node, f"'{op}' is not defined on {a(bad)}")
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
            hint = suggest(name.value, fields, f"{bt.msg}.") or f"it has: {', '.join(fields)}"
            return self.err(name, f"'{bt.msg}' has no field '{name.value}'", hint, "LR402")
        if bt.name == "map":
            if bt.args[0].name not in ("string", "dyn"):
                self.err(name, f"'.{name.value}' needs string keys, this is {a(bt)}")
            self.header_case(None, sub(node, 0), name)
            return bt.args[1]
        if bt.name != "dyn":
            self.err(name, f"{a(bt)} has no fields (selecting '{name.value}')")
        self.dyn_access = True
        return DYN

    def header_case(self, key: Node | None, box: Node, dotted: Token | None = None) -> None:
        """``request.headers['X-Team']`` never matches: header names are lower-cased."""
        box, text, at = unwrap(box), (dotted.value if dotted else None), dotted
        if box.data != "member_dot" or tok(box, 1).value != "headers":
            return
        owner = unwrap(sub(box, 0))
        if owner.data != "ident" or tok(owner, 0).value != "request":
            return
        if key is not None and unwrap(key).data == "literal":
            lit = unwrap(key)
            try:
                text, at = str(literal(tok(lit, 0))[1]), lit  # type: ignore[assignment]
            except ValueError:
                return
        if text is not None and at is not None and text != text.lower():
            hint = f"write request.headers['{text.lower()}']"
            self.err(at, f"header names are lower-cased: '{text}' never matches", hint, "LR402")

    def n_member_index(self, node: Node) -> T:
        bt, it = self.check(sub(node, 0)), self.check(sub(node, 1))
        self.header_case(sub(node, 1), sub(node, 0))
        if bt.name == "list":
            if it.name not in ("int", "dyn"):
                self.err(sub(node, 1), f"a list index must be an int, this is {a(it)}")
            return bt.args[0]
        if bt.name == "map":
            if not eq_ok(it, bt.args[0]):
                self.err(sub(node, 1), f"{a(bt)} has no key of type {it}")
            return bt.args[1]
        if bt.name != "dyn":
            hint = f"write {bt.msg}.<field>" if bt.name == "message" else None
            self.err(node, f"{a(bt)} cannot be indexed", hint)
        return DYN

    def n_member_object(self, node: Node) -> T:
        return self.err(node, "object construction (Type{...}) is not supported")

    def n_literal(self, node: Node) -> T:
        try:
            return literal(tok(node, 0))[0]
        except ValueError as ex:
            return self.err(node, f"invalid literal: {ex}")

    def n_list_lit(self, node: Node) -> T:
        return T("list", (self.same(items(node, 0), "list elements"),))

    def n_map_lit(self, node: Node) -> T:
        pairs = items(node, 0)
        keys = self.same(pairs[0::2], "map keys")
        if keys.name not in ("string", "int", "uint", "bool", "dyn"):
            self.err(node, f"map keys must be strings, ints or bools, not {keys}")
        return T("map", (keys, self.same(pairs[1::2], "map values")))

    def same(self, nodes: list[Node], what: str) -> T:
        """The common type of literal elements; LR403 where one differs, except in a skill's
        value expressions, whose lists and maps become JSON (``{"time": "…", "count": 3}``):
        there mixed elements make the literal's element type ``dyn``."""
        common: T | None = None
        for node in nodes:
            t = self.check(node)
            joined = t if common is None else join(common, t)
            if joined is None and common is not None and self.scope != "skill":
                self.err(node, f"{what} differ: {a(common)} and {a(t)}")
            common = joined or DYN
        return common or DYN

    def n_ident(self, node: Node, root: bool = False) -> T:
        name, known = tok(node, 0), list(SCOPES[self.scope])
        for local, t in reversed([] if root else self.local):
            if local == name.value:
                return t
        if name.value in known:
            whole = WHOLE_TYPES.get(name.value)
            return whole if whole is not None else T("message", msg=name.value)
        if name.value == "model" and self.scope == "route":
            only = "'model' exists only in a strategy's 'filter'"
            return self.err(name, "'model' is not available in a route's 'when'", only, "LR402")
        hint = suggest(name.value, [n for n, _ in self.local] + known)
        listed = f"the variables here are: {', '.join(known)}"
        return self.err(name, f"unknown variable '{name.value}'", hint or listed, "LR402")

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
            hint = f"write list.{name}(x, <expression using x>)"
            return self.err(node, f"{name}() takes a variable name and an expression", hint)
        if bt.name not in ("list", "map", "dyn"):
            self.err(base, f"{name}() needs a list or a map, this is {a(bt)}")
        elem = bt.args[0] if bt.name in ("list", "map") else DYN
        self.names.add(tok(var, 0).value)
        self.local.append((tok(var, 0).value, elem))
        body = self.check(args[1])
        self.local.pop()
        if name.value == "map":
            return T("list", (body,))
        if body.name not in ("bool", "dyn"):
            self.err(args[1], f"the body of {name}() must be a boolean, this one is {a(body)}")
        return T("list", (elem,)) if name.value == "filter" else BOOL

    def call(self, name: Token, base: Node | None, args: list[Node], node: Node) -> T:
        fn = name.value
        hint: str | None
        if fn not in (METHODS if base is not None else GLOBALS):
            form = f" as {'x.' if base else ''}{fn}(...)" if fn in FUNCTIONS else ""
            hint = suggest(fn, FUNCTIONS) or f"the functions are: {', '.join(FUNCTIONS)}"
            return self.err(name, f"unknown function '{fn}'{form}", hint, "LR402")
        if fn == "has":
            return self.has(args, node)
        operands = ([base] if base is not None else []) + args
        want = 2 if fn in ("startsWith", "endsWith", "contains", "matches") else 1
        if len(operands) != want:
            return self.err(node, f"{fn}() takes {want - (base is not None)} argument(s)")
        types = [self.check(x) for x in operands]
        if fn == "dyn":
            return DYN
        if fn in CONVERT:
            if types[0].name not in CONVERT[fn] | {"dyn"}:
                hint = "compare the boolean directly" if types[0] == BOOL else None
                self.err(node, f"{fn}() does not accept {a(types[0])}", hint)
            return INT if fn == "int" else DOUBLE if fn == "double" else STRING
        if fn == "size":
            self.dyn_access |= types[0].name == "dyn" and base is not None
            if types[0].name not in ("string", "bytes", "list", "map", "dyn"):
                self.err(node, f"size() needs a string, list or map, not {a(types[0])}")
            return INT
        self.dyn_access |= types[0].name == "dyn"
        for operand, t in zip(operands, types, strict=True):
            if t.name not in ("string", "dyn"):
                hint = "use 'x in list' for membership" if t.name == "list" else None
                self.err(operand, f"{fn}() works on strings, this is {a(t)}", hint)
        if fn == "matches" and unwrap(operands[1]).data == "literal" and types[1] == STRING:
            self.regex(unwrap(operands[1]))
        return BOOL

    def regex(self, pattern: Node) -> None:
        options = re2.Options()
        options.log_errors = False
        try:
            re2.compile(str(literal(tok(pattern, 0))[1]), options)
        except re2.error as ex:
            detail = ex.args[0].decode() if isinstance(ex.args[0], bytes) else str(ex.args[0])
            self.err(pattern, f"invalid regular expression (RE2 syntax): {detail}")

    def has(self, args: list[Node], node: Node) -> T:
        self.has_calls.append(node)
        selection = unwrap(args[0]) if len(args) == 1 else None
        if selection is None or selection.data != "member_dot":
            hint = "write has(model.params_b) or has(request.metadata.team)"
            return self.err(node, "has() needs a field selection", hint)
        bt = self.check(sub(selection, 0))
        if bt.name not in ("message", "map", "dyn"):
            return self.err(selection, f"has() needs a field of an object or a map, not {a(bt)}")
        self.select(bt, selection)
        return BOOL


def check(tree: Node, source: str, scope: Scope, *, boolean: bool = True) -> Checker:
    """Type-check a bounded tree. ``.problems`` says what is wrong; ``.has_calls``,
    ``.dyn_access`` and ``.names`` (comprehension variables) let the caller choose a runner.
    ``boolean=False`` accepts a result of any type (a skill's value expressions)."""
    checker = Checker(source, scope)
    result = checker.check(tree)
    checker.result = result
    if boolean and result.name not in ("bool", "dyn"):
        checker.err(tree, f"expression must be a boolean, this one is {a(result)}")
    return checker
