"""Eco-design (docs/eco.md): storage analysis and CO2 report of the caller's accounts."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request

from zenmail.config import Settings
from zenmail.eco import analyze as analysing
from zenmail.eco import policy as policies
from zenmail.eco.co2 import Report
from zenmail.eco.run import reports
from zenmail.eco.scope import accounts_in
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import EcoPolicySet

router = APIRouter(tags=["eco"], responses=ERRORS)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _scope(tenant: str | None, account: str | None) -> str:
    return f"account {account}" if account else f"tenant {tenant}" if tenant else "all"


@router.get("/eco/analysis", summary="Live and dormant mail, archive, trash and junk, largest "
            "attachments, duplicates, growth (a tenant administrator: its accounts')")
def eco_analysis(ctx: CtxDep, request: Request, tenant: str | None = None,
                 account: str | None = None) -> analysing.Analysis:
    settings = _settings(request)
    rows = accounts_in(ctx, tenant, account)
    return analysing.analyze(settings.mail_store, rows, _scope(tenant, account),
                             settings.eco.dormant_months)


@router.get("/eco/policies", summary="The eco policies of the tenants you see")
def list_eco_policies(ctx: CtxDep) -> list[policies.PolicyInfo]:
    return policies.policies(ctx)


@router.put("/eco/policies/{tenant}", summary="Set a tenant's eco policy (what is left out "
            "stays)")
def set_eco_policy(ctx: CtxDep, tenant: str, body: EcoPolicySet) -> policies.PolicyInfo:
    return policies.set_policy(ctx, tenant, body.archive_after, body.trash_after,
                               body.reduce_images)


@router.get("/eco/report", summary="CO2 g/year as stored now and after each policy, every "
            "factor named, per tenant (a tenant administrator: its own)")
def eco_report(ctx: CtxDep, request: Request, tenant: str | None = None,
               account: str | None = None, as_of: date | None = None) -> list[Report]:
    return reports(_settings(request), ctx, tenant, account, as_of)
