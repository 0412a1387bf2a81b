"""Mail domains, each owned by exactly one tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory import names
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Alias, Domain, Tenant
from zenmail.directory.rules import count_rows, ensure_domain_may_be_held
from zenmail.directory.views import DomainInfo
from zenmail.errors import Conflict


def _info(s: Session, d: Domain) -> DomainInfo:
    count = count_rows(s, Account, Account.domain_id == d.id)
    return DomainInfo(name=d.name, name_unicode=names.domain_display(d.name),
                      tenant=d.tenant.name, accounts=count, created_at=d.created_at)


def add(ctx: Ctx, tenant: str, name: str) -> DomainInfo:
    clean = names.valid_domain(name)
    with ctx.unit() as s:
        owner = ctx.find(s, Tenant, tenant)
        # Not ctx.find: a domain has one owner on the whole platform, seen or not.
        existing = s.scalars(select(Domain).where(Domain.name == clean)).one_or_none()
        if existing is not None:
            whose = (f"tenant {existing.tenant.name!r}" if ctx.may_see_tenant(existing.tenant_id)
                     else "another tenant")
            raise Conflict(f"domain {names.domain_display(clean)!r} already belongs to {whose}; "
                           "a domain has one owner")
        ensure_domain_may_be_held(s, clean, owner.id, ctx.platform.hostnames)
        domain = Domain(name=clean, tenant=owner)
        s.add(domain)
        s.flush()
        audit(s, ctx, "domain.add", clean, owner.id, after={"tenant": owner.name})
        return _info(s, domain)


def list_all(ctx: Ctx, tenant: str | None = None) -> list[DomainInfo]:
    with ctx.reading() as s:
        stmt = select(Domain).join(Tenant).order_by(Domain.name)
        if tenant:
            stmt = stmt.where(Domain.tenant_id == ctx.find(s, Tenant, tenant).id)
        else:
            stmt = ctx.scoped(stmt, Domain.tenant_id)
        return [_info(s, d) for d in s.scalars(stmt)]


def remove(ctx: Ctx, name: str) -> None:
    with ctx.unit() as s:
        domain = ctx.find(s, Domain, name)
        accounts = count_rows(s, Account, Account.domain_id == domain.id)
        aliases = count_rows(s, Alias, Alias.domain_id == domain.id)
        if accounts or aliases:
            raise Conflict(f"domain {domain.name!r} still has {accounts} accounts and {aliases} "
                           "aliases; remove them first so no mail is lost")
        audit(s, ctx, "domain.remove", domain.name, domain.tenant_id,
              before={"tenant": domain.tenant.name})
        s.delete(domain)
