"""Tenants and their storage pools."""

from __future__ import annotations

from fastapi import APIRouter, status

from zenmail.directory import quota, tenants
from zenmail.directory.views import PoolInfo, TenantInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import MaxAccountsSet, PoolSet, TenantCreate

router = APIRouter(prefix="/tenants", tags=["tenants"], responses=ERRORS)


@router.get("", summary="List the tenants you manage")
def list_tenants(ctx: CtxDep) -> list[TenantInfo]:
    return tenants.list_all(ctx)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a tenant (global only)")
def create_tenant(ctx: CtxDep, body: TenantCreate) -> TenantInfo:
    return tenants.add(ctx, body.name, body.pool, body.max_accounts)


@router.get("/{tenant}", summary="Show a tenant")
def show_tenant(ctx: CtxDep, tenant: str) -> TenantInfo:
    return tenants.show(ctx, tenant)


@router.get("/{tenant}/pool", summary="Show the storage pool: allocated, free, per account")
def show_pool(ctx: CtxDep, tenant: str) -> PoolInfo:
    return quota.pool(ctx, tenant)


@router.put("/{tenant}/pool", summary="Resize the storage pool (global only)")
def set_pool(ctx: CtxDep, tenant: str, body: PoolSet) -> TenantInfo:
    return tenants.set_pool(ctx, tenant, body.pool)


@router.put("/{tenant}/max-accounts", summary="Set or remove the account limit (global only)")
def set_max_accounts(ctx: CtxDep, tenant: str, body: MaxAccountsSet) -> TenantInfo:
    return tenants.set_max_accounts(ctx, tenant, body.max_accounts)


@router.delete("/{tenant}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an empty tenant (global only)")
def delete_tenant(ctx: CtxDep, tenant: str) -> None:
    tenants.remove(ctx, tenant)
