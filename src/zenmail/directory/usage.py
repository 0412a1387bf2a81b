"""What the mailboxes use, beside what they are allowed: read from `quota_usage`.

Dovecot writes that table itself (its quota_clone plugin, through an SQL dict: see
`lookups.DOVECOT_USAGE` and docs/stack.md), whenever a mailbox's usage changes, so reading
usage costs one query however many accounts a tenant has — never a call to Dovecot. Two
deliveries to one mailbox at once can have their copies land in the wrong order, leaving the
older figure; the supervisor's periodic sweep (`record`, from one `doveadm` call for all
users) puts the right one back. An account with no row yet is "not measured", `None`, rather
than a guessed 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zenmail.directory import lookups
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


def record(s: Session, figures: Mapping[str, tuple[int, int]]) -> int:
    """Store (bytes, messages) per user as Dovecot measured them, with the same upsert as
    Dovecot's dict; only rows that differ are written. Returns how many were."""
    users = list(figures)
    known: dict[str, tuple[int, int]] = {}
    for start in range(0, len(users), _CHUNK):
        chunk = users[start:start + _CHUNK]
        known.update((u, (b, m)) for u, b, m in s.execute(
            select(QuotaUsage.username, QuotaUsage.used_bytes, QuotaUsage.messages)
            .where(QuotaUsage.username.in_(chunk))))
    changed = [{"user": u, "bytes": b, "messages": m}
               for u, (b, m) in figures.items() if known.get(u) != (b, m)]
    if changed:
        s.execute(text(lookups.bound(lookups.USAGE_UPSERT)), changed)
    return len(changed)


def forget(s: Session, address: str) -> None:
    """Drop a removed account's figures (Dovecot writes them again if it is re-created)."""
    row = s.get(QuotaUsage, address)
    if row is not None:
        s.delete(row)
