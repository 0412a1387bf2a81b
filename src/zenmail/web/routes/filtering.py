"""Filtering (docs/filtering.md): the DNS records of a domain, the quarantine, the security
report, and letting an account log in and send again. Tenant-scoped like everything else."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from zenmail.filtering import egress, quarantine, records, report, store
from zenmail.filtering.quarantine import Held
from zenmail.security import lockout
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS

router = APIRouter(tags=["filtering"], responses=ERRORS)


def _queue(request: Request) -> quarantine.Queue:
    return quarantine.Queue.of(request.app.state.settings.state_dir)


@router.get("/domains/{domain}/dns", summary="The DNS records to publish for a domain "
            "(MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig, SRV)")
def domain_dns(ctx: CtxDep, request: Request, domain: str) -> dict[str, Any]:
    settings = request.app.state.settings
    return records.for_domain(ctx, settings.state_dir, settings.hostname,
                              records.listener_ports(settings), domain,
                              settings.filter.dkim_algorithm).to_dict()


@router.get("/quarantine", summary="Mail held for review (a tenant administrator: its own)")
def list_quarantine(ctx: CtxDep, request: Request, tenant: str | None = None) -> list[Held]:
    return quarantine.list_held(ctx, _queue(request), tenant)


@router.post("/quarantine/{quarantine_id}/release", summary="Deliver a held message now")
def release_quarantined(ctx: CtxDep, request: Request, quarantine_id: str) -> Held:
    return quarantine.release(ctx, _queue(request), quarantine_id)


@router.delete("/quarantine/{quarantine_id}", summary="Delete a held message for good")
def delete_quarantined(ctx: CtxDep, request: Request, quarantine_id: str) -> Held:
    return quarantine.delete(ctx, _queue(request), quarantine_id)


@router.get("/tenants/{tenant}/security-report",
            summary="Spam, viruses and phishing blocked, most targeted people, suspended "
                    "senders and locked accounts over a period")
def security_report(ctx: CtxDep, request: Request, tenant: str,
                    since: Annotated[str | None, Query(description="A date (2026-11-01) or "
                                                       "days back (7d); default 30 days")]
                    = None) -> dict[str, Any]:
    settings = request.app.state.settings
    guard = lockout.guard_for(settings.redis_endpoint, settings.lockout)
    rep = report.report(ctx, store.connect(settings.redis_endpoint), tenant,
                        report.parse_since(since),
                        locks=lambda: list(lockout.locks(ctx, guard)),
                        held_now=lambda: len(quarantine.list_held(ctx, _queue(request),
                                                                  tenant)))
    return rep.to_dict()


@router.post("/accounts/{address:address}/unlock",
             summary="Let an account log in and send again (lockouts and a suspension)")
def unlock_account_fully(ctx: CtxDep, request: Request, address: str) -> dict[str, Any]:
    settings = request.app.state.settings
    guard = lockout.guard_for(settings.redis_endpoint, settings.lockout)
    lifted = lockout.unlock(ctx, guard, account=address)
    suspension = egress.unsuspend(ctx, store.connect(settings.redis_endpoint), address)
    return {"account": address, "lockouts_lifted": len(lifted),
            "suspension_lifted": suspension.to_dict() if suspension else None}
