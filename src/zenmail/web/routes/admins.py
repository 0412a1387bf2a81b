"""Administrators and their API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from zenmail.directory import admins
from zenmail.directory.views import AdminInfo, NewToken, TokenInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import AdminCreate, TokenCreate

router = APIRouter(responses=ERRORS)


@router.get("/admins", tags=["admins"], summary="List administrators")
def list_admins(ctx: CtxDep) -> list[AdminInfo]:
    return admins.list_all(ctx)


@router.post("/admins", tags=["admins"], status_code=status.HTTP_201_CREATED,
             summary="Add an administrator, global or of one tenant")
def add_admin(ctx: CtxDep, body: AdminCreate) -> AdminInfo:
    return admins.add(ctx, body.name, body.tenant)


@router.delete("/admins/{admin}", tags=["admins"], status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an administrator and all their tokens")
def delete_admin(ctx: CtxDep, admin: str) -> None:
    admins.remove(ctx, admin)


@router.get("/tokens", tags=["tokens"], summary="List API tokens (never their secrets)")
def list_tokens(ctx: CtxDep) -> list[TokenInfo]:
    return admins.list_tokens(ctx)


@router.post("/tokens", tags=["tokens"], status_code=status.HTTP_201_CREATED,
             summary="Create a token for an administrator; the secret is shown only now")
def create_token(ctx: CtxDep, body: TokenCreate) -> NewToken:
    return admins.create_token(ctx, body.admin, body.name)


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token")
def revoke_token(ctx: CtxDep, token_id: Annotated[str, Path(
        pattern=r"^[1-9][0-9]*$", examples=["2"],
        description="The token's id as `GET /tokens` gives it: digits, no leading zero. "
                    "An id no token can have answers 404.")]) -> TokenInfo:
    return admins.revoke_token(ctx, token_id)
