"""Which accounts a command covers: one account, a tenant's, or every account the caller
may see — through the directory's use cases, so the tenant wall applies."""

from __future__ import annotations

from zenmail.directory import accounts
from zenmail.directory.context import Ctx
from zenmail.directory.views import AccountInfo
from zenmail.errors import InvalidInput


def accounts_in(ctx: Ctx, tenant: str | None = None,
                account: str | None = None) -> list[AccountInfo]:
    if tenant and account:
        raise InvalidInput("give --tenant or --account, not both")
    if account:
        return [accounts.show(ctx, account)]
    return accounts.list_all(ctx, tenant=tenant)
