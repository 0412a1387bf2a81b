"""A tenant's shared calendars (meeting rooms, holidays): readable by every account of the
tenant and by nobody else (zenmail.dav.rights), written by zenmail's tools only
(`zenmail dav shared add`, `zenmail dav shared import TENANT NAME FILE.ics`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zenmail.config import Settings
from zenmail.dav import local, storage
from zenmail.dav.client import Collection
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Tenant
from zenmail.directory.views import View
from zenmail.errors import Conflict, InvalidInput, NotFound, StackError

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass
class SharedCalendar(View):
    tenant: str
    name: str
    display_name: str
    path: str  # where clients subscribe: https://<dav host>:<port><path>


def check_name(name: str) -> str:
    clean = name.strip().lower()
    if not _NAME.fullmatch(clean):
        raise InvalidInput(f"{name!r} is not a shared calendar name: use 1-63 lowercase "
                           "letters, digits and hyphens, e.g. room-1")
    return clean


def to_name(text: str) -> str:
    """A collection name from any text (a file's stem, another server's collection name)."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return clean or "imported"


def path_of(tenant: str, name: str) -> str:
    return f"/{storage.SHARED}/{tenant}/{name}/"


def _tenant(ctx: Ctx, tenant: str) -> tuple[str, int]:
    with ctx.reading() as s:
        row = ctx.find(s, Tenant, tenant)
        return row.name, row.id


def list_calendars(ctx: Ctx, settings: Settings, tenant: str) -> list[SharedCalendar]:
    name, _ = _tenant(ctx, tenant)
    if not storage.shared_dir(settings, name).is_dir():
        return []
    found = local.client(settings).discover_under(f"/{storage.SHARED}/{name}/")
    return [_view(name, c) for c in found if c.kind == "calendar"]


def _view(tenant: str, c: Collection) -> SharedCalendar:
    return SharedCalendar(tenant, c.slug, c.displayname or c.slug, path_of(tenant, c.slug))


def add(ctx: Ctx, settings: Settings, tenant: str, name: str,
        display_name: str = "") -> SharedCalendar:
    tname, tid = _tenant(ctx, tenant)
    slug = check_name(name)
    dav = local.client(settings)
    home = f"/{storage.SHARED}/{tname}/"
    if (storage.shared_dir(settings, tname) / slug).exists():
        raise Conflict(f"tenant {tname} already has a shared calendar {slug}")
    if not storage.shared_dir(settings, tname).is_dir():
        for plain in (f"/{storage.SHARED}/", home):
            status = dav.t.request("MKCOL", plain).status
            if status not in (201, 405):  # 405: exists already
                raise StackError(f"could not create {plain} in the DAV storage ({status})")
    status = dav.make_collection(home + slug + "/", "calendar", display_name or slug,
                                 {"components": "VEVENT"})
    if status != 201:
        raise StackError(f"could not create the shared calendar {slug} ({status})")
    with ctx.unit() as s:
        audit(s, ctx, "dav.shared.add", f"{tname}/{slug}", tid,
              after={"display_name": display_name or slug})
    return SharedCalendar(tname, slug, display_name or slug, path_of(tname, slug))


def remove(ctx: Ctx, settings: Settings, tenant: str, name: str) -> None:
    tname, tid = _tenant(ctx, tenant)
    slug = check_name(name)
    if not (storage.shared_dir(settings, tname) / slug).is_dir():
        raise NotFound(f"tenant {tname} has no shared calendar {slug}; see `zenmail dav "
                       "shared list`")
    status = local.client(settings).delete(path_of(tname, slug))
    if status not in (200, 204):
        raise StackError(f"could not delete the shared calendar {slug} ({status})")
    with ctx.unit() as s:
        audit(s, ctx, "dav.shared.remove", f"{tname}/{slug}", tid)
