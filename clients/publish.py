"""Publishing a lead over HTTP: the request body, the token, and the server's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from server.config import Config
from server.web.auth import Role, TokenAuthority, existing_secret

Scalar = str | int | float | bool
TOKEN_TTL_S = 300
HTTP_TIMEOUT_S = 10.0


def parse_attr(item: str) -> tuple[str, Scalar]:
    """`k=v` as a lead attribute; v becomes an int, float or bool when it reads as one."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--attr {item!r}: expected KEY=VALUE")
    if text in ("true", "false"):
        return key, text == "true"
    for kind in (int, float):
        try:
            return key, kind(text)
        except ValueError:
            pass
    return key, text


def lead_body(team: str, value: float, *, lead_id: str | None = None, region: str | None = None,
              skills: str | None = None, priority: int | None = None,
              customer: str | None = None, attrs: list[str] | None = None) -> dict[str, Any]:
    """The POST /api/leads body; only the fields given are sent (the server has defaults)."""
    body: dict[str, Any] = {"team": team, "value": value}
    optional = {"id": lead_id, "region": region, "priority": priority, "customer_id": customer}
    body.update({key: v for key, v in optional.items() if v is not None})
    if skills:
        body["skills"] = [s.strip() for s in skills.split(",") if s.strip()]
    if attrs:
        body["attrs"] = dict(parse_attr(item) for item in attrs)
    return body


def integration_token(config: Config, ttl_s: int = TOKEN_TTL_S) -> str:
    """A short-lived integration token signed with the config's secret (a local operator's)."""
    secret = existing_secret(config.server.secret or None,
                             data_dir=Path(config.server.data_dir), where="the config")
    return TokenAuthority(secret).mint(Role.INTEGRATION, "cli-publish", ttl_s=ttl_s)


async def post_lead(base_url: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST the lead; returns the HTTP status and the decoded JSON (or raw text) answer."""
    url = base_url.rstrip("/") + "/api/leads"
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            http.post(url, json=body, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def error_message(status: int, answer: Any) -> str:
    """The server's error as one readable line."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return f"HTTP {status} {error.get('code')}: {error.get('message')}"
    return f"HTTP {status}: {str(answer)[:200]}"
