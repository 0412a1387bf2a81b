"""`zenmail eco …`: eco-design of the mail store (docs/eco.md) — analyse it, compress it,
archive and expunge by tenant policy, and report its CO2 footprint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click
from rich.console import Console
from rich.progress import Progress

from zenmail.cli.app import App, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.eco import analyze as analysing
from zenmail.eco import compress as compressing
from zenmail.eco import policy as policies
from zenmail.eco.run import apply_policies, reports
from zenmail.eco.scope import accounts_in
from zenmail.sizes import format_size
from zenmail.stack.daemons.dovecot import Dovecot
from zenmail.stack.registry import Stack
from zenmail.vault import originals

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


policy_group = Group("policy", help="Each tenant's eco policy: archiving, expunging Trash "
                     "and Junk, image reduction.")
group.add_command(policy_group)


def policy_text(p: policies.PolicyInfo) -> str:
    archive = f"after {p.archive_after_months} months" if p.archive_after_months else "off"
    trash = f"after {p.trash_after_days} days" if p.trash_after_days else "off"
    return (f"{p.tenant}: archive {archive}; Trash and Junk expunged {trash}; images of "
            f"archived mail {'reduced' if p.reduce_images else 'kept as they are'}")


@policy_group.command("set", reads=True)
@click.argument("tenant")
@click.option("--archive-after", default=None, metavar="AGE",
              help="Move mail received longer ago than this (12m, 2y; off) into Archive/.")
@click.option("--trash-after", default=None, metavar="AGE",
              help="Expunge what lay in Trash and Junk longer than this (30d; off).")
@click.option("--reduce-images/--keep-images", default=None,
              help="Down-scale large images of archived mail (opt-in).")
@pass_app
def policy_set(app: App, tenant: str, archive_after: str | None, trash_after: str | None,
               reduce_images: bool | None) -> None:
    """Set a tenant's eco policy; what is not given stays as it was."""
    p = policies.set_policy(app.ctx(), tenant, archive_after, trash_after, reduce_images)
    emit(app, p, lambda: click.echo(policy_text(p)))


@policy_group.command("show", reads=True)
@click.argument("tenant", required=False)
@pass_app
def policy_show(app: App, tenant: str | None) -> None:
    """The policies of every tenant you see, or of one."""
    rows = policies.policies(app.ctx(), tenant)
    emit(app, rows, lambda: click.echo("\n".join(policy_text(p) for p in rows)))


@group.command("apply", reads=True)
@TENANT
@click.option("--dry-run", is_flag=True, help="Count what would be archived, expunged and "
              "reduced; change nothing.")
@pass_app
def apply(app: App, tenant: str | None, dry_run: bool) -> None:
    """Apply the tenants' eco policies now (the stack does it daily). Originals go into a
    vault snapshot before images are reduced or Trash and Junk expunged."""
    settings = app.settings()
    ctx = app.ctx()
    dovecot = Stack(settings).services["dovecot"]
    assert isinstance(dovecot, Dovecot)
    console = Console(stderr=True)
    with console.status("applying", spinner="dots") if console.is_terminal else \
            _nothing() as status:
        def progress(address: str) -> None:
            if status is not None:
                status.update(f"applying: {address}")
        result = apply_policies(settings, ctx,
                                lambda *args: dovecot.doveadm(*args, timeout=3600), tenant,
                                dry_run, progress, keep=originals.keeper(ctx, settings))

    def text() -> None:
        verb = "would be" if dry_run else "were"
        click.echo(f"{len(result.tenants)} tenants with a policy: "
                   f"{result.archived_messages} messages ({format_size(result.archived_bytes)})"
                   f" {verb} archived, {result.expunged_messages} "
                   f"({format_size(result.expunged_bytes)}) {verb} expunged from Trash and "
                   f"Junk, {result.images_reduced} images {verb} reduced "
                   f"({format_size(result.image_bytes_saved)} saved)")
        table([(x.account, x.action, x.folder, x.target, x.messages, format_size(x.bytes),
                x.snapshot) for x in result.actions],
              ["ACCOUNT", "ACTION", "FOLDER", "TO", "MESSAGES", "SIZE", "KEPT IN"])
        for o in result.originals:
            click.echo(f"original of {o.account} {o.folder} {o.subject!r}: vault snapshot "
                       f"{o.snapshot}, `zenmail restore message {o.account} {o.restore_id}`")
        for taken in result.snapshots_taken:
            click.echo(f"vault snapshot taken first: {taken}")
        for why in result.refused:
            click.echo(f"not done: {why}", err=True)

    emit(app, result, text)


@group.command("report", reads=True)
@TENANT
@ACCOUNT
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day (UTC) the year's mail and the policies' cutoffs count from "
              "(default: today): the same day and store give the same report.")
@pass_app
def report(app: App, tenant: str | None, account: str | None,
           as_of: datetime | None) -> None:
    """CO2 g/year as stored now and after each policy, every factor named (docs/eco.md)."""
    rows = reports(app.settings(), app.ctx(), tenant, account,
                   as_of.date() if as_of else None)

    def text() -> None:
        for r in rows:
            p = r.policy
            click.echo(f"{r.scope} as of {r.as_of}: {r.accounts} accounts; policy "
                       f"({p.source}): archive "
                       f"after {p.archive_after_months or 'never'} months, Trash/Junk "
                       f"after {p.trash_after_days or 'never'} days, images "
                       f"{'reduced' if p.reduce_images else 'kept'}")
            table([(s.name, format_size(s.stored_bytes), f"{s.storage_g:.1f}",
                    f"{s.processing_g:.1f}", f"{s.transfer_g:.1f}", f"{s.embodied_g:.1f}",
                    f"{s.total_g:.1f}", f"{s.per_account_g:.1f}", f"{s.saved_g:.1f}")
                   for s in r.scenarios],
                  ["SCENARIO", "STORED", "STORAGE g", "PROCESSING g", "TRANSFER g",
                   "EMBODIED g", "TOTAL g/yr", "PER ACCOUNT", "SAVED g"])
            click.echo(f"  every policy: {r.storage_reduction_percent}% less stored than raw "
                       f"Maildir, {r.footprint_reduction_percent}% less CO2")
            click.echo("  factors: " + ", ".join(f"{f.name}={f.value:g}" for f in r.factors))

    emit(app, rows, text)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


COMMANDS: list[click.Command] = [group]
