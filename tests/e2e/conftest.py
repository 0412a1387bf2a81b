"""A real private stack per backend: Postfix and Dovecot on free loopback ports, in a state
directory of their own, reading a directory database on SQLite or on PostgreSQL."""

from __future__ import annotations

import imaplib
import itertools
import os
import shutil
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.security import authcache
from zenmail.stack import manager
from zenmail.stack.base import Service
from zenmail.stack.registry import Stack

PASSWORD = "correct-horse-battery"
DOMAIN = "acme.test"
# Cheap hashes keep logins fast; the {ARGON2ID} scheme Dovecot verifies is the real one.
HASHER = Hasher(memory_kib=1024, time_cost=1)
WAIT = 60.0  # a generous ceiling for mail to arrive; the tests never assert on durations


def wait_for(cond: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll until `cond()` is truthy; fail the test naming `what` if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


class IMAPFrom(imaplib.IMAP4):
    """imaplib's client, connecting from a chosen local address (wrong-password tests use
    127.0.0.2, so Dovecot's auth penalty never slows the good logins from 127.0.0.1)."""

    def __init__(self, host: str, port: int, source: str) -> None:
        self._source = source
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


@dataclass
class MailStack:
    settings: Settings
    db: Database
    ctx: Ctx
    ports: dict[str, int]
    tls: ssl.SSLContext
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def state(self) -> Path:
        return self.settings.state_dir

    def daemon(self, name: str) -> Service:
        """One daemon of this stack (`stack.daemon("dovecot").pid()`)."""
        return Stack(self.settings).services[name]

    def account(self, name: str, quota: str = "100M", domain: str = DOMAIN) -> str:
        """A fresh account; each test makes its own, so tests never see each other's mail."""
        address = f"{name}-{next(self._seq)}@{domain}"
        accounts.add(self.ctx, address, password=PASSWORD, quota=quota)
        return address

    def smtp(self, source: str = "127.0.0.1") -> smtplib.SMTP:
        """The MX-role listener (port 25 in production), unauthenticated."""
        return smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30,
                            source_address=(source, 0))

    def submission(self, user: str | None = None, password: str = PASSWORD,
                   source: str = "127.0.0.1") -> smtplib.SMTP:
        c = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=30,
                         source_address=(source, 0))
        c.starttls(context=self.tls)
        if user:
            c.login(user, password)
        return c

    def imap(self, user: str, password: str = PASSWORD, source: str = "127.0.0.1"
             ) -> imaplib.IMAP4:
        m = IMAPFrom("127.0.0.1", self.ports["imap"], source)
        m.starttls(self.tls)
        m.login(user, password)
        return m

    def imap_login_ok(self, user: str, password: str) -> bool:
        """Whether an IMAP login succeeds, tried from 127.0.0.2 so a wrong password's auth
        penalty never slows the good logins of the same test."""
        try:
            self.imap(user, password, source="127.0.0.2").logout()
            return True
        except imaplib.IMAP4.error:
            return False

    def messages(self, user: str, mailbox: str = "INBOX") -> list[bytes]:
        """Every message of the mailbox, raw, in UID order."""
        m = self.imap(user)
        try:
            typ, _ = m.select(mailbox, readonly=True)
            if typ != "OK":
                return []  # not created yet (e.g. by a Sieve fileinto still to come)
            _, data = m.uid("SEARCH", "ALL")
            out = []
            for uid in data[0].split():
                _, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
                out.append(next(p[1] for p in parts if isinstance(p, tuple)))
            return out
        finally:
            m.logout()

    def wait_messages(self, user: str, count: int, mailbox: str = "INBOX") -> list[bytes]:
        return wait_for(lambda: (lambda ms: ms if len(ms) >= count else None)(
            self.messages(user, mailbox)), f"{count} message(s) in {user}/{mailbox}")  # type: ignore[return-value]

    def message(self, sender: str, to: str, subject: str, body: str = "Hello.\r\n") -> bytes:
        n = next(self._seq)
        return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
                f"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
                f"Message-ID: <e2e-{n}-{os.getpid()}@{DOMAIN}>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                f"{body}").encode()


def _start(db_url: str, **values: object) -> Iterator[MailStack]:
    """A stack on its own state directory; `values` are settings (`filter={...}`)."""
    settings = new_state(database_url=db_url, **values)
    state = settings.state_dir
    db = Database(settings.db_url)
    db.migrate()
    # Like the CLI and the API: Dovecot's auth cache is flushed right after each change.
    ctx = Ctx(db, Actor("test:e2e"), HASHER, on_auth_change=authcache.flusher(state))
    tenants.add(ctx, "acme", "100G")
    domains.add(ctx, "acme", DOMAIN)
    try:
        manager.up(settings, with_api=False)
        tls = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
        yield MailStack(settings, db, ctx, Stack(settings).plan.ports(), tls)
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest) -> Iterator[MailStack]:
    """One stack per backend and test module, shared by its tests (each uses own accounts)."""
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    if request.param == "sqlite":
        yield from _start("")  # the default: STATE/db/directory.db
    else:
        url = request.getfixturevalue("pg_server").create_database()
        yield from _start(url)
