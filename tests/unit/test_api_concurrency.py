"""The pooled quota holds when many API requests race for the same free space."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    Server,
    make_client_fixture,
    root_fixture,
    server_fixture,
)
from zenmail.directory import domains, quota, tenants
from zenmail.directory.context import Ctx

GiB = 1024**3
RACERS = 16


def test_parallel_account_creation_never_overshoots_the_pool(ctx: Ctx, server: Server,
                                                              root: httpx.Client) -> None:
    tenants.add(ctx, "acme", "4G")
    domains.add(ctx, "acme", "acme.test")
    token = root.headers["Authorization"]

    def create(i: int) -> httpx.Response:
        # One client per thread: parallel connections, so uvicorn runs the handlers in parallel.
        with httpx.Client(base_url=server.url, headers={"Authorization": token},
                          timeout=60) as c:
            return c.post("/api/v1/accounts", json={"address": f"u{i}@acme.test",
                                                    "password": PASSWORD, "quota": "1G"})

    with ThreadPoolExecutor(RACERS) as pool:
        responses = list(pool.map(create, range(RACERS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 4 + [409] * (RACERS - 4), [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"quota_exceeded"}
    info = quota.pool(ctx, "acme")
    assert info.allocated_bytes == 4 * GiB and len(info.accounts) == 4
