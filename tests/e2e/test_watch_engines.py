"""The watch over the other engines, on one real stack with the API, the filter (rspamd, a
DNS server on loopback), Radicale and the vault: the CalDAV probe, the age of the last
snapshot (metric, and an alert received by a test webhook server, once, then resolved), and
the filter's verdict in the trace. (The verdict counters in /metrics are rspamd's counters in
Redis, which a GTUBE refusal never reaches: tests/unit/test_watch_engines.py reads them.)"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import HASHER, PASSWORD, wait_for
from tests.e2e.test_watch import ADMIN_MAILBOX, DOMAIN, WatchStack, Webhook, _series, zenmail_cli
from zenmail.dav import storage
from zenmail.db import Database
from zenmail.devtools.filtering import GTUBE, DnsServer
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, admins, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.stack import manager, probeaccount
from zenmail.stack.registry import Stack

pytestmark = pytest.mark.e2e

# Short enough for a test to see a snapshot grow old, long enough that a fresh one is not.
SNAPSHOT_HOURS = 0.02  # 72 s


@pytest.fixture(scope="module")
def estack() -> Iterator[WatchStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    hook = Webhook()
    dns = DnsServer().start()
    settings = new_state(prefix="zenmail-watch-engines-",
                         watch={"probe_every_s": 30, "health_every_s": 2,
                                "webhook_url": hook.url},
                         alerts={"snapshot_hours": SNAPSHOT_HOURS},
                         filter={"enabled": True, "antivirus": False, "dnsbl": False,
                                 "nameservers": [dns.address]})
    state = settings.state_dir
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("test:e2e"), HASHER)
    tenants.add(ctx, "acme", "10G")
    domains.add(ctx, "acme", DOMAIN)
    accounts.add(ctx, ADMIN_MAILBOX, password=PASSWORD, quota="1G")
    admins.add(ctx, "root@ops.test")
    token = admins.create_token(ctx, "root@ops.test").token
    try:
        manager.up(settings, with_api=True)
        tls = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
        yield WatchStack(settings, db, ctx, Stack(settings).plan.ports(), tls, token=token,
                         webhook=hook)
    finally:
        manager.down(settings)
        hook.server.shutdown()
        dns.stop()
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)


def test_the_caldav_probe_writes_reads_and_deletes_an_event_of_its_own(
        estack: WatchStack) -> None:
    r = zenmail_cli(estack, "probe", "run", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    outcomes = {o["probe"]: o for o in json.loads(r.stdout)}
    assert outcomes["caldav"]["ok"] and outcomes["caldav"]["latency_s"] > 0, outcomes

    text = estack.get("/metrics").text
    assert _series(text, "zenmail_probe_latency_seconds")['{probe="caldav"}'] > 0
    assert _series(text, "zenmail_probe_success")['{probe="caldav"}'] == 1.0
    snap = httpx.get(estack.api + "/status.json", timeout=30).json()
    assert any(p["probe"] == "caldav" and p["ok"] for p in snap["probes"])
    assert "caldav" in httpx.get(estack.api + "/status", timeout=30).text

    # The probe's data is the probe account's own: its principal, with the event deleted;
    # no customer's principal was made or touched, and Radicale's sweep of removed
    # accounts leaves it alone.
    probe = probeaccount.address(estack.settings)
    assert storage.principals(estack.settings) == [probe]
    calendar = storage.principal_dir(estack.settings, probe) / storage.DEFAULT_CALENDAR
    assert calendar.is_dir() and not list(calendar.glob("*.ics"))
    assert estack.daemon("radicale").sweep_removed() == []  # type: ignore[attr-defined]
    assert storage.principals(estack.settings) == [probe]
    # A customer's own login still sees an empty calendar home of its own.
    alice = httpx.request("PROPFIND", f"https://127.0.0.1:{estack.ports['dav']}/"
                          f"{ADMIN_MAILBOX}/{storage.DEFAULT_CALENDAR}/",
                          auth=(ADMIN_MAILBOX, PASSWORD), headers={"Depth": "1"},
                          verify=estack.tls, timeout=30)
    assert alice.status_code == 207 and b"zenmail probe" not in alice.content


def _snapshot(stack: WatchStack) -> str:
    r = zenmail_cli(stack, "--json", "snapshot", "--all")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)["time"]  # type: ignore[no-any-return]


def test_an_old_snapshot_shows_in_metrics_fires_once_and_resolves(estack: WatchStack) -> None:
    hook = estack.webhook
    assert hook is not None
    key = "snapshot_age"
    taken = datetime.fromisoformat(_snapshot(estack))

    text = estack.get("/metrics").text
    when = _series(text, "zenmail_vault_last_snapshot_timestamp_seconds")
    assert when[""] == taken.timestamp()
    assert _series(text, "zenmail_vault_last_snapshot_age_seconds")[""] >= 0

    # A fresh snapshot: nothing open (an alert for "none since the stack started", if the
    # stack took longer than the threshold to come up, is resolved by it).
    wait_for(lambda: not hook.notices(key) or hook.notices(key)[-1] == "resolved",
             "no open snapshot alert after a fresh snapshot", timeout=120)
    seen = len(hook.notices(key))
    # The runner evaluates every 2 s; once the snapshot is older than 72 s, it fires.
    wait_for(lambda: "firing" in hook.notices(key)[seen:], "the snapshot alert at the webhook",
             timeout=300)
    firing = [n for n in hook.received if n["key"] == key][-1]
    assert "the last snapshot of everything was taken" in firing["summary"], firing
    assert datetime.now(UTC) - taken > timedelta(hours=SNAPSHOT_HOURS)
    time.sleep(3 * estack.settings.watch.health_every_s)  # more evaluations: no repeat
    assert hook.notices(key)[seen:] == ["firing"]

    _snapshot(estack)
    wait_for(lambda: hook.notices(key)[seen:] == ["firing", "resolved"],
             "the resolved notice at the webhook", timeout=120)
    listed = zenmail_cli(estack, "--json", "alerts", "list")
    assert listed.returncode == 0, listed.stderr
    assert [a["state"] for a in json.loads(listed.stdout) if a["key"] == key][0] == "resolved"


def test_trace_shows_the_filters_verdict_of_a_rejected_gtube_message(
        estack: WatchStack) -> None:
    sender = f"spammer-{os.getpid()}-{time.monotonic_ns()}@outside.example"
    raw = (f"From: <{sender}>\r\nTo: <{ADMIN_MAILBOX}>\r\nSubject: offer\r\n"
           f"Message-ID: <gtube-{time.monotonic_ns()}@outside.example>\r\n\r\n").encode() + GTUBE
    c = estack.smtp()
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            c.sendmail(sender, [ADMIN_MAILBOX], raw + b"\r\n")
    finally:
        c.quit()
    assert refused.value.smtp_code == 554

    def traced() -> list[dict[str, object]] | None:
        r = zenmail_cli(estack, "--json", "trace", "--from", sender)
        assert r.returncode == 0, r.stderr
        found = json.loads(r.stdout)
        return found if found and found[0]["filter_action"] else None

    [t] = wait_for(traced, "the verdict in the trace")  # type: ignore[misc]
    assert t["status"] == "rejected" and t["filter_action"] == "reject"
    assert t["filter_score"] >= t["filter_threshold"] > 0, t
    assert "5.7.1" in t["deliveries"][0]["reason"]
    text = zenmail_cli(estack, "trace", "--from", sender).stdout
    assert "filter: reject (score" in text
