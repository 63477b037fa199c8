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
   runner is cel-python's own ``Transpiler`` output (Python lambdas) bound once in a private
   namespace: ~10x faster. Both live in :mod:`localrouter.compiler.cel_python` (why
   cel-python's ``CompiledRunner`` is not used, and how ``has()`` is rewritten for the
   transpiler, is told there). A field or method of a ``dyn`` value raises AttributeError past
   ``||`` when transpiled; expressions with one, with a ``has()`` that cannot be rewritten, or
   with odd comprehension variable names stay on the interpreter.
5. **Trial-evaluate** on neutral facts (zeros, empty strings and lists), timed against
   :data:`TRIAL_BUDGET_S`; the native and compiled runners must agree with the interpreter
   there, or the interpreter is kept. Then the chosen runner is timed on the largest client data
   a request may bring (:func:`~localrouter.compiler.cel_values.largest_activation`) against
   :data:`LARGEST_TRIAL_BUDGET_S`: what a client can make the expression cost is bounded here.

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

import gc
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from celpy import celtypes
from celpy.evaluation import (
    CELEvalError,
    CELUnsupportedError,
)
from lark import Token

from localrouter.compiler.cel_check import (
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    MAX_COMPREHENSION_NESTING,
    MAX_SOURCE_CHARS,
    CelProblem,
    Checker,
    bounds,
    check,
)
from localrouter.compiler.cel_native import (
    Bind,
    NativeError,
    Reads,
    native_runner,
    projector,
    reads,
)
from localrouter.compiler.cel_parser import parse as _parse
from localrouter.compiler.cel_python import Frame, Runner, has_rewrites
from localrouter.compiler.cel_python import compiled as _compiled
from localrouter.compiler.cel_python import interpreted as _interpreted
from localrouter.compiler.cel_types import (
    SCOPES,
    VARIABLES,
    Node,
    Scope,
    sub,
    unwrap,
    where,
)
from localrouter.compiler.cel_values import (
    MAX_VALUE_DEPTH,
    largest_activation,
    neutral_activation,
    to_cel,
)

# fmt: off
__all__ = [
    "LARGEST_TRIAL_BUDGET_PY_S", "LARGEST_TRIAL_BUDGET_S", "MAX_AST_DEPTH", "MAX_AST_NODES",
    "MAX_COMPREHENSION_NESTING",
    "MAX_SOURCE_CHARS", "MAX_VALUE_DEPTH", "SCOPES", "TRIAL_BUDGET_S", "VARIABLES", "CelProblem",
    "Predicate", "Scope", "compile_predicate", "neutral_activation", "to_cel",
]
# fmt: on

TRIAL_BUDGET_S = 0.05  # one trial evaluation at compile time; realistic expressions take < 1 ms
# the trial on the largest tags, headers and metadata a request may bring: what one client can
# make one evaluation cost (a comprehension over them takes < 0.3 ms on the native runner)
LARGEST_TRIAL_BUDGET_S = 0.01
# the same on cel-python's runners, which serve only what the native runner cannot: ~50x slower
# a step, a plain `request.tags.exists(…)` over the largest tags already takes ~7 ms there
LARGEST_TRIAL_BUDGET_PY_S = 0.05

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


def _outcome(value: Any) -> object:
    """A runner's result, comparable across runners: the boolean, or "error"."""
    return bool(value) if type(value) in _BOOLS else "error"


def _constant_true(tree: Node) -> bool:
    node = unwrap(tree)
    while node.data == "paren_expr":
        node = unwrap(sub(node, 0))
    first = node.children[0] if node.children else None
    return node.data == "literal" and isinstance(first, Token) and first.value == "true"


@dataclass(frozen=True)
class Parsed:
    tree: Node
    problems: list[CelProblem]  # found by the bounds, not fatal: reported with the checker's


def parse_bounded(source: str, split_hint: str, empty_hint: str) -> Parsed | tuple[CelProblem, ...]:
    """The first steps of every compile: bound the text, parse, bound the tree. The tree (and
    the problems that do not stop the compile), or the problems that do."""
    if len(source) > MAX_SOURCE_CHARS:
        msg = f"expression is too long ({len(source)} characters, the limit is {MAX_SOURCE_CHARS})"
        return (CelProblem("LR404", msg, 1, 1, 1, split_hint),)
    if not source.strip():
        return (CelProblem("LR401", "the expression is empty", 1, 1, 1, empty_hint),)
    tree = _parse(source)
    if isinstance(tree, CelProblem):
        return (tree,)
    problems, fatal = bounds(tree, source)
    if fatal:
        return tuple(problems)
    return Parsed(tree, problems)


