"""App passwords: one credential per device, named, listed with its last use, revocable.

A device (a phone, a mail program) gets a random secret of 138 bits instead of the person's
password. It is stored as `{SSHA256}` (salted SHA-256), which Dovecot verifies in
microseconds: guessing 138 random bits is hopeless at any hash speed, and devices log in far
more often than people, so the slow Argon2id stays where it protects something — the
password a person chose. Dovecot reads every live app password of an account beside the main
password from the `mail_credentials` view (lookups.py) and accepts any of them; a tenant may
require app passwords, and then the main password no longer opens IMAP or SMTP.

Revoking keeps the row (name, dates) for the record and takes effect at the next login: the
change is written to `auth_changes` in the same transaction, so Dovecot's auth cache is
flushed for the account (`Ctx.auth_changed`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zenmail.db import Database
from zenmail.directory import names
from zenmail.directory.context import Actor, Ctx, audit
from zenmail.directory.models import Account, AppPassword, Tenant, utcnow
from zenmail.directory.passwords import Hasher
from zenmail.directory.views import View
from zenmail.errors import Conflict, InvalidInput, NotFound

SCHEME = "{SSHA256}"
# Lower-case letters and digits without the look-alikes 0/o, 1/l/i: easy to type on a phone
# if it must be typed at all. 28 symbols of 31 = 138 bits, shown in groups of four.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
SECRET_SYMBOLS = 28
MAX_NAME = 100
MAX_LIVE = 50  # per account: each is checked at a login that matches none of the others


@dataclass
class AppPasswordInfo(View):
    account: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass
class NewAppPassword(View):
    """What `add` returns: the record and the secret, which is never shown again."""

    app_password: AppPasswordInfo
    secret: str


def generate_secret() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_SYMBOLS))
    return "-".join(raw[i:i + 4] for i in range(0, SECRET_SYMBOLS, 4))


def hash_secret(secret: str) -> str:
    """`{SSHA256}` as Dovecot reads it: base64(SHA-256(secret + salt) + salt)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.sha256(secret.encode() + salt).digest()
    return SCHEME + base64.b64encode(digest + salt).decode()


def verify_secret(stored: str, secret: str) -> bool:
    if not stored.startswith(SCHEME):
        return False
    try:
        raw = base64.b64decode(stored.removeprefix(SCHEME), validate=True)
    except ValueError:
        return False
    digest, salt = raw[:32], raw[32:]
    return hmac.compare_digest(hashlib.sha256(secret.encode() + salt).digest(), digest)


def check_name(name: str) -> str:
    clean = unicodedata.normalize("NFC", name).strip()
    if not clean:
        raise InvalidInput("an app password needs a name saying which device it is for, "
                           "e.g. --name \"iPhone\"")
    if len(clean) > MAX_NAME:
        raise InvalidInput(f"app password name has {len(clean)} characters; use at most "
                           f"{MAX_NAME}")
    if any(unicodedata.category(c).startswith("C") for c in clean):
        raise InvalidInput("app password name contains a control character; use plain text")
    return clean


def _info(a: Account, p: AppPassword) -> AppPasswordInfo:
    return AppPasswordInfo(account=a.address, name=p.name, created_at=p.created_at,
                           last_used_at=p.last_used_at, revoked_at=p.revoked_at)


def _live(s: Session, account: Account) -> list[AppPassword]:
    return list(s.scalars(select(AppPassword).where(AppPassword.account_id == account.id,
                                                    AppPassword.revoked_at.is_(None))
                          .order_by(AppPassword.id)))


def add(ctx: Ctx, address: str, name: str) -> NewAppPassword:
    """A new app password for the account; the secret is in the answer and nowhere else."""
    clean = check_name(name)
    secret = generate_secret()
    stored = hash_secret(secret)
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        live = _live(s, account)
        if any(p.name == clean for p in live):
            raise Conflict(f"{account.address} already has an app password named {clean!r}; "
                           "choose another name, or revoke that one first with `zenmail "
                           f"app-password revoke {account.address} {_quoted(clean)}`")
        if len(live) >= MAX_LIVE:
            raise Conflict(f"{account.address} has {len(live)} app passwords, the most one "
                           "account may hold; revoke those of devices no longer used")
        row = AppPassword(account_id=account.id, name=clean, password_hash=stored)
        s.add(row)
        s.flush()
        audit(s, ctx, "app_password.add", f"{account.address} {clean}", account.tenant_id,
              after={"name": clean})
        ctx.auth_changed(s, [account.address])
        return NewAppPassword(_info(account, row), secret)


