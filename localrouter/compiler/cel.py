"""CEL for routing: compile once at config time, evaluate many times per request.

:func:`compile_predicate` turns the text of a route's ``when`` or a strategy's ``filter`` into a
:class:`Predicate`, or returns every :class:`CelProblem` found. The steps, cheapest first:

1. **Bound the text** (:data:`MAX_SOURCE_CHARS`), then **parse** with cel-python's lark grammar.
2. **Bound the tree** without recursion: depth, node count, comprehension nesting (LR404). A
   177-character nested ``map`` once ran 34 s; nesting is refused here, before anything runs.
3. **Type-check** (:mod:`localrouter.compiler.cel_check`, over the declared variables and types of
   :mod:`localrouter.compiler.cel_types`): cel-python checks nothing, so unknown names (LR402),
   operand types (LR403, including the int/double mixes cel-python cannot evaluate) and a
   non-boolean result are caught here, not at request time as a silent "no match".
4. **Choose a runner.** The *native* runner (:mod:`localrouter.compiler.cel_native`, Google's
   C++ CEL, 2–6 µs a call) is used when it compiles the expression, no value in it is typed
   ``dyn`` (there the engines differ: heterogeneous equality, ``has()`` over a missing key) and it
   agrees with the interpreter on the trial facts. Otherwise cel-python runs it. The
   *interpreter* is cel-python's tree-walking ``Evaluator``: the reference. The *compiled*
   runner is cel-python's own ``Transpiler`` output (Python lambdas), executed once into a private
   namespace and called with :class:`_Frame`, a minimal stand-in for celpy's ``Activation`` that
   binds variables by dict lookup: ~10x faster. cel-python's ``CompiledRunner`` itself is not used:
   it ``exec``s into celpy's module globals on every call (unsafe across threads), logs every
   runtime error at ERROR level, and needs its parser singleton built with its own tree class.
   Transpiled ``has()`` returns a Python bool that ``!`` and ``?:`` reject, so before code
   generation each ``has(e.f)`` becomes ``('f' in e)`` where that is provably the same
   (:func:`_has_rewrites`). A field or method of a ``dyn`` value raises AttributeError past
   ``||`` when transpiled; expressions with one, with a ``has()`` that cannot be rewritten, or
   with odd comprehension variable names stay on the interpreter.
5. **Trial-evaluate** on neutral facts (zeros, empty strings and lists), timed against
   :data:`TRIAL_BUDGET_S`; the native and compiled runners must agree with the interpreter
   there, or the interpreter is kept.

Every runner takes plain Python data (see :meth:`Predicate.evaluate`); cel-python's runners
convert it with :func:`to_cel` on each call, the native one passes only the fields the
expression reads (:attr:`Predicate.reads`).

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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import celpy.evaluation
from celpy import celtypes
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

from localrouter.compiler.cel_check import (
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    MAX_COMPREHENSION_NESTING,
    MAX_SOURCE_CHARS,
    CelProblem,
    bounds,
    check,
)
from localrouter.compiler.cel_native import (
    Bind,
    NativeError,
    Reads,
    gave_up,
    native_runner,
    projector,
    reads,
)
from localrouter.compiler.cel_parser import parse as _parse
from localrouter.compiler.cel_types import (
    FIELDS,
    SCOPES,
    STRING,
    VARIABLES,
    Node,
    Scope,
    items,
    sub,
    tok,
    unwrap,
    where,
)
from localrouter.compiler.cel_values import MAX_VALUE_DEPTH, neutral_activation, to_cel

# fmt: off
__all__ = [
    "MAX_AST_DEPTH", "MAX_AST_NODES", "MAX_COMPREHENSION_NESTING", "MAX_SOURCE_CHARS",
    "MAX_VALUE_DEPTH", "SCOPES", "TRIAL_BUDGET_S", "VARIABLES", "CelProblem", "Predicate",
    "Scope", "compile_predicate", "neutral_activation", "to_cel",
]
# fmt: on

TRIAL_BUDGET_S = 0.05  # one trial evaluation at compile time; realistic expressions take < 1 ms

Runner = Callable[[Mapping[str, Any]], Any]  # a CEL value, or the CELEvalError it failed with
Swaps = dict[int, Node]  # id(subtree) → the subtree that replaces it in generated code
_BOOLS = (bool, celtypes.BoolType)
_ALL: Reads = MappingProxyType({v: None for v in ("request", "client", "now", "model")})


@dataclass(frozen=True)
class Predicate:
    """A compiled, checked CEL expression. Build it with :func:`compile_predicate` only."""

    source: str
    scope: Scope
    is_constant_true: bool  # literally `true` (after parentheses): the "shadowed route" lint
    runner: str  # "native", "compiled" or "interpreted" (see the module docstring)
    _run: Runner = field(repr=False, compare=False)
    # variable → the fields the expression selects (None: used whole); absent: not read at all
    reads: Reads = field(default_factory=lambda: _ALL, compare=False)
    _bind: Bind | None = field(default=None, repr=False, compare=False)

    def evaluate(self, activation: Mapping[str, Any]) -> bool:
        """True only when the expression is CEL ``true``; runtime errors are False.

        ``activation`` maps each variable of the scope to plain JSON-like Python data (dict,
        list, str, int, float, bool, None): ``request``, ``client`` and ``now`` with the fields
        the expression reads (see :attr:`reads`; ``model`` fields may be absent), ``headers`` and
        ``metadata`` with string keys. A ``double`` field must be a Python float.
        """
        value = self._run(activation)
        return value is True or (type(value) is celtypes.BoolType and bool(value))

    def evaluate_verbose(self, activation: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Like :meth:`evaluate`, plus why it is False when evaluation failed (for ``explain``)."""
        value = self._run(activation)
        if type(value) in _BOOLS:
            return bool(value), None
        if isinstance(value, NativeError):
            return False, value.message
        if isinstance(value, CELEvalError | CELUnsupportedError):
            return False, str(value.args[0]) if value.args else type(value).__name__
        return False, f"the expression gave {type(value).__name__}, not a boolean"

    def bind(
        self, base: Mapping[str, Any], variable: str
    ) -> Callable[[Mapping[str, Any]], tuple[bool, str | None]]:
        """``evaluate_verbose`` with every variable but ``variable`` fixed to ``base``'s values:
        the filter judging many ``model`` values against one request converts the request once.
        """
        if self._bind is None:
            return lambda value: self.evaluate_verbose({**base, variable: value})
        run = self._bind(base, variable)
        return lambda value: self._verdict(run(value))

    def _verdict(self, value: Any) -> tuple[bool, str | None]:
        if value is True or value is False:
            return value, None
        if isinstance(value, NativeError):
            return False, value.message
        return False, f"the expression gave {type(value).__name__}, not a boolean"

    def needs(self, variable: str, field_name: str) -> bool:
        """Does evaluation read ``variable.field_name``? (False for a variable never read.)"""
        if variable not in self.reads:
            return False
        fields = self.reads[variable]
        return fields is None or field_name in fields


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


