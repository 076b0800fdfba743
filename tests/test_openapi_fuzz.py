"""schemathesis against a live server: bounded examples per operation, no 5xx, no response
outside the OpenAPI document (issue #15)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from server.web.auth import Role
from server.web.openapi import document
from tests.browser_harness import BOARD_CONFIG, ServerProcess

EXAMPLES = 15  # per operation; a bounded run in the suite
SKIP = {"/ws", "/api/board/feed",  # WebSocket upgrades
        "/api/whatif"}  # starts a replay process per call, and answers 503 while one runs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("openapi"), BOARD_CONFIG)
    proc.start()
    yield proc
    proc.stop()


def operations() -> list[Any]:
    schema = schemathesis.openapi.from_dict(document())
    return [result.ok() for result in schema.get_all_operations()
            if result.ok().path not in SKIP]


@pytest.mark.parametrize("operation", operations(), ids=lambda op: op.label)
def test_no_server_error_and_no_response_outside_the_schema(server: ServerProcess,
                                                            operation: Any) -> None:
    token = server.authority.mint(Role.MANAGER, "fuzz", ttl_s=600)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                               checks=[not_a_server_error, response_schema_conformance])

    run()
