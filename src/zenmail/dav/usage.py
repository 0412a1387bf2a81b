"""What calendars and contacts weigh, beside the mail and the quota of each account.

DAV data counts against the account's quota in one direction: when mail and DAV data
together reach the quota, the account's calendars and address books turn read-only
(zenmail.dav.login, zenmail.dav.rights). Dovecot's quota counts mail only: mail is still
delivered up to the quota, whatever the DAV data weighs (docs/dav.md, "Limits").
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from zenmail.config import Settings
from zenmail.dav import storage
from zenmail.directory import usage
from zenmail.directory.context import Ctx
from zenmail.directory.models import Account, Tenant
from zenmail.directory.views import View


@dataclass
class DavUsage(View):
    address: str
    tenant: str
    dav_bytes: int
    mail_bytes: int | None   # None: not measured by Dovecot yet
    quota_bytes: int
    read_only: bool          # mail + DAV data reach the quota: DAV writes are refused


def of_accounts(ctx: Ctx, settings: Settings, tenant: str | None = None) -> list[DavUsage]:
    with ctx.reading() as s:
        stmt = select(Account).order_by(Account.address)
        if tenant:
            stmt = stmt.where(Account.tenant_id == ctx.find(s, Tenant, tenant).id)
        accounts: list[Account] = list(s.scalars(ctx.scoped(stmt, Account.tenant_id)))
        names = {a.address: a.tenant.name for a in accounts}
        mail = usage.of_accounts(s, [a.address for a in accounts])
    out = []
    for account in accounts:
        tname = names[account.address]
        dav = storage.bytes_used(storage.principal_dir(settings, account.address))
        used = mail.get(account.address)
        out.append(DavUsage(account.address, tname, dav, used, account.quota_bytes,
                            (used or 0) + dav >= account.quota_bytes))
    return out
