"""The admin API's config endpoints (SPEC §3): the YAML stays the single source of truth.

- ``GET /admin/api/config`` → ``{sha, status, root, files: [{path, text}], diagnostics}``: the
  files as they are on disk (``path`` relative to the config's folder), the sha of the table
  served, and the last reload's errors when it failed.
- ``POST /admin/api/config/preview`` with ``{files: [{path, text}]}`` → ``{ok, sha,
  diagnostics, diff: {files: [{path, diff}], table: [...]}}``: the config compiled as it would
  be with those files (in a scratch copy: nothing is written), the unified diff of each file, and
  what changes in the routing table (``localrouter diff``'s list).
- ``PUT /admin/api/config`` with ``{files, base_sha}``: 409 when ``base_sha`` is not the sha of
  the config on disk now (the files are compiled first, so a hand edit not yet reloaded counts),
  422 with the diagnostics when the new files do not compile, else each changed file is written
  atomically under the config's lock (checked again there: a write in between is a 409) and the
  config reloaded; 200 ``{sha, status}`` once the new table is served.

Compiles run in a worker thread. A directory config is edited file by file; a file the config
does not have cannot be added here (400).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
from pathlib import Path
from typing import Any

import orjson

from localrouter import __version__
from localrouter.compiler.build import BuildResult
from localrouter.compiler.catalog import CatalogSnapshot
from localrouter.compiler.diff import diff_tables
from localrouter.compiler.scratch import build_edited
from localrouter.config.secret_mask import config_names, find_secrets
from localrouter.config.source import config_files
from localrouter.diagnostics import Diagnostic, to_json_obj
from localrouter.fsutil import rewrite
from localrouter.server.admin_auth import admin_body, admin_client
from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

MAX_FILES = 64


def _files(root: Path) -> dict[str, Path]:
    """The config's files by their path relative to its folder (a file config: its name)."""
    if root.is_dir():
        return {f.name: f for f in config_files(root)}
    return {root.name: root}


def read_files(root: Path) -> dict[str, str]:
    """The text of each of the config's files, by its path relative to the config's folder."""
    return {name: path.read_text(encoding="utf-8") for name, path in _files(root).items()}


def files_sha(texts: dict[str, str]) -> str:
    """A digest of the files' names and texts: unlike the table's sha, a comment or a blank
    line changes it (``base_files_sha``: an edit made from these very bytes)."""
    digest = hashlib.sha256()
    for name, text in sorted(texts.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _diagnostics(result: BuildResult, root: Path) -> list[dict[str, Any]]:
    """The diagnostics as JSON, their files named relative to the config's folder."""
    base = root if root.is_dir() else root.parent
    out = []
    for d in result.diagnostics:
        obj = to_json_obj(d)
        where = obj.get("file")
        if isinstance(where, str):
            try:
                obj["file"] = str(Path(where).relative_to(base))
            except ValueError:
                obj["file"] = Path(where).name
        out.append(obj)
    return out


def compile_with(
    root: Path, texts: dict[str, str], snapshot: CatalogSnapshot | None
) -> tuple[BuildResult, list[dict[str, Any]]]:
    """The config compiled with ``texts`` (path → text) in place of its files, in a scratch
    copy, with the models discovery found (``snapshot``, the running gateway's: so it compiles
    to the sha the gateway would serve); the result and its diagnostics as JSON (paths relative
    to the config's folder)."""
    result = build_edited(root, texts, snapshot)
    return result, _diagnostics(result, root)


def config_root(rt: Runtime) -> Path | Reply:
    if rt.config is None or rt.config.path is None:
        return error_response(404, "this gateway was not started from a config file")
    return rt.config.path


def wanted_files(
    body: dict[str, Any], root: Path, names: frozenset[str] = frozenset()
) -> dict[str, str] | Reply:
    """The files an edit sends (path → text), each line that comes back starred as
    ``GET /admin/api/config`` showed it put back as it is on disk (:func:`unstarred`); or the
    400 saying what is wrong."""
    files = body.get("files")
    if not isinstance(files, list) or not files or len(files) > MAX_FILES:
        return error_response(400, f"`files` must be a list of 1 to {MAX_FILES}", param="files")
    known = _files(root)
    out: dict[str, str] = {}
    for i, f in enumerate(files):
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            return error_response(400, "each file needs a `path`", param=f"files.{i}.path")
        if not isinstance(f.get("text"), str):
            return error_response(400, "each file needs a `text`", param=f"files.{i}.text")
        if f["path"] not in known:
            choices = ", ".join(sorted(known))
            msg = f"the config has no file '{f['path']}' (it has: {choices})"
            return error_response(400, msg, param=f"files.{i}.path")
        out[f["path"]] = f["text"]
    return unstarred(out, {name: known[name].read_text(encoding="utf-8") for name in out}, names)


def unstarred(
    texts: dict[str, str], on_disk: dict[str, str], names: frozenset[str]
) -> dict[str, str]:
    """``texts`` with every line that is a starred line of the file on disk (a secret as the page
    was shown it, sent back unchanged) replaced by the real line: an edit made from what the page
    showed never writes stars over a secret."""
    out = {}
    for name, text in texts.items():
        real = on_disk[name].split("\n")
        starred = shown_texts({name: on_disk[name]}, names)[name].split("\n")
        back = {s: r for s, r in zip(starred, real, strict=True) if s != r}
        out[name] = "\n".join(back.get(line, line) for line in text.split("\n")) if back else text
    return out


def _diff(root: Path, texts: dict[str, str], names: frozenset[str]) -> list[dict[str, str]]:
    """Each edited file's unified diff, literal secrets starred on both sides."""
    before = shown_texts({name: _files(root)[name].read_text(encoding="utf-8") for name in texts},
                         names)  # fmt: skip
    after = shown_texts(texts, names)
    out = []
    for name in sorted(texts):
        old, new = before[name].splitlines(keepends=True), after[name].splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, name, name)
        out.append({"path": name, "diff": "".join(lines)})
    return out


