"""Device setup: Thunderbird autoconfig and Outlook Autodiscover name the right servers,
an Apple profile parses with Apple's documented keys and holds a working app password (never
the main password), a signed one verifies with openssl, and a setup link works once."""

from __future__ import annotations

import datetime
import json
import plistlib
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    Server,
    make_client_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.config import Settings
from zenmail.devices import autoconfig, endpoints, profile, setup
from zenmail.directory import apppasswords
from zenmail.directory.context import Ctx
from zenmail.directory.models import DeviceLink
from zenmail.errors import InvalidInput, NotFound

PINS = {"imap": 20143, "imaps": 20993, "submission": 20587, "submissions": 20465,
        "http": 20080, "smtp": 20025}

# Apple's documented keys (developer.apple.com/documentation/devicemanagement: "TopLevel",
# "Mail", "CalDAV", "CardDAV" and the common payload keys).
COMMON = {"PayloadType", "PayloadVersion", "PayloadIdentifier", "PayloadUUID",
          "PayloadDisplayName", "PayloadDescription", "PayloadOrganization"}
TOP = COMMON | {"PayloadContent", "PayloadRemovalDisallowed", "PayloadScope",
                "RemovalDate", "DurationUntilRemoval", "ConsentText"}
APPLE_KEYS = {
    "com.apple.mail.managed": COMMON | {
        "EmailAccountDescription", "EmailAccountName", "EmailAccountType", "EmailAddress",
        "IncomingMailServerAuthentication", "IncomingMailServerHostName",
        "IncomingMailServerPortNumber", "IncomingMailServerUseSSL",
        "IncomingMailServerUsername", "IncomingPassword", "OutgoingPassword",
        "OutgoingPasswordSameAsIncomingPassword", "OutgoingMailServerAuthentication",
        "OutgoingMailServerHostName", "OutgoingMailServerPortNumber",
        "OutgoingMailServerUseSSL", "OutgoingMailServerUsername", "PreventMove",
        "PreventAppSheet", "SMIMEEnabled", "allowMailDrop", "disableMailRecentsSyncing"},
    "com.apple.caldav.account": COMMON | {
        "CalDAVAccountDescription", "CalDAVHostName", "CalDAVUsername", "CalDAVPassword",
        "CalDAVUseSSL", "CalDAVPort", "CalDAVPrincipalURL"},
    "com.apple.carddav.account": COMMON | {
        "CardDAVAccountDescription", "CardDAVHostName", "CardDAVUsername", "CardDAVPassword",
        "CardDAVUseSSL", "CardDAVPort", "CardDAVPrincipalURL"},
}


def settings_for(tmp: Path, **extra: object) -> Settings:
    return Settings.model_validate({"state_dir": tmp, "ports": {"pins": PINS}, **extra})


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.acme.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def check_profile(ctx: Ctx, data: bytes, address: str) -> dict[str, object]:
    """Parse the profile, check its keys against Apple's, and that its password is a live
    app password of `address` and not the main password."""
    plist = plistlib.loads(data)
    assert set(plist) <= TOP and plist["PayloadType"] == "Configuration"
    kinds = [p["PayloadType"] for p in plist["PayloadContent"]]
    assert kinds == ["com.apple.mail.managed", "com.apple.caldav.account",
                     "com.apple.carddav.account"]
    for p in plist["PayloadContent"]:
        assert set(p) <= APPLE_KEYS[p["PayloadType"]], set(p) - APPLE_KEYS[p["PayloadType"]]
    mail, cal, card = plist["PayloadContent"]
    secret = mail["IncomingPassword"]
    assert secret == mail["OutgoingPassword"] == cal["CalDAVPassword"] == card[
        "CardDAVPassword"]
    assert secret != PASSWORD and PASSWORD.encode() not in data
    assert (apppasswords.check(ctx, address, secret) or "").startswith("app:")
    assert mail["EmailAddress"] == mail["IncomingMailServerUsername"] == address
    return plist


