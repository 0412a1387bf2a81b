"""Applying every policy: archiving and expunging (zenmail.eco.policy) and, for tenants that
opted in, image reduction of archived mail (zenmail.eco.images) — what `zenmail eco apply`
and the supervisor's Dovecot chore both run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from zenmail.config import Settings
from zenmail.directory.context import Ctx
from zenmail.eco import images, policy


def apply_policies(settings: Settings, ctx: Ctx, doveadm: policy.Doveadm,
                   tenant: str | None = None, dry_run: bool = False,
                   progress: Callable[[str], None] | None = None,
                   today: date | None = None) -> policy.ApplyResult:
    eco = settings.eco

    def reduce(address: str, dry: bool) -> tuple[int, int]:
        r = images.reduce_account(settings.mail_store, address, eco.image_min_bytes,
                                  eco.image_max_pixels, eco.image_jpeg_quality,
                                  eco.compression, eco.compression_level, dry_run=dry)
        return r.images, r.saved

    return policy.apply(ctx, doveadm, tenant, dry_run, today=today, reduce=reduce,
                        progress=progress)
