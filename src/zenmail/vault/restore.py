"""Putting messages back: one, a folder or a whole account, as a snapshot holds them.

The messages are read from restic (`dump` for one, `restore --include` for many) into a
Maildir of their own inside the mail store, with each file's flags and keywords in its name
and its INTERNALDATE as its mtime, and Dovecot imports them (`doveadm import`): through its
own storage code, so the indexes, the quota and the usage copy stay right, and the bytes
are the snapshot's, unchanged.

Twice is once: a message whose SHA-256 the target folder already holds (as many times as
the snapshot's folder did) is skipped. Nothing partial: the quota is checked for the whole
restore before anything is imported.

One message takes the short way: `restic dump` (most of its time) starts at once and reads
while the duplicate check runs (a message already there stops it unread), and Dovecot's
import, which refuses a message over quota by itself, is the quota check (the free space is
asked only to say so; into a new folder it is asked first, or a refused import would leave
that folder behind, empty).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from zenmail.config import Settings
from zenmail.eco import maildir as eco_maildir
from zenmail.errors import NotFound, QuotaExceeded, StackError
from zenmail.sizes import format_size
from zenmail.stack.base import run
from zenmail.stack.daemons.dovecot import Dovecot
from zenmail.stack.files import gid, uid
from zenmail.stack.registry import Stack
from zenmail.vault import maildir
from zenmail.vault.catalogue import Entry
from zenmail.vault.laps import Laps
from zenmail.vault.maildir import stored_message
from zenmail.vault.restic import Restic
from zenmail.vault.snapshot import STAGE, account_dir


@dataclass
class Restored:
    account: str
    restored: int = 0
    skipped: int = 0            # already there
    bytes: int = 0
    folders: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)   # aliases pointing at it again
    dav_items: int = 0          # calendar events and contacts put back

    def to_dict(self) -> dict[str, object]:
        return {"account": self.account, "restored": self.restored, "skipped": self.skipped,
                "bytes": self.bytes, "folders": self.folders, "aliases": self.aliases,
                "dav_items": self.dav_items}


def _doveadm(settings: Settings, *args: str) -> str:
    dovecot = Stack(settings).services["dovecot"]
    assert isinstance(dovecot, Dovecot)
    return run(["doveadm", "-c", str(dovecot.conf), *args], f"doveadm {args[0]}",
               timeout=3600)


def free_bytes(settings: Settings, account: str) -> int | None:
    """What the account's quota still takes, as Dovecot counts it (None: no limit)."""
    table = _doveadm(settings, "-f", "tab", "quota", "get", "-u", account)
    for line in table.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) >= 4 and cells[1] == "STORAGE":
            if not cells[3].isdigit():
                return None
            return (int(cells[3]) - int(cells[2])) * 1024
    return None


def folder_dir(settings: Settings, account: str, folder: str) -> Path:
    """The folder's directory in the account's Maildir (whether it exists or not)."""
    return account_dir(settings, account) / "Maildir" / maildir.dir_of(folder)


def present(settings: Settings, account: str, folder: str, sizes: set[int]) -> Counter[str]:
    """SHA-256 of the folder's messages whose size is one of `sizes` (the only candidates
    for a duplicate), with their counts."""
    d = folder_dir(settings, account, folder)
    out: Counter[str] = Counter()
    for sub in ("cur", "new"):
        try:
            entries = list(os.scandir(d / sub))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                if e.stat().st_size in sizes:
                    out[maildir.digest(stored_message(Path(e.path)))] += 1
            except FileNotFoundError:
                continue
    return out


def restore(settings: Settings, entries: list[Entry], target: str,
            to_folder: str | None = None, timings: dict[str, float] | None = None
            ) -> Restored:
    """Restore `entries` (of one snapshot) into account `target`, each into `to_folder` or
    its own folder. `timings` (if given) gets the seconds of each phase: checks (duplicates,
    and the quota for several messages), read (what restic takes beyond the checks, and the
    staging Maildir), import (Dovecot's)."""
    lap = Laps(timings)
    with ExitStack() as stack:
        one = None
        if len(entries) == 1:
            # restic's read is most of a one-message restore: it runs while the duplicate
            # check does (a message already there stops it unread).
            e = entries[0]
            one = stack.enter_context(Restic(settings).dumping(e.snapshot, e.path))
        return _restore(settings, entries, target, to_folder, one, lap)


