"""What a snapshot, an export or a restore covers, through the tenant wall: the accounts of
one account, one tenant or all tenants, and the directory data that rebuilds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory.context import Ctx
from zenmail.directory.models import Account, Alias, Domain, QuotaUsage, Tenant
from zenmail.errors import InvalidInput


@dataclass(frozen=True)
class Member:
    address: str
    tenant: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def local(self) -> str:
        return self.address.rpartition("@")[0]


@dataclass
class Scope:
    kind: str                     # "all" | "tenant" | "account"
    name: str                     # the tenant's or the account's name; "" for all
    members: list[Member]
    directory: dict[str, Any]

    @property
    def label(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.name}"

    @property
    def tenants(self) -> list[str]:
        return sorted({m.tenant for m in self.members} | {t["name"] for t in
                                                         self.directory["tenants"]})


def resolve(ctx: Ctx, tenant: str | None = None, account: str | None = None,
            everything: bool = False) -> Scope:
    """The scope the options name; none: everything a global administrator sees, or the
    acting tenant administrator's tenant."""
    if sum(bool(x) for x in (tenant, account, everything)) > 1:
        raise InvalidInput("give one of --tenant, --account and --all")
    if everything:
        ctx.require_global("snapshot every tenant")
    with ctx.reading() as s:
        if account:
            a = ctx.find(s, Account, account)
            tenants = [a.tenant]
            accounts = [a]
            kind, name = "account", a.address
        elif tenant or not ctx.actor.is_global:
            own = s.get(Tenant, ctx.actor.tenant_id) if not tenant else None
            t = ctx.find(s, Tenant, tenant) if tenant else own
            if t is None:
                raise InvalidInput("your tenant is gone; ask your hosting provider")
            tenants, kind, name = [t], "tenant", t.name
            accounts = list(s.scalars(select(Account).where(Account.tenant_id == t.id)
                                      .order_by(Account.address)))
        else:
            ctx.require_global("snapshot every tenant")
            tenants = list(s.scalars(select(Tenant).order_by(Tenant.name)))
            accounts = list(s.scalars(select(Account).order_by(Account.address)))
            kind, name = "all", ""
        members = [Member(a.address, a.tenant.name) for a in accounts]
        return Scope(kind, name, members, dump(s, tenants, accounts, whole=kind != "account"))


def dump(s: Session, tenants: list[Tenant], accounts: list[Account], *,
         whole: bool) -> dict[str, Any]:
    """The directory rows that rebuild `accounts`: their tenants, domains, the accounts with
    their password hashes and quotas, and the aliases (all of the tenants' when `whole`,
    else those that point at one of the accounts)."""
    ids = [t.id for t in tenants]
    addresses = {a.address for a in accounts}
    usage = {u.username: u.used_bytes for u in s.scalars(
        select(QuotaUsage).where(QuotaUsage.username.in_(addresses)))} if addresses else {}
    aliases = []
    for al in s.scalars(select(Alias).where(Alias.tenant_id.in_(ids)).order_by(Alias.address)):
        targets = sorted(t.target for t in al.targets)
        if whole or addresses & set(targets):
            aliases.append({"address": al.address, "targets": targets,
                            "tenant": _name(tenants, al.tenant_id)})
    domains = s.scalars(select(Domain).where(Domain.tenant_id.in_(ids)).order_by(Domain.name))
    return {
        "format": "zenmail-directory/1",
        "tenants": [{"name": t.name, "pool_bytes": t.pool_bytes,
                     "max_accounts": t.max_accounts} for t in tenants],
        "domains": [{"name": d.name, "tenant": _name(tenants, d.tenant_id)} for d in domains
                    if whole or d.name in {a.address.rpartition("@")[2] for a in accounts}],
        "accounts": [{"address": a.address, "tenant": a.tenant.name,
                      "display_name": a.display_name, "password_hash": a.password_hash,
                      "quota_bytes": a.quota_bytes, "enabled": a.enabled,
                      "used_bytes": usage.get(a.address)} for a in accounts],
        "aliases": aliases,
    }


def _name(tenants: list[Tenant], tenant_id: int) -> str:
    return next(t.name for t in tenants if t.id == tenant_id)
