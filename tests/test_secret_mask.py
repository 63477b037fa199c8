"""Secrets in the config are never shown, even partly, by anything that quotes the config.

Each broken config holds a literal key (or a URL password) where a diagnostic has to quote its
line or its value: a misspelt key beside it, a type error on it, a YAML error on its line, a
secret header, a user:password in ``base_url``. Every surface that prints diagnostics is driven
for real — ``validate`` (text, github, json), ``diff``, ``serve``'s start failure, the
reload-failure log line and ``/health`` of a running gateway — and no 6-character piece of a
secret may appear in what it prints.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_cli
from tests.fakes.serve import free_port
from tests.gateway import running_gateway

KEY = "sk-live-SECRETq7w6e5r4t3y2u1"  # a well-known shape
BARE = "f4e3d2c1b0a9Z8Y7X6W5V4"  # no known shape: only where it stands can say it is a secret
PASSWORD = "hunter2-Pq9zLm4"
HEADER = "hdr-Zx81Kq0PlM3n"

BROKEN = {
    # a misspelt key beside the key, on its line (flow style)
    "typo-beside": f"""
version: 2
providers:
  groq: {{type: openai-compatible, base_url: "https://api.groq.com/v1", api_key: {KEY}, modles: 1}}
""",
    # the key under a misspelt name (the excerpt shows that line)
    "typo-name": f"""
version: 2
providers:
  groq:
    type: openai-compatible
    base_url: https://api.groq.com/openai/v1
    api_kye: {BARE}
""",
    # a type error on the key: a list, a number; a secret header that is a number
    "type-error": f"""
version: 2
providers:
  groq:
    type: openai-compatible
    base_url: https://api.groq.com/openai/v1
    api_key: [{BARE}]
  other:
    type: openai-compatible
    base_url: https://api.other.example/v1
    api_key: 48151623429876543
    headers: {{X-Api-Key: 97531086421357}}
""",
    # the string itself quoted by a type error ("…, not the string '…'")
    "quoted-string": f"""
version: 2
providers:
  groq:
    type: openai-compatible
    base_url: https://api.groq.com/openai/v1
    headers: "Bearer {BARE}"
    timeout: {KEY}
""",
    # a YAML syntax error on the key's line
    "yaml-error": f"""
