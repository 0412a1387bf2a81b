"""The mail stack end to end: real Postfix and Dovecot, real smtplib and imaplib clients."""

from __future__ import annotations

import email
import os
import signal
import smtplib
import subprocess

import pytest

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.directory import accounts, aliases, domains, quota
from zenmail.stack import proc
from zenmail.stack.manager import status
from zenmail.stack.registry import Stack
from zenmail.stack.supervisor import SupervisorProcess, read_events

pytestmark = pytest.mark.e2e

TRACE_HEADERS = ("return-path:", "delivered-to:", "received:")


def rcpt_code(c: smtplib.SMTP, sender: str, rcpt: str,
              size: int | None = None) -> tuple[int, bytes]:
    c.ehlo_or_helo_if_needed()
    code, msg = c.mail(sender, [f"SIZE={size}"] if size else [])
    assert code == 250, msg
    result = c.rcpt(rcpt)
    c.rset()
    return result


def warnings(raw: list[bytes]) -> list[email.message.Message]:
    """The quota warnings among these messages, each checked to have come through the
    stack's Postfix (like all mail Dovecot sends) with the empty envelope sender."""
    parsed = [email.message_from_bytes(m) for m in raw]
    found = [m for m in parsed if m["X-Zenmail-Quota-Warning"]]
    for m in found:
        assert any("(Postfix)" in r for r in m.get_all("Received", [])), m.get_all("Received")
        assert m["Return-Path"] == "<>"
    return found


def restarted_event(stack: MailStack, service: str, pid: int) -> bool:
    """The supervisor's record ends with this service restarted as `pid`."""
    events = [e for e in read_events(stack.state) if e["service"] == service]
    return bool(events) and events[-1]["event"] == "restarted" and events[-1]["pid"] == pid


def test_status_reports_every_service_healthy(stack: MailStack) -> None:
    st = status(stack.settings)
    assert st.healthy
    assert {s.name for s in st.services if s.running} == {"dovecot", "postfix", "redis",
                                                           "authpolicy", "radicale", "vault",
                                                           "supervisor"}
    assert st.endpoints["submission"] == f"127.0.0.1:{stack.ports['submission']}"
    assert st.endpoints["imap"] == f"127.0.0.1:{stack.ports['imap']}"


def test_submission_delivers_byte_identical(stack: MailStack) -> None:
    alice, bob = stack.account("alice"), stack.account("bob")
    body = ("Quarterly figures attached.\r\n.a line starting with a dot\r\n"
            + "x" * 900 + "\r\n" + "Grüße\r\n").encode().decode("latin-1")
    original = stack.message(alice, bob, "figures", body)
    with stack.submission(alice) as c:
        c.sendmail(alice, [bob], original)
    [got] = stack.wait_messages(bob, 1)
    assert got.endswith(original)
    added = got[: len(got) - len(original)].decode()
    # Only trace headers may be added in front; nothing of the message itself changes.
    lines = [ln for ln in added.split("\r\n") if ln]
    assert lines and all(ln.lower().startswith(TRACE_HEADERS) or ln[0] in " \t" for ln in lines)


def test_auth_is_offered_only_inside_tls(stack: MailStack) -> None:
    with smtplib.SMTP("127.0.0.1", stack.ports["submission"], timeout=30) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        assert c.has_extn("starttls")
        c.starttls(context=stack.tls)
        c.ehlo()
        assert "PLAIN" in c.esmtp_features["auth"]


def test_submission_over_implicit_tls(stack: MailStack) -> None:
    alice, bob = stack.account("alice"), stack.account("bob")
    msg = stack.message(alice, bob, "over port 465")
    with smtplib.SMTP_SSL("127.0.0.1", stack.ports["submissions"], context=stack.tls,
                          timeout=30) as c:
        c.login(alice, PASSWORD)
        c.sendmail(alice, [bob], msg)
        code, _ = rcpt_code(c, "ceo@example.org", bob)
        assert code == 553
    assert stack.wait_messages(bob, 1)[0].endswith(msg)


