"""`zenmail migrate …`: move mailboxes from another IMAP server, with proof.

The target is written through the stack's own Dovecot (`doveadm exec imap`), so this runs
on the mail host, as root, like `zenmail up`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from zenmail.cli.app import App, Group, WholeNumber, pass_app
from zenmail.cli.output import emit, read_password, table
from zenmail.config import Settings
from zenmail.migration import engine, projects, runs, service
from zenmail.migration.cutover import check_mx
from zenmail.migration.engine import Options
from zenmail.migration.report import to_html
from zenmail.migration.secrets import SecretBox
from zenmail.migration.source import TLS_MODES, parse_url
from zenmail.sizes import format_size

PLAIN_EVERY = 2.0  # seconds between two plain progress lines of one account
group = Group("migrate", help="Move mailboxes from another IMAP server, with proof.")


def target_command(settings: Settings) -> service.TargetCommand:
    """A pre-authenticated IMAP session on this stack's Dovecot for one address."""
    return runs.stack_target(settings)


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
@click.option("--source-oauth2", is_flag=True,
              help="The line on standard input is an OAuth2 access token for the source "
                   "mailbox (SASL XOAUTH2: Microsoft 365, Gmail), not a password.")
@click.option("--sync-deletions", is_flag=True,
              help="Also delete at zenmail what was deleted at the source since the "
                   "last run.")
@pass_app
def account(app: App, address: str, source_url: str, source_tls: str, source_insecure: bool,
            source_master: str | None, source_password_stdin: bool, source_oauth2: bool,
            sync_deletions: bool) -> int:
    """Copy one mailbox now, verify it by content, print the verdict.

    Exits 0 only when the verdict is "zero loss"; otherwise 1, naming each missing message.
    Re-running copies only what is new and updates flags (a delta).
    """
    spec = parse_url(source_url, source_tls, source_insecure, source_master, source_oauth2)
    password = read_password(source_password_stdin)
    options = _options(app, sync_deletions)
    with _progress_display(overall=False) as (started, progress):
        started(0, address)
        outcome = service.migrate(app.ctx(), address, spec, password,
                                  target_command(app.settings()), options,
                                  lambda _job, *figures: progress(0, *figures))
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


Started = Callable[[int, str], None]


@contextmanager
def _progress_display(overall: bool) -> Iterator[tuple[Started, engine.Progress]]:
    """Progress of long copies on standard error: rich bars per account (and overall) on a
    terminal; otherwise (a pipe, a log, cron) plain lines an administrator can follow,
    one per account and overall at most every PLAIN_EVERY seconds, and each account's last."""
    console = Console(stderr=True)
    lock = threading.Lock()
    names: dict[int, str] = {}
    figures: dict[int, tuple[int, int, int, int]] = {}
    if not console.is_terminal:
        said: dict[int, float] = {}

        def line(what: str, done: int, total: int, done_b: int, total_b: int) -> None:
            click.echo(f"progress {what}: {done}/{total} messages, "
                       f"{format_size(done_b)}/{format_size(total_b)}", err=True)

        def plain_started(job: int, address: str) -> None:
            with lock:
                names[job] = address

        def plain(job: int, done: int, done_b: int, total: int, total_b: int) -> None:
            with lock:
                figures[job] = (done, total, done_b, total_b)
                now = time.monotonic()
                if done < total and now - said.get(job, -PLAIN_EVERY) < PLAIN_EVERY:
                    return
                said[job] = now
                line(names.get(job, "?"), done, total, done_b, total_b)
                if overall and len(figures) > 0:
                    d, t, db, tb = (sum(f[i] for f in figures.values()) for i in range(4))
                    line("all accounts", d, t, db, tb)

        yield plain_started, plain
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console) as bar:
        whole = bar.add_task("all accounts", total=None) if overall else None
        tasks: dict[int, TaskID] = {}

        def bar_started(job: int, address: str) -> None:
            with lock:
                tasks[job] = bar.add_task(address, total=None)

        def update(job: int, done: int, done_b: int, total: int, total_b: int) -> None:
            with lock:
                figures[job] = (done, total, done_b, total_b)
                bar.update(tasks[job], completed=done, total=total)
                if whole is not None:
                    bar.update(whole, completed=sum(f[0] for f in figures.values()),
                               total=sum(f[1] for f in figures.values()))

        yield bar_started, update


def _box(app: App) -> SecretBox:
    return runs.box_of(app.settings())


def _options(app: App, sync_deletions: bool = False) -> Options:
    return runs.options_of(app.settings(), sync_deletions)


project = Group("project", help="Projects: many accounts, limits, a plan, day X.")
group.add_command(project)


@project.command("add", reads=True)
@click.argument("name")
@click.argument("accounts_csv", metavar="accounts.csv", type=click.File("r"))
@click.option("--concurrency", type=WholeNumber(1, 64), default=4, show_default=True,
              help="Accounts copied at once.")
@click.option("--max-msgs-per-s", type=float, default=0.0,
              help="Throttle for the whole project, messages per second (0: none).")
@click.option("--max-bytes-per-s", type=WholeNumber(0), default=0,
              help="Throttle for the whole project, bytes per second (0: none).")
@click.option("--day-x", metavar="YYYY-MM-DD", help="The day the MX switches.")
@click.option("--presync", metavar="YYYY-MM-DD", multiple=True,
              help="A pre-sync round before day X (repeatable).")
@click.option("--dav-url", metavar="URL", default=None,
              help="The old server's CalDAV/CardDAV URL: copy each account's calendars and "
              "contacts too, with the same login (see docs/dav.md).")
