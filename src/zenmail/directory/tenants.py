"""Tenants: one customer each, with the storage pool they bought and their limits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zenmail.directory import names, usage
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Admin, Alias, Domain, Tenant
from zenmail.directory.rules import allocated_bytes, count_rows
from zenmail.directory.views import TenantInfo
from zenmail.errors import Conflict, InvalidInput
from zenmail.sizes import format_size, parse_size

MAX_ACCOUNTS_LIMIT = 1_000_000


def _check_max_accounts(max_accounts: int | None) -> None:
    if max_accounts is not None and not 0 <= max_accounts <= MAX_ACCOUNTS_LIMIT:
        raise InvalidInput(f"max accounts {max_accounts} is out of range; give 0 to "
                           f"{MAX_ACCOUNTS_LIMIT:,}, or no limit")


def info(s: Session, tenant: Tenant, used_bytes: int | None = None) -> TenantInfo:
    """The tenant's view; `used_bytes` when the caller read it for many tenants at once."""
    domains = s.scalars(select(Domain.name).where(Domain.tenant_id == tenant.id)
                        .order_by(Domain.name)).all()
    count = count_rows(s, Account, Account.tenant_id == tenant.id)
    if used_bytes is None:
        used_bytes = usage.of_tenants(s, [tenant.id]).get(tenant.id, 0)
    return TenantInfo(name=tenant.name, pool_bytes=tenant.pool_bytes,
                      allocated_bytes=allocated_bytes(s, tenant.id), used_bytes=used_bytes,
                      max_accounts=tenant.max_accounts, accounts=count, domains=list(domains),
                      domains_unicode=[names.domain_display(d) for d in domains],
                      created_at=tenant.created_at)


def add(ctx: Ctx, name: str, pool: str | int, max_accounts: int | None = None) -> TenantInfo:
    ctx.require_global("create tenants")
    clean = names.valid_tenant_name(name)
    pool_bytes = parse_size(pool)
    _check_max_accounts(max_accounts)
    with ctx.unit() as s:
        if s.scalar(select(Tenant.id).where(Tenant.name == clean)) is not None:
            raise Conflict(f"tenant {clean!r} already exists; choose another name")
        tenant = Tenant(name=clean, pool_bytes=pool_bytes, max_accounts=max_accounts)
        s.add(tenant)
        try:
            s.flush()
        except IntegrityError as exc:
            raise Conflict(f"tenant {clean!r} already exists; choose another name") from exc
        audit(s, ctx, "tenant.add", clean, tenant.id,
              after={"pool_bytes": pool_bytes, "max_accounts": max_accounts})
        return info(s, tenant)


def visible(ctx: Ctx, s: Session, name: str | None = None) -> list[Tenant]:
    """The tenant `name` (NotFound if the caller may not see it), or every tenant the
    caller may see, by name: what an engine's per-tenant listing starts from."""
    if name:
        return [ctx.find(s, Tenant, name)]
    return list(s.scalars(ctx.scoped(select(Tenant).order_by(Tenant.name), Tenant.id)))


def list_all(ctx: Ctx) -> list[TenantInfo]:
    with ctx.reading() as s:
        rows = visible(ctx, s)
        used = usage.of_tenants(s, [t.id for t in rows])
        return [info(s, t, used.get(t.id, 0)) for t in rows]


def show(ctx: Ctx, name: str) -> TenantInfo:
    with ctx.reading() as s:
        return info(s, ctx.find(s, Tenant, name))


def set_pool(ctx: Ctx, name: str, pool: str | int) -> TenantInfo:
    """Change the pool; refuses to go below what the accounts already hold."""
    ctx.require_global("change a tenant's storage pool")
    new = parse_size(pool)
    with ctx.unit() as s:
        tenant = ctx.find(s, Tenant, name, lock=True)
        used = allocated_bytes(s, tenant.id)
        if new < used:
            raise Conflict(
                f"tenant {tenant.name!r} has {format_size(used)} allocated to its accounts; a "
                f"pool of {format_size(new)} is {format_size(used - new)} ({used - new} bytes) "
                "too small. Lower account quotas first (zenmail account set-quota)")
        before = tenant.pool_bytes
        tenant.pool_bytes = new
        audit(s, ctx, "tenant.set_pool", tenant.name, tenant.id,
              before={"pool_bytes": before}, after={"pool_bytes": new})
        s.flush()
        return info(s, tenant)


def set_max_accounts(ctx: Ctx, name: str, max_accounts: int | None) -> TenantInfo:
    ctx.require_global("change a tenant's limits")
    _check_max_accounts(max_accounts)
    with ctx.unit() as s:
        tenant = ctx.find(s, Tenant, name, lock=True)
        count = count_rows(s, Account, Account.tenant_id == tenant.id)
        if max_accounts is not None and max_accounts < count:
            raise Conflict(f"tenant {tenant.name!r} already has {count} accounts; the limit "
                           f"cannot be {max_accounts}. Remove accounts first")
        before = tenant.max_accounts
        tenant.max_accounts = max_accounts
        audit(s, ctx, "tenant.set_limits", tenant.name, tenant.id,
              before={"max_accounts": before}, after={"max_accounts": max_accounts})
        s.flush()
        return info(s, tenant)


def remove(ctx: Ctx, name: str) -> None:
    """Remove an empty tenant; refuses while it still owns domains (nothing is lost by accident)."""
    ctx.require_global("remove tenants")
    with ctx.unit() as s:
        tenant = ctx.find(s, Tenant, name, lock=True)
        counts = {
            "domains": count_rows(s, Domain, Domain.tenant_id == tenant.id),
            "accounts": count_rows(s, Account, Account.tenant_id == tenant.id),
            "aliases": count_rows(s, Alias, Alias.tenant_id == tenant.id),
        }
        if any(counts.values()):
            held = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
            raise Conflict(f"tenant {tenant.name!r} still has {held}; remove them first "
                           "(zenmail account remove / alias remove / domain remove)")
        for admin in s.scalars(select(Admin).where(Admin.tenant_id == tenant.id)):
            s.delete(admin)
        audit(s, ctx, "tenant.remove", tenant.name, tenant.id,
              before={"pool_bytes": tenant.pool_bytes})
        s.delete(tenant)
