"""CEL *value* expressions: a skill step's ``args`` and a skill's ``result``.

Routes and MCP rules are predicates (:mod:`localrouter.compiler.cel`); a skill computes values —
an argument for the next tool, the skill's answer — from its ``input`` and the results of the
steps before (scope ``skill``: ``input`` and ``steps``, both ``map(string, dyn)``). The static
half is the same as for predicates: the text and the tree are bounded, the tree type-checked over
the declared variables (no boolean result required), and then:

- every ``steps.X`` (or ``steps["X"]``) must name a step that runs *before* the expression's own
  step (``LR405``): a later step has no result yet, and a reference to an unknown one is a typo
  that would otherwise fail only when the skill runs;
- a trial evaluation on neutral facts, and one on the largest input a client may send, are timed
  against the predicates' budgets (``LR404``).

Everything here is ``dyn``, where the native evaluator and cel-python differ, so cel-python's
interpreter (the reference) runs it. :meth:`Expression.evaluate` takes plain JSON-like data and
gives plain JSON-like data back (cel-python's values converted), or the CEL error in words.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError, CELUnsupportedError
from lark import Tree

from localrouter.compiler.cel import (
    LARGEST_TRIAL_BUDGET_PY_S,
    TRIAL_BUDGET_S,
    Parsed,
    _too_slow,
    _trial,
    parse_bounded,
)
from localrouter.compiler.cel_check import CelProblem, check, suggest
from localrouter.compiler.cel_python import Runner, interpreted
from localrouter.compiler.cel_types import Node, Scope, literal, tok, unwrap, where
from localrouter.compiler.cel_values import MAX_VALUE_DEPTH, largest_activation, neutral_activation

__all__ = ["Expression", "compile_expression", "from_cel"]


@dataclass(frozen=True)
class Expression:
    """A compiled, checked CEL value expression. Build it with :func:`compile_expression`."""

    source: str
    scope: Scope
    steps_read: tuple[str, ...]  # the step ids it names (``steps.X``), sorted
    _run: Runner = field(repr=False, compare=False)

    def evaluate(self, activation: Mapping[str, Any]) -> tuple[bool, Any]:
        """``(True, value)`` with the value as plain data (dict, list, str, int, float, bool,
        None), or ``(False, why)`` when evaluation fails (a missing key, no such overload, a value
        nested too deeply). ``activation`` maps ``input`` and ``steps`` to plain data."""
        value = self._run(activation)
        if isinstance(value, CELEvalError | CELUnsupportedError):
            return False, str(value.args[0]) if value.args else type(value).__name__
        try:
            return True, from_cel(value)
        except ValueError as ex:
            return False, str(ex)


def from_cel(value: Any, depth: int = 0) -> Any:
    """cel-python's values back to plain JSON-like Python data. Bytes become base64 text,
    timestamps and durations their CEL text. ValueError past :data:`MAX_VALUE_DEPTH` levels."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, CELEvalError | CELUnsupportedError):  # an error held in a map or list
        raise ValueError(str(value.args[0]) if value.args else type(value).__name__)
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.BytesType | bytes):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, celtypes.StringType | str):
        return str(value)
    if isinstance(value, celtypes.DoubleType | float):
        return float(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType | int):
        return int(value)
    if depth >= MAX_VALUE_DEPTH:
        raise ValueError(f"the value is nested deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(value, Mapping):
        return {str(from_cel(k, depth + 1)): from_cel(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_cel(v, depth + 1) for v in value]
    if isinstance(value, celtypes.TimestampType | celtypes.DurationType):
        return str(value)
    raise ValueError(f"a CEL {type(value).__name__} cannot be returned")


def _step_refs(tree: Node, source: str, local: set[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """Each ``steps.X`` / ``steps["X"]`` with the position of ``X`` (a comprehension variable
    named ``steps`` shadows the skill's)."""
    if "steps" in local:
        return []
    found = []
    for node in tree.iter_subtrees():
        if node.data not in ("member_dot", "member_index"):
            continue
        base = unwrap(node.children[0]) if isinstance(node.children[0], Tree) else None
        if base is None or base.data != "ident" or tok(base, 0).value != "steps":
            continue
        if node.data == "member_dot":
            name = tok(node, 1)
            found.append((name.value, where(source, name)))
            continue
        key = node.children[1]
        key = unwrap(key) if isinstance(key, Tree) else key
        if isinstance(key, Tree) and key.data == "literal":
            try:
                text = literal(tok(key, 0))[1]
            except ValueError:
                continue
            if isinstance(text, str):
                found.append((str(text), where(source, key)))
    return found


def compile_expression(
    source: str, scope: Scope = "skill", *, steps_before: tuple[str, ...] = ()
) -> Expression | tuple[CelProblem, ...]:
    """Parse, bound, type-check (any result type), check step references, trial-evaluate.

    ``steps_before``: the ids of the steps that run before this expression (for a step's
    ``args``, the earlier steps; for the ``result``, all of them). Returns every problem found,
    sorted by position.
    """
    front = parse_bounded(
        source, "split the work into several steps", 'write a value such as input.city or "text"'
    )
    if not isinstance(front, Parsed):
        return front
    tree, problems = front.tree, front.problems
    checker = check(tree, source, scope, boolean=False)
    problems += checker.problems
    refs = _step_refs(tree, source, checker.names) if scope == "skill" else []
    for name, (line, col, length) in refs:
        if name in steps_before:
            continue
        if steps_before:
            hint = suggest(name, steps_before, "steps.") or (
                f"the steps before this one: {', '.join(steps_before)}"
            )
        else:
            hint = "this is the first step: only `input` is known here"
        msg = f"'steps.{name}' is not a step that runs before this expression"
        problems.append(CelProblem("LR405", msg, line, col, length, hint))
    if problems:
        return tuple(sorted(problems, key=lambda p: (p.line, p.col, p.code)))
    run = interpreted(tree, source)
    for activation, budget in (
        (neutral_activation(scope), TRIAL_BUDGET_S),
        (largest_activation(scope), LARGEST_TRIAL_BUDGET_PY_S),
    ):
        try:
            spent, _value = _trial(run, activation, budget)
        except Exception as ex:  # noqa: BLE001 - a cel-python crash, reported instead of raised
            detail = " ".join(f"{type(ex).__name__}: {ex}".split())
            msg = f"cel-python cannot evaluate this expression ({detail})"
            return (CelProblem("LR403", msg[:200], *where(source, tree)),)
        if spent >= budget:
            return (_too_slow(source, tree, spent, "", budget),)
    steps_read = tuple(sorted({name for name, _ in refs}))
    return Expression(source, scope, steps_read, run)
