"""Model discovery wired to the server: list each provider's models in the background and, when
the catalog changes, recompile the table (off the event loop) and swap it in.

The table stays immutable: a new catalog makes a new table, compiled from the same source
document as the running one. Start-up never waits on the network: the catalog cached in
``state_dir/catalog.json`` is used at once, and the first refresh runs in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time

from localrouter.compiler.build import build_document
from localrouter.compiler.catalog import CatalogSnapshot, DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.config.source import SourceDocument
from localrouter.diagnostics import Diagnostic
from localrouter.errors import UpstreamError
from localrouter.providers.registry import adapter_for
from localrouter.runtime.catalog import Discovery
from localrouter.server.state import Runtime

log = logging.getLogger("localrouter.discovery")


def start_discovery(rt: Runtime, source: tuple[SourceDocument, list[Diagnostic]]) -> Discovery:
    doc, diags = source

    async def list_models(p: Provider) -> list[DiscoveredModel]:
        why = rt.upstreams.unusable(p.name)  # names a missing secret reference, never a value
        if why is not None:
            raise UpstreamError(why, provider=p.name)
        adapter = adapter_for(p.wire)
        return await adapter.list_models(rt.upstreams.client(p), p, rt.upstreams.key(p.name))

    def install(snapshot: CatalogSnapshot) -> bool:
        result = build_document(doc, list(diags), snapshot=snapshot)
        if result.table is None:
            return False
        rt.upstreams.reconcile(result.table)
        if rt.holder.swap(result.table):
            log.info("catalog changed: serving table %s", result.table.sha256[:12])
        return True

    async def recompile(snapshot: CatalogSnapshot) -> None:
        ok = await asyncio.to_thread(install, snapshot)
        if not ok:
            raise RuntimeError("recompiling with the discovered catalog failed")
        discovery.reconcile(rt.holder.current.providers)

    state_dir = rt.holder.current.settings.get("state_dir")
    discovery = Discovery(time.time, state_dir, list_models=list_models, on_change=recompile)
    cached = discovery.load_cached()  # sync, no network
    if cached.providers:
        install(cached)
    discovery.reconcile(rt.holder.current.providers)
    rt.discovery = discovery
    return discovery
