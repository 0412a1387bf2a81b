"""The mail store as files: each account's Maildir, its folders and message files, read
without Dovecot (the eco analysis, compression and image reduction work on them).

Dovecot's layout (stack/templates/dovecot/dovecot.conf): `STORE/<domain>/<local>/Maildir`,
INBOX in `cur/` and `new/` there, every other folder in `.<name>` with `.` between levels
(Maildir++: `Archive/INBOX` is `.Archive.INBOX`). A message file is named
`<unique>,S=<size>,W=<vsize>:2,<flags>`; `<unique>` is the message's GUID, `S=` the size of
the message as stored uncompressed (LF line ends), `W=` with CRLF line ends (what IMAP
reports), both also when the file is compressed; its mtime is the IMAP internal date (when
it was received).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zenmail.eco import zstd
from zenmail.errors import StackError

# The first bytes of each compressed format Dovecot's zlib plugin reads.
MAGIC = {b"\x28\xb5\x2f\xfd": "zstd", b"\x1f\x8b": "gz", b"BZh": "bz2",
         b"\xfd7zXZ\x00": "xz", b"Dovecot-LZ4": "lz4"}
SPECIAL = {"Trash": "trash", "Junk": "junk", "Expunged": "expunged", "Drafts": "drafts",
           "Sent": "sent"}
ARCHIVE = "Archive"


def account_maildir(store: Path, address: str) -> Path:
    """Where Dovecot keeps an account's mail (`mail_home = STORE/%Ld/%Ln`)."""
    local, _, domain = address.lower().rpartition("@")
    return store / domain / local / "Maildir"


def folder_kind(folder: str) -> str:
    """live, archive, trash, junk, expunged, drafts or sent: what the analysis groups by."""
    if folder == ARCHIVE or folder.startswith(ARCHIVE + "/"):
        return "archive"
    return SPECIAL.get(folder.split("/")[0], "live")


@dataclass(frozen=True)
class MailFile:
    path: Path
    folder: str      # the IMAP name: INBOX, Sent, Archive/INBOX
    unique: str      # the part before the first comma: Dovecot's GUID of the message
    flags: str       # after ":2,": system flags (DFRST) and keyword letters (a-z)
    size: int        # the message's own size (W=, else S=), whatever the file holds
    disk: int        # bytes the file takes (compressed or not)
    received: float  # mtime: the IMAP internal date
    touched: float   # the latest of mtime and atime: last received, read or changed
    inode: int       # Dovecot copies by hard link: one inode, one copy on disk
    changed: float   # ctime: when the file last got a name here (≈ when it was saved)

    @property
    def seen(self) -> bool:
        return "S" in self.flags

    @property
    def compression(self) -> str | None:
        return detect(self.path)


def parse_name(name: str) -> tuple[str, dict[str, str], str]:
    """`1700000000.M1P2.host,S=1234,W=1260:2,FS` -> ("1700000000.M1P2.host",
    {"S": "1234", "W": "1260"}, "FS")."""
    base, _, flags = name.partition(":2,")
    unique, *fields = base.split(",")
    values = {}
    for f in fields:
        key, eq, value = f.partition("=")
        if eq:
            values[key] = value
    return unique, values, flags


def folders(maildir: Path) -> Iterator[tuple[str, Path]]:
    """(IMAP name, directory) of every folder of one account, INBOX first."""
    if (maildir / "cur").is_dir():
        yield "INBOX", maildir
    try:
        entries = sorted(os.scandir(maildir), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for e in entries:
        if e.name.startswith(".") and e.name not in (".", "..") and e.is_dir():
            yield e.name[1:].replace(".", "/"), Path(e.path)


def messages(folder: str, directory: Path) -> Iterator[MailFile]:
    for sub in ("cur", "new"):
        try:
            entries = list(os.scandir(directory / sub))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                st = e.stat()
            except FileNotFoundError:  # renamed (flags) or expunged meanwhile
                continue
            unique, values, flags = parse_name(e.name)
            # W=: the size with CRLF line ends, as IMAP reports it and the quota counts it.
            size = next((int(values[k]) for k in ("W", "S") if values.get(k, "").isdigit()),
                        st.st_size)
            yield MailFile(Path(e.path), folder, unique, flags, size, st.st_size,
                           st.st_mtime, max(st.st_mtime, st.st_atime), st.st_ino,
                           st.st_ctime)


def walk(maildir: Path) -> Iterator[MailFile]:
    """Every message file of one account."""
    for name, directory in folders(maildir):
        yield from messages(name, directory)


def detect(path: Path) -> str | None:
    """The compression of a message file (None: stored as is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
        with os.fdopen(fd, "rb") as f:
            head = f.read(16)
    except (FileNotFoundError, PermissionError):
        return None
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def raw(path: Path) -> bytes:
    """A message file's bytes, without touching its access time (which the analysis takes
    for "last read"): O_NOATIME, allowed to root and the file's owner."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read(path: Path, limit: int | None = None) -> bytes:
    """The message as delivered, whatever its file's compression; with `limit`, at least its
    first `limit` bytes (its headers) when that is cheaper."""
    return unpack(raw(path), limit, str(path))


def unpack(data: bytes, limit: int | None = None, what: str = "a message") -> bytes:
    """The message a stored file's bytes hold, whatever their compression."""
    kind = next((n for m, n in MAGIC.items() if data.startswith(m)), None)
    if kind is None:
        return data if limit is None else data[:limit]
    if kind == "gz":
        import gzip
        return gzip.decompress(data)
    if kind == "bz2":
        import bz2
        return bz2.decompress(data)
    if kind == "xz":
        import lzma
        return lzma.decompress(data)
    if kind == "zstd":
        return zstd.decompress(data, limit)
    raise StackError(f"{what}: Dovecot's lz4 format is read only by Dovecot itself")


def compress(data: bytes, algorithm: str, level: int) -> bytes:
    """`data` in a format the zlib plugin reads (lz4 is Dovecot's own framing: zstd then)."""
    if algorithm == "gz":
        import gzip
        return gzip.compress(data, compresslevel=min(level, 9), mtime=0)
    if algorithm == "bz2":
        import bz2
        return bz2.compress(data, compresslevel=min(level, 9))
    if algorithm == "xz":
        import lzma
        return lzma.compress(data, preset=min(level, 9))
    return zstd.compress(data, min(level, 22))


def write_like(path: Path, data: bytes, like: os.stat_result) -> None:
    """A new file `path` (it must not exist) holding `data`, on disk before it is swapped
    in, with the mode, owner and times of the message it replaces (Dovecot reads the
    received date from the mtime)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, like.st_mode & 0o777)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chown(path, like.st_uid, like.st_gid)
    os.utime(path, ns=(like.st_atime_ns, like.st_mtime_ns))
