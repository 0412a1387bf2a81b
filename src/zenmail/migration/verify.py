"""The proof: both sides compared by content, per folder, and the verdict.

The source is listed again as it is now (UID, FLAGS, INTERNALDATE, size); the target's
messages are read back and hashed. A source message counts as migrated only when the
target message recorded for it exists, has the same SHA-256 as the bytes read from the
source, the same flags and the same internal date. "zero loss" is the verdict only when
every source message counts. Target messages no source message claims are listed as
extras (mail delivered to zenmail meanwhile, or anything else put there).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import select

from zenmail.db import Database
from zenmail.directory.models import Account
from zenmail.migration import folders as fmap
from zenmail.migration.engine import (
    HEADER_ITEMS,
    LIST_ITEMS,
    _chunks,
    _personal_prefix,
    _uidset,
    clean_flags,
    epoch,
    flags_text,
    summary,
)
from zenmail.migration.imapx import fetch_range
from zenmail.migration.models import MigrationFolder, MigrationJob, MigrationMessage
from zenmail.migration.report import seal
from zenmail.migration.source import SourceSpec, connect
from zenmail.migration.target import Target, TargetCommand

ZERO_LOSS = "zero loss"
LOSS = "messages missing"


@dataclass
class _TargetMsg:
    sha256: str
    flags: str
    date: int
    size: int


def _target_folder(target: Target, name: str) -> dict[int, _TargetMsg]:
    if name != "INBOX" and not target.client.folder_exists(name):
        return {}
    meta = target.fetch_from(name, 1, [b"RFC822.SIZE", b"FLAGS", b"INTERNALDATE"])
    sizes = {u: int(d[b"RFC822.SIZE"]) for u, d in meta.items()}  # type: ignore[call-overload]
    out: dict[int, _TargetMsg] = {}
    for chunk in _chunks(sorted(meta), sizes, 500, 16 << 20):
        got = fetch_range(target.client, _uidset(chunk), [b"BODY.PEEK[]"])
        for uid, d in got.items():
            m = meta[uid]
            out[uid] = _TargetMsg(hashlib.sha256(d[b"BODY[]"]).hexdigest(),
                                  flags_text(clean_flags(m[b"FLAGS"])),  # type: ignore[arg-type]
                                  epoch(m[b"INTERNALDATE"]), sizes[uid])  # type: ignore[arg-type]
    return out


def verify(db: Database, job_id: int, spec: SourceSpec, password: str,
           target_command: TargetCommand) -> dict[str, Any]:
    """Compare source and target now; the sealed report (a dict, see report.seal)."""
    with db.reading() as s:
        job = s.get(MigrationJob, job_id)
        assert job is not None
        address = s.get(Account, job.account_id).address  # type: ignore[union-attr]
        frows = {f.source_name: (f.id, f.target_name) for f in s.scalars(
            select(MigrationFolder).where(MigrationFolder.job_id == job_id))}
        rows: dict[int, dict[int, MigrationMessage]] = defaultdict(dict)
        for r in s.scalars(select(MigrationMessage).join(MigrationFolder).where(
                MigrationFolder.job_id == job_id, MigrationMessage.uid > 0)):
            s.expunge(r)
            rows[r.folder_id][r.uid] = r
        job_error = job.error
    source = connect(spec, password)
    target = Target(target_command(address))
    target.client.normalise_times = False
    try:
        return _compare(source, target, frows, rows, address, spec, job_error)
    finally:
        target.close()
        try:
            source.logout()
        except Exception:  # noqa: BLE001
            pass


def _compare(source: IMAPClient, target: Target, frows: dict[str, tuple[int, str]],
             rows: dict[int, dict[int, MigrationMessage]], address: str, spec: SourceSpec,
             job_error: str | None) -> dict[str, Any]:
    prefix = _personal_prefix(source)
    targets: dict[str, dict[int, _TargetMsg]] = {}
    claimed: dict[str, set[int]] = defaultdict(set)
    folders: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for flags, delim, name in source.list_folders():
        sf = fmap.SourceFolder(name, delim.decode() if delim else None, tuple(flags))
        if fmap.skipped(sf):
            continue
        tname = frows[name][1] if name in frows else fmap.target_name(sf, prefix)
        info = source.select_folder(name, readonly=True)
        listing = fetch_range(source, "1:*", LIST_ITEMS) if int(info.get(b"EXISTS", 0)) else {}
        if tname not in targets:
            targets[tname] = _target_folder(target, tname)
        tmsgs = targets[tname]
        known = rows.get(frows[name][0], {}) if name in frows else {}
        ok = ok_bytes = 0
        lost: list[tuple[int, str, MigrationMessage | None]] = []
        for uid in sorted(listing):
            d = listing[uid]
            row = known.get(uid)
            reason = _check(row, d, tmsgs)
            if reason is None:
                assert row is not None and row.target_uid is not None
                claimed[tname].add(row.target_uid)
                ok += 1
                ok_bytes += row.size
            else:
                lost.append((uid, reason, row))
        missing.extend(_describe(source, name, tname, lost, listing))
        folders.append({
            "source": name, "target": tname,
            "source_messages": len(listing),
            "source_bytes": sum(int(d[b"RFC822.SIZE"]) for d in listing.values()),
            "migrated_messages": ok, "migrated_bytes": ok_bytes,
            "missing": len(lost),
        })
    extras = {name: len(set(msgs) - claimed[name]) for name, msgs in targets.items()}
    for f in folders:
        msgs = targets[f["target"]]
        f["target_messages"] = len(msgs)
        f["target_bytes"] = sum(m.size for m in msgs.values())
    totals = {k: sum(f[k] for f in folders) for k in
              ("source_messages", "source_bytes", "migrated_messages", "migrated_bytes",
               "missing")}
    totals["extras"] = sum(extras.values())
    return seal({
        "kind": "zenmail migration report",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "account": address,
        "source": spec.url,
        "verdict": ZERO_LOSS if not missing and not job_error else LOSS,
        "error": job_error,
        "totals": totals,
        "folders": folders,
        "missing": missing,
        "extras": {k: v for k, v in extras.items() if v},
    })


def _check(row: MigrationMessage | None, d: dict[bytes, Any],
           tmsgs: dict[int, _TargetMsg]) -> str | None:
    """Why this source message does not count as migrated (None: it does)."""
    if row is None:
        return "not copied yet"
    if row.target_uid is None:
        return row.error or "not copied yet"
    t = tmsgs.get(row.target_uid)
    if t is None:
        return "not at the target (deleted there?)"
    if t.sha256 != row.sha256:
        return "content differs at the target"
    if t.flags != flags_text(clean_flags(d[b"FLAGS"])):
        return f"flags differ (source: {flags_text(clean_flags(d[b'FLAGS']))!r}, " \
               f"target: {t.flags!r})"
    if t.date != epoch(d[b"INTERNALDATE"]):
        return "internal date differs"
    return None


def _describe(source: IMAPClient, name: str, tname: str,
              lost: list[tuple[int, str, MigrationMessage | None]],
              listing: dict[int, dict[bytes, Any]]) -> list[dict[str, Any]]:
    """Each lost message named: folder, date, sender, subject, Message-ID, why."""
    if not lost:
        return []
    unknown = [uid for uid, _, row in lost if row is None]
    headers: dict[int, dict[str, str]] = {}
    if unknown:
        got = fetch_range(source, _uidset(unknown), HEADER_ITEMS)
        for uid, d in got.items():
            raw = next((v for k, v in d.items() if k.startswith(b"BODY[HEADER")), b"")
            headers[uid] = json.loads(summary(raw if isinstance(raw, bytes) else b""))
    out = []
    for uid, reason, row in lost:
        info = json.loads(row.summary) if row is not None else headers.get(uid, {})
        out.append({"folder": name, "target_folder": tname, "uid": uid,
                    "internal_date": datetime.fromtimestamp(
                        epoch(listing[uid][b"INTERNALDATE"]), UTC).isoformat(),
                    "size": int(listing[uid][b"RFC822.SIZE"]),
                    "from": info.get("from", ""), "subject": info.get("subject", ""),
                    "message_id": info.get("message-id", ""), "reason": reason})
    return out
