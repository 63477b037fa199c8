"""Hot reload: recompile the config when it changes and swap the table; keep the old one on failure.

:class:`ConfigSource` owns what the serving table was compiled from: the config path, the last
good source document and the catalog snapshot. Every recompile goes through it, one at a time
(a saved file, SIGHUP, a changed catalog from discovery), off the event loop, so a discovery
recompile can never put back a table from an older document.

A reload (:meth:`ConfigSource.reload`):

1. **Settles** the files: reads them until two reads 50 ms apart are identical (an editor that
   truncates then writes is never compiled half-way), and waits up to 1 s for a config that
   vanished to come back (delete-and-recreate saves).
2. **Compiles** them (``load_files`` + ``build_document`` with the current catalog) in a worker
   thread of its own, with a deadline (:data:`COMPILE_TIMEOUT_S`). A compile past it is
   abandoned (see :mod:`localrouter.server.bounded`): the reload is recorded as ``stuck``
   (LR507) and the next one runs as usual. Identical content (the same table sha) is a no-op.
3. **Refuses** a change to a setting that cannot apply live (``server.host``, ``server.port``,
   ``server.http_server``, ``state_dir``): LR504 "restart required", the old table keeps serving.
4. **Swaps** on success through ``install`` (the holder's one assignment plus runtime
   reconciliation), or records the failure for ``/health`` and logs it as ``validate`` would.

:func:`watch` drives reloads from watchfiles: it watches the config's *directory* (a watch on
the file itself misses atomic rename saves) and keeps only events for the config's own files,
debounced so a burst of saves makes one reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from localrouter.compiler.build import BuildResult, build_document
from localrouter.compiler.catalog import CatalogSnapshot
from localrouter.compiler.diff import diff_tables
from localrouter.compiler.settings import Settings
from localrouter.compiler.table import RoutingTable
from localrouter.config.source import SourceDocument, config_files, load_files
from localrouter.diagnostics import Diagnostic, Severity, error, render_full
from localrouter.server.bounded import Abandoned, run_bounded

log = logging.getLogger("localrouter.reload")

SETTLE_STEP_S = 0.05  # two identical reads this far apart: the file is written
SETTLE_MAX_S = 1.0  # give up waiting for a vanished config or a file still being written
DEBOUNCE_MS = 300  # a burst of saves within this → one reload
STEP_MS = 100  # no new event for this long ends a burst
# the settings that cannot change while serving, by name (what LR504 says)
LIVE_ONLY: tuple[tuple[str, Callable[[Settings], object]], ...] = (
    ("server.host", lambda s: s.server.host),
    ("server.port", lambda s: s.server.port),
    ("server.http_server", lambda s: s.server.http_server),
    ("state_dir", lambda s: s.state_dir),
)
COMPILE_TIMEOUT_S = 30.0  # a config compiles in well under a second (4 MiB parses in ~5 s)

Status = Literal["swapped", "unchanged", "failed", "refused", "stuck"]
Install = Callable[[RoutingTable], object]  # Runtime.swap: secrets, the swap, runtime state


@dataclass(frozen=True)
class ReloadOutcome:
    status: Status
    old_sha: str
    new_sha: str | None  # the compiled table's sha (None when nothing compiled)
    ms: float  # compile time
    summary: str  # what changed, one line
    errors: tuple[Diagnostic, ...] = ()
    reason: str = ""  # what triggered it: "file changed", "SIGHUP", ...
    at: float = field(default_factory=time.time)  # when it ended (unix s)


@dataclass
class Counters:
    """Reloads so far, by outcome (for ``/health`` and, later, metrics)."""

    swapped: int = 0
    unchanged: int = 0
    failed: int = 0
    refused: int = 0
    stuck: int = 0
    last: ReloadOutcome | None = None
    history: list[ReloadOutcome] = field(default_factory=list)  # the last 20

    def count(self, outcome: ReloadOutcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.last = outcome
        self.history = [*self.history[-19:], outcome]


def fingerprint(path: Path) -> str | None:
    """A digest of the config's files (names and bytes); None when the config is missing."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    try:
        for f in config_files(path):
            digest.update(os.fsencode(f.name) + b"\0" + f.read_bytes() + b"\0")
    except OSError:  # a file vanished between listing and reading: not settled yet
        return None
    return digest.hexdigest()


