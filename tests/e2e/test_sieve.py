"""Sieve on delivery, with the script uploaded over ManageSieve as a mail client would; the
mail Sieve sends (vacation replies, redirects) leaves through the stack's own Postfix."""

from __future__ import annotations

import base64
import email
import smtplib
import socket
import subprocess

import pytest

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.stack.daemons.postfix import Postfix
from zenmail.stack.registry import port_plan

pytestmark = pytest.mark.e2e

SCRIPT = b"""require ["fileinto", "mailbox"];
if header :contains "subject" "[invoice]" {
  fileinto :create "Invoices";
}
"""


class ManageSieve:
    """Just enough of RFC 5804 to log in and install a script."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")
        self._until_ok()  # the greeting lists capabilities and ends with OK

    def _until_ok(self) -> list[bytes]:
        lines = []
        while True:
            line = self.file.readline()
            assert line, "ManageSieve server closed the connection"
            lines.append(line)
            if line.startswith((b"OK", b"NO", b"BYE")):
                assert line.startswith(b"OK"), b"".join(lines)
                return lines

    def command(self, data: bytes) -> list[bytes]:
        self.sock.sendall(data)
        return self._until_ok()

    def close(self) -> None:
        self.command(b"LOGOUT\r\n")
        self.sock.close()


def install(stack: MailStack, user: str, script: bytes) -> None:
    """Upload `script` over ManageSieve and make it the active one, as a mail client does."""
    ms = ManageSieve(stack.ports["sieve"])
    token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
    ms.command(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
    ms.command(b'PUTSCRIPT "rules" {%d+}\r\n' % len(script) + script + b"\r\n")
    ms.command(b'SETACTIVE "rules"\r\n')
    ms.close()


VACATION = b"""require ["vacation"];
vacation :days 1 :subject "Out of office" "I am away until Monday.";
"""


def through_postfix(raw: bytes) -> email.message.Message:
    """The message, after checking that the stack's Postfix took it in (its Received line)
    before Dovecot delivered it: it did not go around Postfix."""
    msg = email.message_from_bytes(raw)
    assert any("(Postfix)" in r for r in msg.get_all("Received", [])), msg.get_all("Received")
    return msg


def test_sieve_script_from_managesieve_files_mail(stack: MailStack) -> None:
    user = stack.account("sorter")
    install(stack, user, SCRIPT)
    with stack.smtp() as c:
        c.sendmail("billing@example.org", [user],
                   stack.message("billing@example.org", user, "[invoice] 2026-114"))
        c.sendmail("friend@example.org", [user],
                   stack.message("friend@example.org", user, "lunch?"))
    [filed] = stack.wait_messages(user, 1, "Invoices")
    assert b"[invoice] 2026-114" in filed
    [inbox] = stack.wait_messages(user, 1)
    assert b"lunch?" in inbox


def test_vacation_reply_reaches_a_local_sender(stack: MailStack) -> None:
    away, writer = stack.account("away"), stack.account("writer")
    install(stack, away, VACATION)
    original = stack.message(writer, away, "are you there?")
    with stack.submission(writer) as c:
        c.sendmail(writer, [away], original)
    assert stack.wait_messages(away, 1)[0].endswith(original)
    [raw] = stack.wait_messages(writer, 1)
    reply = through_postfix(raw)
    assert reply["Subject"] == "Out of office"
    assert reply["From"] == f"<{away}>"
    assert reply["Auto-Submitted"].startswith("auto-replied")
    # RFC 3834: an automatic reply has the empty envelope sender, so nothing answers it.
    assert reply["Return-Path"] == "<>"
    assert b"I am away until Monday." in raw


def test_redirect_reaches_another_local_account(stack: MailStack) -> None:
    forwarder, target = stack.account("forwarder"), stack.account("target")
    install(stack, forwarder, f'redirect "{target}";\n'.encode())
    # From outside, over the MX port: the redirect leaves with the forwarder (a hosted
    # address) as envelope sender, which the MX port would refuse from anyone else.
    original = stack.message("partner@example.org", forwarder, "please handle")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [forwarder], original)
    [raw] = stack.wait_messages(target, 1)
    assert raw.endswith(original)
    redirected = through_postfix(raw)
    assert redirected["Return-Path"] == f"<{forwarder}>"
    assert redirected["X-Sieve-Redirected-From"] == forwarder
    assert stack.messages(forwarder) == []  # redirected, not kept


def test_vacation_reply_to_an_outside_sender_is_queued_for_delivery_out(
        stack: MailStack) -> None:
    away = stack.account("away")
    install(stack, away, VACATION)
    outsider = f"client-{away.split('@')[0]}@example.org"
    with stack.smtp() as c:
        c.sendmail(outsider, [away], stack.message(outsider, away, "quote, please"))
    stack.wait_messages(away, 1)
    postfix = stack.daemon("postfix")
    assert isinstance(postfix, Postfix)

    def queued() -> dict[str, object] | None:
        # Deferred, not merely in the queue: an entry still `active` has no delay reason yet.
        return next((m for m in postfix.queue()
                     if [r["address"] for r in m["recipients"]] == [outsider]
                     and m["queue_name"] == "deferred"), None)

    entry = wait_for(queued, f"the vacation reply to {outsider} in Postfix's queue")
    assert isinstance(entry, dict)
    # The dev plan has no DNS: mail to other domains waits in the queue instead of leaving.
    assert entry["sender"] == "MAILER-DAEMON"  # postqueue's name for the empty sender
    assert entry["recipients"][0]["delay_reason"] == "deferred transport"
    subprocess.run(["postsuper", "-c", str(postfix.conf_dir), "-d", str(entry["queue_id"])],
                   check=True, capture_output=True)


def test_the_listener_for_dovecots_mail_serves_loopback_only(stack: MailStack) -> None:
    port = stack.ports["submit"]
    postfix = stack.daemon("postfix")
    assert postfix.plan.hosts("submit") == ["127.0.0.1"]
    # The same under the standard plan, where the other listeners take every address.
    standard = port_plan(stack.settings.with_values({"ports.plan": "standard"}))
    assert standard.hosts("submit") == ["127.0.0.1"] and standard.hosts("smtp") == [
        "0.0.0.0", "::"]
    services = subprocess.run(["postconf", "-c", str(postfix.conf_dir), "-M"], check=True,
                              capture_output=True, text=True).stdout
    assert f"127.0.0.1:{port} " in services and f"\n{port} " not in services
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port), timeout=5)
    # Another loopback address may connect to 127.0.0.1, but may neither relay nor
    # deliver: the listener serves 127.0.0.1 alone.
    local = stack.account("local")
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=("127.0.0.2", 0)) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        assert c.mail("spammer@example.org")[0] == 250
        for rcpt in ("victim@example.net", local):
            code, msg = c.rcpt(rcpt)
            assert code == 554 and b"Access denied" in msg, (rcpt, code, msg)
