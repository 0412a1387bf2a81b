"""What the watch reads of the other engines, cheaply and without changing anything: the
vault's last complete snapshot, the migrations' progress, the filter's verdicts.

    vault      the local index of snapshots (STATE/vault-index/catalogue.db), opened read
               only: restic is never asked at scrape time
    migration  the migration_jobs rows of the directory database
    filter     the counters rspamd's zenmail rules keep per tenant and day in Redis
               (zm:st:<tenant>:<YYYYMMDD>, kept 400 days; zenmail.filtering.store)
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zenmail.config import Settings
from zenmail.directory.models import Tenant
from zenmail.errors import ZenmailError
from zenmail.filtering.store import call, connect
from zenmail.migration.models import MigrationJob
from zenmail.vault.snapshot import index_path

# The scope of the schedule's snapshots (everything); a tenant's or an account's snapshot
# alone does not protect the node.
WHOLE = "all"
VERDICTS = ("spam", "virus", "phishing")


def last_snapshot(settings: Settings) -> datetime | None:
    """When the newest snapshot of everything was taken; None if there is none (no vault
    index yet, or only partial snapshots)."""
    path = index_path(settings)
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("SELECT time FROM snapshots WHERE scope = ?", (WHOLE,)).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return None  # an index being created: the next look sees it
    # Parsed, not compared as text: the index mixes zenmail's and restic's spellings.
    times = [t for t in (parse_time(r[0]) for r in rows if r[0]) if t is not None]
    return max(times, default=None)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> datetime | None:
    """A snapshot's time as the index holds it: zenmail's ISO form, or restic's RFC 3339
    with nanoseconds and `Z` (a snapshot the index learnt from the repository)."""
    try:
        t = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass
class MigrationFigures:
    tenant: str
    jobs: dict[str, int]  # status -> jobs (new, running, verified, failed, ...)
    messages_total: int
    messages_done: int
    bytes_total: int
    bytes_done: int


def migrations(s: Session, tenant_id: int | None = None) -> list[MigrationFigures]:
    """Per tenant with migration jobs: jobs per status, and messages and bytes found at the
    sources and copied so far (summed over its jobs)."""
    stmt = (select(Tenant.name, MigrationJob.status, func.count(),
                   func.coalesce(func.sum(MigrationJob.messages_total), 0),
                   func.coalesce(func.sum(MigrationJob.messages_done), 0),
                   func.coalesce(func.sum(MigrationJob.bytes_total), 0),
                   func.coalesce(func.sum(MigrationJob.bytes_done), 0))
            .join(Tenant, Tenant.id == MigrationJob.tenant_id)
            .group_by(Tenant.name, MigrationJob.status).order_by(Tenant.name))
    if tenant_id is not None:
        stmt = stmt.where(MigrationJob.tenant_id == tenant_id)
    out: dict[str, MigrationFigures] = {}
    for name, status, jobs, mt, md, bt, bd in s.execute(stmt):
        f = out.setdefault(name, MigrationFigures(name, {}, 0, 0, 0, 0))
        f.jobs[status] = int(jobs)
        f.messages_total += int(mt)
        f.messages_done += int(md)
        f.bytes_total += int(bt)
        f.bytes_done += int(bd)
    return list(out.values())


def verdicts(settings: Settings, tenant: str | None = None) -> dict[tuple[str, str], int]:
    """{(tenant, verdict): messages} the filter refused or junked as spam, found carrying a
    virus, or took for phishing, over the days Redis keeps (400). Empty when the filter is
    off or Redis does not answer: a scrape never fails for it."""
    if not settings.filter.enabled:
        return {}
    out: dict[tuple[str, str], int] = {}
    try:
        r = connect(settings.redis_endpoint)
        keys = sorted(call(lambda: list(r.scan_iter(match=f"zm:st:{tenant or '*'}:*",
                                                      count=1000))))
        if not keys:
            return {}
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, *VERDICTS)
        values = call(pipe.execute)
    except ZenmailError:
        return {}
    for key, counts in zip(keys, values, strict=True):
        name = key.split(":")[2]
        if name == "-":
            continue  # mail for no hosted tenant
        for verdict, n in zip(VERDICTS, counts, strict=True):
            out[(name, verdict)] = out.get((name, verdict), 0) + int(n or 0)
    return out
