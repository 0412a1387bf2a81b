"""What the mail store holds, per account and tenant: live and dormant mail, archive, trash,
junk and deleted mail, the largest attachments, duplicates across mailboxes, growth.

Read from the Maildir files themselves (zenmail.eco.maildir), not through Dovecot: sizes and
dates are in the file names and times, so the figures cost one directory walk; only the
messages that can hold a large attachment, and the headers needed for duplicates, are read.

Dormant: mail in a working folder (INBOX, Sent, Drafts, the user's own) that was neither
received, read nor changed for `[eco] dormant_months`. "Read" comes from the file's access
time, which Linux's default `relatime` mount option updates at most once a day when a
client downloads the message; on a `noatime` mount, dormant means "received before".
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from zenmail.directory.views import AccountInfo, View
from zenmail.eco import maildir
from zenmail.eco.images import FORMATS

MONTH = 30.44 * 86400            # an average month, in seconds
ATTACHMENT_MIN = 64 * 1024       # messages smaller than this hold no attachment worth listing
TOP = 10
REDUCIBLE = tuple(FORMATS)  # the image types image reduction re-encodes


@dataclass
class Usage(View):
    """Bytes are the messages' own sizes (what IMAP and the quota count); disk_bytes what
    their files take (compressed or not, hard-linked copies once)."""

    messages: int = 0
    bytes: int = 0
    disk_bytes: int = 0
    live_bytes: int = 0       # working folders, active within dormant_months
    dormant_bytes: int = 0    # working folders, untouched for dormant_months
    archive_bytes: int = 0
    trash_bytes: int = 0
    junk_bytes: int = 0
    expunged_bytes: int = 0   # deleted, restorable for 30 days (lazy_expunge)
    compressed_messages: int = 0
    compressed_bytes: int = 0       # message bytes of the compressed files...
    compressed_disk_bytes: int = 0  # ...and what those files take: the measured ratio
    received_last_year: int = 0     # messages received in the last 12 months
    received_last_year_bytes: int = 0
    archivable_bytes: int = 0       # working folders, received before the archive cutoff
    expirable_bytes: int = 0        # Trash and Junk, there longer than the expunge delay
    reducible_image_bytes: int = 0  # large images in archived or archivable mail

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class AccountUsage(Usage):
    account: str = ""


@dataclass
class Attachment(View):
    account: str
    folder: str
    filename: str
    content_type: str
    bytes: int
    received: str


@dataclass
class Duplicate(View):
    """One message stored more than once (same Message-ID, separate files)."""

    message_id: str
    copies: int
    bytes_each: int
    extra_bytes: int          # what all copies but one take
    where: list[str]


@dataclass
class Month(View):
    month: str                # YYYY-MM, by date received
    messages: int
    bytes: int


@dataclass
class Analysis(View):
    scope: str
    dormant_months: int
    total: Usage
    accounts: list[AccountUsage]
    largest_attachments: list[Attachment] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    duplicate_extra_bytes: int = 0
    growth: list[Month] = field(default_factory=list)


def attachments(msg: Message) -> Iterable[tuple[str, str, int]]:
    """(filename, type, decoded bytes, estimated) of each attachment of a parsed message."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        if not filename and (ctype.startswith("text/") or part is msg):
            continue
        raw = part.get_payload(decode=False)
        size = len(raw) if isinstance(raw, str) else 0
        if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
            size = size * 3 // 4  # base64: 4 characters per 3 bytes, line breaks aside
        yield filename or "(unnamed)", ctype, size


def _message_id(path: Path) -> str | None:
    try:
        data = maildir.read(path)
    except (OSError, ValueError):
        return None
    head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    value = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n").get("Message-ID")
    return str(value).strip().lower() if value else None


