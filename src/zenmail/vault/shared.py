"""A tenant's shared calendars (zenmail.dav.shared) in the vault: into the snapshots of a
tenant or of everything, back from them, and in and out of the archives.

In a snapshot they lie as `/dav/_shared/<tenant>/<name>.ics`; in an archive as
`zenmail-export/dav/_shared/<tenant>/<name>.ics`. Each file is the whole collection as
Radicale serves it (one VCALENDAR with every event and time zone, and the calendar's display
name as X-WR-CALNAME): the file `zenmail dav export` writes, which any calendar reads.

Stored in full by every tenant (and --all) snapshot rather than fingerprinted like an
account: they are small (a room's bookings, the holidays), written by zenmail's tools only,
and restic stores a file whose bytes it already has as nothing new — so the cost is one GET
per shared calendar per snapshot, and none for a tenant without any (no Radicale is even
loaded). Keeping them out of holders.json keeps that file, and the retention, erasure and
verification that follow it, about accounts only. An account snapshot does not carry them.

Loading a file puts back each event the calendar lacks or holds otherwise, where its UID is
(restoring twice writes nothing the second time, no duplicate), creating the calendar with
its display name if it is gone; events added since stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zenmail.config import Settings
from zenmail.dav import storage as dav_storage
from zenmail.directory.context import Ctx
from zenmail.directory.views import View

SHARED = dav_storage.SHARED
_CALNAME = re.compile(r"^X-WR-CALNAME(?:;[^:\r\n]*)?:(.*?)\r?$", re.MULTILINE)


@dataclass
class Loaded(View):
    tenant: str
    calendars: list[str] = field(default_factory=list)   # put back (or already there)
    created: list[str] = field(default_factory=list)     # of those, made anew
    items: int = 0                                       # events written
    unchanged: int = 0                                   # events there as they were


def files_of(settings: Settings, tenant: str) -> list[tuple[str, bytes]]:
    """(NAME.ics, content) of each shared calendar of `tenant`; none without any."""
    if not dav_storage.shared_dir(settings, tenant).is_dir():
        return []
    from zenmail.dav import transfer as dav_transfer  # Radicale loads only when needed

    # Only calendars: zenmail's tools make nothing else under _shared (dav/shared.py).
    return [(n, d) for n, d in dav_transfer.shared_files_of(settings, tenant)
            if n.endswith(".ics")]


def stage(settings: Settings, dav: Path, tenants: Iterable[str]) -> int:
    """Write each tenant's shared calendars into `dav/_shared/<tenant>/` of a snapshot's
    stage; returns how many."""
    n = 0
    for tenant in tenants:
        files = files_of(settings, tenant)
        if not files:
            continue
        folder = dav / SHARED / tenant
        folder.mkdir(parents=True, mode=0o700)
        for name, data in files:
            (folder / name).write_bytes(data)
            n += 1
    return n


def display_name(text: str) -> str:
    """The calendar's name as the file gives it (X-WR-CALNAME), or ""."""
    from zenmail.dav import items

    m = _CALNAME.search(items.unfold(text))
    if not m:
        return ""
    return re.sub(r"\\([\\;,nN])", lambda x: "\n" if x.group(1) in "nN" else x.group(1),
                  m.group(1)).strip()


def names_in(folder: Path) -> list[str]:
    """The shared calendars a staged or unpacked folder holds, by name."""
    from zenmail.dav import shared

    return sorted(shared.to_name(p.stem) for p in folder.glob("*.ics")) \
        if folder.is_dir() else []


def load(ctx: Ctx, settings: Settings, folder: Path, tenant: str,
         only: str | None = None) -> Loaded:
    """Put the calendars of `folder` (files as `stage` writes them) back into `tenant`'s
    shared calendars, or only the one named `only`. Only the events the calendar lacks, or
    holds otherwise, are written: bringing back one deleted event of a busy room costs one
    write, not one per event."""
    from zenmail.dav import shared
    from zenmail.dav import transfer as dav_transfer

    done = Loaded(tenant)
    for path in sorted(folder.glob("*.ics")) if folder.is_dir() else []:
        name = shared.to_name(path.stem)
        if only is not None and name != only:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if not (dav_storage.shared_dir(settings, tenant) / name).is_dir():
            shared.add(ctx, settings, tenant, name, display_name(text))
            done.created.append(name)
        done.calendars.append(name)
        todo, same = _not_there(settings, tenant, name, text, str(path))
        done.unchanged += same
        if todo:
            part = folder / ".todo" / path.name  # a scratch folder of the caller's
            part.parent.mkdir(exist_ok=True)
            part.write_text("".join(todo), encoding="utf-8")  # one VCALENDAR per event
            try:
                done.items += dav_transfer.import_file(ctx, settings, part,
                                                       shared_calendar=(tenant, name)).written
            finally:
                part.unlink()
    return done


def _not_there(settings: Settings, tenant: str, name: str, text: str, what: str
               ) -> tuple[list[str], int]:
    """The events of `text` (one VCALENDAR each) that the shared calendar lacks or holds
    otherwise, and how many it holds as `text` has them."""
    from zenmail.dav import items, local, shared
    from zenmail.dav.client import Collection

    have = {items.uid_of(i.body): items.digest(i.body) for i in
            local.client(settings).items(Collection(shared.path_of(tenant, name), "calendar"))}
    wanted = items.split_calendar(text, what)
    todo = [body for uid, body in wanted if have.get(uid) != items.digest(body)]
    return todo, len(wanted) - len(todo)
