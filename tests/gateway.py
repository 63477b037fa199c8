"""Start the real gateway for a test: compile a config, create the app, serve it on loopback.

    with running_gateway(config_text, tmp_path) as gw:
        openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.keys["app"])

Client keys are made fresh for each gateway (bcrypt cost 4, so tests stay fast); the config text
names them with ``{key_prefix:NAME}`` and ``{key_hash:NAME}`` placeholders.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from localrouter.compiler.build import build_document
from localrouter.compiler.table import RoutingTable
from localrouter.config.source import load_files
from localrouter.keygen import NewKey, new_key
from localrouter.server.app import create_app
from tests.fakes import openai_fake
from tests.fakes.serve import serve_app, wait_for_requests

_PLACEHOLDER = re.compile(r"\{key_(prefix|hash):([A-Za-z0-9_-]+)\}")


@dataclass
class Gateway:
    url: str
    keys: dict[str, str]
    table: RoutingTable
    config: Path
    made: dict[str, NewKey] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def render(self, text: str) -> str:
        """Config text with its placeholders filled: the same key for a name already used."""
        return render(text, self.made, self.keys)


def render(text: str, made: dict[str, NewKey], keys: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        kind, name = m.groups()
        if name not in made:
            made[name] = new_key(cost=4)
            keys[name] = made[name].key
        return made[name].prefix if kind == "prefix" else made[name].hash

    return _PLACEHOLDER.sub(fill, textwrap.dedent(text).lstrip("\n"))


def write_config(
    text: str, directory: Path, made: dict[str, NewKey] | None = None
) -> tuple[Path, dict[str, str]]:
    keys: dict[str, str] = {}
    path = directory / "routers.yaml"
    path.write_text(render(text, {} if made is None else made, keys), encoding="utf-8")
    return path, keys


@contextmanager
def running_gateway(text: str, directory: Path, *, watch: bool = False) -> Iterator[Gateway]:
    """The gateway on ``text``; ``watch`` reloads it when the file changes (as ``serve`` does)."""
    made: dict[str, NewKey] = {}
    path, keys = write_config(text, directory, made)
    doc, diags, _texts = load_files(path)
    assert doc is not None, diags
    result = build_document(doc, list(diags))
    assert result.table is not None, "\n".join(str(d) for d in result.diagnostics)
    app = create_app(
        result.table,
        source=(doc, list(diags)),
        config_path=path,
        watch=watch,
    )
    with serve_app(app) as url:
        yield Gateway(url, keys, result.table, path, made)


@contextmanager
def behind_two_fakes(
    template: str, directory: Path, env: str
) -> Iterator[tuple[Gateway, openai_fake.FakeState, openai_fake.FakeState]]:
    """The gateway on ``template`` (``{primary}``/``{backup}``: two fake OpenAI servers, whose
    key the config reads from the environment variable ``env``), after its start-up checks."""
    import pytest  # only tests use this helper

    primary, backup = openai_fake.FakeState(), openai_fake.FakeState()
    with (
        pytest.MonkeyPatch.context() as mp,
        serve_app(openai_fake.create_app(primary)) as p_url,
        serve_app(openai_fake.create_app(backup)) as b_url,
    ):
        mp.setenv(env, openai_fake.API_KEY)
        text = template.format(primary=p_url, backup=b_url)
        with running_gateway(text, directory) as gw:
            wait_for_requests(primary, backup)  # the health checks at start: not scripted
            yield gw, primary, backup


def serve_process(
    config: Path, port: int, http_server: str | None = None
) -> subprocess.Popen[bytes]:
    """``localrouter serve`` on ``config`` as a real process (stop it: SIGTERM, or kill), on
    ``http_server`` when given (else the config's ``server.http_server``)."""
    argv = [sys.executable, "-m", "localrouter.cli", "serve", "--config", str(config)]
    if http_server is not None:
        argv += ["--http-server", http_server]
    return subprocess.Popen(
        [*argv, "--port", str(port), "--no-watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