def shown_texts(texts: dict[str, str], names: frozenset[str] = frozenset()) -> dict[str, str]:
    """``texts`` as the page may show them: every literal secret (an ``api_key`` written out, a
    secret header, a URL's password, anything shaped like a key) starred, character for
    character, as ``validate`` stars the lines it prints."""
    return find_secrets(texts, names=names).files(texts)


def discovered(rt: Runtime) -> CatalogSnapshot | None:
    """The models discovery found, which the served table was compiled with."""
    return rt.config.snapshot if rt.config is not None else None


def shown_names(rt: Runtime) -> frozenset[str]:
    return config_names(rt.config.doc.data) if rt.config is not None else frozenset()


async def get_config(rt: Runtime, call: Call) -> Reply:
    """``GET /admin/api/config``."""
    got = await admin_client(rt, call)
    if isinstance(got, Reply):
        return got
    root = config_root(rt)
    if isinstance(root, Reply):
        return root
    last = rt.holder.last_reload
    texts = read_files(root)
    shown = shown_texts(texts, shown_names(rt))
    files = [{"path": name, "text": text} for name, text in shown.items()]
    errors: list[Diagnostic] = list(last.errors) if not last.ok else []
    return Reply.json(
        {
            "sha": rt.holder.current.sha256,
            "status": "ok" if last.ok else "error",
            "root": str(root),
            "files": files,
            "files_sha": files_sha(texts),
            "diagnostics": [to_json_obj(d) for d in errors],
            "history": _history(rt),
            "version": __version__,
            "state_dir": rt.holder.current.settings.state_dir,
        }
    )


def _history(rt: Runtime) -> list[dict[str, Any]]:
    """The last reloads (at most 20, newest first): when, why, what came of it."""
    if rt.config is None:
        return []
    return [
        {
            "time": r.at,
            "status": r.status,
            "reason": r.reason,
            "old_sha": r.old_sha,
            "new_sha": r.new_sha,
            "summary": r.summary,
            "ms": round(r.ms, 1),
            "errors": [to_json_obj(d) for d in r.errors],
        }
        for r in reversed(rt.config.counters.history)
    ]


