"""``localrouter keys …``: manage clients in the YAML a person also edits.

``create``/``rotate`` print the new key once (only the key on stdout when it is not a terminal,
for scripts); the file gets its ``key_prefix`` and bcrypt ``key_hash``. The edit itself is
:mod:`localrouter.config.client_edits`, shared with the admin API: it changes only its own lines,
is compiled with the rest of the config before it replaces anything (an edit that would make the
config invalid is refused and nothing is written), and is written atomically with the previous
version kept as ``NAME.bak``, under the lock file ``NAME.lock``, so concurrent edits never lose
one. This module is the command line around it. A running gateway picks the change up through
hot reload.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from argparse import Namespace
from pathlib import Path
from typing import cast

from localrouter import colour
from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_path
from localrouter.compiler.build import build
from localrouter.config.client_edits import Change, ClientEdit, Refused, Rejected, edit_client
from localrouter.diagnostics import render_full
from localrouter.errors import EditError


def _say_key(key: str, verb: str, name: str) -> None:
    if sys.stdout.isatty():
        print(f"{verb} client '{name}'. Its key, shown this once and stored nowhere:\n\n  {key}\n")
        print("Give it to the client now (Authorization: Bearer <key>).")
    else:
        print(key)


def _edit(args: Namespace, change: Change) -> int:
    name = args.client
    edit = ClientEdit(change, name, getattr(args, "strategy", None), getattr(args, "model", None))
    try:
        done = edit_client(config_path(args), edit, getattr(args, "file", None))
    except (EditError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(done, Refused):
        print(f"error: refused: `keys {change} {name}` would make the config invalid; "
              "nothing was written", file=sys.stderr)  # fmt: skip
        sys.stderr.write(colour.for_stream(done.rendered, sys.stderr))
        return EXIT_FAILED
    if isinstance(done, Rejected):
        print(f"error: {done.message}", file=sys.stderr)
        return EXIT_FAILED
    if done.key is not None:
        _say_key(done.key, "Created" if change == "create" else "Rotated", name)
    else:
        print(f"{change}d client '{name}' in {done.target}", file=sys.stderr)
    return EXIT_OK


def _last_used(state_dir: str | None) -> dict[str, float]:
    """Per client, its newest generation record in state_dir (read-only; none: empty)."""
    if not state_dir:
        return {}
    path = Path(state_dir) / "generations.sqlite3"
    if not path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT client, MAX(created) FROM generations GROUP BY client")
            return {c: t for c, t in rows}
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def _list(args: Namespace) -> int:
    result = build(config_path(args))
    if result.table is None:
        shown = render_full(list(result.diagnostics), result.files)
        sys.stderr.write(colour.for_stream(shown, sys.stderr))
        return EXIT_FAILED
    used = _last_used(result.table.settings.state_dir)
    rows: list[dict[str, object]] = []
    for name, c in sorted(result.table.clients.items()):
        strategy = result.table.strategies[c.strategy]
        target = f"model {strategy.name.removeprefix('=')}" if strategy.implicit else c.strategy
        rows.append({"client": name, "prefix": c.key_prefix, "uses": target,
                     "enabled": c.enabled, "last_used": used.get(name)})  # fmt: skip
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    import time

    def when(t: object) -> str:
        if not isinstance(t, float | int):
            return "never"
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))

    table: list[tuple[object, ...]] = [
        ("CLIENT", "PREFIX", "STRATEGY/MODEL", "ENABLED", "LAST USED")
    ]
    table += [(r["client"], r["prefix"], r["uses"], "yes" if r["enabled"] else "no",
               when(r["last_used"])) for r in rows]  # fmt: skip
    widths = [max(len(str(row[i])) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def run(args: Namespace) -> int:
    action = args.keys_command
    if action == "list":
        return _list(args)
    if action == "create" and args.strategy and args.model:
        print("error: give --strategy or --model, not both", file=sys.stderr)
        return EXIT_USAGE
    return _edit(args, cast(Change, action))
