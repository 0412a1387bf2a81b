"""Mail accounts and quota moves.

Addresses sit in the path as they are (`/accounts/alice@acme.example`); the `:address`
converter (routes/common.py) lets a local part contain `/`, which RFC 5322 allows, and stays
unambiguous because an address always ends in a domain, which never contains `/`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from zenmail.directory import accounts, bulk, quota
from zenmail.directory.views import AccountInfo, PoolInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import (
    AccountCreate,
    AccountsImport,
    NameSet,
    PasswordSet,
    QuotaMove,
    QuotaSet,
)

router = APIRouter(tags=["accounts"], responses=ERRORS)


@router.get("/accounts", summary="List accounts, optionally of one tenant or domain")
def list_accounts(ctx: CtxDep, tenant: str | None = None,
                  domain: str | None = None) -> list[AccountInfo]:
    return accounts.list_all(ctx, tenant, domain)


@router.post("/accounts", status_code=status.HTTP_201_CREATED, summary="Create an account")
def create_account(ctx: CtxDep, body: AccountCreate) -> AccountInfo:
    return accounts.add(ctx, body.address, password=body.password,
                        password_hash=body.password_hash, quota=body.quota,
                        display_name=body.display_name, tenant=body.tenant)


@router.post("/accounts/import", status_code=status.HTTP_201_CREATED,
             summary="Create many accounts, all or none")
def import_accounts(ctx: CtxDep, body: AccountsImport) -> dict[str, int]:
    rows = [bulk.NewAccount(address=r.address, quota=r.quota, display_name=r.display_name,
                            password=r.password, password_hash=r.password_hash)
            for r in body.accounts]
    return {"created": bulk.add_many(ctx, rows, tenant=body.tenant)}


@router.put("/accounts/{address:address}/quota", summary="Set the account's quota")
def set_quota(ctx: CtxDep, address: str, body: QuotaSet) -> AccountInfo:
    return quota.set_quota(ctx, address, body.quota)


@router.put("/accounts/{address:address}/name",
            summary="Set the account's display name (the address stays)")
def set_name(ctx: CtxDep, address: str, body: NameSet) -> AccountInfo:
    return accounts.set_name(ctx, address, body.display_name)


@router.put("/accounts/{address:address}/password", summary="Set the account's password")
def set_password(ctx: CtxDep, address: str, body: PasswordSet) -> AccountInfo:
    return accounts.set_password(ctx, address, body.password)


@router.post("/accounts/{address:address}/enable", summary="Let the account log in and receive")
def enable_account(ctx: CtxDep, address: str) -> AccountInfo:
    return accounts.set_enabled(ctx, address, True)


@router.post("/accounts/{address:address}/disable",
             summary="Disable the account (its data is kept)")
def disable_account(ctx: CtxDep, address: str) -> AccountInfo:
    return accounts.set_enabled(ctx, address, False)


@router.get("/accounts/{address:address}", summary="Show an account")
def show_account(ctx: CtxDep, address: str) -> AccountInfo:
    return accounts.show(ctx, address)


@router.delete("/accounts/{address:address}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an account from the directory (its mail stays on disk; its "
               "calendars and contacts are deleted)")
def delete_account(ctx: CtxDep, address: str, request: Request) -> None:
    accounts.remove(ctx, address)
    from zenmail.dav import local  # Radicale is imported only when it is needed

    local.remove(request.app.state.settings, address)


@router.post("/quota/move", summary="Move quota between two accounts of one tenant, atomically")
def move_quota(ctx: CtxDep, body: QuotaMove) -> PoolInfo:
    return quota.move(ctx, body.source, body.target, body.size)
