"""Reading the audit log (entries are written by each use case, see context.audit)."""

from __future__ import annotations

import json

from sqlalchemy import select

from zenmail.directory.context import Ctx
from zenmail.directory.models import AuditEntry, Tenant
from zenmail.directory.views import AuditInfo


def entries(ctx: Ctx, tenant: str | None = None, limit: int = 50) -> list[AuditInfo]:
    """Newest first. A tenant administrator sees only their own tenant's entries."""
    with ctx.reading() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 10000)))
        if tenant:
            stmt = stmt.where(AuditEntry.tenant_id == ctx.find(s, Tenant, tenant).id)
        else:
            stmt = ctx.scoped(stmt, AuditEntry.tenant_id)
        names = dict(s.execute(select(Tenant.id, Tenant.name)).all())
        return [AuditInfo(id=e.id, at=e.at, actor=e.actor,
                          tenant=names.get(e.tenant_id) if e.tenant_id else None,
                          action=e.action, target=e.target,
                          before=json.loads(e.before) if e.before else None,
                          after=json.loads(e.after) if e.after else None)
                for e in s.scalars(stmt)]
