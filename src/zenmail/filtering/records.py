"""The DNS records a hosted domain must publish, exactly (`zenmail dns DOMAIN`).

MX to this host; SPF allowing only the MX; the DKIM key rspamd signs with; DMARC asking
receivers to quarantine what fails (with aggregate reports to the domain's postmaster);
MTA-STS (the TXT record, the host name and the policy file it serves) and TLS-RPT; and the
records mail clients find their settings by: autoconfig/autodiscover host names and the
RFC 6186/8314 SRV records, with the ports this stack's plan gives each listener.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.directory.context import Ctx
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
            dkim_value: str | None) -> DnsAdvice:
    """Every record `domain` needs, for a mail host `hostname` whose listeners are on
    `ports` ({"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, ...})."""
    d, host = domain.rstrip(".") + ".", hostname.rstrip(".") + "."
    out = [
        Record(d, "MX", f"10 {host}", "mail for the domain goes to this host"),
        Record(d, "TXT", "v=spf1 mx -all", "SPF: only the domain's MX sends its mail"),
    ]
    if dkim_selector and dkim_value:
        out.append(Record(f"{dkim_selector}._domainkey.{d}", "TXT", dkim_value,
                          "DKIM: the key outbound mail is signed with"))
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
    policy = (f"version: STSv1\nmode: enforce\nmx: {hostname}\nmax_age: 604800\n")
    return DnsAdvice(domain, out, policy)


def for_domain(ctx: Ctx, state_dir: Path, hostname: str, ports: dict[str, int],
               domain: str) -> DnsAdvice:
    """The records of `domain` as `ctx` may see it (another tenant's domain: NotFound). Makes
    the domain's DKIM key if it has none yet, so the record can be published at once."""
    with ctx.reading() as s:
        d = ctx.find(s, Domain, domain, lock=False)
        name = d.name
    dkim.ensure(state_dir, [name], prune=False)
    k = dkim.key(state_dir, name)
    return records(name, hostname, ports, k.selector if k else None,
                   k.public_record() if k else None)
