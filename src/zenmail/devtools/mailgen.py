"""Mailboxes that break naive migration tools, for tests and benches.

`messy(...)` makes the messages a header-based copier gets wrong: no Message-ID and no
Received, exact duplicates in one folder, different messages sharing one Message-ID,
8-bit and broken headers, bare LF line ends, a large attachment, old internal dates,
flags and keywords. `realistic(n)` makes a size mix like a business mailbox (~25 KB on
average: many short notes, some with attachments). `fill` appends them to a source
account through its pre-authenticated pipe, exactly as given (flags, dates, bytes).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from zenmail.migration.target import Outgoing, Target

OLD = datetime(1998, 3, 4, 5, 6, 7, tzinfo=UTC)


@dataclass(frozen=True)
class Msg:
    folder: str
    raw: bytes
    flags: tuple[bytes, ...] = ()
    date: datetime = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _plain(subject: str, body: str, msgid: str | None = "auto", received: bool = True,
           n: int = 0) -> bytes:
    head = ""
    if received:
        head += (f"Received: from mx.old.example by old.example; "
                 f"Mon, 6 May 2024 07:08:{n % 60:02d} +0000\r\n")
    head += (f"From: Bob <bob@partner.example>\r\nTo: alice@old.example\r\n"
             f"Subject: {subject}\r\nDate: Mon, 6 May 2024 07:08:09 +0000\r\n")
    if msgid == "auto":
        head += f"Message-ID: <gen-{n}-{random.getrandbits(40):x}@old.example>\r\n"
    elif msgid:
        head += f"Message-ID: {msgid}\r\n"
    return (head + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + body).encode()


def attachment(subject: str, size: int, seed: int = 0) -> bytes:
    payload = random.Random(seed).randbytes(size)
    b64 = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (f"From: Carol <carol@partner.example>\r\nTo: alice@old.example\r\n"
            f"Subject: {subject}\r\nMessage-ID: <att-{seed}@partner.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n--b1\r\n"
            "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + b64 + b"--b1--\r\n"


def messy(big_attachment: int = 15 << 20, sent: str = "Sent",
          nested: str = "Projekte/2024/Q1", unicode_folder: str = "Ünïcödé/日本語"
          ) -> list[Msg]:
    """The traps, spread over INBOX, a Sent folder, a nested and a non-ASCII folder."""
    dup = _plain("exact duplicate", "same bytes twice\r\n", msgid=None, received=False)
    shared = "<shared-id@old.example>"
    out = [
        Msg("INBOX", _plain("no ids 1", "first\r\n", msgid=None, received=False)),
        Msg("INBOX", _plain("no ids 2", "second\r\n", msgid=None, received=False),
            (b"\\Seen",)),
        Msg("INBOX", dup, (b"\\Seen",)),
        Msg("INBOX", dup, (b"\\Seen",)),
        Msg("INBOX", _plain("shares an id A", "one text\r\n", msgid=shared)),
        Msg("INBOX", _plain("shares an id B", "another text\r\n", msgid=shared),
            (b"\\Flagged", b"$Label1")),
        Msg("INBOX", "From: Jürgen Müller <j@old.example>\r\nSubject: Grüße aus Köln "
            "€\r\nX-Broken header without colon\r\n\tcontinued oddly\r\n:empty-name\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nÄÖÜ ß\r\n".encode()
            + b"Latin-1: \xe9\xe8\r\n", (b"\\Answered", b"$Forwarded")),
        Msg("INBOX", b"From: lf@old.example\nSubject: bare LF\nMessage-ID: <lf@x>\n\n"
            b"line one\nline two\n", (b"Work",), OLD),
        Msg("INBOX", _plain("from 1998", "old\r\n", n=1), (b"\\Seen", b"\\Answered"), OLD),
        Msg(sent, _plain("sent one", "hi\r\n", n=2), (b"\\Seen",)),
        Msg(sent, _plain("sent two", "hi again\r\n", n=3), (b"\\Seen",),
            datetime(2005, 1, 2, 3, 4, 5, tzinfo=UTC)),
        Msg(nested, _plain("nested", "deep\r\n", n=4), (b"\\Draft",)),
        Msg(unicode_folder, _plain("unicode folder", "こんにちは\r\n", n=5)),
        Msg(unicode_folder, dup),
    ]
    if big_attachment:
        out.append(Msg("INBOX", attachment("big attachment", big_attachment, 7),
                       (b"\\Seen",)))
    return out


def realistic(count: int, folders: Sequence[str], seed: int = 1) -> list[Msg]:
    """`count` messages over `folders`, ~25 KB on average: 70 % short (2–8 KB), 25 %
    medium (10–60 KB), 5 % with an attachment (100–400 KB)."""
    rnd = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        r = rnd.random()
        size = (rnd.randint(2000, 8000) if r < 0.70 else rnd.randint(10_000, 60_000)
                if r < 0.95 else rnd.randint(100_000, 400_000))
        words = " ".join(rnd.choice(("invoice", "meeting", "project", "offer", "report",
                                     "Grüße", "merci", "schedule", "budget", "review"))
                         for _ in range(size // 8))
        body = "\r\n".join(words[j:j + 76] for j in range(0, len(words), 76)) + "\r\n"
        flags = tuple(f for f, p in ((b"\\Seen", 0.8), (b"\\Answered", 0.2),
                                     (b"\\Flagged", 0.05), (b"$Label1", 0.03))
                      if rnd.random() < p)
        out.append(Msg(folders[i % len(folders)], _plain(f"message {i}", body, n=i), flags,
                       start + timedelta(minutes=37 * i)))
    return out


def fill(target: Target, messages: Iterable[Msg], batch: int = 200) -> None:
    """Append `messages` (folders made as needed), keeping their order within a folder."""
    by_folder: dict[str, list[Msg]] = {}
    for m in messages:
        by_folder.setdefault(m.folder, []).append(m)
    for folder, msgs in by_folder.items():
        target.ensure_folder(folder)
        for i in range(0, len(msgs), batch):
            target.append(folder, [Outgoing(m.raw, m.flags, m.date)
                                   for m in msgs[i:i + batch]])
