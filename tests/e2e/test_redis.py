"""Redis, the daemon added through the registry: it runs as `redis`, answers on its socket,
keeps what it is told, and is brought back by the supervisor like the mail daemons."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import MailStack, wait_for
from zenmail.stack.files import uid
from zenmail.stack.supervisor import read_events

pytestmark = pytest.mark.e2e


def _command(path: Path, *words: str) -> bytes:
    """One command in Redis's protocol (RESP), its raw reply."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(payload)
        return s.recv(4096)


def _uid_of(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("Uid:"))
    return int(line.split()[1])


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)  # Redis is database-blind
def test_redis_serves_its_socket_as_its_own_user_and_is_supervised(stack: MailStack) -> None:
    redis = stack.daemon("redis")
    sock = Path(stack.daemon("postfix").stack.endpoint("redis").removeprefix("unix:"))
    pid = redis.pid()
    assert pid and _uid_of(pid) == uid("redis")  # never root
    assert _command(sock, "SET", "zenmail:test", "kept") == b"+OK\r\n"
    assert _command(sock, "GET", "zenmail:test") == b"$4\r\nkept\r\n"

    seen = len(read_events(stack.state))
    os.kill(pid, signal.SIGKILL)
    new = wait_for(lambda: (lambda p: p if p and p != pid else None)(redis.pid()),
                   "the supervisor to restart Redis")
    wait_for(redis.healthy, "Redis to answer again")
    assert _uid_of(new) == uid("redis")  # type: ignore[arg-type]

    def events() -> list[tuple[str, str]]:
        return [(e["service"], e["event"]) for e in read_events(stack.state)[seen:]]

    # The supervisor records the restart once Redis answers, a moment after we see it do so.
    wait_for(lambda: ("redis", "restarted") in events(), "the restart in the event log")
    assert ("redis", "died") in events()
