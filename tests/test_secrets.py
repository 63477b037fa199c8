"""``localrouter secrets`` with a real backend (no mock): this machine has no keychain (keyring's
``fail`` backend), so secrets go to LocalRouter's encrypted file in ``state_dir``; a test also
selects that backend through ``PYTHON_KEYRING_BACKEND``. Set, resolve at serve, rotate, delete;
the file is 0600 and never holds a secret in clear; ``validate --resolve-secrets``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_fake import FakeState, create_app
from tests.fakes.serve import serve_app
from tests.gateway import Gateway, running_gateway

SECRET = "v9x8c7z6b5n4m3q2w1e0r9t8"
ROTATED = "p0o9i8u7y6t5r4e3w2q1a2s3"

CONFIG = """
version: 2
state_dir: {state}
health: {{interval_s: 3600, failure_threshold: 1000}}
providers:
  up:
    type: openai-compatible
    base_url: {url}/v1
    api_key: ${{keyring:up-key}}
    discover: false
    models: {{gpt-4o-mini: {{}}}}
  mock: {{type: mock, models: {{backup: {{}}}}}}
strategies:
  s: {{models: [up/gpt-4o-mini, mock/backup]}}
clients:
  app: {{key_prefix: "{{key_prefix:app}}", key_hash: "{{key_hash:app}}", strategy: s}}
"""


def windows(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The key file in the test's directory; no keyring backend named: the machine's choice."""
    monkeypatch.setenv("LOCALROUTER_SECRETS_KEYFILE", str(tmp_path / "key" / "secrets.key"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.delenv("LOCALROUTER_SECRETS_FILE", raising=False)
    return dict(os.environ)


def cli(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localrouter.cli", *argv],
        input=stdin, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def upstream() -> Iterator[tuple[str, FakeState]]:
    state = FakeState(api_key=SECRET)
    with serve_app(create_app(state)) as url:
        yield url, state


def ask(gw: Gateway) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {gw.keys['app']}"}
    return httpx.post(f"{gw.v1}/chat/completions", json=body, headers=auth, timeout=10)


def until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_set_resolve_rotate_delete(
    tmp_path: Path, env: dict[str, str], upstream: tuple[str, FakeState]
) -> None:
    url, fake = upstream
    state = tmp_path / "state"
    text = CONFIG.format(state=state, url=url)
    (tmp_path / "pre").mkdir()
    pre = tmp_path / "pre" / "routers.yaml"
    pre.write_text(text.replace("{key_prefix:app}", "lr-AAAAAAAA").replace(
        "{key_hash:app}", "$2b$04$" + "a" * 53), encoding="utf-8")  # fmt: skip
    r = cli(env, "secrets", "set", "up-key", "--config", str(pre), stdin=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    store = state / "secrets.enc"
    assert store.stat().st_mode & 0o777 == 0o600
    blob = store.read_bytes().decode("latin-1")
    assert not [w for w in windows(SECRET) if w in blob]
    listed = cli(env, "secrets", "list", "--config", str(pre))
    assert (
        "up-key: set (referenced by the config)" in listed.stdout
        and "encrypted file" in listed.stdout
    )
    assert not [w for w in windows(SECRET) if w in listed.stdout + listed.stderr + r.stderr]

    with running_gateway(text, tmp_path, watch=True) as gw:
        time.sleep(0.3)
        r1 = ask(gw)
        assert r1.status_code == 200 and r1.json()["model"].startswith("gpt-4o-mini")
        assert fake.requests[-1].headers.get("authorization") == f"Bearer {SECRET}"
        # rotate: the provider now wants the new key; a save of the config re-reads secrets
        fake.api_key = ROTATED
        assert (
            cli(env, "secrets", "set", "up-key", "--config", str(pre), stdin=ROTATED).returncode
            == 0
        )
        gw.config.write_text(gw.config.read_text() + "\n# rotated\n", encoding="utf-8")
        until(lambda: ask(gw).json()["model"].startswith("gpt-4o-mini"))
        # delete: the provider becomes unusable, named by its reference; the other one serves
        assert cli(env, "secrets", "delete", "up-key", "--config", str(pre)).returncode == 0
        gw.config.write_text(gw.config.read_text() + "\n# deleted\n", encoding="utf-8")
        until(
            lambda: httpx.get(gw.url + "/health").json()["providers"]["up"]["status"] == "unusable"
        )
        health = httpx.get(gw.url + "/health").text
        assert "${keyring:up-key}" in health
        assert ask(gw).json()["choices"][0]["message"]["content"].startswith("[backup]")
    again = cli(env, "secrets", "delete", "up-key", "--config", str(pre))
    assert again.returncode == 1 and "no secret named up-key" in again.stderr


def test_validate_resolve_secrets_names_the_reference_never_the_value(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = tmp_path / "routers.yaml"
    text = CONFIG.format(state=tmp_path / "state", url="http://127.0.0.1:9")
    text = text.replace("{key_prefix:app}", "lr-AAAAAAAA")
    path.write_text(text.replace("{key_hash:app}", "$2b$04$" + "a" * 53))
    missing = cli(env, "validate", str(path), "--resolve-secrets")
    assert missing.returncode == 1
    assert (
        "error[LR505]: provider 'up' api_key: secret ${keyring:up-key} is not available"
        in missing.stdout
    )
    assert cli(env, "validate", str(path)).returncode == 0  # without the flag: not looked at
    cli(env, "secrets", "set", "up-key", "--config", str(path), stdin=SECRET)
    ok = cli(env, "validate", str(path), "--resolve-secrets")
    assert ok.returncode == 0, ok.stdout
    assert not [w for w in windows(SECRET) if w in ok.stdout + ok.stderr]


def test_a_missing_key_file_is_a_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "routers.yaml"
    path.write_text(f"version: 2\nstate_dir: {tmp_path / 'state'}\n")
    assert cli(env, "secrets", "set", "x", "--config", str(path), stdin=SECRET).returncode == 0
    Path(env["LOCALROUTER_SECRETS_KEYFILE"]).unlink()
    r = cli(env, "secrets", "list", "--config", str(path))
    assert r.returncode == 1 and "its key file" in r.stderr and "is missing" in r.stderr


def test_the_backend_can_be_chosen_by_environment(tmp_path: Path, env: dict[str, str]) -> None:
    chosen = {**env, "PYTHON_KEYRING_BACKEND": "localrouter.keystore.EncryptedFileKeyring",
              "LOCALROUTER_SECRETS_FILE": str(tmp_path / "elsewhere.enc")}  # fmt: skip
    path = tmp_path / "routers.yaml"
    path.write_text("version: 2\n")
    assert cli(chosen, "secrets", "set", "x", "--config", str(path), stdin=SECRET).returncode == 0
    assert (tmp_path / "elsewhere.enc").exists()
    got = subprocess.run(
        [sys.executable, "-c", "import keyring; print(keyring.get_password('localrouter', 'x'))"],
        env=chosen, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert got.stdout.strip() == SECRET  # keyring itself reads it back through our backend
