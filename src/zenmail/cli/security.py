"""`zenmail security report`: what the filter blocked for a tenant, who was targeted, who
is suspended or locked out (zenmail.filtering.report)."""

from __future__ import annotations

import click

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.filtering import quarantine, report, store
from zenmail.security import lockout

group = Group("security", help="Security reports.")


@group.command("report", reads=True)
@click.option("--tenant", required=True, help="The tenant reported on.")
@click.option("--since", default=None, help="A date (2026-11-01) or days back (7d); "
              "default 30 days.")
@pass_app
def report_(app: App, tenant: str, since: str | None) -> None:
    """Spam, viruses and phishing blocked, the most targeted people, suspended senders and
    locked accounts of a tenant over a period."""
    settings = app.settings()
    ctx = app.ctx()
    first = report.parse_since(since)
    guard = lockout.guard_for(settings.redis_endpoint, settings.lockout)
    q = quarantine.Queue.of(settings.state_dir)
    rep = report.report(ctx, store.connect(settings.redis_endpoint), tenant, first,
                        locks=lambda: list(lockout.locks(ctx, guard)),
                        held_now=lambda: len(quarantine.list_held(ctx, q, tenant)))

    def text() -> None:
        click.echo(f"security report for {rep.tenant}, {rep.since} to {rep.until}")
        b = rep.blocked
        click.echo(f"  refused or held: {b['spam']} spam, {b['virus']} viruses, "
                   f"{b['phishing']} phishing ({b['held']} held; {rep.held_now} in "
                   f"quarantine now, {b['expired']} expired)")
        click.echo(f"  outbound: {b['outbound']} sent, {b['outbound_refused']} refused")
        click.echo("  most targeted:")
        table([(t["account"], t["messages"]) for t in rep.most_targeted],
              ["ACCOUNT", "MESSAGES"])
        click.echo("  suspended senders:")
        table([(x["account"], x["since"], x["reason"]) for x in rep.suspended_senders],
              ["ACCOUNT", "SINCE", "WHY"])
        click.echo("  locked accounts:")
        table([(x["account"], x["kind"], x["client"] or "-") for x in rep.locked_accounts],
              ["ACCOUNT", "KIND", "CLIENT"])

    emit(app, rep, text)


COMMANDS: list[click.Command] = [group]
