"""LocalRouter: a local, privacy-first LLM gateway compiled from declarative YAML.

The public API is pinned by ``tests/test_exported_members.py``. Members are imported lazily, so
``import localrouter`` (and the command line) pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BuildResult": "localrouter.compiler.build",
    "build": "localrouter.compiler.build",
    "Decision": "localrouter.routing.route",
    "route": "localrouter.routing.route",
    "Diagnostic": "localrouter.diagnostics",
    "Severity": "localrouter.diagnostics",
    "Span": "localrouter.diagnostics",
    "NowFacts": "localrouter.routing.facts",
    "RequestFacts": "localrouter.routing.facts",
    "RoutingTable": "localrouter.compiler.table",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from localrouter.compiler.build import BuildResult as BuildResult
    from localrouter.compiler.build import build as build
    from localrouter.compiler.table import RoutingTable as RoutingTable
    from localrouter.diagnostics import Diagnostic as Diagnostic
    from localrouter.diagnostics import Severity as Severity
    from localrouter.diagnostics import Span as Span
    from localrouter.routing.facts import NowFacts as NowFacts
    from localrouter.routing.facts import RequestFacts as RequestFacts
    from localrouter.routing.route import Decision as Decision
    from localrouter.routing.route import route as route


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'localrouter' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
