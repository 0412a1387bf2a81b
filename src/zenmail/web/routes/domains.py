"""Mail domains."""

from __future__ import annotations

from fastapi import APIRouter, status

from zenmail.directory import domains
from zenmail.directory.views import DomainInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import DomainCreate

router = APIRouter(prefix="/domains", tags=["domains"], responses=ERRORS)


@router.get("", summary="List domains, optionally of one tenant")
def list_domains(ctx: CtxDep, tenant: str | None = None) -> list[DomainInfo]:
    return domains.list_all(ctx, tenant)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a domain to a tenant")
def add_domain(ctx: CtxDep, body: DomainCreate) -> DomainInfo:
    return domains.add(ctx, body.tenant, body.name)


@router.delete("/{domain}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove a domain without accounts or aliases")
def delete_domain(ctx: CtxDep, domain: str) -> None:
    domains.remove(ctx, domain)