def list_for(ctx: Ctx, address: str, *, include_revoked: bool = True) -> list[AppPasswordInfo]:
    with ctx.reading() as s:
        account = ctx.find(s, Account, address)
        stmt = select(AppPassword).where(AppPassword.account_id == account.id)
        if not include_revoked:
            stmt = stmt.where(AppPassword.revoked_at.is_(None))
        rows = s.scalars(stmt.order_by(AppPassword.created_at, AppPassword.id))
        return [_info(account, p) for p in rows]


def revoke(ctx: Ctx, address: str, name: str) -> AppPasswordInfo:
    """Revoke the account's live app password called `name`: refused from the next login on."""
    clean = check_name(name)
    with ctx.unit() as s:
        account = ctx.find(s, Account, address, lock=True)
        row = next((p for p in _live(s, account) if p.name == clean), None)
        if row is None:
            raise NotFound(f"{account.address} has no app password named {clean!r} in use; "
                           f"`zenmail app-password list {account.address}` shows them")
        row.revoked_at = utcnow()
        audit(s, ctx, "app_password.revoke", f"{account.address} {clean}", account.tenant_id,
              before={"name": clean})
        ctx.auth_changed(s, [account.address])
        s.flush()
        return _info(account, row)


def _quoted(name: str) -> str:
    return name if name.isalnum() else '"' + name.replace('"', '\\"') + '"'


# ---------------------------------------------------------------- the tenant's rule

def set_required(ctx: Ctx, tenant: str, required: bool) -> bool:
    """Whether the tenant's people must use app passwords for IMAP and SMTP (a tenant
    administrator decides it for its own tenant)."""
    with ctx.unit() as s:
        row = ctx.find(s, Tenant, tenant, lock=True)
        before = row.app_passwords_required
        if before != required:
            row.app_passwords_required = required
            audit(s, ctx, "tenant.app_passwords_required", row.name, row.id,
                  before={"required": before}, after={"required": required})
            ctx.auth_changed(s, list(s.scalars(
                select(Account.address).where(Account.tenant_id == row.id))))
            s.flush()
        return required


def required(ctx: Ctx, tenant: str) -> bool:
    with ctx.reading() as s:
        return ctx.find(s, Tenant, tenant).app_passwords_required


# ---------------------------------------------------------------- checking, for other services

def live(s: Session, account: Account) -> list[AppPassword]:
    """The account's app passwords in use, oldest first."""
    return _live(s, account)


def opening(s: Session, account: Account, password: str, hasher: Hasher
            ) -> AppPassword | Literal["main"] | None:
    """Which credential of `account` the password is: one of its live app passwords, its
    main password where the tenant allows it, or None. What Dovecot's passdb decides for IMAP
    and SMTP, for the services that check passwords themselves (the self-service API,
    CalDAV, the device check)."""
    for p in _live(s, account):
        if verify_secret(p.password_hash, password):
            return p
    if not account.tenant.app_passwords_required and hasher.verify(account.password_hash,
                                                                    password):
        return "main"
    return None


def check(ctx: Ctx, address: str, password: str) -> str | None:
    """Which credential of the account `password` is — "app:<name>", "main" — or None."""
    key = names.address_key(address)
    with ctx.reading() as s:
        account = ctx.get(s, Account, key)
        if account is None or not account.enabled:
            return None
        found = opening(s, account, password, ctx.hasher)
        return found if found is None or found == "main" else f"app:{found.name}"


def self_actor(ctx: Ctx, address: str, password: str) -> Actor | None:
    """The account itself as the actor, if `password` is its main password: what only the
    person may do (make and revoke their app passwords, fetch a setup profile) needs the
    person's own password; an app password cannot make more of itself."""
    try:
        key = names.address_key(address)
    except InvalidInput:
        return None
    with ctx.reading() as s:
        account = ctx.get(s, Account, key)
        if account is None or not account.enabled:
            return None
        stored, tenant_id, clean = account.password_hash, account.tenant_id, account.address
    if not ctx.hasher.verify(stored, password):
        return None
    return Actor(f"self:{clean}", tenant_id=tenant_id)


def record_use(db: Database, ids: list[int], at: datetime | None = None) -> None:
    """Stamp these app passwords as used now (the login policy reports successful logins)."""
    if not ids:
        return
    with db.transaction() as s:
        s.execute(update(AppPassword).where(AppPassword.id.in_(ids))
                  .values(last_used_at=at or utcnow()))