def _converted(activation: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_cel(value) for name, value in activation.items()}


def _unconvertible(source: str, ex: ValueError) -> CELEvalError:
    """Data :func:`to_cel` refuses (an int outside int64, nesting deeper than
    :data:`MAX_VALUE_DEPTH`): a runtime error, "no match", logged as a warning."""
    return CELEvalError(gave_up(source, str(ex).removeprefix("to_cel: ")), ValueError, ex.args)


def _interpreted(ast: Node, source: str = "") -> Runner:
    base = Activation()

    def run(activation: Mapping[str, Any]) -> Any:
        try:
            converted = _converted(activation)
        except ValueError as ex:
            return _unconvertible(source, ex)
        try:
            return Evaluator(ast, base).evaluate(converted)
        except (CELEvalError, CELUnsupportedError) as ex:
            return ex

    return run


def _has_rewrites(calls: list[Node], scope: Scope, local: Collection[str]) -> Swaps | None:
    """``('f' in e)`` in place of each ``has(e.f)`` call, keyed by ``id(call)``; None when one
    call cannot be replaced, and the expression stays on the interpreter.

    cel-python's ``has(e.f)`` is true exactly when evaluating ``e.f`` raises no error. Where ``e``
    is a declared variable (``model``) or a ``map(string, …)`` field of one (``request.headers``,
    ``request.metadata``), ``e`` itself cannot fail and is a map with string keys in every
    activation :meth:`Predicate.evaluate` accepts, so ``e.f`` fails exactly when ``f`` is not a
    key: ``'f' in e``, true also when the value is null. Elsewhere (a ``dyn`` value, a
    comprehension variable, an expression) ``e`` may fail or not be a map, where ``has()`` is
    false but ``in`` an error.
    """
    swaps: Swaps = {}
    for call in calls:
        args = items(call, 1) if call.data == "ident_arg" else []
        selection = unwrap(args[0]) if len(args) == 1 else None
        if selection is None or selection.data != "member_dot":
            return None
        base, name = unwrap(sub(selection, 0)), tok(selection, 1).value
        root, field_name = base, None
        if base.data == "member_dot":  # request.metadata
            root, field_name = unwrap(sub(base, 0)), tok(base, 1).value
        var = tok(root, 0).value if root.data in ("ident", "dot_ident") else ""
        if var not in SCOPES[scope] or (root.data == "ident" and var in local):
            return None
        kind = FIELDS[var].get(field_name) if field_name else None
        if field_name and (kind is None or kind.name != "map" or kind.args[0] != STRING):
            return None
        key = Tree("literal", [Token("STRING_LIT", f"'{name}'")])  # name is an IDENT
        in_ = Tree("relation", [Tree("relation_in", [key]), base])
        swaps[id(call)] = Tree("paren_expr", [in_])  # where `has(...)` stood in its `primary`
    return swaps


