"""Taking a snapshot: a consistent picture of the mail, its catalogue and the directory,
handed to restic.

Consistent while mail keeps arriving: the accounts' Maildirs are first mirrored by hard
links into a stage inside the mail store (`.zenmail-vault/<scope>/mail/...`, the same file
system, no data copied). A Maildir file's content never changes, so each link freezes one
message whatever Dovecot does next; new/ is listed before cur/, so a message that Dovecot
moves from new/ to cur/ meanwhile is caught in one of them. The catalogue is written from
the stage, and restic backs up the stage, so what the catalogue lists is exactly what the
snapshot holds; mail that arrives after its folder was listed is in the next snapshot.
The links are removed once restic has read them (a second link would make Dovecot's
lazy_expunge take a deleted message for one held elsewhere and skip the Expunged folder);
the next snapshot links again, and restic, which sees the same files (inode, size, mtime;
ctime ignored, since linking changes it), reads nothing it already has.

A snapshot killed midway leaves no snapshot behind (restic writes the snapshot record
last) and the index untouched: the earlier snapshots are intact.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zenmail.config import Settings
from zenmail.dav import storage as dav_storage
from zenmail.errors import Conflict
from zenmail.stack.files import Layout
from zenmail.vault import maildir, shared
from zenmail.vault.catalogue import (
    CATALOGUE_PATH,
    DIRECTORY_PATH,
    HOLDERS_PATH,
    Entry,
    Index,
    SnapshotRow,
    parse_catalogue,
    restic_time,
)
from zenmail.vault.laps import Laps
from zenmail.vault.maildir import stored_message
from zenmail.vault.restic import Restic
from zenmail.vault.scope import Member, Scope

# (phase, done, total): "linking" and "cataloguing" count folders, "storing" percent.
Progress = Callable[[str, int, int], None]
STAGE = ".zenmail-vault"  # no domain starts with a dot: Dovecot never looks here
# The tag of snapshots the retention keeps for good: those holding the originals of messages
# the eco engine changed (image reduction), which no later snapshot holds.
KEEP_TAG = "keep=originals"


def index_path(settings: Settings) -> Path:
    return Layout.of(settings.state_dir).state / "vault-index" / "catalogue.db"


def open_index(settings: Settings) -> Index:
    return Index(index_path(settings))


@contextmanager
def vault_lock(settings: Settings, what: str) -> Iterator[None]:
    """One snapshot, erasure or retention run at a time (restores need no lock)."""
    path = index_path(settings).parent / "lock"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(f"the vault is busy ({what} has to wait for a snapshot or a "
                           "retention run in progress); try again in a moment") from exc
        yield


def stage_dir(settings: Settings, scope: Scope) -> Path:
    key = hashlib.sha256(scope.label.encode()).hexdigest()[:12]
    return settings.mail_store / STAGE / f"{scope.kind}-{key}"


def account_dir(settings: Settings, address: str) -> Path:
    """The account's home in the mail store (mail_home = STORE/%Ld/%Ln)."""
    local, _, domain = address.lower().rpartition("@")
    return settings.mail_store / domain / local


def fingerprint(root: Path, now: float, dav: Path | None = None) -> str | None:
    """What changes whenever an account's mail does: the modification times of its Maildir
    and of every folder's cur/, new/, uidlist and keywords (a delivery, an expunge, a flag
    change or a move renames a file in cur/ or new/, which changes that directory's time;
    a new folder changes the Maildir's). None when one of them is so recent that a change
    within the same clock tick could hide behind it (git's "racy clean" rule): such an
    account is stored again next time rather than trusted."""
    parts: list[str] = []
    newest = 0
    dav_dirs: list[Path] = []
    if dav is not None and dav.is_dir():  # Radicale renames an item into its collection
        dav_dirs = [dav, *sorted(p for p in dav.iterdir() if p.is_dir())]
    for path in [root, *(p / s for _, p in maildir.folders(root)
                         for s in ("cur", "new", "dovecot-uidlist", "dovecot-keywords")),
                 *dav_dirs]:
        try:
            st = path.stat()
        except FileNotFoundError:
            parts.append(f"{path.name}:-")
            continue
        newest = max(newest, st.st_mtime_ns)
        parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}:{st.st_ino}")
    if newest >= (now - RACY_SECONDS) * 1e9:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


RACY_SECONDS = 2.0


