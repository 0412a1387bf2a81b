"""Creating many accounts at once: onboarding a company, or importing from its old provider.

All or nothing: every row is checked first (address, password or hash, quota, duplicates in
the input), then one transaction locks each tenant concerned, checks the pools and the
account limits for the whole batch, and inserts every account with its audit entry. An
error names the row and leaves the directory as it was.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select

from zenmail.directory.addresses import normalise_address, split
from zenmail.directory.context import Ctx, audit, count_rows, lock_tenant, tenant_by_name
from zenmail.directory.models import Account, Alias, Domain
from zenmail.directory.passwords import check_imported_hash, check_password
from zenmail.directory.quota import check_quota_size
from zenmail.directory.tenants import allocated_bytes
from zenmail.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, ZenmailError
from zenmail.sizes import format_size, parse_size

Progress = Callable[[str, int, int], None]
CSV_COLUMNS = ("address", "quota", "display_name", "password", "password_hash")
_CHUNK = 500  # rows per IN (...) lookup: well under SQLite's parameter limit


@dataclass
class NewAccount:
    address: str
    quota: str | int = "1G"
    display_name: str = ""
    password: str | None = None
    password_hash: str | None = None


@dataclass
class _Checked:
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
            return [NewAccount(address=r["address"] or "", quota=r.get("quota") or "1G",
                               display_name=r.get("display_name") or "",
                               password=r.get("password") or None,
                               password_hash=r.get("password_hash") or None)
                    for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def _check_rows(ctx: Ctx, rows: list[NewAccount], progress: Progress | None) -> list[_Checked]:
    checked: list[_Checked] = []
    to_hash: list[tuple[int, str]] = []
    for n, row in enumerate(rows, start=1):
        try:
            address = normalise_address(row.address)
            quota_bytes = check_quota_size(parse_size(row.quota))
            if (row.password is None) == (row.password_hash is None):
                raise InvalidInput("give exactly one of password or password_hash")
            if row.password is not None:
                check_password(row.password)
                to_hash.append((n - 1, row.password))
                stored = ""
            else:
                stored = check_imported_hash(row.password_hash or "")
        except ZenmailError as exc:
            raise type(exc)(f"row {n}: {exc}") from exc
        checked.append(_Checked(address, split(address)[1], quota_bytes,
                                row.display_name.strip(), stored))
    dupes = [a for a, c in Counter(c.address for c in checked).items() if c > 1]
    if dupes:
        raise Conflict(f"the input names {dupes[0]!r} more than once; each address only once")
    if to_hash:
        # Argon2 releases the GIL: hash on every core, report as we go.
        with ThreadPoolExecutor() as pool:
            for done, (i, digest) in enumerate(
                    zip((i for i, _ in to_hash),
                        pool.map(ctx.hasher.hash, (p for _, p in to_hash)), strict=True),
                    start=1):
                checked[i].stored_hash = digest
                if progress:
                    progress("hashing passwords", done, len(to_hash))
    return checked


def add_many(ctx: Ctx, rows: Iterable[NewAccount], *, tenant: str | None = None,
             progress: Progress | None = None) -> int:
    """Create every account in `rows` or none of them; returns how many were created."""
    items = _check_rows(ctx, list(rows), progress)
    if not items:
        raise InvalidInput("nothing to import: the input has no rows")
    with ctx.db.transaction() as s:
        wanted = tenant_by_name(s, ctx, tenant) if tenant else None
        domain_names = sorted({i.domain for i in items})
        domains = {d.name: d for d in
                   s.scalars(select(Domain).where(Domain.name.in_(domain_names)))}
        for name in domain_names:
            d = domains.get(name)
            if d is None or not ctx.may_see_tenant(d.tenant_id):
                raise NotFound(f"no domain {name!r}; add it first with `zenmail domain add`")
            if wanted is not None and d.tenant_id != wanted.id:
                raise Conflict(f"domain {name!r} belongs to another tenant, not "
                               f"{wanted.name!r}")
        addresses = [i.address for i in items]
        for start in range(0, len(addresses), _CHUNK):
            chunk = addresses[start:start + _CHUNK]
            taken = (s.scalars(select(Account.address).where(Account.address.in_(chunk))).first()
                     or s.scalars(select(Alias.address).where(Alias.address.in_(chunk))).first())
            if taken:
                raise Conflict(f"{taken!r} already exists as an account or alias; remove it "
                               "from the input")
        need: dict[int, int] = defaultdict(int)
        count: Counter[int] = Counter()
        for i in items:
            tid = domains[i.domain].tenant_id
            need[tid] += i.quota_bytes
            count[tid] += 1
        for tid in sorted(need):  # a fixed order, so two imports cannot deadlock
            t = lock_tenant(s, tid)
            free = t.pool_bytes - allocated_bytes(s, tid)
            if need[tid] > free:
                raise QuotaExceeded(
                    f"tenant {t.name!r} has {format_size(free)} free; these accounts need "
                    f"{format_size(need[tid])} (short by {format_size(need[tid] - free)}). "
                    "Enlarge the pool (zenmail tenant set-pool) or lower the quotas")
            if t.max_accounts is not None:
                have = count_rows(s, Account, Account.tenant_id == tid)
                if have + count[tid] > t.max_accounts:
                    raise QuotaExceeded(f"tenant {t.name!r} may have {t.max_accounts} accounts; "
                                        f"it has {have} and the input adds {count[tid]}")
        for start in range(0, len(items), _CHUNK):
            chunk_items = items[start:start + _CHUNK]
            s.execute(insert(Account), [
                {"tenant_id": domains[i.domain].tenant_id,
                 "domain_id": domains[i.domain].id, "address": i.address,
                 "display_name": i.display_name, "password_hash": i.stored_hash,
                 "quota_bytes": i.quota_bytes, "enabled": True} for i in chunk_items])
            if progress:
                progress("creating accounts", start + len(chunk_items), len(items))
        for i in items:
            audit(s, ctx, "account.add", i.address, domains[i.domain].tenant_id,
                  after={"quota_bytes": i.quota_bytes, "display_name": i.display_name,
                         "import": True})
    return len(items)
