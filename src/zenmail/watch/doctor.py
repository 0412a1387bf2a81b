"""`zenmail doctor`: what is wrong with this node, and what to do about it.

Each check returns findings: a status (`ok`, `warn`, `fail`, `info`), what was found, and
the fix in one sentence. The checks:

    dns          MX, SPF, DKIM and DMARC of every hosted domain, through `[watch] resolver`
                 (HOST or HOST:PORT; empty: the system's resolver)
    certificate  present, not expiring within `[alerts] cert_days`, valid for the host name,
                 not self-signed
    ports        every listener of the port plan answers (when the stack runs)
    disk         free space against `[alerts] disk_free_percent`
    database     the schema is at the newest migration
    clock        skew against `[watch] ntp_server` (SNTP), else against PostgreSQL's clock
    versions     Postfix's, Dovecot's and Redis's versions, as they report them
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import dns.exception
import dns.resolver
from cryptography import x509
from sqlalchemy import select, text

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.models import Domain
from zenmail.directory.views import View
from zenmail.stack import manager, proc
from zenmail.stack.registry import port_plan
from zenmail.stack.tls import certificate_paths
from zenmail.watch import observe

MAX_SKEW_S = 2.0  # Kerberos-style tolerance is 300 s; TOTP and DKIM clocks want far less


@dataclass
class Finding(View):
    check: str
    subject: str
    status: str  # ok | warn | fail | info
    message: str
    fix: str = ""


def _resolver(settings: Settings) -> dns.resolver.Resolver:
    spec = settings.watch.resolver
    if not spec:
        r = dns.resolver.Resolver()
    else:
        r = dns.resolver.Resolver(configure=False)
        host, _, port = spec.rpartition(":") if spec.count(":") == 1 else (spec, "", "")
        r.nameservers = [host or spec]
        if port:
            r.port = int(port)
    r.timeout, r.lifetime = 3.0, 6.0
    return r


def _txt(r: dns.resolver.Resolver, name: str) -> list[str] | None:
    """The TXT strings at `name` ([] if none), None if the resolver did not answer."""
    try:
        answer = r.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(rd.strings).decode(errors="replace") for rd in answer]


def check_dns(settings: Settings, domains: list[str]) -> list[Finding]:
    r = _resolver(settings)
    host = settings.hostname
    sel = settings.watch.dkim_selector
    out: list[Finding] = []
    for d in domains:
        try:
            mx = sorted((rd.preference, str(rd.exchange).rstrip(".").lower())
                        for rd in r.resolve(d, "MX"))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            mx = []
        except dns.exception.DNSException as exc:
            out.append(Finding("dns", d, "warn", f"the resolver did not answer for {d} "
                               f"({type(exc).__name__})", "check [watch] resolver and that "
                               "it can reach the domain's name servers"))
            continue
        if not mx:
            out.append(Finding("dns", d, "fail", f"{d} has no MX record: nobody can send it "
                               "mail", f"publish `{d}. MX 10 {host}.`"))
        elif host not in [h for _, h in mx]:
            out.append(Finding("dns", d, "fail", f"{d}'s MX points to "
                               f"{', '.join(h for _, h in mx)}, not to this node ({host})",
                               f"publish `{d}. MX 10 {host}.` (and remove the old MX once "
                               "the mail has moved)"))
        else:
            out.append(Finding("dns", d, "ok", f"MX {host}"))

        spf = _txt(r, d)
        spf = None if spf is None else [t for t in spf if t.lower().startswith("v=spf1")]
        if spf is None:
            out.append(Finding("dns", d, "warn", f"no answer for {d}'s SPF record",
                               "check [watch] resolver"))
        elif not spf:
            out.append(Finding("dns", d, "fail", f"{d} has no SPF record: receivers may take "
                               "its mail for forged", f'publish `{d}. TXT "v=spf1 mx -all"`'))
        elif len(spf) > 1:
            out.append(Finding("dns", d, "fail", f"{d} has {len(spf)} SPF records; receivers "
                               "treat that as an error (RFC 7208 4.5)",
                               "merge them into one TXT record"))
        else:
            out.append(Finding("dns", d, "ok", f"SPF {spf[0]}"))

        name = f"{sel}._domainkey.{d}"
        dkim = _txt(r, name)
        if dkim is None:
            out.append(Finding("dns", d, "warn", f"no answer for {name}",
                               "check [watch] resolver"))
        elif not any("p=" in t for t in dkim):
            out.append(Finding("dns", d, "fail", f"{d} has no DKIM key at {name}: its "
                               "signed mail cannot be verified",
                               f'publish `{name}. TXT "v=DKIM1; k=rsa; p=<the public key>"` '
                               "(the selector is [watch] dkim_selector)"))
        else:
            out.append(Finding("dns", d, "ok", f"DKIM key at {name}"))

        dmarc = _txt(r, f"_dmarc.{d}")
        dmarc = None if dmarc is None else [t for t in dmarc if t.startswith("v=DMARC1")]
        if dmarc is None:
            out.append(Finding("dns", d, "warn", f"no answer for _dmarc.{d}",
                               "check [watch] resolver"))
        elif not dmarc:
            out.append(Finding("dns", d, "warn", f"{d} has no DMARC policy",
                               f'publish `_dmarc.{d}. TXT "v=DMARC1; p=quarantine; '
                               f'rua=mailto:postmaster@{d}"`'))
        else:
            out.append(Finding("dns", d, "ok", f"DMARC {dmarc[0]}"))
    return out


def check_certificate(settings: Settings, now: datetime) -> list[Finding]:
    cert_path, _ = certificate_paths(settings)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError:
        return [Finding("certificate", str(cert_path), "fail", "no certificate yet",
                        "run `zenmail up` (it makes a self-signed one) or set [tls] cert and "
                        "key")]
    out = []
    days = (cert.not_valid_after_utc - now).total_seconds() / 86400
    if days < 0:
        out.append(Finding("certificate", str(cert_path), "fail", "the certificate expired",
                           "renew it and run `zenmail up`"))
    elif days < settings.alerts.cert_days:
        out.append(Finding("certificate", str(cert_path), "warn",
                           f"the certificate expires in {days:.0f} days",
                           "renew it and run `zenmail up`"))
    else:
        out.append(Finding("certificate", str(cert_path), "ok",
                           f"valid for {days:.0f} more days"))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names_ = [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names_ = []
    if settings.hostname not in names_:
        named = ", ".join(names_) or "no host"
        out.append(Finding("certificate", str(cert_path), "fail", f"the certificate is not "
                           f"valid for {settings.hostname} (it names {named})",
                           "get one for the host name, or set hostname to the one it names"))
    if cert.issuer == cert.subject:
        out.append(Finding("certificate", str(cert_path), "warn", "the certificate is "
                           "self-signed: mail programs will warn, other servers may not "
                           "verify it", "set [tls] cert and key to a certificate from a CA "
                           "(e.g. Let's Encrypt)"))
    return out


def check_ports(settings: Settings) -> list[Finding]:
    st = manager.status(settings)
    if not st.running:
        return [Finding("ports", "stack", "fail", "the stack is not running",
                        "run `zenmail up`")]
    plan = port_plan(manager.running_settings(settings))
    out = []
    for svc in st.services:
        for listener, endpoint in svc.endpoints.items():
            host = "127.0.0.1" if plan.hosts(listener) == ["127.0.0.1"] else plan.connect_host()
            if proc.tcp_open(host, plan[listener]):
                out.append(Finding("ports", listener, "ok", f"{svc.name} answers on {endpoint}"))
            else:
                out.append(Finding("ports", listener, "fail", f"nothing listens on {endpoint} "
                                   f"({svc.name} {listener})", "see `zenmail status` and "
                                   f"{svc.name}'s log in STATE/log; `zenmail up` restarts it"))
    return out


def check_disk(settings: Settings) -> list[Finding]:
    out = []
    for d in observe.disks(settings):
        line = f"{d.free_percent:.1f} % free ({d.free_bytes / 2**30:.1f} GiB) at {d.path}"
        if d.free_percent < settings.alerts.disk_free_percent:
            out.append(Finding("disk", d.volume, "fail", line, "free space or grow the "
                               "volume before mail is refused"))
        else:
            out.append(Finding("disk", d.volume, "ok", line))
    return out


def check_database(db: Database) -> list[Finding]:
    state = db.schema_state()
    if state.is_current:
        return [Finding("database", "schema", "ok", f"at revision {state.current}")]
    return [Finding("database", "schema", "fail", f"at revision {state.current}, zenmail "
                    f"needs {state.head}", "run `zenmail db upgrade`")]


def sntp_offset(server: str, timeout: float = 3.0) -> float:
    """Seconds this clock is behind (+) or ahead (-) of an NTP server (RFC 4330 SNTP)."""
    host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
    host = host or server
    packet = b"\x23" + b"\0" * 47  # LI 0, version 4, mode 3 (client)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        t1 = time.time()
        s.sendto(packet, (host, int(port or 123)))
        data, _ = s.recvfrom(512)
        t4 = time.time()
    if len(data) < 48:
        raise OSError("short NTP answer")

    def stamp(offset: int) -> float:
        sec, frac = struct.unpack("!II", data[offset:offset + 8])
        return sec - 2208988800 + frac / 2**32

    t2, t3 = stamp(32), stamp(40)
    return ((t2 - t1) + (t3 - t4)) / 2


def check_clock(settings: Settings, db: Database) -> list[Finding]:
    server = settings.watch.ntp_server
    if server:
        try:
            skew = sntp_offset(server)
        except OSError as exc:
            return [Finding("clock", server, "warn", f"the NTP server did not answer ({exc})",
                            "check [watch] ntp_server")]
        ref = f"NTP server {server}"
    elif not db.is_sqlite:
        with db.reading() as s:
            theirs = s.scalar(select(text("CURRENT_TIMESTAMP")))
        if not isinstance(theirs, datetime):
            return []
        skew = (theirs - datetime.now(UTC)).total_seconds()
        ref = "the database server"
    else:
        return [Finding("clock", "system", "info", "no reference clock to compare with",
                        "set [watch] ntp_server to your NTP server to have the skew checked")]
    if abs(skew) > MAX_SKEW_S:
        return [Finding("clock", ref, "fail", f"this clock is {abs(skew):.1f} s "
                        f"{'behind' if skew > 0 else 'ahead of'} {ref}",
                        "run an NTP client (systemd-timesyncd, chrony)")]
    return [Finding("clock", ref, "ok", f"within {abs(skew):.2f} s of {ref}")]


VERSION_COMMANDS = {"postfix": ["postconf", "-h", "mail_version"],
                    "dovecot": ["dovecot", "--version"],
                    "redis": ["redis-server", "--version"]}


def check_versions() -> list[Finding]:
    out = []
    for name, cmd in VERSION_COMMANDS.items():
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL)
            version = (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            out.append(Finding("versions", name, "fail", f"{cmd[0]} does not run",
                               "run `make install`"))
            continue
        out.append(Finding("versions", name, "info", version))
    return out


def run(settings: Settings, db: Database) -> list[Finding]:
    """Every check, in the order the operator would fix things."""
    with db.reading() as s:
        domains = sorted(s.scalars(select(Domain.name)))
    now = datetime.now(UTC)
    return [*check_database(db), *check_ports(settings), *check_certificate(settings, now),
            *check_disk(settings), *check_clock(settings, db), *check_versions(),
            *check_dns(settings, domains)]
