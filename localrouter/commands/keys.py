"""``localrouter keys …``: manage clients in the YAML a person also edits.

``create``/``rotate`` print the new key once (only the key on stdout when it is not a terminal,
for scripts); the file gets its ``key_prefix`` and bcrypt ``key_hash``. Every edit changes only
its own lines (:mod:`localrouter.config.edit`), is compiled with the rest of the config before
it replaces anything (an edit that would make the config invalid is refused and nothing is
written), and is written atomically with the previous version kept as ``NAME.bak``, holding
the lock file ``NAME.lock`` from the read to the rename, so concurrent edits never lose one
(:func:`localrouter.fsutil.rewrite`). A running gateway picks the change up through hot reload.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

from localrouter import colour
from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_path
from localrouter.compiler.build import BuildResult, build
from localrouter.config.edit import ClientsText
from localrouter.config.source import config_files
from localrouter.diagnostics import render_full
from localrouter.errors import EditError
from localrouter.fsutil import rewrite
from localrouter.keygen import BCRYPT_COST, NewKey, new_key


def _cost() -> int:
    """bcrypt cost 12; ``LOCALROUTER_BCRYPT_COST`` lowers it for the test suite only."""
    return int(os.environ.get("LOCALROUTER_BCRYPT_COST", BCRYPT_COST))


def _target(root: Path, given: str | None) -> Path:
    """The file to edit: the config file, ``--file``, or the one file of a directory that
    holds ``clients:``."""
    if given:
        return Path(given)
    if not root.is_dir():
        return root
    holding = [f for f in config_files(root) if "clients" in (ClientsText(f.read_text()).root)]
    if len(holding) == 1:
        return holding[0]
    where = "no file" if not holding else f"{len(holding)} files"
    raise EditError(f"{where} in {root} hold `clients:`; name the one to edit with --file")


def _check(root: Path, target: Path, text: str) -> BuildResult:
    """Compile the config as it would be with ``target`` holding ``text`` (in a scratch copy)."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        if root.is_dir():
            copy = base / root.name
            copy.mkdir()
            for f in config_files(root):
                shutil.copyfile(f, copy / f.name)
            (copy / target.name).write_text(text, encoding="utf-8")
        else:
            copy = base / root.name
            copy.write_text(text, encoding="utf-8")
        result = build(copy)
        shown = render_full(
            [d for d in result.diagnostics if d.severity == "error"],
            result.files,
        ).replace(str(copy), str(root))
    return BuildResult(result.table, result.diagnostics, {"rendered": shown})


def _say_key(key: str, verb: str, name: str) -> None:
    if sys.stdout.isatty():
        print(f"{verb} client '{name}'. Its key, shown this once and stored nowhere:\n\n  {key}\n")
        print("Give it to the client now (Authorization: Bearer <key>).")
    else:
        print(key)


class _Refused(EditError):
    """The edited config would not compile; ``rendered`` says why."""

    def __init__(self, rendered: str) -> None:
        super().__init__("the edit would make the config invalid")
        self.rendered = rendered


def _apply(doc: ClientsText, args: Namespace, change: str, made: NewKey | None) -> None:
    name = args.client
    if change == "create":
        assert made is not None
        fields = {"key_prefix": made.prefix, "key_hash": made.hash}
        if args.model:
            fields["model"] = args.model
        else:
            fields["strategy"] = args.strategy or _only_strategy(config_path(args))
        doc.add_client(name, fields)
    elif change == "rotate":
        assert made is not None
        doc.set_value(name, "key_prefix", made.prefix)
        doc.set_value(name, "key_hash", made.hash)
    elif change == "disable":
        doc.set_value(name, "enabled", "false")
    elif change == "enable":
        if "enabled" in doc.client(name):
            doc.set_value(name, "enabled", "true")
    elif change == "delete":
        doc.remove_client(name)


def _edit(args: Namespace, change: str) -> int:
    root = config_path(args)
    name = args.client
    made = new_key(_cost()) if change in ("create", "rotate") else None  # slow: before the lock

    def edited(text: str) -> str:
        doc = ClientsText(text)
        _apply(doc, args, change, made)
        new = doc.render()
        checked = _check(root, target, new)
        if checked.table is None:
            raise _Refused(checked.files["rendered"])
        return new

    try:
        target = _target(root, getattr(args, "file", None))
        rewrite(target, edited)  # under the config's lock: concurrent edits never lose one
    except _Refused as exc:
        print(f"error: refused: `keys {change} {name}` would make the config invalid; "
              "nothing was written", file=sys.stderr)  # fmt: skip
        sys.stderr.write(colour.for_stream(exc.rendered, sys.stderr))
        return EXIT_FAILED
    except (EditError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if made is not None:
        _say_key(made.key, "Created" if change == "create" else "Rotated", name)
    else:
        print(f"{change}d client '{name}' in {target}", file=sys.stderr)
    return EXIT_OK


def _only_strategy(root: Path) -> str:
    result = build(root)
    names = [
        n for n, s in (result.table.strategies.items() if result.table else []) if not s.implicit
    ]
    if len(names) != 1:
        raise EditError("name the client's strategy with --strategy S (or a model with --model M)")
    return names[0]


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
    return _edit(args, action)
