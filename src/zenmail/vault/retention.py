"""Retention: restic's own policy (`forget --keep-*`) per snapshot scope (everything, one
tenant, one account; a tenant's or account's scope follows the tenant's own policy if it has
one, zenmail.vault.policy), widened to the snapshots the kept ones take unchanged accounts
from, then one `prune`. Snapshots tagged `keep=originals` (the originals of images the eco
engine reduced) are never forgotten. restic removes only data no kept snapshot refers to, so
pruning never loses a message a kept snapshot holds; the local index then drops the
forgotten catalogues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zenmail.config import Settings
from zenmail.vault import policy
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


def apply(settings: Settings, tenants: dict[str, dict[str, int]] | None = None) -> Kept:
    """Forget what the policy no longer keeps, scope by scope, and prune.

    restic decides per scope what the policy keeps (`forget --dry-run`); a snapshot it
    would drop but that a kept one still takes unchanged accounts from (holders.json) is
    kept too, since it holds their mail. Then zenmail forgets the rest by id and prunes:
    restic removes only data no remaining snapshot refers to."""
    default = policy.default(settings)
    restic = Restic(settings)
    if not restic.exists():
        return Kept(0, 0, 0)
    with snapshots.vault_lock(settings, "the retention run"):
        index = snapshots.open_index(settings)
        try:
            snapshots.sync(settings, index, restic)
            snaps = restic.snapshots()
            scopes = sorted({t for s in snaps for t in s.get("tags") or []
                             if t.startswith("scope=")})
            kept: set[str] = set()
            for scope in scopes:
                mine = [s for s in snaps if scope in (s.get("tags") or [])]
                keep = _policy_of(mine, default, tenants or {})
                if not any(keep.values()):  # no policy at all: keep everything
                    kept |= {str(s["id"]) for s in mine}
                    continue
                # Snapshots holding originals the eco engine replaced stay (docs/eco.md).
                args = ["forget", "--dry-run", "--json", "--tag", scope, "--group-by", "",
                        "--keep-tag", snapshots.KEEP_TAG]
                for period, n in keep.items():
                    if n > 0:
                        args += [f"--keep-{period}", str(n)]
                out = restic.run(args, f"applying the retention to {scope}")
                for group in json.loads(out.stdout or b"[]") or []:
                    kept |= {str(s["id"]) for s in group.get("keep") or []}
            refs = index.referenced()
            todo = list(kept)
            while todo:
                for holder in refs.get(todo.pop(), set()):
                    if holder not in kept:
                        kept.add(holder)
                        todo.append(holder)
            restic.forget_ids([str(s["id"]) for s in snaps if s["id"] not in kept],
                              prune=True)
            snapshots.sync(settings, index, restic)
            return Kept(len(scopes), len(snaps), len(index.snapshot_ids()))
        finally:
            index.close()


def _policy_of(snaps: list[dict[str, Any]], default: dict[str, int],
               tenants: dict[str, dict[str, int]]) -> dict[str, int]:
    """A scope of one tenant (the tenant, or one of its accounts) follows that tenant's
    policy; a scope of several (everything) the installation's default."""
    names = {str(t).partition("=")[2] for s in snaps
             for t in (s.get("tags") or []) if isinstance(t, str) and t.startswith("tenant=")}
    if len(names) == 1:
        return tenants.get(names.pop(), default)
    return default
