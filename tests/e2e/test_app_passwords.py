"""App passwords end to end: a device's secret logs in to IMAP and SMTP submission beside the
main password, stops at the next login once revoked (no restart), and a tenant that requires
app passwords refuses the main password there. Real Dovecot, real Postfix, imaplib/smtplib."""

from __future__ import annotations

import imaplib
import smtplib

import pytest

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.directory import accounts, apppasswords, tenants
from zenmail.directory.models import AppPassword

# Wrong passwords from another loopback address: Dovecot's delay after a failure then never
# touches the good logins (see conftest.IMAPFrom).
BAD_SOURCE = "127.0.0.2"


def imap_ok(stack: MailStack, user: str, password: str) -> bool:
    try:
        stack.imap(user, password, source=BAD_SOURCE).logout()
        return True
    except imaplib.IMAP4.error:
        return False


def smtp_ok(stack: MailStack, user: str, password: str) -> bool:
    c = stack.submission(source=BAD_SOURCE)
    try:
        c.login(user, password)
        return True
    except smtplib.SMTPAuthenticationError:
        return False
    finally:
        c.quit()


def test_app_password_logs_in_everywhere_and_stops_when_revoked(stack: MailStack) -> None:
    alice = stack.account("alice")
    made = apppasswords.add(stack.ctx, alice, "iPhone")
    secret = made.secret
    assert secret != PASSWORD and len(secret.replace("-", "")) == apppasswords.SECRET_SYMBOLS

    # Both the app password and the main password open IMAP and submission.
    stack.imap(alice, secret).logout()
    stack.imap(alice).logout()
    with stack.submission(alice, secret) as c:
        c.sendmail(alice, [alice], stack.message(alice, alice, "sent with an app password"))
    stack.submission(alice).quit()
    stack.wait_messages(alice, 1)

    # A second device's password works too; a made-up one does not.
    other = apppasswords.add(stack.ctx, alice, "Thunderbird").secret
    stack.imap(alice, other).logout()
    assert not imap_ok(stack, alice, secret[:-1] + ("a" if secret[-1] != "a" else "b"))

    apppasswords.revoke(stack.ctx, alice, "iPhone")
    assert not imap_ok(stack, alice, secret)        # the very next login: no restart
    assert not smtp_ok(stack, alice, secret)
    stack.imap(alice, other).logout()               # the other device carries on
    stack.imap(alice).logout()


def test_last_use_is_recorded(stack: MailStack) -> None:
    bob = stack.account("bob")
    secret = apppasswords.add(stack.ctx, bob, "laptop").secret
    [before] = apppasswords.list_for(stack.ctx, bob)
    assert before.last_used_at is None
    stack.imap(bob, secret).logout()

    def used() -> object:
        [row] = apppasswords.list_for(stack.ctx, bob)
        return row.last_used_at
    wait_for(used, "the app password's last use to be recorded")


def test_tenant_requiring_app_passwords_refuses_the_main_password(stack: MailStack) -> None:
    tenants.add(stack.ctx, "strict", "1G")
    from zenmail.directory import domains
    domains.add(stack.ctx, "strict", "strict.test")
    carol = stack.account("carol", domain="strict.test")
    secret = apppasswords.add(stack.ctx, carol, "phone").secret
    assert imap_ok(stack, carol, PASSWORD)

    apppasswords.set_required(stack.ctx, "strict", True)
    assert not imap_ok(stack, carol, PASSWORD)
    assert not smtp_ok(stack, carol, PASSWORD)
    assert imap_ok(stack, carol, secret)
    assert smtp_ok(stack, carol, secret)
    # Other tenants are untouched.
    dave = stack.account("dave")
    assert imap_ok(stack, dave, PASSWORD)

    apppasswords.set_required(stack.ctx, "strict", False)
    assert imap_ok(stack, carol, PASSWORD)


def test_disabled_account_and_removed_account_lose_their_app_passwords(
        stack: MailStack) -> None:
    erin = stack.account("erin")
    secret = apppasswords.add(stack.ctx, erin, "tablet").secret
    accounts.set_enabled(stack.ctx, erin, False)
    assert not imap_ok(stack, erin, secret)
    accounts.set_enabled(stack.ctx, erin, True)
    assert imap_ok(stack, erin, secret)
    accounts.remove(stack.ctx, erin)
    assert not imap_ok(stack, erin, secret)
    with stack.db.reading() as s:
        assert s.query(AppPassword).filter(AppPassword.name == "tablet").count() == 0


@pytest.mark.parametrize("wrong", ["", "x" * 40])
def test_wrong_passwords_still_fail(stack: MailStack, wrong: str) -> None:
    frank = stack.account("frank")
    apppasswords.add(stack.ctx, frank, "phone")
    if wrong:
        assert not imap_ok(stack, frank, wrong)
