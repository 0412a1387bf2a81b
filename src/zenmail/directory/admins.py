"""Administrators and their API tokens.

A token is `zm_<id>_<secret>`: 32 random bytes, shown once; only its SHA-256 is stored (a
random 256-bit secret needs no slow hash, and lookups by id keep verification constant-time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory import names
from zenmail.directory.context import Actor, Ctx, audit
from zenmail.directory.models import Admin, ApiToken, Tenant, utcnow
from zenmail.directory.views import AdminInfo, NewToken, TokenInfo
from zenmail.errors import Conflict, InvalidInput, PermissionDenied

TOKEN_PREFIX = "zm_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _admin_info(s: Session, a: Admin) -> AdminInfo:
    tenant = (s.scalar(select(Tenant.name).where(Tenant.id == a.tenant_id))
              if a.tenant_id else None)
    return AdminInfo(name=a.name, name_unicode=names.address_display(a.name), tenant=tenant,
                     created_at=a.created_at)


def _token_info(t: ApiToken) -> TokenInfo:
    return TokenInfo(id=t.id, admin=t.admin.name, name=t.name, created_at=t.created_at,
                     revoked=t.revoked_at is not None)


def add(ctx: Ctx, name: str, tenant: str | None = None) -> AdminInfo:
    """A global administrator (no tenant) or one scoped to a tenant."""
    clean = names.valid_address(name, "administrator name")
    if tenant is None and not ctx.actor.is_global:
        raise PermissionDenied("only a global administrator may create global administrators")
    with ctx.unit() as s:
        scope = ctx.find(s, Tenant, tenant) if tenant else None
        if s.scalar(select(Admin.id).where(Admin.name == clean)) is not None:
            raise Conflict(f"administrator {clean!r} already exists")
        admin = Admin(name=clean, tenant_id=scope.id if scope else None)
        s.add(admin)
        s.flush()
        audit(s, ctx, "admin.add", clean, admin.tenant_id,
              after={"tenant": scope.name if scope else None})
        return _admin_info(s, admin)


def list_all(ctx: Ctx) -> list[AdminInfo]:
    with ctx.reading() as s:
        stmt = ctx.scoped(select(Admin).order_by(Admin.name), Admin.tenant_id)
        return [_admin_info(s, a) for a in s.scalars(stmt)]


def remove(ctx: Ctx, name: str) -> None:
    """Remove an administrator and, with them, every token they had."""
    with ctx.unit() as s:
        admin = ctx.find(s, Admin, name)
        if ctx.actor.admin_id == admin.id:
            raise Conflict("an administrator cannot remove themselves (that would lock out "
                           "the token in use); ask another administrator")
        tokens = s.scalars(select(ApiToken).where(ApiToken.admin_id == admin.id)).all()
        for token in tokens:
            s.delete(token)
        audit(s, ctx, "admin.remove", admin.name, admin.tenant_id,
              before={"tenant_id": admin.tenant_id, "tokens": len(tokens)})
        s.delete(admin)


def create_token(ctx: Ctx, admin: str, name: str = "default") -> NewToken:
    if not name.strip():
        raise InvalidInput("a token needs a name saying what it is for (e.g. 'billing-sync')")
    with ctx.unit() as s:
        owner = ctx.find(s, Admin, admin)
        secret = secrets.token_urlsafe(32)
        token = ApiToken(admin=owner, name=name.strip(), token_hash=_hash(secret))
        s.add(token)
        s.flush()
        audit(s, ctx, "token.create", f"{owner.name}#{token.id}", owner.tenant_id,
              after={"name": token.name})
        return NewToken(token=f"{TOKEN_PREFIX}{token.id}_{secret}", info=_token_info(token))


def list_tokens(ctx: Ctx) -> list[TokenInfo]:
    with ctx.reading() as s:
        stmt = ctx.scoped(select(ApiToken).join(Admin).order_by(ApiToken.id), Admin.tenant_id)
        return [_token_info(t) for t in s.scalars(stmt)]


def revoke_token(ctx: Ctx, token_id: int | str) -> TokenInfo:
    """Revoke a token by its id (an int, or its number as written: strictly parsed)."""
    with ctx.unit() as s:
        token = ctx.find(s, ApiToken, token_id)
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit(s, ctx, "token.revoke", f"{token.admin.name}#{token.id}", token.admin.tenant_id)
        return _token_info(token)


def authenticate(ctx: Ctx, presented: str) -> Actor | None:
    """The actor a bearer token stands for, or None for an unknown, malformed or revoked one."""
    if not presented.startswith(TOKEN_PREFIX):
        return None
    ident, _, secret = presented.removeprefix(TOKEN_PREFIX).partition("_")
    # One spelling per token: `zm_01_…` is not `zm_1_…`, and an id no row can have is
    # refused here, before it reaches the database driver (an OverflowError, a 500).
    token_id = names.decimal(ident)
    if token_id is None or not 1 <= token_id <= names.MAX_ROW_ID or not secret:
        return None
    with ctx.reading() as s:
        token = s.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None:
            return None
        if not hmac.compare_digest(token.token_hash, _hash(secret)):
            return None
        return Actor.of_admin(token.admin)
