"""The SMTP edges an attacker tries first (issue 8): smuggling, anonymous TLS, recipient floods.

Clients connect from loopback addresses other than 127.0.0.1: Postfix trusts 127.0.0.1
(mynetworks), which exempts it from the per-client limits and the bare-newline rule, as
Postfix documents. Each test uses its own source address, so Postfix's per-client counters
(anvil) of one test never touch another.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import MailStack, wait_for
from zenmail.directory import aliases

pytestmark = pytest.mark.e2e


class RawSMTP:
    """SMTP over a bare socket: sends exactly the bytes given, where smtplib would fix them."""

    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 30, source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.file.readline()
            lines.append(line)
            if not line or line[3:4] != b"-":
                return b"".join(lines)

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


# The defaults of [limits], which the test stacks run with.
PER_MESSAGE, PER_MINUTE = 100, 600

SEPARATORS = {"lf-dot-crlf": b"\n.\r\n", "lf-dot-lf": b"\n.\n", "crlf-dot-lf": b"\r\n.\n"}


@pytest.mark.parametrize("name", list(SEPARATORS))
def test_smuggled_second_message_stays_inside_the_first(stack: MailStack, name: str) -> None:
    carol = stack.account("carol")
    smuggled = (b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<" + carol.encode() + b">\r\nDATA\r\n"
                b"From: <ceo@bank.example>\r\nSubject: smuggled\r\n\r\nPay now.\r\n.\r\n")
    c = RawSMTP(stack.ports["smtp"], source="127.0.0.20")
    try:
        assert c.cmd(b"EHLO client.example.org").startswith(b"250")
        assert c.cmd(b"MAIL FROM:<partner@example.org>").startswith(b"250")
        assert c.cmd(b"RCPT TO:<" + carol.encode() + b">").startswith(b"250")
        assert c.cmd(b"DATA").startswith(b"354")
        c.sock.sendall(b"From: <partner@example.org>\r\nSubject: outer\r\n\r\nhello"
                       + SEPARATORS[name] + smuggled)
        # One answer for the whole thing: the bytes after the fake end were message text.
        assert c.reply().startswith(b"250 2.0.0 Ok: queued")
        assert c.cmd(b"QUIT").startswith(b"221")
    finally:
        c.close()
    wait_for(lambda: stack.daemon("postfix").queue_size() == 0, "an empty queue")
    [got] = stack.wait_messages(carol, 1)
    assert b"Subject: outer" in got and b"Pay now." in got  # text, not a second message
    assert len(stack.messages(carol)) == 1


def _handshake(port: int, starttls: bool, cipher: str) -> subprocess.CompletedProcess[str]:
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
           "-cipher", cipher, "-servername", "localhost"]
    if starttls:
        cmd += ["-starttls", "smtp"]
    return subprocess.run(cmd, input="QUIT\n", capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("listener", ["smtp", "submission", "submissions"])
def test_anonymous_tls_suites_are_refused(stack: MailStack, listener: str) -> None:
    port, starttls = stack.ports[listener], listener != "submissions"
    # SECLEVEL=0 so that the client offers the anonymous suites at all.
    anonymous = _handshake(port, starttls, "aNULL:@SECLEVEL=0")
    assert "Cipher is ADH" not in anonymous.stdout and "Cipher is AECDH" not in anonymous.stdout
    assert anonymous.returncode != 0, anonymous.stdout
    # The refusal is about the suites: an ordinary TLS 1.2 client still gets through.
    normal = _handshake(port, starttls, "DEFAULT")
    assert normal.returncode == 0 and "Cipher is ECDHE" in normal.stdout, normal.stderr


def test_dh_group_is_at_least_2048_bits(stack: MailStack) -> None:
    conf = stack.state / "postfix" / "etc"
    path = subprocess.run(["postconf", "-c", str(conf), "-h", "smtpd_tls_dh1024_param_file"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert Path(path).is_file()
    text = subprocess.run(["openssl", "pkeyparam", "-in", path, "-text", "-noout"],
                          capture_output=True, text=True, check=True).stdout
    bits = int(text.split("(", 1)[1].split(" bit", 1)[0])
    assert bits >= 2048


def test_a_thousand_recipient_forms_of_one_mailbox_give_one_copy(stack: MailStack) -> None:
    """1,000 RCPTs of bob+N@ (plus bob@ and an alias of bob) in one transaction: the first
    100 are accepted (RFC 5321's minimum), the rest get 452, and bob gets one copy."""
    bob = stack.account("bob")
    local, domain = bob.split("@")
    alias = f"team-{local}@{domain}"
    aliases.add(stack.ctx, alias, [bob])
    limit = PER_MESSAGE
    rcpts = [bob, alias] + [f"{local}+r{n}@{domain}" for n in range(998)]
    # From 127.0.0.1 (exempt from the per-minute limit, which the next test covers), so the
    # transaction reaches DATA.
    c = RawSMTP(stack.ports["smtp"], source="127.0.0.1")
    try:
        c.cmd(b"EHLO client.example.org")
        assert c.cmd(b"MAIL FROM:<partner@example.org>").startswith(b"250")
        codes = [c.cmd(f"RCPT TO:<{r}>".encode())[:3] for r in rcpts]
        assert codes[:limit] == [b"250"] * limit
        assert set(codes[limit:]) == {b"452"}
        assert c.cmd(b"DATA").startswith(b"354")
        c.sock.sendall(b"From: <partner@example.org>\r\nSubject: many of me\r\n\r\nhi\r\n.\r\n")
        assert c.reply().startswith(b"250")
        c.cmd(b"QUIT")
    finally:
        c.close()
    wait_for(lambda: stack.daemon("postfix").queue_size() == 0, "an empty queue")
    [got] = stack.wait_messages(bob, 1)
    assert b"Subject: many of me" in got
    assert len(stack.messages(bob)) == 1


def test_recipients_per_minute_from_one_client_are_limited(stack: MailStack) -> None:
    dave = stack.account("dave")
    local, domain = dave.split("@")
    per_message, per_minute = PER_MESSAGE, PER_MINUTE
    c = RawSMTP(stack.ports["smtp"], source="127.0.0.21")
    try:
        c.cmd(b"EHLO client.example.org")
        accepted = 0
        refusal = b""
        # Whole transactions of `per_message` recipients, reset each time (nothing is sent),
        # until Postfix refuses; all of it takes a few seconds, well inside one minute.
        while not refusal and accepted <= per_minute:
            assert c.cmd(b"MAIL FROM:<partner@example.org>").startswith(b"250")
            for _ in range(per_message):
                answer = c.cmd(f"RCPT TO:<{local}+m{accepted}@{domain}>".encode())
                if not answer.startswith(b"250"):
                    refusal = answer
                    break
                accepted += 1
            c.cmd(b"RSET")
    finally:
        c.close()
    assert accepted == per_minute
    assert refusal.startswith(b"450 4.7.1") and b"too many recipients" in refusal
