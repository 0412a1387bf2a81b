"""Projects: a company's accounts migrated together, with limits, a plan and day X.

A project is made from a CSV (one row per mailbox: source URL, TLS mode, target address,
the user's password or a master login, pilot yes/no). It belongs to the tenant of its
target accounts; a tenant administrator sees and runs only its own tenant's projects (the
same wall as everywhere: the accounts are found through `ctx.find`, the projects through
`_find`). Running a project copies its accounts `concurrency` at a time, each independent:
an account that fails (credentials, TLS, unreachable, quota) is reported with its reason
and the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zenmail.config import Settings
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Domain, Tenant
from zenmail.errors import Conflict, InvalidInput, NotFound, ZenmailError
from zenmail.migration.engine import Copier, Options, Progress
from zenmail.migration.models import MigrationJob, MigrationProject
from zenmail.migration.report import seal
from zenmail.migration.secrets import SecretBox
from zenmail.migration.service import failed_report
from zenmail.migration.source import SourceError, SourceSpec, parse_url
from zenmail.migration.target import TargetCommand
from zenmail.migration.verify import ZERO_LOSS, verify

CSV_COLUMNS = ("source", "source_tls", "target", "password", "master_user",
               "master_password", "pilot", "insecure")
_YES = {"yes", "y", "true", "1", "x"}


@dataclass
class Row:
    spec: SourceSpec
    target: str
    secret: str
    pilot: bool


@dataclass
class JobStatus:
    account: str
    source: str
    pilot: bool
    status: str
    verdict: str | None
    error: str | None
    messages_done: int
    messages_total: int
    bytes_done: int
    bytes_total: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProjectStatus:
    name: str
    tenant: str
    concurrency: int
    max_msgs_per_s: float
    plan: dict[str, Any]
    accounts: list[JobStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        done = sum(a.messages_done for a in self.accounts)
        total = sum(a.messages_total for a in self.accounts)
        return {"name": self.name, "tenant": self.tenant, "concurrency": self.concurrency,
                "max_msgs_per_s": self.max_msgs_per_s, "plan": self.plan,
                "messages_done": done, "messages_total": total,
                "zero_loss_accounts": sum(a.verdict == ZERO_LOSS for a in self.accounts),
                "accounts": [a.to_dict() for a in self.accounts]}


def parse_csv(text: str) -> list[Row]:
    """The accounts file; every problem named with its line, nothing half-read."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"source", "source_tls", "target"} - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput(f"accounts CSV: missing column(s) {', '.join(sorted(missing))}; "
                           f"the columns are {', '.join(CSV_COLUMNS)}")
    rows: list[Row] = []
    for line, rec in enumerate(reader, start=2):
        def cell(name: str, rec: dict[str, str | None] = rec) -> str:
            return (rec.get(name) or "").strip()
        try:
            master = cell("master_user") or None
            spec = parse_url(cell("source"), cell("source_tls"),
                             cell("insecure").lower() in _YES, master)
        except InvalidInput as exc:
            raise InvalidInput(f"accounts CSV line {line}: {exc}") from exc
        secret = cell("master_password") if master else cell("password")
        if not secret:
            raise InvalidInput(f"accounts CSV line {line}: no "
                               f"{'master_password' if master else 'password'} for "
                               f"{spec.user}")
        if not cell("target"):
            raise InvalidInput(f"accounts CSV line {line}: the target address is empty")
        rows.append(Row(spec, cell("target"), secret, cell("pilot").lower() in _YES))
    if not rows:
        raise InvalidInput("accounts CSV: no accounts in it")
    return rows


def _plan(day_x: str | None, presync: list[str]) -> dict[str, Any]:
    def iso(value: str, what: str) -> str:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise InvalidInput(f"{what} {value!r}: give a date as YYYY-MM-DD") from exc
    plan: dict[str, Any] = {"presync": sorted(iso(d, "--presync") for d in presync)}
    if day_x:
        plan["day_x"] = iso(day_x, "--day-x")
        if any(d >= plan["day_x"] for d in plan["presync"]):
            raise InvalidInput("pre-sync rounds come before day X")
    return plan


