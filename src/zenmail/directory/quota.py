"""The pooled quota: a tenant's accounts share the storage pool it bought.

Invariant: for every tenant, sum(accounts.quota_bytes) <= tenants.pool_bytes. Every change
that can raise the sum runs in one unit of work that first locks the tenant's row
(PostgreSQL) or holds SQLite's write lock from its first statement (BEGIN IMMEDIATE), then
re-reads the sum, so concurrent requests cannot both see the same free space.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory import accounts, names, rules, usage
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Tenant
from zenmail.directory.views import AccountInfo, PoolAccount, PoolInfo
from zenmail.errors import Conflict, InvalidInput
from zenmail.sizes import format_size, parse_size


def set_quota(ctx: Ctx, address: str, size: str | int) -> AccountInfo:
    new = rules.check_quota_size(parse_size(size))
    with ctx.unit() as s:
        account = ctx.find(s, Account, address)
        tenant = rules.lock_tenant(s, account.tenant_id)
        s.refresh(account)  # read again under the lock: another unit may have changed it
        before = account.quota_bytes
        if new > before:
            rules.ensure_fits(s, tenant, new - before)
        account.quota_bytes = new
        audit(s, ctx, "account.set_quota", account.address, tenant.id,
              before={"quota_bytes": before}, after={"quota_bytes": new})
        ctx.auth_changed(s, [account.address])  # Dovecot's user lookup carries the quota
        s.flush()
        return accounts.info(s, account)


def move(ctx: Ctx, source: str, target: str, size: str | int) -> PoolInfo:
    """Move `size` bytes of quota from one account to another of the same tenant, atomically."""
    amount = parse_size(size)
    if amount == 0:
        raise InvalidInput("moving 0 bytes changes nothing; give a size such as 500M")
    with ctx.unit() as s:
        src = ctx.find(s, Account, source)
        dst = ctx.find(s, Account, target)
        if src.id == dst.id:
            raise InvalidInput(f"{src.address} is both source and target; name two accounts")
        if src.tenant_id != dst.tenant_id:
            raise Conflict(f"{src.address} and {dst.address} belong to different tenants; "
                           "quota moves only inside one tenant's pool")
        tenant = rules.lock_tenant(s, src.tenant_id)
        s.refresh(src)
        s.refresh(dst)
        if src.quota_bytes - amount < rules.MIN_QUOTA:
            can = max(src.quota_bytes - rules.MIN_QUOTA, 0)
            raise Conflict(f"{src.address} has a quota of {format_size(src.quota_bytes)}; it "
                           f"can give at most {format_size(can)} and keep the minimum of "
                           f"{format_size(rules.MIN_QUOTA)}")
        before = {src.address: src.quota_bytes, dst.address: dst.quota_bytes}
        src.quota_bytes -= amount
        dst.quota_bytes += amount
        audit(s, ctx, "quota.move", f"{src.address} -> {dst.address}", tenant.id,
              before=before, after={src.address: src.quota_bytes, dst.address: dst.quota_bytes})
        ctx.auth_changed(s, [src.address, dst.address])
        s.flush()
        return _pool(s, tenant)


def _pool(s: Session, tenant: Tenant) -> PoolInfo:
    rows = s.execute(select(Account.address, Account.quota_bytes)
                     .where(Account.tenant_id == tenant.id).order_by(Account.address)).all()
    allocated = sum(q for _, q in rows)
    used = usage.of_accounts(s, [a for a, _ in rows])
    return PoolInfo(tenant=tenant.name, pool_bytes=tenant.pool_bytes, allocated_bytes=allocated,
                    free_bytes=tenant.pool_bytes - allocated, used_bytes=sum(used.values()),
                    accounts=[PoolAccount(address=a, address_unicode=names.address_display(a),
                                          quota_bytes=q, used_bytes=used.get(a))
                              for a, q in rows])


def pool(ctx: Ctx, tenant: str) -> PoolInfo:
    with ctx.reading() as s:
        return _pool(s, ctx.find(s, Tenant, tenant))
