"""`zenmail admin …` and `zenmail token …`: administrators and their API tokens."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.directory import admins

admin_group = Group("admin", help="Administrators: global, or scoped to one tenant.")
token_group = Group("token", help="API tokens (stored hashed; shown once).")


@admin_group.command("add")
@click.argument("name")
@click.option("--tenant", default=None, help="Scope to this tenant (default: global).")
@pass_app
def admin_add(app: App, name: str, tenant: str | None) -> None:
    """Create an administrator (global, or of one tenant)."""
    a = admins.add(app.ctx(), name, tenant)
    click.echo(f"administrator {a.name} ({'tenant ' + a.tenant if a.tenant else 'global'}) "
               f"created; give them a token: zenmail token create {a.name}")


@admin_group.command("remove")
@click.argument("name")
@pass_app
def admin_remove(app: App, name: str) -> None:
    """Remove an administrator and revoke all their tokens."""
    admins.remove(app.ctx(), name)
    click.echo(f"administrator {name} removed, with their tokens")


@admin_group.command("list", reads=True)
@pass_app
def admin_list(app: App) -> None:
    """The administrators and their scope."""
    rows = admins.list_all(app.ctx())
    emit(app, rows, lambda: table([(a.name, a.tenant or "(global)") for a in rows],
                                  ["ADMIN", "SCOPE"]))


@token_group.command("create", reads=True)
@click.argument("admin")
@click.option("--name", default="default", help="What the token is for.")
@pass_app
def token_create(app: App, admin: str, name: str) -> None:
    """Create an API token for an administrator; it is printed once."""
    t = admins.create_token(app.ctx(), admin, name)

    def text() -> None:
        click.echo(t.token)
        click.echo(f"(token #{t.info.id} for {t.info.admin}; shown once, store it now)",
                   err=True)

    emit(app, t, text)


@token_group.command("list", reads=True)
@pass_app
def token_list(app: App) -> None:
    """The tokens (never their secrets) and whether they are revoked."""
    rows = admins.list_tokens(app.ctx())
    emit(app, rows, lambda: table(
        [(t.id, t.admin, t.name, f"{t.created_at:%Y-%m-%d %H:%M}",
          "revoked" if t.revoked else "active") for t in rows],
        ["ID", "ADMIN", "NAME", "CREATED", "STATE"]))


@token_group.command("revoke")
@click.argument("token_id")
@pass_app
def token_revoke(app: App, token_id: str) -> None:
    """Revoke a token by its number (see `zenmail token list`)."""
    t = admins.revoke_token(app.ctx(), token_id)
    click.echo(f"token {t.id} revoked")


COMMANDS: list[click.Command] = [admin_group, token_group]
