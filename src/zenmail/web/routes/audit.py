"""The audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zenmail.directory import auditlog
from zenmail.directory.views import AuditInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["audit"], responses=ERRORS)


@router.get("/audit", summary="Audit entries, newest first")
def audit_entries(ctx: CtxDep, tenant: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=10000)] = 50) -> list[AuditInfo]:
    return auditlog.entries(ctx, tenant, limit)
