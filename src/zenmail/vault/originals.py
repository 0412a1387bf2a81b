"""Keeping originals: before an engine replaces or removes messages (the eco engine's image
reduction and Trash/Junk expunge, zenmail.eco.safety), make sure a vault snapshot holds
each of them, byte for byte, and say which — a snapshot of the account is taken when the
newest one does not hold them all.

A message is matched by the SHA-256 of its bytes as delivered (what the catalogue records
and what a restore gives back), so a message the newest snapshot holds in another folder
(archived since) counts as kept. The snapshot is then the one to restore from:
`zenmail restore message ADDRESS <restore id>` puts the original back, flags and date kept.
It stays as long as the vault's retention keeps that snapshot ([vault] keep_*).
"""

from __future__ import annotations

from pathlib import Path

from zenmail.config import Settings
from zenmail.directory.context import Ctx
from zenmail.eco.safety import Keeper, Kept
from zenmail.vault import maildir
from zenmail.vault import service as vault
from zenmail.vault import snapshot as snapshots
from zenmail.vault.catalogue import Entry


def _digests(paths: list[Path]) -> dict[Path, str]:
    out = {}
    for p in paths:
        try:
            out[p] = maildir.digest(maildir.stored_message(p))
        except FileNotFoundError:  # expunged or renamed (flags) meanwhile: not ours to keep
            continue
    return out


def _newest(settings: Settings, address: str) -> tuple[str, dict[str, Entry]] | None:
    """The newest snapshot holding `address`, and its entries of the account by SHA-256."""
    index = snapshots.open_index(settings)
    try:
        rows = index.snapshots(account=address)
        if not rows:
            return None
        sid = rows[-1].id  # ordered by time
        return sid, {e.sha256: e for e in index.entries(sid, address)}
    finally:
        index.close()


def keep(ctx: Ctx, settings: Settings, address: str, paths: list[Path]) -> Kept:
    """A snapshot holding every message of `paths` (see the module's doc); raises what the
    vault raises when it cannot snapshot (busy, restic missing, repository unreachable)."""
    digests = _digests(paths)
    found = _newest(settings, address)
    taken = False
    if found is None or not set(digests.values()) <= set(found[1]):
        vault.take(ctx, settings, vault.scope(ctx, account=address))
        taken = True
        found = _newest(settings, address)
        assert found is not None  # the snapshot just taken holds the account
    sid, by_sha = found
    return Kept(sid, taken, {p: by_sha[d].restore_id() for p, d in digests.items()
                             if d in by_sha})


def keeper(ctx: Ctx, settings: Settings) -> Keeper:
    """`keep` for one caller, as the eco engine takes it."""
    return lambda address, paths: keep(ctx, settings, address, paths)
