"""The safety net under what the eco engine changes or removes: before image reduction
replaces a message, or the Trash and Junk policy expunges one, the message must be held by a
vault snapshot (docs/eco.md, "The originals").

The eco engine only states what it needs (`Keeper`); the vault provides it
(zenmail.vault.originals) and the callers wire the two together (`zenmail eco apply`, the
vault's scheduled run, the benchmark). The vault imports the eco engine's Maildir helpers,
so the eco engine never imports the vault: no import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Kept:
    """Where the originals of some message files are kept."""

    snapshot: str                 # the snapshot's full id
    taken: bool                   # True: taken just now for them; False: an earlier one held them
    restore_ids: dict[Path, str]  # message file -> its restore id in that snapshot

    @property
    def short(self) -> str:
        return self.snapshot[:8]


class Keeper(Protocol):
    def __call__(self, address: str, paths: list[Path], hold: bool = False) -> Kept:
        """Where the messages of `paths` (files of `address`'s Maildir) are kept: a
        snapshot that holds them all. `hold`: they are about to be replaced, so a snapshot
        is taken for them that the retention keeps for good. Raises a ZenmailError that says
        why when no snapshot can be taken; a file missing from `restore_ids` is not kept (it
        changed or vanished meanwhile) and must be left alone."""
        ...
