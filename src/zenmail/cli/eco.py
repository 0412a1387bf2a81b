"""`zenmail eco …`: eco-design of the mail store (docs/eco.md) — analyse it, compress it,
archive and expunge by tenant policy, and report its CO2 footprint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import Progress

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.eco import analyze as analysing
from zenmail.eco import compress as compressing
from zenmail.eco.scope import accounts_in
from zenmail.sizes import format_size

group = Group("eco", help="Eco-design: storage analysis, compression, archiving policies, "
              "CO2 report (docs/eco.md).")

TENANT = click.option("--tenant", default=None, help="Only this tenant's accounts.")
ACCOUNT = click.option("--account", default=None, help="Only this account.")


@contextmanager
def progress_bar(what: str, total: int) -> Iterator[Progress]:
    """Progress on stderr when it is a terminal (stdout stays the result, JSON or text)."""
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        bar.add_task(what, total=total)
        yield bar


@group.command("compress", reads=True)
@TENANT
@ACCOUNT
@pass_app
def compress(app: App, tenant: str | None, account: str | None) -> None:
    """Compress the mail stored before compression was on; safe while mail arrives."""
    settings = app.settings()
    rows = accounts_in(app.ctx(), tenant, account)
    total = compressing.CompressResult()
    with progress_bar("compressing", len(rows)) as bar:
        for a in rows:
            total.add(compressing.compress_account(settings.mail_store, a.address,
                                                   settings.eco.compression,
                                                   settings.eco.compression_level))
            bar.advance(bar.task_ids[0])
    data = {"accounts": len(rows), "files": total.files, "already": total.already,
            "skipped": total.skipped, "bytes_before": total.bytes_before,
            "bytes_after": total.bytes_after, "bytes_saved": total.saved}
    emit(app, data, lambda: click.echo(
        f"{total.files} messages compressed in {len(rows)} accounts: "
        f"{format_size(total.bytes_before)} -> {format_size(total.bytes_after)} "
        f"({format_size(total.saved)} saved); {total.already} already compressed, "
        f"{total.skipped} left for the next run"))


def scope_name(tenant: str | None, account: str | None) -> str:
    return f"account {account}" if account else f"tenant {tenant}" if tenant else "all"


@group.command("analyze", reads=True)
@TENANT
@ACCOUNT
@pass_app
def analyze(app: App, tenant: str | None, account: str | None) -> None:
    """Live and dormant mail, archive, trash and junk, largest attachments, duplicates."""
    settings = app.settings()
    rows = accounts_in(app.ctx(), tenant, account)
    result = analysing.analyze(settings.mail_store, rows, scope_name(tenant, account),
                               settings.eco.dormant_months)

    def text() -> None:
        t = result.total
        f = format_size
        click.echo(f"{result.scope}: {t.messages} messages, {f(t.bytes)} "
                   f"({f(t.disk_bytes)} on disk, {t.compressed_messages} compressed)")
        click.echo(f"  live {f(t.live_bytes)}, dormant {f(t.dormant_bytes)} (untouched "
                   f"{result.dormant_months} months), archive {f(t.archive_bytes)}, trash "
                   f"{f(t.trash_bytes)}, junk {f(t.junk_bytes)}, deleted {f(t.expunged_bytes)}")
        click.echo(f"  duplicates: {f(result.duplicate_extra_bytes)} in extra copies")
        table([(r.account, r.messages, f(r.bytes), f(r.disk_bytes), f(r.live_bytes),
                f(r.dormant_bytes), f(r.archive_bytes), f(r.trash_bytes + r.junk_bytes))
               for r in result.accounts],
              ["ACCOUNT", "MESSAGES", "SIZE", "DISK", "LIVE", "DORMANT", "ARCHIVE",
               "TRASH+JUNK"])
        if result.largest_attachments:
            click.echo("largest attachments:")
            table([(x.account, x.folder, x.filename, x.content_type, f(x.bytes))
                   for x in result.largest_attachments],
                  ["ACCOUNT", "FOLDER", "FILE", "TYPE", "SIZE"])
        if result.growth:
            click.echo("received per month:")
            table([(m.month, m.messages, f(m.bytes)) for m in result.growth],
                  ["MONTH", "MESSAGES", "SIZE"])

    emit(app, result, text)


COMMANDS: list[click.Command] = [group]