def summarize(old: RoutingTable, new: RoutingTable, most: int = 3) -> str:
    """What changed, in one line: the first few routing changes and how many more."""
    changes = [str(c) for c in diff_tables(old, new)]
    if not changes:
        return "settings or catalog changed (routing is the same)"
    more = f" (+{len(changes) - most} more)" if len(changes) > most else ""
    return "; ".join(changes[:most]) + more


class ConfigSource:
    """The config the gateway serves, recompiled on demand; see the module docstring."""

    def __init__(
        self,
        path: Path | None,
        doc: SourceDocument,
        diagnostics: list[Diagnostic],
        current: Callable[[], RoutingTable],
        install: Install,
        failed: Callable[[str, tuple[Diagnostic, ...]], None],
    ) -> None:
        self.path = path
        self.doc = doc
        self.diagnostics = list(diagnostics)
        self.snapshot: CatalogSnapshot | None = None
        self.counters = Counters()
        self._current = current
        self._install = install
        self._failed = failed
        self._lock = asyncio.Lock()
        self._started = current()  # settings that cannot change live are compared with this
        self._compiled = fingerprint(path) if path is not None else None  # the files served
        self.running: tuple[str, float] | None = None  # (reason, unix time) of a reload under way
        self.abandoned = Abandoned()  # compiles stopped at their deadline (until they end)

    def serves_disk(self) -> bool:
        """True when the files on disk are byte for byte those the served table was compiled
        from (no edit since, and the last compile of them succeeded)."""
        if self.path is None or self._compiled is None or self.running is not None:
            return False
        last = self.counters.last
        failed = last is not None and last.status not in ("swapped", "unchanged")
        return not failed and fingerprint(self.path) == self._compiled

    # -- recompiles ------------------------------------------------------------------------
    async def reload(self, reason: str = "file changed") -> ReloadOutcome | None:
        """Recompile from the files on disk and swap on success (see the module docstring).

        For a file event (``reason`` "file changed") whose files, once settled, are byte for byte
        those last compiled, nothing happens and None is returned: the events of one save that
        arrived while it was being compiled. SIGHUP always recompiles.
        """
        if self.path is None:
            raise RuntimeError("this config was not loaded from a path: nothing to reload")
        async with self._lock:
            settled = await self._settle()
            if reason == "file changed" and settled is not None and settled == self._compiled:
                log.debug("reload: the files are those last compiled; nothing to do")
                return None
            self._compiled = settled
            started = time.perf_counter()
            self.running = (reason, time.time())
            try:
                loaded, result = await run_bounded(
                    self._compile_files, COMPILE_TIMEOUT_S, self.abandoned, "reload"
                )
            except TimeoutError as exc:
                ms = (time.perf_counter() - started) * 1000
                outcome = self._stuck(str(exc), ms, reason)
                result = BuildResult(None, outcome.errors, {})
            else:
                ms = (time.perf_counter() - started) * 1000
                outcome = self._apply(loaded, result, ms, reason)
            finally:
                self.running = None
        self.counters.count(outcome)
        self._log(outcome, result)
        return outcome

    async def with_catalog(self, snapshot: CatalogSnapshot) -> bool:
        """Recompile the current document with a new catalog (discovery); True if it compiled."""
        async with self._lock:
            before = self._current().sha256
            try:
                ok = await run_bounded(
                    lambda: self.install_catalog(snapshot), COMPILE_TIMEOUT_S, self.abandoned,
                    "catalog recompile",
                )  # fmt: skip
            except TimeoutError as exc:
                log.error("catalog changed, but the recompile was stopped: %s", exc)
                return False
        if ok and self._current().sha256 != before:
            log.info("catalog changed: serving table %s", self._current().sha256[:12])
        return ok

    def install_catalog(self, snapshot: CatalogSnapshot) -> bool:
        """The synchronous part of :meth:`with_catalog` (also used once at start-up, with the
        cached catalog: quietly, the start-up line names the table served)."""
        result = build_document(self.doc, list(self.diagnostics), snapshot=snapshot)
        if result.table is None:
            return False
        self.snapshot = snapshot
        if result.table.sha256 != self._current().sha256:
            self._install(result.table)
        return True

    # -- the steps -------------------------------------------------------------------------
    async def _settle(self) -> str | None:
        """Wait until the files read the same twice in a row; their fingerprint (None: gone)."""
        assert self.path is not None
        deadline = time.monotonic() + SETTLE_MAX_S
        before = fingerprint(self.path)
        while time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_STEP_S)
            now = fingerprint(self.path)
            if now is not None and now == before:
                return now
            before = now
        return before

    def _compile_files(self) -> tuple[tuple[SourceDocument, list[Diagnostic]] | None, BuildResult]:
        assert self.path is not None
        doc, diags, texts = load_files(self.path)
        if doc is None:
            return None, BuildResult(None, tuple(diags), texts)
        result = build_document(doc, list(diags), snapshot=self.snapshot)
        return (doc, diags), result

    def _apply(
        self,
        loaded: tuple[SourceDocument, list[Diagnostic]] | None,
        result: BuildResult,
        ms: float,
        reason: str,
    ) -> ReloadOutcome:
        old = self._current()
        table = result.table
        if table is None:
            errors = tuple(d for d in result.diagnostics if d.severity is Severity.ERROR)
            sha = (fingerprint(self.path) if self.path else None) or ""
            self._failed(sha, errors)
            return ReloadOutcome("failed", old.sha256, None, ms, "", errors, reason)
        if table.sha256 == old.sha256:
            assert loaded is not None
            self.doc, self.diagnostics = loaded
            self._install(table)  # records a good reload (clears an earlier failure)
            return ReloadOutcome("unchanged", old.sha256, table.sha256, ms, "no change", (), reason)
        refused = self._restart_required(table)
        if refused:
            self._failed(table.sha256, refused)
            return ReloadOutcome("refused", old.sha256, table.sha256, ms, "", refused, reason)
        assert loaded is not None
        self.doc, self.diagnostics = loaded
        self._install(table)
        return ReloadOutcome(
            "swapped", old.sha256, table.sha256, ms, summarize(old, table), (), reason
        )

    def _stuck(self, why: str, ms: float, reason: str) -> ReloadOutcome:
        """The compile did not finish in time (or could not start): keep serving, say so."""
        errors = (
            error(
                "LR507",
                f"reload stuck: {why}; still serving the previous config",
                None,
                "run `localrouter validate` on the config: a config compiles in well under a "
                "second; save it again once fixed (later saves are reloaded as usual)",
            ),
        )
        sha = (fingerprint(self.path) if self.path else None) or ""
        self._failed(sha, errors)
        return ReloadOutcome("stuck", self._current().sha256, None, ms, "", errors, reason)

    def _restart_required(self, table: RoutingTable) -> tuple[Diagnostic, ...]:
        out = []
        for name, setting in LIVE_ONLY:
            before, after = setting(self._started.settings), setting(table.settings)
            if before != after:
                out.append(
                    error(
                        "LR504",
                        f"restart required: `{name}` changed ({before!r} → {after!r}) and "
                        "cannot change while serving; still serving the previous config",
                        None,
                        "restart `localrouter serve`, or put the old value back",
                    )
                )
        return tuple(out)

    def _log(self, outcome: ReloadOutcome, result: BuildResult) -> None:
        old, new = outcome.old_sha[:12], (outcome.new_sha or "")[:12]
        if outcome.status == "swapped":
            log.info(
                "reloaded (%s): %s → %s in %.0f ms: %s",
                outcome.reason, old, new, outcome.ms, outcome.summary,
            )  # fmt: skip
        elif outcome.status == "unchanged":
            log.info("reload (%s): no change (%s)", outcome.reason, old)
        else:
            shown = render_full(outcome.errors, result.files)
            log.error("reload (%s) failed: still serving %s\n%s", outcome.reason, old, shown)


async def watch(source: ConfigSource, stop: asyncio.Event) -> None:
    """Reload on every settled change to the config's files until ``stop`` is set."""
    from watchfiles import awatch

    if source.path is None:
        return
    target = source.path.resolve()
    directory = target if target.is_dir() else target.parent

    def relevant(_change: object, changed: str) -> bool:
        p = Path(changed)
        if target.is_dir():
            return p.parent == target and p.suffix in (".yaml", ".yml")
        return p == target

    async for _changes in awatch(
        directory,
        watch_filter=relevant,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop,
        recursive=False,
    ):
        try:
            await source.reload("file changed")
        except Exception:  # a bug must not end the watching: logged with its traceback
            log.exception("reload failed unexpectedly; still serving the previous table")
