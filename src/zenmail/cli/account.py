"""`zenmail account …`: mail accounts, one at a time or a whole company from a CSV file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, person, read_password, table, used
from zenmail.devices import check as connection
from zenmail.directory import accounts, bulk, quota
from zenmail.directory.views import AccountInfo
from zenmail.sizes import format_size

group = Group("account", help="Mail accounts.")

_password_stdin = click.option("--password-stdin", is_flag=True,
                               help="Read the password from standard input.")


def _text(a: AccountInfo) -> None:
    click.echo(f"address:   {person(a.address, a.address_unicode)}")
    click.echo(f"name:      {a.display_name or '-'}")
    click.echo(f"tenant:    {a.tenant}")
    click.echo(f"quota:     {format_size(a.quota_bytes)}")
    click.echo("used:      " + (f"{format_size(a.used_bytes)} "
                                f"({a.used_bytes * 100 // a.quota_bytes} % of the quota)"
                                if a.used_bytes is not None else
                                "not measured yet (Dovecot records it at the next delivery, "
                                "deletion or sweep)"))
    click.echo(f"enabled:   {'yes' if a.enabled else 'no'}")
    click.echo(f"created:   {a.created_at:%Y-%m-%d %H:%M} UTC")


@group.command("add")
@click.argument("address")
@click.option("--quota", default=accounts.DEFAULT_QUOTA, show_default=True,
              help="Quota carved from the tenant's pool.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--tenant", default=None, help="Check that the domain belongs to this tenant.")
@_password_stdin
@pass_app
def add(app: App, address: str, quota: str, display_name: str, tenant: str | None,
        password_stdin: bool) -> None:
    """Create an account (asks for its password, or reads it with --password-stdin)."""
    password = read_password(password_stdin)
    a = accounts.add(app.ctx(), address, password=password, quota=quota,
                     display_name=display_name, tenant=tenant)
    click.echo(f"account {a.address} created with a quota of {format_size(a.quota_bytes)}")


@group.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(path_type=Path))
@click.option("--tenant", default=None, help="Check that every domain belongs to this tenant.")
@pass_app
def import_(app: App, csv_file: Path, tenant: str | None) -> None:
    """Create many accounts from a CSV file, all or none.

    The header names `address` and any of `quota`, `display_name`, `password`,
    `password_hash` (an existing {ARGON2ID}/{BLF-CRYPT}/{SHA512-CRYPT} hash).
    """
    rows = bulk.read_csv(csv_file)

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            click.echo(f"\r{stage}: {done}/{total}", err=True, nl=done == total)

    created = bulk.add_many(app.ctx(), rows, tenant=tenant, progress=progress)
    click.echo(f"{created} accounts created")


@group.command("list", reads=True)
@click.option("--tenant", default=None, help="Only this tenant's.")
@click.option("--domain", default=None, help="Only this domain's.")
@pass_app
def list_(app: App, tenant: str | None, domain: str | None) -> None:
    """The accounts, with tenant, quota, usage and state."""
    rows = accounts.list_all(app.ctx(), tenant, domain)
    emit(app, rows, lambda: table(
        [(a.address_unicode, a.tenant, format_size(a.quota_bytes), used(a.used_bytes),
          "yes" if a.enabled else "no", a.display_name) for a in rows],
        ["ADDRESS", "TENANT", "QUOTA", "USED", "ENABLED", "NAME"]))


@group.command("show", reads=True)
@click.argument("address")
@pass_app
def show(app: App, address: str) -> None:
    """One account: name, quota and usage, state."""
    a = accounts.show(app.ctx(), address)
    emit(app, a, lambda: _text(a))


@group.command("set-quota")
@click.argument("address")
@click.argument("size")
@pass_app
def set_quota(app: App, address: str, size: str) -> None:
    """Change an account's quota (it must fit in the tenant's pool)."""
    a = quota.set_quota(app.ctx(), address, size)
    click.echo(f"account {a.address}: quota {format_size(a.quota_bytes)}")


@group.command("set-name")
@click.argument("address")
@click.argument("name")
@pass_app
def set_name(app: App, address: str, name: str) -> None:
    """Change an account's display name ("" removes it); the address stays."""
    a = accounts.set_name(app.ctx(), address, name)
    click.echo(f"account {a.address}: name {a.display_name or '(none)'}")


@group.command("set-password")
@click.argument("address")
@_password_stdin
@pass_app
def set_password(app: App, address: str, password_stdin: bool) -> None:
    """Change an account's password."""
    a = accounts.set_password(app.ctx(), address, read_password(password_stdin))
    click.echo(f"account {a.address}: password changed")


@group.command("disable")
@click.argument("address")
@pass_app
def disable(app: App, address: str) -> None:
    """Refuse logins and new mail for an account; its mail is kept."""
    a = accounts.set_enabled(app.ctx(), address, False)
    click.echo(f"account {a.address} disabled")


@group.command("enable")
@click.argument("address")
@pass_app
def enable(app: App, address: str) -> None:
    """Accept logins and mail for a disabled account again."""
    a = accounts.set_enabled(app.ctx(), address, True)
    click.echo(f"account {a.address} enabled")


@group.command("remove")
@click.argument("address")
@pass_app
def remove(app: App, address: str) -> None:
    """Remove an account from the directory (its mail store stays on disk; its calendars
    and contacts are deleted)."""
    accounts.remove(app.ctx(), address)
    from zenmail.dav import local  # Radicale is imported only when it is needed

    dav = local.remove(app.settings(), address)
    click.echo(f"account {address} removed; its quota went back to the tenant's pool"
               + ("; its calendars and contacts were deleted" if dav else ""))


@group.command("check", reads=True)
@click.argument("address")
@pass_app
def check(app: App, address: str) -> int:
    """Try the account's real paths (IMAP, SMTP submission, CalDAV) with a password or app
    password read from standard input; say what fails and what to do. Exit 1 if any fails."""
    secret = (str(click.prompt("Password or app password to test", hide_input=True))
              if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n"))
    report = connection.run(app.ctx(), app.settings(), address, secret)

    def text() -> None:
        click.echo(f"{report.address}, with {report.credential}: "
                   + ("everything works" if report.ok else "something fails"))
        for step in report.steps:
            mark = {True: "ok  ", False: "FAIL", None: "skip"}[step.ok]
            click.echo(f"  {mark}  {step.name:<11} {step.detail}")
            if step.advice and step.ok is not True:
                click.echo(f"        {'':<11} -> {step.advice}")
    emit(app, report, text)
    return 0 if report.ok else 1


COMMANDS: list[click.Command] = [group]
