"""Request dependencies: who is calling (bearer token -> Actor) and the Ctx handlers pass on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zenmail.db import Database
from zenmail.directory import admins
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.web.errors import Unauthenticated

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
    actor = admins.authenticate(Ctx(db, _GATEKEEPER, hasher), credentials.credentials.strip())
    if actor is None:
        raise Unauthenticated("the API token is unknown, malformed or revoked; create a new one "
                              "with `zenmail token create ADMIN`", invalid_token=True)
    return Ctx(db, actor, hasher, request.app.state.platform)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
