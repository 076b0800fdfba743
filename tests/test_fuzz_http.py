"""Fuzzed HTTP requests on every route: never a 5xx, every error a JSON error body, nothing
logged as an ERROR. The long run is `python -m tests.hostile http --count 5000`."""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import strategies as st

from server.web.auth import Role
from tests.conftest import Gateway
from tests.fuzzing import draw
from tests.hostile import BODIES, PATH_IDS, QUERIES, ROUTES
from tests.test_ws import publish


@pytest.mark.timeout(180)
async def test_fuzzed_requests_get_json_errors_and_no_5xx(
        gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    await publish(gateway, "L1")
    tokens = [None, "garbage", gateway.token("alice"), gateway.role_token(Role.INTEGRATION),
              gateway.role_token(Role.MANAGER)]
    requests = draw(st.tuples(st.sampled_from(ROUTES), PATH_IDS, QUERIES, BODIES,
                              st.sampled_from(tokens)))
    statuses = []
    async with aiohttp.ClientSession() as http:
        for (method, path), lead, query, body, token in requests:
            url = gateway.url(path.replace("{id}", lead))
            if query:
                url += "?" + "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}"
                                      for k, v in query.items())
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.request(method, aiohttp.client.URL(url, encoded=True),
                                    data=body, headers=headers) as resp:
                statuses.append(resp.status)
                if resp.status >= 400:
                    assert resp.content_type == "application/json", (method, url, resp.status)
                    answer = await resp.json()
                    if resp.status != 409:  # 409: an action's answer {ok: false, reason}
                        assert set(answer["error"]) == {"code", "message", "temporary"}
    assert max(statuses) < 500, sorted(set(statuses))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
