"""Client authentication: ``Authorization: Bearer lr-…`` or ``x-api-key``.

The client is found by its ``key_prefix`` (the key's first 11 characters), so a wrong key costs at
most one bcrypt check, never one per stored client. bcrypt runs in a worker thread (it takes
~0.1–0.3 s at cost 12), at most :data:`MAX_CONCURRENT_CHECKS` at a time. A success is cached under
an HMAC of the key (a per-process random secret, so the cache never holds a key) in a bounded LRU;
an entry is valid only while the client still has the same ``key_hash``, so a rotated, removed
or disabled client is refused on its very next request after a reload. Keys over bcrypt's 72-byte
limit, or not shaped like ours, are refused without a check. The presented key is never echoed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import bcrypt

from localrouter.compiler.table import Client, RoutingTable

KEY_PREFIX_LEN = 11
MAX_KEY_BYTES = 72
MAX_CONCURRENT_CHECKS = 2
CACHE_SIZE = 4096


@dataclass(frozen=True)
class AuthResult:
    client: Client | None
    status: int  # 200, 401 or 403
    message: str = ""


def presented_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


class Authenticator:
    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._secret = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._size = cache_size
        self._checks = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

    def _mac(self, key: str) -> bytes:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).digest()

    async def authenticate(self, table: RoutingTable, key: str | None) -> AuthResult:
        if not key:
            return AuthResult(None, 401, "missing API key: send `Authorization: Bearer lr-…`")
        raw = key.encode("utf-8", "replace")
        client = table.client_by_key_prefix(key[:KEY_PREFIX_LEN])
        if client is None or len(raw) > MAX_KEY_BYTES or not key.startswith("lr-"):
            return AuthResult(None, 401, "invalid API key")
        mac = self._mac(key)
        cached = self._cache.get(mac)
        if cached == (client.name, client.key_hash):
            self._cache.move_to_end(mac)
        else:
            async with self._checks:
                ok = await asyncio.to_thread(_check, raw, client.key_hash)
            if not ok:
                return AuthResult(None, 401, "invalid API key")
            self._cache[mac] = (client.name, client.key_hash)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        if not client.enabled:
            return AuthResult(None, 403, f"API key of client '{client.name}' is disabled")
        return AuthResult(client, 200)


def _check(key: bytes, key_hash: str) -> bool:
    try:
        return bcrypt.checkpw(key, key_hash.encode("ascii"))
    except ValueError:  # a malformed hash (the compiler rejects those) or an over-long key
        return False
