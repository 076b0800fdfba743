"""The rep console's routes: the page, its static files and the headers that keep it safe."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).with_name("static")
# Only the server's own scripts, styles and sockets: no inline script, no eval, no other host.
CSP = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def index(request: web.Request) -> web.FileResponse:
    """GET / — the rep console page."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    """Every response carries the security headers (JSON answers included: they cost nothing)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.on_response_prepare.append(_secure)
