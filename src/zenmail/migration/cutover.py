"""Day X: does the domain's MX already point at zenmail?

After the final delta, `migrate cutover` asks DNS for each project domain's MX records and
compares them with the platform's host name. It only warns: the administrator switches the
MX at their DNS provider, and mail still arriving at the old provider is what the final
delta (and any later `migrate run`) picks up.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver


@dataclass(frozen=True)
class MxCheck:
    domain: str
    ok: bool
    hosts: tuple[str, ...]
    message: str


def check_mx(domain: str, hostname: str, server: str = "", timeout: float = 3.0) -> MxCheck:
    """MX of `domain` against `hostname`; `server` "IP" or "IP:PORT" (default: the system's
    resolver)."""
    resolver = dns.resolver.Resolver(configure=not server)
    if server:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        resolver.nameservers = [host or server]
        if port:
            resolver.port = int(port)
    resolver.lifetime = timeout
    want = hostname.rstrip(".").lower()
    try:
        answer = resolver.resolve(domain, "MX")
    except (dns.exception.DNSException, OSError) as exc:
        return MxCheck(domain, False, (), f"could not look up the MX of {domain} ({exc}); "
                       f"check by hand that it points at {want}")
    records = sorted(((r.preference, r.exchange.to_text().rstrip(".").lower())
                      for r in answer), key=lambda pr: pr[0])
    hosts = tuple(h for _, h in records)
    if hosts and hosts[0] == want and all(h == want for h in hosts):
        return MxCheck(domain, True, hosts, f"MX of {domain} points at {want}")
    return MxCheck(domain, False, hosts,
                   f"MX of {domain} points at {', '.join(hosts) or 'nothing'}, not only at "
                   f"{want}: mail still goes to the old provider; switch the MX, then run "
                   "`zenmail migrate cutover` again for the last delta")