def take(settings: Settings, scope: Scope, progress: Progress | None = None,
         timings: dict[str, float] | None = None, extra_tags: tuple[str, ...] = ()
         ) -> SnapshotRow:
    """Snapshot `scope`; `timings` (if given) gets the seconds of each phase: stage
    (links and catalogue), store (restic), index, unlink. `extra_tags`: more restic tags
    (KEEP_TAG: a snapshot the retention never forgets).

    An account whose Maildir has not changed since the scope's last snapshot (same
    fingerprint) is neither linked, read, catalogued nor handed to restic again: the new
    snapshot names the snapshot that holds it (`/zenmail/holders.json`). A tenant's or
    everything's snapshot also stores the tenants' shared calendars, in full each time
    (vault/shared.py says why)."""
    restic = Restic(settings)
    lap = Laps(timings)
    with vault_lock(settings, "this snapshot"):
        restic.ensure()
        index = open_index(settings)
        try:
            at = _next_time(index)
            started = at.isoformat()
            before = index.prints(scope.label)
            prints: dict[str, str | None] = {}
            reused: dict[str, str] = {}
            changed: list[Member] = []
            for m in scope.members:
                fp = fingerprint(account_dir(settings, m.address) / "Maildir", time.time(),
                                 dav_storage.principal_dir(settings, m.address))
                prints[m.address] = fp
                old = before.get(m.address)
                if fp is not None and old is not None and old[0] == fp:
                    reused[m.address] = old[1]
                else:
                    changed.append(m)
            stage = stage_dir(settings, scope)
            entries, fresh = _stage(settings, stage, changed, index, progress)
            if scope.kind != "account":  # the tenants' shared calendars, whole each time
                shared.stage(settings, stage / "dav", scope.tenants)
            meta = stage / "zenmail"
            meta.mkdir(parents=True, exist_ok=True, mode=0o700)
            (meta / "catalogue.jsonl").write_text("".join(e.to_json() + "\n" for e in entries))
            (meta / "directory.json").write_text(json.dumps(scope.directory, indent=1,
                                                            sort_keys=True))
            (meta / "holders.json").write_text(json.dumps(reused, indent=1, sort_keys=True))
            lap("stage")
            tags = ["zenmail", f"scope={scope.label}",
                    *(f"tenant={t}" for t in scope.tenants), *extra_tags]
            # restic compares each file with the same path in its parent snapshot: the
            # best parent is the one that stored most of the accounts stored again now.
            holders_then = Counter(before[m.address][1] for m in changed
                                   if m.address in before)
            parent = holders_then.most_common(1)[0][0] if holders_then else None
            short = restic.backup(stage, ["mail", "dav", "zenmail"], tags,
                                  (lambda p: progress("storing", int(p * 100), 100))
                                  if progress else None, at, parent=parent)
            lap("store")
            sid = restic.full_id(short)
            for e in entries:
                e.snapshot = sid
            index.remember(fresh)
            n, size = index.totals(reused)
            row = SnapshotRow(sid, started, scope.label, scope.tenants, len(scope.members),
                              len(entries) + n, sum(e.size for e in entries) + size)
            index.add(row, [(m.address, m.tenant) for m in scope.members], entries, reused)
            index.set_prints(scope.label, [(a, fp, reused.get(a, sid))
                                           for a, fp in prints.items()])
            lap("index")
            return row
        finally:
            index.close()
            # The links go as soon as restic has read them: a message file with a second
            # link counts, for lazy_expunge_only_last_instance, as held elsewhere, and
            # deleting it would then skip the Expunged folder.
            shutil.rmtree(stage_dir(settings, scope) / "mail", ignore_errors=True)
            lap("unlink")


def _next_time(index: Index) -> datetime:
    """Now, in whole seconds (restic's --time has no finer grain, and the index must agree
    with restic), but always after the newest snapshot: restic orders snapshots by time, and
    two in one second would leave retention to keep an arbitrary one of them."""
    at = datetime.now(UTC).replace(microsecond=0)
    latest = index.latest_time()
    return max(at, latest + timedelta(seconds=1)) if latest else at


def _stage(settings: Settings, stage: Path, members: list[Member],
           index: Index, progress: Progress | None
           ) -> tuple[list[Entry], list[tuple[str, int, str, int, str, str, str]]]:
    mail = stage / "mail"
    mail.mkdir(parents=True, exist_ok=True, mode=0o700)
    wanted = {(m.domain, m.local) for m in members}
    # Accounts that left the scope (removed) leave the stage.
    for d in list(os.scandir(mail)):
        for a in list(os.scandir(d.path)):
            if (d.name, a.name) not in wanted:
                shutil.rmtree(a.path)
    known = index.known()
    entries: list[Entry] = []
    fresh: list[tuple[str, int, str, int, str, str, str]] = []
    shutil.rmtree(stage / "dav", ignore_errors=True)
    (stage / "dav").mkdir(mode=0o700)
    for done, m in enumerate(members):
        _stage_dav(settings, stage / "dav", m.address)
        src_root = account_dir(settings, m.address) / "Maildir"
        dst_root = mail / m.domain / m.local / "Maildir"
        dst_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folders = maildir.folders(src_root)
        keep = {dst.name for _, dst in folders}
        for e in list(os.scandir(dst_root)):
            if e.is_dir() and e.name not in keep and e.name not in ("cur", "new"):
                shutil.rmtree(e.path)
        for folder, src in folders:
            dst = dst_root / (src.name if src != src_root else "")
            names = _mirror(src, dst)
            entries += _catalogue(m.address, folder, dst, names, known, fresh,
                                  f"/mail/{m.domain}/{m.local}/Maildir"
                                  + (f"/{dst.name}" if dst != dst_root else ""))
        if progress:
            progress("linking", done + 1, len(members))
    for n, entry in enumerate(entries):
        entry.n = n
    return entries, fresh


