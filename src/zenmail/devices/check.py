"""The connection self-test: try what a device does — IMAP login, SMTP submission, CalDAV —
with one credential, and say in plain words what fails and what to do.

It first reads what the directory says about the account and the credential (exists,
enabled, which credential it is, whether the tenant refuses the main password, lockouts),
then connects like a client would: to the host names and ports the setup documents give
(`endpoints.of`), with TLS verified against what this machine trusts plus the stack's own
certificate. Each step is one `Step` with `ok` (None: skipped), what happened, and advice.
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zenmail.config import Settings
from zenmail.devices import endpoints
from zenmail.directory import apppasswords, names
from zenmail.directory.context import Ctx
from zenmail.directory.models import Account
from zenmail.directory.views import View
from zenmail.errors import InvalidInput

TIMEOUT = 15.0


@dataclass
class Step(View):
    name: str
    ok: bool | None          # None: not tried (skipped)
    detail: str
    advice: str = ""


@dataclass
class Report(View):
    address: str
    credential: str          # "main", "app password 'iPhone'", or "unknown"
    ok: bool
    steps: list[Step] = field(default_factory=list)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """What this machine trusts, plus the stack's own certificate (the dev plan's
    self-signed one, or the configured chain)."""
    context = ssl.create_default_context()
    cert = Path(settings.tls.cert) if settings.tls.cert else (
        settings.state_dir / "tls" / "cert.pem")
    if cert.exists():
        context.load_verify_locations(cafile=str(cert))
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def _network_advice(host: str, port: int, exc: BaseException, what: str) -> tuple[str, str]:
    if isinstance(exc, socket.gaierror):
        return (f"{host} does not resolve here ({exc.strerror})",
                f"give {host} an A/AAAA record in DNS pointing at this server")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the certificate of {host}:{port} is not trusted ({exc.verify_message})",
                "install a certificate for this host name from a public CA ([tls] cert/key, "
                "e.g. from certbot); devices would warn or refuse")
    if isinstance(exc, ConnectionRefusedError):
        return (f"nothing answers on {host}:{port}",
                f"start the stack (`zenmail up`) and check that {what} runs "
                "(`zenmail status`); a firewall may also be closing the port")
    if isinstance(exc, TimeoutError | socket.timeout):
        return (f"{host}:{port} did not answer within {TIMEOUT:.0f} s",
                "check the firewall and the server's load (`zenmail status`)")
    return (f"{host}:{port}: {exc}", f"check that {what} runs (`zenmail status`)")


def _login_advice(kind: str, known: str | None, required: bool) -> str:
    if known is None:
        return ("the password is neither the account's password nor one of its app "
                "passwords in use: type it again, or make a new app password "
                "(`zenmail app-password add ADDRESS --name DEVICE`)")
    if known == "main" and required:
        return ("the tenant requires app passwords for mail: make one for this device "
                "(`zenmail app-password add ADDRESS --name DEVICE`)")
    return (f"the directory accepts this credential but {kind} refused it: the account may "
            "be locked out after wrong passwords (`zenmail lockout list`), or Dovecot cannot "
            "read the directory (its log: STATE/log/dovecot.log)")


def _imap(settings: Settings, address: str, password: str, known: str | None,
          required: bool) -> Step:
    s = endpoints.of(settings).imap
    try:
        client = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=tls_context(settings),
                                   timeout=TIMEOUT)
    except (OSError, ssl.SSLError) as exc:
        detail, advice = _network_advice(s.host, s.port, exc, "Dovecot")
        return Step("imap", False, detail, advice)
    try:
        client.login(address, password)
    except imaplib.IMAP4.error as exc:
        return Step("imap", False, f"IMAP login at {s.host}:{s.port} refused: "
                    f"{exc.args[0]!r}", _login_advice("IMAP", known, required))
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
    return Step("imap", True, f"logged in to IMAP at {s.host}:{s.port} (TLS)")


def _smtp(settings: Settings, address: str, password: str, known: str | None,
          required: bool) -> Step:
    s = endpoints.of(settings).smtp
    try:
        client = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT)
        client.starttls(context=tls_context(settings))
    except (OSError, ssl.SSLError, smtplib.SMTPException) as exc:
        detail, advice = _network_advice(s.host, s.port, exc, "Postfix")
        return Step("submission", False, detail, advice)
    try:
        client.login(address, password)
    except smtplib.SMTPAuthenticationError as exc:
        said = (exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error))
        return Step("submission", False, f"SMTP login at {s.host}:{s.port} refused: "
                    f"{exc.smtp_code} {said}",
                    _login_advice("SMTP submission", known, required))
    except smtplib.SMTPException as exc:
        return Step("submission", False, f"SMTP at {s.host}:{s.port}: {exc}",
                    "check Postfix's log (STATE/log/postfix.log)")
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return Step("submission", True, f"logged in to SMTP submission at {s.host}:{s.port} "
                "(STARTTLS): this device can send")


def _caldav(settings: Settings, address: str, password: str) -> Step:
    d = endpoints.of(settings).dav
    factory: Callable[..., http.client.HTTPConnection] = (
        http.client.HTTPSConnection if d.tls else http.client.HTTPConnection)
    kwargs = {"context": tls_context(settings)} if d.tls else {}
    conn = factory(d.host, d.port, timeout=TIMEOUT, **kwargs)
    auth = base64.b64encode(f"{address}:{password}".encode()).decode()
    try:
        conn.request("PROPFIND", d.path, headers={"Authorization": f"Basic {auth}",
                                                  "Depth": "0"})
        status = conn.getresponse().status
    except ConnectionRefusedError:
        return Step("caldav", None, f"no CalDAV server at {d.host}:{d.port}: skipped",
                    "if calendars should work, start the DAV daemon (`zenmail up`)")
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        detail, advice = _network_advice(d.host, d.port, exc, "the CalDAV server")
        return Step("caldav", False, detail, advice)
    finally:
        conn.close()
    if status in (200, 207):
        return Step("caldav", True, f"logged in to CalDAV at {d.url()}")
    if status == 401:
        return Step("caldav", False, f"CalDAV at {d.url()} refused the credential (401)",
                    "check the password; the calendar server uses the same ones as mail")
    return Step("caldav", False, f"CalDAV at {d.url()} answered {status}",
                "check the DAV daemon's log (STATE/log/)")


def run(ctx: Ctx, settings: Settings, address: str, password: str, *,
        caldav: bool = True) -> Report:
    """Check `address` with `password` along every path a device uses."""
    if not password:
        raise InvalidInput("give the password or app password to test (on standard input)")
    with ctx.reading() as s:
        account = ctx.find(s, Account, address)  # the tenant wall: NotFound outside it
        clean, enabled = account.address, account.enabled
        required = account.tenant.app_passwords_required
    report = Report(names.address_display(clean), "unknown", False)
    if not enabled:
        report.steps.append(Step("account", False, f"{clean} is disabled",
                                 f"enable it: `zenmail account enable {clean}`"))
        return report
    known = apppasswords.check(ctx, clean, password)
    if known is None and required and apppasswords.self_actor(ctx, clean, password):
        known = "main"  # the account's password, which the tenant refuses for mail
    report.credential = ("unknown" if known is None else "main password" if known == "main"
                         else f"app password {known.removeprefix('app:')!r}")
    detail = {None: "the password matches nothing of this account",
              "main": "the account's own password"}.get(known, report.credential)
    report.steps.append(Step("directory", known is not None and not (
        known == "main" and required), f"{clean}: enabled; credential: {detail}" + (
        "; the tenant requires app passwords for mail" if required else ""),
        "" if known is not None and not (known == "main" and required)
        else _login_advice("the directory", known, required)))
    report.steps.append(_imap(settings, clean, password, known, required))
    report.steps.append(_smtp(settings, clean, password, known, required))
    if caldav:
        report.steps.append(_caldav(settings, clean, password))
    report.ok = all(step.ok is not False for step in report.steps)
    return report
