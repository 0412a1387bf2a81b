"""Erasing one person on request (data-protection law): their account, their mailbox, and
every copy of their mail and their directory row in the snapshots.

restic 0.14 (Debian 12) has no `rewrite`, so a snapshot that holds other people too is
rebuilt without the person: restored to a scratch directory with their Maildir excluded,
the catalogue and directory rows filtered, backed up again with the original time and tags,
and the original forgotten; a snapshot of the person alone is simply forgotten. A final
`prune` then removes the data only those snapshots referred to. A message another account
also holds (the same mail sent to two colleagues) stays: it is the other person's mail too.

Costly on purpose only where it must be: the work is proportional to the snapshots that
hold the person, each restored once. Recorded in the audit log, without a word of the mail.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime

from zenmail.config import Settings
from zenmail.vault import snapshot as snapshots
from zenmail.vault.catalogue import CATALOGUE_PATH, DIRECTORY_PATH, Index
from zenmail.vault.restic import Restic


@dataclass
class Erased:
    address: str
    forgotten: int = 0          # snapshots of the person alone
    rewritten: int = 0          # snapshots rebuilt without them
    messages: int = 0           # catalogue entries removed

    def to_dict(self) -> dict[str, object]:
        return {"address": self.address, "forgotten": self.forgotten,
                "rewritten": self.rewritten, "messages": self.messages}


def _restic_time(iso: str) -> str:
    # restic --time takes "YYYY-MM-DD HH:MM:SS" in local time; the machine runs in UTC
    # (and so does restic's record of the original).
    return datetime.fromisoformat(iso.replace("Z", "+00:00")[:19]).strftime(
        "%Y-%m-%d %H:%M:%S")


def from_vault(settings: Settings, address: str) -> Erased:
    """Remove `address` from every snapshot and the local index."""
    result = Erased(address)
    restic = Restic(settings)
    if not restic.exists():
        return result
    local, _, domain = address.rpartition("@")
    with snapshots.vault_lock(settings, "the erasure"):
        index = snapshots.open_index(settings)
        try:
            snapshots.sync(settings, index, restic)
            holding = index.snapshots(account=address)
            by_id = {s["id"]: s for s in restic.snapshots()}
            old: list[str] = []
            bases: set[str] = set()
            for row in holding:
                snap = by_id[row.id]
                entries = index.entries(row.id, address)
                result.messages += len(entries)
                bases |= {e.path.rsplit("/", 1)[1].partition(":")[0] for e in entries}
                old.append(row.id)
                if row.scope == f"account:{address}":
                    result.forgotten += 1
                    continue
                _rebuild(settings, restic, snap, address, f"/mail/{domain}/{local}")
                result.rewritten += 1
            restic.forget_ids(old, prune=True)
            snapshots.sync(settings, index, restic)
            _forget_files(index, bases)
        finally:
            index.close()
        # The stages hold hard links to the person's files.
        for stage in (settings.mail_store / snapshots.STAGE).glob("*/mail"):
            shutil.rmtree(stage / domain / local, ignore_errors=True)
    return result


def _rebuild(settings: Settings, restic: Restic, snap: dict[str, object], address: str,
             excluded: str) -> None:
    sid = str(snap["id"])
    work = settings.mail_store / snapshots.STAGE / f"erase-{secrets.token_hex(6)}"
    try:
        restic.run(["restore", sid, "--target", str(work), "--exclude", excluded],
                   f"reading snapshot {sid[:8]}")
        cat = work / CATALOGUE_PATH.lstrip("/")
        kept = [line for line in cat.read_text().splitlines()
                if line and json.loads(line)["account"] != address]
        cat.write_text("".join(line + "\n" for line in kept))
        dpath = work / DIRECTORY_PATH.lstrip("/")
        d = json.loads(dpath.read_text())
        d["accounts"] = [a for a in d["accounts"] if a["address"] != address]
        for al in d["aliases"]:
            al["targets"] = [t for t in al["targets"] if t != address]
        dpath.write_text(json.dumps(d, indent=1, sort_keys=True))
        raw_tags = snap.get("tags")
        tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else []
        (work / "mail").mkdir(exist_ok=True)
        restic.run(["backup", "--host", "zenmail", "--time", _restic_time(str(snap["time"])),
                    *[a for t in tags for a in ("--tag", t)], "mail", "zenmail"],
                   f"rebuilding snapshot {sid[:8]}", cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _forget_files(index: Index, bases: set[str]) -> None:
    """The file cache knows subjects and senders by file name: drop the person's."""
    with index.tx() as db:
        db.executemany("DELETE FROM known WHERE base=?", [(b,) for b in bases])
