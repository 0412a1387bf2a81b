"""The source side: an IMAP account at the old provider, read with imapclient.

Every way a connection can fail is turned into a `SourceError` that names the reason in
words an administrator can act on, and says whether trying again later can help
(`transient`): a refused connection or a timeout may pass; a wrong password or an untrusted
certificate will not.
"""

from __future__ import annotations

import functools
import imaplib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from zenmail.errors import InvalidInput

TLS_MODES = ("none", "starttls", "tls")
TIMEOUT = 60.0


class SourceError(Exception):
    """The source cannot be read; `reason` is one line for the report."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class SourceSpec:
    host: str
    port: int
    user: str
    tls: str = "tls"
    insecure: bool = False
    master_user: str | None = None  # log in as `user*master` with the master's password
    oauth2: bool = False  # the secret is an OAuth2 access token (SASL XOAUTH2), not a password

    @property
    def url(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}"

    @property
    def login_name(self) -> str:
        # The form Dovecot and Zimbra accept for a master (admin) login on a user's behalf.
        return f"{self.user}*{self.master_user}" if self.master_user else self.user


def parse_url(url: str, tls: str, insecure: bool = False,
              master_user: str | None = None, oauth2: bool = False) -> SourceSpec:
    """`imap://alice@old.example:143` → a SourceSpec (the user may hold an @ itself)."""
    if tls not in TLS_MODES:
        raise InvalidInput(f"--source-tls {tls!r}: choose one of {', '.join(TLS_MODES)}")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("imap", "imaps") or not parts.hostname:
        raise InvalidInput(f"source {url!r}: give it as imap://USER@HOST:PORT")
    user = unquote(parts.username or "")
    if not user:
        raise InvalidInput(f"source {url!r}: the user is missing; give it as "
                           "imap://USER@HOST:PORT")
    if parts.password is not None:
        raise InvalidInput("a password does not belong in the source URL (it would show in "
                           "process lists and logs); give it with --source-password-stdin")
    try:
        port = parts.port or (993 if tls == "tls" else 143)
    except ValueError as exc:
        raise InvalidInput(f"source {url!r}: the port must be a number") from exc
    if oauth2 and master_user:
        raise InvalidInput("an OAuth2 access token is the user's own: drop --source-master")
    return SourceSpec(parts.hostname, port, user, tls, insecure, master_user, oauth2)


def _tls_context(spec: SourceSpec) -> ssl.SSLContext:
    return _context(spec.insecure)


@functools.cache
def _context(insecure: bool) -> ssl.SSLContext:
    # Made once per process and shared (an SSLContext is safe to share between threads):
    # loading the system's CA store costs ~25 ms of CPU, and a run connects to the source
    # several times per account (listing, reading, verifying).
    ctx = ssl.create_default_context()
    if insecure:
        # Asked for explicitly (--source-insecure): old servers with self-signed certificates.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_reason(spec: SourceSpec, exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS: the certificate of {spec.host}:{spec.port} is not trusted "
                f"({exc.verify_message}); if you know it is self-signed, add "
                "--source-insecure")
    return (f"TLS with {spec.host}:{spec.port} failed ({exc.reason or exc}); check "
            "--source-tls (none, starttls or tls) and the port")


def connect(spec: SourceSpec, password: str) -> IMAPClient:
    """A logged-in client, or a SourceError saying why not."""
    where = f"{spec.host}:{spec.port}"
    try:
        client = IMAPClient(spec.host, spec.port, ssl=spec.tls == "tls",
                            ssl_context=_tls_context(spec) if spec.tls == "tls" else None,
                            timeout=TIMEOUT)
    except ssl.SSLError as exc:
        raise SourceError(_tls_reason(spec, exc), transient=False) from exc
    except socket.gaierror as exc:
        raise SourceError(f"unreachable: cannot resolve {spec.host} ({exc.strerror})",
                          transient=True) from exc
    except TimeoutError as exc:
        raise SourceError(f"unreachable: {where} did not answer in {TIMEOUT:.0f} s",
                          transient=True) from exc
    except ConnectionRefusedError as exc:
        raise SourceError(f"unreachable: {where} refused the connection", transient=True
                          ) from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SourceError(f"unreachable: {where}: {exc}", transient=True) from exc
    try:
        if spec.tls == "starttls":
            try:
                client.starttls(_tls_context(spec))
            except ssl.SSLError as exc:
                raise SourceError(_tls_reason(spec, exc), transient=False) from exc
            except IMAPClientError as exc:
                raise SourceError(f"TLS: {where} does not offer STARTTLS ({exc}); try "
                                  "--source-tls tls", transient=False) from exc
        client.normalise_times = False  # keep each INTERNALDATE's own offset
        try:
            if spec.oauth2:
                # Microsoft 365 and Gmail: SASL XOAUTH2 with an access token the
                # administrator obtained for the mailbox (the token is read like a password).
                client.oauth2_login(spec.user, password)
            else:
                client.login(spec.login_name, password)
        except LoginError as exc:
            if spec.oauth2:
                raise SourceError(f"wrong credentials: {where} refused the OAuth2 access "
                                  f"token for {spec.user} (expired, revoked, or not for this "
                                  "mailbox? get a fresh one)", transient=False) from exc
            who = f"{spec.user} (master {spec.master_user})" if spec.master_user else spec.user
            raise SourceError(f"wrong credentials: {where} refused the login of {who}",
                              transient=False) from exc
        return client
    except SourceError:
        _close(client)
        raise
    except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
        _close(client)
        raise SourceError(f"connection to {where} broke: {exc}", transient=True) from exc


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 (closing a broken connection may fail in any way)
        pass