def _restore(settings: Settings, entries: list[Entry], target: str, to_folder: str | None,
             one: Callable[[], bytes] | None, lap: Laps) -> Restored:
    result = Restored(target)
    by_folder: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_folder[to_folder or e.folder].append(e)
    todo: dict[str, list[Entry]] = {}
    for folder, group in by_folder.items():
        have = present(settings, target, folder, {e.size for e in group})
        pick = []
        for e in group:
            if have[e.sha256] > 0:
                have[e.sha256] -= 1
                result.skipped += 1
            else:
                pick.append(e)
        if pick:
            todo[folder] = pick
    if not todo:
        return result
    if one is None or not all(folder_dir(settings, target, f).is_dir() for f in todo):
        # Several messages: nothing partial, so the whole restore is weighed first. One
        # message is all or nothing anyway, and Dovecot refuses it over quota (quota_grace
        # = 0): its import is the check, and the free space is asked only if it fails —
        # unless it goes to a new folder, which a refused import would leave behind, empty.
        _check_quota(settings, target, todo)
    lap("checks")
    work = settings.mail_store / STAGE / f"restore-{secrets.token_hex(6)}"
    try:
        _fetch(settings, todo, work, one)
        lap("read")
        src = f"maildir:{work / 'Maildir'}:INDEX=MEMORY"
        for folder in todo:
            # The staging Maildir is a storage of its own, whose hierarchy separator is
            # Maildir++'s "."; Dovecot maps it to the account's "/" on import.
            try:
                _doveadm(settings, "import", "-u", target, "-s", src, "", "mailbox",
                         folder.replace("/", "."))
            except StackError:
                if one is not None:
                    _check_quota(settings, target, todo)  # says so, if that was why
                raise
        result.restored = sum(len(g) for g in todo.values())
        result.bytes = sum(e.size for g in todo.values() for e in g)
        result.folders = sorted(todo)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        lap("import")
    return result


def _check_quota(settings: Settings, target: str, todo: dict[str, list[Entry]]) -> None:
    """QuotaExceeded if the account's quota has no room for all of `todo`."""
    need = sum(e.vsize for g in todo.values() for e in g)
    free = free_bytes(settings, target)
    if free is not None and need > free:
        count = sum(len(g) for g in todo.values())
        raise QuotaExceeded(f"restoring {count} message(s) into {target} needs "
                            f"{format_size(need)} but its quota has only "
                            f"{format_size(max(free, 0))} free; nothing was restored. Raise "
                            f"the quota (`zenmail account set-quota {target} SIZE`) or make "
                            "room, then try again")


def _fetch(settings: Settings, todo: dict[str, list[Entry]], work: Path,
           one: Callable[[], bytes] | None = None) -> None:
    """A Maildir at `work` holding the messages to restore, each file as it was (`one`:
    the bytes of the only message, already being read)."""
    restic = Restic(settings)
    entries = [e for g in todo.values() for e in g]
    snapshots = {e.snapshot for e in entries}
    raw: dict[str, bytes] | None = None
    unpacked = work / "from-snapshot"
    if len(entries) == 1:
        e = entries[0]
        raw = {e.path: one() if one is not None else restic.dump(e.snapshot, e.path)}
    else:
        for sid in snapshots:
            dirs = sorted({e.path.rsplit("/", 1)[0] for e in entries if e.snapshot == sid})
            restic.restore(sid, unpacked, dirs)
    mail_uid, mail_gid = uid("mail"), gid("mail")
    root = work / "Maildir"
    for folder, group in todo.items():
        fdir = root / maildir.dir_of(folder)
        keywords = sorted({f for e in group for f in e.flags if f not in maildir.LETTERS})
        for sub in ("cur", "new", "tmp"):
            (fdir / sub).mkdir(parents=True, exist_ok=True)
        if keywords:
            (fdir / "dovecot-keywords").write_text(
                "".join(f"{i} {k}\n" for i, k in enumerate(keywords[:26])))
        for e in group:
            body = eco_maildir.unpack(raw[e.path]) if raw is not None else stored_message(
                unpacked / e.path.lstrip("/"))
            if maildir.digest(body) != e.sha256:
                raise NotFound(f"message {e.restore_id()} in the vault does not match its "
                               "catalogue (SHA-256 differs); run `zenmail vault verify`")
            base = maildir.split_name(e.path.rsplit("/", 1)[1])[0]
            name = f"{base}:2,{maildir.flag_letters(e.flags, keywords[:26])}"
            path = fdir / "cur" / name
            path.write_bytes(body)
            os.utime(path, (e.internal_date, e.internal_date))
    for dirpath, _dirs, filenames in os.walk(work):
        os.chown(dirpath, mail_uid, mail_gid)
        for f in filenames:
            os.chown(os.path.join(dirpath, f), mail_uid, mail_gid)
    os.chmod(work, 0o700)
