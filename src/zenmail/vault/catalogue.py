"""The message catalogue: what each snapshot holds, message by message.

Its truth travels inside the snapshot itself (`/zenmail/catalogue.jsonl`, one entry a
line), so a repository restored on another machine is searchable again; this module keeps a
local SQLite copy of every catalogue (STATE/vault-index/catalogue.db) for fast searches,
and a cache of what each message file contains (keyed by the file's unique Maildir base
name and size), so a snapshot re-reads only new files. The copy is a cache: `sync` fills in
what it lacks from the repository and drops what the repository forgot.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.errors import InvalidInput, NotFound

CATALOGUE_PATH = "/zenmail/catalogue.jsonl"
DIRECTORY_PATH = "/zenmail/directory.json"
# Accounts a snapshot did not store again because they had not changed: account -> the
# (earlier) snapshot that holds their mail and catalogue. Absent (older snapshots, or an
# account stored anew): the snapshot itself.
HOLDERS_PATH = "/zenmail/holders.json"


@dataclass
class Entry:
    n: int                  # place in the snapshot's catalogue: with the snapshot, the id
    account: str
    folder: str
    uidvalidity: int | None
    uid: int | None
    flags: list[str]
    internal_date: float    # the file's mtime, which is Dovecot's INTERNALDATE for Maildir
    size: int               # bytes as stored
    vsize: int              # bytes as the quota counts them (CRLF line ends)
    sha256: str
    sender: str
    subject: str
    date: str
    path: str               # inside the snapshot: /mail/DOMAIN/LOCAL/Maildir/.F/cur/NAME
    snapshot: str = field(default="")

    def restore_id(self) -> str:
        return f"{self.snapshot[:8]}-{self.n}"

    def to_json(self) -> str:
        # By hand, not dataclasses.asdict (deep copies): 100,000 lines per snapshot.
        return _ENCODE({k: getattr(self, k) for k in _FIELDS})


_FIELDS = sorted(("n", "account", "folder", "uidvalidity", "uid", "flags", "internal_date",
                  "size", "vsize", "sha256", "sender", "subject", "date", "path"))
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class SnapshotRow:
    id: str
    time: str
    scope: str
    tenants: list[str]
    accounts: int
    messages: int
    bytes: int

    @property
    def short(self) -> str:
        return self.id[:8]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "short_id": self.short}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, time TEXT, scope TEXT,
  tenants TEXT, accounts INTEGER, messages INTEGER, bytes INTEGER);
CREATE TABLE IF NOT EXISTS members (snapshot TEXT, account TEXT, tenant TEXT);
CREATE INDEX IF NOT EXISTS members_account ON members (account);
CREATE TABLE IF NOT EXISTS entries (snapshot TEXT, n INTEGER, account TEXT, folder TEXT,
  uidvalidity INTEGER, uid INTEGER, flags TEXT, internal_date REAL, size INTEGER,
  vsize INTEGER, sha256 TEXT, sender TEXT, subject TEXT, date TEXT, path TEXT,
  PRIMARY KEY (snapshot, n));
CREATE INDEX IF NOT EXISTS entries_account ON entries (account, snapshot);
CREATE TABLE IF NOT EXISTS holders (snapshot TEXT, account TEXT, holder TEXT,
  PRIMARY KEY (snapshot, account));
CREATE INDEX IF NOT EXISTS holders_holder ON holders (holder);
CREATE TABLE IF NOT EXISTS prints (scope TEXT, account TEXT, print TEXT, holder TEXT,
  PRIMARY KEY (scope, account));
CREATE TABLE IF NOT EXISTS known (base TEXT, size INTEGER, sha256 TEXT, vsize INTEGER,
  sender TEXT, subject TEXT, date TEXT, PRIMARY KEY (base, size));
"""

_COLUMNS = ("snapshot", "n", "account", "folder", "uidvalidity", "uid", "flags",
            "internal_date", "size", "vsize", "sha256", "sender", "subject", "date", "path")


def _entry(row: sqlite3.Row | tuple[Any, ...]) -> Entry:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["flags"] = json.loads(d["flags"])
    return Entry(**d)


def restic_time(text: str) -> datetime:
    """A time as restic's JSON gives it (nanoseconds, an offset or Z) in whole seconds, UTC:
    the grain of `backup --time`, and the one form the index keeps, so its times sort."""
    return datetime.fromisoformat(re.sub(r"\.\d+", "", text).replace("Z", "+00:00")
                                  ).astimezone(UTC)