async def _edit_asked(
    rt: Runtime, call: Call
) -> tuple[Path, dict[str, Any], dict[str, str]] | Reply:
    """An admin's edit: the config's path, the body, and the files' new texts; or the refusal."""
    got = await admin_body(rt, call)
    if isinstance(got, Reply):
        return got
    root, body = config_root(rt), got[2]
    if isinstance(root, Reply):
        return root
    texts = wanted_files(body, root, shown_names(rt))
    if isinstance(texts, Reply):
        return texts
    return root, body, texts


async def preview(rt: Runtime, call: Call) -> Reply:
    """``POST /admin/api/config/preview``: nothing is written."""
    asked = await _edit_asked(rt, call)
    if isinstance(asked, Reply):
        return asked
    root, _body, texts = asked
    return Reply.json(await preview_of(rt, root, texts))


async def preview_of(rt: Runtime, root: Path, texts: dict[str, str]) -> dict[str, Any]:
    """``{ok, sha, diagnostics, diff}`` for the config with ``texts`` in place of its files (a
    compile in a worker thread; nothing written): the preview every edit is shown as."""
    result, diagnostics = await asyncio.to_thread(compile_with, root, texts, discovered(rt))
    table = result.table
    changes = [str(c) for c in diff_tables(rt.holder.current, table)] if table else []
    return {
        "ok": table is not None,
        "sha": table.sha256 if table is not None else None,
        "diagnostics": diagnostics,
        "diff": {"files": _diff(root, texts, shown_names(rt)), "table": changes},
    }


async def disk_sha(rt: Runtime, root: Path) -> str:
    """The sha of the config as it is on disk now (compiled in a worker thread): what
    ``base_sha`` is checked against; the served table's when the files do not compile."""
    if rt.config is not None and await asyncio.to_thread(rt.config.serves_disk):
        return rt.holder.current.sha256  # the table served was compiled from these very files
    now, _ = await asyncio.to_thread(compile_with, root, {}, discovered(rt))
    return now.table.sha256 if now.table is not None else rt.holder.current.sha256


async def put_config(rt: Runtime, call: Call) -> Reply:
    """``PUT /admin/api/config``: compiled, checked against ``base_sha``, written, reloaded."""
    asked = await _edit_asked(rt, call)
    if isinstance(asked, Reply):
        return asked
    root, body, texts = asked
    base_sha = body.get("base_sha")
    if not isinstance(base_sha, str):
        return error_response(400, "`base_sha` (the sha the edit starts from) is required",
                              param="base_sha")  # fmt: skip
    assert rt.config is not None
    before = read_files(root)
    base_files = body.get("base_files_sha")
    if base_files is not None and base_files != files_sha(before):  # comments count here
        return _conflict(await disk_sha(rt, root))
    on_disk = await disk_sha(rt, root)
    if base_sha != on_disk:
        return _conflict(on_disk)
    result, diagnostics = await asyncio.to_thread(compile_with, root, texts, discovered(rt))
    if result.table is None:
        reply = error_response(422, "the edited config does not compile: nothing was written",
                               code="config_invalid")  # fmt: skip
        return Reply.json({**_body(reply), "diagnostics": diagnostics}, 422)
    if not await asyncio.to_thread(_write, root, texts, before):
        return _conflict(None)
    outcome = await rt.config.reload("admin API")
    sha = rt.holder.current.sha256
    status = outcome.status if outcome is not None else "unchanged"
    return Reply.json({"sha": sha, "status": str(status)})


def _write(root: Path, texts: dict[str, str], before: dict[str, str]) -> bool:
    """Write each changed file under its lock; False (and that file not written) when one
    changed on disk since ``before`` was read."""
    known = _files(root)
    for name, text in sorted(texts.items()):
        if text == before[name]:
            continue
        stale = False

        def change(old: str, name: str = name, text: str = text) -> str | None:
            nonlocal stale
            stale = old != before[name]
            return None if stale else text

        rewrite(known[name], change)
        if stale:
            return False
    return True


def _conflict(sha: str | None) -> Reply:
    msg = "the config changed since `base_sha`: read it again (GET /admin/api/config)"
    reply = error_response(409, msg, code="config_changed")
    return Reply.json({**_body(reply), "sha": sha}, 409)


def _body(reply: Reply) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(reply.body)
    return data
