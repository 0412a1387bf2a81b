"""The directory's rules, as functions on an open session.

Every use case that could break a rule calls the one function here that checks it, whatever
the way in (one account, an import of thousands, later a migration or a restore). They
assume the caller holds the locks the rule needs: `lock_tenant` before any pool or
account-count check, so concurrent units cannot both see the same free space.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from zenmail.directory import names
from zenmail.directory.models import Account, Alias, Domain, Tenant
from zenmail.directory.names import address_display, domain_display
from zenmail.errors import Conflict, InvalidInput, QuotaExceeded
from zenmail.sizes import format_size

MIN_QUOTA = 1024 * 1024  # Dovecot reads a 0 limit as "unlimited": never write one.
MAX_DISPLAY_NAME = 200  # accounts.display_name
_CHUNK = 500  # names per IN (...) lookup: well under SQLite's parameter limit


def count_rows(s: Session, model: Any, *where: Any) -> int:
    """How many rows of `model` match `where` (e.g. a tenant's accounts)."""
    return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def allocated_bytes(s: Session, tenant_id: int) -> int:
    """The sum of the tenant's account quotas: what its pool has handed out."""
    return int(s.scalar(select(func.coalesce(func.sum(Account.quota_bytes), 0))
                        .where(Account.tenant_id == tenant_id)) or 0)


def lock_tenant(s: Session, tenant_id: int) -> Tenant:
    """Hold the tenant's row so concurrent changes to its pool are serialised (PostgreSQL).

    On SQLite a writing unit already holds the database's write lock (BEGIN IMMEDIATE).
    """
    return s.scalars(select(Tenant).where(Tenant.id == tenant_id).with_for_update()).one()


def check_quota_size(quota: int) -> int:
    if quota < MIN_QUOTA:
        raise InvalidInput(f"quota {format_size(quota)} is below the minimum of "
                           f"{format_size(MIN_QUOTA)}; disable the account instead of "
                           "giving it no space")
    return quota


def check_display_name(name: str) -> str:
    """A display name as stored: trimmed, one line, at most MAX_DISPLAY_NAME characters;
    empty means none. (It ends up in mail headers and in clients' address books.)"""
    clean = name.strip()
    if any(ch in clean for ch in "\r\n\0"):
        raise InvalidInput("a display name is one line; remove the line break")
    if len(clean) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"display name has {len(clean)} characters; at most "
                           f"{MAX_DISPLAY_NAME} fit")
    return clean


def ensure_fits(s: Session, tenant: Tenant, extra: int) -> None:
    """Raise QuotaExceeded unless `extra` more bytes fit in the (locked) tenant's pool."""
    free = tenant.pool_bytes - allocated_bytes(s, tenant.id)
    if extra > free:
        raise QuotaExceeded(
            f"tenant {tenant.name!r} has {format_size(free)} free in its pool of "
            f"{format_size(tenant.pool_bytes)}; {format_size(extra)} more does not fit "
            f"(short by {format_size(extra - free)}). Lower another account's quota, move "
            "quota (zenmail quota move) or enlarge the pool (zenmail tenant set-pool)")


def ensure_room_for_accounts(s: Session, tenant: Tenant, adding: int) -> None:
    """Raise QuotaExceeded unless the (locked) tenant may have `adding` more accounts."""
    if tenant.max_accounts is None:
        return
    have = count_rows(s, Account, Account.tenant_id == tenant.id)
    if have + adding > tenant.max_accounts:
        raise QuotaExceeded(
            f"tenant {tenant.name!r} has a limit of {tenant.max_accounts} accounts; it has "
            f"{have} and this adds {adding}. Raise the limit (zenmail tenant set-max-accounts) "
            "or remove accounts")


def ensure_domain_of(domain: Domain, tenant: Tenant) -> None:
    """A name given together with a tenant must be in one of that tenant's domains."""
    if domain.tenant_id != tenant.id:
        raise Conflict(f"domain {domain_display(domain.name)!r} belongs to another tenant, not "
                       f"{tenant.name!r}; use one of {tenant.name!r}'s domains")


