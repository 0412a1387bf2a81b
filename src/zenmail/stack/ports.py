"""The port plan: which address and port each listener of one stack uses. Pure: no daemon
is imported here, the registry hands in the ports its daemons declare.

`dev` (the default) keeps everything on high loopback ports derived from one base, so a
stack never collides with a system mail server and several stacks run side by side by
choosing different bases: port = base + the listener's standard port (base 10000 gives SMTP
10025, submission 10587, IMAP 10143, ...). `standard` uses the well-known ports. Settings
(`[ports]` in zenmail.toml, or ZENMAIL_PORTS_BASE=N) move the plan or pin one listener.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from zenmail.config import Settings
from zenmail.errors import InvalidInput, StackError

Scope = Literal["public", "loopback", "api"]


@dataclass(frozen=True)
class Port:
    """A listener a daemon owns: its name, its well-known port, and where it binds —
    `public` on the listen addresses, `loopback` on 127.0.0.1 only (no authentication, e.g.
    LMTP), `api` on the API host."""

    name: str
    standard: int
    scope: Scope = "public"


@dataclass(frozen=True)
class PortPlan:
    listen: tuple[str, ...]     # addresses of the public listeners (IPv4 and/or IPv6)
    api_host: str
    numbers: dict[str, int]     # listener name -> port
    scopes: dict[str, Scope]

    def __getitem__(self, name: str) -> int:
        return self.numbers[name]

    def ports(self) -> dict[str, int]:
        return dict(self.numbers)

    def connect_host(self) -> str:
        """The address a local client uses to reach the public listeners."""
        first = self.listen[0]
        if first == "0.0.0.0":
            return "127.0.0.1"
        return "::1" if first == "::" else first

    def hosts(self, name: str) -> list[str]:
        """The addresses listener `name` binds to."""
        scope = self.scopes[name]
        if scope == "loopback":
            return ["127.0.0.1"]
        return [self.api_host] if scope == "api" else list(self.listen)

    def endpoints(self) -> dict[str, str]:
        """name -> host:port as a local client reaches it."""
        out = {}
        for name, port in self.numbers.items():
            scope = self.scopes[name]
            host = (self.connect_host() if scope == "public" else
                    self.api_host if scope == "api" else "127.0.0.1")
            out[name] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return out


def make_plan(settings: Settings, declared: Iterable[Port]) -> PortPlan:
    """The effective plan of `declared` listeners under `settings`; InvalidInput names an
    unknown pin, a port out of range or two listeners planned on one port."""
    ports = {p.name: p for p in declared}
    unknown = sorted(set(settings.ports.pins) - set(ports))
    if unknown:
        raise InvalidInput(f"setting [ports] names unknown listener(s) {unknown}; known: "
                           + ", ".join(sorted(ports)))
    standard = settings.ports.plan == "standard"
    base = 0 if standard else settings.ports.base
    numbers = {name: base + p.standard for name, p in ports.items()}
    numbers.update(settings.ports.pins)
    if settings.api.port and "http" in numbers:
        numbers["http"] = settings.api.port
    bad = {k: v for k, v in numbers.items() if not 0 < v < 65536}
    if bad:
        raise InvalidInput(f"port plan gives {bad}, out of range; lower `base` in [ports] "
                           f"(now {settings.ports.base})")
    seen: dict[int, str] = {}
    for name, port in numbers.items():
        if port in seen:
            raise InvalidInput(f"port {port} is planned for both {seen[port]} and {name}; "
                               "give them distinct ports in [ports]")
        seen[port] = name
    return PortPlan(listen=tuple(settings.listen_addresses), api_host=settings.api.host,
                    numbers=numbers, scopes={n: p.scope for n, p in ports.items()})


def is_wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::")


def family(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def ensure_free(plan: PortPlan, names: Iterable[str]) -> None:
    """Raise StackError naming the first listener of `names` whose port is taken."""
    for name in names:
        port = plan[name]
        for host in plan.hosts(name):
            with socket.socket(family(host), socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family(host) == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s.bind((host, port))
                except OSError as exc:
                    raise StackError(
                        f"port {port} ({name}) on {host} is unavailable ({exc.strerror}); "
                        "another stack or mail server holds it. Stop it, or move this stack: "
                        "`base = N` under [ports] in STATE/zenmail.toml, or "
                        "ZENMAIL_PORTS_BASE=N") from exc


# Test workers run side by side: between one worker picking a port and its daemon binding
# it, the kernel could hand the same port to another. Ports handed out are noted here, with
# a lock, and not handed out again for a while.
HANDED_OUT = Path(tempfile.gettempdir()) / "zenmail-free-ports"
HOLD_SECONDS = 1800.0


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports the kernel reports free right now and that no caller on this
    machine was handed in the last half hour (for tests and benchmarks)."""
    with open(HANDED_OUT, "a+") as book:
        fcntl.flock(book, fcntl.LOCK_EX)
        book.seek(0)
        now = time.time()
        held: dict[int, float] = {}
        for line in book.read().splitlines():
            port, _, when = line.partition(" ")
            if port.isdigit() and now - float(when or 0) < HOLD_SECONDS:
                held[int(port)] = float(when)
        socks: list[socket.socket] = []  # all kept open while picking: no port twice
        ports: list[int] = []
        try:
            while len(ports) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((host, 0))
                socks.append(s)
                if s.getsockname()[1] not in held:
                    ports.append(s.getsockname()[1])
        finally:
            for s in socks:
                s.close()
        book.seek(0)
        book.truncate()
        book.writelines(f"{p} {w}\n" for p, w in held.items())
        book.writelines(f"{p} {now}\n" for p in ports)
        return ports
