"""The DNS records a hosted domain must publish, exactly (`zenmail dns DOMAIN`).

MX to this host; SPF allowing only the MX; the DKIM key rspamd signs with; DMARC asking
receivers to quarantine what fails (with aggregate reports to the domain's postmaster);
MTA-STS (the TXT record, the host name and the policy file it serves) and TLS-RPT; and the
records mail clients find their settings by: autoconfig/autodiscover host names and the
RFC 6186/8314 SRV records, with the ports this stack's plan gives each listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from zenmail.config import Settings
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Domain
from zenmail.filtering import dkim


@dataclass(frozen=True)
class Record:
    name: str       # fully qualified, with the final dot
    type: str       # MX, TXT, CNAME, SRV
    value: str      # as a zone file writes it (TXT without quotes)
    purpose: str

    def zone_line(self) -> str:
        value = f'"{self.value}"' if self.type == "TXT" else self.value
        if self.type == "TXT" and len(self.value) > 255:
            # One TXT record, several strings of at most 255 bytes (RFC 7208 3.3).
            value = " ".join(f'"{self.value[i:i + 255]}"'
                             for i in range(0, len(self.value), 255))
        return f"{self.name:<40} 3600 IN {self.type:<5} {value}"


@dataclass(frozen=True)
class DnsAdvice:
    domain: str
    records: list[Record]
    mta_sts_policy: str       # served at https://mta-sts.<domain>/.well-known/mta-sts.txt

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "records": [asdict(r) for r in self.records],
                "mta_sts_policy": self.mta_sts_policy}


def records(domain: str, hostname: str, ports: dict[str, int], dkim_selector: str | None,
            dkim_value: str | None,
            dkim_previous: Sequence[tuple[str, str]] = ()) -> DnsAdvice:
    """Every record `domain` needs, for a mail host `hostname` whose listeners are on
    `ports` ({"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, ...});
    `dkim_previous`: (selector, value) of keys rotated out but still published."""
    d, host = domain.rstrip(".") + ".", hostname.rstrip(".") + "."
    out = [
        Record(d, "MX", f"10 {host}", "mail for the domain goes to this host"),
        Record(d, "TXT", "v=spf1 mx -all", "SPF: only the domain's MX sends its mail"),
    ]
    if dkim_selector and dkim_value:
        out.append(Record(f"{dkim_selector}._domainkey.{d}", "TXT", dkim_value,
                          "DKIM: the key outbound mail is signed with"))
    for selector, value in dkim_previous:
        out.append(Record(f"{selector}._domainkey.{d}", "TXT", value,
                          "DKIM: the previous key, kept published while mail signed with "
                          "it may still arrive; zenmail retires it after the overlap"))
    out += [
        Record(f"_dmarc.{d}", "TXT",
               f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@{domain}",
               "DMARC: receivers quarantine mail that fails SPF and DKIM, and report"),
        Record(f"_mta-sts.{d}", "TXT",
               f"v=STSv1; id={datetime.now(UTC).strftime('%Y%m%d')}01",
               "MTA-STS: senders must use verified TLS (policy at mta-sts host)"),
        Record(f"mta-sts.{d}", "CNAME", host, "MTA-STS: serves the policy file over HTTPS"),
        Record(f"_smtp._tls.{d}", "TXT", f"v=TLSRPTv1; rua=mailto:postmaster@{domain}",
               "TLS-RPT: where senders report TLS failures"),
        Record(f"autoconfig.{d}", "CNAME", host, "mail clients' automatic set-up"),
        Record(f"autodiscover.{d}", "CNAME", host, "mail clients' automatic set-up"),
    ]
    for service, port_name in (("submissions", "submissions"), ("submission", "submission"),
                               ("imaps", "imaps"), ("imap", "imap")):
        if port_name in ports:
            out.append(Record(f"_{service}._tcp.{d}", "SRV", f"0 1 {ports[port_name]} {host}",
                              f"RFC 6186: where clients find {service}"))
    if "dav" in ports:  # RFC 6764: calendars and contacts (HTTPS only), principals at "/"
        for service in ("caldavs", "carddavs"):
            out.append(Record(f"_{service}._tcp.{d}", "SRV", f"0 1 {ports['dav']} {host}",
                              f"RFC 6764: where clients find {service[:-1].upper()}"))
            out.append(Record(f"_{service}._tcp.{d}", "TXT", "path=/",
                              f"RFC 6764: the {service[:-1].upper()} context path"))
    policy = (f"version: STSv1\nmode: enforce\nmx: {hostname}\nmax_age: 604800\n")
    return DnsAdvice(domain, out, policy)


# The listeners mail clients are told about, at their standard ports (stack/daemons declare
# the same; a unit test checks that this agrees with the stack's port plan).
CLIENT_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993}


def listener_ports(settings: Settings) -> dict[str, int]:
    """Where this node's client-facing listeners are under `settings`' port plan."""
    base = 0 if settings.ports.plan == "standard" else settings.ports.base
    return {name: settings.ports.pins.get(name, base + std)
            for name, std in CLIENT_PORTS.items()}


def _advice(state_dir: Path, hostname: str, ports: dict[str, int], name: str) -> DnsAdvice:
    keys = dkim.published(state_dir, name)
    current, previous = (keys[0], keys[1:]) if keys else (None, [])
    return records(name, hostname, ports, current.selector if current else None,
                   current.public_record() if current else None,
                   [(k.selector, k.public_record()) for k in previous])


def for_domain(ctx: Ctx, state_dir: Path, hostname: str, ports: dict[str, int],
               domain: str, algorithm: str = "rsa") -> DnsAdvice:
    """The records of `domain` as `ctx` may see it (another tenant's domain: NotFound). Makes
    the domain's DKIM key if it has none yet, so the record can be published at once; lists
    the previous key too while a rotation's overlap lasts."""
    with ctx.reading() as s:
        d = ctx.find(s, Domain, domain, lock=False)
        name = d.name
    dkim.ensure(state_dir, [name], prune=False, algorithm=algorithm)
    return _advice(state_dir, hostname, ports, name)


def rotate_dkim(ctx: Ctx, state_dir: Path, hostname: str, ports: dict[str, int],
                domain: str, algorithm: str = "rsa", overlap_days: int = 7) -> DnsAdvice:
    """A new DKIM key for `domain` (as `ctx` may see it), audited; returns the records with
    the new key and the previous one, which stays published for `overlap_days` (mail
    signed with it may still be on its way), then is retired (`rotate_due`)."""
    with ctx.reading() as s:
        d = ctx.find(s, Domain, domain, lock=False)
        name, tenant_id = d.name, d.tenant_id
    new = dkim.rotate(state_dir, name, algorithm, overlap_days)
    with ctx.unit() as s:
        audit(s, ctx, "domain.dkim_rotated",
              f"{name} selector {new.selector} ({new.algorithm})", tenant_id)
    return _advice(state_dir, hostname, ports, name)


def rotate_due(ctx: Ctx, state_dir: Path, algorithm: str, rotate_days: int, overlap_days: int,
               now: datetime | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """The scheduled part (the rspamd chore): a new key for each domain whose key is older
    than `rotate_days` (0: never), and the previous keys whose overlap has passed retired.
    Both audited. Returns (rotated domains, retired (domain, selector))."""
    rotated = dkim.due(state_dir, rotate_days, now)
    owners = _tenants_of(ctx) if rotated or dkim.retiring(state_dir) else {}
    for name in rotated:
        new = dkim.rotate(state_dir, name, algorithm, overlap_days, now)
        with ctx.unit() as s:
            audit(s, ctx, "domain.dkim_rotated", f"{name} selector {new.selector} "
                  f"({new.algorithm}, scheduled every {rotate_days} days)", owners.get(name))
    retired = dkim.retire(state_dir, now)
    for name, selector in retired:
        with ctx.unit() as s:
            audit(s, ctx, "domain.dkim_retired", f"{name} selector {selector} (unpublish "
                  f"{selector}._domainkey.{name})", owners.get(name))
    return rotated, retired


def _tenants_of(ctx: Ctx) -> dict[str, int]:
    with ctx.reading() as s:
        return {n: t for n, t in s.execute(select(Domain.name, Domain.tenant_id))}
