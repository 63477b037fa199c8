"""``localrouter diff OLD NEW [--replay LOG]``: routing changes between two configs.

With ``--replay``, the request facts recorded in an access log (a file, or a directory of daily
files) are routed through both tables (:mod:`localrouter.logs.replay`) and the decisions that
differ are counted. Exit 1 when the tables differ or any replayed decision does, 0 otherwise;
2 when a config does not compile or the log does not exist.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_diagnostics
from localrouter.compiler.build import build
from localrouter.compiler.diff import diff_tables
from localrouter.logs.reader import iter_lines, log_files
from localrouter.logs.replay import ReplayReport, replay


def _log_sources(arg: str) -> list[Path] | str:
    """The files to replay, oldest first, or a one-line reason they cannot be read."""
    path = Path(arg)
    if path.is_dir():
        try:
            files = log_files(path)
        except OSError as exc:
            return f"error: cannot list the access logs in {arg}: {exc.strerror or exc}"
        return files or f"error: no access-YYYY-MM-DD.jsonl[.gz] files in {arg}"
    if path.is_file():
        return [path]
    return f"error: access log {arg} does not exist"


def _lines(files: list[Path]) -> Iterator[dict[str, Any] | None]:
    for f in files:
        yield from iter_lines(f)


def _replay_text(report: ReplayReport, files: list[Path]) -> list[str]:
    source = files[0].name
    if len(files) > 1:
        source = f"{len(files)} files ({files[0].name} … {files[-1].name})"
    n = report.replayed
    head = f"replayed {n:,} request{'s' if n != 1 else ''} from {source}: "
    if not report.changed:
        head += "no decision differs"
    else:
        per = ", ".join(f"{c}: {k:,}" for c, k in report.by_client.items())
        s = "s differ" if report.changed != 1 else " differs"
        head += f"{report.changed:,} decision{s} ({per})"
    out = [head]
    out += [f"  {c.request_id} {c.client}: {c.old}  ⇒  {c.new}" for c in report.examples]
    if report.changed > len(report.examples):
        out.append(f"  … and {report.changed - len(report.examples):,} more")
    if report.skipped:
        out.append(f"{report.skipped:,} line{'s' if report.skipped != 1 else ''} skipped")
    return out


def run(args: Namespace) -> int:
    files: list[Path] = []
    if getattr(args, "replay", None) is not None:
        found = _log_sources(args.replay)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return EXIT_USAGE
        files = found
    old, new = build(args.old), build(args.new)
    for label, result in (("OLD", old), ("NEW", new)):
        if result.table is None:
            print(f"{label} ({getattr(args, label.lower())}) does not compile:", file=sys.stderr)
            print_diagnostics(result, "text", sys.stderr)
    if old.table is None or new.table is None:
        return EXIT_USAGE
    changes = diff_tables(old.table, new.table)
    report: ReplayReport | None = None
    if files:
        try:
            report = replay(old.table, new.table, _lines(files))
        except OSError as exc:
            print(f"error: cannot read the access log: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.format == "json":
        doc: dict[str, Any] = {
            "equal": not changes,
            "old_sha256": old.table.sha256,
            "new_sha256": new.table.sha256,
            "changes": [{"subject": c.subject, "change": c.what} for c in changes],
        }
        if report is not None:
            doc["replay"] = {"files": [str(f) for f in files], **report.as_json()}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        if not changes:
            print("no routing changes")
        else:
            for c in changes:
                print(c)
            print(f"\n{len(changes)} change{'s' if len(changes) != 1 else ''}")
        if report is not None:
            print("\n" + "\n".join(_replay_text(report, files)))
    return EXIT_FAILED if changes or (report is not None and report.changed) else EXIT_OK
