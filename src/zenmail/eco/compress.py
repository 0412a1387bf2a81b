"""Compressing the mail already stored, while Dovecot runs and mail keeps arriving.

New mail is compressed by Dovecot itself (the zlib plugin's `zlib_save`); this is for mail
stored before that, or under another setting. The method is the one Dovecot documents for
Maildir (doc.dovecot.org, "Zlib plugin"), made atomic with Linux's renameat2:

1. Pick the files of `cur/` and `new/` that are stored as is and carry `S=<size>` in their name (the
   message's size then stays known: Dovecot would otherwise take the compressed file's
   size for the message's).
2. Compress each into the folder's `tmp/`, with the original's owner, mode and times (the
   mtime is the IMAP internal date; the atime tells the analysis when it was last read).
3. Take the folder's `dovecot-uidlist` lock (`maildirlock`, Dovecot's own tool), so no
   Dovecot process lists the folder halfway, and swap each compressed file with its
   original under the *same name* with `renameat2(RENAME_EXCHANGE)`: one atomic step that
   fails if the original is gone — its flags changed (a rename) or it was expunged since
   step 1, or Dovecot moved it from `new/` to `cur/` — so a file is never resurrected or
   duplicated; such a file is skipped and the next run takes it. The original, now at the
   temporary name, is removed.

A message file's content never changes in a Maildir, so the copy compressed in step 2 is
the message; the name (GUID, sizes, flags) stays, so Dovecot's indexes stay valid and IMAP
clients see no change — byte for byte (tests/e2e/test_eco.py).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from zenmail.eco import maildir
from zenmail.errors import StackError

MAILDIRLOCK = "/usr/lib/dovecot/maildirlock"
LOCK_WAIT = 30  # seconds to wait for Dovecot's lock on a folder
BATCH = 200     # files swapped per lock, so the lock is held briefly
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@dataclass
class CompressResult:
    files: int = 0          # compressed now
    already: int = 0        # found compressed
    skipped: int = 0        # changed meanwhile, no S=, or not smaller compressed
    bytes_before: int = 0   # disk bytes of the files compressed now, before
    bytes_after: int = 0    # and after
    folders: list[str] = field(default_factory=list)

    @property
    def saved(self) -> int:
        return self.bytes_before - self.bytes_after

    def add(self, other: CompressResult) -> None:
        self.files += other.files
        self.already += other.already
        self.skipped += other.skipped
        self.bytes_before += other.bytes_before
        self.bytes_after += other.bytes_after
        self.folders += other.folders


_libc = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two files atomically; False if either is gone (ENOENT)."""
    rc = _libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                         _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.ENOENT:
        return False
    raise OSError(err, f"renameat2 {a} <-> {b}: {os.strerror(err)}")


class FolderLock:
    """Dovecot's lock on one Maildir folder (its dovecot-uidlist), held by `maildirlock`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pid = 0

    def __enter__(self) -> FolderLock:
        try:
            done = subprocess.run([MAILDIRLOCK, str(self.folder), str(LOCK_WAIT)],
                                  capture_output=True, text=True, timeout=LOCK_WAIT + 10,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise StackError(f"{MAILDIRLOCK} is missing (package dovecot-core)") from exc
        if done.returncode != 0 or not done.stdout.strip().isdigit():
            raise StackError(f"could not lock {self.folder} within {LOCK_WAIT} s "
                             f"({(done.stderr or done.stdout).strip()}); try again later")
        self.pid = int(done.stdout.strip())
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)  # maildirlock releases the lock and exits
        except ProcessLookupError:
            pass


def _link_copy(linked: dict[int, Path], st: os.stat_result, path: Path,
               target: Path) -> bool:
    """Link `target` to the compressed file of another name of the same message file, if
    one was made (see compress_folder); False if there is none (any more)."""
    source = linked.get(st.st_ino)  # (the first name swapped already may have left it one)
    if source is None:
        return False
    try:
        # The very same message, checked byte for byte: an inode number can be reused.
        if maildir.read(source) != maildir.raw(path):
            return False
        os.link(source, target)
    except FileNotFoundError:  # renamed (flags) or expunged since: compress this one anew
        linked.pop(st.st_ino, None)
        return False
    return True


def compress_folder(folder: str, directory: Path, algorithm: str, level: int,
                    progress: Callable[[int], None] | None = None,
                    linked: dict[int, Path] | None = None) -> CompressResult:
    """Compress every plain message file of one folder (see the module's doc).

    Dovecot copies a message by hard link (IMAP COPY into another folder): one file under
    several names. `linked` (shared by the folders of an account) maps such a file's inode
    to a name now holding its compressed copy, and the other names are linked to that copy
    instead of getting one each — else compressing would take more disk than it saves."""
    result = CompressResult(folders=[folder])
    linked = {} if linked is None else linked
    # (original, compressed, before, after, inode of the original if it has other names)
    staged: list[tuple[Path, Path, int, int, int | None]] = []
    tmp = directory / "tmp"
    for mail in maildir.messages(folder, directory):
        if mail.compression:
            result.already += 1
            continue
        if ",S=" not in mail.path.name:
            result.skipped += 1
            continue
        try:
            st = mail.path.stat()
        except FileNotFoundError:
            result.skipped += 1
            continue
        target = tmp / f"{mail.path.name.partition(':')[0]}.eco-{os.getpid()}"
        shared = st.st_ino if st.st_nlink > 1 or st.st_ino in linked else None
        if _link_copy(linked, st, mail.path, target):
            staged.append((mail.path, target, st.st_size, target.stat().st_size, shared))
            continue
        try:
            data = maildir.raw(mail.path)
        except FileNotFoundError:
            result.skipped += 1
            continue
        packed = maildir.compress(data, algorithm, level)
        if len(packed) >= len(data):
            result.skipped += 1  # tiny messages: the frame costs more than it saves
            continue
        target.unlink(missing_ok=True)  # a leftover of a killed run
        maildir.write_like(target, packed, st)
        if shared is not None:
            linked[shared] = target  # until it is swapped in: the other names link to it
        staged.append((mail.path, target, st.st_size, len(packed), shared))
    for start in range(0, len(staged), BATCH):
        batch = staged[start:start + BATCH]
        with FolderLock(directory):
            for original, packed_path, before, after, shared in batch:
                if exchange(packed_path, original):
                    result.files += 1
                    result.bytes_before += before
                    result.bytes_after += after
                    if shared is not None and packed_path.stat().st_nlink > 1:
                        linked[shared] = original  # the compressed copy's name from now on
                    elif shared is not None:
                        linked.pop(shared, None)  # its last name is swapped: it goes
                else:
                    result.skipped += 1
                packed_path.unlink(missing_ok=True)  # the original, or the unused copy
        if progress:
            progress(len(batch))
    return result


def compress_account(store: Path, address: str, algorithm: str, level: int,
                     progress: Callable[[int], None] | None = None) -> CompressResult:
    """Compress one account's stored mail, folder by folder."""
    if algorithm in ("none", "lz4"):
        algorithm = "zstd"  # lz4 is Dovecot's own framing; none would do nothing
    total = CompressResult()
    linked: dict[int, Path] = {}
    for name, directory in maildir.folders(maildir.account_maildir(store, address)):
        total.add(compress_folder(name, directory, algorithm, level, progress, linked))
    return total
