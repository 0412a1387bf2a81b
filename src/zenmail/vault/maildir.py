"""Reading Dovecot's Maildir++ store as it lies on disk: folders, message files, their flags,
UIDs (dovecot-uidlist) and keywords (dovecot-keywords).

Reading the files, not asking Dovecot, is what makes a catalogue of 100,000 messages take
seconds: one `scandir` per directory, and the content of a message is read only when the
catalogue has not seen that file before (Maildir files never change; only their names do,
when flags change).

On disk (mail_location = maildir:~/Maildir, namespace separator "/"): INBOX is the Maildir
itself, folder "A/B" is the directory ".A.B", names in modified UTF-7 (RFC 3501 5.1.3).
A message file is `BASE` in new/, `BASE:2,FLAGS` in cur/; Dovecot adds `,S=size,W=vsize`
to BASE. Flags: the letters below, and a-z for the folder's keywords.
"""

from __future__ import annotations

import base64
import email.header
import email.parser
import email.policy
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from zenmail.eco import maildir as eco_maildir

SYSTEM_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                "T": "\\Deleted"}
LETTERS = {v: k for k, v in SYSTEM_FLAGS.items()}
INBOX = "INBOX"
HEADER_LIMIT = 64 * 1024


# ------------------------------------------------------------------ folder names

def _mutf7_decode(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        if name[i] == "&":
            end = name.index("-", i)
            chunk = name[i + 1:end]
            if not chunk:
                out.append("&")
            else:
                raw = base64.b64decode(chunk.replace(",", "/") + "=" * (-len(chunk) % 4))
                out.append(raw.decode("utf-16-be"))
            i = end + 1
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _mutf7_encode(name: str) -> str:
    out, run = [], ""

    def flush() -> None:
        nonlocal run
        if run:
            b = base64.b64encode(run.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            run = ""

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run += ch
    flush()
    return "".join(out)


def folder_of(dirname: str) -> str:
    """The IMAP name (UTF-8, "/" separated) of a Maildir++ directory name ("" is INBOX)."""
    if not dirname:
        return INBOX
    return _mutf7_decode(dirname[1:]).replace(".", "/")


def dir_of(folder: str) -> str:
    """The Maildir++ directory name of an IMAP folder name ("" for INBOX)."""
    if folder.upper() == INBOX:
        return ""
    return "." + _mutf7_encode(folder).replace("/", ".")


# ------------------------------------------------------------------ files and flags

def stored_message(path: Path) -> bytes:
    """A message file's message, as delivered: Dovecot's zlib plugin stores mail compressed
    ([eco] compression), and a catalogue's SHA-256, sender and subject are the message's."""
    return eco_maildir.read(path)


def split_name(filename: str) -> tuple[str, str]:
    """(base, flag letters) of a Maildir file name."""
    base, _, info = filename.partition(":")
    return base, info[2:] if info.startswith("2,") else ""


def vsize_from_name(base: str) -> int | None:
    for part in base.split(",")[1:]:
        if part.startswith("W=") and part[2:].isdigit():
            return int(part[2:])
    return None


def flag_names(letters: str, keywords: list[str]) -> list[str]:
    """IMAP flags of a file's flag letters, given the folder's dovecot-keywords."""
    out = []
    for c in letters:
        if c in SYSTEM_FLAGS:
            out.append(SYSTEM_FLAGS[c])
        elif "a" <= c <= "z" and ord(c) - ord("a") < len(keywords):
            out.append(keywords[ord(c) - ord("a")])
    return out


def flag_letters(flags: list[str], keywords: list[str]) -> str:
    """The flag letters of `flags`, numbering keywords by their place in `keywords`."""
    letters = [LETTERS[f] for f in flags if f in LETTERS]
    letters += [chr(ord("a") + keywords.index(f)) for f in flags if f in keywords]
    return "".join(sorted(letters))


def read_keywords(folder_dir: Path) -> list[str]:
    """dovecot-keywords: "N name" lines, N the letter's number (a=0)."""
    try:
        text = (folder_dir / "dovecot-keywords").read_text(errors="replace")
    except OSError:
        return []
    names: dict[int, str] = {}
    for line in text.splitlines():
        num, _, name = line.partition(" ")
        if num.isdigit() and name:
            names[int(num)] = name
    return [names.get(i, "") for i in range(max(names) + 1)] if names else []


def read_uidlist(folder_dir: Path) -> tuple[int | None, dict[str, int]]:
    """(UIDVALIDITY, {base: UID}) from dovecot-uidlist (version 3)."""
    try:
        lines = (folder_dir / "dovecot-uidlist").read_text(errors="replace").splitlines()
    except OSError:
        return None, {}
    if not lines:
        return None, {}
    validity = next((int(f[1:]) for f in lines[0].split()[1:]
                     if f.startswith("V") and f[1:].isdigit()), None)
    uids: dict[str, int] = {}
    for line in lines[1:]:
        head, sep, name = line.partition(" :")
        if not sep:
            head, _, name = line.partition(" ")
        first = head.split(" ", 1)[0]
        if first.isdigit():
            uids[split_name(name)[0]] = int(first)
    return validity, uids


@dataclass
class Header:
    sender: str
    subject: str
    date: str


def decode_header(value: object) -> str:
    """A header's text, encoded words (RFC 2047) decoded."""
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:  # a broken encoded word: show it as it is
        return str(value)


def read_header(raw: bytes) -> Header:
    """From, Subject and Date of a message, readable (encoded words decoded, 8-bit headers
    taken as UTF-8 where they are, replaced where they are not)."""
    end = raw.find(b"\n\n")
    head = raw[:end if end >= 0 else HEADER_LIMIT][:HEADER_LIMIT]
    text = head.replace(b"\r\n", b"\n").decode("utf-8", errors="replace")
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    return Header(" ".join(decode_header(msg.get("From")).split()),
                  " ".join(decode_header(msg.get("Subject")).split()),
                  " ".join(decode_header(msg.get("Date")).split()))


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def vsize(raw: bytes) -> int:
    """The size Dovecot counts against the quota (quota_vsizes): lines end in CRLF."""
    return len(raw) + raw.count(b"\n") - raw.count(b"\r\n")


def folders(maildir: Path) -> list[tuple[str, Path]]:
    """(IMAP name, directory) of every folder of a Maildir, INBOX first."""
    out = [(INBOX, maildir)] if (maildir / "cur").is_dir() or (maildir / "new").is_dir() else []
    try:
        entries = sorted(os.scandir(maildir), key=lambda e: e.name)
    except FileNotFoundError:
        return out
    for e in entries:
        if e.name.startswith(".") and e.name not in (".", "..") and e.is_dir():
            out.append((folder_of(e.name), Path(e.path)))
    return out
