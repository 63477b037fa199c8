"""Resolving secret references at serve time: ``${env:NAME}`` and ``${keyring:NAME}``.

``validate`` never calls this. A reference that cannot be resolved raises :class:`SecretError`
naming the reference (never a value); the caller marks that provider unusable and keeps the others.
Keyring entries live under the service name ``localrouter``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from localrouter.compiler.table import SecretValue
from localrouter.errors import SecretError, SecretStoreError

SERVICE = "localrouter"


def resolve(
    secret: SecretValue,
    environ: Mapping[str, str] | None = None,
    state_dir: str | None = None,
) -> str:
    """The value of ``secret``; ``${keyring:NAME}`` from the OS keychain, or where there is none
    from the encrypted file in ``state_dir`` (:func:`localrouter.keystore.active_store`)."""
    if secret.ref_kind == "literal":
        return secret.literal
    if secret.ref_kind == "env":
        value = (os.environ if environ is None else environ).get(secret.ref_name)
        if not value:
            raise SecretError(secret.reference, "the environment variable is not set")
        return value
    if secret.ref_kind == "keyring":
        from keyring.errors import KeyringError

        from localrouter.keystore import active_store

        try:
            value = active_store(state_dir).get_password(SERVICE, secret.ref_name)
        except KeyringError as exc:
            raise SecretError(
                secret.reference, f"no usable keychain ({type(exc).__name__})"
            ) from None
        except SecretStoreError as exc:
            raise SecretError(secret.reference, str(exc)) from None
        if not value:
            raise SecretError(
                secret.reference,
                f"not in the keychain (run `localrouter secrets set {secret.ref_name}`)",
            )
        return value
    raise SecretError(secret.reference, "unknown kind of reference")
