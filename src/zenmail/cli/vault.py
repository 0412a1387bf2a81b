"""`zenmail snapshot …`, `zenmail restore …`, `zenmail vault …`: the vault (docs/vault.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from zenmail.cli.app import (
    App,
    Command,
    Group,
    as_option,
    json_option,
    pass_app,
    state_option,
)
from zenmail.cli.output import table
from zenmail.sizes import format_size
from zenmail.vault import service
from zenmail.vault.catalogue import Entry, SnapshotRow
from zenmail.vault.restore import Restored


def _progress() -> tuple[Progress, Any]:
    bar = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), transient=True,
                   console=Console(stderr=True))
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    return bar, update


def _snapshot_row(r: SnapshotRow) -> tuple[str, ...]:
    return (r.short, r.time[:19].replace("T", " "), r.scope, str(r.accounts),
            str(r.messages), format_size(r.bytes))


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


# ---------------------------------------------------------------- zenmail snapshot

@click.group("snapshot", cls=Group, invoke_without_command=True,
             params=[state_option(), json_option(), as_option()])
@click.option("--tenant", default=None, help="Only this tenant's accounts.")
@click.option("--account", default=None, help="Only this account.")
@click.option("--all", "everything", is_flag=True, help="Every tenant (the default for a "
              "global administrator).")
@click.pass_context
def snapshot(ctx: click.Context, tenant: str | None, account: str | None,
             everything: bool) -> None:
    """Take a snapshot of the mail and the directory now; prints its id.

    `zenmail snapshot list` lists the snapshots."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.ensure_object(App)
    scope = service.scope(app.ctx(), tenant, account, everything)
    bar, update = _progress()
    with bar:
        row = service.take(app.ctx(), app.settings(), scope, update)
    if app.as_json:
        _json(row.to_dict())
    else:
        click.echo(row.short)
        click.echo(f"{row.messages} messages ({format_size(row.bytes)}) of {row.accounts} "
                   f"account(s), {row.scope}; full id {row.id}", err=True)


@snapshot.command("list", reads=True)
@click.option("--tenant", default=None, help="Only snapshots holding this tenant.")
@click.option("--account", default=None, help="Only snapshots holding this account.")
@pass_app
def snapshot_list(app: App, tenant: str | None, account: str | None) -> None:
    """The snapshots, oldest first."""
    rows = service.list_snapshots(app.ctx(), app.settings(), tenant, account)
    if app.as_json:
        _json([r.to_dict() for r in rows])
        return
    table([_snapshot_row(r) for r in rows],
          ["SNAPSHOT", "TIME (UTC)", "SCOPE", "ACCOUNTS", "MESSAGES", "SIZE"])


# ---------------------------------------------------------------- zenmail restore

restore = Group("restore", help="Find messages in the snapshots and put them back.")


def _entry_dict(e: Entry) -> dict[str, Any]:
    return {"restore_id": e.restore_id(), "snapshot": e.snapshot[:8], "folder": e.folder,
            "date": _when(e.internal_date), "from": e.sender, "subject": e.subject,
            "flags": e.flags, "size": e.size, "sha256": e.sha256, "uid": e.uid,
            "uidvalidity": e.uidvalidity, "date_header": e.date}


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


@restore.command("find", reads=True)
@click.argument("address")
@click.option("--folder", default=None, help="Only this folder (e.g. INBOX, Sent, A/B).")
@click.option("--subject", default=None, metavar="WORDS", help="Words the subject contains.")
@click.option("--from", "sender", default=None, metavar="ADDR", help="Part of the sender.")
@click.option("--since", default=None, metavar="DATE", help="Received on or after (UTC).")
@click.option("--until", default=None, metavar="DATE", help="Received before (UTC).")
@pass_app
def find(app: App, address: str, folder: str | None, subject: str | None,
         sender: str | None, since: str | None, until: str | None) -> None:
    """Messages of ADDRESS the snapshots hold, newest first, each with a restore id."""
    rows = service.find(app.ctx(), app.settings(), address, folder, subject, sender, since,
                        until)
    if app.as_json:
        _json([_entry_dict(e) for e in rows])
        return
    table([(e.restore_id(), e.snapshot[:8], e.folder, _when(e.internal_date),
            e.sender[:40], e.subject[:60]) for e in rows],
          ["RESTORE ID", "SNAPSHOT", "FOLDER", "DATE (UTC)", "FROM", "SUBJECT"])


