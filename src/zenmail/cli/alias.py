"""`zenmail alias …`: aliases and catch-alls."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.directory import aliases

group = Group("alias", help="Aliases and catch-alls (@domain).")


@group.command("add")
@click.argument("address")
@click.argument("targets", nargs=-1, required=True)
@pass_app
def add(app: App, address: str, targets: tuple[str, ...]) -> None:
    """Create an alias (or @domain catch-all), or add targets to one."""
    a = aliases.add(app.ctx(), address, list(targets))
    click.echo(f"alias {a.address} -> {', '.join(a.targets)}")


@group.command("set")
@click.argument("address")
@click.argument("targets", nargs=-1, required=True)
@pass_app
def set_(app: App, address: str, targets: tuple[str, ...]) -> None:
    """Replace an existing alias's targets with TARGETS, in one step."""
    a = aliases.set_targets(app.ctx(), address, list(targets))
    click.echo(f"alias {a.address} -> {', '.join(a.targets)}")


@group.command("list", reads=True)
@click.option("--tenant", default=None, help="Only this tenant's.")
@click.option("--domain", default=None, help="Only this domain's.")
@pass_app
def list_(app: App, tenant: str | None, domain: str | None) -> None:
    """The aliases and their targets."""
    rows = aliases.list_all(app.ctx(), tenant, domain)
    emit(app, rows, lambda: table(
        [(a.address_unicode, a.tenant, ", ".join(a.targets_unicode)) for a in rows],
        ["ALIAS", "TENANT", "TARGETS"]))


@group.command("remove")
@click.argument("address")
@click.argument("target", required=False)
@pass_app
def remove(app: App, address: str, target: str | None) -> None:
    """Remove one TARGET of an alias, or the whole alias."""
    left = aliases.remove(app.ctx(), address, target)
    if left is None:
        click.echo(f"alias {address} removed")
    else:
        click.echo(f"alias {left.address} -> {', '.join(left.targets)}")


COMMANDS: list[click.Command] = [group]
