"""Who is acting, against which database: the context every directory use case receives.

Authorization lives here, in the service layer, so that the CLI, the API and the scheduler
obey the same walls: a tenant administrator resolves only names inside their tenant, and
anything outside it looks exactly like something that does not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from zenmail.db import Database
from zenmail.directory.models import AuditEntry, Tenant
from zenmail.directory.passwords import Hasher
from zenmail.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class Actor:
    """The one on whose behalf a use case runs. `tenant_id` None means global administrator."""

    name: str
    tenant_id: int | None = None

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None


@dataclass
class Ctx:
    db: Database
    actor: Actor
    hasher: Hasher = field(default_factory=Hasher)

    def require_global(self, what: str) -> None:
        if not self.actor.is_global:
            raise PermissionDenied(f"only a global administrator may {what}; ask your hosting "
                                   "provider")

    def may_see_tenant(self, tenant_id: int) -> bool:
        return self.actor.is_global or self.actor.tenant_id == tenant_id

    def scoped(self, stmt: Select[Any], tenant_column: Any) -> Select[Any]:
        """`stmt` limited to the actor's tenant: the one filter every listing goes through."""
        if self.actor.is_global:
            return stmt
        return stmt.where(tenant_column == self.actor.tenant_id)


def tenant_by_name(s: Session, ctx: Ctx, name: str, *, lock: bool = False) -> Tenant:
    """The tenant called `name`, if the actor may see it; `lock` holds its row until commit."""
    stmt = select(Tenant).where(Tenant.name == name.strip().lower())
    if lock:
        stmt = stmt.with_for_update()
    tenant = s.scalars(stmt).one_or_none()
    if tenant is None or not ctx.may_see_tenant(tenant.id):
        raise NotFound(f"no tenant {name!r}; `zenmail tenant list` shows the tenants you manage")
    return tenant


def count_rows(s: Session, model: Any, *where: Any) -> int:
    """How many rows of `model` match `where` (e.g. a tenant's accounts)."""
    return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def lock_tenant(s: Session, tenant_id: int) -> Tenant:
    """Hold the tenant's row so concurrent changes to its pool are serialised (PostgreSQL)."""
    return s.scalars(select(Tenant).where(Tenant.id == tenant_id).with_for_update()).one()


def audit(s: Session, ctx: Ctx, action: str, target: str, tenant_id: int | None,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Write one audit entry in the same transaction as the change it describes."""
    s.add(AuditEntry(actor=ctx.actor.name, tenant_id=tenant_id, action=action, target=target,
                     before=json.dumps(before, sort_keys=True, default=str) if before else None,
                     after=json.dumps(after, sort_keys=True, default=str) if after else None))
