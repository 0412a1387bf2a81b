"""`zenmail db …`: the directory database's schema.

Migrations run from here (and from `zenmail init`) only: `zenmail up` on a node checks the
schema and refuses an outdated one, so several nodes never race to migrate one database.
"""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, safe_url

group = Group("db", help="The directory database's schema: its revision, and upgrading it.")


@group.command("status", reads=True, acts=False)
@pass_app
def status(app: App) -> None:
    """The schema's revision and the one this zenmail needs."""
    settings = app.settings()
    state = app.database(require_init=False).schema_state()
    data = {"database": safe_url(settings.db_url), "revision": state.current,
            "needed": state.head, "current": state.is_current}

    def text() -> None:
        click.echo(f"database: {data['database']}")
        click.echo(f"revision: {state.current or '(no schema)'}; this zenmail needs "
                   f"{state.head}" + ("" if state.is_current else
                                      " — run `zenmail db upgrade`"))

    emit(app, data, text)


@group.command("upgrade", acts=False)
@pass_app
def upgrade(app: App) -> None:
    """Bring the schema to the revision this zenmail needs (safe to run again). Run it once
    per database after installing a new zenmail, before `zenmail up` on the nodes."""
    db = app.database(require_init=False)
    before = db.schema_state().current
    db.migrate()
    after = db.schema_state()
    if before == after.current:
        click.echo(f"schema already at {after.current}; nothing to do")
    else:
        click.echo(f"schema upgraded from {before or '(none)'} to {after.current}")


COMMANDS: list[click.Command] = [group]
