"""``localrouter diff OLD NEW``: routing changes between two configs; exit 1 when they differ."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_diagnostics
from localrouter.compiler.build import build
from localrouter.compiler.diff import diff_tables


def run(args: Namespace) -> int:
    old, new = build(args.old), build(args.new)
    for label, result in (("OLD", old), ("NEW", new)):
        if result.table is None:
            print(f"{label} ({getattr(args, label.lower())}) does not compile:", file=sys.stderr)
            print_diagnostics(result, "text", sys.stderr)
    if old.table is None or new.table is None:
        return EXIT_USAGE
    changes = diff_tables(old.table, new.table)
    if args.format == "json":
        doc = {
            "equal": not changes,
            "old_sha256": old.table.sha256,
            "new_sha256": new.table.sha256,
            "changes": [{"subject": c.subject, "change": c.what} for c in changes],
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif not changes:
        print("no routing changes")
    else:
        for c in changes:
            print(c)
        print(f"\n{len(changes)} change{'s' if len(changes) != 1 else ''}")
    return EXIT_FAILED if changes else EXIT_OK
