"""The dashboard: one page at ``/`` and its static files under ``/static/``.

The files ship inside the package (``tradeguard/web/static``): plain HTML, CSS and
JavaScript with no CDN and no build step, so the page works on a machine with no
internet. They are read once, when the routes are made; only those files are served
(a path is looked up in that table, never joined onto the file system).

Every answer carries a strict Content-Security-Policy: scripts, styles and API calls
only from this origin, no inline script or style, no frames, no forms posting
elsewhere. The page needs nothing else. Static files are sent with an ETag and
``Cache-Control: no-cache``: a browser keeps its copy but asks each time, so an
upgraded service never runs yesterday's script.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["CONTENT_SECURITY_POLICY", "StaticFile", "dashboard_routes", "load_static_files"]

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

_PAGE: Final = "index.html"


class StaticFile:
    """One file of the dashboard: its bytes, content type and ETag."""

    __slots__ = ("body", "content_type", "etag")

    def __init__(self, name: str, body: bytes) -> None:
        self.body = body
        suffix = name[name.rfind("."):] if "." in name else ""
        self.content_type = _CONTENT_TYPES.get(suffix, "application/octet-stream")
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def load_static_files() -> dict[str, StaticFile]:
    """Every file under ``tradeguard/web/static``, by its path relative to it."""
    root = resources.files("tradeguard.web").joinpath("static")
    files: dict[str, StaticFile] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, f"{name}/")
            elif child.is_file() and not child.name.startswith("."):
                files[name] = StaticFile(name, child.read_bytes())

    walk(root, "")
    if _PAGE not in files:
        raise FileNotFoundError(f"the dashboard page {_PAGE} is missing from the package")
    return files


def dashboard_routes() -> list[Any]:
    """Starlette routes serving the dashboard page and its static files."""
    from starlette.responses import Response
    from starlette.routing import Route

    from tradeguard.web.responses import error_response

    files = load_static_files()

    def send(request: Request, item: StaticFile) -> Response:
        headers = {**_SECURITY_HEADERS, "ETag": item.etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == item.etag:
            return Response(status_code=304, headers=headers)
        return Response(item.body, media_type=item.content_type, headers=headers)

    async def page(request: Request) -> Response:
        return send(request, files[_PAGE])

    async def static(request: Request) -> Response:
        path = str(request.path_params["path"])
        item = files.get(path)
        if item is None:
            return error_response(404, "not_found", f"no such static file: {path}")
        return send(request, item)

    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/static/{path:path}", static, methods=["GET", "HEAD"]),
    ]
