"""Which adapter speaks which wire format. Adapter modules are imported on first use."""

from __future__ import annotations

import importlib
from functools import cache
from typing import cast

from localrouter.providers.base import Adapter

MODULES = {
    "openai": "localrouter.providers.openai",
    "anthropic": "localrouter.providers.anthropic",
    "gemini": "localrouter.providers.gemini",
    "ollama": "localrouter.providers.ollama",
    "mock": "localrouter.providers.mock",
}


@cache
def adapter_for(wire: str) -> Adapter:
    """The adapter for a wire format (one stateless instance per process)."""
    module = importlib.import_module(MODULES[wire])
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and value.__name__.endswith("Adapter")
            and getattr(value, "wire", None) == wire
        ):
            return cast(Adapter, value())
    raise LookupError(f"no adapter class with wire {wire!r} in {MODULES[wire]}")
