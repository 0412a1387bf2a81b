"""Where deleted mail goes: the Expunged folder, there and subscribed from the account's
first login, counted in the quota (so in the tenant's pool) until it is emptied."""

from __future__ import annotations

import imaplib
import re
import time

import pytest

from tests.e2e.conftest import MailStack, wait_for
from zenmail.stack.daemons.dovecot import Dovecot

pytestmark = pytest.mark.e2e


def used_kib(m: imaplib.IMAP4) -> int:
    _, data = m.getquotaroot("INBOX")
    match = re.search(rb"STORAGE (\d+) \d+", data[1][0])
    assert match, data
    return int(match.group(1))


def names(listing: list[bytes | None]) -> set[str]:
    return {line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in listing if line}


def test_a_fresh_account_shows_expunged_subscribed_and_deleted_mail_lands_there(
        stack: MailStack) -> None:
    user = stack.account("fresh")
    m = stack.imap(user)
    try:
        _, listed = m.list()
        _, subscribed = m.lsub()
        # There before anything was deleted, and subscribed: Thunderbird and most clients
        # show subscribed folders only.
        assert "Expunged" in names(listed) and "Expunged" in names(subscribed)
        assert m.select("Expunged", readonly=True) == ("OK", [b"0"])
    finally:
        m.logout()
    msg = stack.message("partner@example.org", user, "delete me, find me")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [user], msg)
    stack.wait_messages(user, 1)
    m = stack.imap(user)
    try:
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Deleted)")
        m.expunge()
    finally:
        m.logout()
    assert stack.messages(user) == []
    [kept] = stack.messages(user, "Expunged")
    assert kept.endswith(msg)


def test_deleted_mail_counts_until_expunged_is_emptied_and_deleting_works_when_full(
        stack: MailStack) -> None:
    user = stack.account("tight", quota="1M")
    body = ("z" * 76 + "\r\n") * 2600  # ~200 KiB
    m = stack.imap(user)
    try:
        appended = 0
        while True:
            typ, data = m.append("INBOX", None, None,
                                 stack.message(user, user, f"filler {appended}", body))
            if typ != "OK":
                break
            appended += 1
        assert b"OVERQUOTA" in data[0] and appended == 5
        full = used_kib(m)
        # Deleting works with the quota full; the message moves to Expunged and still
        # counts, so what the account holds never exceeds its quota (nor the pool).
        m.select("INBOX")
        m.store("1:2", "+FLAGS", "(\\Deleted)")
        assert m.expunge()[0] == "OK"
        assert used_kib(m) == full
        assert int(m.status("Expunged", "(MESSAGES)")[1][0].split()[-1].strip(b")")) == 2
        assert m.append("INBOX", None, None, stack.message(user, user, "x", body))[0] == "NO"
        # Emptying Expunged (deleting there is for good) frees the space.
        m.select("Expunged")
        m.store("1:*", "+FLAGS", "(\\Deleted)")
        m.expunge()
        assert used_kib(m) < full - 350
        assert m.append("INBOX", None, None, stack.message(user, user, "fits", body))[0] == "OK"
    finally:
        m.logout()


def test_a_fresh_accounts_first_session_logs_no_error(stack: MailStack) -> None:
    """A client that logs in and out without opening a mailbox (imaptest does) leaves an
    account without a home directory; Dovecot's per-session autoexpunge then logged an error
    for its lock file. Expunged is purged by the supervisor's chore instead."""
    log = stack.state / "log" / "dovecot.log"
    start = len(log.read_bytes())
    fresh = stack.account("fresh")
    stack.imap(fresh).logout()  # LOGIN, LOGOUT: no mailbox touched
    m = stack.imap(fresh)
    m.select("INBOX")
    m.logout()

    def mine() -> list[str]:
        written = log.read_bytes()[start:].decode(errors="replace")
        return [line for line in written.splitlines() if fresh in line]

    # Dovecot writes the end of a session a moment after the client has gone.
    wait_for(lambda: sum("Logged out" in line for line in mine()) == 2, "both sessions logged")
    bad = [line for line in mine() if re.search(r"\b(Error|Warning|Panic|Fatal)\b", line)]
    assert bad == [], bad


def test_the_chore_purges_expunged_mail_past_its_keep(stack: MailStack) -> None:
    user = stack.account("purged")
    m = stack.imap(user)
    for n in range(2):
        m.append("INBOX", None, None, stack.message("partner@example.org", user, f"old {n}"))
    m.select("INBOX")
    m.store("1:2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    assert len(stack.messages(user, "Expunged")) == 2
    dovecot = stack.daemon("dovecot")
    assert isinstance(dovecot, Dovecot)
    dovecot.purge_expunged()  # kept 30 days: nothing goes yet
    assert len(stack.messages(user, "Expunged")) == 2
    time.sleep(2)
    dovecot.purge_expunged("1s")
    assert stack.messages(user, "Expunged") == []
