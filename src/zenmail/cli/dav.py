"""`zenmail dav …` (calendars and contacts: shared calendars, .ics/.vcf export and import)
and `zenmail migrate-dav account …` (copy them from another CalDAV/CardDAV server).

Radicale and the DAV engine are imported inside the commands: other commands start no
slower for them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, read_password, table
from zenmail.errors import InvalidInput
from zenmail.sizes import format_size

if TYPE_CHECKING:
    from zenmail.dav.transfer import ImportReport

group = Group("dav", help="Calendars and contacts (CalDAV/CardDAV).")
shared_group = Group("shared", help="A tenant's shared calendars (meeting rooms, holidays), "
                     "readable by all its accounts.")
group.add_command(shared_group)
migrate_group = Group("migrate-dav", help="Copy calendars and contacts from another "
                      "CalDAV/CardDAV server (Zimbra, Nextcloud, SOGo, Radicale, ...).")


@shared_group.command("add", reads=True)
@click.argument("tenant")
@click.argument("name")
@click.option("--display-name", default="", help="What calendar programs show (default: "
              "NAME).")
@pass_app
def shared_add(app: App, tenant: str, name: str, display_name: str) -> None:
    """Create a shared calendar NAME (e.g. room-1) for every account of TENANT."""
    from zenmail.dav import shared

    cal = shared.add(app.ctx(), app.settings(), tenant, name, display_name)
    emit(app, cal, lambda: click.echo(
        f"shared calendar {cal.tenant}/{cal.name} created; clients subscribe to "
        f"https://<dav host>:<dav port>{cal.path} (fill it with `zenmail dav shared import "
        f"{cal.tenant} {cal.name} FILE.ics`)"))


@shared_group.command("list", reads=True)
@click.argument("tenant")
@pass_app
def shared_list(app: App, tenant: str) -> None:
    """The shared calendars of TENANT."""
    from zenmail.dav import shared

    found = shared.list_calendars(app.ctx(), app.settings(), tenant)
    emit(app, found, lambda: table([(c.tenant, c.name, c.display_name, c.path)
                                    for c in found], ["TENANT", "NAME", "DISPLAY NAME", "PATH"]))


@shared_group.command("remove")
@click.argument("tenant")
@click.argument("name")
@pass_app
def shared_remove(app: App, tenant: str, name: str) -> None:
    """Delete a shared calendar and its events."""
    from zenmail.dav import shared

    shared.remove(app.ctx(), app.settings(), tenant, name)
    click.echo(f"shared calendar {tenant}/{name} deleted")


@group.command("export", reads=True)
@click.argument("address", required=False)
@click.option("--tenant", default=None, help="Every account of this tenant, and its shared "
              "calendars (instead of ADDRESS).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Directory to write into: <address>/<calendar>.ics and <book>.vcf.")
@pass_app
def export(app: App, address: str | None, tenant: str | None, out: Path) -> None:
    """Write an account's calendars as .ics and address books as .vcf files."""
    from zenmail.dav import transfer

    if (address is None) == (tenant is None):
        raise InvalidInput("name an account ADDRESS or --tenant NAME (one of them)")
    report = (transfer.export_account(app.ctx(), app.settings(), address, out) if address
              else transfer.export_tenant(app.ctx(), app.settings(), str(tenant), out))

    def text() -> None:
        table([(f.owner, f.collection, f.kind, f.items, format_size(f.bytes), f.path)
               for f in report.files], ["OWNER", "COLLECTION", "KIND", "ITEMS", "SIZE", "FILE"])
        click.echo(f"{len(report.files)} file(s), {report.items} item(s) written under {out}")

    emit(app, report.files, text)


@group.command("import", reads=True)
@click.argument("address")
@click.argument("files", metavar="FILE...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--collection", default=None, help="Into this calendar or address book of the "
              "account (created if missing). Default: its default calendar (.ics) or address "
              "book (.vcf).")
@pass_app
def import_(app: App, address: str, files: tuple[Path, ...], collection: str | None) -> None:
    """Import .ics and .vcf files into ADDRESS's calendars and address books: one item per
    UID, so importing the same file twice changes nothing."""
    from zenmail.dav import transfer

    _imported(app, [transfer.import_file(app.ctx(), app.settings(), f, address=address,
                                         collection=collection) for f in files])


