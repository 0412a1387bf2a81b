"""Who may use calendars and contacts: the directory decides, at every request.

Radicale asks `Verifier.check(login, password)` for each request (HTTP Basic carries the
password every time). The answer follows the directory at once: a disabled or removed
account, a changed password or a revoked app password is refused at its next request,
without a restart. App passwords work as for IMAP and SMTP (directory/apppasswords.py),
and so does a tenant's rule that only app passwords may log in.

Verifying an Argon2id hash costs tens of milliseconds, and a calendar sync makes dozens of
requests, so a success is remembered — keyed by a digest of the password *and* the stored
hash — and re-checked by one indexed query per request: a remembered password stops working
as soon as the stored hash changes or the account is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.db import Database
from zenmail.directory import apppasswords, names, usage
from zenmail.directory.models import Account, AppPassword, Tenant
from zenmail.directory.passwords import Hasher

TENANT_GROUP = "tenant:"  # the group an account's tenant is given to the rights plugin
READ_ONLY = "zenmail:read-only"  # the group of an account at or over its quota
USAGE_TTL = 60.0  # seconds a measured DAV usage is trusted


@dataclass(frozen=True)
class Login:
    address: str
    tenant: str
    over_quota: bool = False

    @property
    def groups(self) -> set[str]:
        return {TENANT_GROUP + self.tenant} | ({READ_ONLY} if self.over_quota else set())


def stamp(s: Session, account: Account) -> str:
    """What a remembered success depends on: it is forgotten when this changes (a new main
    password, an app password made or revoked, app passwords required by the tenant)."""
    apps = ",".join(f"{a.id}:{a.password_hash}" for a in apppasswords.live(s, account))
    return f"{account.password_hash}|{account.tenant.app_passwords_required}|{apps}"


class Verifier:
    """`dav_bytes(address)`: what the account's calendars and contacts weigh; with it, an
    account whose mail and DAV data reach its quota logs in read-only (writes answer 403)."""

    def __init__(self, db: Database, hasher: Hasher | None = None,
                 dav_bytes: Callable[[str], int] | None = None) -> None:
        self.db = db
        self.hasher = hasher or Hasher()
        self._dav_bytes = dav_bytes
        self._usage: dict[str, tuple[float, int]] = {}  # address -> (measured at, bytes)
        self._salt = secrets.token_bytes(16)
        # (address, password digest) -> stamp: one entry per device that logged in (its app
        # password, or the main password), so devices taking turns do not evict each other.
        self._ok: dict[tuple[str, bytes], str] = {}
        self._lock = threading.Lock()

    def _digest(self, address: str, password: str) -> bytes:
        return hmac.new(self._salt, f"{address}\0{password}".encode(), hashlib.sha256).digest()

    def check(self, login: str, password: str) -> Login | None:
        """The account `login` names, if it exists, is enabled and `password` opens it."""
        address = names.address_key(login)
        if "@" not in address or not password:
            return None
        used: list[int] = []
        with self.db.reading() as s:
            row = s.execute(select(Account, Tenant.name).join(Tenant, Tenant.id ==
                                                              Account.tenant_id)
                            .where(Account.address == address)).first()
            if row is None:
                return None
            account, tenant = row
            if not account.enabled:
                return None
            key = (address, self._digest(address, password))
            with self._lock:
                known = self._ok.get(key)
            if known != stamp(s, account):
                matched = apppasswords.opening(s, account, password, self.hasher)
                if matched is None:
                    return None
                with self._lock:
                    self._ok[key] = stamp(s, account)
                if isinstance(matched, AppPassword):
                    used.append(matched.id)
            found = Login(address, tenant, self._over_quota(s, account))
        if used:  # the device's last use, as `zenmail app-password list` shows it
            apppasswords.record_use(self.db, used)
        return found

    def _over_quota(self, s: Session, account: Account) -> bool:
        if self._dav_bytes is None:
            return False
        now = time.monotonic()
        with self._lock:
            seen = self._usage.get(account.address)
        if seen is None or now - seen[0] > USAGE_TTL:
            seen = (now, self._dav_bytes(account.address))
            with self._lock:
                self._usage[account.address] = seen
        mail = usage.of_account(s, account.address) or 0
        return mail + seen[1] >= account.quota_bytes

    def forget_usage(self, address: str) -> None:
        with self._lock:
            self._usage.pop(address, None)