def _copy(node: Node, swaps: Swaps) -> TranspilerTree:
    """The transpiler decorates its own node class (recursion is bounded by MAX_AST_DEPTH)."""
    node = swaps.get(id(node), node)
    kids = [_copy(c, swaps) if isinstance(c, Tree) else c for c in node.children]
    return TranspilerTree(node.data, kids, node.meta)


def _compiled(ast: Node, swaps: Swaps | None = None, source: str = "") -> Runner | None:
    """cel-python's transpiled lambdas bound once in a private namespace; None if it cannot.

    ``swaps`` replaces subtrees (by ``id``) before code generation: see :func:`_has_rewrites`.
    """
    transpiler = Transpiler(_copy(ast, swaps or {}), Activation())
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
            frame = _Frame(_converted(activation))
        except ValueError as ex:
            return _unconvertible(source, ex)
        try:
            return root(frame)
        except AttributeError as ex:  # transpiled `x.get('f')` on a value without fields
            return CELEvalError("no such field", AttributeError, ex.args)

    return run


def _outcome(value: Any) -> object:
    """A runner's result, comparable across runners: the boolean, or "error"."""
    return bool(value) if type(value) in _BOOLS else "error"


def _constant_true(tree: Node) -> bool:
    node = unwrap(tree)
    while node.data == "paren_expr":
        node = unwrap(sub(node, 0))
    first = node.children[0] if node.children else None
    return node.data == "literal" and isinstance(first, Token) and first.value == "true"


def compile_predicate(
    source: str, scope: Scope, *, prefer_native: bool = True
) -> Predicate | tuple[CelProblem, ...]:
    """Parse, check statically against the declared variables, bound, trial-evaluate.

    Returns every problem found (not just the first), sorted by position. ``prefer_native=False``
    keeps the predicate on cel-python (the reference the tests compare against).
    """
    if len(source) > MAX_SOURCE_CHARS:
        msg = f"expression is too long ({len(source)} characters, the limit is {MAX_SOURCE_CHARS})"
        return (CelProblem("LR404", msg, 1, 1, 1, "split it into several routes"),)
    if not source.strip():
        hint = "write a condition such as request.has_tools"
        return (CelProblem("LR401", "the expression is empty", 1, 1, 1, hint),)
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
    interpreted, neutral = _interpreted(tree, source), neutral_activation(scope)
    spent = float("inf")
    for _ in range(2):  # CPU time of this thread: waiting for the GIL does not count; retry once
        start = time.thread_time()
        try:
            reference = _outcome(interpreted(neutral))
        except Exception as ex:  # noqa: BLE001 - a cel-python crash, reported instead of raised
            detail = " ".join(f"{type(ex).__name__}: {ex}".split())
            msg = f"cel-python cannot evaluate this expression ({detail})"
            return (CelProblem("LR403", msg[:200], *where(source, tree)),)
        spent = min(spent, time.thread_time() - start)
        if spent < TRIAL_BUDGET_S:
            break
    else:
        msg = f"a trial evaluation took {spent * 1000:.0f} ms (the limit is "
        msg += f"{TRIAL_BUDGET_S * 1000:.0f} ms)"
        hint = "simplify the expression or split it into several routes"
        return (CelProblem("LR404", msg, *where(source, tree), hint),)
    # a dyn value (metadata, dyn(), a mixed literal) is where cel-python, the reference, and the
    # C++ evaluator differ (heterogeneous equality, has() over a missing key): cel-python runs it
    native_ok = prefer_native and not checker.saw_dyn
    native = native_runner(source, tree, scope, checker.names) if native_ok else None
    if native is not None and _outcome(native[0](neutral)) == reference:
        run_native, bind, wanted = native
        return Predicate(source, scope, _constant_true(tree), "native", run_native, wanted, bind)
    run, name = interpreted, "interpreted"
    odd_names = any(n.startswith("_") or hasattr(_Frame, n) for n in checker.names)
    swaps = _has_rewrites(checker.has_calls, scope, checker.names)
    unsafe = swaps is None or checker.dyn_access or odd_names
    compiled = None if unsafe else _compiled(tree, swaps, source)
    if compiled is not None and _outcome(compiled(neutral)) == reference:
        run, name = compiled, "compiled"
    wanted = reads(tree, scope, checker.names)
    project, chosen = projector(wanted), run
    return Predicate(
        source, scope, _constant_true(tree), name, lambda act: chosen(project(act)), wanted
    )
