"""Protocol health checks that go one step past a greeting: SMTP/LMTP answer EHLO/LHLO,
IMAP takes a login. A daemon whose process lives but which stops answering these (stopped
with SIGSTOP, deadlocked, out of file descriptors) is "hung"; the supervisor restarts it.

Each check has a short timeout and returns a sentence saying what failed, or None.
"""

from __future__ import annotations

import socket

TIMEOUT = 3.0


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
        # An SMTP reply ends with a line "ddd text" (no dash after the code).
        last = data.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        if data.endswith(b"\n") and len(last) >= 4 and last[3:4] == b" ":
            return data


def smtp(host: str, port: int, hello: str = "EHLO", timeout: float = TIMEOUT) -> str | None:
    """Banner 220 then a 250 to EHLO (LHLO for LMTP)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            banner = _reply(s)
            if not banner.startswith(b"220"):
                return f"{host}:{port} greeted with {banner[:60]!r}, not 220"
            s.sendall(f"{hello} health.zenmail.invalid\r\n".encode())
            reply = _reply(s)
            s.sendall(b"QUIT\r\n")
            if not reply.startswith(b"250"):
                return f"{host}:{port} answered {hello} with {reply[:60]!r}"
            return None
    except OSError as exc:
        return f"{host}:{port} did not answer {hello}: {exc or type(exc).__name__}"


def imap_login(host: str, port: int, user: str, password: str,
               timeout: float = TIMEOUT) -> str | None:
    """Greeting `* OK`, then LOGIN as `user` (loopback: plain text is allowed there)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            f = s.makefile("rb")
            greeting = f.readline()
            if not greeting.startswith(b"* OK"):
                return f"{host}:{port} greeted with {greeting[:60]!r}, not * OK"
            s.sendall(f"a LOGIN {_quote(user)} {_quote(password)}\r\n".encode())
            while True:
                line = f.readline()
                if not line:
                    return f"{host}:{port} closed the connection during LOGIN"
                if line.startswith(b"a "):
                    break
            s.sendall(b"b LOGOUT\r\n")
            if not line.startswith(b"a OK"):
                return f"{host}:{port} refused the probe account's login: {line[:80]!r}"
            return None
    except OSError as exc:
        return f"{host}:{port} did not answer IMAP: {exc or type(exc).__name__}"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
