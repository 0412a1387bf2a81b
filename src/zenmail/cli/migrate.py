"""`zenmail migrate …`: move mailboxes from another IMAP server, with proof.

The target is written through the stack's own Dovecot (`doveadm exec imap`), so this runs
on the mail host, as root, like `zenmail up`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import read_password
from zenmail.config import Settings
from zenmail.migration import service
from zenmail.migration.source import TLS_MODES, parse_url
from zenmail.sizes import format_size
from zenmail.stack.registry import Stack

group = Group("migrate", help="Move mailboxes from another IMAP server, with proof.")


def target_command(settings: Settings) -> service.TargetCommand:
    """A pre-authenticated IMAP session on this stack's Dovecot for one address."""
    conf = str(Stack(settings).services["dovecot"].conf)  # type: ignore[attr-defined]

    def command(address: str) -> Sequence[str]:
        return ["doveadm", "-c", conf, "exec", "imap", "-u", address]

    return command


def _say_missing(report: dict[str, object]) -> None:
    missing = report.get("missing") or []
    assert isinstance(missing, list)
    for m in missing:
        click.echo(f"  missing: {m['folder']} uid {m['uid']} {m['internal_date']} "
                   f"from {m['from']!r} subject {m['subject']!r} "
                   f"message-id {m['message_id']!r}: {m['reason']}")


@group.command("account", reads=True)
@click.argument("address")
@click.option("--source", "source_url", required=True, metavar="imap://USER@HOST:PORT",
              help="The old mailbox.")
@click.option("--source-tls", type=click.Choice(TLS_MODES), required=True,
              help="none, starttls or tls (implicit, usually port 993).")
@click.option("--source-insecure", is_flag=True,
              help="Accept the source's certificate unchecked (self-signed servers).")
@click.option("--source-master", metavar="MASTER",
              help="Log in as USER*MASTER with the master (admin) password instead of "
                   "the user's.")
@click.option("--source-password-stdin", is_flag=True, required=True,
              help="Read the source password from the first line of standard input.")
@click.option("--sync-deletions", is_flag=True,
              help="Also delete at zenmail what was deleted at the source since the "
                   "last run.")
@pass_app
def account(app: App, address: str, source_url: str, source_tls: str, source_insecure: bool,
            source_master: str | None, source_password_stdin: bool,
            sync_deletions: bool) -> int:
    """Copy one mailbox now, verify it by content, print the verdict.

    Exits 0 only when the verdict is "zero loss"; otherwise 1, naming each missing message.
    Re-running copies only what is new and updates flags (a delta).
    """
    spec = parse_url(source_url, source_tls, source_insecure, source_master)
    password = read_password(source_password_stdin)
    m = app.settings().migration
    options = service.Options(batch_messages=m.batch_messages, batch_bytes=m.batch_bytes,
                              retries=m.retries, backoff=m.backoff_seconds,
                              sync_deletions=sync_deletions)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task(address, total=None)

        def progress(_job: int, done: int, done_bytes: int, total: int, _tb: int) -> None:
            bar.update(task, completed=done, total=total)

        outcome = service.migrate(app.ctx(), address, spec, password,
                                  target_command(app.settings()), options, progress)
    report = outcome.report
    if app.as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        t = report.get("totals") or {}
        run = report["run"]
        click.echo(f"{address} ← {spec.url}: copied {run['copied']} message(s), "
                   f"{format_size(run['copied_bytes'])} in {run['seconds']:.1f} s; "
                   f"flags updated {run['flags_updated']}")
        if report.get("error"):
            click.echo(f"  failed: {report['error']}")
        click.echo(f"  source {t.get('source_messages', '?')} message(s), migrated "
                   f"{t.get('migrated_messages', '?')}, missing {t.get('missing', '?')}, "
                   f"extra at zenmail {t.get('extras', '?')}")
        _say_missing(report)
        click.echo(f"verdict: {report['verdict']} (report sha256 {report['sha256']})")
    if not outcome.zero_loss:
        sys.stdout.flush()
        return 1
    return 0


COMMANDS: list[click.Command] = [group]
