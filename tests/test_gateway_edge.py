"""The HTTP edge of the real gateway (server/edge.py, served by Hypercorn on loopback): the Host
check (DNS-rebinding defence), CORS on every endpoint, 405 with ``Allow``, a request with both
Content-Length and Transfer-Encoding, and ``GET /v1/models/{id}`` reading ids as ``model`` is."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from localrouter.compiler.settings import ServerSettings
from localrouter.config.spec import ServerSpec
from localrouter.server.edge import compile_edge, host_name
from tests.gateway import Gateway, running_gateway

CONFIG = """
version: 2
server:
  cors_origins: ["http://localhost:*", "https://app.example.com"]
  {extra}
providers:
  mock:
    type: mock
    models:
      small: {{input_per_mtok: 1.0, output_per_mtok: 2.0, context_window: 8192}}
      large: {{input_per_mtok: 5.0, output_per_mtok: 9.0, context_window: 8192}}
strategies:
  cheap:
    models: [mock/small]
  both:
    models: ["mock/*"]
clients:
  app:
    key_prefix: {{key_prefix:app}}
    key_hash: {{key_hash:app}}
    strategy: cheap
  fixed:
    key_prefix: {{key_prefix:fixed}}
    key_hash: {{key_hash:fixed}}
    model: mock/large
