"""`zenmail domain …`: mail domains, each owned by one tenant."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, person, table
from zenmail.directory import domains

group = Group("domain", help="Mail domains, each owned by one tenant.")


@group.command("add")
@click.argument("tenant")
@click.argument("domain")
@pass_app
def add(app: App, tenant: str, domain: str) -> None:
    """Give a tenant a mail domain."""
    d = domains.add(app.ctx(), tenant, domain)
    click.echo(f"domain {d.name} added to tenant {d.tenant}")


@group.command("list", reads=True)
@click.option("--tenant", default=None, help="Only this tenant's.")
@pass_app
def list_(app: App, tenant: str | None) -> None:
    """The domains, with their tenant and number of accounts."""
    rows = domains.list_all(app.ctx(), tenant)
    emit(app, rows, lambda: table(
        [(person(d.name, d.name_unicode), d.tenant, d.accounts) for d in rows],
        ["DOMAIN", "TENANT", "ACCOUNTS"]))


@group.command("remove")
@click.argument("domain")
@pass_app
def remove(app: App, domain: str) -> None:
    """Remove a domain that has no accounts or aliases left."""
    domains.remove(app.ctx(), domain)
    click.echo(f"domain {domain} removed")


COMMANDS: list[click.Command] = [group]
