"""The watch over the other engines and the rest of its rules, on a real database (both
backends), a real vault index file and a real certificate: the snapshot-age rule fires once
and resolves (notices at a real webhook receiver), the certificate rule and metric, the SLO
over 24 hours and 30 days, migration progress in /metrics (promtool-clean), and the LMTP
health check telling a listener that answers from one that does not, and the filter's
verdicts per tenant from its counters in a real (private) Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.unit.test_watch_alerts import hook_fixture  # noqa: F401  (found by name)
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.redisserver import RedisServer
from zenmail.directory import accounts, tenants
from zenmail.directory import domains as domain_cases
from zenmail.directory.context import Ctx
from zenmail.directory.models import Tenant
from zenmail.filtering.store import connect
from zenmail.migration.models import MigrationJob
from zenmail.migration.service import job_for
from zenmail.migration.source import SourceSpec
from zenmail.stack import health
from zenmail.stack.files import Layout, write_atomic
from zenmail.stack.tls import DAYS, certificate_paths, ensure_certificate
from zenmail.vault.catalogue import Index, SnapshotRow
from zenmail.vault.snapshot import index_path
from zenmail.watch import alerts, engines, history, metrics
from zenmail.watch.models import ProbeResult


def _settings(tmp_path: Path, url: str, **values: Any) -> Settings:
    return Settings(state_dir=tmp_path).with_values({"watch.webhook_url": url, **values})


def _snapshot(settings: Settings, sid: str, at: datetime, scope: str = "all") -> None:
    """A snapshot row as the vault's `take` writes it into its index."""
    index = Index(index_path(settings))
    try:
        index.add(SnapshotRow(sid, at.isoformat(), scope, ["acme"], 1, 0, 0), [], [])
    finally:
        index.close()


def _mine(received: list[dict[str, Any]], key: str) -> list[str]:
    return [n["state"] for n in received if n["key"] == key]


