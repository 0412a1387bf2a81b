"""`zenmail lockout …`: logins locked out after wrong passwords, and lifting them."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.security import lockout

group = Group("lockout", help="Logins locked out after too many wrong passwords.")


def _guard(app: App) -> lockout.Guard:
    settings = app.settings()
    return lockout.guard_for(settings.redis_endpoint, settings.lockout)


def _rows(locks: list[lockout.LockInfo]) -> None:
    table([(lk.kind, lk.account or "-", lk.client or "-", lk.failures,
            f"{lk.seconds_left // 60} min {lk.seconds_left % 60} s") for lk in locks],
          ["KIND", "ACCOUNT", "CLIENT", "FAILURES", "LEFT"])


@group.command("list", reads=True)
@pass_app
def list_(app: App) -> None:
    """The lockouts in force (a tenant administrator sees its accounts')."""
    found = lockout.locks(app.ctx(), _guard(app))
    emit(app, found, lambda: _rows(found))


@group.command("unlock", reads=True)
@click.option("--account", default=None, help="Lift this account's lockouts.")
@click.option("--client", default=None, help="Lift this client address's lockouts "
              "(global administrators; with --account: that account at that address only).")
@pass_app
def unlock(app: App, account: str | None, client: str | None) -> None:
    """Let a locked-out account (or client address) log in again now."""
    lifted = lockout.unlock(app.ctx(), _guard(app), account=account, client=client)

    def text() -> None:
        if not lifted:
            click.echo("nothing was locked")
            return
        click.echo(f"lifted {len(lifted)} lockout(s):")
        _rows(lifted)

    emit(app, lifted, text)


COMMANDS: list[click.Command] = [group]
