"""The trace parser on log lines as Postfix 3.7 and Dovecot 2.3 write them (the e2e test
traces real mail; these cover what a test stack cannot easily produce: a bounce, a filter
verdict, a retried delivery, a rotated log)."""

from __future__ import annotations

from datetime import UTC, datetime

from zenmail.watch.trace import parse, parse_since

P = "Nov 28 12:49:12 mail zm301280/postfix"
POSTFIX = [
    f"{P}/smtp/smtpd[1]: 5CCD320E793: client=localhost[127.0.0.1]",
    f"{P}/cleanup[2]: 5CCD320E793: message-id=<m1@example.org>",
    f"{P}/qmgr[3]: 5CCD320E793: from=<sender@example.org>, size=318, nrcpt=1 (queue active)",
    f"{P}/lmtp[4]: 5CCD320E793: to=<alice@acme.test>, relay=mail.zenmail.test[/run/lmtp], "
    "delay=0.11, delays=0.03/0.01/0/0.08, dsn=4.4.2, status=deferred (lost connection)",
    f"{P}/lmtp[4]: 5CCD320E793: to=<alice@acme.test>, relay=mail.zenmail.test[/run/lmtp], "
    "delay=31, delays=0.03/31/0/0.08, dsn=2.0.0, status=sent (250 2.0.0 <alice@acme.test> "
    "mOopF8jNCmseagAAg+zDdQ Saved)",
    f"{P}/submission/smtpd[5]: 7A1B2C3D4E: client=localhost[127.0.0.1], sasl_method=PLAIN, "
    "sasl_username=bob@acme.test",
    f"{P}/cleanup[2]: 7A1B2C3D4E: message-id=<m2@acme.test>",
    f"{P}/qmgr[3]: 7A1B2C3D4E: from=<bob@acme.test>, size=500, nrcpt=1 (queue active)",
    f"{P}/smtp[6]: 7A1B2C3D4E: to=<x@far.example>, relay=mx.far.example[192.0.2.1]:25, "
    "delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.far.example[192.0.2.1] "
    "said: 550 5.1.1 no such user (in reply to RCPT TO command))",
    f"{P}/cleanup[2]: 9F8E7D6C5B: milter-reject: END-OF-MESSAGE from x[192.0.2.9]: 5.7.1 Spam "
    "message rejected; from=<spam@bad.example> to=<alice@acme.test> proto=ESMTP helo=<x>",
]
DOVECOT = ["Nov 28 12:49:12 lmtp(alice@acme.test)<27166><mOopF8jNCmseagAAg+zDdQ>: Info: "
           "msgid=<m1@example.org>: saved mail to Archive/2026"]


def test_each_outcome_with_its_reason() -> None:
    found = {t.queue_id: t for t in parse(POSTFIX, DOVECOT, year=2026)}
    sent = found["5CCD320E793"]
    assert sent.status == "sent" and sent.message_id == "m1@example.org"
    [d] = sent.deliveries  # the deferral was superseded by the delivery
    assert (d.recipient, d.dsn, d.folder) == ("alice@acme.test", "2.0.0", "Archive/2026")

    bounced = found["7A1B2C3D4E"]
    assert bounced.status == "bounced" and bounced.login == "bob@acme.test"
    assert bounced.deliveries[0].reason.startswith("host mx.far.example[192.0.2.1] said: 550")

    filtered = found["9F8E7D6C5B"]
    assert filtered.status == "rejected" and filtered.sender == "spam@bad.example"
    assert filtered.deliveries[0].recipient == "alice@acme.test"
    assert "Spam message rejected" in filtered.deliveries[0].reason


def test_since() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert parse_since("2026-11-27T09:00", now) == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


# rspamd 3.4's task log, as the proxy (milter) wrote it for a GTUBE message (the forced
# action: flag S) and for mail it let through (flag F), with the queue id Postfix passed.
RSPAMD = [
    "2026-11-28 12:49:12 #7658(rspamd_proxy) <4c4a31>; proxy; rspamd_task_write_log: id: "
    "<m9@bad.example>, qid: <9F8E7D6C5B>, ip: 192.0.2.9, from: <spam@bad.example>, "
    "(default: S (reject): [15.00/15.00] [GTUBE(0.00){}]), len: 259, time: 268.241ms, dns "
    "req: 0, digest: <666ce83c91f1b1f04f870174d029e691>, rcpts: <alice@acme.test>, "
    'mime_rcpts: <alice@acme.test>, forced: reject "Gtube pattern"; score=15.00 (set by GTUBE)',
    "2026-11-28 12:49:12 #7658(rspamd_proxy) <5d5b42>; proxy; rspamd_task_write_log: id: "
    "<m1@example.org>, qid: <5CCD320E793>, ip: 127.0.0.1, from: <sender@example.org>, "
    "(default: F (no action): [-0.10/15.00] [ARC_NA(0.00){},MIME_GOOD(-0.10){text/plain;}]), "
    "len: 318, time: 80.1ms, dns req: 0, digest: <1>, rcpts: <alice@acme.test>",
    "2026-11-28 12:49:13 #7662(controller) <r56etk>; map; rspamd_map_dns_callback: cannot "
    "resolve maps.rspamd.com: no records with this name",
]


def test_the_filters_verdict_by_queue_id() -> None:
    found = {t.queue_id: t for t in parse(POSTFIX, DOVECOT, year=2026, rspamd_log=RSPAMD)}
    refused = found["9F8E7D6C5B"]
    assert (refused.filter_action, refused.filter_score, refused.filter_threshold) == (
        "reject", 15.0, 15.0)
    passed = found["5CCD320E793"]
    assert (passed.filter_action, passed.filter_score) == ("no action", -0.1)
    unscanned = found["7A1B2C3D4E"]  # no rspamd line: nothing claimed
    assert unscanned.filter_action == "" and unscanned.filter_score is None
    assert refused.to_dict()["filter_action"] == "reject"
