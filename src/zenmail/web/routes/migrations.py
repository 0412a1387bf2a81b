"""Migration projects: progress, verdicts and the sealed report (read-only).

The copy runs on the mail host (`zenmail migrate run`), which writes its progress into the
directory as it goes; these endpoints read it, within the caller's tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zenmail.migration import projects
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["migrations"], responses=ERRORS)


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
