"""`zenmail probe run`, `alerts list`, `doctor`, `trace`, `install-service`: the live watch
(docs/watch.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from zenmail.cli.app import App, Command, Group, pass_app
from zenmail.cli.output import emit, table
from zenmail.stack.manager import running_settings
from zenmail.watch import alerts as alerts_mod
from zenmail.watch import doctor, service, trace
from zenmail.watch.runner import run_round

probe = Group("probe", help="End-to-end probes of this node's mail service.")


@probe.command("run", reads=True, acts=False)
@pass_app
def probe_run(app: App) -> None:
    """One round of every probe now (submission to mailbox, MX path, IMAP login), with
    latencies; the results join the probe history."""
    settings = running_settings(app.settings())
    outcomes = run_round(settings, app.database())
    if app.as_json:
        click.echo(json.dumps([o.to_dict() for o in outcomes], indent=2, sort_keys=True))
    else:
        table([(o.probe, "ok" if o.ok else "FAILED",
                f"{o.latency_s * 1000:.0f} ms" if o.latency_s is not None else "-",
                o.error or "") for o in outcomes], ["PROBE", "RESULT", "LATENCY", "ERROR"])
    if not all(o.ok for o in outcomes):
        click.get_current_context().exit(1)


alerts = Group("alerts", help="Alerts of this node: open ones and the latest resolved.")


@alerts.command("list", reads=True)
@click.option("--limit", default=100, show_default=True, help="At most this many alerts.")
@pass_app
def alerts_list(app: App, limit: int) -> None:
    """Open alerts first, then the latest resolved ones (global administrators)."""
    found = alerts_mod.listing(app.ctx(), limit)
    emit(app, found, lambda: table(
        [(a.state, a.key, a.fired_at[:19], (a.resolved_at or "-")[:19], a.summary)
         for a in found], ["STATE", "ALERT", "FIRED", "RESOLVED", "SUMMARY"]))


@click.command("install-service", cls=Command, acts=False)
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path),
              default=service.UNIT_PATH, show_default=True, help="Where to write the unit.")
@pass_app
def install_service(app: App, path: Path) -> None:
    """Write a systemd unit that starts the stack at boot and restarts the supervisor if it
    dies; then run `systemctl daemon-reload && systemctl enable --now zenmail`."""
    written = service.install(app.settings(), path)
    click.echo(f"wrote {written}; now run: systemctl daemon-reload && systemctl enable --now "
               f"{written.stem}")


@click.command("trace", cls=Command, reads=True)
@click.option("--message-id", default=None, help="The message's Message-ID (with or "
              "without <>).")
@click.option("--from", "sender", default=None, help="Its envelope sender.")
@click.option("--to", "recipient", default=None, help="One of its recipients.")
@click.option("--since", default=None, help="Only mail received since then: 30m, 2h, 7d or "
              "an ISO date such as 2026-11-28T09:00 (UTC).")
@pass_app
def trace_(app: App, message_id: str | None, sender: str | None, recipient: str | None,
           since: str | None) -> None:
    """Where is my email? Each matching message: queue id, sender, the filter's verdict
    (rspamd's action and score), and per recipient the status (sent, deferred, bounced,
    rejected), the relay, the reason and the folder."""
    found = trace.trace(app.ctx(), running_settings(app.settings()), message_id=message_id,
                        sender=sender, recipient=recipient, since=since)

    def text() -> None:
        if not found:
            click.echo("no message matches (the logs cover what this node handled since "
                       "they were last rotated)")
        for t in found:
            click.echo(f"{t.received_at[:19]}  {t.queue_id or 'NOQUEUE':<12} {t.status:<9} "
                       f"from=<{t.sender}> message-id=<{t.message_id}>"
                       + (f" login={t.login}" if t.login else ""))
            if t.filter_action:
                click.echo(f"    filter: {t.filter_action} (score {t.filter_score:.2f}, "
                           f"refused from {t.filter_threshold:.2f})")
            for d in t.deliveries:
                where = f" folder={d.folder}" if d.folder else ""
                relay = f" relay={d.relay}" if d.relay else ""
                click.echo(f"    to=<{d.recipient}> {d.status}{relay}{where}"
                           + (f" dsn={d.dsn}" if d.dsn else "") + f": {d.reason}")

    emit(app, found, text)


@click.command("doctor", cls=Command, reads=True, acts=False)
@pass_app
def doctor_(app: App) -> None:
    """Check DNS (MX, SPF, DKIM, DMARC of every domain), the certificate, the listening
    ports, disk, the database schema, the clock and the daemons' versions; each problem
    with what to do. Exit code 1 if something failed."""
    settings = running_settings(app.settings())
    findings = doctor.run(settings, app.database())
    if app.as_json:
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2, sort_keys=True))
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "    "}
        for f in findings:
            click.echo(f"{marks[f.status]}  {f.check:<11} {f.subject}: {f.message}")
            if f.fix and f.status in ("warn", "fail"):
                click.echo(f"{'':<17}-> {f.fix}")
        failed = sum(f.status == "fail" for f in findings)
        warned = sum(f.status == "warn" for f in findings)
        click.echo(f"{failed} failed, {warned} warnings, "
                   f"{sum(f.status == 'ok' for f in findings)} ok")
    if any(f.status == "fail" for f in findings):
        click.get_current_context().exit(1)


COMMANDS: list[click.Command] = [probe, alerts, install_service, trace_, doctor_]
