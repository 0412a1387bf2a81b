"""`zenmail doctor` against a real DNS server on loopback (dnslib) and a real SNTP answer:
a domain without its DKIM key is reported with the record to publish; the rest is ok."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib.server import DNSLogger, DNSServer
from dnslib.zoneresolver import ZoneResolver

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory import domains, tenants
from zenmail.directory.context import Ctx
from zenmail.stack.ports import free_ports
from zenmail.watch import doctor

HOST = "mail.zenmail.test"
ZONE = f"""
good.test.                  60 IN MX  10 {HOST}.
good.test.                  60 IN TXT "v=spf1 mx -all"
zenmail._domainkey.good.test. 60 IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkq"
_dmarc.good.test.           60 IN TXT "v=DMARC1; p=quarantine"
nodkim.test.                60 IN MX  10 {HOST}.
nodkim.test.                60 IN TXT "v=spf1 mx -all"
_dmarc.nodkim.test.         60 IN TXT "v=DMARC1; p=reject"
"""


@pytest.fixture
def dns_server() -> Iterator[str]:
    port = free_ports(1)[0]
    quiet = DNSLogger(logf=lambda _line: None)  # it would print into the CLI's output
    server = DNSServer(ZoneResolver(ZONE), port=port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def ntp_server() -> Iterator[str]:
    """Answers SNTP with a clock 30 s ahead of ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                _data, peer = sock.recvfrom(512)
            except OSError:
                return
            now = time.time() + 30 + 2208988800
            stamp = struct.pack("!II", int(now), int((now % 1) * 2**32))
            sock.sendto(b"\x24\x01" + b"\0" * 30 + stamp + stamp, peer)

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_doctor_reports_a_missing_dkim_key_with_the_record_to_publish(
        ctx: Ctx, database: Database, tmp_path: Path, dns_server: str, ntp_server: str) -> None:
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "good.test")
    domains.add(ctx, "acme", "nodkim.test")
    settings = Settings(state_dir=tmp_path, hostname=HOST).with_values(
        {"watch.resolver": dns_server, "watch.ntp_server": ntp_server})
    found = doctor.run(settings, database)
    dns = {(f.subject, f.message.split()[0]): f for f in found if f.check == "dns"}
    assert all(f.status == "ok" for (d, _), f in dns.items() if d == "good.test"), dns
    bad = [f for f in found if f.check == "dns" and f.status != "ok"]
    assert len(bad) == 1 and bad[0].subject == "nodkim.test" and bad[0].status == "fail"
    assert "zenmail._domainkey.nodkim.test" in bad[0].message
    assert "TXT" in bad[0].fix and "v=DKIM1" in bad[0].fix
    clock = next(f for f in found if f.check == "clock")
    assert clock.status == "fail" and "behind" in clock.message
    assert next(f for f in found if f.check == "database").status == "ok"
    ports = next(f for f in found if f.check == "ports")
    assert ports.status == "fail" and "zenmail up" in ports.fix  # no stack runs here


def test_doctor_on_the_command_line(zenmail: Invoke, ctx: Ctx, dns_server: str,
                                    tmp_path: Path) -> None:
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "nodkim.test")
    env = {"ZENMAIL_WATCH_RESOLVER": dns_server, "ZENMAIL_HOSTNAME": HOST}
    r = zenmail("doctor", "--json", env=env)
    assert r.code == 1  # something failed
    findings = json.loads(r.stdout)
    assert {"check": "dns", "subject": "nodkim.test", "status": "fail"}.items() <= next(
        f for f in findings if "DKIM" in f["message"]).items()
    text = zenmail("doctor", env=env)
    assert "FAIL  dns" in text.stdout
    assert "-> publish `zenmail._domainkey.nodkim.test." in text.stdout
