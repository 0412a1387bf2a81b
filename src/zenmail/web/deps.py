"""Request dependencies: who is calling (bearer token -> Actor) and the Ctx handlers pass on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zenmail.db import Database
from zenmail.directory import admins
from zenmail.directory.context import Actor, Ctx, audit
from zenmail.directory.passwords import Hasher
from zenmail.security.lockout import client_id
from zenmail.web.errors import TooManyRequests, Unauthenticated
from zenmail.web.limits import TokenFailures

# auto_error=False: a missing header must give our 401 body, not FastAPI's default.
bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token `zm_…`, created with `zenmail token create ADMIN` "
                                "or POST /api/v1/tokens; sent as `Authorization: Bearer zm_…`.")

# authenticate() only reads the token table; this actor never writes anything.
_GATEKEEPER = Actor("api:authentication")


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


def get_ctx(request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Ctx:
    """The context of the token's administrator, or 401 saying how to authenticate."""
    db = database(request)
    hasher: Hasher = request.app.state.hasher
    if credentials is None:
        raise Unauthenticated("this endpoint needs an API token: send the header "
                              "'Authorization: Bearer zm_…' (create one with `zenmail token "
                              "create ADMIN`)", invalid_token=False)
    gatekeeper = Ctx(db, _GATEKEEPER, hasher)
    actor = admins.authenticate(gatekeeper, credentials.credentials.strip())
    if actor is None:
        _count_failure(request, gatekeeper)
        raise Unauthenticated("the API token is unknown, malformed or revoked; create a new one "
                              "with `zenmail token create ADMIN`", invalid_token=True)
    return Ctx(db, actor, hasher, request.app.state.platform,
               on_auth_change=request.app.state.on_auth_change)


def _count_failure(request: Request, gatekeeper: Ctx) -> None:
    """Past the limit of wrong tokens from this address, 429 instead of 401; the first time
    an address crosses it within the window is written to the audit log."""
    failures: TokenFailures = request.app.state.token_failures
    client = client_id(request.client.host if request.client else "") or "unknown"
    count = failures.failed(client)
    if count <= failures.limit:
        return
    if count == failures.limit + 1:
        with gatekeeper.db.transaction() as s:
            audit(s, gatekeeper, "api.throttled", client, None,
                  after={"failures": count, "window_s": int(failures.window)})
    raise TooManyRequests(f"too many wrong API tokens from {client}; retry after the seconds in "
                          "Retry-After, with a valid token (`zenmail token create ADMIN`)",
                          retry_after=failures.retry_after(client))


CtxDep = Annotated[Ctx, Depends(get_ctx)]
