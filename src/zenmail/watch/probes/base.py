"""What every probe shares: where it connects (`Target`), its result (`Outcome`), and the
probe mailbox it reads (`Mailbox`: IMAP IDLE until a message with a given token is there)."""

from __future__ import annotations

import secrets
import ssl
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from imapclient import IMAPClient

from zenmail.config import Settings
from zenmail.stack import probeaccount
from zenmail.stack.registry import port_plan
from zenmail.stack.tls import certificate_paths

HEADER = "X-Zenmail-Probe"
# Dovecot holds back IDLE notices for half a second to batch changes (measured: every
# IDLE-only round trip took >= 0.5 s, p95 1.1 s, against 70 ms by polling), so the probe
# also looks on its own every RECHECK seconds while it IDLEs: the figure is the mail's
# delivery time, not Dovecot's batching delay.
RECHECK = 0.05


@dataclass(frozen=True)
class Target:
    """How a probe reaches this node and logs in as the probe account."""

    host: str
    smtp_port: int
    submission_port: int
    imap_port: int
    dav_port: int
    address: str
    password: str
    hostname: str
    cafile: str
    timeout: float

    @classmethod
    def of(cls, settings: Settings) -> Target:
        plan = port_plan(settings)
        cert, _key = certificate_paths(settings)
        return cls(host=plan.connect_host(), smtp_port=plan["smtp"],
                   submission_port=plan["submission"], imap_port=plan["imap"],
                   dav_port=plan["dav"],
                   address=probeaccount.address(settings),
                   password=probeaccount.password(settings), hostname=settings.hostname,
                   cafile=str(cert), timeout=settings.watch.probe_timeout_s)

    def tls(self) -> ssl.SSLContext:
        """Verifies the node's certificate; not its name: we connect to an address."""
        ctx = ssl.create_default_context(cafile=self.cafile)
        ctx.check_hostname = False
        return ctx

    def message(self, token: str, via: str) -> bytes:
        return (f"From: <{self.address}>\r\nTo: <{self.address}>\r\n"
                f"Subject: zenmail probe {via} {token}\r\n"
                f"Message-ID: <{token}@{self.hostname}>\r\n{HEADER}: {token}\r\n"
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
                f"\r\nprobe {token}\r\n").encode()


@dataclass
class Outcome:
    probe: str
    ok: bool
    latency_s: float | None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProbeFailed(Exception):
    """A probe found the service wrong (the message did not arrive, a login was refused)."""


class Probe(ABC):
    name: ClassVar[str]

    def __init__(self, target: Target) -> None:
        self.target = target

    @abstractmethod
    def measure(self) -> float:
        """Do the probe once; seconds it took. Raises on failure."""

    def run(self) -> Outcome:
        try:
            return Outcome(self.name, True, round(self.measure(), 4))
        except (ProbeFailed, OSError, IMAPClient.Error, ssl.SSLError) as exc:
            return Outcome(self.name, False, None, f"{type(exc).__name__}: {exc}"[:500])
        except Exception as exc:  # smtplib's and imapclient's other errors: still a failure
            return Outcome(self.name, False, None, f"{type(exc).__name__}: {exc}"[:500])


def token() -> str:
    return "zp" + secrets.token_hex(8)


class Mailbox:
    """The probe account's INBOX, open and IDLE-ing, so a delivery is seen the moment it
    lands rather than at the next poll."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.recheck = RECHECK
        self.idling = False
        self.client = IMAPClient(target.host, target.imap_port, ssl=False,
                                 timeout=target.timeout)
        try:
            self.client.starttls(target.tls())
            self.client.login(target.address, target.password)
            self.client.select_folder("INBOX")
            self._idle()
        except BaseException:
            self.close()
            raise

    def wait_for(self, tok: str, deadline: float) -> None:
        """Return once the message carrying `tok` was read, then delete it for good."""
        while True:
            uids = self._find(tok)
            if uids:
                data = self.client.fetch(uids, ["BODY.PEEK[]"])
                if not any(tok.encode() in d[b"BODY[]"] for d in data.values()):
                    raise ProbeFailed("the probe message arrived damaged")
                self.client.delete_messages(uids)
                self.client.expunge()
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeFailed(f"the probe message did not arrive within "
                                  f"{self.target.timeout:.0f} s")
            self._idle()
            self.client.idle_check(timeout=min(left, self.recheck))

    def _idle(self) -> None:
        self.client.idle()
        self.idling = True

    def _done(self) -> None:
        if self.idling:
            self.client.idle_done()
            self.idling = False

    def _find(self, tok: str) -> list[int]:
        self._done()
        # SEARCH runs on the session's view of the mailbox; NOOP brings new mail into it.
        self.client.noop()
        return list(self.client.search(["HEADER", HEADER, tok]))

    def purge(self) -> None:
        """Delete for good what probes left: stray messages (a probe that timed out) and
        the copies lazy_expunge keeps in Expunged, so the probe mailbox stays near empty."""
        self._done()
        for folder in ("INBOX", "Expunged"):
            try:
                self.client.select_folder(folder)
            except IMAPClient.Error:
                continue  # Expunged is made at the account's first login
            # In INBOX only what is older than any probe's wait: another process (the
            # runner, `zenmail probe run`) may be waiting for a fresh one (WITHIN, RFC 5032).
            uids = self.client.search(["ALL"] if folder == "Expunged"
                                      else ["OLDER", str(int(self.target.timeout) + 60)])
            if uids:
                self.client.delete_messages(uids)
                self.client.expunge()
        self.client.select_folder("INBOX")

    def close(self) -> None:
        try:
            self._done()
            self.client.logout()
        except Exception:  # already gone; nothing to clean up
            pass


class DeliveryProbe(Probe):
    """A probe that sends a message with a fresh token and waits for it in the probe
    mailbox (opened first, so the arrival is seen the moment it lands); its latency runs
    from the first SMTP byte to the message seen over IMAP."""

    @abstractmethod
    def send(self, tok: str) -> None:
        """Hand the probe message carrying `tok` to the service."""

    def measure(self) -> float:
        t = self.target
        box = Mailbox(t)
        try:
            tok = token()
            start = time.monotonic()
            self.send(tok)
            box.wait_for(tok, start + t.timeout)
            return time.monotonic() - start
        finally:
            box.close()
