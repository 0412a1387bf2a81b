"""The pooled quota: a tenant's accounts share the storage pool it bought.

Invariant: for every tenant, sum(accounts.quota_bytes) <= tenants.pool_bytes. Every change
that can raise the sum runs in one transaction that first locks the tenant's row (PostgreSQL)
or holds SQLite's write lock from its first statement (BEGIN IMMEDIATE), then re-reads the
sum, so concurrent requests cannot both see the same free space.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory.context import Ctx, audit, lock_tenant, tenant_by_name
from zenmail.directory.models import Account, Tenant
from zenmail.directory.tenants import allocated_bytes
from zenmail.directory.views import AccountInfo, PoolAccount, PoolInfo
from zenmail.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from zenmail.sizes import format_size, parse_size

MIN_QUOTA = 1024 * 1024  # Dovecot reads a 0 limit as "unlimited": never write one.


def check_quota_size(quota: int) -> int:
    if quota < MIN_QUOTA:
        raise InvalidInput(f"quota {format_size(quota)} is below the minimum of "
                           f"{format_size(MIN_QUOTA)}; disable the account instead of "
                           "giving it no space")
    return quota


def ensure_fits(s: Session, tenant: Tenant, extra: int) -> None:
    """Raise QuotaExceeded unless `extra` more bytes fit in the (locked) tenant's pool."""
    used = allocated_bytes(s, tenant.id)
    free = tenant.pool_bytes - used
    if extra > free:
        raise QuotaExceeded(
            f"tenant {tenant.name!r} has {format_size(free)} free in its pool of "
            f"{format_size(tenant.pool_bytes)}; {format_size(extra)} more does not fit "
            f"(short by {format_size(extra - free)}). Lower another account's quota, move "
            "quota (zenmail quota move) or enlarge the pool (zenmail tenant set-pool)")


def account_by_address(s: Session, ctx: Ctx, address: str, *, lock: bool = False) -> Account:
    clean = address.strip().lower()
    stmt = select(Account).where(Account.address == clean)
    if lock:
        stmt = stmt.with_for_update()
    account = s.scalars(stmt).one_or_none()
    if account is None or not ctx.may_see_tenant(account.tenant_id):
        raise NotFound(f"no account {clean!r}; `zenmail account list` shows the accounts")
    return account


def account_info(s: Session, a: Account, tenant_name: str | None = None) -> AccountInfo:
    if tenant_name is None:
        tenant_name = s.scalar(select(Tenant.name).where(Tenant.id == a.tenant_id)) or ""
    return AccountInfo(address=a.address, tenant=tenant_name, display_name=a.display_name,
                       quota_bytes=a.quota_bytes, enabled=a.enabled, created_at=a.created_at,
                       updated_at=a.updated_at)


def set_quota(ctx: Ctx, address: str, size: str | int) -> AccountInfo:
    new = check_quota_size(parse_size(size))
    with ctx.db.transaction() as s:
        account = account_by_address(s, ctx, address)
        tenant = lock_tenant(s, account.tenant_id)
        s.refresh(account)
        before = account.quota_bytes
        if new > before:
            ensure_fits(s, tenant, new - before)
        account.quota_bytes = new
        audit(s, ctx, "account.set_quota", account.address, tenant.id,
              before={"quota_bytes": before}, after={"quota_bytes": new})
        s.flush()
        return account_info(s, account)


def move(ctx: Ctx, source: str, target: str, size: str | int) -> PoolInfo:
    """Move `size` bytes of quota from one account to another of the same tenant, atomically."""
    amount = parse_size(size)
    if amount == 0:
        raise InvalidInput("moving 0 bytes changes nothing; give a size such as 500M")
    with ctx.db.transaction() as s:
        src = account_by_address(s, ctx, source)
        dst = account_by_address(s, ctx, target)
        if src.id == dst.id:
            raise InvalidInput(f"{src.address} is both source and target; name two accounts")
        if src.tenant_id != dst.tenant_id:
            raise Conflict(f"{src.address} and {dst.address} belong to different tenants; "
                           "quota moves only inside one tenant's pool")
        tenant = lock_tenant(s, src.tenant_id)
        s.refresh(src)
        s.refresh(dst)
        if src.quota_bytes - amount < MIN_QUOTA:
            can = max(src.quota_bytes - MIN_QUOTA, 0)
            raise Conflict(f"{src.address} has a quota of {format_size(src.quota_bytes)}; it "
                           f"can give at most {format_size(can)} and keep the minimum of "
                           f"{format_size(MIN_QUOTA)}")
        before = {src.address: src.quota_bytes, dst.address: dst.quota_bytes}
        src.quota_bytes -= amount
        dst.quota_bytes += amount
        audit(s, ctx, "quota.move", f"{src.address} -> {dst.address}", tenant.id,
              before=before, after={src.address: src.quota_bytes, dst.address: dst.quota_bytes})
        s.flush()
        return _pool(s, tenant)


def _pool(s: Session, tenant: Tenant) -> PoolInfo:
    rows = s.execute(select(Account.address, Account.quota_bytes)
                     .where(Account.tenant_id == tenant.id).order_by(Account.address)).all()
    allocated = sum(q for _, q in rows)
    return PoolInfo(tenant=tenant.name, pool_bytes=tenant.pool_bytes, allocated_bytes=allocated,
                    free_bytes=tenant.pool_bytes - allocated,
                    accounts=[PoolAccount(address=a, quota_bytes=q) for a, q in rows])


def pool(ctx: Ctx, tenant: str) -> PoolInfo:
    with ctx.db.reading() as s:
        return _pool(s, tenant_by_name(s, ctx, tenant))
