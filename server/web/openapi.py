"""The OpenAPI 3.1 description of the HTTP API, served at GET /api/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

DOCUMENT = Path(__file__).with_name("openapi.json")


def document() -> dict[str, Any]:
    """The OpenAPI document (server/web/openapi.json)."""
    doc: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return doc


def schema(name: str) -> dict[str, Any]:
    """One component schema with the document's components, for a JSON Schema validator."""
    doc = document()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/components/schemas/{name}", "components": doc["components"]}


async def get_openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json — this document; no token needed (it names no data)."""
    return web.json_response(request.app[OPENAPI])


OPENAPI = web.AppKey("openapi", dict)


def add_routes(app: web.Application) -> None:
    app[OPENAPI] = document()
    app.router.add_get("/api/openapi.json", get_openapi)
