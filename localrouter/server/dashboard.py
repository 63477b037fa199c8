"""The dashboard's page: ``GET /`` (the page's shell) and ``GET /dashboard/<asset>`` (its
scripts, styles and the vendored chart library), from ``localrouter/dashboard/static``.

The page itself holds no data: everything it shows comes from the admin API, which asks for an
admin client's key on every call (:mod:`localrouter.server.admin_auth`). So the files are served
to anyone the Host check lets in, unless ``server.dashboard`` is false (then 404, as the API).

Every answer carries a strict Content-Security-Policy (``default-src 'self'``, no inline script
or style, no frame, no form target): the page can only load its own files and talk to its own
origin. The files are read once, on the first request, with a gzip copy made then; an ``ETag``
lets a browser revalidate with a 304 instead of loading them again.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

from localrouter.server.errors import error_response
from localrouter.server.incoming import Call
from localrouter.server.reply import Reply
from localrouter.server.state import Runtime

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when gzip would not make it smaller
    content_type: str
    etag: str


_assets: dict[str, Asset] | None = None


def _load() -> dict[str, Asset]:
    """Every file under ``static/``, by its path there (``pages/home.js``)."""
    out: dict[str, Asset] = {}
    root = resources.files("localrouter.dashboard") / "static"

    def walk(node: object, prefix: str) -> None:
        for entry in node.iterdir():  # type: ignore[attr-defined]
            name = prefix + entry.name
            if entry.is_dir():
                walk(entry, name + "/")
                continue
            body = entry.read_bytes()
            suffix = "." + name.rsplit(".", 1)[1] if "." in entry.name else ""
            kind = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            packed = gzip.compress(body, 9, mtime=0)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            out[name] = Asset(body, packed if len(packed) < len(body) else None, kind, etag)

    walk(root, "")
    return out


def assets() -> dict[str, Asset]:
    """The page's files, read on first use."""
    global _assets
    if _assets is None:
        _assets = _load()
    return _assets


def _serve(call: Call, name: str) -> Reply:
    asset = assets().get(name)
    if asset is None:
        return error_response(404, "no such file")
    headers = {
        **SECURITY_HEADERS,
        "content-type": asset.content_type,
        "etag": asset.etag,
        "cache-control": "no-cache",  # revalidate each time: a 304 when unchanged
        "vary": "accept-encoding",
    }
    if call.headers.get("if-none-match") == asset.etag:
        return Reply(304, headers)
    if asset.gzipped is not None and "gzip" in call.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Reply(200, headers, asset.gzipped)
    return Reply(200, headers, asset.body)


def _off(rt: Runtime) -> Reply | None:
    if rt.holder.current.settings.server.dashboard:
        return None
    msg = "the dashboard is off (server.dashboard: false)"
    return error_response(404, msg, code="dashboard_off")


async def page(rt: Runtime, call: Call) -> Reply:
    """``GET /``: the page's shell."""
    return _off(rt) or _serve(call, "index.html")


async def asset(rt: Runtime, call: Call) -> Reply:
    """``GET /dashboard/<asset>``: a script, style sheet or vendored file of the page."""
    name = call.params.get("asset", "")
    if ".." in name.split("/") or name.startswith("/"):
        return error_response(404, "no such file")
    return _off(rt) or _serve(call, name)
