"""cel-python's two runners behind :class:`~localrouter.compiler.cel.Predicate`.

- :func:`interpreted`: cel-python's tree-walking ``Evaluator``, **the reference**.
- :func:`compiled`: cel-python's own ``Transpiler`` output (Python lambdas), executed once into
  a private namespace and called with :class:`Frame`, a minimal stand-in for celpy's
  ``Activation`` that binds variables by dict lookup: ~10x faster. Transpiled ``has()`` returns a
  Python bool that ``!`` and ``?:`` reject, so before code generation each ``has(e.f)`` becomes
  ``('f' in e)`` where that is provably the same (:func:`has_rewrites`). cel-python's
  ``CompiledRunner`` itself is not used: it ``exec``s into celpy's module globals on every call
  (unsafe across threads), logs every runtime error at ERROR level, and needs its parser
  singleton built with its own tree class.

Both take plain Python data and convert it with :func:`~localrouter.compiler.cel_values.to_cel`
on each call; data it refuses (an int outside int64, nesting deeper than ``MAX_VALUE_DEPTH``) is
a CEL error, "no match", logged as a warning. See :mod:`localrouter.compiler.cel`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import celpy.evaluation
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

from localrouter.compiler.cel_native import gave_up
from localrouter.compiler.cel_types import (
    FIELDS,
    SCOPES,
    STRING,
    Node,
    Scope,
    items,
    sub,
    tok,
    unwrap,
)
from localrouter.compiler.cel_values import to_cel

__all__ = ["Frame", "Runner", "Swaps", "compiled", "has_rewrites", "interpreted"]

Runner = Callable[[Mapping[str, Any]], Any]  # a CEL value, or the CELEvalError it failed with
Swaps = dict[int, Node]  # id(subtree) → the subtree that replaces it in generated code


class Frame:
    """The part of celpy's ``Activation`` that transpiled code uses, as plain dict lookups."""

    __slots__ = ("_outer", "_vars")

    def __init__(self, variables: Mapping[str, Any], outer: Frame | None = None) -> None:
        self._vars = variables
        self._outer = outer

    def __getattr__(self, name: str) -> Any:  # transpiled `activation.request`
        if name.startswith("__"):
            raise AttributeError(name)
        frame: Frame | None = self
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

    def nested_activation(self, annotations: Any = None, vars: Any = None) -> Frame:
        return Frame(vars or {}, self)  # a comprehension's iteration variable


def _converted(activation: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_cel(value) for name, value in activation.items()}


def _unconvertible(source: str, ex: ValueError) -> CELEvalError:
    """Data :func:`to_cel` refuses (an int outside int64, nesting deeper than
    :data:`MAX_VALUE_DEPTH`): a runtime error, "no match", logged as a warning."""
    return CELEvalError(gave_up(source, str(ex).removeprefix("to_cel: ")), ValueError, ex.args)


def interpreted(ast: Node, source: str = "") -> Runner:
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


def has_rewrites(calls: list[Node], scope: Scope, local: Collection[str]) -> Swaps | None:
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
        kind = FIELDS.get(var, {}).get(field_name) if field_name else None
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


def compiled(ast: Node, swaps: Swaps | None = None, source: str = "") -> Runner | None:
    """cel-python's transpiled lambdas bound once in a private namespace; None if it cannot.

    ``swaps`` replaces subtrees (by ``id``) before code generation: see :func:`has_rewrites`.
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
    root: Callable[[Frame], Any] = namespace["_lr_root"]

    def run(activation: Mapping[str, Any]) -> Any:
        try:
            frame = Frame(_converted(activation))
        except ValueError as ex:
            return _unconvertible(source, ex)
        try:
            return root(frame)
        except AttributeError as ex:  # transpiled `x.get('f')` on a value without fields
            return CELEvalError("no such field", AttributeError, ex.args)

    return run
