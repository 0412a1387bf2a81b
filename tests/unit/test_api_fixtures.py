"""Fixtures of the API tests (imported by the test_api_* modules; holds no tests itself).

Fixtures are registered under `name=` so that modules can import the functions without
the test parameters of the same name shadowing them.

The app runs in a real uvicorn on a free loopback port and is spoken to with httpx, so URL
decoding, headers and status lines are the real ones a client sees.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.conftest import FAST_HASHER
from zenmail.config import LockoutSettings, Settings
from zenmail.db import Database
from zenmail.devtools.redisserver import RedisServer
from zenmail.directory import accounts, admins, aliases, domains, tenants
from zenmail.directory.context import Ctx
from zenmail.security.lockout import Guard, guard_for
from zenmail.web.app import create_app

PASSWORD = "correct horse battery"


class Server:
    """A uvicorn serving `create_app` in a thread, on a socket bound before it starts."""

    def __init__(self, database: Database, state_dir: Path,
                 token_failures: int = 1_000_000, redis: str = "") -> None:
        # The walks send hundreds of wrong tokens on purpose: the brake on wrong tokens (429)
        # is lifted here and has its own test (test_api_throttle.py).
        settings = Settings.model_validate({
            "state_dir": state_dir, "lockout": {"api_token_failures": token_failures},
            "endpoints": {"redis": redis}})
        self.app = create_app(settings, database, FAST_HASHER)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning",
                                                     lifespan="on"))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(name="server")
def server_fixture(database: Database, tmp_path: Path,
                   redis_server: RedisServer) -> Iterator[Server]:
    srv = Server(database, tmp_path / "state", redis=redis_server.endpoint).start()
    yield srv
    srv.stop()


@pytest.fixture(name="make_client")
def make_client_fixture(server: Server) -> Iterator[Callable[[str | None], httpx.Client]]:
    """client(token) -> an httpx client of the running API sending that bearer token."""
    made: list[httpx.Client] = []

    def make(token: str | None) -> httpx.Client:
        made.append(server.client(token))
        return made[-1]

    yield make
    for c in made:
        c.close()


def token_for(ctx: Ctx, admin: str, tenant: str | None = None) -> str:
    admins.add(ctx, admin, tenant)
    return admins.create_token(ctx, admin, "tests").token


@pytest.fixture(name="root")
def root_fixture(ctx: Ctx, make_client: Callable[[str | None], httpx.Client]) -> httpx.Client:
    """A client authenticated as a global administrator."""
    return make_client(token_for(ctx, "root@ops.test"))


def seed_tenant(ctx: Ctx, name: str, domain: str) -> dict[str, str]:
    """A tenant with a domain, two accounts, an alias, a catch-all and a tenant admin."""
    tenants.add(ctx, name, "10G")
    domains.add(ctx, name, domain)
    accounts.add(ctx, f"alice@{domain}", password=PASSWORD, quota="2G")
    accounts.add(ctx, f"bob@{domain}", password=PASSWORD, quota="1G")
    aliases.add(ctx, f"sales@{domain}", [f"alice@{domain}", f"bob@{domain}"])
    aliases.add(ctx, f"@{domain}", [f"alice@{domain}"])
    admin = f"it@{domain}"
    token = token_for(ctx, admin, name)
    return {"tenant": name, "domain": domain, "alice": f"alice@{domain}",
            "bob": f"bob@{domain}", "alias": f"sales@{domain}", "catch_all": f"@{domain}",
            "admin": admin, "token": token}


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    """(status, code, message) of an error response, checking the one error format."""
    body = response.json()
    assert set(body) >= {"error", "message"}, body
    assert body["message"].strip(), body
    return response.status_code, body["error"], body["message"]


def all_routes(app: FastAPI) -> set[tuple[str, str, bool]]:
    """(method, path as OpenAPI writes it, is an API route) for every route the app serves.

    Read from the router itself (including included routers), not from the OpenAPI document,
    so that a route left out of the document is still found.
    """
    found: set[tuple[str, str, bool]] = set()
    for route in iter_route_contexts(app.routes):
        is_api = isinstance(route.original_route, APIRoute)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                found.add((method, str(route.path_format), is_api))
    return found


GUESSER = "198.51.100.9"  # a documentation address: the client that guessed passwords


def lock_out(redis_endpoint: str, *accounts: str) -> Guard:
    """Start from no lockouts, then have GUESSER try wrong passwords on each account until
    the account is locked out for that address (as Dovecot's policy requests would)."""
    guard = guard_for(redis_endpoint, LockoutSettings())
    guard.store.delete(guard.store.keys("*"))
    for account in accounts:
        for n in range(LockoutSettings().pair_failures):
            guard.report(account, GUESSER, success=False, password_hash=f"guess-{n}")
    return guard