def add(ctx: Ctx, name: str, csv_text: str, box: SecretBox, concurrency: int = 4,
        max_msgs_per_s: float = 0.0, max_bytes_per_s: int = 0, day_x: str | None = None,
        presync: list[str] | None = None, dav_url: str | None = None) -> ProjectStatus:
    """`dav_url`: the old server's CalDAV/CardDAV URL; each account's calendars and contacts
    are then copied too (zenmail.dav.migrate), with the same login as its mailbox."""
    name = name.strip()
    if not name or len(name) > 100 or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"project name {name!r}: use letters, digits, - and _ (≤ 100)")
    if not 1 <= concurrency <= 64:
        raise InvalidInput("--concurrency: between 1 and 64")
    if max_msgs_per_s < 0 or max_bytes_per_s < 0:
        raise InvalidInput("throttles cannot be negative")
    rows = parse_csv(csv_text)
    plan = _plan(day_x, presync or [])
    if dav_url:
        if urlsplit(dav_url).scheme not in ("http", "https") or not urlsplit(dav_url).hostname:
            raise InvalidInput(f"--dav-url {dav_url!r}: give the old server's CalDAV/CardDAV "
                               "URL, e.g. https://dav.old.example/")
        plan["dav_url"] = dav_url
    sealed = [box.seal(r.secret) for r in rows]  # before the unit: no lock held meanwhile
    with ctx.unit() as s:
        targets = [ctx.find(s, Account, r.target) for r in rows]
        tenants = {a.tenant_id for a in targets}
        if len(tenants) != 1:
            raise InvalidInput("the accounts of one project must belong to one tenant")
        tenant_id = tenants.pop()
        if s.scalars(select(MigrationProject).where(MigrationProject.tenant_id == tenant_id,
                                                    MigrationProject.name == name)).first():
            raise Conflict(f"project {name!r} exists; `zenmail migrate status {name}` shows "
                           "it")
        seen: set[tuple[int, str, int, str]] = set()
        for r, a in zip(rows, targets, strict=True):
            key = (a.id, r.spec.host, r.spec.port, r.spec.user)
            if key in seen:
                raise InvalidInput(f"accounts CSV: {r.spec.url} → {a.address} twice")
            seen.add(key)
        project = MigrationProject(tenant_id=tenant_id, name=name, concurrency=concurrency,
                                   max_msgs_per_s=max_msgs_per_s,
                                   max_bytes_per_s=max_bytes_per_s, plan=json.dumps(plan))
        s.add(project)
        s.flush()
        for r, a, secret in zip(rows, targets, sealed, strict=True):
            job = s.scalars(select(MigrationJob).where(
                MigrationJob.account_id == a.id, MigrationJob.source_host == r.spec.host,
                MigrationJob.source_port == r.spec.port,
                MigrationJob.source_user == r.spec.user)).one_or_none()
            if job is None:
                job = MigrationJob(tenant_id=tenant_id, account_id=a.id,
                                   source_host=r.spec.host, source_port=r.spec.port,
                                   source_user=r.spec.user, status="new",
                                   messages_total=0, messages_done=0, bytes_total=0,
                                   bytes_done=0)
                s.add(job)
            elif job.project_id is not None:
                raise Conflict(f"{a.address} ← {r.spec.url} belongs to another project")
            job.project_id = project.id
            job.source_tls, job.source_insecure = r.spec.tls, r.spec.insecure
            job.master_user, job.secret, job.pilot = r.spec.master_user, secret, r.pilot
        audit(s, ctx, "migration.project.add", name, tenant_id,
              after={"accounts": len(rows), "concurrency": concurrency,
                     "max_msgs_per_s": max_msgs_per_s, "plan": plan})
        s.flush()
        return _status(s, project)


def _find(ctx: Ctx, s: Session, name: str) -> MigrationProject:
    """The project by name, inside the actor's tenant (another tenant's: not found)."""
    stmt = ctx.scoped(select(MigrationProject).where(MigrationProject.name == name.strip()),
                      MigrationProject.tenant_id)
    found = list(s.scalars(stmt))
    if not found:
        raise NotFound(f"no migration project {name!r}; `zenmail migrate project list` shows "
                       "them")
    if len(found) > 1:
        raise InvalidInput(f"several tenants have a project {name!r}; act as the tenant's "
                           "administrator (--as) to choose")
    return found[0]


