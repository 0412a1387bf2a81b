"""Project rounds started from the API and run in the background, in the API's process.

`start` records a run (`migration_runs`, status "queued") inside the caller's tenant and
returns its id; the `Runner` of the API process claims it (status "running", `owner_pid`
its pid) and runs `projects.run` in a thread, exactly as `zenmail migrate run` (or
`verify`, or `cutover` for the final round) would; the copy's progress lands on the jobs as
it goes, so `show` reads figures that move. The state of the copy is the same resumable
state the CLI keeps: a run whose process died (kill -9, a crash, a reboot) is left
"running" with a dead `owner_pid`; the Runner takes it up again when the API next starts
(`resume_orphans`), and the copy resumes where it stopped, with zero loss and zero
duplicates. Nothing pretends a dead run finished: `attempts` counts the starts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Actor, Ctx, audit
from zenmail.directory.models import Account
from zenmail.directory.passwords import Hasher
from zenmail.errors import Conflict, InvalidInput, NotFound
from zenmail.migration import projects
from zenmail.migration.cutover import check_mx
from zenmail.migration.engine import Options
from zenmail.migration.models import MigrationProject, MigrationRun
from zenmail.migration.secrets import SecretBox
from zenmail.migration.target import TargetCommand

log = logging.getLogger(__name__)

# presync: copy what is new (days before day X); final: the last delta on day X, verified,
# with the MX check of `migrate cutover`; verify: compare by content, copy nothing.
ROUNDS = ("presync", "final", "verify")
ACTIVE = ("queued", "running")


def stack_target(settings: Settings) -> TargetCommand:
    """A pre-authenticated IMAP session on this stack's Dovecot for one address."""
    from zenmail.stack.registry import Stack  # the stack only where a copy really runs

    conf = str(Stack(settings).services["dovecot"].conf)  # type: ignore[attr-defined]

    def command(address: str) -> Sequence[str]:
        return ["doveadm", "-c", conf, "exec", "imap", "-u", address]

    return command


def options_of(settings: Settings, sync_deletions: bool = False) -> Options:
    m = settings.migration
    return Options(batch_messages=m.batch_messages, batch_bytes=m.batch_bytes,
                   retries=m.retries, backoff=m.backoff_seconds, sync_deletions=sync_deletions)


def box_of(settings: Settings) -> SecretBox:
    return SecretBox(settings.state_dir / "secrets" / "migration.key")


@dataclass
class RunView:
    id: int
    project: str
    round: str
    account: str | None
    pilot: bool
    sync_deletions: bool
    status: str
    attempts: int
    requested_by: str
    verdict: str | None
    error: str | None
    result: dict[str, Any] | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: dict[str, Any] | None = None  # the project's figures, while it runs and after

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _view(run: MigrationRun, project: str) -> RunView:
    return RunView(run.id, project, run.round, run.account, run.pilot, run.sync_deletions,
                   run.status, run.attempts, run.requested_by, run.verdict, run.error,
                   json.loads(run.result) if run.result else None,
                   _iso(run.created_at) or "", _iso(run.started_at), _iso(run.finished_at))


def start(ctx: Ctx, project: str, round: str, account: str | None = None,
          pilot: bool = False, sync_deletions: bool = False) -> RunView:
    """Queue a round of the project (inside the caller's tenant); one active run at a time
    per project, so two rounds never copy the same accounts at once."""
    if round not in ROUNDS:
        raise InvalidInput(f"round {round!r}: choose one of {', '.join(ROUNDS)}")
    if round == "verify" and sync_deletions:
        raise InvalidInput("a verify round copies and deletes nothing; drop sync_deletions")
    with ctx.unit() as s:
        p = projects.find(ctx, s, project)
        if account:
            account = ctx.find(s, Account, account).address
        busy = s.scalars(select(MigrationRun.id).where(MigrationRun.project_id == p.id,
                                                       MigrationRun.status.in_(ACTIVE))
                         ).first()
        if busy is not None:
            raise Conflict(f"run {busy} of project {p.name!r} is still going; poll "
                           f"/api/v1/migrations/{p.name}/runs/{busy} until it ends")
        run = MigrationRun(tenant_id=p.tenant_id, project_id=p.id, round=round,
                           account=account, pilot=pilot, sync_deletions=sync_deletions,
                           status="queued", attempts=0, requested_by=ctx.actor.name)
        s.add(run)
        s.flush()
        audit(s, ctx, "migration.run.start", p.name, p.tenant_id,
              after={"run": run.id, "round": round, "account": account, "pilot": pilot,
                     "sync_deletions": sync_deletions})
        return _view(run, p.name)


