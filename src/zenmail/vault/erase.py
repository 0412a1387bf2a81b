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

from zenmail.config import Settings
from zenmail.vault import snapshot as snapshots
from zenmail.vault.catalogue import (
    CATALOGUE_PATH,
    DIRECTORY_PATH,
    HOLDERS_PATH,
    Index,
    restic_time,
)
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
            rows = {r.id: r for r in index.snapshots()}
            refs = index.referenced()
            # The snapshots that name the person, and those taking accounts from one of
            # them (their holders file must name the rebuilt snapshot instead).
            touched = {r.id for r in index.snapshots(account=address)}
            grew = True
            while grew:
                more = {sid for sid, hs in refs.items() if hs & touched} - touched
                touched |= more
                grew = bool(more)
            by_id = {s["id"]: s for s in restic.snapshots()}
            remap: dict[str, str] = {}
            bases: set[str] = set()

            def redo(sid: str) -> None:
                if sid in remap or sid not in touched:
                    return
                for holder in refs.get(sid, set()):  # holders first: their new ids
                    redo(holder)
                row = rows[sid]
                entries = index.entries(sid, address, own=True)
                result.messages += len(entries)
                bases.update(e.path.rsplit("/", 1)[1].partition(":")[0] for e in entries)
                if row.scope == f"account:{address}":
                    result.forgotten += 1
                    remap[sid] = ""
                    return
                holders = {a: remap.get(h) or h for a, h in index.holders(sid).items()
                           if a != address}
                remap[sid] = _rebuild(settings, restic, by_id[sid], address,
                                      f"/mail/{domain}/{local}", holders)
                result.rewritten += 1

            for sid in sorted(touched, key=lambda i: rows[i].time):
                redo(sid)
            restic.forget_ids(list(remap), prune=True)
            with index.tx() as db:
                db.execute("DELETE FROM prints WHERE account=?", (address,))
                db.executemany("UPDATE prints SET holder=? WHERE holder=?",
                               [(new, old) for old, new in remap.items() if new])
            snapshots.sync(settings, index, restic)
            _forget_files(index, bases)
        finally:
            index.close()
        # The stages hold hard links to the person's files.
        for stage in (settings.mail_store / snapshots.STAGE).glob("*/mail"):
            shutil.rmtree(stage / domain / local, ignore_errors=True)
    return result


def _rebuild(settings: Settings, restic: Restic, snap: dict[str, object], address: str,
             excluded: str, holders: dict[str, str]) -> str:
    """The snapshot again without the person; returns the new snapshot's full id."""
    sid = str(snap["id"])
    work = settings.mail_store / snapshots.STAGE / f"erase-{secrets.token_hex(6)}"
    try:
        restic.run(["restore", sid, "--target", str(work), "--exclude", excluded,
                    "--exclude", f"/dav/{address}"], f"reading snapshot {sid[:8]}")
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
        hpath = work / HOLDERS_PATH.lstrip("/")
        if holders or hpath.exists():
            hpath.write_text(json.dumps(holders, indent=1, sort_keys=True))
        raw_tags = snap.get("tags")
        tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else []
        (work / "mail").mkdir(exist_ok=True)
        (work / "dav").mkdir(exist_ok=True)
        short = restic.backup(work, ["mail", "dav", "zenmail"], tags,
                              at=restic_time(str(snap["time"])))
        return restic.full_id(short)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _forget_files(index: Index, bases: set[str]) -> None:
    """The file cache knows subjects and senders by file name: drop the person's."""
    with index.tx() as db:
        db.executemany("DELETE FROM known WHERE base=?", [(b,) for b in bases])
