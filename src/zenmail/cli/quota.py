"""`zenmail quota …`: a tenant's storage pool and how its accounts share it."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table, used
from zenmail.directory import quota
from zenmail.directory.names import address_key
from zenmail.directory.views import PoolInfo
from zenmail.sizes import format_size

group = Group("quota", help="The tenant's storage pool and how it is split.")


def moved_text(pool: PoolInfo, source: str, target: str) -> str:
    """What `quota move` says: the two accounts' new quotas, read from the pool it returned.

    The accounts are found under the directory's canonical form of what was typed (the same
    normaliser that stored them), so `' Alice@Example.COM '` finds `alice@example.com`.
    """
    shares = {a.address: a.quota_bytes for a in pool.accounts}
    parts = []
    for given in (source, target):
        address = address_key(given)
        if address not in shares:  # the move is committed: report the pool, never fail
            return (f"moved; pool of {pool.tenant}: {format_size(pool.allocated_bytes)} "
                    f"allocated, {format_size(pool.free_bytes)} free")
        parts.append(f"{address}: {format_size(shares[address])}")
    return "moved; " + ", ".join(parts)


@group.command("move")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.argument("size")
@pass_app
def move(app: App, source: str, target: str, size: str) -> None:
    """Move SIZE of quota from one account to another, in one step."""
    pool = quota.move(app.ctx(), source, target, size)
    click.echo(moved_text(pool, source, target))


@group.command("show", reads=True)
@click.argument("tenant")
@pass_app
def show(app: App, tenant: str) -> None:
    """The pool: size, allocated, free, used, and each account's share and usage."""
    p = quota.pool(app.ctx(), tenant)

    def text() -> None:
        click.echo(f"pool of {p.tenant}: allocated {format_size(p.allocated_bytes)} of "
                   f"{format_size(p.pool_bytes)} ({format_size(p.free_bytes)} free), "
                   f"used {format_size(p.used_bytes)}")
        table([(a.address_unicode, format_size(a.quota_bytes), used(a.used_bytes))
               for a in p.accounts], ["ACCOUNT", "QUOTA", "USED"])

    emit(app, p, text)


COMMANDS: list[click.Command] = [group]
