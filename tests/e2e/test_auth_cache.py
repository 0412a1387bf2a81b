"""Dovecot's auth cache is on (it makes a device's repeated logins skip Argon2id), and every
change of a credential still counts at the very next login: a new password, a disabled
account, a revoked app password — made here, or on "another node" (a process that does not
flush; the login policy process of this node drains auth_changes and flushes)."""

from __future__ import annotations

import time

from sqlalchemy import update

from tests.e2e.conftest import HASHER, PASSWORD, MailStack, wait_for
from zenmail.directory import accounts, apppasswords
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import Account

BAD_SOURCE = "127.0.0.2"  # wrong passwords from elsewhere: no delay on the good logins



def test_the_cache_is_on_and_serves_repeated_logins(stack: MailStack) -> None:
    alice = stack.account("alice")
    # Creating the account wrote an auth_changes row; the login policy's poll (every 0.25 s)
    # flushes that address once it sees it. Let that flush pass, then fill the cache.
    stack.imap(alice).logout()
    time.sleep(2.0)
    stack.imap(alice).logout()
    # Behind zenmail's back (no auth_changes row, no flush): the directory now holds another
    # password, and Dovecot still accepts the cached one. This is what the cache buys, and
    # why every change through zenmail must flush it.
    with stack.db.transaction() as s:
        s.execute(update(Account).where(Account.address == alice)
                  .values(password_hash=HASHER.hash("a different password")))
    assert stack.imap_login_ok(alice, PASSWORD)


def test_password_change_counts_at_the_next_login(stack: MailStack) -> None:
    bob = stack.account("bob")
    stack.imap(bob).logout()
    stack.imap(bob).logout()  # now certainly cached
    accounts.set_password(stack.ctx, bob, "the new password of bob")
    assert not stack.imap_login_ok(bob, PASSWORD)
    assert stack.imap_login_ok(bob, "the new password of bob")


def test_disable_counts_at_the_next_login(stack: MailStack) -> None:
    carol = stack.account("carol")
    secret = apppasswords.add(stack.ctx, carol, "phone").secret
    stack.imap(carol).logout()
    stack.imap(carol, secret).logout()
    accounts.set_enabled(stack.ctx, carol, False)
    assert not stack.imap_login_ok(carol, PASSWORD)
    assert not stack.imap_login_ok(carol, secret)


def test_revoke_counts_at_the_next_login(stack: MailStack) -> None:
    dave = stack.account("dave")
    secret = apppasswords.add(stack.ctx, dave, "phone").secret
    stack.imap(dave, secret).logout()
    stack.imap(dave, secret).logout()
    apppasswords.revoke(stack.ctx, dave, "phone")
    assert not stack.imap_login_ok(dave, secret)
    assert stack.imap_login_ok(dave, PASSWORD)


def test_a_change_made_elsewhere_is_drained(stack: MailStack) -> None:
    erin = stack.account("erin")
    secret = apppasswords.add(stack.ctx, erin, "phone").secret
    stack.imap(erin, secret).logout()
    # Another node's process: it writes auth_changes but cannot flush this Dovecot.
    elsewhere = Ctx(stack.db, Actor("test:other-node"), HASHER)
    apppasswords.revoke(elsewhere, erin, "phone")
    wait_for(lambda: not stack.imap_login_ok(erin, secret),
             "the login policy's drain to flush the revoked app password")
