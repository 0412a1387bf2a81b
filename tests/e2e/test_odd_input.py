"""Hostile and odd input at the mail listeners (issue 8, item 6): every address the
directory accepts receives mail over SMTP and logs in over IMAP."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DOMAIN, PASSWORD, MailStack
from zenmail.directory import accounts

pytestmark = pytest.mark.e2e

# Legal local parts (RFC 5321 dot-atoms) that real people and systems have.
ODD_LOCAL_PARTS = [
    "o'brien", "first.last", "a-b-c", "under_score", "x" * 64, "d'arcy-o'neil.jr",
    "1234", "x", "a.b-c_d'e",
]


@pytest.mark.parametrize("local", ODD_LOCAL_PARTS)
def test_every_accepted_address_receives_and_logs_in(stack: MailStack, local: str) -> None:
    address = f"{local}@{DOMAIN}"
    accounts.add(stack.ctx, address, password=PASSWORD, quota="10M")
    with stack.smtp() as c:
        c.sendmail("sender@outside.test", [address],
                   stack.message("sender@outside.test", address, f"to {local}"))
    [raw] = stack.wait_messages(address, 1)
    assert f"Subject: to {local}".encode() in raw
    # And the account's own login, as its owner types it.
    m = stack.imap(address)
    try:
        assert m.select("INBOX", readonly=True)[0] == "OK"
    finally:
        m.logout()


def test_an_odd_login_spelling_reaches_the_same_account(stack: MailStack) -> None:
    address = f"o'reilly-{stack.account('x').split('@')[0]}@{DOMAIN}"
    accounts.add(stack.ctx, address, password=PASSWORD, quota="10M")
    m = stack.imap(address.upper())  # capitals are lowercased by Dovecot, after the check
    m.logout()
