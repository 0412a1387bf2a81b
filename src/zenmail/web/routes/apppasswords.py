"""App passwords: administrators manage an account's (tenant-scoped, like every account
route); a person manages their own under /me with their address and main password (HTTP
Basic), so nobody needs an administrator to set up a new phone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from zenmail.directory import apppasswords
from zenmail.directory.apppasswords import AppPasswordInfo, NewAppPassword
from zenmail.directory.context import Actor, Ctx
from zenmail.web.deps import CtxDep, _count_failure
from zenmail.web.errors import Unauthenticated
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import AppPasswordCreate, AppPasswordPolicy

router = APIRouter(tags=["app passwords"], responses=ERRORS)

basic = HTTPBasic(auto_error=False, scheme_name="mailbox",
                  description="The person's own mail address and main password (not an app "
                              "password): every /me endpoint (their app passwords, setup "
                              "profile, deleted mail and restores).")


def _self(request: Request,
          credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Ctx:
    """The context of the account itself, or 401 saying what to send."""
    state = request.app.state
    gatekeeper = Ctx(state.database, Actor("api:self-service"), state.hasher)
    actor = (None if credentials is None else
             apppasswords.self_actor(gatekeeper, credentials.username, credentials.password))
    if actor is None:
        if credentials is not None:
            _count_failure(request, gatekeeper)
        error = Unauthenticated("send your mail address and your own password (HTTP Basic); "
                                "an app password cannot make others", invalid_token=False)
        error.headers = {"WWW-Authenticate": 'Basic realm="zenmail"'}
        raise error
    return Ctx(state.database, actor, state.hasher, state.platform,
               on_auth_change=state.on_auth_change)


SelfDep = Annotated[Ctx, Depends(_self)]


def _me(ctx: Ctx) -> str:
    return ctx.actor.name.removeprefix("self:")


# ---------------------------------------------------------------- administrators

@router.get("/accounts/{address:address}/app-passwords",
            summary="The account's app passwords (names, created, last used, revoked)")
def list_app_passwords(ctx: CtxDep, address: str) -> list[AppPasswordInfo]:
    return apppasswords.list_for(ctx, address)


@router.post("/accounts/{address:address}/app-passwords",
             status_code=status.HTTP_201_CREATED,
             summary="Make an app password for a device; the secret is in this answer only")
def create_app_password(ctx: CtxDep, address: str, body: AppPasswordCreate) -> NewAppPassword:
    return apppasswords.add(ctx, address, body.name)


@router.delete("/accounts/{address:address}/app-passwords/{name}",
               summary="Revoke an app password: refused from the device's next login on")
def revoke_app_password(ctx: CtxDep, address: str, name: str) -> AppPasswordInfo:
    return apppasswords.revoke(ctx, address, name)


@router.get("/tenants/{tenant}/app-password-policy",
            summary="Whether the tenant's people must use app passwords for IMAP and SMTP")
def get_app_password_policy(ctx: CtxDep, tenant: str) -> AppPasswordPolicy:
    return AppPasswordPolicy(required=apppasswords.required(ctx, tenant))


@router.put("/tenants/{tenant}/app-password-policy",
            summary="Require app passwords for IMAP and SMTP, or accept the main password too")
def set_app_password_policy(ctx: CtxDep, tenant: str,
                            body: AppPasswordPolicy) -> AppPasswordPolicy:
    return AppPasswordPolicy(required=apppasswords.set_required(ctx, tenant, body.required))


# ---------------------------------------------------------------- the person, for themselves

@router.get("/me/app-passwords", summary="Your app passwords",
            responses={401: ERRORS[401]})
def list_my_app_passwords(ctx: SelfDep) -> list[AppPasswordInfo]:
    return apppasswords.list_for(ctx, _me(ctx))


@router.post("/me/app-passwords", status_code=status.HTTP_201_CREATED,
             summary="Make an app password for one of your devices (shown once)")
def create_my_app_password(ctx: SelfDep, body: AppPasswordCreate) -> NewAppPassword:
    return apppasswords.add(ctx, _me(ctx), body.name)


@router.delete("/me/app-passwords/{name}", summary="Revoke one of your app passwords")
def revoke_my_app_password(ctx: SelfDep, name: str) -> AppPasswordInfo:
    return apppasswords.revoke(ctx, _me(ctx), name)