def _done(app: App, r: Restored) -> None:
    if app.as_json:
        _json(r.to_dict())
        return
    where = ", ".join(r.folders) or "-"
    click.echo(f"{r.restored} message(s) ({format_size(r.bytes)}) restored into {r.account} "
               f"({where}); {r.skipped} already there")
    if r.aliases:
        click.echo(f"aliases pointing at it again: {', '.join(r.aliases)}")


@restore.command("message", reads=True)
@click.argument("address")
@click.argument("restore_id")
@click.option("--to-folder", default=None, metavar="F", help="Into this folder instead of "
              "the message's own (created if missing), e.g. Restored.")
@pass_app
def restore_message(app: App, address: str, restore_id: str, to_folder: str | None) -> None:
    """Put back one message (RESTORE_ID from `restore find`), with its flags and date."""
    _done(app, service.restore_message(app.ctx(), app.settings(), address, restore_id,
                                       to_folder))


@restore.command("folder", reads=True)
@click.argument("address")
@click.argument("folder")
@click.option("--snapshot", "snapshot_id", required=True, metavar="ID", help="Snapshot id.")
@click.option("--to-folder", default=None, metavar="F", help="Into this folder instead.")
@pass_app
def restore_folder(app: App, address: str, folder: str, snapshot_id: str,
                   to_folder: str | None) -> None:
    """Put back a folder as the snapshot holds it (messages still there are skipped)."""
    _done(app, service.restore_folder(app.ctx(), app.settings(), address, folder,
                                      snapshot_id, to_folder))


@restore.command("account", reads=True)
@click.argument("address")
@click.option("--snapshot", "snapshot_id", required=True, metavar="ID", help="Snapshot id.")
@click.option("--into", default=None, metavar="OTHER_ADDRESS", help="Into another account.")
@pass_app
def restore_account(app: App, address: str, snapshot_id: str, into: str | None) -> None:
    """Put back every folder of an account as the snapshot holds it."""
    _done(app, service.restore_account(app.ctx(), app.settings(), address, snapshot_id, into))


@restore.command("shared", reads=True)
@click.argument("tenant")
@click.option("--snapshot", "snapshot_id", required=True, metavar="ID",
              help="A snapshot of the tenant (or of everything).")
@click.option("--calendar", default=None, metavar="NAME",
              help="Only this shared calendar (e.g. room-1).")
@pass_app
def restore_shared(app: App, tenant: str, snapshot_id: str, calendar: str | None) -> None:
    """Put back a tenant's shared calendars as the snapshot holds them: the events missing
    or changed since (never doubled), a removed calendar made again."""
    done = service.restore_shared(app.ctx(), app.settings(), tenant, snapshot_id, calendar)
    if app.as_json:
        _json(done.to_dict())
        return
    made = f"; made again: {', '.join(done.created)}" if done.created else ""
    click.echo(f"{len(done.calendars)} shared calendar(s) of {done.tenant} restored "
               f"({', '.join(done.calendars)}): {done.items} event(s) written, "
               f"{done.unchanged} already there{made}")


# ---------------------------------------------------------------- zenmail vault

vault = Group("vault", help="The snapshot repository itself.")


@vault.command("verify", reads=True)
@click.option("--read-data-subset", default=None, metavar="N%",
              help="Also read and check this share of the stored data (e.g. 5%).")
@pass_app
def verify(app: App, read_data_subset: str | None) -> None:
    """restic's check of the repository, and every catalogue against its snapshot."""
    report = service.verify(app.ctx(), app.settings(), read_data_subset)
    if app.as_json:
        _json(report)
    else:
        for line in report["problems"]:
            click.echo(f"PROBLEM: {line}")
        click.echo(f"{report['snapshots']} snapshot(s), {report['messages']} catalogued "
                   f"message(s) checked: {'clean' if report['ok'] else 'DAMAGED'}")
    if not report["ok"]:
        click.get_current_context().exit(1)  # damaged: 1, as restic check says it


@vault.command("prune", reads=True)
@pass_app
def prune(app: App) -> None:
    """Apply the retention now ([vault] keep_*): restic forget per scope, then prune."""
    kept = service.prune(app.ctx(), app.settings())
    if app.as_json:
        _json({"before": kept.before, "after": kept.after, "removed": kept.removed})
    else:
        click.echo(f"{kept.removed} snapshot(s) forgotten, {kept.after} kept")