"""
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
EVERY_ENDPOINT = [
    ("GET", "/metrics"),
    ("GET", "/health"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/auto"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/no/such/path"),
    ("OPTIONS", "/v1/chat/completions"),
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(CONFIG.format(extra=""), tmp_path_factory.mktemp("edge")) as gateway:
        yield gateway


def port(gw: Gateway) -> int:
    got = urlsplit(gw.url).port
    assert got is not None
    return got


def auth(gw: Gateway, client: str = "app") -> dict[str, str]:
    return {"authorization": f"Bearer {gw.keys[client]}"}


def call(
    gw: Gateway, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = CHAT if path == "/v1/chat/completions" and method == "POST" else None
    return httpx.request(
        method, gw.url + path, headers={**auth(gw), **(headers or {})}, json=body, timeout=10
    )


# --- Host ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
def test_a_foreign_host_is_refused_421_on_every_endpoint(
    gw: Gateway, method: str, path: str
) -> None:
    r = call(gw, method, path, {"host": f"evil.example:{port(gw)}", "origin": "http://localhost"})
    assert r.status_code == 421, r.text
    error = r.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "evil.example" in error["message"] and "server.allowed_hosts" in error["message"]
    assert r.headers["x-request-id"]
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "host", ["localhost:{port}", "LOCALHOST", "127.0.0.1:{port}", "[::1]:{port}", "localhost."]
)
def test_the_loopback_names_are_served_with_any_port(gw: Gateway, host: str) -> None:
    r = call(gw, "GET", "/metrics", {"host": host.format(port=port(gw))})
    assert r.status_code == 200, r.text
    assert call(gw, "POST", "/v1/chat/completions", {"host": host.format(port=port(gw))}).is_success


def test_allowed_hosts_come_from_the_config_and_a_reload_applies_them(tmp_path: Path) -> None:
    extra = "allowed_hosts: [gateway.lan, '*.corp.example']"
    with running_gateway(CONFIG.format(extra=extra), tmp_path, watch=True) as gw:
        time.sleep(0.3)  # the watcher is up

        def status(host: str) -> int:
            return call(gw, "GET", "/health", {"host": host}).status_code

        assert status("gateway.lan:3625") == 200
        assert status("api.corp.example") == 200
        assert status("corp.example") == 421  # `*.` is for subdomains
        assert status("localhost") == 421  # the default list is replaced, not extended
        # the IP literal the connection arrived on is always served: a rebinding page sends its
        # own domain name, never the gateway's address
        assert status(f"127.0.0.1:{port(gw)}") == 200
        assert status("10.9.8.7") == 421
        text = gw.render(CONFIG.format(extra="allowed_hosts: [other.lan]"))
        text = text.replace("https://app.example.com", "https://new.example.com")
        tmp = gw.config.with_name(".routers.yaml.swp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, gw.config)
        until(lambda: status("other.lan") == 200)
        assert status("gateway.lan") == 421

        def cors(origin: str) -> str | None:
            r = call(gw, "GET", "/health", {"host": "other.lan", "origin": origin})
            return r.headers.get("access-control-allow-origin")

        assert cors("https://new.example.com") == "https://new.example.com"
        assert cors("https://app.example.com") is None


def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def server(**given: object) -> ServerSettings:
    """The ``server`` settings of a config that sets ``given`` (the rest default)."""
    return ServerSettings.from_spec(ServerSpec.model_validate(given))


def test_host_names_and_the_bind_address() -> None:
    assert host_name("LocalHost:3625") == "localhost"
    assert host_name("[::1]:80") == "[::1]"
    assert host_name("::1") == "[::1]"
    policy = compile_edge(server(allowed_hosts=["localhost"], host="192.168.1.5"))
    assert policy.host_allowed(b"192.168.1.5:3625", None)  # the configured address
    assert not policy.host_allowed(b"evil.example", ("192.168.1.5", 3625))
    wildcard = compile_edge(server(allowed_hosts=["localhost"], host="0.0.0.0"))
    assert not wildcard.host_allowed(b"0.0.0.0", None)
    assert wildcard.host_allowed(b"10.0.0.2:3625", ("10.0.0.2", 3625))  # the LAN address used


def test_a_request_without_host_is_refused(gw: Gateway) -> None:
    got = raw_exchange(gw, b"GET /health HTTP/1.0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 421") and b"no Host header" in got, got[:300]


def test_origin_patterns() -> None:
    policy = compile_edge(
        server(cors_origins=["http://localhost:*", "https://*.example.com", "tauri://localhost"])
    )
    allowed = ["http://localhost", "http://localhost:5173", "HTTP://LOCALHOST:3000"]
    allowed += ["https://a.example.com", "https://a.b.example.com", "tauri://localhost"]
    refused = ["http://localhost:5173.evil.io", "http://localhost.evil.io", "https://example.com"]
    refused += ["https://a.example.com.evil.io", "http://a.example.com", "https://localhost"]
    assert [o for o in allowed if not policy.origin_allowed(o)] == []
    assert [o for o in refused if policy.origin_allowed(o)] == []
    assert compile_edge(server(cors_origins=["*"])).origin_allowed("https://anything.io")
    assert not compile_edge(server(cors_origins=[])).origin_allowed("http://localhost")


# --- CORS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/v1/models", "/health", "/metrics", "/v1/models/auto"]
)
def test_a_preflight_from_an_allowed_origin_is_answered(gw: Gateway, path: str) -> None:
    r = httpx.options(
        gw.url + path,
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-stainless-os",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert (
        r.headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    )
    assert int(r.headers["access-control-max-age"]) > 0
    assert "Origin" in r.headers["vary"]
    assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/models", 200),
        ("GET", "/health", 200),
        ("GET", "/metrics", 200),
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/v1/models/nope", 404),
        ("GET", "/no/such/path", 404),
        ("DELETE", "/v1/chat/completions", 405),
    ],
)
def test_answers_to_an_allowed_origin_carry_cors_headers(
    gw: Gateway, method: str, path: str, status: int
) -> None:
    r = call(gw, method, path, {"origin": "https://app.example.com"})
    assert r.status_code == status, r.text
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "Origin" in r.headers["vary"]
    exposed = r.headers["access-control-expose-headers"]
    assert "x-request-id" in exposed and "x-localrouter-generation-id" in exposed
    assert "x-ratelimit-remaining-requests" in exposed and "retry-after" in exposed


def test_an_error_and_a_stream_carry_cors_headers(gw: Gateway) -> None:
    origin = {"origin": "http://localhost:3000"}
    r = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=origin)  # no key
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={**auth(gw), **origin},
    ) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        assert s.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "data: [DONE]" in s.read().decode()


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://localhost.evil.example", "null", "https://localhost"]
)
def test_an_origin_not_allowed_gets_no_cors_header(gw: Gateway, origin: str) -> None:
    r = call(gw, "GET", "/v1/models", {"origin": origin})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        gw.url + "/v1/chat/completions",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers


# --- 405 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/chat/completions", {"OPTIONS", "POST"}),
        ("PUT", "/v1/embeddings", {"OPTIONS", "POST"}),
        ("POST", "/health", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/v1/models", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/metrics", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_405_names_the_allowed_methods(
    gw: Gateway, method: str, path: str, allowed: set[str]
) -> None:
    r = call(gw, method, path)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed
    assert r.json()["error"]["type"] == "invalid_request_error"


# --- request framing -------------------------------------------------------------------------


def raw_exchange(gw: Gateway, data: bytes) -> bytes:
    """Send ``data`` on one connection; everything the gateway answers until it closes it."""
    with socket.create_connection(("127.0.0.1", port(gw)), timeout=5) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return got
            got += chunk
    raise AssertionError(f"the connection was left open after: {got[:300]!r}")


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(
    gw: Gateway,
) -> None:
    smuggled = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port(gw)}\r\n\r\n".encode()
    body = b"0\r\n\r\n" + smuggled
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port(gw)}\r\n"
        f"Authorization: Bearer {gw.keys['app']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    got = raw_exchange(gw, head + body)
    assert got.startswith(b"HTTP/1.1 400"), got[:200]
    assert got.count(b"HTTP/1.1 ") == 1, got  # the smuggled GET /health is never answered
    assert b"connection: close" in got.lower()
    assert b"invalid_framing" in got


def test_pipelined_requests_are_still_answered(gw: Gateway) -> None:
    one = f"GET /health HTTP/1.1\r\nHost: localhost:{port(gw)}\r\n\r\n".encode()
    last = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    got = raw_exchange(gw, one + last)
    assert got.count(b"HTTP/1.1 200") == 2, got[:300]


# --- GET /v1/models/{id} ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "model_id", "want"),
    [
        ("app", "auto", "localrouter/auto"),
        ("app", "localrouter/auto", "localrouter/auto"),
        ("app", "localrouter/cheap", "localrouter/cheap"),
        ("app", "small", "mock/small"),
        ("app", "mock/small", "mock/small"),
        ("fixed", "auto", "mock/large"),
        ("fixed", "large", "mock/large"),
    ],
)
def test_a_model_id_is_read_as_a_requests_model_is(
    gw: Gateway, client: str, model_id: str, want: str
) -> None:
    r = httpx.get(f"{gw.v1}/models/{model_id}", headers=auth(gw, client))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == want


@pytest.mark.parametrize(
    ("model_id", "status", "code"),
    [
        ("large", 403, "model_not_allowed"),
        ("mock/large", 403, "model_not_allowed"),
        ("localrouter/both", 403, "model_not_allowed"),
        ("localrouter/nope", 404, "model_not_found"),
        ("nope", 404, "model_not_found"),
    ],
)
def test_a_model_id_the_key_may_not_use(gw: Gateway, model_id: str, status: int, code: str) -> None:
    r = httpx.get(f"{gw.v1}/models/{model_id}", headers=auth(gw))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
