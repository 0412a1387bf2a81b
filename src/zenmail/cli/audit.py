"""`zenmail audit`: who changed what."""

from __future__ import annotations

import json

import click

from zenmail.cli.app import App, Command, WholeNumber, pass_app
from zenmail.cli.output import emit, table
from zenmail.directory import auditlog
from zenmail.directory.views import AuditInfo


def _change(e: AuditInfo) -> str:
    parts = []
    if e.before:
        parts.append(json.dumps(e.before, sort_keys=True))
    if e.after:
        parts.append(json.dumps(e.after, sort_keys=True))
    return " -> ".join(parts)


@click.command("audit", cls=Command, reads=True)
@click.option("--tenant", default=None, help="Only entries about this tenant.")
@click.option("--limit", type=WholeNumber(1, 10000), default=50, show_default=True,
              help="How many of the newest entries.")
@pass_app
def audit(app: App, tenant: str | None, limit: int) -> None:
    """Who changed what, newest first."""
    rows = auditlog.entries(app.ctx(), tenant, limit)
    emit(app, rows, lambda: table(
        [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, _change(e)) for e in rows],
        ["WHEN (UTC)", "WHO", "WHAT", "TARGET", "CHANGE"]))


COMMANDS: list[click.Command] = [audit]
