"""The copy: one source mailbox into one zenmail account, resumable, never duplicating.

A run has three steps, each safe to interrupt at any moment (kill -9 included):

1. **Reconcile** what a killed run left pending: rows written before their batch was
   appended carry the target folder's UIDNEXT of that moment (`pending_from`); the target's
   messages from there on are hashed and matched to the pending rows by content, as a
   multiset (two identical messages match two rows). Matched rows are done; the others are
   copied again. Nothing is appended twice, nothing is skipped.
2. **List** every source folder (UID, FLAGS, INTERNALDATE, RFC822.SIZE): new UIDs are to be
   copied; known ones whose flags changed get their flags set at the target; ones gone from
   the source are expunged at the target only if asked (`sync_deletions`). A new
   UIDVALIDITY re-keys the folder's rows by content instead of copying it again.
3. **Copy** in batches: a reader thread FETCHes BODY.PEEK[] FLAGS INTERNALDATE for a UID
   set and hashes it while the writer MULTIAPPENDs the previous batch, records the
   pending rows first and the target UIDs after. A refused batch is retried message by
   message, so the one message too large or over quota is named, and the rest go in.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from zenmail.db import Database
from zenmail.directory.models import Account
from zenmail.migration import folders as fmap
from zenmail.migration.imapx import fetch_range
from zenmail.migration.models import MigrationFolder, MigrationJob, MigrationMessage
from zenmail.migration.source import SourceError, SourceSpec, connect
from zenmail.migration.target import Outgoing, Target, TargetCommand, TargetError

LIST_ITEMS = [b"UID", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]
BODY_ITEMS = [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"]
HEADER_ITEMS = [b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID DATE)]"]
# \Recent belongs to the session that sees a message first; it cannot be set (RFC 3501).
UNSETTABLE = {b"\\recent"}

_MSG: Table = MigrationMessage.__table__  # type: ignore[assignment]

Progress = Callable[[int, int, int, int, int], None]  # job, done, bytes, total, total bytes


@dataclass
class Options:
    batch_messages: int = 250
    batch_bytes: int = 8 << 20
    max_msgs_per_s: float = 0.0   # 0: no limit (Microsoft 365 and Gmail need one)
    max_bytes_per_s: int = 0
    sync_deletions: bool = False  # off: a message deleted at the source stays at the target
    retries: int = 4              # transient failures: reconnect and resume, with backoff
    backoff: float = 1.0


@dataclass
class RunResult:
    copied: int = 0
    copied_bytes: int = 0
    flags_updated: int = 0
    deleted: int = 0
    listed: int = 0  # messages the source listed (UID, flags, size): all, or QRESYNC's delta
    failed: list[dict[str, Any]] = field(default_factory=list)  # per-message refusals
    error: str | None = None  # the whole account failed (credentials, TLS, unreachable)
    seconds: float = 0.0


def clean_flags(flags: tuple[bytes, ...] | list[bytes]) -> tuple[bytes, ...]:
    return tuple(sorted({f for f in flags if f.lower() not in UNSETTABLE}))


def flags_text(flags: tuple[bytes, ...]) -> str:
    return " ".join(f.decode("utf-8", "replace") for f in flags)


def epoch(value: datetime) -> int:
    if value.tzinfo is None:  # imapclient gives aware datetimes with normalise_times off
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def summary(raw: bytes) -> str:
    """From, Subject, Message-ID and Date, for naming a message in a report; never identity.

    A plain scan of the header lines (unfolded, undecoded): it runs for every message
    copied, and it must not fail on headers that break RFC 5322."""
    end = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf != -1 and (end == -1 or crlf < end):
        end = crlf
    head = raw[:end] if end != -1 else raw[:65536]
    out: dict[str, str] = {}
    last = ""
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if last:
                out[last] = (out[last] + " " + line.strip().decode("utf-8", "replace"))[:300]
            continue
        name, sep, value = line.partition(b":")
        key = name.strip().lower().decode("ascii", "replace")
        last = ""
        if sep and key in _SUMMARY and key not in out:
            out[key] = value.strip().decode("utf-8", "replace")[:300]
            last = key
    return json.dumps(out, ensure_ascii=False)


_SUMMARY = ("from", "subject", "message-id", "date")


@dataclass
class _Fetched:
    folder_id: int
    target: str
    uid: int
    raw: bytes
    sha256: str
    flags: tuple[bytes, ...]
    date: datetime
    summary: str


@dataclass
class _Plan:
    folder_id: int
    source_name: str
    target: str
    uids: list[int]
    sizes: dict[int, int]
    modseq: int = 0  # the source's HIGHESTMODSEQ when listed (0: no CONDSTORE)


class Copier:
    """Copies one job; `run()` returns what happened (it never raises for the account)."""

    def __init__(self, db: Database, job_id: int, spec: SourceSpec, password: str,
                 target_command: TargetCommand, options: Options | None = None,
                 progress: Progress | None = None) -> None:
        self.db = db
        self.job_id = job_id
        self.spec = spec
        self.password = password
        self.target_command = target_command
        self.options = options or Options()
        self.progress = progress
        with db.reading() as s:
            job = s.get(MigrationJob, job_id)
            assert job is not None
            account = s.get(Account, job.account_id)
            assert account is not None
            self.address = account.address

    # ------------------------------------------------------------------ the run

    def run(self) -> RunResult:
        started = time.monotonic()
        result = RunResult()
        self._set_job(status="running", started_at=datetime.now(UTC), error=None)
        attempt = 0
        while True:
            try:
                self._run_once(result)
                break
            except SourceError as exc:
                if not exc.transient or attempt >= self.options.retries:
                    result.error = exc.reason
                    break
            except (OSError, IMAPClientAbortError, TargetError) as exc:
                if isinstance(exc, TargetError) and exc.permanent:
                    result.error = f"target: {exc.reason}"
                    break
                if attempt >= self.options.retries:
                    result.error = f"connection lost {attempt + 1} times, last: {exc}"
                    break
            except IMAPClientError as exc:  # a NO or BAD the source will answer again
                result.error = f"the source refused: {exc}"
                break
            except Exception as exc:  # noqa: BLE001 (one account's failure stops no other)
                result.error = f"unexpected {type(exc).__name__}: {exc}"
                break
            attempt += 1
            time.sleep(self.options.backoff * 2 ** (attempt - 1))
        result.seconds = time.monotonic() - started
        self._set_job(status="failed" if result.error else "copied", error=result.error,
                      finished_at=datetime.now(UTC))
        return result

    def _run_once(self, result: RunResult) -> None:
        source = connect(self.spec, self.password)
        target = Target(self.target_command(self.address))
        target.client.normalise_times = False
        try:
            self._reconcile(target)
            plans = self._list(source, target, result)
            self._copy(plans, target, result)
        finally:
            target.close()
            try:
                source.logout()
            except Exception:  # noqa: BLE001 (a broken source connection)
                pass

    # ------------------------------------------------------------------ 1. reconcile

    def _reconcile(self, target: Target) -> None:
        with self.db.reading() as s:
            rows = s.execute(
                select(MigrationMessage.id, MigrationMessage.sha256,
                       MigrationMessage.pending_from, MigrationFolder.target_name)
                .join(MigrationFolder, MigrationMessage.folder_id == MigrationFolder.id)
                .where(MigrationFolder.job_id == self.job_id,
                       MigrationMessage.target_uid.is_(None),
                       MigrationMessage.pending_from.is_not(None))
                .order_by(MigrationMessage.id)).all()
        by_target: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
        for rid, sha, pending_from, target_name in rows:
            by_target[target_name].append((rid, sha, pending_from or 0))
        for target_name, pending in by_target.items():
            first = min(p for _, _, p in pending)
            claimed = self._claimed_uids(target_name, first)
            found: dict[str, list[int]] = defaultdict(list)
            if target.client.folder_exists(target_name):
                for uid, sha in self._target_hashes(target, target_name, first):
                    if uid not in claimed:
                        found[sha].append(uid)
            with self.db.transaction() as s:
                for rid, sha, _ in pending:
                    uids = found.get(sha)
                    if uids:
                        s.execute(update(MigrationMessage).where(MigrationMessage.id == rid)
                                  .values(target_uid=uids.pop(0), pending_from=None))
                    else:  # never arrived: copy it again
                        s.execute(update(MigrationMessage).where(MigrationMessage.id == rid)
                                  .values(pending_from=None))

    def _claimed_uids(self, target_name: str, first: int) -> set[int]:
        with self.db.reading() as s:
            return set(s.scalars(
                select(MigrationMessage.target_uid)
                .join(MigrationFolder, MigrationMessage.folder_id == MigrationFolder.id)
                .where(MigrationFolder.job_id == self.job_id,
                       MigrationFolder.target_name == target_name,
                       MigrationMessage.target_uid >= first)))

    def _target_hashes(self, target: Target, folder: str, first: int
                       ) -> Iterator[tuple[int, str]]:
        """(uid, sha256) of the target folder's messages from UID `first` on, in chunks."""
        sizes = target.fetch_from(folder, first, [b"RFC822.SIZE"])
        for chunk in _chunks(sorted(sizes), {u: int(v[b"RFC822.SIZE"]) for u, v in  # type: ignore[call-overload]
                                             sizes.items()}, 500, 16 << 20):
            got = fetch_range(target.client, _uidset(chunk), [b"BODY.PEEK[]"])
            for uid in sorted(got):
                yield uid, hashlib.sha256(got[uid][b"BODY[]"]).hexdigest()

    # ------------------------------------------------------------------ 2. list

    def _list(self, source: IMAPClient, target: Target, result: RunResult) -> list[_Plan]:
        prefix = _personal_prefix(source)
        plans: list[_Plan] = []
        total = total_bytes = done = done_bytes = 0
        qresync = _enable(source, "QRESYNC")  # implies CONDSTORE (RFC 7162)
        condstore = qresync or _enable(source, "CONDSTORE")
        for flags, delim, name in source.list_folders():
            sf = fmap.SourceFolder(name, delim.decode() if delim else None, tuple(flags))
            if fmap.skipped(sf):
                continue
            tname = fmap.target_name(sf, prefix)
            info = source.select_folder(name, readonly=True)
            uidvalidity = int(info.get(b"UIDVALIDITY", 0))
            modseq = int(info.get(b"HIGHESTMODSEQ", 0)) if condstore else 0
            folder_id, seen_modseq = self._folder(name, tname, uidvalidity)
            if modseq and modseq == seen_modseq and self._folder_whole(folder_id):
                # CONDSTORE: nothing in the folder changed since it was last complete (no
                # new message, no flag change, no expunge): no listing needed.
                n, size = self._folder_figures(folder_id)
                total, total_bytes, done, done_bytes = (total + n, total_bytes + size,
                                                        done + n, done_bytes + size)
                continue
            exists = int(info.get(b"EXISTS", 0))
            delta = bool(qresync and seen_modseq and modseq and self._folder_whole(folder_id))
            vanished: list[int] = []
            if delta:
                # QRESYNC: only what changed since the folder was last complete — new
                # messages, changed flags — and the UIDs expunged since (VANISHED), instead
                # of listing every message of the folder again.
                listing, vanished = _changed_since(source, seen_modseq)
                known = self._known(folder_id, [*listing, *vanished])
                kept_n, kept_size = self._folder_figures(folder_id)
            else:
                listing = fetch_range(source, "1:*", LIST_ITEMS) if exists else {}
                known = self._known(folder_id, None)
            result.listed += len(listing)
            sizes = {uid: int(d[b"RFC822.SIZE"]) for uid, d in listing.items()}
            todo = [uid for uid in sorted(listing)
                    if uid not in known or (known[uid].target_uid is None
                                            and known[uid].pending_from is None)]
            changed: dict[int, tuple[bytes, ...]] = {}
            for uid, d in listing.items():
                row = known.get(uid)
                if row is not None and row.target_uid is not None:
                    now = clean_flags(d[b"FLAGS"])
                    if flags_text(now) != row.flags:
                        changed[uid] = now
            if changed:
                target.ensure_folder(tname)
                target.store_flags(tname, {known[u].target_uid: f  # type: ignore[misc]
                                           for u, f in changed.items()})
                with self.db.transaction() as s:
                    for uid, f in changed.items():
                        s.execute(update(MigrationMessage)
                                  .where(MigrationMessage.id == known[uid].id)
                                  .values(flags=flags_text(f)))
                result.flags_updated += len(changed)
            if delta:
                gone = [known[u] for u in vanished if u in known
                        and known[u].target_uid is not None]
            else:
                gone = [r for uid, r in known.items() if uid not in listing
                        and r.target_uid is not None]
            if gone and not self.options.sync_deletions:
                # Kept at the target; the folder is listed again next time (QRESYNC: from
                # the same point, so VANISHED names them again), so a later run with
                # sync_deletions still sees what went.
                modseq = seen_modseq if delta else 0
            if gone and self.options.sync_deletions:
                target.expunge(tname, [r.target_uid for r in gone])  # type: ignore[misc]
                with self.db.transaction() as s:
                    s.execute(delete(MigrationMessage).where(
                        MigrationMessage.id.in_([r.id for r in gone])))
                result.deleted += len(gone)
            todo_set = set(todo)
            if delta:
                # The folder as it now stands: the rows kept, less what went, plus the new.
                went = [known[u] for u in vanished if u in known]
                n = kept_n - len(went) + len(todo)
                size = (kept_size - sum(r.size for r in went)
                        + sum(sizes[u] for u in todo))
                total, total_bytes = total + n, total_bytes + size
                done += n - len(todo)
                done_bytes += size - sum(sizes[u] for u in todo)
            else:
                total += len(listing)
                total_bytes += sum(sizes.values())
                done += len(listing) - len(todo)
                done_bytes += sum(n for u, n in sizes.items() if u not in todo_set)
            if todo:
                plans.append(_Plan(folder_id, name, tname, todo, sizes, modseq))
            elif modseq:
                self._folder_complete(folder_id, modseq)
        self._set_job(messages_total=total, bytes_total=total_bytes, messages_done=done,
                      bytes_done=done_bytes)
        self._done, self._done_bytes, self._total, self._total_bytes = (
            done, done_bytes, total, total_bytes)
        self._report_progress()
        return plans

    def _known(self, folder_id: int, uids: list[int] | None) -> dict[int, MigrationMessage]:
        """The folder's rows by source UID (only `uids`' when given), detached."""
        stmt = select(MigrationMessage).where(MigrationMessage.folder_id == folder_id,
                                              MigrationMessage.uid > 0)
        with self.db.reading() as s:
            if uids is None:
                rows = list(s.scalars(stmt))
            else:
                rows = []
                for i in range(0, len(uids), 500):  # bounded IN lists
                    rows += s.scalars(stmt.where(MigrationMessage.uid.in_(uids[i:i + 500])))
            for r in rows:
                s.expunge(r)
        return {r.uid: r for r in rows}

    def _folder_figures(self, folder_id: int) -> tuple[int, int]:
        with self.db.reading() as s:
            n, size = s.execute(select(func.count(), func.coalesce(func.sum(_MSG.c.size), 0))
                                .where(_MSG.c.folder_id == folder_id, _MSG.c.uid > 0)).one()
        return int(n), int(size)

    def _folder_whole(self, folder_id: int) -> bool:
        """No row of the folder waits for a copy (a refused or reconciled message)."""
        with self.db.reading() as s:
            return s.execute(select(_MSG.c.id).where(
                _MSG.c.folder_id == folder_id, _MSG.c.uid > 0,
                _MSG.c.target_uid.is_(None)).limit(1)).first() is None

    def _folder_complete(self, folder_id: int, modseq: int) -> None:
        with self.db.transaction() as s:
            s.execute(update(MigrationFolder).where(MigrationFolder.id == folder_id)
                      .values(highest_modseq=modseq))

    def _folder(self, source_name: str, target_name: str, uidvalidity: int
                ) -> tuple[int, int]:
        with self.db.transaction() as s:
            row = s.scalars(select(MigrationFolder).where(
                MigrationFolder.job_id == self.job_id,
                MigrationFolder.source_name == source_name)).one_or_none()
            if row is None:
                row = MigrationFolder(job_id=self.job_id, source_name=source_name,
                                      target_name=target_name, uidvalidity=uidvalidity,
                                      highest_modseq=0)
                s.add(row)
                s.flush()
                return row.id, 0
            elif row.uidvalidity != uidvalidity:
                # The source renumbered the folder: the old UIDs mean nothing now. Rows
                # already copied are set aside (negative UIDs) and re-keyed by content as
                # the folder is read again (`_rekey`), so nothing is copied twice.
                s.execute(delete(MigrationMessage).where(
                    MigrationMessage.folder_id == row.id,
                    MigrationMessage.target_uid.is_(None)))
                s.execute(update(MigrationMessage)
                          .where(MigrationMessage.folder_id == row.id,
                                 MigrationMessage.uid > 0)
                          .values(uid=-MigrationMessage.uid))
                row.uidvalidity = uidvalidity
                row.highest_modseq = 0
            return row.id, row.highest_modseq

    # ------------------------------------------------------------------ 3. copy

    def _copy(self, plans: list[_Plan], target: Target, result: RunResult) -> None:
        if not plans:
            return
        batches: queue.Queue[list[_Fetched] | BaseException | None] = queue.Queue(maxsize=3)
        stop = threading.Event()
        reader = threading.Thread(target=self._read, args=(plans, batches, stop),
                                  name=f"migration-read-{self.job_id}", daemon=True)
        source = connect(self.spec, self.password)
        reader.source = source  # type: ignore[attr-defined]
        reader.start()
        try:
            while True:
                item = batches.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._write(item, target, result)
            refused = {f["folder_id"] for f in result.failed}
            for plan in plans:
                if plan.modseq and plan.folder_id not in refused:
                    self._folder_complete(plan.folder_id, plan.modseq)
        finally:
            stop.set()
            while reader.is_alive():
                try:
                    batches.get_nowait()
                except queue.Empty:
                    reader.join(0.05)
            try:
                source.logout()
            except Exception:  # noqa: BLE001
                pass

    def _read(self, plans: list[_Plan], out: queue.Queue[Any], stop: threading.Event
              ) -> None:
        source: IMAPClient = threading.current_thread().source  # type: ignore[attr-defined]
        started, sent, sent_bytes = time.monotonic(), 0, 0
        try:
            for plan in plans:
                source.select_folder(plan.source_name, readonly=True)
                rekey = self._set_aside(plan.folder_id)
                for chunk in _chunks(plan.uids, plan.sizes, self.options.batch_messages,
                                     self.options.batch_bytes):
                    if stop.is_set():
                        return
                    got = fetch_range(source, _uidset(chunk), BODY_ITEMS)
                    batch = []
                    for uid in chunk:
                        d = got.get(uid)
                        if d is None:
                            continue  # expunged at the source meanwhile
                        raw = d[b"BODY[]"]
                        sha = hashlib.sha256(raw).hexdigest()
                        flags = clean_flags(d[b"FLAGS"])
                        if sha in rekey and rekey[sha]:
                            self._rekey(rekey[sha].pop(0), uid, flags)
                            continue
                        batch.append(_Fetched(plan.folder_id, plan.target, uid, raw, sha,
                                              flags, d[b"INTERNALDATE"], summary(raw)))
                    if batch:
                        out.put(batch)
                    sent += len(batch)
                    sent_bytes += sum(len(b.raw) for b in batch)
                    self._throttle(started, sent, sent_bytes)
            out.put(None)
        except BaseException as exc:  # noqa: BLE001 (handed to the writer, which raises it)
            out.put(exc)

    def _throttle(self, started: float, sent: int, sent_bytes: int) -> None:
        wait = 0.0
        if self.options.max_msgs_per_s > 0:
            wait = max(wait, sent / self.options.max_msgs_per_s)
        if self.options.max_bytes_per_s > 0:
            wait = max(wait, sent_bytes / self.options.max_bytes_per_s)
        delay = started + wait - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _set_aside(self, folder_id: int) -> dict[str, list[int]]:
        """Rows of a renumbered folder (negative UIDs), by content, to be re-keyed."""
        with self.db.reading() as s:
            rows = s.execute(select(MigrationMessage.id, MigrationMessage.sha256)
                             .where(MigrationMessage.folder_id == folder_id,
                                    MigrationMessage.uid < 0)
                             .order_by(MigrationMessage.id)).all()
        out: dict[str, list[int]] = defaultdict(list)
        for rid, sha in rows:
            out[sha].append(rid)
        return out

    def _rekey(self, row_id: int, uid: int, flags: tuple[bytes, ...]) -> None:
        with self.db.transaction() as s:
            s.execute(update(MigrationMessage).where(MigrationMessage.id == row_id)
                      .values(uid=uid, flags=flags_text(flags)))

    def _write(self, batch: list[_Fetched], target: Target, result: RunResult) -> None:
        name = batch[0].target
        target.ensure_folder(name)
        try:
            self._append(batch, target)
        except TargetError as exc:
            if len(batch) == 1:
                self._refused(batch[0], exc.reason, result)
                return
            # One message spoilt the batch (too large, quota full): go one by one, so the
            # others go in and the refused ones are named.
            for one in batch:
                try:
                    self._append([one], target)
                except TargetError as single:
                    self._refused(one, single.reason, result)
                else:
                    self._count(result, [one])
            return
        self._count(result, batch)

    def _count(self, result: RunResult, batch: list[_Fetched]) -> None:
        result.copied += len(batch)
        size = sum(len(b.raw) for b in batch)
        result.copied_bytes += size
        self._done += len(batch)
        self._done_bytes += size
        self._set_job(messages_done=self._done, bytes_done=self._done_bytes)
        self._report_progress()

    def _append(self, batch: list[_Fetched], target: Target) -> None:
        name = batch[0].target
        uidnext, _ = target.uidnext(name)
        with self.db.transaction() as s:
            self._replace_rows(s, batch, pending_from=uidnext)
        uids = target.append(name, [Outgoing(b.raw, b.flags, b.date) for b in batch])
        with self.db.transaction() as s:
            s.connection().execute(
                update(_MSG).where(_MSG.c.folder_id == bindparam("f"),
                                   _MSG.c.uid == bindparam("u"))
                .values(target_uid=bindparam("t"), pending_from=None, error=None),
                [{"f": b.folder_id, "u": b.uid, "t": tuid}
                 for b, tuid in zip(batch, uids, strict=True)])

    def _replace_rows(self, s: Session, batch: list[_Fetched], pending_from: int | None,
                      error: str | None = None) -> None:
        # Core statements, executemany: the ORM's per-object work cost more CPU than the
        # copy itself (bench/migration.py).
        s.execute(delete(_MSG).where(_MSG.c.folder_id == batch[0].folder_id,
                                     _MSG.c.uid.in_([b.uid for b in batch])))
        s.execute(insert(_MSG), [
            {"folder_id": b.folder_id, "uid": b.uid, "sha256": b.sha256, "size": len(b.raw),
             "flags": flags_text(b.flags), "internal_date": epoch(b.date),
             "summary": b.summary, "pending_from": pending_from, "error": error,
             "target_uid": None} for b in batch])

    def _refused(self, one: _Fetched, reason: str, result: RunResult) -> None:
        with self.db.transaction() as s:
            self._replace_rows(s, [one], pending_from=None, error=reason)
        item = {"folder": one.target, "folder_id": one.folder_id, "uid": one.uid,
                "size": len(one.raw),
                "reason": reason, **json.loads(one.summary)}
        result.failed.append(item)

    # ------------------------------------------------------------------ bookkeeping

    def _set_job(self, **values: Any) -> None:
        with self.db.transaction() as s:
            s.execute(update(MigrationJob).where(MigrationJob.id == self.job_id)
                      .values(**values))

    def _report_progress(self) -> None:
        if self.progress:
            self.progress(self.job_id, self._done, self._done_bytes, self._total,
                          self._total_bytes)


