"""Image reduction of archived mail (opt-in per tenant): large image attachments are
down-scaled and re-encoded with Pillow, the rest of the message stays byte for byte.

Only folders under Archive/ are touched, only for tenants whose policy says
`--reduce-images` (zenmail.eco.policy); the caller checks the opt-in, this module checks the
folder. Each changed message gets one header, `X-Zenmail-Eco-Reduced`, naming each image
and its size before and after. The vault's snapshots keep the original (docs/eco.md).

How a message is changed: its MIME tree is walked on the raw bytes (zenmail's own walker:
a parse-and-regenerate with the email package would re-fold headers and re-encode parts
it never needed to touch); each large base64 image body is replaced by the re-encoded
image, in base64 again, under the same part headers and the same format (a JPEG stays a
JPEG). The new message enters the folder the Maildir way — a new file with the old one's
flags (keywords included: same folder, same keyword letters) and internal date (mtime),
written in tmp/, renamed into cur/ under Dovecot's folder lock, the old file removed — so
Dovecot sees one message expunged and one added, as after any other external delivery.

The original first: before any message of an account is changed, a vault snapshot of the
account is taken that holds every message about to be changed, one the vault's retention
keeps for good (zenmail.eco.safety, `hold=True`). The header names it (`original in vault
snapshot 3a174b3d, restore id 3a174b3d-17`). If no snapshot can be taken, nothing is
changed and the result says why.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from zenmail.eco import maildir
from zenmail.eco.compress import FolderLock
from zenmail.eco.safety import Keeper
from zenmail.errors import ZenmailError

HEADER = b"X-Zenmail-Eco-Reduced"
FORMATS = {"image/jpeg": "JPEG", "image/jpg": "JPEG", "image/pjpeg": "JPEG",
           "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class Leaf:
    headers: Message
    body_start: int
    body_end: int


def _split(data: bytes, start: int, end: int) -> tuple[Message, int]:
    """The headers of the entity at data[start:end] and where its body starts."""
    if data[start:start + 1] in (b"\r", b"\n"):  # no header block: the blank line, then body
        nl = 2 if data[start:start + 2] == b"\r\n" else 1
        return BytesHeaderParser(policy=compat32).parsebytes(b"\n"), start + nl
    m = re.compile(rb"\r?\n\r?\n").search(data, start, end)
    if m is None:  # headers only
        return BytesHeaderParser(policy=compat32).parsebytes(data[start:end] + b"\n\n"), end
    head = data[start:m.start()] + b"\n\n"
    return BytesHeaderParser(policy=compat32).parsebytes(head), m.end()


def leaves(data: bytes, start: int = 0, end: int | None = None, depth: int = 0
           ) -> Iterator[Leaf]:
    """The non-multipart parts of a raw message, with the byte range of each one's body."""
    end = len(data) if end is None else end
    headers, body = _split(data, start, end)
    boundary = headers.get_param("boundary") if headers.get_content_maintype() == \
        "multipart" else None
    if not isinstance(boundary, str) or depth > 20:
        yield Leaf(headers, body, end)
        return
    delim = re.compile(rb"(?:\r?\n|^)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*"
                       rb"(?=\r?\n|$)", re.M)
    marks = list(delim.finditer(data, body, end))
    for here, nxt in zip(marks, marks[1:], strict=False):
        if here.group(1):  # the closing delimiter
            break
        line_end = data.find(b"\n", here.end(), nxt.start() + 1)
        part_start = line_end + 1 if line_end >= 0 else nxt.start()
        yield from leaves(data, part_start, nxt.start(), depth + 1)


@dataclass
class Reduced:
    name: str
    before: tuple[int, int, int]   # width, height, bytes
    after: tuple[int, int, int]


