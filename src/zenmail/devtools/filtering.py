"""What tests and benchmarks of the filtered path need and cannot download here: a ClamAV
signature database for the EICAR test file, and a DNS server on loopback that rspamd asks
(SPF, DKIM, DMARC, block lists) and that answers at once: the records it was given, NXDOMAIN
for everything else.

The EICAR string is assembled at run time, so this source file is no test virus itself.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from pathlib import Path
from typing import Any

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# rspamd's "add header" variant (enabled by [filter] test_patterns): spam, not rejected.
GTUBE_JUNK = b"YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def eicar_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.com", EICAR)
    return buf.getvalue()


def write_signatures(directory: Path) -> Path:
    """A ClamAV database that knows the EICAR file (an MD5 `.hdb` line), as freshclam's
    databases would; clamd names the match `Eicar-Test-Signature.UNOFFICIAL`."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    path = directory / "zenmail-test.hdb"
    path.write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n")
    path.chmod(0o644)
    return path


class DnsServer:
    """A DNS server on 127.0.0.1 (UDP and TCP) answering from `records`:
    {("name.", "TXT"): ["v=spf1 -all"], ("name.", "A"): ["127.0.0.1"]}; NXDOMAIN otherwise.
    Records may be added while it runs (`add`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.host = host
        self.port = port
        self._servers: list[Any] = []
        self._lock = threading.Lock()

    def add(self, name: str, rtype: str, value: str) -> None:
        with self._lock:
            self.records.setdefault((name.rstrip(".").lower() + ".", rtype.upper()),
                                    []).append(value)

    def start(self) -> DnsServer:
        from dnslib.server import DNSServer  # type: ignore[import-untyped]  # test-only

        from zenmail.stack.ports import free_ports
        if not self.port:
            self.port = free_ports(1)[0]
        for tcp in (False, True):
            srv = DNSServer(_Resolver(self), port=self.port, address=self.host, tcp=tcp,
                            logger=_Quiet())
            srv.start_thread()
            self._servers.append(srv)
        return self

    @classmethod
    def on_port_53(cls) -> DnsServer:
        """One on port 53 of a loopback address of its own (127.53.x.y), started: what a
        resolv.conf can name (Postfix's DNSBL client reads one; it has no port field)."""
        import random

        for _ in range(20):
            host = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
            try:
                return cls(host, 53).start()
            except OSError:  # taken by another test run
                continue
        raise OSError("no free loopback address for a DNS server on port 53")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        for srv in self._servers:
            srv.stop()
        self._servers.clear()


class _Resolver:
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import QTYPE, RCODE, RR, TXT, A  # type: ignore[import-untyped]

        reply = request.reply()
        q = request.q
        name, rtype = str(q.qname).lower(), QTYPE[q.qtype]
        with self.server._lock:
            values = list(self.server.records.get((name, rtype), []))
            known = any(n == name for n, _ in self.server.records)
        for v in values:
            if rtype == "TXT":
                # Long TXT values (DKIM keys) are split into 255-byte strings.
                chunks = [v[i:i + 255].encode() for i in range(0, len(v), 255)] or [b""]
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
            elif rtype == "A":
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(v), ttl=60))
        if not values and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
