"""Alert rules, their state, and their notices (mail to `[watch] admin_email`, JSON POST to
`[watch] webhook_url`).

Each rule yields conditions under a key (`probe_failing:roundtrip`, `deferred_queue`,
`disk_free:mail`, `restarts:dovecot`, `cert_expiry`, `snapshot_age`, `incident:postfix`).
A key whose condition starts to hold opens one alert and sends one "firing" notice; while
it holds, nothing more is sent (de-duplication: at most one open alert per key, in the
`alerts` table); when it stops holding, the alert is closed and one "resolved" notice is
sent.
Thresholds come from `[alerts]` in the settings file.

`incident:<service>` is the supervisor's record turned into an alert: a daemon that died
or hung (events.jsonl) fires it even if it was back a second later; it is resolved once the
daemon was restarted and answers its protocol again.
"""

from __future__ import annotations

import json
import smtplib
import sys
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Ctx
from zenmail.directory.views import View
from zenmail.stack.files import Layout
from zenmail.stack.registry import port_plan
from zenmail.stack.supervisor import read_events
from zenmail.watch import engines, history, observe
from zenmail.watch.models import Alert
from zenmail.watch.probes import PROBES

RESTART_WINDOW = timedelta(minutes=10)
INCIDENT_EVENTS = ("died", "hung", "restart_failed")
# An incident older than this when the watch first looks is history, not news.
INCIDENT_HORIZON = timedelta(hours=1)


@dataclass
class AlertInfo(View):
    key: str
    rule: str
    summary: str
    state: str  # "firing" | "resolved"
    fired_at: str
    resolved_at: str | None

    @classmethod
    def of(cls, a: Alert) -> AlertInfo:
        return cls(a.key, a.rule, a.summary, "resolved" if a.resolved_at else "firing",
                   a.fired_at.isoformat(), a.resolved_at.isoformat() if a.resolved_at else None)


def conditions(settings: Settings, s: Session, now: datetime) -> dict[str, str]:
    """Every rule's key that holds now, with a sentence saying what is wrong."""
    rules = settings.alerts
    out: dict[str, str] = {}
    for probe in PROBES:
        streak = history.failing_streak(s, probe.name, rules.probe_failures)
        if streak >= rules.probe_failures:
            out[f"probe_failing:{probe.name}"] = (
                f"the {probe.name} probe failed {streak} times in a row")
    deferred = observe.queues(settings)["deferred"]
    if deferred > rules.deferred_queue:
        out["deferred_queue"] = (f"{deferred} messages wait in Postfix's deferred queue "
                                 f"(more than {rules.deferred_queue})")
    for d in observe.disks(settings):
        if d.free_percent < rules.disk_free_percent:
            out[f"disk_free:{d.volume}"] = (f"only {d.free_percent:.1f} % free on the {d.volume} "
                                            f"volume ({d.path})")
    for service, n in observe.restarts(settings, RESTART_WINDOW).items():
        if n > rules.restarts:
            out[f"restarts:{service}"] = f"{service} was restarted {n} times in 10 minutes"
    expiry = observe.certificate_expiry(settings)
    if expiry is not None and expiry - now < timedelta(days=rules.cert_days):
        days = (expiry - now).total_seconds() / 86400
        out["cert_expiry"] = (f"the TLS certificate expires in {days:.1f} days "
                              f"({expiry:%Y-%m-%d}); renew it")
    stale = _snapshot_age(settings, now)
    if stale:
        out["snapshot_age"] = stale
    out.update(_incidents(settings, s, now))
    return out


def _snapshot_age(settings: Settings, now: datetime) -> str | None:
    """Why the vault's newest snapshot of everything is too old, if it is. Before the first
    one, the clock starts with the stack (the last `zenmail up`), and only where the
    schedule takes snapshots."""
    limit = timedelta(hours=settings.alerts.snapshot_hours)
    last = engines.last_snapshot(settings)
    if last is not None:
        if now - last <= limit:
            return None
        return (f"the last snapshot of everything was taken {_hours(now - last)} ago "
                f"({last:%Y-%m-%d %H:%M} UTC; more than {settings.alerts.snapshot_hours:g} h); "
                "see `zenmail snapshot list` and STATE/log/vault.log")
    started = Layout.of(settings.state_dir).started
    if not settings.vault.every_minutes or not started.exists():
        return None
    up_since = datetime.fromtimestamp(started.stat().st_mtime, UTC)
    if now - up_since <= limit:
        return None
    return (f"no snapshot of everything since the stack started {_hours(now - up_since)} "
            "ago; see STATE/log/vault.log, or take one: `zenmail snapshot --all`")


def _hours(span: timedelta) -> str:
    h = span.total_seconds() / 3600
    return f"{h:.1f} h" if h >= 1 else f"{span.total_seconds():.0f} s"