def test_an_old_snapshot_fires_once_and_a_new_one_resolves_it(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    settings = _settings(tmp_path, url, **{"alerts.snapshot_hours": 26})
    taken = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    _snapshot(settings, "a" * 64, taken)
    # A tenant's own snapshot, later, does not count: the node's mail is not all in it.
    _snapshot(settings, "b" * 64, taken + timedelta(hours=20), scope="tenant:acme")

    assert not alerts.evaluate(settings, database, taken + timedelta(hours=25))
    fired = alerts.evaluate(settings, database, taken + timedelta(hours=27))
    assert [(a.key, a.state) for a in fired] == [("snapshot_age", "firing")]
    assert "taken 27.0 h ago" in fired[0].summary
    for h in (28, 30, 40):  # still old at every evaluation: nothing more is sent
        assert alerts.evaluate(settings, database, taken + timedelta(hours=h)) == []

    _snapshot(settings, "c" * 64, taken + timedelta(hours=41))
    resolved = alerts.evaluate(settings, database, taken + timedelta(hours=42))
    assert [(a.key, a.state) for a in resolved] == [("snapshot_age", "resolved")]
    assert _mine(received, "snapshot_age") == ["firing", "resolved"]

    text = metrics.render(settings, database).decode()
    assert _value(text, "zenmail_vault_last_snapshot_timestamp_seconds") == (
        taken + timedelta(hours=41)).timestamp()
    assert _value(text, "zenmail_vault_last_snapshot_age_seconds") > 0


def _value(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


def test_no_snapshot_at_all_counts_from_the_stacks_start(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    now = datetime.now(UTC)
    started = Layout.of(tmp_path).started
    write_atomic(started, json.dumps(["postfix", "dovecot", "vault"]))
    two_days_ago = (now - timedelta(days=2)).timestamp()
    os.utime(started, (two_days_ago, two_days_ago))

    off = _settings(tmp_path, url, **{"vault.every_minutes": 0})
    assert not alerts.evaluate(off, database, now)  # no schedule: nobody expects snapshots
    on = _settings(tmp_path, url)
    fired = alerts.evaluate(on, database, now)
    assert [(a.key, a.state) for a in fired] == [("snapshot_age", "firing")]
    assert "no snapshot of everything since the stack started 48.0 h ago" in fired[0].summary
    assert "zenmail_vault_last_snapshot" not in metrics.render(on, database).decode()


def test_a_certificate_expiring_soon_fires_and_shows_in_metrics(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    settings = _settings(tmp_path, url)
    cert, _key = certificate_paths(settings)
    ensure_certificate(cert.parent, settings.hostname)
    expiry = _value(metrics.render(settings, database).decode(),
                    "zenmail_tls_certificate_expiry_timestamp_seconds")
    assert DAYS - 1 <= (expiry - datetime.now(UTC).timestamp()) / 86400 <= DAYS + 1

    assert not alerts.evaluate(settings, database)  # years ahead: fine at 14 days
    soon = _settings(tmp_path, url, **{"alerts.cert_days": DAYS + 2})
    fired = alerts.evaluate(soon, database)
    assert [(a.key, a.state) for a in fired] == [("cert_expiry", "firing")]
    assert "renew it" in fired[0].summary
    assert alerts.evaluate(soon, database) == []  # once
    assert [(a.key, a.state) for a in alerts.evaluate(settings, database)] == [
        ("cert_expiry", "resolved")]
    assert _mine(received, "cert_expiry") == ["firing", "resolved"]


def test_the_slo_over_24_hours_and_30_days(database: Database) -> None:
    now = datetime.now(UTC)
    runs = [(now - timedelta(hours=1), True, 0.4),      # both windows, good
            (now - timedelta(hours=2), True, 75.0),     # both windows, slower than the SLO
            (now - timedelta(days=2), False, None),     # 30 days only, failed
            (now - timedelta(days=10), True, 0.5),      # 30 days only, good
            (now - timedelta(days=40), False, None)]    # in neither
    with database.transaction() as s:
        for at, ok, latency in runs:
            s.add(ProbeResult(probe="roundtrip", ok=ok, latency_s=latency, at=at))
    with database.reading() as s:
        figures = {x.window: x for x in history.slo(s, 60.0, now)}
    assert (figures["24h"].runs, figures["24h"].good) == (2, 1)
    assert (figures["30d"].runs, figures["30d"].good) == (4, 2)
    assert figures["24h"].ratio == 0.5 and figures["30d"].ratio == 0.5


def test_migration_progress_per_tenant_in_metrics(ctx: Ctx, database: Database,
                                                  tmp_path: Path) -> None:
    tenants.add(ctx, "acme", "10G")
    domain_cases.add(ctx, "acme", "acme.test")
    tenants.add(ctx, "other", "10G")
    accounts.add(ctx, "a@acme.test", password="pw-for-the-test-1", quota="1G")
    accounts.add(ctx, "b@acme.test", password="pw-for-the-test-1", quota="1G")
    done = job_for(ctx, "a@acme.test", SourceSpec("imap.old.test", 993, "a"))
    running = job_for(ctx, "b@acme.test", SourceSpec("imap.old.test", 993, "b"))
    # What the migration engine records as it copies.
    with database.transaction() as s:
        for job in s.scalars(select(MigrationJob)):
            if job.id == done:
                job.status, job.messages_total, job.messages_done = "verified", 10, 10
                job.bytes_total, job.bytes_done = 1000, 1000
            elif job.id == running:
                job.status, job.messages_total, job.messages_done = "running", 30, 5
                job.bytes_total, job.bytes_done = 3000, 1000
    text = metrics.render(Settings(state_dir=tmp_path), database).decode()
    assert 'zenmail_migration_jobs{status="verified",tenant="acme"} 1.0' in text
    assert 'zenmail_migration_jobs{status="running",tenant="acme"} 1.0' in text
    assert 'zenmail_migration_messages{state="source",tenant="acme"} 40.0' in text
    assert 'zenmail_migration_messages{state="copied",tenant="acme"} 15.0' in text
    assert 'zenmail_migration_progress_ratio{tenant="acme"} 0.5' in text
    assert 'tenant="other"' not in text.split("zenmail_migration_jobs")[1].split("# HELP")[0]
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout

    # A tenant administrator's scrape: its own tenant's migrations only.
    other = metrics.render(Settings(state_dir=tmp_path), database,
                           tenant_id=_tid(database, "other"))
    assert b"zenmail_migration_jobs{" not in other


def _tid(database: Database, name: str) -> int:
    with database.reading() as s:
        return s.scalars(select(Tenant.id).where(Tenant.name == name)).one()


def test_the_lmtp_check_tells_an_answering_listener_from_a_hung_one() -> None:
    # A listener whose process stopped (SIGSTOP) still completes TCP handshakes from the
    # kernel's backlog, then says nothing: exactly what this socket does.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    answering = socket.socket()
    answering.bind(("127.0.0.1", 0))
    answering.listen(8)

    def lmtp() -> None:
        conn, _ = answering.accept()
        with conn:
            conn.sendall(b"220 test LMTP ready\r\n")
            conn.recv(1024)
            conn.sendall(b"250-test\r\n250 PIPELINING\r\n")
            conn.recv(1024)

    threading.Thread(target=lmtp, daemon=True).start()
    try:
        assert health.smtp("127.0.0.1", answering.getsockname()[1], "LHLO") is None
        failed = health.smtp("127.0.0.1", hung.getsockname()[1], "LHLO", timeout=1.0)
        assert failed is not None and "did not answer LHLO" in failed
    finally:
        hung.close()
        answering.close()


def test_filter_verdicts_per_tenant_from_the_filters_counters(
        ctx: Ctx, database: Database, tmp_path: Path, redis_server: RedisServer) -> None:
    """The counters rspamd's zenmail rule keeps per tenant and day (HINCRBY zm:st:T:DAY
    spam|virus|phishing), summed over the days, in /metrics and for each tenant its own."""
    tenants.add(ctx, "acme", "10G")
    tenants.add(ctx, "other", "10G")
    r = connect(redis_server.endpoint)
    run = f"{os.getpid()}{datetime.now(UTC):%H%M%S%f}"
    acme, other = f"acme{run}", f"other{run}"  # the private Redis is shared by the session
    for key, field, n in [(f"zm:st:{acme}:20261127", "spam", 2),
                          (f"zm:st:{acme}:20261128", "spam", 3),
                          (f"zm:st:{acme}:20261128", "virus", 1),
                          (f"zm:st:{acme}:20261128", "outbound", 9),
                          (f"zm:st:{other}:20261128", "phishing", 4)]:
        r.hincrby(key, field, n)
    settings = Settings(state_dir=tmp_path).with_values(
        {"filter.enabled": True, "endpoints.redis": redis_server.endpoint})
    text = metrics.render(settings, database).decode()
    assert f'zenmail_filter_verdicts_total{{tenant="{acme}",verdict="spam"}} 5.0' in text
    assert f'zenmail_filter_verdicts_total{{tenant="{acme}",verdict="virus"}} 1.0' in text
    assert f'zenmail_filter_verdicts_total{{tenant="{acme}",verdict="phishing"}} 0.0' in text
    assert f'zenmail_filter_verdicts_total{{tenant="{other}",verdict="phishing"}} 4.0' in text
    assert "outbound" not in text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout

    # Without the filter, or with Redis gone, the scrape still answers, without the series.
    off = settings.with_values({"filter.enabled": False})
    assert "zenmail_filter_verdicts_total{" not in metrics.render(off, database).decode()
    gone = settings.with_values({"endpoints.redis": f"unix:{tmp_path / 'nowhere.sock'}"})
    assert "zenmail_filter_verdicts_total{" not in metrics.render(gone, database).decode()


def test_snapshot_times_in_restics_spelling_count_too(tmp_path: Path) -> None:
    """A snapshot the index learnt from the repository (`vault` sync) carries restic's time:
    RFC 3339 with nanoseconds, in the local offset of the machine that took it. The newest
    is found by time, not by text."""
    settings = Settings(state_dir=tmp_path)
    index = Index(index_path(settings))
    try:
        # 23:30 UTC on the 28th, written as 01:30 on the 29th at +02:00.
        index.add(SnapshotRow("e" * 64, "2026-11-29T01:30:00.123456789+02:00", "all", [], 0,
                              0, 0), [], [])
    finally:
        index.close()
    assert engines.last_snapshot(settings) == datetime(2026, 11, 28, 23, 30, 0, 123456,
                                                       tzinfo=UTC)
    _snapshot(settings, "d" * 64, datetime(2026, 11, 28, 23, 45, tzinfo=UTC))
    assert engines.last_snapshot(settings) == datetime(2026, 11, 28, 23, 45, tzinfo=UTC)