def test_alias_and_catch_all_delivery(stack: MailStack) -> None:
    bob, carol = stack.account("bob"), stack.account("carol")
    aliases.add(stack.ctx, f"sales@{bob.split('@')[1]}", [bob])
    domains.add(stack.ctx, "acme", "catchall.test")
    dan = stack.account("dan", domain="catchall.test")
    aliases.add(stack.ctx, "@catchall.test", [carol])
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [f"sales@{bob.split('@')[1]}"],
                   stack.message("partner@example.org", "sales", "to the alias"))
        c.sendmail("partner@example.org", ["whoever@catchall.test"],
                   stack.message("partner@example.org", "whoever", "to the catch-all"))
        c.sendmail("partner@example.org", [dan],
                   stack.message("partner@example.org", dan, "to a real mailbox"))
    assert b"Subject: to the alias" in stack.wait_messages(bob, 1)[0]
    assert b"Subject: to the catch-all" in stack.wait_messages(carol, 1)[0]
    [dans] = stack.wait_messages(dan, 1)
    assert b"Subject: to a real mailbox" in dans
    # The real mailbox won over the catch-all: carol got only the catch-all message.
    wait_for(lambda: stack.daemon("postfix").queue_size() == 0, "an empty queue")
    assert len(stack.messages(carol)) == 1


def test_unknown_recipient_refused_at_rcpt(stack: MailStack) -> None:
    with stack.smtp() as c:
        code, msg = rcpt_code(c, "partner@example.org", "nobody-here@acme.test")
    assert code == 550
    assert b"nobody-here@acme.test" in msg


def test_mail_to_an_internationalised_domain_arrives(stack: MailStack) -> None:
    # Created the way a person types it; Postfix (no SMTPUTF8) and Dovecot see the A-labels.
    domains.add(stack.ctx, "acme", "Bücher.example")
    user = accounts.add(stack.ctx, "user@bücher.example", password=PASSWORD, quota="100M")
    assert (user.address, user.address_unicode) == ("user@xn--bcher-kva.example",
                                                     "user@bücher.example")
    aliases.add(stack.ctx, "info@bücher.example", ["user@xn--bcher-kva.example"])
    with stack.smtp() as c:
        c.sendmail("partner@example.org", ["user@xn--bcher-kva.example"],
                   stack.message("partner@example.org", user.address, "to the mailbox"))
        c.sendmail("partner@example.org", ["info@xn--bcher-kva.example"],
                   stack.message("partner@example.org", "info", "to the alias"))
        code, msg = rcpt_code(c, "partner@example.org", "nobody@xn--bcher-kva.example")
    assert code == 550, msg  # a hosted domain that lacks the user, not "relay denied"
    # Users log in with the A-label address: that is the name Dovecot knows.
    got = stack.wait_messages(user.address, 2)
    assert {b"Subject: to the mailbox" in m for m in got} == {True, False}
    assert any(b"Subject: to the alias" in m for m in got)


def test_over_quota_refused_at_rcpt_and_mailbox_unchanged(stack: MailStack) -> None:
    full = stack.account("full", quota="1M")
    big = stack.message("partner@example.org", full, "big",
                        ("a" * 76 + "\r\n") * 11000)  # ~850 KiB of 1 MiB: over 80 %
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [full], big)
    # Dovecot's quota warning at 80 % arrives beside the big message.
    [warning] = warnings(stack.wait_messages(full, 2))
    assert warning["X-Zenmail-Quota-Warning"] == "80"
    assert "80% full" in warning["Subject"]
    m = stack.imap(full)
    _, before = m.getquotaroot("INBOX")
    m.logout()
    with stack.smtp() as c:
        code, msg = rcpt_code(c, "partner@example.org", full, size=300_000)
    assert code == 552
    assert b"quota" in msg.lower()
    # Through an alias of the full mailbox: refused at RCPT just the same.
    alias = f"books-{full.split('@')[0]}@acme.test"
    aliases.add(stack.ctx, alias, [full])
    with stack.smtp() as c:
        code, _ = rcpt_code(c, "partner@example.org", alias, size=300_000)
        assert code == 552
        code, _ = rcpt_code(c, "partner@example.org", alias, size=1_000)
        assert code == 250  # a small message still fits
    assert len(stack.messages(full)) == 2
    m = stack.imap(full)
    _, after = m.getquotaroot("INBOX")
    m.logout()
    assert after == before


def test_quota_move_seen_by_dovecot_without_restart(stack: MailStack) -> None:
    giver, taker = stack.account("giver", quota="20M"), stack.account("taker", quota="10M")
    pid = stack.daemon("dovecot").pid()

    def limit_kib(user: str) -> int:
        m = stack.imap(user)
        try:
            _, data = m.getquotaroot("INBOX")
        finally:
            m.logout()
        text = data[1][0].decode()  # '"User quota" (STORAGE used limit)'
        return int(text.rsplit(" ", 1)[1].rstrip(")"))

    assert limit_kib(taker) == 10 * 1024
    quota.move(stack.ctx, giver, taker, "5M")
    assert limit_kib(taker) == 15 * 1024
    assert limit_kib(giver) == 15 * 1024
    assert stack.daemon("dovecot").pid() == pid


