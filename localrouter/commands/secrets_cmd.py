"""``localrouter secrets set|list|delete``: provider keys in the OS keychain (service
``localrouter``), or in the encrypted file of ``state_dir`` where there is no keychain
(:mod:`localrouter.keystore`). A value is read without echo on a terminal, else one line from
stdin; it is never printed, logged or written anywhere but the store.
"""

from __future__ import annotations

import getpass
import sys
from argparse import Namespace

from localrouter.commands.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_path
from localrouter.compiler.build import build
from localrouter.compiler.table import RoutingTable, SecretValue
from localrouter.errors import SecretStoreError
from localrouter.keystore import SERVICE, EncryptedFileKeyring, active_store


def _state_dir(args: Namespace) -> tuple[str | None, RoutingTable | None]:
    """The config's state_dir and table, when the config builds (secrets work without one)."""
    try:
        result = build(config_path(args))
    except (OSError, ValueError):
        return None, None
    table = result.table
    return (table.settings.state_dir if table else None), table


def _where(store: object) -> str:
    if isinstance(store, EncryptedFileKeyring):
        return f"encrypted file {store.path}"
    return f"keychain ({type(store).__module__}.{type(store).__name__})"


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"secret for {name} (not echoed): ")
    return sys.stdin.readline().strip()


def _referenced(table: RoutingTable | None) -> list[str]:
    if table is None:
        return []
    refs = set()
    for p in table.providers.values():
        for v in (p.api_key, *p.headers.values()):
            if isinstance(v, SecretValue) and v.ref_kind == "keyring":
                refs.add(v.ref_name)
    return sorted(refs)


def run(args: Namespace) -> int:
    from keyring.errors import KeyringError, PasswordDeleteError

    state_dir, table = _state_dir(args)
    store = active_store(state_dir)
    action = args.secrets_command
    try:
        if action == "set":
            value = _read_value(args.name)
            if not value:
                print("error: empty secret: nothing stored", file=sys.stderr)
                return EXIT_USAGE
            store.set_password(SERVICE, args.name, value)
            print(f"stored {args.name} in the {_where(store)}; reference it as "
                  f"${{keyring:{args.name}}} (a running gateway reads it on its next reload: "
                  "save the config or send SIGHUP)", file=sys.stderr)  # fmt: skip
        elif action == "delete":
            try:
                store.delete_password(SERVICE, args.name)
            except PasswordDeleteError:
                print(f"error: no secret named {args.name} in the {_where(store)}", file=sys.stderr)
                return EXIT_FAILED
            print(f"deleted {args.name} from the {_where(store)}", file=sys.stderr)
        else:
            names = set(_referenced(table))
            if isinstance(store, EncryptedFileKeyring):
                names |= set(store.names())
            print(f"store: {_where(store)}")
            for name in sorted(names):
                held = store.get_password(SERVICE, name) is not None
                used = (
                    "referenced by the config" if name in _referenced(table) else "not referenced"
                )
                print(f"  {name}: {'set' if held else 'NOT SET'} ({used})")
    except (KeyringError, SecretStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
