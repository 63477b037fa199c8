"""CEL for routing: compile once at config time, evaluate many times per request.

:func:`compile_predicate` turns the text of a route's ``when`` or a strategy's ``filter`` into a
:class:`Predicate`, or returns every :class:`CelProblem` found. The steps, cheapest first:

1. **Bound the text** (:data:`MAX_SOURCE_CHARS`), then **parse** with cel-python's lark grammar.
2. **Bound the tree** without recursion: depth, node count, comprehension nesting (LR404). A
   177-character nested ``map`` once ran 34 s; nesting is refused here, before anything runs.
3. **Type-check** (:mod:`localrouter.compiler.cel_check`): cel-python checks nothing, so unknown
   names (LR402), operand types (LR403, including the int/double mixes cel-python cannot evaluate)
   and a non-boolean result are caught here, not at request time as a silent "no match".
4. **Choose a runner.** The *interpreter* is cel-python's tree-walking ``Evaluator``. The *compiled*
   runner is cel-python's own ``Transpiler`` output (Python lambdas), executed once into a private
   namespace and called with :class:`_Frame`, a minimal stand-in for celpy's ``Activation`` that
   binds variables by dict lookup: ~10x faster. cel-python's ``CompiledRunner`` itself is not used:
   it ``exec``s into celpy's module globals on every call (unsafe across threads), logs every
   runtime error at ERROR level, and needs its parser singleton built with its own tree class.
   Transpiled ``has()`` returns a Python bool that ``!`` and ``?:`` reject, so expressions using
   ``has()`` (or odd comprehension variable names) stay on the interpreter.
5. **Trial-evaluate** on neutral facts (zeros, empty strings and lists), timed against
   :data:`TRIAL_BUDGET_S`; the compiled runner must agree with the interpreter there, or the
   interpreter is kept.

Thread-safety: no ``celpy.Environment`` is ever created (it is not thread-safe and resets the
recursion limit). Each compile builds its own objects; the only shared one is cel-python's
class-level Lark parser, which keeps no per-parse state. A :class:`Predicate` is immutable; its
:meth:`~Predicate.evaluate` allocates its own activation per call, so one thread at a time per
predicate is always safe (and concurrent calls are too, as far as we know: neither runner writes
shared state). This module has no mutable module-level state.

Evaluation never raises for CEL runtime errors (missing key, overflow, no such overload, division
by zero): they mean "no match". Unexpected Python exceptions are our bugs and propagate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import celpy.evaluation
from celpy import celtypes
from celpy.celparser import CELParser
from celpy.evaluation import (
    Activation,
    CELEvalError,
    CELSyntaxError,
    CELUnsupportedError,
    Evaluator,
    Transpiler,
    TranspilerTree,
)
from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from localrouter.compiler.cel_check import (
    FIELDS,
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    MAX_COMPREHENSION_NESTING,
    MAX_SOURCE_CHARS,
    SCOPES,
    VARIABLES,
    CelProblem,
    Node,
    Scope,
    bounds,
    check,
    unwrap,
    where,
)

__all__ = [
    "MAX_AST_DEPTH",
    "MAX_AST_NODES",
    "MAX_COMPREHENSION_NESTING",
    "MAX_SOURCE_CHARS",
    "MAX_VALUE_DEPTH",
    "SCOPES",
    "TRIAL_BUDGET_S",
    "VARIABLES",
    "CelProblem",
    "Predicate",
    "Scope",
    "compile_predicate",
    "neutral_activation",
    "to_cel",
]

TRIAL_BUDGET_S = 0.05  # one trial evaluation at compile time; realistic expressions take < 1 ms
MAX_VALUE_DEPTH = 32  # nesting of a value given to to_cel (request metadata comes from clients)

Runner = Callable[[Mapping[str, Any]], Any]  # a CEL value, or the CELEvalError it failed with
_BOOLS = (bool, celtypes.BoolType)
_SCALARS = (
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.DoubleType,
    celtypes.StringType,
    celtypes.BytesType,
)
_NEUTRAL: Mapping[str, Any] = MappingProxyType(
    {"string": "", "int": 0, "double": 0.0, "bool": False, "list": (), "map": MappingProxyType({})}
)
_FRIENDLY = MappingProxyType(
    {
        "IDENT": "a name",
        "INT_LIT": "a number",
        "UINT_LIT": "a number",
        "FLOAT_LIT": "a number",
        "STRING_LIT": "a string",
        "MLSTRING_LIT": "a string",
        "BYTES_LIT": "bytes",
        "BOOL_LIT": "true/false",
        "$END": "the end",
    }
)


@dataclass(frozen=True)
class Predicate:
    """A compiled, checked CEL expression. Build it with :func:`compile_predicate` only."""

    source: str
    scope: Scope
    is_constant_true: bool  # literally `true` (after parentheses): the "shadowed route" lint
    runner: str  # "compiled" or "interpreted" (see the module docstring)
    _run: Runner = field(repr=False, compare=False)

    def evaluate(self, activation: Mapping[str, Any]) -> bool:
        """True only when the expression is CEL ``true``; runtime errors are False.

        ``activation`` maps variable names to values already converted with :func:`to_cel`.
        """
        value = self._run(activation)
        return type(value) in _BOOLS and bool(value)

    def evaluate_verbose(self, activation: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Like :meth:`evaluate`, plus why it is False when evaluation failed (for ``explain``)."""
        value = self._run(activation)
        if type(value) in _BOOLS:
            return bool(value), None
        if isinstance(value, CELEvalError | CELUnsupportedError):
            return False, str(value.args[0]) if value.args else type(value).__name__
        return False, f"the expression gave {type(value).__name__}, not a boolean"


