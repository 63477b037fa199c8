"""An upstream that echoes a key deep in its error text: redacted before it is cut.

Every provider wire answers 500 with an error message of 290 other characters and then a key —
its own, and (from the last one) every other provider's too. The keys have no well-known prefix
(an OpenAI-compatible server's key, a ``${keyring:…}`` key, a literal one, a secret header), so
only redaction by value can hide them, and it has to happen on the whole text: cut at 300
characters first, the first 10 characters of the key would be left. A real ``localrouter serve``
process is driven (non-streaming and streaming); the 502 answers, ``/v1/generation``, the access
log and generation files in ``state_dir`` and the process's stderr must hold no 6-character
piece of any key.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from localrouter.keystore import EncryptedFileKeyring
from tests.fakes.serve import free_port, serve_app
from tests.gateway import write_config
from tests.test_restart_process import serve_process

KEYS = {
    "plain": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",  # openai-compatible, ${env:…}
    "vault": "Zq7Wx2Lp9Rt4Vn6Bm1Kc8Hd3",  # openai-compatible, ${keyring:…}
    "lit": "q7w6e5r4t3y2u1i0o9p8a7s6",  # openai-compatible, literal in the config
    "anth": "anthPLAIN0c1d2e3f4a5b6c7d8",  # anthropic, ${env:…}
    "gem": "gemPLAIN9a8b7c6d5e4f3a2b1",  # gemini, ${env:…}
    "oll": "ollPLAIN5t6y7u8i9o0p1a2s3d",  # ollama (ollama.com: a key), ${env:…}
}
HEADER = "hdrPLAIN7c1e2b54d3f0a86e9"  # a secret header of `plain`, ${env:…}
FILLER = "x" * 281  # with " bad key ": the key starts at character 291

WIRES = {  # provider -> (fake module, type, model, base_url suffix)
    "plain": ("tests.fakes.openai_fake", "openai-compatible", "gpt-4o-mini", "/v1"),
    "vault": ("tests.fakes.openai_fake", "openai-compatible", "gpt-4o-mini", "/v1"),
    "lit": ("tests.fakes.openai_fake", "openai-compatible", "gpt-4o-mini", "/v1"),
    "anth": ("tests.fakes.anthropic_fake", "anthropic", "claude-sonnet-4-6", ""),
    "gem": ("tests.fakes.gemini_fake", "gemini", "gemini-2.5-flash", ""),
    "oll": ("tests.fakes.ollama_fake", "ollama", "qwen2.5-coder:7b", ""),
}
API_KEY = {
    "plain": "${env:LR_T_RED_PLAIN}",
    "vault": "${keyring:vault-key}",
    "lit": KEYS["lit"],
    "anth": "${env:LR_T_RED_ANTH}",
    "gem": "${env:LR_T_RED_GEM}",
    "oll": "${env:LR_T_RED_OLL}",
}


def pieces(secret: str, n: int = 6) -> set[str]:
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


HEX = frozenset("0123456789abcdef")


def leaked(blob: str) -> list[str]:
    """The pieces of a secret in ``blob``: any 6 characters of it, but 12 where they are all
    hex digits (6 of those turn up by chance in the ids and hashes of the state files, about
    once in a hundred runs)."""
    found = set()
    for secret in [*KEYS.values(), HEADER]:
        found |= {p for p in pieces(secret) if not set(p) <= HEX and p in blob}
        found |= {p for p in pieces(secret, 12) if set(p) <= HEX and p in blob}
    return sorted(found)


def echo(name: str, *, everything: bool = False, filler: str = FILLER) -> dict[str, object]:
    """An error whose message repeats a key after 290 characters (every key: ``everything``)."""
    tail = " ".join([*KEYS.values(), HEADER]) if everything else KEYS[name]
    message = f"{filler} bad key {tail}"
    return {"error": {"message": message, "type": "server_error", "code": 500}}


def checked(url: str) -> str:
    """``/health`` once every provider's first health check has an outcome."""
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{url}/health", timeout=5)
        health = [p["health"] for p in r.json()["providers"].values()]
        if all(not h["checked"] or h["last_check"] is not None for h in health):
            return r.text
        assert time.monotonic() < deadline, health
        time.sleep(0.05)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, tuple[str, Any]]]:
    monkeypatch.setenv("LR_T_RED_PLAIN", KEYS["plain"])
    monkeypatch.setenv("LR_T_RED_HEADER", HEADER)
    monkeypatch.setenv("LR_T_RED_ANTH", KEYS["anth"])
    monkeypatch.setenv("LR_T_RED_GEM", KEYS["gem"])
    monkeypatch.setenv("LR_T_RED_OLL", KEYS["oll"])
    # the keyring: LocalRouter's encrypted-file backend, named through PYTHON_KEYRING_BACKEND
    store, key_file = tmp_path / "keys" / "secrets.enc", tmp_path / "keys" / "secrets.key"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "localrouter.keystore.EncryptedFileKeyring")
    monkeypatch.setenv("LOCALROUTER_SECRETS_FILE", str(store))
    monkeypatch.setenv("LOCALROUTER_SECRETS_KEYFILE", str(key_file))
    EncryptedFileKeyring(store, key_file).set_password("localrouter", "vault-key", KEYS["vault"])
    # the Gemini fake checks its one key on some paths before its script
    monkeypatch.setattr(importlib.import_module("tests.fakes.gemini_fake"), "API_KEY", KEYS["gem"])
    with ExitStack() as stack:
        out = {}
        for name, (module, *_rest) in WIRES.items():
            fake = importlib.import_module(module)
            state = fake.FakeState()
            out[name] = (stack.enter_context(serve_app(fake.create_app(state))), state)
        yield out


