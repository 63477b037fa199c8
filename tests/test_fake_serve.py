"""The harness that runs fake providers: a real server on a free loopback port."""

import httpx
from quart import Quart

from tests.fakes.serve import serve_app


def test_serve_app_runs_a_real_server_and_stops_it() -> None:
    app = Quart("probe")

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    with serve_app(app) as url:
        assert httpx.get(f"{url}/ping").json() == {"pong": "yes"}
    try:
        httpx.get(f"{url}/ping", timeout=1)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("server still answering after the block ended")
