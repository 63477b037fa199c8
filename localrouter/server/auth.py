"""Client authentication: ``Authorization: Bearer lr-…`` or ``x-api-key``.

The client is found by its ``key_prefix`` (the key's first 11 characters), so a wrong key costs at
most one bcrypt check, never one per stored client. bcrypt runs in a worker thread (it takes
~0.1–0.3 s at cost 12), at most :data:`MAX_CONCURRENT_CHECKS` at a time. A success is cached under
an HMAC of the key (a per-process random secret, so the cache never holds a key) in a bounded LRU;
an entry is valid only while the client still has the same ``key_hash``, so a rotated, removed
or disabled client is refused on its very next request after a reload. A failure is cached too,
in its own LRU of :data:`FAILURE_CACHE_SIZE` HMACs, against the ``key_hash`` it failed on: a wrong
key that shares a real key's first 11 characters costs one bcrypt check, then a dictionary lookup
(~2 µs) on every later try, until that client's hash changes (a rotation re-checks it). It cannot
lock the real key out: the entry is keyed by the HMAC of the whole presented key, and bcrypt never
refuses the key a hash was made from. Tries of one key that arrive together cost at most
:data:`MAX_CONCURRENT_CHECKS` checks: the others wait for a check slot and then find the cached
result. Keys over bcrypt's 72-byte limit, or
not shaped like ours, are refused without a check. The presented key is never echoed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bcrypt

from localrouter.compiler.table import Client, RoutingTable
from localrouter.server.errors import error_response
from localrouter.server.reply import Reply

if TYPE_CHECKING:
    from localrouter.server.state import Runtime

KEY_PREFIX_LEN = 11
MAX_KEY_BYTES = 72
MAX_CONCURRENT_CHECKS = 2
CACHE_SIZE = 4096
FAILURE_CACHE_SIZE = 1024


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
    def __init__(
        self, cache_size: int = CACHE_SIZE, failure_cache_size: int = FAILURE_CACHE_SIZE
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._size = cache_size
        # HMAC of a key that failed -> the key_hash it failed against
        self._failed: OrderedDict[bytes, str] = OrderedDict()
        self._failed_size = failure_cache_size
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
        known = self._known(mac, client)
        if known is None:
            async with self._checks:
                known = self._known(mac, client)  # a check of the same key may have just ended
                if known is None:
                    known = await asyncio.to_thread(_check, raw, client.key_hash)
                    self._remember(mac, client, known)
        if not known:
            return AuthResult(None, 401, "invalid API key")
        if not client.enabled:
            return AuthResult(None, 403, f"API key of client '{client.name}' is disabled")
        return AuthResult(client, 200)

    def _known(self, mac: bytes, client: Client) -> bool | None:
        """True/False when this key was checked against the client's current hash, else None."""
        if self._cache.get(mac) == (client.name, client.key_hash):
            self._cache.move_to_end(mac)
            return True
        if self._failed.get(mac) == client.key_hash:
            self._failed.move_to_end(mac)
            return False
        return None

    def _remember(self, mac: bytes, client: Client, ok: bool) -> None:
        if ok:
            self._failed.pop(mac, None)
            self._cache[mac] = (client.name, client.key_hash)
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._failed[mac] = client.key_hash
            if len(self._failed) > self._failed_size:
                self._failed.popitem(last=False)


def _check(key: bytes, key_hash: str) -> bool:
    try:
        return bcrypt.checkpw(key, key_hash.encode("ascii"))
    except ValueError:  # a malformed hash (the compiler rejects those) or an over-long key
        return False


async def authenticated(
    rt: Runtime, headers: Mapping[str, str]
) -> tuple[RoutingTable, Client] | Reply:
    """For the endpoints that are not model endpoints: the table (read once) and the calling
    client, or the 401/403 answer (not logged: the access log is for model requests)."""
    table = rt.holder.current
    auth = await rt.auth.authenticate(table, presented_key(headers))
    if auth.client is None:
        code = "invalid_api_key" if auth.status == 401 else "client_disabled"
        return error_response(auth.status, auth.message, code=code)
    return table, auth.client
