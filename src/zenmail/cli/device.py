"""`zenmail device …`: set up a phone or a Mac in one step — an Apple profile with a fresh
app password, or a one-time link to it (with a QR code to scan from this screen)."""

from __future__ import annotations

import io
from pathlib import Path

import click
import qrcode  # type: ignore[import-untyped]

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit
from zenmail.devices import setup

group = Group("device", help="Set up devices: Apple profiles and one-time setup links.")


@group.command("profile")
@click.argument("address")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Where to write the .mobileconfig file.")
@click.option("--name", "device", default=None,
              help='Name of the app password made for it (default "Apple profile <date>").')
@pass_app
def profile(app: App, address: str, out: Path, device: str | None) -> None:
    """Write an Apple profile (Mail, Calendars, Contacts) holding a new app password."""
    made = setup.make_profile(app.ctx(), app.settings(), address, device)
    out.write_bytes(made.data)
    out.chmod(0o600)  # it holds a password
    click.echo(f"{out}: profile for {made.address} with the new app password "
               f"{made.app_password!r}, " + ("signed with the configured certificate" if
                                             made.signed else "unsigned (no [tls] cert "
                                             "configured)"))
    click.echo("Open it on the iPhone/iPad/Mac (AirDrop, mail it to yourself, or use "
               "`zenmail device link`), then approve it in Settings. Revoke the device with "
               f"`zenmail app-password revoke {made.address} {made.app_password!r}`.")


@group.command("link", reads=True)
@click.argument("address")
@click.option("--expires", default=setup.DEFAULT_EXPIRY, show_default=True,
              help="How long the link works (30m, 1h, 2d; at most 7d). It works once.")
@pass_app
def link(app: App, address: str, expires: str) -> None:
    """A one-time link to the account's setup profile, with a QR code to scan."""
    made = setup.make_link(app.ctx(), app.settings(), address, expires)

    def text() -> None:
        qr = qrcode.QRCode(border=1)
        qr.add_data(made.url)
        buf = io.StringIO()
        qr.print_ascii(out=buf, invert=True)
        click.echo(buf.getvalue(), nl=False)
        click.echo(f"\n{made.url}\n")
        click.echo(f"For {made.address}; works once, until {made.expires_at:%Y-%m-%d %H:%M} "
                   "UTC. Scan it with the new phone's camera, or open it on the device.")
    emit(app, {"url": made.url, "address": made.address,
               "expires_at": made.expires_at.isoformat()}, text)


COMMANDS: list[click.Command] = [group]
