"""`zenmail app-password …`: one password per device, shown once, listed, revoked."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.directory import apppasswords

group = Group("app-password", help="Passwords for devices (one per phone or mail program).")


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


@group.command("add", reads=True)
@click.argument("address")
@click.option("--name", required=True, help='Which device it is for, e.g. "iPhone".')
@pass_app
def add(app: App, address: str, name: str) -> None:
    """Make an app password for a device; it is printed once and never again."""
    made = apppasswords.add(app.ctx(), address, name)

    def text() -> None:
        click.echo(f"app password {made.app_password.name!r} for {made.app_password.account}:")
        click.echo(f"\n    {made.secret}\n")
        click.echo("Type it into the device as its password, dashes included. It is shown "
                   "only now; when the device is gone, revoke it with `zenmail app-password "
                   f"revoke {made.app_password.account} NAME`.")
    emit(app, made, text)


@group.command("list", reads=True)
@click.argument("address")
@pass_app
def list_(app: App, address: str) -> None:
    """The account's app passwords: name, created, last used, revoked."""
    rows = apppasswords.list_for(app.ctx(), address)

    def text() -> None:
        click.echo(f"app passwords of {rows[0].account}:" if rows else
                   f"no app passwords for {address}; make one with `zenmail app-password "
                   f"add {address} --name DEVICE`")
        if rows:
            table([(r.name, _when(r.created_at), _when(r.last_used_at),
                    f"revoked {_when(r.revoked_at)}" if r.revoked else "in use")
                   for r in rows], ["NAME", "CREATED (UTC)", "LAST USED", "STATE"])
    emit(app, rows, text)


@group.command("revoke")
@click.argument("address")
@click.argument("name")
@pass_app
def revoke(app: App, address: str, name: str) -> None:
    """Revoke an app password: the device is refused from its next login on."""
    r = apppasswords.revoke(app.ctx(), address, name)
    click.echo(f"app password {r.name!r} of {r.account} revoked")


@group.command("policy", reads=True)
@click.argument("tenant")
@click.option("--required/--optional", "required", default=None,
              help="Require app passwords for IMAP and SMTP (the main password then opens "
                   "neither), or accept the main password too.")
@pass_app
def policy(app: App, tenant: str, required: bool | None) -> None:
    """Show or set whether the tenant's people must log in to mail with app passwords."""
    ctx = app.ctx()
    now = (apppasswords.required(ctx, tenant) if required is None
           else apppasswords.set_required(ctx, tenant, required))
    emit(app, {"tenant": tenant, "app_passwords_required": now}, lambda: click.echo(
        f"tenant {tenant}: " + ("app passwords required for IMAP and SMTP" if now else
                                "main password or app passwords accepted")))


COMMANDS: list[click.Command] = [group]
