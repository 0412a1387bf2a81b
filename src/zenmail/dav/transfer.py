"""Calendars as .ics files and address books as .vcf files, out and in.

    export_account(ctx, settings, "alice@acme.example", out)
        -> out/alice@acme.example/<name>.ics and <name>.vcf
    export_tenant(ctx, settings, "acme", out)
        -> every account's, and out/_shared/<name>.ics
    import_file(ctx, settings, Path("x.ics"), address="alice@acme.example")
        -> into the account's default calendar

An export is what Radicale serves for a whole collection (one VCALENDAR with every item, or
the vCards one after the other), so any calendar or contacts program reads it. An import
splits the file into one item per UID and writes each where its UID names it: importing the
same file twice changes nothing. The vault's tenant export can call `export_tenant`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import select

from zenmail.config import Settings
from zenmail.dav import items, local, shared, storage
from zenmail.dav.client import Collection, DavClient, Kind
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Tenant
from zenmail.directory.views import View
from zenmail.errors import InvalidInput, NotFound, StackError

EXT: dict[Kind, str] = {"calendar": "ics", "addressbook": "vcf"}


@dataclass
class ExportedFile(View):
    owner: str        # the account's address, or `_shared/<tenant>`
    collection: str
    kind: str
    items: int
    bytes: int
    path: str


@dataclass
class ExportReport(View):
    files: list[ExportedFile] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files)


@dataclass
class ImportReport(View):
    target: str
    file: str
    items: int
    written: int
    failed: list[str]


def _address(ctx: Ctx, address: str) -> tuple[str, int]:
    with ctx.reading() as s:
        account = ctx.find(s, Account, address)
        return account.address, account.tenant_id


def _count(text: str, kind: Kind) -> int:
    if kind == "addressbook":
        return sum(1 for line in text.splitlines() if line.strip().upper() == "BEGIN:VCARD")
    return len(items.split_calendar(text)) if text.strip() else 0


def _export_collections(dav: DavClient, owner: str, colls: list[Collection],
                        out: Path) -> list[ExportedFile]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for coll in colls:
        resp = dav.t.request("GET", quote(coll.href))
        if resp.status != 200:
            raise StackError(f"reading {coll.href} from the DAV storage failed ({resp.status})")
        text = resp.text()
        path = out / f"{coll.slug}.{EXT[coll.kind]}"
        path.write_text(text)
        files.append(ExportedFile(owner, coll.slug, coll.kind, _count(text, coll.kind),
                                  len(resp.body), str(path)))
    return files


def export_account(ctx: Ctx, settings: Settings, address: str, out: Path) -> ExportReport:
    addr, _ = _address(ctx, address)
    dav = local.client(settings, addr)
    colls = dav.discover_under(f"/{addr}/")
    return ExportReport(_export_collections(dav, addr, colls, out / addr))


def export_tenant(ctx: Ctx, settings: Settings, tenant: str, out: Path) -> ExportReport:
    with ctx.reading() as s:
        t = ctx.find(s, Tenant, tenant)
        addresses = list(s.scalars(select(Account.address).where(Account.tenant_id == t.id)
                                   .order_by(Account.address)))
        name = t.name
    report = ExportReport()
    for addr in addresses:
        report.files += export_account(ctx, settings, addr, out).files
    if storage.shared_dir(settings, name).is_dir():
        dav = local.client(settings)
        colls = dav.discover_under(f"/{storage.SHARED}/{name}/")
        report.files += _export_collections(dav, f"{storage.SHARED}/{name}", colls,
                                            out / storage.SHARED)
    return report


def _kind_of(path: Path, text: str) -> Kind:
    head = text.lstrip()[:200].upper()
    if path.suffix.lower() in (".ics", ".ical", ".ifb") or head.startswith("BEGIN:VCALENDAR"):
        return "calendar"
    if path.suffix.lower() in (".vcf", ".vcard") or head.startswith("BEGIN:VCARD"):
        return "addressbook"
    raise InvalidInput(f"{path} is neither a calendar (.ics) nor an address book (.vcf)")


def import_file(ctx: Ctx, settings: Settings, path: Path, *, address: str | None = None,
                collection: str | None = None,
                shared_calendar: tuple[str, str] | None = None) -> ImportReport:
    """Import one .ics or .vcf file into an account's collection (its default calendar or
    address book unless `collection` names another, created if missing), or into a tenant's
    shared calendar (`shared_calendar` = (tenant, name))."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    kind = _kind_of(path, text)
    split = (items.split_calendar(text, str(path)) if kind == "calendar"
             else items.split_vcards(text, str(path)))
    if shared_calendar is not None:
        if kind != "calendar":
            raise InvalidInput("a shared calendar takes .ics files only")
        tenant, name = shared_calendar
        with ctx.reading() as s:
            t = ctx.find(s, Tenant, tenant)
            tname, tid = t.name, t.id
        slug = shared.check_name(name)
        if not (storage.shared_dir(settings, tname) / slug).is_dir():
            raise NotFound(f"tenant {tname} has no shared calendar {slug}; create it with "
                           f"`zenmail dav shared add {tname} {slug}`")
        dav, href, target = local.client(settings, bulk=True), shared.path_of(tname, slug), \
            f"{storage.SHARED}/{tname}/{slug}"
    else:
        if address is None:
            raise InvalidInput("name the account to import into, or a shared calendar")
        addr, tid = _address(ctx, address)
        dav = local.client(settings, addr, bulk=True)
        slug = collection or (storage.DEFAULT_CALENDAR if kind == "calendar"
                              else storage.DEFAULT_ADDRESSBOOK)
        slug = shared.check_name(slug)
        href, target = f"/{addr}/{slug}/", f"{addr}/{slug}"
        existing = {c.slug: c for c in dav.discover_under(f"/{addr}/")}
        if slug in existing and existing[slug].kind != kind:
            raise InvalidInput(f"{target} is an {existing[slug].kind}, not a {kind}; name "
                               "another --collection")
        if slug not in existing and dav.make_collection(href, kind, slug) != 201:
            raise StackError(f"could not create {target} in the DAV storage")
    written, failed = 0, []
    present = local.uid_hrefs(dav, href, kind)
    for uid, body in split:
        status = dav.put(present.get(uid) or href + items.file_name(uid, EXT[kind]), body,
                         kind)
        if status in (200, 201, 204):
            written += 1
        else:
            failed.append(uid)
    local.flush()
    with ctx.unit() as s:
        audit(s, ctx, "dav.import", target, tid,
              after={"file": path.name, "items": len(split), "written": written,
                     "failed": len(failed)})
    return ImportReport(target, str(path), len(split), written, failed)


