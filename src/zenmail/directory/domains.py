"""Mail domains, each owned by exactly one tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory.addresses import normalise_domain
from zenmail.directory.context import Ctx, audit, count_rows, tenant_by_name
from zenmail.directory.models import Account, Alias, Domain, Tenant
from zenmail.directory.views import DomainInfo
from zenmail.errors import Conflict, NotFound


def domain_by_name(s: Session, ctx: Ctx, name: str) -> Domain:
    clean = name.strip().lower().rstrip(".")
    domain = s.scalars(select(Domain).where(Domain.name == clean)).one_or_none()
    if domain is None or not ctx.may_see_tenant(domain.tenant_id):
        raise NotFound(f"no domain {clean!r}; add it first with `zenmail domain add TENANT "
                       f"{clean}`")
    return domain


def _info(s: Session, d: Domain) -> DomainInfo:
    count = count_rows(s, Account, Account.domain_id == d.id)
    return DomainInfo(name=d.name, tenant=d.tenant.name, accounts=count, created_at=d.created_at)


def add(ctx: Ctx, tenant: str, name: str) -> DomainInfo:
    clean = normalise_domain(name)
    with ctx.db.transaction() as s:
        owner = tenant_by_name(s, ctx, tenant)
        existing = s.scalars(select(Domain).where(Domain.name == clean)).one_or_none()
        if existing is not None:
            whose = (f"tenant {existing.tenant.name!r}" if ctx.may_see_tenant(existing.tenant_id)
                     else "another tenant")
            raise Conflict(f"domain {clean!r} already belongs to {whose}; a domain has one owner")
        domain = Domain(name=clean, tenant=owner)
        s.add(domain)
        s.flush()
        audit(s, ctx, "domain.add", clean, owner.id, after={"tenant": owner.name})
        return _info(s, domain)


def list_all(ctx: Ctx, tenant: str | None = None) -> list[DomainInfo]:
    with ctx.db.reading() as s:
        stmt = select(Domain).join(Tenant).order_by(Domain.name)
        if tenant:
            stmt = stmt.where(Domain.tenant_id == tenant_by_name(s, ctx, tenant).id)
        else:
            stmt = ctx.scoped(stmt, Domain.tenant_id)
        return [_info(s, d) for d in s.scalars(stmt)]


def remove(ctx: Ctx, name: str) -> None:
    with ctx.db.transaction() as s:
        domain = domain_by_name(s, ctx, name)
        accounts = count_rows(s, Account, Account.domain_id == domain.id)
        aliases = count_rows(s, Alias, Alias.domain_id == domain.id)
        if accounts or aliases:
            raise Conflict(f"domain {domain.name!r} still has {accounts} accounts and {aliases} "
                           "aliases; remove them first so no mail is lost")
        audit(s, ctx, "domain.remove", domain.name, domain.tenant_id,
              before={"tenant": domain.tenant.name})
        s.delete(domain)
