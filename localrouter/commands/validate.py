"""``localrouter validate`` and ``localrouter check``.

``validate`` compiles the config (every step up to the table, nothing served) and runs its
``tests:``; ``check`` runs only the tests and reports them like a unit-test runner. A failing
test is
a diagnostic (``LR330``) pointing at the test in the YAML.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from dataclasses import replace

from localrouter.commands.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    fail_build,
    load,
    not_found,
    print_diagnostics,
)
from localrouter.compiler.build import BuildResult
from localrouter.compiler.table import RoutingTable
from localrouter.diagnostics import Diagnostic, error, sorted_diagnostics, to_json_obj
from localrouter.routing.expectations import TestOutcome, run_tests


def _test_diagnostics(result: BuildResult, outcomes: list[TestOutcome]) -> list[Diagnostic]:
    from localrouter.config.source import load as load_source

    failed = [o for o in outcomes if not o.passed]
    if not failed:
        return []
    # spans are only needed on failure: reload the source for them
    table = result.table
    assert table is not None
    spans = None
    if table.source_files:
        from pathlib import Path

        first = Path(table.source_files[0])
        doc, _ = load_source(first.parent if len(table.source_files) > 1 else first)
        spans = doc.spans if doc else None
    out = []
    for o in failed:
        span = spans.span(("tests", o.index, "expect")) if spans else None
        out.append(
            error(
                "LR330",
                f"routing test '{o.name}' failed: {'; '.join(o.problems)}",
                span,
                "run `localrouter explain` with the test's client and request",
            )
        )
    return out


def _counts(table: RoutingTable) -> dict[str, int]:
    return {
        "providers": len(table.providers),
        "models": len(table.models),
        "strategies": sum(1 for s in table.strategies.values() if not s.implicit),
        "clients": len(table.clients),
        "tests": len(table.tests),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run(args: Namespace) -> int:
    if args.command == "check":
        return run_check(args)
    result = load(args, args.path, strict=args.strict)
    if result.table is None:
        if args.format == "json":
            _json(result, [], None)
            return EXIT_USAGE if not_found(result) else EXIT_FAILED
        return fail_build(result, args.format)
    outcomes = run_tests(result.table)
    found = [*result.diagnostics, *_test_diagnostics(result, outcomes)]
    if getattr(args, "resolve_secrets", False):
        found += secret_diagnostics(result.table)
    diags = sorted_diagnostics(found)
    result = replace(result, diagnostics=tuple(diags))
    ok = not any(d.is_error for d in diags)
    if args.format == "json":
        _json(result, outcomes, result.table)
        return EXIT_OK if ok else EXIT_FAILED
    print_diagnostics(result, args.format)
    if ok and args.format in ("text", "concise"):
        t = result.table
        assert t is not None
        c = _counts(t)
        passed = sum(o.passed for o in outcomes)
        names = ", ".join(t.source_files) or "config"
        warn = sum(1 for d in diags if not d.is_error)
        print(
            f"ok: {names} — sha {t.sha256[:12]}; {_plural(c['providers'], 'provider')}, "
            f"{_plural(c['models'], 'model')}, {_plural(c['strategies'], 'strategy')}".replace(
                "strategys", "strategies"
            )
            + f", {_plural(c['clients'], 'client')}; {passed}/{len(outcomes)} tests passed"
            + (f"; {_plural(warn, 'warning')}" if warn else "")
        )
    return EXIT_OK if ok else EXIT_FAILED


def secret_diagnostics(table: RoutingTable) -> list[Diagnostic]:
    """LR505 for each secret reference that cannot be resolved now (never a value)."""
    from localrouter.compiler.table import SecretValue
    from localrouter.errors import SecretError
    from localrouter.secrets import resolve

    # (who, which reference, the reference, what cannot happen until it is set)
    refs: list[tuple[str, str, str | SecretValue | None, str]] = []
    for name, p in sorted(table.providers.items()):
        for where, ref in [("api_key", p.api_key), *sorted(p.headers.items())]:
            refs.append((f"provider '{name}'", where, ref, "this provider is unusable"))
    for name, server in sorted(table.mcp_servers.items()):
        named = [(f"header {h}", v) for h, v in sorted(server.headers.items())]
        named += [(f"env {k}", v) for k, v in sorted(server.env.items())]
        for where, ref in named:
            refs.append((f"MCP server '{name}'", where, ref, "this server cannot be connected"))
    out = []
    state_dir = table.settings.state_dir
    for who, where, ref, until in refs:
        if not isinstance(ref, SecretValue) or ref.ref_kind == "literal":
            continue
        try:
            resolve(ref, state_dir=state_dir)
        except SecretError as exc:
            out.append(
                error(
                    "LR505",
                    f"{who} {where}: {exc}",
                    None,
                    "set it (`localrouter secrets set NAME`, or export the variable) "
                    f"before `serve`; until then {until}",
                )
            )
    return out


def _json(result: BuildResult, outcomes: list[TestOutcome], table: RoutingTable | None) -> None:
    doc = {
        "ok": table is not None
        and not any(d.is_error for d in result.diagnostics)
        and all(o.passed for o in outcomes),
        "sha256": table.sha256 if table else None,
        "counts": _counts(table) if table else None,
        "diagnostics": [to_json_obj(d) for d in result.diagnostics],
        "tests": [
            {"name": o.name, "passed": o.passed, "problems": list(o.problems)} for o in outcomes
        ],
    }
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def run_check(args: Namespace) -> int:
    result = load(args, args.path)
    if result.table is None:
        return fail_build(result, args.format)
    outcomes = run_tests(result.table)
    if args.format == "json":
        _json(result, outcomes, result.table)
    else:
        for o in outcomes:
            print(f"{'PASS' if o.passed else 'FAIL'}  {o.name}")
            for p in o.problems:
                print(f"      {p}")
        failed = sum(not o.passed for o in outcomes)
        print(f"\n{len(outcomes) - failed} passed, {failed} failed")
    return EXIT_FAILED if any(not o.passed for o in outcomes) else EXIT_OK
