"""Provider URL policy (SPEC §1) through ``localrouter validate``: credentials in ``base_url``
(LR325) and link-local / cloud-metadata addresses (LR326) are errors, plain http to a public host
is a warning (LR327) and an error under ``--strict``; loopback and private networks are fine;
``${…}`` placeholders are handled without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

CONFIG = """version: 2
providers:
  p:
    type: openai-compatible
    base_url: "{url}"
"""

CASES = {
    "https://me:s3cret-pass@api.example.com/v1": "error[LR325]",
    "https://token-only@api.example.com/v1": "error[LR325]",
    "http://169.254.169.254/latest/meta-data": "error[LR326]",
    "http://169.254.10.1:8080/v1": "error[LR326]",
    "http://[fd00:ec2::254]/v1": "error[LR326]",
    "http://[fe80::1]:8000/v1": "error[LR326]",
    "http://[::ffff:169.254.169.254]/v1": "error[LR326]",
    "http://2852039166/v1": "error[LR326]",  # 169.254.169.254 as one number
    "http://0xA9FEA9FE/v1": "error[LR326]",
    "http://metadata.google.internal/computeMetadata/v1": "error[LR326]",
    "https://169.254.169.254/v1": "error[LR326]",
    "http://api.example.com/v1": "warning[LR327]",
    "http://8.8.8.8:8000/v1": "warning[LR327]",
    "ftp://api.example.com/v1": "error[LR307]",
    "file:///etc/passwd": "error[LR307]",
    "${env:PROVIDER_URL}": "error[LR307]",  # base_url is not a secret reference
    "https://${env:PROVIDER_HOST}/v1": "error[LR307]",
}
FINE = [
    "https://api.example.com/v1",
    "http://localhost:11434",
    "http://127.0.0.1:1234/v1",
    "http://[::1]:8000/v1",
    "http://0.0.0.0:11434",
    "http://10.1.2.3:8000/v1",
    "http://172.16.0.9:8000/v1",
    "http://192.168.1.20:11434",
    "http://[fd12:3456::1]:8000/v1",  # unique-local
    "http://100.101.102.103:11434",  # CGNAT (Tailscale)
    "http://ollama:11434",  # a Docker Compose service name
    "http://gpu-box.lan:8000/v1",
    "http://studio.local:1234/v1",
    "https://api.example.com/${env:TENANT}/v1",  # a placeholder in the path: not judged
]


def validate(tmp_path: Path, url: str, *flags: str) -> tuple[int, str]:
    path = tmp_path / "routers.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    result = run_cli("validate", str(path), "--format", "concise", *flags)
    assert "Traceback" not in result.out + result.err
    return result.code, result.out + result.err


@pytest.mark.parametrize("url", sorted(CASES))
def test_a_provider_url_the_policy_refuses(tmp_path: Path, url: str) -> None:
    code, out = validate(tmp_path, url)
    assert CASES[url] in out, out
    assert code == (1 if CASES[url].startswith("error") else 0), out
    assert "s3cret-pass" not in out and "token-only" not in out  # credentials never quoted


@pytest.mark.parametrize("url", FINE)
def test_a_provider_url_the_policy_accepts(tmp_path: Path, url: str) -> None:
    code, out = validate(tmp_path, url, "--strict")
    assert code == 0, out
    assert "LR32" not in out and "LR307" not in out, out


def test_plain_http_to_a_public_host_is_an_error_under_strict(tmp_path: Path) -> None:
    code, out = validate(tmp_path, "http://api.example.com/v1", "--strict")
    assert code == 1 and "error[LR327]" in out, out
    assert "clear text" in out and "https://" in out  # what is wrong, and the fix
