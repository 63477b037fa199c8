"""The discovered catalog's pieces that need no event loop: normalising a provider's listing, and
the ``state_dir/catalog.json`` cache codec and its atomic write (see :mod:`.catalog` for the
format's rules: missing means empty, anything malformed is ignored as a whole).
"""

from __future__ import annotations

import json
import logging
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localrouter.compiler.catalog import DiscoveredModel
from localrouter.fsutil import atomic_write

log = logging.getLogger("localrouter.discovery")

CACHE_NAME = "catalog.json"
FORMAT = "localrouter-catalog"
VERSION = 1
MAX_MODELS = 20_000  # per provider; more is dropped (sorted by name, the first kept)
MAX_CACHE_BYTES = 16 * 1024 * 1024

Models = tuple[DiscoveredModel, ...]
_NUMBERS = ("params_b", "input_per_mtok", "output_per_mtok")
_FIELDS = frozenset({"name", "context_window", "capabilities", *_NUMBERS})


@dataclass(frozen=True)
class CacheEntry:
    identity: str
    models: Models
    fetched_at: float | None = None


def _number(v: object) -> float | None:
    """A finite, non-negative number as a float (the same object when it is one); else None."""
    if type(v) is float:
        return v if 0.0 <= v < math.inf else None  # NaN fails both comparisons
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if 0.0 <= f < math.inf else None


def clean_model(m: DiscoveredModel) -> DiscoveredModel | None:
    """One listing entry made canonical (``m`` itself when it already is); None without a name."""
    if not isinstance(m, DiscoveredModel) or not isinstance(m.name, str) or not m.name.strip():
        return None
    cw, caps = m.context_window, m.capabilities
    nums = (m.params_b, m.input_per_mtok, m.output_per_mtok)
    p, i, o = good_nums = (_number(nums[0]), _number(nums[1]), _number(nums[2]))
    good_cw = cw if type(cw) is int and cw > 0 else None
    good_caps = (
        tuple(sorted({c for c in caps if isinstance(c, str)}))
        if isinstance(caps, list | tuple)
        else None
    )
    same = good_cw is cw and all(map(operator.is_, good_nums, nums))
    if same and (caps is None or (type(caps) is tuple and caps == good_caps)):
        return m  # the common case: an adapter's (or the cache's) entry is canonical already
    return DiscoveredModel(m.name, good_cw, p, i, o, good_caps)


def _unique_sorted(found: Iterable[DiscoveredModel]) -> Models:
    by_name = {m.name: m for m in found}  # the last duplicate wins, as in build_catalog
    names = sorted(by_name)
    if len(names) > MAX_MODELS:
        log.warning("discovery: %d models listed, keeping the first %d", len(names), MAX_MODELS)
        names = names[:MAX_MODELS]
    return tuple(by_name[n] for n in names)


def clean_models(found: Iterable[DiscoveredModel]) -> Models:
    """A listing made canonical: entries cleaned; by name (the last duplicate wins), sorted."""
    return _unique_sorted(c for c in map(clean_model, found) if c is not None)


def _model_json(m: DiscoveredModel) -> dict[str, Any]:
    out: dict[str, Any] = {"name": m.name}
    for key in ("context_window", *_NUMBERS):
        if getattr(m, key) is not None:
            out[key] = getattr(m, key)
    if m.capabilities is not None:
        out["capabilities"] = list(m.capabilities)
    return out


def _model_from_json(doc: object) -> DiscoveredModel:
    """A cached model: ValueError or TypeError unless it is canonical (what the cache writes)."""
    if not isinstance(doc, dict) or not _FIELDS.issuperset(doc):
        raise ValueError("a malformed model entry")
    caps = doc.get("capabilities")
    raw = DiscoveredModel(
        **{**doc, "capabilities": tuple(sorted(caps)) if isinstance(caps, list) else caps}
    )
    model = clean_model(raw)
    if model is None or (model is not raw and model != raw):
        raise ValueError(f"a malformed model entry {str(doc.get('name'))[:80]!r}")
    return model


def encode_cache(entries: Mapping[str, CacheEntry], written_at: float) -> bytes:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "written_at": written_at,
        "providers": {
            name: {
                "identity": e.identity,
                "fetched_at": e.fetched_at,
                "models": [_model_json(m) for m in e.models],
            }
            for name, e in sorted(entries.items())
        },
    }
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def decode_cache(data: bytes) -> dict[str, CacheEntry]:
    """The entries of a cache file; ValueError or TypeError for anything malformed."""
    doc = json.loads(data, parse_constant=_reject_constant)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("not a LocalRouter catalog cache")
    if doc.get("version") != VERSION:
        raise ValueError(f"cache version {doc.get('version')!r}, this LocalRouter reads {VERSION}")
    providers = doc.get("providers")
    if not isinstance(providers, dict):
        raise ValueError("no providers")
    out: dict[str, CacheEntry] = {}
    for name, e in providers.items():
        if not isinstance(e, dict) or not isinstance(e.get("identity"), str):
            raise ValueError(f"bad entry for provider {name!r}")
        models, fetched = e.get("models"), e.get("fetched_at")
        if not isinstance(models, list) or (fetched is not None and _number(fetched) is None):
            raise ValueError(f"bad entry for provider {name!r}")
        listed = _unique_sorted(map(_model_from_json, models))
        out[name] = CacheEntry(e["identity"], listed, _number(fetched))
    return out


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` entirely or keeps its old content (0600, in a 0700 directory)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, data, backup=False)
