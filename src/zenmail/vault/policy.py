"""Each tenant's own snapshot retention: how many hourly, daily, monthly and latest
snapshots of its tenant and account snapshots are kept. What a tenant does not set is the
installation's default ([vault] keep_*)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from zenmail.config import Settings
from zenmail.directory import tenants
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Tenant
from zenmail.directory.views import View
from zenmail.errors import InvalidInput
from zenmail.vault.models import VaultRetention

PERIODS = ("hourly", "daily", "monthly", "last")


@dataclass
class RetentionInfo(View):
    tenant: str
    keep_hourly: int
    keep_daily: int
    keep_monthly: int
    keep_last: int
    own: bool               # False: the installation's default


def default(settings: Settings) -> dict[str, int]:
    v = settings.vault
    return {"hourly": v.keep_hourly, "daily": v.keep_daily, "monthly": v.keep_monthly,
            "last": v.keep_last}


def _info(settings: Settings, t: Tenant, p: VaultRetention | None) -> RetentionInfo:
    d = default(settings)
    mine: dict[str, int | None] = {k: getattr(p, f"keep_{k}") if p else None
                                   for k in PERIODS}
    keep = {k: d[k] if (n := mine[k]) is None else n for k in PERIODS}
    return RetentionInfo(t.name, keep["hourly"], keep["daily"], keep["monthly"], keep["last"],
                         any(v is not None for v in mine.values()))


def set_policy(ctx: Ctx, settings: Settings, tenant: str, keep: dict[str, int | None],
               reset: bool = False) -> RetentionInfo:
    """Set the given periods of a tenant's retention (`reset`: back to the default first)."""
    for k, n in keep.items():
        if k not in PERIODS:
            raise InvalidInput(f"unknown retention period {k!r}; one of {', '.join(PERIODS)}")
        if n is not None and not 0 <= n <= 10_000:
            raise InvalidInput(f"keep {k}: {n} is out of range (0 to 10000)")
    with ctx.unit() as s:
        t = ctx.find(s, Tenant, tenant, lock=True)
        p = s.get(VaultRetention, t.id)
        before = _info(settings, t, p).to_dict()
        if p is None:
            p = VaultRetention(tenant_id=t.id)
            s.add(p)
        for k in PERIODS:
            if reset:
                setattr(p, f"keep_{k}", None)
            if keep.get(k) is not None:
                setattr(p, f"keep_{k}", keep[k])
        p.updated_at = datetime.now(UTC)
        info = _info(settings, t, p)
        if not (info.keep_hourly or info.keep_daily or info.keep_monthly or info.keep_last):
            raise InvalidInput("a retention that keeps no snapshot at all would forget every "
                               "snapshot of the tenant; keep at least one period above 0")
        s.flush()
        audit(s, ctx, "vault.retention", t.name, t.id, before=before, after=info.to_dict())
        return info


def policies(ctx: Ctx, settings: Settings, tenant: str | None = None) -> list[RetentionInfo]:
    """The retention of every tenant the caller may see (or one)."""
    with ctx.reading() as s:
        return [_info(settings, t, s.get(VaultRetention, t.id))
                for t in tenants.visible(ctx, s, tenant)]


def keep_by_tenant(ctx: Ctx, settings: Settings) -> dict[str, dict[str, int]]:
    """tenant -> {period: count}, for the tenants with a policy of their own."""
    return {p.tenant: {"hourly": p.keep_hourly, "daily": p.keep_daily,
                       "monthly": p.keep_monthly, "last": p.keep_last}
            for p in policies(ctx, settings) if p.own}
