"""Client keys: ``lr-`` + base64url of 32 random bytes; stored as a prefix and a bcrypt hash."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

import bcrypt

KEY_PREFIX_LEN = 11
BCRYPT_COST = 12


@dataclass(frozen=True)
class NewKey:
    key: str = field(repr=False)
    prefix: str
    hash: str = field(repr=False)


def new_key(cost: int = BCRYPT_COST) -> NewKey:
    raw = secrets.token_bytes(32)
    key = "lr-" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    hashed = bcrypt.hashpw(key.encode("ascii"), bcrypt.gensalt(cost)).decode("ascii")
    return NewKey(key, key[:KEY_PREFIX_LEN], hashed)
