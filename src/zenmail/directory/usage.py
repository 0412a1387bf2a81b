"""What the mailboxes use, beside what they are allowed: read from `quota_usage`.

Dovecot writes that table itself (its quota_clone plugin, through an SQL dict: see
`lookups.DOVECOT_USAGE` and docs/stack.md), whenever a mailbox's usage changes, so reading
usage costs one query however many accounts a tenant has — never a call to Dovecot. An
account with no row yet (its mailbox has not changed since usage was first recorded) is
"not measured", `None`, rather than a guessed 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zenmail.directory.models import Account, QuotaUsage

_CHUNK = 500  # addresses per IN (...): well under SQLite's parameter limit


def of_accounts(s: Session, addresses: Sequence[str]) -> dict[str, int]:
    """Used bytes of each of these accounts that has been measured."""
    found: dict[str, int] = {}
    for start in range(0, len(addresses), _CHUNK):
        chunk = list(addresses[start:start + _CHUNK])
        found.update((u, b) for u, b in s.execute(
            select(QuotaUsage.username, QuotaUsage.used_bytes)
            .where(QuotaUsage.username.in_(chunk))))
    return found


def of_account(s: Session, address: str) -> int | None:
    return s.scalar(select(QuotaUsage.used_bytes).where(QuotaUsage.username == address))


def of_tenants(s: Session, tenant_ids: Sequence[int]) -> dict[int, int]:
    """Used bytes of each tenant's accounts together (accounts not measured count 0)."""
    if not tenant_ids:
        return {}
    rows = s.execute(select(Account.tenant_id, func.sum(QuotaUsage.used_bytes))
                     .join(QuotaUsage, QuotaUsage.username == Account.address)
                     .where(Account.tenant_id.in_(list(tenant_ids)))
                     .group_by(Account.tenant_id))
    return {tid: int(total or 0) for tid, total in rows}


def forget(s: Session, address: str) -> None:
    """Drop a removed account's figures (Dovecot writes them again if it is re-created)."""
    row = s.get(QuotaUsage, address)
    if row is not None:
        s.delete(row)