def find(ctx: Ctx, s: Session, name: str) -> MigrationProject:
    """The project by name inside the actor's tenant, for other use cases (runs)."""
    return _find(ctx, s, name)


def status_of(s: Session, project: MigrationProject) -> ProjectStatus:
    return _status(s, project)


def _status(s: Session, project: MigrationProject) -> ProjectStatus:
    tenant = s.get(Tenant, project.tenant_id)
    out = ProjectStatus(project.name, tenant.name if tenant else "?", project.concurrency,
                        project.max_msgs_per_s, json.loads(project.plan))
    for job, address in s.execute(
            select(MigrationJob, Account.address).join(Account,
                                                       MigrationJob.account_id == Account.id)
            .where(MigrationJob.project_id == project.id).order_by(Account.address)):
        out.accounts.append(JobStatus(
            address, f"imap://{job.source_user}@{job.source_host}:{job.source_port}",
            job.pilot, job.status, job.verdict, job.error, job.messages_done,
            job.messages_total, job.bytes_done, job.bytes_total))
    return out


def status(ctx: Ctx, name: str) -> ProjectStatus:
    with ctx.reading() as s:
        return _status(s, _find(ctx, s, name))


def list_all(ctx: Ctx) -> list[ProjectStatus]:
    with ctx.reading() as s:
        stmt = ctx.scoped(select(MigrationProject).order_by(MigrationProject.name),
                          MigrationProject.tenant_id)
        return [_status(s, p) for p in s.scalars(stmt)]


def remove(ctx: Ctx, name: str) -> None:
    """Forget the project, its state and its stored passwords (the copied mail stays)."""
    with ctx.unit() as s:
        project = _find(ctx, s, name)
        s.execute(delete(MigrationJob).where(MigrationJob.project_id == project.id))
        s.delete(project)
        audit(s, ctx, "migration.project.remove", name, project.tenant_id)


@dataclass
class _Job:
    id: int
    address: str
    spec: SourceSpec
    secret: str


def _jobs(ctx: Ctx, name: str, box: SecretBox, account: str | None, pilot: bool
          ) -> tuple[MigrationProject, list[_Job]]:
    with ctx.reading() as s:
        project = _find(ctx, s, name)
        s.expunge(project)
        stmt = (select(MigrationJob, Account.address)
                .join(Account, MigrationJob.account_id == Account.id)
                .where(MigrationJob.project_id == project.id).order_by(Account.address))
        if account:
            stmt = stmt.where(Account.id == ctx.find(s, Account, account).id)
        if pilot:
            stmt = stmt.where(MigrationJob.pilot.is_(True))
        out = []
        for job, address in s.execute(stmt):
            spec = SourceSpec(job.source_host, job.source_port, job.source_user,
                              job.source_tls, job.source_insecure, job.master_user)
            out.append(_Job(job.id, address, spec, box.open(job.secret or "")))
    if account and not out:
        raise NotFound(f"{account} is not in project {name!r}")
    return project, out


@dataclass
class RunSummary:
    reports: list[dict[str, Any]]

    @property
    def zero_loss(self) -> bool:
        return bool(self.reports) and all(r["verdict"] == ZERO_LOSS and dav_ok(r)
                                          for r in self.reports)


def dav_ok(report: dict[str, Any]) -> bool:
    """Calendars and contacts did not spoil the account's verdict: not asked for, complete,
    or skipped (a master login, which opens IMAP only)."""
    dav = report.get("dav")
    return dav is None or dav.get("verdict") == "complete" or str(
        dav.get("verdict", "")).startswith("skipped")


def _dav(ctx: Ctx, settings: Settings, job: _Job, url: str) -> dict[str, Any]:
    """Copy the account's calendars and contacts from the old DAV server (same login)."""
    if job.spec.master_user:
        return {"verdict": "skipped: a master login opens IMAP only; run `zenmail "
                "migrate-dav account` with the user's own login"}
    from zenmail.dav import migrate as dav_migrate  # Radicale loads only when DAV is asked
    from zenmail.dav.client import HttpTransport

    try:
        transport = HttpTransport(url, job.spec.user, job.secret,
                                  verify=not job.spec.insecure)
        try:
            return dav_migrate.migrate_account(ctx, settings, job.address, transport,
                                               url).to_dict()
        finally:
            transport.close()
    except ZenmailError as exc:
        return {"verdict": f"failed: {exc}", "error": str(exc)}