def analyze(store: Path, accounts: list[AccountInfo], scope: str, dormant_months: int,
            now: float | None = None, months: int = 12, archive_months: int = 12,
            trash_days: int = 30, image_min_bytes: int = 200_000) -> Analysis:
    """The analysis of `accounts`' mail (already filtered by the caller's tenant wall).

    `archive_months`, `trash_days` and `image_min_bytes` size what a policy would act on
    (the CO2 report's inputs)."""
    now = time.time() if now is None else now
    cutoff = now - dormant_months * MONTH
    archive_cutoff = now - archive_months * MONTH
    trash_cutoff = now - trash_days * 86400
    year_ago = now - 365 * 86400
    total = Usage()
    rows: list[AccountUsage] = []
    found: list[Attachment] = []
    by_id: dict[str, dict[int, tuple[int, list[str]]]] = defaultdict(dict)  # id->inode->
    growth: dict[str, list[int]] = {}
    start = datetime.fromtimestamp(now - months * MONTH, UTC).strftime("%Y-%m")
    for a in accounts:
        row = AccountUsage(account=a.address)
        seen_inodes: set[int] = set()
        for f in maildir.walk(maildir.account_maildir(store, a.address)):
            row.messages += 1
            row.bytes += f.size
            if f.inode not in seen_inodes:
                row.disk_bytes += f.disk
                seen_inodes.add(f.inode)
            if f.compression:
                row.compressed_messages += 1
                row.compressed_bytes += f.size
                row.compressed_disk_bytes += f.disk
            if f.received >= year_ago:
                row.received_last_year += 1
                row.received_last_year_bytes += f.size
            kind = maildir.folder_kind(f.folder)
            old = kind == "archive" or (kind in ("live", "sent") and f.received < archive_cutoff)
            if kind == "archive":
                row.archive_bytes += f.size
            elif kind in ("trash", "junk", "expunged"):
                setattr(row, f"{kind}_bytes", getattr(row, f"{kind}_bytes") + f.size)
                if kind != "expunged" and f.changed < trash_cutoff:
                    row.expirable_bytes += f.size
            elif f.touched < cutoff:
                row.dormant_bytes += f.size
            else:
                row.live_bytes += f.size
            if old and kind != "archive":
                row.archivable_bytes += f.size
            month = datetime.fromtimestamp(f.received, UTC).strftime("%Y-%m")
            if month >= start:
                g = growth.setdefault(month, [0, 0])
                g[0] += 1
                g[1] += f.size
            if kind == "expunged":
                continue  # deleted mail: neither duplicates nor attachments to act on
            mid = _message_id(f.path)
            if mid:
                copies = by_id[mid]
                entry = copies.setdefault(f.inode, (f.disk, []))
                entry[1].append(f"{a.address}/{f.folder}")
            if f.size >= ATTACHMENT_MIN:
                try:
                    msg = message_from_bytes(maildir.read(f.path), policy=compat32)
                except (OSError, ValueError):
                    continue
                received = datetime.fromtimestamp(f.received, UTC).isoformat()
                listed = [Attachment(a.address, f.folder, name, ctype, size, received)
                          for name, ctype, size in attachments(msg)]
                found += listed
                if old:
                    row.reducible_image_bytes += sum(
                        x.bytes for x in listed
                        if x.content_type in REDUCIBLE and x.bytes >= image_min_bytes)
        rows.append(row)
        total.add(row)
    duplicates = []
    for mid, inodes in by_id.items():
        if len(inodes) < 2:
            continue
        sizes = sorted(disk for disk, _ in inodes.values())
        where = sorted(w for _, ws in inodes.values() for w in ws)
        duplicates.append(Duplicate(mid, len(inodes), sizes[-1], sum(sizes[:-1]), where))
    duplicates.sort(key=lambda d: (-d.extra_bytes, d.message_id))
    found.sort(key=lambda x: (-x.bytes, x.account, x.filename))
    return Analysis(scope, dormant_months, total, rows, found[:TOP], duplicates[:TOP],
                    sum(d.extra_bytes for d in duplicates),
                    [Month(m, n, b) for m, (n, b) in sorted(growth.items())])
