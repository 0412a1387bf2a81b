"""Administering lockouts through the CLI and the API, against a real Redis: a tenant
administrator sees and lifts only its own accounts' lockouts; lifting is audited."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    GUESSER,
    lock_out,
    make_client_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.devtools.redisserver import RedisServer
from zenmail.directory import admins, auditlog
from zenmail.directory.context import Ctx


def _accounts(locks: list[dict[str, object]]) -> list[object]:
    return sorted(lk["account"] for lk in locks)


def test_the_cli_lists_and_lifts_lockouts_inside_the_walls(
        ctx: Ctx, zenmail: Invoke, redis_server: RedisServer) -> None:
    a = seed_tenant(ctx, "tenant-a", "a.test")
    b = seed_tenant(ctx, "tenant-b", "b.test")
    guard = lock_out(redis_server.endpoint, a["alice"], b["alice"])
    assert not guard.allow(a["alice"], GUESSER).allowed

    mine = json.loads(zenmail("--as", b["admin"], "lockout", "list", "--json").stdout)
    assert _accounts(mine) == [b["alice"]] and mine[0]["client"] == GUESSER
    refused = zenmail("--as", b["admin"], "lockout", "unlock", "--account", a["alice"])
    assert refused.code == 2 and "no account" in refused.stderr
    assert "a.test" not in zenmail("--as", b["admin"], "lockout", "list").stdout
    assert zenmail("--as", b["admin"], "lockout", "unlock", "--client", GUESSER).code == 2
    assert not guard.allow(a["alice"], GUESSER).allowed  # still locked: nothing was lifted

    everyone = json.loads(zenmail("lockout", "list", "--json").stdout)
    assert _accounts(everyone) == [a["alice"], b["alice"]]
    out = zenmail("lockout", "unlock", "--account", a["alice"])
    assert out.code == 0 and "lifted 1 lockout" in out.stdout, out.stderr
    assert guard.allow(a["alice"], GUESSER).allowed
    assert "nothing was locked" in zenmail("lockout", "unlock", "--account", a["alice"]).stdout
    assert _accounts(json.loads(zenmail("lockout", "list", "--json").stdout)) == [b["alice"]]
    entry = next(e for e in auditlog.entries(ctx) if e.action == "auth.unlocked")
    assert entry.target == a["alice"] and entry.tenant == "tenant-a"


def test_the_api_lists_and_lifts_lockouts_inside_the_walls(
        ctx: Ctx, make_client: Callable[[str | None], httpx.Client],
        redis_server: RedisServer) -> None:
    a = seed_tenant(ctx, "tenant-a", "a.test")
    b = seed_tenant(ctx, "tenant-b", "b.test")
    guard = lock_out(redis_server.endpoint, a["alice"], b["alice"])
    tenant_b = make_client(b["token"])
    assert _accounts(tenant_b.get("/api/v1/lockouts").json()) == [b["alice"]]
    assert tenant_b.delete(f"/api/v1/lockouts/accounts/{a['alice']}").status_code == 404
    assert tenant_b.delete(f"/api/v1/lockouts/clients/{GUESSER}").status_code == 403
    assert not guard.allow(a["alice"], GUESSER).allowed

    lifted = tenant_b.delete(f"/api/v1/lockouts/accounts/{b['alice']}",
                             params={"client": GUESSER})
    assert lifted.status_code == 200 and _accounts(lifted.json()) == [b["alice"]]
    assert guard.allow(b["alice"], GUESSER).allowed

    admins.add(ctx, "root@ops.test")
    root = make_client(admins.create_token(ctx, "root@ops.test").token)
    assert _accounts(root.get("/api/v1/lockouts").json()) == [a["alice"]]
    bad = root.delete("/api/v1/lockouts/clients/not-an-address")
    assert bad.status_code == 422 and "not an IPv4 or IPv6 address" in bad.json()["message"]
    assert _accounts(root.delete(f"/api/v1/lockouts/clients/{GUESSER}").json()) == [a["alice"]]
    assert root.get("/api/v1/lockouts").json() == []
