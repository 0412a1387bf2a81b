"""The vault over HTTP: administrators list and take snapshots, find and restore an
account's messages; employees (`/me/…`, their own mail password over HTTP Basic) list what
they deleted and put one message back themselves. docs/vault.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from zenmail.config import Settings
from zenmail.directory.context import Ctx
from zenmail.errors import InvalidInput
from zenmail.vault import selfservice, service
from zenmail.web.deps import CtxDep
from zenmail.web.routes.apppasswords import SelfDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import MeRestore, SharedRestore, SnapshotCreate, VaultRestore

router = APIRouter(tags=["vault"], responses=ERRORS)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _entry(e: Any) -> dict[str, Any]:
    return {"restore_id": e.restore_id(), "snapshot": e.snapshot[:8], "folder": e.folder,
            "internal_date": e.internal_date, "from": e.sender, "subject": e.subject,
            "date": e.date, "flags": e.flags, "size": e.size, "sha256": e.sha256}


@router.get("/snapshots", summary="Snapshots (a tenant administrator: those holding its "
            "tenant)")
def list_snapshots(ctx: CtxDep, request: Request, tenant: str | None = None,
                   account: str | None = None) -> list[dict[str, Any]]:
    return [r.to_dict() for r in service.list_snapshots(ctx, _settings(request), tenant,
                                                        account)]


@router.post("/snapshots", status_code=status.HTTP_201_CREATED,
             summary="Take a snapshot now (of a tenant, an account, or everything)")
def take_snapshot(ctx: CtxDep, request: Request, body: SnapshotCreate) -> dict[str, Any]:
    scope = service.scope(ctx, body.tenant, body.account, body.all)
    return service.take(ctx, _settings(request), scope).to_dict()


@router.get("/accounts/{address:address}/vault/messages",
            summary="Find an account's messages in the snapshots (each with a restore id)")
def find_messages(ctx: CtxDep, request: Request, address: str, folder: str | None = None,
                  subject: str | None = None, sender: str | None = None,
                  since: str | None = None, until: str | None = None
                  ) -> list[dict[str, Any]]:
    rows = service.find(ctx, _settings(request), address, folder, subject, sender, since,
                        until)
    return [_entry(e) for e in rows]


@router.post("/accounts/{address:address}/vault/restore",
             summary="Restore a message (restore_id), a folder (snapshot + folder) or the "
             "whole account (snapshot), optionally into to_folder or another account")
def restore(ctx: CtxDep, request: Request, address: str, body: VaultRestore
            ) -> dict[str, Any]:
    settings = _settings(request)
    if body.restore_id:
        return service.restore_message(ctx, settings, address, body.restore_id,
                                       body.to_folder).to_dict()
    if not body.snapshot:
        raise InvalidInput("give restore_id (one message), or snapshot (with folder: one "
                           "folder; without: the whole account)")
    if body.folder:
        return service.restore_folder(ctx, settings, address, body.folder, body.snapshot,
                                      body.to_folder).to_dict()
    return service.restore_account(ctx, settings, address, body.snapshot,
                                   body.into).to_dict()


@router.post("/tenants/{tenant}/vault/restore-shared",
             summary="Restore a tenant's shared calendars (or one) as a snapshot holds them")
def restore_shared(ctx: CtxDep, request: Request, tenant: str, body: SharedRestore
                   ) -> dict[str, Any]:
    return service.restore_shared(ctx, _settings(request), tenant, body.snapshot,
                                  body.calendar).to_dict()


# ---------------------------------------------------------------- the employee's own

# The employee, by their own mail address and main password: one authentication for every
# /me endpoint (routes/apppasswords.py).
MeDep = SelfDep


def _self(ctx: Ctx) -> str:
    return ctx.actor.name.removeprefix("self:")


@router.get("/me/deleted", summary="My recently deleted messages: in Expunged (30 days) "
            "and only in snapshots")
def my_deleted(ctx: MeDep, request: Request) -> list[dict[str, Any]]:
    return [d.to_dict() for d in selfservice.deleted(ctx, _settings(request), _self(ctx))]


@router.get("/me/snapshots", summary="The snapshots that hold my mail")
def my_snapshots(ctx: MeDep, request: Request) -> list[dict[str, Any]]:
    return [r.to_dict() for r in service.list_snapshots(ctx, _settings(request),
                                                        account=_self(ctx))]


@router.post("/me/restore", summary="Put one of my deleted messages back")
def my_restore(ctx: MeDep, request: Request, body: MeRestore) -> dict[str, Any]:
    return selfservice.restore(ctx, _settings(request), _self(ctx), body.id, body.to_folder)
