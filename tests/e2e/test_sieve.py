"""Sieve on delivery, with the script uploaded over ManageSieve as a mail client would."""

from __future__ import annotations

import base64
import socket

import pytest

from tests.e2e.conftest import PASSWORD, MailStack

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


def test_sieve_script_from_managesieve_files_mail(stack: MailStack) -> None:
    user = stack.account("sorter")
    ms = ManageSieve(stack.ports["sieve"])
    token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
    ms.command(f'AUTHENTICATE "PLAIN" "{token}"\r\n'.encode())
    ms.command(b'PUTSCRIPT "rules" {%d+}\r\n' % len(SCRIPT) + SCRIPT + b"\r\n")
    ms.command(b'SETACTIVE "rules"\r\n')
    ms.close()
    with stack.smtp() as c:
        c.sendmail("billing@example.org", [user],
                   stack.message("billing@example.org", user, "[invoice] 2026-114"))
        c.sendmail("friend@example.org", [user],
                   stack.message("friend@example.org", user, "lunch?"))
    [filed] = stack.wait_messages(user, 1, "Invoices")
    assert b"[invoice] 2026-114" in filed
    [inbox] = stack.wait_messages(user, 1)
    assert b"lunch?" in inbox