class Index:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = sqlite3.connect(path, timeout=60)
        self.db.executescript("PRAGMA journal_mode=WAL;" + _SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

    # ---------------------------------------------------------------- the file cache

    def known(self) -> dict[tuple[str, int], tuple[str, int, str, str, str]]:
        return {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6])
                for r in self.db.execute("SELECT * FROM known")}

    def remember(self, rows: Iterable[tuple[str, int, str, int, str, str, str]]) -> None:
        with self.tx() as db:
            db.executemany("INSERT OR REPLACE INTO known VALUES (?,?,?,?,?,?,?)", rows)

    # ---------------------------------------------------------------- catalogues

    def has(self, snapshot_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM snapshots WHERE id=?",
                               (snapshot_id,)).fetchone() is not None

    # ---------------------------------------------------------------- unchanged accounts

    def prints(self, scope: str) -> dict[str, tuple[str, str]]:
        """account -> (fingerprint of its Maildir, snapshot holding it) for `scope`'s
        last snapshot, where the holder is still in the index."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT p.account, p.print, p.holder FROM prints p WHERE p.scope=? AND EXISTS "
            "(SELECT 1 FROM snapshots s WHERE s.id=p.holder)", (scope,))}

    def set_prints(self, scope: str, rows: Iterable[tuple[str, str | None, str]]) -> None:
        """(account, fingerprint or None: do not trust it next time, holder)."""
        with self.tx() as db:
            db.execute("DELETE FROM prints WHERE scope=?", (scope,))
            db.executemany("INSERT INTO prints VALUES (?,?,?,?)",
                           [(scope, a, p, h) for a, p, h in rows if p is not None])

    def holders(self, snapshot_id: str) -> dict[str, str]:
        """account -> the snapshot holding its mail, for the accounts `snapshot_id` took
        over from an earlier one."""
        return dict(self.db.execute("SELECT account, holder FROM holders WHERE snapshot=?",
                                    (snapshot_id,)).fetchall())

    def holder(self, snapshot_id: str, account: str) -> str:
        row = self.db.execute("SELECT holder FROM holders WHERE snapshot=? AND account=?",
                              (snapshot_id, account)).fetchone()
        return str(row[0]) if row else snapshot_id

    def referenced(self) -> dict[str, set[str]]:
        """snapshot -> the other snapshots it takes accounts from."""
        out: dict[str, set[str]] = {}
        for sid, holder in self.db.execute("SELECT snapshot, holder FROM holders"):
            out.setdefault(sid, set()).add(holder)
        return out

    def totals(self, holders: dict[str, str]) -> tuple[int, int]:
        """Messages and bytes of the given accounts in their holders."""
        n = size = 0
        for account, holder in holders.items():
            c, b = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries "
                                   "WHERE snapshot=? AND account=?", (holder, account)
                                   ).fetchone()
            n, size = n + int(c), size + int(b)
        return n, size

    def add(self, row: SnapshotRow, members: list[tuple[str, str]],
            entries: list[Entry], holders: dict[str, str] | None = None) -> None:
        with self.tx() as db:
            for table in ("entries", "members", "holders"):
                db.execute(f"DELETE FROM {table} WHERE snapshot=?", (row.id,))
            db.executemany("INSERT INTO holders VALUES (?,?,?)",
                           [(row.id, a, h) for a, h in (holders or {}).items()])
            db.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?,?)",
                       (row.id, row.time, row.scope, json.dumps(row.tenants), row.accounts,
                        row.messages, row.bytes))
            db.executemany("INSERT INTO members VALUES (?,?,?)",
                           [(row.id, a, t) for a, t in members])
            db.executemany(f"INSERT INTO entries VALUES ({','.join('?' * len(_COLUMNS))})",
                           [(row.id, e.n, e.account, e.folder, e.uidvalidity, e.uid,
                             json.dumps(e.flags), e.internal_date, e.size, e.vsize,
                             e.sha256, e.sender, e.subject, e.date, e.path)
                            for e in entries])

    def drop(self, snapshot_id: str) -> None:
        with self.tx() as db:
            for table in ("entries", "members", "holders"):
                db.execute(f"DELETE FROM {table} WHERE snapshot=?", (snapshot_id,))
            db.execute("DELETE FROM snapshots WHERE id=?", (snapshot_id,))

    def latest_time(self) -> datetime | None:
        """The time of the newest snapshot this index knows, if any."""
        row = self.db.execute("SELECT max(time) FROM snapshots").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def snapshot_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM snapshots")]

    def snapshots(self, tenant: str | None = None, account: str | None = None
                  ) -> list[SnapshotRow]:
        sql = "SELECT * FROM snapshots s"
        args: list[Any] = []
        if account is not None:
            sql += " WHERE EXISTS (SELECT 1 FROM members m WHERE m.snapshot=s.id AND m.account=?)"
            args.append(account)
        elif tenant is not None:
            sql += " WHERE EXISTS (SELECT 1 FROM members m WHERE m.snapshot=s.id AND m.tenant=?)"
            args.append(tenant)
        rows = self.db.execute(sql + " ORDER BY time", args).fetchall()
        return [SnapshotRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def resolve(self, snapshot: str) -> SnapshotRow:
        """A snapshot by its full or short id (or a unique prefix)."""
        if not snapshot or not all(c in "0123456789abcdef" for c in snapshot.lower()):
            raise InvalidInput(f"{snapshot!r} is not a snapshot id; `zenmail snapshot list` "
                               "shows them")
        rows = self.db.execute("SELECT * FROM snapshots WHERE id LIKE ?",
                               (snapshot.lower() + "%",)).fetchall()
        if len(rows) != 1:
            raise NotFound(f"no snapshot {snapshot!r}" if not rows else
                           f"{snapshot!r} names several snapshots; give more of its id")
        r = rows[0]
        return SnapshotRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6])

    def tenants_of(self, snapshot_id: str) -> dict[str, str]:
        return dict(self.db.execute("SELECT account, tenant FROM members WHERE snapshot=?",
                                    (snapshot_id,)).fetchall())

    def entries(self, snapshot_id: str, account: str, folder: str | None = None,
                own: bool = False) -> list[Entry]:
        """The account's messages as `snapshot_id` has them: from the snapshot that holds
        them (an earlier one when the account had not changed), or, `own`, only those
        stored in `snapshot_id` itself."""
        holder = snapshot_id if own else self.holder(snapshot_id, account)
        sql = f"SELECT {','.join(_COLUMNS)} FROM entries WHERE snapshot=? AND account=?"
        args: list[Any] = [holder, account]
        if folder is not None:
            sql += " AND folder=?"
            args.append(folder)
        return [_entry(r) for r in self.db.execute(sql + " ORDER BY n", args)]

    def entry(self, restore_id: str, account: str) -> Entry:
        short, _, n = restore_id.partition("-")
        missing = NotFound(f"no restore id {restore_id!r} for {account}; `zenmail restore "
                           f"find {account}` lists them")
        if not n.isdigit() or len(short) < 8:
            raise missing
        row = self.db.execute(f"SELECT {','.join(_COLUMNS)} FROM entries WHERE snapshot LIKE ? "
                              "AND n=? AND account=?", (short.lower() + "%", int(n), account)
                              ).fetchone()
        if row is None:
            raise missing
        return _entry(row)

    def find(self, account: str, folder: str | None = None, subject: str | None = None,
             sender: str | None = None, since: float | None = None,
             until: float | None = None, limit: int = 1000) -> list[Entry]:
        """Messages of `account` across snapshots, each once (from its latest snapshot),
        newest first."""
        where: list[str] = ["e.account=?"]
        args: list[Any] = [account]
        if folder:
            where.append("e.folder=?")
            args.append(folder)
        for word in (subject or "").split():
            where.append("e.subject LIKE ?")
            args.append(f"%{word}%")
        if sender:
            where.append("e.sender LIKE ?")
            args.append(f"%{sender}%")
        if since is not None:
            where.append("e.internal_date >= ?")
            args.append(since)
        if until is not None:
            where.append("e.internal_date < ?")
            args.append(until)
        cols = ",".join(f"e.{c}" for c in _COLUMNS)
        sql = (f"SELECT {cols}, s.time FROM entries e JOIN snapshots s ON s.id=e.snapshot "
               f"WHERE {' AND '.join(where)} ORDER BY s.time DESC")
        seen: set[tuple[Any, ...]] = set()
        out: list[Entry] = []
        for row in self.db.execute(sql, args):
            e = _entry(row[:-1])
            # The file's Maildir base name survives new/ -> cur/ and flag changes.
            key = (e.folder, e.sha256, e.path.rsplit("/", 1)[1].partition(":")[0])
            if key in seen:
                continue
            seen.add(key)
            out.append(e)
        out.sort(key=lambda e: -e.internal_date)
        return out[:limit]


def parse_catalogue(raw: bytes, snapshot_id: str) -> list[Entry]:
    out = []
    for line in raw.splitlines():
        if line.strip():
            out.append(Entry(**json.loads(line), snapshot=snapshot_id))
    return out