class _Frame:
    """The part of celpy's ``Activation`` that transpiled code uses, as plain dict lookups."""

    __slots__ = ("_outer", "_vars")

    def __init__(self, variables: Mapping[str, Any], outer: _Frame | None = None) -> None:
        self._vars = variables
        self._outer = outer

    def __getattr__(self, name: str) -> Any:  # transpiled `activation.request`
        if name.startswith("__"):
            raise AttributeError(name)
        frame: _Frame | None = self
        while frame is not None:
            if name in frame._vars:
                return frame._vars[name]
            frame = frame._outer
        raise NameError(name, "activation")  # celpy's result() makes it a CELEvalError

    def resolve_variable(self, name: str) -> Any:  # transpiled `.name` and `.f(...)`
        try:
            return self.__getattr__(name)
        except NameError:
            return celpy.evaluation.base_functions[name]

    def nested_activation(self, annotations: Any = None, vars: Any = None) -> _Frame:
        return _Frame(vars or {}, self)  # a comprehension's iteration variable


def _interpreted(ast: Node) -> Runner:
    base = Activation()

    def run(activation: Mapping[str, Any]) -> Any:
        try:
            return Evaluator(ast, base).evaluate(activation)
        except (CELEvalError, CELUnsupportedError) as ex:
            return ex

    return run


def _copy(node: Node) -> TranspilerTree:
    """The transpiler decorates its own node class (recursion is bounded by MAX_AST_DEPTH)."""
    kids = [_copy(c) if isinstance(c, Tree) else c for c in node.children]
    return TranspilerTree(node.data, kids, node.meta)


def _compiled(ast: Node) -> Runner | None:
    """cel-python's transpiled lambdas bound once in a private namespace; None if it cannot."""
    transpiler = Transpiler(_copy(ast), Activation())
    try:
        transpiler.transpile()  # Python's compile() refuses e.g. `007` or `lambda` as a name
    except (SyntaxError, ValueError, CELSyntaxError, CELUnsupportedError):
        return None
    lines = transpiler.source_text.rstrip("\n").split("\n")
    head = "CEL = celpy.evaluation.result(base_activation, "
    if not lines[-1].startswith(head):
        return None
    lines[-1] = "_lr_root = lambda base_activation: " + lines[-1].removeprefix("CEL = ")
    namespace = dict(vars(celpy.evaluation))
    exec(compile("\n".join(lines), "<cel>", "exec"), namespace)  # celpy's own generated code
    root: Callable[[_Frame], Any] = namespace["_lr_root"]

    def run(activation: Mapping[str, Any]) -> Any:
        try:
            return root(_Frame(activation))
        except AttributeError as ex:  # transpiled `x.get('f')` on a value without fields
            return CELEvalError("no such field", AttributeError, ex.args)

    return run


def _outcome(value: Any) -> object:
    return bool(value) if type(value) in _BOOLS else type(value).__name__


def _constant_true(tree: Node) -> bool:
    node = unwrap(tree)
    while node.data == "paren_expr":
        node = unwrap(node.children[0])  # type: ignore[arg-type]
    first = node.children[0] if node.children else None
    return node.data == "literal" and isinstance(first, Token) and first.value == "true"


def _syntax(source: str, ex: UnexpectedInput) -> CelProblem:
    expected: set[str] = set(getattr(ex, "expected", None) or getattr(ex, "allowed", None) or ())
    if "IDENT" in expected:
        want = "a value here: a name, a number, a string, '(', '[' or '!'"
    elif "__ANON_0" in expected:
        want = "an operator (such as &&, ||, ==, <, +, in) or a closing bracket"
    else:
        parser = CELParser.CEL_PARSER
        terms = {t.name: t.pattern.value for t in parser.terminals} if parser else {}
        want = ", ".join(sorted(_FRIENDLY.get(e, repr(terms.get(e, e))) for e in expected))
    lines = source.split("\n")
    token = getattr(ex, "token", None)
    if ex.line is None or ex.line < 1 or (isinstance(token, Token) and token.type == "$END"):
        return CelProblem(
            "LR401",
            "unexpected end of expression",
            len(lines),
            len(lines[-1]) + 1,
            1,
            f"expected {want}" if want else None,
        )
    if isinstance(ex, UnexpectedCharacters):
        pos = ex.pos_in_stream or 0
        char = source[pos] if 0 <= pos < len(source) else "?"
        help = "is a string missing its closing quote?" if char in "'\"" else f"expected {want}"
        return CelProblem("LR401", f"unexpected character {char!r}", ex.line, ex.column, 1, help)
    text = str(token) if isinstance(ex, UnexpectedToken) and token is not None else ""
    length = max(1, len(text.split("\n", 1)[0]))
    return CelProblem(
        "LR401",
        f"unexpected {text!r}",
        ex.line,
        ex.column,
        length,
        f"expected {want}" if want else None,
    )