def test_an_echoed_key_after_290_characters_never_shows(
    tmp_path: Path, fakes: dict[str, tuple[str, Any]]
) -> None:
    state_dir = tmp_path / "state"
    lines = [
        "version: 2",
        f"state_dir: {state_dir}",
        "health: {interval_s: 3600, failure_threshold: 1000}",
        "providers:",
    ]
    for name, (_module, kind, model, suffix) in WIRES.items():
        lines += [
            f"  {name}:",
            f"    type: {kind}",
            f"    base_url: {fakes[name][0]}{suffix}",
            f"    api_key: '{API_KEY[name]}'",
            "    discover: false",
            f"    models: {{'{model}': {{}}}}",
        ]
        if name == "plain":
            lines.append("    headers: {X-Team-Token: '${env:LR_T_RED_HEADER}'}")
    order = [f"{n}/{WIRES[n][2]}" for n in WIRES]
    lines += [
        "strategies:",
        f"  all: {{models: {order}, fallback: {{attempts: 1}}}}",
        "clients:",
        '  app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: all}',
    ]
    config, keys = write_config("\n".join(lines) + "\n", tmp_path)
    seen: list[str] = []
    log = tmp_path / "serve.log"
    auth = {"authorization": f"Bearer {keys['app']}"}
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    for _url, state in fakes.values():  # for the start-up health checks (model lists)
        state.fail(500, body=echo("", everything=True, filler=""))
    with serve_process(config, free_port(), log=log) as (url, _proc):
        health = checked(url)
        assert "bad key [redacted]" in health  # a check's failure is shown, redacted
        seen.append(health)
        for _url, state in fakes.values():  # the rest of the script is for our calls
            (state._script if hasattr(state, "_script") else state.script).clear()
        for name, (_url, state) in fakes.items():
            state.fail(500, body=echo(name, everything=name == "oll"), times=2)
        for payload in (body, {**body, "stream": True}):
            r = httpx.post(f"{url}/v1/chat/completions", json=payload, headers=auth, timeout=20)
            assert r.status_code == 502, r.text
            assert r.text.count("[redacted]") >= len(WIRES), r.text  # each attempt's echo
            seen.append(r.text)
            gen = r.headers["x-localrouter-generation-id"]
            g = httpx.get(f"{url}/v1/generation", params={"id": gen}, headers=auth, timeout=10)
            assert g.status_code == 200, g.text
            seen.append(g.text)
    stderr = log.read_text(encoding="utf-8")
    assert "bad key" in stderr  # the failed attempts were logged, with the upstream's words
    seen.append(stderr)
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("access") for p in files), files
    assert any(p.name.startswith("generations") for p in files), files
    seen += [p.read_bytes().decode("latin-1") for p in files if not p.name.endswith(".enc")]
    assert leaked("\n".join(seen)) == []