@vault.command("retention", reads=True)
@click.argument("tenant", required=False)
@click.option("--hourly", type=click.IntRange(0, 10_000), default=None,
              help="Hourly snapshots of the tenant kept.")
@click.option("--daily", type=click.IntRange(0, 10_000), default=None,
              help="Daily snapshots kept.")
@click.option("--monthly", type=click.IntRange(0, 10_000), default=None,
              help="Monthly snapshots kept.")
@click.option("--last", type=click.IntRange(0, 10_000), default=None,
              help="The latest snapshots kept whatever their time.")
@click.option("--default", "reset", is_flag=True,
              help="Back to the installation's default ([vault] keep_*) first.")
@pass_app
def retention(app: App, tenant: str | None, hourly: int | None, daily: int | None,
              monthly: int | None, last: int | None, reset: bool) -> None:
    """Show the retention of every tenant, or set a tenant's own (applied to its tenant and
    account snapshots by the next `vault prune` or scheduled run)."""
    keep = {"hourly": hourly, "daily": daily, "monthly": monthly, "last": last}
    if any(v is not None for v in keep.values()) or reset:
        if not tenant:
            raise click.UsageError("name the tenant whose retention to set")
        rows = [service.set_retention(app.ctx(), app.settings(), tenant, keep, reset)]
    else:
        rows = service.retention_policies(app.ctx(), app.settings(), tenant)
    if app.as_json:
        _json([r.to_dict() for r in rows])
        return
    table([(r.tenant, str(r.keep_hourly), str(r.keep_daily), str(r.keep_monthly),
            str(r.keep_last), "own" if r.own else "default") for r in rows],
          ["TENANT", "HOURLY", "DAILY", "MONTHLY", "LAST", "POLICY"])


@vault.command("erase", reads=True)
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do it: the account, its mail and every copy in "
              "the snapshots are gone for good.")
@pass_app
def erase(app: App, address: str, yes: bool) -> None:
    """Erase a person on request: the account, its mailbox, and its mail and directory row
    in every snapshot (rebuilt without them). Recorded in the audit log."""
    if not yes:
        raise click.UsageError("erasing cannot be undone; add --yes")
    done = service.erase(app.ctx(), app.settings(), address)
    if app.as_json:
        _json(done)
    else:
        click.echo(f"{address} erased: {done['messages']} catalogued message(s); "
                   f"{done['rewritten']} snapshot(s) rebuilt without it, "
                   f"{done['forgotten']} forgotten")


# ---------------------------------------------------------------- export / import

@click.command("export", cls=Command, reads=True)
@click.option("--tenant", default=None, help="Every account of this tenant.")
@click.option("--account", default=None, help="This account only.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              metavar="FILE", help="The archive to write (.tar, or .tar.gz / .tgz).")
@click.option("--mbox", "with_mbox", is_flag=True, help="Also one mbox file per folder.")
@pass_app
def export(app: App, tenant: str | None, account: str | None, out: Path,
           with_mbox: bool) -> None:
    """Everything of a tenant or an account in open formats: Maildir with flags, CSV/JSON of
    accounts, aliases and quotas (with password hashes), a manifest with every file's
    SHA-256 (docs/vault.md)."""
    bar, update = _progress()
    with bar:
        manifest = service.export(app.ctx(), app.settings(), tenant, account, out, with_mbox,
                                  update)
    summary = {"file": str(out), "files": len(manifest["files"]),
               "accounts": manifest["accounts"], "scope": manifest["scope"]}
    if app.as_json:
        _json(summary)
    else:
        click.echo(f"{out}: {summary['accounts']} account(s), {summary['files']} files")


@click.command("import", cls=Command, reads=True)
@click.argument("source", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--account", default=None, metavar="ADDRESS",
              help="Into this account (a plain Maildir or mbox), or only this account of a "
              "zenmail export.")
@pass_app
def import_(app: App, source: Path, account: str | None) -> None:
    """A zenmail export (accounts with their passwords, aliases, every message, flag, date
    and folder), or a plain Maildir or mbox into one account."""
    bar, update = _progress()
    with bar:
        done = service.import_(app.ctx(), app.settings(), source, account, update)
    if app.as_json:
        _json(done)
    else:
        click.echo(f"imported {len(done['accounts'])} account(s) and {done['aliases']} "
                   "alias(es)")


COMMANDS: list[click.Command] = [snapshot, restore, vault, export, import_]