def _parse(source: str) -> Node | CelProblem:
    CELParser()  # builds cel-python's shared Lark parser the first time
    parser = CELParser.CEL_PARSER
    assert parser is not None
    try:
        tree: Node = parser.parse(source)
    except UnexpectedInput as ex:
        return _syntax(source, ex)
    except LarkError as ex:
        first = str(ex).strip().split("\n", 1)[0]
        return CelProblem("LR401", f"syntax error: {first}", 1, 1, 1)
    return tree


def compile_predicate(source: str, scope: Scope) -> Predicate | tuple[CelProblem, ...]:
    """Parse, check statically against the declared variables, bound, trial-evaluate.

    Returns every problem found (not just the first), sorted by position.
    """
    if len(source) > MAX_SOURCE_CHARS:
        return (
            CelProblem(
                "LR404",
                f"expression is too long ({len(source)} characters, the "
                f"limit is {MAX_SOURCE_CHARS})",
                1,
                1,
                1,
                "split it into several routes",
            ),
        )
    if not source.strip():
        return (
            CelProblem(
                "LR401",
                "the expression is empty",
                1,
                1,
                1,
                "write a condition such as request.has_tools",
            ),
        )
    tree = _parse(source)
    if isinstance(tree, CelProblem):
        return (tree,)
    problems, fatal = bounds(tree, source)
    if fatal:
        return tuple(problems)
    checker = check(tree, source, scope)
    problems += checker.problems
    if problems:
        return tuple(sorted(problems, key=lambda p: (p.line, p.col, p.code)))
    interpreted = _interpreted(tree)
    neutral = neutral_activation(scope)
    start = time.perf_counter()
    try:
        reference = _outcome(interpreted(neutral))
    except Exception as ex:  # noqa: BLE001 - a cel-python crash, reported instead of raised
        return (
            CelProblem(
                "LR403",
                f"cel-python cannot evaluate this expression ({type(ex).__name__}: {ex})"[:200],
                *where(source, tree),
            ),
        )
    spent = time.perf_counter() - start
    if spent > TRIAL_BUDGET_S:
        return (
            CelProblem(
                "LR404",
                f"a trial evaluation took {spent * 1000:.0f} ms (the limit "
                f"is {TRIAL_BUDGET_S * 1000:.0f} ms)",
                *where(source, tree),
                "simplify the expression or split it into several routes",
            ),
        )
    run, name = interpreted, "interpreted"
    odd_names = any(n.startswith("_") or hasattr(_Frame, n) for n in checker.names)
    compiled = None if checker.uses_has or odd_names else _compiled(tree)
    if compiled is not None and _outcome(compiled(neutral)) == reference:
        run, name = compiled, "compiled"
    return Predicate(source, scope, _constant_true(tree), name, run)


def _convert(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return celtypes.StringType(value)
    if kind is bool:
        return celtypes.BoolType(value)
    if kind is int:
        return celtypes.IntType(value)
    if kind is float:
        return celtypes.DoubleType(value)
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, str | int | float):  # subclasses, such as str and int enums
        return _convert(_base(value), depth)
    if depth >= MAX_VALUE_DEPTH:
        raise ValueError(f"to_cel: value nested deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(value, Mapping):
        converted = celtypes.MapType()
        dict.update(
            converted, {_convert(k, depth + 1): _convert(v, depth + 1) for k, v in value.items()}
        )
        return converted
    if isinstance(value, list | tuple):
        return celtypes.ListType([_convert(v, depth + 1) for v in value])
    raise TypeError(f"to_cel: cannot convert {kind.__name__} (JSON-like data only)")


def _base(value: str | int | float) -> str | int | float:
    if isinstance(value, str):
        return str(value)
    return float(value) if isinstance(value, float) else int(value)


def to_cel(value: Any) -> Any:
    """Python JSON-like data (dict/list/tuple/str/int/float/bool/None) → celpy values.

    Values already converted pass through. Raises ValueError for an int outside int64 or data
    nested deeper than :data:`MAX_VALUE_DEPTH`, TypeError for anything that is not JSON-like.
    A ``double`` field must be given as a Python float: an int becomes a CEL int.
    """
    return _convert(value, 0)


def neutral_activation(scope: Scope) -> dict[str, Any]:
    """Every variable of ``scope`` with neutral facts: zeros, false, empty strings and lists."""
    return {
        var: to_cel({f: _NEUTRAL[t.name] for f, t in FIELDS[var].items()}) for var in SCOPES[scope]
    }
