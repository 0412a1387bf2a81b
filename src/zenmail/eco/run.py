"""Applying every policy: archiving and expunging (zenmail.eco.policy) and, for tenants that
opted in, image reduction of archived mail (zenmail.eco.images) — what `zenmail eco apply`
and the stack's vault process (zenmail.vault.scheduler) both run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from zenmail.config import Settings
from zenmail.directory.context import Ctx
from zenmail.directory.views import AccountInfo
from zenmail.eco import analyze, co2, images, policy
from zenmail.eco.safety import Keeper
from zenmail.eco.scope import accounts_in

# What the report assumes for a tenant without a policy: the defaults docs/eco.md suggests.
SUGGESTED = co2.PolicyUsed(archive_after_months=12, trash_after_days=30, reduce_images=True,
                           source="suggested")


def apply_policies(settings: Settings, ctx: Ctx, doveadm: policy.Doveadm,
                   tenant: str | None = None, dry_run: bool = False,
                   progress: Callable[[str], None] | None = None,
                   today: date | None = None,
                   keep: Keeper | None = None) -> policy.ApplyResult:
    """`keep`: the vault's safety net (zenmail.vault.originals.keeper): originals are put
    in a snapshot before images are reduced or Trash and Junk expunged. Without it no image
    is reduced (the result says so) and Trash and Junk have only the Expunged folder."""
    eco = settings.eco

    def reduce(address: str, dry: bool) -> images.ReduceResult:
        return images.reduce_account(settings.mail_store, address, eco.image_min_bytes,
                                     eco.image_max_pixels, eco.image_jpeg_quality,
                                     eco.compression, eco.compression_level, keep,
                                     dry_run=dry)

    return policy.apply(ctx, doveadm, tenant, dry_run, today=today, reduce=reduce,
                        progress=progress, keep=keep, store=settings.mail_store)


def reports(settings: Settings, ctx: Ctx, tenant: str | None = None,
            account: str | None = None, as_of: date | None = None) -> list[co2.Report]:
    """The CO2 report of one account, one tenant, or each tenant the caller sees.

    Reproducible: a pure function of the store, the settings and the day (`as_of`, today
    by default, UTC) — the year's mail and the policies' cutoffs count from its midnight,
    so every report of one day on the same store gives the same grams."""
    eco = settings.eco
    day = as_of or datetime.now(UTC).date()
    now = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    by_tenant: dict[str, list[AccountInfo]] = {}
    for a in accounts_in(ctx, tenant, account):
        by_tenant.setdefault(a.tenant, []).append(a)
    out = []
    for name, rows in sorted(by_tenant.items()):
        p = policy.show_policy(ctx, name)
        used = SUGGESTED if not p.updated_at else co2.PolicyUsed(
            p.archive_after_months or 0, p.trash_after_days or 0, p.reduce_images, "tenant")
        scope = f"account {rows[0].address}" if account else f"tenant {name}"
        found = analyze.analyze(settings.mail_store, rows, scope, eco.dormant_months,
                                now=now, archive_months=used.archive_after_months or 12,
                            trash_days=used.trash_after_days or 30,
                            image_min_bytes=eco.image_min_bytes)
        r = co2.report(scope, found.total, len(rows), eco, used)
        r.as_of = day.isoformat()
        out.append(r)
    return out
