"""HTTP error bodies: one ErrorCode per failure, `temporary` like the WebSocket, one team check."""

from __future__ import annotations

import aiohttp
import pytest

from server.protocol import ErrorCode
from server.web.auth import Role
from server.web.errors import status_code
from tests.conftest import Gateway

CODES = {code.value for code in ErrorCode}


async def send(gw: Gateway, method: str, path: str, token: str | None = None,
               raw: bytes | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, gw.url(path), data=raw, headers=headers) as resp:
        assert resp.content_type == "application/json"
        body = await resp.json()
        assert set(body) == {"error"}
        return resp.status, body["error"]


@pytest.mark.parametrize(
    ("method", "path", "role", "raw", "status", "code"),
    [
        ("GET", "/nope", None, None, 404, "not_found"),
        ("GET", "/api/leads", None, None, 401, "auth_failed"),  # the pool: a rep or manager
        ("GET", "/api/leads", Role.INTEGRATION, None, 403, "forbidden"),
        ("PUT", "/api/leads/L1/claim", None, None, 405, "method_not_allowed"),
        ("POST", "/api/leads", None, None, 401, "auth_failed"),
        ("POST", "/api/leads", Role.REP, None, 403, "forbidden"),
        ("POST", "/api/leads", Role.INTEGRATION, b"{nope", 400, "bad_json"),
        ("POST", "/api/leads", Role.INTEGRATION, b"{}", 400, "bad_field"),
        ("POST", "/api/leads", Role.INTEGRATION, b"x" * 70_000, 413, "too_large"),
        ("GET", "/api/leads/NOPE?team=north", Role.MANAGER, None, 404, "not_found"),
        ("GET", "/api/reps/nobody", Role.MANAGER, None, 404, "not_found"),
    ],
)
async def test_every_http_error_is_an_error_code_with_temporary(
    gateway: Gateway, method: str, path: str, role: Role | None, raw: bytes | None,
    status: int, code: str,
) -> None:
    token = None
    if role is Role.REP:
        token = gateway.token("alice")
    elif role is not None:
        token = gateway.role_token(role)
    got = await send(gateway, method, path, token, raw)
    assert got[0] == status
    assert set(got[1]) == {"code", "message", "temporary"}
    assert (got[1]["code"], got[1]["temporary"]) == (code, False) and got[1]["message"]
    assert code in CODES


def test_every_error_status_maps_into_the_enum() -> None:
    assert status_code(404) is ErrorCode.NOT_FOUND
    assert status_code(405) is ErrorCode.METHOD_NOT_ALLOWED
    assert status_code(503) is ErrorCode.UNAVAILABLE
    assert status_code(418) is ErrorCode.BAD_REQUEST
    assert status_code(500) is ErrorCode.INTERNAL
    assert all(isinstance(status_code(s), ErrorCode) for s in range(400, 600))


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("GET", "/api/leads/L1?team=nowhere", None),
        ("POST", "/api/leads/L1/dispatch?team=nowhere", b'{"rep": "alice"}'),
        ("POST", "/api/leads/L1/withdraw?team=nowhere", None),
        ("GET", "/api/fairness?team=nowhere", None),
        ("GET", "/api/audit?team=nowhere", None),
    ],
)
async def test_one_team_parameter_one_message(gateway: Gateway, method: str, path: str,
                                              raw: bytes | None) -> None:
    """`?team=` is checked by one helper: the same message on every endpoint that takes it."""
    status, error = await send(gateway, method, path, gateway.role_token(Role.MANAGER), raw)
    assert (status, error["code"]) == (400, "bad_field")
    assert error["message"] == "team: expected one of: north (got 'nowhere')"