def _incidents(settings: Settings, s: Session, now: datetime) -> dict[str, str]:
    events = read_events(settings.state_dir)
    healthy = {f.name: f.healthy for f in observe.services(settings)}
    out: dict[str, str] = {}
    for service in {e["service"] for e in events}:
        mine = [e for e in events if e["service"] == service]
        bad = [e for e in mine if e["event"] in INCIDENT_EVENTS]
        if not bad:
            continue
        last_bad = datetime.fromisoformat(bad[-1]["at"])
        key = f"incident:{service}"
        newest = s.scalar(select(Alert).where(Alert.key == key).order_by(Alert.id.desc())
                          .limit(1))
        open_now = newest is not None and newest.resolved_at is None
        news = (last_bad > now - INCIDENT_HORIZON
                and (newest is None or last_bad > newest.fired_at))
        recovered = (mine[-1]["event"] == "restarted" and healthy.get(service, False))
        if news or (open_now and not recovered):
            # Named by how it began (a hang is recorded before the kill that ends it).
            since = now - INCIDENT_HORIZON
            if newest is not None and not open_now:
                since = max(since, newest.fired_at)
            first = next((e for e in bad if datetime.fromisoformat(e["at"]) > since), bad[-1])
            what = first["event"].replace("_", " ")
            detail = f" ({first['error']})" if first.get("error") else ""
            out[key] = (f"{service} {what} at {datetime.fromisoformat(first['at']):%H:%M:%S} "
                        f"UTC{detail}; the supervisor restarts it")
    return out


def evaluate(settings: Settings, db: Database, now: datetime | None = None
             ) -> list[AlertInfo]:
    """Open alerts whose condition began, close those whose condition ended, and send a
    notice for each change. Returns the changes."""
    now = now or datetime.now(UTC)
    changes: list[AlertInfo] = []
    with db.transaction() as s:
        holding = conditions(settings, s, now)
        open_alerts = {a.key: a for a in s.scalars(select(Alert).where(
            Alert.resolved_at.is_(None)))}
        for key, summary in holding.items():
            if key not in open_alerts:
                a = Alert(key=key, rule=key.split(":", 1)[0], summary=summary, fired_at=now)
                s.add(a)
                changes.append(AlertInfo.of(a))
        for key, a in open_alerts.items():
            if key not in holding:
                a.resolved_at = now
                changes.append(AlertInfo.of(a))
    for change in changes:
        notify(settings, change)
    return changes


def notify(settings: Settings, alert: AlertInfo) -> None:
    """One notice by every configured way; a failed one is logged, never raised: the others
    still go, and the alert stays recorded."""
    w = settings.watch
    if w.webhook_url:
        try:
            post(w.webhook_url, {**alert.to_dict(), "node": settings.hostname})
        except OSError as exc:
            print(f"watch: webhook {w.webhook_url} failed: {exc}", file=sys.stderr, flush=True)
    if w.admin_email:
        try:
            mail(settings, w.admin_email, alert)
        except (OSError, smtplib.SMTPException) as exc:
            print(f"watch: alert mail to {w.admin_email} failed: {exc}", file=sys.stderr,
                  flush=True)


def post(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "zenmail-watch"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def mail(settings: Settings, to: str, alert: AlertInfo) -> None:
    """Through this node's own Postfix, on its loopback listener (no login needed there)."""
    msg = EmailMessage()
    sender = f"zenmail-watch@{settings.hostname}"
    msg["From"] = sender
    msg["To"] = to
    word = "RESOLVED" if alert.state == "resolved" else "FIRING"
    msg["Subject"] = f"[zenmail {word}] {alert.key}: {alert.summary}"[:250]
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=settings.hostname)
    msg["X-Zenmail-Alert"] = f"{alert.key} {alert.state}"
    msg.set_content(f"{word}: {alert.summary}\n\nalert: {alert.key}\nnode: {settings.hostname}"
                    f"\nfired at: {alert.fired_at}\nresolved at: {alert.resolved_at or '-'}\n\n"
                    "`zenmail alerts list` shows every alert; docs/watch.md says what to do.\n")
    with smtplib.SMTP("127.0.0.1", port_plan(settings)["submit"], timeout=30) as smtp:
        smtp.send_message(msg, from_addr=sender, to_addrs=[to])


def listing(ctx: Ctx, limit: int = 100) -> list[AlertInfo]:
    """Open alerts first, then the latest resolved ones (node-wide: global administrators)."""
    ctx.require_global("list the node's alerts")
    with ctx.reading() as s:
        rows = list(s.scalars(select(Alert).order_by(Alert.resolved_at.is_not(None),
                                                     Alert.id.desc()).limit(limit)))
    return [AlertInfo.of(a) for a in rows]
