"""`zenmail tenant …`: customers and their storage pools."""

from __future__ import annotations

import click

from zenmail.cli.app import WHOLE_NUMBER, App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.directory import tenants
from zenmail.directory.views import TenantInfo
from zenmail.sizes import format_size

group = Group("tenant", help="Customers: each has a storage pool shared by its accounts.")


def _text(t: TenantInfo) -> None:
    click.echo(f"tenant:    {t.name}")
    click.echo(f"pool:      {format_size(t.pool_bytes)} ({format_size(t.allocated_bytes)} "
               f"allocated, {format_size(t.pool_bytes - t.allocated_bytes)} free)")
    click.echo(f"used:      {format_size(t.used_bytes)} (the mail its accounts store)")
    limit = t.max_accounts if t.max_accounts is not None else "no limit"
    click.echo(f"accounts:  {t.accounts} (max: {limit})")
    click.echo(f"domains:   {', '.join(t.domains_unicode) or '(none)'}")


@group.command("add")
@click.argument("name")
@click.option("--pool", required=True, help="Storage pool, e.g. 50G.")
@click.option("--max-accounts", type=WHOLE_NUMBER, default=None,
              help="Most accounts it may have (default: no limit).")
@pass_app
def add(app: App, name: str, pool: str, max_accounts: int | None) -> None:
    """Create a tenant with a storage pool."""
    t = tenants.add(app.ctx(), name, pool, max_accounts)
    click.echo(f"tenant {t.name} created with a pool of {format_size(t.pool_bytes)}")


@group.command("list", reads=True)
@pass_app
def list_(app: App) -> None:
    """The tenants, with their pools, usage and domains."""
    rows = tenants.list_all(app.ctx())
    emit(app, rows, lambda: table(
        [(t.name, format_size(t.pool_bytes), format_size(t.allocated_bytes),
          format_size(t.used_bytes), t.accounts, ",".join(t.domains_unicode)) for t in rows],
        ["TENANT", "POOL", "ALLOCATED", "USED", "ACCOUNTS", "DOMAINS"]))


@group.command("show", reads=True)
@click.argument("name")
@pass_app
def show(app: App, name: str) -> None:
    """One tenant: pool, usage, accounts, domains."""
    t = tenants.show(app.ctx(), name)
    emit(app, t, lambda: _text(t))


@group.command("set-pool")
@click.argument("name")
@click.argument("size")
@pass_app
def set_pool(app: App, name: str, size: str) -> None:
    """Change a tenant's storage pool (never below what is allocated)."""
    t = tenants.set_pool(app.ctx(), name, size)
    click.echo(f"tenant {t.name}: pool {format_size(t.pool_bytes)}, "
               f"{format_size(t.pool_bytes - t.allocated_bytes)} free")


@group.command("set-max-accounts")
@click.argument("name")
@click.argument("limit", type=WHOLE_NUMBER, required=False)
@pass_app
def set_max_accounts(app: App, name: str, limit: int | None) -> None:
    """Limit the number of accounts (no LIMIT: unlimited)."""
    t = tenants.set_max_accounts(app.ctx(), name, limit)
    click.echo(f"tenant {t.name}: max accounts "
               f"{t.max_accounts if t.max_accounts is not None else 'none'}")


@group.command("remove")
@click.argument("name")
@pass_app
def remove(app: App, name: str) -> None:
    """Remove an empty tenant."""
    tenants.remove(app.ctx(), name)
    click.echo(f"tenant {name} removed")


COMMANDS: list[click.Command] = [group]