def test_endpoints_follow_the_port_plan(tmp_path: Path) -> None:
    e = endpoints.of(settings_for(tmp_path))
    assert (e.imap.host, e.imap.port, e.imap.tls) == ("127.0.0.1", 20993, True)
    assert (e.smtp.port, e.smtp.tls, e.smtp_tls.port) == (20587, False, 20465)
    assert e.dav.port == 10000 + endpoints.DAV_STANDARD_PORT
    std = endpoints.of(Settings.model_validate({
        "state_dir": tmp_path, "hostname": "mail.acme.test", "ports": {"plan": "standard"}}))
    assert (std.imap.host, std.imap.port, std.smtp.port, std.dav.port, std.dav.tls) == (
        "mail.acme.test", 993, 587, 5232, True)
    pinned = endpoints.of(settings_for(tmp_path, devices={
        "dav_url": "https://dav.acme.test/dav/"}))
    assert pinned.dav.url() == "https://dav.acme.test:443/dav/"


def test_autoconfig_and_autodiscover(ctx: Ctx, server: Server, make_client,  # type: ignore[no-untyped-def]
                                     tmp_path: Path) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    server.app.state.settings = settings_for(tmp_path)
    c: httpx.Client = make_client(None)
    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"):
        r = c.get(path, params={"emailaddress": "alice@acme.test"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.findtext("emailProvider/domain") == "acme.test"
        incoming = [(s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"))
                    for s in root.iter("incomingServer")]
        outgoing = [(s.findtext("port"), s.findtext("socketType"))
                    for s in root.iter("outgoingServer")]
        assert incoming == [("127.0.0.1", "20993", "SSL"), ("127.0.0.1", "20143", "STARTTLS")]
        assert outgoing == [("20465", "SSL"), ("20587", "STARTTLS")]
        assert {s.findtext("username") for s in root.iter("incomingServer")} == {
            "%EMAILADDRESS%"}
    assert c.get("/mail/config-v1.1.xml",
                 params={"emailaddress": "x@elsewhere.test"}).status_code == 404

    request = (f'<?xml version="1.0"?><Autodiscover xmlns="{autoconfig.REQUEST_NS}"><Request>'
               "<EMailAddress>alice@acme.test</EMailAddress><AcceptableResponseSchema>"
               f"{autoconfig.OUTLOOK_NS}</AcceptableResponseSchema></Request></Autodiscover>")
    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        r = c.post(path, content=request, headers={"Content-Type": "text/xml"})
        assert r.status_code == 200
        ns = {"o": autoconfig.OUTLOOK_NS}
        root = ET.fromstring(r.content)
        protocols = {p.findtext("o:Type", namespaces=ns): (
            p.findtext("o:Server", namespaces=ns), p.findtext("o:Port", namespaces=ns),
            p.findtext("o:LoginName", namespaces=ns)) for p in root.iter(f"{{{ns['o']}}}Protocol")}
        assert protocols == {"IMAP": ("127.0.0.1", "20993", "alice@acme.test"),
                             "SMTP": ("127.0.0.1", "20465", "alice@acme.test")}
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Autodiscover>'
            "<EMailAddress>&a;</EMailAddress></Autodiscover>")
    r = c.post("/autodiscover/autodiscover.xml", content=bomb)
    assert r.status_code == 200 and b"<ErrorCode>600</ErrorCode>" in r.content
    assert b"<ErrorCode>600</ErrorCode>" in c.get("/autodiscover/autodiscover.xml").content


def test_autodiscover_request_parsing() -> None:
    with pytest.raises(InvalidInput, match="no EMailAddress"):
        autoconfig.requested_address(b"<Autodiscover/>")
    with pytest.raises(InvalidInput, match="not well-formed"):
        autoconfig.requested_address(b"<Autodiscover>")


def test_profile_from_the_cli(zenmail: Invoke, ctx: Ctx, tmp_path: Path) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    out_file = tmp_path / "alice.mobileconfig"
    out = zenmail("device", "profile", "alice@acme.test", "--out", str(out_file))
    assert out.code == 0, out.stderr
    assert "unsigned" in out.stdout
    check_profile(ctx, out_file.read_bytes(), "alice@acme.test")
    assert oct(out_file.stat().st_mode & 0o777) == "0o600"
    # A second profile is a second device: its own app password.
    zenmail("device", "profile", "alice@acme.test", "--out", str(tmp_path / "2.mobileconfig"),
            "--name", "iPad")
    names = [r.name for r in apppasswords.list_for(ctx, "alice@acme.test")]
    assert len(names) == 2 and "iPad" in names


def test_signed_profile_verifies_with_openssl(ctx: Ctx, tmp_path: Path) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    cert, key = self_signed(tmp_path)
    settings = settings_for(tmp_path, tls={"cert": str(cert), "key": str(key)})
    made = setup.make_profile(ctx, settings, "alice@acme.test", "iPhone")
    assert made.signed and not made.data.startswith(b"<?xml")
    signed = tmp_path / "signed.mobileconfig"
    signed.write_bytes(made.data)
    for tool in ("cms", "smime"):
        content = tmp_path / f"content-{tool}.plist"
        done = subprocess.run(["openssl", tool, "-verify", "-inform", "DER", "-in",
                               str(signed), "-CAfile", str(cert), "-purpose", "any",
                               "-out", str(content)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "Verification successful" in done.stderr
        check_profile(ctx, content.read_bytes(), "alice@acme.test")
    # Tampered: one byte of the signed content changed, and openssl says so.
    data = bytearray(made.data)
    i = data.find(b"alice@acme.test")
    data[i] = ord("A")
    signed.write_bytes(bytes(data))
    done = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed),
                           "-CAfile", str(cert), "-purpose", "any", "-out", "/dev/null"],
                          capture_output=True, text=True)
    assert done.returncode != 0


def test_setup_link_works_once_and_expires(zenmail: Invoke, ctx: Ctx, server: Server,
                                           make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed_tenant(ctx, "acme", "acme.test")
    out = zenmail("device", "link", "alice@acme.test", "--expires", "30m", "--json")
    assert out.code == 0, out.stderr
    link = json.loads(out.stdout)
    token = link["url"].rsplit("/", 1)[1]
    assert link["url"].endswith(f"/api/v1/device-links/{token}") and token.startswith("zmdl_")
    text = zenmail("device", "link", "alice@acme.test")
    assert "█" in text.stdout or "▀" in text.stdout  # the QR code, drawn in the terminal
    c: httpx.Client = make_client(None)
    r = c.get(f"/api/v1/device-links/{token}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-apple-aspen-config"
    check_profile(ctx, r.content, "alice@acme.test")
    again = c.get(f"/api/v1/device-links/{token}")
    assert again.status_code == 404 and "already used or expired" in again.json()["message"]

    late = setup.make_link(ctx, settings_for(tmp_path), "bob@acme.test", "1h")
    with ctx.db.transaction() as s:
        s.execute(update(DeviceLink).values(
            expires_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)))
    assert c.get(late.url[late.url.index("/api/"):]).status_code == 404
    with pytest.raises(InvalidInput, match="at most 7 days"):
        setup.parse_expiry("8d")
    with pytest.raises(NotFound):
        setup.redeem(ctx, settings_for(tmp_path), "zmdl_nothing")


def test_profile_payload_builder_marks_tls(tmp_path: Path) -> None:
    data = profile.build(profile.Account("a@b.test", "A", "s3cr-et"),
                         endpoints.of(settings_for(tmp_path)), hostname="mail.b.test")
    mail = plistlib.loads(data)["PayloadContent"][0]
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerPortNumber"] == 20993


def test_admin_and_self_service_over_the_api(ctx: Ctx, server: Server, make_client,  # type: ignore[no-untyped-def]
                                             tmp_path: Path) -> None:
    from tests.unit.test_api_fixtures import token_for
    seed_tenant(ctx, "acme", "acme.test")
    root = make_client(token_for(ctx, "root@ops.test"))
    r = root.post("/api/v1/accounts/alice@acme.test/device-links", json={"expires": "2h"})
    assert r.status_code == 201 and "/api/v1/device-links/zmdl_" in r.json()["url"]
    me = make_client(None)
    r = me.get("/api/v1/me/profile", auth=("alice@acme.test", PASSWORD))
    assert r.status_code == 200, r.text
    check_profile(ctx, r.content, "alice@acme.test")
    assert me.get("/api/v1/me/profile").status_code == 401
