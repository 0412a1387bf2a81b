"""Where a device reaches this installation: the IMAP, SMTP and CalDAV/CardDAV servers as
a client must be told them (host name, port, TLS), from the settings and the port plan.

One small function per service, so that a daemon added later (Radicale) is rewired here
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from zenmail.config import Settings
from zenmail.stack.ports import Port, make_plan

# The listeners a device uses, as the daemons declare them (Dovecot, Postfix); the port
# plan turns them into numbers under the settings (dev, standard, pins).
_MAIL_PORTS = (Port("imap", 143), Port("imaps", 993), Port("submission", 587),
               Port("submissions", 465))
# A DAV listener, under whichever name the DAV daemon declares it (first found in the pins).
_DAV_NAMES = ("dav", "caldav", "radicale")
DAV_STANDARD_PORT = 5232  # Radicale's own default


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: bool          # True: TLS from the first byte; False: STARTTLS (always required)


@dataclass(frozen=True)
class DavServer:
    host: str
    port: int
    tls: bool
    path: str          # the principal's base path, e.g. "/" or "/dav/"

    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"


@dataclass(frozen=True)
class Endpoints:
    imap: Server             # implicit TLS (993)
    imap_starttls: Server    # 143
    smtp: Server             # submission with STARTTLS (587)
    smtp_tls: Server         # submissions, implicit TLS (465)
    dav: DavServer


def client_host(settings: Settings) -> str:
    """The host name devices connect to: the mail host name (the certificate's name) in
    production; in the dev plan the loopback address its self-signed certificate names."""
    if settings.ports.plan == "standard":
        return settings.hostname
    first = settings.listen_addresses[0] if settings.listen_addresses else "127.0.0.1"
    return "127.0.0.1" if first in ("0.0.0.0", "127.0.0.1") else (
        "::1" if first == "::" else first)


def _ports(settings: Settings) -> dict[str, int]:
    names = {p.name for p in _MAIL_PORTS}
    pins = {k: v for k, v in settings.ports.pins.items() if k in names}
    mine = settings.model_copy(update={"ports": settings.ports.model_copy(
        update={"pins": pins})})
    return make_plan(mine, _MAIL_PORTS).ports()


def dav(settings: Settings) -> DavServer:
    """The CalDAV/CardDAV server: `[devices] dav_url` if set; else a DAV listener of the
    stack's port plan (pinned, or base + 5232), always with TLS."""
    if settings.devices.dav_url:
        u = urlsplit(settings.devices.dav_url)
        tls = u.scheme == "https"
        return DavServer(u.hostname or settings.hostname, u.port or (443 if tls else 80), tls,
                         u.path or "/")
    pinned = next((settings.ports.pins[n] for n in _DAV_NAMES if n in settings.ports.pins),
                  None)
    standard = settings.ports.plan == "standard"
    port = pinned or (0 if standard else settings.ports.base) + DAV_STANDARD_PORT
    # Radicale serves HTTPS with the stack's certificate in every plan (stack/daemons/radicale.py).
    return DavServer(client_host(settings), port, True, "/")


def of(settings: Settings) -> Endpoints:
    host = client_host(settings)
    p = _ports(settings)
    return Endpoints(imap=Server(host, p["imaps"], True),
                     imap_starttls=Server(host, p["imap"], False),
                     smtp=Server(host, p["submission"], False),
                     smtp_tls=Server(host, p["submissions"], True),
                     dav=dav(settings))


def api_base(settings: Settings) -> str:
    """Where a device reaches the API (one-time setup links): `[devices] public_url`, else
    the API's own listener (loopback in the dev plan: reachable from this machine only)."""
    if settings.devices.public_url:
        return settings.devices.public_url.rstrip("/")
    pins = {k: v for k, v in settings.ports.pins.items() if k == "http"}
    mine = settings.model_copy(update={"ports": settings.ports.model_copy(
        update={"pins": pins})})
    port = make_plan(mine, (Port("http", 8080, "api"),))["http"]
    host = settings.api.host if settings.api.host not in ("0.0.0.0", "::") else client_host(
        settings)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
