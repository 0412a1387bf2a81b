"""Login lockouts in force (wrong passwords over IMAP, SMTP, ManageSieve), and lifting them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from zenmail.security import lockout
from zenmail.security.lockout import LockInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["lockouts"], responses=ERRORS)


def _guard(request: Request) -> lockout.Guard:
    settings = request.app.state.settings
    return lockout.guard_for(settings.redis_endpoint, settings.lockout)


@router.get("/lockouts", summary="Lockouts in force (a tenant administrator: its accounts')")
def list_lockouts(ctx: CtxDep, request: Request) -> list[LockInfo]:
    return lockout.locks(ctx, _guard(request))


@router.delete("/lockouts/accounts/{address:address}",
               summary="Lift an account's lockouts (with `client`: at that address only)")
def unlock_account(ctx: CtxDep, request: Request, address: str,
                   client: str | None = None) -> list[LockInfo]:
    return lockout.unlock(ctx, _guard(request), account=address, client=client)


@router.delete("/lockouts/clients/{client}",
               summary="Lift a client address's lockouts (global administrators)")
def unlock_client(ctx: CtxDep, request: Request, client: str) -> list[LockInfo]:
    return lockout.unlock(ctx, _guard(request), client=client)