@shared_group.command("import", reads=True)
@click.argument("tenant")
@click.argument("name")
@click.argument("files", metavar="FILE.ics...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@pass_app
def shared_import(app: App, tenant: str, name: str, files: tuple[Path, ...]) -> None:
    """Import .ics files into a shared calendar (one item per UID, as `dav import`)."""
    from zenmail.dav import transfer

    _imported(app, [transfer.import_file(app.ctx(), app.settings(), f,
                                         shared_calendar=(tenant, name)) for f in files])


def _imported(app: App, reports: list[ImportReport]) -> None:
    def text() -> None:
        for r in reports:
            click.echo(f"{r.file} -> {r.target}: {r.written}/{r.items} item(s) written"
                       + (f", failed: {', '.join(r.failed)}" if r.failed else ""))

    emit(app, reports, text)
    if any(r.failed for r in reports):
        sys.exit(2)


@group.command("usage", reads=True)
@click.option("--tenant", default=None, help="Only this tenant's accounts.")
@pass_app
def usage(app: App, tenant: str | None) -> None:
    """What each account's calendars and contacts weigh, beside its mail and quota."""
    from zenmail.dav import usage as dav_usage

    rows = dav_usage.of_accounts(app.ctx(), app.settings(), tenant)
    emit(app, rows, lambda: table(
        [(u.address, u.tenant, format_size(u.dav_bytes),
          "-" if u.mail_bytes is None else format_size(u.mail_bytes),
          format_size(u.quota_bytes), "read-only (quota reached)" if u.read_only else "")
         for u in rows], ["ADDRESS", "TENANT", "DAV", "MAIL", "QUOTA", ""]))


@migrate_group.command("account", reads=True)
@click.argument("address")
@click.option("--source", required=True, help="URL of the old server (its root, the "
              "account's principal or home, or one collection), e.g. "
              "https://dav.old.example/dav/")
@click.option("--source-user", required=True, help="Login at the old server.")
@click.option("--source-password-stdin", is_flag=True,
              help="Read the old server's password from standard input (else asked).")
@click.option("--source-ca", default=None, type=click.Path(path_type=Path),
              help="PEM file of the authority that signed the old server's certificate "
              "(default: the system's).")
@pass_app
def migrate_account(app: App, address: str, source: str, source_user: str,
                    source_password_stdin: bool, source_ca: Path | None) -> None:
    """Copy every calendar and address book of one account; run it again to copy what
    changed since (nothing, if nothing did)."""
    from zenmail.dav import migrate
    from zenmail.dav.client import HttpTransport
    from zenmail.directory.models import Account

    ctx = app.ctx()
    with ctx.reading() as s:  # the wall first: nothing is asked of the source for nobody
        ctx.find(s, Account, address)
    if not source_password_stdin and not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the source password; pipe it in with "
                           "--source-password-stdin")
    password = (read_password(True) if source_password_stdin else
                str(click.prompt("Source password", hide_input=True)))
    transport = HttpTransport(source, source_user, password,
                              ca_file=str(source_ca) if source_ca else None)

    def progress(collection: str, done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            click.echo(f"\r{collection}: {done}/{total}", err=True, nl=done == total)

    try:
        report = migrate.migrate_account(ctx, app.settings(), address, transport, source,
                                         progress=None if app.as_json else progress)
    finally:
        transport.close()

    def text() -> None:
        table([(c.source, c.target, c.kind, c.items, c.copied, c.unchanged, len(c.failed),
                len(c.missing)) for c in report.collections],
              ["SOURCE", "TARGET", "KIND", "ITEMS", "COPIED", "UNCHANGED", "FAILED",
               "MISSING"])
        for c in report.collections:
            for uid in c.missing:
                click.echo(f"missing in {c.target}: {uid}")
            for uid in c.failed:
                click.echo(f"failed in {c.target}: {uid}")
        click.echo(f"verdict: {report.verdict}")

    emit(app, report, text)
    if report.verdict != "complete":
        sys.exit(2)


COMMANDS: list[click.Command] = [group, migrate_group]
