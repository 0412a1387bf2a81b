"""Apple configuration profiles (`.mobileconfig`): Mail (IMAP + SMTP), CalDAV and CardDAV
payloads for one account, holding an app password made for this profile — never the
person's own password, which stays out of every file and every device.

The payload keys are Apple's documented ones (Device Management, "Mail", "CalDAV",
"CardDAV" payloads). When a certificate is configured ([tls] cert/key), the profile is
signed with it (CMS/PKCS #7, DER), so iOS and macOS show the signer instead of
"Unsigned"; the dev plan's self-signed certificate is no proof to anyone, so a profile is
signed only with a configured one.
"""

from __future__ import annotations

import plistlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from zenmail.devices.endpoints import Endpoints
from zenmail.errors import InvalidInput

MAIL = "com.apple.mail.managed"
CALDAV = "com.apple.caldav.account"
CARDDAV = "com.apple.carddav.account"
CONTENT_TYPE = "application/x-apple-aspen-config"


@dataclass(frozen=True)
class Account:
    address: str
    display_name: str
    secret: str          # the app password made for this profile


def _ident(hostname: str) -> str:
    """A reverse-DNS identifier prefix from the mail host name."""
    return ".".join(reversed(hostname.strip(".").split("."))) or "zenmail"


def build(account: Account, endpoints: Endpoints, *, hostname: str,
          organisation: str = "zenmail") -> bytes:
    """The unsigned profile as an XML property list."""
    base = f"{_ident(hostname)}.zenmail.{account.address}"
    name = account.display_name or account.address
    imap, smtp, dav = endpoints.imap, endpoints.smtp, endpoints.dav

    def payload(kind: str, suffix: str, display: str, **keys: object) -> dict[str, object]:
        return {"PayloadType": kind, "PayloadVersion": 1,
                "PayloadIdentifier": f"{base}.{suffix}",
                "PayloadUUID": str(uuid.uuid4()).upper(),
                "PayloadDisplayName": display, **keys}

    mail = payload(
        MAIL, "mail", f"Mail ({account.address})",
        EmailAccountType="EmailTypeIMAP", EmailAccountDescription=account.address,
        EmailAccountName=name, EmailAddress=account.address,
        IncomingMailServerHostName=imap.host, IncomingMailServerPortNumber=imap.port,
        IncomingMailServerUseSSL=imap.tls, IncomingMailServerAuthentication="EmailAuthPassword",
        IncomingMailServerUsername=account.address, IncomingPassword=account.secret,
        OutgoingMailServerHostName=smtp.host, OutgoingMailServerPortNumber=smtp.port,
        # Apple's "use SSL" on port 587 means STARTTLS, which submission requires.
        OutgoingMailServerUseSSL=True, OutgoingMailServerAuthentication="EmailAuthPassword",
        OutgoingMailServerUsername=account.address, OutgoingPassword=account.secret,
        OutgoingPasswordSameAsIncomingPassword=True)
    caldav = payload(
        CALDAV, "caldav", f"Calendars ({account.address})",
        CalDAVAccountDescription=f"Calendars ({account.address})", CalDAVHostName=dav.host,
        CalDAVPort=dav.port, CalDAVUseSSL=dav.tls, CalDAVUsername=account.address,
        CalDAVPassword=account.secret,
        CalDAVPrincipalURL=f"{dav.url()}{account.address}/")
    carddav = payload(
        CARDDAV, "carddav", f"Contacts ({account.address})",
        CardDAVAccountDescription=f"Contacts ({account.address})", CardDAVHostName=dav.host,
        CardDAVPort=dav.port, CardDAVUseSSL=dav.tls, CardDAVUsername=account.address,
        CardDAVPassword=account.secret,
        CardDAVPrincipalURL=f"{dav.url()}{account.address}/")
    profile = {
        "PayloadType": "Configuration", "PayloadVersion": 1,
        "PayloadIdentifier": base, "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadDisplayName": f"{name}: mail, calendars, contacts",
        "PayloadDescription": f"Sets up {account.address} on this device with its own app "
                              "password (revocable on its own).",
        "PayloadOrganization": organisation,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail, caldav, carddav],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


def sign(data: bytes, cert_pem: Path, key_pem: Path) -> bytes:
    """`data` wrapped in a CMS SignedData (DER) made with this certificate and key, the
    chain's other certificates included."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.read_bytes())
        key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot sign the profile with {cert_pem}: {exc}; check [tls] "
                           "cert and key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"the key in {key_pem} cannot sign (RSA or EC expected)")
    builder = (pkcs7.PKCS7SignatureBuilder().set_data(data)
               .add_signer(chain[0], key, hashes.SHA256()))
    for extra in chain[1:]:
        builder = builder.add_certificate(extra)
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
