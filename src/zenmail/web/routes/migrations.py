"""Migration projects: progress, verdicts, the sealed report, and rounds run from the API.

`POST /migrations/{project}/runs` queues a round (pre-sync, final, verify) and answers its
id at once; the API process runs it in the background (zenmail.migration.runs.Runner) and
`GET /migrations/{project}/runs/{run_id}` shows where it stands: status, the accounts'
figures as they move, and the verdict at the end. A run the API process did not finish (it
was killed) is taken up again when the API next starts. Everything within the caller's
tenant.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from zenmail.migration import projects, runs
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

log = logging.getLogger(__name__)
router = APIRouter(tags=["migrations"], responses=ERRORS)


def install(app: FastAPI) -> None:
    app.state.migration_runner = runs.Runner(app.state.database, app.state.settings,
                                             app.state.hasher)


def resume(app: FastAPI) -> None:
    # The API must come up even when the directory is down or not migrated yet: /health
    # is how the administrator learns what is wrong, so the rounds wait for the next start.
    try:
        app.state.migration_runner.resume_orphans()
    except SQLAlchemyError as exc:
        log.warning("migration rounds left by a killed API not taken up (the directory "
                    "did not answer: %s); they are taken up at the next start",
                    exc.__class__.__name__)


class MigrationRunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    round: Literal["presync", "final", "verify"] = Field(
        description="presync: copy what is new, days before day X; final: the last delta "
        "on day X, verified, with the MX check of `migrate cutover`; verify: compare by "
        "content, copy nothing.")
    account: str | None = Field(None, description="Only this account of the project.")
    pilot: bool = Field(False, description="Only the pilot accounts.")
    sync_deletions: bool = Field(False, description="Also delete at zenmail what was "
                                 "deleted at the source since the last round.")


@router.get("/migrations", summary="List migration projects with their progress")
def list_migrations(ctx: CtxDep) -> list[dict[str, Any]]:
    return [p.to_dict() for p in projects.list_all(ctx)]


@router.get("/migrations/{project}",
            summary="A project: per account messages copied, verdict and error")
def show_migration(ctx: CtxDep, project: str) -> dict[str, Any]:
    return projects.status(ctx, project).to_dict()


@router.get("/migrations/{project}/report",
            summary="The project's last verification, sealed with a SHA-256")
def migration_report(ctx: CtxDep, project: str) -> dict[str, Any]:
    return projects.project_report(ctx, project)


@router.post("/migrations/{project}/runs", status_code=202,
             summary="Start a round of the project in the background; answers its run id")
def start_migration_run(ctx: CtxDep, request: Request, project: str,
                        body: MigrationRunStart) -> dict[str, Any]:
    view = runs.start(ctx, project, body.round, body.account, body.pilot,
                      body.sync_deletions)
    request.app.state.migration_runner.submit(view.id)
    return view.to_dict()


@router.get("/migrations/{project}/runs", summary="The project's rounds, newest first")
def list_migration_runs(ctx: CtxDep, project: str) -> list[dict[str, Any]]:
    return [r.to_dict() for r in runs.list_runs(ctx, project)]


@router.get("/migrations/{project}/runs/{run_id}",
            summary="One round: status, the accounts' progress, and the verdict at the end")
def show_migration_run(ctx: CtxDep, project: str, run_id: int) -> dict[str, Any]:
    return runs.show(ctx, project, run_id).to_dict()