def _enable(client: IMAPClient, extension: str) -> bool:
    """ENABLE CONDSTORE (HIGHESTMODSEQ in SELECT) or QRESYNC (also VANISHED) where the
    source has it (RFC 7162)."""
    if not client.has_capability(extension):
        return False
    try:
        enabled = client.enable(extension)
    except IMAPClientError:
        return False
    return extension.upper() in {(e.decode() if isinstance(e, bytes) else str(e)).upper()
                                 for e in enabled}


def _changed_since(client: IMAPClient, modseq: int
                   ) -> tuple[dict[int, dict[bytes, Any]], list[int]]:
    """UID FETCH 1:* (…) (CHANGEDSINCE m VANISHED): the messages new or changed since
    `modseq`, and the UIDs expunged since (RFC 7162 §3.2.6)."""
    imap = client._imap  # noqa: SLF001 (imaplib keeps untagged VANISHED by its name)
    imap.untagged_responses.pop("VANISHED", None)
    listing = fetch_range(client, "1:*", LIST_ITEMS, [f"CHANGEDSINCE {modseq}", "VANISHED"])
    vanished: list[int] = []
    for line in imap.untagged_responses.pop("VANISHED", []) or []:
        text = line.decode() if isinstance(line, bytes) else str(line)
        vanished += _uids_of(text.replace("(EARLIER)", "").strip())
    return listing, vanished


def _uids_of(uidset: str) -> list[int]:
    """"41,43:45" → [41, 43, 44, 45]."""
    out: list[int] = []
    for part in filter(None, uidset.split(",")):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out += range(min(a, b), max(a, b) + 1)
    return out


def _personal_prefix(client: IMAPClient) -> str:
    try:
        ns = client.namespace()
    except IMAPClientError:
        return ""
    if ns.personal:
        prefix = ns.personal[0][0]
        return prefix if isinstance(prefix, str) else prefix.decode()
    return ""


def _uidset(uids: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] → "1:3,7,9:10" (short commands for long runs)."""
    parts: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if start != prev else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(parts)


def _chunks(uids: list[int], sizes: dict[int, int], count: int, size: int
            ) -> Iterator[list[int]]:
    """Consecutive groups of at most `count` messages and about `size` bytes (a larger
    message makes a group of its own)."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        n = sizes.get(uid, 0)
        if chunk and (len(chunk) >= count or total + n > size):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += n
    if chunk:
        yield chunk
