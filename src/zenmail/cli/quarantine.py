"""`zenmail quarantine …`: mail the filter held for review (a phishing sign), released or
deleted by the tenant's administrator (zenmail.filtering.quarantine)."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.filtering import quarantine
from zenmail.stack.registry import Stack

group = Group("quarantine", help="Mail held for review by the filter: list, release, delete.")


def _queue(app: App) -> quarantine.Queue:
    return quarantine.Queue(Stack(app.settings()).services["postfix"].conf_dir)


@group.command("list", reads=True)
@click.option("--tenant", default=None, help="Only mail to this tenant.")
@pass_app
def list_(app: App, tenant: str | None) -> None:
    """Held messages, oldest first, with why they were held."""
    rows = quarantine.list_held(app.ctx(), _queue(app), tenant)
    emit(app, rows, lambda: table(
        [(h.id, h.arrived.strftime("%Y-%m-%d %H:%M"), h.from_header or h.sender,
          ", ".join(h.recipients), h.subject[:40],
          " ".join(r.split("(")[0] for r in h.reasons)) for h in rows],
        ["ID", "ARRIVED", "FROM", "TO", "SUBJECT", "WHY"]))


@group.command("release")
@click.argument("id")
@pass_app
def release(app: App, id: str) -> None:
    """Deliver a held message now, as it is."""
    h = quarantine.release(app.ctx(), _queue(app), id)
    click.echo(f"released {h.id} to {', '.join(h.recipients)}")


@group.command("delete")
@click.argument("id")
@pass_app
def delete(app: App, id: str) -> None:
    """Delete a held message for good."""
    h = quarantine.delete(app.ctx(), _queue(app), id)
    click.echo(f"deleted {h.id} (from {h.sender})")


COMMANDS: list[click.Command] = [group]
