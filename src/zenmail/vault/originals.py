"""Keeping originals: before an engine replaces or removes messages (the eco engine's image
reduction and Trash/Junk expunge, zenmail.eco.safety), make sure a vault snapshot holds
each of them, byte for byte, and say which — a snapshot of the account is taken when the
newest one does not hold them all.

A message is matched by the SHA-256 of its bytes as delivered (what the catalogue records
and what a restore gives back), so a message the newest snapshot holds in another folder
(archived since) counts as kept. The snapshot is then the one to restore from:
`zenmail restore message ADDRESS <restore id>` puts the original back, flags and date kept.

Two uses, two needs. Before Trash and Junk are expunged, the newest snapshot is enough when
it holds them all (the messages then lie in Expunged for 30 days, and the scheduled
snapshots hold them there). Before a message is *replaced* (image reduction), no later
snapshot will hold its original: a snapshot is taken for it every time, tagged
`keep=originals` so that the retention never forgets it (`hold=True`).
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


def _entries(settings: Settings, address: str, sid: str | None = None
             ) -> tuple[str, dict[str, Entry]] | None:
    """A snapshot (`sid`, or the newest holding `address`) and its entries of the account
    by SHA-256."""
    index = snapshots.open_index(settings)
    try:
        if sid is None:
            rows = index.snapshots(account=address)
            if not rows:
                return None
            sid = rows[-1].id  # ordered by time
        return sid, {e.sha256: e for e in index.entries(sid, address)}
    finally:
        index.close()


def keep(ctx: Ctx, settings: Settings, address: str, paths: list[Path],
         hold: bool = False) -> Kept:
    """A snapshot holding every message of `paths` (see the module's doc; `hold`: a new one
    the retention keeps for good); raises what the vault raises when it cannot snapshot
    (busy, restic missing, repository unreachable)."""
    digests = _digests(paths)
    found = None if hold else _entries(settings, address)
    taken = False
    if found is None or not set(digests.values()) <= set(found[1]):
        row = vault.take(ctx, settings, vault.scope(ctx, account=address), keep=hold)
        taken = True
        found = _entries(settings, address, row.id)
    assert found is not None  # (given a snapshot id, there always is one)
    sid, by_sha = found
    return Kept(sid, taken, {p: by_sha[d].restore_id() for p, d in digests.items()
                             if d in by_sha})


def keeper(ctx: Ctx, settings: Settings) -> Keeper:
    """`keep` for one caller, as the eco engine takes it."""
    return lambda address, paths, hold=False: keep(ctx, settings, address, paths, hold)