def run(ctx: Ctx, name: str, box: SecretBox, target_command: TargetCommand,
        options: Options, account: str | None = None, pilot: bool = False,
        copy: bool = True, progress: Progress | None = None,
        started: Callable[[int, str], None] | None = None,
        settings: Settings | None = None) -> RunSummary:
    """Copy (unless `copy` is off: verify only) and verify every account of the project,
    `concurrency` at a time; each account's report is stored on its job. With `settings`
    and a project `dav_url`, calendars and contacts are copied too (report["dav"])."""
    project, jobs = _jobs(ctx, name, box, account, pilot)
    dav_url = json.loads(project.plan or "{}").get("dav_url")
    workers = max(1, min(project.concurrency, len(jobs)))
    # The project's throttle is shared by the accounts running at once.
    opts = Options(**{**options.__dict__,
                      "max_msgs_per_s": project.max_msgs_per_s / workers,
                      "max_bytes_per_s": project.max_bytes_per_s // workers})
    lock = threading.Lock()
    reports: list[dict[str, Any]] = []

    def one(job: _Job) -> None:
        if started:
            started(job.id, job.address)
        error = None
        copied: dict[str, Any] = {}
        if copy:
            result = Copier(ctx.db, job.id, job.spec, job.secret, target_command, opts,
                            progress).run()
            error = result.error
            copied = {"copied": result.copied, "copied_bytes": result.copied_bytes,
                      "flags_updated": result.flags_updated, "deleted": result.deleted,
                      "listed": result.listed,
                      "refused": result.failed, "seconds": round(result.seconds, 3)}
        if error:
            report = failed_report(job.address, job.spec, error)
        else:
            try:
                report = verify(ctx.db, job.id, job.spec, job.secret, target_command)
            except (SourceError, OSError) as exc:
                report = failed_report(job.address, job.spec,
                                       f"verification: {getattr(exc, 'reason', exc)}")
        if copy and settings is not None and dav_url:
            report["dav"] = _dav(ctx, settings, job, dav_url)
        report = seal({**report, "run": copied})
        with ctx.unit() as s:
            row = s.get(MigrationJob, job.id)
            assert row is not None
            row.verdict, row.report = report["verdict"], json.dumps(report,
                                                                    ensure_ascii=False)
            row.status = "failed" if report.get("error") else "verified"
            if report.get("error"):
                row.error = report["error"]
        with lock:
            reports.append(report)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(one, j) for j in jobs]:
            f.result()
    reports.sort(key=lambda r: str(r["account"]))
    return RunSummary(reports)


def stored_reports(ctx: Ctx, name: str) -> tuple[ProjectStatus, list[dict[str, Any]]]:
    with ctx.reading() as s:
        project = _find(ctx, s, name)
        reports = [json.loads(r or "{}") for r in s.scalars(
            select(MigrationJob.report).join(Account, MigrationJob.account_id == Account.id)
            .where(MigrationJob.project_id == project.id, MigrationJob.report.is_not(None))
            .order_by(Account.address))]
        return _status(s, project), reports


def project_report(ctx: Ctx, name: str) -> dict[str, Any]:
    """All accounts' last reports in one sealed document."""
    st, reports = stored_reports(ctx, name)
    verdict = (ZERO_LOSS if reports and len(reports) == len(st.accounts)
               and all(r.get("verdict") == ZERO_LOSS and dav_ok(r) for r in reports)
               else "not proven")
    return seal({"kind": "zenmail migration project report", "project": st.name,
                 "tenant": st.tenant, "generated_at": datetime.now(UTC).isoformat(
                     timespec="seconds"),
                 "verdict": verdict, "plan": st.plan, "accounts": reports})


def domains_of(ctx: Ctx, name: str) -> list[str]:
    with ctx.reading() as s:
        project = _find(ctx, s, name)
        return sorted(set(s.scalars(
            select(Domain.name).join(Account, Account.domain_id == Domain.id)
            .join(MigrationJob, MigrationJob.account_id == Account.id)
            .where(MigrationJob.project_id == project.id))))
