"""Wrong bearer tokens from one client address: 401, then 429 with Retry-After — while a valid
token from the same address, and wrong ones from other addresses, are unaffected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.unit.test_api_fixtures import Server, token_for
from zenmail.db import Database
from zenmail.directory import auditlog
from zenmail.directory.context import Ctx
from zenmail.web.limits import TokenFailures

LIMIT = 10


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[Server]:
    srv = Server(database, tmp_path / "state", token_failures=LIMIT).start()
    yield srv
    srv.stop()


def _from(server: Server, source: str, token: str) -> httpx.Client:
    """A client of the API connecting from loopback address `source`."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                        transport=httpx.HTTPTransport(local_address=source), timeout=30)


def test_wrong_tokens_get_429_with_retry_after_and_a_valid_token_still_works(
        ctx: Ctx, server: Server) -> None:
    good = token_for(ctx, "root@ops.test")
    with _from(server, "127.0.0.2", "zm_1_wrong") as attacker:
        codes = [attacker.get("/api/v1/tenants").status_code for _ in range(LIMIT)]
        assert codes == [401] * LIMIT
        r = attacker.get("/api/v1/tenants")
        assert r.status_code == 429
        assert r.json()["error"] == "too_many_requests"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        for _ in range(5):
            assert attacker.get("/api/v1/tenants").status_code == 429
    # The administrator behind the same address is not locked out...
    with _from(server, "127.0.0.2", good) as admin:
        assert admin.get("/api/v1/tenants").status_code == 200
    # ...and another address is counted on its own.
    with _from(server, "127.0.0.3", "zm_1_wrong") as other:
        assert other.get("/api/v1/tenants").status_code == 401
    throttled = [e for e in auditlog.entries(ctx) if e.action == "api.throttled"]
    assert [(e.target, e.actor) for e in throttled] == [("127.0.0.2", "api:authentication")]


def test_the_window_slides() -> None:
    clock = [1000.0]
    f = TokenFailures(limit=3, window=60, now=lambda: clock[0])
    for _ in range(3):
        f.failed("198.51.100.7")
        clock[0] += 10
    assert f.retry_after("198.51.100.7") == 0
    f.failed("198.51.100.7")  # the 4th within a minute (at 1030)
    assert f.retry_after("198.51.100.7") == 31  # the first (at 1000) ages out at 1060
    clock[0] = 1061
    assert f.retry_after("198.51.100.7") == 0
