"""Shared test helpers: run the real CLI in-process and write configs to temporary files."""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from localrouter.cli import main
from localrouter.providers.transport import Transport
from tests.transports import http_transport

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DEMO_KEY = "lr-sZ2uI4TNR_tpdMDX-EiEieiVgSx_8Jt6j3-cYZWYFUs"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs compared with golden text stay plain, whatever colour the caller's shell asks
    for (tests of colour set these variables themselves)."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys made with bcrypt cost 4 (``LOCALROUTER_BCRYPT_COST``), not 12: for the tests that
    create and rotate keys (``pytestmark = pytest.mark.usefixtures("fast_bcrypt")``)."""
    monkeypatch.setenv("LOCALROUTER_BCRYPT_COST", "4")


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def _write(text: str, name: str = "routers.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
async def net() -> AsyncIterator[Transport]:
    """The gateway's network transport only (no in-memory twin): for a provider test that needs
    a socket (another server, a refused port, a connection cut under the fake)."""
    async with http_transport(5.0) as transport:
        yield transport