def test_bad_password_refused(stack: MailStack) -> None:
    user = stack.account("victim")
    with pytest.raises(smtplib.SMTPAuthenticationError) as smtp_err:
        stack.submission(user, "wrong-password-123", source="127.0.0.2")
    assert smtp_err.value.smtp_code == 535
    with pytest.raises(Exception, match="AUTHENTICATIONFAILED|Authentication failed"):
        stack.imap(user, "wrong-password-123", source="127.0.0.2")
    # The right password still works, so the refusals above were about the password.
    stack.imap(user, PASSWORD).logout()


def test_spoofed_sender_refused(stack: MailStack) -> None:
    alice, bob = stack.account("alice"), stack.account("bob")
    team = f"team-{alice.split('@')[0]}@acme.test"
    aliases.add(stack.ctx, team, [alice])
    with stack.submission(alice) as c:
        code, msg = rcpt_code(c, bob, alice)
        assert code == 553 and b"not owned" in msg
        code, _ = rcpt_code(c, "ceo@example.org", alice)
        assert code == 553
        # An alias that delivers to alice is hers to send as.
        c.sendmail(team, [bob], stack.message(team, bob, "from the team alias"))
    assert b"from the team alias" in stack.wait_messages(bob, 1)[0]
    # Without logging in, nobody may claim a sender in a domain hosted here.
    with stack.smtp() as c:
        code, _ = rcpt_code(c, alice, bob)
    assert code == 554


def test_open_relay_refused(stack: MailStack) -> None:
    with stack.smtp() as c:
        code, msg = rcpt_code(c, "spammer@example.org", "victim@example.net")
    assert code == 554 and b"Relay access denied" in msg
    with stack.submission() as c:  # TLS but no login
        code, _ = rcpt_code(c, "spammer@example.org", "victim@example.net")
    assert code == 554


def test_dovecot_killed_is_restarted_and_queued_mail_delivered_once(stack: MailStack) -> None:
    bob = stack.account("bob")
    dovecot, postfix = stack.daemon("dovecot"), stack.daemon("postfix")
    supervisor = SupervisorProcess(Stack(stack.settings)).pid()
    old = dovecot.pid()
    assert supervisor and old
    # Hold the supervisor so the message is surely submitted while Dovecot is down.
    os.kill(supervisor, signal.SIGSTOP)
    try:
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: not proc.alive(old, "dovecot"), "dovecot to die")
        msg = stack.message("partner@example.org", bob, "sent while dovecot was down")
        with stack.smtp() as c:
            c.sendmail("partner@example.org", [bob], msg)
        wait_for(lambda: postfix.queue_size() == 1, "the message to wait in Postfix's queue")
    finally:
        os.kill(supervisor, signal.SIGCONT)
    new = wait_for(dovecot.pid, "the supervisor to restart dovecot")
    assert new != old
    wait_for(lambda: postfix.queue_size() == 0, "the queue to drain")
    got = stack.wait_messages(bob, 1)
    assert len(got) == 1 and got[0].endswith(msg)
    wait_for(lambda: restarted_event(stack, "dovecot", new), "the restart to be recorded")
    kinds = [e["event"] for e in read_events(stack.state) if e["service"] == "dovecot"]
    assert "died" in kinds
    # The stack is whole again for whatever runs next.
    assert status(stack.settings).healthy
    out = subprocess.run(["doveadm", "-c", str(dovecot.conf), "who"], capture_output=True)
    assert out.returncode == 0


def test_warning_at_95_percent(stack: MailStack) -> None:
    user = stack.account("nearly", quota="1M")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [user], stack.message(
            "partner@example.org", user, "very big", ("b" * 76 + "\r\n") * 12900))  # ~96 %
    [warning] = warnings(stack.wait_messages(user, 2))
    assert warning["X-Zenmail-Quota-Warning"] == "95"


def test_postfix_killed_is_restarted(stack: MailStack) -> None:
    postfix = stack.daemon("postfix")
    old = postfix.pid()
    assert old
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (lambda p: p if p and p != old else None)(postfix.pid()),
                   "the supervisor to restart postfix")
    wait_for(postfix.healthy, "postfix to answer again")
    user = stack.account("after-restart")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [user], stack.message("partner@example.org", user,
                                                                  "after restart"))
    assert stack.wait_messages(user, 1)
    wait_for(lambda: restarted_event(stack, "postfix", new), "the restart to be recorded")
