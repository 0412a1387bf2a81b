"""The migration's use cases, behind the tenant wall: what the CLI and the API call.

The account is found through `ctx.find`, so a tenant administrator can migrate into, and
read the state of, its own tenant's accounts only. The copy itself (engine.Copier) and the
proof (verify.verify) then work on the job's own rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from zenmail.directory.context import Ctx
from zenmail.directory.models import Account
from zenmail.migration.engine import Copier, Options, Progress, RunResult

__all__ = ["Options", "Outcome", "TargetCommand", "job_for", "migrate"]
from zenmail.migration.models import MigrationJob
from zenmail.migration.source import SourceError, SourceSpec
from zenmail.migration.target import TargetCommand
from zenmail.migration.verify import LOSS, verify


@dataclass
class Outcome:
    job_id: int
    run: RunResult
    report: dict[str, Any]

    @property
    def zero_loss(self) -> bool:
        return bool(self.report.get("verdict") == "zero loss")


def job_for(ctx: Ctx, address: str, spec: SourceSpec, project_id: int | None = None) -> int:
    """The job copying `spec` into the account (made on first use); the tenant wall holds."""
    with ctx.unit() as s:
        account = ctx.find(s, Account, address)
        job = s.scalars(select(MigrationJob).where(
            MigrationJob.account_id == account.id, MigrationJob.source_host == spec.host,
            MigrationJob.source_port == spec.port, MigrationJob.source_user == spec.user)
        ).one_or_none()
        if job is None:
            job = MigrationJob(tenant_id=account.tenant_id, account_id=account.id,
                               project_id=project_id, source_host=spec.host,
                               source_port=spec.port, source_user=spec.user,
                               source_tls=spec.tls, source_insecure=spec.insecure,
                               master_user=spec.master_user, pilot=False, status="new",
                               messages_total=0, messages_done=0, bytes_total=0,
                               bytes_done=0)
            s.add(job)
            s.flush()
        else:
            job.source_tls, job.source_insecure = spec.tls, spec.insecure
            job.master_user = spec.master_user
        return job.id


def migrate(ctx: Ctx, address: str, spec: SourceSpec, password: str,
            target_command: TargetCommand, options: Options | None = None,
            progress: Progress | None = None) -> Outcome:
    """Copy, then verify; the report is stored on the job and returned."""
    job_id = job_for(ctx, address, spec)
    run = Copier(ctx.db, job_id, spec, password, target_command, options, progress).run()
    if run.error:
        report = failed_report(address, spec, run.error)
    else:
        try:
            report = verify(ctx.db, job_id, spec, password, target_command)
        except SourceError as exc:
            report = failed_report(address, spec, f"verification: {exc.reason}")
    report["run"] = {"copied": run.copied, "copied_bytes": run.copied_bytes,
                     "flags_updated": run.flags_updated, "deleted": run.deleted,
                     "listed": run.listed,
                     "refused": run.failed, "seconds": round(run.seconds, 3)}
    from zenmail.migration.report import seal
    report = seal(report)
    with ctx.unit() as s:
        job = s.get(MigrationJob, job_id)
        assert job is not None
        job.verdict = report["verdict"]
        job.report = json.dumps(report, ensure_ascii=False)
        job.status = "failed" if run.error else "verified"
    return Outcome(job_id, run, report)


def failed_report(address: str, spec: SourceSpec, error: str) -> dict[str, Any]:
    from datetime import UTC, datetime
    return {"kind": "zenmail migration report",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "account": address, "source": spec.url, "verdict": LOSS, "error": error,
            "totals": {}, "folders": [], "missing": [], "extras": {}}
