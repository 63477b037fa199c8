"""Where provider secrets live: the OS keychain through ``keyring``, or LocalRouter's own
encrypted file where there is no keychain (headless Linux has only keyring's ``fail`` backend).

:class:`EncryptedFileKeyring` is a real ``keyring`` backend: a JSON map of name → secret,
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` package) in
``state_dir/secrets.enc``. The Fernet key is a random 32-byte key in its own file,
``~/.config/localrouter/secrets.key``, created 0600 on first use, kept apart from ``state_dir``
so that a copied, backed-up or committed state directory does not carry the key. What this
protects and what it does not: ``docs/security.md``.

Environment: ``LOCALROUTER_SECRETS_FILE`` and ``LOCALROUTER_SECRETS_KEYFILE`` move the two files
(tests use them); ``PYTHON_KEYRING_BACKEND=localrouter.keystore.EncryptedFileKeyring`` makes
keyring itself use this backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from localrouter.errors import SecretStoreError
from localrouter.fsutil import atomic_write

__all__ = ["EncryptedFileKeyring", "active_store", "default_key_file"]

SERVICE = "localrouter"
FILE_NAME = "secrets.enc"


def default_key_file() -> Path:
    given = os.environ.get("LOCALROUTER_SECRETS_KEYFILE")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "localrouter" / "secrets.key"


class EncryptedFileKeyring(KeyringBackend):
    """Secrets in one Fernet-encrypted JSON file; see the module docstring."""

    priority = 0.5  # below any real keychain: chosen only when named or when there is none

    def __init__(self, path: Path | None = None, key_file: Path | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        given = os.environ.get("LOCALROUTER_SECRETS_FILE")
        self.path = path or (Path(given).expanduser() if given else Path.cwd() / FILE_NAME)
        self.key_file = key_file or default_key_file()

    def __repr__(self) -> str:  # never the contents
        return f"EncryptedFileKeyring({str(self.path)!r})"

    # -- the key and the file --------------------------------------------------------------
    def _fernet(self, create: bool) -> Fernet:
        if not self.key_file.exists():
            if not create:
                if self.path.exists():
                    raise SecretStoreError(
                        f"{self.path} exists but its key file {self.key_file} is missing"
                    )
                return Fernet(Fernet.generate_key())  # nothing stored yet: nothing to read
            self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.key_file, Fernet.generate_key(), backup=False)
        try:
            return Fernet(self.key_file.read_bytes().strip())
        except (ValueError, OSError) as exc:
            raise SecretStoreError(f"key file {self.key_file} is not usable: {exc}") from None

    def _load(self, create: bool = False) -> dict[str, str]:
        fernet = self._fernet(create)
        if not self.path.exists():
            return {}
        try:
            data = json.loads(fernet.decrypt(self.path.read_bytes()))
        except InvalidToken:
            raise SecretStoreError(
                f"{self.path} cannot be decrypted with {self.key_file} (another key, or damaged)"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretStoreError(f"{self.path} does not hold a map of secrets")
        return data

    def _save(self, data: dict[str, str]) -> None:
        token = self._fernet(create=True).encrypt(json.dumps(data, sort_keys=True).encode())
        atomic_write(self.path, token, backup=False)

    # -- keyring's interface ---------------------------------------------------------------
    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load(create=True)
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(f"no secret named {username}")
        self._save(data)

    def names(self, service: str = SERVICE) -> list[str]:
        prefix = service + "/"
        return sorted(k.removeprefix(prefix) for k in self._load() if k.startswith(prefix))


def active_store(state_dir: str | None) -> KeyringBackend:
    """The OS keychain when there is a usable one, else the encrypted file of ``state_dir``.

    A keychain counts when keyring's chosen backend has priority ≥ 1 and is not a plaintext
    file (``keyrings.alt`` would silently make one the default). A backend named in
    ``PYTHON_KEYRING_BACKEND`` is used as it is.
    """
    import keyring

    chosen = keyring.get_keyring()
    if isinstance(chosen, EncryptedFileKeyring):
        if state_dir and not os.environ.get("LOCALROUTER_SECRETS_FILE"):
            return EncryptedFileKeyring(Path(state_dir).expanduser() / FILE_NAME)
        return chosen
    plaintext = "plaintext" in type(chosen).__name__.lower()
    if os.environ.get("PYTHON_KEYRING_BACKEND") or (chosen.priority >= 1 and not plaintext):
        return chosen
    where = Path(state_dir).expanduser() / FILE_NAME if state_dir else None
    return EncryptedFileKeyring(where)