def show(ctx: Ctx, project: str, run_id: int) -> RunView:
    """The run with the project's live figures; another tenant's: not found."""
    with ctx.reading() as s:
        p = projects.find(ctx, s, project)
        run = s.scalars(select(MigrationRun).where(MigrationRun.id == run_id,
                                                   MigrationRun.project_id == p.id)
                        ).one_or_none()
        if run is None:
            raise NotFound(f"project {p.name!r} has no run {run_id}; GET "
                           f"/api/v1/migrations/{p.name}/runs lists them")
        view = _view(run, p.name)
        view.progress = projects.status_of(s, p).to_dict()
        return view


def list_runs(ctx: Ctx, project: str) -> list[RunView]:
    with ctx.reading() as s:
        p = projects.find(ctx, s, project)
        return [_view(r, p.name) for r in s.scalars(
            select(MigrationRun).where(MigrationRun.project_id == p.id)
            .order_by(MigrationRun.id.desc()))]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Runner:
    """Runs queued rounds in threads of this process; one per API process."""

    def __init__(self, db: Database, settings: Settings, hasher: Hasher,
                 target_command: TargetCommand | None = None) -> None:
        self.db = db
        self.settings = settings
        self.hasher = hasher
        self.target_command = target_command
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: int) -> None:
        with self._lock:
            if run_id in self._threads and self._threads[run_id].is_alive():
                return
            t = threading.Thread(target=self._execute, args=(run_id,),
                                 name=f"migration-run-{run_id}", daemon=True)
            self._threads[run_id] = t
            t.start()

    def resume_orphans(self) -> list[int]:
        """Take up the runs whose process died (or that were queued and never claimed)."""
        me = os.getpid()
        with self.db.reading() as s:
            found = [(r.id, r.owner_pid) for r in s.scalars(
                select(MigrationRun).where(MigrationRun.status.in_(ACTIVE))
                .order_by(MigrationRun.id))]
        orphans = [rid for rid, pid in found if pid == me or not _alive(pid)]
        for rid in orphans:
            log.warning("migration run %s: its process died; taking it up again", rid)
            self.submit(rid)
        return orphans

    def wait(self, timeout: float | None = None) -> None:
        for t in list(self._threads.values()):
            t.join(timeout)

    def _claim(self, run_id: int) -> MigrationRun | None:
        """Mark the run ours (atomically: only from queued, or from a dead owner)."""
        with self.db.transaction() as s:
            run = s.get(MigrationRun, run_id, with_for_update=True)
            if run is None or run.status not in ACTIVE:
                return None
            if run.status == "running" and run.owner_pid != os.getpid() and _alive(
                    run.owner_pid):
                return None
            run.status, run.owner_pid = "running", os.getpid()
            run.attempts += 1
            run.started_at = run.started_at or datetime.now(UTC)
            s.flush()
            s.expunge(run)
            return run

    def _execute(self, run_id: int) -> None:
        run = self._claim(run_id)
        if run is None:
            return
        try:
            result, verdict = self._round(run)
            values: dict[str, Any] = {"status": "done", "verdict": verdict,
                                      "result": json.dumps(result, ensure_ascii=False)}
        except Exception as exc:  # noqa: BLE001 (a run's failure is its record, not a crash)
            log.exception("migration run %s failed", run_id)
            values = {"status": "failed", "verdict": "not proven",
                      "error": f"{type(exc).__name__}: {exc}"}
        with self.db.transaction() as s:
            s.execute(update(MigrationRun).where(MigrationRun.id == run_id)
                      .values(finished_at=datetime.now(UTC), **values))

    def _round(self, run: MigrationRun) -> tuple[dict[str, Any], str]:
        with self.db.reading() as s:
            project = s.get(MigrationProject, run.project_id)
            assert project is not None
            name = project.name
        # The round acts inside the project's tenant, as whoever asked for it.
        ctx = Ctx(self.db, Actor(f"{run.requested_by} (run {run.id})", run.tenant_id),
                  self.hasher)
        target = self.target_command or stack_target(self.settings)
        summary = projects.run(ctx, name, box_of(self.settings), target,
                               options_of(self.settings, run.sync_deletions), run.account,
                               run.pilot, copy=run.round != "verify",
                               settings=self.settings)
        accounts = [{"account": r["account"], "verdict": r["verdict"],
                     "error": r.get("error"),
                     "source_messages": (r.get("totals") or {}).get("source_messages"),
                     "migrated_messages": (r.get("totals") or {}).get("migrated_messages"),
                     "missing": len(r.get("missing") or []), "run": r.get("run")}
                    for r in summary.reports]
        result: dict[str, Any] = {"accounts": accounts}
        if run.round == "final":
            result["mx"] = [{"domain": m.domain, "ok": m.ok, "message": m.message}
                            for m in (check_mx(d, self.settings.hostname,
                                               self.settings.migration.dns_server)
                                      for d in projects.domains_of(ctx, name))]
        return result, "zero loss" if summary.zero_loss else "not proven"
