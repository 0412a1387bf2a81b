"""Mail accounts: an address, a password Dovecot can verify, and a slice of the tenant's pool."""

from __future__ import annotations

from sqlalchemy import select

from zenmail.directory.addresses import normalise_address, split
from zenmail.directory.context import Ctx, audit, count_rows, lock_tenant, tenant_by_name
from zenmail.directory.domains import domain_by_name
from zenmail.directory.models import Account, Alias
from zenmail.directory.passwords import check_imported_hash
from zenmail.directory.quota import (
    account_by_address,
    account_info,
    check_quota_size,
    ensure_fits,
)
from zenmail.directory.views import AccountInfo
from zenmail.errors import Conflict, InvalidInput, QuotaExceeded
from zenmail.sizes import parse_size

DEFAULT_QUOTA = "1G"


def add(ctx: Ctx, address: str, *, password: str | None = None,
        password_hash: str | None = None, quota: str | int = DEFAULT_QUOTA,
        display_name: str = "", tenant: str | None = None) -> AccountInfo:
    """Create an account. Give `password` (hashed here) or an existing `password_hash`."""
    clean = normalise_address(address)
    if (password is None) == (password_hash is None):
        raise InvalidInput("give exactly one of a password or a password hash")
    stored = (ctx.hasher.hash(password) if password is not None
              else check_imported_hash(password_hash or ""))
    quota_bytes = check_quota_size(parse_size(quota))
    _, domain_name = split(clean)
    with ctx.db.transaction() as s:
        domain = domain_by_name(s, ctx, domain_name)
        if tenant is not None:
            wanted = tenant_by_name(s, ctx, tenant)
            if wanted.id != domain.tenant_id:
                raise Conflict(f"domain {domain.name!r} belongs to another tenant, not "
                               f"{wanted.name!r}; use one of {wanted.name!r}'s domains")
        owner = lock_tenant(s, domain.tenant_id)
        if s.scalar(select(Account.id).where(Account.address == clean)) is not None:
            raise Conflict(f"account {clean!r} already exists")
        if s.scalar(select(Alias.id).where(Alias.address == clean)) is not None:
            raise Conflict(f"{clean!r} is already an alias; remove the alias first "
                           "(zenmail alias remove) or choose another address")
        if owner.max_accounts is not None:
            count = count_rows(s, Account, Account.tenant_id == owner.id)
            if count >= owner.max_accounts:
                raise QuotaExceeded(f"tenant {owner.name!r} has reached its limit of "
                                    f"{owner.max_accounts} accounts; raise it or remove one")
        ensure_fits(s, owner, quota_bytes)
        account = Account(tenant_id=owner.id, domain_id=domain.id, address=clean,
                          display_name=display_name.strip(), password_hash=stored,
                          quota_bytes=quota_bytes, enabled=True)
        s.add(account)
        s.flush()
        audit(s, ctx, "account.add", clean, owner.id,
              after={"quota_bytes": quota_bytes, "display_name": account.display_name})
        return account_info(s, account, owner.name)


def list_all(ctx: Ctx, tenant: str | None = None, domain: str | None = None) -> list[AccountInfo]:
    with ctx.db.reading() as s:
        stmt = select(Account).order_by(Account.address)
        if tenant:
            stmt = stmt.where(Account.tenant_id == tenant_by_name(s, ctx, tenant).id)
        if domain:
            stmt = stmt.where(Account.domain_id == domain_by_name(s, ctx, domain).id)
        stmt = ctx.scoped(stmt, Account.tenant_id)
        return [account_info(s, a) for a in s.scalars(stmt)]


def show(ctx: Ctx, address: str) -> AccountInfo:
    with ctx.db.reading() as s:
        return account_info(s, account_by_address(s, ctx, address))


def set_password(ctx: Ctx, address: str, password: str) -> AccountInfo:
    stored = ctx.hasher.hash(password)
    with ctx.db.transaction() as s:
        account = account_by_address(s, ctx, address, lock=True)
        account.password_hash = stored
        audit(s, ctx, "account.set_password", account.address, account.tenant_id,
              after={"password": "changed"})
        s.flush()
        return account_info(s, account)


def set_enabled(ctx: Ctx, address: str, enabled: bool) -> AccountInfo:
    with ctx.db.transaction() as s:
        account = account_by_address(s, ctx, address, lock=True)
        before = account.enabled
        account.enabled = enabled
        audit(s, ctx, "account.enable" if enabled else "account.disable", account.address,
              account.tenant_id, before={"enabled": before}, after={"enabled": enabled})
        s.flush()
        return account_info(s, account)


def remove(ctx: Ctx, address: str) -> None:
    """Remove the account from the directory. Its mail store is left on disk for restore."""
    with ctx.db.transaction() as s:
        account = account_by_address(s, ctx, address, lock=True)
        audit(s, ctx, "account.remove", account.address, account.tenant_id,
              before={"quota_bytes": account.quota_bytes, "enabled": account.enabled})
        s.delete(account)
