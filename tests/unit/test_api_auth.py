"""Bearer-token authentication: every endpoint but the health check demands a valid token."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    Server,
    all_routes,
    make_client_fixture,
    root_fixture,
    server_fixture,
    token_for,
)
from zenmail.directory import admins
from zenmail.directory.context import Ctx

# The health check, and a device's one-time setup link: the link itself is the secret
# (tests/unit/test_devices.py: unknown, used and expired links answer 404).
PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/device-links/{token}")}
# Any value the routes take (an address needs its @): authentication must fail before
# anything is looked up or validated.
DUMMY_PATH_VALUE = "1@x.test"


def _api_operations(server: Server) -> list[tuple[str, str]]:
    ops = sorted((m, re.sub(r"{\w+}", DUMMY_PATH_VALUE, p))
                 for m, p, is_api in all_routes(server.app) if is_api and (m, p) not in PUBLIC)
    assert len(ops) >= 20  # the walk below must not pass by finding nothing
    return ops


# Employees' own endpoints: their mail address and password (HTTP Basic), never a token.
SELF_SERVICE = "/api/v1/me/"


def _assert_401(r: httpx.Response, invalid_token: bool) -> None:
    what = f"{r.request.method} {r.request.url} -> {r.status_code} {r.text}"
    assert r.status_code == 401, what
    challenge = r.headers.get("www-authenticate", "")
    if r.request.url.path.startswith(SELF_SERVICE):
        # A token, good or bad, is no mail password: the answer asks for Basic.
        assert challenge.startswith("Basic"), what
        assert r.json()["error"] == "unauthenticated" and "password" in r.json()["message"]
        return
    assert challenge.startswith("Bearer"), what
    assert ('error="invalid_token"' in challenge) == invalid_token, what
    assert r.json()["error"] == "unauthenticated", what
    assert "zenmail token create" in r.json()["message"], what


def test_every_endpoint_needs_a_token(server: Server,
                                      make_client: Callable[[str | None], httpx.Client]) -> None:
    anonymous = make_client(None)
    for method, path in _api_operations(server):
        # No body on purpose: a missing token must be reported before a malformed request.
        _assert_401(anonymous.request(method, path), invalid_token=False)


def test_every_endpoint_refuses_bad_and_revoked_tokens(
        ctx: Ctx, server: Server, make_client: Callable[[str | None], httpx.Client]) -> None:
    valid = token_for(ctx, "root@ops.test")
    token_id = int(valid.split("_")[1])
    tampered = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    revoked = admins.create_token(ctx, "root@ops.test", "old")
    admins.revoke_token(ctx, revoked.info.id)
    bad = [tampered, "zm_999999_nosuchsecret", "zm_x_y", "not-a-zenmail-token", revoked.token,
           f"zm_{token_id}_"]
    for token in bad:
        client = make_client(token)
        for method, path in _api_operations(server):
            _assert_401(client.request(method, path), invalid_token=True)
    # The real token, presented the same way, does work: the 401s above are about the tokens.
    assert make_client(valid).get("/api/v1/tenants").status_code == 200


def test_other_schemes_are_not_accepted(ctx: Ctx, server: Server) -> None:
    valid = token_for(ctx, "root@ops.test")
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/api/v1/tenants", headers={"Authorization": f"Basic {valid}"})
        _assert_401(r, invalid_token=False)
        r = c.get("/api/v1/tenants", headers={"Authorization": f"bearer {valid}"})
        assert r.status_code == 200  # the scheme name is case-insensitive (RFC 7235)


def test_revoking_through_the_api_locks_the_token_out(root: httpx.Client,
                                                      make_client) -> None:
    r = root.post("/api/v1/tokens", json={"admin": "root@ops.test", "name": "ci"})
    second = make_client(r.json()["token"])
    assert second.get("/api/v1/tenants").status_code == 200
    assert root.delete(f"/api/v1/tokens/{r.json()['info']['id']}").status_code == 200
    _assert_401(second.get("/api/v1/tenants"), invalid_token=True)
    assert root.get("/api/v1/tenants").status_code == 200  # only that one token


def test_health_and_documents_need_no_token(
        server: Server, make_client: Callable[[str | None], httpx.Client]) -> None:
    anonymous = make_client(None)
    r = anonymous.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["database"] in ("sqlite", "postgresql")
    spec = anonymous.get("/api/v1/openapi.json").json()
    assert spec["components"]["securitySchemes"]["token"]["scheme"].lower() == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            scheme = "mailbox" if path.startswith(SELF_SERVICE) else "token"
            secured = any(scheme in s for s in op.get("security", []))
            assert secured == ((method.upper(), path) not in PUBLIC), (method, path)
    docs = anonymous.get("/api/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text
