"""What an employee may do alone: see the mail they deleted — still in the Expunged folder
(lazy_expunge, 30 days) or only in a snapshot — and put one message back.

Ids say where a message comes from: `expunged-<UID>` (a message of the Expunged folder,
moved back by Dovecot) or a snapshot restore id `<snapshot>-<n>` (restored from the vault).
The caller is always the authenticated account itself; nothing here takes another address.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account
from zenmail.errors import InvalidInput, NotFound
from zenmail.vault import maildir
from zenmail.vault import restore as restoring
from zenmail.vault import snapshot as snapshots
from zenmail.vault.catalogue import Entry
from zenmail.vault.maildir import stored_message
from zenmail.vault.restore import _doveadm

EXPUNGED = "Expunged"


@dataclass
class Deleted:
    id: str
    source: str          # "expunged" | "snapshot"
    folder: str          # where it was ("Expunged" when Dovecot does not know)
    date: str            # received (INTERNALDATE), ISO 8601 UTC
    sender: str
    subject: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _files(settings: Settings, address: str) -> list[Path]:
    """Every message file the account holds now (Expunged included)."""
    out: list[Path] = []
    root = snapshots.account_dir(settings, address) / "Maildir"
    for _folder, d in maildir.folders(root):
        for sub in ("cur", "new"):
            try:
                out += [d / sub / n for n in os.listdir(d / sub)]
            except FileNotFoundError:
                continue
    return out


def _gone(settings: Settings, address: str, entries: list[Entry]) -> list[Entry]:
    """The entries whose message the account no longer holds anywhere: neither the same
    file (by its Maildir name) nor a copy (by SHA-256; Expunged holds copies)."""
    files = _files(settings, address)
    names = {maildir.split_name(p.name)[0] for p in files}
    left = [e for e in entries if e.path.rsplit("/", 1)[1].partition(":")[0] not in names]
    sizes = {e.size for e in left}
    shas = set()
    for p in files:
        try:
            if p.stat().st_size in sizes:
                shas.add(maildir.digest(stored_message(p)))
        except FileNotFoundError:
            continue
    return [e for e in left if e.sha256 not in shas]


def deleted(ctx: Ctx, settings: Settings, address: str, limit: int = 200) -> list[Deleted]:
    """Newest first: the Expunged folder's messages, then those only snapshots still hold."""
    with ctx.reading() as s:
        address = ctx.find(s, Account, address).address
    out: list[Deleted] = []
    raw = _doveadm(settings, "-f", "json", "fetch", "-u", address,
                   "uid date.received size.physical hdr.from hdr.subject", "mailbox",
                   EXPUNGED)
    for m in json.loads(raw or "[]"):
        when = datetime.strptime(m["date.received"], "%Y-%m-%d %H:%M:%S")
        out.append(Deleted(f"expunged-{m['uid']}", "expunged", EXPUNGED,
                           when.replace(tzinfo=UTC).isoformat(), _clean(m["hdr.from"]),
                           _clean(m["hdr.subject"]), int(m["size.physical"])))
    index = snapshots.open_index(settings)
    try:
        for e in _gone(settings, address, index.find(address, limit=10_000)):
            out.append(Deleted(e.restore_id(), "snapshot", e.folder, _iso(e.internal_date),
                               e.sender, e.subject, e.size))
    finally:
        index.close()
    out.sort(key=lambda d: d.date, reverse=True)
    return out[:limit]


def _clean(header: str) -> str:
    return " ".join(maildir.decode_header(header).split())


def restore(ctx: Ctx, settings: Settings, address: str, item: str,
            to_folder: str | None = None) -> dict[str, Any]:
    """Put one deleted message back: out of Expunged (into `to_folder`, default INBOX), or
    from a snapshot (into its own folder or `to_folder`)."""
    with ctx.reading() as s:
        account = ctx.find(s, Account, address)
        address, tenant_id = account.address, account.tenant_id
    if item.startswith("expunged-"):
        uid = item.removeprefix("expunged-")
        if not uid.isdigit():
            raise InvalidInput(f"{item!r} is not an id from the list of deleted messages")
        target = to_folder or maildir.INBOX
        found = _doveadm(settings, "-f", "flow", "search", "-u", address, "mailbox",
                         EXPUNGED, "uid", uid)
        if not found.strip():
            raise NotFound(f"no deleted message {item!r}; list them again")
        _doveadm(settings, "move", "-u", address, target, "mailbox", EXPUNGED, "uid", uid)
        result: dict[str, Any] = {"restored": 1, "skipped": 0, "folders": [target]}
    else:
        index = snapshots.open_index(settings)
        try:
            entry = index.entry(item, address)
        finally:
            index.close()
        result = restoring.restore(settings, [entry], address, to_folder).to_dict()
    with ctx.unit() as s:
        audit(s, ctx, "vault.self_restore", address, tenant_id, after={"id": item, **result})
    return result
