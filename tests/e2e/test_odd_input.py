"""Hostile and odd input at the mail listeners (issue 8, items 6 and 12): every address the
directory accepts receives mail over SMTP and logs in over IMAP, and a message carrying a
NUL is refused whole rather than stored changed."""

from __future__ import annotations

import socket

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


def _raw_smtp(stack: MailStack, rcpt: str, data: bytes) -> list[bytes]:
    """One SMTP transaction over a plain socket, sending `data` byte for byte; the replies."""
    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", stack.ports["smtp"]), timeout=30) as sock:
        f = sock.makefile("rb")

        def reply() -> bytes:
            lines = [f.readline()]
            while lines[-1][3:4] == b"-":
                lines.append(f.readline())
            replies.append(lines[-1])
            return lines[-1]

        reply()
        for command in (b"EHLO client.outside.test", b"MAIL FROM:<sender@outside.test>",
                        f"RCPT TO:<{rcpt}>".encode(), b"DATA"):
            sock.sendall(command + b"\r\n")
            reply()
        sock.sendall(data + b"\r\n.\r\n")
        reply()
        sock.sendall(b"QUIT\r\n")
        reply()
    return replies


def test_a_nul_in_a_header_is_refused_not_truncated(stack: MailStack) -> None:
    address = stack.account("nul")
    with_nul = (f"From: <sender@outside.test>\r\nTo: <{address}>\r\n"
                "Subject: before\0after\r\n\r\nbody\r\n").encode()
    replies = _raw_smtp(stack, address, with_nul)
    assert replies[4].startswith(b"354"), replies
    assert replies[5][:1] == b"5", replies  # refused at the end of DATA, permanently
    # The same message without the NUL arrives, byte for byte in its Subject.
    clean = with_nul.replace(b"\0", b"")
    assert _raw_smtp(stack, address, clean)[5].startswith(b"250")
    [raw] = stack.wait_messages(address, 1)
    assert b"Subject: beforeafter\r\n" in raw


def test_an_odd_login_spelling_reaches_the_same_account(stack: MailStack) -> None:
    address = f"o'reilly-{stack.account('x').split('@')[0]}@{DOMAIN}"
    accounts.add(stack.ctx, address, password=PASSWORD, quota="10M")
    m = stack.imap(address.upper())  # capitals are lowercased by Dovecot, after the check
    m.logout()