def compile_predicate(
    source: str, scope: Scope, *, prefer_native: bool = True
) -> Predicate | tuple[CelProblem, ...]:
    """Parse, check statically against the declared variables, bound, trial-evaluate.

    Returns every problem found (not just the first), sorted by position. ``prefer_native=False``
    keeps the predicate on cel-python (the reference the tests compare against).
    """
    front = parse_bounded(
        source, "split it into several routes", "write a condition such as request.has_tools"
    )
    if not isinstance(front, Parsed):
        return front
    tree, problems = front.tree, front.problems
    checker = check(tree, source, scope)
    problems += checker.problems
    if problems:
        return tuple(sorted(problems, key=lambda p: (p.line, p.col, p.code)))
    interpreted, neutral = _interpreted(tree, source), neutral_activation(scope)
    try:
        spent, value = _trial(interpreted, neutral)
    except Exception as ex:  # noqa: BLE001 - a cel-python crash, reported instead of raised
        detail = " ".join(f"{type(ex).__name__}: {ex}".split())
        msg = f"cel-python cannot evaluate this expression ({detail})"
        return (CelProblem("LR403", msg[:200], *where(source, tree)),)
    if spent >= TRIAL_BUDGET_S:
        return (_too_slow(source, tree, spent),)
    chosen = _choose(source, tree, scope, checker, prefer_native, interpreted, _outcome(value))
    limit = LARGEST_TRIAL_BUDGET_S if chosen.runner == "native" else LARGEST_TRIAL_BUDGET_PY_S
    spent, _value = _trial(chosen.evaluate, largest_activation(scope), limit)
    if spent >= limit:
        on = " on the largest tags, headers and metadata a request may bring"
        return (_too_slow(source, tree, spent, on, limit),)
    return chosen


def _trial(
    run: Callable[[Mapping[str, Any]], Any],
    activation: Mapping[str, Any],
    budget: float = TRIAL_BUDGET_S,
) -> tuple[float, Any]:
    """``(CPU seconds, result)`` of ``run`` on ``activation``: this thread's CPU time (waiting
    for the GIL does not count), run again (three tries at most) while it reaches ``budget``.
    The garbage collector is paused while it runs: a collection of the whole process's heap
    would otherwise be counted against the expression, and make a compile's verdict depend on
    what the process did before."""
    spent, value = float("inf"), None
    for _ in range(3):
        collecting = gc.isenabled()
        gc.disable()
        try:
            start = time.thread_time()
            value = run(activation)
            spent = min(spent, time.thread_time() - start)
        finally:
            if collecting:
                gc.enable()
        if spent < budget:
            break
    return spent, value


def _too_slow(
    source: str, tree: Node, spent: float, on: str = "", budget: float = TRIAL_BUDGET_S
) -> CelProblem:
    msg = f"a trial evaluation{on} took {spent * 1000:.0f} ms (the limit is "
    msg += f"{budget * 1000:.0f} ms)"
    hint = "simplify the expression or split it into several routes"
    return CelProblem("LR404", msg, *where(source, tree), hint)


def _choose(
    source: str,
    tree: Node,
    scope: Scope,
    checker: Checker,
    prefer_native: bool,
    interpreted: Runner,
    reference: object,
) -> Predicate:
    """The predicate on the fastest runner that agrees with the interpreter (``reference``,
    its outcome) on neutral facts."""
    neutral = neutral_activation(scope)
    # a dyn value (metadata, dyn(), a mixed literal) is where cel-python, the reference, and the
    # C++ evaluator differ (heterogeneous equality, has() over a missing key): cel-python runs it
    native_ok = prefer_native and not checker.saw_dyn
    native = native_runner(source, tree, scope, checker.names) if native_ok else None
    if native is not None and _outcome(native[0](neutral)) == reference:
        run_native, bind, wanted = native
        return Predicate(source, scope, _constant_true(tree), "native", run_native, wanted, bind)
    run, name = interpreted, "interpreted"
    odd_names = any(n.startswith("_") or hasattr(Frame, n) for n in checker.names)
    swaps = has_rewrites(checker.has_calls, scope, checker.names)
    unsafe = swaps is None or checker.dyn_access or odd_names
    compiled = None if unsafe else _compiled(tree, swaps, source)
    if compiled is not None and _outcome(compiled(neutral)) == reference:
        run, name = compiled, "compiled"
    wanted = reads(tree, scope, checker.names)
    project, chosen = projector(wanted), run
    return Predicate(
        source, scope, _constant_true(tree), name, lambda act: chosen(project(act)), wanted
    )
