"""The native CEL runner: Google's C++ CEL (``cel-expr-python``) behind the predicate interface.

cel-python, which parses and checks our expressions, evaluates one in 15–250 µs and needs its
own value types (another 20–80 µs to convert a request). The C++ evaluator takes plain Python
data and answers in 2–6 µs (``bench/route_bench.py``, ``docs/performance.md``). It is used for a
predicate only when it compiles the expression and agrees with cel-python's interpreter on the
trial facts (:mod:`localrouter.compiler.cel`); tests compare the two on generated expressions
and facts. Without the package (a platform with no wheel) every predicate stays on cel-python.

Two things keep a call cheap:

- **Only what is read is converted.** :func:`reads` finds, per variable, the fields an
  expression selects (``request.has_tools`` → ``has_tools``); the runner passes just those to the
  evaluator. A variable used whole (``[request]``, ``request['x']``, a comprehension variable of
  the same name) is passed whole.
- **One environment per process.** Every variable is declared ``map(string, dyn)``: our own
  checker (:mod:`localrouter.compiler.cel_check`) has already typed the expression against the
  declared fields; the C++ checker only has to resolve names.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lark import Tree

from localrouter.compiler.cel_types import SCOPES, Node, Scope, tok

try:
    from cel_expr_python import cel as _cel
except ImportError:  # pragma: no cover - the package has wheels for Linux, macOS and Windows
    _cel = None

__all__ = ["AVAILABLE", "NativeError", "Reads", "gave_up", "native_runner", "projector", "reads"]

AVAILABLE = _cel is not None
log = logging.getLogger("localrouter.cel")
Reads = Mapping[str, frozenset[str] | None]  # variable → the fields read (None: all of it)


@dataclass(frozen=True)
class NativeError:
    """A CEL runtime error (or a non-boolean result) from the native runner: "no match"."""

    message: str


@functools.cache
def _env() -> Any:
    assert _cel is not None
    dyn_map = _cel.Type.Map(_cel.Type.STRING, _cel.Type.DYN)
    names = {name for scope in SCOPES.values() for name in scope}
    return _cel.NewEnv(variables={name: dyn_map for name in sorted(names)})


def reads(tree: Node, scope: Scope, local: Collection[str]) -> Reads:
    """The fields of each declared variable that ``tree`` selects; None where it uses one whole.

    A selection is ``member_dot(member(primary(ident NAME)), FIELD)``. ``local`` are the
    comprehension variables: a root name shadowed by one is read whole.
    """
    selected: dict[int, str] = {}  # id(ident node) → the field selected from it
    for node in tree.iter_subtrees():
        if node.data != "member_dot":
            continue
        member = node.children[0]
        primary = (
            member.children[0] if isinstance(member, Tree) and member.data == "member" else None
        )
        root = (
            primary.children[0] if isinstance(primary, Tree) and primary.data == "primary" else None
        )
        if isinstance(root, Tree) and root.data in ("ident", "dot_ident"):
            selected[id(root)] = tok(node, 1).value
    found: dict[str, set[str] | None] = {}
    for node in tree.iter_subtrees():
        if node.data not in ("ident", "dot_ident"):
            continue
        name = tok(node, 0).value
        if name not in SCOPES[scope]:
            continue
        field_name = selected.get(id(node))
        if field_name is None or (node.data == "ident" and name in local):
            found[name] = None
        elif (got := found.setdefault(name, set())) is not None:
            got.add(field_name)
    return MappingProxyType(
        {k: (None if v is None else frozenset(v)) for k, v in sorted(found.items())}
    )


def gave_up(source: str, reason: str) -> str:
    """Log that an evaluation stopped on a bound (a warning: the request's data, not the
    expression, is usually to blame) and return the reason, which means "no match"."""
    shown = source if len(source) <= 80 else source[:77] + "..."
    log.warning("CEL evaluation of %r stopped (%s): read as no match", shown, reason)
    return reason


_STATUS = re.compile(r"^[A-Z_]+: ")
_PHRASES = (("Key not found in map : ", "no such member "),
            ("No matching overloads found : ", "no such overload: "),
            ("No such field : ", "no such member "))  # fmt: skip


def _message(text: str) -> str:
    """The C++ evaluator's error in cel-python's words, so ``explain`` reads the same either way:
    ``NOT_FOUND: Key not found in map : "x"`` → ``no such member "x"``."""
    text = _STATUS.sub("", text, count=1)
    for theirs, ours in _PHRASES:
        if text.startswith(theirs):
            return ours + text.removeprefix(theirs)
    return text


def projector(wanted: Reads) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function giving, of an activation, only the variables and fields ``wanted`` reads:
    less to convert for every runner, and nothing a runner cannot take that it does not need."""
    plan = tuple(wanted.items())

    def project(activation: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, fields in plan:
            value = activation.get(name)
            if value is None:
                continue
            if fields is None:
                data[name] = value if type(value) is dict else dict(value)
            else:
                data[name] = {f: value[f] for f in fields if f in value}
        return data

    return project


NativeRunner = Callable[[Mapping[str, Any]], Any]  # True/False, or a NativeError
Bind = Callable[[Mapping[str, Any], str], Callable[[Any], Any]]  # see Predicate.bind


def native_runner(
    source: str, tree: Node, scope: Scope, local: Collection[str]
) -> tuple[NativeRunner, Bind, Reads] | None:
    """``(runner, bind, reads)`` for ``source``, or None when the native engine is absent or
    refuses the expression.

    ``runner(activation)`` takes plain Python data (dicts, lists, str, int, float, bool, None)
    for each variable and returns True, False or a :class:`NativeError`. ``bind(base, name)``
    projects ``base`` once and returns a runner of the one remaining variable ``name`` (the
    filter's ``model``, judged per candidate against one request).
    """
    if _cel is None:
        return None
    try:
        program = _env().compile(source)
    except RuntimeError:  # a construct the C++ parser or resolver does not take: cel-python runs it
        return None
    wanted = reads(tree, scope, local)
    project = projector(wanted)
    error_type = _cel.Type.ERROR
    evaluate = program.eval

    def outcome(data: dict[str, Any]) -> Any:
        try:
            result = evaluate(data=data)
        except RuntimeError as ex:  # the C++ evaluator's budget: 10,000 comprehension steps
            text = str(ex)
            budget = "Iteration budget exceeded" in text
            reason = "iteration budget exceeded (10,000 steps)" if budget else _message(text)
            return NativeError(gave_up(source, reason))
        value = result.value()
        if value is True or value is False:
            return value
        if result.type() == error_type:
            return NativeError(_message(str(value)))
        return NativeError(f"the expression gave {result.type().name().lower()}, not a boolean")

    def run(activation: Mapping[str, Any]) -> Any:
        return outcome(project(activation))

    def bind(base: Mapping[str, Any], name: str) -> Callable[[Any], Any]:
        common = project({k: v for k, v in base.items() if k != name})
        fields = wanted.get(name, ())
        if name not in wanted:  # the variable is not read: one answer for every value
            answer = outcome(common)
            return lambda _value: answer
        if fields is None:
            return lambda value: outcome({**common, name: dict(value)})
        keys = tuple(fields)

        def run_one(value: Mapping[str, Any]) -> Any:
            data = dict(common)
            data[name] = {f: value[f] for f in keys if f in value}
            return outcome(data)

        return run_one

    return run, bind, wanted