@pass_app
def project_add(app: App, name: str, accounts_csv: TextIO, concurrency: int,
                max_msgs_per_s: float, max_bytes_per_s: int, day_x: str | None,
                presync: tuple[str, ...], dav_url: str | None) -> None:
    """Make a project from a CSV of accounts.

    Columns: source (imap://USER@HOST:PORT), source_tls (none|starttls|tls), target
    (the zenmail address), password, or master_user and master_password; optional pilot
    and insecure (yes/no). Passwords are stored encrypted with the state directory's key.
    """
    st = projects.add(app.ctx(), name, accounts_csv.read(), _box(app), concurrency,
                      max_msgs_per_s, max_bytes_per_s, day_x, list(presync), dav_url)
    emit(app, st.to_dict(), lambda: click.echo(
        f"project {st.name} ({st.tenant}): {len(st.accounts)} account(s), "
        f"{sum(a.pilot for a in st.accounts)} pilot(s); run it with "
        f"`zenmail migrate run {st.name}`"))


@project.command("list", reads=True)
@pass_app
def project_list(app: App) -> None:
    """The projects you manage."""
    found = projects.list_all(app.ctx())
    emit(app, {"projects": [p.to_dict() for p in found]}, lambda: table(
        [(p.name, p.tenant, len(p.accounts),
          f"{sum(a.messages_done for a in p.accounts)}/"
          f"{sum(a.messages_total for a in p.accounts)}",
          sum(a.verdict == "zero loss" for a in p.accounts)) for p in found],
        ["PROJECT", "TENANT", "ACCOUNTS", "MESSAGES", "ZERO LOSS"]))


@project.command("remove")
@click.argument("name")
@pass_app
def project_remove(app: App, name: str) -> None:
    """Forget a project, its state and its stored passwords (copied mail stays)."""
    projects.remove(app.ctx(), name)
    click.echo(f"removed project {name}")


def _run(app: App, name: str, account: str | None, pilot: bool, copy: bool) -> int:
    with _progress_display(overall=True) as (started, progress):
        summary = projects.run(app.ctx(), name, _box(app), target_command(app.settings()),
                               _options(app), account, pilot, copy, progress, started,
                               settings=app.settings())
    for r in summary.reports:
        t = r.get("totals") or {}
        line = (f"{r['account']}: {r['verdict']} ({t.get('migrated_messages', 0)}/"
                f"{t.get('source_messages', 0)} messages)")
        click.echo(line + (f" — {r['error']}" if r.get("error") else ""))
        _say_missing(r)
        dav = r.get("dav")
        if dav:
            click.echo(f"{r['account']}: calendars and contacts {dav['verdict']}"
                       + (f" ({dav['copied']} copied, {dav['unchanged']} unchanged of "
                          f"{dav['items']})" if "items" in dav else ""))
            for c in dav.get("collections", []):
                for uid in c.get("missing", []):
                    click.echo(f"  missing in {c['target']}: {uid}")
    ok = summary.zero_loss
    click.echo(f"project {name}: {'zero loss' if ok else 'NOT zero loss'} for "
               f"{sum(r['verdict'] == 'zero loss' for r in summary.reports)} of "
               f"{len(summary.reports)} account(s)")
    return 0 if ok else 1


@group.command("run")
@click.argument("name")
@click.option("--account", metavar="ADDRESS", help="Only this account of the project.")
@click.option("--pilot", is_flag=True, help="Only the pilot accounts.")
@pass_app
def run(app: App, name: str, account: str | None, pilot: bool) -> int:
    """Copy (or bring up to date) and verify the project's accounts; exit 0 only when
    every one is zero loss."""
    return _run(app, name, account, pilot, copy=True)


@group.command("verify")
@click.argument("name")
@pass_app
def verify_cmd(app: App, name: str) -> int:
    """Compare every account with its source by content now, without copying."""
    return _run(app, name, None, False, copy=False)


@group.command("status", reads=True)
@click.argument("name")
@pass_app
def status(app: App, name: str) -> None:
    """Where each account stands: messages copied, verdict, error."""
    st = projects.status(app.ctx(), name)

    def text() -> None:
        plan = st.plan
        click.echo(f"project {st.name} ({st.tenant}), concurrency {st.concurrency}"
                   + (f", day X {plan['day_x']}" if plan.get("day_x") else "")
                   + (f", pre-syncs {', '.join(plan['presync'])}" if plan.get("presync")
                      else ""))
        table([(a.account + (" (pilot)" if a.pilot else ""), a.source, a.status,
                f"{a.messages_done}/{a.messages_total}", format_size(a.bytes_done),
                a.verdict or "-", a.error or "") for a in st.accounts],
              ["ACCOUNT", "SOURCE", "STATUS", "MESSAGES", "COPIED", "VERDICT", "ERROR"])

    emit(app, st.to_dict(), text)


@group.command("report", reads=True)
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Where to write the HTML report.")
@pass_app
def report(app: App, name: str, out: str) -> None:
    """Write the last verification of every account as HTML (--json: print the sealed
    JSON too)."""
    doc = projects.project_report(app.ctx(), name)
    Path(out).write_text(to_html(doc["accounts"], f"Migration {name}: {doc['verdict']}"))
    emit(app, doc, lambda: click.echo(f"wrote {out}: {doc['verdict']} "
                                      f"(sha256 {doc['sha256']})"))


@group.command("cutover")
@click.argument("name")
@pass_app
def cutover(app: App, name: str) -> int:
    """Day X: the final delta and verification of every account, then check that each
    domain's MX points at zenmail (a warning if not)."""
    code = _run(app, name, None, False, copy=True)
    settings = app.settings()
    for domain in projects.domains_of(app.ctx(), name):
        mx = check_mx(domain, settings.hostname, settings.migration.dns_server)
        click.echo(("ok: " if mx.ok else "WARNING: ") + mx.message, err=not mx.ok)
    return code


COMMANDS: list[click.Command] = [group]
