"""Mail programs that find their servers themselves: Thunderbird's autoconfig
(`config-v1.1.xml`) and Outlook's Autodiscover (the "POX" XML of Exchange 2007+).

Both name the same servers (`endpoints.of`): IMAP with TLS (993, or 143 with STARTTLS) and
SMTP submission (465 with TLS, or 587 with STARTTLS), the full address as user name,
passwords sent inside TLS. Nothing here is secret or per account: a mail domain's servers
are public anyway (its MX), so the documents need no authentication.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from zenmail.devices.endpoints import Endpoints, Server
from zenmail.errors import InvalidInput

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_REQUEST = 16 * 1024  # an Autodiscover request is a few hundred bytes


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    e = ET.SubElement(parent, tag)
    e.text = text
    return e


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def thunderbird(domain: str | None, endpoints: Endpoints, provider: str) -> bytes:
    """Thunderbird's clientConfig for `domain`; without one (no `emailaddress` asked), the
    placeholders Thunderbird fills in itself."""
    root = ET.Element("clientConfig", version="1.1")
    p = ET.SubElement(root, "emailProvider", id=domain or provider)
    _text(p, "domain", domain or "%EMAILDOMAIN%")
    _text(p, "displayName", f"{domain or '%EMAILDOMAIN%'} mail ({provider})")
    _text(p, "displayShortName", domain or provider)

    def server(kind: str, protocol: str, s: Server) -> None:
        e = ET.SubElement(p, kind, type=protocol)
        _text(e, "hostname", s.host)
        _text(e, "port", str(s.port))
        _text(e, "socketType", "SSL" if s.tls else "STARTTLS")
        _text(e, "username", "%EMAILADDRESS%")
        _text(e, "authentication", "password-cleartext")

    server("incomingServer", "imap", endpoints.imap)
    server("incomingServer", "imap", endpoints.imap_starttls)
    server("outgoingServer", "smtp", endpoints.smtp_tls)
    server("outgoingServer", "smtp", endpoints.smtp)
    return _document(root)


def requested_address(body: bytes) -> str:
    """The EMailAddress of an Autodiscover request. No DTDs or entities are accepted (an
    XML bomb is refused before it is parsed), nor anything large."""
    if len(body) > MAX_REQUEST:
        raise InvalidInput("an Autodiscover request is a small XML document")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise InvalidInput("an Autodiscover request has no DOCTYPE or entities")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise InvalidInput(f"the Autodiscover request is not well-formed XML: {exc}") from exc
    found = root.find(f".//{{{REQUEST_NS}}}EMailAddress")
    if found is None:
        found = next((e for e in root.iter() if e.tag.endswith("EMailAddress")), None)
    if found is None or not (found.text or "").strip():
        raise InvalidInput("the Autodiscover request names no EMailAddress")
    return (found.text or "").strip()


def outlook(address: str, endpoints: Endpoints) -> bytes:
    """The POX answer: an IMAP and an SMTP protocol block with the full address as login."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_NS)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")

    def protocol(kind: str, s: Server) -> None:
        e = ET.SubElement(account, "Protocol")
        _text(e, "Type", kind)
        _text(e, "Server", s.host)
        _text(e, "Port", str(s.port))
        _text(e, "DomainRequired", "off")
        _text(e, "LoginName", address)
        _text(e, "SPA", "off")
        if s.tls:
            _text(e, "SSL", "on")
        else:
            _text(e, "Encryption", "TLS")  # STARTTLS
        _text(e, "AuthRequired", "on")

    protocol("IMAP", endpoints.imap)
    protocol("SMTP", endpoints.smtp_tls)
    return _document(root)


def outlook_error(message: str) -> bytes:
    """Autodiscover's own error answer (Outlook shows the message and asks for manual
    settings)."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response")
    error = ET.SubElement(response, "Error", Time="00:00:00", Id="1")
    _text(error, "ErrorCode", "600")
    _text(error, "Message", message)
    _text(error, "DebugData", "")
    return _document(root)