version: 2
providers:
  groq:
    type: openai-compatible
    api_key: {BARE}: [
""",
    # a password in base_url (LR325) and a secret header
    "url-password": f"""
version: 2
providers:
  groq:
    type: openai-compatible
    base_url: https://me:{PASSWORD}@api.groq.com/openai/v1
    headers: {{Authorization: "Bearer {HEADER}", X-Title: LocalRouter}}
""",
    # a misspelt key on the line of a URL with a password, and of a secret header
    "url-typo": f"""
version: 2
providers:
  groq: {{type: openai-compatible, base_url: "https://me:{PASSWORD}@api.groq.com/v1", kindd: api}}
  other: {{type: openai-compatible, headers: {{X-Auth-Token: {BARE}, X-Title: LR}}, base_urll: x}}
""",
    # an MCP server's secret env value and header, and a misspelt key on their line
    "mcp": f"""
version: 2
mcp_servers:
  gh: {{transport: stdio, command: [gh-mcp], env: {{GITHUB_TOKEN: {BARE}, TZ: UTC}}, bogus: 1}}
  docs: {{transport: streamable_http, url: "http://h:9/", headers: {{X-Token: "{HEADER}"}}, x: 1}}
""",
}
SECRETS = [KEY, BARE, PASSWORD, HEADER, "48151623429876543", "97531086421357"]


def pieces(secret: str, n: int = 6) -> set[str]:
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


def leaked(text: str) -> list[str]:
    return sorted({p for s in SECRETS for p in pieces(s) if p in text})


def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BROKEN[name].lstrip("\n"), encoding="utf-8")
    return path


GOOD = """version: 2
providers:
  mock: {type: mock, models: {m: {}}}
strategies:
  s: {models: [mock/m]}
"""


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_and_diff_never_show_a_secret(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    shown = []
    for fmt in ("text", "github", "json", "concise"):
        result = run_cli("validate", str(path), "--format", fmt)
        assert result.code == 1, (fmt, result.out)
        shown.append(result.out + result.err)
    assert "^" in shown[0]  # the text format shows the source line
    assert run_cli("validate", str(path), "--strict").code == 1
    for argv in (("diff", str(good), str(path)), ("diff", str(path), str(good))):
        result = run_cli(*argv)
        assert result.code == 2, result.out
        shown.append(result.out + result.err)
    blob = "\n".join(shown)
    assert leaked(blob) == [], blob


@pytest.mark.parametrize("name", ["typo-beside", "yaml-error", "url-typo"])
def test_serve_refuses_to_start_without_showing_a_secret(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name)
    result = run_cli("serve", "--config", str(path), "--port", str(free_port()))
    assert result.code == 1
    blob = result.out + result.err
    assert "error[" in blob and "|" in blob
    assert leaked(blob) == [], blob


def test_a_failed_reload_never_shows_a_secret_in_its_log_or_health(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_gateway(GOOD, tmp_path, watch=True) as gw:
        for name in ("typo-beside", "type-error", "yaml-error", "url-typo"):
            gw.config.write_text(BROKEN[name].lstrip("\n"), encoding="utf-8")
            deadline = time.monotonic() + 10
            while True:
                health = httpx.get(gw.url + "/health", timeout=5)
                errors = health.json()["config"].get("errors") or []
                if any(e["file"] == str(gw.config) for e in errors) and (
                    f"{name}" == "yaml-error" or any(e["code"] != "LR101" for e in errors)
                ):
                    break
                assert time.monotonic() < deadline, health.text
                time.sleep(0.05)
            assert leaked(health.text) == [], health.text
            gw.config.write_text(GOOD + f"# {name}\n", encoding="utf-8")  # and back
            deadline = time.monotonic() + 10
            while httpx.get(gw.url + "/health", timeout=5).json()["config"]["status"] != "ok":
                assert time.monotonic() < deadline
                time.sleep(0.05)
    failures = [r.getMessage() for r in caplog.records if "failed: still serving" in r.getMessage()]
    assert len(failures) >= 4, [r.getMessage() for r in caplog.records]
    assert all("|" in f for f in failures)  # the source lines are shown, starred
    assert leaked("\n".join(failures)) == [], failures


def test_a_reference_and_public_values_stay_visible(tmp_path: Path) -> None:
    """Only secrets are starred: a ${env:…} reference, a non-secret header and the rest of a
    URL are shown as written."""
    text = run_cli("validate", str(write(tmp_path, "url-password"))).out
    assert "error[LR325]" in text
    assert "https://me:" in text and "@api.groq.com/openai/v1" in text
    text = run_cli("validate", str(write(tmp_path, "url-typo"))).out
    assert "X-Auth-Token: ****" in text and "X-Title: LR}" in text
    ref = tmp_path / "ref.yaml"
    ref.write_text(
        "version: 2\nproviders:\n  groq: {type: openai-compatible, base_url: "
        '"https://api.groq.com/openai/v1", api_key: "${env:GROQ_API_KEY}", modles: {}}\n',
        encoding="utf-8",
    )
    assert "${env:GROQ_API_KEY}" in run_cli("validate", str(ref)).out


def test_a_name_that_sounds_secret_is_not_starred(tmp_path: Path) -> None:
    """A client called `auth` (a secret-sounding key in the text) keeps its entry visible."""
    path = tmp_path / "named.yaml"
    path.write_text(
        GOOD + "clients:\n  auth: {key_prefix: lr-AAAAAAAA, key_hash: x, strategy: s, bogus: 1}\n",
        encoding="utf-8",
    )
    out = run_cli("validate", str(path)).out
    assert "error[LR201]" in out and "auth: {key_prefix: lr-AAAAAAAA" in out, out
