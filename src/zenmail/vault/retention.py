"""Retention: restic's own `forget` per snapshot scope (everything, one tenant, one account),
then one `prune`; snapshots tagged `keep=originals` (the originals of images the eco engine
reduced) are never forgotten. restic removes only data no kept snapshot refers to, so pruning never
loses a message a kept snapshot holds; the local index then drops the forgotten catalogues.
"""

from __future__ import annotations

from dataclasses import dataclass

from zenmail.config import Settings
from zenmail.vault import snapshot as snapshots
from zenmail.vault.restic import Restic


@dataclass
class Kept:
    scopes: int
    before: int
    after: int

    @property
    def removed(self) -> int:
        return self.before - self.after


def policy(settings: Settings) -> dict[str, int]:
    v = settings.vault
    return {"hourly": v.keep_hourly, "daily": v.keep_daily, "monthly": v.keep_monthly}


def apply(settings: Settings) -> Kept:
    """Forget what the policy no longer keeps, scope by scope, and prune."""
    keep = policy(settings)
    restic = Restic(settings)
    if not any(keep.values()) or not restic.exists():
        return Kept(0, 0, 0)
    with snapshots.vault_lock(settings, "the retention run"):
        snaps = restic.snapshots()
        scopes = sorted({t for s in snaps for t in s.get("tags") or []
                         if t.startswith("scope=")})
        for scope in scopes:
            # Snapshots holding originals the eco engine replaced stay (docs/eco.md).
            args = ["forget", "--tag", scope, "--group-by", "", "--keep-tag",
                    snapshots.KEEP_TAG]
            for period, n in keep.items():
                if n > 0:
                    args += [f"--keep-{period}", str(n)]
            restic.run(args, f"applying the retention to {scope}")
        restic.run(["prune"], "pruning the vault")
        index = snapshots.open_index(settings)
        try:
            snapshots.sync(settings, index, restic)
        finally:
            index.close()
        return Kept(len(scopes), len(snaps), len(restic.snapshots()))