def _stage_dav(settings: Settings, dav: Path, address: str) -> None:
    """The account's calendars and address books, as `zenmail export` writes them
    (NAME.ics, NAME.vcf), into dav/ADDRESS/ of the stage."""
    if not dav_storage.principal_dir(settings, address).is_dir():
        return
    from zenmail.dav import transfer as dav_transfer  # Radicale loads only when needed

    files = dav_transfer.files_of(settings, address)
    if files:
        (dav / address).mkdir(mode=0o700)
        for name, data in files:
            (dav / address / name).write_bytes(data)


def _mirror(src: Path, dst: Path) -> dict[str, list[str]]:
    """Link src's message files into dst (new/ first, then cur/), unlink what src no longer
    has, copy the uidlist and keywords; returns the file names per sub-directory."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for sub in ("new", "cur"):
        s, d = src / sub, dst / sub
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            src_names = set(os.listdir(s))
        except FileNotFoundError:
            src_names = set()
        have = set(os.listdir(d))
        for name in have - src_names:
            os.unlink(d / name)
        for name in src_names - have:
            try:
                os.link(s / name, d / name, follow_symlinks=False)
            except FileNotFoundError:  # renamed meanwhile: the new name is in cur/
                src_names.discard(name)
            except OSError:  # another file system (a mail store with bind mounts): copy
                try:
                    shutil.copy2(s / name, d / name)
                except FileNotFoundError:
                    src_names.discard(name)
        names = sorted(n for n in src_names if maildir.split_name(n)[0] not in seen)
        for name in src_names - set(names):  # moved new/ -> cur/ during the walk
            os.unlink(d / name)
        seen |= {maildir.split_name(n)[0] for n in names}
        out[sub] = names
    for f in ("dovecot-uidlist", "dovecot-keywords"):
        try:
            shutil.copyfile(src / f, dst / f)
        except FileNotFoundError:
            (dst / f).unlink(missing_ok=True)
    return out


def _catalogue(account: str, folder: str, dst: Path, names: dict[str, list[str]],
               known: dict[tuple[str, int], tuple[str, int, str, str, str]],
               fresh: list[tuple[str, int, str, int, str, str, str]],
               prefix: str) -> list[Entry]:
    validity, uids = maildir.read_uidlist(dst)
    keywords = maildir.read_keywords(dst)
    out = []
    for sub in ("new", "cur"):
        for name in names[sub]:
            path = dst / sub / name
            st = path.stat()
            base, letters = maildir.split_name(name)
            hit = known.get((base, st.st_size))
            if hit is None:
                raw = stored_message(path)
                h = maildir.read_header(raw)
                hit = (maildir.digest(raw), maildir.vsize(raw), h.sender, h.subject, h.date)
                known[(base, st.st_size)] = hit
                fresh.append((base, st.st_size, *hit))
            sha, vsize, sender, subject, date = hit
            out.append(Entry(0, account, folder, validity, uids.get(base),
                             maildir.flag_names(letters, keywords), st.st_mtime, st.st_size,
                             vsize, sha, sender, subject, date, f"{prefix}/{sub}/{name}"))
    return out



def sync(settings: Settings, index: Index, restic: Restic) -> None:
    """Make the local index match the repository: catalogues of snapshots it lacks (a vault
    moved to another machine, or an index lost) are read from the snapshots themselves, and
    snapshots the repository forgot (retention) are dropped."""
    if not restic.exists():
        return
    snaps = {s["id"]: s for s in restic.snapshots()}
    for gone in set(index.snapshot_ids()) - set(snaps):
        index.drop(gone)
    # In time order: a snapshot's totals count the accounts it takes from earlier ones.
    for sid in sorted(set(snaps) - set(index.snapshot_ids()), key=lambda i: snaps[i]["time"]):
        snap = snaps[sid]
        entries = parse_catalogue(restic.dump(sid, CATALOGUE_PATH), sid)
        directory = json.loads(restic.dump(sid, DIRECTORY_PATH))
        holders = read_holders(restic, sid)
        tags = snap.get("tags") or []
        scope = next((t.partition("=")[2] for t in tags if t.startswith("scope=")), "?")
        members = [(a["address"], a["tenant"]) for a in directory["accounts"]]
        n, size = index.totals(holders)
        index.add(SnapshotRow(sid, restic_time(str(snap["time"])).isoformat(), scope,
                              sorted(t["name"] for t in directory["tenants"]), len(members),
                              len(entries) + n, sum(e.size for e in entries) + size),
                  members, entries, holders)


def read_holders(restic: Restic, snapshot_id: str) -> dict[str, str]:
    """The accounts a snapshot takes from earlier ones (none in snapshots made before
    zenmail skipped unchanged accounts: they have no holders file)."""
    done = restic.run(["dump", snapshot_id, HOLDERS_PATH], "reading a snapshot's holders",
                      check=False)
    if done.returncode != 0:
        return {}
    return {str(k): str(v) for k, v in json.loads(done.stdout).items()}
