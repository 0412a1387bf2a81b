"""Setting a device up: a profile with a fresh app password, and one-time links to fetch it.

A link is a random token (only its SHA-256 is stored) that expires, and works once: the
first fetch makes the app password and the profile, and marks the link used in the same
unit of work, so two fetches racing each other cannot both get one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from zenmail.config import Settings
from zenmail.devices import endpoints, profile
from zenmail.directory import accounts, apppasswords
from zenmail.directory.context import Actor, Ctx, audit
from zenmail.directory.models import Account, DeviceLink, utcnow
from zenmail.errors import InvalidInput, NotFound

TOKEN_PREFIX = "zmdl_"
MAX_EXPIRY = timedelta(days=7)
DEFAULT_EXPIRY = "1h"
_DURATION = re.compile(r"([1-9][0-9]{0,5})\s*(m|min|h|d)")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Profile:
    data: bytes
    signed: bool
    app_password: str       # its name, as `app-password list` shows it
    address: str

    @property
    def filename(self) -> str:
        return self.address.split("@")[0] + ".mobileconfig"


@dataclass(frozen=True)
class Link:
    url: str
    address: str
    expires_at: datetime


def parse_expiry(text: str) -> timedelta:
    m = _DURATION.fullmatch(text.strip().lower())
    if not m:
        raise InvalidInput(f"expiry {text!r} is not a duration such as 30m, 1h or 2d")
    value = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if value > MAX_EXPIRY:
        raise InvalidInput(f"a setup link may live at most {MAX_EXPIRY.days} days; give less "
                           f"than {text!r}")
    return value


def make_profile(ctx: Ctx, settings: Settings, address: str,
                 device: str | None = None) -> Profile:
    """A new app password for the account and a profile holding it, signed when a
    certificate is configured."""
    name = device or f"Apple profile {utcnow():%Y-%m-%d %H:%M:%S}"
    made = apppasswords.add(ctx, address, name)
    shown = accounts.show(ctx, made.app_password.account)
    data = profile.build(profile.Account(shown.address, shown.display_name, made.secret),
                         endpoints.of(settings), hostname=settings.hostname)
    signed = bool(settings.tls.cert)
    if signed:
        data = profile.sign(data, Path(settings.tls.cert), Path(settings.tls.key))
    return Profile(data, signed, made.app_password.name, shown.address)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_link(ctx: Ctx, settings: Settings, address: str,
              expires: str = DEFAULT_EXPIRY) -> Link:
    lifetime = parse_expiry(expires)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ctx.unit() as s:
        account = ctx.find(s, Account, address)
        until = utcnow() + lifetime
        s.add(DeviceLink(account_id=account.id, token_hash=_hash(token), expires_at=until))
        audit(s, ctx, "device.link", account.address, account.tenant_id,
              after={"expires_at": until.isoformat()})
        clean = account.address
    return Link(f"{endpoints.api_base(settings)}/api/v1/device-links/{token}", clean, until)


GONE = ("this setup link is unknown, already used or expired; ask for a new one (`zenmail "
        "device link ADDRESS`)")


def redeem(ctx: Ctx, settings: Settings, token: str) -> Profile:
    """The profile behind a link, once. `ctx` only finds the link; the profile is made on
    behalf of the account itself (audited as `link:<address>`)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise NotFound(GONE)
    now = utcnow()
    with ctx.unit() as s:
        link = s.scalars(select(DeviceLink).where(DeviceLink.token_hash == _hash(token))
                         ).one_or_none()
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise NotFound(GONE)
        taken = s.execute(update(DeviceLink).where(DeviceLink.id == link.id,
                                                   DeviceLink.used_at.is_(None))
                          .values(used_at=now))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(GONE)
        account = link.account
        if not account.enabled:
            raise NotFound(GONE)
        owner = Ctx(ctx.db, Actor(f"link:{account.address}", tenant_id=account.tenant_id),
                    ctx.hasher, ctx.platform, on_auth_change=ctx.on_auth_change)
        address = account.address
    return make_profile(owner, settings, address, f"Setup link {now:%Y-%m-%d %H:%M:%S}")


def hosted_domain(ctx: Ctx, address: str) -> str | None:
    """The domain of `address` if this installation hosts it (autoconfig answers only for
    those)."""
    from zenmail.directory import names
    from zenmail.directory.models import Domain
    try:
        domain = names.domain_key(address.rpartition("@")[2] or address)
    except InvalidInput:
        return None
    with ctx.reading() as s:
        row = ctx.get(s, Domain, domain)
        return row.name if row is not None else None
