"""The port plan: which address and port each listener of one stack uses.

`dev` (the default) keeps everything on high loopback ports derived from one base, so an
unprivileged-looking stack never collides with a system mail server and several stacks run
side by side by choosing different bases: port = base + the service's standard port
(base 10000 gives SMTP 10025, submission 10587, IMAP 10143, ...). `standard` uses the
well-known ports on all interfaces.

Overrides live in `STATE/stack.toml`, a stack-local file (the global settings refuse unknown
keys), e.g.::

    [ports]
    base = 20000      # dev plan moves as a whole
    imap = 20143      # or pin one listener
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.errors import InvalidInput, StackError

STACK_FILE = "stack.toml"
DEV_BASE = 10000
# The well-known port of each listener; the dev plan adds its base to these.
STANDARD = {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993,
            "lmtp": 24, "sieve": 4190, "http": 8080}


@dataclass(frozen=True)
class PortPlan:
    bind: str           # where the public listeners (smtp, submission, imap, sieve) bind
    smtp: int
    submission: int
    submissions: int    # submission over implicit TLS (RFC 8314), preferred by many clients
    imap: int
    imaps: int
    lmtp: int           # always on 127.0.0.1: LMTP has no authentication
    sieve: int
    http: int
    http_host: str

    def ports(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}

    def connect_host(self) -> str:
        """The address a local client uses to reach the public listeners."""
        return "127.0.0.1" if self.bind in ("0.0.0.0", "*", "") else self.bind

    def endpoints(self) -> dict[str, str]:
        host = self.connect_host()
        out = {name: f"{host}:{port}" for name, port in self.ports().items()}
        out["lmtp"] = f"127.0.0.1:{self.lmtp}"
        out["http"] = f"{self.http_host}:{self.http}"
        return out


def stack_overrides(state_dir: Path) -> dict[str, Any]:
    """The `[ports]` table of STATE/stack.toml, or {} when the file does not exist."""
    path = state_dir / STACK_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc}); fix or remove it") from exc
    ports = data.get("ports", {})
    if not isinstance(ports, dict):
        raise InvalidInput(f"{path}: [ports] must be a table, e.g. `[ports]` then `base = 20000`")
    unknown = set(ports) - set(STANDARD) - {"base"}
    if unknown:
        raise InvalidInput(f"{path}: unknown port name(s) {sorted(unknown)}; known: base, "
                           + ", ".join(STANDARD))
    for key, value in ports.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            raise InvalidInput(f"{path}: ports.{key} = {value!r} is not a port number (1-65535)")
    return ports


def plan(settings: Settings) -> PortPlan:
    """The effective plan for these settings plus STATE/stack.toml."""
    overrides = stack_overrides(settings.state_dir)
    if settings.ports == "standard":
        chosen = dict(STANDARD)
        bind = "0.0.0.0" if settings.bind_host == "127.0.0.1" else settings.bind_host
    else:
        base = overrides.get("base", DEV_BASE)
        chosen = {name: base + port for name, port in STANDARD.items()}
        bind = settings.bind_host
    chosen.update({k: v for k, v in overrides.items() if k != "base"})
    if settings.api_port:
        chosen["http"] = settings.api_port
    bad = {k: v for k, v in chosen.items() if not 0 < v < 65536}
    if bad:
        raise InvalidInput(f"port plan gives {bad}, out of range; lower [ports] base in "
                           f"{settings.state_dir / STACK_FILE}")
    seen: dict[int, str] = {}
    for name, port in chosen.items():
        if port in seen:
            raise InvalidInput(f"port {port} is planned for both {seen[port]} and {name}; "
                               f"give them distinct ports in {settings.state_dir / STACK_FILE}")
        seen[port] = name
    return PortPlan(bind=bind, http_host=settings.api_host, **chosen)


def ensure_free(p: PortPlan, names: list[str] | None = None) -> None:
    """Raise StackError naming the first planned port something else already listens on."""
    for name, port in p.ports().items():
        if names is not None and name not in names:
            continue
        host = "127.0.0.1" if name == "lmtp" else p.http_host if name == "http" else p.bind
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host if host not in ("*", "") else "0.0.0.0", port))
            except OSError as exc:
                raise StackError(
                    f"port {port} ({name}) on {host} is in use ({exc.strerror}); another stack "
                    "or mail server holds it. Stop it, or choose other ports with `[ports] "
                    "base = N` in STATE/stack.toml") from exc


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports the kernel reports free right now (for tests and benchmarks)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_port_overrides(state_dir: Path, ports: dict[str, int]) -> None:
    """Pin listeners in STATE/stack.toml (used by tests and benchmarks to run on free ports)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by zenmail: ports of this stack (see docs/stack.md).", "[ports]"]
    lines += [f"{k} = {int(v)}" for k, v in ports.items()]
    (state_dir / STACK_FILE).write_text("\n".join(lines) + "\n")
