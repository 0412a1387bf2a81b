"""App passwords end to end: a device's secret logs in to IMAP and SMTP submission beside the
main password, stops at the next login once revoked (no restart), and a tenant that requires
app passwords refuses the main password there. Real Dovecot, real Postfix, imaplib/smtplib."""

from __future__ import annotations

import smtplib
import subprocess

import pytest

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.directory import accounts, apppasswords, tenants
from zenmail.directory.models import AppPassword

# Wrong passwords from another loopback address: Dovecot's delay after a failure then never
# touches the good logins (see conftest.IMAPFrom).
BAD_SOURCE = "127.0.0.2"



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
    assert not stack.imap_login_ok(alice, secret[:-1] + ("a" if secret[-1] != "a" else "b"))

    apppasswords.revoke(stack.ctx, alice, "iPhone")
    assert not stack.imap_login_ok(alice, secret)        # the very next login: no restart
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
    assert stack.imap_login_ok(carol, PASSWORD)

    apppasswords.set_required(stack.ctx, "strict", True)
    assert not stack.imap_login_ok(carol, PASSWORD)
    assert not smtp_ok(stack, carol, PASSWORD)
    assert stack.imap_login_ok(carol, secret)
    assert smtp_ok(stack, carol, secret)
    # Other tenants are untouched.
    dave = stack.account("dave")
    assert stack.imap_login_ok(dave, PASSWORD)

    apppasswords.set_required(stack.ctx, "strict", False)
    assert stack.imap_login_ok(carol, PASSWORD)


def test_disabled_account_and_removed_account_lose_their_app_passwords(
        stack: MailStack) -> None:
    erin = stack.account("erin")
    secret = apppasswords.add(stack.ctx, erin, "tablet").secret
    accounts.set_enabled(stack.ctx, erin, False)
    assert not stack.imap_login_ok(erin, secret)
    accounts.set_enabled(stack.ctx, erin, True)
    assert stack.imap_login_ok(erin, secret)
    accounts.remove(stack.ctx, erin)
    assert not stack.imap_login_ok(erin, secret)
    with stack.db.reading() as s:
        assert s.query(AppPassword).filter(AppPassword.name == "tablet").count() == 0


@pytest.mark.parametrize("wrong", ["", "x" * 40])
def test_wrong_passwords_still_fail(stack: MailStack, wrong: str) -> None:
    frank = stack.account("frank")
    apppasswords.add(stack.ctx, frank, "phone")
    if wrong:
        assert not stack.imap_login_ok(frank, wrong)


def test_hashes_never_leave_the_auth_process(stack: MailStack) -> None:
    """What Dovecot's auth process answers its clients (the login processes, Postfix) holds
    no password hash, whether the login succeeds or fails."""
    gina = stack.account("gina")
    secret = apppasswords.add(stack.ctx, gina, "phone").secret
    conf = str(stack.daemon("dovecot").conf)  # type: ignore[attr-defined]
    for password, verdict in ((PASSWORD, "auth succeeded"), (secret, "auth succeeded"),
                              ("not the password", "auth failed")):
        done = subprocess.run(["doveadm", "-c", conf, "auth", "test", "-x", "service=imap",
                               gina, password], capture_output=True, text=True, timeout=60)
        out = done.stdout + done.stderr
        assert verdict in out, out
        assert "ARGON2ID" not in out and "SSHA256" not in out and "$argon2" not in out, out