# ---------------------------------------------------------------- for the vault's archives

def files_of(settings: Settings, address: str) -> list[tuple[str, bytes]]:
    """(file name, content) of each calendar (.ics) and address book (.vcf) of an account,
    for a tenant export (vault/transfer.py); nothing for an account with no DAV data."""
    if not storage.principal_dir(settings, address).is_dir():
        return []
    key = storage.principal_dir(settings, address).name
    dav = local.client(settings, key)
    return _texts(dav, dav.discover_under(f"/{key}/"))


def shared_files_of(settings: Settings, tenant: str) -> list[tuple[str, bytes]]:
    """(file name, content) of each shared calendar of a tenant."""
    if not storage.shared_dir(settings, tenant).is_dir():
        return []
    dav = local.client(settings)
    return _texts(dav, dav.discover_under(f"/{storage.SHARED}/{tenant}/"))


def _texts(dav: DavClient, colls: list[Collection]) -> list[tuple[str, bytes]]:
    out = []
    for coll in colls:
        resp = dav.t.request("GET", quote(coll.href))
        if resp.status != 200:
            raise StackError(f"reading {coll.href} from the DAV storage failed ({resp.status})")
        out.append((f"{coll.slug}.{EXT[coll.kind]}", resp.body))
    return out


def restore_files(ctx: Ctx, settings: Settings, folder: Path, *, address: str | None = None,
                  tenant: str | None = None) -> int:
    """Import what `files_of` (or `shared_files_of`, with `tenant`) wrote into `folder`, each
    file into the collection of its name (shared calendars created if missing). Returns the
    items written."""
    written = 0
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix not in (".ics", ".vcf"):
            continue
        name = shared.to_name(path.stem)
        if tenant is not None:
            if not (storage.shared_dir(settings, tenant) / name).is_dir():
                shared.add(ctx, settings, tenant, name)
            report = import_file(ctx, settings, path, shared_calendar=(tenant, name))
        else:
            report = import_file(ctx, settings, path, address=address, collection=name)
        written += report.written
    return written
