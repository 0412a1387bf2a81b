"""The directory schema: the single source of truth.

Postfix and Dovecot query these tables themselves (see zenmail.stack), so column names and
meanings are part of a contract: `domains.name`, `accounts.address`, `accounts.password_hash`,
`accounts.quota_bytes`, `accounts.enabled`, `aliases.address`, `alias_targets.target`; and
Dovecot writes `quota_usage` (see lookups.DOVECOT_USAGE).
Addresses are stored lowercased; a catch-all alias has the address `@domain`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always reads back timezone-aware, in UTC.

    PostgreSQL keeps the offset; SQLite stores none and returns naive values, which would make
    the same record serialise as `…Z` on one backend (or right after creation) and without an
    offset on the other.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # PostgreSQL answers in the session's time zone, which follows the server's setting.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    pool_bytes: Mapped[int] = mapped_column(BigInteger)
    max_accounts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The tenant's people log in to IMAP and SMTP only with app passwords (one per device);
    # their main password then serves the API and the setup pages only.
    app_passwords_required: Mapped[bool] = mapped_column(Boolean, default=False,
                                                         server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)

    domains: Mapped[list[Domain]] = relationship(back_populates="tenant")


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"),
                                           index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"),
                                           index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"),
                                           index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 onupdate=utcnow)

    domain: Mapped[Domain] = relationship()
    # Many-to-one by primary key: read from the session's identity map when the tenant is
    # already loaded (it usually is, locked), so views cost no extra query.
    tenant: Mapped[Tenant] = relationship()


class QuotaUsage(Base):
    """What one mailbox stores, as Dovecot counts it: written by Dovecot's quota_clone plugin
    through its SQL dict at every change (delivery, save, expunge), read by zenmail.

    Keyed by Dovecot's user name, the account's address; no foreign key, so that Dovecot's
    write for an account removed meanwhile cannot fail. An account without a row has not
    changed since usage was first recorded (`None` in the views: not measured yet).
    """

    __tablename__ = "quota_usage"

    username: Mapped[str] = mapped_column(String(320), primary_key=True)
    used_bytes: Mapped[int] = mapped_column("bytes", BigInteger, default=0, server_default="0")
    messages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Alias(Base):
    __tablename__ = "aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"),
                                           index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"),
                                           index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    targets: Mapped[list[AliasTarget]] = relationship(
        back_populates="alias", cascade="all, delete-orphan", order_by="AliasTarget.id")


class AliasTarget(Base):
    __tablename__ = "alias_targets"
    __table_args__ = (UniqueConstraint("alias_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias_id: Mapped[int] = mapped_column(ForeignKey("aliases.id", ondelete="CASCADE"),
                                          index=True)
    target: Mapped[str] = mapped_column(String(320), index=True)

    alias: Mapped[Alias] = relationship(back_populates="targets")


class Admin(Base):
    """A person or system allowed to change the directory. `tenant_id` NULL: global admin."""

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(320), unique=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"),
                                          index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    admin: Mapped[Admin] = relationship()


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    tenant_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)  # "a -> b" of a quota move can exceed 320
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)


class AppPassword(Base):
    """One device's credential for an account: a random secret shown once, stored as a fast
    salted hash ({SSHA256}) that Dovecot checks beside the main password (see
    lookups.CREDENTIALS_VIEW). Revoked rows stay for the record; only live ones log in."""

    __tablename__ = "app_passwords"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    account: Mapped[Account] = relationship()


class AuthChange(Base):
    """A credential that changed (password, state, app password): written in the same
    transaction as the change, read by every node to flush Dovecot's auth cache for that
    user, so a login cached before the change is never accepted after it."""

    __tablename__ = "auth_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class DeviceLink(Base):
    """A one-time, expiring link that hands a device its setup profile (with a fresh app
    password). Only the token's SHA-256 is stored."""

    __tablename__ = "device_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    account: Mapped[Account] = relationship()
