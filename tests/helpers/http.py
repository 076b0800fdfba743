"""HTTP calls the tests make, on an in-process Gateway or a server's base URL: one request
helper (get, post) and one publish."""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp

from server.web.auth import Role


class Served(Protocol):
    """Anything that turns a path into a URL (tests.conftest.Gateway)."""

    def url(self, path: str) -> str: ...

    def role_token(self, role: Role, name: str = "test") -> str: ...


Target = Served | str  # a Gateway, or a base URL such as "http://127.0.0.1:8080"


def url_of(target: Target, path: str) -> str:
    return target.rstrip("/") + path if isinstance(target, str) else target.url(path)


async def request(target: Target, method: str, path: str, body: Any = None,
                  token: str | None = None, raw: str | bytes | None = None) -> tuple[int, Any]:
    """One call with an optional bearer token: a JSON body (or `raw` bytes or text); the status
    and the answer (parsed JSON, or the text when the answer is not JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, url_of(target, path), json=body if raw is None else None, data=raw,
            headers=headers) as resp:
        if resp.content_type.endswith("json"):
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def get(target: Target, path: str, token: str | None = None) -> tuple[int, Any]:
    return await request(target, "GET", path, token=token)


async def post(target: Target, path: str, body: Any = None, token: str | None = None,
               raw: str | bytes | None = None) -> tuple[int, Any]:
    return await request(target, "POST", path, body, token, raw)


async def post_ok(target: Target, path: str, body: Any, token: str) -> dict[str, Any]:
    """POST that must succeed (200 or 201); the JSON answer."""
    status, answer = await post(target, path, body, token)
    assert status in (200, 201), answer
    result: dict[str, Any] = answer
    return result


async def publish(target: Target, lead_id: str, token: str | None = None,
                  **fields: Any) -> dict[str, Any]:
    """Publish a lead (team north unless given) as an integration (a Gateway mints the token;
    a base URL needs one); asserts it was accepted and returns the answer (`created`, `seq`)."""
    if token is None:
        assert not isinstance(target, str), "a base URL needs an integration token"
        token = target.role_token(Role.INTEGRATION)
    return await post_ok(target, "/api/leads", {"id": lead_id, "team": "north", **fields}, token)
