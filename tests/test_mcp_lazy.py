"""A gateway whose config has no MCP servers never imports the MCP SDK (it costs start-up time
and memory): /mcp is built on its first request, upstream sessions when a table names a server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.gateway import running_gateway
    import httpx

    CONFIG = '''
    version: 2
    providers:
      mock: {type: mock}
    strategies:
      s: {models: [mock/echo]}
    clients:
      app: {key_prefix: "{key_prefix:app}", key_hash: "{key_hash:app}", strategy: s}
    '''
    with running_gateway(CONFIG, Path(sys.argv[1])) as gw:
        auth = {"authorization": f"Bearer {gw.keys['app']}"}
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(gw.v1 + "/chat/completions", json=body, headers=auth).status_code == 200
        print("before", "mcp" in sys.modules, "starlette" in sys.modules)
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}
        accept = {"accept": "application/json, text/event-stream"}
        r = httpx.post(gw.url + "/mcp", json=init, headers={**auth, **accept})
        print("after", "mcp" in sys.modules, r.status_code)
    """
)


def test_no_mcp_sdk_until_mcp_is_used(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split("\n")
    assert "before False False" in lines, run.stdout
    assert "after True 200" in lines, run.stdout  # built on the first request, and served
