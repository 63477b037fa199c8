"""Hot reload with real files and the real watcher (watchfiles): each way editors save makes
exactly one reload of the complete file; bad edits keep the old table; bursts are debounced."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from localrouter.compiler.build import build_document
from localrouter.compiler.table import RoutingTable
from localrouter.config.source import load_files
from localrouter.diagnostics import Diagnostic
from localrouter.server.holder import TableHolder
from localrouter.server.reload import ConfigSource, watch

ROOT = Path(__file__).resolve().parent.parent
DEMO = (ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8")
# the same config routing differently: a distinct table sha
CHEAPER = DEMO.replace("order: [highest_performance]", "order: [lowest_cost]")
BROKEN_YAML = DEMO.replace("strategies:", "strategies: [")


def compile_path(path: Path) -> tuple[ConfigSource, TableHolder]:
    doc, diags, _ = load_files(path)
    assert doc is not None
    table = build_document(doc, list(diags)).table
    assert table is not None
    holder = TableHolder(table)

    def install(t: RoutingTable) -> None:
        holder.swap(t)

    def failed(sha: str, errors: tuple[Diagnostic, ...]) -> None:
        holder.failed(sha, errors)

    return ConfigSource(path, doc, list(diags), lambda: holder.current, install, failed), holder


@contextlib.asynccontextmanager
async def watching(path: Path) -> AsyncIterator[tuple[ConfigSource, TableHolder]]:
    source, holder = compile_path(path)
    stop = asyncio.Event()
    task = asyncio.ensure_future(watch(source, stop))
    await asyncio.sleep(0.3)  # the watcher is set up
    try:
        yield source, holder
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def settle(source: ConfigSource, reloads: int, timeout: float = 5.0) -> None:
    """Wait until ``reloads`` reloads happened, then a little longer for any extra one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    c = source.counters
    while c.swapped + c.unchanged + c.failed + c.refused < reloads and loop.time() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.8)  # an extra reload (a half-written file compiled) would show now


def total(source: ConfigSource) -> int:
    c = source.counters
    return c.swapped + c.unchanged + c.failed + c.refused


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "routers.yaml"
    path.write_text(DEMO, encoding="utf-8")
    return path


async def test_in_place_write(config: Path) -> None:
    async with watching(config) as (source, holder):
        old = holder.current.sha256
        config.write_text(CHEAPER, encoding="utf-8")
        await settle(source, 1)
        assert (total(source), source.counters.swapped) == (1, 1)
        assert holder.current.sha256 != old and holder.last_reload.ok


async def test_atomic_rename_save(config: Path) -> None:
    async with watching(config) as (source, _holder):
        tmp = config.with_name(".routers.yaml.tmp")
        tmp.write_text(CHEAPER, encoding="utf-8")
        os.replace(tmp, config)
        await settle(source, 1)
        assert (total(source), source.counters.swapped) == (1, 1)


async def test_truncate_then_write_slowly(config: Path) -> None:
    """The file is empty, then half there, for a while: only the complete file is compiled."""
    async with watching(config) as (source, _holder):
        with config.open("w", encoding="utf-8") as f:
            f.flush()
            await asyncio.sleep(0.03)
            f.write(CHEAPER[: len(CHEAPER) // 2])
            f.flush()
            await asyncio.sleep(0.03)
            f.write(CHEAPER[len(CHEAPER) // 2 :])
        await settle(source, 1)
        assert (total(source), source.counters.swapped, source.counters.failed) == (1, 1, 0)


async def test_delete_and_recreate(config: Path) -> None:
    async with watching(config) as (source, _holder):
        config.unlink()
        await asyncio.sleep(0.15)
        config.write_text(CHEAPER, encoding="utf-8")
        await settle(source, 1)
        assert (source.counters.swapped, source.counters.failed) == (1, 0)


async def test_a_burst_of_saves_is_one_reload(config: Path) -> None:
    async with watching(config) as (source, holder):
        for i in range(5):
            config.write_text(CHEAPER + f"\n# save {i}\n", encoding="utf-8")
            await asyncio.sleep(0.02)
        await settle(source, 1)
        assert total(source) == 1 and source.counters.swapped == 1
        assert holder.generation == 2


async def test_other_files_in_the_directory_are_ignored(config: Path) -> None:
    async with watching(config) as (source, _holder):
        (config.parent / "notes.txt").write_text("x", encoding="utf-8")
        (config.parent / ".routers.yaml.swp").write_text("x", encoding="utf-8")
        await asyncio.sleep(1.0)
        assert total(source) == 0


async def test_a_bad_edit_keeps_the_old_table_then_recovers(config: Path) -> None:
    async with watching(config) as (source, holder):
        old = holder.current
        config.write_text(BROKEN_YAML, encoding="utf-8")
        await settle(source, 1)
        assert holder.current is old and not holder.last_reload.ok
        assert {d.code for d in holder.last_reload.errors} == {"LR101"}
        config.write_text(CHEAPER, encoding="utf-8")
        await settle(source, 2)
        assert holder.current is not old and holder.last_reload.ok
        assert (source.counters.failed, source.counters.swapped) == (1, 1)


async def test_identical_content_is_a_no_op(config: Path) -> None:
    async with watching(config) as (source, holder):
        config.write_text(DEMO + "\n# only a comment\n", encoding="utf-8")
        await settle(source, 1)
        assert source.counters.unchanged == 1 and holder.generation == 1


async def test_a_new_port_needs_a_restart(config: Path) -> None:
    source, holder = compile_path(config)
    old = holder.current
    config.write_text(CHEAPER.replace("port: 3625", "port: 3626"), encoding="utf-8")
    outcome = await source.reload("SIGHUP")
    assert outcome.status == "refused" and holder.current is old
    assert [d.code for d in outcome.errors] == ["LR504"]
    assert "restart required: `server.port` changed (3625 → 3626)" in outcome.errors[0].message


async def test_a_vanished_config_fails_and_keeps_serving(config: Path) -> None:
    source, holder = compile_path(config)
    config.unlink()
    outcome = await source.reload("SIGHUP")
    assert outcome.status == "failed" and [d.code for d in outcome.errors] == ["LR501"]
    assert holder.current.sha256 == outcome.old_sha


async def test_swap_summary_says_what_changed(config: Path) -> None:
    source, _holder = compile_path(config)
    config.write_text(CHEAPER, encoding="utf-8")
    outcome = await source.reload()
    assert outcome.status == "swapped" and "maximum-performance" in outcome.summary