def _one_of(column: Any, values: Sequence[str]) -> Any:
    # `=` for the common single value: an IN list is compiled anew for every call.
    return column == values[0] if len(values) == 1 else column.in_(values)


def ensure_addresses_free(s: Session, addresses: Sequence[str], *,
                          for_alias: bool = False) -> None:
    """No account, and for a new account no alias either, has any of these addresses.

    An alias may gain targets, so `for_alias` only refuses addresses held by accounts.
    """
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start:start + _CHUNK]
        account = s.scalars(select(Account.address).where(_one_of(Account.address, chunk))
                            .order_by(Account.address)).first()
        if account is not None:
            if for_alias:
                raise Conflict(f"{address_display(account)!r} is an account; an alias cannot "
                               "share its address")
            raise Conflict(f"account {address_display(account)!r} already exists")
        if for_alias:
            continue
        alias = s.scalars(select(Alias.address).where(_one_of(Alias.address, chunk))
                          .order_by(Alias.address)).first()
        if alias is not None:
            raise Conflict(f"{address_display(alias)!r} is already an alias; remove the alias "
                           "first (zenmail alias remove) or choose another address")


def _under(name: str, parent: str) -> bool:
    return name == parent or name.endswith("." + parent)


def _parents(name: str) -> list[str]:
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


def ensure_domain_may_be_held(s: Session, name: str, tenant_id: int,
                              platform_hosts: Iterable[str]) -> None:
    """May tenant `tenant_id` hold domain `name` (stored form)? Conflict naming the reason,
    and never another tenant or its domains (a tenant administrator asks).

    Refused (special-use names are already invalid, `names.valid_domain`): the platform's
    own host names, their parents and what lies under them (its notices come from
    `postmaster@<hostname>`, which must stay unforgeable);
    a parent or a subdomain of a domain another tenant holds (a domain tree has one owner);
    a label mixing scripts; a non-ASCII label made only of letters that imitate ASCII ones;
    and a look-alike of another tenant's domain. Equality with a held domain is the
    caller's check (with the owner named when the actor may see it).
    """
    shown = domain_display(name)
    for host in platform_hosts:
        if _under(name, host) or _under(host, name):
            raise Conflict(f"domain {shown!r} is, contains or lies under this platform's own "
                           f"host name {host!r}, which sends the platform's notices; no "
                           "tenant may hold it. Choose another domain")
    unicode_labels = shown.split(".")
    for label in unicode_labels:
        if names.mixes_scripts(label):
            found = " and ".join(sorted(x.title() for x in names.scripts(label)))
            raise Conflict(f"domain {shown!r} mixes scripts ({found}) in the label {label!r}, "
                           "the trick of look-alike domains; write each label in one script")
    tld_scripts = names.scripts(unicode_labels[-1])
    for label, key in zip(unicode_labels, names.lookalike_key(name).split("."), strict=True):
        # A Cyrillic label whose letters all look Latin (`асе`) is a spoof of the Latin
        # name, unless the top-level domain is written in that script too (`.рф`).
        if not label.isascii() and key.isascii() and names.scripts(label) != tld_scripts:
            raise Conflict(f"domain {shown!r}: the label {label!r} is written in letters "
                           f"that all look like the ASCII {key!r}; use the ASCII name")
    nearby = s.scalars(select(Domain.name).where(
        Domain.tenant_id != tenant_id,
        or_(Domain.name.in_(_parents(name)),
            Domain.name.endswith("." + name, autoescape=True))).limit(1)).first()
    if nearby is not None:
        raise Conflict(f"domain {shown!r} is a parent or a subdomain of a domain another "
                       "tenant holds; a domain and the names under it have one owner. If it "
                       "is yours, ask your provider")
    key = names.lookalike_key(name)
    candidates = s.scalars(select(Domain.name).where(
        Domain.tenant_id != tenant_id, Domain.name != name,
        or_(Domain.name == key, Domain.name.contains("xn--", autoescape=True))))
    if any(names.lookalike_key(other) == key for other in candidates):
        raise Conflict(f"domain {shown!r} looks like a domain another tenant holds (its "
                       "letters imitate that name's); choose a name that imitates no other")
