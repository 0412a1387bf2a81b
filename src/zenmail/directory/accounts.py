"""Mail accounts: an address, a password Dovecot can verify, and a slice of the tenant's pool."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory import bulk, names, rules, usage
from zenmail.directory.bulk import DEFAULT_QUOTA as DEFAULT_QUOTA  # re-exported for the API
from zenmail.directory.bulk import NewAccount
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Domain, Tenant
from zenmail.directory.views import AccountInfo


def account_info(a: Account, used_bytes: int | None) -> AccountInfo:
    return AccountInfo(address=a.address, address_unicode=names.address_display(a.address),
                       tenant=a.tenant.name, display_name=a.display_name,
                       quota_bytes=a.quota_bytes, used_bytes=used_bytes, enabled=a.enabled,
                       created_at=a.created_at, updated_at=a.updated_at)


def info(s: Session, a: Account) -> AccountInfo:
    """The view of one account, with its usage (one more indexed lookup)."""
    return account_info(a, usage.of_account(s, a.address))


def add(ctx: Ctx, address: str, *, password: str | None = None,
        password_hash: str | None = None, quota: str | int = DEFAULT_QUOTA,
        display_name: str = "", tenant: str | None = None) -> AccountInfo:
    """Create an account. Give `password` (hashed here) or an existing `password_hash`.

    An import of one row: the same checks and rules as `bulk.add_many`, in one code path.
    """
    row = NewAccount(address, quota, display_name, password, password_hash)
    [item] = bulk.prepare(ctx, [row], batch=False)
    with ctx.unit() as s:
        [account] = bulk.create(s, ctx, [item], tenant=tenant, batch=False)
        return info(s, account)


def list_all(ctx: Ctx, tenant: str | None = None, domain: str | None = None) -> list[AccountInfo]:
    with ctx.reading() as s:
        stmt = select(Account).order_by(Account.address)
        if tenant:
            stmt = stmt.where(Account.tenant_id == ctx.find(s, Tenant, tenant).id)
        if domain:
            stmt = stmt.where(Account.domain_id == ctx.find(s, Domain, domain).id)
        stmt = ctx.scoped(stmt, Account.tenant_id)
        rows = list(s.scalars(stmt))
        used = usage.of_accounts(s, [a.address for a in rows])
        return [account_info(a, used.get(a.address)) for a in rows]


def show(ctx: Ctx, address: str) -> AccountInfo:
    with ctx.reading() as s:
        return info(s, ctx.find(s, Account, address))


def set_password(ctx: Ctx, address: str, password: str) -> AccountInfo:
    stored = ctx.hasher.hash(password)
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        account.password_hash = stored
        audit(s, ctx, "account.set_password", account.address, account.tenant_id,
              after={"password": "changed"})
        ctx.auth_changed(s, [account.address])
        s.flush()
        return info(s, account)


def set_name(ctx: Ctx, address: str, display_name: str) -> AccountInfo:
    """Change the account's display name ("" removes it); the address stays what it is."""
    clean = rules.check_display_name(display_name)
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        before = account.display_name
        if clean != before:
            account.display_name = clean
            audit(s, ctx, "account.set_name", account.address, account.tenant_id,
                  before={"display_name": before}, after={"display_name": clean})
            s.flush()
        return info(s, account)


def set_enabled(ctx: Ctx, address: str, enabled: bool) -> AccountInfo:
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        before = account.enabled
        account.enabled = enabled
        audit(s, ctx, "account.enable" if enabled else "account.disable", account.address,
              account.tenant_id, before={"enabled": before}, after={"enabled": enabled})
        ctx.auth_changed(s, [account.address])
        s.flush()
        return info(s, account)


def remove(ctx: Ctx, address: str) -> None:
    """Remove the account from the directory. Its mail store is left on disk for restore."""
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        audit(s, ctx, "account.remove", account.address, account.tenant_id,
              before={"quota_bytes": account.quota_bytes, "enabled": account.enabled})
        usage.forget(s, account.address)
        ctx.auth_changed(s, [account.address])
        s.delete(account)  # its app passwords and device links go with it (ON DELETE CASCADE)
