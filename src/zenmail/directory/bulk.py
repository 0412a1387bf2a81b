"""Creating accounts, one or many: onboarding a company, importing from its old provider.

`accounts.add` is this module's path with one row, so a single account and an import of
thousands obey the same rules with the same words. In two steps:

- `prepare` checks every row (address, password or hash, quota, duplicates in the input)
  and hashes the passwords — before any unit of work opens, so slow Argon2 hashing never
  holds the database's write lock;
- `create`, inside one unit of work, resolves the domains, locks each tenant concerned in a
  fixed order, checks the rules (`rules.py`) for the whole batch and inserts every account
  with its audit entry.

All or nothing: an error leaves the directory as it was. For an import (`batch`), errors in a
row name the row.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from zenmail.directory import names, rules
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Domain, Tenant
from zenmail.directory.passwords import check_imported_hash, check_password
from zenmail.errors import Conflict, InvalidInput, ZenmailError
from zenmail.sizes import parse_size

Progress = Callable[[str, int, int], None]
CSV_COLUMNS = ("address", "quota", "display_name", "password", "password_hash")
DEFAULT_QUOTA = "1G"
_CHUNK = 500  # rows per multi-row INSERT


@dataclass
class NewAccount:
    address: str
    quota: str | int = DEFAULT_QUOTA
    display_name: str = ""
    password: str | None = None
    password_hash: str | None = None


@dataclass
class Prepared:
    """A row that passed every check that needs no database, its password hashed."""

    address: str
    domain: str
    quota_bytes: int
    display_name: str
    stored_hash: str


def read_csv(path: Path) -> list[NewAccount]:
    """Rows of a CSV file with a header naming some of CSV_COLUMNS (`address` required)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            unknown = [h for h in header if h not in CSV_COLUMNS]
            if "address" not in header or unknown:
                raise InvalidInput(f"{path}: the header must name 'address' and may name "
                                   f"{', '.join(CSV_COLUMNS[1:])}; found {', '.join(header)}")
            return [NewAccount(address=r["address"] or "", quota=r.get("quota") or DEFAULT_QUOTA,
                               display_name=r.get("display_name") or "",
                               password=r.get("password") or None,
                               password_hash=r.get("password_hash") or None)
                    for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def _prepare_row(row: NewAccount) -> tuple[Prepared, str | None]:
    """The checked row, and the password still to hash (if one was given)."""
    address = names.valid_address(row.address, hosted=True)
    quota_bytes = rules.check_quota_size(parse_size(row.quota))
    if (row.password is None) == (row.password_hash is None):
        raise InvalidInput("give exactly one of a password or a password hash")
    if row.password is not None:
        check_password(row.password)
        stored = ""
    else:
        stored = check_imported_hash(row.password_hash or "")
    return (Prepared(address, names.domain_of(address), quota_bytes,
                     rules.check_display_name(row.display_name), stored), row.password)


def prepare(ctx: Ctx, rows: Sequence[NewAccount], *, batch: bool = True,
            progress: Progress | None = None) -> list[Prepared]:
    """Check every row and hash its password; no database is touched."""
    if not rows:
        raise InvalidInput("nothing to import: the input has no rows")
    prepared: list[Prepared] = []
    to_hash: list[tuple[Prepared, str]] = []
    for n, row in enumerate(rows, start=1):
        try:
            item, password = _prepare_row(row)
        except ZenmailError as exc:
            if not batch:
                raise
            raise type(exc)(f"row {n}: {exc}") from exc
        prepared.append(item)
        if password is not None:
            to_hash.append((item, password))
    dupes = [a for a, c in Counter(p.address for p in prepared).items() if c > 1]
    if dupes:
        raise Conflict(f"the input names {dupes[0]!r} more than once; each address only once")
    if len(to_hash) == 1:
        to_hash[0][0].stored_hash = ctx.hasher.hash(to_hash[0][1])
    elif to_hash:
        # Argon2 releases the GIL: hash on every core, report as we go.
        with ThreadPoolExecutor() as pool:
            digests = pool.map(ctx.hasher.hash, (p for _, p in to_hash))
            for done, ((item, _), digest) in enumerate(zip(to_hash, digests, strict=True),
                                                       start=1):
                item.stored_hash = digest
                if progress:
                    progress("hashing passwords", done, len(to_hash))
    return prepared


def create(s: Session, ctx: Ctx, items: Sequence[Prepared], *, tenant: str | None = None,
           batch: bool = True, progress: Progress | None = None) -> list[Account]:
    """Insert prepared accounts in the open unit of work `s`, after checking every rule."""
    wanted = ctx.find(s, Tenant, tenant) if tenant else None
    domains = {name: ctx.find(s, Domain, name) for name in sorted({i.domain for i in items})}
    if wanted is not None:
        for domain in domains.values():
            rules.ensure_domain_of(domain, wanted)
    # Plain ids, read once: the loops below run once per row.
    tenant_of = {name: d.tenant_id for name, d in domains.items()}
    domain_id = {name: d.id for name, d in domains.items()}
    need: Counter[int] = Counter()
    count: Counter[int] = Counter()
    for i in items:
        need[tenant_of[i.domain]] += i.quota_bytes
        count[tenant_of[i.domain]] += 1
    # Locked in a fixed order, so two imports touching the same tenants cannot deadlock.
    owners = [rules.lock_tenant(s, tid) for tid in sorted(need)]
    rules.ensure_addresses_free(s, [i.address for i in items])
    for owner in owners:
        rules.ensure_room_for_accounts(s, owner, count[owner.id])
        rules.ensure_fits(s, owner, need[owner.id])
    created: list[Account] = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start:start + _CHUNK]
        created += s.scalars(insert(Account).returning(Account), [
            {"tenant_id": tenant_of[i.domain], "domain_id": domain_id[i.domain],
             "address": i.address, "display_name": i.display_name,
             "password_hash": i.stored_hash, "quota_bytes": i.quota_bytes, "enabled": True}
            for i in chunk])
        if progress:
            progress("creating accounts", start + len(chunk), len(items))
    # An address new as an account may have been looked up before as one the catch-all
    # takes (Dovecot's user lookup for the RCPT-time quota check, possibly cached).
    ctx.auth_changed(s, [i.address for i in items])
    for i in items:
        after: dict[str, object] = {"quota_bytes": i.quota_bytes, "display_name": i.display_name}
        if batch:
            after["import"] = True
        audit(s, ctx, "account.add", i.address, tenant_of[i.domain], after=after)
    by_id = {owner.id: owner for owner in owners}
    for account in created:
        # The session only holds weak references: without this, reading account.tenant
        # after this function returns would load the tenant again.
        set_committed_value(account, "tenant", by_id[account.tenant_id])
    return created


def add_many(ctx: Ctx, rows: Iterable[NewAccount], *, tenant: str | None = None,
             progress: Progress | None = None) -> int:
    """Create every account in `rows` or none of them; returns how many were created."""
    items = prepare(ctx, list(rows), progress=progress)
    with ctx.unit() as s:
        create(s, ctx, items, tenant=tenant, progress=progress)
    return len(items)
