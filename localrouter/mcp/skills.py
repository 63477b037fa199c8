"""Running a skill: a compiled multi-step workflow served as the tool ``skills__NAME``.

    input ─▶ checked against the skill's JSON Schema
      ─▶ for each step, in order: its ``args`` (CEL over ``input`` and ``steps``) evaluated,
         the tool called through :func:`localrouter.mcp.calls.call_tool` (the same access
         decision, limits and access-log line as a client's own call), bounded by the step's
         ``timeout_s``; the step's result kept as ``steps.ID``: ``{text, data}``
      ─▶ ``result`` (CEL) or, without one, the last step's result as the server sent it

The first step that fails (refused, the server failed, it timed out, or the tool answered with
``isError``) stops the skill: the client gets an ``isError`` result that names the step and
says why. The whole skill is bounded by its ``timeout_s`` too.

``steps.ID.text`` is the step's text content joined; ``steps.ID.data`` its structured content
when the server sent one, else its text read as JSON when it is JSON, else null.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from jsonschema import Draft202012Validator

from localrouter.compiler.mcp_table import Skill
from localrouter.errors import McpError
from localrouter.mcp.calls import INVALID_PARAMS, Caller, call_tool, refusal

if TYPE_CHECKING:
    from localrouter.mcp.servers import McpServers
    from localrouter.server.state import Runtime

MAX_TEXT = 1_000_000  # characters of a step's text kept for later steps


class _StepFailed(Exception):  # private control flow: raised and caught here
    pass


def text_of(result: types.CallToolResult) -> str:
    parts = [c.text for c in result.content if isinstance(c, types.TextContent)]
    return "\n".join(parts)[:MAX_TEXT]


def step_value(result: types.CallToolResult) -> dict[str, Any]:
    text = text_of(result)
    data: Any = result.structured_content
    if data is None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    return {"text": text, "data": data}


def _find(caller: Caller, public: str) -> Skill:
    for skill in caller.table.skills.values():
        if skill.public_name == public:
            return skill
    raise refusal("skills", f"unknown skill '{public}'", INVALID_PARAMS, 404)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def check_input(skill: Skill, args: dict[str, Any]) -> str | None:
    """Why ``args`` does not fit the skill's input schema (the first problem), or None."""
    for err in Draft202012Validator(dict(skill.input_schema)).iter_errors(args):
        where = "/".join(str(p) for p in err.absolute_path) or "(the input)"
        return f"input of skill '{skill.name}' at {where}: {err.message[:300]}"
    return None


def make_runner(servers: McpServers) -> Any:
    """The :data:`~localrouter.mcp.calls.SkillRunner` that runs skills on ``servers``."""

    async def run(
        rt: Runtime, caller: Caller, public: str, args: dict[str, Any]
    ) -> types.CallToolResult:
        skill = _find(caller, public)
        problem = check_input(skill, args)
        if problem is not None:
            raise refusal("skills", problem, INVALID_PARAMS, 400)
        try:
            with anyio.fail_after(skill.timeout_s):
                return await _steps(rt, servers, caller, skill, args)
        except TimeoutError:
            return _error(f"skill '{skill.name}' did not finish within {skill.timeout_s:g} s")
        except _StepFailed as failed:
            return _error(str(failed))

    return run


async def _steps(
    rt: Runtime, servers: McpServers, caller: Caller, skill: Skill, args: dict[str, Any]
) -> types.CallToolResult:
    done: dict[str, Any] = {}
    last: types.CallToolResult | None = None
    for step in skill.steps:
        activation = {"input": args, "steps": done}
        call_args: dict[str, Any] = {}
        for name, expr in step.args:
            ok, value = expr.evaluate(activation)
            if not ok:
                raise _StepFailed(
                    f"skill '{skill.name}' step '{step.id}': argument '{name}' could not be "
                    f"evaluated: {value}"
                )
            call_args[name] = value
        try:
            with anyio.fail_after(step.timeout_s):
                last = await call_tool(rt, servers, caller, step.call, call_args)
        except TimeoutError:
            raise _StepFailed(
                f"skill '{skill.name}' step '{step.id}' ({step.call}) did not finish within "
                f"{step.timeout_s:g} s"
            ) from None
        except McpError as refused:
            raise _StepFailed(
                f"skill '{skill.name}' step '{step.id}' ({step.call}) failed: {refused.reason}"
            ) from None
        if last.is_error:
            raise _StepFailed(
                f"skill '{skill.name}' step '{step.id}' ({step.call}) returned an error: "
                f"{text_of(last)[:500]}"
            )
        done[step.id] = step_value(last)
    if skill.result is None:
        assert last is not None  # a skill has at least one step (the compiler says so)
        return last
    ok, value = skill.result.evaluate({"input": args, "steps": done})
    if not ok:
        raise _StepFailed(f"skill '{skill.name}': its result could not be evaluated: {value}")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    structured = value if isinstance(value, dict) else None
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=structured
    )
