"""Model discovery wired to the server: list each provider's models in the background and, when
the catalog changes, recompile the table (off the event loop) and swap it in.

The table stays immutable: a new catalog makes a new table, compiled from the source document of
the running one by :class:`~localrouter.server.reload.ConfigSource` (in a worker thread, one
recompile at a time with hot reloads), then swapped in through
:meth:`~localrouter.server.state.Runtime.swap`, which also reconciles runtime state. Start-up
never waits on the network: the catalog cached in ``state_dir/catalog.json`` is used at once, and
the first refresh runs in the background.
"""

from __future__ import annotations

import time

from localrouter.compiler.catalog import CatalogSnapshot, DiscoveredModel
from localrouter.compiler.table import Provider
from localrouter.errors import UpstreamError
from localrouter.providers.registry import adapter_for
from localrouter.runtime.catalog import Discovery
from localrouter.server.reload import ConfigSource
from localrouter.server.state import Runtime


def start_discovery(rt: Runtime, config: ConfigSource) -> Discovery:
    """Discovery for ``rt``'s providers; a changed catalog recompiles through ``config``."""

    async def list_models(p: Provider) -> list[DiscoveredModel]:
        why = rt.upstreams.unusable(p.name)  # names a missing secret reference, never a value
        if why is not None:
            raise UpstreamError(why, provider=p.name)
        adapter = adapter_for(p.wire)
        client, key = rt.upstreams.client(p), rt.upstreams.key(p.name)
        return await adapter.list_models(client, p, key, rt.upstreams.redactor)

    async def recompile(snapshot: CatalogSnapshot) -> None:
        if not await config.with_catalog(snapshot):
            raise RuntimeError("recompiling with the discovered catalog failed")

    state_dir = rt.holder.current.settings.state_dir
    discovery = Discovery(time.time, state_dir, list_models=list_models, on_change=recompile)
    rt.discovery = discovery
    cached = discovery.load_cached()  # sync, no network
    if not (cached.providers and config.install_catalog(cached)):
        rt.reconcile(rt.holder.current)
    return discovery