def reduce_image(blob: bytes, fmt: str, max_pixels: int, quality: int
                 ) -> tuple[bytes, tuple[int, int], tuple[int, int]] | None:
    """The image down-scaled to fit max_pixels a side and re-encoded in its own format;
    None if Pillow cannot read it or it would not get smaller."""
    from PIL import Image, UnidentifiedImageError

    img: Image.Image
    try:
        img = Image.open(io.BytesIO(blob))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    size = img.size
    if max(size) > max_pixels:
        img.thumbnail((max_pixels, max_pixels), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    elif fmt == "PNG":
        img.save(out, "PNG", optimize=True)
    else:
        img.save(out, fmt, quality=quality)
    new = out.getvalue()
    if len(new) >= len(blob) * 0.9:
        return None
    return new, size, img.size


def _b64(blob: bytes, eol: bytes) -> bytes:
    text = base64.b64encode(blob)
    return b"".join(text[i:i + 76] + eol for i in range(0, len(text), 76))


def _large_images(data: bytes, min_bytes: int) -> Iterator[tuple[Leaf, str]]:
    """(part, Pillow format) of each large base64 image of a message not reduced before."""
    top, _ = _split(data, 0, len(data))
    if top.get(HEADER.decode()) is not None:
        return
    for leaf in leaves(data):
        h = leaf.headers
        fmt = FORMATS.get(h.get_content_type())
        if fmt is None or h.get("Content-Transfer-Encoding", "").strip().lower() != "base64":
            continue
        if (leaf.body_end - leaf.body_start) * 3 // 4 < min_bytes:
            continue
        yield leaf, fmt


def has_large_images(data: bytes, min_bytes: int) -> bool:
    """Whether reduce_message may change this message (cheap: no image is decoded)."""
    return next(_large_images(data, min_bytes), None) is not None


def reduce_message(data: bytes, min_bytes: int, max_pixels: int, quality: int,
                   original: str = "") -> tuple[bytes, list[Reduced]] | None:
    """The message with its large images reduced and the header added (ending with
    `original`, where the original is kept, when given); None if nothing would change (no
    large image, already reduced, or nothing gained)."""
    eol = b"\r\n" if b"\r\n" in data[:2000] else b"\n"
    _, body_start = _split(data, 0, len(data))
    edits: list[tuple[int, int, bytes]] = []
    done: list[Reduced] = []
    for leaf, fmt in _large_images(data, min_bytes):
        h = leaf.headers
        try:
            blob = base64.b64decode(data[leaf.body_start:leaf.body_end])
        except (binascii.Error, ValueError):
            continue
        result = reduce_image(blob, fmt, max_pixels, quality)
        if result is None:
            continue
        new, old_size, new_size = result
        name = h.get_filename() or h.get_param("name") or "(unnamed)"
        done.append(Reduced(str(name), (*old_size, len(blob)), (*new_size, len(new))))
        body = _b64(new, eol)
        # Keep what separated the body from the next delimiter.
        tail = data[leaf.body_start:leaf.body_end]
        trailing = tail[len(tail.rstrip(b"\r\n")):]
        edits.append((leaf.body_start, leaf.body_end, body.rstrip(b"\r\n") + trailing))
    if not done:
        return None
    out = data
    for start, end, new_body in sorted(edits, reverse=True):
        out = out[:start] + new_body + out[end:]
    note = "; ".join(f"{r.name} {r.before[0]}x{r.before[1]} {r.before[2]} bytes -> "
                     f"{r.after[0]}x{r.after[1]} {r.after[2]} bytes" for r in done)
    if original:
        note += f"; original in {original}"
    header = HEADER + b": " + note.encode("ascii", "replace") + eol
    # At the end of the top-level header block, before the blank line.
    blank = body_start - (4 if out[body_start - 4:body_start] == b"\r\n\r\n" else 2)
    blank = blank + len(eol)
    out = out[:blank] + header + out[blank:]
    return out, done


@dataclass
class Original:
    """Where the original of one reduced message is kept."""

    account: str
    folder: str
    subject: str
    snapshot: str           # the vault snapshot's short id
    restore_id: str         # `zenmail restore message ACCOUNT <restore_id>` brings it back


@dataclass
class ReduceResult:
    messages: int = 0
    images: int = 0
    bytes_before: int = 0   # message sizes before
    bytes_after: int = 0
    originals: list[Original] = field(default_factory=list)
    snapshots_taken: list[str] = field(default_factory=list)
    refused: str = ""       # why nothing was reduced (the originals could not be kept)

    @property
    def saved(self) -> int:
        return self.bytes_before - self.bytes_after


_seq = 0


def _new_name(lf: bytes, flags: str) -> str:
    global _seq
    _seq += 1
    now = time.time()
    unique = (f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{_seq}."
              f"{re.sub(r'[/:,]', '_', socket.gethostname())}")  # Maildir's separators
    vsize = len(lf) + lf.count(b"\n")  # with CRLF line ends, as IMAP counts it
    return f"{unique},S={len(lf)},W={vsize}:2,{flags}"


def replace_message(mail: maildir.MailFile, new: bytes, algorithm: str, level: int) -> bool:
    """Put `new` in place of `mail` in its folder (see the module's doc); False if the
    original changed meanwhile (then nothing is changed)."""
    folder_dir = mail.path.parent.parent
    lf = new.replace(b"\r\n", b"\n")
    name = _new_name(lf, mail.flags)
    tmp = folder_dir / "tmp" / name
    st = mail.path.stat()
    stored = maildir.compress(lf, algorithm, level) if algorithm not in ("none",) else lf
    maildir.write_like(tmp, stored, st)
    target = folder_dir / "cur" / name
    with FolderLock(folder_dir):
        if not mail.path.exists():
            tmp.unlink()
            return False
        os.rename(tmp, target)
        try:
            os.unlink(mail.path)
        except FileNotFoundError:  # renamed (flags) between the check and now: undo
            os.unlink(target)
            return False
    return True


def _subject(data: bytes) -> str:
    head = data.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    value = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n").get("Subject")
    return str(value or "")


def reduce_account(store: Path, address: str, min_bytes: int, max_pixels: int,
                   quality: int, algorithm: str, level: int, keep: Keeper | None,
                   dry_run: bool = False) -> ReduceResult:
    """Reduce the large images of one account's archived mail, once `keep` has put the
    originals in a vault snapshot (None: there is no vault, and nothing is reduced)."""
    result = ReduceResult()
    home = maildir.account_maildir(store, address)
    candidates = []
    for mail in list(maildir.walk(home)):
        if maildir.folder_kind(mail.folder) != "archive" or mail.size < min_bytes:
            continue
        try:
            data = maildir.read(mail.path)
        except FileNotFoundError:
            continue
        if has_large_images(data, min_bytes):
            candidates.append(mail)
    if not candidates:
        return result
    places: dict[Path, str] = {}
    short = ""
    if not dry_run:
        if keep is None:
            result.refused = (f"{address}: no vault to keep the originals in, so no image "
                              "was reduced")
            return result
        try:
            kept = keep(address, [m.path for m in candidates], hold=True)
        except ZenmailError as exc:
            result.refused = (f"{address}: no image was reduced, the originals could not be "
                              f"put in a vault snapshot first: {exc}")
            return result
        if kept.taken:
            result.snapshots_taken.append(kept.short)
        places = kept.restore_ids
        short = kept.short
    for mail in candidates:
        if not dry_run and mail.path not in places:
            continue  # changed since it was kept: left for the next run
        try:
            data = maildir.read(mail.path)
        except FileNotFoundError:
            continue
        where = (f"vault snapshot {short}, restore id {places[mail.path]}"
                 if not dry_run else "")
        changed = reduce_message(data, min_bytes, max_pixels, quality, where)
        if changed is None:
            continue
        new, done = changed
        if not dry_run:
            if not replace_message(mail, new, algorithm, level):
                continue
            result.originals.append(Original(address, mail.folder, _subject(data), short,
                                             places[mail.path]))
        result.messages += 1
        result.images += len(done)
        result.bytes_before += len(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        result.bytes_after += len(new.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return result
